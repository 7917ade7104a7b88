"""Keeping the vault packed: git's own ``git gc --auto``, started in the background when due.

gitvault writes plain loose objects through pygit2 and leaves packing to git. A user who runs git
commands gets ``gc --auto`` from git itself; a vault written only by the SDK (a sweep on a
cluster, no git command in sight) would pile up loose objects, so after each vault commit we ask
git's own question: are there more than ``gc.auto / 256`` loose objects in ``objects/17``? When
there are, one detached ``git gc --auto --quiet`` is started, at most once a minute per repository
(git's ``gc.pid`` lock keeps two from running at once anyway). ``gc.auto = 0`` switches it off, as
it does for git. Nothing here ever waits for gc or fails a commit.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

GC_AUTO_DEFAULT = 6700  # git's default gc.auto
RESTART_AFTER_S = 60.0


def loose_objects_due(common_dir: Path, limit: int = GC_AUTO_DEFAULT) -> bool:
    """git's own estimate (``too_many_loose_objects``): more than ``limit/256`` loose objects in
    the ``17`` fan-out folder."""
    if limit <= 0:
        return False
    try:
        count = sum(1 for name in os.listdir(common_dir / "objects" / "17") if len(name) == 38)
    except OSError:
        return False
    return count > (limit + 255) // 256


def pack_when_due(common_dir: Path, limit: int = GC_AUTO_DEFAULT) -> bool:
    """Start ``git gc --auto --quiet`` in the background when loose objects are due for packing;
    True when one was started. Errors (no git on PATH, a read-only disk) are ignored."""
    if not loose_objects_due(common_dir, limit):
        return False
    stamp = common_dir / "vault" / "gc-started"
    try:
        if time.time() - stamp.stat().st_mtime < RESTART_AFTER_S:
            return False
    except OSError:
        pass
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        subprocess.Popen(
            ["git", f"--git-dir={common_dir}", "gc", "--auto", "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
    except OSError:
        return False
    return True


def loose_object_count(common_dir: Path) -> int:
    """Loose objects in the repository (what ``git count-objects`` calls ``count``)."""
    total = 0
    objects = common_dir / "objects"
    for bucket in range(256):
        try:
            total += sum(1 for name in os.listdir(objects / f"{bucket:02x}") if len(name) == 38)
        except OSError:
            continue
    return total
