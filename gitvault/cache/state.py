"""What the caches are built from: the folded records of one vault commit, and the key a cache
stores to know whether it is current.

A cache is current when its stored (vault tip, cache schema version, gitvault version, .extract
path) equal the live ones. The .extract path is part of the key because cached paths are absolute
(DuckDB views read blobs by absolute path; ``models.artifact_path`` is absolute).
"""

from __future__ import annotations

import errno
import json
import math
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from gitvault.storage import codec, layout, records
from gitvault.storage.blobs import BlobStore
from gitvault.settings import VaultConfig
from gitvault.errors import BlobError, CorruptRecordError, VaultError

CACHE_SCHEMA_VERSION = 11  # 4: curve_points keeps a bounded sample of each curve; 5: vault.toml in gitvault_meta;
# 6: models.aliases; 7: runs by git_sha (git vault log, history); 8: experiments.archived, deleted records left out;
# 9: runs_started on (started_at, id): the newest page is read off the index even when many runs share a start time;
# 10: artifacts.size (files and images); 11: gitvault_meta's run_count and hidden_experiments
Key = tuple[str, str]


def gitvault_version() -> str:
    from gitvault import __version__

    return __version__


@dataclass(frozen=True)
class CacheKey:
    tip: str | None
    schema_version: str = str(CACHE_SCHEMA_VERSION)
    gitvault_version: str = field(default_factory=gitvault_version)
    extract_dir: str = ""

    def as_meta(self) -> dict[str, str]:
        return {
            "vault_tip": self.tip or "",
            "schema_version": self.schema_version,
            "gitvault_version": self.gitvault_version,
            "extract_dir": self.extract_dir,
        }

    def compatible(self, meta: dict[str, str]) -> bool:
        """Same schema, version and location: an incremental refresh from ``meta`` is possible."""
        mine = self.as_meta()
        return all(meta.get(k) == mine[k] for k in ("schema_version", "gitvault_version", "extract_dir"))


@dataclass
class Loaded:
    """Folded records to (re)load into the caches, and the entities to drop from them."""

    full: bool
    views: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    removed: set[Key] = field(default_factory=set)
    hidden: set[Key] = field(default_factory=set)  # of ``removed``: deleted or below a deleted experiment (`hide_deleted`)
    hierarchy: list[str] | None = None
    config: VaultConfig | None = None  # vault.toml, when it was read (a full load, or it changed)
    problems: list[str] = field(default_factory=list)
    more_runs: int = 0  # runs of a full load whose rows came from the other process (`split_rebuild`), not in ``views``

    def of(self, kind: str) -> list[dict[str, Any]]:
        return list(self.views.get(kind, {}).values())

    def touched(self, kind: str) -> list[str]:
        """Ids of ``kind`` whose cached rows must be dropped before the new rows go in."""
        ids = set(self.views.get(kind, {}))
        ids.update(i for k, i in self.removed if k == kind)
        return sorted(ids)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.views.values()) + self.more_runs


SqliteRows = dict[str, list[tuple[Any, ...]]]
"""SQLite's rows for some runs, by table: ``runs``, ``scalar_metrics``, ``run_params``, ``artifacts``."""


@dataclass
class RunTables:
    """The rows both caches hold for a set of runs, made once per refresh from the loaded run
    records (`gitvault.cache.loading.Plan.tables`): SQLite's (`sqlite_cache.run_rows`), DuckDB's
    ``run_rows`` (`duckdb_catalog.run_rows_table`) and, for a full load, every run's curve points
    (long). Each kind of row is made in one place for every refresh. A two-process rebuild
    (`gitvault.cache.split_rebuild`) makes them for each process's share of the runs, and each
    process takes from the other only what it writes: a part it does not hold is None."""

    sqlite: SqliteRows | None
    run_rows: Any  # pyarrow Table, or None
    curves: Any = None  # pyarrow Table of long points (full loads), or None

    @property
    def runs(self) -> int:
        return len(self.sqlite["runs"]) if self.sqlite is not None else int(self.run_rows.num_rows)

    def joined(self, other: RunTables) -> RunTables:
        """These rows and ``other``'s (another share of the runs), in run id order as a full load
        has them (`load_all` sorts each share by id: joining merges two sorted runs); a part
        either one lacks is left out."""
        import pyarrow as pa

        def rows(name: str, mine: SqliteRows, theirs: SqliteRows) -> list[tuple[Any, ...]]:
            both = mine[name] + theirs[name]
            both.sort(key=itemgetter(1 if name == "artifacts" else 0))  # by run id: two sorted runs merged stably in one pass
            return both

        def table(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            return pa.concat_tables([a, b]).sort_by("run_id")  # a stable sort: each run's rows keep their order

        sqlite = None
        if self.sqlite is not None and other.sqlite is not None:
            sqlite = {name: rows(name, self.sqlite, other.sqlite) for name in self.sqlite}
        return RunTables(sqlite, table(self.run_rows, other.run_rows), table(self.curves, other.curves))


# -- write failures ------------------------------------------------------------------------------

_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT})
_SQLITE_WRITE_CODES = {13: errno.ENOSPC, 8: None, 14: None, 10: None, 3: errno.EACCES}  # FULL, READONLY, CANTOPEN, IOERR, PERM
_TEXT_CAUSES = (("no space left", errno.ENOSPC), ("disk is full", errno.ENOSPC), ("disk full", errno.ENOSPC),
                ("read-only file system", errno.EROFS), ("permission denied", errno.EACCES),
                ("readonly database", None), ("read-only", None), ("cannot open file", None))


class CacheUnwritable(VaultError):
    """The caches could not be written to ``path``; ``cause`` names why (ENOSPC, EROFS, EACCES...)."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"the caches could not be written to {path} ({cause})")
        self.path = path
        self.cause = cause


def folder_errno(path: Path) -> int | None:
    """Why ``path`` (a folder, or the folder of a file) cannot be written, as far as a look tells:
    EROFS, EACCES or ENOSPC; None when it looks writable."""
    folder = path if path.is_dir() else path.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if not os.access(folder, os.W_OK):
        return errno.EACCES
    if st.f_bavail * st.f_frsize < 1 << 20:  # under 1 MiB left: a cache write will not fit
        return errno.ENOSPC
    return None


def errno_text(code: int, detail: str | None = None) -> str:
    """``No space left on device, ENOSPC`` (``detail`` in place of the OS's words when given)."""
    return f"{detail or os.strerror(code)}, {errno.errorcode.get(code, str(code))}"


def write_failure(exc: BaseException, path: Path) -> str | None:
    """The cause, as one short text naming the errno, when ``exc`` means ``path`` cannot be written
    (full, read-only or forbidden; from the OS, SQLite or DuckDB); None for any other error."""
    if isinstance(exc, OSError):
        return errno_text(exc.errno) if exc.errno in _WRITE_ERRNOS else None
    text = str(exc)
    code: int | None
    if isinstance(exc, sqlite3.Error):
        sqlite_code = getattr(exc, "sqlite_errorcode", None)
        if sqlite_code is None or (sqlite_code & 0xFF) not in _SQLITE_WRITE_CODES:
            return None
        code = _SQLITE_WRITE_CODES[sqlite_code & 0xFF]
    elif type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        lowered = text.lower()
        found = next(((needle, c) for needle, c in _TEXT_CAUSES if needle in lowered), None)
        if found is None:
            return None
        code = found[1]
        text = ""
    else:
        return None
    code = code or folder_errno(path)
    if code is None:
        return text or "cannot write"
    return errno_text(code, text.strip() or None)


# -- helpers both caches use --------------------------------------------------------------------


_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False).encode
"""``json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)`` without building an
encoder per call (a full rebuild encodes four values per run)."""


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    try:
        return _ENCODE(value)
    except (TypeError, ValueError):  # NaN/inf, bytes, odd keys: spell them out
        return json.dumps(_json_safe(value), sort_keys=True, ensure_ascii=False, default=str)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def number_of(text: Any) -> float | None:
    """A param's text as a finite number, or None (``gv_number`` in SQL)."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def metric_items(run: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(name, value, wall_time) of each headline metric; values stay as floats (NaN kept)."""
    out = []
    for name, entry in (run.get("metrics") or {}).items():
        if isinstance(entry, dict):
            out.append((name, number(entry.get("value")), number(entry.get("wall_time"))))
        else:
            out.append((name, number(entry), None))
    return out


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config keys joined by dots (``method.lora_r``), as the Extract seed shows them."""
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def int_or_none(value: Any) -> int | None:
    """An int field of a record (never a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def param_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return to_json(value)


def blob_path(blobs: BlobStore | None, sha: Any) -> Path | None:
    """The file of blob ``sha`` (None without a sha, a blob store, or for a malformed sha)."""
    if blobs is None or not sha:
        return None
    try:
        return blobs.path(sha)
    except BlobError:
        return None


def curve_files(runs: Iterable[dict[str, Any]], blobs: BlobStore, problems: list[str]) -> list[tuple[str, str]]:
    """(absolute path of the curves blob, run id) of each run; runs whose blob is missing are
    named in ``problems`` and skipped. Two runs may share one blob (equal content)."""
    files: list[tuple[str, str]] = []
    for run in runs:
        sha = (run.get("curves") or {}).get("blob")
        if not sha:
            continue
        path = blob_path(blobs, sha)
        if path is None or not path.is_file():
            problems.append(f"run {run['id']}: curves blob {sha} is missing; run `git vault fsck`")
            continue
        files.append((str(path), run["id"]))
    return files


def frame_files(run: dict[str, Any], blobs: BlobStore | None) -> list[str]:
    """Paths of a run's tables written with `Run.write_metrics` (artifact kind "metrics", any name;
    the seed's strata/metrics.parquet): they feed its specimen's ``exp_<id>`` view."""
    out = []
    for art in run.get("artifacts") or []:
        if art.get("kind") == "metrics":
            path = blob_path(blobs, art.get("blob"))
            if path is not None and path.is_file():
                out.append(str(path))
    return out


class CurveReader:
    """Reads each needed curves blob once per refresh, whichever cache asks first."""

    def __init__(self, runs: dict[str, dict[str, Any]], blobs: BlobStore, problems: list[str]) -> None:
        self._runs = runs
        self._blobs = blobs
        self.problems = problems
        self._memo: dict[frozenset[str], Any] = {}
        self._lock = threading.Lock()

    def prefetch(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        """Start reading every loaded run's points in the background (the reads release the GIL)."""
        def read() -> None:
            if progress is not None:
                progress("curves", 0, 1)
            self.long()
            if progress is not None:
                progress("curves", 1, 1)

        threading.Thread(target=read, name="gitvault-curves", daemon=True).start()

    def long(self, run_ids: Iterable[str] | None = None) -> Any:
        """Long points (pyarrow Table) of the given runs (default: every loaded run)."""
        from gitvault.cache import points

        ids = frozenset(self._runs if run_ids is None else run_ids)
        with self._lock:
            if ids not in self._memo:
                wanted = [self._runs[i] for i in sorted(ids) if i in self._runs]
                files = curve_files(wanted, self._blobs, self.problems)
                schemas = {path: tuple((self._runs[run_id].get("curves") or {}).get("names") or ())
                           for path, run_id in files}
                try:
                    self._memo[ids] = points.read_long(files, schemas)
                except Exception:  # noqa: BLE001 - a damaged blob: find it, index the rest
                    self._memo[ids] = points.read_long_each(files, self.problems)
            return self._memo[ids]
