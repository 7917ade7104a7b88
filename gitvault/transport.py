"""The two network transports of sync: the ``git`` command for records and ``rsync`` for blobs.

Both run as subprocesses so the user's ssh config, ``GIT_SSH_COMMAND``, ``RSYNC_RSH``,
credential helpers and ``insteadOf`` rules apply. Nothing here writes the user's git config.

Where a remote's blobs live (``git config vault.<remote>.blobs <rsync destination>``), and the
zero-config default when that key is unset:

- local path ``/x/proj.git`` (or ``file:///x/proj.git``) -> ``/x/proj.git.vault-blobs/``, a folder
  *beside* the repository, never inside it (git's own gc and mirroring leave it alone, and a
  bare repository stays a plain bare repository);
- ``host:path`` and ``ssh://[user@]host[:port]/path`` -> the same folder beside ``path`` on that host,
  reached with rsync over ssh (the port is passed as ``-e "ssh -p N"``; the ssh command is
  ``$RSYNC_RSH``, else ``$GIT_SSH_COMMAND``, else ``ssh``);
- anything else (https, git://): no default; an error names the config key to set.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

import pygit2

from gitvault.blobs import BlobStore, file_sha256
from gitvault.errors import SyncError
from gitvault.vault import Vault

_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:@]+):(?P<path>.*)$")
TRACKING_PREFIX = "refs/vault-remotes"

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Remote:
    """A git remote as sync sees it."""

    name: str  # what git is given: a configured remote's name, or a URL/path
    url: str
    tracking: str  # refs/vault-remotes/<tracking>/main
    blobs: str | None  # rsync destination, ends with "/"
    port: int | None = None
    blobs_error: str | None = None

    @property
    def tracking_ref(self) -> str:
        return f"{TRACKING_PREFIX}/{self.tracking}/main"

    def require_blobs(self) -> str:
        if self.blobs is None:
            raise SyncError(self.blobs_error or f"no blob destination for remote {self.name!r}")
        return self.blobs


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
    """Look up a configured remote (or accept a URL/path) and its blob destination."""
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
    key = f"vault.{name}.blobs"
    try:
        configured: str | None = str(config[key])
    except KeyError:
        configured = None
    workdir = vault.paths.work_tree or vault.paths.common_dir
    dest, port = blob_destination(configured, workdir) if configured else blob_destination(url, workdir, suffix=True)
    error = None
    if dest is None:
        error = (f"remote {name!r} ({url}) has no default place for blobs; set one with "
                 f"`git config {key} <rsync destination>` (e.g. host:/srv/proj.vault-blobs or "
                 "/mnt/share/proj.vault-blobs)")
    return Remote(name=name, url=url, tracking=tracking, blobs=dest, port=port, blobs_error=error)


def blob_destination(url: str, workdir: Path, *, suffix: bool = False) -> tuple[str | None, int | None]:
    """The rsync destination for a git URL (``suffix``: the folder beside it) and an ssh port."""
    add = ".vault-blobs" if suffix else ""
    if url.startswith("file://"):
        return f"{Path(url[7:]).as_posix().rstrip('/')}{add}/", None
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("ssh", "git+ssh", "ssh+git"):
            return (None, None) if suffix else (url.rstrip("/") + "/", None)
        path = parts.path
        if path.startswith("/~"):
            path = path[1:]
        user = f"{parts.username}@" if parts.username else ""
        return f"{user}{parts.hostname}:{path.rstrip('/')}{add}/", parts.port
    match = _SCP.match(url)
    if match and not url.startswith("/") and not url.startswith("."):
        user = f"{match['user']}@" if match["user"] else ""
        return f"{user}{match['host']}:{match['path'].rstrip('/')}{add}/", None
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = (workdir / path).resolve()
    return f"{path.as_posix().rstrip('/')}{add}/", None


# -- git ---------------------------------------------------------------------------------------

def run_git(vault: Vault, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cwd = vault.paths.work_tree or vault.paths.git_dir
    env = dict(os.environ, GIT_TERMINAL_PROMPT=os.environ.get("GIT_TERMINAL_PROMPT", "0"))
    proc = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, env=env)
    if check and proc.returncode != 0:
        raise SyncError(f"`git {' '.join(args)}` failed: {_tail(proc.stderr or proc.stdout)}")
    return proc


def fetch_tracking(vault: Vault, remote: Remote) -> pygit2.Oid | None:
    """``git fetch <remote> +refs/vault/*:refs/vault-remotes/<remote>/*``; the fetched tip."""
    run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote.name,
            f"+refs/vault/*:{TRACKING_PREFIX}/{remote.tracking}/*")
    return tracking_tip(vault, remote)


def tracking_tip(vault: Vault, remote: Remote) -> pygit2.Oid | None:
    try:
        return vault.repo.lookup_reference(remote.tracking_ref).target
    except (KeyError, pygit2.InvalidSpecError):
        return None


def set_tracking(vault: Vault, remote: Remote, oid: pygit2.Oid) -> None:
    vault.repo.references.create(remote.tracking_ref, oid, force=True)


def remote_tip(vault: Vault, remote: Remote) -> pygit2.Oid | None:
    """The remote's ``refs/vault/main`` (objects fetched, no ref written), for dry runs."""
    out = run_git(vault, "ls-remote", remote.name, "refs/vault/main").stdout.split()
    if not out:
        return None
    oid = pygit2.Oid(hex=out[0])
    if oid not in vault.repo:
        run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote.name, "refs/vault/main")
    return oid


def push_ref(vault: Vault, remote: Remote) -> str:
    """Push without force. Returns "ok", "up-to-date" or "rejected" (someone pushed first)."""
    proc = run_git(vault, "push", "--porcelain", "--no-verify", remote.name, "refs/vault/main:refs/vault/main",
                   check=False)
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1] == "refs/vault/main:refs/vault/main":
            flag, summary = fields[0], fields[2]
            if flag == "=":
                return "up-to-date"
            if flag in (" ", "*", "+"):
                return "ok"
            if flag == "!" and re.search(r"fetch first|non-fast-forward|stale|lock|failed to update|"
                                         r"incorrect old value", summary):
                return "rejected"
            raise SyncError(f"the remote refused refs/vault/main: {summary} {_tail(proc.stderr)}")
    if proc.returncode == 0:
        return "ok"
    raise SyncError(f"`git push {remote.name}` failed: {_tail(proc.stderr or proc.stdout)}")


# -- rsync -------------------------------------------------------------------------------------

def _rsh(remote: Remote) -> list[str]:
    base = os.environ.get("RSYNC_RSH") or os.environ.get("GIT_SSH_COMMAND")
    if remote.port is None and base is None:
        return []
    command = base or "ssh"
    if remote.port is not None and "-p" not in shlex.split(command):
        command = f"{command} -p {remote.port}"
    return ["-e", command]


def _is_local(dest: str) -> bool:
    return dest.startswith("/") or not _SCP.match(dest) and "://" not in dest


def rsync(remote: Remote, src: str, dst: str, rel_paths: list[str], advance: Advance | None = None,
          *, extra: Iterable[str] = ()) -> tuple[int, str]:
    """rsync the listed relative paths from ``src`` to ``dst``; returns (exit code, stderr).

    Exit codes 23/24 (some files missing on the sender) are returned, other failures raise.
    """
    if not rel_paths:
        return 0, ""
    if shutil.which("rsync") is None:
        raise SyncError("rsync is not installed; install it (apt-get install rsync / brew install rsync) "
                        "to move blobs")
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as fh:
        fh.write("\n".join(rel_paths) + "\n")
        listing = fh.name
    try:
        cmd = ["rsync", "-rt", "--chmod=D755,F444", f"--files-from={listing}", "--out-format=%n",
               *_rsh(remote), *extra, src, dst]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if advance is not None and not line.rstrip().endswith("/"):
                advance(1)
        err = proc.stderr.read()
        code = proc.wait()
    finally:
        os.unlink(listing)
    if code in (0, 23, 24) or (code == 3 and "change_dir" in err):  # 3: the source folder is absent
        return code, err
    raise SyncError(f"rsync to/from {remote.blobs} failed (exit {code}): {_tail(err)}; "
                    f"check that the host is reachable, set `git config vault.{remote.name}.blobs`, "
                    "or move records alone with --records-only")


def send_blobs(vault: Vault, remote: Remote, shas: list[str], advance: Advance | None = None) -> int:
    """Copy blobs the remote may lack (``--ignore-existing``); returns the bytes offered."""
    dest = remote.require_blobs()
    if _is_local(dest):
        Path(dest).mkdir(parents=True, exist_ok=True)
    store = BlobStore(vault.paths.objects_dir)
    rel = [f"{s[:2]}/{s[2:]}" for s in shas]
    for _ in range(3):  # a pusher racing us may create the same bucket folder: run again
        code, err = rsync(remote, f"{store.root}/", dest, rel, advance, extra=["--ignore-existing"])
        if code == 0:
            break
        advance = None
    if code != 0:
        raise SyncError(f"rsync could not send every blob to {dest}: {_tail(err)}")
    return sum(store.path(s).stat().st_size for s in shas)


@dataclass
class Received:
    installed: list[str]
    bytes: int
    bad: list[str]
    missing: list[str]


def receive_blobs(vault: Vault, remote: Remote, shas: list[str], advance: Advance | None = None) -> Received:
    """rsync blobs into a staging folder, verify each sha256, install only the good ones."""
    src = remote.require_blobs()
    staging = staging_dir(vault)
    try:
        rsync(remote, src, f"{staging}/", [f"{s[:2]}/{s[2:]}" for s in shas], advance)
        return install_verified(vault, staging, shas)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
        if not staged.is_file():
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


def _tail(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
