"""`git vault compare <run>...` (2-10 runs side by side) and `git vault diff <run> <run>`."""

from __future__ import annotations

import argparse
import string
from typing import Any

from gitvault.cli.cmd_runs import add_json, number, open_query
from gitvault.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare 2-10 runs: headline metrics ranked, config differences, curves",
                       description="Headline metrics with their direction (min/max) and the best run marked *, "
                                   "config keys that differ (nested keys joined by dots), and with --curves the "
                                   "last value and best value of every curve.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="2 to 10 run ids or unique prefixes")
    p.add_argument("--curves", action="store_true", help="include curves (--json: every point)")
    add_json(p, "the comparison")
    p.set_defaults(func=run_compare)
    p = sub.add_parser("diff", help="what changed between two runs: config keys and metric deltas",
                       description="Config keys added, removed or changed (nested keys joined by dots) and "
                                   "each headline metric's change from the first run to the second, with "
                                   "whether that is better given the metric's direction.")
    p.add_argument("a", metavar="RUN", help="the run to compare from (id or unique prefix)")
    p.add_argument("b", metavar="OTHER", help="the run to compare to")
    add_json(p, "the diff")
    p.set_defaults(func=run_diff)


def run_compare(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        result = q.compare_runs(args.runs, include_curves=args.curves)
    if args.json:
        print_json(result)
        return 0
    runs = result["runs"]
    keys = {r["id"]: string.ascii_uppercase[i] for i, r in enumerate(runs)}
    print_table([{"": keys[r["id"]], "id": r["id"], "run": r.get("label") or r.get("name"), "status": r.get("status")}
                 for r in runs], ["", "id", "run", "status"])
    columns = ["metric", "dir", *keys.values(), "best"]
    rows = []
    for name, m in result.get("metrics", {}).items():
        row: dict[str, Any] = {"metric": name, "dir": m.get("direction")}
        ranking = m.get("ranking") or []
        for rid, key in keys.items():
            value = (m.get("values") or {}).get(rid)
            row[key] = number(value) + ("*" if ranking and ranking[0] == rid else "")
        row["best"] = keys.get(ranking[0], "") if ranking else ""
        rows.append(row)
    print("\nmetrics (* = best)")
    print_table(rows, columns)
    diffs = result.get("config_diffs") or {}
    print("\nconfig differences")
    print_table([{"key": k, **{keys[rid]: v for rid, v in by_run.items() if rid in keys}} for k, by_run in diffs.items()],
                ["key", *keys.values()])
    if args.curves:
        print("\ncurves (last value / points)")
        rows = []
        for name, by_run in (result.get("curves") or {}).items():
            row = {"curve": name}
            for rid, points in by_run.items():
                if rid in keys:
                    row[keys[rid]] = f"{number(points[-1][1])} / {len(points)}" if points else "-"
            rows.append(row)
        print_table(rows, ["curve", *keys.values()])
    return 0


def run_diff(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        result = q.diff_runs(args.a, args.b)
    if args.json:
        print_json(result)
        return 0
    for line in render_diff(result):
        print(line)
    return 0


def render_diff(d: dict[str, Any]) -> list[str]:
    a, b = d.get("a") or {}, d.get("b") or {}
    lines = [f"--- a {a.get('id', '')} {a.get('label', '')}".rstrip(), f"+++ b {b.get('id', '')} {b.get('label', '')}".rstrip()]
    for title in ("config", "params"):
        lines += ["", title] + (_changes(d.get(title) or {}) or ["  (identical)"])
    lines += ["", "metrics (b - a)"]
    metrics = d.get("metrics") or {}
    if not metrics:
        lines.append("  (none)")
    for name, m in metrics.items():
        delta = m.get("delta")
        shown = "" if delta is None else f"  {'+' if delta > 0 else ''}{number(delta)}"
        verdict = {"a": "a is better", "b": "b is better", "tie": "equal"}.get(m.get("better"), "")
        lines.append(f"  {name} ({m.get('direction')}): {number(m.get('a'))} -> {number(m.get('b'))}{shown}"
                     + (f"  ({verdict})" if verdict else ""))
    return lines


def _changes(section: dict[str, Any]) -> list[str]:
    out = [f"  - {k} = {v!r}" for k, v in (section.get("removed") or {}).items()]
    out += [f"  + {k} = {v!r}" for k, v in (section.get("added") or {}).items()]
    out += [f"  ~ {k}: {pair.get('a')!r} -> {pair.get('b')!r}" for k, pair in (section.get("changed") or {}).items()]
    return out
