"""`git vault checkout <run> [--worktree DIR]`: the exact code a run ran, in a new git worktree
(`gitvault.gitlink.checkout`). Your current work tree, index and branch are never touched."""

from __future__ import annotations

import argparse
from pathlib import Path


EXTRA = "query"  # its commands read through gitvault.query

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("checkout", help="recreate a run's exact code in a new git worktree",
                       description="Create a git worktree at the run's commit and apply the run's "
                                   "uncommitted changes, so it holds exactly the code the run ran. "
                                   "Your current work tree is not touched.")
    p.add_argument("run", help="run id or unique prefix")
    p.add_argument("--worktree", metavar="DIR", default=None,
                   help="where to create the worktree (default: ../<repo>-run-<shortid>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.gitlink import checkout, linking
    from gitvault.query import Query
    from gitvault.storage.vault import Vault

    try:  # links made by commits that ran no hook are needed to find a rewritten run's code
        linking.catch_up(Vault.open(args.directory))
    except Exception:  # noqa: BLE001 - the run's own commit and patch still work
        pass
    with Query(args.directory) as q:
        vault = q.vault
        record = q.get_run(q.resolve_run(args.run))
    target, code = checkout.checkout(vault, record, Path(args.worktree) if args.worktree else None)
    label = record.get("label") or record.get("experiment_path")
    print(f"checked out run {record['id']} ({label}) into {target}")
    print(f"  code: {code.how}")
    return 0
