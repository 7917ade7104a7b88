"""The model registry, the TODO list and the lineage view, as selectable lists (`lists.Entry`)."""

from __future__ import annotations

from typing import Any

from gitvault.sizes import human_size
from gitvault.tui.views.lists import Entry
from gitvault.tui.views.text import Line, fit, pad, when

TODO_FILTERS = {"A": "all", "G": "global", "E": "experiment", "R": "run"}


def model_entries(models: list[dict[str, Any]] | None, labels: dict[str, str], width: int) -> list[Entry]:
    """name@version, aliases, framework, the producing run (its full label), size, created;
    Enter jumps to the run."""
    if models is None:
        return [Entry(None, [("class:dim", "loading the models…")])]
    if not models:
        return [Entry(None, [("class:dim", "no models registered yet: run.register_model(name, path) adds one")])]
    header = Entry(None, fit([("class:th", pad("model", 28) + pad("aliases", 18) + pad("framework", 12)
                                + pad("run", 40) + pad("size", 10) + "created")], width))
    out = [header]
    for m in models:
        run = labels.get(m.get("run_id") or "", m.get("run_id") or "")
        size = human_size(m["size"]) if isinstance(m.get("size"), int) else ""
        line: Line = [("class:key", pad(f"{m['name']}@{m['version']}", 28)),
                      ("class:accent", pad(", ".join(m.get("aliases") or []), 18)),
                      ("", pad(m.get("framework") or "", 12)), ("", pad(run, 40)), ("class:dim", pad(size, 10)),
                      ("class:dim", when(m.get("created_at")))]
        out.append(Entry(f"r:{m['run_id']}" if m.get("run_id") else None, fit(line, width), m["id"]))
    return out


def todo_entries(todos: list[dict[str, Any]] | None, labels: dict[str, str], scope: str, width: int) -> list[Entry]:
    """Priority (!! / !), [ ] or [x], the text and the scope it belongs to, named in full."""
    tabs: Line = [("class:dim", "filter: ")]
    for key, name in TODO_FILTERS.items():
        tabs += [("class:tab.active" if name == scope else "class:tab", f" {key} {name} "), ("", " ")]
    out = [Entry(None, fit(tabs + [("class:dim", "  Space done · a add · x delete · 0/1/2 priority")], width))]
    if todos is None:
        return out + [Entry(None, [("class:dim", "loading the TODOs…")])]
    if not todos:
        return out + [Entry(None, [("class:dim", f"no {'' if scope == 'all' else scope + ' '}TODOs: a adds one")])]
    for t in todos:
        where = "" if t["scope_type"] == "global" else f"[{t['scope_type']}: {labels.get(t['scope_id'] or '', t['scope_id'])}]"
        line: Line = [("class:bad", pad("!" * int(t.get("priority") or 0), 3)),
                      ("class:good" if t["done"] else "", "[x] " if t["done"] else "[ ] "),
                      ("class:dim" if t["done"] else "", t["content"]), ("class:dim", f"  {where}")]
        out.append(Entry(None, fit(line, width), t["id"]))
    return out


RELATION_TEXT = {"derived_from": "derived from", "branched_from": "branched from", "produced": "produced"}


def lineage_entries(lineage: dict[str, Any] | None, width: int) -> list[Entry]:
    """The root, what it comes from (upwards) and what came from it (downwards), each edge with
    its own relation; a node reached twice is drawn once and referred to after."""
    if lineage is None:
        return [Entry(None, [("class:dim", "loading the lineage…")])]
    root = lineage["root"]
    nodes = {(n["type"], n["id"]): n for n in [root, *lineage["nodes"]]}
    edges = lineage["edges"]
    out = [Entry(_key(root), fit([("class:title", f"{root['type']} {root['label']}")], width))]
    if not edges:
        return out + [Entry(None, [("class:dim", "no lineage: run.derived_from(other) or register_model(...) add edges")])]
    shown = {(root["type"], root["id"])}

    def walk(node: tuple[str, str], depth: int, up: bool) -> None:
        mine = [e for e in edges if (e["child_type"], e["child_id"]) == node] if up else \
               [e for e in edges if (e["parent_type"], e["parent_id"]) == node]
        for e in mine:
            other = (e["parent_type"], e["parent_id"]) if up else (e["child_type"], e["child_id"])
            info = nodes.get(other, {"type": other[0], "id": other[1], "label": other[1]})
            relation = RELATION_TEXT.get(e["relation"], e["relation"])
            again = other in shown
            node_text = f"{info['type']} {info['label']}"
            if up:  # the node above: this one was derived from it
                line: Line = [("", "  " * depth + "↑ "), ("class:accent", f"{relation} "), ("", node_text)]
            else:  # the node below was derived from this one
                line = [("", "  " * depth + "↓ "), ("", node_text), ("class:accent", f"  ({relation} the one above)")]
            line.append(("class:dim", "  (shown above)" if again else ""))
            out.append(Entry(_key(info), fit(line, width)))
            if not again:
                shown.add(other)
                walk(other, depth + 1, up)

    out.append(Entry(None, [("class:heading", "comes from")]))
    before = len(out)
    walk((root["type"], root["id"]), 1, up=True)
    if len(out) == before:
        out.append(Entry(None, [("class:dim", "  nothing")]))
    out.append(Entry(None, [("class:heading", "led to")]))
    before = len(out)
    walk((root["type"], root["id"]), 1, up=False)
    if len(out) == before:
        out.append(Entry(None, [("class:dim", "  nothing")]))
    return out


def _key(node: dict[str, Any]) -> str | None:
    prefix = {"run": "r:", "experiment": "e:", "model": "m:"}.get(node["type"])
    return prefix + node["id"] if prefix else None
