"""Which runs a report shows: the selection forms the CLI already resolves (run ids, unique prefixes,
names, ``path#name`` labels, experiment paths) and the query layer's filter language (``where``),
read only through `gitvault.query`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from gitvault.display import listed
from gitvault.errors import QueryError, RecordNotFoundError
from gitvault.runs.frames import quoted

if TYPE_CHECKING:
    from gitvault.query import Query

MAX_RUNS = 40
"""At most this many runs in one report: beyond it the charts' colours repeat and the page grows
past what a reader follows; a larger selection is refused (never cut), naming how to narrow it."""


def select(q: Query, refs: Sequence[str], where: str | None = None) -> list[str]:
    """Run ids, in the order given (an experiment's runs oldest first), each once. A ref is a run
    (id, unique prefix, name, ``path#name``) or an experiment path or id (its runs and those of the
    experiments below it); ``where`` keeps only the runs it matches (alone: every run it matches)."""
    if isinstance(refs, str) or not all(isinstance(r, str) for r in refs):
        raise QueryError("runs must be a list of run ids, names, path#name labels or experiment paths")
    if not refs and not (where and where.strip()):
        raise QueryError("name the runs to report: run ids, names, path#name labels, an experiment path, "
                         "or --where EXPR (e.g. --where \"status = 'completed'\")")
    ids: list[str] = []
    for ref in refs:
        ids.extend(_resolve(q, ref))
    if where and where.strip():
        matching = [i["id"] for i in q.runs(where=where, sort="started", limit=None, columns=["name"])["items"]]
        if refs:
            keep = set(matching)
            ids = [i for i in ids if i in keep]
        else:
            ids = matching
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise QueryError("no run matches this selection" + (f" and --where {where!r}" if where else "")
                         + "; list the runs with `git vault runs`")
    if len(ids) > MAX_RUNS:
        raise QueryError(f"the selection holds {len(ids)} runs; a report shows at most {MAX_RUNS}: "
                         "narrow it with --where (e.g. \"metrics.val_loss < 0.2\") or name the runs")
    return ids


def _resolve(q: Query, ref: str) -> list[str]:
    try:
        return [q.resolve_run(ref)]
    except RecordNotFoundError as run_error:
        try:
            eid = q.experiment_ref(ref)
        except RecordNotFoundError:
            raise QueryError(f"{ref!r} is neither a run (id, unique prefix, name, path#name) nor an experiment "
                             f"path; {_hint(q)}") from None
        path = q.get_experiment(eid)["path"]
        scope = f"experiment = {quoted(path)} or experiment ~ {quoted(path + '/')}"
        found = [i["id"] for i in q.runs(where=scope, sort="started", limit=None, columns=["name"])["items"]]
        if not found:
            raise QueryError(f"experiment {path} has no runs") from run_error
        return found


def _hint(q: Query) -> str:
    paths = [e["path"] for e in q.list_experiments(limit=None)["items"]]
    return f"experiments: {listed(paths, 8)}" if paths else "the vault has no experiments yet"
