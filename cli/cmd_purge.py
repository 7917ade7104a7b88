"""`git vault purge RUN|BLOB [--field FIELD]`: remove a leaked run, field or blob, then send the
rewrite to the remotes this vault syncs with."""

from __future__ import annotations

import argparse
import sys

from gitvault.errors import SyncError


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
    from gitvault.sync.exchange import send_purge
    from gitvault.sync.transport import synced_remotes
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    report = purge.purge(vault, args.target, args.field)
    print(f"purged {report.what}: {report.rewritten} vault commit(s) rewritten, "
          f"{len(report.blobs)} blob(s) deleted here")
    status = 0
    remotes = [] if args.no_push else synced_remotes(vault)
    for name in remotes:
        try:
            sent = send_purge(args.directory, name, report.blobs)
        except SyncError as exc:
            sys.stderr.write(f"git vault: error: {name}: {exc}\n")
            status = 1
            continue
        print(f"sent the rewrite to {name}")
        if sent.large is not None:
            print(f"deleted {len(sent.deleted)} blob(s) from {sent.large}")
    if not remotes and not args.no_push:
        print("no remote has this vault yet: nothing to send")
    if report.kept:
        sys.stderr.write(f"git vault: warning: kept {len(report.kept)} blob(s) other records use too "
                         f"({', '.join(k[:12] for k in report.kept)}); if one holds the leak, purge it everywhere: "
                         f"git vault purge {report.kept[0]}\n")
    sys.stderr.write("git vault: warning: the purged data was on this machine and may have been copied (pushed, "
                     "fetched, backed up): rotate any credential it held now; purging does not make it secret "
                     "again\n")
    return status
