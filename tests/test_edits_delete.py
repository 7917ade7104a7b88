"""Delete and restore (tombstone events) of runs, experiments and TODOs; archiving experiments;
the TODO writes with their undo: each through `gitvault.query`'s write calls, checked in the vault
and in every reader (listings, counts, search, run_index, SQL, lineage, `git vault runs`), synced
through a bare remote, and kept by gc."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault import Store, Vault
from gitvault.errors import RecordNotFoundError, VaultError
from gitvault.integrity.checks import gc
from gitvault.query import Query
from gitvault.runs import edits
from gitvault.storage.records import blob_refs, fold
from gitvault.sync.exchange import pull, push
from tests.conftest import git, make_repo, vault_run

SPECS = ({"benchmark": "b", "model": "m1"}, {"benchmark": "b", "model": "m2"}, {"benchmark": "other", "model": "m"})


def seed(root: Path) -> dict[str, list[str]]:
    """Runs under b/m1 (2), b/m2 (1) and other/m (1), each with curves and a table."""
    store = Store(root)
    out: dict[str, list[str]] = {}
    for spec, n in zip(SPECS, (2, 1, 1)):
        exp = store.experiment(spec)
        for i in range(n):
            with exp.run(name=f"r{i}", config={"lr": 0.1 * (i + 1)}) as run:
                for step in range(3):
                    run.curve(step, loss=1.0 / (step + 1))
                run.log_table("confusion", [[1, 2], [3, 4]])
            out.setdefault(exp.path, []).append(run.id)
    store.close()
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = make_repo(tmp_path_factory.mktemp("edits-delete") / "project", "init")
    return root, seed(root)


@pytest.fixture
def q(world: tuple[Path, dict[str, list[str]]]) -> Iterator[Query]:
    with Query(world[0]) as query:
        yield query


def snapshot_view(root: Path, kind: str, ident: str) -> dict[str, Any]:
    snap = Vault.open(root).snapshot()
    return fold(snap.get(kind, ident), snap.events(kind, ident))


def seen(q: Query) -> dict[str, Any]:
    """What every reader says about the runs."""
    return {
        "runs": sorted(i["id"] for i in q.runs(limit=None)["items"]),
        "list_runs": q.list_runs(limit=None)["total"],
        "index": sorted(i["id"] for i in q.run_index()),
        "search": q.search("r", limit=None)["total"],
        "sql": int(q.sql("SELECT count(*) AS n FROM runs")["n"][0]),
        "experiments": sorted(e["path"] for e in q.list_experiments()["items"]),
        "n_runs": {e["path"]: e["n_runs"] for e in q.list_experiments()["items"]},
    }


def test_delete_an_experiment_hides_its_runs_everywhere_and_restore_brings_them_back(
        world: tuple[Path, dict[str, list[str]]], q: Query) -> None:
    root, runs = world
    before = seen(q)
    assert before["list_runs"] == before["sql"] == 4
    assert q.runs_below("b") == 3 and q.runs_below("b/m1") == 2

    edit = q.delete("experiment", "b")
    assert edit.event == "delete" and "b (3 runs)" in edit.summary
    assert snapshot_view(root, "experiment", edit.id)["deleted"] is True
    hidden = seen(q)
    assert hidden["runs"] == hidden["index"] == runs["other/m"]
    assert hidden["list_runs"] == hidden["sql"] == hidden["search"] == 1
    assert hidden["experiments"] == ["other", "other/m"]
    listed = vault_run(root, "runs", check=True).stdout
    assert runs["other/m"][0] in listed and runs["b/m1"][0] not in listed
    with pytest.raises(RecordNotFoundError, match="deleted experiment.*git vault restore experiment b"):
        q.resolve_run(runs["b/m1"][0])
    with pytest.raises(RecordNotFoundError, match="restore it with"):
        q.get_experiment("b/m2")
    for rid in runs["b/m1"]:  # the runs themselves are not deleted
        assert not snapshot_view(root, "run", rid).get("deleted")

    undone = q.apply(edit.inverse())  # type: ignore[arg-type]
    assert undone.event == "restore"
    assert seen(q) == before
    assert q.apply(undone.inverse()).event == "delete"  # type: ignore[arg-type]  (redo)
    assert seen(q) == hidden
    q.restore("experiment", "b")
    assert seen(q) == before


def test_delete_a_run_and_restore_it(world: tuple[Path, dict[str, list[str]]], q: Query) -> None:
    root, runs = world
    rid = runs["b/m1"][1]
    before = seen(q)
    edit = q.delete("run", rid[:12])
    assert edit.id == rid and snapshot_view(root, "run", rid)["deleted"] is True
    after = seen(q)
    assert rid not in after["runs"] and after["sql"] == before["sql"] - 1 and after["n_runs"]["b/m1"] == 1
    with pytest.raises(RecordNotFoundError, match=f"run {rid} was deleted; restore it with `git vault restore run {rid}`"):
        q.get_run(rid)
    with pytest.raises(ValueError, match="is not deleted"):
        q.restore("run", runs["b/m1"][0])
    tip = Vault.open(root).tip()
    with pytest.raises(RecordNotFoundError, match="restored by its full id"):
        q.restore("run", "nonsense")
    with pytest.raises(ValueError, match="kind must be one of"):
        q.delete("model", rid)
    assert Vault.open(root).tip() == tip  # bad input wrote nothing
    q.restore("run", rid)
    assert seen(q) == before and q.resolve_run(rid) == rid


def test_gc_keeps_the_blobs_of_a_deleted_run(world: tuple[Path, dict[str, list[str]]], q: Query) -> None:
    root, runs = world
    rid = runs["other/m"][0]
    vault = Vault.open(root)
    shas = blob_refs(vault.snapshot().get("run", rid))
    assert shas
    edit = q.delete("run", rid)
    report = gc(vault, grace=_dt.timedelta(0))
    assert report.blocked is None
    assert not {entry.name for entry in report.removed} & set(shas)
    for sha in shas:
        assert vault_blob_exists(root, sha)
    q.apply(edit.inverse())  # type: ignore[arg-type]
    assert q.get_run(rid)["id"] == rid


def vault_blob_exists(root: Path, sha: str) -> bool:
    from gitvault import BlobStore

    return BlobStore(Vault.open(root).paths.objects_dir).has(sha)


def test_archive_an_experiment_keeps_every_run_status(world: tuple[Path, dict[str, list[str]]], q: Query) -> None:
    root, _ = world
    statuses = {i["id"]: i["status"] for i in q.run_index()}
    tip = Vault.open(root).tip()
    edit = q.archive_experiment("b/m1")
    assert edit is not None and q.get_experiment("b/m1")["archived"] is True
    assert {e["path"]: e["archived"] for e in q.list_experiments()["items"]}["b/m2"] is False
    assert q.archive_experiment("b/m1") is None  # nothing to change
    assert {i["id"]: i["status"] for i in q.run_index()} == statuses
    q.apply(edit.inverse())  # type: ignore[arg-type]
    assert q.get_experiment("b/m1")["archived"] is False
    assert {i["id"]: i["status"] for i in q.run_index()} == statuses
    assert Vault.open(root).tip() != tip


def test_todo_writes_with_their_undo(world: tuple[Path, dict[str, list[str]]], q: Query) -> None:
    root, runs = world
    add = q.add_todo("rerun with seed 2", 1, "run", runs["b/m2"][0][:14])
    tid = add.id

    def item() -> dict[str, Any] | None:
        return next((t for t in q.list_todos("all", include_done=True)["items"] if t["id"] == tid), None)

    assert item() == {**item(), "scope_type": "run", "scope_id": runs["b/m2"][0], "priority": 1, "done": False}  # type: ignore[dict-item]
    done = q.todo_done(tid[:16])
    assert done is not None and item()["done"] is True and item()["completed_at"]  # type: ignore[index]
    assert q.todo_done(tid) is None
    q.apply(done.inverse())  # type: ignore[arg-type]
    assert item()["done"] is False and item()["completed_at"] is None  # type: ignore[index]
    prio = q.todo_priority(tid, 2)
    assert prio is not None and item()["priority"] == 2  # type: ignore[index]
    q.apply(prio.inverse())  # type: ignore[arg-type]
    assert item()["priority"] == 1  # type: ignore[index]
    with pytest.raises(ValueError, match="priority must be 0"):
        q.todo_priority(tid, 5)
    undo_add = q.apply(add.inverse())  # type: ignore[arg-type]
    assert undo_add.event == "delete" and item() is None
    assert snapshot_view(root, "todo", tid)["deleted"] is True
    redo = q.apply(undo_add.inverse())  # type: ignore[arg-type]
    assert redo.event == "restore" and item() is not None
    deleted = q.delete("todo", tid[:18])
    assert item() is None
    q.apply(deleted.inverse())  # type: ignore[arg-type]
    assert item() is not None
    assert q.apply(add).event == "restore"  # a create applied again brings it back, never a second TODO
    with pytest.raises(RecordNotFoundError, match="TODO not found"):
        q.todo_done("ZZZZ")
    with pytest.raises(ValueError, match="needs some text"):
        q.add_todo("  ")


def test_the_cli_deletes_restores_and_archives(world: tuple[Path, dict[str, list[str]]]) -> None:
    root, runs = world
    out = vault_run(root, "delete", "experiment", "other", check=True).stdout
    assert "deleted experiment other (1 run)" in out and "git vault restore experiment other" in out
    assert runs["other/m"][0] not in vault_run(root, "runs", check=True).stdout
    bad = vault_run(root, "delete", "experiment", "other")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Experiment not found" in bad.stderr
    assert "restored experiment other" in vault_run(root, "restore", "experiment", "other", check=True).stdout
    assert runs["other/m"][0] in vault_run(root, "runs", check=True).stdout

    rid = runs["b/m2"][0]
    assert f"git vault restore run {rid}" in vault_run(root, "delete", "run", rid[:12], check=True).stdout
    assert vault_run(root, "restore", "run", rid, check=True).returncode == 0
    assert "b/m2: archived" in vault_run(root, "archive", "--experiment", "b/m2", check=True).stdout
    assert "already archived" in vault_run(root, "archive", "--experiment", "b/m2", check=True).stdout
    assert vault_run(root, "unarchive", "--experiment", "b/m2", check=True).returncode == 0
    both = vault_run(root, "archive", rid, "--experiment", "b/m2")
    assert both.returncode != 0 and "not both" in both.stderr

    tid = vault_run(root, "todo", "add", "clean", "up", check=True).stdout.split()[2]
    assert "open again" not in vault_run(root, "todo", "done", tid, check=True).stdout
    assert "open again" in vault_run(root, "todo", "undone", tid, check=True).stdout
    assert f"git vault restore todo {tid}" in vault_run(root, "todo", "delete", tid, check=True).stdout
    assert tid not in vault_run(root, "todo", "list", "--all", check=True).stdout
    vault_run(root, "restore", "todo", tid, check=True)
    assert tid in vault_run(root, "todo", "list", "--all", check=True).stdout


def test_delete_and_restore_refuse_twice(world: tuple[Path, dict[str, list[str]]]) -> None:
    root, runs = world
    vault = Vault.open(root)
    rid = runs["b/m1"][0]
    edit = edits.delete(vault, "run", rid)
    with pytest.raises(ValueError, match="already deleted"):
        edits.delete(vault, "run", rid)
    edits.apply(vault, edit.inverse())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not deleted"):
        edits.restore(vault, "run", rid)
    with pytest.raises(ValueError, match="can be deleted"):
        edits.delete(vault, "lineage", rid)


def test_a_delete_syncs_and_merges_with_a_concurrent_tag(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a = make_repo(tmp_path / "a", "init")
    runs = seed(a)
    git(a, "remote", "add", "origin", str(remote))
    push(a)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    pull(b)
    rid = runs["b/m1"][0]
    with Query(a) as qa, Query(b) as qb:
        qa.delete("run", rid)
        qa.delete("experiment", "other")
        qb.tag(rid, "keep")  # meanwhile, in the other clone
        push(a)
        pull(b)  # merges: a union of events
        assert rid not in {i["id"] for i in qb.run_index()}
        assert runs["other/m"][0] not in {i["id"] for i in qb.run_index()}
        view = snapshot_view(b, "run", rid)
        assert view["deleted"] is True and "keep" in view["tags"]
        qb.restore("run", rid)
        assert "keep" in qb.get_run(rid)["tags"]
        push(b)
        pull(a)
        assert rid in {i["id"] for i in qa.run_index()}
        assert runs["other/m"][0] not in {i["id"] for i in qa.run_index()}


def test_an_incremental_refresh_hides_a_run_sealed_into_a_deleted_experiment(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", "init")
    runs = seed(root)
    with Query(root) as q:
        q.delete("experiment", "b")
        assert q.sql("SELECT count(*) AS n FROM runs")["n"][0] == 1
        with pytest.warns(UserWarning, match="experiment 'b' was deleted"):
            exp = Store(root).experiment(SPECS[0])
        with exp.run(name="late") as run:
            run.curve(0, loss=1.0)
        assert q.refresh().mode == "incremental"
        assert run.id not in {i["id"] for i in q.run_index()}
        q.tag(runs["other/m"][0], "x")  # an ordinary change stays incremental
        assert q.refresh().mode in ("incremental", "current")
        q.restore("experiment", "b")
        assert run.id in {i["id"] for i in q.run_index()} and q.list_runs(limit=None)["total"] == 5


def test_deleted_records_cannot_be_edited_through_the_query_layer(world: tuple[Path, dict[str, list[str]]],
                                                                  q: Query) -> None:
    _, runs = world
    rid = runs["b/m1"][0]
    edit = q.delete("run", rid)
    with pytest.raises(VaultError, match="was deleted"):
        q.tag(rid, "x")
    q.apply(edit.inverse())  # type: ignore[arg-type]


def test_lineage_leaves_a_deleted_run_out(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", "init")
    runs = seed(root)
    parent = runs["b/m1"][0]
    with Store(root).experiment(SPECS[2]).run(name="child") as run:
        run.derived_from(run=parent)
    with Query(root) as q:
        assert [n["id"] for n in q.get_lineage("run", run.id)["nodes"]] == [parent]
        q.delete("run", parent)
        assert q.get_lineage("run", run.id, direction="both")["nodes"] == []
        assert q.get_lineage("run", run.id)["edges"] == []
        q.restore("run", parent)
        assert [n["id"] for n in q.get_lineage("run", run.id)["nodes"]] == [parent]


def test_a_running_run_of_a_deleted_experiment_is_hidden_and_comes_back_with_it(tmp_path: Path) -> None:
    """Deleting an experiment hides its runs that are still running too (they are in no cache yet:
    the caches keep the hidden experiments for the readers of live runs), and restoring it shows them."""
    root = make_repo(tmp_path / "p", "init")
    seed(root)
    with Query(root) as q:
        def shown() -> tuple[set[str], int, int, set[str]]:
            q.refresh()
            page = q.runs(limit=None)
            return ({i["id"] for i in page["items"]}, page["total"], int(q.sql("SELECT count(*) AS n FROM runs")["n"][0]),
                    {i["id"] for i in q.run_index()})

        with Store(root).experiment(SPECS[2]).run(name="running") as run:
            run.curve(0, loss=1.0)
            ids, total, in_sql, index = shown()
            assert run.id in ids and run.id in index and (total, in_sql) == (5, 5)
            q.delete("experiment", "other")
            ids, total, in_sql, index = shown()
            assert run.id not in ids and run.id not in index and (total, in_sql) == (3, 3)
            q.restore("experiment", "other")
            ids, total, in_sql, index = shown()
            assert run.id in ids and run.id in index and (total, in_sql) == (5, 5)
