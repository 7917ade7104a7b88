"""A run: the live writer (`Run`) and the read-only view of any run, live or sealed (`RunView`).

A run's spool (``<git-common-dir>/vault/live/<run_id>/``, see `gitvault.live`) is created when the
run starts, so other processes list it as running from that moment. Hot path: ``curve()`` and
``log()`` only append to memory. One daemon thread per process flushes every live run about once a
second (and, within 50 ms, any run whose buffer reached `FLUSH_BYTES`), appending a frame to the
run's spool so other processes see the points within ~2 s; a run killed before a flush loses that
unflushed window. ``finish()`` seals: all curve points become one wide Parquet blob and the
record one vault commit. After a fork, the child cannot write to its parent's runs
(`ConcurrentWriterError`) but can start its own.
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

from gitvault import artifacts, capture, codec, curve_writer, curves, live, secretscan
from gitvault.errors import ConcurrentWriterError, SecretRedactedWarning
from gitvault.names import check_name
from gitvault.records import TERMINAL_STATUSES, fold, materialize_curves
from gitvault.vault import Transaction, new_id

if TYPE_CHECKING:
    from gitvault.experiment import Experiment
    from gitvault.store import Store

FLUSH_INTERVAL_S = 1.0
SIZE_CHECK_INTERVAL_S = 0.05
FLUSH_BYTES = 32 << 20
"""A run's packed curve buffer is flushed once it holds this much (4M values): the flusher thread
checks every `SIZE_CHECK_INTERVAL_S`, so ``curve()`` itself never pays for the check."""
FLUSH_DICT_CALLS = 20_000
"""Calls held in the buffer of curves beyond the generated layout before a flush (a few MB)."""
_MAX_STEP = 2**63


class Run:
    """One training run, written by the process that started it. Use as a context manager or call
    ``finish()``; an exception inside ``with`` seals the run as "failed" and propagates.

    ``run.curve(step, **values)`` appends one point per value at ``step`` (an int >= 0; values are
    floats or ints, NaN and inf kept; bool and str raise TypeError). It is a function generated for
    the run's curve names (see `gitvault.curve_writer`), hence an attribute rather than a method.
    """

    __slots__ = (
        "id", "name", "experiment", "curve", "_store", "_state", "_buf", "_known", "_t0", "_header",
        "_spool", "_pending", "_data", "_lock", "_pid", "_record", "_names", "_ns", "_versions",
        "__weakref__",
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
        env, found_env = secretscan.redact(capture.env_facts(), "env")
        redacted += found + found_env
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
        self._buf: list[Any] = []  # curves beyond the generated layout: step, clock, values dict, ...
        self._known: set[str] = set()
        self._names: list[str] = []  # every curve name, in order of first use
        self._ns = curve_writer.namespace(self._curve_slow, _clock)
        self._versions: list[tuple[list[str], bytearray]] = []  # (record layout, packed records)
        self._new_version([])
        self._pending = _empty_pending()
        self._data = live.new_state()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._record: dict[str, Any] | None = None
        self._state: str | None = None
        try:  # other processes list the run as running from now on
            self._spool: live.Spool | None = live.Spool(store.vault.paths.live_dir, self.id, self._header)
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
        with self._lock:
            if self._record is None and self._spool is None and self._pid == os.getpid():
                self._spool = live.Spool(self._store.vault.paths.live_dir, self.id, self._header)
        return self._store.get_run(self.id)

    # -- hot path -------------------------------------------------------------------------------

    def _new_version(self, layout: list[str]) -> None:
        buffer = curve_writer.new_buffer()
        self.curve = curve_writer.generate(self._ns, len(self._versions), layout, buffer)
        self._versions.append((layout, buffer))

    def _curve_slow(self, step: Any, values: dict[str, Any]) -> None:
        """Every ``curve()`` call the generated fast path does not take: validates, registers new
        curve names (a new version of ``curve`` while the layout has room) and appends."""
        version = len(self._versions) - 1
        layout, buffer = self._versions[version]
        if type(step) is int and 0 <= step < _MAX_STEP and values and all(
                (type(v) is float or (type(v) is int and -1e308 < v < 1e308)) and k in layout
                for k, v in values.items()):
            # known names the generated signature cannot take (e.g. "val-loss"): no lock needed,
            # the record is appended with one extend, through the switch that refuses after finish
            pack = self._ns[f"_gv_pack_{version}"]
            self._ns[f"_gv_put_{version}"](pack(step, _clock(), *[values.get(n, curve_writer.MISSING) for n in layout]))
            return
        self._check_writable("curve")
        step = _check_step(step)
        clean: dict[str, float | int] = {}
        for key, value in values.items():
            if key not in self._known:
                check_name(key, "curve name")
            clean[key] = _number(value, f"curve value {key}")
        if not clean:
            return
        with self._lock:
            self._check_writable("curve")
            new = [key for key in clean if key not in self._known]
            if new:
                self._names.extend(new)
                self._known.update(new)
                layout = self._versions[-1][0]
                room = curve_writer.MAX_FAST_NAMES - len(layout)
                if room > 0:
                    self._new_version(layout + new[:room])
            layout, buffer = self._versions[-1]
            clock = _clock()
            record = [curves.to_float(clean[name]) if name in clean else curve_writer.MISSING for name in layout]
            if any(v is not curve_writer.MISSING for v in record):
                buffer.extend(self._ns[f"_gv_pack_{len(self._versions) - 1}"](step, clock, *record))
            rest = {k: v for k, v in clean.items() if k not in layout}
            if rest:
                self._buf.extend((step, clock, rest))
        if self._over_size():
            self.flush()

    def _over_size(self) -> bool:
        """True once a buffer holds what `FLUSH_BYTES` / `FLUSH_DICT_CALLS` allow."""
        return len(self._buf) >= 3 * FLUSH_DICT_CALLS or any(len(b) >= FLUSH_BYTES for _, b in self._versions)

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
            else:
                metrics[key] = [float(_number(value, f"metric {key}")), 0.0]
        wall = float(np.float32(_clock() - self._t0))
        with self._lock:
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
            self._pending["artifacts"].append(item)

    # -- tags, notes, todos, models, lineage -----------------------------------------------------

    def tag(self, *tags: str) -> None:
        self._check_writable("tag")
        for t in tags:
            check_name(t, "tag")
        with self._lock:
            self._pending["tags"].extend(tags)

    def note(self, content: str) -> None:
        self._check_writable("note")
        if not isinstance(content, str):
            raise TypeError(f"a note must be a str, got {type(content).__name__}")
        with self._lock:
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
        with self._lock:
            self._flush_locked()

    def _flush_locked(self, write: bool = True) -> tuple[Any, dict[str, Any]] | None:
        """Fold what was logged since the last flush into memory and (``write``) the spool. Returns
        what was folded but not written, so a failed seal can still spool it."""
        if self._record is not None:
            return None
        blocks = []
        for layout, buffer in self._versions:
            if not buffer:
                continue
            chunk = bytes(buffer)  # one C-level copy of whole records (each appended by one extend);
            del buffer[:len(chunk)]  # numpy never views a buffer that may grow; appends made meanwhile stay
            block = curves.pack_records(chunk, layout, self._t0, curve_writer.MISSING_BITS)
            if block is not None:
                blocks.append(block)
        buf = self._buf
        n = len(buf) // 3 * 3
        if n:
            calls = buf[:n]
            del buf[:n]
            block = curves.pack_calls(calls, self._names[:], self._t0)
            if block is not None:
                blocks.append(block)
        pending = self._pending
        if not blocks and not any(pending.values()):
            return None
        self._pending = _empty_pending()
        live.merge_frame(self._data, {**pending, "blocks": []})  # memory first: finish() seals from it
        self._data["blocks"].extend(blocks)
        if not write:
            return blocks, pending
        self._spool_frame(blocks, pending)
        return None

    def _spool_frame(self, blocks: list[Any], pending: dict[str, Any]) -> None:
        frame = {"t": time.time(), "blocks": [curves.block_to_frame(b) for b in blocks], **pending}
        if self._spool is None:
            self._spool = live.Spool(self._store.vault.paths.live_dir, self.id, self._header)
        self._spool.append(frame)

    def finish(self, status: str = "completed") -> None:
        """Seal the run (idempotent). Every mutating call afterwards raises RuntimeError."""
        if self._state == "finished":
            return
        if self._state == "forked" or self._pid != os.getpid():
            raise ConcurrentWriterError(_forked_message(self.id, self._pid))
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"finish status must be one of {', '.join(TERMINAL_STATUSES)}, got {status!r}")
        _FLUSHER.discard(self)
        self._set_state("sealing")
        packed: list[curves.Packed] = []
        unspooled = None
        try:
            with self._lock:
                if self._record is not None:  # another thread sealed it meanwhile
                    return
                # a crash from here on loses only the unflushed window; curves beyond the
                # generated layout (self._buf) interleave with the packed records: merged in order
                packed = [] if self._buf else self._take_packed()
                unspooled = self._flush_locked(write=False)
                self._record = live.seal(self._store.vault, {**self._header, **self._data}, status, packed=packed)
                self._data["blocks"] = []
                if self._spool is not None:
                    self._spool.remove()
        except BaseException:
            if self._record is None:
                with self._lock, contextlib.suppress(Exception):  # the run goes on: keep memory and spool whole
                    blocks = [b for p in packed if (b := p.block()) is not None]
                    self._data["blocks"].extend(blocks)
                    if unspooled is not None or blocks:
                        spool_blocks, pending = unspooled or ([], _empty_pending())
                        self._spool_frame(spool_blocks + blocks, pending)
            self._set_state(None)
            _FLUSHER.add(self)
            raise
        self._set_state("finished")

    def _take_packed(self) -> list[curves.Packed]:
        """The records each version of ``curve`` buffered, copied as they are (no transposition:
        sealing streams them); each version gets a new buffer. Only while ``curve()`` refuses; a
        thread that fetched a version's append just before may still add to the old buffer, so
        numpy never views it (a record such a thread appends after this is not sealed: it raced finish())."""
        packed = []
        for version, (layout, buffer) in enumerate(self._versions):
            if buffer:
                packed.append(curves.Packed(layout, bytes(buffer), self._t0,
                                            curve_writer.MISSING_BITS))
                self._versions[version] = (layout, curve_writer.new_buffer())
        return packed

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
        raise RuntimeError(f"run {self.id} is finished; {what}() cannot change a sealed run "
                           "(tag or note it later with store.get_run(id).tag(...))")

    def _set_state(self, state: str | None) -> None:
        """Every version of the generated ``curve`` appends only while the run is writable."""
        self._state = state
        for version, (_, buffer) in enumerate(self._versions):
            curve_writer.switch(self._ns, version, buffer.extend if state is None else self._refuse_curve)

    def _refuse_curve(self, record: Any) -> None:
        self._check_writable("curve")
        raise RuntimeError(f"run {self.id} is not writable")

    def _after_fork_in_child(self) -> None:
        self._set_state("forked")
        if self._spool is not None:
            self._spool.forget_after_fork()
        self._buf.clear()
        for _, buffer in self._versions:
            del buffer[:]


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
    state = live.load(run_dir)
    blocks = state.pop("blocks")
    state["status"] = "running" if live.is_locked(run_dir) else "crashed"
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
