"""`git vault open RUN NAME [--step N] [--out DIR]`: open a file or image a run logged with the
system viewer (``xdg-open``, ``open`` on macOS, or ``$GITVAULT_OPEN``), or write it (a logged
folder: all its files) into a folder."""

from __future__ import annotations

import argparse

from gitvault.cli.cmd_runs import open_query

EXTRA = "query"  # its commands read through gitvault.query


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open a run's file or image with the system viewer, or write it (--out DIR)",
                       description="Open the file or image NAME of a run (`git vault files RUN` lists them) with the "
                                   "system viewer (xdg-open; open on macOS; or the command in $GITVAULT_OPEN), on a "
                                   "copy named as it was logged. --out DIR writes it into DIR instead (a logged "
                                   "folder: every file of it, its tree kept); an existing file is never overwritten. "
                                   "Every copy is checked against its sha256.")
    p.add_argument("run", help="run id, unique prefix or name")
    p.add_argument("name", help="the file's or image's name (a folder's name with --out)")
    p.add_argument("--step", type=int, default=None, metavar="N", help="the image of a series at step N (default: the latest)")
    p.add_argument("--out", default=None, metavar="DIR", help="write the file into DIR instead of opening it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.query.files import open_externally

    with open_query(args) as q:
        if args.out is not None:
            for path in q.export(args.run, args.name, args.out, args.step):
                print(path)
            return 0
        item = q.file(args.run, args.name, args.step)
    copy = open_externally(item)
    print(f"opened {copy}")
    return 0
