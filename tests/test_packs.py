"""Vault commits are written as small packfiles, merged in tiers: ids must equal libgit2's, the
pack count must stay small, and git itself (fsck, gc, readers in other processes) must agree."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest

from gitvault import Transaction, Vault, packs, trees
from tests.conftest import git

FileMode = pygit2.enums.FileMode


def _commit_runs(vault: Vault, start: int, count: int) -> list[str]:
    ids = []
    for i in range(start, start + count):
        rid = f"run{i:05d}"
        tx = Transaction(message=f"seal run {rid} completed")
        tx.put("run", rid, {"status": "completed", "i": i})
        vault.commit(tx)
        ids.append(rid)
    return ids


def _pack_names(repo: Path) -> set[str]:
    return {p.stem for p in (repo / ".git" / "objects" / "pack").glob("pack-*.idx")}


def _registered(repo: Path) -> set[str]:
    lines = (repo / ".git" / packs.REGISTRY).read_text().splitlines()
    return {line.split()[0] for line in lines if line.startswith("pack-")}


def test_trees_and_commits_are_byte_for_byte_what_libgit2_writes(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"))
    blob, other = repo.create_blob(b"record"), repo.create_blob(b"x")
    sub = repo.TreeBuilder()
    sub.insert("record.msgpack", blob, FileMode.BLOB)
    folder = sub.write()
    builder = repo.TreeBuilder()
    # a folder sorts as if its name ended with "/": "events-x" < "events.txt" < "events/"
    for name, oid, mode in [("events", folder, FileMode.TREE), ("events.txt", other, FileMode.BLOB),
                            ("events-x", blob, FileMode.BLOB), ("vault.toml", other, FileMode.BLOB),
                            ("Zé ünïcode", blob, FileMode.BLOB)]:
        builder.insert(name, oid, mode)
    tree = builder.write()
    assert packs.object_id(packs.TREE, trees.serialize((e.name, e.filemode, e.id.raw) for e in repo[tree])) == tree
    for offset in (0, 60, -330, 345):
        sig = pygit2.Signature("Ann Ö", "ann@example.invalid", 1795450759, offset)
        first = repo.create_commit(None, sig, sig, "seal run X completed: a/b", tree, [])
        second = repo.create_commit(None, sig, sig, "two\nlines\n", tree, [first])
        assert packs.object_id(packs.COMMIT, packs.commit_body(tree, [], sig, sig, "seal run X completed: a/b")) == first
        assert packs.object_id(packs.COMMIT, packs.commit_body(tree, [first], sig, sig, "two\nlines\n")) == second


def test_many_commits_keep_few_packs_and_git_agrees(vault_repo: Path) -> None:
    loose_before = int(dict(line.split(": ") for line in git(vault_repo, "count-objects", "-v").stdout.splitlines())["count"])
    vault = Vault.open(vault_repo)
    ids = _commit_runs(vault, 0, 300)
    time.sleep(packs.RETIRE_AFTER_S)
    _commit_runs(vault, 300, 1)  # deletes every merged-away pack
    ids.append("run00300")
    names = _pack_names(vault_repo)
    assert len(names) <= (packs.TIER_FANOUT - 1) * 4 + 1, names
    assert _registered(vault_repo) == names  # every pack is registered, and exists
    stats = dict(line.split(": ") for line in git(vault_repo, "count-objects", "-v").stdout.splitlines())
    assert int(stats["count"]) == loose_before  # no loose object was written
    assert git(vault_repo, "fsck", "--full", "--strict", "--no-dangling").returncode == 0
    listed = git(vault_repo, "ls-tree", "-r", "--name-only", "refs/vault/main").stdout
    assert all(rid in listed for rid in ids)
    reader = Vault.open(vault_repo).snapshot()
    assert sorted(reader.ids("run")) == ids
    assert reader.get("run", ids[0])["i"] == 0 and reader.get("run", ids[-1])["i"] == 300


READER = """
import sys, time
from pathlib import Path
from gitvault import Vault
vault = Vault.open(sys.argv[1])   # one long-lived repository handle, as the MCP server keeps
stop = Path(sys.argv[2])
rounds = 0
while not stop.exists():
    snap = vault.snapshot()
    for rid in snap.ids("run"):
        assert snap.get("run", rid)["status"] == "completed", rid
    rounds += 1
print(rounds)
"""


def _commit_beside(reader_script: str, vault_repo: Path, tmp_path: Path, commits: int) -> str:
    """Commit ``commits`` runs while ``reader_script`` reads the vault in another process until
    told to stop; returns what it printed (it must exit cleanly)."""
    vault = Vault.open(vault_repo)
    _commit_runs(vault, 0, 10)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", reader_script, str(vault_repo), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        _commit_runs(vault, 10, commits)
        time.sleep(0.5)  # a last round of reads after the last merge
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    return out


def test_a_reader_in_another_process_never_misses_an_object_while_packs_merge(vault_repo: Path, tmp_path: Path) -> None:
    out = _commit_beside(READER, vault_repo, tmp_path, 250)  # several merges of every tier below 512 objects
    assert int(out) > 0


def test_git_gc_repacking_our_packs_is_harmless(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    ids = _commit_runs(vault, 0, 30)
    assert git(vault_repo, "gc", "--quiet", "--prune=now").returncode == 0
    ids += _commit_runs(vault, 30, 60)  # the registry still names packs git gc removed
    assert sorted(Vault.open(vault_repo).snapshot().ids("run")) == ids
    assert git(vault_repo, "fsck", "--full", "--no-dangling").returncode == 0
    assert _registered(vault_repo) <= _pack_names(vault_repo)  # the packs git gc removed are forgotten


@pytest.mark.parametrize("count", [1, 8, 64, 100])
def test_merged_packs_hold_every_object_once(tmp_path: Path, count: int) -> None:
    repo_dir = tmp_path / "r"
    pygit2.init_repository(str(repo_dir), bare=True)
    expected = set()
    for i in range(count):
        buffer = packs.PackBuffer()
        expected.add(buffer.add(packs.BLOB, f"blob {i}".encode()))
        expected.add(buffer.add(packs.BLOB, b"shared by every pack"))
        packs.write(repo_dir, buffer)
    time.sleep(packs.RETIRE_AFTER_S)
    packs.write(repo_dir, packs.PackBuffer())  # an empty buffer writes nothing
    buffer = packs.PackBuffer()
    expected.add(buffer.add(packs.BLOB, b"the last one"))
    packs.write(repo_dir, buffer)  # deletes the merged-away packs
    repo = pygit2.Repository(str(repo_dir))
    assert {repo[oid].read_raw() for oid in expected} == (
        {f"blob {i}".encode() for i in range(count)} | {b"shared by every pack", b"the last one"})
    pack_count = len(list((repo_dir / "objects" / "pack").glob("*.idx")))
    assert pack_count <= (packs.TIER_FANOUT - 1) * 4 + 1
    verify = subprocess.run(["git", "-C", str(repo_dir), "count-objects", "-v"], capture_output=True, text=True, check=True)
    in_pack = int(dict(line.split(": ") for line in verify.stdout.splitlines())["in-pack"])
    assert in_pack <= len(expected) + pack_count  # a merged pack holds the shared blob once


HOLDER = """
import os, sys
from pathlib import Path
from gitvault import Vault
vault = Vault.open(sys.argv[1])
stop = Path(sys.argv[2])
worst = 0
while not stop.exists():
    snap = vault.snapshot()
    for rid in sorted(snap.ids("run"))[-20:]:  # the newest records: objects in the newest packs
        snap.get("run", rid)
    deleted = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            deleted += "(deleted)" in os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the descriptor listdir itself used
            pass
    worst = max(worst, deleted)
print(worst)
"""


def test_a_long_lived_reader_does_not_keep_merged_away_packs_open(vault_repo: Path, tmp_path: Path) -> None:
    out = _commit_beside(HOLDER, vault_repo, tmp_path, 500)  # ~60 merges, each deleting up to 8 packs
    assert int(out) < 150, out  # 20-80 here; without freeing its handle it held 250-400
