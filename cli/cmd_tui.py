"""`git vault tui`: the full-screen terminal UI (browse, watch, compare and search runs)."""

from __future__ import annotations

import argparse
import sys

EXTRA = "tui"  # prompt_toolkit (and the query extra it reads through)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tui", help="full-screen terminal UI: browse, watch, compare and search runs",
                       description="Browse experiments and runs, watch live runs grow, compare and diff "
                                   "runs, search, and see the git history with its runs, in a full-screen "
                                   "terminal UI. ? lists every key; q closes a view and quits from the top.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault import extras

    extras.require("tui", "git vault tui")  # [tui] brings [query] too
    extras.require("query", "git vault tui")
    from gitvault.query.worker import QueryWorker

    worker = QueryWorker(args.directory, thread_name="gitvault-tui")
    worker.open()  # a missing repository or vault is one error line, before the screen is taken
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        worker.close()
        sys.stderr.write("git vault: error: git vault tui needs a terminal; for scripts use "
                         "`git vault runs`, `show` or `log` (or --json)\n")
        return 1
    from gitvault.tui import run as run_tui

    return run_tui(args.directory, worker)
