"""The content-addressed blob store: ``<git-common-dir>/vault/objects/<sha256[:2]>/<sha256[2:]>``.

Blobs are written to a temp file in the same folder (created read-only), fsynced and renamed into
place; a reader never sees half a blob and writing the same content twice is a no-op. Blobs
are plain files that DuckDB, numpy and zarr open in place. Files and folders get the modes git
gives its objects (`gitvault.storage.perms`: 0444 and 0777 less the umask, widened for a shared repository).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from gitvault.storage import perms
from gitvault.errors import BlobError

_SHA = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_VERIFIED: set[tuple[str, int, int, int, int]] = set()  # blob files hashed whole by this process
_VERIFIED_MAX = 100_000
T = TypeVar("T")


def check_sha(sha: object) -> str:
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise BlobError(f"{sha!r} is not a sha256 blob id (64 lowercase hex digits)")
    return sha


class BlobStore:
    """Put and read immutable blobs by sha256."""

    def __init__(self, root: Path, fetch: Callable[[list[str]], object] | None = None) -> None:
        self.root = Path(root)
        self.fetch = fetch  # called with [sha] when a blob to read is missing (a --records-only pull)

    @property
    def modes(self) -> perms.Perms:
        """The modes of the repository this store belongs to (looked up once per process)."""
        return perms.for_path(self.root)

    def path(self, sha: str) -> Path:
        check_sha(sha)
        return self.root / sha[:2] / sha[2:]

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put_bytes(self, data: bytes | bytearray | memoryview) -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_bytes needs bytes, got {type(data).__name__}")
        sha = hashlib.sha256(data).hexdigest()
        if self._freshen(sha):
            return sha
        return self._install(sha, lambda fh: fh.write(data))

    def put_stream(self, stream: BinaryIO) -> str:
        """Copy a binary stream in, hashing as it goes (never holds it all in memory)."""
        if not hasattr(stream, "read"):
            raise TypeError(f"put_stream needs a binary file object, got {type(stream).__name__}")

        def copy(out: BinaryIO) -> None:
            while chunk := stream.read(_CHUNK):
                if isinstance(chunk, str):
                    raise TypeError("put_stream needs a binary stream; open the file with 'rb'")
                out.write(chunk)

        return self.put_written(copy)[0]

    def put_written(self, write: Callable[[BinaryIO], T]) -> tuple[str, T]:
        """A blob of what ``write(out)`` writes to ``out`` (hashed on the way); returns its sha256
        and what ``write`` returned."""
        digest = hashlib.sha256()
        tmp, fd = self._temp("stream")
        try:
            with os.fdopen(fd, "wb") as out:
                result = write(_Hashing(out, digest))  # type: ignore[arg-type]  # write-only BinaryIO
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            if self._freshen(sha):
                tmp.unlink()
            else:
                self._place(tmp, sha)
            return sha, result
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_file(self, source: Path | str) -> str:
        source = Path(source)
        if not source.is_file():
            raise BlobError(f"cannot store {source}: not a readable file")
        with source.open("rb") as fh:
            return self.put_stream(fh)

    def open(self, sha: str) -> BinaryIO:
        """The blob for reading, its sha256 checked on first open in this process (a damaged
        blob raises `BlobError` instead of reading back wrong numbers)."""
        fh = self._open_unchecked(sha)
        try:
            self._check_once(sha, fh)
        except BaseException:
            fh.close()
            raise
        return fh

    def _check_once(self, sha: str, fh: BinaryIO) -> None:
        st = os.fstat(fh.fileno())
        key = (sha, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key in _VERIFIED:
            return
        digest = hashlib.sha256()
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
        fh.seek(0)
        if digest.hexdigest() != sha:
            raise BlobError(f"blob {sha} is damaged (its content hashes to {digest.hexdigest()[:16]}...); "
                            "`git vault fsck --repair` fetches a good copy from your remote")
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED.add(key)

    def _open_unchecked(self, sha: str) -> BinaryIO:
        path = self.path(sha)
        try:
            return path.open("rb")
        except FileNotFoundError:
            if self.fetch is not None:
                self.fetch([sha])  # raises BlobError when it cannot
                return path.open("rb")
            raise BlobError(
                f"blob {sha} is missing from {self.root}; run `git vault pull` to fetch it "
                "or `git vault fsck` to list what is missing"
            ) from None

    def read_bytes(self, sha: str) -> bytes:
        with self.open(sha) as fh:
            return fh.read()

    def verify(self, sha: str) -> str | None:
        """None when the blob is whole, else a sentence naming the problem."""
        path = self.path(sha)
        if not path.is_file():
            return f"blob {sha} is missing"
        actual = file_sha256(path)
        if actual != sha:
            return f"blob {sha} is damaged: its content hashes to {actual} (truncated or overwritten)"
        return None

    def adopt(self, source: Path, sha: str) -> bool:
        """Move a file whose content was already checked to hash to ``sha`` into the store (a
        received blob); False, leaving ``source`` alone, when the store already has it. Only a
        regular file is taken (lstat, then ``O_NOFOLLOW``): a link is never followed, nor made
        read-only through; anything else raises `BlobError`. It gets the mode of a new blob."""
        if self.has(sha):
            return False
        try:
            if not stat.S_ISREG(os.lstat(source).st_mode):
                raise BlobError(f"cannot store {source}: not a regular file")
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise BlobError(f"cannot store {source}: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BlobError(f"cannot store {source}: not a regular file")
            os.fchmod(fd, self.modes.file_mode(readonly=True))
        finally:
            os.close(fd)
        self._place(source, sha)
        return True

    def __iter__(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for bucket in sorted(self.root.iterdir()):
            if len(bucket.name) != 2 or not bucket.is_dir():
                continue
            for entry in sorted(bucket.iterdir()):
                sha = bucket.name + entry.name
                if _SHA.match(sha):
                    yield sha

    def delete(self, sha: str) -> None:
        """Remove a blob; a link in its place is removed itself (unlink never follows one)."""
        path = self.path(sha)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except PermissionError:
            # some file systems (SMB) refuse to delete a read-only file: make it writable first,
            # but only a regular file (lstat), never through a link
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise
            path.chmod(stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
            path.unlink()

    def _freshen(self, sha: str) -> bool:
        """True if the blob exists; its mtime is bumped so `git vault gc` treats a re-put blob as
        young, like git freshens an object it would have written (a writer re-using an old
        unreferenced blob must not lose it to gc before its record is committed)."""
        path = self.path(sha)
        if not path.is_file():
            return False
        try:
            os.utime(path)
        except OSError:  # owned by another user in a shared store: gc's grace still applies
            pass
        return True

    def _install(self, sha: str, write: Callable[[BinaryIO], object]) -> str:
        """Write a new blob: a temp file created read-only (no chmod after writing), fsynced, renamed."""
        tmp, fd = self._temp(sha[:16])
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            self._place(tmp, sha)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return sha

    def _temp(self, tag: str) -> tuple[Path, int]:
        """A new read-only temp file in the store (same file system as its final place), with the
        mode the blob keeps."""
        tmp = self.root / f".incoming-{os.getpid()}-{tag}-{os.urandom(4).hex()}"
        modes = self.modes
        flags = os.O_WRONLY | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = modes.open(tmp, flags, readonly=True)
        except FileNotFoundError:
            modes.make_dirs(self.root)
            fd = modes.open(tmp, flags, readonly=True)
        return tmp, fd

    def _place(self, tmp: Path, sha: str) -> None:
        final = self.path(sha)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            self.modes.make_dirs(final.parent)
            os.replace(tmp, final)


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, out: BinaryIO, digest: Any) -> None:
        self._out, self._digest = out, digest
        self.closed = False

    def write(self, data: Any) -> int:
        self._digest.update(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def copy_tree_blobs(src: BlobStore, dst: BlobStore, shas: list[str]) -> int:
    """Copy the named blobs that ``dst`` lacks; returns how many were copied."""
    copied = 0
    for sha in shas:
        if dst.has(sha):
            continue
        with src.open(sha) as fh:
            dst.put_stream(fh)
        copied += 1
    return copied


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
