"""What every query shares: opening the vault and its caches, live runs, id resolution, run items
and pages (their shapes: `gitvault.query.shapes`).

Sealed runs are read from the SQLite cache (``.extract/extract.db``), running ones from their
spools (``<git-common-dir>/vault/live/<id>/``); a run present in both (sealed a moment ago, spool not yet
removed) is taken from the cache.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TypeVar

from gitvault import extras
from gitvault.storage import records

from gitvault.runs import spool
from gitvault.cache import Caches, RefreshResult, sqlite_cache
from gitvault.cache.state import number_of
from gitvault.settings import LocalConfig, VaultConfig
from gitvault.errors import AmbiguousIdError, QueryError, RecordNotFoundError, VaultError, VaultNotInitializedError
from gitvault.query.around import SealedSince
from gitvault.storage.repo import RepoPaths, discover

if TYPE_CHECKING:
    from gitvault.query.shapes import ConfigSummary, Page, RunItem
    from gitvault.storage.vault import Vault

MAX_LIMIT = 500
E = TypeVar("E")
_CHUNK = 500
# +-inf become strings: SQLite writes them into JSON as tokens Python's json cannot read; other
# values as 17 significant digits (SQLite's JSON writes a REAL with 15, which changes 1234567890123456
# and 1/3; 17 read back to the very same double)
RUN_COLUMNS = ("id, experiment_id, experiment_path, name, status, started_at, ended_at, tags, notes, "
               "git_sha, hostname, config, (SELECT json_group_object(name, CASE WHEN value IS NULL THEN NULL "
               "WHEN value = 9e999 THEN '+inf' WHEN value = -9e999 THEN '-inf' "
               "ELSE json(printf('%!.17g', value)) END) FROM scalar_metrics WHERE run_id = runs.id) AS metrics")
_INF = {"+inf": math.inf, "-inf": -math.inf}
T = TypeVar("T")
R = TypeVar("R", bound="RunItem")


def vault_paths(root: Any) -> Vault | RepoPaths:
    """``root``: None (cwd), a path in the repository or its ``.extract`` dir, its `RepoPaths`, a
    `Vault`, or anything with a ``vault`` attribute (a `Store`). A path gives the repository's paths
    alone: the vault itself (libgit2, 60 ms to load) is opened only by a call that needs git objects."""
    if isinstance(root, RepoPaths):
        return root
    loaded = sys.modules.get("gitvault.storage.vault")  # not loaded: ``root`` cannot be a Vault
    vault_class = getattr(loaded, "Vault", None)
    if vault_class is not None:
        for candidate in (root, getattr(root, "vault", None)):
            if isinstance(candidate, vault_class):
                return candidate
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, a Store or a Vault, got {type(root).__name__}")
    return discover(None if root is None else Path(root))


def flush_in_process(run_id: str) -> None:
    """Flush the run ``run_id`` if this very process is writing it, so its newest points are read
    too. The writer is looked up among loaded modules, never imported: a process that did not
    import it writes no run, and the query layer depends on no writer."""
    writer = sys.modules.get("gitvault.runs.flusher")
    find = getattr(writer, "live_run_in_process", None)
    running = find(run_id) if callable(find) else None
    if running is not None:
        running.flush()


def check_limit(limit: Any) -> tuple[int | None, bool]:
    """(effective limit, clamped): None = no limit; ints above 500 are clamped to 500."""
    if limit is None:
        return None, False
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise QueryError(f"limit must be a positive integer or None, got {limit!r}")
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    if limit > MAX_LIMIT:
        return MAX_LIMIT, True
    return limit, False


def text_arg(value: Any, field: str) -> str:
    """A prefix or text argument: None means ""; anything but a string is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f"{field} must be a string, got {type(value).__name__}")
    return value


def counted(conn: sqlite3.Connection | sqlite3.Cursor, select: str, source: str, params: list[Any], order: str,
            limit: int | None) -> tuple[int, list[Any]]:
    """(total rows of ``source`` [with its WHERE], the first ``limit`` of them in ``order``), rows as
    ``conn``'s row factory makes them (`sqlite3.Row`, or plain tuples from `QueryBase.tuples`)."""
    total = conn.execute(f"SELECT count(*) FROM {source}", params).fetchone()[0]
    rows = conn.execute(f"SELECT {select} FROM {source} ORDER BY {order} LIMIT ?",
                        [*params, -1 if limit is None else limit]).fetchall()
    return total, rows


def page(items: list[T], total: int, clamped: bool) -> Page[T]:
    out: Page[T] = {"items": items, "total": total, "truncated": total > len(items)}
    if clamped:
        out["limit_clamped"] = True
    return out


def loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def finite_or_none(value: Any) -> Any:
    """NaN -> None (the SQLite cache cannot hold NaN, so live values read the same way)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def run_label(path: str | None, name: str | None, run_id: str) -> str:
    return f"{path or '?'}#{name or run_id}"


def chunks(seq: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def marks(n: int) -> str:
    return ", ".join("?" * n)


class QueryBase:
    """Opening, refreshing and the shared pieces of `gitvault.query.Query`."""

    def __init__(self, root: Any = None, refresh: bool = True, tip: str | None = None) -> None:
        """``tip``: the vault's tip as the caller has just read it (a short command then asks git
        once less)."""
        extras.require("query", "reading runs back (gitvault.query)")  # the caches are DuckDB's and SQLite's
        self.caches = Caches(vault_paths(root))
        self.paths = self.caches.paths
        self.auto_refresh = refresh
        self._conn: sqlite3.Connection | None = None
        self._conn_inode: int | None = None
        # a reader that must change no file, not even SQLite's -shm index (the MCP server): the
        # cache is opened immutable when its WAL holds nothing, and again whenever the files change
        self.writes_nothing = False
        self._conn_stamp: tuple[int, ...] | None = None
        self._around: SealedSince | None = None  # runs sealed after the caches' tip (writes_nothing only)
        self._config: tuple[str, VaultConfig, LocalConfig] | None = None
        self._lock = threading.RLock()
        self._fresh_at: str | None = None  # the vault tip of the last refresh
        self._stale = False  # this Query wrote since: refresh before the next read
        self._follower: spool.LiveFollower | None = None  # live runs, read incrementally
        tip = tip or self.caches.tip()
        if tip is None:
            where = self.paths.work_tree or self.paths.common_dir
            raise VaultNotInitializedError(f"{where} has no vault yet; run `git vault init` first")
        self.opened: RefreshResult | None = self._refresh_now(tip) if refresh else None
        """What the refresh on opening did (None when opened with ``refresh=False``)."""

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def vault(self) -> Vault:
        """The vault, opened on first use (see `vault_paths`)."""
        return self.caches.vault

    @property
    def extract_dir(self) -> Path:
        return self.paths.extract_dir

    def refresh(self) -> RefreshResult:
        """Bring the caches up to the vault's tip now (done before every call unless opened with
        ``refresh=False``)."""
        with self._lock:
            return self._refresh_now()

    def _refresh_now(self, tip: str | None = None) -> RefreshResult:
        result = self.caches.refresh(tip=tip)
        if result.mode != "busy":
            self._fresh_at = result.tip or ""  # the tip the caches now hold
            self._stale = False
        return result

    def wrote(self, edit: E) -> E:
        """After this Query's own write: the next read refreshes the caches, also when it does
        not follow the vault (``auto_refresh`` False, as a one-shot command opens it)."""
        self._stale = True
        return edit

    def _tip(self) -> str:
        return self.caches.tip() or ""

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
        self.caches.close()

    def __enter__(self) -> "QueryBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def db(self) -> sqlite3.Connection:
        """The read-only SQLite connection; the caches are refreshed first when the vault's tip
        moved since the last refresh (one ref lookup otherwise)."""
        with self._lock:
            if (not self.caches.sqlite_path.exists() or self._stale
                    or (self.auto_refresh and self._tip() != self._fresh_at)):
                self._refresh_now()
            inode = os.stat(self.caches.sqlite_path).st_ino
            stamp = self._files_stamp() if self.writes_nothing else None
            if self._conn is None or inode != self._conn_inode or stamp != self._conn_stamp:
                if self._conn is not None:
                    self._conn.close()
                self._conn = self._connect_immutable() if stamp is not None else self.caches.connect_sqlite()
                self._conn_stamp = stamp
                # Python's lower(), so non-ASCII text matches as in the live-run filter
                self._conn.create_function("pylower", 1, _lower, deterministic=True)
                # a param's text as a number, for `params.NAME < 3` in a `runs(where=...)` filter
                self._conn.create_function("gv_number", 1, number_of, deterministic=True)
                self._conn_inode = inode
            return self._conn

    def _files_stamp(self) -> tuple[int, ...] | None:
        """Size and mtime of the SQLite cache and its WAL, or None when the WAL holds frames (then
        the file alone is not the database, and the reader opens it as any other does)."""
        path = self.caches.sqlite_path
        try:
            wal = os.stat(f"{path}-wal")
            if wal.st_size > 32:
                return None
            wal_stamp = (wal.st_size, wal.st_mtime_ns)
        except FileNotFoundError:
            wal_stamp = (-1, -1)
        st = os.stat(path)
        return (st.st_size, st.st_mtime_ns, *wal_stamp)

    def _connect_immutable(self) -> sqlite3.Connection:
        """The cache file opened ``immutable=1``: no lock, no -wal or -shm file touched."""
        conn = sqlite3.connect(f"{self.caches.sqlite_path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    # -- metric direction ----------------------------------------------------------------------

    def direction(self, metric: str) -> str:
        """``"min"`` or ``"max"``: vault.toml lists, config.toml [metrics], then name heuristics."""
        if not isinstance(metric, str) or not metric:
            raise QueryError(f"metric must be a non-empty metric name, got {metric!r}")
        shared, local = self._configs()
        return shared.direction(metric, local)

    def view_settings(self, section: str) -> dict[str, Any]:
        """A section of ``.extract/config.toml``, the seed's view settings (``info``, ``theme``,
        ``summary``, ``compare``, ``notifications``...), as the file holds it (``{}`` when absent)."""
        return dict(self._configs()[1].section(section))

    def _configs(self) -> tuple[VaultConfig, LocalConfig]:
        tip = self._fresh_at or self._tip()  # just read by `db()` in a call that reads the caches
        local_path = self.extract_dir / "config.toml"
        try:
            stamp = f"{tip}:{local_path.stat().st_mtime_ns}"
        except FileNotFoundError:
            stamp = tip
        if self._config is None or self._config[0] != stamp:
            self._config = (stamp, self._shared_config(), LocalConfig.load(local_path))
        return self._config[1], self._config[2]

    def _shared_config(self) -> VaultConfig:
        """``vault.toml`` as the caches hold it (a refresh stores it), else from the vault."""
        row = self.db().execute("SELECT value FROM gitvault_meta WHERE key = 'vault_toml'").fetchone()
        return VaultConfig.from_toml(row[0]) if row else self.vault.config()

    # -- live runs -----------------------------------------------------------------------------

    def live_states(self, with_curves: bool = False) -> list[dict[str, Any]]:
        """Unsealed runs (status ``running``, or ``crashed`` for an orphan not yet recovered),
        minus any the cache already holds as sealed."""
        if with_curves:
            states = spool.list_live_runs(self.paths.live_dir, with_curves)
        else:  # read only what each spool appended since the last call
            if self._follower is None:
                self._follower = spool.LiveFollower(self.paths.live_dir)
            states = self._follower.states()
        states = states + [s for s in self.sealed_since().values() if s["id"] not in {t["id"] for t in states}]
        if states:
            sealed = self.sealed_ids([s["id"] for s in states])
            hidden = sqlite_cache.hidden_experiments(self.db())  # a deleted experiment hides its running runs too
            states = [s for s in states if s["id"] not in sealed and s.get("experiment_id") not in hidden]
        return states

    def live_state(self, run_id: str, with_curves: bool = False) -> dict[str, Any] | None:
        state = spool.live_run(self.paths.live_dir / run_id, with_curves)
        if state is None and self.writes_nothing:
            state = self._sealed_since_reader().state(run_id, with_curves)
        return state

    def sealed_since(self) -> dict[str, dict[str, Any]]:
        """For a reader that writes nothing (and so never refreshes): the runs sealed after the
        caches were built, read from the vault (`gitvault.query.around`); {} otherwise."""
        return self._sealed_since_reader().states() if self.writes_nothing else {}

    def sealed_since_built_at(self) -> str:
        """The vault tip the caches were built for, as their state file records it ("" when unknown)."""
        return self._sealed_since_reader().built_at()

    def _sealed_since_reader(self) -> SealedSince:
        if self._around is None:
            self._around = SealedSince(self.caches)
        return self._around

    def sealed_ids(self, ids: list[str]) -> set[str]:
        conn = self.db()
        out: set[str] = set()
        for part in chunks(ids):
            out.update(r[0] for r in conn.execute(f"SELECT id FROM runs WHERE id IN ({marks(len(part))})", part))
        return out

    # -- ids -----------------------------------------------------------------------------------

    def resolve_run(self, id_or_prefix: Any) -> str:
        """The full id of a sealed or running run from its id, a unique prefix of it, a unique run
        name, or a ``path#name`` label (as `show` and `log` print it); an ambiguous one lists the
        candidates."""
        if not isinstance(id_or_prefix, str) or not id_or_prefix.strip():
            raise RecordNotFoundError(f"Run not found: {id_or_prefix!r}")
        wanted = id_or_prefix.strip()
        conn = self.db()
        live_ids = self._live_ids()
        for candidate in dict.fromkeys((wanted, wanted.upper())):
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (candidate,)).fetchone() or candidate in live_ids:
                return candidate
        matches: set[str] = set()
        for candidate in dict.fromkeys((wanted, wanted.upper())):
            matches.update(r[0] for r in conn.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 21", (len(candidate), candidate)))
            matches.update(i for i in live_ids if i.startswith(candidate))
        if len(matches) == 1:
            return matches.pop()
        if matches:
            shown = sorted(matches)
            more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
            raise AmbiguousIdError(
                f"Run id prefix {wanted!r} is ambiguous: it matches {', '.join(shown[:10])}{more}; "
                "give more characters"
            )
        return self._resolve_name(wanted)

    def _resolve_name(self, wanted: str) -> str:
        """A run by its name, or by ``path#name``: sealed runs from the cache, running ones from
        their spool headers."""
        path, sep, name = wanted.rpartition("#")
        if sep and path:
            rows = self.db().execute("SELECT id, experiment_path, name FROM runs WHERE experiment_path = ? AND name = ?",
                                     (path, name)).fetchall()
        else:
            rows = self.db().execute("SELECT id, experiment_path, name FROM runs WHERE name = ?", (wanted,)).fetchall()
        found = {r[0]: run_label(r[1], r[2], r[0]) for r in rows}
        for state in self.live_states():
            if state.get("name") == (name if sep and path else wanted) and (not (sep and path) or
                                                                        state.get("experiment_path") == path):
                found[state["id"]] = run_label(state.get("experiment_path"), state.get("name"), state["id"])
        if len(found) == 1:
            return next(iter(found))
        if found:
            shown = [f"{rid} ({label})" for rid, label in sorted(found.items())]
            more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
            raise AmbiguousIdError(f"Run name {wanted!r} is ambiguous: it matches {', '.join(shown[:10])}{more}; "
                                   "give the id or the path#name label")
        why = self.deleted_note("run", wanted)
        # the seed's exact text (its MCP clients match it), then why, for a deleted run
        raise RecordNotFoundError(f"Run not found: {wanted!r}" + (f" ({why})" if why else ""))

    def deleted_note(self, kind: str, ident: str) -> str | None:
        """Why the run or experiment ``ident`` (an exact id), which the caches do not hold, is
        hidden: it, or an experiment above it, was deleted (naming the restore command); None
        when the vault has no such record or nothing above it is deleted."""
        from gitvault.runs import edits

        seen: set[str] = set()
        try:
            for candidate in dict.fromkeys((ident, ident.upper())):
                if not self.vault.snapshot().has(kind, candidate):
                    continue
                view: dict[str, Any] | None = edits.current(self.vault, kind, candidate)
                while view is not None and view["id"] not in seen:
                    seen.add(view["id"])
                    what = "run" if view.get("kind") == "run" else "experiment"
                    name = view["id"] if what == "run" else view.get("path") or view["id"]
                    if records.is_deleted(view):
                        lead = "" if view["id"] == candidate else f"{kind} {candidate} is in a deleted experiment: "
                        return f"{lead}{what} {name} was deleted; restore it with `git vault restore {what} {name}`"
                    up = view.get("experiment_id" if what == "run" else "parent_id")
                    view = edits.current(self.vault, "experiment", up) if up and self.vault.snapshot().has(
                        "experiment", up) else None
        except (ValueError, VaultError):  # not an id at all, or an unreadable record: not found, as before
            return None
        return None

    def _live_ids(self) -> set[str]:
        try:
            found = {n for n in os.listdir(self.paths.live_dir) if not n.startswith(".")}
        except FileNotFoundError:
            found = set()
        return found | set(self.sealed_since())

    # -- run items -----------------------------------------------------------------------------

    def tuples(self) -> sqlite3.Cursor:
        """A cursor on the cache whose rows are plain tuples."""
        cursor = self.db().cursor()
        cursor.row_factory = None
        return cursor

    def items_from_rows(self, rows: list[tuple[Any, ...]]) -> list[RunItem]:
        return [sealed_item(r) for r in rows]

    def run_items(self, ids: Iterable[str]) -> dict[str, RunItem]:
        """Run items (sealed or live) by id; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        cursor = self.tuples()
        rows: list[tuple[Any, ...]] = []
        for part in chunks(wanted):
            rows.extend(cursor.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id IN ({marks(len(part))})", part))
        out = {item["id"]: item for item in self.items_from_rows(rows)}
        for run_id in wanted:
            if run_id not in out:
                state = self.live_state(run_id)
                if state is not None:
                    out[run_id] = live_item(state)
        return out


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


def config_summary(config: Any) -> ConfigSummary:
    if not isinstance(config, dict):
        return {"n_keys": 0, "top_level_keys": []}
    return {"n_keys": _leaves(config), "top_level_keys": list(config)}


def _leaves(config: dict[str, Any]) -> int:
    """``len(flatten(config))`` without building the keys."""
    return sum(_leaves(v) if type(v) is dict and v else 1 for v in config.values())


def sealed_item(row: tuple[Any, ...]) -> RunItem:
    """A run item from a row of `RUN_COLUMNS` (a plain tuple: rows come by the thousand)."""
    rid, exp_id, path, name, status, started, ended, tags, _notes, sha, host, config, metrics_json = row
    metrics = loads(metrics_json, {})
    if metrics_json and "inf\"" in metrics_json:
        metrics = {k: _INF.get(v, v) if isinstance(v, str) else v for k, v in metrics.items()}
    return {
        "id": rid,
        "label": run_label(path, name, rid),
        "experiment_id": exp_id,
        "experiment_path": path,
        "name": name,
        "status": status,
        "started_at": started,
        "ended_at": ended,
        "tags": loads(tags, []),
        "git_sha": sha,
        "hostname": host,
        "config_summary": config_summary(loads(config, {})),
        "metrics": metrics,
    }


def live_item(state: dict[str, Any]) -> RunItem:
    return {
        "id": state["id"],
        "label": run_label(state.get("experiment_path"), state.get("name"), state["id"]),
        "experiment_id": state.get("experiment_id"),
        "experiment_path": state.get("experiment_path"),
        "name": state.get("name"),
        "status": state.get("status") or "running",
        "started_at": state.get("started_at"),
        "ended_at": None,
        "tags": list(state.get("tags") or []),
        "git_sha": (state.get("git") or {}).get("sha"),
        "hostname": state.get("hostname"),
        "config_summary": config_summary(state.get("config") or {}),
        "metrics": {k: finite_or_none(v.get("value")) for k, v in sorted((state.get("metrics") or {}).items())},
    }


def live_notes(state: dict[str, Any]) -> str:
    return records.notes_text(state)


def newest_first(items: list[R]) -> list[R]:
    return sorted(items, key=lambda r: (r.get("started_at") or "", r["id"]), reverse=True)
