"""The code history behind `vault_log`: recent commits of the repository's current branch, read
with pygit2 (read-only: a revwalk from HEAD, nothing is written)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pygit2


def recent_commits(git_dir: Path, limit: int) -> tuple[str | None, list[dict[str, Any]], bool]:
    """(branch name or None when HEAD is detached/unborn, up to ``limit`` commits newest first,
    whether older commits exist)."""
    repo = pygit2.Repository(str(git_dir))
    if repo.head_is_unborn:
        return _unborn_branch(repo), [], False
    branch = None if repo.head_is_detached else repo.head.shorthand
    walker = repo.walk(repo.head.target, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    commits: list[dict[str, Any]] = []
    for commit in walker:
        if len(commits) == limit:
            return branch, commits, True
        commits.append(_commit_item(commit))
    return branch, commits, False


def _unborn_branch(repo: pygit2.Repository) -> str | None:
    try:
        target = repo.lookup_reference("HEAD").target
    except (KeyError, pygit2.GitError):
        return None
    return str(target).removeprefix("refs/heads/") if isinstance(target, str) else None


def _commit_item(commit: pygit2.Commit) -> dict[str, Any]:
    when = dt.datetime.fromtimestamp(commit.commit_time, dt.timezone.utc)
    message = commit.message or ""
    return {
        "sha": str(commit.id),
        "short_sha": str(commit.id)[:10],
        "summary": message.strip().splitlines()[0] if message.strip() else "",
        "author": commit.author.name,
        "committed_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parents": [str(p) for p in commit.parent_ids],
    }
