"""Archives: a whole vault (or some experiments) and its blobs in one ``.tar.gz``.

Layout of the archive:

- ``manifest.json``: ``{"format": 1, "ref": <ref in the bundle>, "tip": <commit>, "counts": {...},
  "blobs": {sha: size}}``;
- ``vault.bundle``: a git bundle of that ref. The whole vault exports ``refs/vault/main`` with its
  history. A subset (``--experiment PREFIX``) exports one parentless commit whose tree holds the
  experiments whose path is ``PREFIX`` or lies below it (plus their ancestor nodes, so the
  hierarchy stays whole), their runs, the models those runs registered, todos scoped to any of
  them, commit links of the runs, lineage touching any of them, and ``vault.toml``;
- ``blobs/<sha[:2]>/<sha[2:]>``: every blob those records reference.

Import verifies every blob's sha256 (and the bundle) before anything is installed: a damaged
archive is refused whole. Then blobs are installed and the bundle's commit is merged like a pull.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitvault import gitobjects, layout
from gitvault.blobs import BlobStore, check_sha, file_sha256
from gitvault.errors import BlobError, CorruptRecordError, SyncError, VaultNotInitializedError
from gitvault.merge import count_added, merge_into
from gitvault.repo import VAULT_REF, signature
from gitvault.sync import SyncReport, _after_merge, blobs_between, open_vault
from gitvault.transport import install_verified, run_git, staging_dir
from gitvault.vault import Snapshot

ARCHIVE_FORMAT = 1


def export_report(root: Path | str | None, output: Path | str, experiments: list[str] | None = None) -> SyncReport:
    vault = open_vault(root)
    tip = vault.tip()
    if tip is None:
        raise VaultNotInitializedError("there is no vault to export; run `git vault init` first")
    output = Path(output)
    if not output.name.endswith((".tar.gz", ".tgz")):
        raise ValueError(f"output {output} must end with .tar.gz (the archive is a gzipped tar)")
    repo = vault.repo
    report = SyncReport(remote=str(output))
    ref, temp_ref = VAULT_REF, None
    commit = tip
    if experiments:
        tree = subset_tree(repo, tip, experiments)
        sig = signature(repo)
        commit = repo.create_commit(None, sig, sig, f"export of {', '.join(experiments)}", tree, [])
        ref = temp_ref = f"refs/vault-export/{time.time_ns()}/main"
        repo.references.create(temp_ref, commit)
    store = BlobStore(vault.paths.objects_dir)
    shas = sorted(blobs_between(repo, None, commit))
    lacking = [s for s in shas if not store.has(s)]
    staging = staging_dir(vault)
    try:
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
                tar.add(store.path(sha), arcname=f"blobs/{sha[:2]}/{sha[2:]}")
        os.replace(tmp, output)
        report.blobs = len(shas)
        report.blob_bytes = sum(sizes.values())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if temp_ref:
            repo.references.delete(temp_ref)
    return report


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def import_report(archive: Path | str, root: Path | str | None) -> SyncReport:
    archive = Path(archive)
    if not archive.is_file():
        raise SyncError(f"archive {archive} does not exist or is not a file")
    vault = open_vault(root)
    report = SyncReport(remote=str(archive))
    staging = staging_dir(vault)
    temp_ref = f"refs/vault-import/{time.time_ns()}/main"
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SyncError(f"{archive} is not a readable .tar.gz archive ({exc}); nothing was imported") from exc
        manifest = _read_manifest(archive, staging)
        shas = _verify_blobs(archive, staging, manifest)
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
        report.absorb(install_verified(vault, staging / "blobs", shas))
        result = merge_into(vault, theirs, f"import vault archive {archive.name}")
        _after_merge(vault, result, report)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            vault.repo.references.delete(temp_ref)
        except KeyError:
            pass
    return report


def _read_manifest(archive: Path, staging: Path) -> dict:
    try:
        manifest = json.loads((staging / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SyncError(f"{archive} has no readable manifest.json ({exc}); is it a `git vault export` archive?") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise SyncError(f"{archive}: unknown archive format {manifest.get('format') if isinstance(manifest, dict) else manifest!r}; "
                        f"this gitvault reads format {ARCHIVE_FORMAT}")
    return manifest


def _verify_blobs(archive: Path, staging: Path, manifest: dict) -> list[str]:
    """Every blob in the archive must hash to its name and every listed blob must be there."""
    listed = set(manifest.get("blobs") or {})
    found: list[str] = []
    blobs = staging / "blobs"
    for path in sorted(blobs.glob("*/*")) if blobs.is_dir() else []:
        sha = path.parent.name + path.name
        try:
            check_sha(sha)
        except BlobError:
            raise SyncError(f"{archive}: unexpected file blobs/{path.parent.name}/{path.name}; nothing was imported") from None
        actual = file_sha256(path)
        if actual != sha:
            raise SyncError(f"{archive} is damaged: blob {sha} hashes to {actual}; nothing was imported")
        found.append(sha)
    absent = listed - set(found)
    if absent:
        raise SyncError(f"{archive} is incomplete: {len(absent)} listed blob(s) are missing "
                        f"(e.g. {sorted(absent)[0]}); nothing was imported")
    return found


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
                        "`git vault ls` lists experiment paths")
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
