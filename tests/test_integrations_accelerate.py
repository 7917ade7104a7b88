"""`gitvault.integrations.accelerate.GitVaultTracker`: a tiny torch model trained on CPU through an
`Accelerator`, as an instance in ``log_with`` and registered by name, read back through the query
layer: curves on the steps given (and counted without one), config, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitvault.integrations.base import MetricNotStoredWarning  # noqa: E402
from gitvault.query import Query  # noqa: E402
from tests.conftest import make_repo, needs  # noqa: E402


pytestmark = [
    pytest.mark.filterwarnings("ignore:gitvault. metric 'step'"),  # train() logs one, on purpose
    # looked up, not imported: every pytest worker collects every file (torch takes seconds)
    needs("torch", "the accelerate adapter's tests need torch (pip install torch==2.13.0)"),
    needs("accelerate", "the accelerate adapter's tests need accelerate"),
]
torch: Any = None
Accelerator: Any = None
GitVaultTracker: Any = None
gitvault_accelerate: Any = None


@pytest.fixture(scope="module", autouse=True)
def _frameworks() -> None:
    """torch and accelerate, imported when this file's tests run rather than when it is collected."""
    global torch, Accelerator, GitVaultTracker, gitvault_accelerate
    import torch as torch_module
    from accelerate import Accelerator as accelerator_class

    from gitvault.integrations import accelerate as adapter

    torch, Accelerator, GitVaultTracker, gitvault_accelerate = torch_module, accelerator_class, adapter.GitVaultTracker, adapter


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("accelerate") / "project", "init")


def train(accelerator: Accelerator, steps: int, explode_at: int | None = None) -> None:
    """A few SGD steps of a linear model, logging the loss (a tensor) at each step and a text once."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for step in range(steps):
        if step == explode_at:
            raise FloatingPointError("loss is NaN")
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        accelerator.log({"train/loss": loss.detach(), "lr": 0.1, "step": step}, step=step)
    accelerator.log({"val/loss": 0.5, "phase": "done"})  # no step: the one after the last


def runs_of(q: Query, experiment: str) -> list[dict[str, Any]]:
    items = q.runs(where=f"experiment = '{experiment}'", sort="started", limit=None)["items"]
    return [dict(q.get_run(item["id"])) for item in items]


def test_a_tracker_instance_in_log_with(repo: Path) -> None:
    tracker = GitVaultTracker("acc/instance", name="sgd", directory=repo, config={"data": {"n": 16}})
    accelerator = Accelerator(cpu=True, log_with=[tracker])
    accelerator.init_trackers("not-used-for-an-instance", config={"lr": 0.1, "model": {"kind": "linear"}})
    assert accelerator.get_tracker("gitvault", unwrap=True) is tracker.tracker
    with pytest.warns(MetricNotStoredWarning, match="'step' names the step axis"):
        train(accelerator, steps=4)
    accelerator.end_training()
    tracker.finish()  # twice: nothing changes
    with Query(repo) as q:
        [run] = runs_of(q, "acc/instance")
        assert (run["id"], run["status"], run["name"]) == (tracker.run_id, "completed", "sgd")
        assert run["config"] == {"data": {"n": 16}, "lr": 0.1, "model": {"kind": "linear"}}
        curves = q.get_curves(run["id"], max_points=None)["curves"]
        assert [s for s, _ in curves["train/loss"]] == [0, 1, 2, 3]
        assert [s for s, _ in curves["val/loss"]] == [4]
        assert run["metrics_final"]["train/loss"] == curves["train/loss"][-1][1]
        assert run["run_params"]["phase"] == "done"
        assert "step" not in curves and "step" not in run["metrics_final"]  # named in a warning instead


def test_registered_by_name_init_trackers_names_the_experiment(repo: Path) -> None:
    gitvault_accelerate.register()
    accelerator = Accelerator(cpu=True, log_with="gitvault")
    accelerator.init_trackers("acc/registered", config={"lr": 0.1},
                              init_kwargs={"gitvault": {"name": "by-name", "directory": str(repo)}})
    train(accelerator, steps=2)
    accelerator.end_training()
    with Query(repo) as q:
        [run] = runs_of(q, "acc/registered")
        assert (run["status"], run["name"], run["config"]) == ("completed", "by-name", {"lr": 0.1})


def test_an_exception_in_the_loop_seals_the_run_failed(repo: Path) -> None:
    tracker = GitVaultTracker("acc/failing", directory=repo)
    accelerator = Accelerator(cpu=True, log_with=[tracker])
    accelerator.init_trackers("x")
    with pytest.raises(FloatingPointError), tracker:
        train(accelerator, steps=5, explode_at=3)
    with Query(repo) as q:
        [run] = runs_of(q, "acc/failing")
        assert run["status"] == "failed" and "traceback" in [a["name"] for a in run["artifacts"]]
        assert [s for s, _ in q.get_curves(run["id"])["curves"]["train/loss"]] == [0, 1, 2]


def test_log_refuses_options_it_cannot_use_and_names_metrics_it_cannot_store(repo: Path) -> None:
    tracker = GitVaultTracker("acc/options", directory=repo)
    with pytest.raises(TypeError, match="takes values and step; not commit"):
        tracker.log({"loss": 1.0}, step=0, commit=True)
    assert tracker.run_id is None
    with pytest.warns(MetricNotStoredWarning, match="'val/ loss'"):
        tracker.log({"loss": 1.0, "val/ loss": 2.0}, step=0)
    tracker.log({"loss": 0.5, "val/ loss": 1.5}, step=1)
    tracker.finish()
    with Query(repo) as q:
        [run] = runs_of(q, "acc/options")
        assert q.get_curves(run["id"])["curves"] == {"loss": [[0, 1.0], [1, 0.5]]}


def test_other_processes_log_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitvault_accelerate, "_main_process", lambda: False)
    tracker = GitVaultTracker("acc/rank1", directory=repo)
    tracker.log({"loss": 1.0}, step=0)
    assert tracker.run_id is None
    tracker.main_process_only = False  # a run on every process, when asked
    tracker.log({"loss": 1.0}, step=0)
    assert tracker.run_id is not None
    tracker.session.seal()
