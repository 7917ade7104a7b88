"""Blobs as git objects on ``refs/vault/blobs``: the transport every git host carries.

The ref's tree fans out like the blob store (``<sha[:2]>/<sha[2:]>``), each entry a git blob
holding the raw bytes. It is written only when pushing (a vault that never pushes pays nothing)
and never held locally as ``refs/vault/blobs``: a push builds the union of the remote's tree (as
last fetched into ``refs/vault-remotes/<remote>/blobs``) and the blobs it adds, and pushes that
commit without force; when another clone pushed first, it fetches and builds again. A pull fetches
the ref with the records and installs what it needs from the fetched objects, verified by sha256.
A plain ``git clone`` of the code fetches none of it.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitvault.storage.blobs import BlobStore
from gitvault.errors import SyncError
from gitvault.storage.gitobjects import blob_bytes, ref_target, tree
from gitvault.secrets.purge import rewrite_history
from gitvault.storage.repo import signature
from gitvault.sync.transport import TRACKING_PREFIX, Remote, push_ref, run_git
from gitvault.sync.transports import Advance, BlobTransport, staged_path
from gitvault.storage.vault import Vault, apply_changes

BLOBS_REF = "refs/vault/blobs"
_ATTEMPTS = 25


class GitRefBlobs(BlobTransport):
    def __init__(self, vault: Vault, remote: Remote) -> None:
        self.vault = vault
        self.remote = remote
        self.where = f"{remote.name} ({BLOBS_REF})"
        self.tracking_ref = f"{TRACKING_PREFIX}/{remote.tracking}/blobs"

    # -- what the remote has (as last fetched) ---------------------------------------------------

    def fetch(self) -> None:
        """Bring the remote's ``refs/vault/blobs`` into the tracking ref (absent ref: no change)."""
        run_git(self.vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", self.remote.name,
                f"+refs/vault/blob*:{TRACKING_PREFIX}/{self.remote.tracking}/blob*")

    def tip(self) -> pygit2.Oid | None:
        return ref_target(self.vault.repo, self.tracking_ref)

    def listing(self) -> set[str]:
        return set(entries(self.vault.repo, self.tip()))

    def total_bytes(self) -> int:
        """The size of every blob on the remote's ref (as last fetched or pushed)."""
        odb = self.vault.repo.odb
        return sum(odb.read_header(oid)[1] for oid in entries(self.vault.repo, self.tip()).values())

    # -- moving blobs ----------------------------------------------------------------------------

    def put(self, store: BlobStore, shas: list[str], advance: Advance | None = None, *,
            purged: set[str] | frozenset[str] = frozenset()) -> int:
        """Send blobs; ``purged`` ones the remote holds are removed from its ref's whole history
        at the same time (pushed with a lease on the ref as last fetched)."""
        if not shas and not purged:
            return 0
        repo = self.vault.repo
        added = {sha: repo.create_blob_fromdisk(str(store.path(sha))) for sha in shas}
        sent = sum(store.path(sha).stat().st_size for sha in shas)
        for attempt in range(_ATTEMPTS):
            base = self.tip()
            lease = base if base is not None and purged & set(entries(repo, base)) else None
            if lease is not None:
                base = _without(repo, lease, purged)
            commit = _commit_union(repo, base, added)
            outcome = push_ref(self.vault, self.remote, f"{commit}:{BLOBS_REF}", BLOBS_REF, lease=lease)
            if outcome in ("ok", "up-to-date"):
                repo.references.create(self.tracking_ref, commit, force=True)
                if advance is not None:
                    advance(len(shas))
                return sent
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
            self.fetch()
        raise SyncError(f"{self.remote.name} kept moving: the push of {BLOBS_REF} was rejected "
                        f"{_ATTEMPTS} times; run `git vault push` again")

    def get(self, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
        stage_from_git(self.vault.repo, shas, staging, advance)


def entries(repo: pygit2.Repository, commit: pygit2.Oid | None) -> dict[str, pygit2.Oid]:
    """sha256 -> git blob id of every blob on a blobs commit."""
    out: dict[str, pygit2.Oid] = {}
    if commit is None:
        return out
    for bucket in tree(repo, commit):
        name = bucket.name or ""
        if bucket.filemode != FileMode.TREE or len(name) != 2:
            continue
        for entry in tree(repo, bucket.id):
            if entry.filemode == FileMode.BLOB and len(entry.name or "") == 62:
                out[name + str(entry.name)] = entry.id
    return out


def local_blob_commits(repo: pygit2.Repository) -> list[pygit2.Oid]:
    """The blobs commits of every remote this clone has fetched from or pushed to."""
    out = []
    for name in repo.references:
        if name.startswith(TRACKING_PREFIX + "/") and name.endswith("/blobs"):
            target = ref_target(repo, name)
            if target is not None:
                out.append(target)
    return out


def stage_from_git(repo: pygit2.Repository, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
    """Stage each named blob found on any fetched blobs commit (content is checked on install)."""
    wanted = set(shas)
    for commit in local_blob_commits(repo):
        if not wanted:
            break
        for sha, oid in entries(repo, commit).items():
            if sha in wanted:
                staged_path(staging, sha).write_bytes(blob_bytes(repo, oid))
                wanted.discard(sha)
                if advance is not None:
                    advance(1)


def _without(repo: pygit2.Repository, tip: pygit2.Oid, purged: set[str] | frozenset[str]) -> pygit2.Oid:
    """The history of a blobs commit rewritten without the ``purged`` blobs."""
    changes: dict[tuple[str, ...], pygit2.Oid | None] = {(sha[:2], sha[2:]): None for sha in purged}
    return rewrite_history(repo, tip, lambda tree: apply_changes(repo, repo[tree].peel(pygit2.Tree), changes))


def _commit_union(repo: pygit2.Repository, base: pygit2.Oid | None, added: dict[str, pygit2.Oid]) -> pygit2.Oid:
    """A commit whose tree is ``base``'s plus ``added``, with ``base`` as its parent."""
    root_tree = tree(repo, base) if base is not None else None
    root = repo.TreeBuilder(root_tree) if root_tree is not None else repo.TreeBuilder()
    by_bucket: dict[str, dict[str, pygit2.Oid]] = defaultdict(dict)
    for sha, oid in added.items():
        by_bucket[sha[:2]][sha[2:]] = oid
    for bucket, names in by_bucket.items():
        old = root.get(bucket)
        sub = repo.TreeBuilder(tree(repo, old.id)) if old is not None and old.filemode == FileMode.TREE else repo.TreeBuilder()
        for name, oid in names.items():
            sub.insert(name, oid, FileMode.BLOB)
        root.insert(bucket, sub.write(), FileMode.TREE)
    new_tree = root.write()
    if base is not None and root_tree is not None and new_tree == root_tree.id:
        return base
    sig = signature(repo)
    return repo.create_commit(None, sig, sig, f"vault blobs: add {len(added)}", new_tree, [base] if base else [])
