"""Merging two vault tips so that no run, event or record version is ever lost.

The merge is a three-way tree merge that skips every subtree whose id is equal on both sides (or
unchanged on one side since the merge base), so its cost follows the size of the divergence, not
of the vault. Records and events live at distinct paths, so almost every merge is a union of
paths. Where the same path holds different content, the rules below apply. Each rule is a
function of the *set* of versions seen, never of which side is "ours", so merging A into B and B
into A give the same tree, merging twice changes nothing, and merging three clones in any order
converges:

- A record (``<id>/record.msgpack``) and its kept alternatives (``<id>/conflicts/<oid>.msgpack``)
  form one set of versions. Versions are grouped into classes: for runs every distinct content is
  its own class; for other kinds two versions that differ only in ``created_at`` are one class
  (two clones that created the same experiment path at different times). The smallest version of
  each class is kept; the overall smallest becomes ``record.msgpack``, the others are stored
  under ``conflicts/`` and reported. Order: runs put a terminal status before ``running``, then
  compare the encoded bytes; other kinds compare (``created_at``, encoded bytes).
- Once a run or experiment has more than one kept version, the tags and notes of every kept
  version are added as events whose ids and content derive from those tags and notes alone, so
  the folded view holds the union of tags and notes whatever the merge order.
- ``vault.toml`` edited on both sides: union of taxonomy domains, methods and metric lists (sorted);
  a different hierarchy keeps the smaller text and is reported.
- Any other file with two contents (e.g. an event) keeps the smaller blob under its name and the
  other beside it as ``<name>-<oid12>.<ext>``.
- A path deleted on one side and untouched on the other stays deleted (three-way rule); deleted
  on one side and changed on the other is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, cast

import pygit2
from pygit2.enums import FileMode

from gitvault.storage import codec, gitobjects, layout

from gitvault.secrets import purge
from gitvault.settings import VaultConfig
from gitvault.errors import ConfigError, CorruptRecordError, SyncError
from gitvault.names import stable_id
from gitvault.storage.records import TERMINAL_STATUSES, blob_refs
from gitvault.storage.repo import signature
from gitvault.storage.vault import Transaction, Vault, changed_entities

Entry = tuple[pygit2.Oid, int]
_EPOCH = "1970-01-01T00:00:00.000000Z"  # never "now": merged events must not depend on the clock
COUNT_KEYS = ("runs", "experiments", "models", "lineage", "todos", "links", "events", "conflicts")


@dataclass
class MergeResult:
    """What a merge did to ``refs/vault/main``."""

    tip: pygit2.Oid | None
    previous: pygit2.Oid | None
    how: str  # "up-to-date", "fast-forward", "merge", "created"
    added: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


class TreeMerger:
    """The merge of three vault trees; the result depends only on the trees."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.conflicts: list[str] = []

    def merge(self, base: pygit2.Oid | None, ours: pygit2.Oid | None, theirs: pygit2.Oid | None) -> pygit2.Oid:
        o, a, b = (self._entries(t) for t in (base, ours, theirs))
        out: dict[str, Entry] = {}
        for name in sorted(a.keys() | b.keys() | o.keys()):
            if name == layout.CONFIG_FILE:
                entry = self._merge_entry(o.get(name), a.get(name), b.get(name), self._config_conflict, name)
            elif name in layout.DIR_KINDS:
                kind = layout.DIR_KINDS[name]
                entry = self._merge_entry(o.get(name), a.get(name), b.get(name),
                                          self._blob_conflict, name, lambda x, y, z, k=kind: self._merge_level(x, y, z, k, 1))
            else:
                entry = self._merge_entry(o.get(name), a.get(name), b.get(name), self._blob_conflict, name)
                _keep_aside(out, name, o.get(name), a.get(name), b.get(name), entry)
            if entry is not None:
                out[name] = entry
        return self._write(out)

    # -- the generic three-way step -----------------------------------------------------------

    def _merge_entry(self, o: Entry | None, a: Entry | None, b: Entry | None, on_blobs, name: str,  # noqa: ANN001
                     on_trees=None) -> Entry | None:  # noqa: ANN001
        if a == b:
            return a
        if a == o:
            return b
        if b == o:
            return a
        if a is None or b is None:
            return a if b is None else b  # deleted on one side, changed on the other: keep it
        a_tree, b_tree = a[1] == FileMode.TREE, b[1] == FileMode.TREE
        if a_tree and b_tree:
            base = o[0] if o is not None and o[1] == FileMode.TREE else None
            merge_trees = on_trees or self._merge_generic
            return merge_trees(base, a[0], b[0]), FileMode.TREE
        if a_tree != b_tree:
            self.conflicts.append(f"{name}: a file on one side is a folder on the other; kept the folder")
            return a if a_tree else b
        return on_blobs(o, a, b, name)

    def _blob_conflict(self, o: Entry | None, a: Entry | None, b: Entry | None, name: str) -> Entry:
        """Plain files: the smaller content keeps the name (see `_merge_generic` for the other)."""
        assert a is not None and b is not None
        return min(a, b, key=lambda e: (gitobjects.blob_bytes(self.repo, e[0]), str(e[0])))

    def _merge_generic(self, o: pygit2.Oid | None, a: pygit2.Oid | None, b: pygit2.Oid | None) -> pygit2.Oid:
        eo, ea, eb = self._entries(o), self._entries(a), self._entries(b)
        out: dict[str, Entry] = {}
        for name in sorted(ea.keys() | eb.keys() | eo.keys()):
            x, y, z = eo.get(name), ea.get(name), eb.get(name)
            entry = self._merge_entry(x, y, z, self._blob_conflict, name)
            if entry is not None:
                out[name] = entry
                _keep_aside(out, name, x, y, z, entry)
        return self._write(out)

    # -- levels of the record tree ------------------------------------------------------------

    def _merge_level(self, o: pygit2.Oid | None, a: pygit2.Oid | None, b: pygit2.Oid | None, kind: str,
                     depth: int) -> pygit2.Oid:
        eo, ea, eb = self._entries(o), self._entries(a), self._entries(b)
        out: dict[str, Entry] = {}
        for name in sorted(ea.keys() | eb.keys() | eo.keys()):
            if depth < 3:
                sub = lambda x, y, z, d=depth: self._merge_level(x, y, z, kind, d + 1)  # noqa: E731
            else:
                sub = lambda x, y, z, n=name: self._merge_entity(x, y, z, kind, n)  # noqa: E731
            entry = self._merge_entry(eo.get(name), ea.get(name), eb.get(name), self._blob_conflict, name, sub)
            if entry is not None:
                out[name] = entry
        return self._write(out)

    def _merge_entity(self, o: pygit2.Oid | None, a: pygit2.Oid | None, b: pygit2.Oid | None, kind: str,
                      record_id: str) -> pygit2.Oid:
        eo, ea, eb = self._entries(o), self._entries(a), self._entries(b)
        versioned = (layout.RECORD_FILE, layout.CONFLICTS_DIR)
        vo, va, vb = (tuple(e.get(n) for n in versioned) for e in (eo, ea, eb))
        extra_events: dict[str, bytes] = {}
        out: dict[str, Entry] = {}
        if va == vb or va == vo or vb == vo:
            chosen = va if (va == vb or vb == vo) else vb
            for name, entry in zip(versioned, chosen):
                if entry is not None:
                    out[name] = entry
        else:
            out.update(self._resolve_versions(kind, record_id, ea, eb, extra_events))
        for name in sorted((ea.keys() | eb.keys() | eo.keys()) - set(versioned)):
            entry = self._merge_entry(eo.get(name), ea.get(name), eb.get(name), self._blob_conflict, name,
                                      self._merge_generic)
            if entry is not None:
                out[name] = entry
        if extra_events:
            events = self._entries(out[layout.EVENTS_DIR][0]) if layout.EVENTS_DIR in out else {}
            for fname, data in extra_events.items():
                events.setdefault(fname, (self.repo.create_blob(data), FileMode.BLOB))
            out[layout.EVENTS_DIR] = (self._write(events), FileMode.TREE)
        return self._write(out)

    def _resolve_versions(self, kind: str, record_id: str, ea: dict[str, Entry], eb: dict[str, Entry],
                          extra_events: dict[str, bytes]) -> dict[str, Entry]:
        oids: set[pygit2.Oid] = set()
        for side in (ea, eb):
            if layout.RECORD_FILE in side:
                oids.add(side[layout.RECORD_FILE][0])
            folder = side.get(layout.CONFLICTS_DIR)
            if folder is not None and folder[1] == FileMode.TREE:
                oids.update(e.id for e in gitobjects.tree(self.repo, folder[0]))
        versions = [_Version(oid, gitobjects.blob_bytes(self.repo, oid)) for oid in oids]
        winner, losers = canonical_versions(kind, versions)
        out: dict[str, Entry] = {layout.RECORD_FILE: (winner.oid, FileMode.BLOB)}
        if losers:
            conflicts: dict[str, Entry] = {f"{v.oid}.msgpack": (v.oid, FileMode.BLOB) for v in losers}
            out[layout.CONFLICTS_DIR] = (self._write(conflicts), FileMode.TREE)
            known = {e.id for side in (ea, eb) if layout.CONFLICTS_DIR in side
                     for e in gitobjects.tree(self.repo, side[layout.CONFLICTS_DIR][0])}
            if any(v.oid not in known for v in losers):
                self.conflicts.append(_describe_conflict(kind, record_id, winner, losers))
        if kind in ("run", "experiment") and losers:
            for version in [winner, *losers]:
                extra_events.update(union_events(kind, record_id, version))
        return out

    def _config_conflict(self, o: Entry | None, a: Entry | None, b: Entry | None, name: str) -> Entry:
        assert a is not None and b is not None
        texts = sorted((gitobjects.blob_bytes(self.repo, a[0]), gitobjects.blob_bytes(self.repo, b[0])))
        try:
            configs = [VaultConfig.from_toml(t.decode("utf-8")) for t in texts]
        except (ConfigError, UnicodeDecodeError) as exc:
            self.conflicts.append(f"vault.toml: cannot merge two versions ({exc}); kept the smaller text")
            return self.repo.create_blob(texts[0]), FileMode.BLOB
        merged, notes = merge_configs(configs[0], configs[1])
        self.conflicts.extend(notes)
        return self.repo.create_blob(merged.to_toml().encode("utf-8")), FileMode.BLOB

    # -- plumbing -----------------------------------------------------------------------------

    def _entries(self, oid: pygit2.Oid | None) -> dict[str, Entry]:
        if oid is None:
            return {}
        # the entries of a tree are named
        return {cast(str, e.name): (e.id, e.filemode) for e in gitobjects.tree(self.repo, oid)}

    def _write(self, entries: dict[str, Entry]) -> pygit2.Oid:
        builder = self.repo.TreeBuilder()
        for name, (oid, mode) in entries.items():
            builder.insert(name, oid, mode)
        return builder.write()


@dataclass
class _Version:
    oid: pygit2.Oid
    data: bytes

    @property
    def record(self) -> dict[str, Any] | None:
        try:
            return codec.decode(self.data)
        except CorruptRecordError:
            return None


def _order(kind: str, version: _Version) -> tuple[Any, ...]:
    record = version.record
    if record is None:
        return (2, "", version.data)
    if kind == "run":
        return (0 if record.get("status") in TERMINAL_STATUSES else 1, "", version.data)
    return (0, str(record.get("created_at") or ""), version.data)


def _class_key(kind: str, version: _Version) -> bytes:
    record = version.record
    if record is None or kind == "run":
        return version.data
    stripped = {k: v for k, v in record.items() if k != "created_at"}
    return codec.encode(stripped)


def canonical_versions(kind: str, versions: list[_Version]) -> tuple[_Version, list[_Version]]:
    """The winner and the kept alternatives of a set of record versions (a semilattice join)."""
    best: dict[bytes, _Version] = {}
    for version in versions:
        key = _class_key(kind, version)
        if key not in best or _order(kind, version) < _order(kind, best[key]):
            best[key] = version
    ranked = sorted(best.values(), key=lambda v: _order(kind, v))
    return ranked[0], ranked[1:]


def union_events(kind: str, record_id: str, version: _Version) -> dict[str, bytes]:
    """Tag and note events that carry a version's tags and notes into the folded view.

    Made for every kept version once a record has more than one, with ids and content that
    depend only on the tags and notes, so the set of events does not depend on merge order."""
    record = version.record or {}
    out: dict[str, bytes] = {}
    tags = sorted({str(t) for t in record.get("tags") or []})
    if tags:
        eid = stable_id("merge-tag", kind, record_id, *tags)
        out.update(_event(kind, record_id, eid, "tag", {"tags": tags}, _EPOCH))
    for note in record.get("notes") or []:
        content = note.get("content", "") if isinstance(note, dict) else str(note)
        created = str(note.get("created_at") or _EPOCH) if isinstance(note, dict) else _EPOCH
        eid = stable_id("merge-note", kind, record_id, created, content)
        out.update(_event(kind, record_id, eid, "note", {"content": content}, created))
    return out


def _event(kind: str, record_id: str, eid: str, etype: str, data: dict[str, Any], created_at: str) -> dict[str, bytes]:
    tx = Transaction(message="")
    tx.add_event(kind, record_id, etype, data, event_id=eid, created_at=created_at)
    ((path, body),) = tx.writes.items()
    return {path[-1]: body}


def _describe_conflict(kind: str, record_id: str, winner: _Version, losers: list[_Version]) -> str:
    record = winner.record or {}
    if kind == "model":
        what = f"model {record.get('name')!r} version {record.get('version')!r}"
    elif kind == "experiment":
        what = f"experiment {record.get('path') or record_id!r}"
    else:
        what = f"{kind} {record_id}"
    where = "/".join(layout.entity_dir(kind, record_id) + (layout.CONFLICTS_DIR,))
    return (f"{what} exists with {len(losers) + 1} different contents; kept {winner.oid} as the record, "
            f"the other(s) are stored under {where}/")


def _keep_aside(out: dict[str, Entry], name: str, o: Entry | None, a: Entry | None, b: Entry | None,
                entry: Entry | None) -> None:
    """When two different files met at one name, store the one that lost beside the winner."""
    if a is None or b is None or a == b or o in (a, b) or entry not in (a, b):
        return
    if a[1] == FileMode.TREE or b[1] == FileMode.TREE:
        return
    loser = b if entry == a else a
    out[_aside_name(name, loser[0])] = loser


def _aside_name(name: str, oid: pygit2.Oid) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return f"{name}-{str(oid)[:12]}"
    return f"{stem}-{str(oid)[:12]}.{ext}"


def merge_configs(x: VaultConfig, y: VaultConfig) -> tuple[VaultConfig, list[str]]:
    """Union of two vault.toml contents; the result is sorted so the merge is order-free."""
    notes: list[str] = []
    hierarchies = sorted((" > ".join(x.hierarchy), " > ".join(y.hierarchy)))
    if hierarchies[0] != hierarchies[1]:
        notes.append(f"vault.toml: the hierarchy differs ({hierarchies[0]!r} vs {hierarchies[1]!r}); "
                     f"kept {hierarchies[0]!r} — change it with `git vault init --force --hierarchy ...`")
    domains = sorted(x.domains.keys() | y.domains.keys())
    methods = sorted(x.methods.keys() | y.methods.keys())

    def pick(a: str | None, b: str | None) -> str:
        values = sorted(v for v in (a, b) if v is not None)
        return values[0] if values else ""

    merged = VaultConfig(
        hierarchy=[p.strip() for p in hierarchies[0].split(">")],
        domains={d: sorted(set(x.domains.get(d, [])) | set(y.domains.get(d, []))) for d in domains},
        domain_descriptions={d: pick(x.domain_descriptions.get(d), y.domain_descriptions.get(d)) for d in domains},
        methods={m: pick(x.methods.get(m), y.methods.get(m)) for m in methods},
        minimize=sorted(set(x.minimize) | set(y.minimize)),
        maximize=sorted(set(x.maximize) | set(y.maximize)),
        format_version=max(x.format_version, y.format_version),
    )
    both = set(merged.minimize) & set(merged.maximize)
    if both:
        notes.append(f"vault.toml: metric(s) {', '.join(sorted(both))} are both minimized and maximized now")
    return merged, notes


def merge_tree_ids(repo: pygit2.Repository, base: pygit2.Oid | None, ours: pygit2.Oid, theirs: pygit2.Oid
                   ) -> tuple[pygit2.Oid, list[str]]:
    """Merge three commits' trees; returns the tree id and the conflicts worth reporting."""
    merger = TreeMerger(repo)
    trees = [repo[c].peel(pygit2.Tree).id if c is not None else None for c in (base, ours, theirs)]
    tree = merger.merge(*trees)
    return tree, merger.conflicts


def count_added(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> dict[str, int]:
    """Per kind: entities new in ``new``; plus event files and conflict versions added."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    if new is None or old == new:
        return counts
    old_tree = repo[old].peel(pygit2.Tree) if old else None
    new_tree = repo[new].peel(pygit2.Tree)
    entities, _ = changed_entities(repo, old, new)
    for kind, record_id in entities:
        folder = "/".join(layout.entity_dir(kind, record_id))
        before = _names(old_tree, folder)
        after = _names(new_tree, folder)
        if after is None:
            continue
        if before is None or layout.RECORD_FILE not in before:
            counts[layout.KIND_DIRS[kind]] += 1
        for sub, key in ((layout.EVENTS_DIR, "events"), (layout.CONFLICTS_DIR, "conflicts")):
            new_names = _names(new_tree, f"{folder}/{sub}") or set()
            old_names = _names(old_tree, f"{folder}/{sub}") or set()
            counts[key] += len(new_names - old_names)
    return counts


def _names(tree: pygit2.Tree | None, path: str) -> set[str] | None:
    if tree is None:
        return None
    try:
        obj = tree[path]
    except KeyError:
        return None
    return {cast(str, e.name) for e in obj} if isinstance(obj, pygit2.Tree) else None  # tree entries are named


def iter_entity_trees(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None
                      ) -> Iterator[tuple[str, str, pygit2.Tree]]:
    """(kind, id, entity tree in ``new``) of every entity that differs from ``old``."""
    if new is None:
        return
    new_tree = repo[new].peel(pygit2.Tree)
    entities, _ = changed_entities(repo, old, new)
    for kind, record_id in sorted(entities):
        try:
            obj = new_tree["/".join(layout.entity_dir(kind, record_id))]
        except KeyError:
            continue
        if isinstance(obj, pygit2.Tree):
            yield kind, record_id, obj


def blobs_between(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> set[str]:
    """Blob shas referenced by records (and kept conflict versions) that differ from ``old`` in
    ``new``, less those purged (`gitvault.secrets.purge`)."""
    shas: set[str] = set()
    for kind, record_id, tree in iter_entity_trees(repo, old, new):
        blobs: list[pygit2.Oid] = []
        if layout.RECORD_FILE in tree:
            blobs.append(tree[layout.RECORD_FILE].id)
        try:
            if layout.CONFLICTS_DIR in tree:
                blobs.extend(e.id for e in gitobjects.tree(repo, tree[layout.CONFLICTS_DIR].id))
        except CorruptRecordError:
            pass
        for blob in blobs:
            try:
                shas.update(blob_refs(codec.decode(gitobjects.blob_bytes(repo, blob), f"{kind}/{record_id}")))
            except CorruptRecordError:
                continue
    return shas - purge.purged_blobs(repo, new)  # purged on purpose: no one sends or fetches them


def merge_into(vault: Vault, theirs: pygit2.Oid, message: str) -> MergeResult:
    """Merge commit ``theirs`` into ``refs/vault/main`` under the vault lock, by compare-and-swap.

    Fast-forwards when one side contains the other; otherwise commits the merged tree with
    parents [ours, theirs]. The merge is computed inside the lock (`Vault.advance`), so only a
    writer that bypasses the lock (plain ``git update-ref``) can make the swap fail; then it is
    recomputed on the new tip.
    """
    result = MergeResult(None, None, "up-to-date")
    rewritten = False

    def build(repo: pygit2.Repository, ours: pygit2.Oid | None) -> tuple[pygit2.Oid | None, str]:
        nonlocal result, rewritten
        _check_incoming_config(repo, ours, theirs, message)
        # a purge on either side is applied to the other's history first (see gitvault.secrets.purge)
        mine, their, rewritten = purge.reconcile(repo, ours, theirs)
        result = _merge_step(repo, mine, their, message)
        result.previous = ours
        return result.tip, message if result.how != "fast-forward" else f"{message} (fast-forward)"

    vault.advance(build)
    if rewritten:
        purge.after_rewrite(vault)
    result.added = count_added(vault.repo, result.previous, result.tip)
    return result


def _check_incoming_config(repo: pygit2.Repository, ours: pygit2.Oid | None, theirs: pygit2.Oid,
                           message: str) -> None:
    """Refuse a merge that would take in a ``vault.toml`` this version cannot read (nothing merged)."""
    def config_blob(commit: pygit2.Oid | None) -> pygit2.Oid | None:
        if commit is None:
            return None
        tree = gitobjects.tree(repo, commit)
        return tree[layout.CONFIG_FILE].id if layout.CONFIG_FILE in tree else None

    incoming = config_blob(theirs)
    if incoming is None or incoming == config_blob(ours):
        return
    try:
        VaultConfig.from_toml(gitobjects.blob_bytes(repo, incoming).decode("utf-8"), "the incoming vault.toml")
    except (ConfigError, CorruptRecordError, UnicodeDecodeError) as exc:
        why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise SyncError(f"{message}: refused, the incoming vault.toml cannot be read ({why}); nothing was "
                        "merged. Ask whoever pushed it to restore a valid vault.toml (`git vault init --force`)") from None


def _merge_step(repo: pygit2.Repository, ours: pygit2.Oid | None, theirs: pygit2.Oid, message: str) -> MergeResult:
    if ours is None:
        return MergeResult(theirs, None, "created")
    if ours == theirs or repo.descendant_of(ours, theirs):
        return MergeResult(ours, ours, "up-to-date")
    if repo.descendant_of(theirs, ours):
        return MergeResult(theirs, ours, "fast-forward")
    base = repo.merge_base(ours, theirs)
    tree, conflicts = merge_tree_ids(repo, base, ours, theirs)
    sig = signature(repo)
    commit = repo.create_commit(None, sig, sig, message, tree, [ours, theirs])
    return MergeResult(commit, ours, "merge", conflicts=conflicts)
