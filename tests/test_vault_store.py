"""The record store on refs/vault/main: put/get/list, the codec, commits, fan-out, events, CAS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pygit2
import pytest

from gitvault import RecordExistsError, RecordNotFoundError, Transaction, Vault

from gitvault.storage import codec, layout, records
from gitvault.storage.vault import new_id
from tests.conftest import git

RUN_ID = "01JABCDEFGHJKMNPQRSTVWXYZ0"


def sample_records() -> dict[str, tuple[str, dict[str, Any]]]:
    """One realistic record of every kind, keyed by kind: (id, record)."""
    exp_path = "imagenet/resnet50/v1"
    model_id = records.model_id("resnet", "1.0")
    lineage_id = records.lineage_id("run", RUN_ID, "model", model_id, "derived_from")
    link_id = records.link_id(RUN_ID, "a" * 40)
    return {
        "experiment": (records.experiment_id(exp_path), {
            "path": exp_path, "name": "v1", "parent_id": None, "node_type": "variant",
            "created_at": "2024-12-19T10:00:00.000000Z", "metadata": {"lr": 0.1},
            "status": "active", "specimen_id": "2024_12_19_resnet", "domain": "training",
            "method": "fine_tuning", "model": "resnet50", "tags": ["baseline"]}),
        "run": (RUN_ID, {
            "experiment_id": records.experiment_id(exp_path), "experiment_path": exp_path,
            "name": "seed-0", "config": {"lr": 0.1, "layers": [64, 128]}, "status": "completed",
            "started_at": "2024-12-19T10:00:00.000000Z", "ended_at": "2024-12-19T11:00:00.000000Z",
            "hostname": "gpu-1", "git": {"sha": "a" * 40, "branch": "main", "dirty": False},
            "metrics": {"loss": {"value": 0.25, "wall_time": 3600.0}}, "params": {"opt": "adam"},
            "total_steps": 1000, "tags": [], "notes": []}),
        "model": (model_id, {"name": "resnet", "version": "1.0", "run_id": RUN_ID,
                             "framework": "torch", "metadata": {}, "created_at": "2024-12-19T11:00:00.000000Z"}),
        "lineage": (lineage_id, {"parent_type": "run", "parent_id": RUN_ID, "child_type": "model",
                                 "child_id": model_id, "relation": "derived_from", "metadata": {},
                                 "created_at": "2024-12-19T11:00:00.000000Z"}),
        "todo": (new_id(), {"scope_type": "run", "scope_id": RUN_ID, "content": "rerun with seed 1",
                            "priority": 2, "created_at": "2024-12-19T11:00:00.000000Z", "done": False,
                            "completed_at": None}),
        "link": (link_id, {"run_id": RUN_ID, "commit": "a" * 40, "tree": "b" * 40, "via": "post-commit",
                           "created_at": "2024-12-19T11:00:00.000000Z"}),
    }


def tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/vault/main").stdout.strip()


def put_runs(vault: Vault, count: int, message: str = "bulk runs") -> list[str]:
    tx = Transaction(message=message)
    ids = [f"run{i:07d}" for i in range(count)]
    for rid in ids:
        tx.put("run", rid, {"name": rid, "status": "completed"})
    vault.commit(tx)
    return ids


def test_every_kind_puts_gets_and_lists(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    samples = sample_records()
    tx = Transaction(message="add one record of every kind")
    for kind, (rid, rec) in samples.items():
        tx.put(kind, rid, rec)
    vault.commit(tx)

    fresh = Vault.open(vault_repo / "nested" / "dir")  # discovered from a subfolder that does not exist
    snap = fresh.snapshot()
    assert set(layout.KIND_DIRS) == set(samples)
    for kind, (rid, rec) in samples.items():
        stored = snap.get(kind, rid)
        assert stored == {**rec, "kind": kind, "id": rid, "schema": codec.SCHEMA_VERSION}
        assert list(snap.ids(kind)) == [rid]
        assert snap.has(kind, rid)
        path = "/".join(layout.record_path(kind, rid))
        assert git(vault_repo, "cat-file", "-e", f"refs/vault/main:{path}").returncode == 0
    with pytest.raises(RecordNotFoundError, match="run not found"):
        snap.get("run", "nope")
    assert git(vault_repo, "status", "--porcelain").stdout == ""  # the work tree is untouched


def test_commits_carry_identity_and_a_readable_message(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    tx = Transaction(message="seal run 01J completed: imagenet/resnet50/v1")
    tx.put("run", RUN_ID, {"status": "completed"})
    vault.commit(tx)
    log = git(vault_repo, "log", "-1", "--format=%an <%ae>|%cn|%s", "refs/vault/main").stdout.strip()
    assert log == "Test Researcher <researcher@example.invalid>|Test Researcher|seal run 01J completed: imagenet/resnet50/v1"
    assert git(vault_repo, "log", "--oneline", "main").stdout.count("\n") == 1  # branches untouched
    reflog = git(vault_repo, "reflog", "show", "--format=%gs", "refs/vault/main").stdout
    assert "seal run 01J completed" in reflog


def test_codec_is_deterministic_sorted_and_versioned() -> None:
    a = {"z": 1, "a": {"y": [1, 2, {"k": 1, "b": 2}], "b": None}, "m": "é"}
    b = {"m": "é", "a": {"b": None, "y": [1, 2, {"b": 2, "k": 1}]}, "z": 1}
    assert codec.encode(a) == codec.encode(b)
    assert pygit2.hash(codec.encode(a)) == pygit2.hash(codec.encode(b))

    def keys_sorted(value: Any) -> bool:
        if isinstance(value, list) and value and isinstance(value[0], tuple):  # a map as pairs
            names = [k for k, _ in value]
            return names == sorted(names) and all(keys_sorted(v) for _, v in value)
        if isinstance(value, list):
            return all(keys_sorted(v) for v in value)
        return True

    raw = msgpack.unpackb(codec.encode(a), object_pairs_hook=list)
    assert keys_sorted(raw)
    assert codec.decode(codec.encode(a))["schema"] == codec.SCHEMA_VERSION
    assert codec.decode(codec.encode({"schema": 7}))["schema"] == 7  # an explicit version is kept


def test_same_content_same_blob_and_no_empty_commit(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    rec = {"status": "completed", "metrics": {"acc": 0.9}}
    tx = Transaction(message="first")
    tx.put("run", RUN_ID, rec)
    first = vault.commit(tx)
    blob = git(vault_repo, "rev-parse", f"refs/vault/main:{'/'.join(layout.record_path('run', RUN_ID))}").stdout
    again = Transaction(message="same again")
    again.put("run", RUN_ID, dict(reversed(list(rec.items()))))
    assert vault.commit(again) == first
    assert tip(vault_repo) == str(first)
    assert git(vault_repo, "rev-parse", f"refs/vault/main:{'/'.join(layout.record_path('run', RUN_ID))}").stdout == blob


def test_unknown_fields_survive_decode_modify_reencode(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    future = {"kind": "run", "id": RUN_ID, "schema": 3, "status": "completed",
              "written_by_a_newer_version": {"nested": [1, "two", None], "blob": b"\x00\x01"}}
    tx = Transaction(message="a record from the future")
    tx.put("run", RUN_ID, future)
    vault.commit(tx)
    loaded = vault.snapshot().get("run", RUN_ID)
    loaded["status"] = "failed"
    tx = Transaction(message="rewrite")
    tx.put("run", RUN_ID, loaded, replace=True)
    vault.commit(tx)
    assert vault.snapshot().get("run", RUN_ID) == {**future, "status": "failed"}


def test_listing_by_kind_reads_no_record_blob(vault_repo: Path, tmp_path: Path) -> None:
    """A copy of the vault without any record blob: ids() still lists them, get() cannot."""
    vault = Vault.open(vault_repo)
    ids = put_runs(vault, 20)
    snap = vault.snapshot()
    record_blobs = {snap.tree["/".join(layout.record_path("run", rid))].id for rid in ids}
    source = pygit2.Repository(str(vault_repo))
    copy = pygit2.init_repository(str(tmp_path / "copy"))
    tip = source.lookup_reference("refs/vault/main").target
    for commit in source.walk(tip):
        stack: list[pygit2.Object] = [commit, commit.tree]
        while stack:
            obj = stack.pop()
            if obj.id in record_blobs:
                continue
            copy.odb.write(obj.type, obj.read_raw())
            if obj.type == pygit2.enums.ObjectType.TREE:
                stack.extend(source[e.id] for e in obj)
    copy.create_reference("refs/vault/main", tip)
    reader = Vault.open(tmp_path / "copy").snapshot()
    assert sorted(reader.ids("run")) == ids
    assert list(reader.ids("model")) == []
    with pytest.raises(KeyError):
        reader.get("run", ids[0])


def objects_added(repo: pygit2.Repository, commit_id: pygit2.Oid) -> list[pygit2.Object]:
    """Objects reachable from a commit's tree that its parent's tree does not hold, plus the commit."""
    commit = repo[commit_id]

    def reachable(tree: pygit2.Tree) -> set[pygit2.Oid]:
        seen: set[pygit2.Oid] = set()
        stack = [tree]
        while stack:
            t = stack.pop()
            seen.add(t.id)
            for e in t:
                if e.id in seen:
                    continue
                if e.type_str == "tree":
                    stack.append(repo[e.id])
                else:
                    seen.add(e.id)
        return seen

    new = reachable(commit.tree) - reachable(commit.parents[0].tree)
    return [commit] + [repo[o] for o in new]


def test_one_commit_writes_a_constant_number_of_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = {}
    for size in (100, 5000):
        root = tmp_path / f"r{size}"
        root.mkdir()
        git(root, "init", "-q")
        vault = Vault.open(root)
        from gitvault.settings import VaultConfig

        vault.init(VaultConfig.default())
        put_runs(vault, size)
        tx = Transaction(message="seal one more run")
        tx.put("run", new_id(), {"name": "the new one", "status": "completed"})
        new_tip = vault.commit(tx)
        added = objects_added(vault.repo, new_tip)
        kinds = sorted(o.type_str for o in added)
        largest_tree = max(len(o) for o in added if o.type_str == "tree" and o.id != vault.repo[new_tip].tree_id)
        figures[size] = (len(added), kinds, largest_tree)
    with capsys.disabled():
        print(f"\n[fan-out] objects written by one commit: {figures[100][0]} at 100 records, "
              f"{figures[5000][0]} at 5,000 ({figures[5000][1]}); largest rewritten subtree "
              f"{figures[100][2]} vs {figures[5000][2]} entries")
    assert figures[100][:2] == figures[5000][:2]
    assert figures[5000][1] == ["blob", "commit", "tree", "tree", "tree", "tree", "tree"]
    assert figures[5000][2] <= 256  # the widest tree a commit rewrites is one fan level


def test_events_fold_in_a_deterministic_order(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    todo_id = new_id()
    tx = Transaction(message="seal run and add a todo")
    tx.put("run", RUN_ID, {"status": "completed", "tags": ["base"], "notes": []})
    tx.put("todo", todo_id, {"content": "check lr", "done": False, "completed_at": None})
    vault.commit(tx)
    tx = Transaction(message="tag and note")
    tx.add_event("run", RUN_ID, "note", {"content": "second"}, created_at="2025-01-02T00:00:00.000000Z")
    tx.add_event("run", RUN_ID, "tag", {"tags": ["good", "base"]}, created_at="2025-01-01T00:00:00.000000Z")
    vault.commit(tx)
    tx = Transaction(message="note, archive, todo done")
    tx.add_event("run", RUN_ID, "note", {"content": "first"}, created_at="2025-01-01T12:00:00.000000Z")
    tx.add_event("run", RUN_ID, "archive", {})
    tx.add_event("todo", todo_id, "done", {"completed_at": "2025-02-01T00:00:00.000000Z"})
    vault.commit(tx)

    snap = vault.snapshot()
    sealed = snap.get("run", RUN_ID)
    assert sealed["tags"] == ["base"] and sealed["notes"] == []  # the sealed record is untouched
    view = records.fold(sealed, snap.events("run", RUN_ID))
    assert view["tags"] == ["base", "good"]
    assert [n["content"] for n in view["notes"]] == ["first", "second"]
    assert view["archived"] is True
    assert records.notes_text(view) == "first\nsecond"
    todo = records.fold(snap.get("todo", todo_id), snap.events("todo", todo_id))
    assert todo["done"] is True and todo["completed_at"] == "2025-02-01T00:00:00.000000Z"
    assert git(vault_repo, "rev-list", "--count", "refs/vault/main").stdout.strip() == "4"


def test_rewriting_a_sealed_record_is_refused_and_identical_is_a_noop(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    tx = Transaction(message="seal")
    tx.put("run", RUN_ID, {"status": "completed", "metrics": {"acc": 0.9}})
    vault.commit(tx)
    before = tip(vault_repo)
    changed = Transaction(message="rewrite")
    changed.put("run", RUN_ID, {"status": "completed", "metrics": {"acc": 0.95}})
    changed.put("run", "another", {"status": "completed"})
    with pytest.raises(RecordExistsError, match="never rewritten"):
        vault.commit(changed)
    assert tip(vault_repo) == before
    assert not vault.snapshot().has("run", "another")  # the whole transaction was refused
    same = Transaction(message="same")
    same.put("run", RUN_ID, {"metrics": {"acc": 0.9}, "status": "completed"})
    assert str(vault.commit(same)) == before


def plain_git_commit(repo: Path, path: str, data: bytes, message: str = "written by plain git") -> str:
    """Write one file into refs/vault/main with git plumbing only (another tool, no gitvault lock)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "plain-index")}
    old = tip(repo)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data,
                          capture_output=True, check=True).stdout.decode().strip()

    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=env, text=True, capture_output=True, check=True).stdout.strip()

    run("read-tree", old)
    run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    commit = run("commit-tree", run("write-tree"), "-p", old, "-m", message)
    run("update-ref", "-m", message, "refs/vault/main", commit, old)
    return commit


def test_cas_catches_a_ref_moved_by_plain_git_and_keeps_both(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    calls: list[str] = []
    foreign: list[str] = []

    def move_ref_once(snap: Any) -> None:
        calls.append(str(snap.commit_id))
        if not foreign:  # between our snapshot and our compare-and-swap
            record = codec.encode({"kind": "run", "id": "foreign", "status": "completed"})
            foreign.append(plain_git_commit(vault_repo, "/".join(layout.record_path("run", "foreign")), record))

    tx = Transaction(message="ours")
    tx.put("run", "ours", {"status": "completed"})
    tx.require(move_ref_once)
    new_tip = vault.commit(tx)

    assert len(calls) == 2 and calls[1] == foreign[0]  # the retry rebuilt on the moved tip
    assert [str(p) for p in vault.repo[new_tip].parent_ids] == foreign
    assert sorted(vault.snapshot().ids("run")) == ["foreign", "ours"]
    assert git(vault_repo, "rev-list", "--count", "--merges", "refs/vault/main").stdout.strip() == "0"


def test_identity_comes_from_git_config_without_env(vault_repo: Path) -> None:
    git(vault_repo, "config", "user.name", "Config Person")
    git(vault_repo, "config", "user.email", "config@example.invalid")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    script = ("from gitvault import Transaction, Vault\n"
              "tx = Transaction(message='from config identity')\n"
              "tx.put('todo', 'T1', {'content': 'x'})\n"
              "Vault.open('.').commit(tx)\n")
    subprocess.run([sys.executable, "-c", script], cwd=vault_repo, env=env, check=True)
    log = subprocess.run(["git", "log", "-1", "--format=%an <%ae>", "refs/vault/main"], cwd=vault_repo, env=env,
                         text=True, capture_output=True, check=True).stdout.strip()
    assert log == "Config Person <config@example.invalid>"
