"""`git vault sql "<query>"`: one SELECT over the DuckDB catalog, run in the sandbox of
`gitvault.query.sql` (read-only, no file outside the catalog and its blobs), as a table, CSV,
JSON or Parquet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitvault.cli.cmd_runs import open_query
from gitvault.cli.output import print_json, print_table
from gitvault.errors import QueryError, VaultError

EXTRA = "query"  # its commands read through gitvault.query

FORMATS = ("table", "csv", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help="run a read-only SQL query over the DuckDB catalog",
                       description="Tables and views: catalog, exp_<specimen_id> (one per specimen), "
                                   "experiments, runs, metrics, params, tags, artifacts, curves. One SELECT "
                                   "(or EXPLAIN of one) runs, in a sandbox where SQL reads only the catalog and "
                                   "the vault's blob files and can write no file. "
                                   "Example: git vault sql \"SELECT * FROM catalog WHERE domain = "
                                   "'interpretability'\"")
    p.add_argument("query", help="one SELECT statement (quote it for the shell)")
    p.add_argument("--format", choices=FORMATS, default=None, help="output format (default: table)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--parquet", metavar="FILE", default=None, help="write the result to FILE as Parquet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.json and args.format not in (None, "json"):
        raise ValueError(f"--json and --format {args.format} contradict each other; give one")
    fmt = "json" if args.json else (args.format or "table")
    if not args.query.strip():
        raise ValueError("the SQL query is empty; e.g. git vault sql \"SELECT * FROM catalog\"")
    with open_query(args) as q:
        try:
            frame = q.sql(args.query)
        except QueryError as exc:  # DuckDB's messages span lines; errors are one line
            raise QueryError("; ".join(line.strip() for line in str(exc).splitlines() if line.strip())) from None
    if args.parquet:
        target = Path(args.parquet)
        try:
            frame.write_parquet(target)
        except OSError as exc:
            raise VaultError(f"cannot write {target}: {exc.strerror or exc}") from None
        rows = f"{frame.height} row{'s' * (frame.height != 1)}"
        print(f"wrote {rows} x {frame.width} column{'s' * (frame.width != 1)} to {target}",
              file=sys.stdout if fmt == "table" else sys.stderr)
        if args.format is None and not args.json:
            return 0
    if fmt == "json":
        print_json(frame.to_dicts())
    elif fmt == "csv":
        _flat(frame).write_csv(sys.stdout)
    else:
        print_table(frame.to_dicts(), frame.columns)
        print(f"({frame.height} row{'s' if frame.height != 1 else ''})")
    return 0


def _flat(frame: Any) -> Any:
    """CSV holds no nested values: lists and structs become JSON text; NaN and infinities are
    spelled as in every other surface (NaN, Infinity, -Infinity; polars writes inf)."""
    import polars as pl

    nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, (pl.List, pl.Array, pl.Struct))]
    odd = [name for name, dtype in frame.schema.items() if dtype in (pl.Float32, pl.Float64)
           and frame.get_column(name).is_infinite().any()]
    if odd:
        frame = frame.with_columns(
            pl.when(pl.col(name) == float("inf")).then(pl.lit("Infinity"))
            .when(pl.col(name) == float("-inf")).then(pl.lit("-Infinity"))
            .otherwise(pl.col(name).cast(pl.String)).alias(name) for name in odd)
    if not nested:
        return frame
    return frame.with_columns(pl.col(name).map_elements(_json_cell, return_dtype=pl.String) for name in nested)


def _json_cell(value: Any) -> str:
    from gitvault.cli.output import dumps_json

    if hasattr(value, "to_list"):
        value = value.to_list()
    return dumps_json(value)
