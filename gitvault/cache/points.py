"""Sealed curves blobs (wide Parquet) -> one long Arrow table ``run_id, name, step, value, wall_time``.

Absent points (null in the wide form) are dropped; NaN and inf are kept. Many files are read by
DuckDB ``read_parquet`` over lists of paths (10,000 small files in about a second) and unpivoted
with numpy; a few are read with pyarrow, which avoids starting DuckDB for an incremental refresh.
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


def read_long(files: list[tuple[str, str]], schemas: dict[str, tuple[str, ...]] | None = None) -> pa.Table:
    """Long points of every (path, run id), sorted by (run_id, name, step). ``schemas`` may give
    each file's curve names (from its run record): files with equal names are then scanned
    together without DuckDB's costly ``union_by_name``."""
    if not files:
        return empty()
    if len(files) > _SMALL:
        return _read_many(files, schemas or {})
    return _ordered(*_read_small(files))


def read_long_each(files: list[tuple[str, str]], problems: list[str]) -> pa.Table:
    """Like `read_long`, one file at a time, naming and skipping the files that cannot be read."""
    parts, ordered = [], True
    for path, run_id in sorted(files, key=lambda f: f[1]):
        try:
            table, ascending = _read_small([(path, run_id)])
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"run {run_id}: curves blob {path} is unreadable ({exc}); run `git vault fsck`")
            continue
        parts.append(table)
        ordered = ordered and ascending
    return _ordered(pa.concat_tables(parts) if parts else empty(), ordered)


def _ordered(table: pa.Table, ordered: bool) -> pa.Table:
    """``table`` sorted by (run_id, name, step), unless it is known to be (``ordered``)."""
    if ordered:
        return table
    return table.sort_by([("run_id", "ascending"), ("name", "ascending"), ("step", "ascending")])


def chart_sample(table: pa.Table, per_curve: int, per_run: int, floor: int) -> pa.Table:
    """The points of a long table (sorted by run, name, step) worth keeping to chart each curve:
    NaN left out, then each curve downsampled by `downsample.keep` to its share of its run's points
    (`downsample.shares`: every point up to ``per_curve``, at most ``per_run`` a run unless that
    leaves a curve fewer than ``floor``). Rows keep their order."""
    from gitvault.cache import downsample

    values = table.column("value").to_numpy()
    nan = np.isnan(values)
    if nan.any():
        table, values = table.filter(pa.array(~nan)), values[~nan]
    n = table.num_rows
    if n <= min(per_curve, per_run):
        return table
    run_key = table.column("run_id").combine_chunks().dictionary_encode().indices.to_numpy()
    name_key = table.column("name").combine_chunks().dictionary_encode().indices.to_numpy()
    starts = np.concatenate([[0], np.flatnonzero((np.diff(run_key) != 0) | (np.diff(name_key) != 0)) + 1])
    lengths = np.diff(np.append(starts, n))
    limits = np.minimum(lengths, per_curve)
    runs = run_key[starts]
    over = np.flatnonzero(np.bincount(runs, weights=limits) > per_run)
    for run in over:  # runs are sorted: a run's curves are adjacent
        mine = slice(np.searchsorted(runs, run), np.searchsorted(runs, run, side="right"))
        limits[mine] = downsample.shares(lengths[mine], per_curve, per_run, floor)
    long = np.flatnonzero(lengths > limits)
    if not len(long):
        return table
    mask = np.ones(n, dtype=bool)
    for curve in long:
        start, stop = starts[curve], starts[curve] + lengths[curve]
        mask[start:stop] = False
        mask[start + downsample.keep(values[start:stop], int(limits[curve]))] = True
    return table.filter(pa.array(mask))


def _read_small(files: list[tuple[str, str]]) -> tuple[pa.Table, bool]:
    """Long points of a few files, in (run id, name) order, and whether every curve's steps
    ascend (a sealed blob's do: the table is then sorted already)."""
    parts, ascending = [], True
    for path, run_id in sorted(files, key=lambda f: f[1]):
        wide = pq.read_table(path)
        if "step" not in wide.column_names:
            continue
        steps = wide.column("step").cast(pa.int64())
        ascending = ascending and bool(np.all(np.diff(steps.to_numpy()) > 0))
        wall = wide.column("wall_time").cast(pa.float64()) if "wall_time" in wide.column_names else pa.nulls(len(wide), pa.float64())
        for name in sorted(c for c in wide.column_names if c not in ("step", "wall_time")):
            col = wide.column(name).cast(pa.float64())
            keep = pc.is_valid(col) if col.null_count else None
            n = len(col) if keep is None else pc.sum(keep).as_py() or 0
            if not n:
                continue
            parts.append(pa.table({
                "run_id": pa.repeat(run_id, n),
                "name": pa.repeat(name, n),
                "step": steps if keep is None else steps.filter(keep),
                "value": col if keep is None else col.filter(keep),
                "wall_time": wall if keep is None else wall.filter(keep),
            }, schema=SCHEMA))
    return (pa.concat_tables(parts) if parts else empty()), ascending


def _read_many(files: list[tuple[str, str]], schemas: dict[str, tuple[str, ...]]) -> pa.Table:
    """One DuckDB scan per curve-name signature (file order = run order), unpivoted with numpy."""
    runs_of: dict[str, list[str]] = {}
    for path, run_id in files:
        runs_of.setdefault(path, []).append(run_id)
    groups: dict[tuple[str, ...] | None, list[str]] = {}
    for path in runs_of:
        groups.setdefault(schemas.get(path) or None, []).append(path)
    run_ids = sorted({r for rs in runs_of.values() for r in rs})
    rank = {r: i for i, r in enumerate(run_ids)}
    names: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array]] = []
    con = duckdb.connect()
    try:
        for signature, paths in groups.items():
            paths.sort(key=lambda p: min(runs_of[p]))
            con.execute("SET VARIABLE curve_paths = $paths", {"paths": paths})
            wide = con.sql("SELECT *, file_index FROM read_parquet(getvariable('curve_paths'), union_by_name = "
                           f"{'false' if signature else 'true'})").to_arrow_table()
            parts.extend(_unpivot(wide, [[rank[r] for r in runs_of[p]] for p in paths], names))
    finally:
        con.close()
    if not parts:
        return empty()
    run_key = np.concatenate([p[0] for p in parts])
    name_key = np.concatenate([p[1] for p in parts])
    steps = np.concatenate([p[2] for p in parts])
    values = pa.concat_arrays([p[3] for p in parts])
    wall = pa.concat_arrays([p[4] for p in parts])
    by_name = sorted(names, key=names.__getitem__)
    if not _sorted(run_key, name_key, steps):  # several names, signatures or a shared blob
        order = np.lexsort((steps, name_key, run_key))
        run_key, name_key, steps = run_key[order], name_key[order], steps[order]
        values, wall = values.take(pa.array(order)), wall.take(pa.array(order))
    return pa.table({
        "run_id": pa.array(run_ids, pa.string()).take(pa.array(run_key)),
        "name": pa.array(by_name, pa.string()).take(pa.array(name_key)),
        "step": pa.array(steps, pa.int64()),
        "value": values,
        "wall_time": wall,
    }, schema=SCHEMA)


def _unpivot(wide: pa.Table, runs_per_file: list[list[int]], names: dict[str, int]
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array]]:
    """(run key, name key, step, value, wall_time) of every present point of a wide scan."""
    curves = [c for c in wide.column_names if c not in ("step", "wall_time", "file_index")]
    if "step" not in wide.column_names or not curves or wide.num_rows == 0:
        return []
    wide = wide.combine_chunks()
    file_of = wide.column("file_index").to_numpy().astype(np.int64)
    first_run = np.array([runs[0] for runs in runs_per_file], dtype=np.int64)
    shared = [(i, r) for i, runs in enumerate(runs_per_file) for r in runs[1:]]  # one blob, several runs
    steps = wide.column("step").cast(pa.int64()).to_numpy()
    wall = (wide.column("wall_time").cast(pa.float64()) if "wall_time" in wide.column_names
            else pa.chunked_array([pa.nulls(wide.num_rows, pa.float64())])).combine_chunks()
    out = []
    for name in curves:
        key = names.setdefault(name, len(names))
        col = wide.column(name).cast(pa.float64()).combine_chunks()
        sel = (np.arange(len(col)) if col.null_count == 0
               else np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False)))
        picks = [(first_run[file_of[sel]], sel)]
        for index, run_key in shared:
            mine = sel[file_of[sel] == index]
            picks.append((np.full(len(mine), run_key, dtype=np.int64), mine))
        for run_keys, chosen in picks:
            rows = pa.array(chosen)
            out.append((run_keys, np.full(len(chosen), key, dtype=np.int64), steps[chosen], col.take(rows),
                        wall.take(rows)))
    return out


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
