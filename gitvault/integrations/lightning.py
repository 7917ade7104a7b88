"""`GitVaultLogger`: a PyTorch Lightning logger writing gitvault runs.

    from gitvault.integrations.lightning import GitVaultLogger   # lightning.pytorch (``lightning``)
    trainer = lightning.pytorch.Trainer(logger=GitVaultLogger("mnist/cnn", name="lr-0.1", checkpoints="best"))

For the ``pytorch_lightning`` package, whose ``Logger`` is another class, import the same logger
from `gitvault.integrations.pytorch_lightning`. Both are built from one implementation
(`logger_class`). What it does (docs in README.md, "PyTorch Lightning"):

- the run starts at the first metric (or checkpoint, image, ``logger.run``), so the
  hyperparameters Lightning hands over before (``log_hyperparams``: ``save_hyperparameters()``, with
  the ``config=`` given to the logger under them) are its config, captured by `capture_config`
  (Namespace, dict, dataclass, OmegaConf; nested kept; callables by name). A stage that logs
  nothing leaves a run only if it is the logger's first (its config is recorded);
- ``log_metrics(metrics, step)``: one curve per name on Lightning's step, training and validation
  on the same axis (``epoch`` is a curve too); ``save()`` does no I/O (Lightning calls it after every
  ``log_metrics``; the SDK's flusher thread writes);
- ``finalize(status)``: seals completed (``success``; ``finished``, from a SLURM requeue, also tags
  the run ``requeued``) or failed, with the exception's traceback; calling it again changes nothing.
  Lightning finalizes after each of fit, validate, test and predict: a stage that logs after a seal
  (``trainer.test`` after ``trainer.fit``) gets a new run derived from the sealed one;
- ``checkpoints="best"`` registers the best checkpoint of each fit as a model (aliases ``best`` and
  ``latest``) when the stage ends; ``"all"`` registers every checkpoint as it is saved and moves
  ``best`` to the best one; ``None`` (the default) registers none;
- rank zero only: other ranks log nothing and start no run (Lightning's ``rank_zero_only.rank``);
- picklable (``strategy="ddp_spawn"``): a pickled logger carries its settings, not its run, and the
  worker of rank zero starts its own run (each ``ddp_spawn`` stage runs in new processes);
- ``version`` is the run's name: the ``name`` given, else the time the logger was built
  (``20261206-223015-1a2b``), which the run is named after. Lightning asks for it (checkpoint
  folder ``<save_dir>/<name>/<version>/checkpoints``) before it hands over the hyperparameters;
  ``run_id`` is the vault's id once the run started.
"""

from __future__ import annotations

import functools
import secrets
import sys
import time
import types
import warnings
from argparse import Namespace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gitvault.integrations.adapter import AdapterRun, installed, require

if TYPE_CHECKING:
    from gitvault.runs.run import Run

if not installed("lightning") and not installed("pytorch_lightning"):
    raise ModuleNotFoundError("gitvault.integrations.lightning needs PyTorch Lightning, which is not installed: "
                              "pip install lightning", name="lightning")

NAMESPACES = {"lightning.pytorch": "lightning", "pytorch_lightning": "pytorch-lightning"}
"""The two packages Lightning ships its Trainer in -> what ``pip install`` takes."""

Checkpoints = Literal["best", "all"] | None


class GitVaultLoggerBase:
    """The implementation of `GitVaultLogger`, whatever namespace its ``Logger`` comes from.

    ``experiment``: the vault experiment (``"mnist/cnn"``, a dict of hierarchy levels, or None for
    ``$GITVAULT_EXPERIMENT`` or ``lightning_logs``); ``name``: the run's name (and Lightning's
    ``version``); ``config``: config of your own, under the hyperparameters; ``directory``: a path in
    the repository (default: the current directory); ``tags``: the run's tags; ``checkpoints``:
    ``None``, ``"best"`` or ``"all"``; ``model_name``: the model checkpoints are registered as
    (default: the experiment's last level); ``save_dir``: where Lightning puts checkpoints (default:
    the trainer's ``default_root_dir``)."""

    def __init__(self, experiment: str | Mapping[str, str] | None = None, name: str | None = None, *,
                 config: object = None, directory: str | Path | None = None, tags: Sequence[str] | None = None,
                 checkpoints: Checkpoints = None, model_name: str | None = None,
                 save_dir: str | Path | None = None) -> None:
        super().__init__()
        if checkpoints not in (None, "best", "all"):
            raise ValueError(f"checkpoints must be None, 'best' or 'all', got {checkpoints!r}")
        version = name if name is not None else f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
        self._session = AdapterRun(experiment, version, config=config, directory=directory, tags=tags,
                                   default_experiment="lightning_logs")
        self._checkpoints = checkpoints
        self._model_name = model_name
        self._save_dir = None if save_dir is None else str(save_dir)
        self._pending: Any = None  # the checkpoint callback whose best checkpoint the stage's end registers
        self._step = 0  # the step logged last

    # -- what Lightning asks -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The experiment's path (``mnist/cnn``)."""
        return self._session.path

    @property
    def version(self) -> str:
        """The run's name (see the module docstring)."""
        assert self._session.name is not None
        return self._session.name

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @property
    def root_dir(self) -> str | None:
        return self._save_dir

    @property
    def run(self) -> Run | None:
        """The gitvault `Run` (started now if none is open); None on ranks other than zero."""
        return self._session.active() if _rank() == 0 else None

    @property
    def run_id(self) -> str | None:
        """The id of the open (or last sealed) run; None before the first."""
        run = self._session.run
        return run.id if run is not None else self._session.previous

    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """The run's config (before it starts; see `AdapterRun.add_config`)."""
        if _rank() == 0:
            self._session.add_config(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """One curve point per metric at ``step`` (None: the step logged last, or 0)."""
        if _rank() == 0:
            at = self._step if step is None else step
            if not self._session.log_open(at, metrics):  # every step: one call less than `log`
                self._session.log(at, metrics)
            if step is not None:
                self._step = step

    def log_image(self, key: str, images: Sequence[Any] | Any, step: int | None = None,
                  caption: Sequence[str] | str | None = None, **kwargs: Any) -> None:
        """``run.log_image`` for each image (numpy HxW/HxWxC, a CxHxW tensor, PIL, a path), named
        ``key`` or, for several, ``key/0``, ``key/1``...; ``caption``: one per image."""
        if kwargs:
            raise TypeError(f"GitVaultLogger.log_image takes key, images, step and caption; not "
                            f"{', '.join(sorted(kwargs))}")
        if _rank() != 0:
            return
        many = isinstance(images, (list, tuple))
        items = list(images) if many else [images]
        captions = [caption] * len(items) if caption is None or isinstance(caption, str) else list(caption)
        if len(captions) != len(items):
            raise ValueError(f"log_image({key!r}): {len(captions)} captions for {len(items)} images")
        run = self._session.active()
        for i, (image, text) in enumerate(zip(items, captions)):
            run.log_image(f"{key}/{i}" if many and len(items) > 1 else key, _pixels(image), step=step, caption=text)

    def save(self) -> None:
        """Nothing: Lightning calls it after every ``log_metrics``; the SDK's flusher writes."""

    def finalize(self, status: str) -> None:
        """Seal the run (see the module docstring); a second call, or one with no run, does nothing."""
        if _rank() != 0:
            return
        if not self._session.started and self._pending is None and self._session.previous is not None:
            return  # a later stage that logged nothing (predict after fit): no run
        run = self._session.active()  # the first stage records its config even if it logged nothing
        if self._pending is not None:
            try:
                self._register(self._pending, only_best=True)
            except Exception as problem:  # noqa: BLE001 - the run is sealed whatever happened to the checkpoint
                warnings.warn(f"gitvault: run {run.id}: its best checkpoint could not be registered: {problem}",
                              stacklevel=2)
            self._pending = None
        if status == "finished":  # Lightning's SLURM requeue: the job goes on in a new process
            run.tag("requeued")
        exc = sys.exc_info()[1] if status == "failed" else None  # Lightning finalizes inside its except
        self._session.seal(status, exc=exc)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """``checkpoints="all"``: register what is new; ``"best"``: remember it for the stage's end."""
        if _rank() != 0 or self._checkpoints is None:
            return
        if self._checkpoints == "all":
            self._register(checkpoint_callback, only_best=False)
        else:
            self._pending = checkpoint_callback

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pending": None}

    # -- checkpoints as models -----------------------------------------------------------------------

    def _register(self, callback: Any, *, only_best: bool) -> None:
        best = str(getattr(callback, "best_model_path", "") or "")
        last = str(getattr(callback, "last_model_path", "") or "")
        paths = [best or last] if only_best else [last, best, *map(str, getattr(callback, "best_k_models", {}))]
        found = sorted({(Path(p).stat().st_mtime_ns, p) for p in paths if p and Path(p).is_file()})
        model = self._model_name or self.name.rsplit("/", 1)[-1]
        for _, path in found:
            self._session.register_checkpoint(model, Path(path), best=only_best or path == best,
                                              framework="pytorch-lightning",
                                              metadata=_checkpoint_facts(callback, path))


def _checkpoint_facts(callback: Any, path: str) -> dict[str, Any]:
    """What a registered checkpoint's metadata says: its file name, the monitored metric, its score."""
    from gitvault.integrations.base import to_float

    scores = dict(getattr(callback, "best_k_models", {}) or {})
    score = scores.get(path)
    if score is None and path == getattr(callback, "best_model_path", None):
        score = getattr(callback, "best_model_score", None)
    return {"checkpoint": Path(path).name, "monitor": getattr(callback, "monitor", None),
            "mode": getattr(callback, "mode", None), "score": None if score is None else to_float(score)}


def _pixels(image: Any) -> Any:
    """A torch / jax image as a numpy array; CxHxW (C of 1, 3 or 4) turned to HxWxC."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    shape = getattr(image, "shape", None)
    if shape is not None and len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        image = image.transpose(1, 2, 0)
    return image


def _rank() -> int:
    """This process's rank, as Lightning sets it (both namespaces share lightning_utilities')."""
    return int(getattr(_rank_zero_only(), "rank", 0) or 0)


@functools.cache
def _rank_zero_only() -> Any:
    from lightning_utilities.core.rank_zero import rank_zero_only

    return rank_zero_only


def logger_class(namespace: str, module: str, qualname: str = "GitVaultLogger") -> type:
    """`GitVaultLoggerBase` joined to the ``Logger`` of ``namespace`` (``lightning.pytorch`` or
    ``pytorch_lightning``), as ``module.qualname`` (where pickle finds it)."""
    if namespace not in NAMESPACES:
        raise ValueError(f"namespace must be one of {', '.join(NAMESPACES)}, got {namespace!r}")
    loggers = require(f"{namespace}.loggers", f"{module}.{qualname}", NAMESPACES[namespace])
    cls = types.new_class(qualname, (GitVaultLoggerBase, loggers.Logger))
    cls.__module__ = module
    cls.__qualname__ = qualname
    cls.__doc__ = f"A {namespace} logger writing gitvault runs (`GitVaultLoggerBase`)."
    return cls


_BUILT: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """`GitVaultLogger`, built on first use (importing Lightning takes seconds)."""
    if name == "GitVaultLogger":
        if name not in _BUILT:
            _BUILT[name] = logger_class("lightning.pytorch", __name__)
        return _BUILT[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
