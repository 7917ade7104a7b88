"""One progress display for long `git vault` work: a prompt_toolkit progress bar when both stdout
and stderr are terminals, otherwise one plain line per finished stage on stderr (stdout stays
clean for ``--json`` and pipes).

    with Progress("git vault demo") as progress:
        progress.update("runs", done, total)          # any number of named stages
        caches.rebuild(progress=progress.update)      # same signature as gitvault.cache.Progress
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def in_notebook() -> bool:
    """True inside Jupyter/IPython kernels, whose streams are not terminals a bar can redraw."""
    return "ipykernel" in sys.modules


def bar_wanted(stream: TextIO | None = None, *, json: bool = False) -> bool:
    """A redrawn bar only when stdout and ``stream`` (stderr) are terminals, not inside a notebook,
    not for ``--json`` (scripts read stdout; the plain lines go to stderr) and not on a dumb
    terminal; otherwise one plain line per finished stage."""
    import os

    stream = stream or sys.stderr
    return (not json and not in_notebook() and os.environ.get("TERM") != "dumb"
            and hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
            and hasattr(stream, "isatty") and stream.isatty())


class Progress:
    """Stages advanced with ``update(stage, done, total)``; use as a context manager."""

    def __init__(self, title: str, *, labels: dict[str, str] | None = None, stream: TextIO | None = None,
                 bar: bool | None = None, json: bool = False) -> None:
        self.title = title
        self.labels = labels or {}
        self.stream = stream or sys.stderr
        self._want_bar = bar_wanted(self.stream, json=json) if bar is None else bar
        self._bar: Any = None
        self._counters: dict[str, Any] = {}
        self._finished: set[str] = set()

    def __enter__(self) -> "Progress":
        if self._want_bar:
            from prompt_toolkit.shortcuts import ProgressBar

            self._bar = ProgressBar(title=self.title)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def label(self, stage: str) -> str:
        return self.labels.get(stage, stage)

    def update(self, stage: str, done: int, total: int) -> None:
        total = max(int(total), 1)
        done = min(int(done), total)
        if self._bar is not None:
            counter = self._counters.get(stage)
            if counter is None:
                counter = self._counters[stage] = self._bar(label=self.label(stage), total=total)
            counter.total = total
            counter.items_completed = done
            if done >= total:
                counter.done = True
            self._bar.invalidate()
        elif done >= total and stage not in self._finished:
            self._finished.add(stage)
            self.stream.write(f"  {self.label(stage)}: done ({total})\n" if total > 1 else
                              f"  {self.label(stage)}: done\n")
            self.stream.flush()
