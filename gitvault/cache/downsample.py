"""Min/max-preserving downsampling of curves: a spike survives however many points are dropped.

The one downsampler of gitvault: the SQLite cache keeps a bounded copy of each curve with it
(`points.chart_sample`), and the query layer's curve reads (`gitvault.query.downsample`) use it for
their ``max_points``. It needs numpy only.
"""

from __future__ import annotations

import numpy as np


def keep(values: np.ndarray, max_points: int | None) -> np.ndarray:
    """Indices (ascending) of at most ``max_points`` points of a curve worth keeping: the first and
    the last, and per bucket of consecutive points the lowest and the highest finite value (plus
    the first NaN/inf, when the curve has any). Every index when the curve is no longer than that
    (or ``max_points`` is None). The bound holds for ``max_points`` of 5 or more."""
    n = len(values)
    if max_points is None or n <= max_points:
        return np.arange(n)
    finite = np.isfinite(values)
    odd = not bool(finite.all())
    size = bucket_size(n, max_points, odd)
    buckets = -(-n // size)
    pad = buckets * size - n
    low = np.concatenate([np.where(finite, values, np.inf), np.full(pad, np.inf)]).reshape(buckets, size)
    high = np.concatenate([np.where(finite, values, -np.inf), np.full(pad, -np.inf)]).reshape(buckets, size)
    base = np.arange(buckets) * size
    chosen = [base + low.argmin(axis=1), base + high.argmax(axis=1), np.array([0, n - 1])]
    if odd:
        bad = np.concatenate([~finite, np.zeros(pad, bool)]).reshape(buckets, size)
        chosen.append((base + bad.argmax(axis=1))[bad.any(axis=1)])
    idx = np.unique(np.concatenate(chosen))
    return idx[idx < n]


def bucket_size(n: int, max_points: int, odd: bool = False) -> int:
    """How many consecutive points share one bucket when `keep` brings an ``n``-point curve to
    ``max_points`` (``odd``: the curve has NaN or inf values, so a bucket keeps three points)."""
    buckets = max(1, (max_points - 2) // (3 if odd else 2))
    return -(-n // buckets)


def shares(lengths: np.ndarray, per_curve: int, per_run: int, floor: int) -> np.ndarray:
    """How many points each of one run's curves (``lengths``) may keep: a curve keeps every point
    up to ``per_curve``, and the run's curves together keep at most ``per_run`` as long as no
    curve gets fewer than ``floor`` (then each long curve keeps ``floor``). Short curves are served
    first; what they leave is shared evenly by the longer ones."""
    out = np.minimum(lengths, per_curve)
    if int(out.sum()) <= per_run:
        return out
    left, waiting = per_run, len(lengths)
    for i in np.argsort(lengths, kind="stable"):
        out[i] = min(int(out[i]), max(floor, left // waiting))
        left -= int(out[i])
        waiting -= 1
    return out
