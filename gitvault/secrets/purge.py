"""`git vault purge`: remove a leaked run, field or blob from the vault, here and for everyone.

A purge is itself a record, ``purges/<id>.msgpack`` at the top of the vault tree ({kind:
"purge", target_kind: run | field | blob, target, field, blobs, created_at}), so it travels
with every push and pull. Purging, under the vault lock:

1. rewrites the history of ``refs/vault/main`` with every purge applied to every commit (the
   run's folder removed, or the field replaced by ``***purged***`` in the record and its kept
   conflict versions; purging ``notes`` also drops note events). The rewrite keeps each commit's
   author, committer and message, so it is a pure function of the original commit and the set of
   purges: two clones that apply the same purges get the same commits and keep merging;
2. commits the purge record on top, deletes the purged blobs from the local store and expires
   the vault ref's reflog (which would keep the old commits alive for git gc).

Invariant: a commit whose tree holds a purge record has a history free of what it purged. A
merge (`reconcile`) rewrites whichever side lacks some of the other's purges before merging, so
no merge with a clone still holding the old history brings the purged data back. A push whose
tip holds purges the remote's lacks replaces the remote's history with ``--force-with-lease``
(the remote tip as last fetched), never a blind force; ``refs/vault/blobs`` likewise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pygit2
from pygit2.enums import SortMode

from gitvault.storage import codec, gitobjects, layout
from gitvault.storage.blobs import BlobStore
from gitvault.errors import AmbiguousIdError, RecordNotFoundError, VaultError
from gitvault.names import stable_id
from gitvault.storage.records import blob_refs
from gitvault.storage.repo import signature
from gitvault.storage.vault import Path_, Vault, apply_changes

PURGES_DIR = layout.PURGES_DIR
PURGED = "***purged***"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


# -- the purges a vault commit holds ---------------------------------------------------------------

def purges_at(repo: pygit2.Repository, tip: pygit2.Oid | None) -> dict[str, dict[str, Any]]:
    """Purge records of a vault commit, by id."""
    if tip is None:
        return {}
    root = gitobjects.tree(repo, tip)
    if PURGES_DIR not in root:
        return {}
    out = {}
    for entry in gitobjects.tree(repo, root[PURGES_DIR].id):
        name = str(entry.name)
        try:
            record = codec.decode(gitobjects.blob_bytes(repo, entry.id), f"{PURGES_DIR}/{name}")
        except VaultError:
            continue  # damaged: fsck reports it
        if isinstance(record, dict):
            out[name.removesuffix(".msgpack")] = record
    return out


def purged_blobs(repo: pygit2.Repository, tip: pygit2.Oid | None) -> set[str]:
    """Blobs purged on purpose: records may still name them, but no one fetches or sends them."""
    return {sha for p in purges_at(repo, tip).values() for sha in p.get("blobs") or [] if isinstance(sha, str)}


# -- rewriting history -----------------------------------------------------------------------------

class Rewriter:
    """Applies a set of purges to vault commits, remembering what it already rewrote."""

    def __init__(self, repo: pygit2.Repository, purges: Iterable[dict[str, Any]]) -> None:
        self.repo = repo
        self.runs: set[str] = set()
        self.fields: dict[str, list[str]] = {}
        for p in purges:
            if p.get("target_kind") == "run":
                self.runs.add(str(p.get("target")))
            elif p.get("target_kind") == "field":
                self.fields.setdefault(str(p.get("target")), []).append(str(p.get("field")))
        self.trees: dict[pygit2.Oid, pygit2.Oid] = {}
        self.commits: dict[pygit2.Oid, pygit2.Oid] = {}

    def tree(self, tree_id: pygit2.Oid) -> pygit2.Oid:
        if tree_id not in self.trees:
            root = self.repo[tree_id].peel(pygit2.Tree)
            changes: dict[Path_, pygit2.Oid | None] = {}
            for run_id in self.runs:
                path = layout.entity_dir("run", run_id)
                if _at(root, path) is not None:
                    changes[path] = None
            for run_id, fields in self.fields.items():
                if run_id not in self.runs:
                    changes.update(self._field_changes(root, run_id, fields))
            self.trees[tree_id] = apply_changes(self.repo, root, changes) if changes else tree_id
        return self.trees[tree_id]

    def _field_changes(self, root: pygit2.Tree, run_id: str, fields: list[str]) -> dict[Path_, pygit2.Oid | None]:
        folder = layout.entity_dir("run", run_id)
        changes: dict[Path_, pygit2.Oid | None] = {}
        versions = [folder + (layout.RECORD_FILE,)]
        conflicts = _at(root, folder + (layout.CONFLICTS_DIR,))
        if isinstance(conflicts, pygit2.Tree):
            versions += [folder + (layout.CONFLICTS_DIR, str(e.name)) for e in conflicts]
        for path in versions:
            blob = _at(root, path)
            if blob is None:
                continue
            record = codec.decode(gitobjects.blob_bytes(self.repo, blob.id), "/".join(path))
            if any(blank_field(record, f) for f in fields):
                changes[path] = self.repo.create_blob(codec.encode(record))
        events = _at(root, folder + (layout.EVENTS_DIR,))
        if any(_is_notes(f) for f in fields) and isinstance(events, pygit2.Tree):
            for entry in events:
                event = codec.decode(gitobjects.blob_bytes(self.repo, entry.id), str(entry.name))
                if isinstance(event, dict) and event.get("type") == "note":
                    changes[folder + (layout.EVENTS_DIR, str(entry.name))] = None
        return changes

    def history(self, tip: pygit2.Oid) -> pygit2.Oid:
        """``tip`` with every commit of its history rewritten (oldest first)."""
        return rewrite_history(self.repo, tip, self.tree, self.commits)


def rewrite_history(repo: pygit2.Repository, tip: pygit2.Oid, tree: Callable[[pygit2.Oid], pygit2.Oid],
                    done: dict[pygit2.Oid, pygit2.Oid] | None = None) -> pygit2.Oid:
    """``tip`` with each commit of its history given ``tree(its tree)``, keeping its author,
    committer and message (so the result depends only on the commits and ``tree``); ``done`` maps
    commits already rewritten to their new ids (a commit left unchanged maps to itself)."""
    done = {} if done is None else done
    for commit in repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE):
        if commit.id in done:
            continue
        new_tree = tree(commit.tree_id)
        parents = [done.get(p, p) for p in commit.parent_ids]
        if new_tree == commit.tree_id and parents == list(commit.parent_ids):
            done[commit.id] = commit.id
        else:
            done[commit.id] = repo.create_commit(None, commit.author, commit.committer, commit.message, new_tree, parents)
    return done[tip]


def _at(root: pygit2.Tree, path: Path_) -> pygit2.Object | None:
    try:
        return root["/".join(path)]
    except KeyError:
        return None


def blank_field(record: dict[str, Any], path: str) -> bool:
    """Replace the value at a dotted path (``config.openai.api_key``, ``argv[2]``, ``notes``)
    by ``***purged***`` (a list or map becomes empty); False when the path is not there."""
    steps = [(name, int(index) if index else None) for name, index in _STEP.findall(path)]
    if not steps:
        return False
    node: Any = record
    for i, (name, index) in enumerate(steps):
        key: Any = name if name else index
        if isinstance(node, dict) and isinstance(key, str) and key in node:
            pass
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            pass
        else:
            return False
        if i == len(steps) - 1:
            old = node[key]
            node[key] = type(old)() if isinstance(old, (list, dict)) else PURGED
            return old != node[key]
        node = node[key]
    return False


def reconcile(repo: pygit2.Repository, ours: pygit2.Oid | None, theirs: pygit2.Oid
              ) -> tuple[pygit2.Oid | None, pygit2.Oid, bool]:
    """Before a merge: both sides rewritten with every purge either holds, where one lacks some;
    (ours, theirs, whether purges new here arrived: `after_rewrite` must then clean up)."""
    mine, their = purges_at(repo, ours), purges_at(repo, theirs)
    if mine.keys() == their.keys():
        return ours, theirs, False
    rewriter = Rewriter(repo, {**their, **mine}.values())
    new_theirs = rewriter.history(theirs) if mine.keys() - their.keys() else theirs
    new_ours = rewriter.history(ours) if ours is not None and their.keys() - mine.keys() else ours
    return new_ours, new_theirs, bool(their.keys() - mine.keys())


def after_rewrite(vault: Vault) -> None:
    """What a rewritten local history leaves to clean: purged blobs in the local store, and the
    vault ref's reflog, whose entries would keep the old commits alive for git gc."""
    store = BlobStore(vault.paths.objects_dir)
    purges = purges_at(vault.repo, vault.tip()).values()
    named = {sha for p in purges if p.get("target_kind") == "blob" for sha in p.get("blobs") or []}
    # a run's or field's blobs may also be this clone's own (content-addressed): keep those still used
    used = _refs_without(vault, {}) if any(p.get("target_kind") != "blob" for p in purges) else set()
    for sha in purged_blobs(vault.repo, vault.tip()):
        if sha in named or sha not in used:
            store.path(sha).unlink(missing_ok=True)
    from gitvault.sync.transport import run_git  # the git command: reflogs are not pygit2's to edit

    run_git(vault, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "refs/vault/main", check=False)


# -- git vault purge -------------------------------------------------------------------------------

@dataclass
class PurgeReport:
    """What `purge` did: ``what`` it purged, the ``blobs`` it deleted here, how many vault commits
    were ``rewritten``, and the blobs of a purged run ``kept`` because other records use them too
    (if one holds the leak, purge it by its sha256). The purged data may have been copied (pushed,
    fetched, backed up) before: rotate any credential it held."""

    what: str
    blobs: list[str] = field(default_factory=list)
    rewritten: int = 0
    kept: list[str] = field(default_factory=list)


def purge(vault: Vault, target: str, field_path: str | None = None) -> PurgeReport:
    """Purge a run (every record version, event and blob only it references), one of its fields
    (``field_path``), or a blob (``target`` a sha256), from this vault's history and blob store."""
    tip = vault.tip()
    if tip is None:
        raise RecordNotFoundError("there is no vault here; nothing to purge")
    kept: list[str] = []
    if _SHA256.match(target) and field_path is None:
        kind, target_id, blobs = "blob", target, [target]
        what = f"blob {target[:12]}"
    else:
        target_id = _run_id(vault, target)
        snap = vault.snapshot(tip)
        record = snap.get("run", target_id)
        if field_path is None:
            kind = "run"
            others = _refs_elsewhere(vault, target_id)
            blobs = sorted(set(blob_refs(record)) - others)
            kept = sorted(set(blob_refs(record)) & others)
            what = f"run {target_id}"
        else:
            kind = "field"
            probe = codec.decode(codec.encode(record), "record")
            old = _value_at(probe, field_path)
            notes = _is_notes(field_path) and any(e.get("type") == "note" for e in snap.events("run", target_id))
            if not blank_field(probe, field_path) and not notes:
                raise RecordNotFoundError(f"run {target_id} has nothing to purge at {field_path!r}; its fields: "
                                          f"{', '.join(sorted(record))} (notes added later count as notes)")
            blobs = [old] if isinstance(old, str) and old in blob_refs(record) else []
            what = f"{field_path} of run {target_id}"
    purge_id = stable_id("purge", kind, target_id, field_path or "")
    entry = {"kind": "purge", "id": purge_id, "target_kind": kind, "target": target_id, "field": field_path,
             "blobs": blobs, "created_at": codec.utc_now()}
    report = PurgeReport(what, blobs, kept=kept)

    def build(repo: pygit2.Repository, parent: pygit2.Oid | None) -> tuple[pygit2.Oid | None, str]:
        assert parent is not None
        existing = purges_at(repo, parent)
        rewriter = Rewriter(repo, [*existing.values(), entry])
        rewritten = rewriter.history(parent)
        report.rewritten = sum(1 for old, new in rewriter.commits.items() if old != new)
        base = repo[rewritten].peel(pygit2.Tree)
        tree = apply_changes(repo, base, {(PURGES_DIR, f"{purge_id}.msgpack"): repo.create_blob(codec.encode(entry))})
        sig = signature(repo)
        message = f"purge {what}"
        return repo.create_commit(None, sig, sig, message, tree, [rewritten]), message

    vault.advance(build)
    after_rewrite(vault)
    return report


def _is_notes(path: str) -> bool:
    """Whether a purged field path is the run's notes (which later note events add to)."""
    return path.split(".")[0].split("[")[0] == "notes"


def _value_at(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for name, index in _STEP.findall(path):
        try:
            node = node[name] if name else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _run_id(vault: Vault, target: str) -> str:
    snap = vault.snapshot()
    matches = [rid for rid in snap.ids("run") if rid == target or rid.startswith(target)]
    if target in matches:
        return target
    if not matches:
        raise RecordNotFoundError(f"no run {target!r} in this vault (give a run id, a unique id prefix, "
                                  "or a blob's sha256)")
    if len(matches) > 1:
        raise AmbiguousIdError(f"run id prefix {target!r} matches {len(matches)} runs; give more characters")
    return matches[0]


def _refs_elsewhere(vault: Vault, run_id: str) -> set[str]:
    """Blobs referenced by any record other than ``run_id``'s."""
    return _refs_without(vault, {layout.entity_dir("run", run_id): None})


def _refs_without(vault: Vault, removals: dict[Path_, pygit2.Oid | None]) -> set[str]:
    """Blobs the records at the tip reference once ``removals`` are applied, purged ones included
    (the purge records themselves are left out, so nothing is subtracted)."""
    from gitvault.sync.merge import blobs_between  # merging applies purges: it imports this module

    tip = vault.tip()
    repo = vault.repo
    root = gitobjects.tree(repo, tip) if tip is not None else None
    if root is None:
        return set()
    probe_tree = apply_changes(repo, root, {**removals, (PURGES_DIR,): None})
    sig = signature(repo)
    probe = repo.create_commit(None, sig, sig, "probe", probe_tree, [])
    return blobs_between(repo, None, probe)
