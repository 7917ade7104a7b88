"""A live run's spool: the files a running run appends to, and every reader that follows them.

A running run is not in ``refs/vault/main``. From the moment it starts (so every process lists it as
running, before it has flushed anything) it lives in ``<git-common-dir>/vault/live/<run_id>/``:

- ``lock``: the writing process holds an exclusive ``flock`` on it for the run's life. A spool
  whose lock can be taken belongs to no live process (killed, crashed) and is an *orphan*.
- ``header.msgpack``: experiment, config, name, started_at, hostname, pid, git, env, argv, total_steps.
- ``data`` (created by the first flush; absent, the run has flushed nothing): frames, each a
  4-byte little-endian length then one msgpack map holding what was logged since the previous
  flush: curve ``blocks`` (see `gitvault.runs.curves`), ``metrics`` {name: [value, wall_time]},
  ``params``, ``tags``, ``notes``, ``artifacts`` and the flush time ``t``. A torn last frame (the
  writer was killed mid-write) is ignored.
- ``summary.msgpack`` (see `SUMMARY`): a long spool's fold without curve data, a shortcut for readers.

The spool is built in ``live/.tmp-<id>/`` and renamed into place, so a reader never sees a spool
without its header. Damage never costs more than the damaged bytes: readers skip a damaged frame
and resynchronise on the next whole one (see "reading" below), and name what they skipped in a
`SpoolWarning`. Sealing and crash recovery are `gitvault.runs.live`'s; the query layer reads through
this module only.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import os
import shutil
import struct
import time
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable

import msgpack

from gitvault.storage import codec, locks, perms
from gitvault.storage.blobs import check_sha
from gitvault.errors import BlobError, ConcurrentWriterError, CorruptRecordError

HEADER = "header.msgpack"
DATA = "data"
LOCK = "lock"
SUMMARY = "summary.msgpack"
"""The fold of a long spool's frames without curve data ({offset, state}), rewritten (by rename) at
each flush once ``data`` passes `SUMMARY_FROM_BYTES`: a reader listing live runs reads it and only
the frames after ``offset``, instead of every curve block of a 3M-point run. It is a shortcut,
never the truth: a reader that cannot use it reads ``data`` whole."""
SUMMARY_FROM_BYTES = 1 << 20
WRITER = "writer.msgpack"
"""Who writes the run ({host, pid, boot_id, start}); its modification time is the writer's
heartbeat, refreshed every `HEARTBEAT_S` by the flusher. A lock that can be taken is not enough to
call a run dead where locks do not work or stay on one node (see `writer_running`)."""
HEARTBEAT_S = 5.0
LEASE_S = float(os.environ.get("GITVAULT_LIVE_LEASE", "600"))
"""A run written on another host is taken for dead once its heartbeat is older than this."""
TMP_PREFIX = ".tmp-"
DAMAGED_PREFIX = ".damaged-"
TMP_GRACE_S = 60.0
_LEN = struct.Struct("<I")


class Spool:
    """The writing side of one run's spool, owned by one process. Created when the run starts (a
    folder, its lock and header: the run is listed as running from then on); ``data`` is created
    by the first `append`, so a run sealed before its first flush writes one file fewer."""

    def __init__(self, live_dir: Path, run_id: str, header: dict[str, Any]) -> None:
        self.modes = perms.for_path(live_dir)  # git's modes for mutable files (see `gitvault.storage.perms`)
        tmp = live_dir / f"{TMP_PREFIX}{run_id}"
        self.modes.make_dirs(tmp)  # a failed earlier attempt of this same run may have left it
        self.lock_fd = self.data_fd = -1
        try:
            self.lock_fd = self.modes.open(tmp / LOCK, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:  # no locks on this file system: readers then take the run as alive
                if isinstance(exc, BlockingIOError) or not locks.unsupported(exc, tmp):
                    raise
            _write_file(self.modes.open(tmp / HEADER, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC), codec.encode(header))
            _write_file(self.modes.open(tmp / WRITER, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC),
                        codec.encode(writer_facts()))
            self.dir = live_dir / run_id
            os.rename(tmp, self.dir)  # the folder appears only once complete
        except BaseException:
            if self.lock_fd >= 0:
                os.close(self.lock_fd)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.size = 0
        self.beaten = time.monotonic()

    def beat(self) -> None:
        """Refresh the heartbeat (`WRITER`'s time) when `HEARTBEAT_S` have passed; never fails."""
        if time.monotonic() - self.beaten >= HEARTBEAT_S:
            self.beaten = time.monotonic()
            try:
                os.utime(self.dir / WRITER)
            except OSError:
                pass

    def append(self, frame: dict[str, Any], summary: Callable[[], dict[str, Any]] | None = None) -> None:
        """Append one frame; ``summary()`` (the fold of every frame so far, without curve data) is
        checkpointed next to a long spool (see `SUMMARY`)."""
        self._append(frame)
        if summary is not None and self.size >= SUMMARY_FROM_BYTES:
            tmp = self.dir / f"{TMP_PREFIX}{SUMMARY}"
            try:
                _write_file(self.modes.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC),
                            codec.encode({"offset": self.size, "state": summary()}))
                os.replace(tmp, self.dir / SUMMARY)
            except OSError:  # a shortcut only: readers then read the data whole
                pass

    def _append(self, frame: dict[str, Any]) -> None:
        payload = codec.encode(frame)
        total = 4 + len(payload)
        if self.data_fd < 0:
            self.data_fd = self.modes.open(self.dir / DATA, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            written = os.writev(self.data_fd, [_LEN.pack(len(payload)), payload])
            if written < total:  # rare short write: finish the frame from where it stopped
                rest = memoryview((_LEN.pack(len(payload)) + payload))[written:]
                while rest:
                    rest = rest[os.write(self.data_fd, rest):]
        except OSError:
            os.ftruncate(self.data_fd, self.size)  # never leave a torn frame behind a live writer
            raise
        self.size += total

    def remove(self) -> None:
        """Delete the spool (after sealing), then release the lock."""
        for name in (SUMMARY, DATA, HEADER, LOCK, WRITER):  # the writer's facts last: until the folder
            # is gone they say its process is alive, so no recovery takes a spool being removed
            try:
                os.unlink(self.dir / name)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.release()

    def release(self) -> None:
        for fd in (self.data_fd, self.lock_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.data_fd = self.lock_fd = -1

    def forget_after_fork(self) -> None:
        """In a forked child: drop the inherited descriptors without unlocking the parent's run."""
        self.release()


# -- reading -----------------------------------------------------------------------------------
#
# A spool is read frame by frame. A frame that is damaged (its bytes are not a msgpack map, or
# the map is wrongly typed) is skipped and named, never the end of the reading: when the damaged
# frame still decoded as a map its own length is trusted and reading goes on right after it;
# otherwise the reader resynchronises on the next offset where a whole frame stands (a length
# prefix, then a map of at most 15 text keys that decodes to exactly that length and has the shape of
# a frame, flush time ``t`` included). Candidates are found by a vectorised scan over growing
# windows; each scan decodes at most eight times the spool's size (plus 64 MiB) of candidates and
# tries at most a million, so damage costs linear time; past that budget the rest is named as
# unread damage (and recovery sets the spool aside, so nothing is lost).
# What follows the last frame is the *tail*: a frame torn while being written (or still being
# written by a live writer) is not damage; anything else there is, once the writer is gone.


class SpoolWarning(UserWarning):
    """A live spool gitvault cannot (wholly) read, in one line naming its folder and what is wrong."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TYPE_WORDS: dict[type, str] = {str: "text", dict: "maps"}
_MAP_MARKERS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_NEWEST_T = 253402300799.0  # 9999-12-31T23:59:59Z, the last time a datetime can hold
_RESYNC_FIRST_WINDOW = 1 << 12
_RESYNC_LAST_WINDOW = 1 << 24
_RESYNC_MAX_CANDIDATES = 1_000_000
_SHOWN_STRETCHES = 3


def _write_file(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the new file ``fd``, then close it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def warn(run_dir: Path, message: str) -> None:
    """One `SpoolWarning` line, attributed to the first caller outside gitvault."""
    frame: FrameType | None = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"gitvault: live spool {run_dir}: {message}", SpoolWarning, stacklevel=level)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_t(value: Any) -> str | None:
    return None if _is_number(value) and 0 <= value <= _NEWEST_T else f" is {_shown(value)}, expected a unix time"


def _check_schema(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return f" is {_shown(value)}, expected an integer"


def _check_metrics(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f" is {_shown(value)}, expected a map"
    for name, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(v) for v in pair)):
            return f"[{name!r}] is {_shown(pair)}, expected [value, wall_time] as numbers"
    return None


def _check_params(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f" is {_shown(value)}, expected a map"
    for name, item in value.items():
        if item is not None and not isinstance(item, (str, int, float, bool)):
            return f"[{name!r}] is {_shown(item)}, expected text, a number, true/false or null"
    return None


def _entries_of(*types: type) -> Any:
    """A check that ``value`` is a list of ``types``."""
    expected = " or ".join(_TYPE_WORDS[t] for t in types)

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f" is {_shown(value)}, expected a list"
        for i, item in enumerate(value):
            if not isinstance(item, types):
                return f"[{i}] is {_shown(item)}, expected {expected}"
            if isinstance(item, dict) and item.get("blob") is not None:
                try:
                    check_sha(item["blob"])
                except BlobError:
                    return f"[{i}].blob is {_shown(item['blob'])}, expected a sha256 blob id"
        return None

    return check


def _check_block(block: Any) -> str | None:
    if not isinstance(block, dict):
        return f" is {_shown(block)}, expected a map"
    n = block.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return f".n is {_shown(n)}, expected a point count"
    sizes = {"steps": 8 * n, "wall": 4 * n}
    for key, size in sizes.items():
        if not isinstance(block.get(key), bytes) or len(block[key]) != size:
            return f".{key} is {_shown(block.get(key))}, expected {size} bytes"
    values, valid = block.get("values"), block.get("valid") or {}
    if not isinstance(values, dict) or not isinstance(valid, dict):
        return f".values/.valid are {_shown(values)} and {_shown(valid)}, expected maps"
    for name, column in values.items():
        if not isinstance(column, bytes) or len(column) != 8 * n:
            return f".values[{name!r}] is {_shown(column)}, expected {8 * n} bytes"
    for name, mask in valid.items():
        if name not in values or not isinstance(mask, bytes) or len(mask) != (n + 7) // 8:
            return f".valid[{name!r}] is {_shown(mask)}, expected {(n + 7) // 8} bytes of a curve it holds"
    return None


def _check_blocks(value: Any) -> str | None:
    if not isinstance(value, list):
        return f" is {_shown(value)}, expected a list"
    for i, block in enumerate(value):
        found = _check_block(block)
        if found:
            return f"[{i}]{found}"
    return None


_FRAME_FIELDS = {
    "t": _check_t, "schema": _check_schema, "metrics": _check_metrics, "params": _check_params,
    "tags": _entries_of(str), "notes": _entries_of(dict, str), "artifacts": _entries_of(dict),
    "blocks": _check_blocks,
}


def _frame_problem(frame: dict[str, Any]) -> str | None:
    """None when ``frame`` has the shape of a spool frame (every writer gave each its flush time
    ``t``; fields this version does not know pass), else what is wrong, naming the field."""
    for key, value in frame.items():
        if not isinstance(key, str):
            return f"key {_shown(key)} is not text"
        check = _FRAME_FIELDS.get(key)
        found = check(value) if check is not None else None
        if found:
            return f"field {key!r}{found}"
    return None if "t" in frame else "field 't' (the flush time) is missing"


def _frame_at(buf: memoryview, pos: int) -> tuple[dict[str, Any] | None, str, int | None]:
    """The frame at ``pos``: (frame, "", next offset), or (None, what is wrong, next offset when
    the damaged frame's own length can be trusted, else None)."""
    end = len(buf)
    if end - pos < 4:
        return None, "a torn length prefix", None
    (length,) = _LEN.unpack_from(buf, pos)
    if pos + 4 + length > end:
        return None, f"its length prefix ({length} bytes) runs past the end of the data", None
    try:
        value = msgpack.unpackb(buf[pos + 4: pos + 4 + length], raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        return None, f"not a msgpack frame ({exc})", None
    if not isinstance(value, dict):
        return None, f"not a frame (a {type(value).__name__} where a map belongs)", None
    found = _frame_problem(value)
    if found:
        return None, f"a wrongly typed frame: {found}", pos + 4 + length
    return value, "", pos + 4 + length


@dataclass
class _Budget:
    """How much more one scan may spend looking for frames past damage: bytes decoded and
    candidate offsets tried."""

    bytes_left: int
    candidates_left: int

    @property
    def exhausted(self) -> bool:
        return self.bytes_left < 0 or self.candidates_left < 0

    def spend(self, size: int) -> bool:
        self.bytes_left -= size
        self.candidates_left -= 1
        return not self.exhausted


def _resync(buf: memoryview, start: int, budget: _Budget) -> int | None:
    """The first offset from ``start`` on where a whole frame stands, or None (also when the
    budget runs out)."""
    import numpy as np

    end = len(buf)
    raw = np.frombuffer(buf, dtype=np.uint8)
    window = _RESYNC_FIRST_WINDOW
    while start + 6 <= end:
        stop = min(end - 6, start + window - 1)  # the last candidate offset of this window
        n = stop - start + 1
        seg = raw[start: stop + 6].astype(np.int64)
        length = seg[0:n] | seg[1:n + 1] << 8 | seg[2:n + 2] << 16 | seg[3:n + 3] << 24
        marker, key = seg[4:n + 4], seg[5:n + 5]
        fits = start + np.arange(n, dtype=np.int64) + 4 + length <= end
        hits = np.flatnonzero((marker >= 0x81) & (marker <= 0x8F) & (key >= 0xA1) & (key <= 0xBF)
                              & (length >= 4) & fits)
        for i in hits.tolist():
            q = start + i
            if not budget.spend(int(length[i])):
                return None
            if _frame_at(buf, q)[0] is not None:
                return q
        start, window = stop + 1, min(window * 2, _RESYNC_LAST_WINDOW)
    return None


def _is_torn(buf: memoryview, pos: int) -> bool:
    """Whether the bytes from ``pos`` to the end are the start of a frame cut short (a writer
    killed mid-write, or one still writing it)."""
    end = len(buf)
    if end - pos < 4:
        return True
    (length,) = _LEN.unpack_from(buf, pos)
    if pos + 4 + length <= end:
        return False
    if end == pos + 4:
        return True
    if buf[pos + 4] not in _MAP_MARKERS:
        return False
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(end - pos, 1 << 20))
    unpacker.feed(buf[pos + 4:])
    try:
        unpacker.unpack()
    except msgpack.OutOfData:
        return True
    except Exception:
        return False
    return False  # a whole map shorter than its length prefix says


@dataclass
class _Scan:
    frames: list[dict[str, Any]] = field(default_factory=list)
    consumed: int = 0  # bytes read as frames or skipped as damage; the tail follows
    skipped: list[str] = field(default_factory=list)  # each damaged stretch: where and what
    tail_problem: str | None = None  # the tail is damage, not a frame being (or torn while) written


def _scan(data: bytes, base: int = 0) -> _Scan:
    """Every whole frame of ``data`` (read from file offset ``base``), skipping damage."""
    buf = memoryview(data)
    out, pos, end = _Scan(), 0, len(data)
    budget = _Budget(bytes_left=8 * end + (64 << 20), candidates_left=_RESYNC_MAX_CANDIDATES)
    while pos < end:
        frame, why, nxt = _frame_at(buf, pos)
        if frame is not None and nxt is not None:
            out.frames.append(frame)
            pos = nxt
            continue
        if nxt is None:
            nxt = _resync(buf, pos + 1, budget)
        if nxt is None:  # nothing readable follows: the tail
            if budget.exhausted:
                out.tail_problem = (f"bytes {base + pos}-{base + end - 1}: {why}, and no whole frame was looked "
                                    "for past it (the search budget ran out)")
            elif not _is_torn(buf, pos):
                out.tail_problem = f"bytes {base + pos}-{base + end - 1} at the end: {why}"
            break
        out.skipped.append(f"bytes {base + pos}-{base + nxt - 1}: {why}")
        pos = nxt
    out.consumed = pos
    return out


def stretches(described: list[str]) -> str:
    shown = "; ".join(described[:_SHOWN_STRETCHES])
    more = len(described) - _SHOWN_STRETCHES
    return f"{shown}; and {more} more damaged stretches" if more > 0 else shown


def read_header(run_dir: Path) -> dict[str, Any]:
    """A spool's header; `FileNotFoundError` when there is no spool (or no header) at ``run_dir``,
    `CorruptRecordError` when its header cannot be decoded."""
    path = Path(run_dir) / HEADER
    try:
        raw = path.read_bytes()
    except NotADirectoryError:  # a stray file where a spool folder would be
        raise FileNotFoundError(errno.ENOENT, "not a spool folder", str(run_dir)) from None
    return codec.decode(raw, HEADER)


_HEADER_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,), "experiment_id": (str,), "experiment_path": (str,), "started_at": (str,),
}
_HEADER_OPTIONAL: dict[str, tuple[type, ...]] = {
    "name": (str, type(None)), "config": (dict, type(None)), "total_steps": (int, type(None)),
    "hostname": (str, type(None)), "git": (dict, type(None)), "env": (dict, type(None)),
    "argv": (list, type(None)), "redacted": (list, type(None)),
}


def header_problem(header: dict[str, Any]) -> str | None:
    """None when ``header`` can make a run record, else what is wrong with it."""
    for key, types in (_HEADER_FIELDS | _HEADER_OPTIONAL).items():
        if key not in header and key in _HEADER_FIELDS:
            return f"{HEADER} has no {key!r}"
        if key in header and (not isinstance(header[key], types) or isinstance(header[key], bool)):
            return f"{HEADER} field {key!r} is {_shown(header[key])}, not what a run header holds"
    return None


class SpoolReader:
    """Follows one spool: each `refresh` reads only the bytes appended since the previous one, so
    a view polling a long run every second does not re-read it from the start. Damaged frames are
    skipped (every other frame is read), listed in `damage` and, with ``warn``, named in a
    `SpoolWarning` the first time they are read. ``header`` stands in for the spool's own."""

    def __init__(self, run_dir: Path, *, warn: bool = True, header: dict[str, Any] | None = None,
                 with_curves: bool = True) -> None:
        self.dir = Path(run_dir)
        self.with_curves = with_curves  # False: curve blocks are skipped (no numpy, no memory)
        self.offset = 0
        self.state: dict[str, Any] | None = None
        self.warn = warn
        self.header = header
        self.frames = 0
        self.damage: list[str] = []
        self.tail_problem: str | None = None  # the bytes after `offset`, when they are not a frame being written

    def refresh(self) -> dict[str, Any]:
        """Header plus the fold of every complete frame; curve data stays as ``blocks``."""
        if self.state is None:
            header = dict(self.header if self.header is not None else read_header(self.dir))
            header.pop("schema", None)
            self.state = {**header, **new_state(), "last_flush": None}
            if not self.with_curves:
                self._start_from_summary()
        try:
            with open(self.dir / DATA, "rb") as fh:
                fh.seek(self.offset)
                raw = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            raw = b""
        scan = _scan(raw, self.offset)
        for frame in scan.frames:
            merge_frame(self.state, frame, self.with_curves)
            self.state["last_flush"] = frame.get("t", self.state["last_flush"])
        self.frames += len(scan.frames)
        self.damage.extend(scan.skipped)
        self.tail_problem = scan.tail_problem
        self.offset += scan.consumed
        if scan.skipped and self.warn:
            warn(self.dir, f"skipped damaged data ({stretches(scan.skipped)}); every other frame is read")
        return self.state

    def _start_from_summary(self) -> None:
        """Begin after the frames the writer's summary already folds, when it is usable."""
        assert self.state is not None
        try:
            summary = codec.decode((self.dir / SUMMARY).read_bytes(), SUMMARY)
            size = (self.dir / DATA).stat().st_size
        except (OSError, CorruptRecordError):
            return
        offset, state = summary.get("offset"), summary.get("state")
        if not (isinstance(offset, int) and 0 < offset <= size and isinstance(state, dict)):
            return
        shapes = {"metrics": dict, "params": dict, "tags": list, "notes": list, "artifacts": list}
        if any(not isinstance(state.get(k), t) for k, t in shapes.items()) or not all(
                isinstance(m, dict) and "value" in m for m in state["metrics"].values()):
            return  # another writer's shape, or damage: read the data whole
        for key in (*shapes, "last_flush"):
            self.state[key] = state.get(key)
        self.offset = offset

    def read(self) -> dict[str, Any]:
        """`read_spool`'s view of the state after a refresh."""
        return view_of(self.refresh())


def load(run_dir: Path) -> dict[str, Any]:
    """Header plus the fold of every complete frame; curve data stays as blocks."""
    return SpoolReader(run_dir).refresh()


def new_state() -> dict[str, Any]:
    return {"metrics": {}, "params": {}, "tags": [], "notes": [], "artifacts": [], "blocks": []}


def merge_frame(state: dict[str, Any], frame: dict[str, Any], with_curves: bool = True) -> None:
    """Fold one frame (or an in-memory batch shaped like one) into a run's state."""
    for name, (value, wall) in (frame.get("metrics") or {}).items():
        state["metrics"][name] = {"value": value, "wall_time": wall}
    state["params"].update(frame.get("params") or {})
    for tag in frame.get("tags") or []:
        if tag not in state["tags"]:
            state["tags"].append(tag)
    state["notes"].extend(frame.get("notes") or [])
    state["artifacts"].extend(frame.get("artifacts") or [])
    if with_curves and frame.get("blocks"):
        from gitvault.runs import curves

        state["blocks"].extend(curves.frame_to_block(b) for b in frame["blocks"])


def read_spool(run_dir: Path) -> dict[str, Any]:
    """A live run as readers see it: header fields, metrics, params, tags, notes, artifacts and
    ``curves`` {name: {"step": int64[], "value": float64[], "wall_time": float32[]}} (numpy
    arrays; ascending unique steps, latest wins), plus ``points``, ``last_step`` and
    ``last_flush`` (unix time of the newest frame). Use `SpoolReader` to poll one run cheaply."""
    return view_of(load(Path(run_dir)))


def view_of(state: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in state.items() if k != "blocks"}
    from gitvault.runs import curves

    steps, wall, columns = curves.wide(state["blocks"])
    out: dict[str, Any] = {}
    points = 0
    for name, (vals, valid) in columns.items():
        if valid is None:
            out[name] = {"step": steps, "value": vals, "wall_time": wall}
        else:
            out[name] = {"step": steps[valid], "value": vals[valid], "wall_time": wall[valid]}
        points += len(out[name]["step"])
    view["curves"] = out
    view["points"] = points
    view["last_step"] = int(steps[-1]) if steps.size else None
    view.setdefault("status", "running")
    return view


def is_locked(run_dir: Path) -> bool:
    """True while the run's writer may still be running: it holds the run's lock (or the spool has
    no lock file), or it is not provably gone (`writer_gone`). A lock that can be taken is no proof
    of death where locks do not exist or stay on one node (Lustre ``-o localflock``, BeeGFS)."""
    fd = try_lock(run_dir, fcntl.LOCK_SH)
    if fd is not None:
        os.close(fd)
        return not writer_gone(run_dir)
    if not (run_dir / LOCK).exists() or locks.excludes(run_dir):
        return True  # its writer holds the lock (or there is no lock file to tell by)
    return not writer_gone(run_dir)  # no locks on this file system: the writer's facts decide


def writer_facts() -> dict[str, Any]:
    """This process as a spool's `WRITER` names it."""
    return {"host": _host(), "pid": os.getpid(), "boot_id": _boot_id(), "start": _started(os.getpid())}


def _host() -> str:
    """This machine's name. (socket is imported here: a reader whose live runs' writers hold
    their locks never needs it, and loading it is 3 ms of every command's start.)"""
    import socket

    return socket.gethostname()


def writer_gone(run_dir: Path) -> bool:
    """True when the writer of the run is provably gone: on this host, its process is not running
    (or the host rebooted since); from another host, its heartbeat is older than `LEASE_S`. A
    spool without `WRITER` (written before it existed) is judged by its lock alone: gone."""
    try:
        facts = codec.decode((run_dir / WRITER).read_bytes(), WRITER)
        beat = (run_dir / WRITER).stat().st_mtime
    except (OSError, CorruptRecordError):
        return True
    if facts.get("host") != _host():
        return time.time() - beat > LEASE_S
    if facts.get("boot_id") and facts.get("boot_id") != _boot_id():
        return True
    pid = facts.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process: it exists
    started, state = _process(pid)
    if state == "Z":
        return True  # it died; its parent has not reaped it yet
    recorded = facts.get("start")
    return recorded is not None and started is not None and started != recorded  # the pid names another process


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _started(pid: int) -> int | None:
    return _process(pid)[0]


def _process(pid: int) -> tuple[int | None, str | None]:
    """(when process ``pid`` started, in clock ticks since boot; its state letter) from
    /proc/PID/stat (fields 22 and 3), or Nones where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[19]), fields[0]
    except (OSError, ValueError, IndexError):
        return None, None


def try_lock(run_dir: Path, mode: int) -> int | None:
    try:
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:  # no locks here: a lock that cannot be taken is no evidence of death
        os.close(fd)
        if locks.unsupported(exc, run_dir):
            return None
        raise
    return fd


def folders(live_dir: Path) -> list[str]:
    """Names of the folders in the live folder, sorted (stray files are no spools: ignored)."""
    try:
        with os.scandir(live_dir) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _run_dirs(live_dir: Path) -> list[Path]:
    live = Path(live_dir)
    return [live / n for n in folders(live) if not n.startswith(".")]


def live_run(run_dir: Path, with_curves: bool = True) -> dict[str, Any] | None:
    """One unsealed run's latest flushed state (`read_spool`'s view, or with ``with_curves=False``
    the cheaper fold without curve data), ``status`` "running", or "crashed" with ``orphaned``
    True when its writer died and it is not recovered yet. None when the spool is gone or is not
    a gitvault run's (a damaged one is also named in a `SpoolWarning`; damaged frames are skipped)."""
    def read() -> dict[str, Any]:
        if with_curves:
            return read_spool(run_dir)
        state = SpoolReader(run_dir, with_curves=False).refresh()
        state.pop("blocks", None)
        return state

    state = _read_or_warn(run_dir, read)
    return None if state is None else _with_status(run_dir, state)


def _read_or_warn(run_dir: Path, read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """``read()``'s state of a spool, or None (gone, or named in a `SpoolWarning` when damaged)."""
    try:
        state = read()
    except FileNotFoundError:
        return None
    except CorruptRecordError:
        warn(run_dir, f"{HEADER} is torn or damaged; not shown as a run (`git vault recover` says what to do)")
        return None
    except OSError as exc:
        warn(run_dir, f"cannot be read ({exc.strerror or exc}); not shown as a run")
        return None
    except Exception as exc:  # a damaged or foreign spool must not hide every other run
        warn(run_dir, f"unreadable ({exc!r}); not shown as a run")
        return None
    problem = header_problem(state)
    if problem is not None:
        warn(run_dir, f"{problem}; not shown as a run (`git vault recover` says what to do)")
        return None
    return state


def _with_status(run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    orphan = not is_locked(run_dir)
    state["status"] = "crashed" if orphan else "running"
    state["orphaned"] = orphan
    return state


class LiveFollower:
    """Every unsealed run's state without curve data (as `live_run` with ``with_curves=False``),
    kept up to date by reading only what each spool appended since the last call: a long-lived
    reader (the MCP server, the TUI, a `Query` polled in a loop) pays for a 3M-point live run once,
    then a few bytes a call. Curve blocks are dropped as they are read, so memory stays small."""

    def __init__(self, live_dir: Path) -> None:
        self.live_dir = Path(live_dir)
        self._readers: dict[str, tuple[tuple[int, int], SpoolReader]] = {}  # name -> (header identity, reader)

    def states(self) -> list[dict[str, Any]]:
        out = []
        names = set()
        for run_dir in _run_dirs(self.live_dir):
            names.add(run_dir.name)
            state = self._state(run_dir)
            if state is not None:
                out.append(state)
        for gone in set(self._readers) - names:
            del self._readers[gone]
        out.sort(key=lambda r: (r.get("started_at") or "", r.get("id") or ""))
        return out

    def _state(self, run_dir: Path) -> dict[str, Any] | None:
        state = _read_or_warn(run_dir, lambda: self._refresh(run_dir))
        if state is None:
            self._readers.pop(run_dir.name, None)
            return None
        view = copy.deepcopy({k: v for k, v in state.items() if k != "blocks"})  # callers may change it
        return _with_status(run_dir, view)

    def _refresh(self, run_dir: Path) -> dict[str, Any]:
        st = (run_dir / HEADER).stat()
        identity = (st.st_ino, st.st_mtime_ns)  # a new run under the same name starts over
        known = self._readers.get(run_dir.name)
        if known is None or known[0] != identity:
            known = (identity, SpoolReader(run_dir, with_curves=False))
            self._readers[run_dir.name] = known
        return known[1].refresh()


def list_live_runs(live_dir: Path, with_curves: bool = True) -> list[dict[str, Any]]:
    """Every unsealed run in the spool folder ``live_dir`` (see `live_run`), oldest first."""
    out = [state for run_dir in _run_dirs(live_dir) if (state := live_run(run_dir, with_curves)) is not None]
    out.sort(key=lambda r: (r.get("started_at") or "", r.get("id") or ""))
    return out




def claim_for_events(live_dir: Path, run_id: str) -> None:
    """Refuse to write to a run that is still live in another process."""
    run_dir = Path(live_dir) / run_id
    if run_dir.is_dir() and is_locked(run_dir):
        try:
            pid = load(run_dir).get("pid")
        except Exception:
            pid = "?"
        raise ConcurrentWriterError(
            f"run {run_id} is still running in process {pid}; tag or note it from that process, "
            "or after it finishes"
        )


