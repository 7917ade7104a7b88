"""Large blobs in a folder: a local path or a shared file system (NFS, Lustre, GPFS).

The folder has the blob store's layout (``<sha[:2]>/<sha[2:]>``). Each blob is copied to a temp
file beside its final name and renamed into place, so no lock is needed: two writers of the same
blob write the same bytes, and a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from gitvault.storage.blobs import BlobStore
from gitvault.errors import SyncError
from gitvault.sync.transports import Advance, BlobTransport, staged_path

_SHA_TAIL = re.compile(r"^[0-9a-f]{62}$")


class FolderBlobs(BlobTransport):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.where = str(self.root)

    def listing(self) -> set[str]:
        found: set[str] = set()
        try:
            buckets = os.listdir(self.root)
        except FileNotFoundError:
            return found
        except OSError as exc:
            raise SyncError(f"cannot read the blob folder {self.root}: {exc.strerror}") from None
        for bucket in buckets:
            if len(bucket) != 2:
                continue
            try:
                found.update(bucket + n for n in os.listdir(self.root / bucket) if _SHA_TAIL.match(n))
            except NotADirectoryError:
                continue
        return found

    def has(self, sha: str) -> bool:
        return (self.root / sha[:2] / sha[2:]).is_file()

    def delete(self, shas: list[str]) -> list[str]:
        gone = []
        for sha in shas:
            try:
                (self.root / sha[:2] / sha[2:]).unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SyncError(f"cannot delete blob {sha[:12]} from {self.root}: {exc.strerror}") from None
            gone.append(sha)
        return gone

    def put(self, store: BlobStore, shas: list[str], advance: Advance | None = None) -> int:
        sent = 0
        for sha in shas:
            final = self.root / sha[:2] / sha[2:]
            if not final.is_file():
                try:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    tmp = final.parent / f".incoming-{os.getpid()}-{os.urandom(4).hex()}"
                    try:
                        shutil.copyfile(store.path(sha), tmp)
                        with tmp.open("rb") as fh:
                            os.fsync(fh.fileno())
                        tmp.chmod(0o444)
                        os.replace(tmp, final)
                    finally:
                        tmp.unlink(missing_ok=True)
                except OSError as exc:
                    raise SyncError(f"cannot write blob {sha} to {self.root}: {exc.strerror or exc}; "
                                    "check that the folder is mounted and writable") from None
                sent += final.stat().st_size
            if advance is not None:
                advance(1)
        return sent

    def get(self, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
        for sha in shas:
            source = self.root / sha[:2] / sha[2:]
            if source.is_file():
                shutil.copyfile(source, staged_path(staging, sha))
            if advance is not None:
                advance(1)
