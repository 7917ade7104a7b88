"""Sealed curves blobs (wide Parquet) -> one long Arrow table ``run_id, name, step, value, wall_time``.

Absent points (null in the wide form) are dropped; NaN and inf are kept. Many files are read by
one DuckDB ``read_parquet`` over the list of paths (10,000 small files in about a second); a few
are read with pyarrow, which avoids starting a DuckDB instance for an incremental refresh.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("name", pa.string()),
    ("step", pa.int64()),
    ("value", pa.float64()),
    ("wall_time", pa.float64()),
])
_SMALL = 32


def empty() -> pa.Table:
    return SCHEMA.empty_table()


def read_long(files: list[tuple[str, str]]) -> pa.Table:
    """Long points of every (path, run id), sorted by (run_id, name, step)."""
    if not files:
        return empty()
    if len(files) > _SMALL:
        return _read_many(files)
    return _read_small(files).sort_by([("run_id", "ascending"), ("name", "ascending"), ("step", "ascending")])


def read_long_each(files: list[tuple[str, str]], problems: list[str]) -> pa.Table:
    """Like `read_long`, one file at a time, naming and skipping the files that cannot be read."""
    parts = []
    for path, run_id in files:
        try:
            parts.append(_read_small([(path, run_id)]))
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"run {run_id}: curves blob {path} is unreadable ({exc}); run `git vault fsck`")
    table = pa.concat_tables(parts) if parts else empty()
    return table.sort_by([("run_id", "ascending"), ("name", "ascending"), ("step", "ascending")])


def _read_small(files: list[tuple[str, str]]) -> pa.Table:
    parts = []
    for path, run_id in files:
        wide = pq.read_table(path)
        if "step" not in wide.column_names:
            continue
        steps = wide.column("step").cast(pa.int64())
        wall = wide.column("wall_time").cast(pa.float64()) if "wall_time" in wide.column_names else pa.nulls(len(wide), pa.float64())
        for name in wide.column_names:
            if name in ("step", "wall_time"):
                continue
            col = wide.column(name).cast(pa.float64())
            keep = pc.is_valid(col)
            n = pc.sum(keep).as_py() or 0
            if not n:
                continue
            parts.append(pa.table({
                "run_id": pa.array([run_id] * n, pa.string()),
                "name": pa.array([name] * n, pa.string()),
                "step": steps.filter(keep),
                "value": col.filter(keep),
                "wall_time": wall.filter(keep),
            }, schema=SCHEMA))
    return pa.concat_tables(parts) if parts else empty()


def _read_many(files: list[tuple[str, str]]) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("curve_files", pa.table({"path": [f[0] for f in files], "run_id": [f[1] for f in files]}))
        con.execute(
            "CREATE TEMP TABLE wide AS SELECT * FROM read_parquet($paths, union_by_name = true, filename = true)",
            {"paths": sorted({f[0] for f in files})},
        )
        columns = [row[0] for row in con.execute("SELECT column_name FROM (DESCRIBE wide)").fetchall()]
        if "step" not in columns:
            return empty()
        names = [c for c in columns if c not in ("step", "wall_time", "filename")]
        if not names:
            return empty()
        wall = "CAST(wall_time AS DOUBLE)" if "wall_time" in columns else "CAST(NULL AS DOUBLE)"
        casts = ", ".join(f"CAST({quote_ident(n)} AS DOUBLE) AS {quote_ident(n)}" for n in names)
        on = ", ".join(quote_ident(n) for n in names)
        sql = f"""
            SELECT f.run_id, u.name, CAST(u.step AS BIGINT) AS step, u.value, u.wall_time
            FROM (
                UNPIVOT (SELECT filename, step, {wall} AS wall_time, {casts} FROM wide)
                ON {on} INTO NAME name VALUE value
            ) AS u JOIN curve_files AS f ON u.filename = f.path
            ORDER BY f.run_id, u.name, step
        """
        return con.sql(sql).to_arrow_table().cast(SCHEMA)
    finally:
        con.close()


def quote_ident(name: str) -> str:
    """A SQL identifier for DuckDB or SQLite, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
