"""The one inter-process lock: ``fcntl.flock`` on a file, blocking with a timeout.

The kernel releases a flock when its process dies, so a crash never leaves a stale lock behind
(unlike PID files). Locks are an optimisation, never a condition: on a file system that has none
(Lustre without ``-o flock`` answers ENOSYS, NFS without lockd ENOLCK) `file_lock` goes on
unlocked after one warning naming the file system, and correctness comes from what git itself
relies on: the ref's compare-and-swap under git's ``.lock`` file (`Vault.advance` then retries
for as long as a lock would have waited).
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gitvault.storage import perms
from gitvault.errors import LocksUnavailableWarning, LockTimeoutError

DEFAULT_TIMEOUT_S = float(os.environ.get("GITVAULT_LOCK_TIMEOUT", "120"))

NO_LOCKS = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL})
"""What ``flock`` answers on a file system without locks."""

_unlocked: dict[str, str] = {}  # mount point -> file system type, where flock was seen to fail


def unsupported(exc: OSError, path: Path) -> bool:
    """True when ``exc`` says the file system of ``path`` has no locks; warns once per file system."""
    if exc.errno not in NO_LOCKS:
        return False
    mount, kind = file_system_of(path)
    if mount not in _unlocked:
        _unlocked[mount] = kind
        warnings.warn(f"gitvault: {mount} ({kind}) has no file locks ({os.strerror(exc.errno or 0)}); "
                      "going on without them: the vault's ref is updated by compare-and-swap, no run is lost",
                      LocksUnavailableWarning, stacklevel=3)
    return True


def excludes(path: Path) -> bool:
    """False once a lock on ``path``'s file system was seen to fail in this process."""
    return file_system_of(path)[0] not in _unlocked


NETWORK_FILE_SYSTEMS = frozenset({"nfs", "nfs4", "lustre", "gpfs", "beegfs", "ceph", "cifs", "smb3", "smbfs",
                                  "afs", "glusterfs", "9p", "panfs", "pvfs2", "orangefs", "fuse"})
"""Network and cluster file systems (``statfs`` types as /proc/mounts names them; any ``fuse.*``
too, e.g. sshfs): SQLite's WAL needs memory shared on one host, and their locks may fail or stay on
one node, so the caches are kept on node-local storage there."""


def on_network_file_system(path: Path) -> bool:
    kind = file_system_of(path)[1]
    return kind in NETWORK_FILE_SYSTEMS or kind.startswith("fuse.")


def file_system_of(path: Path) -> tuple[str, str]:
    """(mount point, file system type) of ``path`` from ``/proc/self/mounts``; ("?", "unknown") elsewhere."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "?", "unknown"
    target = os.path.realpath(path)
    best = ("/", "unknown")
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
            best = (mount, fields[2])
    return best


@contextmanager
def file_lock(path: Path, *, timeout: float | None = None, wait: bool = True,
              holder_hint: str = "is a `git vault` command stuck?") -> Iterator[bool]:
    """Hold an exclusive flock on ``path``; yields True once held. With ``wait=False`` it yields
    False at once when another process holds it. Raises `LockTimeoutError` past ``timeout``."""
    limit = DEFAULT_TIMEOUT_S if timeout is None else timeout
    modes = perms.for_path(path.parent)  # git's modes: a shared repository's group can take the lock
    try:
        fd = modes.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        modes.make_dirs(path.parent)
        fd = modes.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + limit
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    yield False
                    return
                if time.monotonic() > deadline:
                    raise LockTimeoutError(
                        f"another process held {path} for over {limit:.0f} s; {holder_hint} "
                        "(set GITVAULT_LOCK_TIMEOUT to wait longer)"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
            except OSError as exc:
                if not unsupported(exc, path):
                    raise
                break  # no locks here: go on without (see the module's docstring)
        yield True
    finally:
        os.close(fd)
