"""Downsampled curves for the query layer: ``max_points`` checked, points as ``[step, value]`` pairs.
The downsampler itself is the caches' (`gitvault.cache.downsample`), so both keep the same points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitvault.errors import QueryError

if TYPE_CHECKING:  # numpy loads with the first curve read, not with the query layer
    import numpy as np

MIN_POINTS = 8


def check_max_points(max_points: object) -> int | None:
    if max_points is None:
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < MIN_POINTS:
        raise QueryError(f"max_points must be an integer >= {MIN_POINTS}, or None for every point; got {max_points!r}")
    return max_points


def downsample(steps: np.ndarray, values: np.ndarray, max_points: int | None) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: the first and last, and per bucket of consecutive points the
    lowest and highest finite value (plus the first NaN/inf, when the curve has any); see
    `gitvault.cache.downsample.keep`."""
    if max_points is None or len(steps) <= max_points:
        return steps, values
    from gitvault.cache.downsample import keep

    idx = keep(values, max_points)
    return steps[idx], values[idx]


def as_pairs(steps: np.ndarray, values: np.ndarray) -> list[list[float | int]]:
    """[[step, value], ...] with int steps and float values (NaN and inf kept)."""
    return [list(p) for p in zip(steps.tolist(), values.tolist())]
