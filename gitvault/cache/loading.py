"""Reading what a refresh loads into the caches from the vault: every entity of a commit, or only
those a tree diff names, folded with their events (`Plan` loads it once for both caches).

Deleted records (a ``delete`` event, `records.is_deleted`) never reach the caches
(`hide_deleted`): a deleted run or TODO, an experiment that is deleted or below a deleted one, the
runs of such an experiment, the lineage edges touching a hidden run or experiment and the TODOs
scoped to one. So every reader (listings, counts, search, SQL, lineage) leaves them out without a
filter of its own. A change that deletes or restores a run or an experiment hides or shows records
the tree diff does not name, so it is applied as a full rebuild (deletes are rare, explicit acts)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import pygit2

from gitvault.cache.state import CacheKey, CurveReader, Key, Loaded, RunTables, metric_items, to_json
from gitvault.settings import VaultConfig
from gitvault.errors import CorruptRecordError, VaultError
from gitvault.storage import codec, layout, records
from gitvault.storage.records import materialize_curves
from gitvault.storage.vault import Snapshot, changed_entities

if TYPE_CHECKING:
    from gitvault.cache import Caches, Progress
    from gitvault.cache.split_rebuild import Partner

INCREMENTAL_MAX_SHARE = 0.5
"""A change touching more than this share of the vault's entities is applied as a full rebuild.
An incremental refresh spends about what a rebuild spends per entity (0.7-1.4x, bench/vault_bench.py)
plus deletes and lookups, while a rebuild's cost follows the whole vault: past half the vault the
rebuild costs at most about twice the change, and writes fresh tables and indexes."""


def _entity(kind: str, entity_id: str, tree: pygit2.Object, out: Loaded) -> dict[str, Any] | None:
    where = f"{layout.KIND_DIRS[kind]}/{entity_id}"
    if not isinstance(tree, pygit2.Tree):
        out.problems.append(f"skipped {where}: a file where a record folder belongs; run `git vault fsck`")
        return None
    try:
        entry = tree[layout.RECORD_FILE]  # tree entries are objects: no second lookup by id
    except KeyError:
        return None
    try:
        record = _decode(entry, f"{where}/{layout.RECORD_FILE}")
        events: list[dict[str, Any]] = []
        folder: pygit2.Tree | pygit2.Blob | None
        try:
            folder = tree[layout.EVENTS_DIR]
        except KeyError:
            folder = None
        if isinstance(folder, pygit2.Blob):
            raise CorruptRecordError(f"{where}/{layout.EVENTS_DIR}: expected a folder, found a file")
        if folder is not None:
            for e in folder:
                events.append(_decode(e, f"{where}/events/{e.name}"))
            events.sort(key=lambda ev: (ev.get("created_at") or "", ev.get("id") or ""))
    except CorruptRecordError as exc:
        out.problems.append(f"skipped {where}: {exc}")
        return None
    if events:
        view = records.fold(record, events)
    else:  # what fold returns without events, minus its deep copy: ``record`` was decoded here, for us alone
        view = record
        if kind in ("run", "experiment"):
            view["tags"] = view.get("tags") or []
            view["notes"] = view.get("notes") or []
    view.setdefault("id", entity_id)
    return view


def _decode(obj: pygit2.Object, path: str) -> dict[str, Any]:
    if not isinstance(obj, pygit2.Blob):
        raise CorruptRecordError(f"{path}: expected a file, found a folder")
    return codec.decode(obj.data, path)


def _folders(tree: pygit2.Object) -> Iterator[pygit2.Tree]:
    """The folders in a fan-out folder: a file there holds no entity (`git vault fsck` names it)."""
    if isinstance(tree, pygit2.Tree):
        for sub in tree:
            if isinstance(sub, pygit2.Tree):
                yield sub


def run_folders(repo: pygit2.Repository, tip: pygit2.Oid | None) -> int:
    """How many first-level fan-out folders the runs of the vault at ``tip`` are in (a
    two-process rebuild shares them out by their index, `load_all`'s ``runs``)."""
    root = repo[tip].peel(pygit2.Tree) if tip else None
    folder = layout.KIND_DIRS["run"]
    return len(list(_folders(root[folder]))) if root is not None and folder in root else 0


def load_all(repo: pygit2.Repository, tip: pygit2.Oid | None, hierarchy: list[str] | None,
             tick: Callable[[int, int], None] | None = None, runs: slice = slice(None),
             kinds: Iterable[str] = layout.KIND_DIRS) -> Loaded:
    """Every entity of ``kinds`` of the vault at ``tip``, walking the fan-out trees once; of the
    runs, only those in the first-level fan-out folders ``runs`` (by index: a two-process rebuild
    gives each process a share). ``tick(done, total)`` follows the first fan-out level."""
    out = Loaded(full=True, hierarchy=hierarchy)
    root = repo[tip].peel(pygit2.Tree) if tip else None
    tops = {kind: list(_folders(root[layout.KIND_DIRS[kind]])) for kind in kinds
            if root is not None and layout.KIND_DIRS[kind] in root}
    if "run" in tops:
        tops["run"] = tops["run"][runs]
    total, done = sum(len(t) for t in tops.values()), 0
    for kind in kinds:
        bucket: dict[str, dict[str, Any]] = {}
        out.views[kind] = bucket
        for a in tops.get(kind, ()):
            for b in _folders(a):
                for ent in b:
                    name = ent.name
                    assert name is not None  # the entries of a tree are named
                    view = _entity(kind, name, ent, out)
                    if view is not None:
                        bucket[name] = view
            done += 1
            if tick is not None:
                tick(done, total)
        # in id order (a ULID's is its time's): rows reach the caches' indexes in key order
        out.views[kind] = dict(sorted(bucket.items()))
    return out


def count_entities(repo: pygit2.Repository, tip: pygit2.Oid | None, stop_at: int) -> int:
    """Entities of the vault at ``tip`` (leaf folders of the fan-out trees), counting no further
    than ``stop_at`` (a small change in a big vault reads a few trees, not all of them)."""
    root = repo[tip].peel(pygit2.Tree) if tip else None
    count = 0
    for folder in layout.KIND_DIRS.values():
        if root is None or folder not in root:
            continue
        for a in _folders(root[folder]):
            for b in _folders(a):
                count += len(b)
                if count >= stop_at:
                    return count
    return count


Lookup = Callable[[str, str], "Mapping[str, Any] | None"]


class _Hidden:
    """Whether a run or an experiment is deleted or below a deleted experiment, memoised. A class,
    not a recursive closure: a closure that calls itself is a reference cycle, which would keep
    every loaded record alive until the cycle collector runs (a second per 100,000 runs)."""

    def __init__(self, views: dict[str, dict[str, dict[str, Any]]], lookup: Lookup | None) -> None:
        self.views = views
        self.lookup = lookup
        self.memo: dict[Key, bool] = {}

    def view_of(self, kind: str, ident: str) -> Mapping[str, Any] | None:
        found = self.views.get(kind, {}).get(ident)
        return found if found is not None or self.lookup is None else self.lookup(kind, ident)

    def hidden(self, kind: str, ident: Any) -> bool:
        if kind not in ("run", "experiment") or not isinstance(ident, str):
            return False
        key = (kind, ident)
        memo = self.memo
        if key not in memo:
            memo[key] = False  # a cycle of parents ends here
            view = self.view_of(kind, ident)
            up = ("experiment", view.get("experiment_id" if kind == "run" else "parent_id")) if view else None
            memo[key] = view is not None and (records.is_deleted(view) or (up is not None and self.hidden(*up)))
        return memo[key]


def hide_deleted(loaded: Loaded, lookup: Lookup | None = None) -> None:
    """Move every record of ``loaded`` that readers must not see (see the module docstring) from
    its views to ``removed`` (an incremental refresh then drops its rows). ``lookup(kind, id)``: a
    record not in ``loaded`` (the experiments above a changed run, the run of a changed edge)."""
    views = loaded.views
    hidden = _Hidden(views, lookup).hidden
    # a run is hidden when deleted or in a hidden experiment (asked directly: runs are no one's parents)
    gone: list[Key] = [("run", i) for i, r in views.get("run", {}).items()
                       if records.is_deleted(r) or hidden("experiment", r.get("experiment_id"))]
    gone += [("experiment", i) for i in views.get("experiment", {}) if hidden("experiment", i)]
    gone += [("todo", i) for i, t in views.get("todo", {}).items()
             if records.is_deleted(t) or hidden(str(t.get("scope_type")), t.get("scope_id"))]
    gone += [("lineage", i) for i, x in views.get("lineage", {}).items()
             if hidden(str(x.get("parent_type")), x.get("parent_id")) or hidden(str(x.get("child_type")), x.get("child_id"))]
    for kind, ident in gone:
        del views[kind][ident]
        loaded.removed.add((kind, ident))
        loaded.hidden.add((kind, ident))


def _entity_at(root: pygit2.Tree | None, kind: str, entity_id: str, out: Loaded) -> dict[str, Any] | None:
    """One entity of the tree ``root``, folded (None when it is not there)."""
    if root is None:
        return None
    try:
        entry = root["/".join(layout.entity_dir(kind, entity_id))]
    except (KeyError, ValueError):
        return None
    return _entity(kind, entity_id, entry, out)


def _deletion_changed(repo: pygit2.Repository, old: pygit2.Oid, loaded: Loaded, keys: Iterable[Key]) -> bool:
    """True when a run or experiment the change names was deleted or restored (or an experiment
    left the vault): the records it hides or shows are not all named by the change."""
    old_root: pygit2.Tree | None = None
    for kind, ident in keys:
        if kind not in ("run", "experiment"):
            continue
        new = loaded.views.get(kind, {}).get(ident)
        if new is None:
            if kind == "experiment":
                return True
            continue
        if "deleted" not in new:  # never deleted or restored: it was not deleted before either
            continue
        if old_root is None:
            old_root = repo[old].peel(pygit2.Tree)
        before = _entity_at(old_root, kind, ident, Loaded(full=False))
        if records.is_deleted(before or {}) != records.is_deleted(new):
            return True
    return False


def load_changed(repo: pygit2.Repository, tip: pygit2.Oid | None, keys: Iterable[Key], hierarchy: list[str] | None) -> Loaded:
    """Only the named entities; those no longer in the tree are listed as removed."""
    out = Loaded(full=False, hierarchy=hierarchy)
    root = repo[tip].peel(pygit2.Tree) if tip else None
    for kind, entity_id in keys:
        bucket = out.views.setdefault(kind, {})
        view = _entity_at(root, kind, entity_id, out)
        if view is None:
            out.removed.add((kind, entity_id))
        else:
            bucket[entity_id] = view
    return out


class Plan:
    """Loads what a refresh needs once, whichever cache (thread) asks first.

    A full load reads the runs in the fan-out folders ``runs`` and the records of ``kinds``; with
    a ``partner`` (the other process of a two-process rebuild, `split_rebuild.Partner`) it reads
    this process's share of the runs, and the rows of the other share come from the partner."""

    def __init__(self, caches: Caches, repo: pygit2.Repository, tip: pygit2.Oid | None, progress: Progress | None,
                 runs: slice = slice(None), kinds: Iterable[str] = layout.KIND_DIRS,
                 partner: Partner | None = None) -> None:
        self.caches = caches
        self.repo = repo
        self.tip = tip
        self.progress = progress
        self.runs = runs
        self.kinds = tuple(kinds)
        self.partner = partner
        self._tables: dict[int, RunTables] = {}
        self._shared: Loaded | None = None  # the full load shared with the partner
        self._others: RunTables | None = None  # the rows of the partner's share of it
        self.problems: list[str] = []
        self.full_loaded: Loaded | None = None
        self.partial: dict[str, Loaded | None] = {}
        self.config_changed = False
        self._readers: dict[int, CurveReader] = {}
        self._config: VaultConfig | None | bool = False
        self._lock = threading.RLock()

    def release(self) -> None:
        """Drop what was loaded (asked for again, it is loaded again); nothing once the partner
        was dropped, as the cache it failed to write is built from what is loaded."""
        with self._lock:
            if self.partner is None:
                return
            self.full_loaded = self._shared = self._others = None
            self.partial.clear()
            self._readers.clear()
            self._tables.clear()

    def drop_partner(self) -> None:
        """Go on without the partner (it failed; `split_rebuild.Partner.problems` says why): a full
        load from now on reads every run here (again, unless this process read the partner's share
        itself and so holds DuckDB's rows of every run)."""
        with self._lock:
            self.partner = None
            if self._shared is not None and (self._others is None or self._others.run_rows is None):
                self.full_loaded = None  # this process's share alone, or without DuckDB's rows of the other

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def add_problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def reader(self, loaded: Loaded) -> CurveReader:
        with self._lock:
            if id(loaded) not in self._readers:
                self._readers[id(loaded)] = CurveReader(loaded.views.get("run", {}), self.caches.blobs, self.problems)
            return self._readers[id(loaded)]

    def config(self) -> VaultConfig | None:
        """``vault.toml`` at the tip (None when unreadable: a problem is reported)."""
        if self._config is False:
            try:
                self._config = self.caches.vault.snapshot(self.tip).config() if self.tip else None
            except VaultError as exc:
                self.problems.append(f"vault.toml unreadable: {exc}")
                self._config = None
        return self._config  # type: ignore[return-value]

    def hierarchy(self) -> list[str] | None:
        config = self.config()
        return config.hierarchy if config is not None else None

    def _materialize(self, loaded: Loaded) -> None:
        """Short runs' curves committed with their records become blob files the caches read."""
        snap = Snapshot(self.repo, self.tip)
        for run_id, run in loaded.views.get("run", {}).items():
            if not materialize_curves(snap, self.caches.blobs, run):
                self.problems.append(f"run {run_id}: its curves.parquet is missing or damaged in the vault; "
                                     "run `git vault fsck`")

    def full(self) -> Loaded:
        """The full load: with a partner, this process's share of the runs (`parts` adds the
        other share's rows), whose DuckDB rows are handed to the partner at once."""
        with self._lock:
            if self.full_loaded is None:
                partner = self.partner
                loaded = self._load(self.runs if partner is None else partner.mine, self.kinds)
                self.config_changed = True
                if partner is not None:
                    self._shared = loaded
                    partner.hand_over(self.tables(loaded))
                self.full_loaded = loaded
            return self.full_loaded

    def parts(self, loaded: Loaded) -> Iterator[RunTables]:
        """The rows of ``loaded``'s runs, in parts a cache can write one after the other: this
        process's, then, for a full load shared with a partner, those of the partner's share
        (asked for only once the first part is written: meanwhile the partner makes them)."""
        yield self.tables(loaded)
        if loaded is self._shared:
            yield self.others(loaded)

    def whole(self, loaded: Loaded) -> RunTables:
        """The rows of all of ``loaded``'s runs in one part, as DuckDB takes them (with a partner:
        DuckDB's rows and the points joined, not SQLite's, which `parts` gives SQLite)."""
        with self._lock:
            mine = self.tables(loaded)
            if loaded is not self._shared:
                return mine
            return RunTables(None, mine.run_rows, mine.curves).joined(self.others(loaded))

    def others(self, loaded: Loaded) -> RunTables:
        """The rows of the partner's share of a full load: what it hands over, or, should it fail,
        every row of that share, read here."""
        with self._lock:
            if self._others is None:
                assert self.partner is not None and loaded is self._shared  # only asked for by `parts` and `whole`
                theirs = self.partner.receive()
                if theirs is None:  # it failed (named among the problems): its share is read here
                    others = self._load(self.partner.theirs, ("run",), prefetch=False)
                    theirs = self._make_tables(others, CurveReader(others.views.get("run", {}), self.caches.blobs,
                                                                   self.problems))
                loaded.more_runs = theirs.runs
                self._others = theirs
            return self._others

    def _load(self, runs: slice, kinds: Iterable[str], prefetch: bool = True) -> Loaded:
        """A full load of ``kinds``, of the runs only those in the fan-out folders ``runs``."""
        self.report("records", 0, 1)
        ticks: list[int] = []

        def tick(done: int, total: int) -> None:
            ticks.append(done)
            self.report("records", done, total)

        loaded = load_all(self.repo, self.tip, self.hierarchy(), tick, runs, kinds)
        root = self.repo[self.tip].peel(pygit2.Tree) if self.tip else None

        def lookup(kind: str, ident: str) -> Mapping[str, Any] | None:
            """A record this load leaves out (a run of another share), read; its problems are that share's."""
            return _entity_at(root, kind, ident, Loaded(full=False))

        whole = runs == slice(None) and set(kinds) == set(layout.KIND_DIRS)
        hide_deleted(loaded, None if whole else lookup)
        loaded.config = self.config()
        self.problems.extend(loaded.problems)
        self._materialize(loaded)
        if prefetch:
            self.reader(loaded).prefetch(self.report)
        if not ticks:
            self.report("records", 1, 1)
        return loaded

    def tables(self, loaded: Loaded) -> RunTables:
        """Both caches' rows for the runs of ``loaded``, made once whichever cache asks first."""
        with self._lock:
            if id(loaded) not in self._tables:
                self._tables[id(loaded)] = self._make_tables(loaded, self.reader(loaded))
            return self._tables[id(loaded)]

    def _make_tables(self, loaded: Loaded, reader: CurveReader) -> RunTables:
        from gitvault.cache import duckdb_catalog, sqlite_cache

        self.report("rows", 0, 1)
        runs = loaded.of("run")
        configs = [to_json(r.get("config") or {}) for r in runs]
        metrics = [metric_items(r) for r in runs]
        tables = RunTables(sqlite_cache.run_rows(runs, configs, metrics),
                           duckdb_catalog.run_rows_table(runs, self.caches.blobs, configs, metrics),
                           reader.long() if loaded.full else None)
        self.report("rows", 1, 1)
        return tables

    def choose(self, meta: dict[str, str], key: CacheKey, force_full: bool) -> Loaded | None:
        """None when the cache holding ``meta`` is current, else what to load into it."""
        if not force_full and key.compatible(meta):
            old = meta.get("vault_tip") or ""
            if old == (key.tip or ""):
                return None
            with self._lock:
                loaded = self._incremental(old)
            if loaded is not None:
                return loaded
        return self.full()

    def _incremental(self, old: str) -> Loaded | None:
        """What changed since ``old``; None when only a full rebuild will do (unknown or unrelated
        tip, or a change too large for an incremental refresh to pay off)."""
        if old in self.partial:
            return self.partial[old]
        self.partial[old] = loaded = self._load_change(old)
        return loaded

    def _load_change(self, old: str) -> Loaded | None:
        if not old or self.tip is None:
            return None
        try:
            old_oid = pygit2.Oid(hex=old)
            if not isinstance(self.repo.get(old_oid), pygit2.Commit):
                return None
            if not self.repo.descendant_of(self.tip, old_oid):
                return None
            keys, config_changed = changed_entities(self.repo, old_oid, self.tip)
        except (ValueError, KeyError, pygit2.GitError):
            return None
        most = int(len(keys) / INCREMENTAL_MAX_SHARE)
        if keys and count_entities(self.repo, self.tip, most + 1) <= most:
            return None
        loaded = load_changed(self.repo, self.tip, sorted(keys), self.hierarchy() if config_changed else None)
        if _deletion_changed(self.repo, old_oid, loaded, keys):
            return None
        root = self.repo[self.tip].peel(pygit2.Tree)
        hide_deleted(loaded, lambda kind, ident: _entity_at(root, kind, ident, loaded))
        if config_changed:
            loaded.config = self.config()
        self.problems.extend(loaded.problems)
        self._materialize(loaded)
        self.config_changed = self.config_changed or config_changed
        return loaded
