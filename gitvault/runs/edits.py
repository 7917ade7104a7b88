"""The writes front-ends make to sealed records, each one vault commit (an event), each with its
undo: tag, untag, note, rename, mark completed or failed, archive and unarchive (runs and
experiments), delete and restore (runs, experiments, TODOs: a tombstone event, the record and its
blobs stay), and the TODO writes (add, done and undone, priority).

Used by `gitvault.query` (the CLI, the MCP server and the TUI write through it), this opens no
`Store`: it never seals another process's orphaned runs as a side effect. A run still live in
another process is refused (its own process tags it, or a front-end does once it is sealed).
Every call returns an `Edit`: what changed, in words, and the edit that undoes it (None when
there was nothing to change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitvault.storage import codec

from gitvault.runs import spool
from gitvault.errors import RecordNotFoundError
from gitvault.names import check_name
from gitvault.storage.records import DELETABLE, TERMINAL_STATUSES, TODO_PRIORITIES, fold, is_deleted

TODO_SCOPES = ("global", "experiment", "run")

if TYPE_CHECKING:
    from gitvault.storage.vault import Vault


@dataclass(frozen=True)
class Edit:
    """One change: ``kind``/``id`` of the record, the event written, and its inverse."""

    kind: str
    id: str
    event: str
    data: dict[str, Any]
    summary: str

    def inverse(self) -> "Edit | None":
        """The edit that undoes this one."""
        flip = {"tag": "untag", "untag": "tag", "archive": "unarchive", "unarchive": "archive",
                "delete": "restore", "restore": "delete", "create": "delete"}
        if self.event in flip:
            return Edit(self.kind, self.id, flip[self.event], self.data, f"undo: {self.summary}")
        if self.event == "done":
            return Edit(self.kind, self.id, "undone", {}, f"undo: {self.summary}")
        if self.event == "undone":  # a redo: done again, at a new time
            return Edit(self.kind, self.id, "done", {}, f"undo: {self.summary}")
        if self.event == "note":
            return Edit(self.kind, self.id, "unnote", self.data, f"undo: {self.summary}")
        if self.event == "unnote":  # a redo: the note again, at a new time
            return Edit(self.kind, self.id, "note", {"content": self.data.get("content", "")}, "added the note again")
        if self.event in ("rename", "status", "priority"):
            before = self.data.get("before")
            field = {"rename": "name"}.get(self.event, self.event)
            return Edit(self.kind, self.id, self.event, {field: before, "before": self.data.get(field)},
                        f"undo: {self.summary}")
        return None


def current(vault: Vault, kind: str, record_id: str) -> dict[str, Any]:
    """A sealed record's current view (its events folded in)."""
    snap = vault.snapshot()
    if not snap.has(kind, record_id):
        if kind == "run":
            spool.claim_for_events(vault.paths.live_dir, record_id)
            raise RecordNotFoundError(f"{kind} {record_id} is not sealed in the vault yet; edit it once it has ended")
        raise RecordNotFoundError(f"{'TODO' if kind == 'todo' else kind.capitalize()} not found: {record_id!r}")
    return fold(snap.get(kind, record_id), snap.events(kind, record_id))


def apply(vault: Vault, edit: Edit) -> Edit:
    """Commit ``edit`` as one event; returns what was committed (the caller keeps it to undo).
    A ``create`` edit (what `add_todo` returns) applied again is a ``restore``: the TODO is back."""
    if edit.event == "create":
        edit = Edit(edit.kind, edit.id, "restore", {}, edit.summary)
    data = {k: v for k, v in edit.data.items() if k != "before"}
    if edit.event == "done":
        data = {"completed_at": data.get("completed_at") or codec.utc_now()}
    message = f"note on {edit.kind} {edit.id}" if edit.event == "note" else f"{edit.event} {edit.kind} {edit.id}: {edit.summary}"
    from gitvault.storage.vault import Transaction  # the caller's vault has loaded it

    tx = Transaction(message=message)
    if edit.event == "note":  # a note is known by its text and time: the undo names both
        data = {"content": data.get("content", ""), "created_at": codec.utc_now()}
        tx.add_event(edit.kind, edit.id, "note", {"content": data["content"]}, created_at=data["created_at"])
        edit = Edit(edit.kind, edit.id, "note", data, edit.summary)
    else:
        tx.add_event(edit.kind, edit.id, edit.event, data)
    vault.commit(tx)
    return edit


def tag(vault: Vault, run_id: str, *tags: str) -> Edit | None:
    for t in tags:
        check_name(t, "tag")
    view = current(vault, "run", run_id)
    new = [t for t in dict.fromkeys(tags) if t not in (view.get("tags") or [])]
    if not new:
        return None
    return apply(vault, Edit("run", run_id, "tag", {"tags": new}, f"tagged {', '.join(new)}"))


def untag(vault: Vault, run_id: str, *tags: str) -> Edit | None:
    view = current(vault, "run", run_id)
    gone = [t for t in dict.fromkeys(tags) if t in (view.get("tags") or [])]
    if not gone:
        return None
    return apply(vault, Edit("run", run_id, "untag", {"tags": gone}, f"untagged {', '.join(gone)}"))


def note(vault: Vault, run_id: str, content: str) -> Edit:
    if not isinstance(content, str) or not content.strip():
        raise ValueError("a note needs some text")
    current(vault, "run", run_id)
    return apply(vault, Edit("run", run_id, "note", {"content": content}, "added a note"))


def rename(vault: Vault, run_id: str, name: str | None) -> Edit | None:
    if name is not None:
        check_name(name, "run name")
    before = current(vault, "run", run_id).get("name")
    if before == name:
        return None
    return apply(vault, Edit("run", run_id, "rename", {"name": name, "before": before},
                             f"renamed {before or run_id} to {name or run_id}"))


def mark(vault: Vault, run_id: str, status: str) -> Edit | None:
    if status not in ("completed", "failed"):
        raise ValueError(f"a run can be marked completed or failed, not {status!r}")
    before = current(vault, "run", run_id).get("status")
    if before == status:
        return None
    if before not in TERMINAL_STATUSES:
        raise ValueError(f"run {run_id} is {before}; only an ended run can be marked")
    return apply(vault, Edit("run", run_id, "status", {"status": status, "before": before},
                             f"marked {status} (was {before})"))


def archive(vault: Vault, kind: str, record_id: str, archived: bool = True) -> Edit | None:
    """Archive (or unarchive) a run or an experiment: a flag, never a status."""
    if kind not in ("run", "experiment"):
        raise ValueError(f"only runs and experiments can be archived, not {kind}s")
    if bool(current(vault, kind, record_id).get("archived")) == archived:
        return None
    event = "archive" if archived else "unarchive"
    return apply(vault, Edit(kind, record_id, event, {}, f"{event}d"))


def _deletable(kind: str) -> None:
    if kind not in DELETABLE:
        raise ValueError(f"only {', '.join(k + 's' for k in DELETABLE)} can be deleted, not {kind!r}")


def delete(vault: Vault, kind: str, record_id: str, label: str | None = None) -> Edit:
    """Delete a run, an experiment (which hides its runs and the experiments below it) or a TODO:
    a ``delete`` event, undone by `restore`. ``label``: how the summary names the record."""
    _deletable(kind)
    name = label or record_id
    if is_deleted(current(vault, kind, record_id)):
        raise ValueError(f"{kind} {name} is already deleted; restore it with `git vault restore {kind} {record_id}`")
    return apply(vault, Edit(kind, record_id, "delete", {}, f"deleted {kind} {name}"))


def restore(vault: Vault, kind: str, record_id: str, label: str | None = None) -> Edit:
    """Bring a deleted run, experiment or TODO back (a ``restore`` event, undone by `delete`)."""
    _deletable(kind)
    name = label or record_id
    if not is_deleted(current(vault, kind, record_id)):
        raise ValueError(f"{kind} {name} is not deleted; there is nothing to restore")
    return apply(vault, Edit(kind, record_id, "restore", {}, f"restored {kind} {name}"))


def check_priority(priority: object) -> int:
    if type(priority) is not int or priority not in TODO_PRIORITIES:
        raise ValueError(f"priority must be 0 (low), 1 (mid) or 2 (high), got {priority!r}")
    return priority


def add_todo(vault: Vault, content: str, priority: int = 0, scope_type: str = "global",
             scope_id: str | None = None) -> Edit:
    """A new TODO record (global, or of an experiment or a run, by full id); the Edit's event is
    ``create`` and its inverse deletes the TODO (a tombstone, so a redo restores it)."""
    if scope_type not in TODO_SCOPES:
        raise ValueError(f"scope_type must be one of {', '.join(TODO_SCOPES)}, got {scope_type!r}")
    if (scope_type == "global") != (scope_id is None):
        raise ValueError("scope_id must be None for a global TODO and given for an experiment or run TODO")
    if not isinstance(content, str) or not content.strip():
        raise ValueError("a TODO needs some text, e.g. 'rerun with a lower learning rate'")
    check_priority(priority)
    from gitvault.storage.vault import Transaction, new_id  # the caller's vault has loaded it

    tid = new_id()
    tx = Transaction(message=f"todo ({scope_type}): {content.splitlines()[0][:60]}")
    tx.put("todo", tid, {
        "scope_type": scope_type, "scope_id": scope_id, "content": content, "priority": priority,
        "created_at": codec.utc_now(), "done": False, "completed_at": None,
    })
    vault.commit(tx)
    return Edit("todo", tid, "create", {}, f"added TODO {tid}: {content.splitlines()[0][:60]}")


def todo_done(vault: Vault, todo_id: str, done: bool = True) -> Edit | None:
    """Mark a TODO done (``done`` event) or not done again (``undone``; after a merge, the latest of
    them decides); None when it already is."""
    view = current(vault, "todo", todo_id)
    if bool(view.get("done")) == done:
        return None
    if done:
        return apply(vault, Edit("todo", todo_id, "done", {"completed_at": codec.utc_now()}, f"done: {todo_id}"))
    return apply(vault, Edit("todo", todo_id, "undone", {}, f"not done: {todo_id}"))


def todo_priority(vault: Vault, todo_id: str, priority: int) -> Edit | None:
    """Set a TODO's priority (0 low, 1 mid, 2 high); None when it already has it."""
    check_priority(priority)
    before = current(vault, "todo", todo_id).get("priority") or 0
    if before == priority:
        return None
    return apply(vault, Edit("todo", todo_id, "priority", {"priority": priority, "before": before},
                             f"priority {priority} (was {before})"))
