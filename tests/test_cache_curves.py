"""The SQLite cache keeps a bounded, downsampled copy of each curve (issue 15, item 5): at most
`CURVE_POINTS` a curve and `RUN_CURVE_POINTS` a run, the first and last point and each bucket's
min and max kept, the same after an incremental refresh as after a rebuild; the full curves stay
in the Parquet blobs and DuckDB's ``curves``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gitvault.storage.blobs import BlobStore
from gitvault.cache import Caches, downsample, points, sqlite_cache
from gitvault.settings import VaultConfig
from gitvault.storage.vault import Vault
from tests.conftest import git
from tests.test_cache_fixture import experiment, put, run

Curve = tuple[np.ndarray, np.ndarray]


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    made = Vault.open(root)
    made.init(VaultConfig.default())
    return made


def _sqlite_curves(caches: Caches) -> dict[tuple[str, str], Curve]:
    con = caches.connect_sqlite()
    try:
        return _by_curve(con.execute("SELECT run_id, name, step, value FROM curve_points ORDER BY run_id, name, step"))
    finally:
        con.close()


def _full_curves(caches: Caches) -> dict[tuple[str, str], Curve]:
    """Every logged point but NaN, from DuckDB's ``curves`` (a copy of the Parquet blobs)."""
    duck = caches.connect_duckdb()
    try:
        return _by_curve(duck.execute("SELECT run_id, name, step, value FROM curves WHERE NOT isnan(value)"
                                      " ORDER BY run_id, name, step").fetchall())
    finally:
        duck.close()


def _by_curve(rows: Iterable[Any]) -> dict[tuple[str, str], Curve]:
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for run_id, name, step, value in rows:
        out.setdefault((run_id, name), []).append((step, value))
    return {k: (np.array([s for s, _ in v]), np.array([x for _, x in v])) for k, v in out.items()}


def _assert_sample_of(kept: Curve, full: Curve, limit: int) -> None:
    """``kept`` is a sample of ``full`` of at most ``limit`` points holding the first and last
    point and the lowest and highest value of every bucket `downsample.keep` makes."""
    (steps, values), (all_steps, all_values) = kept, full
    assert len(steps) <= limit
    if len(all_steps) <= limit:
        assert steps.tolist() == all_steps.tolist() and values.tolist() == all_values.tolist()
        return
    at = np.searchsorted(all_steps, steps)
    assert np.array_equal(all_steps[at], steps) and np.array_equal(all_values[at], values, equal_nan=True)  # real points
    assert steps[0] == all_steps[0] and steps[-1] == all_steps[-1]
    size = downsample.bucket_size(len(all_steps), limit, odd=not bool(np.isfinite(all_values).all()))
    for start in range(0, len(all_steps), size):
        bucket = slice(start, start + size)
        mine = values[(steps >= all_steps[bucket][0]) & (steps <= all_steps[bucket][-1])]
        finite = all_values[bucket][np.isfinite(all_values[bucket])]
        if len(finite):
            assert finite.min() in mine and finite.max() in mine, start


# -- the downsampler ------------------------------------------------------------------------


def test_keep_holds_first_last_and_each_buckets_min_and_max() -> None:
    rng = np.random.default_rng(7)
    values = np.cumsum(rng.normal(0, 1, 100_003))
    values[51_234] = 1e9  # a spike survives
    steps = np.arange(len(values))
    for limit in (5, 8, 101, 2_000):
        idx = downsample.keep(values, limit)
        assert len(idx) <= limit and np.all(np.diff(idx) > 0)
        assert 51_234 in idx
        _assert_sample_of((steps[idx], values[idx]), (steps, values), limit)
    assert downsample.keep(values[:2_000], 2_000).tolist() == list(range(2_000))
    assert downsample.keep(values, None).tolist() == list(range(len(values)))


def test_keep_with_inf_and_nan_stays_bounded() -> None:
    values = np.linspace(1, 0, 10_000)
    values[[10, 20, 5_000]] = [math.inf, -math.inf, math.nan]
    idx = downsample.keep(values, 300)
    assert len(idx) <= 300 and {0, 9_999, 10} <= set(idx.tolist())
    _assert_sample_of((np.arange(10_000)[idx], values[idx]), (np.arange(10_000), values), 300)


def test_shares_serve_short_curves_whole_and_split_the_rest() -> None:
    per_curve, per_run, floor = 2_000, 12_000, 400
    assert downsample.shares(np.array([10, 50_000, 3]), per_curve, per_run, floor).tolist() == [10, 2_000, 3]
    wide = downsample.shares(np.array([30_000] * 19 + [100]), per_curve, per_run, floor)
    assert wide[-1] == 100 and wide.sum() == per_run and wide[:-1].max() - wide[:-1].min() <= 1  # evenly
    many = downsample.shares(np.array([5_000] * 100), per_curve, per_run, floor)
    assert many.tolist() == [floor] * 100  # past the run's budget no curve drops below the floor


def test_chart_sample_drops_nan_and_keeps_row_order() -> None:
    n = 5_000
    values = np.sin(np.arange(n) / 100.0)
    values[[3, 4_000]] = math.nan
    table = pa.table({
        "run_id": ["a"] * n + ["b"] * 10, "name": ["loss"] * n + ["acc"] * 10,
        "step": np.concatenate([np.arange(n), np.arange(10)]), "value": np.concatenate([values, np.ones(10)]),
        "wall_time": pa.nulls(n + 10, pa.float64()),
    }, schema=points.SCHEMA)
    sample = points.chart_sample(table, 100, 1_000, 10)
    assert not np.isnan(sample.column("value").to_numpy()).any()
    kept_a = sample.filter(pc.equal(sample.column("run_id"), "a"))
    assert kept_a.num_rows <= 100 and kept_a.column("step")[0].as_py() == 0 and kept_a.column("step")[-1].as_py() == n - 1
    assert sample.filter(pc.equal(sample.column("run_id"), "b")).num_rows == 10
    assert sample.equals(sample.sort_by([("run_id", "ascending"), ("name", "ascending"), ("step", "ascending")]))
    small = table.slice(n - 50)
    assert points.chart_sample(small, 100, 1_000, 10).equals(small)


# -- the cache --------------------------------------------------------------------------------


def test_long_curves_are_bounded_in_sqlite_and_whole_in_duckdb(vault: Vault) -> None:
    blobs = BlobStore(vault.paths.objects_dir)
    exp = experiment("bench")
    long_run = run(exp, blobs, seed=1, steps=30_000, curve_names=("loss", "accuracy", "lr"), nan_at=17)
    short_run = run(exp, blobs, seed=2, steps=300)
    put(vault, exp, long_run, short_run)
    caches = Caches(vault)
    result = caches.refresh()
    assert result.points == 3 * 30_000 + 2 * 300  # every logged point was read
    kept, full = _sqlite_curves(caches), _full_curves(caches)
    assert set(kept) == set(full)
    for key, curve in kept.items():
        _assert_sample_of(curve, full[key], sqlite_cache.CURVE_POINTS)
    assert all(len(kept[(long_run["id"], n)][0]) > sqlite_cache.CURVE_POINTS * 0.9 for n in ("loss", "accuracy", "lr"))
    assert len(full[(long_run["id"], "loss")][0]) == 30_000 - 1  # the NaN is only in DuckDB
    con = caches.connect_sqlite()
    assert con.execute("SELECT curve_points FROM runs WHERE id = ?", (long_run["id"],)).fetchone()[0] == 90_000
    con.close()
    caches.close()


def test_a_wide_run_shares_its_budget_and_incremental_equals_rebuild(vault: Vault) -> None:
    blobs = BlobStore(vault.paths.objects_dir)
    exp = experiment("bench")
    first = run(exp, blobs, seed=1, steps=5_000)
    put(vault, exp, first)
    caches = Caches(vault)
    caches.refresh()
    names = tuple(f"c{i:02d}" for i in range(20))
    wide = run(exp, blobs, seed=3, steps=3_000, curve_names=names)
    put(vault, wide)
    assert caches.refresh().mode == "incremental"
    incremental = _sqlite_curves(caches)
    mine = {k: v for k, v in incremental.items() if k[0] == wide["id"]}
    assert len(mine) == 20 and sum(len(s) for s, _ in mine.values()) <= sqlite_cache.RUN_CURVE_POINTS
    full = _full_curves(caches)
    share = sqlite_cache.RUN_CURVE_POINTS // 20
    for key, curve in mine.items():
        assert len(curve[0]) >= sqlite_cache.CURVE_POINTS_FLOOR
        _assert_sample_of(curve, full[key], share)
    assert len(incremental[(first["id"], "loss")][0]) <= sqlite_cache.CURVE_POINTS
    caches.rebuild()
    assert _sqlite_curves(caches).keys() == incremental.keys()
    assert all(np.array_equal(a[0], incremental[k][0]) for k, a in _sqlite_curves(caches).items())
    caches.close()


def test_a_rebuild_gives_back_the_space_of_a_full_copy(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache built when curve_points held every point shrinks on the next rebuild."""
    blobs = BlobStore(vault.paths.objects_dir)
    exp = experiment("bench")
    put(vault, exp, run(exp, blobs, seed=1, steps=50_000))
    caches = Caches(vault)
    with monkeypatch.context() as m:
        m.setattr(sqlite_cache, "CURVE_POINTS", 10**9)
        m.setattr(sqlite_cache, "RUN_CURVE_POINTS", 10**9)
        caches.rebuild()
    caches.close()
    big = _size(caches.sqlite_path)
    assert big > 4_000_000  # 100,000 rows
    caches.rebuild()
    caches.close()
    assert _size(caches.sqlite_path) < 600_000 < big
    assert len(_sqlite_curves(caches)) == 2


def _size(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{side}") for side in ("", "-wal") if os.path.exists(f"{path}{side}"))
