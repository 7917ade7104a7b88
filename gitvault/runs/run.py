"""A run: the live writer (`Run`) and the read-only view of any run, live or sealed (`RunView`).

A run's spool (``<git-common-dir>/vault/live/<run_id>/``, see `gitvault.runs.spool`) is created when the
run starts, so other processes list it as running from that moment. Hot path: ``curve()`` and
``log()`` only append to memory. One daemon thread per process flushes every live run about once a
second (and, within 50 ms, any run whose buffer reached `FLUSH_BYTES`), appending a frame to the
run's spool so other processes see the points within ~2 s; a run killed before a flush loses that
unflushed window. ``finish()`` seals: all curve points become one wide Parquet blob and the record
one vault commit. After a fork, the child cannot write to its parent's runs
(`ConcurrentWriterError`) but can start its own.

``curve(step, **values)`` packs each call into one record of its layout (the tuple of curve names
it logged, see `curves.Layout`) under the run's lock. A call whose layout was seen before with
float values takes the short path (a dict lookup, a type check per value, one ``struct.pack``, one
append); every other call is validated first and creates the layout. The lock makes every call
either land in the buffer before ``finish()`` takes it or raise: no point is dropped silently, and
threads sharing a run never interleave half records.
"""

from __future__ import annotations

import atexit
import contextlib
import numbers
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gitvault.runs import artifacts, capture, curves, live, spool

from gitvault.storage import codec

from gitvault.secrets import scan as secretscan
from gitvault.errors import ConcurrentWriterError, SecretRedactedWarning
from gitvault.names import check_name
from gitvault.storage.records import TERMINAL_STATUSES, fold, materialize_curves
from gitvault.storage.vault import Transaction, new_id

if TYPE_CHECKING:
    from gitvault.runs.experiment import Experiment
    from gitvault.runs.store import Store

FLUSH_INTERVAL_S = 1.0
SIZE_CHECK_INTERVAL_S = 0.05
FLUSH_BYTES = 32 << 20
"""A run's packed curve records are flushed once they hold this much (4M values): the flusher thread
checks every `SIZE_CHECK_INTERVAL_S`, so ``curve()`` itself never pays for the check."""
MAX_LAYOUTS = 256
"""Tuples of curve names a run keeps a layout for. Past this (a run logging ever new combinations of
sparse curves), a call's values are stored as one single-curve record each."""
_MAX_STEP = 2**63


class Run:
    """One training run, written by the process that started it. Use as a context manager or call
    ``finish()``; an exception inside ``with`` seals the run as "failed" and propagates."""

    __slots__ = (
        "id", "name", "experiment", "_store", "_state", "_layouts", "_names", "_known", "_t0", "_header", "_spool",
        "_pending", "_data", "_lock", "_flush_lock", "_pid", "_record", "__weakref__",
    )

    def __init__(self, store: "Store", experiment: "Experiment", config: dict[str, Any],
                 name: str | None, total_steps: int | None) -> None:
        self._store = store
        self.experiment = experiment
        self.id = new_id()
        self.name = name
        self._t0 = _clock()
        config, redacted = secretscan.redact(config, "config")
        argv, found = secretscan.redact_argv(list(sys.argv))
        env = capture.env_facts()  # Python, platform and package versions: derived here, no user input
        redacted += found
        _warn_redacted(redacted)
        self._header: dict[str, Any] = {
            "id": self.id,
            "experiment_id": experiment.id,
            "experiment_path": experiment.path,
            "name": name,
            "config": config,
            "started_at": codec.utc_now(),
            "started_unix": time.time(),
            "hostname": capture.hostname(),
            "pid": os.getpid(),
            "git": capture.git_facts(store.vault.paths, store.blobs),
            "env": env,
            "argv": argv,
            "total_steps": total_steps,
        }
        if redacted:
            self._header["redacted"] = [{"field": f.where, "detector": f.detector} for f in redacted]
        self._layouts: dict[tuple[str, ...], curves.Layout] = {}  # by the curve names a call logged
        self._names: list[str] = []  # every curve name, in order of first use
        self._known: set[str] = set()  # the same names, checked once each
        self._pending = _empty_pending()
        self._data = spool.new_state()
        self._lock = threading.Lock()  # guards the buffers (records, pending) and the state
        self._flush_lock = threading.Lock()  # one flush or seal at a time, so frames stay in order
        self._pid = os.getpid()
        self._record: dict[str, Any] | None = None
        self._state: str | None = None  # None while writable, then "sealing", "finished" or "forked"
        try:  # other processes list the run as running from now on
            self._spool: spool.Spool | None = spool.Spool(store.vault.paths.live_dir, self.id, self._header)
        except OSError:  # the flusher retries, and says so if it cannot; finish() seals from memory
            self._spool = None
        _FLUSHER.add(self)

    # -- identity -------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.experiment.path

    @property
    def status(self) -> str:
        return self._record["status"] if self._record else "running"

    @property
    def config(self) -> dict[str, Any]:
        return self._header["config"]

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, path={self.path!r}, name={self.name!r}, status={self.status!r})"

    def view(self) -> "RunView":
        """Read back what this run holds so far (flushed first), or its sealed record."""
        if self._pid == os.getpid():
            with self._flush_lock:
                if self._record is None and self._spool is None:
                    self._spool = spool.Spool(self._store.vault.paths.live_dir, self.id, self._header)
        return self._store.get_run(self.id)

    # -- hot path -------------------------------------------------------------------------------

    def curve(self, /, step: int, **values: float) -> None:
        """Append one point per value at ``step`` (an int >= 0; values are floats or ints, NaN and
        inf kept; bool and str raise TypeError). The same (curve, step) logged twice keeps the
        latest value. Raises RuntimeError once the run is finished (or being sealed)."""
        layout = self._layouts.get(tuple(values))
        if layout is not None and type(step) is int and 0 <= step < _MAX_STEP:
            for value in values.values():
                if type(value) is not float:
                    break
            else:
                record = layout.pack(step, _clock(), *values.values())
                lock = self._lock  # acquire/release: a third of the cost of a `with` block here
                lock.acquire()
                try:
                    if self._state is None:
                        layout.records += record
                        return
                finally:
                    lock.release()
        self._curve_checked(step, values)

    def _curve_checked(self, step: Any, values: dict[str, Any]) -> None:
        """A ``curve()`` call the short path does not take: a new tuple of names, a value that is
        not a float, a bad step, or a run that is not writable. Validates, then appends."""
        self._check_writable("curve")
        step = _check_step(step)
        clean: dict[str, float] = {}
        for key, value in values.items():
            if key not in self._known:
                check_name(key, "curve name")
            clean[key] = curves.to_float(_number(value, f"curve value {key}"))
        if not clean:
            return
        names = tuple(clean)
        with self._lock:
            self._check_writable("curve")
            clock = _clock()
            for key in names:
                if key not in self._known:
                    self._known.add(key)
                    self._names.append(key)
            layout = self._layouts.get(names)
            if layout is None and len(self._layouts) < MAX_LAYOUTS:
                layout = self._layouts[names] = curves.Layout(names)
            if layout is not None:
                layout.records += layout.pack(step, clock, *clean.values())
                return
            for key, value in clean.items():  # past MAX_LAYOUTS: one single-curve record per value
                single = self._layouts.get((key,))
                if single is None:
                    single = self._layouts[(key,)] = curves.Layout((key,))
                single.records += single.pack(step, clock, value)

    def _over_size(self) -> bool:
        """True once the buffered records hold `FLUSH_BYTES`."""
        return sum(len(layout.records) for layout in list(self._layouts.values())) >= FLUSH_BYTES

    def log(self, **values: float | int | str) -> None:
        """Headline metrics (numbers, latest wins) and params (strings). No ``step=``."""
        self._check_writable("log")
        if "step" in values:
            raise TypeError("run.log() takes no step=: headline metrics are one value per run; "
                            "use run.curve(step, name=value) for per-step values")
        metrics: dict[str, list[float]] = {}
        params: dict[str, str] = {}
        for key, value in values.items():
            check_name(key, "metric name")
            if isinstance(value, str):
                params[key] = value
                if len(value) >= 6:
                    clean, found = secretscan.redact({key: value}, "params")
                    _warn_redacted(found, stacklevel=3)
                    params[key] = clean[key]
                    with self._lock:  # the sealed record lists it with the capture's redactions
                        self._header.setdefault("redacted", []).extend(
                            {"field": f.where, "detector": f.detector} for f in found)
            else:
                metrics[key] = [float(_number(value, f"metric {key}")), 0.0]
        wall = float(np.float32(_clock() - self._t0))
        with self._lock:
            self._check_writable("log")  # again: a seal may have taken the pending values meanwhile
            for key, pair in metrics.items():
                pair[1] = wall
                self._pending["metrics"][key] = pair
            self._pending["params"].update(params)

    # -- artifacts ------------------------------------------------------------------------------

    def log_table(self, name: str, data: Any, step: int | None = None, axes: dict[str, Any] | None = None) -> None:
        """Store a numpy array (.npy blob); ``axes`` like {"rows": "task", "cols": "step"}."""
        self._check_writable("log_table")
        check_name(name, "table name")
        step = artifacts.check_step(step)
        if axes is not None and not isinstance(axes, dict):
            raise TypeError(f"axes must be a dict like {{'rows': 'task', 'cols': 'step'}}, got {type(axes).__name__}")
        meta = {"axes": artifacts.check_json(axes, "axes")} if axes is not None else {}
        arr = artifacts.table_array(data)
        sha = self._store.blobs.put_bytes(artifacts.npy_bytes(arr))
        self._add_artifact(artifacts.entry(name, "matrix", sha, step=step, shape=list(arr.shape),
                                           dtype=arr.dtype.str, metadata=meta))

    def log_text(self, name: str, content: str) -> None:
        """Store markdown text."""
        self._check_writable("log_text")
        check_name(name, "text name")
        if not isinstance(content, str):
            raise TypeError(f"log_text content must be a str, got {type(content).__name__}")
        sha = self._store.blobs.put_bytes(content.encode("utf-8"))
        self._add_artifact(artifacts.entry(name, "text", sha, metadata={"format": "markdown"}))

    def write_metrics(self, data: Any, name: str = "metrics") -> None:
        """Store a table of columns (dict of lists/arrays or polars.DataFrame) as a Parquet blob."""
        self._check_writable("write_metrics")
        check_name(name, "metrics name")
        tbl = artifacts.parquet_frame(data)
        sha = self._store.blobs.put_bytes(artifacts.parquet_bytes(tbl))
        self._add_artifact(artifacts.entry(name, "metrics", sha, shape=[tbl.num_rows, tbl.num_columns],
                                           metadata={"columns": tbl.column_names}))

    def write_tensors(self, name: str, data: Any, chunks: tuple[int, ...] | None = None) -> None:
        """Store an array as Zarr (one blob), read back lazily chunk by chunk."""
        self._check_writable("write_tensors")
        check_name(name, "tensor name")
        arr = artifacts.table_array(data)
        sha = artifacts.put_tensor(self._store.blobs, arr, chunks)
        self._add_artifact(artifacts.entry(name, "tensor", sha, shape=list(arr.shape), dtype=arr.dtype.str,
                                           metadata={"format": "zarr-v3-zip"}))

    def _add_artifact(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._check_writable("log artifact")
            self._pending["artifacts"].append(item)

    # -- tags, notes, todos, models, lineage -----------------------------------------------------

    def tag(self, *tags: str) -> None:
        self._check_writable("tag")
        for t in tags:
            check_name(t, "tag")
        with self._lock:
            self._check_writable("tag")
            self._pending["tags"].extend(tags)

    def note(self, content: str) -> None:
        self._check_writable("note")
        if not isinstance(content, str):
            raise TypeError(f"a note must be a str, got {type(content).__name__}")
        with self._lock:
            self._check_writable("note")
            self._pending["notes"].append({"content": content, "created_at": codec.utc_now()})

    def todo(self, content: str, priority: int = 0) -> str:
        """A TODO scoped to this run (committed at once); returns its id."""
        self._check_writable("todo")
        return self._store.add_todo(content, priority, scope_type="run", scope_id=self.id)

    def register_model(self, name: str, version: str, path: str | Path, metadata: dict[str, Any] | None = None,
                       framework: str = "pytorch") -> str:
        """Copy a model file or directory into the blob store; (name, version) must be new."""
        self._check_writable("register_model")
        return self._store.register_model(name, version, path, metadata=metadata, framework=framework, run_id=self.id)

    def derived_from(self, run: str | None = None, model: str | None = None, version: str | None = None) -> None:
        """This run derives from another run (by id) or a model (name + version, or model id)."""
        self._check_writable("derived_from")
        self._store._derived_from(self.id, run=run, model=model, version=version)

    def branched_from(self, experiment: str | None = None, run: str | None = None) -> None:
        """This run branches from an experiment (id or path) or another run (id)."""
        self._check_writable("branched_from")
        self._store._branched_from(self.id, experiment=experiment, run=run)

    # -- flushing and sealing ---------------------------------------------------------------------

    def flush(self) -> None:
        """Append everything logged since the last flush to the spool (visible to readers)."""
        if self._pid != os.getpid():
            return
        with self._flush_lock:
            if self._record is None and self._state != "forked":
                block, pending = self._take()
                if block is not None or any(pending.values()):
                    self._keep(block, pending)
                    self._spool_frame([block] if block is not None else [], pending)

    def _take_buffers(self) -> tuple[list[tuple[tuple[str, ...], bytearray]], dict[str, Any], list[str]]:
        """What was logged since the last flush, each buffer replaced by an empty one (under the
        lock, so no call appends to what is taken): the records of every layout that has some,
        the pending metrics, params, tags, notes and artifacts, and the curve names so far."""
        with self._lock:
            chunks = []
            for layout in self._layouts.values():
                if layout.records:
                    chunks.append((layout.names, layout.records))
                    layout.records = bytearray()
            pending, self._pending = self._pending, _empty_pending()
            return chunks, pending, list(self._names)

    def _take(self) -> tuple[curves.Block | None, dict[str, Any]]:
        chunks, pending, names = self._take_buffers()
        return curves.records_block(chunks, names, self._t0), pending

    def _keep(self, block: curves.Block | None, pending: dict[str, Any]) -> None:
        """Fold a flushed batch into memory, which ``finish()`` seals from (before the spool is
        written, so a batch the spool refused is still sealed)."""
        spool.merge_frame(self._data, {**pending, "blocks": []})
        if block is not None:
            self._data["blocks"].append(block)

    def _spool_frame(self, blocks: list[curves.Block], pending: dict[str, Any]) -> None:
        frame = {"t": time.time(), "blocks": [curves.block_to_frame(b) for b in blocks], **pending}
        if self._spool is None:
            self._spool = spool.Spool(self._store.vault.paths.live_dir, self.id, self._header)
        self._spool.append(frame, lambda: {**{k: self._data[k] for k in ("metrics", "params", "tags", "notes",
                                                                           "artifacts")}, "last_flush": frame["t"]})

    def finish(self, status: str = "completed") -> None:
        """Seal the run (idempotent). Every mutating call afterwards raises RuntimeError."""
        if self._state == "finished":
            return
        if self._state == "forked" or self._pid != os.getpid():
            raise ConcurrentWriterError(_forked_message(self.id, self._pid))
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"finish status must be one of {', '.join(TERMINAL_STATUSES)}, got {status!r}")
        with self._flush_lock:
            if self._record is not None:  # another thread sealed it meanwhile
                return
            _FLUSHER.discard(self)
            with self._lock:
                self._state = "sealing"  # from here every curve(), log()... raises: nothing logged is missed
            chunks, pending, names = self._take_buffers()
            # a crash from here on loses only the unflushed window. The last stretch of one layout is
            # handed over packed (sealing streams it); several layouts interleave: merged by clock
            packed = [curves.Packed(list(n), data, self._t0) for n, data in chunks] if len(chunks) == 1 else []
            last = curves.records_block(chunks, names, self._t0) if len(chunks) > 1 else None
            try:
                spool.merge_frame(self._data, {**pending, "blocks": []})
                blocks = self._data["blocks"] + ([last] if last is not None else [])
                self._record = live.seal(self._store.vault, {**self._header, **self._data, "blocks": blocks},
                                         status, packed=packed)
            except BaseException:
                with contextlib.suppress(Exception):  # the run goes on: keep memory and spool whole
                    unspooled = [b for b in [last] + [p.block() for p in packed] if b is not None]
                    self._data["blocks"].extend(unspooled)
                    if unspooled or any(pending.values()):
                        self._spool_frame(unspooled, pending)
                with self._lock:
                    self._state = None
                _FLUSHER.add(self)
                raise
            self._data["blocks"] = []
            with self._lock:
                self._state = "finished"
            if self._spool is not None:
                with contextlib.suppress(OSError):  # sealed: a spool left behind is removed by recovery
                    self._spool.remove()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if self._state is None:
            self.finish("failed" if exc_type is not None else "completed")
        return False

    def _check_writable(self, what: str) -> None:
        if self._state is None and self._pid == os.getpid():
            return
        if self._state == "forked" or self._pid != os.getpid():
            raise ConcurrentWriterError(_forked_message(self.id, self._pid))
        if self._state == "sealing":
            raise RuntimeError(f"run {self.id} is being sealed (finish() was called); {what}() cannot add "
                               "to it any more: call finish() after the last write, in every thread")
        raise RuntimeError(f"run {self.id} is finished; {what}() cannot change a sealed run "
                           "(tag or note it later with store.get_run(id).tag(...))")

    def _after_fork_in_child(self) -> None:
        """In a forked child: the parent's run refuses every write (the locks may have been held by
        a parent thread at the fork, so they are new), and its memory is dropped."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._state = "forked"
        if self._spool is not None:
            self._spool.forget_after_fork()
        self._layouts = {}
        self._pending = _empty_pending()
        self._data = spool.new_state()


def _warn_redacted(findings: list[secretscan.Finding], stacklevel: int = 4) -> None:
    """One warning per redacted field, naming the field and the detector, never the value."""
    for finding in findings:
        warnings.warn(SecretRedactedWarning(
            f"{finding.where} held what looks like a credential ({finding.detector}); it was stored as "
            f"{secretscan.MARKER.format(finding.detector)!r}. Pass credentials through the environment, "
            "not the config or command line"), stacklevel=stacklevel)


def _forked_message(run_id: str, owner: int) -> str:
    return (f"run {run_id} is written by process {owner}; this process ({os.getpid()}) cannot write to it "
            "(two writers would corrupt it). Start a new run in this process instead")


def _empty_pending() -> dict[str, Any]:
    return {"metrics": {}, "params": {}, "tags": [], "notes": [], "artifacts": []}


def _check_step(step: Any) -> int:
    if type(step) is bool or isinstance(step, (np.bool_, str, bytes)):
        raise TypeError(f"step must be an int, got {type(step).__name__} {step!r}")
    if isinstance(step, numbers.Integral):
        step = int(step)
    elif isinstance(step, float) and step.is_integer():
        raise TypeError(f"step must be an int, got float {step!r}; pass int(step)")
    else:
        raise TypeError(f"step must be an int, got {type(step).__name__} {step!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step >= _MAX_STEP:
        raise ValueError(f"step {step} is too large (max 2**63-1)")
    return step


def _number(value: Any, what: str) -> float | int:
    t = type(value)
    if t is float or t is int:
        return value
    if t is bool or isinstance(value, np.bool_):
        raise TypeError(f"{what} is a bool ({value!r}); log 0/1 or a float instead")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} is a string ({value!r}); only numbers are accepted here "
                        "(log strings as params with run.log(name='text'))")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return value.item()
    raise TypeError(f"{what} must be an int or float, got {type(value).__name__}; "
                    "convert tensors with .item()")


class RunView:
    """Read-only view of a run, sealed or live: metrics, params, curves, tables, texts, tensors."""

    def __init__(self, store: "Store", record: dict[str, Any], *, is_live: bool,
                 blocks: list[dict[str, Any]] | None = None) -> None:
        self._store = store
        self.record = record
        self.is_live = is_live
        self._blocks = blocks

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def name(self) -> str | None:
        return self.record.get("name")

    @property
    def path(self) -> str:
        return self.record["experiment_path"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def config(self) -> dict[str, Any]:
        return self.record.get("config") or {}

    @property
    def metrics(self) -> dict[str, float]:
        return {k: v["value"] for k, v in (self.record.get("metrics") or {}).items()}

    @property
    def params(self) -> dict[str, str]:
        return dict(self.record.get("params") or {})

    @property
    def tags(self) -> list[str]:
        return list(self.record.get("tags") or [])

    @property
    def notes(self) -> list[dict[str, Any]]:
        return list(self.record.get("notes") or [])

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        return list(self.record.get("artifacts") or [])

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __repr__(self) -> str:
        return f"RunView(id={self.id!r}, path={self.path!r}, status={self.status!r})"

    def curves(self, wide: bool = True) -> Any:
        """Curve points as polars. Wide (default): step, wall_time, one column per curve, null
        where a curve has no point. ``wide=False``: long (name, step, value, wall_time)."""
        if self._blocks is not None:
            frame = curves.wide_frame(self._blocks) if self._blocks else curves.empty_frame()
        else:
            sha = (self.record.get("curves") or {}).get("blob")
            if sha:
                materialize_curves(self._store.vault.snapshot(), self._store.blobs, self.record)
                self._store.blobs.open(sha).close()
            frame = curves.read_wide(self._store.blobs.path(sha)) if sha else curves.empty_frame()
        return frame if wide else curves.to_long(frame)

    def curve(self, name: str) -> Any:
        """One curve as polars (step, value, wall_time)."""
        import polars as pl

        long = self.curves(wide=False)
        return long.filter(pl.col("name") == name).drop("name")

    def _find(self, name: str, kind: str, step: int | None = None, any_step: bool = True) -> dict[str, Any]:
        item = artifacts.latest(self.artifacts, name, kind, step, any_step=any_step)
        if item is None:
            have = sorted({a["name"] for a in self.artifacts if a["kind"] == kind})
            raise KeyError(f"run {self.id} has no {kind} artifact {name!r}"
                           + (f" at step {step}" if step is not None else "")
                           + f"; it has: {', '.join(have) or 'none'}")
        return item

    def table(self, name: str, step: int | None = None) -> np.ndarray:
        """A table logged with log_table (the latest one, or the one at ``step``)."""
        return artifacts.load_table(self._store.blobs, self._find(name, "matrix", step, step is None)["blob"])

    def tables(self) -> dict[str, np.ndarray]:
        return {a["name"]: self.table(a["name"]) for a in self.artifacts if a["kind"] == "matrix"}

    def text(self, name: str) -> str:
        return artifacts.load_text(self._store.blobs, self._find(name, "text")["blob"])

    def texts(self) -> dict[str, str]:
        return {a["name"]: self.text(a["name"]) for a in self.artifacts if a["kind"] == "text"}

    def tensor(self, name: str) -> Any:
        """A lazy, read-only zarr array; slicing reads only the chunks it touches."""
        return artifacts.open_tensor(self._store.blobs, self._find(name, "tensor")["blob"])

    def tensors(self) -> dict[str, Any]:
        return {a["name"]: self.tensor(a["name"]) for a in self.artifacts if a["kind"] == "tensor"}

    def metrics_frame(self, name: str = "metrics") -> Any:
        """A table written with write_metrics, as a polars DataFrame."""
        return artifacts.load_metrics(self._store.blobs, self._find(name, "metrics")["blob"])

    def metric_frames(self) -> dict[str, Any]:
        return {a["name"]: self.metrics_frame(a["name"]) for a in self.artifacts if a["kind"] == "metrics"}

    def tag(self, *tags: str) -> None:
        """Tag the run; for a sealed run this is a new event commit."""
        self._store.tag_run(self.id, *tags)

    def note(self, content: str) -> None:
        self._store.note_run(self.id, content)


def sealed_view(store: "Store", record: dict[str, Any], events: list[dict[str, Any]]) -> RunView:
    return RunView(store, fold(record, events), is_live=False)


def live_view(store: "Store", run_dir: Path) -> RunView:
    state = spool.load(run_dir)
    blocks = state.pop("blocks")
    state["status"] = "running" if spool.is_locked(run_dir) else "crashed"
    state.setdefault("ended_at", None)
    return RunView(store, state, is_live=True, blocks=blocks)


def event_tx(run_id: str, event: str, data: dict[str, Any], message: str) -> Transaction:
    tx = Transaction(message=message)
    tx.add_event("run", run_id, event, data)
    return tx


class _Flusher:
    """One daemon thread per process flushing every live run about once a second."""

    def __init__(self) -> None:
        self.runs: set[Run] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.failed_exit = False
        self.reported: set[str] = set()  # runs whose failed flush was reported

    def add(self, run: Run) -> None:
        _install_excepthook()
        with self.lock:
            self.runs.add(run)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="gitvault-flusher", daemon=True)
                self.thread.start()

    def discard(self, run: Run) -> None:
        with self.lock:
            self.runs.discard(run)

    def snapshot(self) -> list[Run]:
        with self.lock:
            return list(self.runs)

    def _loop(self) -> None:
        """Every second: flush every live run. Every `SIZE_CHECK_INTERVAL_S`: flush the runs whose
        buffers are full (the memory bound ``curve()`` leaves to this thread)."""
        last = time.monotonic()
        while True:
            time.sleep(SIZE_CHECK_INTERVAL_S if self.runs else FLUSH_INTERVAL_S)
            due = time.monotonic() - last >= FLUSH_INTERVAL_S
            if due:
                last = time.monotonic()
            for run in self.snapshot():
                try:
                    if due or run._over_size():
                        run.flush()
                except Exception as exc:  # never kill the thread; the next finish() reports it
                    if run.id not in self.reported:  # once per run, not every second
                        self.reported.add(run.id)
                        where = run._store.vault.paths.live_dir
                        sys.stderr.write(f"gitvault: run {run.id} cannot stream its points to {where}: {exc}; "
                                         "finish() still seals them from memory, but they are lost if "
                                         "this process dies first\n")

    def after_fork_in_child(self) -> None:
        for run in list(self.runs):
            run._after_fork_in_child()
        self.runs = set()
        self.lock = threading.Lock()
        self.thread = None

    def seal_at_exit(self) -> None:
        status = "failed" if self.failed_exit else "completed"
        for run in self.snapshot():
            if run._pid == os.getpid() and run._state is None:
                try:
                    run.finish(status)
                except Exception as exc:
                    fate = ("it will be recovered as crashed (`git vault recover`)" if run._spool is not None
                            else "nothing of it reached the disk (its spool could not be written), so it "
                                 "cannot be recovered")
                    sys.stderr.write(f"gitvault: could not seal run {run.id} at exit: {exc}; {fate}\n")


_FLUSHER = _Flusher()
os.register_at_fork(after_in_child=_FLUSHER.after_fork_in_child)
atexit.register(_FLUSHER.seal_at_exit)


def _install_excepthook() -> None:
    """Runs left open when the interpreter exits are sealed "failed" after an uncaught exception."""
    previous = sys.excepthook
    if getattr(previous, "_gitvault", False):
        return

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        _FLUSHER.failed_exit = True
        previous(exc_type, exc, tb)

    hook._gitvault = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def live_run_in_process(run_id: str) -> Run | None:
    for run in _FLUSHER.snapshot():
        if run.id == run_id and run._pid == os.getpid():
            return run
    return None


def flush_live_runs(extract_dir: Path) -> None:
    """Flush this process's live runs of one vault, so readers see them on disk."""
    for run in _FLUSHER.snapshot():
        if run._pid == os.getpid() and run._store.vault.extract_dir == extract_dir:
            run.flush()
