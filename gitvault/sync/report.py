"""What a push, pull, import or merge did (`SyncReport`), and what follows every merge into this
vault (`after_merge`): the report takes the merge's counts and conflicts, records that arrived
unreadable are named, and ``.extract/config.toml`` and existing caches catch up with the new tip.

Shared by `gitvault.sync.exchange` (push, pull, merge) and `gitvault.sync.archive` (import). The
report holds data; the front-ends word it (`git vault push` and friends: ``cli/cmd_sync.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygit2

from gitvault.settings import LocalConfig
from gitvault.errors import CorruptRecordError
from gitvault.storage import codec, gitobjects, layout
from gitvault.storage.vault import Vault, changed_entities
from gitvault.sync.merge import COUNT_KEYS, MergeResult, iter_entity_trees
from gitvault.sync.transport import Received


@dataclass
class SyncReport:
    """What a push, pull, import or merge moved, and anything the user must know.

    ``how``: what happened to ``refs/vault/main`` (``ok``, ``up-to-date``, ``fast-forward``,
    ``merge``, ``created``, ``dry-run``, ``remote-empty``: the remote has no vault yet);
    ``bad``: blobs that arrived damaged (kept in ``<git-common-dir>/vault/bad/``, not installed);
    ``missing``: blobs on neither this machine nor the remote; ``unsent``: blobs the records here
    reference that are not stored here, so a push could not send them; ``secrets``: the suspected
    secrets in what a push sends (or would send); ``notes``: other things worth telling (records
    that arrived unreadable, caches that could not be refreshed, a remote past its blob budget)."""

    remote: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    blobs: int = 0
    blob_bytes: int = 0
    bad: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    how: str = ""

    def as_counts(self) -> dict[str, int]:
        out = {k: self.counts.get(k, 0) + self.sent.get(k, 0) for k in COUNT_KEYS}
        out["blobs"] = self.blobs
        out["blob_bytes"] = self.blob_bytes
        return out

    def absorb(self, received: Received) -> None:
        self.blobs += len(received.installed)
        self.blob_bytes += received.bytes
        self.bad.extend(received.bad)
        self.missing.extend(received.missing)


def quarantined(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> list[str]:
    """Why each record that differs from ``old`` in ``new`` cannot be used (wrong shape, damage)."""
    found = []
    for kind, record_id, tree in iter_entity_trees(repo, old, new):
        if layout.RECORD_FILE in tree:
            try:
                codec.decode(gitobjects.blob_bytes(repo, tree[layout.RECORD_FILE].id), f"{kind} {record_id}")
            except CorruptRecordError as exc:
                found.append(str(exc))
    return found


def after_merge(vault: Vault, result: MergeResult, report: SyncReport) -> None:
    """Fold a merge into ``report`` and bring what derives from the vault up to its new tip."""
    for problem in quarantined(vault.repo, result.previous, result.tip):
        report.notes.append(problem)
    report.how = result.how
    report.conflicts.extend(result.conflicts)
    for key, value in result.added.items():
        report.counts[key] = report.counts.get(key, 0) + value
    if result.how == "created":
        vault.ensure_local_dirs()
    if result.how != "up-to-date":
        local = vault.extract_dir / "config.toml"
        if not local.exists() or changed_entities(vault.repo, result.previous, result.tip)[1]:
            LocalConfig.load(local).sync_from(vault.config())
        note = refresh_caches(vault)
        if note:
            report.notes.append(note)


def refresh_caches(vault: Vault) -> str | None:
    """Bring existing caches up to the new tip (incrementally, from the tree diff); a failure only
    warns. A clone without caches yet is left alone: its first query builds them."""
    from gitvault import extras
    from gitvault.cache import Caches

    caches = Caches(vault)
    if not (caches.sqlite_path.exists() or caches.duckdb_path.exists()):
        return None  # nothing built yet: the first query builds them
    if not extras.available("query"):
        return None  # a base install (a training image) reads no caches: a later query rebuilds them
    try:
        caches.refresh(wait=False)
    except Exception as exc:  # noqa: BLE001 - caches are derived data; the merge already landed
        return f"the caches could not be refreshed ({exc}); run `git vault reindex`"
    return None
