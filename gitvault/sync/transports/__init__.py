"""Blob transports: how blobs reach a remote and come back, behind one small interface.

Every transport answers ``list`` (the sha256 ids it holds), ``put`` (send blobs from the local
store) and ``get`` (stage blobs into a folder as ``<sha[:2]>/<sha[2:]>``). What arrives is never
trusted: `install_verified` (in `gitvault.sync.transport`) hashes each staged file and installs only those
whose content matches their name, by rename.

- `GitRefBlobs`, the default for every remote: blobs up to a size limit travel as git objects
  on ``refs/vault/blobs``, pushed and fetched by the ``git`` command like the records.
- a large-blob destination, ``git config vault.<remote>.blobs URL``, for blobs over the limit:
  `FolderBlobs` (a path or ``file://``, e.g. a shared NFS folder), `RsyncBlobs` (``host:path``,
  ``ssh://``) or `S3Blobs` (``s3://bucket/prefix``, the ``[s3]`` extra).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from gitvault.storage.blobs import BlobStore
from gitvault.errors import SyncError

Advance = Callable[[int], None]


class BlobTransport(ABC):
    """One place blobs can be sent to and fetched from."""

    #: where the blobs go, for messages (a path, a URL or a ref)
    where: str = ""

    @abstractmethod
    def listing(self) -> set[str]:
        """Every blob id the destination holds."""

    @abstractmethod
    def put(self, store: BlobStore, shas: list[str], advance: Advance | None = None) -> int:
        """Send the named blobs (all present in ``store``); returns the bytes sent."""

    @abstractmethod
    def get(self, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
        """Write each named blob the destination holds to ``staging/<sha[:2]>/<sha[2:]>``; blobs it
        lacks are simply not staged."""

    def has(self, sha: str) -> bool:
        return sha in self.listing()

    def delete(self, shas: list[str]) -> list[str]:
        """Remove the named blobs (a purge); returns those that were there. A destination that
        cannot delete raises `SyncError` naming what to remove by hand."""
        raise SyncError(f"cannot delete blobs from {self.where}: remove {', '.join(s[:2] + '/' + s[2:] for s in shas)} "
                        "there by hand")


def staged_path(staging: Path, sha: str) -> Path:
    path = staging / sha[:2] / sha[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
