"""`git vault fsck`: check that every record decodes and every referenced blob is whole."""

from __future__ import annotations

import argparse

from gitvault.cli.output import print_json
from gitvault.integrity import fsck
from gitvault.vault import Vault


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fsck", help="check records, blobs and vault.toml; exit 1 on any problem",
                       description="Decode every record of refs/vault/main, parse vault.toml and check "
                                   "that every blob a record references exists with the right sha256. "
                                   "Prints one line per problem and a summary; exits 1 if any.")
    p.add_argument("--quick", action="store_true", help="only check that blobs exist (no rehashing)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = fsck(Vault.open(args.directory), hashes=not args.quick)
    if args.json:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            print(problem.line())
        for warning in report.warnings:
            print(f"warning: {warning.line()}")
        print(report.summary())
    return 0 if report.ok else 1
