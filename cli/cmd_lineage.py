"""`git vault lineage <run|model|experiment>`: what a node derives from and what derives from it."""

from __future__ import annotations

import argparse
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import print_json
from gitvault.errors import RecordNotFoundError

EXTRA = "query"  # its commands read through gitvault.query

KINDS = ("run", "model", "experiment")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="walk the lineage graph (derived_from, branched_from) from a run, model "
                                       "or experiment",
                       description="NODE is a run id or unique prefix, a model as name@version or its id, or an "
                                   "experiment path or id; --type says which when the text could be several.")
    p.add_argument("node", metavar="NODE", help="run id/prefix, model name@version or id, experiment path or id")
    p.add_argument("--type", choices=KINDS, default=None, help="what NODE is (default: worked out)")
    p.add_argument("--direction", choices=("ancestors", "descendants", "both"), default="both",
                   help="ancestors (what it comes from), descendants, or both (default)")
    p.add_argument("--depth", type=int, default=2, help="how many edges to follow, 1-5 (default 2)")
    add_json(p, "the nodes and edges")
    p.set_defaults(func=run)


def lineage(q: Any, node: str, kind: str | None, direction: str, depth: int) -> dict[str, Any]:
    """Try the kinds NODE can be, most specific first: name@version is a model, an exact experiment
    path or id, an exact model id, then a run id prefix (an ambiguous prefix is an error)."""
    if kind is not None:
        return q.get_lineage(kind, node, direction, depth)
    order = ("model", "experiment", "run") if "@" in node else ("experiment", "model", "run")
    errors = []
    for candidate in order:
        try:
            return q.get_lineage(candidate, node, direction, depth)
        except RecordNotFoundError as exc:
            errors.append(exc)
    if "@" in node:  # name@version can only be a model
        raise errors[0]
    raise RecordNotFoundError(f"no run, model or experiment matches {node!r}; give a run id (or unique prefix), "
                              "a model as name@version, or an experiment path")


def run(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        graph = lineage(q, args.node, args.type, args.direction, args.depth)
    if args.json:
        print_json(graph)
        return 0
    for line in render(graph):
        print(line)
    return 0


def render(graph: dict[str, Any]) -> list[str]:
    root = graph["root"]
    labels = {(n["type"], n["id"]): n["label"] for n in [root, *graph["nodes"]]}
    lines = [f"{root['type']} {root['label']}  ({root['id']})"]
    if not graph["edges"]:
        return lines + ["  no lineage: nothing derives from it and it derives from nothing"]
    def name(kind: str, ident: str) -> str:
        mark = " *" if (kind, ident) == (root["type"], root["id"]) else ""
        return f"{kind} {labels.get((kind, ident), ident)}{mark}"
    width = max(len(name(e["child_type"], e["child_id"])) for e in graph["edges"])
    for e in graph["edges"]:
        child = name(e["child_type"], e["child_id"])
        lines.append(f"  {child.ljust(width)}  --{e['relation']}-->  {name(e['parent_type'], e['parent_id'])}")
    n, e = len(graph["nodes"]) + 1, len(graph["edges"])  # the root and the nodes found from it
    lines.append(f"  ({n} node{'s' * (n != 1)}, {e} edge{'s' * (e != 1)}; * = {root['label']})")
    return lines
