"""`git vault models [prefix]`: the model registry."""

from __future__ import annotations

import argparse

from gitvault.cli.cmd_runs import add_json, footer, limited, open_query, when
from gitvault.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list registered models (name@version, framework, the run that made it)",
                       description="Models registered with run.register_model(), optionally only names "
                                   "starting with PREFIX.")
    p.add_argument("prefix", nargs="?", default="", help="model name prefix")
    p.add_argument("--limit", type=int, default=None, help="show at most N models")
    add_json(p, "the models")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        page = limited(lambda n: q.list_models(name_prefix=args.prefix, limit=n), args.limit)
    if args.json:
        print_json(page)
        return 0
    rows = [{"model": f"{m['name']}@{m['version']}", "framework": m.get("framework"), "run": m.get("run_id"),
             "created": when(m.get("created_at")), "id": m["id"], "metadata": m.get("metadata")}
            for m in page["items"]]
    print_table(rows, ["model", "framework", "run", "created", "id", "metadata"])
    note = footer(page, "models")
    if note:
        print(note)
    return 0
