"""How to run a run again, in one line of shell (`Query.get_run`'s ``rerun``).

Built from what the run captured at its start (`gitvault.runs.capture.run_facts`): ``env.command``
(the interpreter's arguments, the command line already redacted), ``env.cwd`` (relative to the
repository) and its code: a clean run at a commit is rerun from ``git checkout <sha>``; a run with
uncommitted changes, or one linked to a later commit, from ``git vault checkout <run>`` (a new
worktree holding its exact code). None when the run recorded no command (a notebook, ``python -c``,
a run made before gitvault captured commands).
"""

from __future__ import annotations

import shlex
from typing import Any, Mapping


def rerun_command(run_id: str, git: Mapping[str, Any], env: Mapping[str, Any]) -> str | None:
    """``git checkout <sha> && cd sub && python train.py --lr 0.3``, or, for a run whose code is
    not a plain commit, ``git vault checkout <run> --worktree ../rerun-<id8> && cd ../rerun-<id8>/sub
    && ...``; None without a recorded command."""
    command = env.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        return None
    line = shlex.join(command)
    cwd = env.get("cwd")
    cwd = cwd if isinstance(cwd, str) and cwd else "."
    sha = git.get("sha")
    dirty = bool(git.get("dirty"))
    if cwd.startswith("/"):  # ran outside the repository: its code is wherever that was
        return f"cd {shlex.quote(cwd)} && {line}"
    links = [link.get("commit") for link in git.get("links") or [] if isinstance(link, Mapping)]
    if dirty and links and isinstance(links[-1], str):  # committed later, exactly as it ran
        sha, dirty = links[-1], False
    if sha and not dirty:
        where = "" if cwd == "." else f" && cd {shlex.quote(cwd)}"
        return f"git checkout {sha[:12]}{where} && {line}"
    if not sha and not git.get("patch"):
        return f"cd {shlex.quote(cwd)} && {line}" if cwd != "." else line
    tree = f"../rerun-{run_id[-8:].lower()}"
    inside = tree if cwd == "." else f"{tree}/{cwd}"
    return f"git vault checkout {run_id} --worktree {tree} && cd {shlex.quote(inside)} && {line}"
