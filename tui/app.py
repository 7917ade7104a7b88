"""`git vault tui`: the full-screen application around one `State`.

The layout reads the state through callables; keys change it; everything the vault holds comes
from `gitvault.query` on a worker thread (`tui.loads`), so a keypress never waits on disk. A
background task asks the query layer what changed every half second (`Query.changes`, 0.1 ms
when nothing did) and reloads only what it must, so live runs grow on screen within a second."""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, TypeVar

from prompt_toolkit.application import Application, get_app
from prompt_toolkit.buffer import Buffer
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
from gitvault.tui import bindings, graphics, inline_images, loads, navigation, session
from gitvault.tui.actions import Actions
from gitvault.tui.prompts import INPUTS, LINE_INPUTS, Commands, Prompts
from gitvault.tui.screens import Screens
from gitvault.tui.controls import LineControl
from gitvault.tui.keys import KeyMap
from gitvault.tui.state import State
from gitvault.tui.views import chrome, lists, panels
from gitvault.tui.views.text import Line, wrap

T = TypeVar("T")
MIN_WIDTH, MIN_HEIGHT = 60, 12
POLL_SECONDS = 0.5

class TuiApp(Prompts, Screens):
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
                                     completer=Commands(self) if name == "command" else None,
                                     complete_while_typing=name == "command") for name in INPUTS}
        self.input_windows = {name: Window(BufferControl(self.buffers[name]), height=1,
                                           style="class:popup" if name == "search" else "")
                               for name in INPUTS}
        self.errors: list[str] = []  # unexpected exceptions in key handlers (shown as toasts; tests check it)
        self.app: Application[int] = Application(
            layout=Layout(self._layout()), key_bindings=self._key_bindings(), style=chrome.style({}),
            color_depth=graphics.colour_depth(os.environ),  # 24-bit where $COLORTERM says so
            full_screen=True, mouse_support=True, min_redraw_interval=0.02, max_render_postpone_time=0.05)
        self.app.ttimeoutlen = 0.05  # Esc answers at once
        self.app.timeoutlen = 0.5  # `g g`, `g l`
        # the files view's pictures (kitty, iTerm2, sixel); `run` asks the terminal what it draws
        self.pictures = inline_images.Painter(self, graphics.without_terminal(os.environ))
        self.view_window.scroll_offsets = self.pictures.scroll_offsets()  # a thumbnail stays whole in sight

    # -- running ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the vault's query layer now (on its worker), so a missing repository or vault is
        one error line before the screen is taken. The caches are brought up to date here."""
        self.worker.open()

    def run(self) -> int:
        self.pictures.detect()  # before the screen is taken: the terminal's answers are read here
        return asyncio.run(self.run_async())

    async def run_async(self) -> int:
        self.app.pre_run_callables.append(self._started)
        try:
            return int(await self.app.run_async() or 0)
        finally:
            if self.session_file and self.state.loaded:
                session.save(Path(self.session_file), self.state, self.tree_fraction)
            self.pictures.close()
            self.worker.close()

    def _started(self) -> None:
        self.request("settings", loads.settings, self._set_settings)
        if self.prefetched is not None:  # asked while the application was being imported and built
            first, full = self.prefetched
            self._adopt("experiments", first, self._set_experiments)
            self._adopt("index", full, self._set_index)
        else:
            self.request("experiments", loads.experiments, self._set_experiments)
            self.request("index", loads.index_since, self._set_index, None)
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
            except Exception as exc:  # noqa: BLE001 - a bug must not end live updates silently
                self._failed(exc)
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
                force: bool = False, failed: Callable[[], None] | None = None) -> None:
        """``fn(query, *args)`` on the worker; ``done(result)`` on the UI thread, then a redraw.
        A request already on its way is not asked twice; an error becomes a toast (one line)."""
        if name in self.pending and not force:
            return
        self._adopt(name, self.worker.submit(lambda q: fn(q, *args)), done, failed)

    def _adopt(self, name: str, future: Future[Any], done: Callable[[Any], None],
               failed: Callable[[], None] | None = None) -> None:
        """Wait for ``future`` (a call on the worker) as the answer named ``name``; ``failed`` is
        called when it raised (after the error is shown)."""
        self.inflight[name] = self.inflight.get(name, 0) + 1
        loop = asyncio.get_event_loop()
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(self._finish, name, f, done, failed))

    def _finish(self, name: str, future: Future[Any], done: Callable[[Any], None],
                failed: Callable[[], None] | None = None) -> None:
        self.inflight[name] -= 1
        if not self.inflight[name]:
            del self.inflight[name]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - shown, never left to end the event loop's callback
            if name == "index":
                self.state.problem = f"{exc}"
            elif isinstance(exc, RecordNotFoundError) and not name.startswith("write:"):
                pass  # a read of a run deleted or renamed meanwhile: the tree's reload follows
            elif isinstance(exc, (VaultError, OSError, ValueError)):
                self.state.toast(str(exc), "error")
            else:
                self._failed(exc)  # a bug: reported like a failing key (and tests see it)
            self.loaded_gen[name] = self._gen_for(name)  # not asked again until something changes
            if failed is not None:
                failed()
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
        if data.get("token"):  # reloaded after this TUI's own write: the watcher need not see it again
            self.token = data["token"]
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

    def ensure(self) -> None:
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
            name = f"todos:{s.todo_scope}:{scope_id}"
            if s.todos is None:  # dropped (another scope was shown): ask again even if current
                self.loaded_gen.pop(name, None)
            self.want(name, loads.todos, functools.partial(self._set_todos, s.todo_scope, scope_id), s.todo_scope, scope_id)
        elif view == "files" and s.files_of is not None:
            self.want(f"files:{s.files_of}", loads.files, self._set_files, s.files_of)
            thumb = self.thumb_key()
            if thumb is not None and thumb not in s.thumbs:
                self.want(f"thumb:{thumb}", self.pictures.loader(), functools.partial(self._set_thumb, thumb), *thumb)
        elif view == "lineage" and s.lineage_of is not None:
            kind, ident, _ = s.lineage_of
            name = f"lineage:{kind}:{ident}"
            if s.lineage is None:
                self.loaded_gen.pop(name, None)
            self.want(name, loads.lineage, functools.partial(self._set_lineage, s.lineage_of), kind, ident)

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

    def _set_todos(self, scope: str, scope_id: str | None, data: dict[str, Any]) -> None:
        s = self.state
        current_id = s.todo_anchor[1] if s.todo_anchor and s.todo_scope in ("experiment", "run") else None
        if (scope, scope_id) != (s.todo_scope, current_id):
            return  # an answer for a scope no longer shown
        current = self.entry() if self.state.view == "todo" else None
        self.state.todos = data["todos"]
        self.state.record_labels.update(data["labels"])
        self._entries = None
        if current is not None and current.commit:  # the cursor stays on its TODO when the list re-sorts
            rows = [i for i, e in enumerate(self.view_entries()) if e.commit == current.commit]
            if rows:
                self.cursors["todo"] = rows[0]

    def _set_files(self, data: dict[str, Any]) -> None:
        self.state.files[data["run_id"]] = data["items"]
        self._entries = None

    def _set_thumb(self, key: tuple[Any, ...], data: dict[str, Any]) -> None:
        if len(self.state.thumbs) > 64:  # a bound on memory: the oldest thumbnails go
            self.state.thumbs.pop(next(iter(self.state.thumbs)))
        self.state.thumbs[key] = data
        self._entries = None

    def _set_lineage(self, about: tuple[str, str, str], data: dict[str, Any]) -> None:
        if about == self.state.lineage_of:  # else an answer for a node no longer shown
            self.state.lineage = data

    # -- layout ----------------------------------------------------------------------------------

    def _layout(self) -> AnyContainer:
        self.tree_control = LineControl(lambda: len(self.state.rows), lambda i, w: self.drawn(lambda: panels.tree_line(self.state, i, w), []),
                                        lambda: max(self.state.cursor, 0), on_click=self._click_tree,
                                        on_scroll=lambda n: self._tree_move(n))
        self.detail_control = LineControl(lambda: max(0, len(self._detail_doc()) - self.detail_scroll),
                                          lambda i, w: self._detail_doc()[self.detail_scroll + i], lambda: 0,
                                          on_click=lambda i: self.focus("detail"),
                                          on_scroll=lambda n: self.scroll_detail(n))
        self.view_control = LineControl(lambda: len(self.view_entries()), lambda i, w: self._view_line(i),
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
                Float(search, top=2, width=self.popup_width),
                Float(tags, top=2, width=lambda: min(60, self.popup_width())),
                Float(question, width=lambda: min(80, self.popup_width())),
                Float(Window(FormattedTextControl(lambda: [] if self._small() else chrome.marks_box(self.state, *self.size())),
                             dont_extend_width=True, dont_extend_height=True,
                             style="class:popup"), bottom=1, right=0,
                      transparent=False),
            ])

    def _input_window(self) -> Window:
        return self.input_windows[self.popup if self.popup in self.input_windows else "command"]

    def size(self) -> tuple[int, int]:
        size = get_app().output.get_size()
        return size.columns, size.rows

    def _small(self) -> bool:
        width, height = self.size()
        return width < MIN_WIDTH or height < MIN_HEIGHT

    def _too_small(self) -> StyleAndTextTuples:
        width, height = self.size()
        text = f"terminal too small ({width}x{height}): gitvault needs {MIN_WIDTH}x{MIN_HEIGHT}"
        return [("class:warn", "\n".join(wrapped[0][1] for wrapped in wrap(text, max(width, 8))))]

    def _tree_width(self) -> int:
        width, _ = self.size()
        return max(24, min(width - 30, int(width * self.tree_fraction)))

    def resize_tree(self, step: int) -> None:
        """`<` and `>`: the tree pane narrower or wider."""
        fractions = session.TREE_FRACTIONS
        here = min(range(len(fractions)), key=lambda i: abs(fractions[i] - self.tree_fraction))
        self.tree_fraction = fractions[max(0, min(len(fractions) - 1, here + step))]
        self._doc = None

    def popup_width(self) -> int:
        width, _ = self.size()
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


    # -- the detail document ---------------------------------------------------------------------

    def _detail_doc(self) -> list[Line]:
        s = self.state
        width = max(20, self.size()[0] - self._tree_width() - 1)
        node = s.selected
        key = (node.key if node is not None else None, s.detail_tab)
        if key != self._detail_key:
            self._detail_key, self.detail_scroll = key, 0
        self.ensure()
        # every answer from the query layer drops the cached document (`_finish`); what else it shows:
        stamp = (s.version, key, width, s.loaded, s.problem, tuple(s.marks), s.baseline, s.show_archived,
                 (s.chart.log_y, s.chart.smooth, s.chart.last_n), s.heatmap_values)
        if self._doc is None or self._doc[0] != stamp:
            self._doc = (stamp, self.drawn(lambda: panels.detail(s, width), [[("class:error", "could not draw this")]]))
        return self._doc[1]

    def scroll_detail(self, n: int) -> None:
        """Scroll the detail panel; its last line stops at the panel's bottom."""
        doc = self._detail_doc()
        info = self.detail_window.render_info
        height = info.window_height if info is not None else self.size()[1] - 3
        self.detail_scroll = max(0, min(max(0, len(doc) - height), self.detail_scroll + n))

    # -- full-screen views -----------------------------------------------------------------------


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
        if view == "files":
            return frozenset({"global", "list", "files"})
        return frozenset({"global", "runs", "charts", self.state.focus})

    def _status_bar(self) -> StyleAndTextTuples:
        if self._small():
            return []
        error = self.where_error if self.popup == "where" else ""
        return self.drawn(lambda: chrome.status_bar(self.state, self.keymap.hints(self.active()), self.size()[0],
                                                     typing=self.popup in INPUTS, error=error), [])


    # -- asking: a line of text, a confirmation, the tag picker -----------------------------------


    def vault_changed(self) -> None:
        """This TUI wrote to the vault: reload the tree and what shows now (as a change seen by
        the watcher would, without waiting for its next look)."""
        self.data_gen += 1
        self.request("index", loads.index_since, self._set_index, self.token, force=True)


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


    def jump(self, key: str) -> None:
        s = self.state
        s.views = ["explorer"]
        self.popup = None
        if s.select(key):
            s.focus = "tree"
        else:
            s.toast("not in the tree (archived or gone); H shows archived runs", "error")


    def quit_or_back(self) -> None:
        if self.state.focus == "detail" and self.state.view == "explorer":
            self.state.focus = "tree"
        elif not self.state.close_view():
            self.app.exit(result=0)

    # -- inputs: search, command line, filter bar, tree filter -----------------------------------


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

    def drawn(self, draw: Callable[[], T], fallback: T) -> T:
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
        self.state.toast(f"internal error: {type(exc).__name__}: {exc}", "error")

    def open_help(self) -> None:
        self.help_scroll, self.help_filter = 0, ""
        self.state.open_view("help")

    def page(self) -> int:
        return max(1, self.size()[1] - 4)


