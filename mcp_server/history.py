"""`vault_log`: `Query.history` (the same commits and runs per commit as `git vault log`) cut to
the fields the tool documents, and to ``runs_per_commit`` runs under each commit (the rest
counted in ``more_runs``), so the default answer stays a few KB also for a sweep of hundreds of
runs on one commit. Read-only: unlike `git vault log`, the server links no new commits."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from gitvault.query import Query

LOG_COMMIT_FIELDS = ("sha", "short_sha", "summary", "author", "committed_at", "parents", "runs")
LOG_RUN_FIELDS = ("id", "label", "name", "status", "started_at", "state", "dirty", "linked_via", "metrics")
RUNS_PER_COMMIT = 5
MAX_RUNS_PER_COMMIT = 500


def check_runs_per_commit(value: Any) -> int:
    """``runs_per_commit`` when it is an integer from 0 to 500, else a ToolError saying so."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RUNS_PER_COMMIT:
        raise ToolError(f"runs_per_commit must be an integer from 0 to {MAX_RUNS_PER_COMMIT} (default "
                        f"{RUNS_PER_COMMIT}; list_runs or search list every run), got {value!r}")
    return value


def vault_log(q: Query, limit: int, clamped: bool, runs_per_commit: int = RUNS_PER_COMMIT) -> dict[str, Any]:
    """``{branch, items: [{sha, short_sha, summary, author, committed_at, parents, runs, n_runs[,
    more_runs]}], truncated[, limit_clamped]}``: up to ``limit`` commits of the current branch,
    newest first, each with its first ``runs_per_commit`` runs (``n_runs`` counts them all,
    ``more_runs`` those left out)."""
    page = q.history(limit=limit)
    items = []
    for commit in page["items"]:
        runs = commit["runs"]
        item = {**{k: commit.get(k) for k in LOG_COMMIT_FIELDS}, "short_sha": commit["sha"][:10],
                "runs": [{k: run.get(k) for k in LOG_RUN_FIELDS} for run in runs[:runs_per_commit]],
                "n_runs": len(runs)}
        if len(runs) > runs_per_commit:
            item["more_runs"] = len(runs) - runs_per_commit
        items.append(item)
    result: dict[str, Any] = {"branch": page["branch"], "items": items, "truncated": page["truncated"]}
    if clamped or page.get("limit_clamped"):
        result["limit_clamped"] = True
    return result
