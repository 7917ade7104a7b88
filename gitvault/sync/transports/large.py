"""Choosing where a remote's large blobs go: ``git config vault.<remote>.blobs URL``.

- a path (absolute, ``~/...``, or relative to the work tree) or ``file:///path``: `FolderBlobs`;
- ``host:path`` or ``ssh://[user@]host[:port]/path``: `RsyncBlobs`;
- ``s3://bucket/prefix``: `S3Blobs` (needs the ``[s3]`` extra).

The size limit (``vault.<remote>.blobLimit``, else ``vault.blobLimit``, default 50m; git's size
suffixes k, m, g work) splits blobs between the git ref and this destination, and the budget
(``vault.<remote>.budget``, else ``vault.budget``, default 4g) is the size of the remote's
blobs ref past which a push warns.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pygit2

from gitvault.errors import SyncError
from gitvault.sync.transports import BlobTransport

DEFAULT_LIMIT = 50 * 1024 * 1024  # git's 50m
DEFAULT_BUDGET = 4 * 1024 * 1024 * 1024  # git's 4g
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:@]+):(?P<path>.*)$")


def config_key(remote: str) -> str:
    return f"vault.{remote}.blobs"


def large_destination(config: pygit2.Config, remote: str, workdir: Path) -> BlobTransport | None:
    """The configured large-blob destination of ``remote``, or None."""
    key = config_key(remote)
    try:
        url = str(config[key]).strip()
    except KeyError:
        return None
    if not url:
        return None
    return open_destination(url, workdir, key)


def open_destination(url: str, workdir: Path, key: str = "") -> BlobTransport:
    from gitvault.sync.transports.folder import FolderBlobs
    from gitvault.sync.transports.rsync import RsyncBlobs

    if url.startswith("s3://"):
        from gitvault.sync.transports.s3 import S3Blobs

        return S3Blobs(url)
    if url.startswith("file://"):
        return FolderBlobs(Path(url[7:]))
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("ssh", "git+ssh", "ssh+git"):
            raise SyncError(f"`git config {key}` is {url!r}, which gitvault cannot use for blobs; give a "
                            "folder, host:path, ssh://host/path or s3://bucket/prefix")
        path = parts.path[1:] if parts.path.startswith("/~") else parts.path
        user = f"{parts.username}@" if parts.username else ""
        return RsyncBlobs(f"{user}{parts.hostname}:{path}", parts.port, key)
    if _SCP.match(url) and not url.startswith(("/", ".", "~")):
        return RsyncBlobs(url, None, key)
    folder = Path(url).expanduser()
    return FolderBlobs(folder if folder.is_absolute() else (workdir / folder).resolve())


def size_setting(config: pygit2.Config, remote: str, name: str, default: int) -> int:
    """``vault.<remote>.<name>``, else ``vault.<name>``, else ``default`` (git size suffixes)."""
    for key in (f"vault.{remote}.{name}", f"vault.{name}"):
        try:
            return config.get_int(key)
        except KeyError:
            continue
        except Exception:  # pygit2 raises InvalidError for a value that is not a size
            raise SyncError(f"`git config {key}` is not a size (use a number of bytes, or 50m, 2g)") from None
    return default
