"""`gitvault.integrations.lightning.GitVaultLogger`: a tiny model (Lightning's BoringModel) trained on
CPU for a few steps, read back through the query layer: curves on Lightning's steps, the config,
statuses across several finalizes, checkpoints as models with aliases, pickling, rank zero only."""

from __future__ import annotations

import dataclasses
import io
import pickle
import warnings
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from omegaconf import OmegaConf

from gitvault.query import Query
from tests.conftest import make_repo, needs, vault_run

# looked up, not imported: every pytest worker collects every file (torch and Lightning take seconds)
pytestmark = [
    needs("torch", "the Lightning adapter's tests need torch (pip install torch==2.13.0)"),
    needs("lightning", "the Lightning adapter's tests need lightning (pip install lightning)"),
]
L: Any = None
ModelCheckpoint: Any = None
GitVaultLogger: Any = None
Model: Any = None


@pytest.fixture(scope="module", autouse=True)
def _frameworks() -> None:
    """Lightning and the adapter, imported when this file's tests run rather than when it is collected."""
    global L, ModelCheckpoint, GitVaultLogger, Model
    import lightning.pytorch as lightning_pytorch
    from lightning.pytorch.callbacks import ModelCheckpoint as checkpoint_class
    from lightning.pytorch.demos.boring_classes import BoringModel

    from gitvault.integrations.lightning import GitVaultLogger as logger_class

    warnings.filterwarnings("ignore", module="lightning")
    L, ModelCheckpoint, GitVaultLogger, Model = lightning_pytorch, checkpoint_class, logger_class, model_class(BoringModel)


def model_class(BoringModel: Any) -> Any:
    """The test model, a subclass of the BoringModel given (Lightning is imported by the fixture)."""

    class Model(BoringModel):
        """BoringModel with hyperparameters and named train / val / test metrics."""

        def __init__(self, lr: float = 0.1, optimizer: dict[str, Any] | None = None, fail_at: int | None = None,
                     act: Any = None) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.fail_at = fail_at

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.fail_at is not None and self.global_step == self.fail_at:
                raise RuntimeError("loss exploded")
            out = super().training_step(batch, batch_idx)
            self.log("train/loss", out["loss"])
            return out

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            out = super().validation_step(batch, batch_idx)
            self.log("val_loss", out["x"])
            return out

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            out = super().test_step(batch, batch_idx)
            self.log("test_loss", out["y"])
            return out

    return Model


@dataclasses.dataclass
class Data:
    root: Path = Path("/data")
    sizes: tuple[int, ...] = (1, 2)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("lightning") / "project", "init")


def trainer(root: Path, logger: Any, steps: int = 6, callbacks: list[Any] | None = None) -> L.Trainer:
    return L.Trainer(max_steps=steps, limit_val_batches=2, val_check_interval=3, limit_test_batches=2,
                     logger=logger, callbacks=callbacks, enable_checkpointing=callbacks is not None,
                     enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                     log_every_n_steps=1, default_root_dir=str(root / "out"))


def runs_of(q: Query, experiment: str) -> list[dict[str, Any]]:
    items = q.runs(where=f"experiment = '{experiment}'", sort="started", limit=None)["items"]
    return [dict(q.get_run(item["id"])) for item in items]


def test_fit_then_test_two_runs_curves_config_and_best_checkpoint(repo: Path) -> None:
    logger = GitVaultLogger("boring/fit-test", directory=repo, checkpoints="best", config={"data": {"seed": 3}})
    best = ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=1)
    t = trainer(repo, logger, callbacks=[best])
    t.fit(Model(lr=0.1, optimizer={"name": "sgd", "momentum": 0.9}, act=len))
    fit_id = logger.run_id
    t.test(Model())
    logger.finalize("success")  # a third finalize: nothing changes, nothing reopens
    with Query(repo) as q:
        fit, test = runs_of(q, "boring/fit-test")
        assert (fit["id"], fit["status"], test["status"]) == (fit_id, "completed", "completed")
        assert fit["name"] == test["name"] == logger.version
        assert fit["config"] == {"data": {"seed": 3}, "lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9},
                                 "fail_at": None, "act": "len"}
        curves = q.get_curves(fit_id, max_points=None)["curves"]
        assert [s for s, _ in curves["train/loss"]] == [0, 1, 2, 3, 4, 5]
        assert [s for s, _ in curves["val_loss"]] == [2, 5]  # validation on the same step axis
        assert fit["metrics_final"]["train/loss"] == curves["train/loss"][-1][1]
        assert [s for s, _ in q.get_curves(test["id"])["curves"]["test_loss"]] == [6]
        assert "test_loss" in test["metrics_final"] and "test_loss" not in fit["metrics_final"]
        parents = q.get_lineage("run", test["id"], direction="ancestors")
        assert fit_id in str(parents)
        model = q.get_model("fit-test@best")
        assert model["run_id"] == fit_id and "latest" in model["aliases"]
        assert Path(best.best_model_path).name == model["metadata"]["checkpoint"]
        assert model["metadata"]["monitor"] == "val_loss"
        assert model["metadata"]["score"] == pytest.approx(float(best.best_model_score))
    shown = vault_run(repo, "show", fit_id, check=True).stdout
    assert "val_loss" in shown


def test_a_failing_training_step_seals_the_run_failed_with_its_traceback(repo: Path) -> None:
    logger = GitVaultLogger("boring/failing", directory=repo)
    with pytest.raises(RuntimeError, match="loss exploded"):
        trainer(repo, logger).fit(Model(fail_at=2))
    with Query(repo) as q:
        [run] = runs_of(q, "boring/failing")
        assert run["status"] == "failed"
        assert [s for s, _ in q.get_curves(run["id"])["curves"]["train/loss"]] == [0, 1]
        assert "traceback" in [a["name"] for a in run["artifacts"]]


def test_checkpoints_all_registers_each_and_moves_best(repo: Path) -> None:
    logger = GitVaultLogger("boring/all", directory=repo, checkpoints="all", model_name="boring-net")
    every = ModelCheckpoint(monitor="val_loss", mode="max", save_top_k=-1, every_n_train_steps=3)
    trainer(repo, logger, callbacks=[every]).fit(Model())
    with Query(repo) as q:
        versions = [m for m in q.list_models("boring-net", limit=None)["items"]]
        assert len(versions) == 2 and {m["run_id"] for m in versions} == {logger.run_id}
        best = q.get_model("boring-net@best")
        assert best["metadata"]["checkpoint"] == Path(every.best_model_path).name
        assert best["metadata"]["score"] == max(m["metadata"]["score"] for m in versions)


def test_requeue_and_a_stage_that_logs_nothing(repo: Path) -> None:
    logger = GitVaultLogger("boring/requeue", "slurm-job", directory=repo)
    logger.log_hyperparams(Namespace(lr=0.5, data=Data(), sched=OmegaConf.create({"steps": 10, "warmup": "${steps}"})))
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("finished")  # Lightning's SLURM auto-requeue handler
    logger.finalize("success")
    logger.finalize("success")  # a later stage that logged nothing: no new run
    with Query(repo) as q:
        [run] = runs_of(q, "boring/requeue")
        assert (run["status"], run["name"], run["tags"]) == ("completed", "slurm-job", ["requeued"])
        assert run["config"] == {"lr": 0.5, "data": {"root": "/data", "sizes": [1, 2]},
                                 "sched": {"steps": 10, "warmup": 10}}


def test_pickled_logger_keeps_settings_not_the_run(repo: Path) -> None:
    logger = GitVaultLogger("boring/pickle", directory=repo)
    logger.log_metrics({"loss": 2.0}, step=1)
    assert logger.run is not None
    copy = pickle.loads(pickle.dumps(logger))
    assert type(copy) is GitVaultLogger and isinstance(copy, L.loggers.Logger)
    assert (copy.name, copy.version, copy.run_id) == ("boring/pickle", logger.version, None)
    copy.log_metrics({"loss": 1.0}, step=2)  # the copy's own run (a ddp_spawn worker)
    copy.finalize("success")
    logger.finalize("success")
    with Query(repo) as q:
        assert sorted(r["status"] for r in runs_of(q, "boring/pickle")) == ["completed", "completed"]


def test_ranks_other_than_zero_write_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_utilities.core.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    logger = GitVaultLogger("boring/rank1", directory=repo)
    logger.log_hyperparams({"lr": 1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert logger.run is None and logger.run_id is None
    with Query(repo) as q:
        assert runs_of(q, "boring/rank1") == []


def test_bad_settings_fail_when_the_logger_is_built(repo: Path) -> None:
    with pytest.raises(ValueError, match="checkpoints must be None, 'best' or 'all'"):
        GitVaultLogger("boring", checkpoints="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        GitVaultLogger("boring//x")
    with pytest.raises(ValueError, match="run name 'a/b' contains a path separator"):
        GitVaultLogger("boring", name="a/b")


def test_the_pytorch_lightning_package_has_its_own_logger_class(repo: Path) -> None:
    pl = pytest.importorskip("pytorch_lightning", reason="pytorch_lightning is not installed")
    from pytorch_lightning.demos.boring_classes import BoringModel as PLBoringModel

    from gitvault.integrations.pytorch_lightning import GitVaultLogger as PLLogger

    logger = PLLogger("boring/pl", directory=repo)
    assert isinstance(logger, pl.loggers.Logger) and not isinstance(logger, L.loggers.Logger)
    assert pickle.loads(pickle.dumps(logger)).version == logger.version
    pl.Trainer(max_steps=2, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu", log_every_n_steps=1).fit(PLBoringModel())
    with Query(repo) as q:
        [run] = runs_of(q, "boring/pl")
        assert run["status"] == "completed" and run["id"] == logger.run_id


def test_log_image_stores_images_in_the_run(repo: Path) -> None:
    pytest.importorskip("PIL", reason="images need Pillow (pip install 'git-vault[images]')")
    import numpy as np
    import torch

    logger = GitVaultLogger("boring/images", directory=repo)
    logger.log_image("samples", [torch.zeros(3, 4, 5), np.ones((4, 5), dtype=np.uint8)], step=2,
                     caption=["chw tensor", "grey"])
    logger.log_image("single", np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="2 captions for 1 images"):
        logger.log_image("bad", [np.zeros((2, 2))], caption=["a", "b"])
    logger.finalize("success")
    with Query(repo) as q:
        [run] = runs_of(q, "boring/images")
        assert sorted(a["name"] for a in run["artifacts"]) == ["samples/0", "samples/1", "single"]
        png = q.file_bytes(run["id"], "samples/0", step=2)
        assert png.startswith(b"\x89PNG")
        from PIL import Image

        assert Image.open(io.BytesIO(png)).size == (5, 4)  # the CxHxW tensor stored as HxW pixels
