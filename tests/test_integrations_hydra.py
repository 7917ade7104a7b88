"""Hydra: a real ``@hydra.main`` app with the callback in its config, run as a subprocess (a single
run, a ``--multirun`` of 2 jobs, a failing task, a callback that cannot record); each job's run is
read back through the query layer. Hydra turns a callback's exception into a warning, so every
test checks the runs that exist, never only that nothing raised."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitvault.query import Query
from gitvault.query.shapes import RunDetail
from tests.conftest import make_repo

pytest.importorskip("hydra", reason="hydra-core is not installed (pip install 'git-vault[test]')")

CONFIG = """\
lr: 0.1
model: cnn
fail: false
job_num: ${hydra:job.num}
job_node: ${hydra.job.num}
optim:
  name: adam
  lr: ${lr}
hydra:
  job:
    chdir: true
  callbacks:
    gitvault:
      _target_: gitvault.integrations.hydra.GitVaultCallback
      experiment: mnist/hydra
"""

APP = """\
import hydra
from gitvault.integrations.hydra import current_run


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg):
    run = current_run()
    for step in range(3):
        run.curve(step, loss=cfg.lr * (3 - step))
    if cfg.fail:
        raise ValueError("the loss diverged")
    return {"val_loss": cfg.lr / 2, "best_model": cfg.model}


if __name__ == "__main__":
    train()
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("hydra") / "project", "init")
    (root / "conf").mkdir()
    (root / "conf" / "config.yaml").write_text(CONFIG)
    (root / "app.py").write_text(APP)
    return root


def app(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", *args], cwd=repo, capture_output=True, text=True)


def runs(repo: Path, overrides: str) -> list[RunDetail]:
    """The runs of the jobs given these command-line overrides."""
    query = Query(repo)
    try:
        details = [query.get_run(r["id"]) for r in query.runs(experiment_id="mnist/hydra", limit=None)["items"]]
        return [d for d in details if d["run_params"].get("hydra/overrides") == overrides]
    finally:
        query.close()


def test_a_single_run_is_one_run_with_the_resolved_config(repo: Path) -> None:
    proc = app(repo, "model=mlp")
    assert proc.returncode == 0, proc.stderr
    [run] = runs(repo, "model=mlp")
    assert run["status"] == "completed" and run["name"] == "model=mlp"
    # resolved (optim.lr), ${hydra:job.num} is None outside a multirun; the overrides kept with it
    # ${hydra.job.num} has no value outside a multirun: kept as its text (resolving the whole config fails)
    assert run["config"] == {"lr": 0.1, "model": "mlp", "fail": False, "job_num": None, "job_node": "${hydra.job.num}",
                             "optim": {"name": "adam", "lr": 0.1}, "hydra": {"overrides": ["model=mlp"]}}
    assert run["metrics_final"] == {"val_loss": 0.05} and run["run_params"]["best_model"] == "mlp"
    assert run["run_params"]["hydra/job_name"] == "app" and "hydra/job_num" not in run["run_params"]
    assert Path(run["run_params"]["hydra/output_dir"]).is_dir()  # chdir'ed there, the repository found anyway
    assert run["curves"]["names"] == ["loss"] and run["curves"]["last_step"] == 2


def test_a_multirun_is_one_run_per_job_and_a_failing_task_a_failed_run(repo: Path) -> None:
    proc = app(repo, "--multirun", "lr=0.4", "fail=false,true")
    assert proc.returncode == 1 and "the loss diverged" in proc.stderr  # the second job raised
    # the sweep writes each job's overrides as Hydra normalises them (fail=False)
    [done] = runs(repo, "lr=0.4 fail=False")
    [failed] = runs(repo, "lr=0.4 fail=True")
    assert done["status"] == "completed" and done["metrics_final"] == {"val_loss": 0.2}
    assert done["config"]["optim"]["lr"] == 0.4 and done["config"]["hydra"] == {"overrides": ["lr=0.4", "fail=False"]}
    assert [done["config"]["job_num"], failed["config"]["job_num"]] == [0, 1]
    assert [done["config"]["job_node"], failed["config"]["job_node"]] == [0, 1]
    assert [done["run_params"]["hydra/job_num"], failed["run_params"]["hydra/job_num"]] == ["0", "1"]
    assert failed["status"] == "failed" and any(a["name"] == "traceback" for a in failed["artifacts"])
    assert failed["curves"]["points"] == 3 and failed["metrics_final"] == {}  # logged before the failure: kept


def test_a_callback_that_cannot_record_says_so(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-a-repository"
    elsewhere.mkdir()
    proc = app(repo, f"+hydra.callbacks.gitvault.directory={elsewhere}", "model=lost")
    assert "gitvault: the Hydra job was not recorded" in proc.stderr  # besides Hydra's own warning
    assert runs(repo, f"+hydra.callbacks.gitvault.directory={elsewhere} model=lost") == []
