"""The experiment tree: experiments as nodes (their hierarchy from the query layer's parent links),
each run as a leaf under its experiment, run counts and status counts rolled up to every ancestor.

Pure data: built from `Query.list_experiments` and `Query.run_index` items, flattened into the
rows the tree panel draws (only expanded nodes, archived runs only when asked, a `/` filter that
keeps the ancestors of what matches)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, NamedTuple

STATUS_ORDER = ("running", "failed", "crashed", "completed")
"""The status a node is coloured by: the first of these any of its runs has."""


@dataclass(eq=False, slots=True)
class Node:
    """An experiment (``kind="experiment"``) or a run (``kind="run"``); ``key`` is unique in the
    tree (``e:<id>`` or ``r:<id>``)."""

    kind: str
    id: str
    name: str
    path: str  # the experiment path, or a run's label (path#name): unambiguous on every surface
    parent: "Node | None" = None
    node_type: str | None = None
    children: list["Node"] = field(default_factory=list)  # experiments first, then runs (oldest first)
    status: str = ""  # a run's status
    archived: bool = False
    started_at: str | None = None
    tags: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # statuses of the runs below, archived left out
    archived_runs: int = 0

    @property
    def key(self) -> str:
        return ("e:" if self.kind == "experiment" else "r:") + self.id

    @property
    def depth(self) -> int:
        depth, node = 0, self.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        return depth

    @property
    def n_runs(self) -> int:
        return sum(self.counts.values())

    @property
    def sub_experiments(self) -> list["Node"]:
        return [c for c in self.children if c.kind == "experiment"]

    @property
    def runs(self) -> list["Node"]:
        return [c for c in self.children if c.kind == "run"]

    def colour_status(self) -> str:
        """The status this row is coloured by."""
        if self.kind == "run":
            return self.status
        return next((s for s in STATUS_ORDER if self.counts.get(s)), "")

    def ancestors(self) -> Iterator["Node"]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Tree:
    roots: list[Node]
    nodes: dict[str, Node]  # key -> node

    def get(self, key: str | None) -> Node | None:
        return self.nodes.get(key) if key else None


def build(experiments: Iterable[dict[str, Any]], runs: Iterable[dict[str, Any]]) -> Tree:
    """The tree of `ExperimentItem`s and `RunIndexItem`s (runs of an unknown experiment hang
    under a node named after their experiment path, never dropped)."""
    nodes: dict[str, Node] = {}
    by_path: dict[str, Node] = {}
    items = sorted(experiments, key=lambda e: e["path"])
    for e in items:
        node = Node("experiment", e["id"], e["name"], e["path"], node_type=e.get("node_type"),
                    archived=bool(e.get("archived")))
        nodes[node.key] = node
        by_path[e["path"]] = node
    roots: list[Node] = []
    for e in items:
        node = nodes["e:" + e["id"]]
        parent = nodes.get("e:" + e["parent_id"]) if e.get("parent_id") else None
        if parent is None and "/" in e["path"]:
            parent = by_path.get(e["path"].rsplit("/", 1)[0])
        node.parent = parent
        (parent.children if parent is not None else roots).append(node)
    for r in runs:
        home = nodes.get(f"e:{r.get('experiment_id')}") or by_path.get(r.get("experiment_path") or "")
        if home is None:
            path = r.get("experiment_path") or "(no experiment)"
            home = Node("experiment", r.get("experiment_id") or path, path.rsplit("/", 1)[-1], path)
            nodes[home.key], by_path[path] = home, home
            roots.append(home)
        run = Node("run", r["id"], r.get("name") or r["id"][:10], r.get("label") or r["id"], parent=home,
                   status=r.get("status") or "", archived=bool(r.get("archived")), started_at=r.get("started_at"),
                   tags=list(r.get("tags") or []))
        nodes[run.key] = run
        home.children.append(run)
        if run.archived:
            home.archived_runs += 1
        else:
            home.counts[run.status] += 1
    for node in sorted((n for n in nodes.values() if n.kind == "experiment"), key=lambda n: -n.depth):
        if node.parent is not None:  # the counts rolled up, deepest experiments first
            node.parent.counts.update(node.counts)
            node.parent.archived_runs += node.archived_runs
    return Tree(roots, nodes)


class Row(NamedTuple):
    node: Node
    depth: int
    expanded: bool
    has_children: bool


def visible(tree: Tree, expanded: set[str], show_archived: bool = False, text: str = "") -> list[Row]:
    """The rows the tree panel shows, in order. With ``text`` (the panel's `/` filter), only
    nodes whose path or name holds it (any case), their ancestors (expanded) and, for an
    experiment that matches, what is below it as usual."""
    wanted = text.strip().lower()
    keep: set[str] | None = None
    if wanted:
        keep = set()
        for node in tree.nodes.values():
            if (wanted in node.path.lower() or wanted in node.name.lower()) and (show_archived or not _hidden(node)):
                keep.add(node.key)
                keep.update(a.key for a in node.ancestors())
    rows: list[Row] = []

    def add(node: Node, depth: int, inside_match: bool) -> None:
        if not show_archived and _hidden(node):
            return
        if keep is not None and not inside_match and node.key not in keep:
            return
        children = [c for c in node.children if show_archived or not _hidden(c)]
        is_open = node.key in expanded or (keep is not None and not inside_match and any(
            c.key in keep for c in children))
        rows.append(Row(node, depth, is_open, bool(children)))
        if is_open:
            matched = inside_match or (keep is not None and wanted in node.path.lower() and node.kind == "experiment")
            for child in children:
                add(child, depth + 1, matched)

    for root in tree.roots:
        add(root, 0, False)
    return rows


def visible_below(node: Node, depth: int, expanded: set[str], show_archived: bool) -> list[Row]:
    """The rows below an opened node at ``depth`` (no filter): what `visible` would list there."""
    rows: list[Row] = []

    def add(child: Node, at: int) -> None:
        children = [c for c in child.children if show_archived or not _hidden(c)]
        is_open = child.key in expanded
        rows.append(Row(child, at, is_open, bool(children)))
        if is_open:
            for grandchild in children:
                add(grandchild, at + 1)

    for child in node.children:
        if show_archived or not _hidden(child):
            add(child, depth + 1)
    return rows


def _hidden(node: Node) -> bool:
    """An archived run or experiment, or an experiment all of whose runs are archived."""
    if node.kind == "run" or node.archived:
        return node.archived
    return node.archived_runs > 0 and node.n_runs == 0
