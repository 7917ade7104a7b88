"""`git vault show <run>`: everything about one run (a unique id prefix is enough)."""

from __future__ import annotations

import argparse
from typing import Any

from gitvault.cli.cmd_runs import add_json, number, open_query, when
from gitvault.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show one run: config, metrics, curves, artifacts, git, notes, todos",
                       description="Show one run, sealed or running. RUN is its id or a unique id prefix.")
    p.add_argument("run", help="run id or unique prefix")
    add_json(p, "the run")
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
        f"  started:  {when(d.get('started_at'))}   ended: {when(d.get('ended_at')) or '-'}",
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
        lines.append(f"  tags:     {', '.join(d['tags'])}")
    from gitvault.query import flatten

    config = flatten(d.get("config") or {})
    if config:
        lines += ["", "config"] + [f"  {k} = {v!r}" for k, v in config.items()]
    if d.get("metrics_final"):
        lines += ["", "metrics"] + [f"  {k} = {number(v)}" for k, v in d["metrics_final"].items()]
    if d.get("run_params"):
        lines += ["", "params"] + [f"  {k} = {v}" for k, v in d["run_params"].items()]
    curves = d.get("curves") or {}
    if curves.get("names"):
        total = d.get("total_steps")
        lines += ["", f"curves ({curves.get('points', 0)} points, last step {curves.get('last_step')}"
                      + (f" of {total}" if total else "") + ")",
                  "  " + ", ".join(curves["names"])]
    lines += _section("artifacts", d.get("artifacts") or [], ["name", "kind", "step", "shape", "dtype"])
    notes = d.get("notes")
    if notes:
        text = notes if isinstance(notes, str) else "\n".join(n.get("content", "") if isinstance(n, dict) else str(n)
                                                            for n in notes)
        lines += ["", "notes"] + [f"  {line}" for line in text.splitlines()]
    todos = [{**t, "done": "yes" if t.get("done") else ""} for t in d.get("todos") or []]
    lines += _section("todos", todos, ["id", "priority", "done", "content"])
    return lines


def _section(title: str, rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return []
    import io

    buf = io.StringIO()
    print_table(rows, columns, out=buf)
    return ["", title] + [f"  {line}" for line in buf.getvalue().splitlines()]
