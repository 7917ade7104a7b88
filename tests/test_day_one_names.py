"""Issue 16 point 1: W&B-style names (``val/loss``) are accepted for curves, headline metrics,
params, tables, texts and tensors, stored by every cache, selectable in `git vault sql` and
returned by the MCP server; names that could escape a folder are still refused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gitvault import Store
from gitvault.errors import InvalidNameError
from gitvault.names import check_name, metric_group
from tests.conftest import vault_run


def test_slashed_names_are_accepted_everywhere_a_run_writes_them(repo: Path) -> None:
    store = Store(repo)
    exp = store.experiment({"benchmark": "b", "model": "m"}, specimen_id="slashes")
    with exp.run(name="r") as run:
        for step in range(3):
            run.curve(step, **{"val/loss": 1.0 - step / 10, "train/loss": 2.0})
        run.log(**{"test/acc": 0.3, "opt/name": "adam"})
        run.log_table("eval/confusion", np.eye(2))
        run.log_text("notes/summary", "# ok")
        run.write_metrics({"per/task": [1.0, 2.0]}, name="tables/per_task")
        rid = run.id
    view = store.get_run(rid)
    assert view.metrics["test/acc"] == pytest.approx(0.3)
    assert view.params["opt/name"] == "adam"
    assert view.curves()["val/loss"].to_list() == pytest.approx([1.0, 0.9, 0.8])
    assert {"eval/confusion", "notes/summary", "tables/per_task"} <= {a["name"] for a in view.artifacts}

    # the seed's SQLite schema stores them as they are
    vault_run(repo, "reindex", check=True)
    db = sqlite3.connect(str(repo / ".extract" / "extract.db"))
    assert db.execute("SELECT value FROM scalar_metrics WHERE name = 'test/acc'").fetchone()[0] == pytest.approx(0.3)
    assert db.execute("SELECT value FROM run_params WHERE name = 'opt/name'").fetchone()[0] == "adam"
    assert db.execute("SELECT count(*) FROM curve_points WHERE name = 'val/loss'").fetchone()[0] == 3
    db.close()

    # DuckDB: a slashed curve is a column of the specimen's view, selected quoted
    out = vault_run(repo, "sql", 'SELECT "val/loss" FROM exp_slashes WHERE "val/loss" IS NOT NULL ORDER BY step', "--format", "json", check=True)
    assert [row["val/loss"] for row in json.loads(out.stdout)] == pytest.approx([1.0, 0.9, 0.8])
    out = vault_run(repo, "sql", "SELECT value FROM metrics WHERE name = 'test/acc'", "--format", "csv", check=True)
    assert "0.3" in out.stdout
    shown = vault_run(repo, "show", rid, "--json", check=True)
    detail = json.loads(shown.stdout)
    assert "test/acc" in json.dumps(detail) and "val/loss" in json.dumps(detail)


def test_mcp_returns_slashed_names(repo: Path) -> None:
    from mcp_server.reader import VaultReader

    store = Store(repo)
    with store.experiment({"benchmark": "b"}).run() as run:
        run.curve(0, **{"val/loss": 0.5})
        run.log(**{"test/acc": 0.25})
        rid = run.id
    store.close()
    vault_run(repo, "reindex", check=True)  # the MCP server reads the caches, it builds none
    reader = VaultReader(repo)
    try:
        assert reader.start().result(timeout=60) is None
        result = asyncio.run(reader.call(lambda q: q.get_run(rid)))
    finally:
        reader.close()
    text = result.model_dump_json()
    assert "test/acc" in text and "val/loss" in text


@pytest.mark.parametrize("bad", ["/loss", "val/", "val//loss", "val/../x", "../x", "./x", "a/./b", "..",
                                 "val\\loss", "val/ loss"])
def test_names_that_could_leave_a_folder_are_refused_in_one_line(repo: Path, bad: str) -> None:
    with pytest.raises(InvalidNameError) as error:
        check_name(bad, "curve name", allow_slash=True)
    assert "\n" not in str(error.value) and repr(bad) in str(error.value)
    store = Store(repo)
    with store.experiment({"benchmark": "b"}).run() as run:
        with pytest.raises(InvalidNameError, match="curve name"):
            run.curve(0, **{bad: 1.0})
        with pytest.raises(InvalidNameError, match="metric name"):
            run.log(**{bad: 1.0})
        with pytest.raises(InvalidNameError, match="table name"):
            run.log_table(bad, np.eye(2))
        run.curve(0, ok=1.0)  # the run goes on


def test_names_without_slash_stay_strict_where_a_slash_is_not_allowed() -> None:
    with pytest.raises(InvalidNameError, match="path separator"):
        check_name("a/b", "tag")
    assert check_name("val/loss", "curve name", allow_slash=True) == "val/loss"
    assert metric_group("val/loss") == "val" and metric_group("a/b/c") == "a/b" and metric_group("loss") == ""
