"""`git vault hooks install [--push] | uninstall | status`, and `git vault hook <name>` (what the
installed shims call)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitvault.gitlink import ALL_HOOKS

if TYPE_CHECKING:  # imported where used: `git vault -h` lists this module's commands without it
    from gitvault.gitlink import hookinstall


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hooks", help="install or remove the git hooks that link runs to commits",
                       description="Manage gitvault's git hooks (post-commit and post-rewrite link runs to "
                                   "the commits that hold their code; the opt-in pre-push pushes the vault "
                                   "with the code). Existing hooks keep running, chained before ours.")
    actions = p.add_subparsers(dest="hooks_action", metavar="<action>")
    actions.required = True
    inst = actions.add_parser("install", help="install the hooks (idempotent)")
    inst.add_argument("--push", action="store_true", help="also install pre-push: push the vault with the code")
    inst.add_argument("--in-work-tree", action="store_true",
                      help="write the shims even when core.hooksPath is a folder of your work tree (shared "
                           "with everyone who clones it; without this, the lines to add are printed)")
    inst.set_defaults(func=run_install)
    actions.add_parser("uninstall", help="remove the hooks and put back what was there").set_defaults(func=run_uninstall)
    actions.add_parser("status", help="show which hooks are installed").set_defaults(func=run_status)

    h = sub.add_parser("hook", help="(called by the installed git hooks)")
    h.add_argument("name", choices=ALL_HOOKS)
    h.add_argument("hook_args", nargs=argparse.REMAINDER)
    h.set_defaults(func=run_hook)


def state_line(state: hookinstall.HookState) -> str:
    """``post-commit   installed (chains post-commit.local)``: one hook, what happened or is there."""
    return f"{state.name:<13} {state.action}" + (f" ({state.detail})" if state.detail else "")


def _print(states: list[hookinstall.HookState], folder_note: str) -> None:
    print(folder_note)
    for state in states:
        print(f"  {state_line(state)}")


def run_install(args: argparse.Namespace) -> int:
    from gitvault.gitlink import hookinstall

    states = hookinstall.install(args.directory, push=args.push, in_work_tree_ok=args.in_work_tree)
    _print(states, f"hooks in {hookinstall.hooks_dir(args.directory)}:")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    from gitvault.gitlink import hookinstall

    states = hookinstall.uninstall(args.directory)
    folder = hookinstall.hooks_dir(args.directory)
    if not states:
        print(f"no gitvault hooks in {folder}")
        return 0
    _print(states, f"hooks in {folder}:")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Exit status 1 when an installed shim cannot start gitvault (so scripts can check it)."""
    from gitvault.gitlink import hookinstall

    folder, states = hookinstall.status(args.directory)
    _print(states, f"hooks in {folder}:")
    return 1 if any(s.action == "installed but cannot start" for s in states) else 0


def run_hook(args: argparse.Namespace) -> int:
    import os

    from gitvault.hooks import main

    if args.directory:
        os.chdir(args.directory)
    return main([args.name, *args.hook_args])
