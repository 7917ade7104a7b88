"""Remotes and the ``git`` command: what sync sends records and small blobs through.

Network work runs ``git`` as a subprocess so the user's ssh config, ``GIT_SSH_COMMAND``,
credential helpers and ``insteadOf`` rules apply; pygit2 does all local work. Nothing here writes
the user's git config. A remote's vault refs are fetched into ``refs/vault-remotes/<remote>/*``
(never under ``refs/remotes/``, where ``git branch -r`` would list them). Blobs that arrive by any
transport are staged, hashed and installed by `install_verified`.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pygit2

from gitvault.blobs import BlobStore, file_sha256
from gitvault.errors import SyncError
from gitvault.gitobjects import ref_target
from gitvault.vault import Vault

TRACKING_PREFIX = "refs/vault-remotes"


@dataclass(frozen=True)
class Remote:
    """A git remote as sync sees it."""

    name: str  # what git is given: a configured remote's name, or a URL/path
    url: str
    tracking: str  # refs/vault-remotes/<tracking>/...

    @property
    def tracking_ref(self) -> str:
        return f"{TRACKING_PREFIX}/{self.tracking}/main"


def default_remote(vault: Vault) -> str:
    """The current branch's upstream remote, else ``origin``."""
    repo = vault.repo
    try:
        branch = repo.head.shorthand if not repo.head_is_unborn and not repo.head_is_detached else None
    except pygit2.GitError:
        branch = None
    if branch:
        try:
            return str(repo.config[f"branch.{branch}.remote"])
        except KeyError:
            pass
    return "origin"


def resolve_remote(vault: Vault, name: str | None) -> Remote:
    """Look up a configured remote (or accept a URL/path)."""
    name = name or default_remote(vault)
    config = vault.repo.config
    try:
        url = str(config[f"remote.{name}.url"])
        tracking = name
    except KeyError:
        if "/" not in name and ":" not in name:
            raise SyncError(
                f"no git remote named {name!r}; add one with `git remote add {name} URL` "
                "or give the remote's name: `git vault push <remote>`"
            ) from None
        url = name
        tracking = "url-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    if not re.match(r"^[A-Za-z0-9._-]+$", tracking) or tracking.startswith("."):
        tracking = "url-" + hashlib.sha1(tracking.encode()).hexdigest()[:12]
    return Remote(name=name, url=url, tracking=tracking)


# -- git ---------------------------------------------------------------------------------------

def run_git(vault: Vault, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cwd = vault.paths.work_tree or vault.paths.git_dir
    env = dict(os.environ, GIT_TERMINAL_PROMPT=os.environ.get("GIT_TERMINAL_PROMPT", "0"))
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, env=env)
    if check and proc.returncode != 0:
        raise SyncError(f"`git {' '.join(args)}` failed: {tail(proc.stderr or proc.stdout)}")
    return proc


def fetch_tracking(vault: Vault, remote: Remote, *, records_only: bool = False) -> pygit2.Oid | None:
    """``git fetch <remote> +refs/vault/*:refs/vault-remotes/<remote>/*`` (records and the blobs
    ref; ``records_only``: ``refs/vault/main`` alone); the fetched records tip."""
    pattern = "main" if records_only else "*"
    proc = run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote.name,
                   f"+refs/vault/{pattern}:{TRACKING_PREFIX}/{remote.tracking}/{pattern}", check=False)
    if proc.returncode != 0 and not (records_only and "couldn't find remote ref" in proc.stderr):
        raise SyncError(f"`git fetch {remote.name}` failed: {tail(proc.stderr or proc.stdout)}")
    return tracking_tip(vault, remote)


def tracking_tip(vault: Vault, remote: Remote) -> pygit2.Oid | None:
    return ref_target(vault.repo, remote.tracking_ref)


def set_tracking(vault: Vault, remote: Remote, oid: pygit2.Oid) -> None:
    vault.repo.references.create(remote.tracking_ref, oid, force=True)


def remote_tips(vault: Vault, remote: Remote) -> dict[str, pygit2.Oid]:
    """The remote's vault refs (``main``, ``blobs``) with their objects fetched, no ref written;
    for dry runs and status."""
    out: dict[str, pygit2.Oid] = {}
    for line in run_git(vault, "ls-remote", remote.name, "refs/vault/*").stdout.splitlines():
        oid, _, ref = line.partition("\t")
        if ref in ("refs/vault/main", "refs/vault/blobs"):
            out[ref.rsplit("/", 1)[1]] = pygit2.Oid(hex=oid)
    lacking = [oid for oid in out.values() if oid not in vault.repo]
    if lacking:
        run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote.name,
                *(f"refs/vault/{k}" for k, v in out.items() if v in lacking))
    return out


def push_ref(vault: Vault, remote: Remote, refspec: str = "refs/vault/main:refs/vault/main",
             dst: str = "refs/vault/main") -> str:
    """Push one refspec without force. Returns "ok", "up-to-date" or "rejected" (someone pushed
    first)."""
    proc = run_git(vault, "push", "--porcelain", "--no-verify", remote.name, refspec, check=False)
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].endswith(":" + dst):
            flag, summary = fields[0], fields[2]
            if flag == "=":
                return "up-to-date"
            if flag in (" ", "*", "+"):
                return "ok"
            if flag == "!" and re.search(r"fetch first|non-fast-forward|stale|lock|failed to update|"
                                         r"incorrect old value", summary):
                return "rejected"
            raise SyncError(f"the remote refused {dst}: {summary} {tail(proc.stderr)}")
    if proc.returncode == 0:
        return "ok"
    raise SyncError(f"`git push {remote.name}` failed: {tail(proc.stderr or proc.stdout)}")


# -- arriving blobs ----------------------------------------------------------------------------

@dataclass
class Received:
    installed: list[str]
    bytes: int
    bad: list[str]
    missing: list[str]


def staging_dir(vault: Vault) -> Path:
    vault.ensure_local_dirs()  # a fresh clone: .extract/ must exist and stay out of git first
    path = vault.paths.data_dir / "incoming" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def install_verified(vault: Vault, staging: Path, shas: Iterable[str]) -> Received:
    """Move each staged ``<sha[:2]>/<sha[2:]>`` into the store if its content hashes to its name;
    a damaged one goes to ``<git-common-dir>/vault/bad/`` and is reported, never installed."""
    store = BlobStore(vault.paths.objects_dir)
    result = Received([], 0, [], [])
    for sha in sorted(set(shas)):
        staged = staging / sha[:2] / sha[2:]
        if not staged.is_file() or staged.is_symlink():
            if not store.has(sha):
                result.missing.append(sha)
            continue
        if file_sha256(staged) != sha:
            bad = vault.paths.data_dir / "bad"
            bad.mkdir(parents=True, exist_ok=True)
            os.replace(staged, bad / sha)
            result.bad.append(sha)
            continue
        size = staged.stat().st_size
        if store.adopt(staged, sha):
            result.installed.append(sha)
            result.bytes += size
    return result


def tail(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
