"""Remotes and the ``git`` command: what sync sends records and small blobs through.

Network work runs ``git`` as a subprocess so the user's ssh config, ``GIT_SSH_COMMAND``,
credential helpers and ``insteadOf`` rules apply; pygit2 does all local work. Nothing here writes
the user's git config. A remote's vault refs are fetched into ``refs/vault-remotes/<remote>/*``
(never under ``refs/remotes/``, where ``git branch -r`` would list them). Blobs that arrive by any
transport are staged (`staging_dir`), hashed and installed by `install_verified`: regular files only,
never through a link, each at most ``git config vault.maxBlob`` bytes (default 64g). What a killed
import, export, merge or pull left (its staging folder, its ``refs/vault-import/...`` ref) is swept
by the next command that stages blobs (`sweep_interrupted`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

import pygit2

from gitvault.storage.blobs import BlobStore
from gitvault.errors import BlobError, SyncError
from gitvault.storage.gitobjects import ref_target
from gitvault.gitlink.linking import log_line
from gitvault.storage.vault import Vault

TRACKING_PREFIX = "refs/vault-remotes"
INCOMING_DIR = "incoming"
TEMP_REF_PREFIXES = ("refs/vault-import/", "refs/vault-export/")
STALE_STAGING_S = 24 * 3600
"""A staging folder or temporary ref this old is abandoned whoever made it (a pull over a slow link
may run for hours; another host's pid cannot be checked)."""
DEFAULT_MAX_BLOB = 64 << 30
MAX_BLOB_KEY = "vault.maxBlob"
MAX_BLOB_ENV = "GITVAULT_MAX_BLOB"
_HOST = re.sub(r"[^A-Za-z0-9]+", "_", socket.gethostname()).strip("_") or "host"
_CHUNK = 1 << 20


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


def synced_remotes(vault: Vault) -> list[str]:
    """The configured remotes this vault has pushed to or pulled from (they have tracking refs)."""
    prefix = TRACKING_PREFIX + "/"
    names = {ref[len(prefix):].rsplit("/", 1)[0] for ref in vault.repo.references if ref.startswith(prefix)}
    configured = set(vault.repo.remotes.names())
    return sorted(n for n in names if n in configured)


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
             dst: str = "refs/vault/main", lease: pygit2.Oid | None = None) -> str:
    """Push one refspec without force, or, given ``lease`` (a purge rewrote the history), replacing
    the remote's ref only while it still points at ``lease``. Returns "ok", "up-to-date" or
    "rejected" (someone pushed first)."""
    force = [f"--force-with-lease={dst}:{lease}"] if lease is not None else []
    proc = run_git(vault, "push", "--porcelain", "--no-verify", *force, remote.name, refspec, check=False)
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
    """A new folder for arriving blobs, ``<git-common-dir>/vault/incoming/<pid>-<rand>-<host>``
    (an import names its temporary ref after it). What killed imports and pulls left is swept
    first (`sweep_interrupted`): every command that moves blobs in or out comes through here, so
    the cleanup costs one small listing and never touches the hot path of a seal."""
    vault.ensure_local_dirs()  # a fresh clone: .extract/ must exist and stay out of git first
    sweep_interrupted(vault)
    path = vault.paths.data_dir / INCOMING_DIR / f"{os.getpid()}-{uuid.uuid4().hex[:8]}-{_HOST}"
    path.mkdir(parents=True)
    return path


def sweep_interrupted(vault: Vault) -> list[str]:
    """Remove the staging folders and temporary refs (``refs/vault-import/<token>/...``,
    ``refs/vault-export/<token>/...``) of imports, exports, merges and pulls that were killed; returns
    what was removed (also written to ``.extract/hooks.log``).

    A folder or ref is abandoned when its owner is provably gone: made on this host by a pid that is
    no longer alive, or older than `STALE_STAGING_S` (another host's, or one whose pid was reused).
    A temporary ref whose staging folder is gone is abandoned too: an import deletes its ref before
    its folder."""
    incoming = vault.paths.data_dir / INCOMING_DIR
    now = time.time()
    removed: list[str] = []
    try:
        folders = sorted(incoming.iterdir())
    except OSError:  # no folder yet
        folders = []
    for folder in folders:
        if _abandoned(folder.name, incoming, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    repo = vault.repo
    for name in repo.listall_references():
        parts = name.split("/")
        if name.startswith(TEMP_REF_PREFIXES) and len(parts) > 3 and _abandoned(parts[2], incoming, now):
            try:
                repo.references.delete(name)
            except (KeyError, pygit2.GitError):  # its owner or another sweep deleted it first
                continue
            removed.append(name)
    if removed:
        log_line(vault, f"swept what interrupted imports or pulls left: {', '.join(removed)}")
    return removed


def _abandoned(token: str, incoming: Path, now: float) -> bool:
    """Whether the staging folder or temporary ref named ``token`` outlived its owner: a
    ``<pid>-<rand>-<host>`` of this host with a dead pid, a bare number (an older temporary ref:
    its start in ns) older than `STALE_STAGING_S`, else its folder gone or that old."""
    if token.isdigit():
        return now - int(token) / 1e9 > STALE_STAGING_S
    pid, _, rest = token.partition("-")
    if rest.partition("-")[2] == _HOST and pid.isdigit() and not _alive(int(pid)):
        return True
    try:
        return now - (incoming / token).lstat().st_mtime > STALE_STAGING_S
    except FileNotFoundError:
        return True


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def max_blob_size(vault: Vault) -> int:
    """The largest blob installed from elsewhere (an archive member, a pulled or merged file):
    ``GITVAULT_MAX_BLOB``, else ``git config vault.maxBlob``, else 64g (git's size suffixes k, m, g)."""
    raw = os.environ.get(MAX_BLOB_ENV, "").strip().lower()
    if raw:
        match = re.fullmatch(r"(\d+)([kmg]?)", raw)
        if match is None:
            raise SyncError(f"{MAX_BLOB_ENV}={raw!r} is not a size (use a number of bytes, or 500m, 64g)")
        return int(match[1]) << {"": 0, "k": 10, "m": 20, "g": 30}[match[2]]
    try:
        return vault.repo.config.get_int(MAX_BLOB_KEY)
    except KeyError:
        return DEFAULT_MAX_BLOB
    except Exception:  # pygit2 raises InvalidError for a value that is not a size
        raise SyncError(f"`git config {MAX_BLOB_KEY}` is not a size (use a number of bytes, or 500m, 64g)") from None


def install_verified(vault: Vault, staging: Path, shas: Iterable[str], *, max_size: int | None = None) -> Received:
    """Move each staged ``<sha[:2]>/<sha[2:]>`` into the store if it is a regular file (checked with
    lstat and opened with ``O_NOFOLLOW``, its bucket too: a link, device or fifo is never followed or
    read) of at most ``max_size`` bytes (default `max_blob_size`) whose content hashes to its name.
    Anything else is reported bad and never installed; a file with other content goes to
    ``<git-common-dir>/vault/bad/``."""
    store = BlobStore(vault.paths.objects_dir)
    limit = max_blob_size(vault) if max_size is None else max_size
    result = Received([], 0, [], [])
    for sha in sorted(set(shas)):
        try:
            fd = _open_staged(staging, sha)
        except FileNotFoundError:
            if not store.has(sha):
                result.missing.append(sha)
            continue
        except OSError:  # a link, device, fifo or folder: never installed
            result.bad.append(sha)
            continue
        with os.fdopen(fd, "rb") as fh:
            held = os.fstat(fd)
            actual = _bounded_sha256(fh, limit)
            staged = staging / sha[:2] / sha[2:]
            if actual is None:
                result.bad.append(sha)
            elif actual != sha:
                bad = vault.paths.data_dir / "bad"
                bad.mkdir(parents=True, exist_ok=True)
                os.replace(staged, bad / sha)
                result.bad.append(sha)
            elif _adopt_held(store, staged, sha, held):
                result.installed.append(sha)
                result.bytes += held.st_size
            elif not store.has(sha):
                result.bad.append(sha)
    return result


def _open_staged(staging: Path, sha: str) -> int:
    """A read-only descriptor of a staged blob, opened without following a link in its bucket or its
    name; `FileNotFoundError` when it is not there, another `OSError` when it is no regular file."""
    bucket = os.open(staging / sha[:2], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.stat(sha[2:], dir_fd=bucket, follow_symlinks=False).st_mode):
            raise _NotRegular(f"{staging / sha[:2] / sha[2:]} is not a regular file")
        fd = os.open(sha[2:], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=bucket)
    finally:
        os.close(bucket)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
        os.close(fd)
        raise _NotRegular(f"{staging / sha[:2] / sha[2:]} is not a regular file")
    return fd


class _NotRegular(OSError):
    """A staged name that is a link, device, fifo or folder."""


def _bounded_sha256(fh: BinaryIO, limit: int) -> str | None:
    """The sha256 of what ``fh`` holds, or None (reading no further) once it passes ``limit`` bytes."""
    if os.fstat(fh.fileno()).st_size > limit:
        return None
    digest, seen = hashlib.sha256(), 0
    while chunk := fh.read(_CHUNK):
        seen += len(chunk)
        if seen > limit:
            return None
        digest.update(chunk)
    return digest.hexdigest()


def _adopt_held(store: BlobStore, staged: Path, sha: str, held: os.stat_result) -> bool:
    """`BlobStore.adopt` the file that was hashed, and only it: installed as another inode (the name
    was swapped after hashing), it is taken out again and False is returned."""
    try:
        if not store.adopt(staged, sha):
            return False
    except BlobError:
        return False
    placed = os.lstat(store.path(sha))
    if (placed.st_dev, placed.st_ino) != (held.st_dev, held.st_ino):
        store.delete(sha)
        return False
    return True


def tail(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
