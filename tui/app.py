"""`git vault tui`: the full-screen application around one `State`.

The layout reads the state through callables; keys change it; everything the vault holds comes
from `gitvault.query` on a worker thread (`tui.loads`), so a keypress never waits on disk. A
background task asks the query layer what changed every half second (`Query.changes`, 0.1 ms
when nothing did) and reloads only what it must, so live runs grow on screen within a second."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, TypeVar

from prompt_toolkit.application import Application, get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import Completer, Completion, CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindings, KeyBindingsBase, KeyPressEvent, merge_key_bindings
from prompt_toolkit.layout import (ConditionalContainer, DynamicContainer, Float, FloatContainer, HSplit, Layout,
                                   VSplit, Window)
from prompt_toolkit.layout.containers import AnyContainer
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension

from gitvault.errors import RecordNotFoundError, VaultError
from gitvault.query.worker import QueryWorker
from gitvault.tui import bindings, loads, navigation, session
from gitvault.tui.actions import Actions
from gitvault.tui.controls import LineControl
from gitvault.tui.keys import KeyMap
from gitvault.tui.state import State
from gitvault.tui.views import compare as compare_view
from gitvault.tui.views import chrome, lists, panels, records
from gitvault.tui.views.text import Line, wrap

T = TypeVar("T")
MIN_WIDTH, MIN_HEIGHT = 60, 12
POLL_SECONDS = 0.5
INPUTS = ("search", "command", "where", "find", "help-filter", "line", "tags")
LINE_INPUTS = ("command", "where", "find", "help-filter", "line")  # one line above the status bar
LIST_VIEWS = ("git", "models", "todo", "lineage")  # full-screen lists with a cursor (the rest scroll)

class TuiApp:
    """The application. ``directory``: any path in the repository (None: the current one)."""

    def __init__(self, directory: str | Path | None = None, *, poll_seconds: float = POLL_SECONDS,
                 worker: QueryWorker | None = None,
                 prefetched: tuple[Future[Any], Future[Any]] | None = None) -> None:
        """``worker``: a query worker already open; ``prefetched``: `loads.experiments` and
        `loads.index` already asked of it."""
        self.state = State()
        self.worker = worker or QueryWorker(directory, thread_name="gitvault-tui")
        self.prefetched = prefetched
        self.tree_fraction = 0.3  # the tree pane's share of the width (`<` and `>`, kept in the session)
        self.session_file = ""
        self._session: dict[str, Any] = {}
        self.config_file, self.config_stamp = "", None  # config.toml, and its time when read
        self.poll_seconds = poll_seconds
        self.inflight: dict[str, int] = {}  # request name -> calls on their way (a forced one may overlap)
        self.loaded_gen: dict[str, int] = {}
        self.data_gen = 0  # bumped when the vault changed
        self.run_gen: dict[str, int] = {}  # bumped when a live run grew
        self.live_gen = 0
        self.token: str | None = None
        self.popup: str | None = None
        self.cursors: dict[str, int] = {}  # a list view's cursor row
        self._pending_model: str | None = None  # a model to put the registry's cursor on once it is loaded
        self.search_cursor = 0
        self.search_results: list[dict[str, Any]] = []
        self.detail_scroll = 0
        self.view_scroll = 0
        self.help_scroll = 0
        self.help_filter = ""
        self.line_prompt = ""
        self.line_accept: Callable[[str], None] = lambda text: None
        self.asking: tuple[str, Callable[[], None]] | None = None
        self.tag_cursor = 0
        self.where_error = ""
        self._detail_key: Any = None
        self._doc: tuple[Any, list[Line]] | None = None
        self._entries: tuple[Any, list[lists.Entry]] | None = None
        self.actions = Actions(self)
        self.keymap = KeyMap()
        bindings.bind(self)
        self.buffers = {name: Buffer(name=name, multiline=False, on_text_changed=self._typed,
                                     completer=_Commands(self) if name == "command" else None,
                                     complete_while_typing=name == "command") for name in INPUTS}
        self.input_windows = {name: Window(BufferControl(self.buffers[name]), height=1,
                                           style="class:popup" if name == "search" else "")
                               for name in INPUTS}
        self.errors: list[str] = []  # unexpected exceptions in key handlers (shown as toasts; tests check it)
        self.app: Application[int] = Application(
            layout=Layout(self._layout()), key_bindings=self._key_bindings(), style=chrome.style({}),
            full_screen=True, mouse_support=True, min_redraw_interval=0.02, max_render_postpone_time=0.05)
        self.app.ttimeoutlen = 0.05  # Esc answers at once
        self.app.timeoutlen = 0.5  # `g g`, `g l`

    # -- running ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the vault's query layer now (on its worker), so a missing repository or vault is
        one error line before the screen is taken. The caches are brought up to date here."""
        try:
            self.worker.submit(lambda q: q.opened).result()
        except BaseException:
            self.worker.close()
            raise

    def run(self) -> int:
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        self.app.pre_run_callables.append(self._started)
        try:
            return int(await self.app.run_async() or 0)
        finally:
            if self.session_file and self.state.loaded:
                session.save(Path(self.session_file), self.state, self.tree_fraction)
            self.worker.close()

    def _started(self) -> None:
        self.request("settings", loads.settings, self._set_settings)
        if self.prefetched is not None:  # asked while the application was being imported and built
            first, full = self.prefetched
            self._adopt("experiments", first, self._set_experiments)
            self._adopt("index", full, self._set_index)
        else:
            self.request("experiments", loads.experiments, self._set_experiments)
            self.request("index", loads.index, self._set_index)
        self.app.create_background_task(self._watch())

    async def _watch(self) -> None:
        """Ask what changed every ``poll_seconds``; reload only what did."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self.state.loaded or "changes" in self.pending:
                continue
            self.inflight["changes"] = 1
            try:
                changes = await asyncio.wrap_future(self.worker.submit(lambda q: q.changes(self.token)))
            except (VaultError, OSError) as exc:
                self.state.problem = str(exc)
                self.app.invalidate()
                continue
            finally:
                self.inflight.pop("changes", None)
            if self.config_file and loads.stamp(self.config_file) != self.config_stamp:
                self.config_stamp = loads.stamp(self.config_file)
                self.request("settings", loads.settings, self._set_settings, force=True)
            first = self.token is None
            self.token = changes["token"]
            if first or not changes["changed"]:
                self._expire_toasts()
                continue
            grew = [c["id"] for c in changes["live"]]
            for rid in grew:
                self.run_gen[rid] = self.run_gen.get(rid, 0) + 1
            self.live_gen += 1 if grew else 0
            structural = changes["reset"] or changes["experiments"] or changes["records"] or changes["config"] \
                or any(c.get("new") for c in changes["live"]) or set(changes["runs"]) - set(grew)
            if structural:
                self.data_gen += 1
                self.request("index", loads.index, self._set_index, force=True)
            self.app.invalidate()

    def _expire_toasts(self) -> None:
        before = len(self.state.toasts)
        if len(self.state.live_toasts()) != before:
            self.app.invalidate()

    def request(self, name: str, fn: Callable[..., Any], done: Callable[[Any], None], *args: Any,
                force: bool = False) -> None:
        """``fn(query, *args)`` on the worker; ``done(result)`` on the UI thread, then a redraw.
        A request already on its way is not asked twice; an error becomes a toast (one line)."""
        if name in self.pending and not force:
            return
        self._adopt(name, self.worker.submit(lambda q: fn(q, *args)), done)

    def _adopt(self, name: str, future: Future[Any], done: Callable[[Any], None]) -> None:
        """Wait for ``future`` (a call on the worker) as the answer named ``name``."""
        self.inflight[name] = self.inflight.get(name, 0) + 1
        loop = asyncio.get_event_loop()
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(self._finish, name, f, done))

    def _finish(self, name: str, future: Future[Any], done: Callable[[Any], None]) -> None:
        self.inflight[name] -= 1
        if not self.inflight[name]:
            del self.inflight[name]
        try:
            result = future.result()
        except (VaultError, OSError, ValueError) as exc:
            if name == "index":
                self.state.problem = f"{exc}"
            elif isinstance(exc, RecordNotFoundError) and not name.startswith("write:"):
                pass  # a read of a run deleted or renamed meanwhile: the tree's reload follows
            else:
                self.state.toast(str(exc), "error", 6)
            self.loaded_gen[name] = self._gen_for(name)  # not asked again until something changes
        else:
            done(result)
        self._doc = self._entries = None  # drawn again from what came
        self.app.invalidate()

    @property
    def pending(self) -> set[str]:
        """The names of the answers on their way."""
        return set(self.inflight)

    def _gen_for(self, name: str) -> int:
        kind, _, ident = name.partition(":")
        if kind in ("run", "curves"):
            return self.data_gen * 1_000_000 + self.run_gen.get(ident, 0)
        return self.data_gen * 1_000_000 + self.live_gen

    def want(self, name: str, fn: Callable[..., Any], done: Callable[[Any], None], *args: Any) -> None:
        """Ask for ``name`` unless what is held is current (what is held stays on screen meanwhile)."""
        generation = self._gen_for(name)
        if self.loaded_gen.get(name) == generation or name in self.pending:
            return

        def keep(result: Any) -> None:
            self.loaded_gen[name] = generation
            done(result)

        self.request(name, fn, keep, *args)

    # -- answers ---------------------------------------------------------------------------------

    def _set_index(self, data: dict[str, Any]) -> None:
        self.state.problem = None
        self.state.set_index(data["experiments"], data["runs"])
        self.state.experiment_runs.clear()
        self.state.dashboard = None
        self._restore_session()

    def _set_settings(self, data: dict[str, Any]) -> None:
        """config.toml's view settings (on start, and again whenever the file changes)."""
        sections = data["sections"]
        first = not self.state.settings
        settings = session.settings_of(sections)
        self.state.settings = settings
        self.state.info_fields = [str(f) for f in sections.get("info", {}).get("fields", [])]
        self.state.tag_colours = {str(d["name"]): session.colour(str(d.get("color") or ""))
                                  for d in sections.get("tags", {}).get("definitions", []) or []
                                  if isinstance(d, dict) and d.get("name")}
        self.app.style = chrome.style(settings["theme"])
        self.config_file, self.config_stamp = data["config"], data["stamp"]
        if first:
            self.session_file = data["session_file"]
            self._session = data["session"]
            self.state.chart.smooth = settings["summary_smooth"]
            self._restore_session()
        for problem in settings["problems"]:
            self.state.toast(f"config.toml: {problem}", "error")

    def _restore_session(self) -> None:
        """The last session here, once both it and the runs have come."""
        if self._session and self.state.loaded:
            fraction = session.restore(self.state, self._session)
            if fraction is not None:
                self.tree_fraction = fraction
            self._session = {}
    def _set_experiments(self, data: dict[str, Any]) -> None:
        if not self.state.loaded:  # the full index has not come yet: the tree of experiments meanwhile
            self.state.set_experiments(data["experiments"])

    def _directions(self, data: dict[str, Any]) -> None:
        self.state.directions.update(data.get("directions") or {})

    def _ensure(self) -> None:
        """Ask for what the current view shows and does not hold (or holds from before a change)."""
        s = self.state
        if not s.loaded:
            return
        view = s.view
        if view == "explorer":
            node = s.selected
            if node is None:
                self.want("dashboard", loads.dashboard, self._set_dashboard)
            elif node.kind == "experiment":
                self.want(f"exp:{node.id}", loads.experiment_runs, functools.partial(self._set_experiment, node.id),
                          node.path)
                newest = panels.newest_run(s, node)
                if newest is not None:
                    self._want_run(newest.id, curves=True)
            else:
                self._want_run(node.id, curves=s.detail_tab == "summary")
        elif view in ("compare", "diff") and len(s.marks) >= 2:
            ids = list(s.marks)
            if s.comparison is None or s.comparison.get("ids") != ids:
                self.loaded_gen.pop("compare", None)
            self.want("compare", loads.compare, self._set_comparison, ids)
        elif view == "git":
            self.want("git", loads.history, self._set_history)
        elif view == "models":
            self.want("models", loads.models, self._set_models)
        elif view == "todo":
            scope_id = s.todo_anchor[1] if s.todo_anchor and s.todo_scope in ("experiment", "run") else None
            self.want(f"todos:{s.todo_scope}:{scope_id}", loads.todos,
                      functools.partial(self._set_todos, s.todo_scope), s.todo_scope, scope_id)
        elif view == "lineage" and s.lineage_of is not None:
            kind, ident, _ = s.lineage_of
            self.want(f"lineage:{kind}:{ident}", loads.lineage, self._set_lineage, kind, ident)

    def _want_run(self, run_id: str, curves: bool) -> None:
        self.want(f"run:{run_id}", loads.run, functools.partial(self._set_run, run_id), run_id)
        if curves:
            self.want(f"curves:{run_id}", loads.curves, functools.partial(self.state.curves.__setitem__, run_id), run_id)

    def _set_dashboard(self, data: dict[str, Any]) -> None:
        self._directions(data)
        self.state.dashboard = data

    def _set_experiment(self, exp_id: str, data: dict[str, Any]) -> None:
        self._directions(data)
        self.state.experiment_runs[exp_id] = data["runs"]

    def _set_run(self, run_id: str, data: dict[str, Any]) -> None:
        self._directions(data)
        self.state.details[run_id] = data

    def _set_comparison(self, data: dict[str, Any]) -> None:
        self._directions(data)
        self.state.comparison = data if data["ids"] == list(self.state.marks) else None

    def _set_history(self, data: dict[str, Any]) -> None:
        self.state.history = data

    def _set_models(self, data: dict[str, Any]) -> None:
        self.state.models = data["models"]
        self.state.record_labels.update(data["labels"])
        self._entries = None
        self._focus_model()

    def _set_todos(self, scope: str, data: dict[str, Any]) -> None:
        if scope != self.state.todo_scope:
            return
        current = self.entry() if self.state.view == "todo" else None
        self.state.todos = data["todos"]
        self.state.record_labels.update(data["labels"])
        self._entries = None
        if current is not None and current.commit:  # the cursor stays on its TODO when the list re-sorts
            rows = [i for i, e in enumerate(self._view_entries()) if e.commit == current.commit]
            if rows:
                self.cursors["todo"] = rows[0]

    def _set_lineage(self, data: dict[str, Any]) -> None:
        self.state.lineage = data

    # -- layout ----------------------------------------------------------------------------------

    def _layout(self) -> AnyContainer:
        self.tree_control = LineControl(lambda: len(self.state.rows), lambda i, w: self._drawn(lambda: panels.tree_line(self.state, i, w), []),
                                        lambda: max(self.state.cursor, 0), on_click=self._click_tree,
                                        on_scroll=lambda n: self._tree_move(n))
        self.detail_control = LineControl(lambda: max(0, len(self._detail_doc()) - self.detail_scroll),
                                          lambda i, w: self._detail_doc()[self.detail_scroll + i], lambda: 0,
                                          on_click=lambda i: self.focus("detail"),
                                          on_scroll=lambda n: self.scroll_detail(n))
        self.view_control = LineControl(lambda: len(self._view_entries()), lambda i, w: self._view_line(i),
                                        self._view_cursor, on_click=self._click_view,
                                        on_scroll=lambda n: self.view_move(n))
        self.tree_window = Window(self.tree_control, width=self._tree_width, wrap_lines=False)
        self.detail_window = Window(self.detail_control, wrap_lines=False)
        self.view_window = Window(self.view_control, wrap_lines=False)
        explorer = VSplit([
            HSplit([Window(FormattedTextControl(lambda: self._pane_title("tree", " 1 Experiments")), height=1),
                    self.tree_window], width=self._tree_width),
            Window(width=1, char="│", style="class:border"),
            HSplit([Window(FormattedTextControl(lambda: self._pane_title("detail", " 2 " + self._detail_title())),
                           height=1), self.detail_window]),
        ])
        full = HSplit([Window(FormattedTextControl(self._view_title), height=1), self.view_window])
        self._explorer, self._full = explorer, full
        too_small = Window(FormattedTextControl(self._too_small), style="class:warn")
        body = DynamicContainer(lambda: too_small if self._small() else (explorer if self.state.view == "explorer" else full))
        input_line = ConditionalContainer(
            VSplit([Window(FormattedTextControl(self._input_prompt), dont_extend_width=True),
                    DynamicContainer(self._input_window)]),
            filter=Condition(lambda: self.popup in LINE_INPUTS))
        status = Window(FormattedTextControl(self._status_bar), height=1, style="class:statusbar")
        search = ConditionalContainer(
            HSplit([Window(FormattedTextControl([("class:popup.title", " Search experiments, runs, tags, notes ")]), height=1),
                    VSplit([Window(FormattedTextControl([("class:popup", " / ")]), width=3),
                            DynamicContainer(lambda: self.input_windows["search"])]),
                    Window(LineControl(lambda: max(1, len(self._search_entries())),
                                       lambda i, w: self._search_line(i, w), lambda: self.search_cursor,
                                       on_click=self._click_search), style="class:popup",
                           height=Dimension(min=3, max=16))], style="class:popup"),
            filter=Condition(lambda: self.popup == "search"))
        tags = ConditionalContainer(
            HSplit([Window(FormattedTextControl(self._tags_title), height=1),
                    VSplit([Window(FormattedTextControl([("class:popup", " tag ")]), width=5),
                            DynamicContainer(lambda: self.input_windows["tags"])]),
                    Window(LineControl(lambda: max(1, len(self.tag_choices())), lambda i, w: self._tag_line(i, w),
                                       lambda: self.tag_cursor), style="class:popup", height=Dimension(min=3, max=14)),
                    Window(FormattedTextControl([("class:dim", " type to filter or create · ↑/↓ · Enter toggles and saves"
                                                               " · Esc closes")]), height=1)], style="class:popup"),
            filter=Condition(lambda: self.popup == "tags"))
        question = ConditionalContainer(
            Window(FormattedTextControl(self._question), style="class:popup", wrap_lines=True,
                   height=Dimension(min=3, max=8)),
            filter=Condition(lambda: self.asking is not None))
        return FloatContainer(
            HSplit([body, input_line, status]),
            floats=[
                Float(search, top=2, width=self._popup_width),
                Float(tags, top=2, width=lambda: min(60, self._popup_width())),
                Float(question, width=lambda: min(80, self._popup_width())),
                Float(Window(FormattedTextControl(lambda: [] if self._small() else chrome.marks_box(self.state, *self._size())),
                             dont_extend_width=True, dont_extend_height=True,
                             style="class:popup"), bottom=1, right=0,
                      transparent=False),
            ])

    def _input_window(self) -> Window:
        return self.input_windows[self.popup if self.popup in self.input_windows else "command"]

    def _size(self) -> tuple[int, int]:
        size = get_app().output.get_size()
        return size.columns, size.rows

    def _small(self) -> bool:
        width, height = self._size()
        return width < MIN_WIDTH or height < MIN_HEIGHT

    def _too_small(self) -> StyleAndTextTuples:
        width, height = self._size()
        text = f"terminal too small ({width}x{height}): gitvault needs {MIN_WIDTH}x{MIN_HEIGHT}"
        return [("class:warn", "\n".join(wrapped[0][1] for wrapped in wrap(text, max(width, 8))))]

    def _tree_width(self) -> int:
        width, _ = self._size()
        return max(24, min(width - 30, int(width * self.tree_fraction)))

    def resize_tree(self, step: int) -> None:
        """`<` and `>`: the tree pane narrower or wider."""
        fractions = session.TREE_FRACTIONS
        here = min(range(len(fractions)), key=lambda i: abs(fractions[i] - self.tree_fraction))
        self.tree_fraction = fractions[max(0, min(len(fractions) - 1, here + step))]
        self._doc = None

    def _popup_width(self) -> int:
        width, _ = self._size()
        return max(40, min(100, width - 8))

    def _pane_title(self, pane: str, title: str) -> StyleAndTextTuples:
        focused = self.state.focus == pane and self.state.view == "explorer"
        style = "class:border.focused bold" if focused else "class:border"
        if pane == "tree":
            filt = f" /{self.state.tree_filter}" if self.state.tree_filter else ""
            where = f" f: {self.state.where}" if self.state.where else ""
            title += filt + where
        return [(style, title)]

    def _detail_title(self) -> str:
        node = self.state.selected
        if node is None:
            return "Overview"
        return node.path if node.kind == "experiment" else f"Run {node.path}"

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
                 "todo": "TODOs", "lineage": f"Lineage of {target}   Enter opens a node"}
        return [("class:border.focused bold", f" {names.get(self.state.view, '')}"),
                ("class:dim", "   q back")]

    # -- the detail document ---------------------------------------------------------------------

    def _detail_doc(self) -> list[Line]:
        s = self.state
        width = max(20, self._size()[0] - self._tree_width() - 1)
        node = s.selected
        key = (node.key if node is not None else None, s.detail_tab)
        if key != self._detail_key:
            self._detail_key, self.detail_scroll = key, 0
        self._ensure()
        # every answer from the query layer drops the cached document (`_finish`); what else it shows:
        stamp = (s.version, key, width, s.loaded, s.problem, tuple(s.marks), s.baseline, s.show_archived,
                 (s.chart.log_y, s.chart.smooth, s.chart.last_n), s.heatmap_values)
        if self._doc is None or self._doc[0] != stamp:
            self._doc = (stamp, self._drawn(lambda: panels.detail(s, width), [[("class:error", "could not draw this")]]))
        return self._doc[1]

    def scroll_detail(self, n: int) -> None:
        doc = self._detail_doc()
        self.detail_scroll = max(0, min(max(0, len(doc) - 3), self.detail_scroll + n))

    # -- full-screen views -----------------------------------------------------------------------

    def _view_entries(self) -> list[lists.Entry]:
        s = self.state
        width = self._size()[0]
        self._ensure()
        stamp = (s.view, s.version, width, tuple(s.marks), s.baseline, s.todo_scope, s.lineage_of,
                 (s.chart.log_y, s.chart.smooth, s.chart.last_n), self.help_filter)
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
            lines = compare_view.compare(s, width) if s.view == "compare" else compare_view.diff(s, width)
            return [lists.Entry(None, line) for line in lines]

        entries = self._drawn(build, [lists.Entry(None, [("class:error", "could not draw this")])])
        self._entries = (stamp, entries)
        return entries

    def _view_line(self, i: int) -> Line:
        entries = self._view_entries()
        if self.state.view in LIST_VIEWS:
            entry = entries[i]
            if i == self._view_cursor():
                return [(style + " class:selected", text) for style, text, *_ in entry.line] or [("class:selected", " ")]
            return entry.line
        offset = self.help_scroll if self.state.view == "help" else self.view_scroll
        j = i + offset
        return entries[j].line if j < len(entries) else []

    def _view_cursor(self) -> int:
        return self.cursors.get(self.state.view, 0) if self.state.view in LIST_VIEWS else 0

    def view_move(self, n: int) -> None:
        entries = self._view_entries()
        if self.state.view in LIST_VIEWS:
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
        entries = self._view_entries()
        row = self._view_cursor()
        return entries[row] if 0 <= row < len(entries) else None

    def activate(self) -> None:
        """Enter in a list view: open what the row names (a run or experiment in the tree, a
        model in the registry); in the TODO view, done or not done."""
        view, entry = self.state.view, self.entry()
        if entry is None:
            return
        if view == "todo":
            self.actions.todo_done(entry.commit) if entry.commit else None
        elif entry.key is None:
            self.state.toast("this commit has no runs" if view == "git" else "nothing to open here", "info")
        elif entry.key.startswith("m:"):
            self.open_models(entry.key[2:])
        else:
            self._jump(entry.key)

    def open_models(self, model_id: str | None = None) -> None:
        self.state.open_view("models")
        if model_id is not None:
            self._pending_model = model_id
            self._focus_model()

    def _focus_model(self) -> None:
        wanted = self._pending_model
        if wanted is None:
            return
        for i, e in enumerate(self._view_entries()):
            if e.commit == wanted:
                self.cursors["models"], self._pending_model = i, None
                return

    def open_todos(self) -> None:
        s = self.state
        node = s.selected
        s.todo_anchor = (node.kind, node.id) if node is not None else None
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

    # -- status bar, badges, popups --------------------------------------------------------------

    def active(self) -> frozenset[str]:
        """The key contexts that apply now."""
        if self.popup in INPUTS or self.asking is not None:
            return frozenset()
        view = self.state.view
        if view == "help":
            return frozenset({"help"})
        if view in ("compare", "diff"):
            return frozenset({"global", "compare", "charts"})
        if view in ("git", "models", "lineage"):
            return frozenset({"global", "list"})
        if view == "todo":
            return frozenset({"global", "list", "todo"})
        return frozenset({"global", "runs", "charts", self.state.focus})

    def _status_bar(self) -> StyleAndTextTuples:
        if self._small():
            return []
        error = self.where_error if self.popup == "where" else ""
        return self._drawn(lambda: chrome.status_bar(self.state, self.keymap.hints(self.active()), self._size()[0],
                                                     typing=self.popup in INPUTS, error=error), [])

    def _input_prompt(self) -> StyleAndTextTuples:
        prompts = {"command": ":", "where": "filter (e.g. metrics.val_loss < 0.2 and tag = 'sweep'): ",
                   "find": "/", "help-filter": "help /", "line": self.line_prompt}
        return [("class:accent bold", prompts.get(self.popup or "", ""))]

    def _question(self) -> StyleAndTextTuples:
        if self.asking is None:
            return []
        return [("class:popup.title", " Confirm "), ("class:popup", "\n " + self.asking[0] + "\n\n"),
                ("class:statusbar.key", " Enter/y"), ("class:popup", " confirm   "),
                ("class:statusbar.key", "Esc/n"), ("class:popup", " cancel ")]

    # -- asking: a line of text, a confirmation, the tag picker -----------------------------------

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
            self.state.toast("cancelled: nothing changed", "info", 2)

    def open_tags(self) -> None:
        node = self.state.selected
        if node is None or node.kind != "run":
            self.state.toast("t tags a run: select one (→ opens an experiment)", "info")
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
        known = list(dict.fromkeys([*mine, *self.state.tag_colours, *sorted({t for r in self.state.runs.values()
                                                                              for t in r.get("tags") or []})]))
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

    def vault_changed(self) -> None:
        """This TUI wrote to the vault: reload the tree and what shows now (as a change seen by
        the watcher would, without waiting for its next look)."""
        self.data_gen += 1
        self.request("index", loads.index, self._set_index, force=True)

    def _search_entries(self) -> list[lists.Entry]:
        return lists.search_entries(self.search_results, self._popup_width())

    def _search_line(self, i: int, width: int) -> Line:
        entries = self._search_entries()
        if not entries:
            text = self.buffers["search"].text
            return [("class:dim", "type to search" if not text.strip() else f"nothing matches {text!r}")]
        line = entries[i].line
        return [(s + " class:selected", t) for s, t, *_ in line] if i == self.search_cursor else line

    # -- styles ----------------------------------------------------------------------------------

    # -- actions ---------------------------------------------------------------------------------

    def focus(self, pane: str) -> None:
        self.state.focus = pane

    def _tree_move(self, n: int) -> None:
        self.state.move(n)

    def _click_tree(self, y: int) -> None:
        self.state.focus = "tree"
        if y == self.state.cursor and y < len(self.state.rows):
            navigation.enter(self.state)
        else:
            self.state.move_to(y)

    def _click_search(self, y: int) -> None:
        self.search_cursor = y
        self._jump_from_search()

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
        entries = self._view_entries()
        self.git_cursor = next((i for i, e in enumerate(entries) if rid and e.key == f"r:{rid}"), 0)

    def _jump(self, key: str) -> None:
        s = self.state
        s.views = ["explorer"]
        self.popup = None
        if s.select(key):
            s.focus = "tree"
        else:
            s.toast("not in the tree (archived or gone); H shows archived runs", "error")

    def _jump_from_search(self) -> None:
        if 0 <= self.search_cursor < len(self.search_results):
            self._jump(self.search_results[self.search_cursor]["key"])
            self._close_input()

    def quit_or_back(self) -> None:
        if self.state.focus == "detail" and self.state.view == "explorer":
            self.state.focus = "tree"
        elif not self.state.close_view():
            self.app.exit(result=0)

    # -- inputs: search, command line, filter bar, tree filter -----------------------------------

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
            text = buffer.text
            self.search_cursor = 0
            self.request("search", loads.search, functools.partial(self._set_search, text), text, force=True)
        elif name == "help-filter":
            self.help_filter, self.help_scroll = buffer.text, 0
        elif name == "where":
            self.where_error = ""

    def _set_search(self, text: str, results: list[dict[str, Any]]) -> None:
        if text == self.buffers["search"].text:  # an answer to an older text, overtaken by typing, is dropped
            self.search_results = results

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
                self._jump(matches[0].key)
            else:
                s.toast(f"{len(matches)} runs match {rest!r}: give more of the label (path#name) or the id", "error")
        elif word in ("exp", "experiment"):
            node = next((n for n in s.tree.nodes.values() if n.kind == "experiment" and n.path == rest.strip("/")), None)
            if node is None:
                s.toast(f"no experiment {rest!r} (Tab completes paths)", "error")
            else:
                self._jump(node.key)
        elif word == "commit":
            self.open_git()
            entries = self._view_entries()
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
        s.toast("showing archived runs" if s.show_archived else "archived runs hidden", "info", 2)

    # -- keys ------------------------------------------------------------------------------------

    def _key_bindings(self) -> KeyBindingsBase:
        kb = KeyBindings()

        @kb.add("c-c")
        def _(event: KeyPressEvent) -> None:  # quits at once, from anywhere
            event.app.exit(result=0)

        asking = Condition(lambda: self.asking is not None)
        for key, yes in (("enter", True), ("y", True), ("escape", False), ("n", False)):
            kb.add(key, filter=asking, eager=True)(lambda event, yes=yes: self._answer(yes))

        in_tags = Condition(lambda: self.popup == "tags")
        kb.add("down", filter=in_tags)(lambda e: setattr(self, "tag_cursor", min(len(self.tag_choices()) - 1,
                                                                                  self.tag_cursor + 1)))
        kb.add("up", filter=in_tags)(lambda e: setattr(self, "tag_cursor", max(0, self.tag_cursor - 1)))

        inputs = KeyBindings()
        in_input = Condition(lambda: self.popup in INPUTS and self.asking is None)

        @inputs.add("enter", filter=in_input)
        def _(event: KeyPressEvent) -> None:
            self._accept()

        @inputs.add("escape", filter=in_input, eager=True)
        def _(event: KeyPressEvent) -> None:
            self._cancel()

        @inputs.add("down", filter=Condition(lambda: self.popup == "search"))
        @inputs.add("c-n", filter=Condition(lambda: self.popup == "search"))
        def _(event: KeyPressEvent) -> None:
            self.search_cursor = min(len(self.search_results) - 1, self.search_cursor + 1)

        @inputs.add("up", filter=Condition(lambda: self.popup == "search"))
        @inputs.add("c-p", filter=Condition(lambda: self.popup == "search"))
        def _(event: KeyPressEvent) -> None:
            self.search_cursor = max(0, self.search_cursor - 1)

        @inputs.add("tab", filter=Condition(lambda: self.popup == "command"))
        def _(event: KeyPressEvent) -> None:
            buffer = self.buffers["command"]
            if buffer.complete_state:
                buffer.complete_next()
            else:
                buffer.start_completion(select_first=True)

        return merge_key_bindings([kb, inputs, self.keymap.key_bindings(self.active, self._failed)])

    def _drawn(self, draw: Callable[[], T], fallback: T) -> T:
        """What ``draw`` gives, or ``fallback`` when it raises: a bug in one panel must not take
        the screen down (the error is reported like a key's)."""
        try:
            return draw()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return fallback

    def _failed(self, exc: Exception) -> None:
        """A key whose handler raised: one line in a toast, the UI stays up (and tests fail)."""
        import traceback

        self.errors.append("".join(traceback.format_exception(exc)))
        self.state.toast(f"internal error: {type(exc).__name__}: {exc}", "error", 8)

    def open_help(self) -> None:
        self.help_scroll, self.help_filter = 0, ""
        self.state.open_view("help")

    def open_find(self) -> None:
        self.state.focus = "tree"
        self.open_input("find", self.state.tree_filter)

    def page(self) -> int:
        return max(1, self._size()[1] - 4)


class _Commands(Completer):
    """Completion for the `:` line: command words, then run labels, experiment paths or commits."""

    WORDS = ("run", "exp", "commit", "git", "compare", "diff", "where", "archived", "clear", "help", "q")

    def __init__(self, tui: TuiApp) -> None:
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

