"""`git vault experiments [prefix]`: the experiment tree and its specimens."""

from __future__ import annotations

import argparse

from gitvault.cli.cmd_runs import add_json, footer, limited, open_query, when
from gitvault.cli.output import print_json, print_table


EXTRA = "query"  # its commands read through gitvault.query

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiments", help="list experiments (hierarchy nodes and specimens) with run counts",
                       description="Every experiment whose path starts with PREFIX, with its level, number of "
                                   "runs and, for specimens, the taxonomy (domain, method, model, tags).")
    p.add_argument("prefix", nargs="?", default="", help="path prefix, e.g. imagenet")
    p.add_argument("--limit", type=int, default=None, help="show at most N experiments")
    add_json(p, "the experiments")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        page = limited(lambda n: q.list_experiments(prefix=args.prefix, limit=n), args.limit)
    if args.json:
        print_json(page)
        return 0
    rows = [{**item, "level": item.get("node_type"), "runs": item.get("n_runs"), "created": when(item.get("created_at")),
             "specimen": item.get("specimen_id"),
             "taxonomy": "/".join(x for x in (item.get("domain"), item.get("method")) if x)}
            for item in page["items"]]
    print_table(rows, ["path", "level", "runs", "specimen", "taxonomy", "model", "tags", "created"])
    note = footer(page, "experiments")
    if note:
        print(note)
    return 0
