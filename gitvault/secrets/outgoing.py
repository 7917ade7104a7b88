"""What a push is about to send that looks like a credential (push protection).

A push sends the records that differ from the remote's vault tip and the blobs they reference.
This reads exactly those: each changed record, its events (notes, tags) and kept conflict
versions, and the text blobs among their references: code patches (the lines they add), text
artifacts and logged files of a text type up to `TEXT_FILE_MOST` (configs, CSVs, notebooks).
Curves, tables, tensors, images and models are numbers, not text, and are not read.
"""

from __future__ import annotations

from typing import Any

import pygit2

from gitvault.storage import codec, gitobjects, layout
from gitvault.storage.blobs import BlobStore
from gitvault.errors import CorruptRecordError
from gitvault.sync.merge import iter_entity_trees
from gitvault.secrets.scan import Finding, scan_patch, scan_text, scan_value
from gitvault.storage.vault import Vault


def scan(vault: Vault, theirs: pygit2.Oid | None, ours: pygit2.Oid | None) -> list[Finding]:
    """Suspected secrets in what a push of ``ours`` over ``theirs`` would send, each named by
    record (``run 01JX… (path#name)``), field or file, and detector."""
    repo = vault.repo
    store = BlobStore(vault.paths.objects_dir)
    blob_findings: dict[str, list[Finding]] = {}  # a patch shared by a sweep is read once, named for each run
    found: list[Finding] = []
    for kind, record_id, tree in iter_entity_trees(repo, theirs, ours):
        record = _decode(repo, tree, layout.RECORD_FILE, f"{kind}/{record_id}")
        label = _label(kind, record_id, record)
        versions = [record] if record is not None else []
        for sub, prefix in ((layout.EVENTS_DIR, "event"), (layout.CONFLICTS_DIR, "conflict")):
            if sub in tree:
                for entry in gitobjects.tree(repo, tree[sub].id):
                    item = _decode(repo, tree, f"{sub}/{entry.name}", f"{kind}/{record_id}")
                    if item is not None and prefix == "event":
                        found += _named(label, scan_value(item.get("data") or {}, f"{item.get('type')} event"))
                    elif item is not None:
                        versions.append(item)
        for version in versions:
            found += _named(label, scan_value(version, ""))
            for sha, what in _text_blobs(version):
                if sha not in blob_findings:
                    blob_findings[sha] = _scan_blob(store, sha, what) if store.has(sha) else []
                found += _named(label, blob_findings[sha])
    return list(dict.fromkeys(found))  # a record and its conflict version can repeat a finding


def _decode(repo: pygit2.Repository, tree: pygit2.Tree, path: str, label: str) -> dict[str, Any] | None:
    try:
        data = codec.decode(gitobjects.blob_bytes(repo, tree[path].id), label)
    except (KeyError, CorruptRecordError):
        return None  # fsck's business, not the scanner's
    return data if isinstance(data, dict) else None


def _label(kind: str, record_id: str, record: dict[str, Any] | None) -> str:
    if record is None:
        return f"{kind} {record_id}"
    if kind == "run":
        name = record.get("name")
        return f"run {record_id} ({record.get('experiment_path')}{'#' + name if name else ''})"
    if kind == "experiment":
        return f"experiment {record.get('path')}"
    if kind == "model":
        return f"model {record.get('name')}@{record.get('version')}"
    return f"{kind} {record_id}"


def _text_blobs(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(sha, what) of the text blobs a record references: its code patch and text artifacts."""
    out = []
    patch = (record.get("git") or {}).get("patch") if record.get("kind") == "run" else None
    if isinstance(patch, str):
        out.append((patch, "patch"))
    for item in record.get("artifacts") or []:
        if isinstance(item, dict) and item.get("kind") == "text" and isinstance(item.get("blob"), str):
            out.append((item["blob"], f"text {item.get('name')}"))
        elif isinstance(item, dict) and item.get("kind") == "file" and isinstance(item.get("blob"), str) \
                and _text_file(item):
            out.append((item["blob"], f"file {item.get('name')}"))
    return out


TEXT_FILE_TYPES = ("application/json", "application/yaml", "application/toml", "application/xml",
                   "application/jsonl", "application/x-sh", "application/x-ipynb+json", "image/svg+xml")
TEXT_FILE_MOST = 8 << 20
"""Files logged with ``run.log_file`` are scanned when their media type is text (``text/*`` or one of
`TEXT_FILE_TYPES`: configs, notebooks, scripts) and they hold at most this many bytes."""


def _text_file(item: dict[str, Any]) -> bool:
    media = str((item.get("metadata") or {}).get("media_type") or "")
    size = item.get("size")
    return (media.startswith("text/") or media in TEXT_FILE_TYPES) and isinstance(size, int) and size <= TEXT_FILE_MOST


def _scan_blob(store: BlobStore, sha: str, what: str) -> list[Finding]:
    path = store.path(sha)
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return []
    return scan_patch(text, what) if what == "patch" else scan_text(text, what)


def _named(label: str, findings: list[Finding]) -> list[Finding]:
    return [Finding(f"{label} {f.where}".rstrip(), f.detector) for f in findings]
