"""Whether the link index (`gitvault.gitlink.linking`) has seen the vault and the branches as they
are now. A read command such as ``git vault log`` links new commits only when something moved, and
finds out by asking git (``git for-each-ref``, ``git rev-parse``) without loading libgit2 (60 ms)."""

from __future__ import annotations

from typing import Any

import msgpack

from gitvault.storage.repo import VAULT_REF, RepoPaths, git_output

STATE_FILE = "linking.msgpack"
"""The link index, in ``<git-common-dir>/vault/``: per-machine, rebuilt from the vault when lost."""
STATE_VERSION = 2


def seen_heads(paths: RepoPaths) -> tuple[str | None, dict[str, str]] | None:
    """(the vault's tip, HEAD and the branches) as the link index last saw them, or None (missing,
    unreadable or of another version). Read from the head of the file alone: the index writes
    these fields before its runs and links (a megabyte at 10,000 runs, 6 ms to decode whole)."""
    wanted = {"version", "tip", "heads"}
    found: dict[str, Any] = {}
    try:
        with open(paths.data_dir / STATE_FILE, "rb") as fh:
            unpacker = msgpack.Unpacker(fh, raw=False)
            for _ in range(unpacker.read_map_header()):
                key = unpacker.unpack()
                if key in wanted:
                    found[key] = unpacker.unpack()
                    if len(found) == len(wanted):
                        break
                else:
                    unpacker.skip()
    except (OSError, ValueError, msgpack.UnpackException):
        return None
    if found.get("version") != STATE_VERSION or not isinstance(found.get("heads"), dict):
        return None
    return found.get("tip"), found["heads"]


def current_heads(paths: RepoPaths) -> tuple[str | None, dict[str, str]] | None:
    """(the vault's tip, HEAD and every local branch), as the link index records them; None when
    git cannot say."""
    refs = git_output(paths.git_dir, "for-each-ref", "--format=%(HEAD)%(objectname) %(refname)", "refs/heads", VAULT_REF)
    if refs is None:
        return None
    heads: dict[str, str] = {}
    tip = None
    for line in refs:
        sha, _, name = line[1:].partition(" ")
        if name == VAULT_REF:
            tip = sha
        else:
            heads[name] = sha
            if line[0] == "*":  # the branch HEAD is on
                heads["HEAD"] = sha
    if "HEAD" not in heads:  # detached (a rebase, a checkout of a commit) or no commit yet
        head = git_output(paths.git_dir, "rev-parse", "-q", "--verify", "HEAD^{commit}")
        if head:
            heads["HEAD"] = head[0]
    return tip, heads


def up_to_date(paths: RepoPaths, now: tuple[str | None, dict[str, str]] | None) -> bool:
    """True when the link index saw the vault's tip, HEAD and every local branch where they are
    ``now`` (`current_heads`)."""
    return now is not None and seen_heads(paths) == now
