"""The selectable lists: the git view (commits with their runs), search results, help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitvault.display import headline, number
from gitvault.tui.keys import KeyMap
from gitvault.tui.views.text import STATUS_GLYPH, Line, fit, pad, status_style


@dataclass(frozen=True)
class Entry:
    """A row of a list: what Enter jumps to (``key``: a tree node key, or None) and its text."""

    key: str | None
    line: Line
    commit: str | None = None


STATE_TEXT = {"clean": "", "dirty": "dirty", "linked": "linked", "orphaned": "orphaned"}


def git_entries(history: dict[str, Any] | None, width: int) -> list[Entry]:
    """`git vault log` as a list: each commit (short sha, date, subject), then its runs with
    status and headline metrics; Enter on a run opens it in the tree."""
    if history is None:
        return [Entry(None, [("class:dim", "loading the commits…")])]
    items = history.get("items") or []
    if not items:
        return [Entry(None, [("class:dim", "no commits on this branch yet")])]
    out: list[Entry] = []
    metrics = headline(r.get("metrics") for c in items for r in c.get("runs", []))[:3]
    for commit in items:
        runs = commit.get("runs") or []
        first = f"r:{runs[0]['id']}" if runs else None
        out.append(Entry(first, fit([("class:sha", commit["short"] + " "), ("class:dim", commit["date"][:16] + "  "),
                                     ("", commit["summary"]), ("class:dim", f"  ({len(runs)} runs)" if runs else "")], width),
                         commit["sha"]))
        for r in runs:
            state = STATE_TEXT.get(r.get("state", ""), r.get("state", ""))
            line: Line = [("", "    "), (status_style(r["status"]), STATUS_GLYPH.get(r["status"], "?") + " "),
                          ("", pad(r["label"], 36) + " ")]
            for m in metrics:
                if m in r["metrics"]:
                    line += [("class:dim", f"{m} "), ("", number(r["metrics"][m]) + "  ")]
            if state:
                line.append(("class:warn", f"[{state}]"))
            out.append(Entry(f"r:{r['id']}", fit(line, width), commit["sha"]))
    if history.get("truncated"):
        out.append(Entry(None, [("class:dim", "(older commits: git vault log)")]))
    return out


def search_entries(results: list[dict[str, Any]], width: int) -> list[Entry]:
    """Search results: experiments by path, runs by their full label (never a bare name)."""
    out = []
    for item in results:
        if item["kind"] == "experiment":
            out.append(Entry(item["key"], fit([("class:dim", "[exp] "), ("class:tree.experiment", item["text"]),
                                               ("class:dim", f"  {item.get('why', '')}")], width)))
        else:
            out.append(Entry(item["key"], fit([("class:dim", "[run] "), (status_style(item.get("status", "")),
                                               STATUS_GLYPH.get(item.get("status", ""), "?") + " "),
                                               ("", item["text"]), ("class:dim", f"  {item.get('why', '')}")], width)))
    return out


def help_entries(keymap: KeyMap, text: str, width: int) -> list[Entry]:
    out = [Entry(None, [("class:title", "Keys"), ("class:dim", "   / filters · j/k scroll · q or Esc closes")]),
           Entry(None, [])]
    rows = keymap.help_lines(text)
    if not rows:
        out.append(Entry(None, [("class:dim", f"no key matches {text!r}")]))
    for kind, left, right in rows:
        if kind == "heading":
            out.append(Entry(None, [("class:heading", left)]))
        elif kind == "key":
            out.append(Entry(None, fit([("class:key", "  " + pad(left, 16)), ("", right)], width)))
        else:
            out.append(Entry(None, []))
    return out
