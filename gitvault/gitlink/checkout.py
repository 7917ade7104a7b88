"""A run's exact code in a new git worktree (`git vault checkout`).

``git worktree add --detach DIR <run's commit>``, then the run's patch (its uncommitted changes,
untracked files included) is applied with ``git apply``. The current work tree, index and branch
are never touched. When the run's commit is gone (amended or rebased, then garbage-collected), a
commit the run was linked to with the same tree is used, or the rewritten commit plus the patch
stored when the run was orphaned (`gitvault.gitlink.linking`).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pygit2

from gitvault.errors import BlobError, VaultError
from gitvault.gitlink import linking
from gitvault.storage.blobs import BlobStore
from gitvault.storage.vault import Vault


@dataclass(frozen=True)
class CodePlan:
    """How to rebuild a run's code in this clone: a commit, the patch blob to apply on it (or
    None), and ``how``, in words (e.g. "its commit + its uncommitted changes")."""

    commit: str
    patch: str | None
    how: str


def plan(vault: Vault, run: Mapping[str, Any]) -> CodePlan:
    """The commit and patch that hold ``run``'s code (a run detail of `gitvault.query`: ``id`` and
    ``git`` with its ``links``)."""
    git = run.get("git") or {}
    sha, patch = git.get("sha"), git.get("patch")
    if not sha:
        raise VaultError(f"run {run['id']} has no git facts (it did not run inside a git work tree "
                         "with a commit), so its code cannot be checked out")
    repo = vault.repo
    if _has_commit(repo, sha):
        dirty = bool(git.get("dirty"))
        return CodePlan(sha, patch if dirty else None, "its commit" + (" + its uncommitted changes" if dirty and patch
                                                                         else ""))
    links = sorted(git.get("links") or [], key=lambda link: str(link.get("via", "")).startswith("orphaned"))
    for link in links:
        commit = link.get("commit")
        if not commit or not _has_commit(repo, commit):
            continue
        if not str(link.get("via", "")).startswith("orphaned"):
            return CodePlan(commit, None, f"commit {commit[:10]}, which holds its code exactly (linked via "
                                          f"{link.get('via')})")
        record = linking.link_record(vault, run["id"], commit) or {}
        if record.get("patch"):
            return CodePlan(commit, record["patch"], f"commit {commit[:10]} (the rewrite of {sha[:10]}) + the patch "
                                                     "stored when the run was orphaned")
    raise VaultError(f"run {run['id']} ran on commit {sha[:10]}, which is not in this repository (rewritten "
                     "and garbage-collected, or never fetched); `git fetch` it from a clone that has it "
                     "(linked commits are kept alive only while a branch or refs/vault/keep holds them)")


def default_dir(work_tree: Path, run_id: str) -> Path:
    """``../<repo>-run-<first 10 characters of the id>``, beside the work tree."""
    return work_tree.parent / f"{work_tree.name}-run-{run_id[:10].lower()}"


def checkout(vault: Vault, run: Mapping[str, Any], target: Path | None = None) -> tuple[Path, CodePlan]:
    """Create a worktree at ``target`` (default `default_dir`; relative to the current directory)
    holding exactly ``run``'s code; a patch blob not stored here is fetched first. Returns the
    worktree's path and the plan it followed. Nothing is left behind when a step fails."""
    work_tree = vault.paths.work_tree
    if work_tree is None:
        raise VaultError("this repository has no work tree; run `git vault checkout` from a clone with one")
    code = plan(vault, run)
    blobs = BlobStore(vault.paths.objects_dir)
    if code.patch and not blobs.has(code.patch):
        from gitvault.sync.exchange import fetch_missing_blobs  # the network only when needed

        fetch_missing_blobs(vault, [code.patch])
        if not blobs.has(code.patch):
            raise BlobError(f"the patch of run {run['id']} (blob {code.patch}) is not in this clone; "
                            "run `git vault pull` to fetch the blobs")
    target = target.expanduser() if target is not None else default_dir(work_tree, run["id"])
    target = target if target.is_absolute() else (Path.cwd() / target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise VaultError(f"{target} already exists and is not empty; choose another place "
                         "(`git vault checkout RUN --worktree DIR`)")
    added = _git(work_tree, "worktree", "add", "--detach", str(target), code.commit)
    if added.returncode != 0:
        raise VaultError(f"git worktree add failed: {added.stderr.strip()}")
    if code.patch:
        applied = _git(target, "apply", "--binary", "--whitespace=nowarn", str(blobs.path(code.patch)))
        if applied.returncode != 0:
            _git(work_tree, "worktree", "remove", "--force", str(target))
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            raise VaultError(f"the run's patch does not apply on {code.commit[:10]}: {applied.stderr.strip()}")
    return target, code


def _has_commit(repo: pygit2.Repository, sha: str) -> bool:
    try:
        return isinstance(repo[sha], pygit2.Commit)
    except (KeyError, ValueError):
        return False


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
