"""`Run`: a run as the process that started it writes it. (Reading a run back: `gitvault.runs.view`;
the background flusher, fork and exit handling, and the registry of this process's runs:
`gitvault.runs.flusher`.)

A run's spool (``<git-common-dir>/vault/live/<run_id>/``, see `gitvault.runs.spool`) is created when the
run starts, so other processes list it as running from that moment. Hot path: ``curve()`` and
``log()`` only append to memory. The flusher thread (`gitvault.runs.flusher`) flushes every live run
about once a second (and, within 50 ms, any run whose buffer reached `FLUSH_BYTES`), appending a frame to the
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

import contextlib
import numbers
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

from gitvault.errors import ConcurrentWriterError, SecretRedactedWarning
from gitvault.names import check_name
from gitvault.runs import artifacts, capture, curves, lineage, live, media, spool
from gitvault.runs.flusher import FLUSHER
from gitvault.runs.view import RunView, load as load_view
from gitvault.secrets import scan as secretscan
from gitvault.storage import codec
from gitvault.storage.records import TERMINAL_STATUSES
from gitvault.storage.vault import new_id

if TYPE_CHECKING:
    from gitvault.runs.experiment import Experiment
    from gitvault.runs.store import Store

FLUSH_BYTES = 32 << 20
"""A run's packed curve records are flushed once they hold this much (4M values): the flusher thread
checks every `flusher.SIZE_CHECK_INTERVAL_S`, so ``curve()`` itself never pays for the check."""
IMAGE_FLUSH_BYTES = 4 << 20
"""Images waiting to be encoded are flushed within 50 ms once they hold this much."""
IMAGE_BACKLOG_BYTES = 64 << 20
"""... and ``log_image`` flushes itself (waits for the encoding) past this: a bound on memory."""
MAX_LAYOUTS = 256
"""Tuples of curve names a run keeps a layout for. Past this (a run logging ever new combinations of
sparse curves), a call's values are stored as one single-curve record each."""
_MAX_STEP = 2**63


class Run:
    """One training run, written by the process that started it. Use as a context manager or call
    ``finish()``; an exception inside ``with`` seals the run as "failed" and propagates."""

    __slots__ = (
        "id", "name", "experiment", "_store", "_state", "_layouts", "_names", "_known", "_t0", "_header", "_spool",
        "_pending", "_data", "_lock", "_flush_lock", "_pid", "_record", "_images", "_image_bytes", "__weakref__",
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
        facts, found = capture.run_facts(argv, store.vault.paths.work_tree)  # entry, cwd, job ids: redacted
        env = {**env, **facts}
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
        self._images: list[media.Pending] = []  # checked images the flusher encodes (`_encode_images`)
        self._image_bytes = 0
        self._data = spool.new_state()
        self._lock = threading.Lock()  # guards the buffers (records, pending, images) and the state
        self._flush_lock = threading.Lock()  # one flush or seal at a time, so frames stay in order
        self._pid = os.getpid()
        self._record: dict[str, Any] | None = None
        self._state: str | None = None  # None while writable, then "sealing", "finished" or "forked"
        try:  # other processes list the run as running from now on
            self._spool: spool.Spool | None = spool.Spool(store.vault.paths.live_dir, self.id, self._header)
        except OSError:  # the flusher retries, and says so if it cannot; finish() seals from memory
            self._spool = None
        FLUSHER.add(self)

    # -- identity -------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path of the run's experiment."""
        return self.experiment.path

    @property
    def status(self) -> str:
        """``running`` until sealed, then completed, failed or crashed."""
        return self._record["status"] if self._record else "running"

    @property
    def config(self) -> dict[str, Any]:
        """The config the run was started with (secrets redacted)."""
        return self._header["config"]

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, path={self.path!r}, name={self.name!r}, status={self.status!r})"

    @property
    def store(self) -> "Store":
        """The `Store` the run writes to."""
        return self._store

    @property
    def in_this_process(self) -> bool:
        """False in a forked child: the run is its parent's."""
        return self._pid == os.getpid()

    @property
    def writable(self) -> bool:
        """True until ``finish()`` is called, in the process that started the run."""
        return self._state is None and self._pid == os.getpid()

    @property
    def spooled(self) -> bool:
        """True when the run's spool exists (a run that cannot write one is sealed from memory)."""
        return self._spool is not None

    def view(self) -> RunView:
        """Read back what this run holds so far (flushed first), or its sealed record."""
        if self._pid == os.getpid():
            with self._flush_lock:
                if self._record is None and self._spool is None:
                    self._spool = spool.Spool(self._store.vault.paths.live_dir, self.id, self._header)
        return load_view(self._store, self.id)

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
                check_name(key, "curve name", allow_slash=True)
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

    def over_size(self) -> bool:
        """True once the buffered records hold `FLUSH_BYTES`, or the images waiting to be encoded
        `IMAGE_FLUSH_BYTES`."""
        return (self._image_bytes >= IMAGE_FLUSH_BYTES
                or sum(len(layout.records) for layout in list(self._layouts.values())) >= FLUSH_BYTES)

    def log(self, **values: float | int | str) -> None:
        """Headline metrics (numbers, latest wins) and params (strings). No ``step=``."""
        self._check_writable("log")
        if "step" in values:
            raise TypeError("run.log() takes no step=: headline metrics are one value per run; "
                            "use run.curve(step, name=value) for per-step values")
        metrics: dict[str, list[float]] = {}
        params: dict[str, str] = {}
        for key, value in values.items():
            check_name(key, "metric name", allow_slash=True)
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
        check_name(name, "table name", allow_slash=True)
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
        check_name(name, "text name", allow_slash=True)
        if not isinstance(content, str):
            raise TypeError(f"log_text content must be a str, got {type(content).__name__}")
        sha = self._store.blobs.put_bytes(content.encode("utf-8"))
        self._add_artifact(artifacts.entry(name, "text", sha, metadata={"format": "markdown"}))

    def write_metrics(self, data: Any, name: str = "metrics") -> None:
        """Store a table of columns (dict of lists/arrays or polars.DataFrame) as a Parquet blob."""
        self._check_writable("write_metrics")
        check_name(name, "metrics name", allow_slash=True)
        tbl = artifacts.parquet_frame(data)
        sha = self._store.blobs.put_bytes(artifacts.parquet_bytes(tbl))
        self._add_artifact(artifacts.entry(name, "metrics", sha, shape=[tbl.num_rows, tbl.num_columns],
                                           metadata={"columns": tbl.column_names}))

    def write_tensors(self, name: str, data: Any, chunks: tuple[int, ...] | None = None) -> None:
        """Store an array as Zarr (one blob), read back lazily chunk by chunk."""
        self._check_writable("write_tensors")
        check_name(name, "tensor name", allow_slash=True)
        arr = artifacts.table_array(data)
        sha = artifacts.put_tensor(self._store.blobs, arr, chunks)
        self._add_artifact(artifacts.entry(name, "tensor", sha, shape=list(arr.shape), dtype=arr.dtype.str,
                                           metadata={"format": "zarr-v3-zip"}))

    def log_file(self, path: str | Path, name: str | None = None) -> list[str]:
        """Store a file, or a folder with its tree (each file under ``name/its/relative/path``),
        as content-addressed blobs (identical files are stored once). ``name`` defaults to the
        file's or folder's own name. Returns the names stored; read them back with
        ``RunView.files()`` and ``RunView.file(name)``."""
        self._check_writable("log_file")
        if not isinstance(path, (str, Path)):
            raise TypeError(f"log_file needs the path of a file or folder, got {type(path).__name__}")
        source = Path(path).expanduser()
        if not source.exists():
            raise FileNotFoundError(f"log_file: {source} does not exist; give the path of a file or folder")
        name = check_name(source.resolve().name if name is None else name, "file name", allow_slash=True)
        found = media.file_entries(source, name)  # every name checked before anything is stored
        folder = {"folder": name} if source.is_dir() else {}
        items = []
        for entry_name, file in found:
            sha = self._store.blobs.put_file(file)
            size = self._store.blobs.path(sha).stat().st_size
            items.append(artifacts.entry(entry_name, media.FILE, sha, size=size,
                                         metadata={"media_type": media.media_type(entry_name), **folder}))
        for item in items:
            self._add_artifact(item)
        return [item["name"] for item in items]

    def log_image(self, name: str, image: Any, step: int | None = None, caption: str | None = None) -> None:
        """Store an image as PNG: a numpy array (HxW grey, HxWxC with C = 1, 3 or 4, or 2: grey and
        alpha; uint8, or floats in [0, 1]), a PIL image, or the path of a picture file. Images
        logged with a ``step`` form a series per name (``RunView.images(name)``). An array is
        checked and copied here and encoded by the flusher thread, so a training loop pays
        microseconds per small image. Needs Pillow (``pip install "git-vault[images]"``)."""
        self._check_writable("log_image")
        check_name(name, "image name", allow_slash=True)
        step = artifacts.check_step(step)
        caption = media.check_caption(caption)
        media.require_pillow("run.log_image")
        if isinstance(image, (str, Path)):
            data, width, height = media.image_file(Path(image).expanduser())
            self._put_image(name, step, data, media.image_metadata(width, height, caption))
            return
        pixels = media.pil_pixels(image) if media.is_pil_image(image) else media.pixels(image)
        pending = media.Pending(name, step, caption, pixels, codec.utc_now())
        with self._lock:
            self._check_writable("log_image")
            self._images.append(pending)
            self._image_bytes += pending.nbytes
            backlog = self._image_bytes >= IMAGE_BACKLOG_BYTES
        if backlog:
            self.flush()

    def log_figure(self, name: str, figure: Any, step: int | None = None, svg: bool = False) -> None:
        """Store a matplotlib figure (or an Axes' figure) as a PNG image at its own size and dpi,
        in the series ``name`` like ``log_image``; ``svg=True`` also stores it as the file
        ``name.svg``. The figure is rendered here (matplotlib is not thread-safe)."""
        self._check_writable("log_figure")
        check_name(name, "figure name", allow_slash=True)
        step = artifacts.check_step(step)
        figure = media.check_figure(figure)
        data = media.render_figure(figure, "png")
        width, height = media.png_size(data)
        svg_item = None
        if svg:
            text = media.render_figure(figure, "svg")
            sha = self._store.blobs.put_bytes(text)
            svg_item = artifacts.entry(f"{name}.svg", media.FILE, sha, step=step, size=len(text),
                                       metadata={"media_type": media.SVG, "source": "matplotlib"})
        self._put_image(name, step, data, media.image_metadata(width, height, None, source="matplotlib"))
        if svg_item is not None:
            self._add_artifact(svg_item)

    def _put_image(self, name: str, step: int | None, png: bytes, metadata: dict[str, Any]) -> None:
        sha = self._store.blobs.put_bytes(png)
        self._add_artifact(artifacts.entry(name, media.IMAGE, sha, step=step, size=len(png), metadata=metadata))

    def _encode_images(self) -> None:
        """Encode the images ``log_image`` left for the flusher (in the order logged) and add their
        entries to what the next flush or the seal takes. One that fails is kept, with the rest,
        for the next flush, and the error raised: no image is dropped."""
        with self._lock:
            images, self._images = self._images, []
        done = 0
        items = []
        try:
            for image in images:
                png = media.encode_png(image.pixels)
                sha = self._store.blobs.put_bytes(png)
                height, width = image.pixels.shape[:2]
                item = artifacts.entry(image.name, media.IMAGE, sha, step=image.step, size=len(png),
                                       metadata=media.image_metadata(width, height, image.caption))
                item["created_at"] = image.created_at
                items.append(item)
                done += 1
        finally:
            with self._lock:
                self._pending["artifacts"].extend(items)
                self._images[:0] = images[done:]
                self._image_bytes = sum(i.nbytes for i in self._images)

    def _add_artifact(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._check_writable("log artifact")
            self._pending["artifacts"].append(item)

    # -- tags, notes, todos, models, lineage -----------------------------------------------------

    def tag(self, *tags: str) -> None:
        """Add tags to the run (stored when it is sealed; visible to readers after the next flush)."""
        self._check_writable("tag")
        for t in tags:
            check_name(t, "tag")
        with self._lock:
            self._check_writable("tag")
            self._pending["tags"].extend(tags)

    def note(self, content: str) -> None:
        """Add a note (free text, e.g. an observation) to the run, timestamped now."""
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

    def register_model(self, name: str, *args: str | Path, path: str | Path | None = None,
                       version: str | int | None = None, metadata: dict[str, Any] | None = None,
                       framework: str = "pytorch", aliases: Sequence[str] = ()) -> str:
        """Register a model this run produced (`Store.register_model`, with a lineage edge from the
        model to this run): ``run.register_model("net", "model.pt")`` gets the next version
        (``"1"``, ``"2"``...), ``version=`` picks one, Extract's ``(name, version, path)`` works.
        A version already taken by other files never fails the run: the model is registered under
        the next free version with a `ModelVersionWarning`. Registering the same files again from
        this run changes nothing; the files another run registered last make a new version here,
        with this run's edge. Returns the model id."""
        self._check_writable("register_model")
        return self._store.register_model(name, *args, path=path, version=version, metadata=metadata,
                                          framework=framework, run_id=self.id, aliases=aliases)

    def derived_from(self, run: str | None = None, model: str | None = None, version: str | None = None) -> None:
        """This run derives from another run (by id) or a model (name + version, where the version
        may be an alias such as ``best`` or ``latest``; or a model id)."""
        self._check_writable("derived_from")
        lineage.derived_from(self._store.vault, self.id, run=run, model=model, version=version)

    def branched_from(self, experiment: str | None = None, run: str | None = None) -> None:
        """This run branches from an experiment (id or path) or another run (id)."""
        self._check_writable("branched_from")
        lineage.branched_from(self._store.vault, self.id, experiment=experiment, run=run)

    # -- flushing and sealing ---------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Tell readers on other hosts that this run's process is alive (the spool's writer file
        is touched every few seconds; see `gitvault.runs.spool.writer_gone`)."""
        if self._spool is not None and self._pid == os.getpid():
            self._spool.beat()

    def flush(self) -> None:
        """Append everything logged since the last flush to the spool (visible to readers). Images
        waiting are encoded first; one that cannot be (a full disk) stays waiting, the rest is
        flushed, and the error is raised after."""
        if self._pid != os.getpid():
            return
        problem: Exception | None = None
        with self._flush_lock:
            if self._record is None and self._state != "forked":
                if self._images:
                    try:
                        self._encode_images()
                    except Exception as exc:  # noqa: BLE001 - raised below, once the points are out
                        problem = exc
                block, pending = self._take()
                if block is not None or any(pending.values()):
                    self._keep(block, pending)
                    self._spool_frame([block] if block is not None else [], pending)
        if problem is not None:
            raise problem

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
            FLUSHER.discard(self)
            with self._lock:
                self._state = "sealing"  # from here every curve(), log()... raises: nothing logged is missed
            try:
                self._encode_images()
            except BaseException:
                with self._lock:
                    self._state = None
                FLUSHER.add(self)
                raise
            chunks, pending, names = self._take_buffers()
            # a crash from here on loses only the unflushed window. The last stretch of one layout is
            # handed over packed (sealing streams it); several layouts interleave: merged by clock
            packed = [curves.Packed(list(n), data, self._t0) for n, data in chunks] if len(chunks) == 1 else []
            last = curves.records_block(chunks, names, self._t0) if len(chunks) > 1 else None
            try:
                spool.merge_frame(self._data, {**pending, "blocks": []})
                blocks = self._data["blocks"] + ([last] if last is not None else [])
                self._record = live.seal(self._store.vault, {**capture.with_late_facts(self._header), **self._data,
                                                             "blocks": blocks},
                                         status, packed=packed, writer=True)
            except BaseException:
                with contextlib.suppress(Exception):  # the run goes on: keep memory and spool whole
                    unspooled = [b for b in [last] + [p.block() for p in packed] if b is not None]
                    self._data["blocks"].extend(unspooled)
                    if unspooled or any(pending.values()):
                        self._spool_frame(unspooled, pending)
                with self._lock:
                    self._state = None
                FLUSHER.add(self)
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
            if exc_type is not None:
                self._record_traceback(exc_type, exc, tb)
            self.finish("failed" if exc_type is not None else "completed")
        return False

    def _record_traceback(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """The exception that ended a ``with`` block, as the run's text artifact ``traceback``
        (front-ends show it with the failed run; pushes scan it for secrets like any text). A
        failure to store it warns and never hides the user's exception."""
        import traceback

        text = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            sha = self._store.blobs.put_bytes(text.encode("utf-8", "replace"))
            self._add_artifact(artifacts.entry("traceback", "text", sha, metadata={"format": "traceback"}))
        except Exception as problem:  # noqa: BLE001 - the user's exception is what matters here
            warnings.warn(f"run {self.id}: its traceback could not be stored ({problem})", stacklevel=3)

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

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent's run refuses every write (the locks may have been held by
        a parent thread at the fork, so they are new), and its memory is dropped."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._state = "forked"
        if self._spool is not None:
            self._spool.forget_after_fork()
        self._layouts = {}
        self._pending = _empty_pending()
        self._images = []
        self._image_bytes = 0
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
