"""`git vault checkout <run> [--worktree DIR]`: the exact code a run ran, in a new git worktree.

``git worktree add --detach DIR <run's commit>``, then the run's patch (its uncommitted changes,
untracked files included) is applied with ``git apply``. The current work tree, index and branch
are never touched. When the run's commit is gone (amended or rebased, then garbage-collected), a
commit the run was linked to with the same tree is used, or the rewritten commit plus the patch
stored when the run was orphaned.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gitvault.errors import BlobError, VaultError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("checkout", help="recreate a run's exact code in a new git worktree",
                       description="Create a git worktree at the run's commit and apply the run's "
                                   "uncommitted changes, so it holds exactly the code the run ran. "
                                   "Your current work tree is not touched.")
    p.add_argument("run", help="run id or unique prefix")
    p.add_argument("--worktree", metavar="DIR", default=None,
                   help="where to create the worktree (default: ../<repo>-run-<shortid>)")
    p.set_defaults(func=run)


def plan(vault: Any, run: dict[str, Any]) -> tuple[str, str | None, str]:
    """(commit, patch blob or None, how) to rebuild the run's code in this clone."""
    from gitvault.gitlink import linking

    git = run.get("git") or {}
    sha, patch = git.get("sha"), git.get("patch")
    if not sha:
        raise VaultError(f"run {run['id']} has no git facts (it did not run inside a git work tree "
                         "with a commit), so its code cannot be checked out")
    repo = vault.repo
    if _has_commit(repo, sha):
        return sha, patch if git.get("dirty") else None, "its commit" + (" + its uncommitted changes" if
                                                                          git.get("dirty") and patch else "")
    links = sorted(git.get("links") or [], key=lambda link: str(link.get("via", "")).startswith("orphaned"))
    for link in links:
        commit = link.get("commit")
        if not commit or not _has_commit(repo, commit):
            continue
        if not str(link.get("via", "")).startswith("orphaned"):
            return commit, None, f"commit {commit[:10]}, which holds its code exactly (linked via {link.get('via')})"
        record = linking.link_record(vault, run["id"], commit) or {}
        if record.get("patch"):
            return commit, record["patch"], (f"commit {commit[:10]} (the rewrite of {sha[:10]}) + the patch "
                                              "stored when the run was orphaned")
    raise VaultError(f"run {run['id']} ran on commit {sha[:10]}, which is not in this repository (rewritten "
                     "and garbage-collected, or never fetched); `git fetch` it from a clone that has it "
                     "(linked commits are kept alive only while a branch or refs/vault/keep holds them)")


def _has_commit(repo: Any, sha: str) -> bool:
    import pygit2

    try:
        return isinstance(repo[sha], pygit2.Commit)
    except (KeyError, ValueError):
        return False


def default_dir(work_tree: Path, run_id: str) -> Path:
    return work_tree.parent / f"{work_tree.name}-run-{run_id[:10].lower()}"


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def run(args: argparse.Namespace) -> int:
    from gitvault.gitlink import linking
    from gitvault.storage.blobs import BlobStore
    from gitvault.query import Query
    from gitvault.storage.vault import Vault

    try:  # links made by commits that ran no hook are needed to find a rewritten run's code
        linking.catch_up(Vault.open(args.directory))
    except Exception:  # noqa: BLE001 - the run's own commit and patch still work
        pass
    with Query(args.directory) as q:
        vault = q.vault
        record = q.get_run(q.resolve_run(args.run))
    work_tree = vault.paths.work_tree
    if work_tree is None:
        raise VaultError("this repository has no work tree; run `git vault checkout` from a clone with one")
    commit, patch, how = plan(vault, record)
    blobs = BlobStore(vault.paths.objects_dir)
    if patch and not blobs.has(patch):
        from gitvault.sync import exchange as sync

        sync.fetch_missing_blobs(vault, [patch])
        if not blobs.has(patch):
            raise BlobError(f"the patch of run {record['id']} (blob {patch}) is not in this clone; "
                            "run `git vault pull` to fetch the blobs")
    target = Path(args.worktree).expanduser() if args.worktree else default_dir(work_tree, record["id"])
    target = target if target.is_absolute() else (Path.cwd() / target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise VaultError(f"{target} already exists and is not empty; choose another place with --worktree DIR")
    added = _git(work_tree, "worktree", "add", "--detach", str(target), commit)
    if added.returncode != 0:
        raise VaultError(f"git worktree add failed: {added.stderr.strip()}")
    if patch:
        applied = _git(target, "apply", "--binary", "--whitespace=nowarn", str(blobs.path(patch)))
        if applied.returncode != 0:
            _git(work_tree, "worktree", "remove", "--force", str(target))
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            raise VaultError(f"the run's patch does not apply on {commit[:10]}: {applied.stderr.strip()}")
    label = record.get("label") or record.get("experiment_path")
    print(f"checked out run {record['id']} ({label}) into {target}")
    print(f"  code: {how}")
    return 0
