"""What the TUI keeps between starts, and the view settings it reads.

- The session (`.extract/tui-session.json`, local to this clone like the rest of `.extract/`):
  the selection, the marks and the baseline, the view, the focused pane, the run tab, archived
  shown or not, the chart settings and the tree pane's width. Written on quit, read on start;
  what no longer exists is dropped. The Extract seed's own `session.json` is left alone.
- The settings: `.extract/config.toml`'s sections as the Extract seed documents them, with their
  defaults, re-read when the file changes while the TUI runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gitvault.tui.state import VIEWS, ChartSettings, State

FILE = "tui-session.json"
TREE_FRACTIONS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
"""The tree pane's share of the width, stepped by `<` and `>`."""

SUMMARY_SECTIONS = ("runs", "metrics", "tables", "curves")
COMPARE_SECTIONS = ("pivot", "config", "tables", "curves")
COLOUR_NAMES = {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white", "gray", "grey"}


def settings_of(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The view settings the TUI uses, from config.toml's sections, checked and defaulted: a
    value of the wrong kind falls back to its default (and is named in ``problems``)."""
    problems: list[str] = []

    def listed(section: str, key: str, allowed: tuple[str, ...]) -> list[str]:
        value = sections.get(section, {}).get(key)
        if value is None:
            return list(allowed)
        if not isinstance(value, list) or not all(v in allowed for v in value):
            problems.append(f"[{section}] {key} must list some of {', '.join(allowed)}")
            return list(allowed)
        return list(value)

    def number(section: str, key: str, default: float, low: float) -> float:
        value = sections.get(section, {}).get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            problems.append(f"[{section}] {key} must be a number of at least {low}")
            return default
        return float(value)

    highlight = []
    for rule in sections.get("tables", {}).get("highlight", []) or []:
        if isinstance(rule, dict) and isinstance(rule.get("color"), str) and colour(rule["color"]) and \
                any(k in rule for k in ("min", "max", "eq", "pattern")):
            highlight.append({**rule, "color": colour(rule["color"])})
        else:
            problems.append("[[tables.highlight]] needs a color (a name or #hex) and one of min, max, eq, pattern")
    smooth = sections.get("summary", {}).get("curve_smooth", False)
    return {
        "summary": listed("summary", "sections", SUMMARY_SECTIONS),
        "summary_width": int(number("summary", "curve_width", 0, 0)),
        "summary_smooth": 0.6 if smooth is True else (float(smooth) if isinstance(smooth, float) and 0 <= smooth < 1 else 0.0),
        "compare": listed("compare", "sections", COMPARE_SECTIONS),
        "compare_width": int(number("compare", "curve_width", 0, 0)),
        "toast_seconds": number("notifications", "timeout", 3, 0.5),
        "theme": {k: colour(v) for k, v in sections.get("theme", {}).items() if isinstance(v, str) and colour(v)},
        "highlight": highlight,
        "problems": problems,
    }


SPECIAL_COLOURS = {"darkgray": "ansibrightblack", "darkgrey": "ansibrightblack", "orange": "#ff8700",
                   "none": "ansidefault"}


def colour(value: str) -> str:
    """A config.toml colour for prompt_toolkit: ``#rrggbb`` as it is, a name (``red``,
    ``bright_cyan``, ``darkgray``) as the terminal's own 16-colour palette, so it reads on light
    and dark terminals alike, ``orange`` and ``none`` (the terminal's default) as the Extract seed
    has them; anything else ""."""
    text = value.strip().lower().replace("-", "_")
    if text in SPECIAL_COLOURS:
        return SPECIAL_COLOURS[text]
    if len(text) == 7 and text.startswith("#") and all(c in "0123456789abcdef" for c in text[1:]):
        return text
    bright = text.startswith(("bright_", "light_"))
    base = text.split("_", 1)[1] if bright else text
    if base in COLOUR_NAMES:
        base = {"grey": "gray"}.get(base, base)
        if base == "gray":
            return "ansibrightblack" if not bright else "ansigray"
        return f"ansi{'bright' if bright else ''}{base}"
    return ""


def save(path: Path, state: State, tree_fraction: float) -> None:
    """Write the session (a best effort: a read-only `.extract/` leaves the last one)."""
    node = state.selected
    data = {
        "selected": node.key if node is not None else None,
        "marks": state.marks, "baseline": state.baseline, "view": state.view, "focus": state.focus,
        "detail_tab": state.detail_tab, "show_archived": state.show_archived,
        "chart": {"log_y": state.chart.log_y, "smooth": state.chart.smooth, "last_n": state.chart.last_n},
        "tree_fraction": tree_fraction, "expanded": sorted(state.expanded),
    }
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def restore(state: State, data: dict[str, Any]) -> float | None:
    """Put a saved session back on a loaded state (what is gone is dropped); the tree pane's
    width fraction to use, if saved."""
    runs = state.runs
    state.marks = [m for m in data.get("marks") or [] if isinstance(m, str) and m in runs]
    state.baseline = data.get("baseline") if data.get("baseline") in state.marks else (state.marks[0] if state.marks else None)
    state.show_archived = bool(data.get("show_archived"))
    state.expanded.update(k for k in data.get("expanded") or [] if isinstance(k, str) and state.tree.get(k))
    saved_chart = data.get("chart")
    chart: dict[str, Any] = saved_chart if isinstance(saved_chart, dict) else {}
    smooth = chart.get("smooth")
    state.chart = ChartSettings(log_y=bool(chart.get("log_y")),
                                smooth=float(smooth) if isinstance(smooth, (int, float)) and 0 <= smooth < 1 else 0.0,
                                last_n=chart.get("last_n") if isinstance(chart.get("last_n"), int) else None)
    state.refresh_rows()
    selected = data.get("selected")
    if isinstance(selected, str) and state.tree.get(selected) is not None:
        state.select(selected)
    if data.get("focus") in ("tree", "detail"):
        state.focus = data["focus"]
    if data.get("detail_tab") in ("summary", "info"):
        state.detail_tab = data["detail_tab"]
    view = data.get("view")
    if view in VIEWS and view not in ("explorer", "help", "lineage", "files") and \
            (view not in ("compare", "diff") or len(state.marks) >= 2):  # a lineage (files) needs its node (run): not kept
        state.open_view(view)
    fraction = data.get("tree_fraction")
    return float(fraction) if isinstance(fraction, (int, float)) and fraction in TREE_FRACTIONS else None
