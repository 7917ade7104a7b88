"""`git vault gc`: delete blobs that no record references, after a grace window."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from gitvault.cli.output import print_json
from gitvault.sizes import human_size

if TYPE_CHECKING:
    from gitvault.integrity.checks import GcEntry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gc", help="delete unreferenced blobs older than a grace window",
                       description="Delete blobs in the blob store (.git/vault/objects) that no commit of refs/vault/*, "
                                   "refs/vault-remotes/*, their reflogs or a live run references. A blob "
                                   "younger than the grace window is always kept: a writer may be about "
                                   "to commit the record that references it.")
    p.add_argument("--grace", default=None, metavar="DAYS",
                   help="keep unreferenced blobs younger than this many days (default 14)")
    p.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    p.add_argument("--force", action="store_true",
                   help="collect even when some records cannot be read (their blobs may be lost)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _line(verb: str, entry: GcEntry, why: str) -> str:
    return f"{verb:<12} {entry.name}  {human_size(entry.size):>10}  {why} ({entry.age_days:.1f} days old)"


def parse_grace_days(text: str) -> dt.timedelta:
    """``--grace DAYS`` (a number, fractions allowed) as a timedelta."""
    try:
        days = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"--grace takes a number of days such as 14 or 0.5, got {text!r}") from None
    if days != days or days in (float("inf"), float("-inf")) or days < 0:
        raise ValueError(f"--grace must be a non-negative number of days, got {text!r}")
    return dt.timedelta(days=days)


def run(args: argparse.Namespace) -> int:
    from gitvault.integrity.checks import DEFAULT_GRACE, gc
    from gitvault.storage.vault import Vault

    grace = DEFAULT_GRACE if args.grace is None else parse_grace_days(args.grace)
    report = gc(Vault.open(args.directory), grace=grace, dry_run=args.dry_run, force=args.force)
    if args.json:
        print_json(report.to_dict())
        return 1 if report.blocked else 0
    verb = "would remove" if args.dry_run or report.blocked else "removed"
    for entry in report.removed:
        print(_line(verb, entry, "unreferenced"))
    for entry in report.removed_temps:
        print(_line(verb, entry, "unfinished write"))
    for entry in report.kept_young:
        print(_line("kept", entry, f"unreferenced but inside the {report.grace_days:g}-day grace window"))
    for note in report.skipped_sources + report.unreadable:
        print(f"note: {note}")
    total = len(report.removed) + len(report.removed_temps)
    print(f"gc: {verb} {total} file{'s' if total != 1 else ''} ({human_size(report.removed_bytes)}); "
          f"kept {report.referenced} referenced blob{'s' if report.referenced != 1 else ''} "
          f"({human_size(report.referenced_bytes)}) and {len(report.kept_young)} young unreferenced "
          f"({human_size(sum(e.size for e in report.kept_young))})")
    if report.blocked:
        print(f"gc: {report.blocked}. Run `git vault fsck`, or pass --force to collect anyway")
        return 1
    return 0
