"""Archives: a whole vault (or some experiments) and its blobs in one ``.tar.gz``.

Layout of the archive:

- ``manifest.json``: ``{"format": 1, "ref": <ref in the bundle>, "tip": <commit>, "counts": {...},
  "blobs": {sha: size}}``;
- ``vault.bundle``: a git bundle of that ref. The whole vault exports ``refs/vault/main`` with its
  history. A subset (``experiments``: path prefixes) exports one parentless commit whose tree holds
  the experiments whose path is a ``PREFIX`` or lies below it (plus their ancestor nodes, so the
  hierarchy stays whole), their runs, the models those runs registered, todos scoped to any of
  them, commit links of the runs, lineage touching any of them, and ``vault.toml``;
- ``blobs/<sha[:2]>/<sha[2:]>``: every blob those records reference.

Import unpacks the archive member by member into a staging folder
(``<git-common-dir>/vault/incoming/<pid>-<rand>-<host>``): regular files only, never a link, device
or fifo, never a path outside the folder, each at most ``git config vault.maxBlob`` bytes (default
64g; ``GITVAULT_MAX_BLOB`` for one command) and no more than the disk has free. It verifies every
blob's sha256 (and the bundle) before anything is installed: a damaged or refused archive is refused
whole and changes nothing. Then blobs are installed (`install_verified`) and the bundle's commit,
fetched into ``refs/vault-import/<staging folder name>/main``, is merged like a pull. A killed
import's folder and ref are swept by the next command that stages blobs
(`gitvault.sync.transport.sweep_interrupted`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import time
import zlib
from pathlib import Path
from typing import IO

import pygit2
from pygit2.enums import FileMode

from gitvault.storage import gitobjects, layout
from gitvault.storage.blobs import BlobStore
from gitvault.errors import BlobError, CorruptRecordError, SyncError, VaultNotInitializedError
from gitvault.sync.merge import blobs_between, count_added, merge_into
from gitvault.storage.repo import VAULT_REF, signature
from gitvault.sync.report import SyncReport, after_merge
from gitvault.sizes import human_size
from gitvault.sync.transport import MAX_BLOB_ENV, MAX_BLOB_KEY, install_verified, max_blob_size, run_git, staging_dir
from gitvault.storage.vault import Snapshot, Vault

ARCHIVE_FORMAT = 1
_SINGLE_MEMBERS = ("manifest.json", "vault.bundle")
_BLOB_MEMBER = re.compile(r"^blobs/[0-9a-f]{2}/[0-9a-f]{62}$")
_MANIFEST_MAX = 256 << 20  # read into memory whole: a manifest of a million blobs is under 100 MB
_CHUNK = 1 << 20


def export_report(root: Path | str | None, output: Path | str, experiments: list[str] | None = None) -> SyncReport:
    vault = Vault.open(root)
    tip = vault.tip()
    if tip is None:
        raise VaultNotInitializedError("there is no vault to export; run `git vault init` first")
    output = Path(output)
    if not output.name.endswith((".tar.gz", ".tgz")):
        raise ValueError(f"output {output} must end with .tar.gz (the archive is a gzipped tar)")
    repo = vault.repo
    report = SyncReport(remote=str(output))
    staging = staging_dir(vault)
    ref, temp_ref = VAULT_REF, None
    commit = tip
    try:
        if experiments:
            tree = subset_tree(repo, tip, experiments)
            sig = signature(repo)
            commit = repo.create_commit(None, sig, sig, f"export of {', '.join(experiments)}", tree, [])
            ref = temp_ref = f"refs/vault-export/{staging.name}/main"  # swept with its folder if killed
            repo.references.create(temp_ref, commit)
        store = BlobStore(vault.paths.objects_dir)
        shas = sorted(blobs_between(repo, None, commit))
        lacking = [s for s in shas if not store.has(s)]
        if lacking:
            raise BlobError(f"{len(lacking)} blob(s) the exported records need are not stored here "
                            f"(e.g. {lacking[0]}); run `git vault pull --blobs-only` first")
        bundle = staging / "vault.bundle"
        run_git(vault, "bundle", "create", "--quiet", str(bundle), ref)
        report.sent = count_added(repo, None, commit)
        sizes = {s: store.path(s).stat().st_size for s in shas}
        manifest = {"format": ARCHIVE_FORMAT, "ref": ref, "tip": str(commit), "counts": report.sent, "blobs": sizes}
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        output.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tmp, "w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
            tar.add(bundle, arcname="vault.bundle")
            for sha in shas:
                with store.open(sha) as fh:  # always a regular file member, whatever the store holds
                    tar.addfile(tar.gettarinfo(arcname=f"blobs/{sha[:2]}/{sha[2:]}", fileobj=fh), fh)
        os.replace(tmp, output)
        report.blobs = len(shas)
        report.blob_bytes = sum(sizes.values())
    finally:
        if temp_ref:
            _drop_ref(repo, temp_ref)
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def import_report(archive: Path | str, root: Path | str | None, *, max_blob: int | None = None) -> SyncReport:
    """Import an archive made by `export_report`; ``max_blob`` bounds each member (default
    `max_blob_size`: ``GITVAULT_MAX_BLOB``, ``git config vault.maxBlob``, 64g)."""
    archive = Path(archive)
    if not archive.is_file():
        raise SyncError(f"archive {archive} does not exist or is not a file")
    vault = Vault.open(root)
    limit = max_blob_size(vault) if max_blob is None else max_blob
    report = SyncReport(remote=str(archive))
    staging = staging_dir(vault)
    temp_ref = f"refs/vault-import/{staging.name}/main"  # swept with its folder if this is killed
    try:
        found = _unpack(archive, staging, limit)
        manifest = _read_manifest(archive, staging)
        shas = _check_listed(archive, manifest, found)
        bundle = staging / "vault.bundle"
        check = run_git(vault, "bundle", "verify", "--quiet", str(bundle), check=False)
        if check.returncode != 0:
            raise SyncError(f"{archive}: the git bundle inside is damaged ({check.stderr.strip()}); "
                            "nothing was imported")
        run_git(vault, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(bundle),
                f"+{manifest['ref']}:{temp_ref}")
        theirs = gitobjects.ref_target(vault.repo, temp_ref)
        if theirs is None or str(theirs) != manifest.get("tip"):
            raise SyncError(f"{archive}: the bundle's tip {theirs} is not the manifest's {manifest.get('tip')}; "
                            "nothing was imported")
        report.absorb(install_verified(vault, staging / "blobs", shas, max_size=limit))
        result = merge_into(vault, theirs, f"import vault archive {archive.name}")
        after_merge(vault, result, report)
    finally:
        _drop_ref(vault.repo, temp_ref)  # before the folder: a ref without its folder is abandoned
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _drop_ref(repo: pygit2.Repository, name: str) -> None:
    try:
        repo.references.delete(name)
    except KeyError:
        pass


def _unpack(archive: Path, staging: Path, limit: int) -> dict[str, str]:
    """Write the archive's ``manifest.json``, ``vault.bundle`` and ``blobs/<sha[:2]>/<sha[2:]>``
    into ``staging``, one member at a time; returns each blob's name with the sha256 of its content.

    Only regular files are written, each created new (``O_EXCL | O_NOFOLLOW``) under one of those
    names, so nothing lands outside ``staging``. The whole archive is refused, before its member is
    written, for a link, device or fifo member, a path that is absolute or climbs with ``..``, a member
    over ``limit`` bytes (or over the room left on the disk), an unexpected name under ``blobs/``, or
    a name given twice. Other members (folders, files gitvault does not read) are skipped."""
    room = shutil.disk_usage(staging).free
    hashes: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = _member_name(archive, member)
                if member.isdir() or name is None:
                    continue
                if not member.isreg():
                    raise SyncError(f"{archive}: member {member.name!r} is {_member_kind(member)}; an archive "
                                    "may hold regular files only; nothing was imported")
                if name.startswith("blobs/") and not _BLOB_MEMBER.match(name):
                    raise SyncError(f"{archive}: unexpected file {name!r}; nothing was imported")
                if name not in _SINGLE_MEMBERS and not name.startswith("blobs/"):
                    continue
                cap = min(limit, _MANIFEST_MAX) if name == "manifest.json" else limit
                if member.size > cap:
                    raise SyncError(f"{archive}: {name} is {human_size(member.size)}, over the {human_size(cap)} "
                                    f"limit for one member (raise it with `git config {MAX_BLOB_KEY} SIZE` or "
                                    f"{MAX_BLOB_ENV}=SIZE if you trust this archive); nothing was imported")
                room -= member.size
                if room < 0:
                    raise SyncError(f"{archive}: unpacking it needs more than the {human_size(room + member.size)} "
                                    f"free in {staging.parent}; nothing was imported")
                source = tar.extractfile(member)
                assert source is not None  # a regular member always has content
                hashes[name] = _write_member(archive, source, staging, name, member.size)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise SyncError(f"{archive} is not a readable .tar.gz archive ({exc}); nothing was imported") from exc
    return {name[6:8] + name[9:]: sha for name, sha in hashes.items() if name.startswith("blobs/")}


def _member_name(archive: Path, member: tarfile.TarInfo) -> str | None:
    """A member's path inside the archive (``./`` and doubled slashes dropped; None for the archive's
    top folder); an absolute path or one with a ``..`` refuses the archive."""
    parts = member.name.split("/")
    if member.name.startswith("/") or ".." in parts:
        raise SyncError(f"{archive}: member {member.name!r} points outside the archive; nothing was imported")
    return "/".join(p for p in parts if p not in ("", ".")) or None


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a fifo"
    return f"of tar type {member.type!r}"


def _write_member(archive: Path, source: IO[bytes], staging: Path, name: str, size: int) -> str:
    """Copy exactly ``size`` bytes into the new file ``staging/name``; the sha256 of what was written.
    A read that fails is the archive's fault (raised as is); a write that fails (a full disk) is not."""
    target = staging / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise SyncError(f"{archive}: {name} appears twice; nothing was imported") from None
    except OSError as exc:
        raise _unwritable(archive, staging, exc) from None
    digest = hashlib.sha256()
    try:
        left = size
        while left > 0:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                raise EOFError(f"{name} ends early")
            digest.update(chunk)
            left -= len(chunk)
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(fd, view):]
                except OSError as exc:
                    raise _unwritable(archive, staging, exc) from None
    finally:
        os.close(fd)
    return digest.hexdigest()


def _unwritable(archive: Path, staging: Path, exc: OSError) -> SyncError:
    return SyncError(f"cannot unpack {archive} into {staging}: {exc.strerror or exc}; nothing was imported")


def _read_manifest(archive: Path, staging: Path) -> dict:
    try:
        manifest = json.loads((staging / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SyncError(f"{archive} has no readable manifest.json ({exc}); is it a `git vault export` archive?") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise SyncError(f"{archive}: unknown archive format {manifest.get('format') if isinstance(manifest, dict) else manifest!r}; "
                        f"this gitvault reads format {ARCHIVE_FORMAT}")
    for key in ("ref", "tip"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise SyncError(f"{archive}: manifest.json has no {key!r} (text); the archive is damaged; nothing was imported")
    if not manifest["ref"].startswith("refs/"):
        raise SyncError(f"{archive}: manifest.json names {manifest['ref']!r}, not a ref; nothing was imported")
    return manifest


def _check_listed(archive: Path, manifest: dict, found: dict[str, str]) -> list[str]:
    """Every blob in the archive must hash to its name and every listed blob must be there."""
    for sha, actual in sorted(found.items()):
        if actual != sha:
            raise SyncError(f"{archive} is damaged: blob {sha} hashes to {actual}; nothing was imported")
    absent = set(manifest.get("blobs") or {}) - set(found)
    if absent:
        raise SyncError(f"{archive} is incomplete: {len(absent)} listed blob(s) are missing "
                        f"(e.g. {sorted(absent)[0]}); nothing was imported")
    return sorted(found)


# -- choosing a subset -----------------------------------------------------------------------------

def subset_tree(repo: pygit2.Repository, tip: pygit2.Oid, prefixes: list[str]) -> pygit2.Oid:
    """The tree holding only the chosen experiments and everything that belongs to them."""
    snap = Snapshot(repo, tip)
    records = {kind: {rid: _get(snap, kind, rid) for rid in snap.ids(kind)} for kind in layout.KIND_DIRS}
    wanted = [p.strip().strip("/") for p in prefixes if p.strip().strip("/")]
    experiments = records["experiment"]
    chosen = {rid for rid, r in experiments.items()
              if rid in wanted or any(_under(str(r.get("path") or ""), p) for p in wanted)}
    if not chosen:
        raise SyncError(f"no experiment path starts with {', '.join(map(repr, prefixes))}; "
                        "`git vault experiments` lists experiment paths")
    for rid in list(chosen):
        parent = experiments.get(rid, {}).get("parent_id")
        while parent and parent in experiments and parent not in chosen:
            chosen.add(parent)
            parent = experiments[parent].get("parent_id")
    runs = {rid for rid, r in records["run"].items() if r.get("experiment_id") in chosen}
    models = {rid for rid, r in records["model"].items() if r.get("run_id") in runs}
    nodes = chosen | runs | models
    keep: dict[str, set[str]] = {
        "experiment": chosen,
        "run": runs,
        "model": models,
        "lineage": {rid for rid, r in records["lineage"].items()
                    if r.get("parent_id") in nodes or r.get("child_id") in nodes},
        "todo": {rid for rid, r in records["todo"].items() if r.get("scope_id") in nodes},
        "link": {rid for rid, r in records["link"].items() if r.get("run_id") in runs},
    }
    tip_tree = snap.tree
    assert tip_tree is not None
    nested: dict = {}
    for kind, ids in keep.items():
        for rid in ids:
            path = layout.entity_dir(kind, rid)
            node = nested
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = tip_tree["/".join(path)].id
    if layout.CONFIG_FILE in tip_tree:
        nested[layout.CONFIG_FILE] = tip_tree[layout.CONFIG_FILE].id
    return _write_nested(repo, nested)


def _get(snap: Snapshot, kind: str, rid: str) -> dict:
    try:
        return snap.get(kind, rid)
    except (CorruptRecordError, KeyError):
        return {}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _write_nested(repo: pygit2.Repository, nested: dict) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    for name, value in sorted(nested.items()):
        if isinstance(value, dict):
            builder.insert(name, _write_nested(repo, value), FileMode.TREE)
        else:
            mode = FileMode.BLOB if name == layout.CONFIG_FILE else FileMode.TREE
            builder.insert(name, value, mode)
    return builder.write()
