"""Issue 16 point 3, the Python part: `Store.runs_frame` (a polars DataFrame with config.*,
metrics.*, params.* columns, by experiment path or id, filtered and narrowed), `list_runs` by
experiment path, `.to_pandas()` where pandas is installed, and a docstring on every public method
of the SDK's classes."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from gitvault import Store
from gitvault.errors import QueryError, RecordNotFoundError
from gitvault.runs.experiment import Experiment
from gitvault.runs.run import Run
from gitvault.runs.view import RunView


@pytest.fixture
def store(repo: Path) -> Store:
    store = Store(repo)
    sweep = store.experiment({"benchmark": "img", "model": "mlp", "variant": "sweep"})
    other = store.experiment({"benchmark": "img", "model": "cnn"})
    for lr, acc in ((0.1, 0.8), (0.3, 0.9)):
        with sweep.run(config={"lr": lr, "opt": {"name": "adam", "betas": [0.9, 0.99]}, "epochs": 3},
                       name=f"lr{lr}") as run:
            run.curve(0, **{"val/loss": 1.0})
            run.log(**{"val/acc": acc, "arch": "mlp"})
    with other.run(config={"lr": "auto"}, name="cnn") as run:
        run.log(**{"val/acc": 0.5})
    return store


def test_runs_frame_has_run_config_metric_and_param_columns(store: Store) -> None:
    frame = store.runs_frame()
    assert isinstance(frame, pl.DataFrame) and frame.height == 3
    assert frame.columns[:10] == ["id", "name", "experiment_path", "experiment_id", "status", "started_at",
                                  "ended_at", "hostname", "git_sha", "tags"]
    assert {"config.lr", "config.opt.name", "config.opt.betas", "config.epochs", "metrics.val/acc",
            "params.arch"} <= set(frame.columns)
    assert frame["name"].to_list() == ["lr0.1", "lr0.3", "cnn"]  # oldest first
    assert frame["status"].to_list() == ["completed"] * 3
    assert frame.schema["started_at"] == pl.Datetime("us", "UTC")
    assert isinstance(frame["started_at"][0], dt.datetime)
    assert frame["metrics.val/acc"].to_list() == pytest.approx([0.8, 0.9, 0.5])
    assert frame["config.opt.name"].to_list() == ["adam", "adam", None]
    assert frame["config.epochs"].dtype == pl.Int64
    assert frame["config.lr"].to_list() == ["0.1", "0.3", '"auto"']  # mixed kinds: JSON text, never a crash
    assert frame["params.arch"].to_list() == ["mlp", "mlp", None]


def test_runs_frame_by_experiment_path_or_id_with_where_and_columns(store: Store) -> None:
    sweep = store.get_experiment("img/mlp/sweep")
    by_path = store.runs_frame(experiment="img/mlp/sweep")
    assert by_path["name"].to_list() == ["lr0.1", "lr0.3"]
    assert store.runs_frame(experiment=sweep.id)["id"].to_list() == by_path["id"].to_list()
    assert sweep.runs_frame(columns=["name"])["name"].to_list() == ["lr0.1", "lr0.3"]
    assert store.runs_frame(experiment="img")["name"].to_list() == ["lr0.1", "lr0.3", "cnn"]  # and below it
    assert store.runs_frame(experiment="img/mlp", where="metrics.'val/acc' > 0.85")["name"].to_list() == ["lr0.3"]
    narrow = store.runs_frame(columns=["name", "metrics.val/acc", "config.opt.name", "metrics.never"],
                              sort="-metrics.'val/acc'")
    assert narrow.columns == ["id", "name", "metrics.val/acc", "config.opt.name", "metrics.never"]
    assert narrow["name"].to_list() == ["lr0.3", "lr0.1", "cnn"]
    assert narrow["metrics.never"].null_count() == 3
    with pytest.raises(QueryError, match="unknown column 'bogus'"):
        store.runs_frame(columns=["bogus"])
    with pytest.raises(QueryError, match="columns must be a list"):
        store.runs_frame(columns="name")  # type: ignore[arg-type]
    with pytest.raises(RecordNotFoundError, match="Experiment not found: 'nope'"):
        store.runs_frame(experiment="nope")
    assert store.runs_frame(where="metrics.'val/acc' > 5").height == 0


def test_list_runs_takes_an_experiment_path(store: Store) -> None:
    sweep = store.get_experiment("img/mlp/sweep")
    assert [r["name"] for r in store.list_runs("img/mlp/sweep")] == ["lr0.1", "lr0.3"]
    assert [r["id"] for r in store.list_runs(experiment_id=sweep.id)] == [r["id"] for r in store.list_runs(sweep.path)]
    assert [r["name"] for r in store.list_runs(where="config.lr = 0.3")] == ["lr0.3"]
    with pytest.raises(RecordNotFoundError, match="Experiment not found"):
        store.list_runs("img/nope")


def test_a_running_run_is_a_row_of_the_frame(store: Store) -> None:
    run = store.experiment({"benchmark": "img"}).run(config={"lr": 1}, name="live")
    run.log(**{"val/acc": 0.1})
    frame = store.runs_frame(columns=["name", "status", "metrics.val/acc"])
    row = frame.filter(pl.col("name") == "live").row(0, named=True)
    assert row["status"] == "running" and row["metrics.val/acc"] == pytest.approx(0.1)
    run.finish()


def test_to_pandas_where_pandas_is_installed(store: Store) -> None:
    pytest.importorskip("pandas")
    df = store.runs_frame(experiment="img/mlp/sweep").to_pandas()
    assert list(df["name"]) == ["lr0.1", "lr0.3"] and "metrics.val/acc" in df.columns


def test_the_pandas_extra_is_declared() -> None:
    import tomllib

    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("pandas") for dep in extras["pandas"])


@pytest.mark.parametrize("cls", [Store, Experiment, Run, RunView])
def test_every_public_method_has_a_docstring(cls: type) -> None:
    missing = [name for name, member in vars(cls).items()
               if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
               and not (member.__doc__ or "").strip()]
    assert missing == [], f"{cls.__name__} methods without a docstring: {missing}"
