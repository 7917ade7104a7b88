"""Integrity of a vault: `fsck` checks it, `gc` deletes blobs nothing references.

`fsck` decodes every file of the tip's tree, parses ``vault.toml`` and hashes every blob a record
references, naming each problem by tree path or sha. It only reads.

`gc` keeps every blob referenced from any commit reachable from ``refs/vault/*``,
``refs/vault-remotes/*`` and the reflogs of those refs, plus the blobs of unsealed live runs, and
never deletes a blob younger than the grace window: a writer stores its blobs before it takes the
vault lock, so a fresh unreferenced blob may be about to be committed. Deletion runs under the
vault lock after a last look at the refs, so no commit lands between the scan and the delete.
"""

from __future__ import annotations

import datetime as _dt
import os
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pygit2
from pygit2.enums import ObjectType

from gitvault.storage import codec, gitobjects, layout

from gitvault.secrets import purge
from gitvault.storage.blobs import BlobStore, check_sha
from gitvault.settings import VaultConfig
from gitvault.errors import BlobError, CorruptRecordError, RecordNotFoundError, VaultError, VaultNotInitializedError
from gitvault.storage.records import blob_refs
from gitvault.storage.repo import VAULT_REF
from gitvault.storage.vault import Snapshot, Vault

TEMP_PREFIX = ".incoming-"
DEFAULT_GRACE = _dt.timedelta(days=14)
VAULT_REF_PREFIXES = ("refs/vault/", "refs/vault-remotes/")
_ZERO_OID = "0" * 40


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the vault. ``code`` is stable for scripts; ``where`` is a tree path,
    a blob sha or a file path."""

    code: str
    where: str
    message: str


@dataclass
class FsckReport:
    tip: str | None
    records: int = 0
    events: int = 0
    blobs_checked: int = 0
    hashed: bool = True
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "tip": self.tip, "records": self.records, "events": self.events,
            "blobs_checked": self.blobs_checked, "hashed": self.hashed,
            "problems": [asdict(p) for p in self.problems],
            "warnings": [asdict(w) for w in self.warnings],
        }


@dataclass(frozen=True)
class GcEntry:
    name: str
    size: int
    age_days: float


@dataclass
class GcReport:
    dry_run: bool
    grace_days: float
    referenced: int = 0
    referenced_bytes: int = 0
    removed: list[GcEntry] = field(default_factory=list)
    kept_young: list[GcEntry] = field(default_factory=list)
    removed_temps: list[GcEntry] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    blocked: str | None = None

    @property
    def removed_bytes(self) -> int:
        return sum(e.size for e in self.removed) + sum(e.size for e in self.removed_temps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "grace_days": self.grace_days,
            "referenced": self.referenced, "referenced_bytes": self.referenced_bytes,
            "removed": [asdict(e) for e in self.removed],
            "removed_bytes": self.removed_bytes,
            "kept_young": [asdict(e) for e in self.kept_young],
            "removed_temps": [asdict(e) for e in self.removed_temps],
            "sources": self.sources, "skipped_sources": self.skipped_sources,
            "unreadable": self.unreadable, "blocked": self.blocked,
        }


# -- fsck ------------------------------------------------------------------------------------


def fsck(vault: Vault, *, hashes: bool = True) -> FsckReport:
    """Check the tip of the vault; ``hashes=False`` only checks that blobs exist."""
    tip = vault.tip()
    if tip is None:
        raise VaultNotInitializedError(
            f"no vault in {vault.paths.work_tree or vault.paths.common_dir}; run `git vault init`"
        )
    report = FsckReport(tip=str(tip), hashed=hashes)
    repo = vault.repo
    tree = repo[tip].peel(pygit2.Tree)
    refs: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}

    if layout.CONFIG_FILE not in tree:
        report.problems.append(Problem("bad_config", layout.CONFIG_FILE,
                                       "vault.toml is missing from refs/vault/main; run `git vault init --force`"))
    for entry in tree:
        name = entry.name
        assert name is not None  # the entries of a tree are named
        if name == layout.CONFIG_FILE:
            _check_config(repo, entry, report)
        elif name in layout.DIR_KINDS:
            _check_kind_dir(repo, entry, layout.DIR_KINDS[name], report, refs, sizes)
        elif name != layout.PURGES_DIR:
            report.warnings.append(Problem("unknown_entry", name,
                                           f"{name}: not a gitvault entry; fsck did not check it"))
    _check_run_experiments(vault.snapshot(tip), report)
    _check_linked_commits(vault.snapshot(tip), repo, report)
    for sha in purge.purged_blobs(repo, tip):  # gone on purpose
        refs.pop(sha, None)

    store = BlobStore(vault.paths.objects_dir)
    for sha in sorted(refs):
        users = ", ".join(refs[sha][:3]) + (f" and {len(refs[sha]) - 3} more" if len(refs[sha]) > 3 else "")
        try:
            check_sha(sha)
        except BlobError:
            report.problems.append(Problem("bad_blob_ref", refs[sha][0],
                                           f"{users} references {sha!r}, which is not a sha256 blob id"))
            continue
        report.blobs_checked += 1
        problem = _check_blob(store, sha, sizes.get(sha), hashes)
        if problem is not None:
            code, what = problem
            report.problems.append(Problem(code, sha, f"blob {sha} ({what}) is referenced by {users}"))

    for temp in orphan_temps(store.root):
        age = _age_days(temp)
        report.warnings.append(Problem(
            "orphan_temp", str(temp),
            f"{temp}: unfinished blob write ({_size(temp)} bytes, {age:.1f} days old); "
            "a writer may still be running, `git vault gc` removes it after the grace window"))
    from gitvault.runs.live import check_live  # unreadable live spools, set-aside ones, stray files

    report.warnings.extend(Problem("live_spool", where, message) for where, message in check_live(vault.paths.live_dir))
    return report


def _check_config(repo: pygit2.Repository, entry: pygit2.Object, report: FsckReport) -> None:
    try:
        VaultConfig.from_toml(gitobjects.blob_bytes(repo, entry.id).decode("utf-8"))
    except (VaultError, UnicodeDecodeError, AttributeError, TypeError, ValueError) as exc:
        report.problems.append(Problem("bad_config", layout.CONFIG_FILE, f"vault.toml: {exc}"))
    except KeyError:
        report.problems.append(Problem("missing_object", layout.CONFIG_FILE,
                                       f"vault.toml: git object {entry.id} is missing"))


def _children(repo: pygit2.Repository, oid: pygit2.Oid, path: str, report: FsckReport) -> list[Any]:
    try:
        obj = repo[oid]
    except KeyError:
        report.problems.append(Problem("missing_object", path, f"{path}: git object {oid} is missing"))
        return []
    if not isinstance(obj, pygit2.Tree):
        report.problems.append(Problem("misplaced_record", path, f"{path}: expected a folder, found a file"))
        return []
    return list(obj)


def _check_kind_dir(repo: pygit2.Repository, top: Any, kind: str, report: FsckReport,
                    refs: dict[str, list[str]], sizes: dict[str, int]) -> None:
    for a in _children(repo, top.id, top.name, report):
        for b in _children(repo, a.id, f"{top.name}/{a.name}", report):
            for entity in _children(repo, b.id, f"{top.name}/{a.name}/{b.name}", report):
                base = f"{top.name}/{a.name}/{b.name}/{entity.name}"
                try:
                    expected = layout.entity_dir(kind, entity.name)
                except ValueError:
                    expected = None
                if expected != (top.name, a.name, b.name, entity.name):
                    report.problems.append(Problem(
                        "misplaced_record", base,
                        f"{base}: {entity.name!r} does not belong at this path "
                        f"(expected {'/'.join(expected) if expected else 'a valid record id'})"))
                    continue
                _check_entity(repo, entity, base, kind, report, refs, sizes)


def _check_run_experiments(snap: Snapshot, report: FsckReport) -> None:
    """Every run's experiment exists (a run pulled without its experiment node shows nowhere)."""
    experiments = set(snap.ids("experiment"))
    for run_id in snap.ids("run"):
        try:
            record = snap.get("run", run_id)
        except (CorruptRecordError, RecordNotFoundError):
            continue  # reported by the walk already
        experiment = record.get("experiment_id")
        if isinstance(experiment, str) and experiment not in experiments:
            where = "/".join(layout.record_path("run", run_id))
            report.problems.append(Problem(
                "orphan_run", where, f"{where}: its experiment {record.get('experiment_path')!r} "
                f"({record.get('experiment_id')}) is not in the vault; pull from the clone that made it"))


def _check_linked_commits(snap: Snapshot, repo: pygit2.Repository, report: FsckReport) -> None:
    """A warning per commit that runs ran on or were linked to and that this repository no longer
    holds (amended or rebased away and pruned, or on a branch never fetched here): their code
    cannot be checked out from it."""
    ran: dict[str, list[str]] = {}
    linked: dict[str, list[str]] = {}
    patched: set[str] = set()  # runs whose uncommitted changes are kept as a patch
    for kind, into, key in (("run", ran, "git"), ("link", linked, "")):
        for record_id in snap.ids(kind):
            try:
                record = snap.get(kind, record_id)
            except (CorruptRecordError, RecordNotFoundError):
                continue  # reported by the walk already
            sha = (record.get("git") or {}).get("sha") if key else record.get("commit")
            who = record_id if kind == "run" else record.get("run_id")
            if isinstance(sha, str) and isinstance(who, str):
                into.setdefault(sha, []).append(who)
            if kind == "run" and (record.get("git") or {}).get("patch"):
                patched.add(record_id)
    own_here = {run for sha, runs in ran.items() if _has_commit(repo, sha) for run in runs}
    # a run whose code was committed later (a link to a commit that is here) can still be checked out
    kept = {run for sha, runs in linked.items() if _has_commit(repo, sha) for run in runs}
    for sha in sorted(ran.keys() | linked.keys()):
        if _has_commit(repo, sha):
            continue
        on = sorted(set(ran.get(sha, [])) - kept)
        to = sorted(set(linked.get(sha, [])))
        if not on and not to:
            continue
        said = [f"{len(on)} run(s) ran on it ({_some(on)})"] if on else []
        said += [f"{len(to)} run(s) are linked to it ({_some(to)})"] if to else []
        report.warnings.append(Problem(
            "gone_commit", sha, f"commit {sha[:12]} is no longer in this repository: {'; '.join(said)}; "
            + _gone_commit_hint(on, [r for r in to if r in own_here], [r for r in on if r in patched])))


def _has_commit(repo: pygit2.Repository, sha: str) -> bool:
    try:
        obj = repo.get(sha)
    except (ValueError, pygit2.GitError):
        return False
    return obj is not None and obj.type == ObjectType.COMMIT


def _gone_commit_hint(on: list[str], linked_here: list[str], patched: list[str]) -> str:
    """What works for the runs of a gone commit, as `gitvault.gitlink.checkout.plan` decides: a
    run's code is rebuilt only from a commit that is here (its own, or one it is linked to), so a
    run that ran on the gone commit needs it fetched; its patch holds only its uncommitted
    changes, a diff against that very commit."""
    hints = []
    if on:
        hint = ("`git vault checkout` cannot rebuild the code of a run that ran on it until it is back: "
                "`git fetch` the branch that holds it from a remote or clone that still has it, then "
                "`git vault checkout RUN`")
        if patched:
            hint += (f"; {len(patched)} of them keep their uncommitted changes in their record, as a patch "
                     "against that commit (`git vault show RUN --json` names its blob: git.patch)")
        hints.append(hint)
    if linked_here:
        hints.append(f"`git vault checkout RUN` still works for {_some(linked_here)}, from the commit it ran on")
    return "; ".join(hints) or "`git fetch` the branch that holds it from a remote or clone that still has it"


def _some(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _check_inline_curves(repo: pygit2.Repository, entity: Any, base: str, record: dict[str, Any],
                         report: FsckReport) -> None:
    """A run whose curves were committed with it must hold them whole (their sha256 is named)."""
    info = record.get("curves") or {}
    if not info.get("inline"):
        return
    path = f"{base}/{layout.CURVES_FILE}"
    try:
        blob = repo[repo[entity.id].peel(pygit2.Tree)[layout.CURVES_FILE].id]
    except KeyError:
        report.problems.append(Problem("missing_curves", path, f"{path}: missing (the record says it holds its curves)"))
        return
    if not isinstance(blob, pygit2.Blob):
        report.problems.append(Problem("corrupt_curves", path, f"{path}: expected a file, found a folder"))
    elif hashlib.sha256(blob.data).hexdigest() != info.get("blob"):
        report.problems.append(Problem("corrupt_curves", path, f"{path}: its sha256 is not the record's curves.blob"))


def _check_entity(repo: pygit2.Repository, entity: Any, base: str, kind: str, report: FsckReport,
                  refs: dict[str, list[str]], sizes: dict[str, int]) -> None:
    has_record = False
    for item in _children(repo, entity.id, base, report):
        path = f"{base}/{item.name}"
        if item.name == layout.RECORD_FILE:
            record = _decode(repo, item.id, path, report)
            has_record = True
            if record is None:
                continue
            report.records += 1
            if record.get("kind") != kind or record.get("id") != entity.name:
                report.problems.append(Problem(
                    "misplaced_record", path,
                    f"{path}: the record says kind={record.get('kind')!r} id={record.get('id')!r}"))
            _collect_refs(record, path, refs, sizes, report)
            _check_inline_curves(repo, entity, base, record, report)
        elif item.name in (layout.EVENTS_DIR, layout.CONFLICTS_DIR):
            for sub in _children(repo, item.id, path, report):
                sub_path = f"{path}/{sub.name}"
                body = _decode(repo, sub.id, sub_path, report)
                if body is None:
                    continue
                if item.name == layout.EVENTS_DIR:
                    report.events += 1
                _collect_refs(body, sub_path, refs, sizes, report)
    if not has_record:
        report.warnings.append(Problem("no_record", base, f"{base}: holds events but no {layout.RECORD_FILE}"))


def _decode(repo: pygit2.Repository, oid: pygit2.Oid, path: str, report: FsckReport) -> dict[str, Any] | None:
    try:
        obj = repo[oid]
    except KeyError:
        report.problems.append(Problem("missing_object", path, f"{path}: git object {oid} is missing"))
        return None
    if not isinstance(obj, pygit2.Blob):
        report.problems.append(Problem("corrupt_record", path, f"{path}: expected a file, found a folder"))
        return None
    try:
        return codec.decode(obj.data, path)
    except CorruptRecordError as exc:
        report.problems.append(Problem("corrupt_record", path, str(exc)))
        return None


def _collect_refs(record: dict[str, Any], path: str, refs: dict[str, list[str]], sizes: dict[str, int],
                  report: FsckReport) -> None:
    try:
        shas = blob_refs(record)
    except (AttributeError, TypeError, KeyError) as exc:
        report.problems.append(Problem("bad_blob_ref", path, f"{path}: its blob references cannot be read ({exc!r})"))
        return
    for sha in shas:
        refs.setdefault(sha if isinstance(sha, str) else repr(sha), []).append(path)
    for sha, size in _declared_sizes(record):
        sizes[sha] = size


def _declared_sizes(value: Any) -> Iterable[tuple[str, int]]:
    """``(sha, size)`` wherever a record states a blob's size next to it (models, artifacts)."""
    if isinstance(value, dict):
        blob, size = value.get("blob"), value.get("size")
        if isinstance(blob, str) and isinstance(size, int) and not isinstance(size, bool):
            yield blob, size
        for item in value.values():
            yield from _declared_sizes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _declared_sizes(item)


def _check_blob(store: BlobStore, sha: str, declared: int | None, hashes: bool) -> tuple[str, str] | None:
    path = store.path(sha)
    if not path.is_file():
        return "missing_blob", f"missing from {store.root}; `git vault pull` may fetch it"
    if not hashes:
        return None
    if store.verify(sha) is None:
        return None
    size = _size(path)
    if _looks_truncated(path, size, declared):
        expect = f" of {declared}" if declared is not None else ""
        return "truncated_blob", f"truncated: {size} bytes{expect}"
    return "altered_blob", "altered: its content no longer hashes to its name"


def _looks_truncated(path: Path, size: int, declared: int | None) -> bool:
    """Whether a damaged blob is evidently cut short: empty, shorter than the size its record
    states, or a Parquet/zip/npy file whose own framing says more bytes should follow."""
    if size == 0 or (declared is not None and size < declared):
        return True
    with path.open("rb") as fh:
        head = fh.read(16)
        fh.seek(max(0, size - 65_557))
        tail = fh.read()
    if head.startswith(b"PAR1"):
        return not tail.endswith(b"PAR1")
    if head.startswith(b"PK\x03\x04"):
        return b"PK\x05\x06" not in tail
    if head.startswith(b"\x93NUMPY"):
        return _npy_short(path, size)
    return False


def _npy_short(path: Path, size: int) -> bool:
    import numpy as np

    try:
        with path.open("rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            if dtype.hasobject:
                return False
            return size < fh.tell() + int(np.prod(shape)) * dtype.itemsize
    except Exception:  # a damaged header: the hash mismatch is reported as altered
        return False


def orphan_temps(root: Path) -> list[Path]:
    """Unfinished blob writes (``.incoming-*``) in the store and its buckets."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)]
    for bucket in root.iterdir():
        if bucket.is_dir() and len(bucket.name) == 2:
            found.extend(p for p in bucket.iterdir() if p.name.startswith(TEMP_PREFIX))
    return sorted(found)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _age_days(path: Path, now: float | None = None) -> float:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return 0.0
    return max(0.0, ((now or time.time()) - mtime) / 86400)


# -- gc --------------------------------------------------------------------------------------


class _Reachable:
    """Blob shas referenced from vault commits; each tree and record blob is read once."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.shas: set[str] = set()
        self.unreadable: list[str] = []
        self._commits: set[pygit2.Oid] = set()
        self._trees: set[pygit2.Oid] = set()
        self._blobs: set[pygit2.Oid] = set()

    def add_commit(self, start: pygit2.Oid) -> None:
        stack = [start]
        while stack:
            oid = stack.pop()
            if oid in self._commits:
                continue
            self._commits.add(oid)
            try:
                commit = self.repo[oid]
            except KeyError:
                self.unreadable.append(f"commit {oid} is missing (pruned by git gc?)")
                continue
            if not isinstance(commit, pygit2.Commit):
                continue
            root = commit.peel(pygit2.Tree)
            if layout.CONFIG_FILE not in root:
                continue  # not a vault commit (e.g. a code commit kept alive by refs/vault/keep)
            for entry in root:
                if entry.name in layout.DIR_KINDS:
                    self._tree(entry.id, entry.name)
            stack.extend(commit.parent_ids)

    def _tree(self, oid: pygit2.Oid, path: str) -> None:
        if oid in self._trees:
            return
        self._trees.add(oid)
        try:
            tree = self.repo[oid]
        except KeyError:
            self.unreadable.append(f"{path}: git object {oid} is missing")
            return
        if not isinstance(tree, pygit2.Tree):
            return
        for entry in tree:
            name = entry.name
            assert name is not None  # the entries of a tree are named
            if entry.type == ObjectType.TREE:
                self._tree(entry.id, f"{path}/{name}")
            elif name.endswith(".msgpack") and entry.id not in self._blobs:
                self._blobs.add(entry.id)
                try:
                    record = codec.decode(gitobjects.blob_bytes(self.repo, entry.id), f"{path}/{name}")
                    self.shas.update(s for s in blob_refs(record) if isinstance(s, str))
                except (CorruptRecordError, KeyError, AttributeError, TypeError) as exc:
                    self.unreadable.append(f"{path}/{name}: {exc}")


def _vault_starts(repo: pygit2.Repository) -> list[pygit2.Oid]:
    """Tips of ``refs/vault/*`` and ``refs/vault-remotes/*`` and every commit their reflogs name."""
    starts: list[pygit2.Oid] = []
    for name in repo.references:
        if not name.startswith(VAULT_REF_PREFIXES):
            continue
        try:
            ref = repo.lookup_reference(name).resolve()
        except (KeyError, pygit2.GitError):
            continue
        target = ref.target
        if isinstance(target, pygit2.Oid):  # always: a resolved reference is direct
            starts.append(target)
        try:
            for entry in ref.log():
                starts.extend(o for o in (entry.oid_new, entry.oid_old) if str(o) != _ZERO_OID)
        except (KeyError, pygit2.GitError):
            pass
    return starts


def _live_refs(live_dir: Path) -> tuple[set[str], str | None]:
    try:
        from gitvault.runs.live import live_blob_refs
    except ImportError:
        return set(), ("live spools (.git/vault/live) not scanned: gitvault.runs.live.live_blob_refs does not "
                       "exist in this version; the grace window protects blobs of running runs")
    return set(live_blob_refs(live_dir)), None


def gc(vault: Vault, grace: _dt.timedelta = DEFAULT_GRACE, dry_run: bool = False, *, force: bool = False) -> GcReport:
    """Delete blobs no vault commit, reflog entry or live run references, older than ``grace``.

    When a record or commit cannot be read, the blobs it references are unknown, so nothing is
    deleted (``report.blocked`` says why) unless ``force``."""
    if not isinstance(grace, _dt.timedelta):
        raise TypeError(f"grace must be a datetime.timedelta, got {type(grace).__name__}")
    if grace < _dt.timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}; use 0 to delete every unreferenced blob")
    if vault.tip() is None:
        raise VaultNotInitializedError(
            f"no vault in {vault.paths.work_tree or vault.paths.common_dir}; run `git vault init` "
            "(gc refuses to judge blobs without the records that reference them)"
        )
    report = GcReport(dry_run=dry_run, grace_days=grace.total_seconds() / 86400)
    repo = vault.repo
    reach = _Reachable(repo)
    for oid in _vault_starts(repo):
        reach.add_commit(oid)
    store = BlobStore(vault.paths.objects_dir)
    grace_s = grace.total_seconds()
    with vault.locked():
        for oid in _vault_starts(repo):  # commits that landed while we walked
            reach.add_commit(oid)
        report.sources = sorted({n for n in repo.references if n.startswith(VAULT_REF_PREFIXES)})
        report.sources.append(f"reflog of {VAULT_REF} and the other vault refs")
        live, skipped = _live_refs(vault.paths.live_dir)
        if skipped:
            report.skipped_sources.append(skipped)
        else:
            report.sources.append("live spools (.git/vault/live)")
        keep = reach.shas | live
        report.unreadable = list(reach.unreadable)
        if report.unreadable and not force:
            report.blocked = (f"{len(report.unreadable)} record(s) or commit(s) could not be read, so the "
                              "blobs they reference are unknown; nothing was removed")
            dry_run = report.dry_run = True
        now = time.time()
        for sha in list(store):
            path = store.path(sha)
            if sha in keep:
                report.referenced += 1
                report.referenced_bytes += _size(path)
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            entry = GcEntry(sha, st.st_size, max(0.0, (now - st.st_mtime) / 86400))
            if now - st.st_mtime < grace_s:
                report.kept_young.append(entry)
                continue
            if not dry_run:
                store.delete(sha)
            report.removed.append(entry)
        for temp in orphan_temps(store.root):
            age = _age_days(temp, now)
            if age * 86400 < grace_s:
                continue
            report.removed_temps.append(GcEntry(str(temp), _size(temp), age))
            if not dry_run:
                temp.unlink(missing_ok=True)
    return report


__all__ = [
    "DEFAULT_GRACE", "FsckReport", "GcEntry", "GcReport", "Problem", "fsck", "gc",
    "orphan_temps",
]


BLOB_PROBLEMS = ("missing_blob", "truncated_blob", "altered_blob")


def repair_blobs(vault: Vault, report: FsckReport, remote: str | None = None) -> tuple[list[str], list[str]]:
    """Fetch a good copy of every blob ``report`` found missing or damaged; a damaged file is moved
    to ``<git-common-dir>/vault/bad/`` first (kept, never deleted). Returns (repaired shas, one
    line per blob that could not be repaired)."""
    from gitvault.sync.exchange import fetch_missing_blobs

    store = BlobStore(vault.paths.objects_dir)
    shas = sorted({p.where for p in report.problems if p.code in BLOB_PROBLEMS})
    bad = vault.paths.data_dir / "bad"
    for sha in shas:
        path = store.path(sha)
        if path.is_file():
            bad.mkdir(parents=True, exist_ok=True)
            os.replace(path, bad / sha)
    repaired, failed = [], []
    for sha in shas:
        try:
            repaired.extend(fetch_missing_blobs(vault, [sha], remote))
        except VaultError as exc:
            failed.append(str(exc))
    return repaired, failed
