"""`git vault compare <run>...` (2-10 runs side by side) and `git vault diff <run> <run>`."""

from __future__ import annotations

import argparse
import string
from typing import Any

from gitvault.cli.cmd_runs import add_json, open_query
from gitvault.cli.output import add_pager, print_json, print_table
from gitvault.display import finite, grouped, number, written


EXTRA = "query"  # its commands read through gitvault.query

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare 2-10 runs: headline metrics ranked, config differences, curves",
                       description="Headline metrics with their direction (min/max) and the best run marked *, "
                                   "config keys that differ (nested keys joined by dots), and with --curves the "
                                   "last value and best value of every curve.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="2 to 10 run ids or unique prefixes")
    p.add_argument("--curves", action="store_true", help="include curves (--json: every point)")
    add_json(p, "the comparison")
    add_pager(p)
    p.set_defaults(func=run_compare)
    p = sub.add_parser("diff", help="what changed between two runs: config keys and metric deltas",
                       description="Config keys added, removed or changed (nested keys joined by dots) and "
                                   "each headline metric's change from the first run to the second, with "
                                   "whether that is better given the metric's direction.")
    p.add_argument("a", metavar="RUN", help="the run to compare from (id or unique prefix)")
    p.add_argument("b", metavar="OTHER", help="the run to compare to")
    add_json(p, "the diff")
    add_pager(p)
    p.set_defaults(func=run_diff)


def run_compare(args: argparse.Namespace) -> int:
    with open_query(args) as q:
        # --json: every point; the table reads each curve whole for its true count and last value
        result = q.compare_runs(args.runs, include_curves=args.curves and args.json, max_points=None)
        curves = {r["id"]: q.curve_arrays(r["id"])[0] for r in result["runs"]} if args.curves and not args.json else {}
    if args.json:
        print_json(result)
        return 0
    runs = result["runs"]
    keys = {r["id"]: string.ascii_uppercase[i] for i, r in enumerate(runs)}
    print_table([{"": keys[r["id"]], "id": r["id"], "run": r.get("label") or r.get("name"), "status": r.get("status")}
                 for r in runs], ["", "id", "run", "status"])
    columns = ["metric", "dir", *keys.values(), "best"]
    rows = []
    unknown = False
    for name, m in grouped(result.get("metrics", {})):
        direction = m.get("direction")
        values = m.get("values") or {}
        best = winners(m)
        unknown = unknown or direction not in ("min", "max")
        row: dict[str, Any] = {"metric": name, "dir": direction if direction in ("min", "max") else "-"}
        for rid, key in keys.items():
            row[key] = number(values.get(rid)) + ("*" if rid in best else "")
        row["best"] = ",".join(keys[rid] for rid in keys if rid in best)
        rows.append(row)
    print("\nmetrics (* = best)")
    print_table(rows, columns)
    if unknown:
        print("(dir - : no best marked; say which way is better with "
              "`git vault config add metrics.minimize NAME` or `metrics.maximize NAME`)")
    diffs = result.get("config_diffs") or {}
    print("\nconfig differences")
    print_table([{"key": k, **{keys[rid]: v for rid, v in by_run.items() if rid in keys}} for k, by_run in diffs.items()],
                ["key", *keys.values()])
    if args.curves:
        print("\ncurves (last value / points)")
        names = sorted({n for arrays in curves.values() for n in arrays})
        rows = []
        for name in (n for n, _ in grouped(dict.fromkeys(names))):
            row = {"curve": name}
            for rid, key in keys.items():
                found = curves.get(rid, {}).get(name)
                row[key] = f"{number(float(found[1][-1]))} / {len(found[0])}" if found and len(found[0]) else "-"
            rows.append(row)
        print_table(rows, ["curve", *keys.values()])
    return 0


def winners(m: dict[str, Any]) -> set[str]:
    """The runs holding the best value (every one of them on a tie), when the direction is known
    and that value is a finite number (NaN and infinities never win)."""
    ranking = m.get("ranking") or []
    values = m.get("values") or {}
    if m.get("direction") not in ("min", "max") or not ranking or not finite(values.get(ranking[0])):
        return set()
    best = values[ranking[0]]
    return {rid for rid in ranking if finite(values.get(rid)) and values[rid] == best}


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
        lines.append(f"  {name} ({m.get('direction')}): {side(m.get('a'))} -> {side(m.get('b'))}{shown}"
                     + (f"  ({verdict})" if verdict else ""))
    return lines


NOT_LOGGED = "(none)"  # a metric one run of a diff does not have


def side(value: Any) -> str:
    """One side of a metric's ``a -> b``: the value as tables print it, or ``(none)`` when that
    run has no such metric (never an empty space after the arrow)."""
    return NOT_LOGGED if value is None else number(value)


def _changes(section: dict[str, Any]) -> list[str]:
    def shown(value: Any) -> str:  # a key set to null is there: null, not an empty space
        return "null" if value is None else written(value)

    out = [f"  - {k} = {shown(v)}" for k, v in (section.get("removed") or {}).items()]
    out += [f"  + {k} = {shown(v)}" for k, v in (section.get("added") or {}).items()]
    out += [f"  ~ {k}: {shown(pair.get('a'))} -> {shown(pair.get('b'))}"
            for k, pair in (section.get("changed") or {}).items()]
    return out
