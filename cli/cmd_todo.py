"""`git vault todo add | list | done | undone | delete`: TODOs scoped to the project, an experiment or
a run, written through `gitvault.query` (`Query.add_todo`, `todo_done`, `delete`), as the TUI writes
them."""

from __future__ import annotations

import argparse
from gitvault.cli.cmd_runs import add_json, footer, limited, open_query, when
from gitvault.cli.output import print_json, print_table

PRIORITIES = {0: "low", 1: "mid", 2: "high"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("todo", help="add, list and complete TODOs (global, per experiment, per run)",
                       description="TODOs live in the vault: they travel with push/pull; done wins on merge.")
    todo = p.add_subparsers(dest="todo_command", metavar="<add|list|done|undone|delete>", parser_class=type(p))
    todo.required = True
    add = todo.add_parser("add", help="add a TODO", description="Add a TODO: global unless --run or --experiment.")
    scope = add.add_mutually_exclusive_group()
    scope.add_argument("--run", default=None, metavar="RUN", help="scope it to a run (id or unique prefix)")
    scope.add_argument("--experiment", default=None, metavar="PATH", help="scope it to an experiment (path or id)")
    add.add_argument("--priority", type=int, default=0, choices=sorted(PRIORITIES),
                     help="0 = low (default), 1 = mid, 2 = high")
    add.add_argument("text", nargs="+", help="what to do")
    add_json(add, "the new TODO's id")
    add.set_defaults(func=run_add)
    ls = todo.add_parser("list", help="list open TODOs, high priority first",
                         description="Open TODOs of every scope, high priority first (--all: done ones too).")
    ls.add_argument("--all", action="store_true", help="include done TODOs")
    ls.add_argument("--scope", choices=("all", "global", "experiment", "run"), default=None,
                    help="only this scope (default: all, or the scope of --run/--experiment)")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--run", default=None, metavar="RUN", help="only TODOs of this run")
    which.add_argument("--experiment", default=None, metavar="PATH", help="only TODOs of this experiment")
    ls.add_argument("--limit", type=int, default=None, help="show at most N TODOs")
    add_json(ls, "the TODOs")
    ls.set_defaults(func=run_list)
    for name, text in (("done", "Mark a TODO done (id or unique prefix)."),
                       ("undone", "Mark a done TODO open again (id or unique prefix)."),
                       ("delete", "Delete a TODO (id or unique prefix); `git vault restore todo ID` brings it back.")):
        cmd = todo.add_parser(name, help=text.split(" (")[0].lower(), description=text)
        cmd.add_argument("id", help="TODO id or unique prefix (see `git vault todo list --all`)")
        add_json(cmd, "the result")
        cmd.set_defaults(func=run_delete if name == "delete" else run_done, done=name == "done")


def run_add(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    with open_query(args) as q:
        if args.run is not None:
            scope_type, scope_id = "run", q.resolve_run(args.run)
            where = f"run {scope_id}"
        elif args.experiment is not None:
            scope_type, scope_id = "experiment", q.experiment_ref(args.experiment)
            where = f"experiment {q.get_experiment(scope_id)['path']}"
        else:
            scope_type, scope_id, where = "global", None, "global"
        tid = q.add_todo(text, args.priority, scope_type, scope_id).id
    if args.json:
        print_json({"id": tid, "scope": where, "content": text, "priority": args.priority})
    else:
        print(f"added TODO {tid} ({where}, {PRIORITIES[args.priority]} priority): {text}")
    return 0


def _scope(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.run is not None or args.experiment is not None:
        kind = "run" if args.run is not None else "experiment"
        if args.scope not in (None, kind):
            raise ValueError(f"--scope {args.scope} contradicts --{kind}; give one of them")
        return kind, args.run if args.run is not None else args.experiment
    return args.scope or "all", None


def run_list(args: argparse.Namespace) -> int:
    if args.scope in ("experiment", "run"):
        raise ValueError(f"--scope {args.scope} needs --{args.scope} to say which {args.scope}")
    scope, scope_id = _scope(args)
    with open_query(args) as q:
        page = limited(lambda n: q.list_todos(scope, scope_id, include_done=args.all, limit=n), args.limit)
        paths = {e["id"]: e["path"] for e in q.list_experiments()["items"]}
    if args.json:
        print_json(page)
        return 0
    rows = [{**t, "priority": PRIORITIES.get(t["priority"], t["priority"]), "done": "yes" if t["done"] else "",
             "scope": t["scope_type"] + (f" {paths.get(t['scope_id'], t['scope_id'])}" if t.get("scope_id") else ""),
             "created": when(t.get("created_at"))} for t in page["items"]]
    print_table(rows, ["id", "priority", "done", "scope", "created", "content"])
    note = footer(page, "TODOs")
    if note:
        print(note)
    return 0


def run_done(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        tid = q.resolve_todo(args.id)
        todo = next(t for t in q.list_todos("all", include_done=True)["items"] if t["id"] == tid)
        edit = q.todo_done(tid, args.done)
    if args.json:
        print_json({"id": tid, "done": args.done, "already_done" if args.done else "already_open": edit is None})
    elif edit is None and args.done:
        print(f"TODO {tid} was already done ({when(todo.get('completed_at'))}): {todo['content']}")
    elif edit is None:
        print(f"TODO {tid} is not done; nothing changed: {todo['content']}")
    else:
        print(f"{'done' if args.done else 'open again'}: {tid} {todo['content']}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        edit = q.delete("todo", args.id)
    if args.json:
        print_json({"id": edit.id, "deleted": True})
    else:
        print(f"{edit.summary}; `git vault restore todo {edit.id}` brings it back")
    return 0
