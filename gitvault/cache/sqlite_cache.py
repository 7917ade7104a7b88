"""``.extract/extract.db``: the Extract seed's SQLite schema, filled from the vault.

The seed's tables keep their exact names, columns and unique constraints; gitvault adds columns
(git facts, the archive flag of runs and experiments, record ids) and the tables ``run_links`` and ``gitvault_meta``.

Choices a reader of this file should know:

- ``scalar_metrics.step`` is 0 for every headline metric (one value per run and name, as
  ``run.log`` keeps the latest), so the seed's unique (run_id, name, step) really holds.
- ``curve_points`` holds a bounded, downsampled copy of each curve, enough to chart it: a curve of
  up to `CURVE_POINTS` (2,000) points whole, a longer one as its first and last point and each
  bucket's lowest and highest value (`downsample.keep`); a run's curves together keep at most
  `RUN_CURVE_POINTS`, no curve fewer than `CURVE_POINTS_FLOOR`. ``runs.curve_points`` still counts
  every logged point. Full curves are in the Parquet blob (``runs.curves_blob``) and DuckDB's
  ``curves``, which is where gitvault reads them; nothing in gitvault reads ``curve_points``. A
  600,000-point run costs under 1.2 MB of this file (a full copy took 40).
- SQLite cannot store NaN: a NaN headline value reads back as NULL, and NaN curve points are left
  out of ``curve_points`` (its ``value`` is NOT NULL). The vault and the DuckDB catalog keep them.
- ``artifacts.rel_path`` is relative to ``.extract`` (``objects/ab/cdef...``, the blob itself).
- ``models.artifact_path`` is the absolute path of the model's blob; a directory model is laid
  out as symlinks to its blobs under ``.extract/models/<name>/<version>/`` and that folder is the
  path (the seed's layout).
- ``models.aliases`` (gitvault's column) holds the version's folded ``alias``/``unalias`` events
  (JSON); the query layer resolves a name's aliases across its versions (`records.model_aliases`).
- ``runs.tags`` is a JSON array, ``runs.notes`` the notes joined by newlines.
- Deleted records (a ``delete`` event) have no rows at all, nor have the runs of a deleted
  experiment (`gitvault.cache.loading.hide_deleted`); their records stay in the vault.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, TypeGuard

from gitvault.storage import perms, records
from gitvault.storage.blobs import BlobStore
from gitvault.cache.state import CacheKey, CurveReader, Loaded, RunTables, SqliteRows, blob_path, int_or_none, param_text, to_json

if TYPE_CHECKING:
    import pyarrow as pa

TABLES = """
CREATE TABLE gitvault_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE experiments (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT NOT NULL,
    parent_id TEXT REFERENCES experiments(id), created_at TEXT, metadata TEXT,
    status TEXT DEFAULT 'created', node_type TEXT,
    specimen_id TEXT, domain TEXT, method TEXT, model TEXT, tags TEXT, notes TEXT,
    archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE runs (
    id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL REFERENCES experiments(id), name TEXT,
    config TEXT, started_at TEXT, ended_at TEXT, status TEXT, hostname TEXT, git_sha TEXT,
    tags TEXT, notes TEXT, total_steps INTEGER,
    experiment_path TEXT, git_branch TEXT, git_dirty INTEGER, git_tree TEXT, git_patch TEXT,
    archived INTEGER NOT NULL DEFAULT 0, env TEXT,
    curves_blob TEXT, curve_names TEXT, curve_points INTEGER, last_step INTEGER);
CREATE TABLE scalar_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT REFERENCES runs(id), step INTEGER,
    name TEXT, value REAL, wall_time REAL, UNIQUE (run_id, name, step));
CREATE TABLE curve_points (
    run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, step INTEGER NOT NULL,
    value REAL NOT NULL, wall_time REAL, PRIMARY KEY (run_id, name, step)) WITHOUT ROWID;
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY, run_id TEXT REFERENCES runs(id), name TEXT, kind TEXT, step INTEGER,
    rel_path TEXT, shape TEXT, dtype TEXT, metadata TEXT, created_at TEXT, blob TEXT, size INTEGER);
CREATE TABLE models (
    id TEXT PRIMARY KEY, name TEXT, version TEXT, run_id TEXT REFERENCES runs(id),
    artifact_path TEXT, framework TEXT, metadata TEXT, created_at TEXT,
    blob TEXT, files TEXT, size INTEGER, aliases TEXT, UNIQUE (name, version));
CREATE TABLE lineage (
    id INTEGER PRIMARY KEY AUTOINCREMENT, parent_type TEXT, parent_id TEXT, child_type TEXT,
    child_id TEXT, relation TEXT, metadata TEXT, created_at TEXT, record_id TEXT UNIQUE,
    UNIQUE (parent_type, parent_id, child_type, child_id, relation));
CREATE TABLE run_params (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT REFERENCES runs(id), name TEXT,
    value TEXT, UNIQUE (run_id, name));
CREATE TABLE hierarchy (level_order INTEGER PRIMARY KEY, level_name TEXT UNIQUE);
CREATE TABLE todos (
    id TEXT PRIMARY KEY, scope_type TEXT, scope_id TEXT, content TEXT, done INTEGER,
    priority INTEGER, created_at TEXT, completed_at TEXT);
CREATE TABLE run_links (
    id TEXT PRIMARY KEY, run_id TEXT REFERENCES runs(id), "commit" TEXT, tree TEXT, via TEXT,
    created_at TEXT);
CREATE INDEX experiments_path ON experiments(path);
CREATE INDEX experiments_parent ON experiments(parent_id);
CREATE INDEX runs_experiment ON runs(experiment_id, started_at);
CREATE INDEX runs_started ON runs(started_at, id);
CREATE INDEX runs_git_sha ON runs(git_sha);
CREATE INDEX artifacts_run ON artifacts(run_id);
CREATE INDEX models_run ON models(run_id);
CREATE INDEX lineage_parent ON lineage(parent_type, parent_id);
CREATE INDEX lineage_child ON lineage(child_type, child_id);
CREATE INDEX todos_scope ON todos(scope_type, scope_id);
CREATE INDEX run_links_run ON run_links(run_id);
CREATE INDEX run_links_commit ON run_links("commit");
"""

CURVE_POINTS = 2_000
"""``curve_points`` keeps at most this many points of a curve (first, last, each bucket's min and
max: `downsample.keep`); the full curves stay in the Parquet blobs and DuckDB's ``curves``."""
RUN_CURVE_POINTS = 12_000
"""... and at most this many of a run's curves together, unless a curve would keep fewer than
``CURVE_POINTS_FLOOR`` (`downsample.shares`). Changing any of the three: bump CACHE_SCHEMA_VERSION."""
CURVE_POINTS_FLOOR = 400

_ROWS_PER_INSERT = 50
_IDS_PER_STATEMENT = 500
_POINTS_PER_BATCH = 100_000


def connect(path: Path) -> sqlite3.Connection:
    """A read-write connection in WAL mode (the caller commits; refreshes from any thread take
    turns on the cache lock)."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-131072")  # 128 MiB at most: a big refresh must not spill pages mid-transaction
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes. A WAL database needs its ``-shm`` file to be read; when
    that cannot be created (a read-only folder, a full disk) and the WAL holds no frames, the
    file alone is the whole database and is opened ``immutable=1`` (no locks, no side files:
    nothing writes a folder no one can write)."""
    uri = path.resolve().as_uri()
    conn = _open_readonly(f"{uri}?mode=ro")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if _wal_frames(path):
            raise  # committed pages live in the WAL only: reading the file alone would be stale
    return _open_readonly(f"{uri}?mode=ro&immutable=1")


def _open_readonly(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _wal_frames(path: Path) -> bool:
    """True when ``path``'s WAL holds frames (more than its 32-byte header)."""
    try:
        return os.path.getsize(f"{path}-wal") > 32
    except OSError:
        return False


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The stored cache key; empty for a new file. A file that is no database raises."""
    try:
        return dict(conn.execute("SELECT key, value FROM gitvault_meta").fetchall())
    except sqlite3.OperationalError:  # no such table: a new or foreign file
        return {}


def write(conn: sqlite3.Connection, loaded: Loaded, key: CacheKey, blobs: BlobStore,
          extract_dir: Path, reader: CurveReader, parts: Iterable[RunTables]) -> int:
    """Apply ``loaded`` in one transaction (a full rebuild replaces every table), its runs' rows
    from ``parts`` (`Plan.parts`: written one after the other); returns the number of curve
    points read (``curve_points`` keeps a bounded sample of them)."""
    statements = [statement for statement in TABLES.split(";") if statement.strip()]
    indexes = [statement for statement in statements if statement.strip().startswith("CREATE INDEX")]
    if loaded.full:  # the file is rebuilt from the vault: a crash mid-way costs a rebuild, never data
        conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if loaded.full:
            _drop_everything(conn)
            for statement in statements:
                if statement not in indexes:
                    conn.execute(statement)
        points = _apply(conn, loaded, blobs, extract_dir, reader, parts)
        if loaded.full:  # built once over the loaded rows: cheaper than kept up row by row
            for statement in indexes:
                conn.execute(statement)
        conn.executemany("INSERT OR REPLACE INTO gitvault_meta(key, value) VALUES (?, ?)", key.as_meta().items())
        if loaded.config is not None:  # for readers that ask for metric directions without opening git
            conn.execute("INSERT OR REPLACE INTO gitvault_meta(key, value) VALUES ('vault_toml', ?)",
                         (loaded.config.to_toml(),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (disk full) may already have ended it
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the first error is the one to report
        raise
    finally:
        if loaded.full:
            with suppress(sqlite3.Error):  # a broken connection: the first error is the one to report
                conn.execute("PRAGMA synchronous=NORMAL")
    if loaded.full:
        _compact(conn)
    return points


def _compact(conn: sqlite3.Connection) -> None:
    """Give the file's free pages back when they are over a quarter of it and over 1 MiB: a rebuild
    that shrank the cache (the first one after ``curve_points`` became bounded turns 40 MB into 1)
    leaves the dropped tables' pages free inside the file. Readers keep their snapshot (WAL)."""
    free, pages, size = (conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("freelist_count", "page_count", "page_size"))
    if free * 4 > pages and free * size > 1 << 20:
        try:
            conn.execute("VACUUM")
        except sqlite3.OperationalError:  # busy or out of space: the cache is right as it is, only larger
            pass


def _drop_everything(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for kind, name in rows:
        conn.execute(f"DROP {'VIEW' if kind == 'view' else 'TABLE'} IF EXISTS \"{name.replace(chr(34), chr(34) * 2)}\"")


def _batches(ids: Iterable[str]) -> Iterator[list[str]]:
    ids = list(ids)
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[start:start + _IDS_PER_STATEMENT]


def _in(batch: list[str]) -> str:
    return f"IN ({', '.join('?' * len(batch))})"


def _delete(conn: sqlite3.Connection, table: str, column: str, ids: Iterable[str]) -> None:
    for batch in _batches(ids):
        conn.execute(f"DELETE FROM {table} WHERE {column} {_in(batch)}", batch)


def _apply(conn: sqlite3.Connection, loaded: Loaded, blobs: BlobStore, extract_dir: Path, reader: CurveReader,
           parts: Iterable[RunTables]) -> int:
    if loaded.hierarchy is not None:
        conn.execute("DELETE FROM hierarchy")
        conn.executemany("INSERT INTO hierarchy(level_order, level_name) VALUES (?, ?)", list(enumerate(loaded.hierarchy)))

    if not loaded.full:
        _delete(conn, "experiments", "id", loaded.touched("experiment"))
        _delete(conn, "models", "id", loaded.touched("model"))
        _delete(conn, "lineage", "record_id", loaded.touched("lineage"))
        _delete(conn, "todos", "id", loaded.touched("todo"))
        _delete(conn, "run_links", "id", loaded.touched("link"))
    conn.executemany("INSERT INTO experiments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
        (e["id"], e.get("path") or "", e.get("name") or "", e.get("parent_id"), e.get("created_at"),
         to_json(e.get("metadata")), e.get("status") or "created", e.get("node_type"), e.get("specimen_id"),
         e.get("domain"), e.get("method"), e.get("model"), to_json(e.get("tags") or []),
         records.notes_text(e), 1 if e.get("archived") else 0)
        for e in loaded.of("experiment")
    ])
    _keep_hidden_experiments(conn, loaded)
    points = _apply_runs(conn, loaded, parts, reader)
    conn.executemany("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
        (m["id"], m.get("name"), m.get("version"), m.get("run_id"), _model_path(m, blobs, extract_dir, reader.problems),
         m.get("framework"), to_json(m.get("metadata")), m.get("created_at"), m.get("blob"),
         to_json(m.get("files")), m.get("size"), to_json(m.get("alias_events") or []))
        for m in loaded.of("model")
    ])
    conn.executemany(
        "INSERT OR REPLACE INTO lineage(parent_type, parent_id, child_type, child_id, relation, metadata, created_at, record_id)"
        " VALUES (?,?,?,?,?,?,?,?)", [
            (x.get("parent_type"), x.get("parent_id"), x.get("child_type"), x.get("child_id"), x.get("relation"),
             to_json(x.get("metadata")), x.get("created_at"), x["id"])
            for x in loaded.of("lineage")
        ])
    conn.executemany("INSERT INTO todos VALUES (?,?,?,?,?,?,?,?)", [
        (t["id"], t.get("scope_type") or "global", t.get("scope_id"), t.get("content"), 1 if t.get("done") else 0,
         t.get("priority") or 0, t.get("created_at"), t.get("completed_at"))
        for t in loaded.of("todo")
    ])
    conn.executemany('INSERT INTO run_links(id, run_id, "commit", tree, via, created_at) VALUES (?,?,?,?,?,?)', [
        (k["id"], k.get("run_id"), k.get("commit"), k.get("tree"), k.get("via"), k.get("created_at"))
        for k in loaded.of("link")
    ])
    return points


def run_rows(runs: list[dict[str, Any]], configs: list[str | None],
             metrics: list[list[tuple[str, float | None, float | None]]]) -> SqliteRows:
    """SQLite's rows for ``runs`` (with each one's config as JSON and `metric_items`, in order),
    each run's made in one go, while its record is in the CPU's cache."""
    out: SqliteRows = {"runs": [], "scalar_metrics": [], "run_params": [], "artifacts": []}
    rows, metric_rows, param_rows, artifact_rows = out.values()
    for r, config, items in zip(runs, configs, metrics):
        run_id = r["id"]
        rows.append(_run_row(r, config))
        metric_rows.extend((run_id, name, value, wall) for name, value, wall in items)
        param_rows.extend((run_id, name, param_text(value)) for name, value in (r.get("params") or {}).items())
        artifact_rows.extend(
            (a.get("id") or f"{run_id}-{i}", run_id, a.get("name"), a.get("kind"), a.get("step"),
             _rel_blob_path(a.get("blob")), to_json(a.get("shape")), a.get("dtype"), to_json(a.get("metadata")),
             a.get("created_at"), a.get("blob"), int_or_none(a.get("size")))
            for i, a in enumerate(r.get("artifacts") or []))
    return out


HIDDEN_EXPERIMENTS = "hidden_experiments"
"""``gitvault_meta``'s key for the ids of the experiments left out as deleted or below a deleted
one (a JSON list): a reader hides the running runs of those too, which no cache holds yet."""


def _meta_value(conn: sqlite3.Connection | sqlite3.Cursor, key: str) -> str | None:
    row = conn.execute("SELECT value FROM gitvault_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def hidden_experiments(conn: sqlite3.Connection | sqlite3.Cursor) -> set[str]:
    """The experiments a reader must not show running runs of (`HIDDEN_EXPERIMENTS`)."""
    try:
        ids = json.loads(_meta_value(conn, HIDDEN_EXPERIMENTS) or "[]")
    except ValueError:
        return set()
    return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()


def _keep_hidden_experiments(conn: sqlite3.Connection, loaded: Loaded) -> None:
    """Store the hidden experiments: a full load's, or the stored ones updated by a change (which
    hides new experiments below a deleted one: a delete or restore is always a full load)."""
    hidden = {ident for kind, ident in loaded.hidden if kind == "experiment"}
    if not loaded.full:
        shown = set(loaded.views.get("experiment", {}))
        hidden |= hidden_experiments(conn) - shown
    conn.execute("INSERT OR REPLACE INTO gitvault_meta(key, value) VALUES (?, ?)",
                 (HIDDEN_EXPERIMENTS, json.dumps(sorted(hidden))))


RUN_COUNT = "run_count"
"""``gitvault_meta``'s key for the number of rows of ``runs``, kept by every write: counting a
million rows takes SQLite 20 ms, a listing's whole budget for the vault's size."""


def run_count(conn: sqlite3.Connection | sqlite3.Cursor) -> int:
    """The rows of ``runs``: as the last write stored it, else counted."""
    stored = _meta_value(conn, RUN_COUNT)
    if stored is not None and stored.isdigit():
        return int(stored)
    return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def _apply_runs(conn: sqlite3.Connection, loaded: Loaded, parts: Iterable[RunTables], reader: CurveReader) -> int:
    wanted: list[str] = []
    count = 0
    if not loaded.full:
        count = run_count(conn)
        touched = loaded.touched("run")
        cached: dict[str, str | None] = {}
        for batch in _batches(touched):
            cached.update(conn.execute(f"SELECT id, curves_blob FROM runs WHERE id {_in(batch)}", batch).fetchall())
        runs = loaded.views.get("run", {})
        new_blob = {i: (r.get("curves") or {}).get("blob") for i, r in runs.items()}
        reload_curves = [i for i in touched if i not in cached or cached.get(i) != new_blob.get(i)]
        _delete(conn, "curve_points", "run_id", reload_curves)
        for table in ("scalar_metrics", "artifacts", "run_params"):
            _delete(conn, table, "run_id", touched)
        before = conn.total_changes
        _delete(conn, "runs", "id", touched)
        count -= conn.total_changes - before
        wanted = [i for i in reload_curves if i in runs]

    points = 0
    for tables in parts:
        rows = tables.sqlite
        assert rows is not None  # SQLite's rows are in every part this process writes
        _insert_many(conn, "INSERT INTO runs VALUES ", f"({', '.join('?' * 23)})", rows["runs"])
        count += len(rows["runs"])
        _insert_many(conn, "INSERT OR REPLACE INTO scalar_metrics(run_id, step, name, value, wall_time) VALUES ",
                     "(?, 0, ?, ?, ?)", rows["scalar_metrics"])
        _insert_many(conn, "INSERT OR REPLACE INTO run_params(run_id, name, value) VALUES ", "(?, ?, ?)", rows["run_params"])
        _insert_many(conn, "INSERT OR REPLACE INTO artifacts VALUES ", f"({', '.join('?' * 12)})", rows["artifacts"])
        logged = tables.curves if loaded.full else reader.long(wanted) if wanted else None
        if logged is not None and logged.num_rows:
            from gitvault.cache import points as long_points

            _insert_points(conn, long_points.chart_sample(logged, CURVE_POINTS, RUN_CURVE_POINTS, CURVE_POINTS_FLOOR))
            points += int(logged.num_rows)
    conn.execute("INSERT OR REPLACE INTO gitvault_meta(key, value) VALUES (?, ?)", (RUN_COUNT, str(count)))
    return points


def _run_row(r: dict[str, Any], config: str | None) -> tuple[Any, ...]:
    git = r.get("git") or {}
    curves = r.get("curves") or {}
    dirty = git.get("dirty")
    return (
        r["id"], r.get("experiment_id") or "", r.get("name"), config, r.get("started_at"),
        r.get("ended_at"), r.get("status"), r.get("hostname"), git.get("sha"), to_json(r.get("tags") or []),
        records.notes_text(r), r.get("total_steps"), r.get("experiment_path"), git.get("branch"),
        None if dirty is None else int(bool(dirty)), git.get("tree"), git.get("patch"), 1 if r.get("archived") else 0,
        to_json(r.get("env")), curves.get("blob"), to_json(curves.get("names") or []), curves.get("points"),
        curves.get("last_step"),
    )


def _insert_many(conn: sqlite3.Connection, head: str, values: str, rows: Sequence[Sequence[Any]]) -> None:
    """``head`` and a ``values`` group per row, up to `_ROWS_PER_INSERT` rows a statement: binding
    and stepping once per 50 rows is faster than once per row (20% for runs; 2.5 times for a table
    with AUTOINCREMENT, whose counter is written once a statement). Fewer where the SQLite
    library allows fewer parameters a statement (999 before 3.32)."""
    most = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // max(1, values.count("?"))
    size = max(1, min(_ROWS_PER_INSERT, most))
    whole = len(rows) - len(rows) % size
    many = head + ", ".join([values] * size)
    flat = itertools.chain.from_iterable
    conn.executemany(many, (list(flat(rows[i:i + size])) for i in range(0, whole, size)))
    conn.executemany(head + values, rows[whole:])


def _insert_points(conn: sqlite3.Connection, table: pa.Table) -> None:
    """Insert long points (no NaN: SQLite cannot store it), ``_POINTS_PER_BATCH`` rows of Python
    parameters at a time: a full rebuild of a big vault inserts millions of rows."""
    import numpy as np

    words: list[Any] = []
    for name in ("run_id", "name"):
        coded = table.column(name).combine_chunks().dictionary_encode()
        words.append((np.array(coded.dictionary.to_pylist(), dtype=object), coded.indices.to_numpy()))
    steps = table.column("step").to_numpy()
    values = table.column("value").to_numpy()
    wall = table.column("wall_time").combine_chunks()
    wall_values = None if wall.null_count else wall.to_numpy()
    for start in range(0, table.num_rows, _POINTS_PER_BATCH):
        rows = slice(start, min(start + _POINTS_PER_BATCH, table.num_rows))
        columns = [dictionary[indices[rows]].tolist() for dictionary, indices in words]
        columns += [steps[rows].tolist(), values[rows].tolist(),
                    wall.slice(start, rows.stop - start).to_pylist() if wall_values is None else wall_values[rows].tolist()]
        _insert_many(conn, "INSERT OR REPLACE INTO curve_points(run_id, name, step, value, wall_time) VALUES ",
                     "(?, ?, ?, ?, ?)", list(zip(*columns)))


def _rel_blob_path(sha: Any) -> str | None:
    if not isinstance(sha, str) or len(sha) != 64:
        return None
    return f"objects/{sha[:2]}/{sha[2:]}"


def _safe_part(text: Any) -> TypeGuard[str]:
    return isinstance(text, str) and text not in ("", ".", "..") and "/" not in text and "\\" not in text and "\0" not in text


def _model_path(model: dict[str, Any], blobs: BlobStore, extract_dir: Path, problems: list[str]) -> str | None:
    if model.get("blob"):
        path = blob_path(blobs, model["blob"])
        return str(path) if path is not None else None
    files = model.get("files") or {}
    if not files:
        return None
    name, version = model.get("name"), model.get("version")
    folder = extract_dir / "models" / (name if _safe_part(name) else model["id"]) / (version if _safe_part(version) else "_")
    for rel, sha in sorted(files.items()):
        parts = Path(rel).parts
        target = blob_path(blobs, sha)
        if not parts or Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts) or target is None:
            problems.append(f"model {model['id']}: file entry {rel!r} cannot be laid out; skipped")
            continue
        link = folder.joinpath(*parts)
        try:
            perms.for_path(extract_dir).make_dirs(link.parent)
            if link.is_symlink() and os.readlink(link) == str(target):
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        except OSError as exc:
            problems.append(f"model {model['id']}: cannot link {rel!r} under {folder}: {exc}")
    return str(folder)
