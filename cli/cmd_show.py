"""`git vault show <run>`: everything about one run (a unique id prefix is enough)."""

from __future__ import annotations

import argparse
import math
import datetime as dt
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import add_pager, print_json, print_table
from gitvault.display import grouped, tags_text, value_text, written
from gitvault.sizes import human_size


EXTRA = "query"  # its commands read through gitvault.query

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show one run: config, metrics, curves, artifacts, git, notes, todos",
                       description="Show one run, sealed or running. RUN is its id or a unique id prefix.")
    p.add_argument("run", help="run id or unique prefix")
    add_json(p, "the run")
    add_pager(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        detail = q.get_run(args.run)
    if args.json:
        print_json(detail)
        return 0
    for line in render(detail):
        print(line)
    return 0


def render(d: dict[str, Any]) -> list[str]:
    git = d.get("git") or {}
    env = d.get("env") or {}
    lines = [
        f"run {d['id']}  {d.get('label') or ''}",
        f"  status:   {d.get('status')}",
        f"  started:  {full_time(d.get('started_at'))}",
        f"  ended:    {full_time(d.get('ended_at')) or '-'}{took(d)}",
        f"  host:     {d.get('hostname') or '-'}",
    ]
    if git or d.get("git_sha"):
        sha = git.get("sha") or d.get("git_sha") or "-"
        state = " (dirty: uncommitted changes kept as a patch)" if git.get("dirty") else ""
        lines.append(f"  git:      {sha[:12]} on {git.get('branch') or '-'}{state}")
        for link in git.get("links") or []:
            lines.append(f"            linked to {str(link.get('commit'))[:12]} via {link.get('via')}")
    if env:
        lines.append(f"  python:   {env.get('python') or '-'} on {env.get('platform') or '-'}")
    if d.get("rerun"):
        lines.append(f"  rerun:    {d['rerun']}")
    if d.get("tags"):
        lines.append(f"  tags:     {tags_text(d['tags'], ', ')}")
    from gitvault.query import flatten

    config = flatten(d.get("config") or {})
    if config:
        lines += ["", "config"] + [f"  {k} = {written(v)}" for k, v in config.items()]
    if d.get("metrics_final"):
        lines += ["", "metrics"] + [f"  {k} = {metric_text(v)}" for k, v in grouped(d["metrics_final"])]
    if d.get("run_params"):
        lines += ["", "params"] + [f"  {k} = {v}" for k, v in d["run_params"].items()]
    curves = d.get("curves") or {}
    if curves.get("names"):
        total = d.get("total_steps")
        lines += ["", f"curves ({curves.get('points', 0)} points, last step {curves.get('last_step')}"
                      + (f" of {total}" if total else "") + ")",
                  "  " + ", ".join(curves["names"])]
    from gitvault.storage.records import FILE_KINDS  # not at the top: `git vault -h` imports this module

    artifacts = d.get("artifacts") or []
    lines += _section("artifacts", [a for a in artifacts if a.get("kind") not in FILE_KINDS],
                      ["name", "kind", "step", "shape", "dtype"])
    lines += _files(d["id"], [a for a in artifacts if a.get("kind") in FILE_KINDS])
    notes = d.get("notes")
    if notes:
        text = notes if isinstance(notes, str) else "\n".join(n.get("content", "") if isinstance(n, dict) else str(n)
                                                            for n in notes)
        lines += ["", "notes"] + [f"  {line}" for line in text.splitlines()]
    todos = [{**t, "done": "yes" if t.get("done") else ""} for t in d.get("todos") or []]
    lines += _section("todos", todos, ["id", "priority", "done", "content"])
    return lines


def _files(run_id: str, items: list[dict[str, Any]]) -> list[str]:
    """``files: 2 files, 20 images (1 series), 1.2 MB`` and where to list them."""
    if not items:
        return []
    files = sum(1 for i in items if i.get("kind") == "file")
    images = [i for i in items if i.get("kind") == "image"]
    series = len({i.get("name") for i in images if i.get("step") is not None})
    size = sum(i["size"] for i in items if isinstance(i.get("size"), int))
    parts = [f"{files} file{'s' if files != 1 else ''}"] if files else []
    if images:
        parts.append(f"{len(images)} image{'s' if len(images) != 1 else ''}"
                     + (f" ({series} series)" if series else ""))
    return ["", f"files: {', '.join(parts)}, {human_size(size)}  (git vault files {run_id[:12]})"]


def parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def full_time(value: Any) -> str:
    """``2026-01-31T12:00:05.250Z`` -> ``2026-01-31 12:00:05 UTC`` (the second, and the zone)."""
    parsed = parse_time(value)
    if parsed is None:
        return str(value or "")
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``0.25`` -> ``250 ms``, ``75`` -> ``1m 15s``, ``9000`` -> ``2h 30m 00s``, days as ``1d 02h 00m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def took(d: dict[str, Any]) -> str:
    """``  (took 2h 30m 00s)``, or for a running run ``  (running for 5m 02s)``."""
    start, end = parse_time(d.get("started_at")), parse_time(d.get("ended_at"))
    if start is None:
        return ""
    if end is not None:
        return f"   (took {duration(max((end - start).total_seconds(), 0.0))})"
    if d.get("status") == "running":
        now = dt.datetime.now(dt.timezone.utc)
        return f"   (running for {duration(max((now - start).total_seconds(), 0.0))})"
    return ""


def _section(title: str, rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return []
    import io

    buf = io.StringIO()
    print_table(rows, columns, out=buf)
    return ["", title] + [f"  {line}" for line in buf.getvalue().splitlines()]


def metric_text(value: object) -> str:
    """A headline metric in full: 15 significant digits (0.3, 0.8981234), a whole value without
    ``.0`` as the tables print it (7), NaN where the run logged one (kept as no value), infinities
    as every surface spells them."""
    if value is None:
        return "NaN"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.15g}"
    return value_text(value)
