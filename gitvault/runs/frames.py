"""`Store.runs_frame`: the runs table as a polars DataFrame, one row per run (sealed and running),
built on the query layer's ``runs(where, sort, columns)``.

Columns: ``id, name, experiment_path, experiment_id, status, started_at, ended_at, hostname,
git_sha, tags``, then ``config.<dotted.path>`` (the config flattened), ``metrics.<name>`` and
``params.<name>``, each group sorted by name. A column's type follows its values: numbers
(Float64, or Int64 when every value is an int), booleans, text; values of mixed kinds, lists and
maps are JSON text. NaN and infinite metrics are null (the SQLite cache cannot hold NaN, and live
runs read the same way); ``started_at``/``ended_at`` are UTC datetimes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from gitvault.cache.state import flatten
from gitvault.errors import QueryError

if TYPE_CHECKING:
    import polars as pl

    from gitvault.query import Query

BASE = ("id", "name", "experiment_path", "experiment_id", "status", "started_at", "ended_at", "hostname",
        "git_sha", "tags")
"""The run columns every frame starts with, in this order."""
GROUPS = ("config.", "metrics.", "params.")
_ASKED = ["name", "experiment", "experiment_id", "status", "started", "ended", "hostname", "git_sha", "tags",
          "config", "metrics", "params"]
_RENAMED = {"experiment": "experiment_path", "started": "started_at", "ended": "ended_at"}
_TIMES = ("started_at", "ended_at")


def quoted(text: str) -> str:
    """``text`` as a quoted value of the filter language (`gitvault.query.filter`)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def under(path: str, where: str | None) -> str:
    """``where`` ANDed with: the run's experiment is ``path`` or below it."""
    scope = f"(experiment = {quoted(path)} or experiment ~ {quoted(path + '/')})"
    return scope if where is None or not where.strip() else f"{scope} and ({where})"


def rows(query: "Query", where: str | None, sort: str | Sequence[str] | None) -> list[dict[str, Any]]:
    """One flat dict per run: the `BASE` columns, then config, metrics and params by dotted name."""
    items = query.runs(where=where, sort=sort or "started", limit=None, columns=_ASKED)["items"]
    out: list[dict[str, Any]] = []
    for found in items:
        item: dict[str, Any] = dict(found)
        row: dict[str, Any] = {_RENAMED.get(k, k): v for k, v in item.items() if k not in ("config", "metrics", "params")}
        config = item.get("config")
        row.update({f"config.{k}": v for k, v in flatten(config).items()} if isinstance(config, dict) else {})
        row.update({f"metrics.{k}": v for k, v in (item.get("metrics") or {}).items()})
        row.update({f"params.{k}": v for k, v in (item.get("params") or {}).items()})
        out.append(row)
    return out


def frame(found: list[dict[str, Any]], columns: Sequence[str] | None) -> "pl.DataFrame":
    """The DataFrame of ``found`` (from `rows`): every column, or ``id`` and ``columns`` in that order."""
    import polars as pl

    names = list(BASE)
    extra = sorted({k for row in found for k in row if k not in BASE},
                   key=lambda k: (next(i for i, g in enumerate(GROUPS) if k.startswith(g)), k))
    names += extra
    if columns is not None:
        names = ["id", *[c for c in dict.fromkeys(check_columns(columns)) if c != "id"]]
    data = {name: _series(name, [row.get(name) for row in found]) for name in names}
    return pl.DataFrame(data) if data else pl.DataFrame()


def check_columns(columns: object) -> list[str]:
    """The column names asked for, or a one-line `QueryError` saying which one is wrong."""
    if isinstance(columns, str) or not isinstance(columns, (list, tuple)):
        raise QueryError(f"columns must be a list of names such as ['name', 'metrics.val/loss', 'config.lr'], "
                         f"got {columns!r}")
    for name in columns:
        if not isinstance(name, str) or not (name in BASE or (name.startswith(GROUPS) and "." in name[:-1]
                                                                and not name.endswith("."))):
            raise QueryError(f"unknown column {name!r}: use {', '.join(BASE)}, or config.PATH, metrics.NAME, "
                             "params.NAME (a name no run has gives a column of nulls)")
    return list(columns)


def _series(name: str, values: list[Any]) -> "pl.Series":
    import polars as pl

    present = [v for v in values if v is not None]
    if name in _TIMES:
        return pl.Series(name, values, dtype=pl.Utf8).str.to_datetime(time_zone="UTC", strict=False)
    if name == "tags":
        return pl.Series(name, [list(v) if isinstance(v, list) else [] for v in values], dtype=pl.List(pl.Utf8))
    if not present:
        return pl.Series(name, values, dtype=pl.Null)
    if all(isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Boolean)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if all(-(2**63) <= v < 2**63 for v in present):
            return pl.Series(name, values, dtype=pl.Int64)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    if all(isinstance(v, str) for v in present):
        return pl.Series(name, values, dtype=pl.Utf8)
    return pl.Series(name, [None if v is None else json.dumps(v, sort_keys=True, default=str) for v in values],
                     dtype=pl.Utf8)
