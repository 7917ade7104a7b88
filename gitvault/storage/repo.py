"""Finding the git repository a path belongs to, and where the vault's local files live.

Worktrees of one repository share one vault. What cannot be rebuilt lives inside the common git
dir, where ``git clean -fdx``, ``git stash --all`` and ``rm -rf .extract`` never reach (as git-lfs
keeps ``.git/lfs/objects``): blobs in ``<git-common-dir>/vault/objects`` and live spools in
``<git-common-dir>/vault/live``. The ``.extract/`` folder in the main work tree holds only caches
and the local view config, plus ``.extract/objects``, a link to the blob store kept for the seed's
tools and for people browsing. Vaults made before this layout are moved over by `prepare_local`.
"""

from __future__ import annotations

import functools
import os
import subprocess
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitvault.storage import localdir, perms
from gitvault.errors import NotARepositoryError

if TYPE_CHECKING:
    import pygit2

VAULT_REF = "refs/vault/main"
EXTRACT_DIR = ".extract"


@dataclass(frozen=True)
class RepoPaths:
    """Where one repository keeps its git data and its gitvault files."""

    git_dir: Path
    common_dir: Path
    work_tree: Path | None
    extract_dir: Path
    cache_configured: bool = False  # `git config vault.cacheDir` chose `extract_dir`
    settings: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """The git config values gitvault reads (`git_settings`), as git gave them at discovery."""

    @property
    def lock_path(self) -> Path:
        return self.common_dir / "vault.lock"

    @property
    def data_dir(self) -> Path:
        """Durable local data that is not a git object: ``<git-common-dir>/vault``."""
        return self.common_dir / "vault"

    @property
    def objects_dir(self) -> Path:
        """The sha256 blob store."""
        return self.data_dir / "objects"

    @functools.cached_property
    def live_dir(self) -> Path:
        """Spools of runs that are not sealed yet: ``<git-common-dir>/vault/live``; or, with
        ``GITVAULT_SPOOL_DIR`` (or ``git config vault.spoolDir``) set, a folder of this repository
        under it, on node-local storage for a shared file system too slow for a flush a second
        (docs/cluster.md: a run there is seen live on that node only, and a node that dies takes
        its unsealed points with it)."""
        chosen = os.environ.get("GITVAULT_SPOOL_DIR", "").strip() or self.settings.get("vault.spooldir", "").strip()
        if not chosen:
            return self.data_dir / "live"
        import hashlib  # only here: every command finds its repository, few choose a spool folder

        base = Path(chosen).expanduser()
        if not base.is_absolute():
            base = (self.work_tree or self.common_dir) / base
        digest = hashlib.sha256(str(self.common_dir.resolve()).encode()).hexdigest()[:20]
        return base / f"gitvault-spool-{digest}"


def discover(start: Path | str | None = None) -> RepoPaths:
    """Find the repository containing ``start`` (default: the current directory), as git does:
    by asking git (``git rev-parse``), so a command that only reads the caches never loads libgit2
    (60 ms). Git's environment variables (``GIT_DIR`` ...) are ignored: ``start`` decides."""
    origin = Path(start if start is not None else os.getcwd()).expanduser()
    if origin.name == EXTRACT_DIR:
        origin = origin.parent
    probe = origin
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    found = git_output(probe, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                       "--is-bare-repository")
    if found is None or len(found) != 3:
        raise NotARepositoryError(
            f"{origin} is not inside a git repository; run `git init` there first "
            "(gitvault keeps its records in the repository's git data)"
        )
    git_dir, common_dir = Path(found[0]).resolve(), Path(found[1]).resolve()
    main_tree: Path | None = None
    if common_dir.name == ".git":
        main_tree = common_dir.parent
    elif found[2] != "true":  # a separate git dir (`git init --separate-git-dir`): git knows the tree
        top = git_output(probe, "rev-parse", "--show-toplevel")
        main_tree = Path(top[0]).resolve() if top else None
    settings = git_settings(probe)
    configured = _cache_dir(settings, main_tree or common_dir)
    extract = configured or (main_tree / EXTRACT_DIR if main_tree else common_dir / "gitvault")
    return RepoPaths(git_dir=git_dir, common_dir=common_dir, work_tree=main_tree, extract_dir=extract,
                     cache_configured=configured is not None, settings=settings)


def git_output(where: Path, *args: str) -> list[str] | None:
    """The lines ``git -C where ARGS`` prints, or None when it fails; git's own environment
    variables are left out so that ``where`` alone decides the repository."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") or k in _GIT_ENV_KEPT or k.startswith("GIT_CONFIG")}  # `git -c` too
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, env=env)
    except OSError:
        return None
    return done.stdout.splitlines() if done.returncode == 0 else None


# identity, trace and config variables the user set keep their meaning
_GIT_ENV_KEPT = {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                 "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT",
                 "GIT_CEILING_DIRECTORIES", "GIT_TRACE", "GIT_EXEC_PATH"}


def read_tip(paths: RepoPaths) -> str | None:
    """The vault's tip (the commit ``refs/vault/main`` names) as git reports it, for readers that
    have not loaded libgit2; None when there is no vault."""
    out = git_output(paths.git_dir, "rev-parse", "-q", "--verify", f"{VAULT_REF}^{{commit}}")
    return out[0] if out else None


def git_settings(where: Path) -> dict[str, str]:
    """The git config values gitvault reads (``vault.*``, ``color.ui``, ``core.pager``; keys as git
    spells them, lower case), from one ``git config`` call."""
    out = git_output(where, "config", "-z", "--get-regexp", r"^(vault\..*|color\.ui|core\.pager)$")
    pairs = (entry.partition("\n") for entry in "\n".join(out or []).split("\0") if entry)
    return {name: value for name, _, value in pairs}


def _cache_dir(settings: dict[str, str], base: Path) -> Path | None:
    """``git config vault.cacheDir``: keep caches somewhere else than ``.extract/`` (e.g. beside a
    foreign Extract store, or on node-local disk when the repository is on a network file system)."""
    value = settings.get("vault.cachedir", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The user's git identity as git resolves it: ``GIT_AUTHOR_NAME``/``GIT_AUTHOR_EMAIL`` first,
    then user.name/user.email, falling back to login@host when none is configured."""
    import pygit2

    env_name, env_email = os.environ.get("GIT_AUTHOR_NAME"), os.environ.get("GIT_AUTHOR_EMAIL")
    try:
        default = repo.default_signature
        if not env_name and not env_email:
            return default
        return pygit2.Signature(env_name or default.name, env_email or default.email)
    except (KeyError, pygit2.GitError):  # no identity configured: rare, so socket is loaded only here
        import socket

        user = env_name or _login()
        email = env_email or f"{user}@{socket.gethostname() or 'localhost'}"
        return pygit2.Signature(user, email)


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return "gitvault"


def exclude_extract_dir(paths: RepoPaths) -> bool:
    """Keep ``.extract/`` out of the user's git via ``info/exclude``; True when a line was added."""
    if paths.work_tree is None:
        return False
    return append_exclude(paths, f"/{EXTRACT_DIR}/", "gitvault: local caches")


def append_exclude(paths: RepoPaths, line: str, comment: str) -> bool:
    """Append ``line`` to ``info/exclude`` unless it is there (the file is never rewritten)."""
    exclude = paths.common_dir / "info" / "exclude"
    existing = exclude.read_text().splitlines() if exclude.exists() else []
    if line in existing:
        return False
    modes = perms.for_git_dir(paths.common_dir)
    modes.make_dirs(exclude.parent)
    with os.fdopen(modes.open(exclude, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC), "a") as fh:
        if existing and existing[-1] != "":
            fh.write("\n")
        fh.write(f"# {comment}\n{line}\n")
    return True


MOVED_DIRS = ("objects", "live")


def prepare_local(paths: RepoPaths) -> None:
    """Move a vault of the old layout (blobs and spools in ``.extract/``) into the git dir, and
    (re)create the ``.extract/objects`` link. Only renames: no large file is copied unless the git
    dir sits on another file system. Safe to run again and after a crash at any point: a folder
    half moved is finished on the next call. Does nothing when ``.extract/`` does not exist yet,
    and never fails on a read-only disk (reads then use whatever is there). In a shared repository
    the vault's folders get the group's bits first (`perms.Perms.adjust`; one stat each), and its
    lock file is made with them (`locks.file_lock` would make it 0644)."""
    modes = perms.for_git_dir(paths.common_dir)
    for folder in (paths.data_dir, paths.objects_dir, paths.live_dir):
        modes.adjust(folder)  # made by a plain mkdir (or by an older gitvault)
    if modes.shared:  # the lock file must open read-write for the whole group
        with suppress(OSError):
            os.close(modes.open(paths.lock_path, os.O_RDONLY | os.O_CLOEXEC))
    extract = paths.extract_dir
    if extract == paths.data_dir or localdir.is_ours(extract) is not True:
        return  # no folder yet, or another program's (an Extract store): never touched
    try:
        for name in MOVED_DIRS:
            old, new = extract / name, paths.data_dir / name
            if old.is_symlink():
                target = Path(os.path.realpath(old))
                if target == Path(os.path.realpath(new)) or not target.is_dir():
                    continue  # the link this function made (or a dangling one: nothing to move)
                if not new.exists() and not new.is_symlink():  # a user's link to a bigger disk:
                    modes.make_dirs(new.parent)  # the store keeps living there
                    new.symlink_to(target, target_is_directory=True)
                else:
                    _move_into(target, new, modes)
                continue
            if old.is_dir():
                _move_into(old, new, modes)
        link = extract / "objects"
        if not link.is_symlink():
            modes.make_dirs(paths.objects_dir)
            try:
                link.symlink_to(os.path.relpath(paths.objects_dir, extract), target_is_directory=True)
            except FileExistsError:
                pass
    except OSError:
        return


def _move_into(old: Path, new: Path, modes: perms.Perms) -> None:
    """Rename ``old`` to ``new``, or, when that cannot be done in one step (``new`` exists, or
    another file system), move every entry of ``old`` that ``new`` lacks. Blobs present on both
    sides are the same content (sha256-named); anything else left in ``old`` stays where it is.
    Folders emptied by the move are removed; no file is deleted unless an equal copy is in place.
    What is created or copied gets the repository's modes (`gitvault.storage.perms`)."""
    modes.make_dirs(new.parent)
    try:
        os.rename(old, new)
        return
    except OSError:
        if not old.exists():
            return
    modes.make_dirs(new)
    for entry in sorted(old.iterdir()):
        target = new / entry.name
        if entry.is_dir() and not entry.is_symlink():
            _move_into(entry, target, modes)
        elif not target.exists() and entry.exists():
            try:
                os.rename(entry, target)
            except OSError:  # another file system: copy to a temp name, then rename into place
                import shutil

                tmp = target.with_name(f".incoming-{os.getpid()}-{entry.name}")
                shutil.copy2(entry, tmp)
                modes.adjust(tmp)
                os.replace(tmp, target)
                entry.unlink()
        elif target.is_file() and entry.is_file() and _is_blob(target) and target.stat().st_size == entry.stat().st_size:
            entry.unlink()  # a blob both sides hold: same sha256 name, same size
    try:
        old.rmdir()  # only when everything moved
    except OSError:
        pass


def _is_blob(path: Path) -> bool:
    """A blob store file: ``objects/<2 hex>/<62 hex>``."""
    return path.parent.parent.name == "objects" and len(path.parent.name) == 2 and len(path.name) == 62
