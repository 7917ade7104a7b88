"""Line charts for the TUI, drawn as prompt_toolkit fragments by our own braille renderer.

Why our own: the general terminal plotting libraries draw every point in Python, so their cost
grows with the series (measured in ``tui-anchors.md`` §0.3 at 120x20: plotext 1,390 ms and plotille
790 ms for 100,000 points; uniplot 60 ms). A chart here first decimates each series with numpy to
the min and max of each dot column (spikes survive, NaN gaps stay gaps), then loops in Python over
the plot's cells only, so the cost hardly depends on the number of points. Each cell holds 2x4
braille dots (or one ASCII mark with ``marker="ascii"``, for fonts without braille).

The output is plain ``(style, text)`` tuples, i.e. prompt_toolkit fragments, one per run of cells
of one style; this module does not import prompt_toolkit.
"""

from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

Fragment = tuple[str, str]
Line = list[Fragment]

MIN_WIDTH = 20
MIN_HEIGHT = 5
AXIS = "class:chart.axis"
TITLE = "class:chart.title"
LEGEND = "class:chart.legend"

# 16 hues of medium lightness: readable on a dark and on a light background alike
PALETTE: tuple[str, ...] = (
    "#3b8beb", "#f28e2b", "#2ca02c", "#e15759", "#9467bd", "#17a5b8", "#d62fb0", "#8c6d31",
    "#7f9f1f", "#e07b91", "#4c5fd1", "#c49a00", "#2a9d8f", "#b5651d", "#8a8a8a", "#a05195",
)

# braille dot bits of a cell's 4 rows (top first) x 2 columns (U+2800 + bits)
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
_BRAILLE = [" "] + [chr(0x2800 + bits) for bits in range(1, 256)]
_ASCII = (" ", ".", "*")
_SPLIT_WORDS = frozenset({"train", "val", "valid", "validation", "test", "eval", "dev"})
_SEPARATORS = re.compile(r"([/_.\-])")


@dataclass(frozen=True, eq=False)  # eq=False: comparing numpy arrays field by field is ambiguous
class Series:
    """One curve: ``steps`` ascending; ``values`` NaN for a gap, +-inf ignored."""

    label: str
    steps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class ChartOptions:
    """How to draw: hashable, so the TUI can key its chart cache on it."""

    log_y: bool = False
    smooth: float = 0.0        # debiased EMA weight in [0, 1), as W&B and TensorBoard smooth
    last_n: int | None = None  # zoom: only steps > (last step - last_n)
    x_max: int | None = None   # pin the x axis end (total_steps); ignored while zoomed
    marker: str = "braille"    # "braille" (2x4 dots a cell) or "ascii" (one '*' / '.' a cell)


def colour_for(index: int) -> str:
    """The style of the index-th series: PALETTE in order, then hues a golden-ratio step apart
    (three lightness levels), so every index gets its own colour."""
    if index < len(PALETTE):
        return "fg:" + PALETTE[index]
    hue = (index * 0.6180339887498949) % 1.0
    lightness = (0.45, 0.58, 0.68)[index % 3]
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.7)
    return "fg:#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


# ---------------------------------------------------------------- curve names


def _split(name: str) -> tuple[str, str] | None:
    """``train/loss`` -> ("train", "loss"): the first split word of a name and the name without
    it (and without one separator beside it); None for a name without one."""
    parts = _SEPARATORS.split(name)  # words at even indexes, separators between
    for i in range(0, len(parts), 2):
        if parts[i].lower() in _SPLIT_WORDS:
            rest = parts[i + 2:] if i == 0 else parts[:i - 1] + parts[i + 1:]
            title = "".join(rest)
            return (parts[i], title) if title else None
    return None


def group_curves(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The charts for a run's curves, in order of first appearance: names that differ only by a
    split word (train/val/valid/validation/test/eval/dev, any case) share one chart titled by the
    name without it (``train/loss`` + ``val/loss`` -> ``loss``); any other name is its own chart."""
    groups: dict[tuple[bool, str], list[str]] = {}
    for name in names:
        split = _split(name)
        key = (True, split[1]) if split else (False, name)
        groups.setdefault(key, []).append(name)
    return [(key[1], members) for key, members in groups.items()]


def legend_label(curve_name: str, group_title: str) -> str:
    """A curve's legend text inside its group's chart: ``train/loss`` in ``loss`` -> ``train``."""
    split = _split(curve_name)
    return split[0] if split and split[1] == group_title else curve_name


# ---------------------------------------------------------------- numbers


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing) of the finite values; NaN
    stays NaN and does not move the average. Vectorised in blocks short enough that weight**-i
    stays below 1e8, so there is no Python loop over points."""
    out = np.array(values, dtype=np.float64)
    finite = np.isfinite(out)
    x = out[finite]
    n = len(x)
    if weight <= 0.0 or n == 0:
        return out
    block = max(1, min(n, int(math.log(1e-8) / math.log(weight))))
    blocks = -(-n // block)
    padded = np.zeros(blocks * block)
    padded[:n] = x
    grid = padded.reshape(blocks, block)
    i = np.arange(block)
    # within a block, starting from 0: (1-w) * sum_j w^(i-j) x_j
    local = (1.0 - weight) * weight ** i * np.cumsum(grid * weight ** -i, axis=1)
    # each block carries the previous block's last average in, decayed by w^(i+1); the carry
    # itself decays by w^block <= 1e-8 a block, so one step back is exact to double precision
    ends = local[:, -1]
    carried = np.zeros(blocks)
    carried[1:] = ends[:-1]
    carried[2:] += weight ** block * ends[:-2]
    smoothed = (local + carried[:, None] * weight ** (i + 1)).ravel()[:n]
    out[finite] = smoothed / (1.0 - weight ** np.arange(1, n + 1))
    return out


def _decimals(quantum: float, most: int = 6) -> int:
    """Digits after the point needed to write multiples of ``quantum`` exactly (0.25 -> 2)."""
    for digits in range(most):
        scaled = abs(quantum) * 10 ** digits
        if abs(scaled - round(scaled)) < 1e-6 * max(1.0, scaled):
            return digits
    return most


def _fixed(value: float, quantum: float, most: int = 6) -> str:
    text = f"{value:.{_decimals(quantum, most)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def tick_label(value: float, quantum: float) -> str:
    """A compact axis label for a tick at ``value`` on a grid of ``quantum``: 0.25, 1.5e-05, 12k,
    1.5M (as many digits as the grid needs and no more)."""
    size = abs(value)
    if size < abs(quantum) * 1e-9 or size == 0.0:
        return "0"
    if size >= 1000:
        unit, suffix = next((u, s) for u, s in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")) if size >= u)
        return _fixed(value / unit, quantum / unit, most=3) + suffix
    if size < 1e-3:
        exponent = math.floor(math.log10(size))
        mantissa = _fixed(value / 10 ** exponent, quantum / 10 ** exponent, most=3)
        if abs(float(mantissa)) >= 10:  # 9.99e-05 rounded up to 10
            exponent += 1
            mantissa = _fixed(value / 10 ** exponent, quantum / 10 ** exponent, most=3)
        return f"{mantissa}e{exponent:+03d}"
    return _fixed(value, quantum)


def nice_ticks(lo: float, hi: float, most: int = 5, integer: bool = False) -> tuple[list[float], float]:
    """Ticks at multiples of 1, 2 or 5 x 10^k (2.5 x 10^k as a last resort) inside [lo, hi]:
    at most ``most`` of them, 3 or more where possible; and the step. ``integer`` keeps the step
    at 1 or more (training steps)."""
    span = hi - lo
    if not span > 0:
        return [lo], 1.0
    top = math.floor(math.log10(span))
    best: tuple[tuple[bool, bool, int], list[float], float] | None = None
    for k in range(top - 2, top + 2):
        for m in (1.0, 2.0, 5.0, 2.5):
            step = m * 10.0 ** k
            if integer and step < 1:
                continue
            first = math.ceil(lo / step - 1e-9)
            last = math.floor(hi / step + 1e-9)
            count = last - first + 1
            if not 1 <= count <= most:
                continue
            score = (count >= min(3, most), m != 2.5, count)
            if best is None or score > best[0]:
                best = (score, [i * step for i in range(first, last + 1)], step)
    if best is None:
        return [lo, hi], span
    return best[1], best[2]


def _log_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Ticks of a log axis spanning 10^lo .. 10^hi: the powers of 10 (every k-th when there are
    many), else 1/2/5 multiples, else linear nice ticks; as (log10 positions, labels)."""
    powers = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    if len(powers) >= 3:
        stride = -(-len(powers) // most)
        values = [10.0 ** p for p in powers[::stride]]
    else:
        values = [m * 10.0 ** k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in (1, 2, 5)
                  if lo - 1e-9 <= math.log10(m) + k <= hi + 1e-9]
        if not 3 <= len(values) <= most:
            linear, _ = nice_ticks(10.0 ** lo, 10.0 ** hi, most)
            values = [v for v in linear if v > 0]
            if len(values) >= 2:
                step = values[1] - values[0]
                return [math.log10(v) for v in values], [tick_label(v, step) for v in values]
    return [math.log10(v) for v in values], [tick_label(v, v) for v in values]


# ---------------------------------------------------------------- decimation


class _Columns(NamedTuple):
    """A series decimated to dot columns: the non-empty columns (ascending) and, for each, the
    min, max, first and last value, and whether it joins the previous non-empty column (no NaN
    between them)."""

    used: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    firsts: np.ndarray
    lasts: np.ndarray
    joined: np.ndarray


def _columns(steps: np.ndarray, values: np.ndarray, x0: float, x1: float, columns: int) -> _Columns:
    inside = (steps >= x0) & (steps <= x1)
    s, v = steps[inside], values[inside]
    nan = np.isnan(v)
    segment = np.cumsum(nan)  # a NaN starts a new segment: columns in different ones never join
    keep = ~nan
    s, v, segment = s[keep], v[keep], segment[keep]
    if len(v) == 0:
        empty = np.empty(0)
        return _Columns(np.empty(0, dtype=np.intp), empty, empty, empty, empty, np.empty(0, dtype=bool))
    col = ((s - x0) * (columns / (x1 - x0))).astype(np.intp)
    np.clip(col, 0, columns - 1, out=col)
    if len(col) > 1 and bool((col[1:] < col[:-1]).any()):  # steps out of order: sort into columns
        order = np.argsort(col, kind="stable")
        col, v, segment = col[order], v[order], segment[order]
    starts = np.flatnonzero(np.concatenate(([True], col[1:] != col[:-1])))
    ends = np.concatenate((starts[1:], [len(v)])) - 1
    joined = np.concatenate(([False], segment[ends[:-1]] == segment[starts[1:]]))
    return _Columns(col[starts], np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts),
                    v[starts], v[ends], joined)


def decimate(steps: np.ndarray, values: np.ndarray, x0: float, x1: float,
             columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The min and max of the finite values in each of ``columns`` equal slices of [x0, x1]
    (NaN where a slice has none). Steps are expected ascending."""
    cols = _columns(np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64),
                    float(x0), float(x1) if x1 > x0 else float(x0) + 1.0, columns)
    mins = np.full(columns, np.nan)
    maxs = np.full(columns, np.nan)
    mins[cols.used] = cols.mins
    maxs[cols.used] = cols.maxs
    return mins, maxs


def _spans(cols: _Columns, y0: float, y1: float, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per dot column the lowest and highest dot row to light (rows from the bottom; lo > hi where
    nothing is drawn), and a mask of the columns holding data (the rest are joins)."""
    lo = np.full(columns, rows, dtype=np.intp)
    hi = np.full(columns, -1, dtype=np.intp)
    own = np.zeros(columns, dtype=bool)
    if len(cols.used) == 0:
        return lo, hi, own
    scale = rows / (y1 - y0)

    def row(v: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((v - y0) * scale), 0, rows - 1).astype(np.intp)

    used = cols.used
    lo[used], hi[used], own[used] = row(cols.mins), row(cols.maxs), True
    # empty columns between two joined data columns: the straight line between them
    gaps = cols.joined[1:] & (used[1:] - used[:-1] > 1)
    if gaps.any():
        mark = np.zeros(columns + 1, dtype=np.intp)
        np.add.at(mark, used[:-1][gaps] + 1, 1)
        np.add.at(mark, used[1:][gaps], -1)
        fill = np.flatnonzero(np.cumsum(mark[:-1]) > 0)
        xp = np.column_stack((used, used + 0.5)).ravel()
        fp = np.column_stack((cols.firsts, cols.lasts)).ravel()
        lo[fill] = hi[fill] = row(np.interp(fill, xp, fp))
    # neighbours that join meet halfway, so a steep line has no holes
    drawn = lo <= hi
    link = drawn[:-1] & drawn[1:]
    link[used[1:][~cols.joined[1:]] - 1] = False
    a = np.flatnonzero(link)
    b = a + 1
    new_lo, new_hi = lo.copy(), hi.copy()
    rise = lo[b] > hi[a]
    mid = (hi[a] + lo[b]) // 2
    new_hi[a[rise]] = np.maximum(new_hi[a[rise]], mid[rise])
    new_lo[b[rise]] = np.minimum(new_lo[b[rise]], mid[rise] + 1)
    fall = hi[b] < lo[a]
    mid = (lo[a] + hi[b]) // 2
    new_lo[a[fall]] = np.minimum(new_lo[a[fall]], mid[fall] + 1)
    new_hi[b[fall]] = np.maximum(new_hi[b[fall]], mid[fall])
    return new_lo, new_hi, own


# ---------------------------------------------------------------- layout


def _fit(text: str, width: int, ascii_only: bool = False) -> str:
    if len(text) <= width:
        return text
    return text[:width] if ascii_only or width < 1 else text[:width - 1] + "…"


def _pad(line: Line, width: int) -> Line:
    used = sum(len(text) for _, text in line)
    return line + [("", " " * (width - used))] if used < width else line


def _message(text: str, width: int, height: int, head: Line | None = None) -> list[Line]:
    lines: list[Line] = [[("", " " * width)] for _ in range(height)]
    if head is not None and height:
        lines[0] = head
    if height:
        message = _fit(text, width)
        left = (width - len(message)) // 2
        row = max(1 if head is not None and height > 1 else 0, (height - 1) // 2)
        lines[row] = _pad([("", " " * left), (AXIS, message)], width)
    return lines


def _legend(entries: list[tuple[str, str]], width: int, most_lines: int, ascii_only: bool) -> list[Line]:
    """Legend lines: ``<mark> label`` entries wrapped over lines; what does not fit in
    ``most_lines`` is counted (``+N more``), never dropped silently."""
    mark = "*" if ascii_only else "●"
    sizes = [2 + len(_fit(label, width - 2, ascii_only)) for _, label in entries]
    rows: list[list[int]] = []
    used = 0
    for i, size in enumerate(sizes):
        if rows and used + 2 + size <= width:
            rows[-1].append(i)
            used += 2 + size
        else:
            rows.append([i])
            used = size
    if len(rows) > most_lines:
        rows = rows[:most_lines]
        last = rows[-1]
        while True:
            more = f"+{len(entries) - sum(len(r) for r in rows)} more"
            if not last or sum(sizes[i] + 2 for i in last) + len(more) <= width:
                break
            last.pop()
    else:
        more = ""
    lines: list[Line] = []
    for n, row in enumerate(rows):
        line: Line = []
        for i in row:
            style, label = entries[i]
            if line:
                line.append((LEGEND, "  "))
            line += [(style, mark), (LEGEND, " " + _fit(label, width - 2, ascii_only))]
        if more and n == len(rows) - 1:
            line.append((LEGEND, ("  " if line else "") + more))
        lines.append(_pad(line, width))
    return lines


def _x_row(x0: float, x1: float, plot_width: int, gutter: int, width: int, pinned: bool) -> str:
    """The x axis labels, each centred under its column, none overlapping; the pinned end
    (total_steps) always labelled."""
    integer = float(x0).is_integer() and float(x1).is_integer()
    for most in (5, 4, 3, 2):
        ticks, step = nice_ticks(x0, x1, most, integer)
        labels = [(t, tick_label(t, step)) for t in ticks]
        if pinned and (not ticks or abs(ticks[-1] - x1) > 1e-9 * max(1.0, abs(x1))):
            labels.append((x1, tick_label(x1, 1.0 if integer else x1)))
        tries = [labels, labels[:-2] + labels[-1:]] if pinned and len(labels) > 2 else [labels]
        for tried in tries:  # the second try drops the nice tick next to the pinned end
            placed = _place(tried, x0, x1, plot_width, gutter, width)
            if placed is not None and (len(tried) >= 3 or most == 2):
                return placed
    return " " * width


def _place(labels: list[tuple[float, str]], x0: float, x1: float, plot_width: int, gutter: int,
           width: int) -> str | None:
    row = [" "] * width
    end = -1
    for value, text in labels:
        col = min(plot_width - 1, int((value - x0) / (x1 - x0) * plot_width))
        start = min(max(0, gutter + col - len(text) // 2), width - len(text))
        if start <= end:
            return None
        row[start:start + len(text)] = text
        end = start + len(text)
    return "".join(row)


class _Prepared(NamedTuple):
    steps: np.ndarray
    values: np.ndarray


def _prepare(series: Series, options: ChartOptions) -> tuple[_Prepared, int]:
    """Steps and values as drawn (infinities out; for log-y the values <= 0 out, counted, and
    log10 taken; smoothed), and how many values log-y dropped."""
    steps = np.asarray(series.steps, dtype=np.float64)
    values = np.asarray(series.values, dtype=np.float64)
    keep = ~np.isinf(values)
    dropped = 0
    if options.log_y:
        nonpositive = values <= 0
        dropped = int(np.count_nonzero(nonpositive & keep))
        keep &= ~nonpositive
    if not keep.all():
        steps, values = steps[keep], values[keep]
    if options.smooth > 0:
        values = ema(values, options.smooth)
    if options.log_y:
        values = np.log10(values)
    return _Prepared(steps, values), dropped


def _title_line(title: str, options: ChartOptions, dropped: int, width: int) -> Line:
    marks = []
    if options.log_y:
        marks.append(f"log-y: {dropped} value{'s' if dropped != 1 else ''} <= 0 not drawn" if dropped else "log-y")
    if options.smooth > 0:
        marks.append(f"smooth {options.smooth:g}")
    if options.last_n:
        marks.append(f"last {options.last_n}")
    ascii_only = options.marker == "ascii"
    tail = "".join("  " + m for m in marks)
    head = _fit(title, max(width - len(tail), width // 3), ascii_only)  # the marks before a long title
    line: Line = [(TITLE, head)]
    rest = _fit(tail, width - len(head), ascii_only)
    if rest:
        line.append((AXIS, rest))
    return _pad(line, width)


def render(title: str, series: Sequence[Series], width: int, height: int,
           options: ChartOptions = ChartOptions(), colours: Sequence[str] | None = None) -> list[Line]:
    """A chart of ``series`` in a ``width`` x ``height`` box: exactly ``height`` lines of exactly
    ``width`` cells (title line, plot rows with y ticks, x tick row, legend). Series are drawn in
    order and a cell takes the colour of the last series in it, so put the focused one last."""
    if options.marker not in ("braille", "ascii"):
        raise ValueError(f"unknown chart marker {options.marker!r} (braille or ascii)")
    if not 0.0 <= options.smooth < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {options.smooth}")
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return _message(f"chart needs {MIN_WIDTH}x{MIN_HEIGHT}", max(width, 0), max(height, 0))
    braille = options.marker == "braille"
    prepared: list[_Prepared] = []
    dropped = 0
    for one in series:
        ready, lost = _prepare(one, options)
        prepared.append(ready)
        dropped += lost
    head = _title_line(title, options, dropped, width)

    # x range: first .. last step with a finite value (the pin extends it; a zoom cuts it)
    finite_steps = [p.steps[np.isfinite(p.values)] for p in prepared]
    finite_steps = [s for s in finite_steps if len(s)]
    if not finite_steps:
        return _message("no points yet", width, height, head)
    last = max(float(s.max()) for s in finite_steps)
    if options.last_n:
        finite_steps = [s[s > last - options.last_n] for s in finite_steps]
        x0 = min(float(s.min()) for s in finite_steps if len(s))
        x1 = last
    else:
        x0 = min(float(s.min()) for s in finite_steps)
        x1 = max(last, float(options.x_max)) if options.x_max is not None else last
    pinned = options.x_max is not None and options.x_max >= last and not options.last_n and x1 > x0
    if x1 <= x0:
        x1 = x0 + 1.0

    # y range: the data in the x range, padded 5%, never crossing 0 that the data do not cross
    lows, highs = [], []
    for p in prepared:
        v = p.values[(p.steps >= x0) & (p.steps <= x1) & np.isfinite(p.values)]
        if len(v):
            lows.append(float(v.min()))
            highs.append(float(v.max()))
    lo, hi = min(lows), max(highs)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        pad = 0.5 if options.log_y else (abs(hi) * 0.1 or 1.0)
    else:
        pad = (hi - lo) * 0.05
    y0, y1 = lo - pad, hi + pad
    if not options.log_y:
        if lo >= 0 > y0:
            y0 = 0.0
        if hi <= 0 < y1:
            y1 = 0.0

    # layout: title, plot rows, x row, legend (at most a third of the rest)
    entries = [(colours[i] if colours is not None and i < len(colours) else colour_for(i), s.label)
               for i, s in enumerate(series)]
    legend = _legend(entries, width, max(1, (height - 2) // 3), not braille)
    plot_rows = height - 2 - len(legend)

    if options.log_y:
        positions, labels = _log_ticks(y0, y1, min(5, plot_rows))
    else:
        ticks, step = nice_ticks(y0, y1, min(5, plot_rows))
        positions, labels = ticks, [tick_label(t, step) for t in ticks]
    tick_rows: dict[int, str] = {}
    for position, label in zip(positions, labels):
        r = plot_rows - 1 - min(plot_rows - 1, max(0, int((position - y0) / (y1 - y0) * plot_rows)))
        tick_rows.setdefault(r, label)
    gutter = min(width // 3, max((len(label) for label in tick_rows.values()), default=0) + 1)
    plot_width = width - gutter

    # rasterise: dots per cell 2x4 (braille) or 1x1 (ascii); OR the dots, the last series' colour
    across, down = (2, 4) if braille else (1, 1)
    columns, rows = plot_width * across, plot_rows * down
    cells = np.zeros((plot_rows, plot_width), dtype=np.int64)
    owner = np.full((plot_rows, plot_width), -1, dtype=np.int64)
    dot_rows = np.arange(rows - 1, -1, -1)[:, None]  # top row first
    for index, p in enumerate(prepared):
        span_lo, span_hi, own = _spans(_columns(p.steps, p.values, x0, x1, columns), y0, y1, rows, columns)
        lit = (dot_rows >= span_lo) & (dot_rows <= span_hi)
        if braille:
            code = (lit.reshape(plot_rows, 4, plot_width, 2) * _BRAILLE_BITS[None, :, None, :]).sum(axis=(1, 3))
            cells |= code
        else:
            code = np.where(lit & own, 2, lit.astype(np.int64))
            cells = np.where(code > 0, code, cells)
        owner[code > 0] = index

    glyphs = _BRAILLE if braille else _ASCII
    bar, tick = ("│", "┤") if braille else ("|", "+")
    styles = [style for style, _ in entries] + [""]  # owner -1 (empty cell) -> style ""
    lines: list[Line] = [head]
    for r in range(plot_rows):
        at = tick_rows.get(r)
        line: Line = [(AXIS, (at or "")[:gutter - 1].rjust(gutter - 1) + (bar if at is None else tick))]
        text = "".join([glyphs[c] for c in cells[r].tolist()])
        who = owner[r]
        cuts = [0, *(np.flatnonzero(who[1:] != who[:-1]) + 1).tolist(), plot_width]
        for start, end in zip(cuts[:-1], cuts[1:]):
            line.append((styles[who[start]], text[start:end]))
        lines.append(line)
    lines.append([(AXIS, _x_row(x0, x1, plot_width, gutter, width, pinned))])
    lines.extend(legend)
    return lines
