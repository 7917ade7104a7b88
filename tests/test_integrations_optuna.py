"""Optuna: a real study of a few trials (complete, pruned, failed and caught, failed and uncaught)
recorded as one run per trial, read back through the query layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitvault.integrations.base import open_store
from gitvault.query import Query
from tests.conftest import make_repo

optuna = pytest.importorskip("optuna", reason="optuna is not installed (pip install 'git-vault[test]')")

from gitvault.integrations.optuna import GitVaultCallback  # noqa: E402 - after the skip


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    layers = trial.suggest_int("layers", 1, 3)
    trial.set_user_attr("arch", "mlp")
    trial.set_user_attr("widths", [8] * layers)
    for step in range(3):
        trial.report(x * x + step, step)
        if trial.number == 1 and step == 1:
            raise optuna.TrialPruned()
    if trial.number == 2:
        raise ValueError("bad trial, caught by the study")
    if trial.number == 3:
        raise RuntimeError("out of memory")
    return x * x


@pytest.fixture(scope="module")
def study_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GitVaultCallback, Any]:
    repo = make_repo(tmp_path_factory.mktemp("optuna") / "project", "init")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    callback = GitVaultCallback(directory=repo, metric_name="loss", tags=["search"])
    study = optuna.create_study(study_name="mnist/lr-search", sampler=optuna.samplers.RandomSampler(seed=0))
    with pytest.raises(RuntimeError, match="out of memory"):  # not in catch: the study stops with it
        study.optimize(callback.track(objective), n_trials=6, callbacks=[callback], catch=(ValueError,))
    return repo, callback, study


def test_one_run_per_trial_with_params_values_and_state(study_runs: tuple[Path, GitVaultCallback, Any]) -> None:
    repo, callback, study = study_runs
    assert sorted(n for _, n in callback.runs) == [0, 1, 2, 3]
    query = Query(repo)
    try:
        items = query.runs(experiment_id="mnist/lr-search", sort="name", limit=None)["items"]
        assert [r["name"] for r in items] == ["trial-0", "trial-1", "trial-2", "trial-3"]
        by_trial = {int(str(r["name"]).split("-")[1]): query.get_run(r["id"]) for r in items}
        for number, run in by_trial.items():
            frozen = study.trials[number]
            assert run["config"] == frozen.params  # the trial's params are the config
            assert run["run_params"]["optuna/trial"] == str(number)
            assert run["run_params"]["arch"] == "mlp" and run["run_params"]["widths"] == str([8] * frozen.params["layers"])
            assert "search" in run["tags"]
        done, pruned, caught, uncaught = (by_trial[n] for n in range(4))
        assert done["status"] == "completed" and done["run_params"]["optuna/state"] == "COMPLETE"
        assert done["metrics_final"]["loss"] == pytest.approx(study.trials[0].value)
        assert (done["metrics_final"]["optuna/duration_s"] or -1) >= 0 and "complete" in done["tags"]
        steps = query.get_curves(done["id"], max_points=None)["curves"]["loss"]
        assert [s for s, _ in steps] == [0, 1, 2]  # trial.report(value, step) -> the curve at those steps
        assert pruned["status"] == "completed" and "pruned" in pruned["tags"]
        assert [s for s, _ in query.get_curves(pruned["id"], max_points=None)["curves"]["loss"]] == [0, 1]
        assert caught["status"] == "failed" and caught["run_params"]["optuna/state"] == "FAIL"
        assert uncaught["status"] == "failed" and "fail" in uncaught["tags"]
        for failed, message in ((caught, "bad trial, caught"), (uncaught, "out of memory")):
            assert any(a["name"] == "traceback" for a in failed["artifacts"])
            assert message in query_text(repo, failed["id"])
    finally:
        query.close()


def query_text(repo: Path, run_id: str) -> str:
    return open_store(repo).get_run(run_id).text("traceback")


def test_multi_objective_names_and_a_wrong_count(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    callback = GitVaultCallback(experiment="pareto", directory=repo, metric_name=["err", "latency"])
    study = optuna.create_study(directions=["minimize", "minimize"], study_name="ignored")
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), 2.0), n_trials=2, callbacks=[callback])
    query = Query(repo)
    try:
        items = query.runs(experiment_id="pareto", limit=None)["items"]
        assert len(items) == 2 and all(r["metrics"]["latency"] == 2.0 and "err" in r["metrics"] for r in items)
    finally:
        query.close()
    again = optuna.create_study(directions=["minimize", "minimize"], study_name="ignored")  # same name, new study
    again.optimize(lambda t: (t.suggest_float("a", 0, 1), 2.0), n_trials=1, callbacks=[callback])
    query = Query(repo)
    try:
        assert len(query.runs(experiment_id="pareto", limit=None)["items"]) == 3  # its trial 0 recorded too
    finally:
        query.close()
    wrong = GitVaultCallback(directory=repo, metric_name=["only-one"])
    tip = open_store(repo).vault.tip()
    with pytest.raises(ValueError, match="one name per objective"):
        study.optimize(lambda t: (t.suggest_float("a", 0, 1), 2.0), n_trials=1, callbacks=[wrong])
    assert open_store(repo).vault.tip() == tip  # no run was started
