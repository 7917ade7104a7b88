"""The W&B-shaped module API: ``import gitvault as wandb`` runs a typical W&B script unchanged.

``gitvault.init``, ``log``, ``finish``, ``define_metric``, ``login``, ``config``, ``summary``,
``run``, ``Image``, ``save`` and ``log_model`` are this module's names, which the ``gitvault``
package hands out lazily (``import gitvault`` stays light). One run is active per process, as in
W&B. What each call does:

- ``init(project, name, config, tags, notes, dir, group, job_type, entity, reinit, ...)`` starts an
  SDK run (`base.start_run`): ``project`` is the experiment path (``"mnist"`` or
  ``"mnist/cnn/sweep"``; none: ``$GITVAULT_EXPERIMENT`` or ``uncategorized``), ``dir`` any folder of
  the git repository (default: the current one), ``group``, ``job_type`` and ``entity`` are stored as
  the run's params of those names. An ``init`` while a run is active finishes it first
  (``reinit=True``, ``"finish_previous"`` and the default) or returns it (``reinit=False``,
  ``"return_previous"``).
- ``log(data, step=None, commit=None)``: the numbers become curve points at the current step
  (nested dicts flattened with ``/``), text values the run's params; with no ``step`` each call
  then moves to the next step (``commit=False`` stays on it), with ``step=N`` the current step
  becomes N (a smaller N stores the points at N and keeps the current step) and ``commit=True``
  moves past it. Values that are neither are named in a `MetricNotStoredWarning`.
- ``config``: attribute and item access, ``update(d, allow_val_change=False)`` (changing a value
  without ``allow_val_change`` raises, as in W&B), ``setdefaults``; the sealed run holds the final
  config (live readers see the config ``init`` was given).
- ``summary``: the headline metrics. By default the last value logged of each number; a key you
  set (``summary["best"] = x``, ``summary.update``) keeps your value. They become the run's
  headline metrics (``run.log``) when it finishes.
- ``define_metric(name, goal=, summary=)``: ``goal="minimize"``/``"maximize"`` adds the metric to
  ``vault.toml``'s ``metrics.minimize``/``maximize`` (a vault commit, once); ``summary="min"``,
  ``"max"``, ``"mean"``, ``"first"``, ``"last"``, ``"best"`` (by the goal), ``"none"`` or several
  joined by commas: each becomes the headline metric ``<name>/<kind>`` (``name`` may end with
  ``*``). ``step_metric`` is accepted: that metric is a curve of its own on the same step axis.
- ``finish(exit_code=None)``: the summary is written, the run sealed completed (exit code 0 or
  None) or failed. A run left active at interpreter exit is finished the same way (failed after an
  uncaught exception).
- ``Image(data, caption=)`` values in ``log`` are stored by ``run.log_image`` at the current step
  (a list of them as ``name/0``, ``name/1``...); ``save(glob)`` stores the matching files
  (``run.log_file``); ``log_model(path, name, aliases)`` registers a model version
  (``run.register_model``).
- Any other W&B name (``wandb.Table``, ``wandb.watch``, ``wandb.Artifact``, ...) raises
  `UnsupportedCallError` naming the call and what to use instead; so does an option that cannot be
  mapped (``resume=``, ``id=``, ``mode="disabled"``).
"""

from __future__ import annotations

import atexit
import fnmatch
import math
import numbers
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gitvault.errors import InvalidNameError, NoActiveRunError, UnsupportedCallError
from gitvault.integrations import base
from gitvault.runs.flusher import FLUSHER  # imported first: its exit handler must run after ours

if TYPE_CHECKING:
    from gitvault.runs.run import Run

API = ("init", "log", "finish", "define_metric", "login", "config", "summary", "run", "Image", "save", "log_model")
"""The names ``gitvault`` hands out from here."""

ADVICE = {
    "Table": "store tables with gitvault.run.vault_run.write_metrics({column: values})",
    "Histogram": "store the values with gitvault.run.vault_run.log_table(name, values)",
    "Audio": "store the file with gitvault.save(path) (run.log_file)",
    "Video": "store the file with gitvault.save(path) (run.log_file)",
    "Html": "store text with gitvault.run.vault_run.log_text(name, markdown)",
    "Object3D": "store the points with gitvault.run.vault_run.log_table(name, array)",
    "Molecule": "store the file with gitvault.save(path) (run.log_file)",
    "plot": "plot from the stored curves (git vault show, RunView.curves())",
    "watch": "gitvault does not hook into models; log gradient norms yourself with gitvault.log",
    "unwatch": "gitvault does not hook into models",
    "restore": "copy a registered model out with gitvault.Store().download_model(ref, out_dir)",
    "Artifact": "store files with gitvault.save(path), a model with gitvault.log_model(path, name)",
    "log_artifact": "store files with gitvault.save(path), a model with gitvault.log_model(path, name)",
    "use_artifact": "name the model the run uses with gitvault.run.vault_run.derived_from(model=..., version=...)",
    "use_model": "copy a registered model out with gitvault.Store().download_model(ref, out_dir)",
    "link_model": "set an alias with gitvault.Store().set_model_alias(name, alias, version)",
    "log_code": "gitvault captures the code of every run from git by itself",
    "alert": "gitvault sends no alerts",
    "sweep": "run sweeps with Optuna and gitvault.integrations.optuna.GitVaultCallback",
    "agent": "run sweeps with Optuna and gitvault.integrations.optuna.GitVaultCallback",
    "controller": "run sweeps with Optuna and gitvault.integrations.optuna.GitVaultCallback",
    "Api": "read runs with gitvault.Store() (list_runs, runs_frame, get_run) or gitvault.query",
    "Settings": "gitvault needs no settings object; pass init's arguments directly",
    "setup": "gitvault needs no setup; call gitvault.init",
    "teardown": "call gitvault.finish",
    "mark_preempting": "a preempted process leaves its run to be recovered as crashed (git vault recover)",
    "log_table": "store tables with gitvault.run.vault_run.write_metrics({column: values})",
    "tensorboard": "import TensorBoard event files with the gitvault importers",
    "util": "gitvault has no wandb.util",
    "sdk": "gitvault has no wandb.sdk",
}
"""What to use instead of the W&B names gitvault does not map."""

_MODES = (None, "online", "offline", "shared")
_SUMMARY_KINDS = ("min", "max", "mean", "first", "last", "best", "none")
_LOCK = threading.RLock()
_ACTIVE: "WandbRun | None" = None


def unsupported(name: str, where: str = "gitvault") -> UnsupportedCallError:
    """The error for a W&B name gitvault does not map."""
    advice = ADVICE.get(name, f"the W&B-shaped API has {', '.join(API)}")
    return UnsupportedCallError(f"{where}.{name} is not supported by gitvault's W&B-shaped API: {advice}")


def active_run() -> "WandbRun | None":
    """The run ``init`` started and ``finish`` has not finished yet (``gitvault.run``), or None."""
    return _ACTIVE


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: runs are stored in the git repository. Returns True, as W&B does when
    logged in."""
    return True


def init(project: str | None = None, entity: str | None = None, config: object = None, name: str | None = None,
         notes: str | None = None, tags: Sequence[str] | None = None, dir: str | Path | None = None,
         group: str | None = None, job_type: str | None = None, reinit: bool | str | None = None,
         resume: bool | str | None = None, id: str | None = None, mode: str | None = None,
         config_exclude_keys: Sequence[str] | None = None, config_include_keys: Sequence[str] | None = None,
         allow_val_change: bool | None = None, save_code: bool | None = None, anonymous: str | None = None,
         **options: Any) -> "WandbRun":
    """Start a run and make it the active one (see the module docstring)."""
    global _ACTIVE
    if options:
        raise UnsupportedCallError(f"gitvault.init() does not take {', '.join(sorted(options))}; it takes project, "
                                   "name, config, notes, tags, dir, group, job_type, entity, reinit and "
                                   "allow_val_change (save_code and anonymous are accepted: every run's code is "
                                   "captured from git, and there is no account)")
    if resume not in (None, False, "never"):
        raise UnsupportedCallError(f"gitvault.init(resume={resume!r}) is not supported: a sealed run is never "
                                   "reopened; start a new run and link it with "
                                   "gitvault.run.vault_run.derived_from(run=<the previous run's id>)")
    if id is not None:
        raise UnsupportedCallError("gitvault.init(id=...) is not supported: gitvault names each run with a new "
                                   "ULID; give it a readable name with name=")
    if mode not in _MODES:
        raise UnsupportedCallError(f"gitvault.init(mode={mode!r}) is not supported: runs are always stored in the "
                                   "git repository (online and offline are the same); to record nothing, do not "
                                   "call gitvault.init")
    if reinit not in (None, True, False, "default", "finish_previous", "return_previous"):
        raise UnsupportedCallError(f"gitvault.init(reinit={reinit!r}) is not supported: one run is active at a "
                                   "time; for several at once use gitvault.Store().experiment(...).run()")
    captured = _selected(base.capture_config(config), config_include_keys, config_exclude_keys)
    params = {k: v for k, v in (("group", group), ("job_type", job_type), ("entity", entity)) if v is not None}
    for key, value in params.items():
        if not isinstance(value, str):
            raise TypeError(f"gitvault.init({key}=...) must be a str, got {type(value).__name__}")
    with _LOCK:
        if _ACTIVE is not None:
            if reinit in (False, "return_previous"):
                return _ACTIVE
            _ACTIVE.finish()
        run = base.start_run(project, name=name, config=captured, directory=dir, tags=tags, notes=notes)
        if params:
            run.log(**params)
        _ACTIVE = WandbRun(run, project, allow_val_change=bool(allow_val_change))
        _ACTIVE.given.update(tags=tuple([tags] if isinstance(tags, str) else tags or ()), notes=notes, group=group,
                             job_type=job_type, entity=entity)
        return _ACTIVE


def _selected(config: dict[str, Any], include: Sequence[str] | None, exclude: Sequence[str] | None) -> dict[str, Any]:
    if include is not None and exclude is not None:
        raise ValueError("gitvault.init: give config_include_keys or config_exclude_keys, not both")
    if include is not None:
        return {k: v for k, v in config.items() if k in include}
    if exclude is not None:
        return {k: v for k, v in config.items() if k not in exclude}
    return config


def _current(call: str) -> "WandbRun":
    run = _ACTIVE
    if run is None:
        what = f"gitvault.{call}" if call in ("config", "summary") else f"gitvault.{call}()"
        raise NoActiveRunError(f"{what} needs a run: call gitvault.init() first")
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log ``data`` to the active run (`WandbRun.log`)."""
    run = _ACTIVE
    if run is None:
        run = _current("log")  # raises
    run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the active run (`WandbRun.finish`); nothing happens when none is active."""
    run = _ACTIVE
    if run is not None:
        run.finish(exit_code=exit_code)


def define_metric(name: str, step_metric: str | None = None, step_sync: bool | None = None,
                  hidden: bool | None = None, summary: str | None = None, goal: str | None = None,
                  overwrite: bool | None = None) -> None:
    """Say how the active run summarises a metric and which way it is better (`WandbRun.define_metric`)."""
    _current("define_metric").define_metric(name, step_metric=step_metric, step_sync=step_sync, hidden=hidden,
                                            summary=summary, goal=goal, overwrite=overwrite)


def save(glob_str: str | Path, base_path: str | Path | None = None, policy: str = "live") -> list[str]:
    """Store the files matching ``glob_str`` with the active run (`WandbRun.save`)."""
    return _current("save").save(glob_str, base_path=base_path, policy=policy)


def log_model(path: str | Path, name: str | None = None, aliases: Sequence[str] | None = None) -> str:
    """Register a model file or folder from the active run (`WandbRun.log_model`)."""
    return _current("log_model").log_model(path, name=name, aliases=aliases)


class Image:
    """``wandb.Image(data, caption=...)``: logged with ``gitvault.log({"name": Image(...)})`` it is
    stored by ``run.log_image`` at the current step (PNG; a numpy array HxW or HxWxC, uint8 or
    floats in [0, 1], a torch tensor CxHxW, a PIL image, or a file's path). Needs Pillow."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None,
                 **options: Any) -> None:
        given = sorted(k for k, v in options.items() if v is not None)
        if mode is not None or given:
            names = ", ".join((["mode"] if mode is not None else []) + given)
            raise UnsupportedCallError(f"gitvault.Image does not take {names}: it stores the pixels (and a "
                                       "caption) as a PNG; draw boxes or masks into the array first")
        self.data = _pixels(data_or_path)
        self.caption = caption


def _pixels(data: Any) -> Any:
    """A torch tensor (CxHxW, as W&B takes it) as a numpy HxWxC array; anything else as it is."""
    if hasattr(data, "detach") and hasattr(data, "numpy"):
        data = data.detach().cpu().numpy()
        if data.ndim == 3 and data.shape[0] in (1, 3, 4):
            data = data.transpose(1, 2, 0)
    return data


class Config:
    """``wandb.config``: the run's config, by attribute or item."""

    def __init__(self, run: "Run", allow_val_change: bool = False) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_allow", allow_val_change)  # init(allow_val_change=True): every update may

    def _data(self) -> dict[str, Any]:
        return self._run.config

    def update(self, values: object = None, allow_val_change: bool = False, **more: Any) -> None:
        """Add keys (a dict, Namespace, dataclass... as `capture_config` takes them); changing the
        value of a key already set raises unless ``allow_val_change``."""
        new = base.capture_config(values)
        new.update(base.capture_config(more))
        current = self._data()
        if not (allow_val_change or self._allow):
            changed = [k for k, v in new.items() if k in current and current[k] != v and not _both_nan(current[k], v)]
            if changed:
                raise ValueError(f"config key(s) {', '.join(map(repr, changed))} already set to "
                                 f"{', '.join(repr(current[k]) for k in changed)}; pass allow_val_change=True to "
                                 "change them")
        self._store(new)

    def setdefaults(self, values: object) -> None:
        """Add the keys of ``values`` that are not set yet."""
        new = base.capture_config(values)
        self._store({k: v for k, v in new.items() if k not in self._data()})

    def _store(self, values: dict[str, Any]) -> None:
        """Checked and redacted as a run's config is at its start, then kept for the seal."""
        from gitvault.runs.artifacts import check_json
        from gitvault.secrets.scan import redact

        if not self._run.writable:
            raise RuntimeError(f"run {self._run.id} is finished; its config cannot change any more")
        clean, found = redact(check_json(values, "config"), "config")
        for finding in found:
            warnings.warn(f"gitvault: {finding.where} held what looks like a credential ({finding.detector}); "
                          "it was redacted", stacklevel=4)
        self._data().update(clean)

    def as_dict(self) -> dict[str, Any]:
        """A copy of the config."""
        return dict(self._data())

    def keys(self) -> Any:
        """The config's keys."""
        return self._data().keys()

    def items(self) -> Any:
        """The config's items."""
        return self._data().items()

    def values(self) -> Any:
        """The config's values."""
        return self._data().values()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._data().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data()[key]
        except KeyError:
            raise AttributeError(f"the run's config has no key {key!r}; it has {', '.join(self._data()) or 'none'}") \
                from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._data()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(self._data())


def _both_nan(a: object, b: object) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


class Summary:
    """``wandb.summary``: the run's headline metrics (last value logged, unless set here)."""

    def __init__(self, run: "Run") -> None:
        self._run = run
        self._last: dict[str, float] = {}  # the last number logged of each key
        self._set: dict[str, Any] = {}  # what the user set

    def observe(self, numbers: Mapping[str, float]) -> None:
        """The numbers of one ``log`` call."""
        self._last.update(numbers)

    def final(self, aggregates: dict[str, float], defined: set[str]) -> dict[str, Any]:
        """The headline values: the last number of each key (those with a ``define_metric``
        summary left out), the aggregates, then what the user set."""
        out: dict[str, Any] = {k: v for k, v in self._last.items() if k not in defined}
        out.update(aggregates)
        out.update(self._set)
        return out

    def update(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Set headline values (numbers, or text stored as params); they are written at once."""
        new = {**(values or {}), **more}
        for key, value in new.items():
            self._put(str(key), value)

    def _put(self, key: str, value: Any) -> None:
        number = base.to_float(value)
        if number is None and not isinstance(value, str):
            raise TypeError(f"summary[{key!r}] must be a number or text, got {type(value).__name__}; store "
                            "arrays with gitvault.run.vault_run.log_table")
        self._run.log(**{key: value if number is None else number})
        self._set[key] = value if number is None else number

    def __setitem__(self, key: str, value: Any) -> None:
        self._put(key, value)

    def __getitem__(self, key: str) -> Any:
        if key in self._set:
            return self._set[key]
        return self._last[key]

    def __contains__(self, key: object) -> bool:
        return key in self._set or key in self._last

    def get(self, key: str, default: Any = None) -> Any:
        """The headline value of ``key``, or ``default``."""
        return self[key] if key in self else default

    def keys(self) -> list[str]:
        """Every key with a value."""
        return list(dict.fromkeys([*self._last, *self._set]))

    def items(self) -> list[tuple[str, Any]]:
        """(key, value) of every key."""
        return [(k, self[k]) for k in self.keys()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"the summary has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._put(key, value)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _Aggregate:
    """The running min, max, mean, first and last of one metric."""

    __slots__ = ("low", "high", "total", "count", "first", "last")

    def __init__(self, value: float) -> None:
        self.low = self.high = self.first = self.last = value
        self.total, self.count = value, 1

    def add(self, value: float) -> None:
        self.low, self.high = min(self.low, value), max(self.high, value)
        self.total += value
        self.count += 1
        self.last = value

    def value(self, kind: str, goal: str | None) -> float:
        if kind == "best":
            kind = "min" if goal == "minimize" else "max"
        return {"min": self.low, "max": self.high, "mean": self.total / self.count, "first": self.first,
                "last": self.last}[kind]


class WandbRun:
    """What ``gitvault.init()`` returns: W&B's run object over an SDK `Run` (``vault_run``)."""

    def __init__(self, run: "Run", project: str | None, allow_val_change: bool = False) -> None:
        self.vault_run = run
        self.project = project or run.experiment.path
        self.config = Config(run, allow_val_change)
        self.summary = Summary(run)
        self.step = 0
        self.given: dict[str, Any] = {}
        """What ``init`` was given: tags, notes, group, job_type, entity (read-only properties)."""
        self._defined: list[tuple[str, tuple[str, ...], str | None]] = []  # (pattern, summary kinds, goal)
        self._specs: dict[str, tuple[tuple[str, ...], str | None] | None] = {}  # by metric name
        self._aggregates: dict[str, _Aggregate] = {}

    @property
    def id(self) -> str:
        """The run's id (a ULID)."""
        return self.vault_run.id

    @property
    def name(self) -> str | None:
        """The run's name."""
        return self.vault_run.name

    @property
    def path(self) -> str:
        """The path of the run's experiment."""
        return self.vault_run.path

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags ``init`` was given (add more with ``vault_run.tag(...)``)."""
        return self.given.get("tags", ())

    @property
    def notes(self) -> str | None:
        """The notes ``init`` was given (add more with ``vault_run.note(...)``)."""
        return self.given.get("notes")

    @property
    def group(self) -> str | None:
        """``init``'s group (the run's param ``group``)."""
        return self.given.get("group")

    @property
    def job_type(self) -> str | None:
        """``init``'s job_type (the run's param ``job_type``)."""
        return self.given.get("job_type")

    @property
    def entity(self) -> str | None:
        """``init``'s entity (the run's param ``entity``)."""
        return self.given.get("entity")

    @property
    def dir(self) -> str:
        """The repository's ``.extract`` folder."""
        return str(self.vault_run.store.root)

    @property
    def url(self) -> None:
        """None: gitvault runs have no web page (``git vault show <id>``, ``git vault tui``)."""
        return None

    @property
    def offline(self) -> bool:
        """True: every run is stored locally, in the git repository."""
        return True

    @property
    def disabled(self) -> bool:
        """False."""
        return False

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a dict of values at the current step (see the module docstring for ``step`` and
        ``commit``)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"gitvault.log() takes a dict of names and values, got {type(data).__name__}")
        if step is not None:
            if type(step) is not int:
                step = _step(step)
            if step < 0:
                raise ValueError(f"gitvault.log(step={step}): a step is an int >= 0")
            at = step
            if step > self.step:
                self.step = step
            advance = commit is True
        else:
            at = self.step
            advance = commit is None or commit
        stored = base.python_numbers(data)  # plain numbers (the usual call) go straight to run.curve
        if stored is None:  # nested dicts, images, tensors...
            stored = base.log_curves(self.vault_run, at, self._log_images(_flat(data), at))
        elif stored:
            try:
                self.vault_run.curve(at, **stored)
            except (InvalidNameError, TypeError):  # a bad name: stored without it, and named
                stored = base.log_curves(self.vault_run, at, stored)
        self.summary.observe(stored)
        if self._defined:
            self._aggregate(stored)
        if advance:
            self.step = max(self.step, at + 1)

    def _log_images(self, flat: Mapping[str, Any], step: int) -> Mapping[str, Any]:
        """Store the `Image` values (a list of them: ``name/0``, ``name/1``...); the rest is returned."""
        names = [k for k, v in flat.items() if isinstance(v, Image) or (type(v) is list and v and
                                                                        isinstance(v[0], Image))]
        if not names:
            return flat
        for name in names:
            value = flat[name]
            items = [(name, value)] if isinstance(value, Image) else [(f"{name}/{i}", v) for i, v in enumerate(value)]
            for key, image in items:
                if not isinstance(image, Image):
                    raise TypeError(f"gitvault.log: {name} mixes Images with a {type(image).__name__}")
                self.vault_run.log_image(key, image.data, step=step, caption=image.caption)
        return {k: v for k, v in flat.items() if k not in names}

    def save(self, glob_str: str | Path, base_path: str | Path | None = None, policy: str = "live") -> list[str]:
        """Store the files matching ``glob_str`` (``run.log_file``), each under its path relative to
        ``base_path`` (default: its own name); returns the names stored. ``policy`` is accepted:
        files are stored when this is called."""
        import glob

        matches = sorted(glob.glob(str(glob_str), recursive=True))
        if not matches:
            raise FileNotFoundError(f"gitvault.save({str(glob_str)!r}): no file matches; give a path or a glob")
        names: list[str] = []
        base = Path(base_path).resolve() if base_path is not None else None
        for match in matches:
            if base is not None and not Path(match).resolve().is_relative_to(base):
                raise ValueError(f"gitvault.save: {match} is not under base_path {base_path}; "
                                 "give a base_path that holds every file the glob matches")
            name = Path(match).resolve().relative_to(base).as_posix() if base is not None else None
            names += self.vault_run.log_file(match, name=name)
        return names

    def log_model(self, path: str | Path, name: str | None = None, aliases: Sequence[str] | None = None) -> str:
        """Register the file or folder ``path`` as the next version of model ``name`` (default: the
        file's name without its suffix), with ``aliases`` (``run.register_model``); returns its id."""
        model = name if name is not None else Path(path).stem
        return self.vault_run.register_model(model, path, aliases=list(aliases or []))

    def define_metric(self, name: str, step_metric: str | None = None, step_sync: bool | None = None,
                      hidden: bool | None = None, summary: str | None = None, goal: str | None = None,
                      overwrite: bool | None = None) -> None:
        """``goal`` ("minimize"/"maximize") -> vault.toml's metric directions; ``summary`` -> the
        headline metrics ``<name>/<kind>``; ``step_metric`` accepted (see the module docstring)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"define_metric needs a metric name, got {name!r}")
        if hidden:
            raise UnsupportedCallError("define_metric(hidden=True) is not supported: gitvault shows every curve")
        if goal not in (None, "minimize", "maximize"):
            raise ValueError(f"define_metric(goal={goal!r}): use 'minimize' or 'maximize'")
        kinds = tuple(k.strip() for k in summary.split(",")) if summary else ()
        for kind in kinds:
            if kind not in _SUMMARY_KINDS:
                raise ValueError(f"define_metric(summary={summary!r}): {kind!r} is not one of "
                                 f"{', '.join(_SUMMARY_KINDS)}")
        if "best" in kinds and goal is None:
            raise ValueError("define_metric(summary='best') needs goal='minimize' or 'maximize'")
        if goal is not None:
            if "*" in name or "?" in name:
                raise ValueError(f"define_metric({name!r}, goal=...): a goal names one metric, not a pattern")
            _set_direction(self.vault_run, name, "minimize" if goal == "minimize" else "maximize")
        if kinds:
            self._defined.append((name, tuple(k for k in kinds if k != "none"), goal))
            self._specs.clear()

    def _aggregate(self, stored: Mapping[str, float]) -> None:
        for key, value in stored.items():
            if key not in self._specs:
                self._specs[key] = next(((kinds, goal) for pattern, kinds, goal in reversed(self._defined)
                                         if fnmatch.fnmatchcase(key, pattern)), None)
            if self._specs[key] is None:
                continue
            found = self._aggregates.get(key)
            if found is None:
                self._aggregates[key] = _Aggregate(value)
            else:
                found.add(value)

    def _headline(self) -> dict[str, Any]:
        aggregates: dict[str, float] = {}
        defined: set[str] = set()
        for key, spec in self._specs.items():
            if spec is None:
                continue
            defined.add(key)
            kinds, goal = spec
            for kind in kinds:
                aggregates[f"{key}/{kind}"] = self._aggregates[key].value(kind, goal)
        return self.summary.final(aggregates, defined)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Write the summary as headline metrics and seal the run: completed for exit code 0 or
        None, failed otherwise. A finished run stays finished."""
        self._seal("failed" if exit_code else "completed")

    def _seal(self, status: str, exc: BaseException | None = None) -> None:
        global _ACTIVE
        with _LOCK:
            if _ACTIVE is self:
                _ACTIVE = None
        run = self.vault_run
        if not run.writable:
            return
        try:
            headline = self._headline()
            if headline:
                run.log(**headline)
        finally:
            base.finish_run(run, status, exc=exc)

    def __enter__(self) -> "WandbRun":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        self._seal("failed" if exc is not None else "completed", exc=exc)
        return False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported(name, "run")

    def __repr__(self) -> str:
        return f"WandbRun(id={self.id!r}, project={self.project!r}, name={self.name!r}, step={self.step})"


def _step(step: object) -> int:
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        return int(step)
    raise TypeError(f"gitvault.log(step={step!r}): a step is an int >= 0, got {type(step).__name__}")


def _flat(data: Mapping[str, Any], prefix: str = "") -> Mapping[str, Any]:
    """Nested dicts flattened with ``/`` (``{"train": {"loss": 1}}`` -> ``train/loss``)."""
    if not prefix and not any(isinstance(v, Mapping) for v in data.values() if type(v) is not float):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}/"))
        else:
            out[name] = value
    return out


def _set_direction(run: "Run", metric: str, goal: str) -> None:
    """vault.toml's ``metrics.minimize`` or ``maximize`` gets ``metric`` (one vault commit; none
    when it is listed already)."""
    from gitvault import settings

    key = "metrics.minimize" if goal == "minimize" else "metrics.maximize"
    run.store.vault.edit_config(lambda text: settings.edit_config_text(text, "add", key, [metric]),
                                f"config: add {key} {metric} (define_metric)")


class _Proxy:
    """``gitvault.config`` / ``gitvault.summary``: the active run's, whichever run that is."""

    def __init__(self, attribute: str) -> None:
        object.__setattr__(self, "_attribute", attribute)

    def _target(self) -> Any:
        return getattr(_current(self._attribute), self._attribute)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return getattr(self._target(), key)

    def __setattr__(self, key: str, value: Any) -> None:
        setattr(self._target(), key, value)

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __repr__(self) -> str:
        return repr(self._target()) if _ACTIVE is not None else f"<gitvault.{self._attribute}: no active run>"


config = _Proxy("config")
summary = _Proxy("summary")


def _finish_at_exit() -> None:
    """A run left active is finished before the SDK seals what is left (failed after an uncaught
    exception), so its summary becomes headline metrics."""
    run = _ACTIVE
    if run is None:
        return
    try:
        run.finish(exit_code=1 if FLUSHER.failed_exit else 0)
    except Exception as exc:  # noqa: BLE001 - the SDK's own exit handler seals what is left
        warnings.warn(f"gitvault: could not finish run {run.id} at exit: {exc}", stacklevel=1)


atexit.register(_finish_at_exit)
