"""`git vault log [--oneline] [--json] [--color=WHEN] [git log arguments]`: the repository's history
with each commit's runs under it.

Links commits made since the last look (`linking.catch_up`), then shows `Query.history`: every
argument that is not one of ours goes to ``git log`` unchanged (ranges, ``-n``, ``--all``,
``--since``, ``-- paths`` ...), so the commits listed are exactly the ones ``git log`` would list;
under each commit, its runs with their state (clean, dirty, linked, orphaned; see
`gitvault.query.history`). Here: the best value of each headline metric among the runs shown is
highlighted (direction from `Query.direction`), and the text or JSON is drawn. Colour follows
``--color``, then ``NO_COLOR``, then git's ``color.ui``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, cast

from gitvault.cli.output import add_pager, pager_in_use

from gitvault.display import finite, number

EXTRA = "query"  # its commands read through gitvault.query

OWN_FLAGS = ("--oneline", "--json", "--no-color", "--no-pager", "-h", "--help")
MAX_METRICS = 5
Commit = dict[str, Any]
"""A commit of `Query.history` (or `gitvault.query.history.log_commits`) with its ``runs``."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="git log with each commit's runs under it",
                       description="The repository's history, like `git log`, with the runs of each commit "
                                   "(made on it, linked to it, or dirty on it). Any other argument goes to "
                                   "`git log`: ranges, -n N, --all, --since, -- paths.")
    p.add_argument("--oneline", action="store_true", help="one line per commit, one per run")
    p.add_argument("--json", action="store_true", help="print JSON: commits with their runs")
    p.add_argument("--color", nargs="?", const="always", default="auto", choices=("auto", "always", "never"),
                   help="colour (default auto: git's color.ui; NO_COLOR or no terminal turn it off)")
    p.add_argument("--no-color", dest="color", action="store_const", const="never", help="no colour")
    add_pager(p)
    p.set_defaults(func=run, git_args=[])
    parse = p.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        ours, theirs = split_args(list(args if args is not None else sys.argv[1:]))
        ns, extra = parse(ours, namespace)
        ns.git_args = theirs
        return ns, extra

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our options (before any ``--``) and everything else, in order, for git log."""
    ours, theirs = [], []
    for i, arg in enumerate(argv):
        if arg == "--":
            theirs.extend(argv[i:])
            break
        if arg in OWN_FLAGS or arg == "--color" or arg.startswith("--color="):
            ours.append(arg)
        else:
            theirs.append(arg)
    return ours, theirs


def use_color(choice: str, settings: dict[str, str]) -> bool:
    """``--color`` wins, then an explicit ``color.ui`` always/never (git -c included) in the
    repository's git config as discovered (`RepoPaths.settings`), then ``NO_COLOR``, then whether
    stdout is a terminal."""
    if choice != "auto":
        return choice == "always"
    setting = settings.get("color.ui", "").strip().lower()
    if setting == "always":
        return True
    if setting in ("never", "false", "no", "off", "0"):
        return False
    return not os.environ.get("NO_COLOR") and (sys.stdout.isatty() or pager_in_use())


class Paint:
    CODES = {"yellow": "33", "green": "32", "bold_green": "1;32", "red": "31", "cyan": "36", "dim": "2",
             "magenta": "35"}

    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, style: str) -> str:
        return f"\x1b[{self.CODES[style]}m{text}\x1b[0m" if self.on else text


def mark_best(commits: list[Commit], directions: dict[str, str]) -> None:
    """Mark on each run the metrics whose value is the best among the runs shown: only metrics
    whose direction is configured or recognised by name (not "unknown"), never NaN or infinity."""
    best: dict[str, float] = {}
    for commit in commits:
        for item in commit["runs"]:
            for name, v in (item.get("metrics") or {}).items():
                if not finite(v) or directions.get(name) not in ("min", "max"):  # lr_used, epochs: no best
                    continue
                if name not in best or (v < best[name] if directions[name] == "min" else v > best[name]):
                    best[name] = v
    for commit in commits:
        for item in commit["runs"]:
            item["best"] = sorted(n for n, v in (item.get("metrics") or {}).items()
                                  if n in best and finite(v) and v == best[n])
            item["directions"] = {n: directions[n] for n in item.get("metrics") or {}}


def run_line(item: dict[str, Any], paint: Paint) -> str:
    metrics = item.get("metrics") or {}
    shown = sorted(metrics, key=lambda n: (n not in item.get("best", []), n))[:MAX_METRICS]
    cells = []
    for name in sorted(shown):
        text = f"{name}={number(metrics[name])}"
        cells.append(paint(text, "bold_green") if name in item.get("best", []) else text)
    status = item.get("status") or "?"
    status_cell = paint(status, {"completed": "green", "failed": "red", "crashed": "red",
                                 "running": "cyan"}.get(status, "dim"))
    state = item.get("state", "clean")
    marker = {
        "dirty": paint("[dirty: uncommitted changes on this commit]", "yellow"),
        "linked": paint(f"[linked: ran on uncommitted code committed here, via {item.get('linked_via')}]", "dim"),
        "orphaned": paint("[orphaned: ran on rewritten commit "
                          f"{(item.get('rewritten_from') or '?')[:10]}"
                          + (f"; code = this commit + patch {item['patch'][:12]}" if item.get("patch") else "")
                          + "]", "red"),
    }.get(state, "")
    parts = [paint(item["id"][:10], "cyan"), item.get("label") or item.get("experiment_path") or "?", status_cell]
    parts += cells
    if marker:
        parts.append(marker)
    return "  ".join(parts)


def render(commits: list[Commit], oneline: bool, paint: Paint) -> list[str]:
    lines: list[str] = []
    for commit in commits:
        runs = commit.get("runs") or []
        if oneline:
            lines.append(f"{paint(commit['short'], 'yellow')} {commit['summary']}")
            lines.extend(f"    {run_line(item, paint)}" for item in runs)
            continue
        lines.append(paint(f"commit {commit['sha']}", "yellow"))
        lines.append(f"Author: {commit['author']} <{commit['email']}>")
        lines.append(f"Date:   {commit['date']}")
        lines.append("")
        lines.append(f"    {commit['summary']}")
        if runs:
            lines.append("")
            lines.append(f"    {paint('runs:', 'magenta')}")
            lines.extend(f"    {run_line(item, paint)}" for item in runs)
        lines.append("")
    return lines


def as_json(commits: list[Commit]) -> list[dict[str, Any]]:
    keys = ("id", "label", "experiment_path", "name", "status", "started_at", "metrics", "state", "linked_via",
            "dirty", "best", "directions", "rewritten_from", "patch", "tags")
    return [{"sha": c["sha"], "short": c["short"], "author": c["author"], "email": c["email"], "date": c["authored_at"],
             "subject": c["summary"], "runs": [{k: item.get(k) for k in keys if k in item} for item in c.get("runs") or []]}
            for c in commits]


def run(args: argparse.Namespace) -> int:
    from gitvault.gitlink import freshness
    from gitvault.query import Query
    from gitvault.query.history import log_commits
    from gitvault.storage.repo import discover

    from gitvault.cli.output import print_json, print_lines

    paths = getattr(args, "repo", None) or discover(args.directory)
    cwd = args.directory
    now = freshness.current_heads(paths)
    if now is not None and now[0] is not None:  # a vault
        if not freshness.up_to_date(paths, now):  # commits or runs since the last check: link them first
            from gitvault.gitlink import linking
            from gitvault.storage.vault import Vault

            try:
                linking.catch_up(Vault(paths))
            except Exception as exc:  # a failed catch-up must not hide the history
                sys.stderr.write(f"git vault: warning: linking new commits failed: {exc}\n")
        with Query(paths, tip=now[0]) as q:
            q.auto_refresh = False  # just refreshed: a short command asks git for the tip once
            # plain dicts here: mark_best adds its keys (best, directions) to each run
            commits = cast("list[Commit]", q.history(args.git_args, cwd=cwd if cwd is not None else os.getcwd())["items"])
            names = {name for commit in commits for item in commit["runs"] for name in item.get("metrics") or {}}
            directions = {name: q.metric_direction(name) for name in sorted(names)}
        mark_best(commits, directions)
    else:
        commits = cast("list[Commit]", log_commits(cwd, args.git_args)[0])
    if args.json:
        print_json(as_json(commits))
        return 0
    print_lines(render(commits, args.oneline, Paint(use_color(args.color, paths.settings))))
    return 0
