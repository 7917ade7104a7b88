"""The one inter-process lock: ``fcntl.flock`` on a file, blocking with a timeout.

The kernel releases a flock when its process dies, so a crash never leaves a stale lock behind
(unlike PID files).
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gitvault.storage import perms
from gitvault.errors import LockTimeoutError

DEFAULT_TIMEOUT_S = float(os.environ.get("GITVAULT_LOCK_TIMEOUT", "120"))


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
        yield True
    finally:
        os.close(fd)
