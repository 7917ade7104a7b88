"""A run's artifacts as lines: matrices as colour heatmaps (or their values), markdown texts
rendered, tensors with their shape, dtype, chunks and a slice of their values. Pure functions of
the data `tui.loads.run` gives."""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from prompt_toolkit.utils import get_cwidth

from gitvault.display import number
from gitvault.tui.state import State
from gitvault.tui.views.text import Line, cut, fit, kv, pad

GRADIENT = ("#440154", "#481568", "#482677", "#453781", "#3f4788", "#39558c", "#32648e", "#2d718e",
            "#287d8e", "#238a8d", "#1f968b", "#20a386", "#29af7f", "#3dbc74", "#56c667", "#75d054",
            "#95d840", "#bade28", "#dde318", "#fde725")
"""viridis in 20 steps, dark (low) to bright (high): perceptually even, readable for the colour-blind."""
NAN_STYLE = "bg:#1e1e2e #f38ba8 bold"
"""A NaN or infinite cell: no colour of the gradient, a red mark on the terminal's dark."""
CELL = 2
"""Cells a matrix cell takes in colours (one more when the whole row fits so)."""
VALUE_MOST = 9
"""Cells a value takes at most with values shown."""
ROWS_MOST = 32
"""Rows of a matrix drawn; the rest counted."""
LABEL_MOST = 14


def switch_values(state: State) -> None:
    """``#``: the run's tables show each cell's value, or their colours again (a toast says which)."""
    state.heatmap_values = not state.heatmap_values
    state.toast(f"tables: {'each cell’s value' if state.heatmap_values else 'colours'} (# switches)", "info")


def colour(t: float) -> str:
    """The gradient's colour at ``t`` in [0, 1] (clamped)."""
    i = round(max(0.0, min(1.0, t)) * (len(GRADIENT) - 1))
    return GRADIENT[i]


def _text_on(hex_colour: str) -> str:
    """Black or white, whichever reads on the background ``hex_colour`` (on a terminal colour
    such as ``ansigreen``, the terminal's own choice of text colour)."""
    if not hex_colour.startswith("#"):
        return ""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _axis(axes: dict[str, Any] | None, keys: Sequence[str], n: int, prefix: str) -> tuple[str, list[str]]:
    """An axis's name and its ``n`` labels from ``axes`` (``{"rows": "task"}``: a name, labels are
    the indices; ``{"rows": ["a", "b"]}`` or ``{"rows": {"name": .., "labels": [..]}}``: labels);
    without axes ``R0``, ``R1``…"""
    spec = next((axes[k] for k in keys if isinstance(axes, dict) and axes.get(k) is not None), None)
    name, labels = "", None
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, list):
        labels = [str(x) for x in spec]
    elif isinstance(spec, dict):
        name = str(spec.get("name") or "")
        labels = [str(x) for x in spec["labels"]] if isinstance(spec.get("labels"), list) else None
    if labels is None or len(labels) < n:
        start = len(labels or [])
        labels = (labels or []) + [str(i) if name else f"{prefix}{i}" for i in range(start, n)]
    return name, labels[:n]


def _grid(matrix: Any) -> Any:
    import numpy as np

    arr = np.asarray(matrix)
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    if arr.ndim == 1:
        return arr.reshape(1, -1)
    return arr.reshape(arr.shape[0], -1)


def highlighted(value: float, text: str, rules: Sequence[dict[str, Any]]) -> str | None:
    """The colour of config.toml's first ``[[tables.highlight]]`` rule a cell matches (the Extract
    seed's: ``eq`` exact, ``min`` inclusive lower bound, ``max`` exclusive upper bound, ``pattern``
    a substring of the cell as shown), None when none does."""
    for rule in rules:
        if "eq" in rule and not (isinstance(rule["eq"], (int, float)) and value == rule["eq"]):
            continue
        if "min" in rule and not (isinstance(rule["min"], (int, float)) and value >= rule["min"]):
            continue
        if "max" in rule and not (isinstance(rule["max"], (int, float)) and value < rule["max"]):
            continue
        if "pattern" in rule and str(rule["pattern"]) not in text:
            continue
        return str(rule["color"]) or None
    return None


def heatmap(matrix: Any, width: int, axes: dict[str, Any] | None = None, zoom: bool = False,
            highlight: Sequence[dict[str, Any]] = ()) -> list[Line]:
    """A matrix as a heatmap: each cell coloured by the viridis gradient between the matrix's finite
    minimum and maximum (a colour bar says which is which), rows and columns labelled from
    ``axes`` (else R0.., C0..); ``zoom``: each cell's value on its colour. A cell that a
    ``highlight`` rule matches takes that rule's colour instead. What does not fit is counted
    below; NaN and infinite cells are marked, never coloured. A 3-D or bigger matrix is drawn with
    its trailing axes flattened into columns."""
    import numpy as np

    grid = _grid(matrix)
    rows, cols = grid.shape
    try:
        values = grid.astype(float)
    except (TypeError, ValueError):
        return [[("class:dim", f"(a {grid.dtype} matrix of {rows}x{cols}: not numbers, no heatmap)")]]
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    row_name, row_labels = _axis(axes, ("rows", "row", "y"), min(rows, ROWS_MOST), "R")
    col_name, col_labels = _axis(axes, ("cols", "columns", "col", "x"), cols, "C")
    label_w = min(LABEL_MOST, max([get_cwidth(x) for x in row_labels] + [get_cwidth(row_name), 2]) + 1)
    if zoom:
        shown_texts = [number(_py(v)) for v in grid[:ROWS_MOST].reshape(-1)[:4096]]
        cell = min(VALUE_MOST, max([get_cwidth(t) for t in shown_texts] + [3])) + 1
    else:  # 3 cells wide when all columns fit so (labels up to 2 characters over each), else 2
        cell = CELL + 1 if label_w + cols * (CELL + 1) <= width else CELL
    fits = max(1, (width - label_w) // cell)
    shown_rows, shown_cols = min(rows, ROWS_MOST), min(cols, fits)
    out: list[Line] = []
    if row_name or col_name:
        out.append(fit([("class:dim", "rows: "), ("class:key", row_name or "(unnamed)"), ("class:dim", " · columns: "),
                        ("class:key", col_name or "(unnamed)")], width))
    out.append(fit([("class:th", " " * label_w), ("class:th", _column_ticks(col_labels[:shown_cols], cell))], width))
    span = high - low
    for i in range(shown_rows):
        line: Line = [("class:th", pad(row_labels[i], label_w))]
        for j in range(shown_cols):
            v = float(values[i, j])
            if not math.isfinite(v):
                mark = "NaN" if math.isnan(v) else ("+inf" if v > 0 else "-inf")
                line.append((NAN_STYLE, pad(mark if zoom else ("×" if math.isnan(v) else mark[0] + "∞"), cell)))
                continue
            shown = number(_py(grid[i, j]))
            bg = (highlighted(v, shown, highlight) if highlight else None) or colour((v - low) / span if span > 0 else 0.5)
            text = pad(shown, cell - 1) + " " if zoom else " " * cell
            line.append((f"bg:{bg} {_text_on(bg)}", text))
        out.append(line)
    out.append(colour_bar(low, high, width, bool(finite.size), int(values.size - finite.size)))
    more = left_out(rows, cols, shown_rows, shown_cols)
    if more:
        out.append(fit([("class:warn", f"({more} not shown of {rows}x{cols})")], width))
    return out


def left_out(rows: int, cols: int, shown_rows: int, shown_cols: int) -> str:
    """``12 more rows, 3 more columns``: what of a ``rows`` x ``cols`` matrix is not shown."""
    more = []
    if rows > shown_rows:
        more.append(f"{rows - shown_rows} more rows")
    if cols > shown_cols:
        more.append(f"{cols - shown_cols} more columns")
    return ", ".join(more)


def _column_ticks(labels: list[str], cell: int) -> str:
    """Column labels over their cells, each where it starts; one that would run into the one
    before is left out (its column keeps its place)."""
    text = ""
    for j, label in enumerate(labels):
        at = j * cell
        if len(text) > at:
            continue
        label = cut(label, max(cell - 1, 1)) if cell > 2 else label
        if at + get_cwidth(label) > len(labels) * cell:
            break
        text = pad(text, at) + label + " "
    return text.rstrip()


def colour_bar(low: float, high: float, width: int, any_finite: bool = True, bad: int = 0) -> Line:
    """``min ▮▮▮…▮ max`` in the gradient's colours; NaN and infinite cells counted after it."""
    line: Line = [("class:dim", "  min "), ("", number(low) if any_finite else "–"), ("", " ")]
    line += [(f"bg:{c}", " ") for c in GRADIENT]
    line += [("", " "), ("class:dim", "max "), ("", number(high) if any_finite else "–")]
    if bad:
        line += [("class:dim", "   "), (NAN_STYLE, "×"), ("class:dim", f" NaN/inf: {bad} cell{'s' if bad != 1 else ''}")]
    return fit(line, width)


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# -- markdown ------------------------------------------------------------------------------------

_INLINE = re.compile(r"\*\*(?P<bold>[^*]+)\*\*|__(?P<bold2>[^_]+)__|`(?P<code>[^`]+)`"
                     r"|\[(?P<link>[^\]]+)\]\((?P<url>[^)\s]+)\)|\*(?P<it>[^*\s][^*]*)\*"
                     r"|(?<!\w)_(?P<it2>[^_\s][^_]*)_(?!\w)")
_BULLET = re.compile(r"^(\s*)([-*+])\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d+[.)])\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HEADING_STYLES = ("class:heading bold underline", "class:heading bold", "class:accent bold")


def inline(text: str, style: str = "") -> Line:
    """One line of markdown's inline marks as fragments: **bold**, *italic*, `code`, [text](url)."""
    out: Line = []
    at = 0
    for m in _INLINE.finditer(text):
        if m.start() > at:
            out.append((style, text[at:m.start()]))
        if m.group("bold") or m.group("bold2"):
            out.append((f"{style} bold", m.group("bold") or m.group("bold2")))
        elif m.group("code"):
            out.append(("class:key", m.group("code")))
        elif m.group("link"):
            out += [(f"{style} underline", m.group("link")), ("class:dim", f" ({m.group('url')})")]
        else:
            out.append((f"{style} italic", m.group("it") or m.group("it2")))
        at = m.end()
    if at < len(text):
        out.append((style, text[at:]))
    return out


def wrap_fragments(fragments: Line, width: int, first: str = "", rest: str = "") -> list[Line]:
    """Styled text over as many lines as it needs, words kept whole when they fit; the first line
    starts with ``first``, the others with ``rest`` (a hanging indent)."""
    words: list[tuple[str, str]] = []  # (style, word or " ")
    for style, text, *_ in fragments:
        for piece in re.split(r"( +)", text):
            if piece:
                words.append((style, " " if piece.startswith(" ") else piece))
    lines: list[Line] = []
    line: Line = [("", first)] if first else []
    used, room = get_cwidth(first), max(1, width)
    for style, word in words:
        w = get_cwidth(word)
        if word == " ":
            if used > get_cwidth(first if not lines else rest):
                line.append((style, " "))
                used += 1
            continue
        if used + w > room and used > get_cwidth(first if not lines else rest):
            while line and line[-1][1] == " ":
                line.pop()
            lines.append(line)
            line, used = ([("", rest)] if rest else []), get_cwidth(rest)
        while used + w > room:  # a word longer than the line: cut it in pieces
            take = max(1, room - used)
            line.append((style, word[:take]))
            lines.append(line)
            word, w = word[take:], get_cwidth(word[take:])
            line, used = ([("", rest)] if rest else []), get_cwidth(rest)
        line.append((style, word))
        used += w
    lines.append(line)
    return lines


def markdown(text: str, width: int) -> list[Line]:
    """Markdown as styled lines: headings, bullet and numbered lists with a hanging indent,
    block quotes, rules, fenced code in a dim box, tables as written, inline bold, italic, code
    and links (text then url); paragraphs re-wrapped to ``width``."""
    out: list[Line] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend(wrap_fragments(inline(" ".join(s.strip() for s in paragraph)), width))
            paragraph.clear()

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        i += 1
        if stripped.startswith(("```", "~~~")):
            flush()
            fence, lang = stripped[:3], stripped[3:].strip()
            body = []
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end)
            inner = max(1, width - 4)
            top = "╭─" + (f" {lang} " if lang else "")
            out.append([("class:dim", cut(top + "─" * max(0, width - get_cwidth(top)), width))])
            for code in body:
                out.append([("class:dim", "│ "), ("class:key", cut(code.expandtabs(4), inner))])
            out.append([("class:dim", "╰" + "─" * max(0, width - 1))])
            continue
        if not stripped:
            flush()
            if out and out[-1]:
                out.append([])
            continue
        heading = _HEADING.match(stripped)
        if heading:
            flush()
            level = len(heading.group(1))
            style = HEADING_STYLES[min(level, len(HEADING_STYLES)) - 1]
            out.extend(wrap_fragments(inline(heading.group(2), style), width))
            continue
        if re.fullmatch(r"(\*\s*){3,}|(-\s*){3,}|(_\s*){3,}", stripped):
            flush()
            out.append([("class:rule", "─" * max(1, width))])
            continue
        if stripped.startswith("|"):
            flush()
            out.append(fit([("", raw.rstrip())], width))
            continue
        if stripped.startswith(">"):
            flush()
            out.extend(wrap_fragments(inline(stripped.lstrip(">").strip(), "class:dim italic"), width, "│ ", "│ "))
            continue
        item = _BULLET.match(raw) or _NUMBERED.match(raw)
        if item:
            flush()
            indent = " " * (len(item.group(1).expandtabs(4)) // 2 * 2)
            mark = "•" if item.group(2) in "-*+" else item.group(2)
            out.extend(wrap_fragments(inline(item.group(3)), width, f"{indent}{mark} ", indent + " " * (get_cwidth(mark) + 1)))
            continue
        paragraph.append(raw)
    flush()
    while out and not out[-1]:
        out.pop()
    return out


# -- tensors -------------------------------------------------------------------------------------

def tensor_preview(info: dict[str, Any], width: int) -> list[Line]:
    """A tensor: its shape, dtype and chunks, then the slice the loader read (``info["slice"]``,
    named by ``info["where"]``) as values on their colours; why there is none when there is not."""
    shape = info.get("shape") or []
    out: list[Line] = [kv("shape", "x".join(map(str, shape)) or "(scalar)", width),
                       kv("dtype", str(info.get("dtype") or "?"), width)]
    if info.get("chunks"):
        out.append(kv("chunks", "x".join(map(str, info["chunks"])), width))
    piece = info.get("slice")
    if piece is None:
        out.append(kv("values", str(info.get("why") or "not read"), width, style="class:dim"))
        return out
    out.append(kv("slice", f"{info.get('where') or ''} (only this slice was read)", width))
    out += heatmap(piece, width, zoom=True)
    return out
