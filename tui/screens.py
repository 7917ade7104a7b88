"""The full-screen views (screens): compare and diff, the git view, the model registry, the TODO
list, the lineage view and help; their text, their cursor and what Enter opens. A part of
`tui.app.TuiApp` (a mixin: it works on the application's state, declared below for the type
checker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from prompt_toolkit.formatted_text import StyleAndTextTuples

from gitvault.tui.views import compare as compare_view
from gitvault.tui.views import lists, media, records
from gitvault.tui.views.text import Line

if TYPE_CHECKING:
    from gitvault.tui.actions import Actions
    from gitvault.tui.keys import KeyMap
    from gitvault.tui.state import State

LIST_VIEWS = ("git", "models", "todo", "lineage", "files")  # full-screen lists with a cursor (the rest scroll)


class Screens:
    if TYPE_CHECKING:  # the application's, `tui.app.TuiApp`
        state: State
        actions: Actions
        keymap: KeyMap
        cursors: dict[str, int]
        view_scroll: int
        help_scroll: int
        help_filter: str
        _entries: tuple[Any, list[lists.Entry]] | None
        _pending_model: str | None

        def size(self) -> tuple[int, int]: ...
        def ensure(self) -> None: ...
        def drawn(self, draw: Callable[[], Any], fallback: Any) -> Any: ...
        def jump(self, key: str) -> None: ...
        def request(self, name: str, fn: Callable[..., Any], done: Callable[[Any], None], *args: Any) -> None: ...

    @property
    def git_cursor(self) -> int:
        return self.cursors.get("git", 0)

    @git_cursor.setter
    def git_cursor(self, row: int) -> None:
        self.cursors["git"] = row

    def _view_title(self) -> StyleAndTextTuples:
        target = self.state.lineage_of[2] if self.state.lineage_of else ""
        names = {"compare": "Compare", "diff": "Diff", "git": "Git: commits and their runs", "help": "Help",
                 "models": "Model registry   Enter: the run that produced it · L its lineage",
                 "todo": "TODOs", "lineage": f"Lineage of {target}   Enter opens a node",
                 "files": f"Files and images of {self.state.label(self.state.files_of) if self.state.files_of else ''}"
                          "   Enter opens one · [ / ] steps through a series"}
        return [("class:border.focused bold", f" {names.get(self.state.view, '')}"),
                ("class:dim", "   q back")]

    def view_entries(self) -> list[lists.Entry]:
        s = self.state
        width = self.size()[0]
        self.ensure()
        stamp = (s.view, s.version, width, tuple(s.marks), s.baseline, s.todo_scope, s.lineage_of,
                 (s.chart.log_y, s.chart.smooth, s.chart.last_n), self.help_filter, s.files_of,
                 tuple(sorted(s.series_at.items())), len(s.thumbs), self.cursors.get("files", 0))
        if self._entries is not None and self._entries[0] == stamp:
            return self._entries[1]
        def build() -> list[lists.Entry]:
            if s.view == "git":
                return lists.git_entries(s.history, width)
            if s.view == "models":
                return records.model_entries(s.models, s.record_labels, width)
            if s.view == "todo":
                return records.todo_entries(s.todos, s.record_labels, s.todo_scope, width)
            if s.view == "lineage":
                return records.lineage_entries(s.lineage, width)
            if s.view == "help":
                return lists.help_entries(self.keymap, self.help_filter, width)
            if s.view == "files":
                count = len(self.file_rows())
                lines = media.screen(s.files.get(s.files_of or ""), self.cursors.get("files", 0), s.series_at,
                                     s.thumbs.get(self.thumb_key() or ()), width)
                return [lists.Entry(f"f:{i}" if i < count else None, line) for i, line in enumerate(lines)]
            lines = compare_view.compare(s, width) if s.view == "compare" else compare_view.diff(s, width)
            return [lists.Entry(None, line) for line in lines]

        entries = self.drawn(build, [lists.Entry(None, [("class:error", "could not draw this")])])
        self._entries = (stamp, entries)
        return entries

    def _view_line(self, i: int) -> Line:
        entries = self.view_entries()
        if self.state.view in LIST_VIEWS:
            entry = entries[i]
            if i == self._view_cursor():  # a thumbnail beside the row keeps its colours
                return [(style if style.startswith(media.THUMB) else style + " class:selected", text)
                        for style, text, *_ in entry.line] or [("class:selected", " ")]
            return entry.line
        offset = self.help_scroll if self.state.view == "help" else self.view_scroll
        j = i + offset
        return entries[j].line if j < len(entries) else []

    def _view_cursor(self) -> int:
        return self.cursors.get(self.state.view, 0) if self.state.view in LIST_VIEWS else 0

    def view_move(self, n: int) -> None:
        entries = self.view_entries()
        if self.state.view == "files":  # the rows, not the thumbnail's lines below them
            self.cursors["files"] = max(0, min(len(self.file_rows()) - 1, self._view_cursor() + n))
        elif self.state.view in LIST_VIEWS:
            self.cursors[self.state.view] = max(0, min(len(entries) - 1, self._view_cursor() + n))
        elif self.state.view == "help":
            self.help_scroll = max(0, min(max(0, len(entries) - 3), self.help_scroll + n))
        else:
            self.view_scroll = max(0, min(max(0, len(entries) - 3), self.view_scroll + n))

    def _click_view(self, y: int) -> None:
        if self.state.view in LIST_VIEWS:
            self.cursors[self.state.view] = y
            self.activate()

    def entry(self) -> lists.Entry | None:
        """The row under a list view's cursor."""
        entries = self.view_entries()
        row = self._view_cursor()
        return entries[row] if 0 <= row < len(entries) else None

    def activate(self) -> None:
        """Enter in a list view: open what the row names (a run or experiment in the tree, a
        model in the registry); in the TODO view, done or not done."""
        view, entry = self.state.view, self.entry()
        if entry is None:
            return
        if view == "files":
            self.open_file()
        elif view == "todo":
            self.actions.todo_done(entry.commit) if entry.commit else None
        elif entry.key is None:
            self.state.toast("this commit has no runs" if view == "git" else "nothing to open here", "info")
        elif entry.key.startswith("m:"):
            self.open_models(entry.key[2:])
        else:
            self.jump(entry.key)

    def open_models(self, model_id: str | None = None) -> None:
        self.state.open_view("models")
        if model_id is not None:
            self._pending_model = model_id
            self._focus_model()

    def _focus_model(self) -> None:
        wanted = self._pending_model
        if wanted is None:
            return
        for i, e in enumerate(self.view_entries()):
            if e.commit == wanted:
                self.cursors["models"], self._pending_model = i, None
                return

    def open_todos(self) -> None:
        s = self.state
        node = s.selected
        s.todo_anchor = (node.kind, node.id) if node is not None else None
        s.todos = None
        s.open_view("todo")

    def todo_scope(self, key: str) -> None:
        s = self.state
        scope = records.TODO_FILTERS[key]
        if scope in ("experiment", "run") and (s.todo_anchor is None or (scope == "run") != (s.todo_anchor[0] == "run")):
            s.toast(f"{key} shows a {scope}'s TODOs: open the TODO view on one (select it, then T)", "info")
            return
        s.todo_scope, s.todos = scope, None
        self.cursors["todo"] = 0

    def open_lineage(self) -> None:
        s = self.state
        if s.view == "models":
            entry = self.entry()
            model = next((m for m in s.models or [] if entry is not None and m["id"] == entry.commit), None)
            if model is None:
                s.toast("L shows the lineage of the model under the cursor", "info")
                return
            s.lineage_of = ("model", model["id"], f"model {model['name']}@{model['version']}")
        else:
            node = s.selected
            if node is None:
                s.toast("L shows the lineage of the selected run or experiment: select one", "info")
                return
            s.lineage_of = (node.kind, node.id, f"{node.kind} {node.path}")
        s.lineage = None
        self.cursors["lineage"] = 0
        s.open_view("lineage")

    def open_compare(self, view: str) -> None:
        s = self.state
        if len(s.marks) < 2:
            s.toast(f"{'c compares' if view == 'compare' else 'd diffs'} the marked runs: mark at least two with Space", "error")
            return
        if s.view in ("compare", "diff"):
            s.views[-1] = view
        else:
            s.open_view(view)
        self.view_scroll = 0

    def open_git(self) -> None:
        s = self.state
        s.open_view("git")
        rid = s.selected_run
        entries = self.view_entries()
        self.git_cursor = next((i for i, e in enumerate(entries) if rid and e.key == f"r:{rid}"), 0)

    # -- files and images ------------------------------------------------------------------------

    def open_files(self) -> None:
        """``o``: the selected run's files and images."""
        s = self.state
        run_id = s.selected_run
        if run_id is None:
            s.toast("o lists a run's files and images: select a run", "info")
            return
        if s.files_of != run_id:
            s.files_of, s.series_at = run_id, {}
            self.cursors["files"] = 0
        s.open_view("files")

    def file_rows(self) -> list[media.Row]:
        return media.rows(self.state.files.get(self.state.files_of or "") or [])

    def _file_row(self) -> media.Row | None:
        found = self.file_rows()
        row = self.cursors.get("files", 0)
        return found[row] if 0 <= row < len(found) else None

    def thumb_key(self) -> tuple[Any, ...] | None:
        """(run, name, step, columns, lines) of the thumbnail the files view shows now, if any."""
        row = self._file_row()
        if row is None or row.kind != "image" or self.state.files_of is None:
            return None
        cols, lines = media.thumb_size(*self.size())
        return (self.state.files_of, row.name, media.shown(row, self.state.series_at).get("step"), cols, lines)

    def step_series(self, delta: int) -> None:
        """``[`` / ``]``: the previous / next image of the series under the cursor."""
        row = self._file_row()
        if row is None or row.kind != "image" or len(row.items) < 2:
            self.state.toast("[ and ] step through an image series: move to one logged with step=", "info")
            return
        at = row.items.index(media.shown(row, self.state.series_at))
        self.state.series_at[row.name] = max(0, min(len(row.items) - 1, at + delta))

    def open_file(self) -> None:
        """Enter in the files view: the file, or the image at the step shown, in the system viewer."""
        row, run_id = self._file_row(), self.state.files_of
        if row is None or run_id is None:
            return
        item = media.shown(row, self.state.series_at)
        step = item.get("step")

        def start(q: Any) -> Any:
            from gitvault.query.files import open_externally

            return open_externally(q.file(run_id, row.name, step))

        self.request("open-file", lambda q: start(q),
                     lambda copy: self.state.toast(f"opened {row.name} in the system viewer ({copy})", "info"))
