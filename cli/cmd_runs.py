"""`git vault runs`: list and filter runs, newest first (running runs included). Also holds the
small helpers the other read commands share (opening the query layer, dates, short cells)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import Any, Callable

from gitvault.cli.output import add_pager, print_json, print_table
from gitvault.display import headline, listed, number, tags_text
from gitvault.cli.progress import Progress

EXTRA = "query"  # its commands read through gitvault.query

STATUSES = ("running", "completed", "failed", "crashed")
CLAMP = 500


CACHE_STAGES = {"records": "reading records", "curves": "reading curves", "sqlite": "writing extract.db",
                "duckdb": "writing vault.duckdb"}


def open_query(args: argparse.Namespace) -> Any:
    """The query layer of the vault at ``-C``, its caches brought up to the vault's tip once (a
    command is short: it does not ask git again before each read, only after its own writes).
    When the caches must be built from scratch (a fresh clone, deleted files) a terminal shows a
    progress bar."""
    from gitvault.cache import Caches
    from gitvault.query import Query
    from gitvault.query.base import vault_paths

    where = vault_paths(getattr(args, "repo", None) or args.directory)
    home = Caches(where)
    bar = sys.stderr.isatty() and not (home.sqlite_path.exists() and home.duckdb_path.exists())
    q = Query(where, refresh=not bar)  # opening reads the vault's tip once and refreshes from it
    q.auto_refresh = False  # a short command: refreshed on opening and after its own writes only
    if q.opened is not None:
        result = q.opened
    else:
        with Progress("building the caches (.extract/)", labels=CACHE_STAGES,
                      json=bool(getattr(args, "json", False))) as progress:
            result = q.caches.rebuild(progress=progress.update)
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


def parse_date(value: str, flag: str, *, end_of_day: bool = False, cwd: str | None = None) -> str:
    """A date as a UTC ISO string: ISO 8601 (``2026-01-31``, ``2026-01-31T12:00``; a bare date
    given to ``--until`` means the end of that day), else any date git's own parser reads
    (``yesterday``, ``2.weeks.ago``, ``3 days ago``, ``last friday``), asked of git itself
    (``git rev-parse --since=...``) so it means what it means in ``git log --since``."""
    from gitvault.storage import codec  # not at the top: `git vault -h` imports this module

    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = _git_date(text, flag, cwd)
    else:
        if end_of_day and len(text) == 10:
            parsed += dt.timedelta(days=1)
    return codec.iso_utc(parsed)


def _git_date(text: str, flag: str, cwd: str | None) -> dt.datetime:
    import subprocess
    import time

    bad = ValueError(f"{flag} {text!r} is not a date; use YYYY-MM-DD[THH:MM] or a date git reads, "
                     "e.g. yesterday, 2.weeks.ago, '3 days ago'")
    if not text or text.startswith("-") or re.match(r"\d{4}-", text):  # a broken ISO date: git would guess
        raise bad
    before = time.time()
    proc = subprocess.run(["git", "rev-parse", f"--since={text}"], cwd=cwd, capture_output=True, text=True)
    out = proc.stdout.strip()
    if proc.returncode != 0 or not out.startswith("--max-age="):
        raise bad
    seconds = int(out.removeprefix("--max-age="))
    # git reads text it does not understand as "now": only "now" itself may mean now
    if before - 1 <= seconds <= time.time() + 1 and text.lower() != "now":
        raise bad
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


BASE_COLUMNS = ["id", "experiment", "name", "status", "started", "tags"]


def run_rows(items: list[dict[str, Any]], metrics: list[str] | None = None,
             progress: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Table rows of run items: the base columns, one column per metric in ``metrics`` (default:
    the headline metrics most of these runs share, grouped by ``/`` prefix), a running run's
    progress beside its status."""
    names = headline(i.get("metrics") for i in items) if metrics is None else metrics
    progress = progress or {}
    rows = []
    for item in items:
        values = item.get("metrics") or {}
        status = str(item.get("status") or "")
        if item["id"] in progress:
            status += f" {progress[item['id']]}"
        row = {
            "id": item["id"], "experiment": item.get("experiment_path"), "name": item.get("name"),
            "status": status, "started": when(item.get("started_at")), "tags": tags_text(item.get("tags")),
        }
        row.update({name: number(values.get(name)) for name in names})
        rows.append(row)
    return rows


def progress_of(q: Any, ids: list[str], steps: bool) -> dict[str, str]:
    """What the table says beside a running run's status: how long ago it last flushed (from the
    listing's cheap read of each spool, which decodes no curve), or with ``steps`` (``--progress``)
    its last step and points (``step 120/1000``), which decodes its curves (numpy; a 3M-point
    spool takes 0.3 s)."""
    import time

    out: dict[str, str] = {}
    if steps:
        for rid in ids:
            state = q.live_state(rid, with_curves=True)
            if state is not None:
                out[rid] = step_text(state)
        return out
    now = time.time()
    for state in q.live_states():
        if state["id"] in ids and state.get("last_flush"):
            out[state["id"]] = f"(flushed {max(now - float(state['last_flush']), 0):.0f} s ago)"
    return out


def step_text(state: dict[str, Any]) -> str:
    last, total, points = state.get("last_step"), state.get("total_steps"), state.get("points") or 0
    if last is None:
        return "(no points yet)"
    return f"step {last}/{total}" if total else f"step {last}, {points} points"


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
    p.add_argument("--since", default=None, metavar="DATE",
                   help="started at or after: YYYY-MM-DD[THH:MM] (UTC) or as git log --since reads it "
                        "(yesterday, 2.weeks.ago, '3 days ago')")
    p.add_argument("--until", default=None, metavar="DATE",
                   help="started before (a bare YYYY-MM-DD includes that day; git's forms too)")
    p.add_argument("--where", default=None, metavar="EXPR",
                   help="a filter expression, e.g. \"metrics.val_loss < 0.2 and config.optimizer.name = 'adam'\" "
                        "(see below)")
    p.add_argument("--sort", default=None, metavar="KEYS",
                   help="sort keys, e.g. \"-val_acc, name\" (a bare name is a metric: val_acc = metrics.val_acc); "
                        "'-' = descending, missing values last (default -started)")
    p.add_argument("--columns", default=None, metavar="COLS",
                   help="the table's columns, comma separated, e.g. name,status,val/acc,config.lr,params.arch "
                        "(a bare name is a metric; also id, experiment, started, ended, tags, label, hostname); "
                        "default: id, experiment, name, status, started, tags and the metrics most runs share")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=int, default=None,
                       help=f"show at most N runs (default {TABLE_LIMIT} in the table, every run with --json)")
    shown.add_argument("--all", action="store_true", help="show every run")
    p.add_argument("--progress", action="store_true",
                   help="show each running run's last step and points (reads its curves; by default the "
                        "table says how long ago it last flushed)")
    add_json(p, "the runs")
    add_pager(p)
    p.set_defaults(func=run)
    parse = p.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        return parse(glue_sort(list(args if args is not None else sys.argv[1:])), namespace)

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]


def glue_sort(argv: list[str]) -> list[str]:
    """``--sort -val_acc`` as ``--sort=-val_acc`` (argparse takes a value starting with '-' for an
    option), as people write it."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        if argv[i] == "--sort" and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] != "--":
            out.append(f"--sort={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


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
        filters["started_after"] = parse_date(args.since, "--since", cwd=args.directory)
    if args.until is not None:
        filters["started_before"] = parse_date(args.until, "--until", end_of_day=True, cwd=args.directory)
    return filters


COLUMN_NAMES = {"experiment": "experiment", "experiment_path": "experiment", "started": "started",
                "started_at": "started", "ended": "ended", "ended_at": "ended"}


def column_list(text: str) -> list[str]:
    """``--columns`` as field names of `Query.runs` (a bare metric name gets ``metrics.``)."""
    from gitvault.query.filter import qualify

    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ValueError("--columns names no column; give e.g. --columns name,status,val_acc")
    return [c if c in ("tags", "label", "metrics", "config", "params") else qualify(c) for c in names]


def cell(column: str, value: Any) -> Any:
    """A chosen column's value for the table: metrics as `number`, tags unambiguous, the rest as
    the table prints them (config values as written)."""
    if column == "tags":
        return tags_text(value)
    if column.startswith("metrics."):
        return number(value)
    return value


def bare_metrics(args: argparse.Namespace) -> list[str]:
    """The names ``--sort`` and ``--columns`` give bare (no ``metrics.`` written) that are taken
    as metrics: ``-val_acc`` -> ``val_acc``. A name written ``metrics.X`` is not among them."""
    from gitvault.query.filter import qualify

    texts = [part.strip().lstrip("+-").strip() for part in (args.sort or "").split(",")]
    texts += [c.strip() for c in (args.columns or "").split(",")]
    return list(dict.fromkeys(t for t in texts if t and not t.startswith("metrics.")
                              and t not in ("tags", "label", "metrics", "config", "params")
                              and qualify(t).startswith("metrics.")))


def metric_names_shown(items: list[dict[str, Any]]) -> set[str]:
    """The metric names a page's items prove some run has: run items' ``metrics``, or the
    ``metrics.NAME`` columns holding a value."""
    import json

    names: set[str] = set()
    for item in items:
        names.update(item.get("metrics") or {})
        for key, value in item.items():
            if key.startswith("metrics.") and value is not None:
                name = key.removeprefix("metrics.")
                names.add(json.loads(name) if name.startswith('"') else name)
    return names


def check_metrics(wanted: list[str], known: set[str]) -> None:
    """A ``ValueError`` naming the first of ``wanted`` that no listed run has, with the metrics
    closest to it (``val_acc`` -> ``val/acc``)."""
    import difflib

    def norm(name: str) -> str:
        return re.sub(r"[/._\-]+", "_", name.lower())

    for name in wanted:
        if name in known:
            continue
        same = sorted(k for k in known if norm(k) == norm(name))
        close = same or difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?"
        elif known:
            hint = f"their metrics: {listed(sorted(known), 8)}"
        else:
            hint = "they have no metrics"
        raise ValueError(f"no metric {name!r} in these runs; {hint}")


def run(args: argparse.Namespace) -> int:
    from gitvault.query.filter import qualify_sort

    filters = filters_of(args)
    sort = qualify_sort(args.sort) if args.sort else None
    columns = column_list(args.columns) if args.columns is not None else None
    bare = bare_metrics(args)
    limit = None if args.all or (args.json and args.limit is None) else (TABLE_LIMIT if args.limit is None else args.limit)
    with open_query(args) as q:
        page = limited(lambda n: q.runs(where=args.where, sort=sort, limit=n, text=args.text or "",
                                        filters=filters or None, columns=columns), limit)
        unseen = [name for name in bare if name not in metric_names_shown(page["items"])]
        if unseen and page["total"]:  # asked of every listed run, not this page alone
            every = q.runs(where=args.where, limit=None, text=args.text or "", filters=filters or None,
                           columns=["metrics"])
            check_metrics(unseen, metric_names_shown(every["items"]))
        running = [i["id"] for i in page["items"] if i.get("status") == "running"]
        progress = progress_of(q, running, args.progress) if running and not args.json and columns is None else {}
    page.pop("next_cursor", None)
    if args.json:
        print_json(page)
        return 0
    if columns is not None:
        shown = [c.strip() for c in args.columns.split(",") if c.strip()]
        rows = [{name: cell(col, item.get(col)) for name, col in zip(shown, columns)} for item in page["items"]]
        print_table(rows, shown)
    else:
        rows = run_rows(page["items"], progress=progress)
        print_table(rows, [*BASE_COLUMNS, *(k for k in (rows[0] if rows else {}) if k not in BASE_COLUMNS)])
    note = footer(page, "runs")
    if note:
        print(note)
    return 0
