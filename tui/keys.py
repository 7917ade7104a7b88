"""The one key map: every key, what it does and where it applies. The prompt_toolkit bindings,
the `?` help screen and the status bar's hints are all generated from it, so they cannot drift
apart (the Extract seed's help listed keys that did something else)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

CONTEXTS: dict[str, str] = {
    "global": "Everywhere",
    "tree": "Experiment tree",
    "detail": "Detail panel",
    "runs": "Runs (tree or detail)",
    "charts": "Charts",
    "compare": "Compare and diff",
    "list": "Lists: the git view, models, TODOs, lineage",
    "todo": "TODO view",
    "files": "Files and images",
    "help": "Help",
}
"""Context name -> the heading the help screen gives its keys, in this order."""

HINT_ORDER = {"runs": 1, "list": 1, "files": 1, "charts": 2, "global": 3}
"""The status bar lists the keys of the focused pane or view (0) first, global keys last."""


@dataclass(frozen=True)
class Binding:
    keys: tuple[tuple[str, ...], ...]  # each a prompt_toolkit key sequence, e.g. ("g", "g")
    label: str  # as shown: "j/↓"
    description: str
    context: str
    handler: Callable[[KeyPressEvent], None]
    hint: str  # what the status bar says of it while its context is active ("" = not shown there)


class KeyMap:
    def __init__(self) -> None:
        self.bindings: list[Binding] = []

    def add(self, context: str, label: str, description: str, *keys: str | tuple[str, ...],
            hint: str = "") -> Callable[[Callable[[KeyPressEvent], None]], Callable[[KeyPressEvent], None]]:
        """Decorator: ``@keymap.add("tree", "j / ↓", "move down", "j", "down", hint="move")``."""
        if context not in CONTEXTS:
            raise ValueError(f"unknown key context {context!r}")
        sequences = tuple(k if isinstance(k, tuple) else (k,) for k in keys)

        def register(handler: Callable[[KeyPressEvent], None]) -> Callable[[KeyPressEvent], None]:
            self.bindings.append(Binding(sequences, label, description, context, handler, hint))
            return handler

        return register

    def key_bindings(self, active: Callable[[], frozenset[str]],
                     failed: Callable[[Exception], None]) -> KeyBindings:
        """prompt_toolkit bindings, each active while ``active()`` holds its context; a handler
        that raises is reported to ``failed`` instead of stopping the application."""
        kb = KeyBindings()
        for binding in self.bindings:
            when = Condition(_in_context(binding.context, active))
            for sequence in binding.keys:
                kb.add(*sequence, filter=when)(_guarded(binding.handler, failed))
        return kb

    def hints(self, contexts: Iterable[str]) -> list[tuple[str, str]]:
        """(key, short text) of the hinted keys of these contexts, in key-map order."""
        wanted = set(contexts)
        hinted = [b for b in self.bindings if b.hint and b.context in wanted]
        hinted.sort(key=lambda b: HINT_ORDER.get(b.context, 1))  # the focused pane's keys first (a stable sort)
        return [(b.label.split(" / ")[0], b.hint) for b in hinted]

    def help_lines(self, text: str = "") -> list[tuple[str, str, str]]:
        """The help screen as (kind, left, right) rows: ("heading", title, "") then ("key", label,
        description) for each key of each context; ``text`` keeps only keys whose label or
        description holds it (any case)."""
        wanted = text.strip().lower()
        rows: list[tuple[str, str, str]] = []
        for context, title in CONTEXTS.items():
            keys = [b for b in self.bindings if b.context == context
                    and (not wanted or wanted in b.label.lower() or wanted in b.description.lower())]
            if keys:
                if rows:
                    rows.append(("blank", "", ""))
                rows.append(("heading", title, ""))
                rows.extend(("key", b.label, b.description) for b in keys)
        return rows


    def markdown(self) -> str:
        """Every key as markdown tables, one per context (docs/tui.md holds this text; a test
        checks it is current)."""
        out = []
        for context, title in CONTEXTS.items():
            keys = [b for b in self.bindings if b.context == context]
            if keys:
                out += [f"**{title}**", "", "| key | what it does |", "|---|---|"]
                out += ["| `{}` | {} |".format(b.label, b.description.replace("|", "\\|")) for b in keys]
                out.append("")
        return "\n".join(out)


def _in_context(context: str, active: Callable[[], frozenset[str]]) -> Callable[[], bool]:
    return lambda: context in active()


def _guarded(handler: Callable[[KeyPressEvent], None], failed: Callable[[Exception], None]) -> Callable[[KeyPressEvent], None]:
    def call(event: KeyPressEvent) -> None:
        try:
            handler(event)
        except Exception as exc:  # noqa: BLE001 - a bug in one key must not take the screen down
            failed(exc)

    return call
