"""How the CLI prints: aligned tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Iterable, Sequence

from gitvault import jsonsafe


def use_color(stream: Any = sys.stdout) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return jsonsafe.dumps(dict(sorted(value.items())))
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Any = None) -> None:
    """Aligned columns with a header; long cells are cut with an ellipsis."""
    out = out or sys.stdout
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [min(60, max(len(c), *(len(r[i]) for r in cells))) for i, c in enumerate(columns)]
    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(fit(v, w).ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON through the one value encoder (`gitvault.jsonsafe`: NaN and infinities as
    "NaN", "Infinity", "-Infinity")."""
    return jsonsafe.dumps(value, indent=indent)


def print_json(value: Any, out: Any = None) -> None:
    """Indented for a person at a terminal, compact (and fast) for scripts."""
    stream = out or sys.stdout
    stream.write(dumps_json(value, indent=2 if _isatty(stream) else None) + "\n")


def _isatty(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def print_lines(lines: Iterable[str], out: Any = None) -> None:
    out = out or sys.stdout
    for line in lines:
        out.write(line + "\n")
