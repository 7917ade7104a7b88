"""`git vault files RUN`: the files and images a run logged (``run.log_file``, ``log_image``,
``log_figure``): name, kind, step, size, media type, pixels and caption."""

from __future__ import annotations

import argparse
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import add_pager, print_json, print_table
from gitvault.sizes import human_size

EXTRA = "query"  # its commands read through gitvault.query


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("files", help="list the files and images a run logged (name, kind, step, size)",
                       description="The files and images of a run, sealed or running, logged with run.log_file, "
                                   "run.log_image and run.log_figure: the latest of each name and step. "
                                   "`git vault open RUN NAME` opens one.")
    p.add_argument("run", help="run id, unique prefix or name")
    p.add_argument("--name", default=None, metavar="PREFIX", help="only names starting with PREFIX")
    add_json(p, "the files")
    add_pager(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        items = q.files(args.run)
    if args.name:
        items = [i for i in items if i["name"].startswith(args.name)]
    if args.json:
        print_json(items)
        return 0
    print_table([row(i) for i in items], ["name", "kind", "step", "size", "type", "pixels", "caption"])
    return 0


def row(item: Any) -> dict[str, Any]:
    """A file as the table shows it: size in bytes people read, pixels as WIDTHxHEIGHT."""
    pixels = f"{item['width']}x{item['height']}" if item.get("width") and item.get("height") else ""
    size = item.get("size")
    return {"name": item["name"], "kind": item["kind"], "step": item.get("step"),
            "size": human_size(size) if isinstance(size, int) else "", "type": item.get("media_type"),
            "pixels": pixels, "caption": item.get("caption")}
