"""`git vault report SELECTION -o report.html`: one self-contained HTML page of runs, curves,
config differences, images, tables and notes to share (or ``--markdown``: report.md with PNG charts
beside it). The page is built by `gitvault.report`; this is its command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitvault.cli.cmd_runs import WHERE_HELP, open_query

EXTRA = "report"  # Altair, vl-convert, markdown-it-py, and the query extra it reads through


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write one self-contained HTML page (or Markdown with PNG charts) of runs to share",
        description="One HTML file that opens in any browser with no network: a header (selection, repository,\n"
                    "commits, when), the runs table (config keys that differ, headline metrics with the best\n"
                    "marked), interactive curve charts (hover, zoom, log y; one chart per metric group), each run's\n"
                    "config and metrics against a baseline, images, tables and notes. Runs are named as anywhere\n"
                    "else (ids, unique prefixes, names, path#name labels) or by an experiment path (its runs and\n"
                    "those below it), and/or chosen with --where.",
        epilog=WHERE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", metavar="SELECTION",
                   help="run ids, unique prefixes, names, path#name labels or experiment paths")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="the file to write (default report.html, with --markdown report.md); replaced if it exists")
    p.add_argument("--where", default=None, metavar="EXPR",
                   help="only runs matching this filter expression (alone: every run it matches)")
    p.add_argument("--title", default=None, help="the page's title (default: N runs of EXPERIMENTS)")
    p.add_argument("--metrics", default=None, metavar="NAMES",
                   help="the runs table's metric columns, comma separated (default: the headline metrics most "
                        "of the runs share)")
    p.add_argument("--curves", default=None, metavar="NAMES",
                   help="the curves to chart, comma separated names or patterns such as 'train/*' "
                        "(default: every curve)")
    p.add_argument("--baseline", default=None, metavar="RUN",
                   help="the run the others are compared with (one of the selection; default: the first)")
    p.add_argument("--points", type=int, default=None, metavar="N",
                   help="points drawn per curve and run, keeping each stretch's lowest and highest (default 1000)")
    p.add_argument("--markdown", action="store_true",
                   help="write Markdown (report.md) with PNG charts and images in REPORT_files/ beside it")
    p.set_defaults(func=run)


def names(text: str | None, flag: str) -> list[str] | None:
    if text is None:
        return None
    found = [n.strip() for n in text.split(",") if n.strip()]
    if not found:
        raise ValueError(f"{flag} names nothing; give names separated by commas, e.g. {flag} val/loss,val/acc")
    return found


def run(args: argparse.Namespace) -> int:
    from gitvault.report import build, markdown, write_html

    out = Path(args.output or ("report.md" if args.markdown else "report.html"))
    if not out.is_absolute() and args.directory:
        out = Path(args.directory) / out
    metrics, curves = names(args.metrics, "--metrics"), names(args.curves, "--curves")
    with open_query(args) as q:
        report = build(q, args.runs, where=args.where, title=args.title, metrics=metrics, curves=curves,
                       baseline=args.baseline, max_points=args.points)
    if args.markdown:
        files = markdown.write(report, out)
        print(f"{files[0]} ({len(report.runs)} runs; {len(files) - 1} files in {files[0].stem}_files/)")
    else:
        print(f"{write_html(report, out)} ({len(report.runs)} runs, {out.stat().st_size / 1e6:.1f} MB)")
    return 0
