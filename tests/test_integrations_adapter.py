"""`gitvault.integrations.adapter.AdapterRun.log`, the call every trainer adapter makes at every
step: Python numbers straight to the open run's ``run.curve``, anything else through
`base.log_curves`, and a run that is no longer open (sealed by the adapter or behind its back)
never loses a point: the point starts a new run. Read back through the query layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gitvault.integrations.adapter import AdapterRun
from gitvault.integrations.base import MetricNotStoredWarning
from gitvault.query import Query
from tests.conftest import make_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("adapter") / "project", "init")


def curves(repo: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    query = Query(repo)
    try:
        return {name: [(int(s), float(v)) for s, v in points]
                for name, points in query.get_curves(run_id, max_points=None)["curves"].items()}
    finally:
        query.close()


def detail(repo: Path, run_id: str) -> dict[str, object]:
    query = Query(repo)
    try:
        return dict(query.get_run(run_id))
    finally:
        query.close()


def test_floats_and_ints_are_curve_points_and_the_latest_become_headline_metrics(repo: Path) -> None:
    session = AdapterRun("adapter/plain", "numbers", directory=repo, default_experiment="adapter")
    assert not session.log_open(0, {"loss": 1.0})  # no run yet: nothing logged, and it says so
    for step in range(4):
        session.log(step, {"loss": 1.0 / (step + 1), "epoch": step // 2})
    run_id = session.seal()
    assert run_id is not None
    got = curves(repo, run_id)
    assert got["loss"] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(4)]
    assert got["epoch"] == [(0, 0.0), (1, 0.0), (2, 1.0), (3, 1.0)]  # ints stored as numbers
    run = detail(repo, run_id)
    assert run["status"] == "completed"
    assert run["metrics_final"] == {"loss": pytest.approx(0.25), "epoch": 1.0}  # type: ignore[comparison-overlap]


def test_a_run_sealed_behind_the_adapters_back_gets_the_next_point_in_a_new_run(repo: Path) -> None:
    session = AdapterRun("adapter/sealed", "behind", directory=repo, default_experiment="adapter")
    session.log(0, {"loss": 0.5})
    first = session.run
    assert first is not None
    first.finish()  # the user sealed the Run object itself: run.curve refuses it
    assert not session.log_open(1, {"loss": 0.4})
    session.log(1, {"loss": 0.4})
    second = session.run
    assert second is not None and second.id != first.id and second.writable
    session.seal()
    session.log(2, {"loss": 0.3})  # after the adapter's own seal: a third run, derived from the second
    third = session.run
    assert third is not None and third.id not in (first.id, second.id)
    session.seal()
    assert curves(repo, first.id)["loss"] == [(0, 0.5)]
    assert curves(repo, second.id)["loss"] == [(1, pytest.approx(0.4))]
    assert curves(repo, third.id)["loss"] == [(2, pytest.approx(0.3))]
    query = Query(repo)
    try:
        lineage = query.get_lineage("run", third.id, direction="ancestors")
    finally:
        query.close()
    assert second.id in str(lineage)


def test_other_values_take_the_checked_path_and_what_is_refused_is_named(repo: Path) -> None:
    session = AdapterRun("adapter/mixed", "mixed", directory=repo, default_experiment="adapter")
    session.log(0, {"loss": 1.0})
    with pytest.warns(MetricNotStoredWarning, match="'hist'"):
        session.log(1, {"loss": np.float32(0.5), "phase": "warmup", "hist": [1, 2, 3]})
    with pytest.warns(MetricNotStoredWarning, match="'bad//name'"):
        session.log(2, {"loss": 0.25, "bad//name": 1.0})  # a name the vault refuses, the rest stored
    run_id = session.seal()
    assert run_id is not None
    assert curves(repo, run_id)["loss"] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    run = detail(repo, run_id)
    assert run["run_params"]["phase"] == "warmup"  # type: ignore[index]
    assert run["metrics_final"]["loss"] == 0.25  # type: ignore[index]
