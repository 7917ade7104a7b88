"""Finding the git repository a path belongs to, and where the vault's local files live.

Worktrees of one repository share one vault: the ref lives in the common git dir, and the local
``.extract/`` folder sits in the main work tree, found from the common dir.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitvault.errors import NotARepositoryError

VAULT_REF = "refs/vault/main"
EXTRACT_DIR = ".extract"


@dataclass(frozen=True)
class RepoPaths:
    """Where one repository keeps its git data and its gitvault files."""

    git_dir: Path
    common_dir: Path
    work_tree: Path | None
    extract_dir: Path

    @property
    def lock_path(self) -> Path:
        return self.common_dir / "vault.lock"


def discover(start: Path | str | None = None) -> RepoPaths:
    """Find the repository containing ``start`` (default: the current directory), like git does."""
    origin = Path(start if start is not None else os.getcwd()).expanduser()
    if origin.name == EXTRACT_DIR:
        origin = origin.parent
    probe = origin
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    found = pygit2.discover_repository(str(probe))
    if found is None:
        raise NotARepositoryError(
            f"{origin} is not inside a git repository; run `git init` there first "
            "(gitvault keeps its records in the repository's git data)"
        )
    git_dir = Path(found).resolve()
    common_dir = _common_dir(git_dir)
    if common_dir.name == ".git":
        main_tree: Path | None = common_dir.parent
        extract = main_tree / EXTRACT_DIR
    else:  # bare repository or a separate git dir without a work tree
        repo = pygit2.Repository(str(git_dir))
        main_tree = Path(repo.workdir).resolve() if repo.workdir else None
        extract = (main_tree / EXTRACT_DIR) if main_tree else common_dir / "gitvault"
    return RepoPaths(git_dir=git_dir, common_dir=common_dir, work_tree=main_tree, extract_dir=extract)


def _common_dir(git_dir: Path) -> Path:
    pointer = git_dir / "commondir"
    if pointer.is_file():
        target = Path(pointer.read_text().strip())
        return (target if target.is_absolute() else git_dir / target).resolve()
    return git_dir


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The user's git identity as git resolves it: ``GIT_AUTHOR_NAME``/``GIT_AUTHOR_EMAIL`` first,
    then user.name/user.email, falling back to login@host when none is configured."""
    env_name, env_email = os.environ.get("GIT_AUTHOR_NAME"), os.environ.get("GIT_AUTHOR_EMAIL")
    try:
        default = repo.default_signature
        if not env_name and not env_email:
            return default
        return pygit2.Signature(env_name or default.name, env_email or default.email)
    except (KeyError, pygit2.GitError):
        user = env_name or _login()
        email = env_email or f"{user}@{socket.gethostname() or 'localhost'}"
        return pygit2.Signature(user, email)


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return "gitvault"


def exclude_extract_dir(paths: RepoPaths) -> bool:
    """Keep ``.extract/`` out of the user's git via ``info/exclude``; True when a line was added."""
    if paths.work_tree is None:
        return False
    exclude = paths.common_dir / "info" / "exclude"
    line = f"/{EXTRACT_DIR}/"
    existing = exclude.read_text().splitlines() if exclude.exists() else []
    if line in existing:
        return False
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a") as fh:
        if existing and existing[-1] != "":
            fh.write("\n")
        fh.write(f"# gitvault: local caches and blobs\n{line}\n")
    return True
