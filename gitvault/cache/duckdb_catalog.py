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
- ``view_files`` (internal: which blob file feeds which specimen view) and ``gitvault_meta``.

DuckDB allows one writing process per file: writes happen under the cache lock in short
connections; a full rebuild writes a new file and renames it into place, so readers that hold the
old file keep reading it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa

from gitvault.blobs import BlobStore
from gitvault.cache.points import quote_ident, quote_literal
from gitvault.cache.state import CacheKey, CurveReader, Loaded, blob_path, flatten, frame_files, metric_items, param_text, to_json

TABLES = """
CREATE TABLE gitvault_meta (key VARCHAR, value VARCHAR);
CREATE TABLE catalog (
    specimen_id VARCHAR, created TIMESTAMP, domain VARCHAR, method VARCHAR, model VARCHAR,
    tags VARCHAR[], status VARCHAR, path VARCHAR);
CREATE TABLE experiments (
    experiment_id VARCHAR, path VARCHAR, name VARCHAR, parent_id VARCHAR, node_type VARCHAR,
    created TIMESTAMP, status VARCHAR, specimen_id VARCHAR, domain VARCHAR, method VARCHAR,
    model VARCHAR, tags VARCHAR[], notes VARCHAR, metadata JSON);
CREATE TABLE runs (
    run_id VARCHAR, experiment_id VARCHAR, experiment_path VARCHAR, name VARCHAR, status VARCHAR,
    started_at TIMESTAMP, ended_at TIMESTAMP, duration_s DOUBLE, hostname VARCHAR, git_sha VARCHAR,
    git_branch VARCHAR, git_dirty BOOLEAN, tags VARCHAR[], notes VARCHAR, config JSON,
    total_steps BIGINT, archived BOOLEAN, curves_blob VARCHAR, curve_points BIGINT, last_step BIGINT);
CREATE TABLE metrics (run_id VARCHAR, name VARCHAR, value DOUBLE, wall_time DOUBLE);
CREATE TABLE params (run_id VARCHAR, name VARCHAR, value VARCHAR, source VARCHAR);
CREATE TABLE tags (run_id VARCHAR, tag VARCHAR);
CREATE TABLE artifacts (
    run_id VARCHAR, artifact_id VARCHAR, name VARCHAR, kind VARCHAR, step BIGINT, path VARCHAR,
    shape JSON, dtype VARCHAR, metadata JSON, created_at TIMESTAMP);
CREATE TABLE curves (run_id VARCHAR, name VARCHAR, step BIGINT, value DOUBLE, wall_time DOUBLE);
CREATE TABLE view_files (experiment_id VARCHAR, run_id VARCHAR, path VARCHAR);
"""

RUN_TABLES = ("runs", "metrics", "params", "tags", "artifacts", "view_files")
_LOCK_ERRORS = (duckdb.IOException, duckdb.ConnectionException)


class DuckDBBusy(Exception):
    """Another connection holds the DuckDB file."""


def connect(path: Path, *, read_only: bool, wait_s: float = 5.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog, retrying briefly while a writer (or, for writers, a reader) holds it."""
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except _LOCK_ERRORS as exc:
            if "lock" not in str(exc).lower() and "different configuration" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise DuckDBBusy(str(exc)) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    try:
        return dict(con.execute("SELECT key, value FROM gitvault_meta").fetchall())
    except duckdb.Error:
        return {}


def build_file(path: Path, loaded: Loaded, key: CacheKey, blobs: BlobStore, reader: CurveReader) -> int:
    """Write a complete catalog to a new file and rename it over ``path``; returns curve points."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("BEGIN")
            for statement in TABLES.split(";"):
                if statement.strip():
                    con.execute(statement)
            points = _apply(con, loaded, blobs, reader)
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


def update(con: duckdb.DuckDBPyConnection, loaded: Loaded, key: CacheKey, blobs: BlobStore, reader: CurveReader) -> int:
    """Apply an incremental change in one transaction on an open read-write connection."""
    con.execute("BEGIN")
    try:
        points = _apply(con, loaded, blobs, reader)
        _set_meta(con, key)
        con.execute("COMMIT")
        return points
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _set_meta(con: duckdb.DuckDBPyConnection, key: CacheKey) -> None:
    con.execute("DELETE FROM gitvault_meta")
    con.executemany("INSERT INTO gitvault_meta VALUES (?, ?)", list(key.as_meta().items()))


def _ids_table(con: duckdb.DuckDBPyConnection, name: str, ids: Iterable[str]) -> None:
    con.register(name, pa.table({"id": pa.array(list(ids), pa.string())}))


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list[Any]], select: str,
            types: dict[str, pa.DataType] | None = None) -> None:
    if not columns or not next(iter(columns.values())):
        return
    types = types or {}
    arrow = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})
    con.register("_incoming", arrow)
    try:
        con.execute(f"INSERT INTO {table} SELECT {select} FROM _incoming")
    finally:
        con.unregister("_incoming")


def _apply(con: duckdb.DuckDBPyConnection, loaded: Loaded, blobs: BlobStore, reader: CurveReader) -> int:
    runs = loaded.of("run")
    exps = loaded.of("experiment")
    run_ids = loaded.touched("run")
    exp_ids = loaded.touched("experiment")
    affected_specimens: set[str] = set()
    reload_curves = [r["id"] for r in runs]

    if loaded.full:
        affected_specimens.update(e["specimen_id"] for e in exps if e.get("specimen_id"))
    else:
        _ids_table(con, "_touched_runs", run_ids)
        _ids_table(con, "_touched_exps", exp_ids)
        affected_specimens.update(row[0] for row in con.execute(
            "SELECT DISTINCT e.specimen_id FROM experiments e WHERE e.specimen_id IS NOT NULL AND ("
            " e.experiment_id IN (SELECT id FROM _touched_exps) OR e.experiment_id IN"
            " (SELECT experiment_id FROM runs WHERE run_id IN (SELECT id FROM _touched_runs)))").fetchall())
        cached = dict(con.execute(
            "SELECT run_id, curves_blob FROM runs WHERE run_id IN (SELECT id FROM _touched_runs)").fetchall())
        new_blob = {r["id"]: (r.get("curves") or {}).get("blob") for r in runs}
        stale = [i for i in run_ids if i not in cached or cached.get(i) != new_blob.get(i)]
        reload_curves = [i for i in stale if i in new_blob]
        _ids_table(con, "_stale_curves", stale)
        con.execute("DELETE FROM curves WHERE run_id IN (SELECT id FROM _stale_curves)")
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT id FROM _touched_runs)")
        con.execute("DELETE FROM experiments WHERE experiment_id IN (SELECT id FROM _touched_exps)")
        for name in ("_touched_runs", "_touched_exps", "_stale_curves"):
            con.unregister(name)

    _insert_experiments(con, exps)
    _insert_runs(con, runs, blobs)
    if reload_curves:
        long = reader.long(reload_curves)
        if long.num_rows:
            con.register("_curves", long)
            con.execute("INSERT INTO curves SELECT run_id, name, step, value, wall_time FROM _curves")
            con.unregister("_curves")
    points = int(reader.long(reload_curves).num_rows) if reload_curves else 0

    if not loaded.full:
        exp_of_runs = {r.get("experiment_id") for r in runs}
        affected_specimens.update(e["specimen_id"] for e in exps if e.get("specimen_id"))
        if exp_of_runs:
            _ids_table(con, "_exp_of_runs", [e for e in exp_of_runs if e])
            affected_specimens.update(row[0] for row in con.execute(
                "SELECT specimen_id FROM experiments WHERE specimen_id IS NOT NULL"
                " AND experiment_id IN (SELECT id FROM _exp_of_runs)").fetchall())
            con.unregister("_exp_of_runs")
    _rebuild_catalog(con)
    for specimen_id in sorted(affected_specimens):
        _specimen_view(con, specimen_id)
    return points


def _insert_experiments(con: duckdb.DuckDBPyConnection, exps: list[dict[str, Any]]) -> None:
    from gitvault import records

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


def _insert_runs(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]], blobs: BlobStore) -> None:
    from gitvault import records

    git = [r.get("git") or {} for r in runs]
    curves = [r.get("curves") or {} for r in runs]
    _insert(con, "runs", {
        "run_id": [r["id"] for r in runs],
        "experiment_id": [r.get("experiment_id") for r in runs],
        "experiment_path": [r.get("experiment_path") for r in runs],
        "name": [r.get("name") for r in runs],
        "status": [r.get("status") for r in runs],
        "started_at": [r.get("started_at") for r in runs],
        "ended_at": [r.get("ended_at") for r in runs],
        "hostname": [r.get("hostname") for r in runs],
        "git_sha": [g.get("sha") for g in git],
        "git_branch": [g.get("branch") for g in git],
        "git_dirty": [None if g.get("dirty") is None else bool(g.get("dirty")) for g in git],
        "tags": [[str(t) for t in r.get("tags") or []] for r in runs],
        "notes": [records.notes_text(r) for r in runs],
        "config": [to_json(r.get("config") or {}) for r in runs],
        "total_steps": [r.get("total_steps") if isinstance(r.get("total_steps"), int) else None for r in runs],
        "archived": [bool(r.get("archived")) for r in runs],
        "curves_blob": [c.get("blob") for c in curves],
        "curve_points": [c.get("points") if isinstance(c.get("points"), int) else None for c in curves],
        "last_step": [c.get("last_step") if isinstance(c.get("last_step"), int) else None for c in curves],
    }, "run_id, experiment_id, experiment_path, name, status, TRY_CAST(started_at AS TIMESTAMP) AS s,"
       " TRY_CAST(ended_at AS TIMESTAMP) AS e, epoch(e) - epoch(s), hostname, git_sha, git_branch, git_dirty,"
       " tags, notes, CAST(config AS JSON), total_steps, archived, curves_blob, curve_points, last_step",
       {"git_dirty": pa.bool_(), "tags": pa.list_(pa.string()), "total_steps": pa.int64(), "archived": pa.bool_(),
        "curve_points": pa.int64(), "last_step": pa.int64()})

    metrics = [(r["id"], name, value, wall) for r in runs for name, value, wall in metric_items(r)]
    _insert(con, "metrics", {
        "run_id": [m[0] for m in metrics], "name": [m[1] for m in metrics],
        "value": [m[2] for m in metrics], "wall_time": [m[3] for m in metrics],
    }, "run_id, name, value, wall_time", {"value": pa.float64(), "wall_time": pa.float64()})

    params = [(r["id"], n, param_text(v), "param") for r in runs for n, v in (r.get("params") or {}).items()]
    params += [(r["id"], n, param_text(v), "config") for r in runs for n, v in flatten(r.get("config") or {}).items()]
    _insert(con, "params", {
        "run_id": [p[0] for p in params], "name": [p[1] for p in params],
        "value": [p[2] for p in params], "source": [p[3] for p in params],
    }, "run_id, name, value, source")

    tags = [(r["id"], str(t)) for r in runs for t in r.get("tags") or []]
    _insert(con, "tags", {"run_id": [t[0] for t in tags], "tag": [t[1] for t in tags]}, "run_id, tag")

    arts = [(r["id"], a) for r in runs for a in r.get("artifacts") or []]
    _insert(con, "artifacts", {
        "run_id": [x[0] for x in arts],
        "artifact_id": [a.get("id") for _, a in arts],
        "name": [a.get("name") for _, a in arts],
        "kind": [a.get("kind") for _, a in arts],
        "step": [a.get("step") if isinstance(a.get("step"), int) else None for _, a in arts],
        "path": [str(p) if (p := blob_path(blobs, a.get("blob"))) else None for _, a in arts],
        "shape": [to_json(a.get("shape")) for _, a in arts],
        "dtype": [a.get("dtype") for _, a in arts],
        "metadata": [to_json(a.get("metadata")) for _, a in arts],
        "created_at": [a.get("created_at") for _, a in arts],
    }, "run_id, artifact_id, name, kind, step, path, CAST(shape AS JSON), dtype, CAST(metadata AS JSON),"
       " TRY_CAST(created_at AS TIMESTAMP)", {"step": pa.int64()})

    files: list[tuple[str, str, str]] = []
    for r in runs:
        sha = (r.get("curves") or {}).get("blob")
        path = blob_path(blobs, sha)
        if path is not None and path.is_file():
            files.append((r.get("experiment_id") or "", r["id"], str(path)))
        files.extend((r.get("experiment_id") or "", r["id"], p) for p in frame_files(r, blobs))
    _insert(con, "view_files", {
        "experiment_id": [f[0] for f in files], "run_id": [f[1] for f in files], "path": [f[2] for f in files],
    }, "experiment_id, run_id, path")


def view_name(specimen_id: str) -> str:
    return f"exp_{specimen_id}"


def _specimen_view(con: duckdb.DuckDBPyConnection, specimen_id: str) -> None:
    name = quote_ident(view_name(specimen_id))
    exists = con.execute("SELECT count(*) FROM experiments WHERE specimen_id = ?", [specimen_id]).fetchone()[0]
    if not exists:
        con.execute(f"DROP VIEW IF EXISTS {name}")
        return
    paths = [row[0] for row in con.execute(
        "SELECT DISTINCT f.path FROM view_files f JOIN experiments e USING (experiment_id)"
        " WHERE e.specimen_id = ? ORDER BY f.path", [specimen_id]).fetchall()]
    paths = [p for p in paths if Path(p).is_file()]
    if not paths:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS "
                    "SELECT CAST(NULL AS BIGINT) AS step, CAST(NULL AS VARCHAR) AS run_id WHERE false")
        return
    listing = ", ".join(quote_literal(p) for p in paths)
    con.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT p.* EXCLUDE (filename), f.run_id"
        f" FROM read_parquet([{listing}], union_by_name = true, filename = true) AS p"
        " JOIN (SELECT f.path, f.run_id FROM view_files f JOIN experiments e USING (experiment_id)"
        f" WHERE e.specimen_id = {quote_literal(specimen_id)}) AS f ON f.path = p.filename"
    )
