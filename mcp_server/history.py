"""`vault_log`: `Query.history` (the same commits and runs per commit as `git vault log`) cut to
the fields the tool documents. Read-only: unlike `git vault log`, the server links no new commits."""

from __future__ import annotations

from typing import Any

from gitvault.query import Query

LOG_COMMIT_FIELDS = ("sha", "short_sha", "summary", "author", "committed_at", "parents", "runs")
LOG_RUN_FIELDS = ("id", "label", "name", "status", "started_at", "state", "dirty", "linked_via", "metrics")


def vault_log(q: Query, limit: int, clamped: bool) -> dict[str, Any]:
    """``{branch, items: [{sha, short_sha, summary, author, committed_at, parents, runs}], truncated[,
    limit_clamped]}``: up to ``limit`` commits of the current branch, newest first."""
    page = q.history(limit=limit)
    items = [{**{k: commit.get(k) for k in LOG_COMMIT_FIELDS}, "short_sha": commit["sha"][:10],
              "runs": [{k: run.get(k) for k in LOG_RUN_FIELDS} for run in commit["runs"]]}
             for commit in page["items"]]
    result: dict[str, Any] = {"branch": page["branch"], "items": items, "truncated": page["truncated"]}
    if clamped or page.get("limit_clamped"):
        result["limit_clamped"] = True
    return result
