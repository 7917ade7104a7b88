"""Sealed curves blobs (wide Parquet) -> one long Arrow table ``run_id, name, step, value, wall_time``.

Absent points (null in the wide form) are dropped; NaN and inf are kept. Many files are read by
one DuckDB ``read_parquet`` over the list of paths (10,000 small files in about a second) and
unpivoted with numpy; a few are read with pyarrow, which avoids starting a DuckDB instance for an
incremental refresh.
"""

from __future__ import annotations

import duckdb
import numpy as np
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
    """One DuckDB scan of every file (file order = run order), unpivoted with numpy and Arrow."""
    runs_of: dict[str, list[str]] = {}
    for path, run_id in files:
        runs_of.setdefault(path, []).append(run_id)
    paths = sorted(runs_of, key=lambda p: min(runs_of[p]))
    con = duckdb.connect()
    try:
        con.execute("SET VARIABLE curve_paths = $paths", {"paths": paths})
        wide = con.sql("SELECT *, file_index FROM read_parquet(getvariable('curve_paths'), union_by_name = true)"
                       ).to_arrow_table()
    finally:
        con.close()
    names = [c for c in wide.column_names if c not in ("step", "wall_time", "file_index")]
    if "step" not in wide.column_names or not names or wide.num_rows == 0:
        return empty()
    run_ids = sorted({r for rs in runs_of.values() for r in rs})
    rank = {r: i for i, r in enumerate(run_ids)}
    first_run = np.array([rank[runs_of[p][0]] for p in paths], dtype=np.int64)
    shared = [(i, rank[r]) for i, p in enumerate(paths) for r in runs_of[p][1:]]  # one blob, several runs
    file_of = wide.column("file_index").to_numpy().astype(np.int64)
    steps = wide.column("step").cast(pa.int64()).combine_chunks()
    wall = (wide.column("wall_time").cast(pa.float64()).combine_chunks() if "wall_time" in wide.column_names
            else pa.nulls(wide.num_rows, pa.float64()))
    keys_run, keys_name, rows = [], [], []
    for k, name in enumerate(names):
        col = wide.column(name).cast(pa.float64()).combine_chunks()
        sel = (np.arange(len(col)) if col.null_count == 0
               else np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False)))
        picks = [(first_run[file_of[sel]], sel)]
        for index, run_key in shared:
            mine = sel[file_of[sel] == index]
            picks.append((np.full(len(mine), run_key, dtype=np.int64), mine))
        for run_keys, chosen in picks:
            keys_run.append(run_keys)
            keys_name.append(np.full(len(chosen), k, dtype=np.int64))
            rows.append((k, chosen))
    run_key = np.concatenate(keys_run)
    name_key = np.concatenate(keys_name)
    row = np.concatenate([chosen for _, chosen in rows])
    step_np = steps.to_numpy()[row]
    values = pa.concat_arrays([
        wide.column(names[k]).cast(pa.float64()).combine_chunks().take(pa.array(chosen)) for k, chosen in rows
    ])
    if not _sorted(run_key, name_key, step_np):  # several curve names, or a shared blob
        order = np.lexsort((step_np, name_key, run_key))
        row, run_key, name_key, step_np = row[order], run_key[order], name_key[order], step_np[order]
        values = values.take(pa.array(order))
    return pa.table({
        "run_id": pa.array(run_ids, pa.string()).take(pa.array(run_key)),
        "name": pa.array(names, pa.string()).take(pa.array(name_key)),
        "step": pa.array(step_np, pa.int64()),
        "value": values,
        "wall_time": wall.take(pa.array(row)),
    }, schema=SCHEMA)


def _sorted(run_key: np.ndarray, name_key: np.ndarray, steps: np.ndarray) -> bool:
    """True when rows already come in (run, name, step) order (one curve per run: file order)."""
    if len(run_key) < 2:
        return True
    d_run, d_name, d_step = np.diff(run_key), np.diff(name_key), np.diff(steps)
    return bool(np.all((d_run > 0) | ((d_run == 0) & ((d_name > 0) | ((d_name == 0) & (d_step > 0))))))


def quote_ident(name: str) -> str:
    """A SQL identifier for DuckDB or SQLite, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
