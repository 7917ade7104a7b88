"""Committing many records at once: the bulk path of importers (issue 28) and of benchmarks.

``commit_many(vault, records)`` takes ``(kind, id, record)`` triples (any iterable: a generator
reading another tracker's export is fine; at most ``batch`` records are held at a time) and writes
them in batches of ``batch`` records, one vault commit per batch:

1. every record of the batch is checked as `Transaction.put` checks it (`vault.encode_record`:
   a dict, matching kind and id, a valid id, the kind's schema); a record that fails stops the
   import with one line naming it and its position, before anything of its batch is written;
2. under the vault's lock, each record is looked up at the tip (identical: skipped; different:
   the batch is refused), and the new ones are handed to git's own bulk writer,
   ``git fast-import``, as one commit on the tip: git writes the blobs and every tree the batch
   touches (each once) straight into one pack, on a temporary ref that is deleted at once;
3. the ref moves by the same compare-and-swap as `Vault.commit` (`Vault.advance`): a writer that
   committed meanwhile is kept, and the batch is built again on its tip.

Why not pygit2's ``create_blob`` as `Vault.commit` does: each call writes one loose object file
(0.57 ms each measured on this project's machine, mostly file creation), and a record is two
objects (its blob and its folder's tree), so a million records would be 2 million loose files,
about 19 minutes and gigabytes of 4 KB files before git packs them. ``git fast-import`` is what
git ships for exactly this (the importers of other version-control systems use it), and it writes
packs; gitvault still writes no pack or tree body itself.

Idempotent: a record already in the vault with identical content is skipped (counted as
``unchanged``), so an interrupted import can simply be run again; one with different content is
refused (`RecordExistsError`, as sealed records are never rewritten), and so is an id given twice
with different content. A refused batch writes no commit; batches committed before it stay.
Only whole records are written (no events, no blobs of the blob store: put those first with
`BlobStore`, as every record's blobs must be stored before the record). Each batch leaves one
pack; `git gc` merges them later (a million records in batches of 100,000: ten packs).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import pygit2

from gitvault.errors import RecordExistsError, VaultError
from gitvault.storage import gitobjects
from gitvault.storage.repo import signature
from gitvault.storage.vault import Snapshot, Vault, encode_record

DEFAULT_BATCH = 100_000

Item = tuple[str, str, dict[str, Any]]


@dataclass
class BulkResult:
    """What `commit_many` did: records newly written, records already there with the same content,
    commits made and the seconds it took."""

    written: int = 0
    unchanged: int = 0
    commits: int = 0
    seconds: float = 0.0


def commit_many(vault: Vault, records: Iterable[Item], *, batch: int = DEFAULT_BATCH,
                message: str = "bulk import",
                progress: Callable[[BulkResult], None] | None = None) -> BulkResult:
    """Write ``records`` ((kind, id, record dict) triples) into the vault, ``batch`` records per
    commit; see the module docstring. Returns the counts; raises `ValueError`/`TypeError` (a bad
    record, one line naming it) or `RecordExistsError` before the failing batch is committed."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    vault.config()  # raises VaultNotInitializedError, in its words, before anything is written
    result = BulkResult()
    started = time.perf_counter()
    for number, chunk in enumerate(_chunks(records, batch), 1):
        encoded = _encode(chunk, (number - 1) * batch)
        written, unchanged = _commit_batch(vault, encoded, f"{message}: batch {number}, {len(encoded)} records")
        result.written += written
        result.unchanged += unchanged
        result.commits += 1 if written else 0
        result.seconds = time.perf_counter() - started
        if progress is not None:
            progress(result)
    result.seconds = time.perf_counter() - started
    return result


def _chunks(records: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in records:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _encode(chunk: list[Item], offset: int) -> dict[tuple[str, ...], bytes]:
    """Check every record of ``chunk``: its tree path -> its bytes."""
    encoded: dict[tuple[str, ...], bytes] = {}
    for position, item in enumerate(chunk, offset + 1):
        try:
            kind, record_id, record = item
            path, data = encode_record(kind, record_id, record)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"record {position} of the import: {exc}") from None
        seen = encoded.get(path)
        if seen is not None and seen != data:
            raise RecordExistsError(f"record {position} of the import: {kind} {record_id} was given twice with "
                                    "different content")
        encoded[path] = data
    return encoded


def _commit_batch(vault: Vault, encoded: dict[tuple[str, ...], bytes], message: str) -> tuple[int, int]:
    """One commit holding ``encoded`` on the tip, through `Vault.advance` (lock + compare-and-swap);
    (records written, records already there)."""
    hashes = {path: pygit2.hash(data) for path, data in encoded.items()}
    counts = (0, 0)

    def build(repo: pygit2.Repository, parent: pygit2.Oid | None) -> tuple[pygit2.Oid | None, str]:
        nonlocal counts
        snap = Snapshot(repo, parent)
        snap.config()  # a vault.toml must be there (raises otherwise)
        new: list[tuple[str, ...]] = []
        for path, oid in hashes.items():
            existing = snap.blob_id_at(path)
            if existing is None:
                new.append(path)
            elif existing != oid:
                raise RecordExistsError(f"{'/'.join(path)} already exists with different content; sealed records "
                                        "are never rewritten (nothing of this batch was committed)")
        counts = (len(new), len(hashes) - len(new))
        if not new:
            return None, message
        assert parent is not None  # snap.config() found a tip
        return _fast_import(vault, parent, [(p, encoded[p]) for p in new], message), message

    vault.advance(build)
    return counts


def _fast_import(vault: Vault, parent: pygit2.Oid, files: list[tuple[tuple[str, ...], bytes]], message: str) -> pygit2.Oid:
    """``git fast-import`` writes ``files`` as one commit on ``parent`` (blobs and trees into one
    pack) on a temporary ref; returns the commit, the ref deleted."""
    repo = vault.repo
    sig = signature(repo)
    temp_ref = f"refs/vault-bulk/{os.getpid()}-{threading.get_ident()}"
    stream = bytearray()
    for mark, (_, data) in enumerate(files, 1):
        stream += b"blob\nmark :%d\ndata %d\n" % (mark, len(data))
        stream += data
        stream += b"\n"
    text = message.encode("utf-8")
    sign = "-" if sig.offset < 0 else "+"
    zone = f"{sign}{abs(sig.offset) // 60:02d}{abs(sig.offset) % 60:02d}"
    stream += f"commit {temp_ref}\ncommitter {sig.name} <{sig.email}> {int(time.time())} {zone}\n".encode("utf-8")
    stream += b"data %d\n" % len(text) + text + b"\n"
    stream += f"from {parent}\n".encode()
    for mark, (path, _) in enumerate(files, 1):
        stream += b"M 100644 :%d %s\n" % (mark, "/".join(path).encode("ascii"))
    stream += b"\ndone\n"
    try:
        done = subprocess.run(["git", f"--git-dir={vault.paths.common_dir}", "fast-import", "--quiet", "--done", "--depth=0",
                               "--force"], input=bytes(stream), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=3600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise VaultError(f"bulk import: git fast-import could not run ({exc}); nothing of this batch was committed") from None
    try:
        if done.returncode != 0:
            first = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[0]
            raise VaultError(f"bulk import: git fast-import failed ({first}); nothing of this batch was committed")
        repo.free()  # libgit2 sees the new pack
        commit = gitobjects.ref_target(repo, temp_ref)
        if commit is None:
            raise VaultError("bulk import: git fast-import wrote no commit; nothing of this batch was committed")
        return commit
    finally:
        try:
            repo.lookup_reference(temp_ref).delete()
        except (KeyError, pygit2.GitError):
            pass
