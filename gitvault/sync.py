"""Sharing a vault: push, pull, sync, merge and archives (the Extract seed's ``sync`` module).

Records travel as ``refs/vault/main`` through the ``git`` command, blobs through ``rsync`` (see
`gitvault.transport` for where a remote's blobs live). Order is what keeps every clone whole:

- push: blobs first (only those referenced by records the remote-tracking tip lacks), then
  ``git push <remote> refs/vault/main:refs/vault/main`` with no ``+`` and no ``--force``; when the
  remote moved on, pull (fetch, blobs, merge) and try again (bounded).
- pull: ``git fetch <remote> +refs/vault/*:refs/vault-remotes/<remote>/*``, rsync the blobs the new
  records need into a staging folder, verify every sha256 (a damaged blob goes to
  ``<git-common-dir>/vault/bad/``, is reported and never installed), merge (`gitvault.merge`), refresh caches.

Every function takes ``root``: a repository path, a path inside it, or its ``.extract`` folder.
Counts are returned like the seed's ``{table_name: rows_added}``: one key per record kind
(``runs``, ``experiments``, ``models``, ``lineage``, ``todos``, ``links``) plus ``events``,
``conflicts``, ``blobs`` and ``blob_bytes``.
"""

from __future__ import annotations

import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable

import pygit2

from gitvault import codec, layout
from gitvault.blobs import BlobStore
from gitvault.config import LocalConfig
from gitvault.errors import BlobError, CorruptRecordError, SyncError, VaultNotInitializedError
from gitvault.merge import COUNT_KEYS, MergeResult, count_added, iter_entity_trees, merge_into, summary
from gitvault.records import blob_refs
from gitvault.repo import VAULT_REF
from gitvault.transport import (
    Received,
    Remote,
    fetch_tracking,
    install_verified,
    push_ref,
    receive_blobs,
    remote_tip,
    resolve_remote,
    run_git,
    send_blobs,
    set_tracking,
    staging_dir,
    tracking_tip,
)
from gitvault.vault import Vault, changed_entities

PUSH_ATTEMPTS = 25

# A progress sink: ``stage(label, total)`` returns a context manager yielding ``advance(n)``.
Stage = Callable[[str, int], ContextManager[Callable[[int], None]]]


def _quiet_stage(label: str, total: int) -> ContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


@dataclass
class SyncReport:
    """What a push, pull, import or merge moved, and anything the user must know."""

    remote: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    blobs: int = 0
    blob_bytes: int = 0
    bad: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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

    def problems(self) -> list[str]:
        out = []
        if self.bad:
            out.append(f"{len(self.bad)} blob(s) arrived damaged (sha256 mismatch) and were NOT installed "
                       f"(kept in .git/vault/bad/): {', '.join(self.bad[:5])}")
        if self.missing:
            out.append(f"{len(self.missing)} blob(s) are missing on the blob remote: "
                       f"{', '.join(self.missing[:5])}; ask whoever created them to `git vault push`")
        return out


def open_vault(root: Path | str | None) -> Vault:
    return Vault.open(root)


# -- what records need -------------------------------------------------------------------------

def blobs_between(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> set[str]:
    """Blob shas referenced by records (and kept conflict versions) that differ from ``old`` in ``new``."""
    shas: set[str] = set()
    for kind, record_id, tree in iter_entity_trees(repo, old, new):
        blobs = []
        if layout.RECORD_FILE in tree:
            blobs.append(tree[layout.RECORD_FILE])
        if layout.CONFLICTS_DIR in tree:
            blobs.extend(repo[tree[layout.CONFLICTS_DIR].id])
        for blob in blobs:
            try:
                shas.update(blob_refs(codec.decode(repo[blob.id].data, f"{kind}/{record_id}")))
            except CorruptRecordError:
                continue
    return shas


def missing_blobs(vault: Vault, tip: pygit2.Oid | None = None) -> list[str]:
    """Blobs the records of ``tip`` (default: the vault tip) reference that are not stored here."""
    store = BlobStore(vault.paths.objects_dir)
    return sorted(s for s in blobs_between(vault.repo, None, tip or vault.tip()) if not store.has(s))


def _begin(root: Path | str | None, remote: str | None, records_only: bool) -> tuple[Vault, Remote, SyncReport]:
    """The vault, the remote (its blob destination checked unless records only) and an empty report."""
    vault = open_vault(root)
    target = resolve_remote(vault, remote)
    if not records_only:
        target.require_blobs()
    return vault, target, SyncReport(remote=target.name)


# -- pull --------------------------------------------------------------------------------------

def pull_report(root: Path | str | None, remote: str | None = None, *, dry_run: bool = False,
                blobs_only: bool = False, records_only: bool = False, stage: Stage = _quiet_stage) -> SyncReport:
    vault, target, report = _begin(root, remote, records_only)
    if dry_run:
        return _plan(vault, target, report, pull=True)
    if blobs_only:
        shas = missing_blobs(vault)
        _receive(vault, target, shas, report, stage)
        if shas:
            _blobs_arrived(vault)
        return report
    _pull_into(vault, target, report, records_only=records_only, stage=stage)
    return report


def _pull_into(vault: Vault, target: Remote, report: SyncReport, *, records_only: bool, stage: Stage) -> None:
    theirs = fetch_tracking(vault, target)
    if theirs is None:
        report.how = "remote-empty"
        report.notes.append(f"{target.name} has no vault yet (no refs/vault/main); `git vault push` creates it")
        return
    ours = vault.tip()
    if not records_only:
        store = BlobStore(vault.paths.objects_dir)
        needed = sorted(s for s in blobs_between(vault.repo, ours, theirs) if not store.has(s))
        _receive(vault, target, needed, report, stage)
    result = merge_into(vault, theirs, f"merge vault from {target.name}")
    _after_merge(vault, result, report)


def _receive(vault: Vault, target: Remote, shas: list[str], report: SyncReport, stage: Stage) -> None:
    if not shas:
        return
    with stage(f"receiving blobs from {target.blobs}", len(shas)) as advance:
        report.absorb(receive_blobs(vault, target, shas, advance))


def _after_merge(vault: Vault, result: MergeResult, report: SyncReport) -> None:
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
    try:
        from gitvault.cache import Caches  # type: ignore[attr-defined]
    except ImportError:
        return None
    caches = Caches(vault)
    if not (caches.sqlite_path.exists() or caches.duckdb_path.exists()):
        return None  # nothing built yet: the first query builds them
    try:
        caches.refresh(wait=False)
    except Exception as exc:  # noqa: BLE001 - caches are derived data; the merge already landed
        return f"the caches could not be refreshed ({exc}); run `git vault cache rebuild`"
    return None


# -- push --------------------------------------------------------------------------------------

def push_report(root: Path | str | None, remote: str | None = None, *, dry_run: bool = False,
                blobs_only: bool = False, records_only: bool = False, stage: Stage = _quiet_stage) -> SyncReport:
    vault, target, report = _begin(root, remote, records_only)
    if vault.tip() is None:
        raise VaultNotInitializedError("there is no vault to push; run `git vault init` or `git vault pull` first")
    if dry_run:
        return _plan(vault, target, report, pull=False)
    if blobs_only:
        shas = sorted(s for s in blobs_between(vault.repo, None, vault.tip()) if _has(vault, s))
        _send(vault, target, shas, report, stage)
        return report
    for attempt in range(PUSH_ATTEMPTS):
        tip = vault.tip()
        base = tracking_tip(vault, target)
        if base is not None and base not in vault.repo:
            base = None
        if not records_only:
            wanted = blobs_between(vault.repo, base, tip)
            shas = sorted(s for s in wanted if _has(vault, s))
            lacking = len(wanted) - len(shas)
            if lacking:
                report.notes.append(f"{lacking} blob(s) referenced by new records are not stored here "
                                    "(a --records-only pull?); they were not sent")
            _send(vault, target, shas, report, stage)
        outcome = push_ref(vault, target)
        if outcome in ("ok", "up-to-date"):
            assert tip is not None
            sent = count_added(vault.repo, base, tip) if outcome == "ok" else dict.fromkeys(COUNT_KEYS, 0)
            for key, value in sent.items():
                report.sent[key] += value
            set_tracking(vault, target, tip)
            report.how = outcome
            return report
        time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))  # de-synchronise racing pushers
        _pull_into(vault, target, report, records_only=records_only, stage=stage)
    raise SyncError(f"{target.name} kept moving: the push was rejected {PUSH_ATTEMPTS} times; "
                    "run `git vault sync` again")


def _has(vault: Vault, sha: str) -> bool:
    return BlobStore(vault.paths.objects_dir).has(sha)


def _send(vault: Vault, target: Remote, shas: list[str], report: SyncReport, stage: Stage) -> None:
    if not shas:
        return
    with stage(f"sending blobs to {target.blobs}", len(shas)) as advance:
        report.blob_bytes += send_blobs(vault, target, shas, advance)
    report.blobs += len(shas)


def _plan(vault: Vault, target: Remote, report: SyncReport, *, pull: bool) -> SyncReport:
    """Dry run: what would move, from the remote's current tip; nothing local changes."""
    theirs = remote_tip(vault, target)
    ours = vault.tip()
    repo = vault.repo
    report.how = "dry-run"
    if pull:
        report.counts = count_added(repo, ours, theirs)
        shas = [s for s in blobs_between(repo, ours, theirs) if not _has(vault, s)]
    else:
        report.sent = count_added(repo, theirs, ours)
        shas = [s for s in blobs_between(repo, theirs, ours) if _has(vault, s)]
        report.blob_bytes = sum(BlobStore(vault.paths.objects_dir).path(s).stat().st_size for s in shas)
    report.blobs = len(shas)
    return report


# -- the lazy read path ------------------------------------------------------------------------

def fetch_missing_blobs(vault: Vault, shas: Iterable[str], remote: str | None = None) -> list[str]:
    """Fetch blobs that a ``--records-only`` pull left behind; returns those now installed.

    Raises `BlobError` naming the blobs when the blob remote is unreachable or lacks them.
    """
    wanted = sorted({s for s in shas if not _has(vault, s)})
    if not wanted:
        return []
    target = resolve_remote(vault, remote)
    try:
        received = receive_blobs(vault, target, wanted)
    except SyncError as exc:
        raise BlobError(
            f"blob {wanted[0]}{f' (and {len(wanted) - 1} more)' if len(wanted) > 1 else ''} is not stored "
            f"here and the blob remote {target.blobs} could not be reached ({exc}); reconnect and run "
            "`git vault pull --blobs-only`"
        ) from None
    if received.bad or received.missing:
        bad = received.bad + received.missing
        raise BlobError(f"blob(s) {', '.join(bad[:3])} could not be fetched from {target.blobs} "
                        f"({len(received.bad)} damaged, {len(received.missing)} not there); if the blob "
                        "remote is offline or unmounted, reconnect and run `git vault pull --blobs-only`, "
                        "else ask whoever created them to `git vault push`")
    if received.installed:
        _blobs_arrived(vault)
    return received.installed


def _blobs_arrived(vault: Vault) -> None:
    """Records indexed while their blobs were missing lack those blobs' contents in the caches."""
    from gitvault.cache import Caches

    Caches(vault).invalidate()


# -- merge from another local vault --------------------------------------------------------------

def merge_report(root: Path | str | None, source: Path | str) -> SyncReport:
    """Merge the vault of another repository on this machine (records and blobs) into this one."""
    vault = open_vault(root)
    other = open_vault(source)
    theirs_tip = other.tip()
    report = SyncReport(remote=str(other.paths.work_tree or other.paths.common_dir))
    if theirs_tip is None:
        report.how = "remote-empty"
        report.notes.append(f"{report.remote} has no vault")
        return report
    temp_ref = f"refs/vault-import/{time.time_ns()}/main"
    run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(other.paths.git_dir),
            f"+{VAULT_REF}:{temp_ref}")
    try:
        theirs = vault.repo.lookup_reference(temp_ref).target
        needed = sorted(s for s in blobs_between(vault.repo, vault.tip(), theirs) if not _has(vault, s))
        staging = staging_dir(vault)
        try:
            source_store = BlobStore(other.paths.objects_dir)
            for sha in needed:
                if source_store.has(sha):
                    dst = staging / sha[:2] / sha[2:]
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(source_store.path(sha).read_bytes())
            report.absorb(install_verified(vault, staging, needed))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = merge_into(vault, theirs, f"merge vault from {report.remote}")
        _after_merge(vault, result, report)
    finally:
        vault.repo.references.delete(temp_ref)
    return report


# -- the seed's API ----------------------------------------------------------------------------

def push(root: Path | str | None, remote: str | None = None, **options: Any) -> dict[str, int]:
    """Send blobs then records to ``remote`` (default: the upstream remote or ``origin``)."""
    return push_report(root, remote, **options).as_counts()


def pull(root: Path | str | None, remote: str | None = None, **options: Any) -> dict[str, int]:
    """Fetch records and their blobs from ``remote`` and merge them; returns what was added."""
    return pull_report(root, remote, **options).as_counts()


def sync(root: Path | str | None, remote: str | None = None, **options: Any) -> dict[str, int]:
    """Pull, then push."""
    pulled = pull_report(root, remote, **options)
    pushed = push_report(root, remote, **options)
    out = pulled.as_counts()
    for key, value in pushed.as_counts().items():
        out[key] = out.get(key, 0) + value
    return out


def merge(root: Path | str | None, source: Path | str) -> dict[str, int]:
    """The vault counterpart of the seed's ``merge_db``: merge another repository's vault here."""
    return merge_report(root, source).as_counts()


def export_archive(root: Path | str | None, output: Path | str, experiments: list[str] | None = None
                   ) -> dict[str, int]:
    from gitvault.archive import export_report

    return export_report(root, output, experiments).as_counts()


def import_archive(archive: Path | str, root: Path | str | None) -> dict[str, int]:
    from gitvault.archive import import_report

    return import_report(archive, root).as_counts()


__all__ = [
    "SyncReport", "export_archive", "fetch_missing_blobs", "import_archive", "merge", "missing_blobs",
    "pull", "push", "summary", "sync",
]
