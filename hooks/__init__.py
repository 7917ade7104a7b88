"""What gitvault's git hooks do: ``python -m gitvault.hooks post-commit|post-rewrite|pre-push``
(the shims installed by `git vault hooks install` call ``git-vault hook <name>``, the same thing).

post-commit and post-rewrite run in the background (the shim detaches them), link runs to the new
commits (`gitvault.gitlink.linking`) and never fail: problems go to ``.extract/hooks.log`` and the exit
status is 0, also when the vault is locked or damaged. pre-push (opt-in) pushes the vault and its
blobs to the remote the code goes to, in the foreground so its one-line summary is seen; a failed
vault push is reported and logged but never stops the code push.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from gitvault.gitlink.linking import LinkReport
    from gitvault.storage.vault import Vault

HOOKS = ("post-commit", "post-rewrite", "pre-push")
HOOK_LOCK_TIMEOUT_S = 30.0
_PUSHING = "GITVAULT_HOOK_PUSHING"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in HOOKS:
        sys.stderr.write(f"usage: python -m gitvault.hooks {{{'|'.join(HOOKS)}}} [hook arguments]\n")
        return 2
    from gitvault.gitlink import linking
    from gitvault.storage import vault

    if "GITVAULT_LOCK_TIMEOUT" not in os.environ:  # a hook gives up sooner than a command does
        vault.LOCK_TIMEOUT_S = HOOK_LOCK_TIMEOUT_S
    name, args = argv[0], argv[1:]
    if name == "post-commit":
        return run_safely(name, lambda v: linking.catch_up(v, via="post-commit"))
    if name == "post-rewrite":
        kind = args[0] if args else "amend"
        pairs = read_pairs(sys.stdin.read() if not sys.stdin.isatty() else "")
        return run_safely(f"post-rewrite {kind}", linking.post_rewrite, kind, pairs)
    return pre_push(args, sys.stdin.read() if not sys.stdin.isatty() else "")


def run_safely(action: str, fn: Callable[..., LinkReport], *args: Any) -> int:
    """Run ``fn(vault, *args)`` for a hook: logs what it linked, swallows every error, returns 0."""
    from gitvault.gitlink.linking import log_line
    from gitvault.storage.vault import Vault

    vault: Vault | None = None
    try:
        vault = Vault.open()
        if not vault.exists():
            return 0
        started = time.perf_counter()
        report = fn(vault, *args)
        if report.linked or report.orphaned or report.notes:
            log_line(vault, f"{action}: {summary(report)} in {1000 * (time.perf_counter() - started):.0f} ms")
    except Exception:  # the hook never fails a commit
        text = f"{action} failed:\n{traceback.format_exc()}"
        if vault is not None:
            log_line(vault, text)
        else:
            sys.stderr.write(text)
    return 0


def summary(report: LinkReport) -> str:
    """``2 link(s), 2 note(s), 1 new commit(s)``: one check, for the hook log."""
    parts = [f"{len(report.linked)} link(s)", f"{report.notes} note(s)", f"{report.commits_checked} new commit(s)"]
    if report.orphaned:
        parts.append(f"{len(report.orphaned)} orphaned run(s)")
    return ", ".join(parts)


def read_pairs(text: str) -> list[tuple[str, str]]:
    """``<old-sha> <new-sha> [extra]`` lines, as git feeds post-rewrite."""
    pairs = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            pairs.append((fields[0], fields[1]))
    return pairs


def pre_push(args: list[str], refs: str) -> int:
    """Push the vault with the code (``args``: remote name and URL; ``refs``: git's stdin)."""
    if os.environ.get(_PUSHING) or not args:
        return 0
    pushed = [line.split() for line in refs.splitlines() if line.strip()]
    code = [f for f in pushed if len(f) >= 4 and not f[0].startswith(("refs/vault", "refs/notes/"))
            and f[0] != "(delete)" and set(f[1]) != {"0"}]
    if pushed and not code:
        return 0
    from gitvault.gitlink import linking
    from gitvault.sync import exchange as sync
    from gitvault.storage.vault import Vault

    remote = args[0]
    try:
        vault = Vault.open()
        if not vault.exists():
            return 0
        os.environ[_PUSHING] = "1"
        report = sync.push_report(None, remote)
        records = sum(v for k, v in report.sent.items() if k not in ("events", "conflicts"))
        sys.stderr.write(f"gitvault: vault pushed to {remote} ({report.how}: {records} record(s), "
                         f"{report.blobs} blob(s))\n")
    except Exception as exc:  # the code push goes on
        sys.stderr.write(f"gitvault: the vault was not pushed to {remote}: {exc}; "
                         f"run `git vault push {remote}` (details in .extract/hooks.log)\n")
        try:
            linking.log_line(Vault.open(), f"pre-push to {remote} failed: {exc!r}")
        except Exception:
            pass
    return 0
