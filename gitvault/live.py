"""Live runs: the append-only spool of a running run, its readers, sealing and crash recovery.

A running run is not in ``refs/vault/main``. It lives in ``<git-common-dir>/vault/live/<run_id>/``:

- ``lock``: the writing process holds an exclusive ``flock`` on it for the run's life. A spool
  whose lock can be taken belongs to no live process (killed, crashed) and is an *orphan*.
- ``header.msgpack``: experiment, config, name, started_at, hostname, pid, git, env, total_steps.
- ``data``: frames, each a 4-byte little-endian length then one msgpack map holding what was
  logged since the previous flush: curve ``blocks`` (see `gitvault.curves`), ``metrics``
  {name: [value, wall_time]}, ``params``, ``tags``, ``notes``, ``artifacts`` and the flush time
  ``t``. A torn last frame (the writer was killed mid-write) is ignored.

The spool is built in ``live/.tmp-<id>/`` and renamed into place, so a reader never sees a spool
without its header. Sealing (`seal`) writes the curves blob, commits the run record and only then
removes the spool; `recover` seals orphans as ``crashed`` keeping every flushed point.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import os
import shutil
import struct
import time
import warnings
from pathlib import Path
from typing import Any

from gitvault import codec, curves, layout
from gitvault.blobs import BlobStore
from gitvault.errors import ConcurrentWriterError, CorruptRecordError
from gitvault.vault import Snapshot, Transaction, Vault

HEADER = "header.msgpack"
DATA = "data"
LOCK = "lock"
TMP_PREFIX = ".tmp-"
TMP_GRACE_S = 60.0
_LEN = struct.Struct("<I")


class Spool:
    """The writing side of one run's spool, owned by one process."""

    def __init__(self, live_dir: Path, run_id: str, header: dict[str, Any]) -> None:
        live_dir.mkdir(parents=True, exist_ok=True)
        tmp = live_dir / f"{TMP_PREFIX}{run_id}"
        tmp.mkdir(exist_ok=True)  # a failed earlier attempt of this same run may have left it
        self.lock_fd = self.data_fd = -1
        try:
            self.lock_fd = os.open(tmp / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            (tmp / HEADER).write_bytes(codec.encode(header))  # the folder appears only once complete
            self.data_fd = os.open(tmp / DATA, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            self.dir = live_dir / run_id
            os.rename(tmp, self.dir)
        except BaseException:
            for fd in (self.data_fd, self.lock_fd):
                if fd >= 0:
                    os.close(fd)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.size = 0

    def append(self, frame: dict[str, Any]) -> None:
        payload = codec.encode(frame)
        total = 4 + len(payload)
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
        for name in (DATA, HEADER, LOCK):
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
            try:
                os.close(fd)
            except OSError:
                pass
        self.data_fd = self.lock_fd = -1

    def forget_after_fork(self) -> None:
        """In a forked child: drop the inherited descriptors without unlocking the parent's run."""
        self.release()


# -- reading -----------------------------------------------------------------------------------


def _frames(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Complete frames of ``data`` and the offset after the last one (a torn tail is left)."""
    out, pos, end = [], 0, len(data)
    while pos + 4 <= end:
        (length,) = _LEN.unpack_from(data, pos)
        if pos + 4 + length > end:
            break  # torn last frame
        try:
            out.append(codec.decode(data[pos + 4: pos + 4 + length], "spool frame"))
        except CorruptRecordError:
            break
        pos += 4 + length
    return out, pos


class SpoolReader:
    """Follows one spool: each `refresh` reads only the bytes appended since the previous one, so
    a view polling a long run every second does not re-read it from the start."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.offset = 0
        self.state: dict[str, Any] | None = None

    def refresh(self) -> dict[str, Any]:
        """Header plus the fold of every complete frame; curve data stays as ``blocks``."""
        if self.state is None:
            header = codec.decode((self.dir / HEADER).read_bytes(), str(self.dir / HEADER))
            header.pop("schema", None)
            self.state = {**header, **new_state(), "last_flush": None}
        try:
            with open(self.dir / DATA, "rb") as fh:
                fh.seek(self.offset)
                raw = fh.read()
        except FileNotFoundError:
            raw = b""
        frames, consumed = _frames(raw)
        for frame in frames:
            merge_frame(self.state, frame)
            self.state["last_flush"] = frame.get("t", self.state["last_flush"])
        self.offset += consumed
        return self.state

    def read(self) -> dict[str, Any]:
        """`read_spool`'s view of the state after a refresh."""
        return view_of(self.refresh())


def load(run_dir: Path) -> dict[str, Any]:
    """Header plus the fold of every complete frame; curve data stays as blocks."""
    return SpoolReader(run_dir).refresh()


def new_state() -> dict[str, Any]:
    return {"metrics": {}, "params": {}, "tags": [], "notes": [], "artifacts": [], "blocks": []}


def merge_frame(state: dict[str, Any], frame: dict[str, Any]) -> None:
    """Fold one frame (or an in-memory batch shaped like one) into a run's state."""
    for name, (value, wall) in (frame.get("metrics") or {}).items():
        state["metrics"][name] = {"value": value, "wall_time": wall}
    state["params"].update(frame.get("params") or {})
    for tag in frame.get("tags") or []:
        if tag not in state["tags"]:
            state["tags"].append(tag)
    state["notes"].extend(frame.get("notes") or [])
    state["artifacts"].extend(frame.get("artifacts") or [])
    state["blocks"].extend(curves.frame_to_block(b) for b in frame.get("blocks") or [])


def read_spool(run_dir: Path) -> dict[str, Any]:
    """A live run as readers see it: header fields, metrics, params, tags, notes, artifacts and
    ``curves`` {name: {"step": int64[], "value": float64[], "wall_time": float32[]}} (numpy
    arrays; ascending unique steps, latest wins), plus ``points``, ``last_step`` and
    ``last_flush`` (unix time of the newest frame). Use `SpoolReader` to poll one run cheaply."""
    return view_of(load(Path(run_dir)))


def view_of(state: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in state.items() if k != "blocks"}
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
    """True while a live process holds the run's lock."""
    fd = _try_lock(run_dir, fcntl.LOCK_SH)
    if fd is None:
        return True
    os.close(fd)
    return False


def _try_lock(run_dir: Path, mode: int) -> int | None:
    try:
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _run_dirs(live_dir: Path) -> list[Path]:
    live = Path(live_dir)
    try:
        names = os.listdir(live)
    except FileNotFoundError:
        return []
    return [live / n for n in sorted(names) if not n.startswith(".")]


def live_run(run_dir: Path, with_curves: bool = True) -> dict[str, Any] | None:
    """One unsealed run's latest flushed state (`read_spool`'s view, or with ``with_curves=False``
    the cheaper fold without curve data), ``status`` "running", or "crashed" with ``orphaned``
    True when its writer died and it is not recovered yet. None when the spool is gone or is not
    a gitvault run's (a damaged one is also named in a warning)."""
    try:
        if with_curves:
            state = read_spool(run_dir)
        else:
            state = load(run_dir)
            state.pop("blocks", None)
    except (FileNotFoundError, NotADirectoryError, CorruptRecordError):
        return None
    except Exception as exc:  # a damaged or foreign spool must not hide every other run
        warnings.warn(f"gitvault: skipping unreadable live run {run_dir}: {exc!r}", stacklevel=2)
        return None
    if not isinstance(state.get("id"), str) or not isinstance(state.get("experiment_id"), str):
        return None
    orphan = not is_locked(run_dir)
    state["status"] = "crashed" if orphan else "running"
    state["orphaned"] = orphan
    return state


def list_live_runs(live_dir: Path, with_curves: bool = True) -> list[dict[str, Any]]:
    """Every unsealed run in the spool folder ``live_dir`` (see `live_run`), oldest first."""
    out = [state for run_dir in _run_dirs(live_dir) if (state := live_run(run_dir, with_curves)) is not None]
    out.sort(key=lambda r: (r.get("started_at") or "", r.get("id") or ""))
    return out


def live_blob_refs(live_dir: Path) -> set[str]:
    """Blob shas referenced by unsealed spools (gc must keep them)."""
    refs: set[str] = set()
    live = Path(live_dir)
    try:
        names = os.listdir(live)
    except FileNotFoundError:
        return refs
    for name in names:
        try:
            state = load(live / name)
        except (FileNotFoundError, NotADirectoryError, CorruptRecordError):
            continue
        patch = (state.get("git") or {}).get("patch")
        if patch:
            refs.add(patch)
        refs.update(a["blob"] for a in state["artifacts"] if a.get("blob"))
    return refs


# -- sealing -----------------------------------------------------------------------------------


INLINE_CURVES_BYTES = 64 << 10
"""A sealed curves table up to this size travels inside the seal commit (``<id>/curves.parquet`` in
the run's entity folder) instead of as a blob file of its own: a sweep of thousands of short runs
then creates no file per run (a file creation is most of a seal on a busy disk), and its curves
sync with ``git push`` alone. Readers copy it into the blob store on first use
(`materialize_curves`), so DuckDB and polars still open a file by its sha256."""


def build_record(state: dict[str, Any], status: str, ended_at: str, blobs: BlobStore,
                 packed: list[curves.Packed] | None = None) -> tuple[dict[str, Any], bytes | None]:
    """The sealed run record, and its curves table when small enough to commit with it (else the
    curves blob is written first: blobs before records). ``packed``: the run's last records, not
    yet in ``state["blocks"]``."""
    blocks = state.get("blocks") or []
    packed = packed or []
    curve_info: dict[str, Any] = {"blob": None, "names": [], "points": 0, "last_step": None}
    inline = written = None
    if curves.streamable(blocks, packed):
        sha, written = blobs.put_written(lambda out: curves.write_stream(out, blocks, packed))
        if blobs.path(sha).stat().st_size <= INLINE_CURVES_BYTES:  # long but tiny (constant values)
            inline = blobs.read_bytes(sha)
    elif sealed := curves.sealed_file(blocks + [b for p in packed if (b := p.block()) is not None]):
        data, written = sealed
        if len(data) <= INLINE_CURVES_BYTES:
            inline = bytes(data)
            sha = hashlib.sha256(inline).hexdigest()
        else:
            sha = blobs.put_bytes(data)
    if written is not None:
        curve_info = {"blob": sha, **({"inline": True} if inline is not None else {}), "names": written.names,
                      "points": written.points, "last_step": written.last_step}
    return {
        "kind": "run",
        "id": state["id"],
        "experiment_id": state["experiment_id"],
        "experiment_path": state["experiment_path"],
        "name": state.get("name"),
        "config": state.get("config"),
        "started_at": state["started_at"],
        "ended_at": ended_at,
        "status": status,
        "hostname": state.get("hostname"),
        "git": state.get("git") or {},
        "env": state.get("env") or {},
        "total_steps": state.get("total_steps"),
        "metrics": state["metrics"],
        "params": state["params"],
        "curves": curve_info,
        "artifacts": state["artifacts"],
        "tags": state["tags"],
        "notes": state["notes"],
    }, inline


def seal(vault: Vault, state: dict[str, Any], status: str, ended_at: str | None = None,
         packed: list[curves.Packed] | None = None) -> dict[str, Any]:
    """Commit a run record (one vault commit). Sealing a run that is already sealed is a no-op."""
    blobs = BlobStore(vault.paths.objects_dir)
    record, inline = build_record(state, status, ended_at or codec.utc_now(), blobs, packed)
    tx = Transaction(message=f"seal run {record['id']} {status}: {record['experiment_path']}")
    tx.put("run", record["id"], record)
    if inline is not None:
        tx.put_file("run", record["id"], layout.CURVES_FILE, inline)

    already: list[bool] = []

    def keep_first_seal(snap: Snapshot) -> None:
        already[:] = [snap.has("run", record["id"])]
        if already[0]:
            tx.writes.clear()

    tx.require(keep_first_seal)
    vault.commit(tx)
    if already and already[0]:  # sealed before (e.g. killed between its seal commit and cleanup)
        return vault.snapshot().get("run", record["id"])
    if (record.get("git") or {}).get("dirty"):  # its code may have been committed while it ran
        from gitvault import linking

        linking.on_seal(vault, record)
    return record


def recover(store_or_vault: Any) -> list[str]:
    """Seal every orphaned spool as ``crashed`` (every flushed point kept); returns their ids."""
    return [r["id"] for r in recover_details(store_or_vault)]


def recover_details(store_or_vault: Any) -> list[dict[str, Any]]:
    vault: Vault = getattr(store_or_vault, "vault", store_or_vault)
    live = vault.paths.live_dir
    try:
        names = os.listdir(live)
    except FileNotFoundError:
        return []
    sealed = []
    for name in sorted(names):
        run_dir = live / name
        if name.startswith(TMP_PREFIX) and not _older_than(run_dir, TMP_GRACE_S):
            continue  # a writer may be between creating its lock file and locking it
        fd = _try_lock(run_dir, fcntl.LOCK_EX)
        if fd is None:
            continue  # a live writer (or another recoverer) holds it
        try:
            if name.startswith(TMP_PREFIX):  # a writer died while creating its spool
                shutil.rmtree(run_dir, ignore_errors=True)
                continue
            try:
                state = load(run_dir)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except CorruptRecordError:
                continue  # unreadable header: left in place
            except Exception as exc:  # a damaged or foreign spool must not stop Store() opening
                warnings.warn(f"gitvault: cannot read orphaned run {run_dir} ({exc!r}); left as it is",
                              stacklevel=2)
                continue
            if isinstance(state.get("id"), str) and vault.snapshot().has("run", state["id"]):
                shutil.rmtree(run_dir, ignore_errors=True)  # its writer died after sealing it
                continue
            try:
                ended = state.get("last_flush")
                ended_at = (codec.iso_utc(_dt.datetime.fromtimestamp(ended, _dt.timezone.utc)) if ended
                            else state["started_at"])
                record = seal(vault, state, "crashed", ended_at)
            except Exception as exc:  # leave the spool for the next attempt, and say so
                warnings.warn(f"gitvault: could not seal orphaned run {name}: {exc!r}", stacklevel=2)
                continue
            shutil.rmtree(run_dir, ignore_errors=True)
            sealed.append(record)
        finally:
            os.close(fd)
    return sealed


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False


def claim_for_events(live_dir: Path, run_id: str) -> None:
    """Refuse to write to a run that is still live in another process."""
    run_dir = Path(live_dir) / run_id
    if run_dir.exists() and is_locked(run_dir):
        try:
            pid = load(run_dir).get("pid")
        except Exception:
            pid = "?"
        raise ConcurrentWriterError(
            f"run {run_id} is still running in process {pid}; tag or note it from that process, "
            "or after it finishes"
        )

