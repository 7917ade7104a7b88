"""`git vault delete run RUN | experiment PATH | todo ID` and `git vault restore ...`: a tombstone
event through `gitvault.query` (`Query.delete`, `Query.restore`). The record and its blobs stay in
the vault; listings, counts, search, SQL and lineage leave it out (an experiment's runs and the
experiments below it too) until it is restored. Both travel with push/pull like any other record."""

from __future__ import annotations

import argparse

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import print_json

EXTRA = "query"  # its commands read and write through gitvault.query

KINDS = ("run", "experiment", "todo")
DELETE_REF = {"run": "run id, unique id prefix, run name or path#name label",
              "experiment": "experiment path or id (its runs and the experiments below it are hidden too)",
              "todo": "TODO id or unique prefix (see `git vault todo list --all`)"}
RESTORE_REF = {"run": "the deleted run's full id (as `git vault delete` printed it)",
               "experiment": "experiment path or id", "todo": "the deleted TODO's full id"}


def register(sub: argparse._SubParsersAction) -> None:
    for name, refs, short, what in (
            ("delete", DELETE_REF, "delete a run, an experiment or a TODO (a tombstone: restore undoes it)",
             "Delete a run, an experiment or a TODO: a tombstone event; the record and its blobs stay, and "
             "`git vault restore` brings it back."),
            ("restore", RESTORE_REF, "bring back a run, an experiment or a TODO that delete hid",
             "Bring back a run, an experiment or a TODO that `git vault delete` hid.")):
        p = sub.add_parser(name, help=short, description=what)
        kinds = p.add_subparsers(dest="kind", metavar="<run|experiment|todo>", parser_class=type(p))
        kinds.required = True
        for kind in KINDS:
            k = kinds.add_parser(kind, help=f"{name} a {kind}", description=f"{what} This one: a {kind}.")
            k.add_argument("ref", metavar=kind.upper() if kind != "experiment" else "PATH", help=refs[kind])
            add_json(k, "the result")
            k.set_defaults(func=run_delete, restore=name == "restore")


def run_delete(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        edit = (q.restore if args.restore else q.delete)(args.kind, args.ref)
    if args.json:
        print_json({"kind": edit.kind, "id": edit.id, "event": edit.event, "summary": edit.summary})
    elif args.restore:
        print(edit.summary)
    else:
        print(f"{edit.summary}; `git vault restore {args.kind} {_restore_ref(args.kind, args.ref, edit.id)}` "
              "brings it back")
    return 0


def _restore_ref(kind: str, given: str, ident: str) -> str:
    """What to give `restore`: an experiment as it was named, a run or TODO by its full id."""
    return given if kind == "experiment" else ident
