"""The rebuildable caches of a vault: ``.extract/extract.db`` (SQLite, the Extract seed's schema)
and ``.extract/vault.duckdb`` (the Specimen Vault catalog, views and cross-run tables).

Both are derived from ``refs/vault/main`` and the blobs only; deleting either loses nothing.
Each stores the key it was built for (vault tip, cache schema version, gitvault version, .extract
path). `Caches.refresh` compares that key with the live one: equal -> nothing to do; the tip
moved -> reload only the entities the tree diff names (`vault.changed_entities`), one transaction
per cache; anything else (schema or version changed, stored tip unknown or not an ancestor of the
new tip, a file missing, a change touching over half the vault) -> full rebuild. Refreshers
serialise on ``flock(.extract/cache.lock)``. Because the check is against the ref itself, changes
that arrive through plain git (``git fetch``, ``git update-ref``) are picked up like any other.
Cache files get the modes git gives the repository's files (`gitvault.storage.perms`): ours are created
with them; what SQLite and DuckDB create is adjusted for a shared repository after each refresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from gitvault.storage import localdir, locks, perms
from gitvault.storage.blobs import BlobStore
from gitvault.cache import sqlite_cache
from gitvault.cache.state import CACHE_SCHEMA_VERSION, CacheKey, CacheUnwritable, errno_text, folder_errno, write_failure
from gitvault.settings import LocalConfig
from gitvault.errors import ConfigError, VaultError
from gitvault.storage.locks import DEFAULT_TIMEOUT_S as LOCK_TIMEOUT_S, file_lock
from gitvault.storage.repo import RepoPaths, read_tip

if TYPE_CHECKING:
    import duckdb

    from gitvault.cache.loading import Plan
    from gitvault.storage.vault import Vault

__all__ = ["CACHE_SCHEMA_VERSION", "CacheUnwritable", "Caches", "RefreshResult", "Progress"]

_LAZY = ("duckdb_catalog", "points")


def __getattr__(name: str) -> Any:
    """``duckdb_catalog`` and ``points`` load duckdb and pyarrow (~0.3 s): only on first use, so
    SQLite-only readers and every `git vault` command start without them."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

GIT_TIP_ASKS = 4
"""Times `Caches.tip` asks git before it loads libgit2: what a one-shot command needs."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a rebuild advances (stages: records, curves,
sqlite, duckdb)."""

@dataclass
class RefreshResult:
    """What a refresh did. ``mode`` is ``current`` (nothing to do), ``incremental``, ``full`` or
    ``busy`` (``wait=False`` and another process is refreshing); ``sqlite`` and ``duckdb`` say the
    same per cache (a cache can be ``busy`` alone when a reader holds the DuckDB file). ``points``
    counts the curve points read from the blobs: DuckDB's ``curves`` holds them all, SQLite's
    ``curve_points`` a bounded sample (`sqlite_cache.CURVE_POINTS`)."""

    mode: str
    tip: str | None
    sqlite: str = "current"
    duckdb: str = "current"
    experiments: int = 0
    runs: int = 0
    entities: int = 0
    points: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


_RANK = {"current": 0, "busy": 1, "incremental": 2, "full": 3}


def _count(result: RefreshResult, plan: Plan) -> None:
    """The experiments, runs and entities ``plan`` loaded, into ``result`` (kept if it holds none now)."""
    loaded = plan.full_loaded or next((p for p in plan.partial.values() if p is not None), None)
    if loaded is not None:
        result.experiments = len(loaded.views.get("experiment", {}))
        result.runs = len(loaded.views.get("run", {})) + loaded.more_runs
        result.entities = loaded.count


class Caches:
    """The SQLite and DuckDB caches of one vault."""

    def __init__(self, vault: Vault | RepoPaths) -> None:
        """``vault``: an open `Vault`, or only its repository's paths: reading current caches then
        needs no libgit2 (60 ms to load), and the vault is opened when a refresh has work to do."""
        self.paths = vault if isinstance(vault, RepoPaths) else vault.paths
        self._vault = None if isinstance(vault, RepoPaths) else vault
        self.home = self.paths.extract_dir  # where the caches belong
        self.networked = not self.paths.cache_configured and locks.on_network_file_system(self.paths.extract_dir.parent)
        if self.networked:  # NFS, Lustre, GPFS...: node-local storage (see `node_local_dir`)
            self.home = self.node_local_dir()
        self.extract_dir = self.home  # where they are read and written now (see `fallback_dir`)
        self.blobs = BlobStore(self.paths.objects_dir)
        self._git_asks = 0  # times `tip` asked git (see there)
        self._writer: tuple[int, int, sqlite3.Connection] | None = None  # (pid, inode, connection)
        self._duck: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid, in-memory instance)
        self._ours: set[tuple[str, int, int]] = set()  # cache files seen to carry gitvault's marker

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            from gitvault.storage.vault import Vault

            self._vault = Vault(self.paths)
        return self._vault

    def tip(self) -> str | None:
        """The vault's tip. A short command asks git (`git rev-parse`, 2 ms) the few times it
        needs to; a reader that keeps asking is long-lived, and libgit2 (60 ms to load, once)
        answers it from then on in microseconds, as it does once the vault is open."""
        if self._vault is not None or self._git_asks >= GIT_TIP_ASKS:
            return str(self.vault.tip() or "") or None
        self._git_asks += 1
        return read_tip(self.paths)

    @property
    def sqlite_path(self) -> Path:
        return self.extract_dir / "extract.db"

    @property
    def duckdb_path(self) -> Path:
        return self.extract_dir / "vault.duckdb"

    @property
    def lock_path(self) -> Path:
        return self.extract_dir / "cache.lock"

    @property
    def state_path(self) -> Path:
        return self.extract_dir / "cache.state"

    @property
    def modes(self) -> perms.Perms:
        """The modes of new files in ``extract_dir`` (looked up once per process and folder)."""
        return perms.for_path(self.extract_dir)

    def _touch(self, path: Path) -> None:
        os.close(self.modes.open(path, os.O_WRONLY | os.O_CLOEXEC))

    # -- reading ---------------------------------------------------------------------------

    def connect_sqlite(self) -> sqlite3.Connection:
        """A read-only connection to ``extract.db`` (rows as `sqlite3.Row`); refresh first."""
        if not self.sqlite_path.exists():
            self.refresh()
        return sqlite_cache.connect_readonly(self.sqlite_path)

    def connect_duckdb(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A connection to ``vault.duckdb``; read-only ones wait briefly while a refresh writes.

        Keep it short-lived and close it before the next `refresh`: a writer cannot update the
        file in place while a reader holds it (the refresh then writes a new file and renames it
        over the old one), and DuckDB hands later connections of this process the instance that
        is still open, i.e. the old file."""
        from gitvault.cache import duckdb_catalog

        if not self.duckdb_path.exists():
            self.refresh()
        try:
            return duckdb_catalog.connect(self.duckdb_path, read_only=read_only)
        except duckdb_catalog.DuckDBBusy as exc:
            raise VaultError(f"{self.duckdb_path} is held by another process ({exc}); try again") from None

    # -- keeping current -------------------------------------------------------------------

    def key(self, tip: object | None) -> CacheKey:
        return CacheKey(tip=str(tip) if tip else None, extract_dir=str(self.extract_dir.resolve()))

    def is_current(self, tip: str | None = None) -> bool:
        """True when the last refresh recorded the live key and both files exist (no lock, no
        database is opened: this is the fast path of every `refresh`). ``tip``: the vault's tip
        when the caller has just read it (default: read it now)."""
        try:
            stored = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return False
        return (stored == self.key(self.tip() if tip is None else tip).as_meta()
                and self.sqlite_path.exists() and self.duckdb_path.exists())

    @property
    def stale_path(self) -> Path:
        return self.extract_dir / "cache.stale"

    def invalidate(self) -> None:
        """Make the next refresh a full rebuild: blobs that records already indexed were missing
        have arrived (``pull --blobs-only``, a lazy fetch), and their contents are not in the caches."""
        if self.extract_dir.is_dir():
            self._touch(self.stale_path)

    def refresh(self, wait: bool = True, tip: str | None = None) -> RefreshResult:
        """Bring both caches up to the vault's tip (see the module docstring). Caches that are
        stale and cannot be written where they belong (a read-only or full disk) are kept current
        in `fallback_dir` instead, with a one-line note on stderr; the readers follow
        ``extract_dir``. `CacheUnwritable` when neither place can be written. ``tip``: the vault's
        tip as the caller has just read it (else it is read here)."""
        started = time.perf_counter()
        self.extract_dir = self.home
        tip = tip or self.tip()
        if not self.stale_path.exists() and self.is_current(tip or ""):
            return RefreshResult(mode="current", tip=tip)
        fallback = self.fallback_dir()
        cause = folder_errno(self.home) if self._current_in(fallback) else None
        try:
            if cause is not None:  # cannot be written now, and the copy elsewhere is current
                raise CacheUnwritable(self.home, errno_text(cause))
            result = self._refresh_here(wait)
        except CacheUnwritable as exc:
            try:
                self._make_private(fallback)
                self.extract_dir = fallback
                result = self._refresh_here(wait)
            except (CacheUnwritable, OSError) as again:
                self.extract_dir = self.home
                why = again.cause if isinstance(again, CacheUnwritable) else write_failure(again, fallback) or again
                raise CacheUnwritable(self.home, f"{exc.cause}; nor to {fallback}: {why}") from None
            _note(self.home, f"git vault: note: {exc}; using caches in {fallback}")
        result.seconds = time.perf_counter() - started
        return result

    def rebuild(self, progress: Progress | None = None, processes: int = 1) -> RefreshResult:
        """Rebuild both caches from scratch (``git vault reindex``), where they belong.

        ``processes=2``: a second Python process reads half the runs and makes their rows, then
        writes the DuckDB file, while this one does the same for the other half and writes SQLite's
        (`gitvault.cache.split_rebuild`). A rebuild is mostly Python work per run, which threads of
        one process take turns at (the GIL): two processes cut its wall time by a third (a million
        runs: 139 -> 90 s). Should the second process fail, this one does its work (with the error it
        then meets), and the failure is among the result's problems."""
        started = time.perf_counter()
        self.extract_dir = self.home
        with self._writing():
            with self._locked(True):
                result = self._refresh_locked(force_full=True, wait=True, progress=progress,
                                              split=processes > 1)
                self.stale_path.unlink(missing_ok=True)
        result.seconds = time.perf_counter() - started
        return result

    def _refresh_here(self, wait: bool) -> RefreshResult:
        """`refresh` in ``extract_dir``."""
        stale = self.stale_path.exists()
        tip = self.tip()
        if not stale and self.is_current(tip or ""):
            return RefreshResult(mode="current", tip=tip)
        with self._writing():
            with self._locked(wait) as held:
                if not held:
                    return RefreshResult(mode="busy", tip=None, sqlite="busy", duckdb="busy")
                result = self._refresh_locked(force_full=stale, wait=wait, progress=None)
                if stale:
                    self.stale_path.unlink(missing_ok=True)
        return result

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turns a failure to write ``extract_dir`` (from the OS, SQLite or DuckDB) into one
        `CacheUnwritable` naming the folder and the cause, never a secondary error."""
        try:
            yield
        except CacheUnwritable:
            raise
        except Exception as exc:  # noqa: BLE001 - sorted by write_failure, re-raised otherwise
            cause = write_failure(exc, self.extract_dir)
            if cause is None:
                raise
            self.close()  # a connection that failed mid-write is not reused
            raise CacheUnwritable(self.extract_dir, cause) from exc

    def node_local_dir(self) -> Path:
        """Where the caches live when the repository is on a network or cluster file system (SQLite's
        WAL needs memory shared on one host; DuckDB and SQLite lock with fcntl, which may fail or stay
        on one node there): ``${XDG_CACHE_HOME:-~/.cache}/gitvault/<digest>`` when that is on a local
        disk, else the system temp dir; one per repository path, so every node keeps its own copy.
        ``git config vault.cacheDir`` overrides it; ``.extract/extract.db`` links to it for the
        seed's tools."""
        digest = hashlib.sha256(str(self.paths.extract_dir.resolve()).encode()).hexdigest()[:20]
        xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gitvault"
        probe = xdg if xdg.exists() else xdg.parent if xdg.parent.exists() else Path.home()
        if not locks.on_network_file_system(probe):
            return xdg / digest
        return Path(tempfile.gettempdir()) / f"gitvault-caches-{os.geteuid()}" / f"node-{digest}"

    def fallback_dir(self) -> Path:
        """Where caches that cannot be written to ``.extract/`` are kept instead: a private folder
        per user under the system temp dir, one per vault (its cache key holds the tip)."""
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:20]
        return Path(tempfile.gettempdir()) / f"gitvault-caches-{os.geteuid()}" / digest

    @staticmethod
    def _make_private(folder: Path) -> None:
        """Create ``folder`` and its parent, refusing a parent another user could write."""
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        st = folder.parent.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise CacheUnwritable(folder.parent, "not a private folder of this user; remove it")
        folder.mkdir(mode=0o700, exist_ok=True)

    def _current_in(self, folder: Path) -> bool:
        here, self.extract_dir = self.extract_dir, folder
        try:
            return not self.stale_path.exists() and self.is_current()
        finally:
            self.extract_dir = here

    @contextmanager
    def _locked(self, wait: bool) -> Iterator[bool]:
        if not self.extract_dir.is_dir() and self.tip() is None:
            self.vault.config()  # raises: no vault here yet, run `git vault init`
        created = not self.extract_dir.exists()
        try:
            localdir.claim(self.extract_dir)  # another program's store: stop before writing anything
        except OSError:  # a full or read-only disk: leave no half-made marker (it reads as foreign)
            with suppress(OSError):
                (self.extract_dir / f"{localdir.MARKER}.tmp-{os.getpid()}").unlink(missing_ok=True)
                if created:
                    self.extract_dir.rmdir()
            raise
        self._touch(self.lock_path)  # with git's mode (`file_lock` would make it 0644)
        with file_lock(self.lock_path, timeout=LOCK_TIMEOUT_S, wait=wait,
                       holder_hint="is a `git vault reindex` stuck?") as held:
            yield held

    def _refresh_locked(self, *, force_full: bool, wait: bool, progress: Progress | None,
                        split: bool = False) -> RefreshResult:
        from gitvault.cache.loading import Plan, run_folders

        vault = self.vault
        repo = vault.repo
        tip = vault.tip()
        key = self.key(tip)
        partner = None
        if split:
            from gitvault.cache import duckdb_catalog  # noqa: F401 - here: imported in the thread, each step waits for the GIL
            from gitvault.cache.split_rebuild import Partner

            partner = Partner(self, key.tip, run_folders(repo, tip))
        from concurrent.futures import ThreadPoolExecutor

        try:
            plan = Plan(self, repo, tip, progress, partner=partner)
            result = RefreshResult(mode="current", tip=key.tip)
            with ThreadPoolExecutor(1, thread_name_prefix="gitvault-duckdb") as pool:
                duck = pool.submit(self._refresh_duckdb, plan, key, force_full, wait)
                try:
                    conn = self._sqlite_writer()
                    loaded = plan.choose(sqlite_cache.read_meta(conn), key, force_full)
                    if loaded is not None:
                        plan.report("sqlite", 0, 1)
                        result.points = sqlite_cache.write(conn, loaded, key, self.blobs, self.extract_dir,
                                                           plan.reader(loaded), plan.parts(loaded))
                        # into the main file: another process checks its marker there (`sqlite_is_ours`
                        # reads the file alone), and must not take a fresh cache for another program's
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        plan.report("sqlite", 1, 1)
                        result.sqlite = "full" if loaded.full else "incremental"
                    _count(result, plan)
                    if partner is not None:  # freed now: should the partner fail at DuckDB's file, a full
                        loaded = None  # load here for it must not find this one's memory still held
                        plan.release()
                except BaseException:
                    if partner is not None:
                        partner.close()  # the DuckDB thread waiting on it stops waiting
                    raise
                result.duckdb, duck_points = duck.result()
        finally:
            if partner is not None:
                partner.close()
        if partner is not None:
            plan.problems.extend(partner.problems)
        result.points = max(result.points, duck_points)
        result.mode = max((result.sqlite, result.duckdb), key=_RANK.__getitem__)
        _count(result, plan)
        result.problems = sorted(set(plan.problems))
        if plan.config_changed and self.extract_dir == self.home:
            self._sync_local_config(result)
        if self.networked and self.extract_dir == self.home:
            self._link_for_the_seed()
        for path in self._files():  # made by SQLite or DuckDB: a shared repository's bits
            self.modes.adjust(path)
        if result.sqlite != "busy" and result.duckdb != "busy":
            try:
                self.modes.write(self.state_path, json.dumps(key.as_meta()).encode())  # a torn write only means a slow path
            except OSError:  # the caches are written; without the state file the next refresh checks them
                with suppress(OSError):
                    self.state_path.unlink(missing_ok=True)
        return result

    def _sqlite_writer(self) -> sqlite3.Connection:
        """The read-write SQLite connection, kept open between refreshes: closing the last
        connection checkpoints the WAL (two fsyncs), which would dominate a small refresh."""
        if self._writer is not None:
            pid, inode, conn = self._writer
            try:
                same = pid == os.getpid() and os.stat(self.sqlite_path).st_ino == inode
            except OSError:
                same = False
            if same:
                return conn
            if pid == os.getpid():
                conn.close()
            self._writer = None
        if not self.sqlite_path.exists():  # a WAL left beside a deleted file belongs to that file
            self._remove_sqlite_files()
        else:
            ours = localdir.sqlite_is_ours(self.sqlite_path)
            localdir.check_cache_file(self.sqlite_path, ours)
            if ours is None:  # unreadable: moved aside (never deleted), a new cache is built
                self._set_aside(self.sqlite_path)
        try:
            conn = self._open_sqlite()
        except sqlite3.DatabaseError as exc:  # damaged past what a read-only look showed
            if write_failure(exc, self.sqlite_path) is not None:
                raise  # a full or read-only disk, not a damaged file: keep it where it is
            self._set_aside(self.sqlite_path)
            conn = self._open_sqlite()
        conn.execute(f"PRAGMA application_id = {localdir.SQLITE_APPLICATION_ID}")  # gitvault's mark
        self._writer = (os.getpid(), os.stat(self.sqlite_path).st_ino, conn)
        return conn

    def _files(self) -> tuple[Path, ...]:
        """The cache files and their side files (some may not exist)."""
        sqlite, duck = str(self.sqlite_path), str(self.duckdb_path)
        return tuple(Path(name) for name in (sqlite, f"{sqlite}-wal", f"{sqlite}-shm", duck, f"{duck}.wal"))

    def _open_sqlite(self) -> sqlite3.Connection:
        with suppress(FileExistsError):  # a new file gets git's mode; SQLite gives its -wal and -shm the same
            os.close(self.modes.open(self.sqlite_path, os.O_WRONLY | os.O_EXCL | os.O_CLOEXEC))
        conn = sqlite_cache.connect(self.sqlite_path)
        try:
            sqlite_cache.read_meta(conn)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _remove_sqlite_files(self) -> None:
        for side in ("-wal", "-shm"):
            Path(f"{self.sqlite_path}{side}").unlink(missing_ok=True)

    def _set_aside(self, path: Path) -> None:
        """Move an unreadable cache file (and its side files) out of the way, keeping it."""
        for side in ("-wal", "-shm", ".wal"):
            extra = Path(f"{path}{side}")
            if extra.exists():
                localdir.set_aside(extra)
        if path.exists():
            localdir.set_aside(path)

    def close(self) -> None:
        """Close the kept SQLite writer and DuckDB instance (also done when collected)."""
        if self._writer is not None and self._writer[0] == os.getpid():
            self._writer[2].close()
        if self._duck is not None and self._duck[0] == os.getpid():
            self._duck[1].close()
        self._writer = self._duck = None

    def __enter__(self) -> "Caches":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refresh_duckdb(self, plan: Plan, key: CacheKey, force_full: bool, wait: bool) -> tuple[str, int]:
        import duckdb

        from gitvault.cache import duckdb_catalog

        def full() -> tuple[str, int]:
            plan.report("duckdb", 0, 1)
            if plan.partner is not None:  # it writes the file (`split_rebuild`)
                points = plan.partner.finish()
                if points is not None:
                    plan.report("duckdb", 1, 1)
                    return "full", points
                plan.drop_partner()  # its failure is among the problems: the file is written here
            loaded = plan.full()
            points = duckdb_catalog.build_file(self.duckdb_path, loaded, key, self.blobs, plan.reader(loaded),
                                               plan.whole(loaded))
            plan.report("duckdb", 1, 1)
            return "full", points

        identity = self._identity(self.duckdb_path)
        if identity is not None and identity not in self._ours:
            try:
                ours = localdir.duckdb_is_ours(self._duck_writer(), self.duckdb_path)
            except duckdb.Error:  # another process holds it
                if not wait:
                    return "busy", 0
                ours = True  # only a gitvault cache is held open here; full() waits for it as before
            localdir.check_cache_file(self.duckdb_path, ours)
            if ours is None:
                self._set_aside(self.duckdb_path)
                plan.add_problem(f"{self.duckdb_path.name} could not be read; it was kept as "
                                 f"{self.duckdb_path.name}.unreadable-<time> and a new one built")
            else:
                self._ours.add(identity)
        if force_full or not self.duckdb_path.exists():
            return full()
        try:
            with duckdb_catalog.attached(self._duck_writer(), self.duckdb_path, 2.0 if wait else 0.2) as con:
                loaded = plan.choose(duckdb_catalog.read_meta(con), key, False)
                if loaded is None:
                    return "current", 0
                if not loaded.full:
                    return "incremental", duckdb_catalog.update(con, loaded, key, self.blobs, plan.reader(loaded),
                                                                plan.whole(loaded))
        except duckdb_catalog.DuckDBBusy:
            return full() if wait else ("busy", 0)
        except duckdb.Error as exc:  # damaged past what the read-only look showed: keep it aside
            self._set_aside(self.duckdb_path)
            plan.add_problem(f"rebuilt {self.duckdb_path.name} (the old one is kept beside it): {exc}")
        return full()

    @staticmethod
    def _identity(path: Path) -> tuple[str, int, int] | None:
        """(path, device, inode) of an existing file: a file checked once need not be again."""
        try:
            st = path.stat()
        except OSError:
            return None
        return str(path), st.st_dev, st.st_ino

    def _duck_writer(self) -> duckdb.DuckDBPyConnection:
        from gitvault.cache import duckdb_catalog

        if self._duck is None or self._duck[0] != os.getpid():
            self._duck = (os.getpid(), duckdb_catalog.writer_instance())
        return self._duck[1]

    def _link_for_the_seed(self) -> None:
        """``.extract/extract.db`` -> the node-local cache, for the seed's tools (when nothing is
        there yet: a file someone put there is left alone)."""
        link = self.paths.extract_dir / "extract.db"
        with suppress(OSError):
            if not link.exists() and not link.is_symlink() and localdir.is_ours(self.paths.extract_dir) is not False:
                self.paths.extract_dir.mkdir(exist_ok=True)
                link.symlink_to(self.sqlite_path)

    def _sync_local_config(self, result: RefreshResult) -> None:
        try:  # the view settings stay in .extract/ (the user's file), wherever the caches live
            LocalConfig.load(self.paths.extract_dir / "config.toml").sync_from(self.vault.config())
        except (ConfigError, VaultError, OSError) as exc:
            result.problems.append(f"config.toml not updated: {exc}")


_NOTED: set[Path] = set()


def _note(home: Path, text: str) -> None:
    """One line on stderr, once per process and cache folder."""
    if home not in _NOTED:
        _NOTED.add(home)
        sys.stderr.write(text + "\n")
