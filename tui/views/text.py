"""Building lines of styled text: cut to a width with an ellipsis, pad, align columns."""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.utils import get_cwidth

Line = StyleAndTextTuples

STATUS_GLYPH = {"running": "●", "completed": "✓", "failed": "✗", "crashed": "!"}


def status_style(status: str) -> str:
    return f"class:status.{status}" if status in STATUS_GLYPH else "class:dim"


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells; a cut one ends with an ellipsis (never cut silently)."""
    if width <= 0:
        return ""
    if get_cwidth(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = get_cwidth(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def fit(line: Line, width: int) -> Line:
    """A line cut to ``width`` cells (the last fragment that overflows ends with an ellipsis)."""
    out: Line = []
    used = 0
    for style, text, *_ in line:
        w = get_cwidth(text)
        if used + w <= width:
            out.append((style, text))
            used += w
            continue
        out.append((style, cut(text, width - used)))
        break
    return out


def pad(text: str, width: int) -> str:
    text = cut(text, width)
    return text + " " * (width - get_cwidth(text))


def heading(title: str, width: int) -> Line:
    title = cut(title, max(width - 4, 1))
    return [("class:heading", f"── {title} "), ("class:rule", "─" * max(0, width - get_cwidth(title) - 4))]


def kv(key: str, value: str, width: int, key_width: int = 14, style: str = "") -> Line:
    """``key      value`` with the key column at least ``key_width`` wide (never run together)."""
    key_cells = max(key_width, get_cwidth(key) + 1)
    return fit([("class:key", pad(key, key_cells)), (style, value)], width)


def table(header: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]], width: int,
          max_col: int = 28) -> list[Line]:
    """Aligned columns: ``rows`` of (style, text) cells under a header; columns are as wide as
    their widest cell (at most ``max_col``), cut with an ellipsis."""
    widths = [min(max_col, max([get_cwidth(h)] + [get_cwidth(r[i][1]) for r in rows if i < len(r)]))
              for i, h in enumerate(header)]
    lines: list[Line] = [fit([("class:th", "  ".join(pad(h, w) for h, w in zip(header, widths)))], width)]
    for row in rows:
        line: Line = []
        for i, (style, text) in enumerate(row[:len(widths)]):
            line.append((style, pad(text, widths[i]) + ("  " if i < len(widths) - 1 else "")))
        lines.append(fit(line, width))
    return lines


def when(value: str | None) -> str:
    """``2024-12-19T10:00:00.123Z`` -> ``2024-12-19 10:00`` (UTC)."""
    return str(value).replace("T", " ")[:16] if value else ""


def duration(start: str | None, end: str | None) -> str:
    """``1h 02m``, ``3m 05s``, ``12s`` between two ISO times (end None: until now)."""
    if not start:
        return ""
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else dt.datetime.now(dt.timezone.utc)
    except ValueError:
        return ""
    seconds = max(0, int((b - a).total_seconds()))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def wrap(text: str, width: int, style: str = "", indent: str = "") -> list[Line]:
    """Text over as many lines as it needs (words kept whole when they fit)."""
    out: list[Line] = []
    for para in str(text).splitlines() or [""]:
        line = indent
        for word in para.split(" "):
            while get_cwidth(word) > width - len(indent):
                if line.strip():
                    out.append([(style, line)])
                    line = indent
                room = width - len(indent)
                out.append([(style, indent + word[:room])])
                word = word[room:]
            candidate = f"{line} {word}" if line.strip() else indent + word
            if get_cwidth(candidate) > width and line.strip():
                out.append([(style, line)])
                line = indent + word
            else:
                line = candidate
        out.append([(style, line)])
    return out


def blank() -> Line:
    return []


def plain(value: Any) -> str:
    return "" if value is None else str(value)
