"""What frames the panels: the status bar (what the last key did for a few seconds, else the keys
that apply here; the run's position, marks, chart settings, the LIVE badge), the box of marked
runs, and the colours."""

from __future__ import annotations

from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.styles import Style

from gitvault.tui.state import State
from gitvault.tui.views.text import pad

BASE_STYLE = {  # the terminal's own 16 colours: they read on light and dark backgrounds alike
    "status.running": "ansiyellow", "status.completed": "ansigreen", "status.failed": "ansired",
    "status.crashed": "ansimagenta", "dim": "ansibrightblack", "title": "bold", "heading": "bold ansiblue",
    "rule": "ansibrightblack", "key": "ansicyan", "th": "bold", "good": "bold ansigreen", "bad": "ansired",
    "warn": "ansiyellow", "error": "ansired", "accent": "ansiblue", "tag": "ansimagenta", "selected": "reverse",
    "tab": "ansibrightblack", "tab.active": "reverse bold", "sha": "ansiyellow", "tree.experiment": "",
    "border": "ansibrightblack", "border.focused": "ansiblue", "statusbar": "reverse", "statusbar.key": "reverse bold",
    "live": "bg:ansigreen ansiblack bold", "toast.ok": "bg:ansigreen ansiblack", "toast.error": "bg:ansired ansiwhite",
    "toast.info": "bg:ansiblue ansiwhite", "popup": "", "popup.title": "reverse bold",
    "chart.axis": "ansibrightblack", "chart.title": "bold", "chart.legend": "",
}
THEME_KEYS = {"accent": ("accent", "heading", "border.focused"), "success": ("status.completed", "good"),
              "warning": ("status.running", "warn"), "error": ("status.failed", "error", "bad"),
              "border": ("border", "rule")}
"""config.toml ``[theme]`` key (the Extract seed's) -> the style classes it colours."""


def style(theme: dict[str, Any]) -> Style:
    """The TUI's colours, with config.toml's ``[theme]`` (names or ``#hex``) over the defaults."""
    rules = dict(BASE_STYLE)
    for key, classes in THEME_KEYS.items():
        colour = theme.get(key)
        if isinstance(colour, str) and colour:
            for cls in classes:
                rules[cls] = ("bold " if "bold" in rules[cls] else "") + colour
    return Style.from_dict(rules)


def status_bar(state: State, hints: list[tuple[str, str]], width: int, typing: bool, error: str = "") -> StyleAndTextTuples:
    """Left: the input's error, else what the last key did (a toast, for a few seconds, never over
    the panels), else how to leave an input or the keys that apply here; right: the run's position
    in its experiment, marks, SHOW ALL, chart settings, the LIVE badge."""
    s = state
    right: StyleAndTextTuples = []
    node = s.selected
    if node is not None and node.kind == "run" and node.parent is not None and node in node.parent.runs:
        siblings = node.parent.runs
        right.append(("class:statusbar", f" run {siblings.index(node) + 1}/{len(siblings)} "))
    if s.marks:
        right.append(("class:statusbar", f" {len(s.marks)} marked "))
    if s.show_archived:
        right.append(("class:statusbar.key", " SHOW ALL "))
    settings = [p for p in ("log-y" if s.chart.log_y else "", f"smooth {s.chart.smooth}" if s.chart.smooth else "",
                            f"last {s.chart.last_n}" if s.chart.last_n else "") if p]
    if settings:
        right.append(("class:statusbar", " " + " ".join(settings) + " "))
    if s.live_runs:
        right.append(("class:live", f" ● LIVE {len(s.live_runs)} "))
    alive = s.live_toasts()
    toast = alive[-1] if alive else None
    if error:
        left: StyleAndTextTuples = [("class:error", " " + error)]
    elif toast is not None:  # what the last key did, where the eye already is (the picker's Enter too)
        left = [(f"class:toast.{toast.kind}", f" {toast.text} ")]
    elif typing:
        left = [("class:statusbar.key", " Enter"), ("class:statusbar", " apply "),
                ("class:statusbar.key", "Esc"), ("class:statusbar", " cancel ")]
    else:
        left = []
        for key, text in hints:
            left += [("class:statusbar.key", f" {key}"), ("class:statusbar", f" {text}")]
    room = width - sum(len(t) for _, t, *_ in right)
    out: StyleAndTextTuples = []
    for style_, text, *_ in left:
        if room <= 0:
            break
        out.append((style_, text[:room]))
        room -= len(text[:room])
    return out + [("class:statusbar", " " * max(0, room))] + right


def marks_box(state: State, columns: int, rows: int) -> StyleAndTextTuples:
    """The marked runs, the baseline starred. It scrolls with the tree: when the selected run is
    marked, the window shows the marks around it (the newest otherwise); the rest are counted."""
    s = state
    if not s.marks or s.view != "explorer":
        return []
    width = max(20, min(48, columns // 3))
    most = max(1, min(8, rows // 4))
    out: StyleAndTextTuples = [("class:popup.title", pad(f" Marked {len(s.marks)}  c compare d diff b baseline", width)),
                               ("", "\n")]
    here = s.marks.index(s.selected_run) if s.selected_run in s.marks else len(s.marks) - 1
    start = max(0, min(here - most // 2, len(s.marks) - most))
    if start:
        out += [("class:dim", pad(f"  … {start} more above", width)), ("", "\n")]
    for rid in s.marks[start:start + most]:
        glyph = "★ " if rid == s.baseline else "· "
        style = "class:accent" if rid == s.baseline else "class:popup"
        out += [(style + (" class:selected" if rid == s.selected_run else ""), pad(glyph + s.label(rid), width)), ("", "\n")]
    below = len(s.marks) - start - most
    if below > 0:
        out += [("class:dim", pad(f"  … {below} more below", width)), ("", "\n")]
    return out[:-1]
