"""Issue 16 point 9, the SQL part: running runs are rows of `git vault sql`'s ``runs`` (and their
metrics, params and tags of ``metrics``, ``params``, ``tags``), flagged ``live``, read from their spools; nothing is written to
the catalog for it, and a sealed run is listed once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitvault import Store
from gitvault.query import Query
from tests.conftest import vault_run


def _sql(repo: Path, text: str) -> list[dict[str, object]]:
    return json.loads(vault_run(repo, "sql", text, "--format", "json", check=True).stdout)


def test_running_runs_are_rows_of_the_sql_runs_table_flagged_live(repo: Path) -> None:
    store = Store(repo)
    exp = store.experiment({"benchmark": "b", "model": "m"})
    with exp.run(name="done") as run:
        run.log(acc=0.5)
        done = run.id
    live = exp.run(config={"lr": 0.1}, name="going", total_steps=10)
    live.curve(0, loss=1.0)
    live.log(**{"val/acc": 0.7})
    live.tag("sweep")
    live.flush()
    catalog = (repo / ".extract" / "vault.duckdb")
    vault_run(repo, "reindex", check=True)
    before = catalog.stat().st_mtime_ns

    rows = _sql(repo, "SELECT run_id, name, status, live, tags, started_at, experiment_path, config "
                      "FROM runs ORDER BY started_at")
    assert [(r["run_id"], r["status"], r["live"]) for r in rows] == [(done, "completed", False),
                                                                      (live.id, "running", True)]
    assert rows[1]["tags"] == ["sweep"] and rows[1]["experiment_path"] == "b/m" and rows[1]["started_at"]
    assert json.loads(str(rows[1]["config"])) == {"lr": 0.1}
    metrics = _sql(repo, "SELECT run_id, name, value FROM metrics WHERE name = 'val/acc'")
    assert metrics == [{"run_id": live.id, "name": "val/acc", "value": pytest.approx(0.7)}]
    assert _sql(repo, "SELECT count(*) AS n FROM runs WHERE live") == [{"n": 1}]
    assert _sql(repo, f"SELECT tag FROM tags WHERE run_id = '{live.id}'") == [{"tag": "sweep"}]
    assert _sql(repo, f"SELECT name, value, source FROM params WHERE run_id = '{live.id}'") == [
        {"name": "lr", "value": "0.1", "source": "config"}]
    assert catalog.stat().st_mtime_ns == before  # the live rows live in memory, never in the file

    live.finish()
    rows = _sql(repo, "SELECT run_id, status, live FROM runs ORDER BY started_at")
    assert [(r["run_id"], r["status"], r["live"]) for r in rows] == [(done, "completed", False),
                                                                      (live.id, "completed", False)]


def test_sql_on_current_caches_rewrites_nothing(repo: Path) -> None:
    store = Store(repo)
    exp = store.experiment({"benchmark": "b"})
    for i in range(20):
        with exp.run(name=f"r{i}") as run:
            run.log(acc=i / 20)
    running = [exp.run(name=f"live{i}") for i in range(3)]
    for run in running:
        run.log(acc=0.1)
        run.flush()
    with Query(repo) as q:
        q.sql("SELECT 1")  # caches built, DuckDB loaded
        catalog = q.caches.duckdb_path
        before = catalog.stat()
        for _ in range(5):  # on current caches, a query rewrites nothing (no wall-clock assertion)
            frame = q.sql("SELECT count(*) AS n, count(*) FILTER (WHERE live) AS l FROM runs")
        after = catalog.stat()
    assert frame.row(0) == (23, 3)
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    for run in running:
        run.finish()
