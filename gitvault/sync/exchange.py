"""Sharing a vault: push, pull, sync, status, merge and archives (the Extract seed's ``sync`` module).

Records travel as ``refs/vault/main`` through the ``git`` command. Blobs travel by set difference,
whatever an earlier records-only pull did: those up to the size limit as git objects on
``refs/vault/blobs`` (`gitvault.sync.transports.git_ref`), larger ones to the remote's large-blob
destination (`gitvault.sync.transports.large`). Order is what keeps every clone whole:

- push: fetch the remote's vault refs; send every blob that records here reference and the remote
  lacks (a large blob with no destination stops the push before anything moves); then
  ``git push <remote> refs/vault/main:refs/vault/main`` with no ``+`` and no ``--force``; when the
  remote moved on, pull and try again (bounded).
- pull: ``git fetch <remote> +refs/vault/*:refs/vault-remotes/<remote>/*``; stage every blob the
  records reference that is not here, verify every sha256 (a damaged blob goes to
  ``<git-common-dir>/vault/bad/``, is reported and never installed), merge (`gitvault.sync.merge`),
  refresh caches.

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

from gitvault.storage import gitobjects

from gitvault.secrets import outgoing, purge
from gitvault.storage.blobs import BlobStore
from gitvault.errors import BlobError, SecretsFoundError, SyncError, VaultNotInitializedError
from gitvault.sync.merge import COUNT_KEYS, blobs_between, count_added, merge_into
from gitvault.sync.report import SyncReport, after_merge
from gitvault.storage.repo import VAULT_REF
from gitvault.sync.transport import (
    Received,
    Remote,
    fetch_tracking,
    install_verified,
    push_ref,
    remote_tips,
    resolve_remote,
    run_git,
    set_tracking,
    staging_dir,
    sweep_interrupted,
    tracking_tip,
)
from gitvault.sync.transports import BlobTransport
from gitvault.sync.transports.git_ref import GitRefBlobs, entries, stage_from_git
from gitvault.sync.transports.large import DEFAULT_BUDGET, DEFAULT_LIMIT, config_key, large_destination, size_setting
from gitvault.storage.vault import Vault

PUSH_ATTEMPTS = 25

# A progress sink: ``stage(label, total)`` returns a context manager yielding ``advance(n)``.
Stage = Callable[[str, int], ContextManager[Callable[[int], None]]]


def _quiet_stage(label: str, total: int) -> ContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


# -- what records need -------------------------------------------------------------------------

def missing_blobs(vault: Vault, tip: pygit2.Oid | None = None) -> list[str]:
    """Blobs the records of ``tip`` (default: the vault tip) reference that are not stored here."""
    store = BlobStore(vault.paths.objects_dir)
    return sorted(s for s in blobs_between(vault.repo, None, tip or vault.tip()) if not store.has(s))


def missing_here(vault: Vault, theirs: pygit2.Oid | None) -> set[str]:
    """Blobs referenced by the records here or by ``theirs`` (a remote's tip) not stored here."""
    store = BlobStore(vault.paths.objects_dir)
    wanted = blobs_between(vault.repo, None, theirs) | blobs_between(vault.repo, None, vault.tip())
    return {s for s in wanted if not store.has(s)}


@dataclass
class Routes:
    """Where a remote's blobs go: the git ref, and a large-blob destination if configured."""

    remote: Remote
    git: GitRefBlobs
    large: BlobTransport | None
    limit: int
    budget: int

    def split(self, store: BlobStore, shas: set[str]) -> tuple[set[str], set[str]]:
        """(blobs for the git ref, blobs over the limit)."""
        large = {s for s in shas if store.path(s).stat().st_size > self.limit}
        return shas - large, large

    def require_large(self, large: set[str], store: BlobStore) -> BlobTransport:
        if self.large is None:
            biggest = max(large, key=lambda s: store.path(s).stat().st_size)
            raise SyncError(
                f"{len(large)} blob(s) are over the {_mb(self.limit)} limit for git (the largest, {biggest[:12]}, "
                f"is {_mb(store.path(biggest).stat().st_size)}); nothing was pushed. Give them a place with "
                f"`git config {config_key(self.remote.name)} URL` (a shared folder, host:path or "
                f"s3://bucket/prefix), or raise the limit with `git config vault.blobLimit 200m`"
            )
        return self.large


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def routes_for(vault: Vault, remote: Remote) -> Routes:
    config = vault.repo.config
    workdir = vault.paths.work_tree or vault.paths.common_dir
    return Routes(remote, GitRefBlobs(vault, remote), large_destination(config, remote.name, workdir),
                  size_setting(config, remote.name, "blobLimit", DEFAULT_LIMIT),
                  size_setting(config, remote.name, "budget", DEFAULT_BUDGET))


def _begin(root: Path | str | None, remote: str | None) -> tuple[Vault, Routes, SyncReport]:
    vault = Vault.open(root)
    sweep_interrupted(vault)  # what killed imports and pulls left behind
    target = resolve_remote(vault, remote)
    return vault, routes_for(vault, target), SyncReport(remote=target.name)


# -- pull --------------------------------------------------------------------------------------

def pull_report(root: Path | str | None, remote: str | None = None, *, dry_run: bool = False,
                blobs_only: bool = False, records_only: bool = False, stage: Stage = _quiet_stage) -> SyncReport:
    vault, routes, report = _begin(root, remote)
    if dry_run:
        return _plan(vault, routes, report, pull=True, records_only=records_only, blobs_only=blobs_only)
    if blobs_only:
        routes.git.fetch()
        _receive(vault, routes, missing_blobs(vault), report, stage)
        return report
    _pull_into(vault, routes, report, records_only=records_only, stage=stage)
    return report


def _pull_into(vault: Vault, routes: Routes, report: SyncReport, *, records_only: bool, stage: Stage) -> None:
    target = routes.remote
    theirs = fetch_tracking(vault, target, records_only=records_only)
    if theirs is None:
        report.how = "remote-empty"
        return
    if not records_only:
        _receive(vault, routes, sorted(missing_here(vault, theirs)), report, stage)
    result = merge_into(vault, theirs, f"merge vault from {target.name}")
    after_merge(vault, result, report)


def receive(vault: Vault, routes: Routes, shas: list[str], stage: Stage = _quiet_stage) -> Received:
    """Stage the named blobs from the fetched blobs ref, then from the large-blob destination,
    and install those whose content matches their name."""
    if not shas:
        return Received([], 0, [], [])
    staging = staging_dir(vault)
    try:
        with stage(f"receiving blobs from {routes.remote.name}", len(shas)) as advance:
            stage_from_git(vault.repo, shas, staging, advance)
            rest = [s for s in shas if not (staging / s[:2] / s[2:]).exists()]
            if rest and routes.large is not None:
                routes.large.get(rest, staging, advance)
        return install_verified(vault, staging, shas)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _receive(vault: Vault, routes: Routes, shas: list[str], report: SyncReport, stage: Stage) -> None:
    received = receive(vault, routes, shas, stage)
    report.absorb(received)
    if received.installed:
        _blobs_arrived(vault)


# -- push --------------------------------------------------------------------------------------

def push_report(root: Path | str | None, remote: str | None = None, *, dry_run: bool = False,
                blobs_only: bool = False, records_only: bool = False, allow_secrets: bool = False,
                stage: Stage = _quiet_stage) -> SyncReport:
    """Send blobs then records. Refuses (`SecretsFoundError`, nothing sent) when what would leave
    holds a suspected secret, unless ``allow_secrets``; a dry run lists them in ``secrets``."""
    vault, routes, report = _begin(root, remote)
    target = routes.remote
    if vault.tip() is None:
        raise VaultNotInitializedError("there is no vault to push; run `git vault init` or `git vault pull` first")
    if dry_run:
        return _plan(vault, routes, report, pull=False, records_only=records_only, blobs_only=blobs_only)
    fetch_tracking(vault, target, records_only=records_only)
    theirs = tracking_tip(vault, target)
    if theirs is not None and purge.purges_at(vault.repo, theirs).keys() - purge.purges_at(vault.repo, vault.tip()).keys():
        merge_into(vault, theirs, f"merge vault from {target.name}")  # apply the remote's purges here first
    scanned = vault.tip()
    assert scanned is not None
    _guard(vault, report, theirs, scanned, allow_secrets)
    if not records_only:
        _send_missing(vault, routes, report, stage, scanned)
    if blobs_only:
        return report
    for attempt in range(PUSH_ATTEMPTS):
        base = tracking_tip(vault, target)
        if base is not None and base not in vault.repo:
            base = None
        lease = _purge_lease(vault, base, target)
        tip = vault.tip()
        assert tip is not None
        if tip != scanned:  # runs sealed during the push, or the remote's work merged in: check again
            _guard(vault, report, base, tip, allow_secrets)
            if not records_only:
                _send_missing(vault, routes, report, stage, tip)
            scanned = tip
        outcome = push_ref(vault, target, f"{tip}:{VAULT_REF}", lease=lease)  # what was scanned, not the ref
        if outcome in ("ok", "up-to-date"):
            assert tip is not None
            sent = count_added(vault.repo, base, tip) if outcome == "ok" else dict.fromkeys(COUNT_KEYS, 0)
            for key, value in sent.items():
                report.sent[key] += value
            set_tracking(vault, target, tip)
            report.how = outcome
            return report
        time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))  # de-synchronise racing pushers
        _pull_into(vault, routes, report, records_only=records_only, stage=stage)
    raise SyncError(f"{target.name} kept moving: the push was rejected {PUSH_ATTEMPTS} times; "
                    "run `git vault sync` again")


@dataclass
class PurgeSent:
    """What `send_purge` did on one remote: the large-blob destination (None without one) and
    the purged blobs deleted there."""

    remote: str
    large: str | None = None
    deleted: list[str] = field(default_factory=list)


def send_purge(root: Path | str | None, remote: str, blobs: list[str]) -> PurgeSent:
    """Send a purge's rewrite to ``remote`` (`push_report`: a vault holding purges the remote lacks
    replaces its history, only while it is as last fetched), then delete the purged ``blobs`` from
    the remote's large-blob destination. Records first: a refused push must not leave the remote's
    records without their blobs. `SyncError` when either step fails."""
    report = push_report(root, remote)
    sent = PurgeSent(report.remote)
    vault = Vault.open(root)
    large = routes_for(vault, resolve_remote(vault, remote)).large
    if large is not None and blobs:
        sent.large, sent.deleted = large.where, large.delete(blobs)
    return sent


def _guard(vault: Vault, report: SyncReport, theirs: pygit2.Oid | None, tip: pygit2.Oid, allow_secrets: bool) -> None:
    """Push protection: the suspected secrets in what pushing ``tip`` over ``theirs`` sends (into
    ``report.secrets``); `SecretsFoundError` unless ``allow_secrets``."""
    report.secrets = [str(f) for f in outgoing.scan(vault, theirs, tip)]
    if report.secrets and not allow_secrets:
        raise SecretsFoundError(refusal(report.secrets))


def _purge_lease(vault: Vault, base: pygit2.Oid | None, target: Remote) -> pygit2.Oid | None:
    """When this vault holds purges the remote's tip lacks, its history was rewritten: merge the
    remote's tip in (which applies the purges to it), and return it as the lease under which the
    push may replace the remote's ref. None for an ordinary push."""
    if base is None:
        return None
    if not purge.purges_at(vault.repo, vault.tip()).keys() - purge.purges_at(vault.repo, base).keys():
        return None
    merge_into(vault, base, f"merge vault from {target.name}")
    return base


@dataclass
class BlobPlan:
    """Blobs the records here reference, by where they are."""

    send_git: set[str] = field(default_factory=set)
    send_large: set[str] = field(default_factory=set)
    missing_here: set[str] = field(default_factory=set)

    def count(self) -> int:
        return len(self.send_git) + len(self.send_large)


def plan_send(vault: Vault, routes: Routes, tip: pygit2.Oid | None, remote_blobs: set[str],
              large_listing: bool = True) -> BlobPlan:
    """What a push would send: referenced blobs stored here and not on the remote (its blobs ref
    as ``remote_blobs``, plus its large-blob destination's listing when needed)."""
    store = BlobStore(vault.paths.objects_dir)
    wanted = blobs_between(vault.repo, None, tip)
    here = {s for s in wanted if store.has(s)}
    small, large = routes.split(store, here - remote_blobs)
    if large and routes.large is not None and large_listing:
        large -= routes.large.listing()
    return BlobPlan(send_git=small, send_large=large, missing_here=wanted - here)


def _send_missing(vault: Vault, routes: Routes, report: SyncReport, stage: Stage, tip: pygit2.Oid) -> None:
    store = BlobStore(vault.paths.objects_dir)
    plan = plan_send(vault, routes, tip, routes.git.listing())
    report.unsent = sorted(plan.missing_here)
    if plan.send_large:
        large = routes.require_large(plan.send_large, store)
        with stage(f"sending large blobs to {large.where}", len(plan.send_large)) as advance:
            report.blob_bytes += large.put(store, sorted(plan.send_large), advance)
        report.blobs += len(plan.send_large)
    purged = purge.purged_blobs(vault.repo, tip) & routes.git.listing()
    if plan.send_git or purged:
        with stage(f"sending blobs to {routes.git.where}", len(plan.send_git)) as advance:
            report.blob_bytes += routes.git.put(store, sorted(plan.send_git), advance, purged=purged)
        report.blobs += len(plan.send_git)
        total = routes.git.total_bytes()
        if total > routes.budget:
            report.notes.append(
                f"the blobs on {routes.git.where} now total {_mb(total)}, past the {_mb(routes.budget)} budget "
                f"(git hosts ask repositories to stay small; GitHub: under 5 GB); send large blobs elsewhere with "
                f"`git config {config_key(routes.remote.name)} URL` and a lower `git config vault.blobLimit`, "
                "or raise `git config vault.budget`"
            )


def _plan(vault: Vault, routes: Routes, report: SyncReport, *, pull: bool, records_only: bool,
          blobs_only: bool) -> SyncReport:
    """Dry run: what would move, from the remote's current refs; nothing local changes."""
    tips = remote_tips(vault, routes.remote)
    theirs, their_blobs = tips.get("main"), tips.get("blobs")
    ours = vault.tip()
    repo = vault.repo
    store = BlobStore(vault.paths.objects_dir)
    report.how = "dry-run"
    remote_blobs = set(entries(repo, their_blobs))
    if pull:
        if not blobs_only:
            report.counts = count_added(repo, ours, theirs)
        if not records_only:
            shas = missing_here(vault, theirs)
            report.blobs = len(shas)
            report.blob_bytes = sum(repo.odb.read_header(oid)[1] for s, oid in entries(repo, their_blobs).items()
                                    if s in shas)
        return report
    if not blobs_only:
        report.sent = count_added(repo, theirs, ours)
    report.secrets = [str(f) for f in outgoing.scan(vault, theirs, ours)]
    if not records_only:
        plan = plan_send(vault, routes, ours, remote_blobs)
        report.blobs = plan.count()
        report.blob_bytes = sum(store.path(s).stat().st_size for s in plan.send_git | plan.send_large)
        if plan.send_large and routes.large is None:
            report.notes.append(f"{len(plan.send_large)} blob(s) are over the {_mb(routes.limit)} limit and "
                                f"have no destination: set `git config {config_key(routes.remote.name)} URL`")
    return report


def refusal(findings: list[str]) -> str:
    """The push-protection message: one line per finding, then what to do."""
    lines = [f"push refused: {len(findings)} suspected secret(s) would leave this machine; nothing was sent:"]
    lines += [f"  {f}" for f in findings]
    lines.append("remove them (a run's: `git vault purge RUN --field FIELD`, or the whole run, or a blob: "
                 "`git vault purge SHA256`) and rotate any real credential, or send them anyway with "
                 "`git vault push --allow-secrets`")
    return "\n".join(lines)


# -- status ------------------------------------------------------------------------------------

@dataclass
class Status:
    """How this vault and a remote's differ (from the remote's current refs)."""

    remote: str
    ahead: dict[str, int]
    behind: dict[str, int]
    blobs_missing_here: int
    blobs_missing_there: int
    blobs_nowhere: int


def status(root: Path | str | None, remote: str | None = None) -> Status:
    """Records ahead and behind, blobs missing here and missing on the remote."""
    vault, routes, _ = _begin(root, remote)
    tips = remote_tips(vault, routes.remote)
    theirs, their_blobs = tips.get("main"), tips.get("blobs")
    repo, ours = vault.repo, vault.tip()
    remote_blobs = set(entries(repo, their_blobs))
    plan = plan_send(vault, routes, ours, remote_blobs)
    lacking = missing_here(vault, theirs)
    nowhere = lacking - remote_blobs
    if nowhere and routes.large is not None:
        nowhere -= routes.large.listing()
    return Status(routes.remote.name, count_added(repo, theirs, ours), count_added(repo, ours, theirs),
                  len(lacking), plan.count(), len(nowhere))


# -- the lazy read path ------------------------------------------------------------------------

def fetch_missing_blobs(vault: Vault, shas: Iterable[str], remote: str | None = None) -> list[str]:
    """Fetch blobs that a records-only pull left behind; returns those now installed.

    Raises `BlobError` naming the blobs when the remote is unreachable or lacks them.
    """
    store = BlobStore(vault.paths.objects_dir)
    wanted = sorted({s for s in shas if not store.has(s)})
    if not wanted:
        return []
    try:
        routes = routes_for(vault, resolve_remote(vault, remote))
    except SyncError as exc:
        raise BlobError(f"blob {wanted[0]} is not stored here and there is no remote to fetch it from ({exc})") from None
    try:
        received = receive(vault, routes, wanted)  # blobs fetched before as git objects need no network
        if received.missing:
            routes.git.fetch()
            again = receive(vault, routes, received.missing)
            received = Received(received.installed + again.installed, received.bytes + again.bytes,
                                received.bad + again.bad, again.missing)
    except SyncError as exc:
        raise BlobError(
            f"blob {wanted[0]}{f' (and {len(wanted) - 1} more)' if len(wanted) > 1 else ''} is not stored "
            f"here and {routes.remote.name} could not be reached ({exc}); reconnect and run "
            "`git vault pull --blobs-only`"
        ) from None
    if received.bad or received.missing:
        bad = received.bad + received.missing
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise BlobError(f"blob(s) {', '.join(bad[:3])}{more} could not be fetched from {routes.remote.name} "
                        f"({len(received.bad)} damaged, {len(received.missing)} not there); if a large-blob "
                        "destination is offline or unmounted, reconnect and run `git vault pull --blobs-only`, "
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
    vault = Vault.open(root)
    other = Vault.open(source)
    theirs_tip = other.tip()
    report = SyncReport(remote=str(other.paths.work_tree or other.paths.common_dir))
    if theirs_tip is None:
        report.how = "remote-empty"
        return report
    temp_ref = f"refs/vault-import/{time.time_ns()}/main"
    run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(other.paths.git_dir),
            f"+{VAULT_REF}:{temp_ref}")
    try:
        theirs = gitobjects.ref_target(vault.repo, temp_ref) or theirs_tip
        store = BlobStore(vault.paths.objects_dir)
        needed = sorted(s for s in blobs_between(vault.repo, vault.tip(), theirs) if not store.has(s))
        staging = staging_dir(vault)
        try:
            source_store = BlobStore(other.paths.objects_dir)
            for sha in needed:
                if source_store.has(sha):
                    dst = staging / sha[:2] / sha[2:]
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source_store.path(sha), dst)  # streamed; verified on install
            report.absorb(install_verified(vault, staging, needed))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = merge_into(vault, theirs, f"merge vault from {report.remote}")
        after_merge(vault, result, report)
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
    from gitvault.sync.archive import export_report

    return export_report(root, output, experiments).as_counts()


def import_archive(archive: Path | str, root: Path | str | None) -> dict[str, int]:
    from gitvault.sync.archive import import_report

    return import_report(archive, root).as_counts()


__all__ = [
    "SyncReport", "export_archive", "fetch_missing_blobs", "import_archive", "merge", "missing_blobs",
    "pull", "push", "sync",
]
