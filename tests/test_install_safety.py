"""Issue 14, items 4 and 7: blobs are installed as regular files of bounded size only (archives,
pulls, merges), and what killed imports and ref updates leave behind is swept by the next command."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from gitvault import BlobError, BlobStore, Vault, VaultError
from gitvault.sync.archive import import_report
from gitvault.errors import SyncError
from gitvault.sync.exchange import export_archive, import_archive
from gitvault.sync.transport import _HOST, install_verified, staging_dir, sweep_interrupted
from tests.conftest import git, vault_cmd
from tests.git_helpers import make_run
from tests.test_merge import add_run, init_repo

Member = tuple[tarfile.TarInfo, bytes | None]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """An archive exported from a vault with one run and its 3 KB curves blob."""
    source = init_repo(tmp_path / "source")
    add_run(Vault.open(source), blob_size=3000)
    archive = tmp_path / "good.tar.gz"
    export_archive(source, archive)
    return archive


def members(archive: Path) -> list[Member]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]  # type: ignore[union-attr]


def write_archive(path: Path, content: list[Member]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in content:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    if data is not None:
        info.size = len(data)
    return info, data


def blob_member(archive: Path) -> Member:
    return next((m, d) for m, d in members(archive) if m.name.startswith("blobs/"))


def without_blobs(archive: Path) -> list[Member]:
    return [(m, d) for m, d in members(archive) if not m.name.startswith("blobs/")]


def assert_nothing_imported(target: Path, before: str) -> None:
    """The vault, its blob store, its staging area and its refs are as they were."""
    assert git(target, "rev-parse", "refs/vault/main").stdout == before
    vault = Vault.open(target)
    assert list(BlobStore(vault.paths.objects_dir)) == []
    incoming = vault.paths.data_dir / "incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    assert git(target, "for-each-ref", "refs/vault-import", "refs/vault-export").stdout == ""


def refused(archive: Path, target: Path, match: str, max_blob: int | None = None) -> None:
    before = git(target, "rev-parse", "refs/vault/main").stdout
    with pytest.raises(SyncError, match=match) as info:
        import_report(archive, target, max_blob=max_blob)
    assert "nothing was imported" in str(info.value) and "\n" not in str(info.value)
    assert_nothing_imported(target, before)


# -- archives: regular files only ------------------------------------------------------------------

def test_a_symlinked_blob_member_is_refused(good: Path, tmp_path: Path) -> None:
    """The reproduction: blobs/xx/<sha> a relative link to another member with the right content
    passed the hash check and landed in the store as a link."""
    blob, data = blob_member(good)
    crafted = without_blobs(good) + [entry("stash/real", data=data),
                                     entry(blob.name, tarfile.SYMTYPE, linkname="../../stash/real")]
    archive = write_archive(tmp_path / "symlink.tar.gz", crafted)
    target = init_repo(tmp_path / "target")
    refused(archive, target, "is a symbolic link")
    proc = vault_cmd(target, "import", str(archive))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "regular files only" in proc.stderr


def test_a_hard_linked_blob_member_is_refused(good: Path, tmp_path: Path) -> None:
    blob, data = blob_member(good)
    crafted = without_blobs(good) + [entry("stash/real", data=data),
                                     entry(blob.name, tarfile.LNKTYPE, linkname="stash/real")]
    refused(write_archive(tmp_path / "hardlink.tar.gz", crafted), init_repo(tmp_path / "target"), "is a hard link")


@pytest.mark.parametrize("kind, words", [(tarfile.CHRTYPE, "a device"), (tarfile.BLKTYPE, "a device"),
                                         (tarfile.FIFOTYPE, "a fifo")])
def test_device_and_fifo_members_are_refused(good: Path, tmp_path: Path, kind: bytes, words: str) -> None:
    blob, _ = blob_member(good)
    crafted = without_blobs(good) + [entry(blob.name, kind)]
    refused(write_archive(tmp_path / "special.tar.gz", crafted), init_repo(tmp_path / "target"), words)


def test_a_link_anywhere_in_the_archive_is_refused(good: Path, tmp_path: Path) -> None:
    crafted = members(good) + [entry("notes", tarfile.SYMTYPE, linkname="/etc/passwd")]
    refused(write_archive(tmp_path / "extra-link.tar.gz", crafted), init_repo(tmp_path / "target"),
            "is a symbolic link")


@pytest.mark.parametrize("name", ["../escaped", "blobs/../../escaped", "ABSOLUTE"])
def test_a_member_outside_the_archive_is_refused_and_never_written(good: Path, tmp_path: Path, name: str) -> None:
    if name == "ABSOLUTE":
        name = str(tmp_path / "escaped")
    crafted = [entry(name, data=b"out of bounds")] + members(good)
    target = init_repo(tmp_path / "target")
    refused(write_archive(tmp_path / "escape.tar.gz", crafted), target, "points outside the archive")
    assert [p for p in tmp_path.rglob("escaped")] == []


def test_an_unexpected_name_under_blobs_and_a_member_given_twice_are_refused(good: Path, tmp_path: Path) -> None:
    target = init_repo(tmp_path / "target")
    crafted = members(good) + [entry("blobs/zz/not-a-sha", data=b"x")]
    refused(write_archive(tmp_path / "odd.tar.gz", crafted), target, "unexpected file 'blobs/zz/not-a-sha'")
    twice = members(good) + [blob_member(good)]
    refused(write_archive(tmp_path / "twice.tar.gz", twice), target, "appears twice")


def test_folders_and_dot_slash_names_still_import(good: Path, tmp_path: Path) -> None:
    """An archive repacked by tar (``./`` names, folder entries) is still a good archive."""
    folder = tarfile.TarInfo("./blobs")
    folder.type, folder.mode = tarfile.DIRTYPE, 0o755
    repacked: list[Member] = [(folder, None)]
    for info, data in members(good):
        info.name = "./" + info.name
        repacked.append((info, data))
    target = init_repo(tmp_path / "target")
    counts = import_archive(write_archive(tmp_path / "repacked.tar.gz", repacked), target)
    assert counts["runs"] == 1 and counts["blobs"] == 1
    store = BlobStore(Vault.open(target).paths.objects_dir)
    assert all(stat.S_ISREG(os.lstat(store.path(sha)).st_mode) for sha in store)


# -- archives: bounded sizes -----------------------------------------------------------------------

def test_a_member_over_the_configured_cap_is_refused_in_one_line(good: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = init_repo(tmp_path / "target")
    monkeypatch.setenv("GITVAULT_MAX_BLOB", "1k")
    refused(good, target, r"is [\d.]+ KB, over the 1\.0 KB limit")
    proc = vault_cmd(target, "import", str(good))
    assert proc.returncode == 1 and proc.stderr.startswith("git vault: error: ") and proc.stderr.count("\n") == 1
    assert "GITVAULT_MAX_BLOB" in proc.stderr
    git(target, "config", "vault.maxBlob", "2k")
    monkeypatch.delenv("GITVAULT_MAX_BLOB")
    refused(good, target, r"over the 2\.0 KB limit")
    git(target, "config", "vault.maxBlob", "1m")
    assert import_archive(good, target)["blobs"] == 1


def test_an_all_zero_member_over_the_cap_is_refused(good: Path, tmp_path: Path) -> None:
    zeros = bytes(2 << 20)
    sha = hashlib.sha256(zeros).hexdigest()
    crafted = members(good) + [entry(f"blobs/{sha[:2]}/{sha[2:]}", data=zeros)]
    archive = write_archive(tmp_path / "zeros.tar.gz", crafted)
    assert archive.stat().st_size < 64 << 10  # a bomb: 2 MiB of zeros packs into a few KB
    refused(archive, init_repo(tmp_path / "target"), r"is 2\.1 MB, over the 64\.0 KB limit", max_blob=64_000)


def test_an_oversized_member_is_refused_from_its_header_before_anything_is_written(tmp_path: Path) -> None:
    """A 1 GiB all-zero member whose data is not even in the archive: were it written out, the
    archive would be found truncated; it is refused on its declared size alone."""
    sha = "ab" * 32  # its name does not matter: it is refused before it is read
    info = tarfile.TarInfo(f"blobs/{sha[:2]}/{sha[2:]}")
    info.size = 1 << 30
    archive = tmp_path / "gigabyte.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096)))
    refused(archive, init_repo(tmp_path / "target"), r"is 1\.1 GB, over the 1\.0 MB limit", max_blob=1 << 20)


# -- pulls and merges: what a transport staged ---------------------------------------------------

def stage(staging: Path, data: bytes) -> tuple[str, Path]:
    sha = hashlib.sha256(data).hexdigest()
    path = staging / sha[:2] / sha[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    return sha, path


def test_a_staged_symlink_is_never_installed_nor_chmod_through(vault_repo: Path, tmp_path: Path) -> None:
    vault = Vault.open(vault_repo)
    store = BlobStore(vault.paths.objects_dir)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"content that hashes right")
    outside.chmod(0o644)
    staging = staging_dir(vault)
    sha, staged = stage(staging, outside.read_bytes())
    staged.symlink_to(outside)
    received = install_verified(vault, staging, [sha])
    assert received.installed == [] and received.bad == [sha]
    assert not os.path.lexists(store.path(sha))
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # adopt never made the target read-only
    with pytest.raises(BlobError, match="not a regular file"):
        store.adopt(staged, sha)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


def test_a_staged_bucket_that_is_a_link_is_never_followed(vault_repo: Path, tmp_path: Path) -> None:
    vault = Vault.open(vault_repo)
    data = b"blob behind a linked bucket"
    sha = hashlib.sha256(data).hexdigest()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / sha[2:]).write_bytes(data)
    staging = staging_dir(vault)
    (staging / sha[:2]).symlink_to(elsewhere, target_is_directory=True)
    received = install_verified(vault, staging, [sha])
    assert received.bad == [sha] and not BlobStore(vault.paths.objects_dir).has(sha)
    assert (elsewhere / sha[2:]).read_bytes() == data


def test_a_staged_fifo_is_refused_without_blocking(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    staging = staging_dir(vault)
    sha, staged = stage(staging, b"never written")
    os.mkfifo(staged)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(install_verified(vault, staging, [sha])), daemon=True)
    worker.start()
    worker.join(10)
    assert done and done[0].bad == [sha]  # type: ignore[attr-defined]


def test_a_staged_file_over_the_cap_is_refused_and_a_good_one_installed(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    store = BlobStore(vault.paths.objects_dir)
    staging = staging_dir(vault)
    big, big_path = stage(staging, bytes(5000))
    big_path.write_bytes(bytes(5000))
    small, small_path = stage(staging, b"small and sound")
    small_path.write_bytes(b"small and sound")
    received = install_verified(vault, staging, [big, small], max_size=4096)
    assert received.bad == [big] and received.installed == [small] and received.bytes == 15
    placed = os.lstat(store.path(small))
    assert stat.S_ISREG(placed.st_mode) and stat.S_IMODE(placed.st_mode) == 0o444
    assert not store.has(big)


def test_delete_removes_a_link_in_the_store_not_its_target(vault_repo: Path, tmp_path: Path) -> None:
    store = BlobStore(Vault.open(vault_repo).paths.objects_dir)
    target = tmp_path / "target.bin"
    target.write_bytes(b"x")
    target.chmod(0o444)
    sha = "cd" * 32
    store.path(sha).parent.mkdir(parents=True, exist_ok=True)
    store.path(sha).symlink_to(target)
    store.delete(sha)
    assert not os.path.lexists(store.path(sha))
    assert target.read_bytes() == b"x" and stat.S_IMODE(target.stat().st_mode) == 0o444


# -- sweeping what killed imports left -------------------------------------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_killed_import_is_swept_by_the_next_command(vault_repo: Path, good: Path) -> None:
    vault = Vault.open(vault_repo)
    incoming = vault.paths.data_dir / "incoming"
    tip = str(vault.tip())
    old = time.time() - 3 * 24 * 3600

    def leftover(token: str, *, ref: bool = True, mtime: float | None = None) -> Path:
        folder = incoming / token
        (folder / "blobs" / "ab").mkdir(parents=True)
        (folder / "blobs" / "ab" / ("c" * 62)).write_bytes(b"a copy of the archive's blob")
        if ref:
            git(vault_repo, "update-ref", f"refs/vault-import/{token}/main", tip)
        if mtime is not None:
            os.utime(folder, (mtime, mtime))
        return folder

    killed = leftover(f"{dead_pid()}-deadbeef-{_HOST}")  # this host, its pid gone
    live = leftover(f"{os.getpid()}-0000cafe-{_HOST}")  # this host, its pid alive
    elsewhere = leftover(f"{dead_pid()}-0000f00d-otherhost")  # another host, young: may be running
    stale_elsewhere = leftover(f"{dead_pid()}-00000bad-otherhost", mtime=old)
    legacy = leftover("4242-aaaaaaaa", ref=False, mtime=old)  # the older naming, days old
    git(vault_repo, "update-ref", f"refs/vault-import/{int(old * 1e9)}/main", tip)  # merge_report's naming
    git(vault_repo, "update-ref", f"refs/vault-import/{time.time_ns()}/main", tip)
    assert len(git(vault_repo, "for-each-ref", "refs/vault-import").stdout.splitlines()) == 6

    vault_cmd(vault_repo, "import", str(good), check=True)  # the next command that stages blobs

    assert not killed.exists() and not stale_elsewhere.exists() and not legacy.exists()
    assert live.exists() and elsewhere.exists()
    refs = sorted(git(vault_repo, "for-each-ref", "--format=%(refname)", "refs/vault-import").stdout.split())
    assert refs == sorted([f"refs/vault-import/{live.name}/main", f"refs/vault-import/{elsewhere.name}/main",
                           *[r for r in refs if r.split("/")[2].isdigit()]])
    assert len([r for r in refs if r.split("/")[2].isdigit()]) == 1  # the young one stays
    assert "swept what interrupted imports or pulls left" in (vault_repo / ".extract" / "hooks.log").read_text()
    assert sweep_interrupted(Vault.open(vault_repo)) == []  # nothing more to sweep


def test_a_ref_whose_staging_folder_is_gone_is_swept(vault_repo: Path) -> None:
    """An import deletes its ref before its folder: killed in between, the ref is all that is left."""
    vault = Vault.open(vault_repo)
    git(vault_repo, "update-ref", f"refs/vault-import/{os.getpid()}-12345678-otherhost/main", str(vault.tip()))
    assert sweep_interrupted(vault) == [f"refs/vault-import/{os.getpid()}-12345678-otherhost/main"]


# -- a stale refs/vault/main.lock ------------------------------------------------------------------

def ref_lock(repo: Path) -> Path:
    return repo / ".git" / "refs" / "vault" / "main.lock"


def test_a_stale_ref_lock_is_cleared_by_the_next_seal(vault_repo: Path) -> None:
    lock = ref_lock(vault_repo)
    lock.write_text("0" * 40 + "\n")  # what a git killed inside its ref update leaves
    old = time.time() - 3600
    os.utime(lock, (old, old))
    run_id = make_run(vault_repo, "after-a-kill", loss=0.5)
    assert not lock.exists()
    assert Vault.open(vault_repo).snapshot().get("run", run_id)["status"] == "completed"
    log = (vault_repo / ".extract" / "hooks.log").read_text()
    assert "removed a stale" in log and "main.lock" in log


def test_a_live_holders_fresh_ref_lock_is_waited_for_not_removed(vault_repo: Path) -> None:
    lock = ref_lock(vault_repo)
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # like `git update-ref` taking it
    os.close(fd)
    held = os.lstat(lock).st_ino
    still_mine: list[bool] = []

    def release() -> None:  # a live holder that finishes its update a moment later
        time.sleep(1.0)
        still_mine.append(os.lstat(lock).st_ino == held)
        lock.unlink()

    holder = threading.Thread(target=release)
    holder.start()
    add_run(Vault.open(vault_repo))  # waits for the holder, then commits
    holder.join()
    assert still_mine == [True]
    log = vault_repo / ".extract" / "hooks.log"
    assert not log.exists() or "removed a stale" not in log.read_text()


def test_a_ref_lock_newer_than_the_writers_hold_is_left_with_a_clear_error(vault_repo: Path) -> None:
    """A lock stamped after the writer took the vault lock is someone else's live update: never
    removed, however the retries end."""
    lock = ref_lock(vault_repo)
    lock.write_text("")
    future = time.time() + 600
    os.utime(lock, (future, future))
    before = git(vault_repo, "rev-parse", "refs/vault/main").stdout
    with pytest.raises(VaultError, match="main.lock has been held") as info:
        add_run(Vault.open(vault_repo))
    assert "can be deleted" in str(info.value)
    assert lock.exists() and git(vault_repo, "rev-parse", "refs/vault/main").stdout == before
