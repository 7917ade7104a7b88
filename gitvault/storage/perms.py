"""File and folder modes as git gives its own objects: the umask, then ``core.sharedRepository``.

git's rule (``git_config_perm`` in setup.c, ``calc_shared_perm``/``adjust_shared_perm`` in path.c):
a file is created 0444 (immutable, like a loose object) or 0666 (mutable) less the umask, a folder
0777 less the umask. A shared repository then changes the bits of what was created: ``group``
(``true``, ``1``) adds g+rw, ``all`` (``world``, ``everybody``, ``2``) adds g+rw and o+r, and an
octal such as ``0640`` replaces the permission bits with exactly those; a file without u+w (a blob)
gets no write bit that way, a folder gets x wherever it has r, and setgid when its group may use it,
so what others create in it stays in the group. ``false``, ``umask`` and ``0`` keep the umask alone.

The umask is read once per process (from ``/proc/self/status``: reading it with ``os.umask`` means
setting it, which races with other threads creating files) and the setting once per repository,
from its git config as git reads it (``core.sharedRepository`` set later is seen by new processes).
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


PERM_UMASK = 0
PERM_GROUP = 0o660
PERM_EVERYBODY = 0o664
_TRUE = {"true", "yes", "on"}


def _read_umask() -> int:
    """This process's umask: read from ``/proc`` (Linux 4.7+) without changing it; elsewhere set
    and restored once."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # at import, before this process has threads of ours creating files
    os.umask(old)
    return old


UMASK = _read_umask()


def parse_shared(value: str | None) -> int:
    """``core.sharedRepository`` as git reads it: 0 (umask), `PERM_GROUP`, `PERM_EVERYBODY`, or the
    negated octal mode. A key without a value means ``true``; a value git refuses (an octal without
    u+rw, an unknown word) is taken as 0 here, the narrowest choice."""
    if value is None:
        return PERM_GROUP
    text = value.strip().lower()
    if text == "umask":
        return PERM_UMASK
    if text == "group":
        return PERM_GROUP
    if text in ("all", "world", "everybody"):
        return PERM_EVERYBODY
    try:
        number = int(text or "0", 8)
    except ValueError:
        return PERM_GROUP if text in _TRUE else PERM_UMASK
    if number in (0, 1, 2):
        return (PERM_UMASK, PERM_GROUP, PERM_EVERYBODY)[number]
    if number & 0o600 != 0o600:
        return PERM_UMASK
    return -(number & 0o666)


@functools.lru_cache(maxsize=64)
def shared_setting(git_dir: Path) -> int:
    """The parsed ``core.sharedRepository`` of the repository at ``git_dir`` (cached per process)."""
    import pygit2  # on first use: a reader that writes nothing never loads libgit2

    try:
        config = pygit2.Repository(str(git_dir)).config
        return parse_shared(config["core.sharedRepository"])
    except (KeyError, pygit2.GitError, ValueError):
        return PERM_UMASK


def shared_mode(shared: int, mode: int, *, folder: bool = False) -> int:
    """``mode`` as ``adjust_shared_perm`` leaves it (bits other than rwx, such as setgid, are kept)."""
    if shared == PERM_UMASK:
        return mode
    tweak = -shared if shared < 0 else shared
    if not mode & stat.S_IWUSR:
        tweak &= ~0o222
    if mode & stat.S_IXUSR:
        tweak |= (tweak & 0o444) >> 2
    new = (mode & ~0o777) | tweak if shared < 0 else mode | tweak
    if folder:
        new |= (new & 0o444) >> 2
        if new & 0o060:
            new |= stat.S_ISGID
    return new


@dataclass(frozen=True)
class Perms:
    """The modes one repository gives new files and folders."""

    shared: int = PERM_UMASK
    umask: int = UMASK

    def file_mode(self, *, readonly: bool = False) -> int:
        """A new file's mode: an immutable one (blob) starts at 0444, a mutable one at 0666."""
        return shared_mode(self.shared, (0o444 if readonly else 0o666) & ~self.umask)

    def dir_mode(self) -> int:
        """A new folder's mode: 0777 less the umask, then the shared bits (x where r, setgid)."""
        return shared_mode(self.shared, 0o777 & ~self.umask, folder=True)

    def open(self, path: Path | str, flags: int, *, readonly: bool = False) -> int:
        """``os.open`` with ``O_CREAT`` and git's mode (shared bits added at once, before any data)."""
        fd = os.open(path, flags | os.O_CREAT, 0o444 if readonly else 0o666)
        if self.shared:
            try:
                self._adjust(os.fstat(fd).st_mode, lambda mode: os.fchmod(fd, mode))
            except BaseException:
                os.close(fd)
                raise
        return fd

    def write(self, path: Path, data: bytes) -> None:
        """Create or overwrite the mutable file ``path`` with ``data``."""
        fd = self.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    def make_dirs(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents with git's folder mode; like
        ``mkdir(parents=True, exist_ok=True)``, folders that exist are left as they are."""
        folder = Path(folder)
        try:
            os.mkdir(folder, 0o777)
        except FileExistsError:
            if not folder.is_dir():
                raise
            return
        except FileNotFoundError:
            if folder.parent == folder:
                raise
            self.make_dirs(folder.parent)
            return self.make_dirs(folder)
        self.adjust(folder)

    def adjust(self, path: Path | str) -> None:
        """Add a shared repository's bits to a file or folder someone else's code created (SQLite,
        DuckDB, a rename from elsewhere): git's ``adjust_shared_perm``. Nothing to do without a shared
        setting; a link, a missing path or another user's file is left alone."""
        if not self.shared:
            return
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            return
        self._adjust(st.st_mode, lambda mode: os.chmod(path, mode))

    def _adjust(self, st_mode: int, chmod: Callable[[int], None]) -> None:
        mode = stat.S_IMODE(st_mode)
        new = shared_mode(self.shared, mode, folder=stat.S_ISDIR(st_mode))
        if new != mode:
            try:
                chmod(new)
            except OSError as exc:  # another member of the group made it (and adjusted it), or a
                if exc.errno not in (errno.EPERM, errno.EACCES, errno.EROFS):  # read-only disk
                    raise


@functools.lru_cache(maxsize=64)
def for_git_dir(git_dir: Path) -> Perms:
    """The rules of the repository whose (common) git dir is ``git_dir``."""
    return Perms(shared_setting(Path(git_dir)))


@functools.lru_cache(maxsize=256)
def for_path(folder: Path) -> Perms:
    """The rules for what gitvault creates in ``folder``: ``<git-dir>/vault/<name>`` and
    ``<git-dir>/gitvault`` follow ``<git-dir>``, ``<work-tree>/.extract`` follows the work tree's
    repository; any other folder (``git config vault.cacheDir``) follows the umask alone."""
    folder = Path(folder)
    candidates = [folder.parent.parent] if folder.parent.name == "vault" else []
    candidates += [folder.parent, _dot_git(folder.parent / ".git")]
    for candidate in candidates:
        if (candidate / "HEAD").is_file():
            try:  # a linked worktree's git dir: the setting is the common dir's
                candidate = (candidate / (candidate / "commondir").read_text().strip()).resolve()
            except OSError:
                pass
            return for_git_dir(candidate)
    return Perms()


def _dot_git(path: Path) -> Path:
    """A ``.git`` folder, or where a ``.git`` file (``gitdir: ...``) points."""
    try:
        text = path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return path
    if text.startswith("gitdir:"):
        target = Path(text[len("gitdir:"):].strip())
        return target if target.is_absolute() else path.parent / target
    return path
