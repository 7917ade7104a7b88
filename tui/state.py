"""The one state object of the TUI: what is loaded, what is selected, marked, filtered and shown.

Every panel is drawn from it and every key changes it, so the tree cursor, the detail panel and
every action always name the same object, whatever jump got there (search, the command line, the
git view). Nothing here talks to the vault: `tui.app` asks the query layer on a worker thread and
hands the answers to the ``set_*`` methods on the UI thread."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gitvault.tui import tree as tree_mod
from gitvault.tui.tree import Node, Row, Tree

VIEWS = ("explorer", "compare", "diff", "git", "help", "models", "todo", "lineage", "files")


@dataclass
class Toast:
    text: str
    kind: str  # ok | error | info
    until: float


@dataclass
class ChartSettings:
    log_y: bool = False
    smooth: float = 0.0
    last_n: int | None = None


ZOOMS = (None, 1000, 200, 50)
"""``z`` cycles the charts through all steps and the last N of these."""
SMOOTHING = (0.0, 0.6, 0.9)
"""``s`` cycles the charts' EMA weight through these."""


@dataclass
class State:
    tree: Tree = field(default_factory=lambda: Tree([], {}))
    loaded: bool = False
    problem: str | None = None  # why nothing could be loaded (shown instead of the panels)
    expanded: set[str] = field(default_factory=set)
    rows: list[Row] = field(default_factory=list)
    cursor: int = -1  # -1: nothing selected, the dashboard shows
    show_archived: bool = False
    tree_filter: str = ""
    where: str = ""  # the filter bar's expression (the query layer's filter language)
    where_ids: set[str] | None = None  # the runs it matches
    marks: list[str] = field(default_factory=list)  # run ids, in marking order
    baseline: str | None = None
    range_anchor: str | None = None  # `v`: the run a range starts at
    views: list[str] = field(default_factory=lambda: ["explorer"])
    focus: str = "tree"  # tree | detail
    detail_tab: str = "summary"  # summary | info (a run's)
    chart: ChartSettings = field(default_factory=ChartSettings)
    heatmap_values: bool = False  # tables: each cell's value instead of its colour
    toasts: list[Toast] = field(default_factory=list)
    version: int = 0  # bumped on every data change: the key of every drawn-text cache
    _live: list[str] = field(default_factory=list)
    all_tags: list[str] = field(default_factory=list)  # every tag any run has (kept with the index)
    _shape: list[tuple[Any, ...]] = field(default_factory=list)  # what the tree was built from, but tags
    _row_index: dict[str, int] = field(default_factory=dict)  # node key -> its row, built with the rows
    # what the query layer answered (kept until it changes)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # RunIndexItem by id
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # RunDetail by id
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> {name: (steps, values)}
    experiment_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # exp id -> RunItems below it
    directions: dict[str, str] = field(default_factory=dict)  # metric -> min | max | unknown
    dashboard: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    models: list[dict[str, Any]] | None = None  # ModelItems
    todos: list[dict[str, Any]] | None = None  # TodoItems of todo_scope
    todo_scope: str = "all"  # all | global | experiment | run
    todo_anchor: tuple[str, str] | None = None  # (kind, id) of what was selected when the TODO view opened
    lineage: dict[str, Any] | None = None
    lineage_of: tuple[str, str, str] | None = None  # (kind, id, label) the lineage view is about
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # run id -> FileItems (Query.files)
    files_of: str | None = None  # the run the files view is about
    series_at: dict[str, int] = field(default_factory=dict)  # image series -> the position [ / ] moved it to
    thumbs: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # (run, name, step, cols, lines) -> pixels
    record_labels: dict[str, str] = field(default_factory=dict)  # run/experiment id -> full label (path#name, path)
    info_fields: list[str] = field(default_factory=list)  # config.toml [info] fields globs
    tag_colours: dict[str, str] = field(default_factory=dict)  # config.toml [[tags.definitions]]: name -> colour
    settings: dict[str, Any] = field(default_factory=dict)  # the rest of config.toml's view settings (tui.session)

    # -- loading ---------------------------------------------------------------------------------

    def set_index(self, experiments: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
        """A new tree from the query layer; the selection, expansion and marks survive (a
        selected run that is gone leaves the cursor on its experiment). When only tags changed
        (what a tag, a note or an undo of them does), the tree is kept and only the tags move."""
        shape = [(e["id"], e["path"], e.get("archived")) for e in experiments] + \
                [(r["id"], r.get("experiment_id"), r.get("status"), r.get("archived"), r.get("label")) for r in runs]
        if self.loaded and shape == self._shape:
            self.runs = {r["id"]: r for r in runs}
            self.all_tags = sorted({t for r in runs for t in r.get("tags") or []})
            for r in runs:
                node = self.tree.get("r:" + r["id"])
                if node is not None:
                    node.tags = list(r.get("tags") or [])
            self.version += 1
            return
        self._shape = shape
        selected = self.selected
        parent = selected.parent if selected is not None else None
        self.tree = tree_mod.build(experiments, runs)
        self.runs = {r["id"]: r for r in runs}
        self._live = [r["id"] for r in runs if r.get("status") == "running"]
        self.all_tags = sorted({t for r in runs for t in r.get("tags") or []})
        self.marks = [m for m in self.marks if m in self.runs]
        if self.baseline not in self.runs:
            self.baseline = None
        if not self.loaded:
            self.expanded.update(n.key for n in self.tree.roots)  # the first level open on start
        self.loaded = True
        self.version += 1
        self.refresh_rows(keep=selected.key if selected is not None else None,
                          fallback=parent.key if parent is not None else None)

    def set_experiments(self, experiments: list[dict[str, Any]]) -> None:
        """The tree of experiments alone, with their run counts, before the runs come."""
        self.tree = tree_mod.build(experiments, [])
        for item in experiments:
            node = self.tree.get("e:" + item["id"])
            if node is not None and item.get("n_runs"):
                for at in (node, *node.ancestors()):
                    at.counts[""] += int(item["n_runs"])  # statuses unknown yet
        self.expanded.update(n.key for n in self.tree.roots)
        self.refresh_rows()

    # -- rows and the selection ------------------------------------------------------------------

    def refresh_rows(self, keep: str | None = None, fallback: str | None = None) -> None:
        """Recompute the visible rows, keeping the cursor on ``keep`` (the selection by default)."""
        if keep is None and self.cursor >= 0:
            current = self.selected
            keep = current.key if current is not None else None
        self.rows = tree_mod.visible(self.tree, self.expanded, self.show_archived, self.tree_filter)
        if self.where_ids is not None:
            self.rows = [r for r in self.rows if self._passes_where(r.node)]
        self._index_rows()
        if keep is None:
            self.cursor = min(self.cursor, len(self.rows) - 1)
            return
        for wanted in (keep, fallback):
            index = self.row_of(wanted)
            if index is not None:
                self.cursor = index
                return
        self.cursor = min(max(self.cursor, 0), len(self.rows) - 1)

    def _passes_where(self, node: Node) -> bool:
        ids = self.where_ids or set()
        if node.kind == "run":
            return node.id in ids
        return any(n.kind == "run" and n.id in ids for n in node.walk())

    def _index_rows(self) -> None:
        self._row_index = {r.node.key: i for i, r in enumerate(self.rows)}

    def row_of(self, key: str | None) -> int | None:
        return self._row_index.get(key) if key is not None else None

    @property
    def selected(self) -> Node | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor].node
        return None

    @property
    def selected_run(self) -> str | None:
        node = self.selected
        return node.id if node is not None and node.kind == "run" else None

    def move(self, delta: int) -> None:
        if not self.rows:
            return
        if self.cursor < 0:
            self.cursor = 0 if delta >= 0 else len(self.rows) - 1
        else:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def move_to(self, index: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, index))

    def select(self, key: str) -> bool:
        """Put the cursor on a node wherever it is: its ancestors are expanded and a filter that
        hides it is cleared. False when the tree has no such node."""
        node = self.tree.get(key)
        if node is None:
            return False
        self.expanded.update(a.key for a in node.ancestors())
        if node.archived and not self.show_archived:
            self.show_archived = True
        self.refresh_rows(keep=key)
        if self.selected is not node:
            self.tree_filter, self.where, self.where_ids = "", "", None
            self.refresh_rows(keep=key)
        self.detail_tab = "summary"
        return self.selected is node

    def clear_selection(self) -> None:
        self.cursor = -1

    def expand(self, node: Node, open_: bool) -> None:
        """Open or close a node; without a filter, only its own rows are inserted or removed
        (rebuilding 50,000 rows for one key press costs a third of a second)."""
        (self.expanded.add if open_ else self.expanded.discard)(node.key)
        at = self.row_of(node.key)
        if at is None or self.tree_filter or self.where_ids is not None:
            self.refresh_rows(keep=node.key)
            return
        row = self.rows[at]
        end = at + 1
        while end < len(self.rows) and self.rows[end].depth > row.depth:
            end += 1
        below = tree_mod.visible_below(node, row.depth, self.expanded, self.show_archived) if open_ else []
        self.rows[at:end] = [tree_mod.Row(node, row.depth, open_ and row.has_children, row.has_children), *below]
        self._index_rows()
        self.cursor = at

    # -- marks -----------------------------------------------------------------------------------

    def retag(self, run_id: str, tags: list[str]) -> None:
        """A run's tags as this TUI just wrote them (before the index comes back)."""
        if run_id in self.runs:
            self.runs[run_id] = {**self.runs[run_id], "tags": list(tags)}
            self.all_tags = sorted(set(self.all_tags) | set(tags))
            self.version += 1

    def toggle_mark(self, run_id: str) -> bool:
        """Mark or unmark a run; True when it is now marked."""
        if run_id in self.marks:
            self.marks.remove(run_id)
            if self.baseline == run_id:
                self.baseline = self.marks[0] if self.marks else None
            return False
        self.marks.append(run_id)
        self.baseline = self.baseline or run_id
        return True

    def mark_range(self, a: int, b: int) -> int:
        """Mark every run row from row ``a`` to row ``b``; how many were newly marked."""
        lo, hi = sorted((a, b))
        added = 0
        for row in self.rows[lo:hi + 1]:
            if row.node.kind == "run" and row.node.id not in self.marks:
                self.marks.append(row.node.id)
                added += 1
        self.baseline = self.baseline or (self.marks[0] if self.marks else None)
        return added

    # -- views and toasts ------------------------------------------------------------------------

    @property
    def view(self) -> str:
        return self.views[-1]

    def open_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(view)
        if self.view != view:
            self.views.append(view)

    def close_view(self) -> bool:
        """Back to the view below; False at the explorer (the caller quits)."""
        if len(self.views) > 1:
            self.views.pop()
            return True
        return False

    def toast(self, text: str, kind: str = "ok", seconds: float | None = None) -> None:
        """Say what a key did; for ``seconds``, else config.toml's [notifications] timeout (errors
        twice as long)."""
        if seconds is None:
            seconds = float(self.settings.get("toast_seconds", 3.0)) * (2 if kind == "error" else 1)
        self.toasts.append(Toast(text, kind, time.monotonic() + seconds))
        self.toasts = self.toasts[-4:]

    def live_toasts(self) -> list[Toast]:
        now = time.monotonic()
        self.toasts = [t for t in self.toasts if t.until > now]
        return self.toasts

    @property
    def live_runs(self) -> list[str]:
        """The running runs (kept when the index comes: every frame's status bar reads it)."""
        return self._live

    def label(self, run_id: str) -> str:
        """A run as every label names it: experiment path + run name (its id when unknown)."""
        run = self.runs.get(run_id)
        return str(run["label"]) if run else run_id
