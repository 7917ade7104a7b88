"""Large blobs through a real S3 API: a moto server on a free port of 127.0.0.1.

The AWS_* variables point the client (obstore) at the server; a fresh bucket per test. Records
and small blobs travel by git, blobs over ``vault.blobLimit`` to ``s3://bucket/prefix``. Skipped,
loudly, only when moto (``moto[server]``) or obstore is not installed.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault import BlobStore, Vault
from gitvault.errors import MissingExtraError, SyncError
from gitvault.sync.transports.large import open_destination
from gitvault.sync.transports.s3 import S3Blobs
from tests.conftest import git, vault_cmd
from tests.test_merge import add_run
from tests.test_sync import assert_whole, cluster, remote_blobs  # noqa: F401 - cluster is a fixture
from tests.test_sync_ssh import _free_port

PREFIX = "team/blobs"


def _skip(reason: str) -> None:
    message = f"S3 INTEGRATION TEST SKIPPED: {reason}"
    sys.stderr.write(f"\n{'!' * 20} {message} {'!' * 20}\n")
    pytest.skip(message)


@dataclass
class Bucket:
    endpoint: str
    name: str
    client: Any  # a boto3 S3 client, to look at the bucket from outside gitvault

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{PREFIX}"

    def keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=self.name).get("Contents", []))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        _skip(f"the S3 test server package moto[server] is not installed ({exc}); pip install 'moto[server]'")
    try:
        import obstore  # noqa: F401
    except ImportError:
        _skip("the S3 client package obstore is not installed; pip install obstore")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Credentials and endpoint as a user sets them; nothing is read from ~/.aws."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                        "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    import boto3

    _aws_env(monkeypatch, moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    name = f"vault-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(moto_endpoint, name, client)


def _use_s3(url: str, *clones: Path) -> None:
    for path in clones:
        git(path, "config", "vault.origin.blobs", url)
        git(path, "config", "vault.blobLimit", "2k")


def test_large_blobs_go_to_s3_and_come_back(cluster: dict[str, Path], bucket: Bucket) -> None:
    a, b = cluster["a"], cluster["b"]
    _use_s3(bucket.url, a, b)
    vault_a = Vault.open(a)
    add_run(vault_a, blob_size=5000)  # over the limit: the bucket
    add_run(vault_a, blob_size=100)  # under it: the git ref
    store = BlobStore(vault_a.paths.objects_dir)
    large = [s for s in store if store.path(s).stat().st_size > 2048]
    assert len(large) == 1
    proc = vault_cmd(a, "push", check=True)
    assert f"sending large blobs to {bucket.url}" in proc.stderr
    assert bucket.keys() == [f"{PREFIX}/{large[0][:2]}/{large[0][2:]}"]
    assert sorted(remote_blobs(cluster["remote"])) == sorted(s for s in store if s not in large)
    counts = json.loads(vault_cmd(b, "pull", "--json", check=True).stdout)
    assert counts["runs"] == 2 and counts["blobs"] == 2
    assert_whole(a, b)  # same tree, missing_blobs == [], fsck ok
    etag = bucket.client.head_object(Bucket=bucket.name, Key=bucket.keys()[0])["ETag"]
    again = vault_cmd(a, "push", check=True)
    assert "nothing new" in again.stdout and "of blobs" not in again.stdout and "large blobs" not in again.stderr
    assert S3Blobs(bucket.url).put(store, large) == 0  # the transport itself skips what the bucket has
    assert bucket.client.head_object(Bucket=bucket.name, Key=bucket.keys()[0])["ETag"] == etag


def test_transport_streams_a_multipart_blob(bucket: Bucket, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "objects")
    data = bytes(range(256)) * (11 * 4096)  # 11 MiB: past the 8 MiB chunk, so a multipart upload
    sha = store.put_bytes(data)
    absent = "0" * 64
    blobs = open_destination(bucket.url, tmp_path)
    assert isinstance(blobs, S3Blobs) and blobs.where == bucket.url
    assert blobs.listing() == set() and not blobs.has(sha)
    ticks: list[int] = []
    assert blobs.put(store, [sha], ticks.append) == len(data) and ticks == [1]
    assert blobs.listing() == {sha} and blobs.has(sha) and not blobs.has(absent)
    staging = tmp_path / "staging"
    blobs.get([sha, absent], staging, ticks.append)
    assert (staging / sha[:2] / sha[2:]).read_bytes() == data
    assert sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*")) == [
        sha[:2], f"{sha[:2]}/{sha[2:]}"]  # nothing for the absent blob, and no temp file left
    bucket.client.put_object(Bucket=bucket.name, Key=f"{PREFIX}/notes.txt", Body=b"x")  # not a blob: ignored
    assert blobs.listing() == {sha}


def test_bad_endpoint_is_a_one_line_error(vault_repo: Path, tmp_path: Path, bucket: Bucket,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(vault_repo, "remote", "add", "origin", str(remote))
    _use_s3(bucket.url, vault_repo)
    add_run(Vault.open(vault_repo), blob_size=5000)
    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    proc = vault_cmd(vault_repo, "push")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("git vault: error: "), proc.stderr
    assert bucket.url in lines[0] and f"AWS_ENDPOINT_URL (now {dead})" in lines[0]
    assert git(remote, "for-each-ref").stdout == ""  # nothing moved
    with pytest.raises(SyncError, match="cannot connect") as info:
        S3Blobs(bucket.url).listing()
    assert "\n" not in str(info.value)


def test_missing_bucket_names_the_fix(bucket: Bucket, tmp_path: Path) -> None:
    blobs = S3Blobs(f"s3://{bucket.name}-gone/x")
    with pytest.raises(SyncError, match=r"NoSuchBucket.*create the bucket") as info:
        blobs.listing()
    assert "\n" not in str(info.value)
    store = BlobStore(tmp_path / "objects")
    with pytest.raises(SyncError, match="NoSuchBucket"):
        blobs.put(store, [store.put_bytes(b"payload")])
    with pytest.raises(SyncError, match="NoSuchBucket"):
        blobs.get(["1" * 64], tmp_path / "staging")


def test_without_the_client_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "obstore", None)  # `import obstore` now raises ImportError
    blobs = open_destination("s3://bucket/prefix", tmp_path)  # configuring needs no client
    with pytest.raises(MissingExtraError, match=r'needs the s3 extra: pip install "git-vault\[s3\]"'):
        blobs.listing()
    with pytest.raises(SyncError, match="names no S3 bucket"):
        S3Blobs("s3:///prefix")
