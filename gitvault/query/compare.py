"""Comparing runs (metrics with direction and ranking, config differences) and reading curves
(shapes: `gitvault.query.shapes`: `Comparison`, `RunDiff`, `RunCurves`).

Curves come from the sealed Parquet blob (wide: step, wall_time, one column per curve) or the
live spool, never from the SQLite cache's ``curve_points``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from typing import TYPE_CHECKING, Literal, TypeAlias

from gitvault.errors import BlobError, QueryError, RecordNotFoundError
from gitvault.cache.state import flatten
from gitvault.query.base import QueryBase, flush_in_process, loads
from gitvault.query.downsample import as_pairs, check_max_points, downsample
from gitvault.query.runs import rank

MAX_COMPARE = 10
if TYPE_CHECKING:  # numpy loads with the first curve read, not with the query layer
    import numpy as np

    from gitvault.query.shapes import (
        Comparison,
        CompareRun,
        FieldChanges,
        MetricComparison,
        MetricDiff,
        Points,
        RunCurves,
        RunDiff,
    )

Curves: TypeAlias = "dict[str, tuple[np.ndarray, np.ndarray]]"
_MISSING = object()


def _same_key(value: Any) -> str:
    return "\0missing" if value is _MISSING else json.dumps(value, sort_keys=True, default=str)


class CompareQueries(QueryBase):

    def metric_direction(self, metric: str) -> str:
        """``"min"``, ``"max"`` or ``"unknown"``: configured (vault.toml, config.toml) or
        recognised by name (`gitvault.settings.direction_by_name`); ``lr_used`` or ``epochs`` is
        unknown, and no front-end calls its largest value the best. (`direction` says "max" there.)"""
        if not isinstance(metric, str) or not metric:
            raise QueryError(f"metric must be a non-empty metric name, got {metric!r}")
        shared, local = self._configs()
        return shared.direction(metric, local, unknown="unknown")

    def compare_runs(self, run_ids: list[str], include_curves: bool = False, max_points: int | None = 1000,
                     curve_names: list[str] | None = None, most: int = MAX_COMPARE) -> Comparison:
        """2..10 runs side by side (``most``: another bound, for a front-end that shows more, as the
        TUI does; the seed's MCP contract keeps 10). Curves (``include_curves``) are downsampled to
        ``max_points`` per run and curve (None: every point); ``curve_names`` restricts them."""
        if isinstance(run_ids, str) or not isinstance(run_ids, (list, tuple)):
            raise QueryError(f"run_ids must be a list of run ids, got {type(run_ids).__name__}")
        if len(run_ids) < 2:
            raise QueryError(f"compare_runs requires at least 2 run_ids (got {len(run_ids)})")
        if len(run_ids) > most:
            raise QueryError(f"compare_runs accepts at most {most} run_ids (got {len(run_ids)})")
        max_points = check_max_points(max_points)
        ids: list[str] = []
        for given in run_ids:
            rid = self.resolve_run(given)
            if rid in ids:
                raise QueryError(f"compare_runs got run {rid} more than once; pass distinct runs")
            ids.append(rid)
        items = self.run_items(ids)
        configs = self.configs_of(ids)
        runs: list[CompareRun] = [{**items[i], "config": configs.get(i, {})} for i in ids]
        names = sorted({n for r in runs for n in r["metrics"]})
        metrics: dict[str, MetricComparison] = {}
        for name in names:
            by_run = {r["id"]: r["metrics"][name] for r in runs if name in r["metrics"]}
            direction = self.metric_direction(name)
            order = "max" if direction == "unknown" else direction  # listed largest first, no winner
            metrics[name] = {"direction": direction, "values": by_run,
                             "ranking": [i for i, _ in rank(list(by_run.items()), order)]}
        out: Comparison = {"runs": runs, "metrics": metrics, "config_diffs": config_diffs(ids, configs)}
        if include_curves:
            curves: dict[str, dict[str, Points]] = {}
            for rid in ids:
                arrays, _ = self.curve_arrays(rid, curve_names)
                for name, (steps, values) in arrays.items():
                    curves.setdefault(name, {})[rid] = as_pairs(*downsample(steps, values, max_points))
            out["curves"] = dict(sorted(curves.items()))
        return out

    def diff_runs(self, a: str, b: str) -> RunDiff:
        """Run ``b`` against run ``a``: config and params added/removed/changed (dotted keys) and
        metric deltas (b - a) with direction and which run is better."""
        ra, rb = self.resolve_run(a), self.resolve_run(b)
        items = self.run_items([ra, rb])
        configs = self.configs_of([ra, rb])
        params = self.params_of([ra, rb])
        metrics: dict[str, MetricDiff] = {}
        ma, mb = items[ra]["metrics"], items[rb]["metrics"]
        for name in sorted(set(ma) | set(mb)):
            va, vb = ma.get(name), mb.get(name)
            direction = self.metric_direction(name)
            delta: float | None = None
            better: Literal["a", "b", "tie"] | None = None
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and math.isfinite(va) and math.isfinite(vb):
                delta = vb - va
                if direction != "unknown":
                    better = "tie" if va == vb else "b" if (vb > va) == (direction == "max") else "a"
            metrics[name] = {"direction": direction, "a": va, "b": vb, "delta": delta, "better": better}
        return {
            "a": items[ra], "b": items[rb],
            "config": _changes(flatten(configs.get(ra, {})), flatten(configs.get(rb, {}))),
            "params": _changes(params.get(ra, {}), params.get(rb, {})),
            "metrics": metrics,
        }

    def get_curves(self, run_id: str, names: list[str] | None = None, max_points: int | None = 500) -> RunCurves:
        """Curve points of one run (sealed or live), downsampled to ``max_points`` per curve keeping
        minima and maxima; ``points`` gives each curve's full count."""
        max_points = check_max_points(max_points)
        rid = self.resolve_run(run_id)
        arrays, totals = self.curve_arrays(rid, names)
        return {
            "run_id": rid,
            "curves": {n: as_pairs(*downsample(s, v, max_points)) for n, (s, v) in arrays.items()},
            "points": totals,
        }

    # -- reading -------------------------------------------------------------------------------

    def curve_arrays(self, rid: str, names: list[str] | None = None) -> tuple[Curves, dict[str, int]]:
        """{name: (steps int64, values float64)} of a resolved run, absent points dropped."""
        if names is not None and (isinstance(names, str) or not all(isinstance(n, str) for n in names)):
            raise QueryError("names must be a list of curve names")
        row = self.db().execute("SELECT curves_blob FROM runs WHERE id = ?", (rid,)).fetchone()
        arrays = None if row is not None else self._live_curves(rid)
        if arrays is None:
            row = row or self.db().execute("SELECT curves_blob FROM runs WHERE id = ?", (rid,)).fetchone()  # sealed meanwhile
            if row is None:
                raise RecordNotFoundError(f"Run not found: {rid!r}")
            arrays = self._sealed_curves(rid, row[0], names)
        if names is not None:
            arrays = {n: arrays[n] for n in names if n in arrays}
        return arrays, {n: len(s) for n, (s, _) in arrays.items()}

    def _sealed_curves(self, rid: str, sha: str | None, names: list[str] | None) -> Curves:
        if not sha:
            return {}
        import polars as pl

        path = self.caches.blobs.path(sha)
        try:
            lazy = pl.scan_parquet(path)
            columns = [c for c in lazy.collect_schema().names() if c not in ("step", "wall_time")]
            if names is not None:
                wanted = set(names)
                columns = [c for c in columns if c in wanted]
            frame = lazy.select(["step", *columns]).collect()
        except FileNotFoundError:
            raise BlobError(f"run {rid}: its curves blob {sha} is not in {self.caches.blobs.root}; "
                            "fetch it with `git vault pull` or check with `git vault fsck`") from None
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise BlobError(f"run {rid}: its curves blob {path} cannot be read ({exc}); run `git vault fsck`") from None
        steps = frame.get_column("step").cast(pl.Int64).to_numpy()
        out: Curves = {}
        for name in columns:
            col = frame.get_column(name).cast(pl.Float64)
            if col.null_count() == 0:
                out[name] = (steps, col.to_numpy())
            else:
                valid = col.is_not_null().to_numpy()
                if valid.any():
                    out[name] = (steps[valid], col.filter(col.is_not_null()).to_numpy())
        return out

    def _live_curves(self, rid: str) -> Curves | None:
        flush_in_process(rid)
        state = self.live_state(rid, with_curves=True)
        if state is None:
            return None
        import numpy as np

        return {n: (np.asarray(c["step"], np.int64), np.asarray(c["value"], np.float64))
                for n, c in (state.get("curves") or {}).items() if len(c["step"])}

    def configs_of(self, ids: list[str]) -> dict[str, Any]:
        out = {}
        conn = self.db()
        for rid in ids:
            row = conn.execute("SELECT config FROM runs WHERE id = ?", (rid,)).fetchone()
            if row is not None:
                out[rid] = loads(row[0], {})
            else:
                state = self.live_state(rid)
                out[rid] = (state or {}).get("config") or {}
        return out

    def params_of(self, ids: list[str]) -> dict[str, dict[str, str]]:
        out = {}
        conn = self.db()
        for rid in ids:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone():
                out[rid] = dict(conn.execute("SELECT name, value FROM run_params WHERE run_id = ? ORDER BY name", (rid,)))
            else:
                state = self.live_state(rid)
                out[rid] = {k: str(v) for k, v in sorted(((state or {}).get("params") or {}).items())}
        return out


def config_diffs(ids: list[str], configs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Dotted keys where at least two runs differ (a key missing from a run counts as a
    difference; that run's value is None)."""
    flat = {i: flatten(configs.get(i, {})) for i in ids}
    keys = sorted({k for f in flat.values() for k in f})
    out = {}
    for key in keys:
        values = [flat[i].get(key, _MISSING) for i in ids]
        if len({_same_key(v) for v in values}) > 1:
            out[key] = {i: (None if v is _MISSING else v) for i, v in zip(ids, values)}
    return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> FieldChanges:
    return {
        "added": {k: b[k] for k in sorted(b) if k not in a},
        "removed": {k: a[k] for k in sorted(a) if k not in b},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(a) if k in b and _same_key(a[k]) != _same_key(b[k])},
    }
