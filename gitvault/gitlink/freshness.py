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


def read_state(paths: RepoPaths) -> dict[str, Any] | None:
    """The link index as stored, or None (missing, unreadable or of another version)."""
    try:
        data = msgpack.unpackb((paths.data_dir / STATE_FILE).read_bytes(), raw=False)
    except (OSError, ValueError, msgpack.UnpackException):
        return None
    return data if isinstance(data, dict) and data.get("version") == STATE_VERSION else None


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
    state = read_state(paths)
    return state is not None and now is not None and (state.get("tip"), state.get("heads")) == now
