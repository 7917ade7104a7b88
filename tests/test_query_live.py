"""Runs live in other processes appear in every query while running, exactly once after sealing,
and as "crashed" once their process is killed; one open Query follows the vault without reopening."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitvault import BlobError, Store
from gitvault.query import Query

TRAINER = '''
import sys
from gitvault import Store
run = Store().experiment({"benchmark": "live", "model": "m"}).run(config={"lr": 0.5, "opt": {"beta": 0.9}}, name="remote")
for step in range(300):
    run.curve(step, loss=10.0 if step == 150 else 1.0)
run.log(loss=0.25)
run.tag("remote_tag")
run.flush()
print(run.id, flush=True)
if sys.stdin.readline().strip() == "finish":
    run.finish()
'''


def _spawn(repo: Path) -> tuple[subprocess.Popen[str], str]:
    script = repo / "trainer.py"
    script.write_text(TRAINER)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=repo, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read() if proc.stderr else ""
    return proc, run_id


def _sealed_run(store: Store) -> str:
    with store.experiment({"benchmark": "live", "model": "m"}).run(config={"lr": 0.1}, name="local") as run:
        run.curve(0, loss=2.0)
        run.log(loss=0.5)
    return run.id


def test_a_run_in_another_process_is_seen_live_then_sealed_once(repo: Path) -> None:
    store = Store(repo)
    local = _sealed_run(store)
    with Query(repo) as q:
        proc, rid = _spawn(repo)
        try:
            page = q.list_runs()
            assert [(r["name"], r["status"]) for r in page["items"]] == [("remote", "running"), ("local", "completed")]
            assert page["total"] == 2
            assert q.search("REMOTE_TAG")["items"][0]["id"] == rid
            detail = q.get_run(rid[:12])
            assert detail["status"] == "running" and detail["curves"]["points"] == 300
            assert detail["metrics_final"] == {"loss": 0.25}
            curves = q.get_curves(rid, max_points=20)["curves"]["loss"]
            assert [150, 10.0] in curves and len(curves) <= 20
            compared = q.compare_runs([local, rid], include_curves=True)
            assert compared["metrics"]["loss"]["ranking"] == [rid, local]
            assert compared["config_diffs"]["lr"] == {local: 0.1, rid: 0.5}
            assert compared["config_diffs"]["opt.beta"] == {local: None, rid: 0.9}
            assert len(compared["curves"]["loss"][rid]) == 300
            assert q.list_experiments("live/m")["items"][0]["n_runs"] == 2
            assert [r["id"] for r in q.top_runs("loss")] == [rid, local]

            assert proc.stdin is not None
            proc.stdin.write("finish\n")
            proc.stdin.flush()
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        page = q.list_runs()
        assert [(r["id"], r["status"]) for r in page["items"]] == [(rid, "completed"), (local, "completed")]
        assert page["total"] == 2
        sealed = q.get_run(rid)
        assert sealed["status"] == "completed" and sealed["curves"]["points"] == 300
        assert [150, 10.0] in q.get_curves(rid, max_points=20)["curves"]["loss"]
        assert q.sql("SELECT count(*) AS n FROM runs")["n"][0] == 2


def test_a_killed_run_shows_as_crashed_until_recovered(repo: Path) -> None:
    Store(repo)
    with Query(repo) as q:
        proc, rid = _spawn(repo)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        item = q.list_runs()["items"][0]
        assert (item["id"], item["status"]) == (rid, "crashed")
        assert q.search(filters={"status": "crashed"})["total"] == 1
        assert Store(repo).recovered == [rid]  # opening a Store seals orphans
        assert not (repo / ".git" / "vault" / "live" / rid).exists()
        detail = q.get_run(rid)
        assert detail["status"] == "crashed" and detail["ended_at"] and detail["curves"]["points"] == 300


def test_refresh_false_reads_the_cache_as_it_is_until_refresh(repo: Path) -> None:
    store = Store(repo)
    first = _sealed_run(store)
    with Query(repo, refresh=False) as stale:
        assert [r["id"] for r in stale.list_runs()["items"]] == [first]
        second = _sealed_run(store)
        assert [r["id"] for r in stale.list_runs()["items"]] == [first]
        stale.refresh()
        assert [r["id"] for r in stale.list_runs()["items"]] == [second, first]


def test_one_query_serves_other_threads_and_follows_new_runs(repo: Path) -> None:
    store = Store(repo)
    first = _sealed_run(store)
    with Query(repo) as q:
        assert q.list_runs()["total"] == 1
        second = _sealed_run(store)
        with ThreadPoolExecutor(2) as pool:
            pages = list(pool.map(lambda _: q.list_runs(), range(4)))
        assert all([r["id"] for r in p["items"]] == [second, first] for p in pages)
        third = _sealed_run(store)
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(lambda: q.sql("SELECT count(*) AS n FROM runs")["n"][0]).result() == 3
        assert q.list_runs()["items"][0]["id"] == third


def test_deleted_caches_are_rebuilt_and_a_missing_curves_blob_is_named(repo: Path) -> None:
    store = Store(repo)
    rid = _sealed_run(store)
    with Query(repo) as q:
        assert q.list_runs()["total"] == 1
        extract = repo / ".extract"
        (extract / "extract.db").unlink()
        (extract / "vault.duckdb").unlink()
        assert [r["id"] for r in q.list_runs()["items"]] == [rid]
        assert q.sql("SELECT count(*) AS n FROM runs")["n"][0] == 1
        sha = store.get_run(rid).record["curves"]["blob"]
        (extract / "objects" / sha[:2] / sha[2:]).unlink()
        with pytest.raises(BlobError, match=f"run {rid}: its curves blob {sha} is not in .*git vault pull"):
            q.get_curves(rid)
        assert q.get_run(rid)["metrics_final"] == {"loss": 0.5}


def test_run_index_lists_sealed_live_and_archived_runs_in_a_few_fields(repo: Path) -> None:
    store = Store(repo)
    local = _sealed_run(store)
    with Query(repo) as q:
        q.archive(local)
        proc, rid = _spawn(repo)
        try:
            index = q.run_index()
            assert [(r["name"], r["status"], r["archived"]) for r in index] == [
                ("local", "completed", True), ("remote", "running", False)]
            assert index[1]["label"] == "live/m#remote" and index[1]["tags"] == ["remote_tag"]
            assert set(index[0]) == {"id", "label", "experiment_id", "experiment_path", "name", "status",
                                     "started_at", "ended_at", "tags", "archived"}
            assert proc.stdin is not None
            proc.stdin.write("finish\n")
            proc.stdin.flush()
            assert proc.wait(60) == 0
            index = q.run_index()
            assert [(r["id"], r["status"]) for r in index] == [(local, "completed"), (rid, "completed")]
        finally:
            proc.kill()
