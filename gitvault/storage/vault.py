"""The record store: msgpack records committed to ``refs/vault/main`` through pygit2.

Nothing here touches the user's work tree, index, HEAD or branches. Writers build their blobs
first, then hold a blocking ``flock`` on ``<git-common-dir>/vault.lock`` around
read-tip -> build trees -> commit -> compare-and-swap of the ref (`Reference.set_target` fails if
the ref moved, so writers that skip our lock, such as plain ``git update-ref``, are caught too).
"""

from __future__ import annotations

import errno
import functools
import os
import random
import threading
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import pygit2
from pygit2.enums import FileMode

from gitvault.storage import codec, gitobjects, layout, localdir, locks, maintenance, perms, schema
from gitvault.settings import VaultConfig
from gitvault.storage.locks import DEFAULT_TIMEOUT_S as LOCK_TIMEOUT_S, file_lock
from gitvault.errors import (
    ConfigError,
    RecordExistsError,
    RecordNotFoundError,
    VaultError,
    VaultExistsError,
    VaultNotInitializedError,
)
from gitvault.storage.repo import VAULT_REF, RepoPaths, discover, exclude_extract_dir, prepare_local, signature

if TYPE_CHECKING:
    from gitvault.storage.bulk import BulkResult

_CAS_RETRIES = 50
_BUILD_RETRIES = 5  # a pack deleted under the handle heals at the first retry
STALE_REF_LOCK_S = 5.0
"""A ``refs/vault/main.lock`` older than this (and than the writer's hold of the vault lock) is
stale: git holds a ref lock for milliseconds."""

Path_ = tuple[str, ...]


def new_id() -> str:
    """A fresh ULID string (sortable by creation time)."""
    from ulid import ULID  # imported by the first write: python-ulid loads importlib.metadata (~20 ms)

    return str(ULID())


def encode_record(kind: str, record_id: str, record: dict[str, Any]) -> tuple[Path_, bytes]:
    """The tree path and deterministic bytes of a record, after the checks every write makes
    (a dict, its ``kind``/``id`` matching where it is stored, a valid id, the kind's schema).
    Raises `TypeError` or `ValueError` with one line naming the record."""
    if not isinstance(record, dict):
        raise TypeError(f"a {kind} record must be a dict, got {type(record).__name__}")
    body = dict(record)
    body.setdefault("kind", kind)
    body.setdefault("id", record_id)
    if body["kind"] != kind or body["id"] != record_id:
        raise ValueError(f"record says kind={body['kind']!r} id={body['id']!r}, stored as {kind}/{record_id}")
    path = layout.record_path(kind, record_id)
    encoded = codec.encode(body)
    found = schema.problem(body)
    if found is not None:
        raise ValueError(f"{kind} {record_id}: {found}")
    return path, encoded


@dataclass
class Transaction:
    """Changes to apply in one vault commit. Checks run against the tip inside the lock."""

    message: str
    writes: dict[Path_, bytes] = field(default_factory=dict)
    replace: set[Path_] = field(default_factory=set)
    checks: list[Callable[["Snapshot"], None]] = field(default_factory=list)

    def put(self, kind: str, record_id: str, record: dict[str, Any], *, replace: bool = False) -> None:
        """Store a record. Re-putting identical content is a no-op; different content raises
        `RecordExistsError` at commit unless ``replace`` (sealed records are never rewritten)."""
        path, encoded = encode_record(kind, record_id, record)
        self.writes[path] = encoded
        if replace:
            self.replace.add(path)

    def add_event(self, kind: str, record_id: str, event_type: str, data: dict[str, Any] | None = None,
                  *, event_id: str | None = None, created_at: str | None = None) -> str:
        """Append a later fact about a record (tag, note, done, link...); returns the event id."""
        if data is not None and not isinstance(data, dict):
            raise TypeError(f"{event_type} event data must be a dict, got {type(data).__name__}")
        eid = event_id or new_id()
        body = {
            "kind": "event",
            "id": eid,
            "type": event_type,
            "target_kind": kind,
            "target_id": record_id,
            "created_at": created_at or codec.utc_now(),
            "data": data or {},
        }
        self.writes[layout.event_path(kind, record_id, eid)] = codec.encode(body)
        return eid

    def put_file(self, kind: str, record_id: str, name: str, data: bytes) -> None:
        """Store ``data`` as file ``name`` in a record's entity folder (committed with it)."""
        self.writes[layout.entity_dir(kind, record_id) + (name,)] = bytes(data)

    def put_config(self, config: VaultConfig) -> None:
        path = (layout.CONFIG_FILE,)
        self.writes[path] = config.to_toml().encode("utf-8")
        self.replace.add(path)

    def require(self, check: Callable[["Snapshot"], None]) -> None:
        """Run ``check(snapshot_of_tip)`` under the lock before committing; it raises to abort."""
        self.checks.append(check)


class Snapshot:
    """Read access to the vault as of one commit (or an empty vault)."""

    def __init__(self, repo: pygit2.Repository, commit_id: pygit2.Oid | None) -> None:
        self.repo = repo
        self.commit_id = commit_id

    @functools.cached_property
    def tree(self) -> pygit2.Tree | None:
        if self.commit_id is None:
            return None
        commit_id = self.commit_id
        try:
            return self.repo[commit_id].peel(pygit2.Tree)
        except (OSError, pygit2.GitError, KeyError):
            # a long-lived handle may still hold a pack (or multi-pack-index) that git gc/repack
            # deleted since; libgit2 only reloads on "not found", so drop its view and read again
            self.repo.free()
            return self.repo[commit_id].peel(pygit2.Tree)

    def _entry(self, path: Path_) -> pygit2.Object | None:
        if self.tree is None:
            return None
        try:
            return self.tree["/".join(path)]
        except KeyError:
            return None

    def blob_id_at(self, path: Path_) -> pygit2.Oid | None:
        """The id of the blob at ``path``, or None."""
        entry = self._entry(path)
        return entry.id if entry is not None and entry.filemode != FileMode.TREE else None

    def blob_at(self, path: Path_) -> pygit2.Blob | None:
        entry = self._entry(path)
        return entry if isinstance(entry, pygit2.Blob) else None

    def has(self, kind: str, record_id: str) -> bool:
        return self.blob_id_at(layout.record_path(kind, record_id)) is not None

    def get(self, kind: str, record_id: str) -> dict[str, Any]:
        path = layout.record_path(kind, record_id)
        blob = self.blob_at(path)
        if blob is None:
            raise RecordNotFoundError(f"{kind} not found: {record_id!r}")
        return codec.decode(blob.data, "/".join(path))

    def events(self, kind: str, record_id: str) -> list[dict[str, Any]]:
        """Events of a record, in their deterministic fold order (created_at, id)."""
        if self.tree is None:
            return []
        try:
            folder = self.tree["/".join(layout.entity_dir(kind, record_id) + (layout.EVENTS_DIR,))]
        except KeyError:
            return []
        out = [codec.decode(gitobjects.blob_bytes(self.repo, e.id), f"{kind}/{record_id}/events/{e.name}")
               for e in gitobjects.tree(self.repo, folder.id)]
        out.sort(key=lambda ev: (ev.get("created_at", ""), ev.get("id", "")))
        return out

    def conflicts(self, kind: str, record_id: str) -> list[dict[str, Any]]:
        if self.tree is None:
            return []
        try:
            folder = self.tree["/".join(layout.entity_dir(kind, record_id) + (layout.CONFLICTS_DIR,))]
        except KeyError:
            return []
        return [codec.decode(gitobjects.blob_bytes(self.repo, e.id), f"{kind}/{record_id}/conflicts/{e.name}")
                for e in gitobjects.tree(self.repo, folder.id)]

    def ids(self, kind: str) -> Iterator[str]:
        """Every record id of a kind, read from tree entry names only (no record is decoded)."""
        if self.tree is None:
            return
        try:
            top = self.tree[layout.KIND_DIRS[layout.check_kind(kind)]]
        except KeyError:
            return
        repo = self.repo
        if top.filemode != FileMode.TREE:
            return
        for a in gitobjects.tree(repo, top.id):
            if a.filemode != FileMode.TREE:
                continue  # a stray file at a fan-out level (fsck names it) hides nothing
            for b in gitobjects.tree(repo, a.id):
                if b.filemode != FileMode.TREE:
                    continue
                for entity in gitobjects.tree(repo, b.id):
                    if entity.filemode == FileMode.TREE:
                        yield str(entity.name)

    def config(self) -> VaultConfig:
        blob = self.blob_at((layout.CONFIG_FILE,))
        if blob is None:
            raise VaultNotInitializedError("the vault has no vault.toml; run `git vault init`")
        try:
            text = blob.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("vault.toml in refs/vault/main is not UTF-8 text; restore it with "
                              "`git vault init --force` (it keeps your runs)") from None
        return VaultConfig.from_toml(text)


class Vault:
    """One repository's vault: its ref, its lock and its local folder."""

    def __init__(self, paths: RepoPaths) -> None:
        self.paths = paths
        self._pid = os.getpid()
        self._repo = pygit2.Repository(str(paths.git_dir))
        self._thread_lock = threading.RLock()
        prepare_local(paths)

    @classmethod
    def open(cls, start: Path | str | None = None) -> "Vault":
        return cls(discover(start))

    def _after_fork(self) -> None:
        """libgit2 handles and a lock some parent thread held must not cross fork()."""
        if os.getpid() != self._pid:
            self._repo = pygit2.Repository(str(self.paths.git_dir))
            self._pid = os.getpid()
            self._thread_lock = threading.RLock()

    @property
    def repo(self) -> pygit2.Repository:
        self._after_fork()
        return self._repo

    @property
    def extract_dir(self) -> Path:
        return self.paths.extract_dir

    # -- reading -----------------------------------------------------------------------------

    def tip(self) -> pygit2.Oid | None:
        return gitobjects.ref_target(self.repo, VAULT_REF)

    def exists(self) -> bool:
        return self.tip() is not None

    def snapshot(self, commit_id: pygit2.Oid | None = None) -> Snapshot:
        self._after_fork()
        with self._thread_lock:
            return Snapshot(self.repo, commit_id if commit_id is not None else self.tip())

    def config(self) -> VaultConfig:
        if not self.exists():
            raise VaultNotInitializedError(
                f"no vault in {self.paths.work_tree or self.paths.common_dir}; run `git vault init`"
            )
        return self.snapshot().config()

    # -- writing -----------------------------------------------------------------------------

    def init(self, config: VaultConfig, *, force: bool = False) -> pygit2.Oid:
        """Write ``vault.toml`` as the vault's first (or, with ``force``, a new) commit."""
        self.ensure_local_dirs()
        tx = Transaction(message=f"init vault: hierarchy {' > '.join(config.hierarchy)}")
        tx.put_config(config)

        def refuse_existing(snap: Snapshot) -> None:
            if snap.blob_at((layout.CONFIG_FILE,)) is not None and not force:
                raise VaultExistsError(
                    "this repository already has a vault (refs/vault/main holds vault.toml); "
                    "pass --force to overwrite its configuration"
                )

        tx.require(refuse_existing)
        oid = self.commit(tx)
        pygit2.RefdbFsBackend(self.repo).ensure_log(VAULT_REF)
        return oid

    def edit_config(self, edit: Callable[[str], str], message: str) -> pygit2.Oid | None:
        """Commit a new ``vault.toml``: ``edit(text at the tip)`` -> the new text, checked by
        parsing it (`VaultConfig.from_toml`) before one commit under the lock (a concurrent
        writer's commit is kept: the edit is applied again to its tip). Returns the new tip, or
        None when the text did not change."""
        path = (layout.CONFIG_FILE,)
        changed = False

        def build(repo: pygit2.Repository, parent: pygit2.Oid | None) -> tuple[pygit2.Oid | None, str]:
            nonlocal changed
            snap = Snapshot(repo, parent)
            snap.config()  # raises, in its words, when vault.toml is missing or unreadable
            blob = snap.blob_at(path)
            assert blob is not None
            old = blob.data.decode("utf-8")
            new = edit(old)
            VaultConfig.from_toml(new)
            changed = new != old
            if not changed:
                return None, message
            tree = apply_changes(repo, snap.tree, {path: repo.create_blob(new.encode("utf-8"))})
            sig = signature(repo)
            return repo.create_commit(None, sig, sig, message, tree, [parent] if parent else []), message

        tip = self.advance(build)
        return tip if changed else None

    def ensure_local_dirs(self) -> bool:
        """Create the blob store and spool folder, and ``.extract/`` with its marker unless another
        program's store is there (then it is left alone and False is returned: logging runs does not
        need it; commands that do say so through `localdir.claim`)."""
        modes = perms.for_git_dir(self.paths.common_dir)
        for folder in (self.paths.objects_dir, self.paths.live_dir):
            try:
                modes.make_dirs(folder)
            except OSError as exc:  # said at once; the write that needs it fails with its own line
                warnings.warn(f"gitvault: cannot create {folder} ({exc.strerror or exc}); runs cannot stream "
                              "points or store blobs there until it is fixed", stacklevel=3)
        extract = self.paths.extract_dir
        if localdir.is_ours(extract) is False:
            return False
        localdir.claim(extract)
        prepare_local(self.paths)
        ignore = extract / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# gitvault: local caches, never committed to your branches\n*\n")
        exclude_extract_dir(self.paths)
        return True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the vault's inter-process write lock (blocking, with a timeout)."""
        self._after_fork()
        with self._thread_lock, file_lock(self.paths.lock_path, timeout=LOCK_TIMEOUT_S):
            yield

    def commit(self, tx: Transaction) -> pygit2.Oid:
        """Apply a transaction as one commit on ``refs/vault/main``; returns the new tip.

        When nothing would change (every write identical to the tip), no commit is made and the
        current tip is returned.
        """

        def build(repo: pygit2.Repository, parent: pygit2.Oid | None) -> tuple[pygit2.Oid | None, str]:
            snap = Snapshot(repo, parent)
            for check in tx.checks:
                check(snap)
            changes = _resolve(snap, tx)
            if not changes and parent is not None:
                return None, tx.message
            base = snap.tree
            new_tree = apply_changes(repo, base, changes)
            if base is not None and new_tree == base.id:
                return None, tx.message
            sig = signature(repo)
            commit = repo.create_commit(None, sig, sig, tx.message, new_tree, [parent] if parent else [])
            return commit, tx.message

        return self.advance(build)  # type: ignore[return-value]

    def commit_many(self, records: Iterable[tuple[str, str, dict[str, Any]]], *, batch: int = 100_000,
                    message: str = "bulk import") -> "BulkResult":
        """Write many records, ``batch`` per commit (importers, benchmarks): see `gitvault.storage.bulk`."""
        from gitvault.storage.bulk import commit_many  # bulk builds on this module

        return commit_many(self, records, batch=batch, message=message)

    def advance(self, build: Callable[[pygit2.Repository, pygit2.Oid | None], tuple[pygit2.Oid | None, str]]
                ) -> pygit2.Oid | None:
        """Under the lock, move ``refs/vault/main`` to ``build(repo, tip)`` = (new tip or None for
        no change, reflog message) by compare-and-swap, calling ``build`` again on a lost race."""
        with self.locked():
            acquired = time.monotonic()  # a ref lock older than this hold is no gitvault writer's
            build_failures = 0
            last_error: Exception | None = None
            # without file locks (see gitvault.storage.locks) writers race on the ref itself: keep
            # trying as long as the lock would have waited
            patient = not locks.excludes(self.paths.lock_path)
            deadline = acquired + LOCK_TIMEOUT_S
            attempt = -1
            while (attempt := attempt + 1) < _CAS_RETRIES or (patient and time.monotonic() < deadline):
                repo = self.repo
                try:
                    ref = repo.lookup_reference(VAULT_REF)
                    parent = gitobjects.ref_target(repo, VAULT_REF)
                except KeyError:
                    ref, parent = None, None
                try:
                    target, message = build(repo, parent)
                except VaultError:
                    raise
                except (pygit2.GitError, OSError, KeyError) as exc:
                    _raise_if_unwritable(exc, self.paths.common_dir / "objects")
                    build_failures += 1
                    if build_failures > _BUILD_RETRIES:
                        raise  # not git's maintenance moving objects: the error itself
                    # git gc / repack moved objects into a new pack (or deleted an old one) under
                    # this handle: drop its view of the object database and build again
                    last_error = exc
                    repo.free()
                    time.sleep(0.002 * (attempt + 1) * (0.5 + random.random()))
                    continue
                if target is None or target == parent:
                    return parent
                try:
                    if ref is None:
                        backend = pygit2.RefdbFsBackend(repo)
                        backend.ensure_log(VAULT_REF)
                        repo.create_reference(VAULT_REF, target, message=message)
                    else:
                        ref.set_target(target, message)
                except (pygit2.GitError, OSError, pygit2.AlreadyExistsError) as exc:
                    last_error = exc
                    repo.free()
                    if not _clear_stale_ref_lock(self, acquired):
                        time.sleep(min(0.002 * (attempt + 1), 0.05) * (0.5 + random.random()))
                    continue
                maintenance.pack_when_due(self.paths.common_dir)
                return target
            raise VaultError(f"could not update {VAULT_REF} after {attempt} attempts: {last_error}"
                             f"{_ref_lock_hint(self)}")


_UNWRITABLE = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}


def _raise_if_unwritable(exc: BaseException, where: Path) -> None:
    """A full, read-only or forbidden disk is no race to retry: say so at once, naming the place."""
    code = getattr(exc, "errno", None)
    if code not in _UNWRITABLE:
        text = str(exc)
        code = next((c for c, msg in ((errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only file system"),
                                      (errno.EACCES, "Permission denied"), (errno.EDQUOT, "quota"))
                     if msg in text), None)
    if code in _UNWRITABLE:
        raise VaultError(f"cannot write the vault commit to {where}: {_UNWRITABLE[code]} ({os.strerror(code)}); "
                         "nothing was changed: free space or fix permissions, then try again") from None


# -- a ref lock left by a killed process (used by Vault.advance) --------------------------------------

def _clear_stale_ref_lock(vault: Vault, acquired: float) -> bool:
    """Remove ``refs/vault/main.lock`` when it is known stale; True when the lock is gone and the
    update should be tried again at once.

    git holds a ref's ``.lock`` file only for the instant of an update, and every gitvault writer
    takes it only inside the vault lock, which the caller has held since ``acquired`` (monotonic).
    So a lock file made before that hold began and older than `STALE_REF_LOCK_S` was left by a
    process killed inside a ref update (both ages on the file system's clock: network file systems
    stamp with the server's). One made after (a plain ``git update-ref`` racing this writer) is left
    alone; one made just before is watched until it is released or old enough."""
    lock = vault.paths.common_dir / f"{VAULT_REF}.lock"
    try:
        seen = os.lstat(lock)
    except FileNotFoundError:
        return False
    now = _file_system_now(vault.paths.lock_path)
    if seen.st_mtime >= now - (time.monotonic() - acquired):
        return False
    deadline = time.monotonic() + seen.st_mtime + STALE_REF_LOCK_S - now
    while True:
        try:
            current = os.lstat(lock)
        except FileNotFoundError:
            return True  # released by its holder
        if (current.st_ino, current.st_mtime_ns) != (seen.st_ino, seen.st_mtime_ns):
            return True  # a new holder: try again, and judge it afresh
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
    try:
        os.unlink(lock)
    except FileNotFoundError:
        return True
    try:
        if localdir.is_ours(vault.extract_dir) is True:  # the line linking.log_line would write
            with (vault.extract_dir / "hooks.log").open("a", encoding="utf-8") as fh:
                fh.write(f"{codec.utc_now()} [{os.getpid()}] removed a stale {lock} ({now - seen.st_mtime:.0f} s "
                         "old, from before this writer took the vault lock: a git process killed inside a ref update)\n")
    except OSError:
        pass
    return True


def _file_system_now(path: Path) -> float:
    """The time on the clock that stamps files in ``path``'s folder (touching ``path``)."""
    try:
        os.utime(path)
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def _ref_lock_hint(vault: Vault) -> str:
    lock = vault.paths.common_dir / f"{VAULT_REF}.lock"
    try:
        age = max(0.0, time.time() - os.lstat(lock).st_mtime)
    except OSError:
        return ""
    return (f"; {lock} has been held for {age:.0f} s by a git command that does not take the vault lock: "
            "if no git command is running, it was killed inside a ref update and the file can be deleted")


def _resolve(snap: Snapshot, tx: Transaction) -> dict[Path_, pygit2.Oid]:
    """The blobs to write, by path; identical writes are dropped, different ones refused unless
    the transaction replaces that path."""
    changes: dict[Path_, pygit2.Oid] = {}
    for path, data in tx.writes.items():
        oid = pygit2.hash(data)
        existing = snap.blob_id_at(path)
        if existing == oid:
            continue
        if existing is not None and path not in tx.replace:
            raise RecordExistsError(
                f"{'/'.join(path)} already exists with different content; sealed records are "
                "never rewritten (record later facts as events: tag, note, ...)"
            )
        changes[path] = snap.repo.create_blob(data)
    return changes


def apply_changes(repo: pygit2.Repository, base: pygit2.Tree | None, changes: Mapping[Path_, pygit2.Oid | None]
                  ) -> pygit2.Oid:
    """``base`` with a blob written at each path (None: the file or folder removed, and folders
    left empty with it). Only the trees on the changed paths are rebuilt, with TreeBuilder;
    every other subtree is reused by id."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    nested: dict[str, dict[Path_, pygit2.Oid | None]] = defaultdict(dict)
    for path, oid in changes.items():
        if len(path) > 1:
            nested[path[0]][path[1:]] = oid
        elif oid is not None:
            builder.insert(path[0], oid, FileMode.BLOB)
        elif builder.get(path[0]) is not None:
            builder.remove(path[0])
    for name, sub_changes in nested.items():
        old = builder.get(name)
        sub_base = repo[old.id] if old is not None and old.filemode == FileMode.TREE else None
        if sub_base is None and all(v is None for v in sub_changes.values()):
            continue  # removing from a folder that is not there
        sub = apply_changes(repo, sub_base, sub_changes)  # type: ignore[arg-type]
        if len(repo[sub].peel(pygit2.Tree)) == 0:
            if old is not None:
                builder.remove(name)
        else:
            builder.insert(name, sub, FileMode.TREE)
    return builder.write()


def changed_entities(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> tuple[set[tuple[str, str]], bool]:
    """The (kind, id) of every entity whose files differ between two vault commits, and whether
    ``vault.toml`` changed. Subtrees with equal ids on both sides are skipped, so the cost follows
    the size of the change, not of the vault."""
    old_tree = repo[old].peel(pygit2.Tree) if old else None
    new_tree = repo[new].peel(pygit2.Tree) if new else None
    found: set[tuple[str, str]] = set()
    config_changed = False

    def entries(tree: pygit2.Tree | None) -> dict[str, pygit2.Oid]:
        return {str(e.name): e.id for e in tree} if tree is not None else {}

    def walk(a: pygit2.Oid | None, b: pygit2.Oid | None, depth: int, kind: str) -> None:
        if a == b:
            return
        if depth == 3:
            return
        left = entries(gitobjects.tree(repo, a) if a else None)
        right = entries(gitobjects.tree(repo, b) if b else None)
        for name in left.keys() | right.keys():
            x, y = left.get(name), right.get(name)
            if x == y:
                continue
            if depth == 2:
                found.add((kind, name))
            else:
                walk(x, y, depth + 1, kind)

    top_old, top_new = entries(old_tree), entries(new_tree)
    for name in top_old.keys() | top_new.keys():
        a, b = top_old.get(name), top_new.get(name)
        if a == b:
            continue
        if name == layout.CONFIG_FILE:
            config_changed = True
        elif name in layout.DIR_KINDS:
            walk(a, b, 0, layout.DIR_KINDS[name])
    return found, config_changed
