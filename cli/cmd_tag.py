"""`git vault tag <run> TAG...` and `git vault note <run> TEXT`: later facts about a run, recorded as
new commits beside its sealed record (the record itself is never rewritten)."""

from __future__ import annotations

import argparse
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tag", help="add tags to a run", description="Add tags to a run (id or unique prefix). "
                                                                   "Tags already on the run are kept once.")
    p.add_argument("run", help="run id or unique prefix")
    p.add_argument("tags", nargs="+", metavar="TAG", help="one or more tags")
    add_json(p, "the run's tags")
    p.set_defaults(func=run_tag)
    p = sub.add_parser("note", help="add a note to a run", description="Append a note to a run (id or unique "
                                                                       "prefix); notes are never edited, only added.")
    p.add_argument("run", help="run id or unique prefix")
    p.add_argument("text", nargs="+", help="the note (words are joined with spaces)")
    add_json(p, "the result")
    p.set_defaults(func=run_note)


def store(args: argparse.Namespace) -> Any:
    from gitvault.store import Store  # loads the SDK only when writing

    return Store(args.directory)


def _resolve(args: argparse.Namespace) -> tuple[str, list[str]]:
    with open_query(args) as q:
        rid = q.resolve_run(args.run)
        return rid, list(q.get_run(rid).get("tags") or [])


def run_tag(args: argparse.Namespace) -> int:
    rid, before = _resolve(args)
    new = [t for t in dict.fromkeys(args.tags) if t not in before]
    if new:
        store(args).tag_run(rid, *new)
    tags = before + new
    if args.json:
        print_json({"id": rid, "added": new, "tags": tags})
    elif new:
        print(f"tagged {rid}: {', '.join(new)} (tags now: {', '.join(tags)})")
    else:
        print(f"{rid} already has {', '.join(args.tags)}; nothing changed")
    return 0


def run_note(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise ValueError("the note is empty; give its text, e.g. git vault note 01J... 'diverged after warmup'")
    rid, _ = _resolve(args)
    store(args).note_run(rid, text)
    if args.json:
        print_json({"id": rid, "note": text})
    else:
        print(f"noted on {rid}: {text}")
    return 0
