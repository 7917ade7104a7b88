"""How values read to people, on every surface (the CLI's tables, the TUI's panels): numbers,
config values, tag lists, metric groups. JSON output goes through `gitvault.jsonsafe` instead."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from gitvault import jsonsafe

V = TypeVar("V")


SPELLED = {"nan": jsonsafe.NAN, "inf": jsonsafe.INFINITY, "-inf": jsonsafe.MINUS_INFINITY,
           jsonsafe.NAN: jsonsafe.NAN, jsonsafe.INFINITY: jsonsafe.INFINITY, jsonsafe.MINUS_INFINITY: jsonsafe.MINUS_INFINITY}


def finite(value: Any) -> bool:
    """A number that can be the best of a column: not a bool, NaN or an infinity."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any) -> str:
    """A metric in a table: 4 significant digits below 10,000 (0.8981), every digit of the
    integer part above (123456.8, not 1.235e+05), integers as they are; NaN and infinities
    spelled as every surface spells them (`gitvault.jsonsafe`: NaN, Infinity, -Infinity)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(jsonsafe.clean(value))
        if abs(value) >= 1e4 and abs(value) < 1e16:
            return f"{value:.1f}".removesuffix(".0")
        return f"{value:.4g}"
    if isinstance(value, str) and value in SPELLED:
        return SPELLED[value]
    return str(value)


def value_text(value: Any) -> str:
    """A config or param value as written: ``0.3`` (not 0.30000000000000004: 15 significant
    digits, as a float32 or a sum of decimals was meant), ints with every digit, ``1.0`` stays a
    float, text as is, lists and tables as JSON; NaN and infinities as in `number`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(jsonsafe.clean(value))
        text = f"{value:.15g}"
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) if not isinstance(v, str) else jsonsafe.dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{jsonsafe.dumps(str(k))}: " + (jsonsafe.dumps(v) if isinstance(v, str) else value_text(v))
                               for k, v in value.items()) + "}"
    return "" if value is None else str(value)


def written(value: Any) -> str:
    """A config value as written: text quoted (``'cosine'``), the rest as `value_text` (0.3)."""
    return repr(value) if isinstance(value, str) else value_text(value)


def listed(items: Sequence[str], most: int = 5) -> str:
    """``a, b, c`` for a message; past ``most`` the rest are counted, never silently cut:
    ``a, b, c, d, e (and 3 more)``."""
    more = f" (and {len(items) - most} more)" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def tags_text(tags: Sequence[Any] | None, sep: str = ",") -> str:
    """Tags joined by ``sep``; a tag holding a comma, a quote or outer spaces is quoted (JSON), so
    ``["a,b", "c"]`` reads ``"a,b",c`` and never as three tags."""
    out = []
    for tag in tags or []:
        text = str(tag)
        out.append(jsonsafe.dumps(text) if ("," in text or '"' in text or text != text.strip() or not text) else text)
    return sep.join(out)


def group_of(name: str) -> str:
    """``val/loss`` -> ``val``; ``""`` for a name without ``/`` (W&B-style metric groups)."""
    head, sep, _ = name.rpartition("/")
    return head if sep else ""


def grouped(named: Mapping[str, V]) -> list[tuple[str, V]]:
    """Items ordered by group, then name: names without ``/`` first, then ``train/...``,
    ``val/...`` side by side."""
    return sorted(named.items(), key=lambda kv: (group_of(kv[0]) != "", group_of(kv[0]), kv[0]))


def headline(metric_maps: Iterable[Mapping[str, Any] | None], most: int = 6) -> list[str]:
    """The headline metrics of a listing: those at least half as common as the most common one
    (up to ``most``, the more common first, then by name), in group order (``val/acc`` beside
    ``val/loss``)."""
    counts: dict[str, int] = {}
    for metrics in metric_maps:
        for name in metrics or {}:
            counts[name] = counts.get(name, 0) + 1
    top = max(counts.values(), default=0)
    chosen = sorted((n for n in counts if 2 * counts[n] >= top), key=lambda n: (-counts[n], n))[:most]
    return [n for n, _ in grouped(dict.fromkeys(chosen))]
