"""Large blobs in an S3-compatible bucket (AWS, MinIO, Ceph): ``s3://bucket/prefix``.

The client is `obstore` (the ``[s3]`` extra): one small Rust wheel with no botocore, whose
uploads of files past a few MB are multipart and streamed from disk, and whose downloads are
streamed to disk, so a multi-GB blob never sits in memory. It is imported on first use, so
gitvault works without it until a remote's blobs really go to S3.

Credentials, region and endpoint come from the standard AWS environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``); an ``http://`` endpoint (a local MinIO) is allowed.
Objects are keyed ``<prefix>/<sha[:2]>/<sha[2:]>``. An upload is atomic (S3 shows an object only
once it is complete), so two pushers of the same blob need no lock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gitvault import extras
from gitvault.storage.blobs import BlobStore
from gitvault.errors import SyncError
from gitvault.sync.transports import Advance, BlobTransport, staged_path

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

_KEY = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{62})$")
_S3_ERROR = re.compile(r"<Code>([^<]+)</Code>(?:\s*<Message>([^<]*)</Message>)?")
_CREDENTIALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                "InvalidToken", "TokenRefreshRequired"}
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
_CHUNK = 8 * 1024 * 1024
#: a wrong endpoint fails in about a second instead of after obstore's 10 retries
_RETRY: "RetryConfig" = {"max_retries": 4}
#: the whole-request timeout (obstore's default is 30 s) must outlast a multi-GB download;
#: a stalled connection is caught by the read timeout instead
_TIMEOUTS: "ClientConfig" = {"timeout": "12h", "read_timeout": "120s"}


class S3Blobs(BlobTransport):
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise SyncError(f"{url!r} names no S3 bucket; give s3://bucket/prefix in `git config vault.<remote>.blobs`")
        self.url = url
        self.where = url
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._client: Any = None

    def listing(self) -> set[str]:
        obs = _obstore()
        found: set[str] = set()
        with self._guard("listing the blobs"):
            for batch in obs.list(self._store(), chunk_size=1000):
                found.update(m[1] + m[2] for m in map(_KEY.match, (meta["path"] for meta in batch)) if m)
        return found

    def has(self, sha: str) -> bool:
        obs = _obstore()
        with self._guard(f"looking for blob {sha[:12]}"):
            try:
                obs.head(self._store(), _key(sha))
            except FileNotFoundError:
                return False
        return True

    def put(self, store: BlobStore, shas: list[str], advance: Advance | None = None) -> int:
        return sum(self._upload(store, sha) for sha in _ticking(shas, advance))

    def delete(self, shas: list[str]) -> list[str]:
        obs = _obstore()
        gone = [sha for sha in shas if self.has(sha)]
        with self._guard("deleting purged blobs"):
            for sha in gone:
                obs.delete(self._store(), _key(sha))
        return gone

    def get(self, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
        for sha in _ticking(shas, advance):
            self._download(sha, staging)

    def _upload(self, store: BlobStore, sha: str) -> int:
        """Send one blob unless the bucket has it (multipart, streamed from disk); the bytes sent."""
        obs = _obstore()
        if self.has(sha):
            return 0
        source = store.path(sha)
        with self._guard(f"uploading blob {sha[:12]}"):
            obs.put(self._store(), _key(sha), source, chunk_size=_CHUNK)
        return source.stat().st_size

    def _download(self, sha: str, staging: Path) -> None:
        """Stream one blob to ``staging`` (through a temp name); a blob the bucket lacks is skipped."""
        obs = _obstore()
        with self._guard(f"downloading blob {sha[:12]}"):
            try:
                result = obs.get(self._store(), _key(sha))
            except FileNotFoundError as exc:
                if "NoSuchBucket" in str(exc):
                    raise
                return
            final = staged_path(staging, sha)
            part = final.with_name(final.name + ".part")
            try:
                with part.open("wb") as out:
                    for chunk in result.stream(min_chunk_size=_CHUNK):
                        out.write(chunk)
                part.replace(final)
            finally:
                part.unlink(missing_ok=True)

    def _store(self) -> Any:
        """The obstore ``S3Store``, made on first use (making it does no network I/O)."""
        if self._client is None:
            from obstore.store import S3Store

            options: ClientConfig = {**_TIMEOUTS}
            if _endpoint().startswith("http://"):
                options["allow_http"] = True
            with self._guard("configuring the S3 client"):
                self._client = S3Store(self.bucket, prefix=self.prefix or None, client_options=options,
                                       retry_config=_RETRY)
        return self._client

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn any client or network error into one `SyncError` line naming the URL and the fix."""
        from obstore.exceptions import BaseError

        try:
            yield
        except (BaseError, OSError, ValueError, RuntimeError) as exc:
            code, reason = _reason(exc)
            raise SyncError(f"S3 blob store {self.url}: {doing} failed: {reason}; {self._fix(code, exc)}") from None

    def _fix(self, code: str, exc: Exception) -> str:
        from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

        if code == "NoSuchBucket":
            return f"create the bucket {self.bucket!r} or change `git config vault.<remote>.blobs`"
        if code in _CREDENTIALS or isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
            return "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
        if code == "connect":
            where = _endpoint() or "unset, so AWS itself"
            return f"check AWS_ENDPOINT_URL (now {where}) and that the server is up and reachable"
        return "check AWS_ENDPOINT_URL, AWS_REGION and the AWS_* credentials, or `git config vault.<remote>.blobs`"


def _obstore() -> Any:
    extras.require("s3", "large blobs on S3 (obstore)")
    import obstore

    return obstore


def _ticking(shas: list[str], advance: Advance | None) -> Iterator[str]:
    """Each sha in turn, calling ``advance(1)`` once the caller is done with it."""
    for sha in shas:
        yield sha
        if advance is not None:
            advance(1)


def _key(sha: str) -> str:
    return f"{sha[:2]}/{sha[2:]}"


def _endpoint() -> str:
    return next((os.environ[v] for v in _ENDPOINT_VARS if os.environ.get(v)), "")


def _reason(exc: Exception) -> tuple[str, str]:
    """A short code (the S3 error code, ``connect`` or ``""``) and one line of explanation."""
    text = str(exc)
    found = _S3_ERROR.search(text)
    if found:
        return found[1], f"{found[1]}: {found[2]}" if found[2] else found[1]
    if "ConnectError" in text or "error sending request" in text or "Connection refused" in text:
        return "connect", "cannot connect to the server"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return "", first if len(first) <= 300 else first[:297] + "..."
