"""Later facts about a sealed run, each a new vault commit beside its record (the record itself is
never rewritten), written through `gitvault.runs.edits`: `git vault tag | untag | note | rename | mark |
archive | unarchive` (a run, or an experiment with ``--experiment PATH``)."""

from __future__ import annotations

import argparse
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import print_json
from gitvault.display import tags_text

EXTRA = "query"  # its commands read through gitvault.query

RUN_HELP = "run id, unique id prefix, run name or path#name label"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tag", help="add tags to a run", description="Add tags to a run (id or unique prefix). "
                                                                   "Tags already on the run are kept once.")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("tags", nargs="+", metavar="TAG", help="one or more tags")
    add_json(p, "the run's tags")
    p.set_defaults(func=run_tag, untag=False)
    p = sub.add_parser("untag", help="remove tags from a run", description="Remove tags from a run.")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("tags", nargs="+", metavar="TAG", help="one or more tags")
    add_json(p, "the run's tags")
    p.set_defaults(func=run_tag, untag=True)
    p = sub.add_parser("note", help="add a note to a run", description="Append a note to a run (id or unique "
                                                                       "prefix); notes are never edited, only added.")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("text", nargs="+", help="the note (words are joined with spaces)")
    add_json(p, "the result")
    p.set_defaults(func=run_note)
    p = sub.add_parser("rename", help="rename a run", description="Give a run a new name (its id never changes).")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("name", help="the new name")
    add_json(p, "the result")
    p.set_defaults(func=run_rename)
    p = sub.add_parser("mark", help="mark an ended run completed or failed",
                       description="Change an ended run's status to completed or failed (e.g. a run that "
                                   "finished but diverged). Archiving is separate: `git vault archive`.")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("status", choices=("completed", "failed"))
    add_json(p, "the result")
    p.set_defaults(func=run_mark)
    for name, archived in (("archive", True), ("unarchive", False)):
        p = sub.add_parser(name, help=f"{name} a run or an experiment (a flag, never a status)",
                           description=f"{name.capitalize()} a run, or an experiment with --experiment: a flag "
                                       "(`show` and --json report it; the TUI hides archived runs and "
                                       "experiments until H); no run's status changes.")
        p.add_argument("run", nargs="?", default=None, help=RUN_HELP)
        p.add_argument("--experiment", default=None, metavar="PATH", help=f"{name} this experiment (path or id) instead")
        add_json(p, "the result")
        p.set_defaults(func=run_archive, archived=archived)


def _resolve(args: argparse.Namespace) -> tuple[Any, str]:
    """The vault and the run id the argument names (an id, a unique prefix)."""
    with open_query(args) as q:
        return q.vault, q.resolve_run(args.run)


def _report(args: argparse.Namespace, rid: str, edit: Any, unchanged: str, **extra: Any) -> int:
    if args.json:
        print_json({"id": rid, "changed": edit is not None, **extra})
    elif edit is not None:
        print(f"{rid}: {edit.summary}")
    else:
        print(f"{rid}: {unchanged}; nothing changed")
    return 0


def run_tag(args: argparse.Namespace) -> int:
    from gitvault.runs import edits

    vault, rid = _resolve(args)
    edit = (edits.untag if args.untag else edits.tag)(vault, rid, *args.tags)
    changed = list(edit.data["tags"]) if edit is not None else []
    tags = edits.current(vault, "run", rid).get("tags") or []
    if args.json:
        print_json({"id": rid, "removed" if args.untag else "added": changed, "tags": tags})
    elif changed:
        print(f"{'untagged' if args.untag else 'tagged'} {rid}: {tags_text(changed, ', ')} "
              f"(tags now: {tags_text(tags, ', ') or 'none'})")
    else:
        print(f"{rid} {'has none of' if args.untag else 'already has'} {tags_text(args.tags, ', ')}; nothing changed")
    return 0


def run_note(args: argparse.Namespace) -> int:
    from gitvault.runs import edits

    text = " ".join(args.text).strip()
    if not text:
        raise ValueError("the note is empty; give its text, e.g. git vault note 01J... 'diverged after warmup'")
    vault, rid = _resolve(args)
    edits.note(vault, rid, text)
    if args.json:
        print_json({"id": rid, "note": text})
    else:
        print(f"noted on {rid}: {text}")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    from gitvault.runs import edits

    vault, rid = _resolve(args)
    return _report(args, rid, edits.rename(vault, rid, args.name), f"is already named {args.name}", name=args.name)


def run_mark(args: argparse.Namespace) -> int:
    from gitvault.runs import edits

    vault, rid = _resolve(args)
    return _report(args, rid, edits.mark(vault, rid, args.status), f"is already {args.status}", status=args.status)


def run_archive(args: argparse.Namespace) -> int:
    from gitvault.runs import edits

    state = "archived" if args.archived else "not archived"
    verb = "archive" if args.archived else "unarchive"
    if (args.run is None) == (args.experiment is None):
        raise ValueError(f"give a run or --experiment PATH to {verb}, not {'both' if args.run else 'neither'}; "
                         f"e.g. git vault {verb} 01J... or git vault {verb} --experiment imagenet/resnet50")
    if args.experiment is not None:
        with open_query(args) as q:
            eid = q.experiment_ref(args.experiment)
            edit = q.archive_experiment(eid, args.archived)
        return _report(args, args.experiment, edit, f"is already {state}", archived=args.archived, kind="experiment")
    vault, rid = _resolve(args)
    return _report(args, rid, edits.archive(vault, "run", rid, args.archived), f"is already {state}",
                   archived=args.archived)
