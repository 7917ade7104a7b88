"""What the tree, mark and chart keys do to the TUI's state (pure: no I/O, no prompt_toolkit)."""

from __future__ import annotations

from gitvault.tui.state import SMOOTHING, ZOOMS, State


def enter(s: State) -> None:
    """Enter: open or close an experiment; on a run, focus its detail."""
    node = s.selected
    if node is None:
        s.move(0)
        return
    if node.kind == "run":
        s.focus = "detail"
    elif node.children:
        s.expand(node, node.key not in s.expanded)


def open_right(s: State) -> None:
    """→: open an experiment (the cursor stays on it), then go to its first child."""
    node = s.selected
    if node is None:
        s.move(0)
    elif node.children and node.key not in s.expanded:
        s.expand(node, True)  # the cursor stays on the node it opened
    elif node.children:
        s.move(1)
    elif node.kind == "run":
        s.focus = "detail"


def close_left(s: State) -> None:
    """←: close an open experiment, else go to the parent."""
    node = s.selected
    if node is None:
        return
    if node.key in s.expanded and node.children:
        s.expand(node, False)
    elif node.parent is not None:
        s.select(node.parent.key)


def escape(s: State) -> None:
    """Esc: back to the tree, then clear the filters, then up to the parent, then the overview."""
    if s.focus == "detail":
        s.focus = "tree"
    elif s.tree_filter or s.where:
        s.tree_filter, s.where, s.where_ids = "", "", None
        s.refresh_rows()
    elif s.selected is not None and s.selected.parent is not None:
        s.select(s.selected.parent.key)
    else:
        s.clear_selection()


def sibling_run(s: State, step: int) -> None:
    """The previous or next run of the selected run's experiment (wrapping around)."""
    node = s.selected
    if node is None or node.kind != "run" or node.parent is None:
        return
    runs = [r for r in node.parent.runs if s.show_archived or not r.archived]
    if node in runs:
        s.select(runs[(runs.index(node) + step) % len(runs)].key)  # wraps around


def mark(s: State) -> None:
    """Space: mark or unmark the selected run; says what happened (never a silent key)."""
    node = s.selected
    if node is None or node.kind != "run":
        s.toast("Space marks a run: move to one (→ opens an experiment)", "info")
        return
    marked = s.toggle_mark(node.id)
    s.toast(f"{'marked' if marked else 'unmarked'} {node.path} ({len(s.marks)} marked)", "info")


def range_mark(s: State) -> None:
    """v: the first press remembers where a range starts, the second marks every run between."""
    node = s.selected
    if node is None:
        return
    if s.range_anchor is None:
        s.range_anchor = node.key
        s.toast(f"range from {node.path}: move, then v again", "info")
        return
    start = s.row_of(s.range_anchor)
    s.range_anchor = None
    if start is None:
        s.toast("the range's first row is no longer shown; v starts a new range", "error")
        return
    added = s.mark_range(start, s.cursor)
    s.toast(f"marked {added} runs ({len(s.marks)} in all)", "info")


def baseline(s: State) -> None:
    """b: the selected run (in compare and diff: the next marked one) becomes the baseline ★."""
    rid = s.selected_run if s.view == "explorer" else None
    if rid is None and s.marks:  # in compare/diff: the next marked run becomes the baseline
        rid = s.marks[(s.marks.index(s.baseline) + 1) % len(s.marks)] if s.baseline in s.marks else s.marks[0]
    if rid is None:
        s.toast("b sets the baseline: select a run", "info")
        return
    if rid not in s.marks:
        s.marks.append(rid)
    s.baseline = rid
    s.toast(f"baseline ★ {s.label(rid)}", "info")


def cycle_chart(s: State, what: str) -> None:
    """y, s, z: log-y on or off; the next smoothing; the next zoom."""
    c = s.chart
    if what == "log":
        c.log_y = not c.log_y
    elif what == "smooth":
        c.smooth = SMOOTHING[(SMOOTHING.index(c.smooth) + 1) % len(SMOOTHING)] if c.smooth in SMOOTHING else 0.0
    else:
        c.last_n = ZOOMS[(ZOOMS.index(c.last_n) + 1) % len(ZOOMS)] if c.last_n in ZOOMS else None
    s.toast({"log": f"log-y {'on' if c.log_y else 'off'}", "smooth": f"smoothing {c.smooth or 'off'}",
             "zoom": f"zoom: {'last ' + str(c.last_n) + ' steps' if c.last_n else 'all steps'}"}[what], "info", 1.5)
