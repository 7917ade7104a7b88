"""Compare (the marked runs side by side) and diff (each against the baseline ★)."""

from __future__ import annotations

import math
from typing import Any

from gitvault.display import grouped, number, value_text
from gitvault.tui.state import State
from gitvault.tui.views.panels import CHART_HEIGHT, chart_options, loading, matrix_lines
from gitvault.tui.views.text import Line, blank, cut, fit, heading, pad


def _labels(state: State, ids: list[str]) -> dict[str, str]:
    return {rid: state.label(rid) for rid in ids}


def compare(state: State, width: int) -> list[Line]:
    from gitvault.tui import chart  # numpy, loaded by the first chart drawn rather than at start

    data = state.comparison
    ids = list(state.marks)
    title: Line = [("class:title", f"Compare {len(ids)} runs"), ("class:dim", "   C compare · D diff · q back")]
    if len(ids) < 2:
        return [title, blank(), [("class:warn", "mark at least two runs with Space (v marks a range) to compare them")]]
    if data is None or data.get("ids") != ids:
        return [title, blank()] + loading("the comparison")
    comparison = data["comparison"]
    labels = _labels(state, ids)
    out: list[Line] = [title, blank(), heading("Runs", width)]
    for i, rid in enumerate(ids):
        out.append(fit([(chart.colour_for(i), "■ "), ("", f"{i + 1}. "), ("", labels[rid]),
                        ("class:accent", "  ★ baseline" if rid == state.baseline else "")], width))
    out.append(blank())
    name_w = min(40, max([len(m) for m in comparison["metrics"]] + [len(k) for k in comparison["config_diffs"]] + [10]) + 3)
    col_w = max(10, min(18, (width - name_w) // max(1, len(ids))))
    per_block = max(1, (width - name_w) // col_w)
    for section in state.settings.get("compare", ("pivot", "config", "tables", "curves")):  # [compare] sections
        if section == "pivot":
            out += _pivot(comparison, ids, name_w, col_w, per_block, width)
        elif section == "config":
            out += _config(comparison["config_diffs"], ids, name_w, col_w, per_block, width)
        elif section == "tables" and data.get("tables"):
            out.append(heading("Tables", width))
            for name, per_run in data["tables"].items():
                out += side_by_side([(f"{name} · {ids.index(rid) + 1}. {labels.get(rid, rid)}", matrix)
                                     for rid, matrix in per_run.items()], width, state.settings.get("highlight", ()))
        elif section == "curves":
            chart_width = min(width, int(state.settings.get("compare_width") or width))  # [compare] curve_width
            out += overlay_charts(state, ids, data.get("curves") or {}, chart_width)
    return out


def _columns(start: int, count: int, name_w: int, col_w: int) -> Line:
    return [("class:th", pad("", name_w) + "".join(pad(f"{start + j + 1}.", col_w) for j in range(count)))]


def _pivot(comparison: dict[str, Any], ids: list[str], name_w: int, col_w: int, per_block: int, width: int) -> list[Line]:
    """Metrics by run, the best per direction highlighted, in blocks of the runs that fit."""
    metrics = grouped(comparison["metrics"])
    if not metrics:
        return []
    out: list[Line] = [heading("Metrics (best per direction highlighted)", width)]
    for start in range(0, len(ids), per_block):
        block = ids[start:start + per_block]
        out.append(_columns(start, len(block), name_w, col_w))
        for name, m in metrics:
            best = m["ranking"][0] if m["ranking"] and m["direction"] in ("min", "max") else None
            arrow = {"min": "↓", "max": "↑"}.get(m["direction"], " ")
            line: Line = [("class:key", pad(f"{name} {arrow}", name_w))]
            for rid in block:
                line.append(("class:good" if rid == best else "", pad(number(m["values"].get(rid)), col_w)))
            out.append(fit(line, width))
    return out + [blank()]


def _config(diffs: dict[str, Any], ids: list[str], name_w: int, col_w: int, per_block: int, width: int) -> list[Line]:
    """The config keys whose values differ, ``-`` where a run has none."""
    out: list[Line] = [heading(f"Config: the {len(diffs)} keys that differ", width)]
    if not diffs:
        return out + [[("class:dim", "every config key is the same")], blank()]
    for start in range(0, len(ids), per_block):
        block = ids[start:start + per_block]
        out.append(_columns(start, len(block), name_w, col_w))
        for key, values in diffs.items():
            line: Line = [("class:key", pad(key, name_w))]
            for rid in block:
                text = value_text(values[rid]) if rid in values else "-"
                line.append(("class:warn" if rid not in values else "", pad(cut(text, col_w - 1), col_w)))
            out.append(fit(line, width))
    return out + [blank()]


def side_by_side(tables: list[tuple[str, Any]], width: int, highlight: Any = ()) -> list[Line]:
    """Tables next to each other as far as the width allows, then on the next rows."""
    blocks = []
    for title, matrix in tables:
        cols = matrix.shape[1] if getattr(matrix, "ndim", 0) == 2 else 1
        block_width = min(width, 8 + 10 * min(cols, 6))
        lines = [[("class:key", cut(title, block_width))]] + matrix_lines(matrix, block_width, most=8,
                                                                           highlight=highlight)
        blocks.append((block_width, lines))
    out: list[Line] = []
    row: list[tuple[int, list[Line]]] = []
    used = 0
    for block in blocks + [(width + 1, [])]:  # a sentinel wider than the screen flushes the last row
        if row and used + block[0] > width:
            for i in range(max(len(lines) for _, lines in row)):
                line: Line = []
                for w, lines in row:
                    cells = lines[i] if i < len(lines) else []
                    used_cells = sum(len(t) for _, t, *_ in cells)
                    line += list(cells) + [("", " " * max(0, w - used_cells + 2))]
                out.append(fit(line, width))
            out.append(blank())
            row, used = [], 0
        row.append(block)
        used += block[0] + 2
    return out


def overlay_charts(state: State, ids: list[str], curves: dict[str, dict[str, Any]], width: int) -> list[Line]:
    """One chart per curve name, one colour per run, in the runs' numbered order (the legend's too)."""
    from gitvault.tui import chart

    names: list[str] = []
    for rid in ids:
        names += [n for n in curves.get(rid, {}) if n not in names]
    if not names:
        return [[("class:dim", "no curves")]]
    out: list[Line] = [heading(f"Curves ({len(names)})  y log-y · s smooth · z zoom", width)]
    options = chart_options(state, None)
    for name in names:
        series, colours = [], []
        for rid in ids:
            if name in curves.get(rid, {}):
                steps, values = curves[rid][name]
                series.append(chart.Series(f"{ids.index(rid) + 1}. {state.label(rid)}", steps, values))
                colours.append(chart.colour_for(ids.index(rid)))
        out += chart.render(name, series, width, CHART_HEIGHT + 2, options, colours)
        out.append(blank())
    return out


def diff(state: State, width: int) -> list[Line]:
    """Each marked run against the baseline: direction-aware coloured metric deltas, config
    ``old -> new`` lines."""
    ids = list(state.marks)
    base = state.baseline
    title: Line = [("class:title", "Diff against the baseline ★"), ("class:dim", "   b sets the baseline · C compare · q back")]
    if len(ids) < 2 or base is None:
        return [title, blank(), [("class:warn", "mark at least two runs with Space; the first marked is the baseline (b changes it)")]]
    data = state.comparison
    if data is None or data.get("ids") != ids:
        return [title, blank()] + loading("the comparison")
    comparison = data["comparison"]
    out: list[Line] = [title, [("class:accent", f"★ {state.label(base)}")], blank()]
    configs = data.get("configs") or {}
    for rid in ids:
        if rid == base:
            continue
        out.append(heading(state.label(rid), width))
        for name, m in grouped(comparison["metrics"]):
            a, b = m["values"].get(base), m["values"].get(rid)
            out.append(fit(_delta_line(name, a, b, m["direction"]), width))
        changes = config_changes(configs.get(base, {}), configs.get(rid, {}))
        if changes:
            out.append([("class:dim", "config:")])
            for key, old, new in changes:
                out.append(fit([("class:key", f"  {key}: "), ("class:bad", old), ("", " -> "), ("class:good", new)], width))
        else:
            out.append([("class:dim", "config: the same")])
        out.append(blank())
    return out


def _delta_line(name: str, a: Any, b: Any, direction: str) -> Line:
    line: Line = [("class:key", pad(name, 22)), ("", pad(number(a), 12)), ("", pad(number(b), 12))]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (a, b)):
        return line
    delta = b - a
    better = (delta < 0) if direction == "min" else (delta > 0) if direction == "max" else None
    style = "class:dim" if delta == 0 or better is None else ("class:good" if better else "class:bad")
    arrow = "" if delta == 0 else ("↑" if delta > 0 else "↓")
    return line + [(style, f"Δ {'+' if delta > 0 else ''}{number(delta)} {arrow}")]


def config_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, old, new) of every flattened config key that differs; ``-`` for a missing one."""
    from gitvault.query import flatten

    fa, fb = flatten(a), flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key, ...) != fb.get(key, ...):
            out.append((key, value_text(fa[key]) if key in fa else "-", value_text(fb[key]) if key in fb else "-"))
    return out
