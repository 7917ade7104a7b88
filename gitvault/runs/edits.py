"""The writes front-ends make to sealed records, each one vault commit (an event), each with its
undo: tag, untag, note, rename, mark completed or failed, archive and unarchive.

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
from gitvault.storage.records import TERMINAL_STATUSES, fold

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
        flip = {"tag": "untag", "untag": "tag", "archive": "unarchive", "unarchive": "archive"}
        if self.event in flip:
            return Edit(self.kind, self.id, flip[self.event], self.data, f"undo: {self.summary}")
        if self.event == "note":
            return Edit(self.kind, self.id, "unnote", self.data, f"undo: {self.summary}")
        if self.event == "unnote":  # a redo: the note again, at a new time
            return Edit(self.kind, self.id, "note", {"content": self.data.get("content", "")}, "added the note again")
        if self.event in ("rename", "status"):
            before = self.data.get("before")
            field = "name" if self.event == "rename" else "status"
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
    return fold(snap.get(kind, record_id), snap.events(kind, record_id))


def apply(vault: Vault, edit: Edit) -> Edit:
    """Commit ``edit`` as one event; returns what was committed (the caller keeps it to undo)."""
    data = {k: v for k, v in edit.data.items() if k != "before"}
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
