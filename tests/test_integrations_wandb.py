"""The W&B-shaped API: a W&B example script run unchanged but for ``import gitvault as wandb``
(in a subprocess once), and W&B's semantics of init, log (step, commit), config, summary,
define_metric and finish checked in-process; everything read back through the query layer."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gitvault
import gitvault as wandb
from gitvault.errors import NoActiveRunError, UnsupportedCallError
from gitvault.integrations import base
from gitvault.integrations.wandb import WandbRun, active_run
from gitvault.query import Query
from tests.conftest import make_repo

EXAMPLE = '''
import argparse
import math

import gitvault as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

wandb.login()
run = wandb.init(project="mnist/cnn", name="baseline", config=args, tags=["cnn"], notes="first try")
wandb.config.update({"batch_size": 32})
wandb.config.dropout = 0.5
wandb.define_metric("val/loss", summary="min", goal="minimize")
step = 0
for epoch in range(wandb.config.epochs):
    for batch in range(4):
        wandb.log({"train/loss": math.exp(-step * wandb.config.lr), "epoch": epoch})
        step += 1
    wandb.log({"val/loss": 1.0 / (epoch + 1), "val/acc": 0.5 + epoch / 10}, step=step)
wandb.summary["test/acc"] = 0.93
print(run.id)
wandb.finish()

# a second run never finished, ended by an uncaught exception: sealed failed at exit
second = wandb.init(project="mnist/cnn", name="crashes")
wandb.log({"loss": 1.0})
print(second.id, flush=True)
raise RuntimeError("training diverged")
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("wandb") / "project", "init")


@pytest.fixture
def query(repo: Path) -> Iterator[Query]:
    q = Query(repo)
    yield q
    q.close()


@pytest.fixture(autouse=True)
def no_active_run() -> Iterator[None]:
    yield
    wandb.finish()  # a failing test leaves no run active for the next


def curves(query: Query, run_id: str) -> dict[str, list[list[Any]]]:
    return query.get_curves(run_id, max_points=None)["curves"]


def test_a_wandb_example_script_runs_unchanged(repo: Path, query: Query) -> None:
    (repo / "train_wandb.py").write_text(EXAMPLE)
    proc = subprocess.run([sys.executable, "train_wandb.py", "--lr", "0.2"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1 and "training diverged" in proc.stderr, proc.stderr
    first, second = [line.split()[0] for line in proc.stdout.splitlines()]
    run = query.get_run(first)
    assert run["status"] == "completed" and run["experiment_path"] == "mnist/cnn" and run["name"] == "baseline"
    assert run["config"] == {"lr": 0.2, "epochs": 3, "batch_size": 32, "dropout": 0.5}
    assert run["tags"] == ["cnn"] and "first try" in run["notes"]
    metrics = run["metrics_final"]
    assert metrics["test/acc"] == 0.93 and metrics["val/loss/min"] == pytest.approx(1 / 3)
    assert metrics["val/acc"] == pytest.approx(0.7) and metrics["epoch"] == 2.0  # summary: the last value
    assert "val/loss" not in metrics  # define_metric(summary="min") replaces the last value
    points = curves(query, first)
    assert [s for s, _ in points["train/loss"]] == list(range(12))  # no step: one step per call
    assert [s for s, _ in points["val/loss"]] == [4, 8, 12]  # step=: the current step
    assert query.metric_direction("val/loss") == "min"  # define_metric(goal=) -> vault.toml
    crashed = query.get_run(second)
    assert crashed["status"] == "failed" and crashed["metrics_final"] == {"loss": 1.0}


def test_step_and_commit_follow_wandb(repo: Path, query: Query) -> None:
    run = wandb.init(project="semantics", dir=repo)
    assert gitvault.run is run and isinstance(run, WandbRun)
    wandb.log({"a": 1.0})                         # step 0, then 1
    wandb.log({"b": 2.0}, commit=False)           # step 1, stays
    wandb.log({"c": 3.0})                         # step 1, then 2
    wandb.log({"d": 4.0}, step=10)                # jumps to 10, stays (commit defaults to False)
    wandb.log({"e": 5.0})                         # step 10, then 11
    wandb.log({"f": 6.0}, step=5)                 # an earlier step: stored there, current stays 11
    wandb.log({"g": 7.0}, step=11, commit=True)   # step 11, then 12
    wandb.log({"nested": {"x": 8.0, "y": {"z": 9.0}}})  # step 12
    assert run.step == 13
    run_id = run.id
    wandb.finish()
    assert gitvault.run is None
    steps = {name: [s for s, _ in pts] for name, pts in curves(query, run_id).items()}
    assert steps == {"a": [0], "b": [1], "c": [1], "d": [10], "e": [10], "f": [5], "g": [11],
                     "nested/x": [12], "nested/y/z": [12]}


def test_config_summary_and_define_metric(repo: Path, query: Query) -> None:
    run = wandb.init(project="config", name="cfg", config={"lr": 0.1, "opt": {"name": "adam"}}, dir=repo,
                     group="sweep-1", job_type="train", config_exclude_keys=["secretless"], tags=["t"])
    assert (run.group, run.job_type, run.tags, run.project, run.name) == ("sweep-1", "train", ("t",), "config", "cfg")
    assert wandb.config.lr == 0.1 and wandb.config["opt"] == {"name": "adam"} and "lr" in wandb.config
    wandb.config.update({"lr": 0.1, "epochs": 2})  # the same value again is fine
    with pytest.raises(ValueError, match="allow_val_change"):
        wandb.config.update({"lr": 0.5})
    wandb.config.update({"lr": 0.5}, allow_val_change=True)
    wandb.config.setdefaults({"lr": 9.0, "seed": 1})
    wandb.config["width"] = 64
    with pytest.raises(AttributeError, match="no key 'missing'"):
        wandb.config.missing
    wandb.define_metric("acc", summary="max,mean")
    wandb.define_metric("err", summary="best", goal="minimize")
    for value in (0.2, 0.6, 0.4):
        wandb.log({"acc": value, "err": 1 - value, "loss": value * 2, "phase": "train"})
    assert wandb.summary["loss"] == 0.8 and wandb.summary.acc == 0.4
    wandb.summary.update({"best/epoch": 3})
    wandb.summary["note"] = "ok"
    with pytest.raises(TypeError, match="number or text"):
        wandb.summary["matrix"] = [[1, 2]]
    run_id = run.id
    wandb.finish()
    detail = query.get_run(run_id)
    assert detail["config"] == {"lr": 0.5, "opt": {"name": "adam"}, "epochs": 2, "seed": 1, "width": 64}
    assert detail["metrics_final"] == {"loss": 0.8, "acc/max": 0.6, "acc/mean": pytest.approx(0.4),
                                       "err/best": pytest.approx(0.4), "best/epoch": 3.0}
    assert detail["run_params"] == {"group": "sweep-1", "job_type": "train", "phase": "train", "note": "ok"}
    assert query.metric_direction("err") == "min"


def test_a_run_that_raises_in_with_is_failed_and_reinit(repo: Path, query: Query) -> None:
    with pytest.raises(ZeroDivisionError):
        with wandb.init(project="errors", dir=repo) as run:
            wandb.log({"loss": 1.0})
            1 / 0
    assert gitvault.run is None
    detail = query.get_run(run.id)
    assert detail["status"] == "failed" and detail["metrics_final"] == {"loss": 1.0}
    assert any(a["name"] == "traceback" for a in detail["artifacts"])
    first = wandb.init(project="errors", dir=repo)
    assert wandb.init(project="errors", dir=repo, reinit=False) is first  # return_previous
    second = wandb.init(project="errors", dir=repo)  # the default: the previous is finished
    second_id = second.id
    assert first.vault_run.status == "completed" and active_run() is second
    wandb.finish(exit_code=3)
    assert query.get_run(second_id)["status"] == "failed"


def test_unmapped_calls_raise_naming_what_to_use(repo: Path) -> None:
    with pytest.raises(NoActiveRunError, match=r"gitvault.log\(\) needs a run: call gitvault.init\(\) first"):
        wandb.log({"a": 1})
    with pytest.raises(NoActiveRunError, match=r"^gitvault.config needs a run: call gitvault.init\(\) first"):
        wandb.config.lr
    with pytest.raises(UnsupportedCallError, match=r"gitvault.Table is not supported.*write_metrics"):
        wandb.Table
    with pytest.raises(UnsupportedCallError, match=r"gitvault.watch is not supported"):
        wandb.watch
    assert not hasattr(gitvault, "Histogram")  # an AttributeError, so hasattr() and getattr(x, y, None) work
    with pytest.raises(ImportError):
        exec("from gitvault import Artifact")
    tip = base.open_store(repo).vault.tip()
    for kwargs, match in (({"resume": "must"}, "never reopened"), ({"id": "abc"}, "ULID"),
                          ({"mode": "disabled"}, "do not call gitvault.init"),
                          ({"reinit": "create_new"}, "one run is active"),
                          ({"sync_tensorboard": True}, "does not take sync_tensorboard")):
        with pytest.raises(UnsupportedCallError, match=match):
            wandb.init(project="refused", dir=repo, **kwargs)
    assert base.open_store(repo).vault.tip() == tip  # nothing written
    run = wandb.init(project="refused", dir=repo)
    with pytest.raises(UnsupportedCallError, match=r"run.log_artifact is not supported.*gitvault.log_model"):
        run.log_artifact("model.pt")
    with pytest.raises(UnsupportedCallError, match="hidden"):
        wandb.define_metric("x", hidden=True)
    with pytest.raises(ValueError, match="summary='best'"):
        wandb.define_metric("x", summary="best")
    with pytest.raises(UnsupportedCallError, match="does not take boxes"):
        wandb.Image(np.zeros((2, 2)), boxes={"predictions": {}})
    wandb.finish()
    wandb.init(project="refused", dir=repo, config={"lr": 0.1}, allow_val_change=True, save_code=True)
    wandb.config.update({"lr": 0.2})  # init(allow_val_change=True): any update may change a value
    assert wandb.config.lr == 0.2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wandb.log({"image": object(), "loss": 1.0})
    assert any("'image'" in str(w.message) for w in caught if issubclass(w.category, base.MetricNotStoredWarning))
    wandb.finish()


def test_import_gitvault_stays_light() -> None:
    """The W&B names are handed out on first use: ``import gitvault`` loads the errors alone."""
    code = ("import sys, gitvault; print(sorted(m for m in sys.modules if m.startswith(('gitvault', 'pygit2', 'numpy'))));"
            "from gitvault import sizes; print(sorted(m for m in sys.modules if m.startswith('gitvault.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # a submodule imported with `from gitvault import x` is not taken for a W&B name either
    assert out.splitlines() == ["['gitvault', 'gitvault.errors']", "['gitvault.errors', 'gitvault.sizes']"]


def test_images_files_and_models(repo: Path, query: Query) -> None:
    pytest.importorskip("PIL", reason="Pillow is not installed (pip install 'git-vault[images]')")
    (repo / "outputs").mkdir(exist_ok=True)
    (repo / "outputs" / "preds.csv").write_text("id,p\n1,0.5\n")
    (repo / "model.pt").write_bytes(b"weights")
    run = wandb.init(project="media", dir=repo)
    pixels = (np.arange(48, dtype=np.uint8) * 5).reshape(4, 4, 3)
    wandb.log({"samples": wandb.Image(pixels, caption="first"), "loss": 1.0})
    wandb.log({"grid": [wandb.Image(pixels), wandb.Image(pixels / 255.0)]}, step=5)
    assert wandb.save(str(repo / "outputs" / "*.csv"), base_path=repo) == ["outputs/preds.csv"]
    model_id = wandb.log_model(repo / "model.pt", aliases=["best"])
    run_id = run.id
    wandb.finish()
    view = base.open_store(repo).get_run(run_id)
    assert [(i["step"], i["caption"]) for i in view.images("samples")] == [(0, "first")]
    assert [i["step"] for i in view.images("grid/1")] == [5]
    assert view.file("outputs/preds.csv").read_bytes() == b"id,p\n1,0.5\n"
    assert base.open_store(repo).get_model("model@best")["id"] == model_id
    assert query.get_run(run_id)["metrics_final"] == {"loss": 1.0}
