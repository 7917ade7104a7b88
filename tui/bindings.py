"""The TUI's key map: every key, where it applies and what it does. The bindings, the `?` help
screen and the status bar's hints are all generated from what is registered here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitvault.tui import navigation
from gitvault.tui.views import artifacts as artifact_views

if TYPE_CHECKING:
    from gitvault.tui.app import TuiApp


def bind(tui: TuiApp) -> None:
    """Every key of the TUI: the help screen and the status bar are generated from these."""
    k, s = tui.keymap.add, tui.state
    k("global", "?", "help: every key, generated from the key map", "?", hint="help")(lambda e: tui.open_help())
    k("global", "q", "close this view; quit from the explorer", "q", hint="back/quit")(lambda e: tui.quit_or_back())
    k("global", "Ctrl-C", "quit at once")(lambda e: None)  # bound in _key_bindings, without a filter
    k("global", "Ctrl-F", "search experiments, runs, tags and notes", "c-f", hint="search")(
        lambda e: tui.open_input("search"))
    k("global", ":", "command line (Tab completes): run, exp, commit, git, compare, where, q", ":",
      hint="command")(lambda e: tui.open_input("command"))
    k("global", "g l", "git view: commits of this branch with their runs", ("g", "l"))(lambda e: tui.open_git())

    k("runs", "Tab", "switch between the tree and the detail panel", "tab", "s-tab")(
        lambda e: tui.focus("detail" if s.focus == "tree" else "tree"))
    k("runs", "1 / 2", "focus the tree / the detail panel", "1", "2")(
        lambda e: tui.focus("tree" if e.data == "1" else "detail"))
    k("runs", "/", "filter the tree as you type (path or name)", "/", hint="filter")(lambda e: tui.open_find())
    k("runs", "f", "filter runs: metrics.val_loss < 0.2 and tag = 'sweep'", "f", hint="where")(
        lambda e: tui.open_input("where", s.where))
    k("runs", "Space", "mark or unmark the run (for compare and diff)", "space", hint="mark")(lambda e: navigation.mark(s))
    k("runs", "v", "mark a range: v on the first run, v on the last", "v")(lambda e: navigation.range_mark(s))
    k("runs", "b", "make the run the baseline ★ of diff", "b")(lambda e: navigation.baseline(s))
    k("runs", "c", "compare the marked runs", "c", hint="compare")(lambda e: tui.open_compare("compare"))
    k("runs", "d", "diff the marked runs against the baseline", "d")(lambda e: tui.open_compare("diff"))
    k("runs", "< / >", "the tree pane narrower / wider (kept for next time)", "<", ">")(
        lambda e: tui.resize_tree(-1 if e.data == "<" else 1))
    k("runs", "H", "show or hide archived runs", "H")(lambda e: tui.toggle_archived())
    k("runs", "S / I", "a run's summary / info tab", "S", "I")(lambda e: setattr(s, "detail_tab", "summary" if e.data == "S" else "info"))
    k("runs", "o", "the run's files and images: thumbnails, [ / ] through a series, Enter opens one", "o",
      hint="files")(lambda e: tui.open_files())
    k("runs", "[ / ]", "previous / next run of the experiment (wraps around)", "[", "]")(
        lambda e: navigation.sibling_run(s, -1 if e.data == "[" else 1))
    k("runs", "#", "tables: cell values or colours", "#")(lambda e: artifact_views.switch_values(s))

    k("runs", "t", "tags: type to filter or create, Enter toggles and saves", "t", hint="tag")(lambda e: tui.open_tags())
    k("runs", "n", "append a note to the run", "n")(lambda e: tui.actions.note())
    k("runs", "Ctrl-E", "write a note in $EDITOR (then vi, then nano)", "c-e")(lambda e: tui.actions.edit_note())
    k("runs", "R", "rename the run", "R")(lambda e: tui.actions.rename())
    k("runs", "F / C", "mark the run failed / completed (asks first)", "F", "C")(
        lambda e: tui.actions.mark("failed" if e.data == "F" else "completed"))
    k("runs", "A / U", "archive / unarchive the run or experiment (a flag: statuses stay)", "A", "U")(
        lambda e: tui.actions.archive(e.data == "A"))
    k("runs", "x", "delete the run or experiment (asks first; u undoes)", "x")(lambda e: tui.actions.delete())
    k("global", "M", "the model registry (Enter: the run that produced a model)", "M")(lambda e: tui.open_models())
    k("global", "T", "TODOs: all, or those of the selected run or experiment", "T")(lambda e: tui.open_todos())
    k("global", "L", "lineage of the selected run, experiment or model", "L")(lambda e: tui.open_lineage())
    k("list", "Enter", "open the row (a run, an experiment, a model; a file with the system viewer); a TODO: done or not",
      "enter", hint="open")(
        lambda e: tui.activate())
    k("todo", "Space", "TODO done or not done", "space", hint="done")(lambda e: tui.activate())
    k("todo", "a", "add a TODO (to the run or experiment of the filter, else global)", "a", hint="add")(
        lambda e: tui.actions.add_todo())
    k("todo", "x", "delete the TODO (asks first; u undoes)", "x")(lambda e: tui.actions.delete_todo())
    k("todo", "0 / 1 / 2", "priority: none, !, !!", "0", "1", "2")(lambda e: tui.actions.todo_priority(int(e.data)))
    k("todo", "A / G / E / R", "show all, global, the experiment's or the run's TODOs", "A", "G", "E", "R")(
        lambda e: tui.todo_scope(e.data))
    k("global", "u", "undo the last change made here", "u", hint="undo")(lambda e: tui.actions.undo())
    k("global", "Ctrl-R", "redo what u undid", "c-r")(lambda e: tui.actions.redo())

    k("tree", "j / ↓", "move down", "j", "down")(lambda e: s.move(1))
    k("tree", "k / ↑", "move up", "k", "up")(lambda e: s.move(-1))
    k("tree", "g g / Home", "first row", ("g", "g"), "home")(lambda e: s.move_to(0))
    k("tree", "G / End", "last row", "G", "end")(lambda e: s.move_to(len(s.rows) - 1))
    k("tree", "PgDn / Ctrl-D", "page down", "pagedown", "c-d")(lambda e: s.move(tui.page()))
    k("tree", "PgUp / Ctrl-U", "page up", "pageup", "c-u")(lambda e: s.move(-tui.page()))
    k("tree", "Enter", "open or close an experiment; on a run, focus its detail", "enter", hint="open")(
        lambda e: navigation.enter(s))
    k("tree", "→ / l", "open an experiment, then go to its first child", "right", "l")(lambda e: navigation.open_right(s))
    k("tree", "← / h", "close, or go to the parent", "left", "h")(lambda e: navigation.close_left(s))
    k("tree", "Esc", "clear the filter, go to the parent, then the overview", "escape", hint="up")(
        lambda e: navigation.escape(s))

    k("detail", "j / ↓", "scroll down", "j", "down", hint="scroll")(lambda e: tui.scroll_detail(1))
    k("detail", "k / ↑", "scroll up", "k", "up")(lambda e: tui.scroll_detail(-1))
    k("detail", "PgDn / Ctrl-D", "page down", "pagedown", "c-d")(lambda e: tui.scroll_detail(tui.page()))
    k("detail", "PgUp / Ctrl-U", "page up", "pageup", "c-u")(lambda e: tui.scroll_detail(-tui.page()))
    k("detail", "g g / Home", "top", ("g", "g"), "home")(lambda e: tui.scroll_detail(-10 ** 9))
    k("detail", "G / End", "bottom", "G", "end")(lambda e: tui.scroll_detail(10 ** 9))
    k("detail", "← / →", "previous / next run of the experiment", "left", "right")(
        lambda e: navigation.sibling_run(s, -1 if e.key_sequence[0].key == "left" else 1))
    k("detail", "Esc / h", "back to the tree", "escape", "h", hint="tree")(lambda e: tui.focus("tree"))

    k("charts", "y", "charts: log-y on or off", "y", hint="log-y")(lambda e: navigation.cycle_chart(s, "log"))
    k("charts", "s", "charts: smoothing (off, 0.6, 0.9)", "s")(lambda e: navigation.cycle_chart(s, "smooth"))
    k("charts", "z", "charts: zoom to the last 1000, 200, 50 steps, or all", "z")(lambda e: navigation.cycle_chart(s, "zoom"))

    k("compare", "j / ↓", "scroll down", "j", "down", hint="scroll")(lambda e: tui.view_move(1))
    k("compare", "k / ↑", "scroll up", "k", "up")(lambda e: tui.view_move(-1))
    k("compare", "PgDn / Ctrl-D", "page down", "pagedown", "c-d")(lambda e: tui.view_move(tui.page()))
    k("compare", "PgUp / Ctrl-U", "page up", "pageup", "c-u")(lambda e: tui.view_move(-tui.page()))
    k("compare", "C / D", "compare / diff", "C", "D", hint="compare/diff")(
        lambda e: tui.open_compare("compare" if e.data == "C" else "diff"))
    k("compare", "b", "the next marked run becomes the baseline ★", "b", hint="baseline")(lambda e: navigation.baseline(s))
    k("compare", "Esc", "back", "escape")(lambda e: tui.quit_or_back())

    k("list", "j / ↓", "move down", "j", "down", hint="move")(lambda e: tui.view_move(1))
    k("list", "k / ↑", "move up", "k", "up")(lambda e: tui.view_move(-1))
    k("list", "g g / Home", "first row", ("g", "g"), "home")(lambda e: tui.view_move(-10 ** 9))
    k("list", "End", "last row", "end")(lambda e: tui.view_move(10 ** 9))

    k("list", "Esc", "back", "escape")(lambda e: tui.quit_or_back())

    k("files", "[ / ]", "previous / next image of the series under the cursor", "[", "]", hint="step")(
        lambda e: tui.step_series(-1 if e.data == "[" else 1))

    k("help", "j / ↓", "scroll down", "j", "down")(lambda e: tui.view_move(1))
    k("help", "k / ↑", "scroll up", "k", "up")(lambda e: tui.view_move(-1))
    k("help", "PgDn / Space", "page down", "pagedown", "space")(lambda e: tui.view_move(tui.page()))
    k("help", "PgUp", "page up", "pageup")(lambda e: tui.view_move(-tui.page()))
    k("help", "/", "filter the keys", "/", hint="filter")(lambda e: tui.open_input("help-filter", tui.help_filter))
    k("help", "q / Esc / ?", "close the help", "q", "escape", "?", hint="close")(lambda e: tui.quit_or_back())
