"""Facts captured when a run starts: the code it ran (git) and where it ran (host, python, packages).

The work tree's state is read in-process with libgit2 on a private in-memory copy of the index
(the equivalent of ``GIT_INDEX_FILE=tmp git add -A && git write-tree``): the user's index file is
never written. ``tree`` is the id the work tree would have if committed (tracked and untracked,
non-ignored files), so the post-commit hook can link the run to the commit that holds exactly
this code; ``patch`` is the binary diff HEAD -> that tree, stored as a blob.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import platform
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pygit2

from gitvault.secrets import scan as secretscan
from gitvault.storage.blobs import BlobStore
from gitvault.storage.repo import RepoPaths

MAX_UNTRACKED_BYTES = 10 * 1024 * 1024
# untracked files whose name says they hold credentials: never copied into a run's patch
CREDENTIAL_NAMES = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.p12",
    "*.pfx", "*.jks", "*.keystore", ".netrc", "_netrc", ".pypirc", ".npmrc", ".git-credentials",
    ".htpasswd", "credentials*", "*secret*", "*service-account*.json",
    "*service_account*.json", "*.kdbx", ".boto", ".s3cfg", "kubeconfig*", ".dockercfg",
)
CAPTURE_MODES = ("none", "safe", "all")
KEY_PACKAGES = (
    "numpy", "torch", "jax", "jaxlib", "tensorflow", "polars", "pyarrow", "zarr", "scikit-learn",
    "transformers", "gitvault",
)


@functools.lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname() or "localhost"


@functools.lru_cache(maxsize=1)
def env_facts() -> dict[str, Any]:
    """Python, platform and versions of key packages (read from metadata; nothing is imported)."""
    return {"python": platform.python_version(), "platform": _platform(), "packages": package_versions()}


def _platform() -> str:
    """Like ``platform.platform()`` ("Linux-6.1.0-x86_64-with-glibc2.36") without its slow libc probe."""
    u = platform.uname()
    text = f"{u.system}-{u.release}-{u.machine}"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    return f"{text}-with-{libc.replace(' ', '')}" if libc else text


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Versions of the installed ``names``. One listdir per ``sys.path`` entry finds the
    ``<name>-<version>.dist-info`` folders (first on the path wins, as for imports); only
    packages found without a version in the folder name ask importlib.metadata."""
    wanted = {_normalize(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in listing:
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            stem = folder.rsplit(".", 1)[0]
            dist, _, rest = stem.partition("-")
            name = wanted.get(_normalize(dist))
            if name is None or name in found:
                continue
            version = rest.split("-", 1)[0] if folder.endswith(".egg-info") else rest
            if not version:
                import importlib.metadata

                try:
                    version = importlib.metadata.version(name)
                except importlib.metadata.PackageNotFoundError:
                    continue
            found[name] = version
    return {n: found[n] for n in names if n in found}


_REPOS: dict[tuple[int, str], pygit2.Repository] = {}
_LOCK = threading.Lock()
_PATCHES: dict[tuple[str, str], str] = {}  # (HEAD tree, work tree) -> patch blob: same trees, same patch


def _reset_after_fork() -> None:
    global _LOCK
    _LOCK = threading.Lock()
    _REPOS.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def git_facts(paths: RepoPaths, blobs: BlobStore) -> dict[str, Any]:
    """HEAD sha, branch, dirty flag, patch blob (or None) and would-be tree of the work tree."""
    with _LOCK:  # one private Repository (and in-memory index) per process and repository
        key = (os.getpid(), str(paths.git_dir))
        repo = _REPOS.get(key)
        if repo is None:
            repo = _REPOS[key] = pygit2.Repository(str(paths.git_dir))
        for attempt in range(3):
            try:
                return _git_facts(repo, blobs)
            except (OSError, pygit2.GitError, KeyError):
                # git gc / repack / prune-packed changed the object store under this handle (a
                # deleted pack, an emptied objects/xx folder): drop its view and look again
                if attempt == 2:
                    raise
                repo.free()
        raise AssertionError("unreachable")


def credential_shaped(path: str) -> bool:
    """True when a file's name (any folder of its path) says it holds credentials."""
    return any(fnmatch.fnmatch(part.lower(), pattern) for part in path.split("/") for pattern in CREDENTIAL_NAMES)


def capture_mode(repo: pygit2.Repository) -> str:
    """``git config vault.captureUntracked``: none, safe (the default) or all."""
    try:
        mode = str(repo.config["vault.captureUntracked"]).strip().lower()
    except (KeyError, pygit2.GitError):
        return "safe"
    return mode if mode in CAPTURE_MODES else "safe"


_SCANNED: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime) -> detector or None
MAX_SCANNED_BYTES = 2 * 1024 * 1024


def secret_in_file(path: Path, relpath: str) -> str | None:
    """The detector that fires on an untracked file's text, or None (binary files and files over
    ``MAX_SCANNED_BYTES`` are not read: data, not credentials). Remembered per size and mtime,
    so a run start re-reads only files that changed."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SCANNED:
        if len(_SCANNED) > 4096:
            _SCANNED.clear()
        found = None
        if st.st_size <= MAX_SCANNED_BYTES:
            try:
                data = path.read_bytes()
            except OSError:
                data = b"\0"
            if b"\0" not in data[:8192]:
                findings = secretscan.scan_text(data.decode("utf-8", "replace"), relpath, filename=relpath)
                found = findings[0].detector if findings else None
        _SCANNED[key] = found
    return _SCANNED[key]


def _work_tree(repo: pygit2.Repository, head_tree: pygit2.Tree | None
               ) -> tuple[pygit2.Oid, list[str], list[tuple[str, str]]]:
    """The tree ``git add -A && git write-tree`` would give (HEAD's own when nothing differs),
    built on this Repository object's private in-memory index (never written back). Untracked
    files larger than ``MAX_UNTRACKED_BYTES`` (datasets, checkpoints) are left out and listed
    instead: hashing them into ``.git/objects`` at every run would cost more than the run."""
    status = repo.status(untracked_files="all")  # against the in-memory index, kept equal to the file
    if not status and head_tree is not None:
        return head_tree.id, [], []
    mode = capture_mode(repo)
    index = repo.index
    index.read(True)
    skipped: list[str] = []
    credentials: list[tuple[str, str]] = []  # (path, why it was left out)
    workdir = Path(repo.workdir)
    fs = pygit2.enums.FileStatus
    try:
        for path, flags in sorted(status.items()):
            if flags & fs.WT_DELETED:
                index.remove(path)
            elif flags & (fs.WT_MODIFIED | fs.WT_TYPECHANGE):
                index.add(path)
            elif flags & fs.WT_NEW:
                if mode == "none":
                    continue
                if mode == "safe" and credential_shaped(path):
                    credentials.append((path, "credential-shaped name"))
                    continue
                try:
                    size = (workdir / path).lstat().st_size
                except OSError:
                    continue
                if size > MAX_UNTRACKED_BYTES:
                    skipped.append(path)
                    continue
                detector = secret_in_file(workdir / path, path) if mode == "safe" else None
                if detector is not None:
                    credentials.append((path, f"secret found: {detector}"))
                else:
                    index.add(path)
        return index.write_tree(), skipped, credentials
    finally:
        index.read(True)  # drop the additions: the next run's status must compare with the index file


def _git_facts(repo: pygit2.Repository, blobs: BlobStore) -> dict[str, Any]:
    facts: dict[str, Any] = {"sha": None, "branch": None, "dirty": False, "patch": None, "tree": None}
    head_tree: pygit2.Tree | None = None
    try:
        head_ref = repo.lookup_reference("HEAD")
        target = head_ref.target
        if isinstance(target, str) and target.startswith("refs/heads/"):
            facts["branch"] = target[len("refs/heads/"):]
    except (KeyError, pygit2.GitError):
        pass
    if not repo.head_is_unborn:
        commit = repo.head.peel(pygit2.Commit)
        facts["sha"] = str(commit.id)
        head_tree = commit.tree
    if repo.is_bare or repo.workdir is None:
        facts["tree"] = str(head_tree.id) if head_tree is not None else None
        return facts
    tree_id, skipped, credentials = _work_tree(repo, head_tree)
    facts["tree"] = str(tree_id)
    if skipped:
        facts["untracked_skipped"] = skipped
    if credentials:  # named, never copied: `git config vault.captureUntracked all` takes them anyway
        facts["untracked_left_out"] = [{"path": p, "why": why} for p, why in credentials]
    head_id = head_tree.id if head_tree is not None else None
    if tree_id != head_id:
        facts["dirty"] = True
        key = (str(head_id), str(tree_id))
        if key in _PATCHES and blobs.has(_PATCHES[key]):
            facts["patch"] = _PATCHES[key]
            return facts
        new_tree = repo[tree_id].peel(pygit2.Tree)
        if head_tree is not None:
            diff = head_tree.diff_to_tree(new_tree, flags=pygit2.enums.DiffOption.SHOW_BINARY)
        else:
            diff = new_tree.diff_to_tree(swap=True, flags=pygit2.enums.DiffOption.SHOW_BINARY)
        data = b"".join(patch.data for patch in diff if patch is not None)
        if data:
            facts["patch"] = _PATCHES[key] = blobs.put_bytes(data)
    return facts
