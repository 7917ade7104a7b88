"""``.extract/vault.duckdb``: the Specimen Vault catalog and the cross-run tables.

- ``catalog(specimen_id, created, domain, method, model, tags VARCHAR[], status, path)``: one row
  per experiment carrying a specimen id (``created`` is a TIMESTAMP in UTC).
- ``exp_<specimen_id>``: one view per specimen, its metrics in wide form (``step``, ``wall_time``,
  ``loss``, ``accuracy``, ... plus ``run_id``), read straight from the curves blobs and the
  ``metrics`` frame artifacts of the specimen's runs (nothing is copied).
- ``experiments``, ``runs``, ``metrics`` (headline values, long), ``params`` (string params and
  the config flattened with dots; ``source`` says which), ``tags``, ``artifacts`` and ``curves``
  (long: run_id, name, step, value, wall_time; materialised so that one query over every point
  is fast). NaN is kept everywhere.
- ``view_files`` (which blob file feeds which specimen view) and ``gitvault_meta``.

``runs``, ``metrics``, ``params``, ``tags``, ``artifacts`` and ``view_files`` are views over one
table ``run_rows`` (one row per run, nested lists for the rest), so a new run is one row there
plus its points in ``curves``.

DuckDB allows one writing process per file: writes happen under the cache lock, attaching the
file only for the length of one transaction; a full rebuild writes a new file and renames it into
place, so readers that hold the old file keep reading it.

User SQL reads the file through `sandbox` only: a fresh in-memory DuckDB that attaches it
read-only, may read no other file but the blob store's, and is locked (`gitvault.query.sql`).
"""

from __future__ import annotations

import itertools
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import duckdb
import pyarrow as pa

from gitvault.storage import records
from gitvault.storage.blobs import BlobStore
from gitvault.cache.points import quote_ident, quote_literal
from gitvault.cache.state import (CacheKey, CurveReader, Loaded, RunTables, blob_path, flatten, frame_files,
                                  int_or_none, metric_items, param_text, to_json)

TABLES = """
CREATE TABLE gitvault_meta (key VARCHAR, value VARCHAR);
CREATE TABLE catalog (
    specimen_id VARCHAR, created TIMESTAMP, domain VARCHAR, method VARCHAR, model VARCHAR,
    tags VARCHAR[], status VARCHAR, path VARCHAR);
CREATE TABLE experiments (
    experiment_id VARCHAR, path VARCHAR, name VARCHAR, parent_id VARCHAR, node_type VARCHAR,
    created TIMESTAMP, status VARCHAR, specimen_id VARCHAR, domain VARCHAR, method VARCHAR,
    model VARCHAR, tags VARCHAR[], notes VARCHAR, metadata JSON);
CREATE TABLE run_rows (
    run_id VARCHAR, experiment_id VARCHAR, experiment_path VARCHAR, name VARCHAR, status VARCHAR,
    started_at TIMESTAMP, ended_at TIMESTAMP, duration_s DOUBLE, hostname VARCHAR, git_sha VARCHAR,
    git_branch VARCHAR, git_dirty BOOLEAN, tags VARCHAR[], notes VARCHAR, config JSON,
    total_steps BIGINT, archived BOOLEAN, curves_blob VARCHAR, curve_points BIGINT, last_step BIGINT,
    metric_list STRUCT(name VARCHAR, value DOUBLE, wall_time DOUBLE)[],
    param_list STRUCT(name VARCHAR, value VARCHAR, source VARCHAR)[],
    artifact_list STRUCT(artifact_id VARCHAR, name VARCHAR, kind VARCHAR, step BIGINT, path VARCHAR,
                         shape VARCHAR, dtype VARCHAR, metadata VARCHAR, created_at VARCHAR, size BIGINT)[],
    curves_path VARCHAR, curve_names VARCHAR[], frame_paths VARCHAR[]);
CREATE TABLE curves (run_id VARCHAR, name VARCHAR, step BIGINT, value DOUBLE, wall_time DOUBLE);
{run_views}
CREATE VIEW artifacts AS SELECT run_id, a.artifact_id, a.name, a.kind, a.step, a.path,
    CAST(a.shape AS JSON) AS shape, a.dtype, CAST(a.metadata AS JSON) AS metadata,
    TRY_CAST(a.created_at AS TIMESTAMP) AS created_at, a.size
    FROM (SELECT run_id, UNNEST(artifact_list) AS a FROM run_rows);
CREATE VIEW view_files AS
    SELECT experiment_id, run_id, curves_path AS path, curve_names FROM run_rows WHERE curves_path IS NOT NULL
    UNION ALL SELECT experiment_id, run_id, UNNEST(frame_paths) AS path, NULL AS curve_names FROM run_rows
"""

RUN_VIEWS = {
    "runs": "run_id, experiment_id, experiment_path, name, status, started_at, ended_at, duration_s, hostname,"
            " git_sha, git_branch, git_dirty, tags, notes, config, total_steps, archived, curves_blob,"
            " curve_points, last_step",
    "metrics": "run_id, UNNEST(metric_list, recursive := true)",
    "params": "run_id, UNNEST(param_list, recursive := true)",
    "tags": "run_id, UNNEST(tags) AS tag",
}
"""The views over ``run_rows``, each by its select list (`sandbox` adds running runs to each)."""
TABLES = TABLES.replace("{run_views}", "".join(f"CREATE VIEW {name} AS SELECT {columns} FROM run_rows;\n"
                                               for name, columns in RUN_VIEWS.items()))

_LOCK_ERRORS = (duckdb.IOException, duckdb.ConnectionException, duckdb.ResourceInUseException)
WAL_CHECKPOINT = "2MB"
ATTACHED = "gitvault_cache"
_METRIC_T = pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64()), ("wall_time", pa.float64())]))
_PARAM_T = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string()), ("source", pa.string())]))
_ARTIFACT_T = pa.list_(pa.struct([
    ("artifact_id", pa.string()), ("name", pa.string()), ("kind", pa.string()), ("step", pa.int64()),
    ("path", pa.string()), ("shape", pa.string()), ("dtype", pa.string()), ("metadata", pa.string()),
    ("created_at", pa.string()), ("size", pa.int64()),
]))
_IDS = "(SELECT UNNEST(CAST(? AS VARCHAR[])))"


class DuckDBBusy(Exception):
    """Another connection holds the DuckDB file."""


def _retry_busy(open_: Callable[[], Any], wait_s: float) -> Any:
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            return open_()
        except _LOCK_ERRORS as exc:
            text = str(exc).lower()
            if "different configuration" in text or "file handle conflict" in text:
                raise DuckDBBusy(str(exc)) from exc  # this process holds it: waiting won't help
            if "lock" not in text:
                raise
            if time.monotonic() >= deadline:
                raise DuckDBBusy(str(exc)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def connect(path: Path, *, read_only: bool, wait_s: float = 5.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog, retrying briefly while a writer (or, for writers, a reader) holds it."""
    return _retry_busy(lambda: duckdb.connect(str(path), read_only=read_only), wait_s)


def writer_instance() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB kept for the life of a `Caches`: starting DuckDB costs ~10 ms, attaching
    the file to a running instance ~1.5 ms. Closing does not checkpoint (that would rewrite row
    groups on every small refresh); DuckDB checkpoints once the WAL passes ``WAL_CHECKPOINT``,
    and readers replay the WAL when they open the file."""
    con = duckdb.connect()
    con.execute(f"PRAGMA disable_checkpoint_on_shutdown; SET checkpoint_threshold = '{WAL_CHECKPOINT}';"
                " SET parquet_metadata_cache = true")
    return con


@contextmanager
def attached(instance: duckdb.DuckDBPyConnection, path: Path, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog file attached read-write to ``instance`` as its default database."""
    _retry_busy(lambda: instance.execute(f"ATTACH {quote_literal(str(path))} AS {ATTACHED}"), wait_s)
    try:
        instance.execute(f"USE {ATTACHED}")
        yield instance
    finally:
        instance.execute(f"USE memory; DETACH {ATTACHED}")


SANDBOX_ALIAS = "vault"  # the name the catalog had when user SQL opened the file itself
SANDBOX_CONFIG: dict[str, Any] = {  # DuckDB's "Securing DuckDB" and "Securing Extensions" settings
    "autoload_known_extensions": False, "autoinstall_known_extensions": False,
    "allow_community_extensions": False, "allow_persistent_secrets": False, "python_enable_replacements": False,
}


def sandbox(path: Path, readable: list[Path], wait_s: float = 5.0,
            live: list[dict[str, Any]] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection for user SQL: a new in-memory DuckDB with the catalog at ``path`` attached
    read-only as its default database, then ``enable_external_access = false`` (no COPY, ATTACH,
    INSTALL/LOAD, file readers, globbing or network) except for the files under ``readable`` (the
    blob store whose Parquet files the ``exp_<id>`` views scan) and the attached catalog itself,
    and ``lock_configuration = true``, so no statement can change any of it. Extensions are
    neither installed nor loaded on demand, persistent secrets are not read, Python objects are
    not scanned, and DuckDB spills to ``<catalog>.tmp``, as it did for the file opened directly.

    ``live``: the states of runs not sealed yet (`gitvault.runs.spool` readers, through the query
    layer). ``runs``, ``metrics``, ``params`` and ``tags`` are then temporary views, in memory, that
    shadow the catalog's (`live_views`): its rows plus these runs', and in ``runs`` a ``live``
    column (true while a run is running)."""
    con = duckdb.connect(config={**SANDBOX_CONFIG, "temp_directory": f"{path}.tmp"})
    try:
        _retry_busy(lambda: con.execute(f"ATTACH ? AS {SANDBOX_ALIAS} (READ_ONLY)", [str(path)]), wait_s)
        con.execute(f"USE {SANDBOX_ALIAS}")
        if live is not None:
            live_views(con, live, BlobStore(readable[0]) if readable else None)
        folders = {os.path.join(folder, "") for p in readable for folder in (str(p), os.path.realpath(p))}
        con.execute("SET allowed_directories = ?", [sorted(folders)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def live_views(con: duckdb.DuckDBPyConnection, states: list[dict[str, Any]], blobs: BlobStore | None) -> None:
    """Temporary views ``runs``, ``metrics``, ``params`` and ``tags`` (they shadow the attached
    catalog's): the catalog's rows (in ``runs`` with ``live = false``), and the rows of ``states`` (unsealed runs as the spool readers give
    them, shaped like run records) not in the catalog, with ``live`` true while the run is running.
    One small in-memory table; nothing is written to the catalog file."""
    runs = [{**state, "curves": {"points": state.get("points"), "last_step": state.get("last_step")}}
            for state in states if isinstance(state.get("id"), str)]
    _insert_runs(con, runs, blobs, into="CREATE TEMP TABLE live_run_rows AS")
    catalog = f"{SANDBOX_ALIAS}.main"
    fresh = f"run_id NOT IN (SELECT run_id FROM {catalog}.run_rows)"  # sealed meanwhile: listed once
    for name, columns in RUN_VIEWS.items():
        live = (", false AS live", ", status = 'running' AS live") if name == "runs" else ("", "")
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT *{live[0]} FROM {catalog}.{name} UNION ALL"
                    f" SELECT {columns}{live[1]} FROM temp.main.live_run_rows WHERE {fresh}")


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    try:
        return dict(con.execute("SELECT key, value FROM gitvault_meta").fetchall())
    except duckdb.Error:
        return {}


def temp_path(path: Path, pid: int) -> Path:
    """The file process ``pid`` writes a new catalog to before renaming it over ``path``."""
    return path.with_name(f".{path.name}.{pid}.tmp")


def build_file(path: Path, loaded: Loaded, key: CacheKey, blobs: BlobStore, reader: CurveReader, tables: RunTables) -> int:
    """Write a complete catalog to a new file and rename it over ``path``; returns curve points."""
    tmp = temp_path(path, os.getpid())
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("BEGIN")
            for statement in TABLES.split(";"):
                if statement.strip():
                    con.execute(statement)
            points = _apply(con, loaded, blobs, reader, tables)
            _set_meta(con, key)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        Path(str(path) + ".wal").unlink(missing_ok=True)
        os.replace(tmp, path)
        return points
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def update(con: duckdb.DuckDBPyConnection, loaded: Loaded, key: CacheKey, blobs: BlobStore, reader: CurveReader,
           tables: RunTables) -> int:
    """Apply an incremental change in one transaction (``con`` from `attached`)."""
    con.execute("BEGIN")
    try:
        points = _apply(con, loaded, blobs, reader, tables)
        _set_meta(con, key)
        con.execute("COMMIT")
        return points
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _set_meta(con: duckdb.DuckDBPyConnection, key: CacheKey) -> None:
    items = list(key.as_meta().items())
    con.execute("DELETE FROM gitvault_meta")
    con.execute("INSERT INTO gitvault_meta VALUES " + ", ".join(["(?, ?)"] * len(items)),
                [v for item in items for v in item])


def _insert(con: duckdb.DuckDBPyConnection, into: str, columns: dict[str, list[Any] | pa.Array] | pa.Table, select: str,
            types: dict[str, pa.DataType] | None = None) -> None:
    """``INSERT INTO <into> SELECT <select>`` over ``columns`` (or a table); ``into`` may instead be a whole
    statement head such as ``CREATE TEMP TABLE t AS`` (made even when there are no rows)."""
    creates = into.startswith("CREATE ")
    if isinstance(columns, pa.Table):
        arrow = columns
    else:
        types = types or {}
        arrow = pa.table({k: v if isinstance(v, pa.Array) else pa.array(v, types.get(k, pa.string()))
                          for k, v in columns.items()})
    if not creates and not arrow.num_rows:
        return
    con.register("_incoming", arrow)
    try:
        con.execute(f"{into if creates else f'INSERT INTO {into}'} SELECT {select} FROM _incoming")
    finally:
        con.unregister("_incoming")


def _apply(con: duckdb.DuckDBPyConnection, loaded: Loaded, blobs: BlobStore, reader: CurveReader, tables: RunTables) -> int:
    exps = loaded.of("experiment")
    exp_ids = loaded.touched("experiment")
    specimens: set[str] = set()
    reload_curves: list[str] = []
    exps_to_check: set[str] = set()

    if loaded.full:  # every run's rows and points are in ``tables``
        specimens.update(e["specimen_id"] for e in exps if e.get("specimen_id"))
    else:
        runs = loaded.of("run")
        run_ids = loaded.touched("run")
        reload_curves = [r["id"] for r in runs]
        new_blob = {r["id"]: (r.get("curves") or {}).get("blob") for r in runs}
        exps_to_check = set(exp_ids) | {r.get("experiment_id") or "" for r in runs}
        if run_ids or exp_ids:
            cached = con.execute(
                f"SELECT 'run', run_id, curves_blob, experiment_id FROM run_rows WHERE run_id IN {_IDS}"
                f" UNION ALL SELECT 'experiment', experiment_id, specimen_id, NULL FROM experiments"
                f" WHERE experiment_id IN {_IDS}", [run_ids, exp_ids]).fetchall()
            cached_runs = {row[1]: row[2] for row in cached if row[0] == "run"}
            exps_to_check.update(row[3] for row in cached if row[0] == "run" and row[3])
            specimens.update(row[2] for row in cached if row[0] == "experiment" and row[2])
            reload_curves = [i for i in new_blob if i not in cached_runs or cached_runs[i] != new_blob[i]]
            stale = [i for i in cached_runs if i not in new_blob or cached_runs[i] != new_blob[i]]
            if stale:
                con.execute(f"DELETE FROM curves WHERE run_id IN {_IDS}", [stale])
            if cached_runs:
                con.execute(f"DELETE FROM run_rows WHERE run_id IN {_IDS}", [list(cached_runs)])
            if any(row[0] == "experiment" for row in cached):
                con.execute(f"DELETE FROM experiments WHERE experiment_id IN {_IDS}", [exp_ids])

    _insert_experiments(con, exps)
    _insert(con, "run_rows", tables.run_rows, RUN_ROWS_SELECT)
    points = 0
    if loaded.full or reload_curves:
        long = tables.curves if loaded.full else reader.long(reload_curves)
        points = long.num_rows
        if points:
            con.register("_curves", long)
            con.execute("INSERT INTO curves SELECT run_id, name, step, value, wall_time FROM _curves")
            con.unregister("_curves")

    if not loaded.full and exps_to_check:
        specimens.update(row[0] for row in con.execute(
            f"SELECT DISTINCT specimen_id FROM experiments WHERE specimen_id IS NOT NULL"
            f" AND experiment_id IN {_IDS}", [sorted(exps_to_check)]).fetchall())
    if loaded.full or exp_ids:
        _rebuild_catalog(con)
    for specimen_id in sorted(specimens):
        _specimen_view(con, specimen_id, reader.problems)
    return points


def _insert_experiments(con: duckdb.DuckDBPyConnection, exps: list[dict[str, Any]]) -> None:
    _insert(con, "experiments", {
        "experiment_id": [e["id"] for e in exps],
        "path": [e.get("path") for e in exps],
        "name": [e.get("name") for e in exps],
        "parent_id": [e.get("parent_id") for e in exps],
        "node_type": [e.get("node_type") for e in exps],
        "created": [e.get("created_at") for e in exps],
        "status": [e.get("status") or "created" for e in exps],
        "specimen_id": [e.get("specimen_id") for e in exps],
        "domain": [e.get("domain") for e in exps],
        "method": [e.get("method") for e in exps],
        "model": [e.get("model") for e in exps],
        "tags": [[str(t) for t in e.get("tags") or []] for e in exps],
        "notes": [records.notes_text(e) for e in exps],
        "metadata": [to_json(e.get("metadata")) for e in exps],
    }, "experiment_id, path, name, parent_id, node_type, TRY_CAST(created AS TIMESTAMP), status, specimen_id,"
       " domain, method, model, tags, notes, CAST(metadata AS JSON)",
       {"tags": pa.list_(pa.string())})


def _rebuild_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM catalog")
    con.execute(
        "INSERT INTO catalog SELECT specimen_id, created, domain, method, model, tags, status, path"
        " FROM experiments WHERE specimen_id IS NOT NULL ORDER BY created, specimen_id")


_int = int_or_none


RUN_ROWS_SELECT = (
    "run_id, experiment_id, experiment_path, name, status, TRY_CAST(started_at AS TIMESTAMP) AS started_at,"
    " TRY_CAST(ended_at AS TIMESTAMP) AS ended_at, epoch(TRY_CAST(ended_at AS TIMESTAMP))"
    " - epoch(TRY_CAST(started_at AS TIMESTAMP)) AS duration_s, hostname, git_sha, git_branch, git_dirty,"
    " tags, notes, CAST(config AS JSON) AS config, total_steps, archived, curves_blob, curve_points, last_step,"
    " metric_list, param_list, artifact_list, curves_path, curve_names, frame_paths")
"""What ``run_rows`` takes from a `run_rows_table` (the casts DuckDB makes)."""
_RUN_ROWS_TYPES = {
    "git_dirty": pa.bool_(), "tags": pa.list_(pa.string()), "total_steps": pa.int64(), "archived": pa.bool_(),
    "curve_points": pa.int64(), "last_step": pa.int64(), "metric_list": _METRIC_T, "param_list": _PARAM_T,
    "artifact_list": _ARTIFACT_T, "curve_names": pa.list_(pa.string()), "frame_paths": pa.list_(pa.string())}


def _insert_runs(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]], blobs: BlobStore | None, into: str) -> None:
    _insert(con, into, run_rows_table(runs, blobs), RUN_ROWS_SELECT)


_RUN_ROWS_COLUMNS = (
    "run_id", "experiment_id", "experiment_path", "name", "status", "started_at", "ended_at", "hostname", "git_sha",
    "git_branch", "git_dirty", "tags", "notes", "config", "total_steps", "archived", "curves_blob", "curve_points",
    "last_step", "metric_list", "param_list", "artifact_list", "curves_path", "curve_names", "frame_paths")


def run_rows_table(runs: list[dict[str, Any]], blobs: BlobStore | None, configs: list[str | None] | None = None,
                   metrics: list[list[tuple[str, float | None, float | None]]] | None = None) -> pa.Table:
    """DuckDB's ``run_rows`` for ``runs``, before `RUN_ROWS_SELECT`'s casts (``configs``,
    ``metrics``: each run's config as JSON and `metric_items`, when already made). Each run's
    values are made in one go (`_run_values`), while its record is in the CPU's cache."""
    if configs is None:
        configs = [to_json(r.get("config") or {}) for r in runs]
    if metrics is None:
        metrics = [metric_items(r) for r in runs]
    rows = [_run_values(r, blobs, config, items) for r, config, items in zip(runs, configs, metrics)]
    columns = list(zip(*rows)) if rows else [()] * len(_RUN_ROWS_COLUMNS)
    arrays = {}
    for name, column in zip(_RUN_ROWS_COLUMNS, columns):
        if name in ("metric_list", "param_list"):
            arrays[name] = _lists(column, _RUN_ROWS_TYPES[name])
        else:
            arrays[name] = pa.array(column, _RUN_ROWS_TYPES.get(name, pa.string()))
    return pa.table(arrays)


def _run_values(r: dict[str, Any], blobs: BlobStore | None, config: str | None,
                metrics: list[tuple[str, float | None, float | None]]) -> tuple[Any, ...]:
    """One run's values of `_RUN_ROWS_COLUMNS`, in order."""
    git = r.get("git") or {}
    curves = r.get("curves") or {}
    dirty = git.get("dirty")
    params = [(n, param_text(v), "param") for n, v in (r.get("params") or {}).items()]
    params += [(n, param_text(v), "config") for n, v in flatten(r.get("config") or {}).items()]
    artifacts = [{
        "artifact_id": a.get("id"), "name": a.get("name"), "kind": a.get("kind"), "step": _int(a.get("step")),
        "path": str(p) if (p := blob_path(blobs, a.get("blob"))) else None, "shape": to_json(a.get("shape")),
        "dtype": a.get("dtype"), "metadata": to_json(a.get("metadata")), "created_at": a.get("created_at"),
        "size": _int(a.get("size")),
    } for a in r.get("artifacts") or []]
    return (
        r["id"], r.get("experiment_id"), r.get("experiment_path"), r.get("name"), r.get("status"),
        r.get("started_at"), r.get("ended_at"), r.get("hostname"), git.get("sha"), git.get("branch"),
        None if dirty is None else bool(dirty), [str(t) for t in r.get("tags") or []], records.notes_text(r),
        config, _int(r.get("total_steps")), bool(r.get("archived")), curves.get("blob"), _int(curves.get("points")),
        _int(curves.get("last_step")), metrics, params, artifacts, _curves_path(r, blobs),
        [str(n) for n in (curves.get("names") or [])], frame_files(r, blobs),
    )


def _lists(per_run: Sequence[list[tuple[Any, ...]]], list_type: pa.ListType) -> pa.Array:
    """One list of structs per run, from each run's tuples (fields in ``list_type``'s order), built
    column by column (pyarrow converting a dict per entry costs several times more)."""
    struct = list_type.value_type
    fields = [struct.field(i) for i in range(struct.num_fields)]
    columns = [[item[i] for items in per_run for item in items] for i in range(len(fields))]
    values = pa.StructArray.from_arrays([pa.array(c, f.type) for c, f in zip(columns, fields)], fields=fields)
    offsets = pa.array(list(itertools.accumulate(map(len, per_run), initial=0)), pa.int32())
    return pa.ListArray.from_arrays(offsets, values, type=list_type)


def _curves_path(run: dict[str, Any], blobs: BlobStore | None) -> str | None:
    path = blob_path(blobs, (run.get("curves") or {}).get("blob"))
    return str(path) if path is not None and path.is_file() else None


def view_name(specimen_id: str) -> str:
    return f"exp_{specimen_id}"


def _specimen_view(con: duckdb.DuckDBPyConnection, specimen_id: str, problems: list[str]) -> None:
    name = quote_ident(view_name(specimen_id))
    row = con.execute("SELECT count(*) FROM experiments WHERE specimen_id = ?", [specimen_id]).fetchone()
    assert row is not None  # count(*) always gives one row
    if not row[0]:
        con.execute(f"DROP VIEW IF EXISTS {name}")
        return
    groups: dict[tuple[str, ...] | None, list[str]] = {}
    for path, names in con.execute(
            "SELECT DISTINCT f.path, f.curve_names FROM view_files f JOIN experiments e USING (experiment_id)"
            " WHERE e.specimen_id = ? ORDER BY f.path", [specimen_id]).fetchall():
        problem = parquet_problem(path)
        if problem is None:
            groups.setdefault(tuple(names) if names else None, []).append(path)
        else:
            problems.append(f"view {view_name(specimen_id)}: left out blob {path}: {problem}; run `git vault fsck`")
    _create_view(con, name, specimen_id, groups)


def parquet_problem(path: str) -> str | None:
    """A cheap check that catches missing and truncated Parquet files before DuckDB binds a view
    over them (a failed CREATE VIEW would abort the whole refresh transaction)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            size = fh.seek(0, os.SEEK_END)
            if size < 12:
                return "too short to be Parquet"
            fh.seek(size - 8)
            tail = fh.read(8)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    footer = int.from_bytes(tail[:4], "little")
    if head != b"PAR1" or tail[4:] != b"PAR1" or footer > size - 12:
        return "not a whole Parquet file (truncated?)"
    return None


def _create_view(con: duckdb.DuckDBPyConnection, name: str, specimen_id: str,
                 groups: dict[tuple[str, ...] | None, list[str]]) -> None:
    """Curves blobs with one set of curve names are scanned together without ``union_by_name``
    (binding reads one file's schema, not every file's); frames and unknown schemas use it."""
    if not groups:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS "
                    "SELECT CAST(NULL AS BIGINT) AS step, CAST(NULL AS VARCHAR) AS run_id WHERE false")
        return
    scans = [
        f"SELECT * FROM read_parquet([{', '.join(quote_literal(p) for p in paths)}], filename = true"
        f"{'' if names else ', union_by_name = true'})"
        for names, paths in sorted(groups.items(), key=lambda g: (g[0] is None, g[0] or ()))
    ]
    con.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT p.* EXCLUDE (filename), f.run_id"
        f" FROM ({' UNION ALL BY NAME '.join(scans)}) AS p"
        " JOIN (SELECT f.path, f.run_id FROM view_files f JOIN experiments e USING (experiment_id)"
        f" WHERE e.specimen_id = {quote_literal(specimen_id)}) AS f ON f.path = p.filename"
    )
