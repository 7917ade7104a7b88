"""The bulk path (`Vault.commit_many`, gitvault.storage.bulk): records written many at a time read
back exactly, a concurrent commit is never lost, bad records are refused with one line before
their batch is written, and writing the same records again adds nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any, Iterator

import pygit2
import pytest

from gitvault.errors import RecordExistsError
from gitvault.query import Query
from gitvault.storage import layout
from gitvault.storage.blobs import BlobStore
from gitvault.storage.vault import Transaction, Vault, new_id
from tests.test_cache_fixture import experiment, run

Item = tuple[str, str, dict[str, Any]]


def bulk_items(vault: Vault, n: int, exp: dict[str, Any] | None = None) -> list[Item]:
    exp = exp or experiment("bulk/e1")
    blobs = BlobStore(vault.paths.objects_dir)
    items: list[Item] = [("experiment", exp["id"], exp)]
    for i in range(n):
        rec = run(exp, blobs, steps=20 if i == 0 else 0, seed=i, tags=["bulk", f"t{i % 3}"],
                  metrics={"loss": 1.0 / (i + 1), "acc": i / n}, config={"lr": 0.001 * (i + 1), "opt": {"name": "adam"}})
        items.append(("run", rec["id"], rec))
    return items


def commits(vault: Vault) -> int:
    tip = vault.tip()
    assert tip is not None
    return sum(1 for _ in vault.repo.walk(tip))


def test_records_written_in_bulk_read_back_exactly(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    items = bulk_items(vault, 250)
    before = commits(vault)
    result = vault.commit_many(items, batch=100)
    assert (result.written, result.unchanged, result.commits) == (251, 0, 3)
    assert commits(vault) == before + 3
    snap = vault.snapshot()
    for kind, rid, rec in items:
        assert snap.get(kind, rid) == {**rec, "schema": snap.get(kind, rid)["schema"]}
    runs = {rid: rec for kind, rid, rec in items if kind == "run"}
    with Query(vault_repo) as q:
        assert q.list_runs(limit=1000)["total"] == 250
        assert int(q.sql("SELECT count(*) AS n FROM runs")["n"][0]) == 250
        for rid in list(runs)[:3]:
            detail = q.get_run(rid)
            assert detail["config"] == runs[rid]["config"]
            assert sorted(detail["tags"]) == sorted(runs[rid]["tags"])
            assert detail["metrics_final"]["loss"] == pytest.approx(runs[rid]["metrics"]["loss"]["value"])
    # git itself agrees the objects are whole, and no temporary ref is left behind
    import subprocess
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=vault_repo, check=True, capture_output=True)
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)"], cwd=vault_repo, check=True,
                          capture_output=True, text=True).stdout.split()
    assert not [r for r in refs if r.startswith("refs/vault-bulk/")]


def test_writing_the_same_records_again_adds_nothing(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    items = bulk_items(vault, 40)
    vault.commit_many(items[:25], batch=10)
    tip = vault.tip()
    again = vault.commit_many(items[:25], batch=10)
    assert (again.written, again.unchanged, again.commits) == (0, 25, 0)
    assert vault.tip() == tip
    rest = vault.commit_many(items, batch=10)  # an interrupted import run again: only the rest is new
    assert (rest.written, rest.unchanged) == (16, 25)  # 41 items: the experiment and 40 runs
    assert sum(1 for _ in vault.snapshot().ids("run")) == 40


def test_a_record_with_other_content_under_an_existing_id_is_refused(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    items = bulk_items(vault, 5)
    vault.commit_many(items)
    tip = vault.tip()
    kind, rid, rec = items[2]
    with pytest.raises(RecordExistsError, match="already exists with different content") as info:
        vault.commit_many([bulk_items(vault, 1)[1], (kind, rid, {**rec, "name": "changed"})])
    assert "\n" not in str(info.value)
    assert vault.tip() == tip
    with pytest.raises(RecordExistsError, match="given twice with different content"):
        vault.commit_many([(kind, "R2", {**rec, "id": "R2"}), (kind, "R2", {**rec, "id": "R2", "name": "x"})])
    assert vault.tip() == tip


@pytest.mark.parametrize("bad, message", [
    ({"metrics": "high"}, "record 3 of the import: run .*field 'metrics' is str"),
    ({"curves": {"blob": "not-a-sha"}}, "record 3 of the import: run .*curves.blob"),
    ({"kind": "model"}, "record 3 of the import: record says kind='model'"),
])
def test_bad_records_are_refused_in_one_line_before_their_batch_is_written(vault_repo: Path, bad: dict[str, Any],
                                                                          message: str) -> None:
    vault = Vault.open(vault_repo)
    items = bulk_items(vault, 4)
    kind, rid, rec = items[2]
    items[2] = (kind, rid, {**rec, **bad})
    tip = vault.tip()
    with pytest.raises((ValueError, TypeError), match=message) as info:
        vault.commit_many(items)
    assert "\n" not in str(info.value)
    assert vault.tip() == tip
    # batches before the bad record's stay; its batch and later ones are not written
    with pytest.raises(ValueError):
        vault.commit_many(items, batch=2)
    assert sum(1 for _ in vault.snapshot().ids("run")) == 1  # the first batch: the experiment and one run


def test_an_invalid_id_is_refused(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    with pytest.raises(ValueError, match="record 1 of the import: 'a/b' is not a valid record id"):
        vault.commit_many([("run", "a/b", {"experiment_id": "e", "experiment_path": "e", "status": "completed"})])


def _seal_many(root: str, count: int, queue: Any) -> None:
    vault = Vault.open(root)
    exp = experiment("bulk/concurrent")
    ids = []
    for i in range(count):
        rec = run(exp, BlobStore(vault.paths.objects_dir), steps=0, seed=10_000 + i)
        tx = Transaction(message=f"seal run {rec['id']}")
        tx.put("run", rec["id"], rec)
        vault.commit(tx)
        ids.append(rec["id"])
    queue.put(ids)


def test_a_concurrent_normal_commit_during_a_bulk_write_is_not_lost(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    items = bulk_items(vault, 600, experiment("bulk/concurrent"))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    writer = ctx.Process(target=_seal_many, args=(str(vault_repo), 30, queue))
    writer.start()
    result = vault.commit_many(items, batch=20)
    sealed = queue.get(timeout=120)
    writer.join(timeout=120)
    assert writer.exitcode == 0
    assert result.written == 601
    ids = set(Vault.open(vault_repo).snapshot().ids("run"))
    assert set(sealed) <= ids
    assert {rid for kind, rid, _ in items if kind == "run"} <= ids
    assert len(ids) == 630


def test_a_big_import_keeps_every_tree_small(vault_repo: Path) -> None:
    """5,000 runs in batches of 1,000: 256 folders at the first fan-out level, each leaf small."""
    vault = Vault.open(vault_repo)
    exp = experiment("bulk/many")
    base = run(exp, BlobStore(vault.paths.objects_dir), steps=0)

    def items() -> Iterator[Item]:
        yield ("experiment", exp["id"], exp)
        for i in range(5_000):
            rid = new_id() + f"{i:05d}"
            yield ("run", rid, {**base, "id": rid, "name": f"r{i}"})

    result = vault.commit_many(items(), batch=1_000)
    assert (result.written, result.commits) == (5_001, 6)
    tree = vault.snapshot().tree
    assert tree is not None
    runs = vault.repo[tree[layout.KIND_DIRS["run"]].id]
    assert isinstance(runs, pygit2.Tree) and len(runs) == 256
    assert sum(1 for _ in vault.snapshot().ids("run")) == 5_000
