"""The blob store: bytes, files and streams in; atomic, idempotent, read-only; clear errors."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gitvault import BlobError, BlobStore
from gitvault.storage.blobs import copy_tree_blobs


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / ".extract" / "objects")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


class Generated(io.RawIOBase):
    """A deterministic binary stream of ``total`` bytes that never exists in memory at once."""

    def __init__(self, total: int, fail_after: int | None = None) -> None:
        self.total, self.sent, self.fail_after = total, 0, fail_after
        self.block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
        self.digest = hashlib.sha256()
        self.observed: list[list[str]] = []
        self.watch: Path | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise OSError("the network went away")
        n = self.total - self.sent if n is None or n < 0 else min(n, self.total - self.sent)
        stamp = self.sent.to_bytes(8, "big")
        chunk = (stamp + self.block)[:n]
        self.sent += len(chunk)
        self.digest.update(chunk)
        if self.watch is not None:
            self.observed.append(files_under(self.watch))
        return chunk


def test_put_bytes_lays_out_by_sha256_read_only(store: BlobStore) -> None:
    data = b"hello blobs\n"
    sha = store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.path(sha)
    assert path == store.root / sha[:2] / sha[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.has(sha) and store.read_bytes(sha) == data
    with store.open(sha) as fh:
        assert fh.read() == data
    assert store.verify(sha) is None
    assert list(store) == [sha]
    assert store.put_bytes(bytearray(data)) == sha and store.put_bytes(memoryview(data)) == sha


def test_puts_are_idempotent_and_leave_no_temp_files(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3000))
    sha = store.put_file(source)
    inode = store.path(sha).stat().st_ino
    assert store.put_file(str(source)) == sha
    assert store.put_bytes(source.read_bytes()) == sha
    with source.open("rb") as fh:
        assert store.put_stream(fh) == sha
    assert store.path(sha).stat().st_ino == inode  # never rewritten
    assert files_under(store.root) == [sha[:2], f"{sha[:2]}/{sha[2:]}"]
    assert store.put_bytes(b"") == hashlib.sha256(b"").hexdigest()  # empty blobs are fine too


def test_re_putting_an_old_blob_freshens_it_for_gc(store: BlobStore) -> None:
    """A writer re-using an old unreferenced blob must look young to `git vault gc`."""
    sha = store.put_bytes(b"reused")
    month_ago = time.time() - 30 * 86400
    os.utime(store.path(sha), (month_ago, month_ago))
    store.put_bytes(b"reused")
    assert time.time() - store.path(sha).stat().st_mtime < 3600
    os.utime(store.path(sha), (month_ago, month_ago))
    store.put_stream(io.BytesIO(b"reused"))
    assert time.time() - store.path(sha).stat().st_mtime < 3600


def test_a_50mb_stream_is_never_held_in_memory(store: BlobStore) -> None:
    total = 50 * (1 << 20)
    stream = Generated(total)
    stream.watch = store.root
    store.root.mkdir(parents=True)
    tracemalloc.start()
    try:
        sha = store.put_stream(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sha == stream.digest.hexdigest()
    assert store.path(sha).stat().st_size == total
    assert peak < 8 * (1 << 20), f"peak Python memory {peak / 2**20:.1f} MiB for a 50 MiB stream"
    # while it was being written only a temp file existed: no reader could see half a blob
    assert all(len(seen) == 1 and seen[0].startswith(".incoming-") for seen in stream.observed)
    assert files_under(store.root) == [sha[:2], f"{sha[:2]}/{sha[2:]}"]


def test_a_stream_that_fails_midway_leaves_nothing(store: BlobStore) -> None:
    store.root.mkdir(parents=True)
    with pytest.raises(OSError, match="network went away"):
        store.put_stream(Generated(5 << 20, fail_after=2 << 20))
    assert files_under(store.root) == []


@pytest.mark.parametrize(("call", "arg", "error", "message"), [
    ("put_bytes", "text, not bytes", TypeError, "needs bytes"),
    ("put_bytes", None, TypeError, "needs bytes"),
    ("put_bytes", 12, TypeError, "needs bytes"),
    ("put_bytes", [1, 2], TypeError, "needs bytes"),
    ("put_stream", io.StringIO("text mode"), TypeError, "open the file with 'rb'"),
    ("put_stream", "a/path/string", TypeError, "binary file object"),
    ("put_stream", None, TypeError, "binary file object"),
    ("put_file", "does/not/exist.bin", BlobError, "not a readable file"),
    ("put_file", ".", BlobError, "not a readable file"),
    ("put_file", 12, TypeError, "PathLike"),
])
def test_bad_input_is_refused_and_writes_nothing(store: BlobStore, call: str, arg: Any,
                                                 error: type[Exception], message: str) -> None:
    kept = store.put_bytes(b"already here")
    before = files_under(store.root)
    with pytest.raises(error, match=message):
        getattr(store, call)(arg)
    assert files_under(store.root) == before
    assert store.read_bytes(kept) == b"already here"


def test_a_text_mode_file_is_refused(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("plain text\n")
    store.root.mkdir(parents=True)
    with source.open("r") as fh, pytest.raises(TypeError, match="'rb'"):
        store.put_stream(fh)
    assert files_under(store.root) == []


BAD_SHAS = ["", "abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "../" + "a" * 61, "a" * 32 + "/" + "a" * 31,
            " " + "a" * 63, None, 42, b"a" * 64]


@pytest.mark.parametrize("bad", BAD_SHAS)
@pytest.mark.parametrize("call", ["path", "has", "open", "read_bytes", "verify", "delete"])
def test_bad_sha_strings(store: BlobStore, call: str, bad: Any) -> None:
    store.put_bytes(b"x")
    before = files_under(store.root)
    with pytest.raises(BlobError, match="not a sha256 blob id"):
        getattr(store, call)(bad)
    assert files_under(store.root) == before


def test_missing_and_damaged_blobs(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(BlobError, match="missing.*git vault fsck"):
        store.open(missing)
    assert store.verify(missing) == f"blob {missing} is missing"
    sha = store.put_bytes(b"0123456789")
    path = store.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"01234")
    assert "damaged" in (store.verify(sha) or "")
    store.delete(sha)
    assert not store.has(sha) and list(store) == []
    store.delete(sha)  # deleting what is gone is a no-op


def test_copy_between_stores(store: BlobStore, tmp_path: Path) -> None:
    other = BlobStore(tmp_path / "other")
    shas = [store.put_bytes(bytes([i]) * 100) for i in range(3)]
    other.put_bytes(bytes([0]) * 100)
    assert copy_tree_blobs(store, other, shas) == 2
    assert sorted(other) == sorted(shas)
    with pytest.raises(BlobError, match="missing"):
        copy_tree_blobs(store, other, [hashlib.sha256(b"nope").hexdigest()])
