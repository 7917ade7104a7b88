"""`AdapterRun`: the run a framework adapter (Lightning logger, transformers, Keras and accelerate
callbacks) writes, over `gitvault.integrations.base`.

What the four adapters share beyond `base`:

- the run starts on first use, not when the adapter is built, so the config a framework hands over
  after building it (Lightning's ``log_hyperparams``, accelerate's ``store_init_configuration``) is
  the run's config (config given once the run started is added to it when it is sealed);
- each step's metrics become one ``run.curve`` call (`base.log_curves`), and when the run is sealed
  the last value of each curve becomes its headline metric of the same name (W&B's summary), unless
  the adapter logged a headline of that name itself: so ``git vault runs --sort -val_loss`` works;
- sealing is idempotent (frameworks finalize more than once); something logged after the seal
  (Lightning's ``test`` after ``fit``, ``trainer.evaluate()`` after ``train()``, a second
  ``model.fit``) starts a new run with the same experiment, name and config, derived from the
  sealed one (``git vault lineage``): a sealed run is never reopened and nothing is dropped;
- a pickled adapter (Lightning's ``ddp_spawn``) carries its settings, never the run: a run is
  written by the process that started it, so the copy starts its own on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from gitvault.errors import ConcurrentWriterError, InvalidNameError
from gitvault.integrations import base
from gitvault.integrations.capture import capture_config
from gitvault.names import check_name

if TYPE_CHECKING:
    from gitvault.runs.run import Run


def installed(package: str) -> bool:
    """True when ``package`` can be imported (looked up, not imported)."""
    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:  # in sys.modules as None: importing it fails, as when it is absent
        return False


def require(module: str, adapter: str, install: str) -> ModuleType:
    """Import ``module`` for ``adapter``, or raise one line naming what to install."""
    package = module.partition(".")[0]
    if not installed(package):
        raise ModuleNotFoundError(f"{adapter} needs {package}, which is not installed: pip install {install}",
                                  name=package)
    return importlib.import_module(module)


class AdapterRun:
    """The run of one adapter: started on first use, sealed once, continued by a new run after.

    ``experiment`` and ``name`` follow `base.start_run`; ``config`` is merged under the config the
    framework gives later (`add_config`); ``default_experiment`` is the adapter's default name."""

    def __init__(self, experiment: str | Mapping[str, str] | None, name: str | None, *, config: object = None,
                 directory: str | Path | None = None, tags: Sequence[str] | None = None,
                 default_experiment: str) -> None:
        # names the vault refuses fail here, not mid-training (the hierarchy's depth is known at the start)
        base.experiment_spec(experiment, ["level"] * 64, default_experiment)
        if name is not None:
            check_name(name, "run name")
        for tag in tags or ():
            check_name(tag, "tag")
        self.experiment = experiment
        self.name = name
        self.directory = None if directory is None else str(directory)
        self.tags = list(tags) if tags is not None else None
        self.default_experiment = default_experiment
        self.config: dict[str, Any] = capture_config(config)
        self.run: Run | None = None
        self.previous: str | None = None  # the run this adapter sealed last
        self.last: dict[str, float] = {}  # the latest value of each curve: the headline metrics at the seal
        self.headline: set[str] = set()  # headline metrics the adapter logged itself
        self.checkpoints: dict[tuple[str, int], str] = {}  # (path, mtime_ns) -> the model version registered
        self.best: dict[str, str] = {}  # model name -> the version its `best` alias names

    def __getstate__(self) -> dict[str, Any]:
        """Settings only: a copy in another process starts its own run (see the module docstring)."""
        return {**self.__dict__, "run": None, "last": {}, "headline": set()}

    @property
    def path(self) -> str:
        """The experiment's path as the framework shows it (Lightning's ``name``)."""
        if isinstance(self.experiment, Mapping):
            return "/".join(str(v) for v in self.experiment.values())
        return self.experiment or os.environ.get(base.EXPERIMENT_ENV) or self.default_experiment

    @property
    def started(self) -> bool:
        """True while a run is open for writing."""
        return self.run is not None and self.run.writable

    def add_config(self, config: object) -> None:
        """Config from the framework: merged into the run's config (before it starts; after, as
        ``wandb.config.update`` does: kept for the seal, checked and redacted the same way)."""
        captured = capture_config(config)
        if not self.started:
            self.config = {**self.config, **captured}
            return
        assert self.run is not None
        late = {k: v for k, v in captured.items() if self.run.config.get(k, _MISSING) != v}
        if late:
            from gitvault.integrations.wandb import Config

            Config(self.run).update(late, allow_val_change=True)

    def active(self) -> Run:
        """The open run, started now if there is none (derived from the last one sealed)."""
        run = self.run
        if run is not None and run.writable:
            return run
        run = self.run = base.start_run(self.experiment, self.name, self.config, self.directory, tags=self.tags,
                                        default_experiment=self.default_experiment)
        if self.previous is not None:
            run.derived_from(run=self.previous)
        return run

    def log(self, step: int, metrics: Mapping[str, object]) -> None:
        """One step's metrics as curve points (`base.log_curves`) in the open run, or in one started
        now (`active`); the latest values kept."""
        if metrics and not self.log_open(step, metrics):
            self.last.update(base.log_curves(self.active(), step, metrics))

    def log_open(self, step: int, metrics: Mapping[str, object]) -> bool:
        """`log` into the open run; False, with nothing logged, when no run is open (none yet,
        sealed, or a forked child's copy of its parent's).

        This runs at every step of every trainer adapter, with the CPU's caches cold from the
        step's own work, where each Python operation costs a microsecond or more: Python numbers go
        straight to ``run.curve`` (`base.python_numbers`), which refuses a run that is not open, so
        the common case checks nothing else (``run.writable`` costs a ``getpid`` system call)."""
        run = self.run
        if run is None:
            return False
        values = base.python_numbers(metrics)
        if values is not None:
            try:
                run.curve(step, **values)
            except (InvalidNameError, TypeError):  # nothing was stored: base names what is refused
                pass
            except (RuntimeError, ConcurrentWriterError):  # sealed, being sealed, or the parent's
                return False
            else:
                self.last.update(values)
                return True
        if not run.writable:
            return False
        self.last.update(base.log_curves(run, step, metrics))
        return True

    def log_headline(self, **values: float | int | str) -> None:
        """Headline metrics (and text params) the adapter sets itself (``run.log``)."""
        if values:
            self.active().log(**values)
            self.headline.update(values)

    def register_checkpoint(self, model: str, path: Path, *, best: bool, framework: str,
                            metadata: dict[str, Any]) -> str:
        """Register a checkpoint file or folder as the next version of ``model`` (once per path and
        modification time) and, with ``best``, point the ``best`` alias at it; returns the version."""
        run = self.active()
        key = (str(path), path.stat().st_mtime_ns)
        version = self.checkpoints.get(key)
        if version is None:
            mid = run.register_model(model, path, framework=framework, aliases=["best"] if best else [],
                                     metadata=metadata)
            version = self.checkpoints[key] = run.store.snapshot().get("model", mid)["version"]
        elif best and self.best.get(model) != version:
            run.store.set_model_alias(model, "best", version)
        if best:
            self.best[model] = version
        return version

    def seal(self, status: str = "completed", *, exc: BaseException | None = None) -> str | None:
        """Seal the open run (no-op without one); returns its id. The latest curve values become
        its headline metrics first."""
        run = self.run
        if run is None or not run.writable:
            return None
        summary = {k: v for k, v in self.last.items() if k not in self.headline}
        if summary:
            run.log(**summary)
        base.finish_run(run, status, exc=exc)
        self.previous = run.id
        self.last = {}
        self.headline = set()
        return run.id


_MISSING = object()


class SealsOnError:
    """``with callback: trainer.train()``: an exception inside seals the adapter's open run failed,
    with its traceback, and goes on (for frameworks whose callbacks never see one)."""

    session: AdapterRun

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is not None:
            self.session.seal("failed", exc=exc)
        return False
