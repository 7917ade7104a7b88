"""The few writes front-ends make, on the query layer (`gitvault.runs.edits` underneath): each resolves
the run the way every read does (id, unique prefix), commits one event, and returns an `Edit`
whose `inverse()` undoes it (None when nothing had to change)."""

from __future__ import annotations

from gitvault.runs import edits
from gitvault.runs.edits import Edit
from gitvault.query.base import QueryBase


class WriteQueries(QueryBase):
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

    def apply(self, edit: Edit) -> Edit:
        """Commit an edit again, or its inverse (undo, redo)."""
        return self.wrote(edits.apply(self.vault, edit))
