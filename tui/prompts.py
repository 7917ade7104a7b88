"""What the TUI asks its user: a line of text (the `:` command line, the filter bar, the tree's
`/` filter, a note, a name), a confirmation before a destructive change, the tag picker and the
search popup. A part of `tui.app.TuiApp` (a mixin: it works on the application's state, worker
and layout, declared below for the type checker)."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples

from gitvault.errors import VaultError
from gitvault.tui import loads
from gitvault.tui.views import lists
from gitvault.tui.views.text import Line, wrap

if TYPE_CHECKING:
    from prompt_toolkit.application import Application
    from prompt_toolkit.layout import Window

    from gitvault.query.worker import QueryWorker
    from gitvault.tui.actions import Actions
    from gitvault.tui.app import TuiApp
    from gitvault.tui.state import State

INPUTS = ("search", "command", "where", "find", "help-filter", "line", "tags")
LINE_INPUTS = ("command", "where", "find", "help-filter", "line")  # one line above the status bar


class Prompts:
    if TYPE_CHECKING:  # the application's, `tui.app.TuiApp`
        state: State
        app: Application[int]
        worker: QueryWorker
        actions: Actions
        buffers: dict[str, Buffer]
        popup: str | None
        line_prompt: str
        line_accept: Callable[[str], None]
        asking: tuple[str, Callable[[], None]] | None
        tag_cursor: int
        search_cursor: int
        search_results: list[dict[str, Any]]
        where_error: str
        help_filter: str
        help_scroll: int
        view_window: Window
        tree_window: Window

        def request(self, name: str, fn: Callable[..., Any], done: Callable[[Any], None], *args: Any,
                    force: bool = False, failed: Callable[[], None] | None = None) -> None: ...
        @property
        def pending(self) -> set[str]: ...
        def jump(self, key: str) -> None: ...
        def open_git(self) -> None: ...
        def open_compare(self, view: str) -> None: ...
        def view_entries(self) -> list[lists.Entry]: ...
        def popup_width(self) -> int: ...

    def _input_prompt(self) -> StyleAndTextTuples:
        prompts = {"command": ":", "where": "filter (e.g. metrics.val_loss < 0.2 and tag = 'sweep'): ",
                   "find": "/", "help-filter": "help /", "line": self.line_prompt}
        return [("class:accent bold", prompts.get(self.popup or "", ""))]

    def _question(self) -> StyleAndTextTuples:
        if self.asking is None:
            return []
        lines = wrap(self.asking[0], max(20, min(80, self.popup_width()) - 2))
        text = "\n".join(" " + "".join(t for _, t, *_ in line) for line in lines)
        return [("class:popup.title", " Confirm "), ("class:popup", "\n" + text + "\n\n"),
                ("class:statusbar.key", " Enter/y"), ("class:popup", " confirm   "),
                ("class:statusbar.key", "Esc/n"), ("class:popup", " cancel ")]

    def ask_line(self, prompt: str, text: str, on_accept: Callable[[str], None]) -> None:
        """One line of text above the status bar (a note, a name); Enter gives it to ``on_accept``."""
        self.line_prompt, self.line_accept = prompt, on_accept
        self.open_input("line", text)

    def confirm(self, question: str, action: Callable[[], None]) -> None:
        """Ask before a destructive change: Enter or y does it, Esc or n does not (and says so)."""
        self.asking = (question, action)

    def _answer(self, yes: bool) -> None:
        asked, self.asking = self.asking, None
        if asked is not None and yes:
            asked[1]()
        elif asked is not None:
            self.state.toast("cancelled: nothing changed", "info")

    def open_tags(self) -> None:
        node = self.state.selected
        if node is None or node.kind != "run":
            self.state.toast("t tags a run: select one (→ opens an experiment)", "info")
            return
        if node.status == "running":
            self.state.toast(f"{node.path} is still running: tag it once it has ended", "error")
            return
        self.tag_cursor = 0
        self.open_input("tags")

    def tag_choices(self) -> list[tuple[str, bool, bool]]:
        """(tag, on the run, to create) for the picker: the run's tags, the tags of
        [[tags.definitions]] and every tag used elsewhere that hold the typed text, then the typed
        text itself when it is a new tag (first when nothing else matches, so Enter creates it)."""
        node = self.state.selected
        if node is None or node.kind != "run":
            return []
        mine = list(self.state.runs.get(node.id, {}).get("tags") or [])
        known = list(dict.fromkeys([*mine, *self.state.tag_colours, *self.state.all_tags]))
        typed = self.buffers["tags"].text.strip()
        shown = [(t, t in mine, False) for t in known if typed.lower() in t.lower()]
        if typed and typed not in known:
            shown.append((typed, False, True))
        return shown

    def _tags_title(self) -> StyleAndTextTuples:
        node = self.state.selected
        mine = self.state.runs.get(node.id, {}).get("tags") if node is not None else None
        return [("class:popup.title", f" Tags of {node.path if node is not None else ''}: {', '.join(mine or []) or 'none'} ")]

    def _tag_line(self, i: int, width: int) -> Line:
        choices = self.tag_choices()
        if not choices:
            return [("class:dim", "no tags yet: type one")]
        tag, on, new = choices[i]
        colour = self.state.tag_colours.get(tag, "")
        line: Line = [("class:good" if new else "", "+ create " if new else ("[x] " if on else "[ ] ")),
                      (f"fg:{colour}" if colour else "class:tag", tag)]
        return [(st + " class:selected", t) for st, t, *_ in line] if i == self.tag_cursor else line

    def _toggle_tag(self) -> None:
        choices = self.tag_choices()
        node = self.state.selected
        if not choices or node is None:
            return
        tag, _, _ = choices[min(self.tag_cursor, len(choices) - 1)]
        self.actions.tag(node, tag)
        self.buffers["tags"].reset()

    def _search_entries(self) -> list[lists.Entry]:
        return lists.search_entries(self.search_results, self.popup_width())

    def _search_line(self, i: int, width: int) -> Line:
        entries = self._search_entries()
        if not entries:
            text = self.buffers["search"].text
            return [("class:dim", "type to search" if not text.strip() else f"nothing matches {text!r}")]
        line = entries[i].line
        return [(s + " class:selected", t) for s, t, *_ in line] if i == self.search_cursor else line

    def _click_search(self, y: int) -> None:
        self.search_cursor = y
        self._jump_from_search()

    def _jump_from_search(self) -> None:
        if 0 <= self.search_cursor < len(self.search_results):
            self.jump(self.search_results[self.search_cursor]["key"])
            self._close_input()

    def open_input(self, name: str, text: str = "") -> None:
        self.popup = name
        self.buffers[name].set_document(Document(text, len(text)), bypass_readonly=True)
        self.app.layout.focus(self.buffers[name])
        if name == "search":
            self.search_cursor = 0

    def _close_input(self) -> None:
        self.popup = None
        self.where_error = ""
        target = self.view_window if self.state.view != "explorer" else self.tree_window
        try:
            self.app.layout.focus(target)
        except ValueError:
            pass

    def _typed(self, buffer: Buffer) -> None:
        name = buffer.name
        if name == "find":
            self.state.tree_filter = buffer.text
            self.state.refresh_rows()
        elif name == "search":
            self.search_cursor = 0
            self._search()
        elif name == "help-filter":
            self.help_filter, self.help_scroll = buffer.text, 0
        elif name == "where":
            self.where_error = ""

    def _search(self) -> None:
        """Search the text typed so far, one search at a time on the worker: keys typed meanwhile
        are searched together when it answers (never a queue of searches for texts gone by)."""
        if "search" not in self.pending:
            text = self.buffers["search"].text
            self.request("search", loads.search, functools.partial(self._set_search, text), text)

    def _set_search(self, text: str, results: list[dict[str, Any]]) -> None:
        if text == self.buffers["search"].text:
            self.search_results = results
        elif self.popup == "search":  # typed over while it ran: search what is there now
            self._search_later()

    def _search_later(self) -> None:
        """After the answer in hand is applied (its name is still pending until then)."""
        asyncio.get_event_loop().call_soon(self._search)

    def _accept(self) -> None:
        name = self.popup
        text = self.buffers[name].text if name in self.buffers else ""
        if name == "search":
            self._jump_from_search()
        elif name == "where":
            self._apply_where(text)
        elif name == "command":
            self._close_input()
            self.command(text)
        elif name == "line":
            self._close_input()
            self.line_accept(text)
        elif name == "tags":
            self._toggle_tag()  # the picker stays open: toggle another, Esc closes
        else:
            self._close_input()

    def _cancel(self) -> None:
        if self.popup == "find":
            self.state.tree_filter = ""
            self.state.refresh_rows()
        elif self.popup == "help-filter":
            self.help_filter = ""
        self._close_input()

    def _apply_where(self, text: str) -> None:
        s = self.state
        if not text.strip():
            s.where, s.where_ids = "", None
            s.refresh_rows()
            self._close_input()
            return

        def found(ids: set[str]) -> None:
            s.where, s.where_ids = text, ids
            s.refresh_rows()
            s.toast(f"{len(ids)} runs match {text}", "info")
            self._close_input()

        def run(q: Any, where: str) -> set[str]:
            return {item["id"] for item in q.runs(where=where, limit=None, columns=["id"])["items"]}

        future = self.worker.submit(lambda q: run(q, text))
        loop = asyncio.get_event_loop()

        def settled(f: Future[set[str]]) -> None:
            try:
                found(f.result())
            except (VaultError, ValueError) as exc:
                self.where_error = str(exc).splitlines()[0]
            self.app.invalidate()

        future.add_done_callback(lambda f: loop.call_soon_threadsafe(settled, f))

    def command(self, text: str) -> None:
        """``:run NAME``, ``:exp PATH``, ``:commit SHA``, ``:git``, ``:compare``, ``:diff``,
        ``:where EXPR``, ``:archived``, ``:clear``, ``:help``, ``:q``."""
        s = self.state
        word, _, rest = text.strip().partition(" ")
        rest = rest.strip()
        if word in ("q", "quit"):
            self.app.exit(result=0)
        elif word == "run":
            matches = [n for n in s.tree.nodes.values() if n.kind == "run" and rest and
                       (n.id.startswith(rest) or n.path == rest or n.path.endswith("#" + rest) or n.path.endswith(rest))]
            if len(matches) == 1:
                self.jump(matches[0].key)
            else:
                s.toast(f"{len(matches)} runs match {rest!r}: give more of the label (path#name) or the id", "error")
        elif word in ("exp", "experiment"):
            node = next((n for n in s.tree.nodes.values() if n.kind == "experiment" and n.path == rest.strip("/")), None)
            if node is None:
                s.toast(f"no experiment {rest!r} (Tab completes paths)", "error")
            else:
                self.jump(node.key)
        elif word == "commit":
            self.open_git()
            entries = self.view_entries()
            hit = next((i for i, e in enumerate(entries) if e.commit and rest and e.commit.startswith(rest)), None)
            if hit is None and s.history is not None:
                s.toast(f"commit {rest!r} is not among the last {len(s.history.get('items', []))} of this branch", "error")
            self.git_cursor = hit or 0
        elif word == "git":
            self.open_git()
        elif word in ("compare", "diff"):
            self.open_compare(word)
        elif word == "where":
            self._apply_where(rest)
        elif word == "archived":
            self.toggle_archived()
        elif word == "clear":
            s.marks, s.baseline = [], None
            s.toast("marks cleared", "info")
        elif word == "help":
            s.open_view("help")
        elif word:
            s.toast(f"unknown command {word!r}: run, exp, commit, git, compare, diff, where, archived, clear, help, q", "error")

    def toggle_archived(self) -> None:
        s = self.state
        s.show_archived = not s.show_archived
        s.refresh_rows()
        s.toast("showing archived runs" if s.show_archived else "archived runs hidden", "info")

    def open_find(self) -> None:
        self.state.focus = "tree"
        self.open_input("find", self.state.tree_filter)


class Commands(Completer):
    """Completion for the `:` line: command words, then run labels, experiment paths or commits."""

    WORDS = ("run", "exp", "commit", "git", "compare", "diff", "where", "archived", "clear", "help", "q")

    def __init__(self, tui: "TuiApp") -> None:
        self.tui = tui

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Any:
        text = document.text_before_cursor
        word, space, rest = text.partition(" ")
        if not space:
            for w in self.WORDS:
                if w.startswith(word):
                    yield Completion(w, start_position=-len(word))
            return
        nodes = self.tui.state.tree.nodes.values()
        if word == "run":
            options = [n.path for n in nodes if n.kind == "run"]
        elif word in ("exp", "experiment"):
            options = [n.path for n in nodes if n.kind == "experiment"]
        elif word == "commit":
            history = self.tui.state.history or {}
            options = [c["short"] for c in history.get("items", [])]
        else:
            return
        lowered = rest.lower()
        shown = 0
        for option in options:
            if lowered in option.lower():
                yield Completion(option, start_position=-len(rest))
                shown += 1
                if shown >= 50:
                    return
