"""Byte counts as people read them, for messages the core writes (errors, reports)."""

from __future__ import annotations


def human_size(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as disk tools print them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
