"""The query layer on one vault built with the real SDK: listings, search and filters, run detail,
id resolution, todos, models, top runs, commits, SQL, and a live run merged into all of them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault import (
    AmbiguousIdError,
    QueryError,
    RecordNotFoundError,
    Store,
    Transaction,
    VaultNotInitializedError,
)
from gitvault.runs import lineage
from gitvault.storage import codec, records
from gitvault.query import Query, VaultQuery
from tests.conftest import git, make_repo

AMENDED = "c" * 40
FILTER_ERROR = "Unknown filter: 'colour'. Valid filters: tag, status, experiment_prefix, started_after, started_before"


class World:
    """What the fixture built, by name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs: dict[str, str] = {}
        self.started: dict[str, str] = {}
        self.live: Any = None
        self.exp_ids: dict[str, str] = {}
        self.todos: dict[str, str] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = make_repo(tmp_path_factory.mktemp("query") / "project")
    w = World(root)
    store = Store(root)
    v1 = store.experiment({"benchmark": "imagenet", "model": "resnet", "variant": "v1"},
                          specimen_id="spec_resnet", domain="training", method="fine_tuning", tags=["vision"])
    v2 = store.experiment({"benchmark": "imagenet", "model": "resnet", "variant": "v2"})
    other = store.experiment({"benchmark": "imagenet_x", "model": "vit", "variant": "v1"})
    w.exp_ids = {"v1": v1.id, "v2": v2.id, "other": other.id}

    def run(exp: Any, name: str, config: dict[str, Any], metrics: dict[str, float], *, tags: tuple[str, ...] = (),
            note: str | None = None, curve: int = 20, status: str = "completed") -> str:
        r = exp.run(config=config, name=name)
        for step in range(curve):
            r.curve(step, loss=1.0 / (step + 1), acc=step / max(curve, 1))
        r.log(**metrics)
        if tags:
            r.tag(*tags)
        if note:
            r.note(note)
        r.finish(status)
        w.runs[name] = r.id
        return r.id

    run(v1, "a_b", {"lr": 0.1, "method": {"lora_r": 8, "alpha": 16}}, {"loss": 0.50, "acc": 0.80},
        tags=("best_one",), note="lr 50% lower than usual")
    run(v1, "axb", {"lr": 0.2, "method": {"lora_r": 16, "alpha": 16}}, {"loss": 0.30, "acc": float("nan")})
    run(v1, "nan_run", {"lr": 0.3, "method": {"lora_r": 16, "alpha": 16}, "extra": True},
        {"loss": float("nan"), "acc": 0.95}, status="failed")
    run(v2, "inf_run", {"lr": 0.4}, {"loss": float("inf"), "acc": float("inf")}, tags=("wide",))
    run(v2, "Ünïcode", {"lr": 0.5}, {"loss": 0.20, "acc": 0.70}, note="Größe matters", status="crashed")
    run(other, "vit_run", {"lr": 0.6}, {"loss": 0.10, "acc": 0.60}, tags=("vision",))

    spike = v2.run(config={"lr": 0.7}, name="spiky")
    for step in range(1000):
        spike.curve(step, loss=100.0 if step == 537 else 1.0, grad=-50.0 if step == 613 else 0.0)
    spike.finish()
    w.runs["spiky"] = spike.id

    # lineage: a_b -> axb, a_b -> nan_run, axb -> inf_run, nan_run -> inf_run (a diamond), then a chain
    lineage.derived_from(store.vault, w.runs["axb"], run=w.runs["a_b"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["nan_run"], run=w.runs["a_b"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["inf_run"], run=w.runs["axb"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["inf_run"], run=w.runs["nan_run"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["Ünïcode"], run=w.runs["inf_run"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["vit_run"], run=w.runs["Ünïcode"], model=None, version=None)
    lineage.derived_from(store.vault, w.runs["spiky"], run=w.runs["vit_run"], model=None, version=None)
    weights = root / "weights.bin"
    weights.write_bytes(b"\x00" * 64)
    store.register_model("resnet_ft", "v1", weights, metadata={"acc": 0.8}, run_id=w.runs["a_b"])
    store.register_model("resnet_ft", "v2", weights, run_id=w.runs["axb"])
    store.register_model("other", "v1", weights)
    lineage.derived_from(store.vault, w.runs["vit_run"], run=None, model="resnet_ft", version="v1")
    lineage.branched_from(store.vault, w.runs["a_b"], experiment="imagenet/resnet/v1", run=None)

    link = Transaction(message="link a_b to an amended commit")
    link.put("link", records.link_id(w.runs["a_b"], AMENDED), {
        "run_id": w.runs["a_b"], "commit": AMENDED, "tree": "d" * 40, "via": "amend", "created_at": codec.utc_now()})
    store.vault.commit(link)

    w.todos["low"] = store.todo("low priority", 0)
    w.todos["high"] = store.todo("high priority", 2)
    w.todos["mid"] = store.todo("mid priority", 1)
    w.todos["done"] = store.todo("already done", 2)
    store.todo_done(w.todos["done"])
    w.todos["exp"] = v1.todo("experiment todo", 1)
    w.todos["run"] = store.add_todo("run todo", 0, scope_type="run", scope_id=w.runs["a_b"])

    live = v1.run(config={"lr": 0.9, "method": {"lora_r": 32, "alpha": 16}}, name="live_one")
    for step in range(50):
        live.curve(step, loss=2.0 - step / 100)
    live.log(loss=0.05, acc=0.99)
    live.tag("in_flight")
    live.note("still training")
    live.flush()
    w.live = live
    w.runs["live_one"] = live.id
    yield w
    live.finish()


@pytest.fixture(scope="module")
def q(world: World) -> Iterator[Query]:
    with Query(world.root) as query:
        yield query


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


# -- opening --------------------------------------------------------------------------------------


def test_query_opens_from_any_path_store_or_vault(world: World) -> None:
    sub = world.root / "deep" / "dir"
    sub.mkdir(parents=True, exist_ok=True)
    store = Store(world.root)
    for root in (sub, world.root / ".extract", store, store.vault, str(world.root)):
        with Query(root) as query:
            assert query.list_runs(limit=1)["total"] == 8


def test_query_without_a_vault_says_how_to_create_one(repo: Path) -> None:
    with pytest.raises(VaultNotInitializedError, match="git vault init"):
        Query(repo)


# -- experiments ----------------------------------------------------------------------------------


def test_list_experiments_orders_by_path_and_counts_sealed_and_live_runs(q: Query, world: World) -> None:
    page = q.list_experiments()
    paths = [e["path"] for e in page["items"]]
    assert paths == sorted(paths)
    assert page["total"] == len(paths) == 7
    by_path = {e["path"]: e for e in page["items"]}
    v1 = by_path["imagenet/resnet/v1"]
    assert v1["n_runs"] == 4  # three sealed plus the live one
    assert (v1["specimen_id"], v1["domain"], v1["method"], v1["tags"]) == ("spec_resnet", "training", "fine_tuning", ["vision"])
    assert v1["node_type"] == "variant" and v1["parent_id"] == by_path["imagenet/resnet"]["id"]
    assert by_path["imagenet"]["n_runs"] == 0
    assert set(v1) >= {"id", "path", "name", "node_type", "parent_id", "n_runs", "created_at"}


def test_list_experiments_prefix_is_literal_and_limit_truncates(q: Query) -> None:
    assert [e["path"] for e in q.list_experiments("imagenet_")["items"]] == [
        "imagenet_x", "imagenet_x/vit", "imagenet_x/vit/v1"]
    assert q.list_experiments("imagenet%")["total"] == 0
    page = q.list_experiments("imagenet/", limit=2)
    assert page == {**page, "total": 3, "truncated": True} and len(page["items"]) == 2
    assert "limit_clamped" not in page


# -- runs -----------------------------------------------------------------------------------------


def test_list_runs_is_newest_first_and_includes_the_live_run(q: Query, world: World) -> None:
    page = q.list_runs()
    assert names(page) == ["live_one", "spiky", "vit_run", "Ünïcode", "inf_run", "nan_run", "axb", "a_b"]
    assert page["total"] == 8 and not page["truncated"]
    started = [r["started_at"] for r in page["items"]]
    assert started == sorted(started, reverse=True)
    live = page["items"][0]
    assert live["status"] == "running" and live["ended_at"] is None
    assert live["metrics"] == {"acc": 0.99, "loss": 0.05} and live["tags"] == ["in_flight"]
    assert live["label"] == "imagenet/resnet/v1#live_one"


def test_run_items_have_the_seed_fields(q: Query, world: World) -> None:
    item = next(r for r in q.list_runs()["items"] if r["name"] == "a_b")
    assert set(item) == {"id", "label", "experiment_id", "experiment_path", "name", "status", "started_at", "ended_at",
                         "tags", "git_sha", "hostname", "config_summary", "metrics"}
    assert item["config_summary"] == {"n_keys": 3, "top_level_keys": ["lr", "method"]}
    assert item["metrics"] == {"acc": 0.8, "loss": 0.5}
    assert item["experiment_id"] == world.exp_ids["v1"] and item["status"] == "completed"
    assert item["git_sha"] == git(world.root, "rev-parse", "HEAD").stdout.strip()
    nan_item = next(r for r in q.list_runs()["items"] if r["name"] == "nan_run")
    assert nan_item["metrics"]["loss"] is None  # NaN reads back as None


def test_list_runs_of_one_experiment_by_id_or_path(q: Query, world: World) -> None:
    assert names(q.list_runs(world.exp_ids["v2"])) == ["spiky", "Ünïcode", "inf_run"]
    assert names(q.list_runs("imagenet/resnet/v1")) == ["live_one", "nan_run", "axb", "a_b"]
    assert q.list_runs("imagenet")["total"] == 0
    with pytest.raises(RecordNotFoundError, match="Experiment not found: 'nope/x'"):
        q.list_runs("nope/x")


def test_limits_truncate_and_clamp(q: Query) -> None:
    page = q.list_runs(limit=3)
    assert names(page) == ["live_one", "spiky", "vit_run"]
    assert page["total"] == 8 and page["truncated"] is True and "limit_clamped" not in page
    page = q.list_runs(limit=501)
    assert page["limit_clamped"] is True and page["truncated"] is False and len(page["items"]) == 8
    assert q.search(limit=10_000)["limit_clamped"] is True
    assert q.list_todos(limit=999)["limit_clamped"] is True
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(QueryError, match="limit"):
            q.list_runs(limit=bad)


# -- search ---------------------------------------------------------------------------------------


def test_search_text_is_case_insensitive_over_name_tags_and_notes(q: Query) -> None:
    assert names(q.search("A_B")) == ["a_b"]
    assert names(q.search("BEST_ONE")) == ["a_b"]  # a tag
    assert names(q.search("50% LOWER")) == ["a_b"]  # a note
    assert names(q.search("still TRAINING")) == ["live_one"]  # a live run's note
    assert names(q.search("größe")) == ["Ünïcode"]
    assert names(q.search("ünï")) == ["Ünïcode"]
    assert q.search("")["total"] == 8


def test_search_underscore_and_percent_are_literal(q: Query) -> None:
    assert names(q.search("_")) == ["live_one", "vit_run", "inf_run", "nan_run", "a_b"]
    assert names(q.search("a_b")) == ["a_b"]  # not "axb"
    assert names(q.search("%")) == ["a_b"]
    assert q.search("a%b")["total"] == 0
    assert q.search("'; DROP TABLE runs; --")["total"] == 0
    assert q.list_runs()["total"] == 8


def test_each_filter(q: Query, world: World) -> None:
    assert names(q.search(filters={"tag": "vision"})) == ["vit_run"]
    assert names(q.search(filters={"tag": "in_flight"})) == ["live_one"]
    assert q.search(filters={"tag": "visio"})["total"] == 0  # tags match exactly
    assert names(q.search(filters={"status": "running"})) == ["live_one"]
    assert names(q.search(filters={"status": "failed"})) == ["nan_run"]
    assert names(q.search(filters={"status": "crashed"})) == ["Ünïcode"]
    assert names(q.search(filters={"experiment_prefix": "imagenet_"})) == ["vit_run"]
    assert names(q.search(filters={"experiment_prefix": "imagenet/resnet/v2"})) == ["spiky", "Ünïcode", "inf_run"]
    assert q.search(filters={"experiment_prefix": "imagenet%"})["total"] == 0
    pivot = next(r for r in q.list_runs()["items"] if r["name"] == "inf_run")["started_at"]
    assert names(q.search(filters={"started_after": pivot})) == ["live_one", "spiky", "vit_run", "Ünïcode", "inf_run"]
    # both bounds are inclusive (the seed's documented behaviour): the pivot run is in each
    assert names(q.search(filters={"started_before": pivot})) == ["inf_run", "nan_run", "axb", "a_b"]
    assert q.search(filters={"started_after": "2999-01-01"})["total"] == 0
    assert q.search(filters={"started_before": "2000-01-01T00:00:00+02:00"})["total"] == 0
    assert q.search(filters={"started_after": "2000-01-01"})["total"] == 8
    combined = q.search("run", {"tag": "vision", "status": "completed", "experiment_prefix": "imagenet_x"})
    assert names(combined) == ["vit_run"]
    assert q.search(filters={"tag": None, "status": ""})["total"] == 8


def test_filter_errors_name_the_problem(q: Query) -> None:
    with pytest.raises(QueryError) as err:
        q.search(filters={"colour": "red"})
    assert str(err.value) == FILTER_ERROR
    with pytest.raises(QueryError, match="'done' is not a run status; valid statuses: running, completed, failed, crashed"):
        q.search(filters={"status": "done"})
    with pytest.raises(QueryError, match="started_after: 'yesterday' is not an ISO 8601"):
        q.search(filters={"started_after": "yesterday"})
    with pytest.raises(QueryError, match="filters must be a dict"):
        q.search(filters=["tag"])  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="filter tag must be a string"):
        q.search(filters={"tag": 3})


# -- one run --------------------------------------------------------------------------------------


def test_resolve_run_by_id_prefix_and_case(q: Query, world: World) -> None:
    rid = world.runs["a_b"]
    assert q.resolve_run(rid) == rid
    assert q.resolve_run(rid[:-2]) == rid
    assert q.resolve_run(rid[:-2].lower()) == rid
    assert q.resolve_run(world.live.id[:-1]) == world.live.id
    with pytest.raises(RecordNotFoundError) as err:
        q.resolve_run("ZZZZ")
    assert str(err.value) == "Run not found: 'ZZZZ'"
    for bad in ("", None, 5):
        with pytest.raises(RecordNotFoundError, match="Run not found"):
            q.resolve_run(bad)  # type: ignore[arg-type]
    shared = _common_prefix(list(world.runs.values()))
    with pytest.raises(AmbiguousIdError) as amb:
        q.resolve_run(shared)
    text = str(amb.value)
    assert f"Run id prefix '{shared}' is ambiguous" in text and world.runs["a_b"] in text and world.live.id in text


def _common_prefix(ids: list[str]) -> str:
    prefix = ids[0]
    for other in ids[1:]:
        while not other.startswith(prefix):
            prefix = prefix[:-1]
    assert prefix, "ULIDs made within seconds share their time prefix"
    return prefix


def test_get_run_sealed_detail(q: Query, world: World) -> None:
    rid = world.runs["a_b"]
    run = q.get_run(rid[:-3])
    assert run["id"] == rid and run["label"] == "imagenet/resnet/v1#a_b"
    assert run["config"] == {"lr": 0.1, "method": {"lora_r": 8, "alpha": 16}}
    assert run["metrics_final"] == {"acc": 0.8, "loss": 0.5}
    assert run["metrics_available"] == ["acc", "loss"]
    assert run["notes"] == "lr 50% lower than usual" and run["tags"] == ["best_one"]
    assert run["curves"] == {"names": ["loss", "acc"], "points": 40, "last_step": 19}
    assert [t["content"] for t in run["todos"]] == ["run todo"]
    assert run["git"]["sha"] == run["git_sha"] and [k["via"] for k in run["git"]["links"]] == ["amend"]
    assert run["git"]["dirty"] in (True, False)
    assert run["status"] == "completed" and run["ended_at"] >= run["started_at"]
    assert run["env"] and run["hostname"]
    for key in ("id", "experiment_id", "experiment_path", "name", "label", "status", "started_at", "ended_at",
                "hostname", "git_sha", "tags", "notes", "config", "metrics_final", "metrics_available",
                "run_params", "artifacts", "todos", "git", "env", "total_steps", "curves"):
        assert key in run


def test_get_run_live_detail(q: Query, world: World) -> None:
    run = q.get_run(world.live.id)
    assert run["status"] == "running" and run["ended_at"] is None
    assert run["metrics_final"] == {"acc": 0.99, "loss": 0.05}
    assert run["curves"] == {"names": ["loss"], "points": 50, "last_step": 49}
    assert run["notes"] == "still training" and run["tags"] == ["in_flight"]
    assert run["config"]["method"]["lora_r"] == 32


def test_get_run_unknown(q: Query) -> None:
    with pytest.raises(RecordNotFoundError) as err:
        q.get_run("01NOPE")
    assert str(err.value) == "Run not found: '01NOPE'"


# -- todos and models -----------------------------------------------------------------------------


def test_todos_by_priority_then_age_and_scope(q: Query, world: World) -> None:
    page = q.list_todos()
    assert [t["content"] for t in page["items"]] == ["high priority", "mid priority", "low priority"]
    assert page["total"] == 3
    with_done = q.list_todos(include_done=True)
    assert [t["content"] for t in with_done["items"]][:2] == ["high priority", "already done"]
    done = next(t for t in with_done["items"] if t["id"] == world.todos["done"])
    assert done["done"] is True and done["completed_at"]
    assert [t["content"] for t in q.list_todos("experiment", world.exp_ids["v1"])["items"]] == ["experiment todo"]
    assert [t["content"] for t in q.list_todos("experiment", "imagenet/resnet/v1")["items"]] == ["experiment todo"]
    assert [t["content"] for t in q.list_todos("run", world.runs["a_b"][:-2])["items"]] == ["run todo"]
    assert q.list_todos("all")["total"] == 5
    assert q.list_todos("all", include_done=True, limit=2)["truncated"] is True


def test_todo_errors(q: Query) -> None:
    with pytest.raises(QueryError, match="scope_type must be one of global, experiment, run, all"):
        q.list_todos("project")
    with pytest.raises(QueryError, match="scope_id must be None for global"):
        q.list_todos("global", "x")
    with pytest.raises(QueryError, match="scope_id is required for run"):
        q.list_todos("run")
    with pytest.raises(RecordNotFoundError, match="Run not found"):
        q.list_todos("run", "NOPE")


def test_list_models(q: Query, world: World) -> None:
    page = q.list_models()
    assert [(m["name"], m["version"]) for m in page["items"]] == [("other", "v1"), ("resnet_ft", "v1"), ("resnet_ft", "v2")]
    first = page["items"][1]
    assert first["run_id"] == world.runs["a_b"] and first["metadata"] == {"acc": 0.8}
    assert first["framework"] == "pytorch" and Path(first["artifact_path"]).read_bytes() == b"\x00" * 64
    assert set(first) >= {"id", "name", "version", "run_id", "framework", "artifact_path", "metadata", "created_at"}
    assert q.list_models("resnet_")["total"] == 2
    assert q.list_models("resnet%")["total"] == 0
    assert q.list_models(limit=1)["truncated"] is True


# -- rankings, directions, commits ----------------------------------------------------------------


def test_direction_uses_the_config_then_heuristics(q: Query) -> None:
    assert q.direction("loss") == "min" and q.direction("val_perplexity") == "min"
    assert q.direction("acc") == "max" and q.direction("reward") == "max"
    with pytest.raises(QueryError):
        q.direction("")


def test_top_runs_best_first_with_non_finite_last(q: Query, world: World) -> None:
    top = q.top_runs("loss", k=10)
    assert [r["name"] for r in top] == ["live_one", "vit_run", "Ünïcode", "axb", "a_b", "inf_run", "nan_run"]
    assert top[0]["value"] == 0.05 and top[-2]["value"] == math.inf and top[-1]["value"] is None
    assert [r["name"] for r in q.top_runs("acc", k=3)] == ["live_one", "nan_run", "a_b"]
    assert [r["name"] for r in q.top_runs("acc", k=2, experiment_prefix="imagenet/resnet/v2")] == ["Ünïcode", "inf_run"]
    assert q.top_runs("no_such_metric") == []
    with pytest.raises(QueryError, match="k must be a positive integer"):
        q.top_runs("loss", k=0)


def test_runs_for_commits(q: Query, world: World) -> None:
    head = git(world.root, "rev-parse", "HEAD").stdout.strip()
    found = q.runs_for_commits([head, head[:7], "0" * 40])
    assert len(found[head]) == 8 and found[head][0]["name"] == "live_one"
    assert all(r["linked_via"] == "git_sha" and isinstance(r["dirty"], bool) for r in found[head])
    assert [r["id"] for r in found[head[:7]]] == [r["id"] for r in found[head]]
    assert found["0" * 40] == []
    linked = q.runs_for_commits([AMENDED, AMENDED[:8].upper()])
    assert [(r["name"], r["linked_via"], r["dirty"]) for r in linked[AMENDED]] == [("a_b", "amend", False)]
    assert [r["id"] for r in linked[AMENDED[:8].upper()]] == [world.runs["a_b"]]
    assert q.get_run(world.runs["a_b"])["git"]["links"][0]["commit"] == AMENDED
    with pytest.raises(QueryError, match="not a commit sha"):
        q.runs_for_commits(["xyz"])


# -- SQL ------------------------------------------------------------------------------------------


def test_sql_reads_the_catalog_and_cross_run_views(q: Query, world: World) -> None:
    catalog = q.sql("SELECT specimen_id, domain, method FROM catalog")
    assert catalog.rows() == [("spec_resnet", "training", "fine_tuning")]
    ranked = q.sql("SELECT r.name, m.value FROM metrics m JOIN runs r USING (run_id) WHERE m.name = 'loss'"
                   " AND isfinite(m.value) ORDER BY m.value LIMIT 2")
    assert ranked.rows() == [("live_one", 0.05), ("vit_run", 0.1)]  # running runs are rows too (issue 16)
    assert q.sql("SELECT name FROM runs WHERE live").rows() == [("live_one",)]
    points = q.sql(f"SELECT count(*) AS n FROM curves WHERE run_id = '{world.runs['spiky']}'")
    assert points["n"][0] == 2000
    spec = VaultQuery(world.root).search("SELECT count(DISTINCT run_id) AS n FROM exp_spec_resnet WHERE loss < 0.5")
    assert spec["n"][0] == 3


def test_sql_errors_carry_duckdbs_message_and_writes_are_refused(q: Query) -> None:
    with pytest.raises(QueryError, match="(?i)syntax error"):
        q.sql("SELEC 1")
    with pytest.raises(QueryError, match="no_such_table"):
        q.sql("SELECT * FROM no_such_table")
    with pytest.raises(QueryError, match="(?i)read-only"):
        q.sql("DELETE FROM catalog")
    with pytest.raises(QueryError, match="needs the text"):
        q.sql("  ")
    assert q.sql("SELECT count(*) AS n FROM catalog")["n"][0] == 1


@pytest.mark.parametrize("text", ["COPY (SELECT 1) TO 'copied.csv'", "SELECT 1; SELECT 2", "SET threads=1",
                                  "INSTALL httpfs", "ATTACH 'other.duckdb' AS o", "PRAGMA version",
                                  "CREATE TABLE x (a INT)"])
def test_sql_refuses_anything_but_one_select(world: World, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Query(world.root) as q:
        with pytest.raises(QueryError):
            q.sql(text)
        assert q.sql("WITH a AS (SELECT 41 AS x) SELECT x + 1 AS y FROM a")["y"].to_list() == [42]
    assert list(tmp_path.iterdir()) == []


def test_the_query_layer_imports_no_writer(world: World) -> None:
    """Reading through every part of the query layer loads none of the writing modules."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from gitvault.query import Query\n"
        f"with Query({str(world.root)!r}) as q:\n"
        "    q.runs(where=\"metrics.loss < 1 and config.method.lora_r = 16\", sort='-metrics.acc')\n"
        f"    q.get_run({world.runs['live_one']!r}); q.history(limit=2); q.changes(q.changes()['token'])\n"
        f"    q.compare_runs([{world.runs['a_b']!r}, {world.runs['live_one']!r}], include_curves=True)\n"
        "writers = ('gitvault.runs.run', 'gitvault.runs.store', 'gitvault.runs.experiment', 'gitvault.gitlink.linking', 'gitvault.sync.exchange',"
        " 'gitvault.sync.merge', 'gitvault.secrets.purge', 'gitvault.runs.live')\n"
        "print(sorted(m for m in writers if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_read_commands_on_current_caches_load_no_libgit2(world: World) -> None:
    """`runs`, `show`, `compare`, `experiments` and `todo list` answer from the caches: git is asked
    for the vault's tip (`git rev-parse`), libgit2 (pygit2, 60 ms to load) and DuckDB stay unloaded."""
    import subprocess
    import sys

    Query(world.root).close()  # caches current
    a, b = world.runs["a_b"], world.runs["live_one"]
    commands = [["runs"], ["runs", "--where", "metrics.loss < 1", "--sort=-metrics.acc"], ["show", a],
                ["compare", a, b], ["experiments"], ["todo", "list"]]
    script = (
        "import contextlib, io, sys\n"
        "from gitvault.cli.main import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        f"        assert main(['-C', {str(world.root)!r}, *argv]) == 0, argv\n"
        "print(sorted(m for m in ('pygit2', 'duckdb', 'polars', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_runs_resolve_by_id_prefix_name_and_label(tmp_path: Path) -> None:
    """Every command that takes a run takes an id, a unique prefix, a unique name or a path#name label."""
    from gitvault import Store
    from gitvault.errors import AmbiguousIdError, RecordNotFoundError
    from gitvault.query import Query
    from tests.conftest import make_repo, vault_run

    repo = make_repo(tmp_path / "names", "init")
    store = Store(repo)
    with store.experiment({"benchmark": "synth3", "model": "mlp"}).run(name="mlp-h64-lr0.3-s21") as run:
        one = run.id
    with store.experiment({"benchmark": "synth3", "model": "mlp"}).run(name="twin") as run:
        twin_a = run.id
    with store.experiment({"benchmark": "other", "model": "mlp"}).run(name="twin") as run:
        twin_b = run.id
    live = store.experiment({"benchmark": "other", "model": "mlp"}).run(name="still-going")
    live.flush()
    with Query(repo) as q:
        assert q.resolve_run("mlp-h64-lr0.3-s21") == one
        assert q.resolve_run("synth3/mlp#mlp-h64-lr0.3-s21") == one
        assert q.resolve_run("other/mlp#twin") == twin_b and q.resolve_run("synth3/mlp#twin") == twin_a
        assert q.resolve_run("still-going") == live.id
        with pytest.raises(AmbiguousIdError, match="Run name 'twin' is ambiguous.*synth3/mlp#twin.*path#name"):
            q.resolve_run("twin")
        with pytest.raises(RecordNotFoundError, match="Run not found: 'nope#nothing'"):
            q.resolve_run("nope#nothing")
    shown = vault_run(repo, "show", "synth3/mlp#mlp-h64-lr0.3-s21", check=True)
    assert one in shown.stdout
    live.finish()


def test_headline_metrics_keep_every_digit_in_listings(tmp_path: Path) -> None:
    """Run items (runs, compare, diff, log, MCP) carry a metric's exact double: SQLite's JSON
    would write 15 significant digits (1234567890123456 -> 1234567890123460)."""
    repo = make_repo(tmp_path / "digits", "init")
    values = {"big": 1234567890123456.0, "third": 1 / 3, "tenth": 0.1, "count": 7, "tiny": 5e-324}
    with Store(repo).experiment({"benchmark": "digits"}).run(name="d") as run:
        run.log(**values)
    with Query(repo) as q:
        (item,) = q.runs()["items"]
        assert item["metrics"] == values
        assert q.get_run(run.id)["metrics_final"] == values
