"""One experiment by id or path, in the shape of `list_experiments`' items: what the SDK's
`Store.get_experiment` reads. (It belongs beside `RunQueries.list_experiments`, as a
``get_experiment`` method, once query/runs.py can take it.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitvault.errors import RecordNotFoundError
from gitvault.query.runs import RunQueries
from gitvault.storage import records

if TYPE_CHECKING:
    from gitvault.query.shapes import ExperimentItem


def experiment(q: RunQueries, ref: Any) -> ExperimentItem:
    """The experiment whose id or path is ``ref``; `RecordNotFoundError` otherwise."""
    if isinstance(ref, str) and ref:
        conn = q.db()
        for eid in dict.fromkeys((ref, records.experiment_id(ref))):
            row = conn.execute("SELECT path FROM experiments WHERE id = ?", (eid,)).fetchone()
            if row is not None:  # listed by path, the path itself first (a string sorts before its extensions)
                for item in q.list_experiments(prefix=row[0], limit=1)["items"]:
                    if item["id"] == eid:
                        return item
    raise RecordNotFoundError(f"Experiment not found: {ref!r}")
