"""Sealing a live run and recovering orphans (the spool itself, its format and its readers are
`gitvault.runs.spool`'s).

Sealing (`seal`) writes the curves blob, commits the run record and only then removes the spool;
`recover` seals orphans as ``crashed`` keeping every flushed point. Recovery seals an orphan with
every readable frame; one sealed past damage (or from a torn header's surviving fields) is set
aside as ``live/.damaged-<id>/`` instead of deleted. An orphan that cannot be sealed (no readable
header, or data without one readable frame) is left in place and named, with what to do, on every
recovery; stray files in ``live/`` are ignored, and a spool folder holding nothing is removed.
`check_live` lists all of it for ``git vault fsck``.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import itertools
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from gitvault.runs import spool
from gitvault.storage import codec, layout, locks
from gitvault.storage.blobs import BlobStore
from gitvault.errors import ContinuedRunWarning, CorruptRecordError
from gitvault.runs.spool import (DAMAGED_PREFIX, DATA, HEADER, LOCK, TMP_GRACE_S, TMP_PREFIX, SpoolReader, folders,
                            header_problem, is_locked, stretches, try_lock, warn)
from gitvault.storage.vault import Snapshot, Transaction, Vault

if TYPE_CHECKING:  # numpy and pyarrow load only where curve data is read or written
    from gitvault.runs import curves

def live_blob_refs(live_dir: Path) -> set[str]:
    """Blob shas referenced by unsealed spools, set-aside ones included (gc must keep them)."""
    refs: set[str] = set()
    live = Path(live_dir)
    for name in folders(live):
        spool = _inspect(live / name)
        if spool.state is None:
            continue
        git = spool.state.get("git")
        patch = git.get("patch") if isinstance(git, dict) else None
        if isinstance(patch, str):
            refs.add(patch)
        refs.update(a["blob"] for a in spool.state["artifacts"] if a.get("blob"))
    return refs


@dataclass
class _Inspection:
    """What reading one spool found, the header salvaged when damaged."""

    dir: Path
    reader: SpoolReader
    state: dict[str, Any] | None = None  # None: not even a salvaged header or the data could be read
    header_problem: str | None = None
    salvaged: list[str] = field(default_factory=list)  # header fields filled in or lost, when salvaged
    points: int = 0
    data_bytes: int = 0
    error: str | None = None  # why the data could not be read at all

    def damage(self, writer_gone: bool) -> list[str]:
        """Every damaged stretch, and a damaged tail once no writer can still be writing it."""
        tail = [self.reader.tail_problem] if writer_gone and self.reader.tail_problem else []
        return self.reader.damage + tail

    def data_summary(self) -> str:
        if self.reader.frames:
            frames = self.reader.frames
            return f"{frames} readable frame{'s' if frames != 1 else ''} ({self.points} points)"
        return "no readable frame" if self.data_bytes else "no data (nothing was flushed)"


_HEADER_KEYS = ("argv", "config", "env", "experiment_id", "experiment_path", "git", "hostname", "id", "name", "pid",
                "started_at", "total_steps")


def _salvage_header(raw: bytes, run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The fields a torn header still holds whole (its keys are sorted, so the ones before the
    tear), ``id`` from the folder name and ``started_at`` from the id's ULID time when lost, and
    notes on what was lost or filled in."""
    fields: dict[str, Any] = {}
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(len(raw), 1 << 20))
    unpacker.feed(raw)
    try:
        for _ in range(unpacker.read_map_header()):
            key, value = unpacker.unpack(), unpacker.unpack()
            if isinstance(key, str):
                fields[key] = value
    except Exception:  # the tear (or damage): keep what came before it
        pass
    notes = [f"lost {', '.join(k for k in _HEADER_KEYS if k not in fields)}"] if set(_HEADER_KEYS) - set(fields) else []
    fields.setdefault("id", run_id)
    if not isinstance(fields.get("started_at"), str):
        try:
            from ulid import ULID

            fields["started_at"] = codec.iso_utc(ULID.from_str(run_id).datetime)
            notes.append("started_at taken from the run id")
        except ValueError:
            pass
    return fields, notes


def _inspect(run_dir: Path) -> _Inspection:
    """Read one spool whole without warning: its header (salvaged when damaged), every readable
    frame and its damage."""
    name = run_dir.name.removeprefix(DAMAGED_PREFIX)
    header: dict[str, Any] | None = None
    problem: str | None = None
    raw = b""
    try:
        raw = (run_dir / HEADER).read_bytes()
        header = codec.decode(raw, HEADER)
        problem = header_problem(header)
    except (FileNotFoundError, NotADirectoryError):
        problem = f"no {HEADER}"
    except CorruptRecordError:
        problem = f"{HEADER} is torn or damaged ({len(raw)} bytes that do not decode as a run header)"
    except OSError as exc:
        problem = f"{HEADER} cannot be read ({exc.strerror or exc})"
    salvaged: list[str] = []
    if problem is not None:
        header, salvaged = _salvage_header(raw, name) if raw else ({"id": name}, [])
    spool = _Inspection(run_dir, SpoolReader(run_dir, warn=False, header=header), header_problem=problem,
                        salvaged=salvaged)
    try:
        spool.data_bytes = (run_dir / DATA).stat().st_size
    except OSError:
        pass
    try:
        spool.state = spool.reader.refresh()
    except OSError as exc:
        spool.error = f"{DATA} cannot be read ({exc.strerror or exc})"
        return spool
    spool.points = sum(int(b["steps"].size) for b in spool.state["blocks"])
    return spool


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
    from gitvault.runs import curves

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
        **{key: state[key] for key in ("argv", "redacted") if state.get(key) is not None},
    }, inline


def seal(vault: Vault, state: dict[str, Any], status: str, ended_at: str | None = None,
         packed: list[curves.Packed] | None = None, *, writer: bool = False) -> dict[str, Any]:
    """Commit a run record (one vault commit). Sealing a run that is already sealed is a no-op,
    except for its own ``writer`` (`Run.finish`) when another process sealed it meanwhile (as
    ``crashed``, its heartbeat having looked older than the lease): then every point is kept in a
    continuation, a new run derived from the first, and a warning says so."""
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
        first = vault.snapshot().get("run", record["id"])
        if writer and first.get("status") != status or writer and first.get("curves") != record.get("curves"):
            return _continue(vault, state, status, first, packed)
        return first
    if (record.get("git") or {}).get("dirty"):  # its code may have been committed while it ran
        from gitvault.gitlink import linking

        linking.on_seal(vault, record)
    return record


def _continue(vault: Vault, state: dict[str, Any], status: str, first: dict[str, Any],
              packed: list[curves.Packed] | None) -> dict[str, Any]:
    """Seal ``state`` as a new run continuing ``first`` (sealed by another process while its
    writer still ran): nothing the writer logged is lost, and a warning names both runs."""
    from gitvault.runs import lineage
    from gitvault.storage.vault import new_id

    note = (f"continues run {first['id']}, which another process sealed as {first.get('status')} while this "
            "process still ran (its heartbeat looked older than the lease); this run holds every point")
    again = {**state, "id": new_id(), "notes": [*(state.get("notes") or []),
                                                {"content": note, "created_at": codec.utc_now()}]}
    record = seal(vault, again, status, packed=packed)
    lineage.derived_from(vault, record["id"], run=first["id"])
    warnings.warn(f"gitvault: run {first['id']} was sealed as {first.get('status')} by another process while "
                  f"it still ran here; every point is kept in run {record['id']}, which continues it",
                  ContinuedRunWarning, stacklevel=4)
    return record


def recover(store_or_vault: Any) -> list[str]:
    """Seal every orphaned spool as ``crashed`` (every readable frame kept); returns their ids.
    A spool that cannot be sealed, or was sealed past damage, is named in a `SpoolWarning`."""
    return [r["id"] for r in recover_details(store_or_vault)]


def recover_details(store_or_vault: Any) -> list[dict[str, Any]]:
    vault: Vault = getattr(store_or_vault, "vault", store_or_vault)
    live = vault.paths.live_dir
    sealed = []
    for name in folders(live):  # stray files are no spools
        run_dir = live / name
        if name.startswith(TMP_PREFIX):
            _drop_unfinished(run_dir)
            continue
        if name.startswith("."):
            continue  # set aside after sealing (DAMAGED_PREFIX), or not ours
        fd = try_lock(run_dir, fcntl.LOCK_EX)
        if fd is None:  # a live writer (or another recoverer) holds it, it has no lock file, or no locks work here
            if not (run_dir / LOCK).exists():
                _without_lock(run_dir)
                continue
            if locks.excludes(run_dir) or not spool.writer_gone(run_dir):
                continue
        elif not spool.writer_gone(run_dir):  # a lock that can be taken proves nothing on its own:
            os.close(fd)  # it may stay on the writer's node (Lustre -o localflock, BeeGFS)
            continue
        try:
            record = _recover_one(vault, run_dir)
        except Exception as exc:  # one spool must neither stop Store() opening nor hide the others
            if run_dir.exists():  # else its writer sealed and removed it meanwhile: nothing to say
                warn(run_dir, f"could not be recovered ({exc!r}); left as it is")
            record = None
        finally:
            if fd is not None:
                os.close(fd)
        if record is not None:
            sealed.append(record)
    return sealed


def _drop_unfinished(run_dir: Path) -> None:
    """A writer died while creating its spool (before any frame): drop it after the grace time."""
    if not _older_than(run_dir, TMP_GRACE_S):
        return  # a writer may be between creating its lock file and locking it
    fd = try_lock(run_dir, fcntl.LOCK_EX)
    if fd is not None:
        try:
            shutil.rmtree(run_dir, ignore_errors=True)
        finally:
            os.close(fd)


def _without_lock(run_dir: Path) -> None:
    """A spool folder without a lock file, once it is not recent (a writer removes its lock last,
    just before the folder): removed when it holds nothing, else reported."""
    if not _older_than(run_dir, TMP_GRACE_S):
        return
    if not _remove_if_empty(run_dir):
        warn(run_dir, f"has no {LOCK} file, so whether its writer still runs cannot be told; left as it is: "
                       f"if no process runs this run, create the file (touch {run_dir / LOCK}) and run "
                       "`git vault recover`")


def _remove_if_empty(run_dir: Path) -> bool:
    """Remove (and report) a spool folder holding nothing but empty files of a spool (no header,
    no data: nothing to recover, nothing lost); whether it did."""
    try:
        with os.scandir(run_dir) as it:
            if not all(e.name in (LOCK, HEADER, DATA, spool.WRITER) and e.is_file(follow_symlinks=False)
                       and (e.name in (LOCK, spool.WRITER) or e.stat().st_size == 0) for e in it):
                return False
    except OSError:
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    warn(run_dir, "held no header and no data (nothing to recover); removed")
    return True


def _recover_one(vault: Vault, run_dir: Path) -> dict[str, Any] | None:
    """Seal one orphaned spool (its lock held) and remove it, or set it aside when damaged, or
    leave it in place saying why and what to do; the sealed record or None."""
    if _remove_if_empty(run_dir):
        return None
    spool = _inspect(run_dir)
    state = spool.state
    damage = spool.damage(writer_gone=True)
    snap = vault.snapshot()
    if snap.has("run", run_dir.name) or (state and isinstance(state.get("id"), str) and snap.has("run", state["id"])):
        if not damage and spool.header_problem is None:  # its writer died after sealing it
            shutil.rmtree(run_dir, ignore_errors=True)
            return None
        warn(run_dir, f"its run is sealed already; the damaged spool is kept at {_set_aside(run_dir)}: delete it "
                       "once you have looked at it")
        return None
    why_not = _why_not_sealed(vault, spool, damage)
    if spool.error is not None:
        why_not = f"{spool.error}; {why_not or 'left as it is'}"
    if state is None or why_not is not None:
        warn(run_dir, why_not or "cannot be read; left as it is")
        return None
    try:
        ended = state.get("last_flush")
        ended_at = (codec.iso_utc(_dt.datetime.fromtimestamp(ended, _dt.timezone.utc)) if ended
                    else state["started_at"])
        record = seal(vault, state, "crashed", ended_at)
    except Exception as exc:  # leave the spool for the next attempt, and say so
        warn(run_dir, f"could not be sealed ({exc!r}); left as it is for the next `git vault recover`")
        return None
    if not damage and spool.header_problem is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        return record
    kept = _set_aside(run_dir)
    said = [f"{spool.header_problem} (sealed from the fields that survived; {'; '.join(spool.salvaged)})"
            ] if spool.header_problem else []
    if damage:
        said.append(f"skipped damaged data ({stretches(damage)})")
    warn(run_dir, f"{'; '.join(said)}; sealed as crashed with {spool.data_summary()}; the damaged spool is kept "
                   f"at {kept}: delete it once you have looked at it")
    return record


def _why_not_sealed(vault: Vault, spool: _Inspection, damage: list[str]) -> str | None:
    """Why an orphaned spool cannot be sealed, with what to do; None when it can."""
    where = spool.dir
    if spool.header_problem is not None:
        experiment = (spool.state or {}).get("experiment_id")
        if spool.state is not None and header_problem(spool.state) is None and isinstance(experiment, str) \
                and vault.snapshot().has("experiment", experiment):
            return None  # the fields that survived make a run record of a known experiment
        if spool.reader.frames:
            return (f"{spool.header_problem}, and it holds {spool.data_summary()} that cannot be sealed without "
                    f"the run's experiment; left as it is: restore {where / HEADER} (e.g. from a backup) and run "
                    "`git vault recover`, or delete the folder to drop the run")
        return (f"{spool.header_problem}, and it holds {spool.data_summary()}: nothing to recover; left as it "
                f"is: look at it, then delete the folder (rm -r {where})")
    if not spool.reader.frames and damage:
        return (f"its data holds no readable frame ({stretches(damage)}); not sealed, left as it is: look at "
                f"it, then move {where / DATA} out of the folder and run `git vault recover` to seal the run "
                "without points, or delete the folder to drop the run")
    return None


def _set_aside(run_dir: Path) -> Path:
    """Move a sealed but damaged spool to ``.damaged-<run id>`` next to it (readers and recovery
    skip dot folders); returns where."""
    for n in itertools.count():
        target = run_dir.with_name(f"{DAMAGED_PREFIX}{run_dir.name}{f'-{n}' if n else ''}")
        if not target.exists():
            os.rename(run_dir, target)
            return target
    raise AssertionError("unreachable")


def check_live(live_dir: Path) -> list[tuple[str, str]]:
    """Every entry of the live folder gitvault cannot wholly read, as (path, what is wrong and what
    to do), for `git vault fsck`. Only reads; a running run's unfinished last frame is no problem."""
    live = Path(live_dir)
    try:
        with os.scandir(live) as it:
            names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name, is_dir in names:
        where = live / name
        if not is_dir:
            out.append((str(where), f"{where}: a stray file in the live folder, not a spool; gitvault ignores it"))
        elif name.startswith(DAMAGED_PREFIX):
            out.append((str(where), f"{where}: a damaged spool that `git vault recover` set aside after sealing "
                                    "its run; delete it once you have looked at it"))
        elif name.startswith("."):
            continue
        elif not (where / LOCK).exists():
            if _older_than(where, TMP_GRACE_S):
                out.append((str(where), f"{where}: a spool folder without a {LOCK} file; `git vault recover` "
                                        "says what to do"))
        else:
            spool = _inspect(where)
            said = [p for p in (spool.header_problem, spool.error) if p] + spool.damage(not is_locked(where))
            if said:
                out.append((str(where), f"{where}: unreadable live spool: {stretches(said)}; "
                                        "`git vault recover` says what to do"))
    return out


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False


