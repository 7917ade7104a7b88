"""The Specimen Vault seed's API as its README uses it: ``VaultQuery().search(sql)`` from the
project folder, every example query verbatim, against the vault `git vault demo` builds."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from gitvault import QueryError

from gitvault.scaffold import demo
from gitvault.query import Query, VaultQuery
from tests.test_cache import SEED_QUERIES


def test_seed_queries_through_vaultquery_on_the_demo_vault(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo.build(repo)
    monkeypatch.chdir(repo)
    vault = VaultQuery()
    results = {name: vault.search(sql) for name, sql in SEED_QUERIES.items()}
    assert all(isinstance(frame, pl.DataFrame) for frame in results.values())
    assert demo.SPECIMEN_ID in results["catalog_by_domain"]["specimen_id"].to_list()
    assert results["view_filter"].height > 0 and (results["view_filter"]["loss"] < 0.5).all()
    assert results["specimen_metrics"].columns == ["step", "loss", "accuracy"]
    assert results["specimen_metrics"]["step"].min() >= 50
    assert results["aggregate"]["min_loss"][0] <= results["aggregate"]["mean_loss"][0]
    with pytest.raises(QueryError, match="exp_nope"):
        vault.search("SELECT * FROM exp_nope")
    vault.close()

    with Query(repo) as q:
        assert q.list_runs()["total"] == q.sql("SELECT count(*) AS n FROM runs")["n"][0]
        assert q.list_models()["total"] > 0 and q.list_todos("all")["total"] > 0
        run = q.list_runs(limit=1)["items"][0]
        assert q.get_run(run["id"])["id"] == run["id"]
