"""Min/max-preserving downsampling of one curve: a spike survives however many points are dropped."""

from __future__ import annotations

import numpy as np

from gitvault.errors import QueryError

MIN_POINTS = 8


def check_max_points(max_points: object) -> int | None:
    if max_points is None:
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < MIN_POINTS:
        raise QueryError(f"max_points must be an integer >= {MIN_POINTS}, or None for every point; got {max_points!r}")
    return max_points


def downsample(steps: np.ndarray, values: np.ndarray, max_points: int | None) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: the first and last, and per bucket of consecutive points the
    lowest and highest finite value (plus the first NaN/inf, when the curve has any)."""
    n = len(steps)
    if max_points is None or n <= max_points:
        return steps, values
    finite = np.isfinite(values)
    odd = not bool(finite.all())
    buckets = max(1, (max_points - 2) // (3 if odd else 2))
    size = -(-n // buckets)
    buckets = -(-n // size)
    pad = buckets * size - n
    low = np.concatenate([np.where(finite, values, np.inf), np.full(pad, np.inf)]).reshape(buckets, size)
    high = np.concatenate([np.where(finite, values, -np.inf), np.full(pad, -np.inf)]).reshape(buckets, size)
    base = np.arange(buckets) * size
    keep = [base + low.argmin(axis=1), base + high.argmax(axis=1), np.array([0, n - 1])]
    if odd:
        bad = np.concatenate([~finite, np.zeros(pad, bool)]).reshape(buckets, size)
        has = bad.any(axis=1)
        keep.append((base + bad.argmax(axis=1))[has])
    idx = np.unique(np.concatenate(keep))
    idx = idx[idx < n]
    return steps[idx], values[idx]


def as_pairs(steps: np.ndarray, values: np.ndarray) -> list[list[float | int]]:
    """[[step, value], ...] with int steps and float values (NaN and inf kept)."""
    return [list(p) for p in zip(steps.tolist(), values.tolist())]
