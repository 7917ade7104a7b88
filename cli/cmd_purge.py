"""`git vault purge RUN|BLOB [--field FIELD]`: remove a leaked run, field or blob, then send the
rewrite to the remotes this vault syncs with."""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from gitvault.errors import SyncError

if TYPE_CHECKING:
    from gitvault.storage.vault import Vault


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "purge", help="remove a leaked run, field or blob from the vault's history, here and on its remotes",
        description="Remove a run (its record, events and the blobs only it uses), one field of a run "
        "(--field config.api_key, argv, notes, git.patch, ...) or a blob (its sha256) from refs/vault/main's "
        "whole history and from the blob store. The purge is a record that travels: a teammate's next pull "
        "applies it there too. The rewrite is pushed to every remote this vault has synced with, replacing "
        "the remote's history only while it is as last fetched (--force-with-lease). Rotate the credential: "
        "copies may exist.")
    p.add_argument("target", metavar="RUN|BLOB", help="a run id (or unique prefix) or a blob's sha256")
    p.add_argument("--field", default=None, metavar="FIELD",
                   help="purge only this field of the run (dotted path: config.openai.api_key, argv[2], notes)")
    p.add_argument("--no-push", action="store_true", help="purge here only; the next `git vault push` sends it")
    p.set_defaults(func=run_purge)


def run_purge(args: argparse.Namespace) -> int:
    from gitvault.secrets import purge
    from gitvault.sync.exchange import push_report, routes_for
    from gitvault.sync.transport import resolve_remote
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    report = purge.purge(vault, args.target, args.field)
    print(f"purged {report.what}: {report.rewritten} vault commit(s) rewritten, "
          f"{len(report.blobs)} blob(s) deleted here")
    status = 0
    remotes = [] if args.no_push else _synced_remotes(vault)
    for name in remotes:
        try:  # the records first: a refused push must not leave a remote's records without their blobs
            push_report(args.directory, name)
            print(f"sent the rewrite to {name}")
            large = routes_for(vault, resolve_remote(vault, name)).large
            if large is not None and report.blobs:
                gone = large.delete(report.blobs)
                print(f"deleted {len(gone)} blob(s) from {large.where}")
        except SyncError as exc:
            sys.stderr.write(f"git vault: error: {name}: {exc}\n")
            status = 1
    if not remotes and not args.no_push:
        print("no remote has this vault yet: nothing to send")
    for note in report.notes:
        sys.stderr.write(f"git vault: warning: {note}\n")
    return status


def _synced_remotes(vault: Vault) -> list[str]:
    """Remotes this vault has pushed to or pulled from (they have tracking refs)."""
    from gitvault.sync.transport import TRACKING_PREFIX

    prefix = TRACKING_PREFIX + "/"
    names = {ref[len(prefix):].rsplit("/", 1)[0] for ref in vault.repo.references if ref.startswith(prefix)}
    configured = set(vault.repo.remotes.names())
    return sorted(n for n in names if n in configured)
