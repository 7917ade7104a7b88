"""What every framework adapter shares: opening a run, streaming a metrics dict, sealing.

An adapter (a Lightning logger, a transformers or Keras callback, an accelerate tracker, the
Optuna and Hydra callbacks, the W&B-shaped module) does three things, each through this module::

    from gitvault.integrations import base

    run = base.start_run("mnist/cnn", name="lr-0.1", config=hparams, directory=repo_dir)
    base.log_curves(run, step, {"train/loss": loss_tensor, "epoch": 1})   # numbers -> run.curve
    base.finish_run(run, "success")       # or "failed", or finish_run(run, "failed", exc=error)

- `start_run` captures the config with `capture_config` (any Namespace, dataclass, OmegaConf...),
  maps the framework's experiment name onto the vault's hierarchy (`experiment_spec`), opens the
  repository's `Store` once per process and folder (`open_store`), and starts the run.
- `log_curves` turns one step's metrics into one ``run.curve(step, **values)`` call: ints, floats,
  bools (as 0/1), numpy / torch / jax scalars and one-item arrays become floats, NaN and inf kept;
  it returns those numbers. A text value is stored as the run's param of that name (latest wins);
  any other value (a list, an image, a multi-item tensor) and a name the vault refuses are not
  stored, and each such name is named in a `MetricNotStoredWarning` (once per run and name).
- `finish_run` seals idempotently (a framework that finalizes twice is fine) and maps a
  framework's status words (Lightning's ``success``/``finished``, ``failed``...) onto
  completed / failed / crashed; with ``exc=`` the traceback is stored as for an SDK run that
  fails inside ``with``.

Runs an adapter leaves open are sealed at interpreter exit by the SDK itself (completed, or failed
after an uncaught exception): see `gitvault.runs.flusher`.

Experiment names (docs/sdk.md, "Framework integrations"): a W&B ``project``, a Lightning logger's
``name``, an Optuna study name, a Hydra job name is a path of hierarchy levels from the top, split at
``/``: ``"mnist"`` is the top-level experiment ``mnist`` (the run sits at that node; the levels
below are not invented), ``"mnist/cnn/lr-sweep"`` fills three levels. A dict names levels
explicitly (``{"benchmark": "mnist"}``). No name: ``$GITVAULT_EXPERIMENT``, else the adapter's
default, else `DEFAULT_EXPERIMENT`.
"""

from __future__ import annotations

import numbers
import os
import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gitvault.errors import InvalidNameError
from gitvault.integrations.capture import capture_config
from gitvault.names import check_name

if TYPE_CHECKING:
    from gitvault.runs.run import Run
    from gitvault.runs.store import Store

V = TypeVar("V")

DEFAULT_EXPERIMENT = "uncategorized"
"""The experiment of a run started with no experiment name at all (W&B's own default project)."""
EXPERIMENT_ENV = "GITVAULT_EXPERIMENT"

STATUS_WORDS = {
    "completed": "completed", "complete": "completed", "success": "completed", "succeeded": "completed",
    "finished": "completed", "ok": "completed",
    "failed": "failed", "failure": "failed", "fail": "failed", "error": "failed", "killed": "failed",
    "interrupted": "failed", "crashed": "crashed",
}
"""A framework's word for how a run ended -> the vault's status (Lightning says ``success``,
``failed`` and ``finished``; Optuna's states are mapped by its adapter)."""


class MetricNotStoredWarning(UserWarning):
    """A metric value that is not a number (nor text) or whose name the vault refuses."""


_STORES: dict[tuple[int, Path], "Store"] = {}
_STORES_LOCK = threading.Lock()
_WARNED: "weakref.WeakKeyDictionary[Run, set[str]]" = weakref.WeakKeyDictionary()


def open_store(directory: Path | str | None = None) -> "Store":
    """The `Store` of the repository containing ``directory`` (default: the current directory),
    opened once per process and folder: a sweep of many runs opens (and recovers) it once."""
    from gitvault.runs.store import Store

    where = Path(directory if directory is not None else os.getcwd()).resolve()
    key = (os.getpid(), where)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is not None:
            try:
                store.check_open()
                return store
            except RuntimeError:  # the user closed it: open another
                pass
        store = _STORES[key] = Store(where)
        return store


def experiment_spec(experiment: str | Mapping[str, str] | None, hierarchy: Sequence[str],
                    default: str | None = None) -> dict[str, str]:
    """The `Store.experiment` spec of a framework's experiment name (see the module docstring)."""
    if experiment is None:
        experiment = os.environ.get(EXPERIMENT_ENV) or default or DEFAULT_EXPERIMENT
    if isinstance(experiment, Mapping):
        return {str(k): v for k, v in experiment.items()}
    if not isinstance(experiment, str):
        raise TypeError(f"an experiment is a name like 'mnist/cnn' or a dict of hierarchy levels, "
                        f"got {type(experiment).__name__}")
    parts = experiment.split("/")
    if len(parts) > len(hierarchy):
        raise ValueError(f"experiment {experiment!r} has {len(parts)} levels but the vault's hierarchy has "
                         f"{len(hierarchy)} ({' > '.join(hierarchy)}); use at most {len(hierarchy)} names "
                         "separated by '/'")
    for part in parts:
        check_name(part, f"experiment level in {experiment!r}")
    return dict(zip(hierarchy, parts))


def start_run(experiment: str | Mapping[str, str] | None = None, name: str | None = None, config: object = None,
              directory: Path | str | None = None, *, tags: Sequence[str] | None = None, notes: str | None = None,
              total_steps: int | None = None, default_experiment: str | None = None,
              store: "Store | None" = None) -> "Run":
    """Start a run: ``config`` captured (`capture_config`), ``experiment`` mapped onto the vault's
    hierarchy (`experiment_spec`, ``default_experiment`` when none is given), in the repository
    containing ``directory`` (or ``store``). Everything is checked before anything is written."""
    captured = capture_config(config)
    if name is not None:
        check_name(name, "run name")
    if tags is not None:
        if isinstance(tags, str):
            tags = [tags]
        for tag in tags:
            check_name(tag, "tag")
    if notes is not None and not isinstance(notes, str):
        raise TypeError(f"notes must be a str, got {type(notes).__name__}")
    if store is None:
        store = open_store(directory)
    spec = experiment_spec(experiment, store.hierarchy, default_experiment)
    run = store.experiment(spec).run(config=captured, name=name, total_steps=total_steps)
    if tags:
        run.tag(*tags)
    if notes:
        run.note(notes)
    return run


def run_status(status: str) -> str:
    """The vault's status for a framework's word (`STATUS_WORDS`); ValueError naming the words."""
    found = STATUS_WORDS.get(str(status).lower())
    if found is None:
        raise ValueError(f"unknown run status {status!r}; use one of {', '.join(sorted(STATUS_WORDS))}")
    return found


def finish_run(run: "Run", status: str = "completed", *, exc: BaseException | None = None) -> None:
    """Seal ``run`` with ``status`` (a framework's word, `run_status`); a run already sealed is left
    as it is. With ``exc`` (the exception that ended training) the run is sealed failed and the
    traceback stored as its text artifact ``traceback``."""
    if not run.writable:
        return
    if exc is not None:
        run.__exit__(type(exc), exc, exc.__traceback__)
        return
    run.finish(run_status(status))


def to_float(value: object) -> float | None:
    """A metric value as a float (ints, floats, bools as 0/1, numpy / torch / jax scalars and
    one-item arrays), or None when it is not a number."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, (bool, numbers.Real)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and _one_item(value):
        try:
            out = item()
        except Exception:  # noqa: BLE001 - not a scalar after all
            return None
        return float(out) if isinstance(out, (bool, numbers.Real)) else None
    return None


def _one_item(value: object) -> bool:
    size = getattr(value, "size", None)
    if callable(size):  # torch: size() is the shape; numel() the count
        numel = getattr(value, "numel", None)
        return callable(numel) and numel() == 1
    return size == 1 if isinstance(size, int) else False


def python_numbers(metrics: Mapping[str, object]) -> Mapping[str, float] | None:
    """``metrics`` itself when every value is a Python float (not copied), a copy with its ints
    made floats, or None when a value is neither (numpy or torch scalars, text...: `log_curves`
    takes those). The check every adapter makes at every step, before ``run.curve``: it runs with
    the CPU's caches cold from the training step, where each Python operation costs a microsecond."""
    for value in metrics.values():
        if type(value) is not float:
            break
    else:
        return metrics  # type: ignore[return-value]
    values: dict[str, float] = {}
    for key, value in metrics.items():
        kind = type(value)
        if kind is float:
            values[key] = value  # type: ignore[assignment]
        elif kind is int:
            values[key] = float(value)  # type: ignore[arg-type]
        else:
            return None
    return values


def log_curves(run: "Run", step: int, metrics: Mapping[str, object]) -> dict[str, float]:
    """One ``run.curve(step, **numbers)`` call for a step's ``metrics`` (see the module docstring);
    returns the numbers stored. Text values are stored as params, the rest reported."""
    values: dict[str, float] = {}
    texts: dict[str, str] = {}
    for key, value in metrics.items():
        kind = type(value)
        if kind is float:  # the common case, inline: this runs at every step of every adapter
            values[key] = value  # type: ignore[assignment]
            continue
        number = float(value) if kind is int else to_float(value)  # type: ignore[arg-type]
        if number is not None:
            values[key] = number
        elif isinstance(value, str):
            texts[key] = value
        else:
            _report(run, str(key), f"its value is a {type(value).__name__}, not a number; store it with "
                                   "run.log_table (arrays), run.log_text (text) or run.log (a headline number)")
    if values:
        try:
            run.curve(step, **values)
        except (InvalidNameError, TypeError):  # a bad name (or key): store the others, name it
            values = _named(run, values)
            run.curve(step, **values)
    if texts:
        try:
            run.log(**texts)
        except (InvalidNameError, TypeError):
            run.log(**_named(run, texts))
    return values


def _named(run: "Run", values: dict[str, V]) -> dict[str, V]:
    """``values`` without the names the vault refuses, each reported."""
    kept: dict[str, V] = {}
    for key, value in values.items():
        if key == "step":  # run.curve(step, ...) and run.log take no value of that name
            _report(run, key, "'step' names the step axis itself; log it under another name (e.g. 'global_step')")
            continue
        try:
            kept[check_name(key, "metric name", allow_slash=True)] = value
        except InvalidNameError as exc:
            _report(run, str(key), f"{exc}; rename it in your logging call")
    return kept


def _report(run: "Run", name: str, why: str) -> None:
    seen = _WARNED.setdefault(run, set())
    if name in seen:
        return
    seen.add(name)
    warnings.warn(MetricNotStoredWarning(f"gitvault: metric {name!r} of run {run.id} was not stored: {why}"),
                  stacklevel=3)
