"""What the TUI changes in the vault: tags, notes, names, statuses, archive flags, deletions and
TODOs, each one vault commit through the query layer's write calls (`gitvault.query.writes`),
each undone with `u` and redone with Ctrl-R while the TUI is open. A commit is an event: it syncs
to teammates with push and pull like any other record, and merges with what they did meanwhile.

Every action says what it did in the status bar, and how to undo it; one that finds nothing to
change says so; destructive ones ask first, naming the full path and what is affected."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from gitvault.tui.tree import Node

if TYPE_CHECKING:
    from gitvault.query import Query
    from gitvault.runs.edits import Edit
    from gitvault.tui.app import TuiApp

Write = Callable[["Query"], "Edit | None"]


class Actions:
    def __init__(self, tui: TuiApp) -> None:
        self.tui = tui
        self.undo_stack: list[Edit] = []
        self.redo_stack: list[Edit] = []

    # -- committing ------------------------------------------------------------------------------

    def commit(self, write: Write, target: str, nothing: str) -> None:
        """Run ``write`` on the query worker; then say what changed (and that `u` undoes it), or
        ``nothing`` when there was nothing to change; reload what the change touched."""
        def done(edit: Edit | None) -> None:
            if edit is None:
                self.tui.state.toast(nothing, "info")
                return
            self.undo_stack.append(edit)
            self.redo_stack.clear()
            self._seen(edit)
            self.tui.state.toast(f"{edit.summary}: {target} · u undoes", "ok")
            self.tui.vault_changed()

        self.tui.request(f"write:{id(write)}", write, done, force=True)

    def undo(self) -> None:
        """Commit the inverse of the last change made here (kept to redo)."""
        if not self.undo_stack:
            self.tui.state.toast("nothing to undo (only what this TUI did)", "info")
            return
        edit = self.undo_stack.pop()
        inverse = edit.inverse()
        if inverse is None:
            self.tui.state.toast(f"{edit.summary} cannot be undone", "error")
            return

        def done(applied: Edit) -> None:
            self._seen(applied)
            self.redo_stack.append(edit)
            self.tui.state.toast(f"undone: {edit.summary} · Ctrl-R redoes", "ok")
            self.tui.vault_changed()

        self.tui.request("write:undo", lambda q: q.apply(inverse), done, force=True,
                         failed=lambda: self.undo_stack.append(edit))  # kept to try again

    def redo(self) -> None:
        """Commit again the last change `u` undid (a note comes back with a new time)."""
        if not self.redo_stack:
            self.tui.state.toast("nothing to redo", "info")
            return
        edit = self.redo_stack.pop()

        def done(applied: Edit) -> None:
            self._seen(applied)
            self.undo_stack.append(applied)
            self.tui.state.toast(f"redone: {edit.summary} · u undoes", "ok")
            self.tui.vault_changed()

        self.tui.request("write:redo", lambda q: q.apply(edit), done, force=True,
                         failed=lambda: self.redo_stack.append(edit))

    def _seen(self, edit: Edit) -> None:
        """Show a tag change at once (the picker's [x]), before the reloaded index confirms it."""
        if edit.kind == "run" and edit.event in ("tag", "untag"):
            tags = list(self.tui.state.runs.get(edit.id, {}).get("tags") or [])
            changed = [str(t) for t in edit.data.get("tags", [])]
            tags = [*tags, *[t for t in changed if t not in tags]] if edit.event == "tag" else \
                [t for t in tags if t not in changed]
            self.tui.state.retag(edit.id, tags)

    # -- the selection's actions -----------------------------------------------------------------

    def _run(self, verb: str) -> Node | None:
        node = self.tui.state.selected
        if node is None or node.kind != "run":
            self.tui.state.toast(f"{verb} acts on a run: select one (→ opens an experiment)", "info")
            return None
        if node.status == "running":
            self.tui.state.toast(f"{node.path} is still running: {verb} it once it has ended", "error")
            return None
        return node

    def tag(self, node: Node, tag: str) -> None:
        """Add ``tag`` to the run, or take it away when the run has it."""
        tags = self.tui.state.runs.get(node.id, {}).get("tags") or []
        if tag in tags:
            self.commit(lambda q: q.untag(node.id, tag), node.path, f"{node.path} has no tag {tag}")
        else:
            self.commit(lambda q: q.tag(node.id, tag), node.path, f"{node.path} is already tagged {tag}")

    def note(self) -> None:
        node = self._run("a note")
        if node is not None:
            self.tui.ask_line(f"note on {node.path}: ", "", lambda text: self._note(node, text))

    def _note(self, node: Node, text: str) -> None:
        if not text.strip():
            self.tui.state.toast("an empty note is not saved", "info")
            return
        self.commit(lambda q: q.note(node.id, text), node.path, "")

    def rename(self) -> None:
        node = self._run("rename")
        if node is not None:
            self.tui.ask_line(f"rename {node.path} to: ", node.name,
                              lambda text: self.commit(lambda q: q.rename(node.id, text.strip() or None), node.path,
                                                       f"{node.path} already has that name"))

    def mark(self, status: str) -> None:
        node = self._run(f"marking {status}")
        if node is None:
            return
        if node.status == status:
            self.tui.state.toast(f"{node.path} is already {status}", "info")
            return
        self.tui.confirm(f"Mark {node.path} {status}? (it is {node.status})",
                         lambda: self.commit(lambda q: q.mark(node.id, status), node.path, f"{node.path} is already {status}"))

    def archive(self, archived: bool) -> None:
        """A run or an experiment: a flag, never a status."""
        node = self.tui.state.selected
        word = "archive" if archived else "unarchive"
        if node is None:
            self.tui.state.toast(f"{word} acts on a run or an experiment: select one", "info")
        elif node.kind == "run":
            self.commit(lambda q: q.archive(node.id, archived), node.path, f"{node.path} is already {word}d")
        else:
            self.tui.confirm(f"{word.capitalize()} the experiment {node.path} ({node.n_runs + node.archived_runs} runs"
                             " below it keep their status)?",
                             lambda: self.commit(lambda q: q.archive_experiment(node.id, archived), node.path,
                                                 f"{node.path} is already {word}d"))

    def delete(self) -> None:
        """A run or an experiment, after a confirmation naming it in full and what it holds;
        restorable (`u`, or `git vault restore`)."""
        node = self.tui.state.selected
        if node is None:
            self.tui.state.toast("x deletes a run or an experiment: select one", "info")
            return
        if node.kind == "run":
            question = f"Delete the run {node.path}? (u undoes; git vault restore brings it back later)"
        else:
            runs = node.n_runs + node.archived_runs
            question = (f"Delete the experiment {node.path} and the {runs} runs below it? "
                        "(u undoes; git vault restore brings it back later)")
        self.tui.confirm(question, lambda: self.commit(lambda q: q.delete(node.kind, node.id), node.path, ""))

    def edit_note(self) -> None:
        """Ctrl-E: write a note in ``$VISUAL``, ``$EDITOR``, else vi, else nano; the run's notes
        so far are in the file as ``#`` lines; the temporary file is always removed."""
        node = self._run("a note")
        if node is None:
            return
        editor = editor_command()
        if editor is None:
            self.tui.state.toast("no editor: set $EDITOR (vi and nano are not installed either)", "error")
            return
        notes = (self.tui.state.details.get(node.id, {}).get("run") or {}).get("notes") or ""
        self.tui.app.create_background_task(self._edit_note(node, editor, template(node.path, notes)))

    async def _edit_note(self, node: Node, editor: list[str], text: str) -> None:
        from prompt_toolkit.application import run_in_terminal

        fd, name = tempfile.mkstemp(prefix="gitvault-note-", suffix=".md")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            code = await run_in_terminal(lambda: subprocess.call([*editor, str(path)]))
            saved = path.read_text(encoding="utf-8", errors="replace") if code == 0 else None
            failure = f"exit status {code}"
        except OSError as exc:
            saved, failure = None, str(exc)
        finally:
            path.unlink(missing_ok=True)
        if saved is None:
            self.tui.state.toast(f"the editor {editor[0]} failed ({failure}); nothing was saved", "error")
        else:
            note = "\n".join(line for line in saved.splitlines() if not line.startswith("#")).strip()
            if not note:
                self.tui.state.toast("an empty note is not saved", "info")
            else:
                self.commit(lambda q: q.note(node.id, note), node.path, "")
        self.tui.app.invalidate()


    # -- TODOs -----------------------------------------------------------------------------------

    def add_todo(self) -> None:
        """A TODO of the scope the view shows (the run's or the experiment's), else a global one."""
        s = self.tui.state
        scope, scope_id = "global", None
        if s.todo_scope in ("experiment", "run") and s.todo_anchor is not None:
            scope, scope_id = s.todo_scope, s.todo_anchor[1]
        where = "global" if scope_id is None else f"{scope} {s.record_labels.get(scope_id) or s.label(scope_id)}"
        self.tui.ask_line(f"new TODO ({where}): ", "",
                          lambda text: self.commit(lambda q: q.add_todo(text, 0, scope, scope_id), where, "")
                          if text.strip() else s.toast("an empty TODO is not added", "info"))

    def _todo(self) -> dict[str, object] | None:
        entry = self.tui.entry()
        todo = next((t for t in self.tui.state.todos or [] if entry is not None and t["id"] == entry.commit), None)
        if todo is None:
            self.tui.state.toast("move to a TODO first", "info")
        return todo

    def todo_done(self, todo_id: str) -> None:
        todo = next((t for t in self.tui.state.todos or [] if t["id"] == todo_id), None)
        if todo is not None:
            done = not todo["done"]
            self.commit(lambda q: q.todo_done(todo_id, done), f"TODO {todo['content']}", "")

    def todo_priority(self, priority: int) -> None:
        todo = self._todo()
        if todo is not None:
            self.commit(lambda q: q.todo_priority(str(todo["id"]), priority), f"TODO {todo['content']}",
                        f"the TODO already has priority {priority}")

    def delete_todo(self) -> None:
        todo = self._todo()
        if todo is not None:
            self.tui.confirm(f"Delete the TODO {todo['content']!r}? (u undoes)",
                             lambda: self.commit(lambda q: q.delete("todo", str(todo["id"])), f"TODO {todo['content']}", ""))


def editor_command() -> list[str] | None:
    """``$VISUAL``, then ``$EDITOR`` (split as a shell would: ``code --wait``), then vi, then nano."""
    import shlex

    for name in ("VISUAL", "EDITOR"):
        value = os.environ.get(name, "").strip()
        if value:
            return shlex.split(value)
    for fallback in ("vi", "nano"):
        if shutil.which(fallback):
            return [fallback]
    return None


def template(label: str, notes: str) -> str:
    lines = [f"# A new note on {label}. Lines starting with # are left out; an empty note is not saved."]
    if notes.strip():
        lines.append("# Its notes so far:")
        lines += [f"#   {line}" for line in notes.splitlines()]
    return "\n".join(lines) + "\n\n"
