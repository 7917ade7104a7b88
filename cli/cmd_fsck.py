"""`git vault fsck`: check that every record decodes and every referenced blob is whole."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitvault.cli.output import print_json

if TYPE_CHECKING:
    from gitvault.integrity.checks import FsckReport, Problem


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fsck", help="check records, blobs and vault.toml; exit 1 on any problem",
                       description="Decode every record of refs/vault/main, parse vault.toml and check "
                                   "that every blob a record references exists with the right sha256. "
                                   "Prints one line per problem and a summary; exits 1 if any.")
    p.add_argument("--quick", action="store_true", help="only check that blobs exist (no rehashing)")
    p.add_argument("--repair", action="store_true",
                   help="fetch a good copy of every missing or damaged blob from the remote (a damaged "
                        "file is kept in .git/vault/bad/), then check again")
    p.add_argument("--remote", default=None, help="the remote --repair fetches from (default: upstream, else origin)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.integrity.checks import fsck, repair_blobs
    from gitvault.sync.transport import sweep_interrupted
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    sweep_interrupted(vault)
    report = fsck(vault, hashes=not args.quick)
    if args.repair and not report.ok:
        repaired, failed = repair_blobs(vault, report, args.remote)
        for sha in repaired:
            print(f"repaired: blob {sha} fetched whole from the remote")
        for line in failed:
            print(f"not repaired: {line}")
        report = fsck(vault, hashes=not args.quick)
    if args.json:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            print(problem_line(problem))
        for warning in report.warnings:
            print(f"warning: {problem_line(warning)}")
        print(summary(report))
    return 0 if report.ok else 1


def problem_line(problem: Problem) -> str:
    """``code: message``: the stable code first, for scripts that grep."""
    return f"{problem.code}: {problem.message}"


def summary(report: FsckReport) -> str:
    """``fsck: ok: 3 records, 2 events, 4 blobs (sha256 verified)`` or ``fsck: 2 problems in ...``."""
    checked = (f"{count(report.records, 'record')}, {count(report.events, 'event')}, "
               f"{count(report.blobs_checked, 'blob')} ({'sha256 verified' if report.hashed else 'existence only'})")
    if report.ok:
        return f"fsck: ok: {checked}"
    return f"fsck: {count(len(report.problems), 'problem')} in {checked}"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
