"""`git vault runs`: list and filter runs, newest first (running runs included). Also holds the
small helpers the other read commands share (opening the query layer, dates, short cells)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from typing import Any, Callable

from gitvault.cli.output import print_json, print_table
from gitvault.cli.progress import Progress

STATUSES = ("running", "completed", "failed", "crashed")
CLAMP = 500


CACHE_STAGES = {"records": "reading records", "curves": "reading curves", "sqlite": "writing extract.db",
                "duckdb": "writing vault.duckdb"}


def open_query(args: argparse.Namespace) -> Any:
    """The query layer of the vault at ``-C``, its caches brought up to the vault's tip once (a
    command is short: it does not ask git again before each read, only after its own writes).
    When the caches must be built from scratch (a fresh clone, deleted files) a terminal shows a
    progress bar."""
    from gitvault.query import Query

    q = Query(getattr(args, "repo", None) or args.directory, refresh=False)
    caches = q.caches
    if sys.stderr.isatty() and not (caches.sqlite_path.exists() and caches.duckdb_path.exists()):
        with Progress("building the caches (.extract/)", labels=CACHE_STAGES) as progress:
            result = caches.rebuild(progress=progress.update)
    else:
        result = q.refresh()
    for problem in result.problems:  # shown once, by the command that brought the records in
        sys.stderr.write(f"git vault: warning: {problem}\n")
    return q


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON (for scripts)")


def when(value: str | None) -> str:
    """``2024-12-19T10:00:00.123Z`` -> ``2024-12-19 10:00`` (UTC)."""
    if not value:
        return ""
    return str(value).replace("T", " ")[:16]


def number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return value
    return "" if value is None else str(value)


def parse_date(value: str, flag: str, *, end_of_day: bool = False) -> str:
    """An ISO 8601 date or date-time as a UTC ISO string; a bare date given to ``--until`` means
    the end of that day."""
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag} {value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]") from None
    if end_of_day and len(text) == 10:
        parsed += dt.timedelta(days=1)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_rows(items: list[dict[str, Any]], metrics: int = 3) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        shown = list((item.get("metrics") or {}).items())[:metrics]
        rows.append({
            "id": item["id"], "experiment": item.get("experiment_path"), "name": item.get("name"),
            "status": item.get("status"), "started": when(item.get("started_at")),
            "tags": ",".join(item.get("tags") or []),
            "metrics": "  ".join(f"{k}={number(v)}" for k, v in shown),
        })
    return rows


TABLE_LIMIT = 100  # the newest runs a table shows unless asked for more (a terminal scrolls no further)


def limited(fetch: Callable[[int | None], dict[str, Any]], limit: int | None) -> dict[str, Any]:
    """A page of at most ``limit`` items. The query layer clamps limits to 500 (the MCP contract);
    the command line shows as many as asked."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number, got {limit}")
    if limit is None or limit <= CLAMP:
        return fetch(limit)
    page = fetch(None)
    items = page["items"][:limit]
    return {"items": items, "total": page["total"], "truncated": page["total"] > len(items)}


def footer(page: dict[str, Any], noun: str) -> str | None:
    shown, total = len(page.get("items") or []), page.get("total", 0)
    if page.get("truncated") or shown < total:
        return f"({shown} of {total} {noun}; raise --limit to see more)"
    return None


WHERE_HELP = """\
--where EXPR: conditions joined by and / or / not, with parentheses
  FIELD OP VALUE      OP: = != < <= > >= ~ (text starts with)
  FIELD in (V, ...)   FIELD not in (V, ...)   FIELD is null   FIELD is not null
  fields: metrics.NAME, config.PATH (config.optimizer.name), params.NAME, tag, status,
          experiment, name, id, hostname, started, ended
  values: numbers, 'quoted text', true, false; times are ISO 8601 ('2026-01-31')
  a comparison with a missing value is false; a name with other characters is quoted:
  metrics."top-1 acc"

examples:
  git vault runs --where "metrics.val_loss < 0.2 and tag = 'sweep'" --sort metrics.val_loss
  git vault runs --where "status in ('running', 'failed') or experiment ~ 'cifar/'"
  git vault runs --where "started > '2026-01-01' and not config.amp = true" --sort=-metrics.val_acc,name
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs (newest first), filtered by experiment, status, tag, text, dates, "
                                    "or any expression over metrics, config and params",
                       description="List runs, newest first, including running ones. Filters combine with AND.",
                       epilog=WHERE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prefix", nargs="?", default=None, help="experiment path prefix, e.g. imagenet/resnet50")
    p.add_argument("--experiment", default=None, metavar="PREFIX", help="same as the positional prefix")
    p.add_argument("--status", default=None, choices=None, metavar="STATUS",
                   help=f"one of {', '.join(STATUSES)}")
    p.add_argument("--tag", default=None, help="only runs carrying this tag")
    p.add_argument("--text", default=None, help="case-insensitive text in the run name, tags or notes")
    p.add_argument("--since", default=None, metavar="DATE", help="started at or after (YYYY-MM-DD[THH:MM])")
    p.add_argument("--until", default=None, metavar="DATE", help="started before (a bare date includes that day)")
    p.add_argument("--where", default=None, metavar="EXPR",
                   help="a filter expression, e.g. \"metrics.val_loss < 0.2 and config.optimizer.name = 'adam'\" "
                        "(see below)")
    p.add_argument("--sort", default=None, metavar="KEYS",
                   help="sort keys, e.g. \"-metrics.val_acc, name\"; '-' = descending, missing values last "
                        "(default -started; write --sort=-KEY when the first key is descending)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=int, default=None,
                       help=f"show at most N runs (default {TABLE_LIMIT} in the table, every run with --json)")
    shown.add_argument("--all", action="store_true", help="show every run")
    add_json(p, "the runs")
    p.set_defaults(func=run)


def filters_of(args: argparse.Namespace) -> dict[str, str]:
    if args.prefix and args.experiment and args.prefix != args.experiment:
        raise ValueError(f"two experiment prefixes given ({args.prefix!r} and --experiment {args.experiment!r}); "
                         "give one")
    filters: dict[str, str] = {}
    prefix = args.prefix or args.experiment
    if prefix:
        filters["experiment_prefix"] = prefix
    if args.status is not None:
        filters["status"] = args.status
    if args.tag is not None:
        filters["tag"] = args.tag
    if args.since is not None:
        filters["started_after"] = parse_date(args.since, "--since")
    if args.until is not None:
        filters["started_before"] = parse_date(args.until, "--until", end_of_day=True)
    return filters


def run(args: argparse.Namespace) -> int:
    filters = filters_of(args)
    limit = None if args.all or (args.json and args.limit is None) else (TABLE_LIMIT if args.limit is None else args.limit)
    with open_query(args) as q:
        page = limited(lambda n: q.runs(where=args.where, sort=args.sort, limit=n, text=args.text or "",
                                        filters=filters or None), limit)
    page.pop("next_cursor", None)
    if args.json:
        print_json(page)
        return 0
    print_table(run_rows(page["items"]), ["id", "experiment", "name", "status", "started", "tags", "metrics"])
    note = footer(page, "runs")
    if note:
        print(note)
    return 0
