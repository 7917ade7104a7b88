"""The one JSON encoding of values for every surface: `--json` output, `git vault sql --format
json`, and the MCP server's tool results.

Strict JSON (RFC 8259) has no NaN or infinity, and strict parsers reject the bare ``NaN`` that
Python's ``json`` writes by default. Non-finite floats are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``: JavaScript's and JSON5's spellings, which ``float()`` also
reads back. ``None`` stays ``null``, so "no value" and "the value was NaN" stay apart. numpy
scalars and arrays become numbers and lists; anything else JSON cannot hold (a date, a path)
becomes its ``str()``.
"""

from __future__ import annotations

import json
import math
from typing import Any

NAN, INFINITY, MINUS_INFINITY = "NaN", "Infinity", "-Infinity"


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``value`` as strict JSON text (compact unless ``indent``; the compact form uses the C encoder,
    which matters for 10,000-run listings)."""
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=_default)
    except ValueError:  # a non-finite float somewhere: clean the whole value once
        return json.dumps(clean(value), indent=indent, ensure_ascii=False, allow_nan=False, default=_default)


def clean(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string spelling (recursively)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return NAN if math.isnan(value) else (INFINITY if value > 0 else MINUS_INFINITY)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return clean(value.tolist())
    return value


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return clean(value.tolist())
    return str(value)
