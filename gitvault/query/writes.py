"""The few writes front-ends make, on the query layer (`gitvault.runs.edits` underneath): each resolves
the record the way every read does (a run by id, unique prefix or name; an experiment by id or path;
a TODO by id or unique prefix), commits one event, and returns an `Edit` whose `inverse()` undoes it
(None when nothing had to change).

Delete is a tombstone (a ``delete`` event): the record and its blobs stay in the vault, the caches
leave it out (an experiment's runs and the experiments below it too), and `restore` brings it back.
A deleted record is no longer in the caches, so `restore` finds it in the vault by its exact id
(an experiment by its path too), as `delete`'s summary and the "was deleted" errors print it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitvault.runs import edits
from gitvault.runs.edits import Edit
from gitvault.errors import RecordNotFoundError, VaultError
from gitvault.query.base import QueryBase
from gitvault.storage import records

KINDS = ("run", "experiment", "todo")


class WriteQueries(QueryBase):
    if TYPE_CHECKING:  # reads of `gitvault.query.runs.RunQueries`, the other half of `Query`
        def experiment_ref(self, ref: Any) -> str: ...
        def resolve_todo(self, ref: Any) -> str: ...
        def runs_below(self, experiment: Any) -> int: ...

    def tag(self, run: str, *tags: str) -> Edit | None:
        return self.wrote(edits.tag(self.vault, self.resolve_run(run), *tags))

    def untag(self, run: str, *tags: str) -> Edit | None:
        return self.wrote(edits.untag(self.vault, self.resolve_run(run), *tags))

    def note(self, run: str, content: str) -> Edit:
        return self.wrote(edits.note(self.vault, self.resolve_run(run), content))

    def rename(self, run: str, name: str | None) -> Edit | None:
        return self.wrote(edits.rename(self.vault, self.resolve_run(run), name))

    def mark(self, run: str, status: str) -> Edit | None:
        return self.wrote(edits.mark(self.vault, self.resolve_run(run), status))

    def archive(self, run: str, archived: bool = True) -> Edit | None:
        return self.wrote(edits.archive(self.vault, "run", self.resolve_run(run), archived))

    def archive_experiment(self, experiment: str, archived: bool = True) -> Edit | None:
        """Archive (or unarchive) an experiment (id or path): a flag; no run's status changes."""
        return self.wrote(edits.archive(self.vault, "experiment", self.experiment_ref(experiment), archived))

    def delete(self, kind: str, ref: str) -> Edit:
        """Delete a run, an experiment (hiding its runs and the experiments below it; see
        `runs_below` for how many runs that is) or a TODO; `restore` (or the Edit's inverse) undoes it."""
        ident, label = self._visible(_kind(kind), ref)
        if kind == "experiment":
            n = self.runs_below(ident)
            label = f"{label} ({n} run{'' if n == 1 else 's'})"
        return self.wrote(edits.delete(self.vault, kind, ident, label))

    def restore(self, kind: str, ref: str) -> Edit:
        """Bring back a deleted run (by its full id), experiment (id or path) or TODO (full id)."""
        ident, label = self._in_vault(_kind(kind), ref)
        return self.wrote(edits.restore(self.vault, kind, ident, label))

    def add_todo(self, content: str, priority: int = 0, scope_type: str = "global",
                 scope_id: str | None = None) -> Edit:
        """A new TODO (global, or of an experiment by id or path, or of a run as `resolve_run`
        takes it); the Edit's ``id`` is the TODO's, its inverse deletes it."""
        if scope_type == "run" and scope_id is not None:
            scope_id = self.resolve_run(scope_id)
        elif scope_type == "experiment" and scope_id is not None:
            scope_id = self.experiment_ref(scope_id)
        return self.wrote(edits.add_todo(self.vault, content, priority, scope_type, scope_id))

    def todo_done(self, todo: str, done: bool = True) -> Edit | None:
        """Mark a TODO (id or unique prefix) done, or not done with ``done=False``."""
        return self.wrote(edits.todo_done(self.vault, self.resolve_todo(todo), done))

    def todo_priority(self, todo: str, priority: int) -> Edit | None:
        """Set a TODO's priority: 0 low, 1 mid, 2 high."""
        return self.wrote(edits.todo_priority(self.vault, self.resolve_todo(todo), priority))

    def apply(self, edit: Edit) -> Edit:
        """Commit an edit again, or its inverse (undo, redo)."""
        return self.wrote(edits.apply(self.vault, edit))

    def _visible(self, kind: str, ref: Any) -> tuple[str, str]:
        """(id, label) of a record the caches show."""
        if kind == "run":
            rid = self.resolve_run(ref)
            return rid, rid
        if kind == "experiment":
            eid = self.experiment_ref(ref)
            return eid, self.db().execute("SELECT path FROM experiments WHERE id = ?", (eid,)).fetchone()[0]
        tid = self.resolve_todo(ref)
        return tid, tid

    def _in_vault(self, kind: str, ref: Any) -> tuple[str, str]:
        """(id, label) of a record in the vault, deleted or not, by its exact id (an experiment's
        path too); a record the caches show may also be named as for `delete`."""
        if not isinstance(ref, str) or not ref.strip():
            raise RecordNotFoundError(f"give the {kind} to restore: its id{' or path' if kind == 'experiment' else ''}")
        wanted = ref.strip()
        candidates = [wanted, wanted.upper()] + ([records.experiment_id(wanted)] if kind == "experiment" else [])
        snap = self.vault.snapshot()
        for candidate in dict.fromkeys(candidates):
            try:
                if snap.has(kind, candidate):
                    view = edits.current(self.vault, kind, candidate)
                    return candidate, str(view.get("path") or candidate) if kind == "experiment" else candidate
            except (ValueError, VaultError):  # not an id: try the next reading of ``ref``
                continue
        try:
            return self._visible(kind, wanted)
        except RecordNotFoundError:
            what = {"run": "its full id", "experiment": "its path or id", "todo": "its full id"}[kind]
            raise RecordNotFoundError(f"{'TODO' if kind == 'todo' else kind.capitalize()} not found: {wanted!r}; "
                                      f"a deleted {kind} is restored by {what}, as `git vault delete` printed it") from None


def _kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return str(kind)
