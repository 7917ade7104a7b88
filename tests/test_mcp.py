"""The MCP server as an agent meets it: a real `python -m gitvault.mcp_server` subprocess driven by
the `mcp` SDK's stdio client, on a vault built with the real SDK (sealed, failed and live runs,
a lineage diamond, models, todos, two code commits). One server session serves the module; the
last test proves the session wrote nothing under .git or .extract."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault import Store
from gitvault.query import Query
from tests.conftest import git, make_repo
from tests.test_mcp_client import McpClient, tree_hashes

SEED_TOOLS = ["list_experiments", "list_runs", "get_run", "compare_runs", "search", "list_todos",
              "get_lineage", "list_models"]
EXTRA_TOOLS = ["get_curves", "list_files", "vault_log"]
RUN_ITEM_KEYS = {"id", "label", "experiment_id", "experiment_path", "name", "status", "started_at", "ended_at",
                 "tags", "git_sha", "hostname", "config_summary"}
VALID_FILTERS = "tag, status, experiment_prefix, started_after, started_before"

LIVE_WRITER = """
import sys
from gitvault import Store
store = Store(sys.argv[1])
exp = store.experiment({"benchmark": "cifar", "model": "vit", "variant": "base"})
run = exp.run(config={"lr": 0.5}, name="live-run", total_steps=100)
for step in range(50):
    run.curve(step, train_loss=1.0 / (step + 1))
run.log(acc=0.5)
run.tag("live")
run.flush()
print(run.id, flush=True)
sys.stdin.read()
"""


class Fixture:
    """Ids and facts of the fixture vault that tests assert against."""

    root: Path
    ids: dict[str, str]
    commits: list[str]
    model_id: str
    live: subprocess.Popen[str]
    before: dict[str, str]


def _build(root: Path) -> Fixture:
    fx = Fixture()
    fx.root = root
    fx.ids = {}
    model_file = root.parent / "weights.bin"
    model_file.write_bytes(b"\x00weights" * 100)
    store = Store(root)
    v1 = store.experiment({"benchmark": "imagenet", "model": "resnet50", "variant": "v1"})
    v2 = store.experiment({"benchmark": "imagenet", "model": "resnet50", "variant": "v2"})
    with v1.run(config={"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}}, name="base", total_steps=1000) as run:
        for step in range(1000):
            run.curve(step, train_loss=100.0 if step == 500 else 1.0 / (step + 1), val_acc=step / 1000)
        run.curve(1000, train_loss=float("nan"))
        run.log(loss=0.5, acc=0.8, arch="resnet50")
        run.tag("baseline")
        run.note("first try, spike at step 500")
        run.todo("check the spike", priority=1)
        fx.model_id = run.register_model("resnet", "v1", model_file, metadata={"top1": 0.8})
        fx.ids["A"] = run.id
    with v1.run(config={"lr": 0.01, "opt": {"name": "adam", "momentum": 0.9}}, name="lr_0.01") as run:
        run.log(loss=0.3, acc=float("nan"))
        run.tag("sweep")
        run.derived_from(run=fx.ids["A"])
        fx.ids["B"] = run.id
    with v1.run(config={"lr": 0.02, "opt": {"name": "sgd", "momentum": 0.9}}, name="lrx0.01") as run:
        run.log(loss=0.4, acc=0.85)
        run.tag("sweep")
        run.derived_from(run=fx.ids["A"])
        fx.ids["C"] = run.id
    with v2.run(config={"lr": 0.01}, name="merged 50%") as run:
        run.log(loss=0.2, acc=0.9)
        run.derived_from(run=fx.ids["B"])
        run.derived_from(run=fx.ids["C"])
        fx.ids["D"] = run.id
    with pytest.raises(RuntimeError), v2.run(config={"lr": 10.0}, name="crashy") as run:
        fx.ids["F"] = run.id
        run.log(loss=float("inf"))
        raise RuntimeError("diverged")
    first_commit = git(root, "rev-parse", "HEAD").stdout.strip()
    (root / "train.py").write_text("print('training v2')\n")
    git(root, "commit", "-q", "-am", "train v2")
    second_commit = git(root, "rev-parse", "HEAD").stdout.strip()
    fx.commits = [second_commit, first_commit]
    vit = store.experiment({"benchmark": "cifar", "model": "vit", "variant": "base"})
    with vit.run(config={"lr": 0.001}, name="finetune") as run:
        run.log(loss=0.25)
        run.derived_from(model="resnet", version="v1")
        fx.ids["E"] = run.id
    store.todo("write the paper", priority=2)
    store.todo("tidy configs", priority=0)
    done = store.todo("done already", priority=1)
    store.todo_done(done)
    v1.todo("compare optimisers", priority=1)
    store.close()
    fx.live = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(root)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    fx.ids["L"] = fx.live.stdout.readline().strip()  # type: ignore[union-attr]
    assert len(fx.ids["L"]) == 26, "the live writer did not start"
    with Query(root) as q:  # builds the caches the way any earlier `git vault` read would
        q.list_runs(limit=1)
    fx.before = tree_hashes(root / ".git", root / ".extract")
    return fx


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = make_repo(tmp_path_factory.mktemp("mcp") / "project", "init")
    fixture = _build(root)
    yield fixture
    fixture.live.send_signal(signal.SIGKILL)  # never sealed: nothing is written after the checks
    fixture.live.wait()


@pytest.fixture(scope="module")
def client(fx: Fixture) -> Any:
    with McpClient(fx.root) as c:
        yield c


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


# -- discovery ---------------------------------------------------------------------------------


def test_tools_are_listed_with_schemas_written_for_an_agent(client: McpClient) -> None:
    tools = client.list_tools()
    assert sorted(tools) == sorted(SEED_TOOLS + EXTRA_TOOLS)
    for tool in tools.values():
        assert len(tool.description or "") > 80, tool.name
        assert tool.input_schema["type"] == "object"
        for prop, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{prop} has no description"
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
    props = {name: tools[name].input_schema.get("properties", {}) for name in tools}
    required = {name: sorted(tools[name].input_schema.get("required", [])) for name in tools}
    assert props["list_experiments"]["prefix"]["default"] == "" and props["list_experiments"]["limit"]["default"] == 50
    assert props["list_runs"]["limit"]["default"] == 50 and props["list_runs"]["experiment_id"]["default"] is None
    assert required["get_run"] == ["run_id"]
    assert required["compare_runs"] == ["run_ids"] and props["compare_runs"]["include_curves"]["default"] is False
    assert props["search"]["query"]["default"] == "" and props["search"]["filters"]["default"] is None
    assert props["list_todos"]["scope_type"]["default"] == "global"
    assert props["list_todos"]["include_done"]["default"] is False
    assert required["get_lineage"] == ["node_id", "node_type"]
    assert props["get_lineage"]["direction"]["default"] == "both" and props["get_lineage"]["depth"]["default"] == 2
    assert props["list_models"]["name_prefix"]["default"] == ""
    assert props["get_curves"]["max_points"]["default"] == 500 and props["get_curves"]["names"]["default"] is None
    assert props["vault_log"]["limit"]["default"] == 20
    for name in ("list_experiments", "list_runs", "search", "list_todos", "list_models"):
        assert "500" in props[name]["limit"]["description"]


# -- listings ----------------------------------------------------------------------------------


def test_list_experiments_envelope_and_prefix(client: McpClient) -> None:
    page = client.call("list_experiments")
    assert set(page) == {"items", "total", "truncated"}
    paths = [e["path"] for e in page["items"]]
    assert paths == sorted(paths)
    expected = {"imagenet", "imagenet/resnet50", "imagenet/resnet50/v1", "imagenet/resnet50/v2", "cifar/vit/base"}
    assert expected <= set(paths)
    assert page["total"] == len(paths) and page["truncated"] is False
    v1 = next(e for e in page["items"] if e["path"] == "imagenet/resnet50/v1")
    assert {"id", "path", "name", "node_type", "parent_id", "n_runs"} <= set(v1)
    assert v1["name"] == "v1" and v1["node_type"] == "variant" and v1["n_runs"] == 3
    only = client.call("list_experiments", prefix="imagenet/resnet50/")
    assert [e["path"] for e in only["items"]] == ["imagenet/resnet50/v1", "imagenet/resnet50/v2"]
    short = client.call("list_experiments", limit=2)
    assert len(short["items"]) == 2 and short["truncated"] is True and short["total"] == page["total"]


def test_list_runs_newest_first_with_live_and_failed_runs(client: McpClient, fx: Fixture) -> None:
    page = client.call("list_runs")
    ids = [r["id"] for r in page["items"]]
    assert set(ids) == {fx.ids[k] for k in "ABCDFEL"}
    started = [r["started_at"] for r in page["items"]]
    assert started == sorted(started, reverse=True)
    assert ids[0] == fx.ids["L"]
    by_id = {r["id"]: r for r in page["items"]}
    for item in page["items"]:
        assert RUN_ITEM_KEYS <= set(item)
    live, failed = by_id[fx.ids["L"]], by_id[fx.ids["F"]]
    assert live["status"] == "running" and live["ended_at"] is None and live["label"] == "cifar/vit/base#live-run"
    assert failed["status"] == "failed" and failed["ended_at"]
    assert by_id[fx.ids["A"]]["config_summary"] == {"n_keys": 3, "top_level_keys": ["lr", "opt"]}
    assert by_id[fx.ids["A"]]["git_sha"] == fx.commits[1] and by_id[fx.ids["E"]]["git_sha"] == fx.commits[0]
    exp_id = by_id[fx.ids["A"]]["experiment_id"]
    scoped = client.call("list_runs", experiment_id=exp_id)
    assert [r["name"] for r in scoped["items"]] == ["lrx0.01", "lr_0.01", "base"]


def test_limits_truncate_and_clamp_silently(client: McpClient) -> None:
    two = client.call("list_runs", limit=2)
    assert len(two["items"]) == 2 and two["total"] == 7 and two["truncated"] is True
    assert "limit_clamped" not in two
    for tool in ("list_runs", "list_experiments", "list_models", "search", "list_todos"):
        big = client.call(tool, limit=100_000)
        assert big["limit_clamped"] is True and big["truncated"] is False, tool
        assert len(big["items"]) == big["total"]
    assert client.call("vault_log", limit=10_000)["limit_clamped"] is True
    assert "limit" in client.error("list_runs", limit=0)


def test_get_run_full_detail(client: McpClient, fx: Fixture) -> None:
    run = client.call("get_run", run_id=fx.ids["A"])
    for key in ("id", "experiment_id", "experiment_path", "name", "label", "status", "started_at", "ended_at",
                "hostname", "git_sha", "tags", "notes", "config", "metrics_final", "metrics_available",
                "run_params", "artifacts", "todos"):
        assert key in run, key
    assert run["label"] == "imagenet/resnet50/v1#base" and run["status"] == "completed"
    assert run["config"] == {"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}}
    assert run["metrics_final"] == {"loss": 0.5, "acc": 0.8}
    assert run["run_params"] == {"arch": "resnet50"}
    assert run["tags"] == ["baseline"] and "spike" in json.dumps(run["notes"])
    assert [t["content"] for t in run["todos"]] == ["check the spike"]
    assert "train_loss" not in json.dumps(run["metrics_final"])
    by_prefix = client.call("get_run", run_id=fx.ids["A"][:20])
    assert by_prefix["id"] == fx.ids["A"]
    failed = client.call("get_run", run_id=fx.ids["F"])
    assert failed["status"] == "failed" and failed["metrics_final"] == {"loss": "Infinity"}


def test_live_run_shows_its_flushed_points(client: McpClient, fx: Fixture) -> None:
    run = client.call("get_run", run_id=fx.ids["L"])
    assert run["status"] == "running" and run["config"] == {"lr": 0.5}
    assert run["metrics_final"] == {"acc": 0.5}
    curves = client.call("get_curves", run_id=fx.ids["L"])
    assert curves["points"] == {"train_loss": 50}
    assert curves["curves"]["train_loss"][0] == [0, 1.0] and curves["curves"]["train_loss"][-1][0] == 49


def test_get_curves_downsamples_keeping_spikes_and_nan_is_a_string(client: McpClient, fx: Fixture) -> None:
    full = client.call("get_curves", run_id=fx.ids["A"], max_points=5000)
    assert full["points"]["train_loss"] == 1001 and len(full["curves"]["train_loss"]) == 1001
    assert full["curves"]["train_loss"][-1] == [1000, "NaN"]
    small = client.call("get_curves", run_id=fx.ids["A"], names=["train_loss"], max_points=50)
    assert set(small["curves"]) == {"train_loss"}
    points = small["curves"]["train_loss"]
    assert len(points) <= 50
    assert [500, 100.0] in points, "the spike must survive downsampling"
    steps = [p[0] for p in points]
    assert steps == sorted(steps)
    assert client.call("get_curves", run_id=fx.ids["B"])["curves"] == {}


def test_compare_runs_metrics_rankings_and_config_diffs(client: McpClient, fx: Fixture) -> None:
    a, b, c = fx.ids["A"], fx.ids["B"], fx.ids["C"]
    result = client.call("compare_runs", run_ids=[a, b, c])
    assert set(result) == {"runs", "metrics", "config_diffs"}
    assert [r["id"] for r in result["runs"]] == [a, b, c]
    loss, acc = result["metrics"]["loss"], result["metrics"]["acc"]
    assert loss["direction"] == "min" and loss["ranking"] == [b, c, a]
    assert acc["direction"] == "max" and acc["ranking"][-1] == b  # NaN (stored as missing) ranks last
    assert loss["values"] == {a: 0.5, b: 0.3, c: 0.4}
    assert set(result["config_diffs"]) == {"lr", "opt.name"}
    assert result["config_diffs"]["opt.name"] == {a: "sgd", b: "adam", c: "sgd"}
    with_curves = client.call("compare_runs", run_ids=[a, fx.ids["L"]], include_curves=True)
    assert set(with_curves["curves"]["train_loss"]) == {a, fx.ids["L"]}
    assert with_curves["curves"]["train_loss"][fx.ids["L"]][:2] == [[0, 1.0], [1, 0.5]]
    downsampled = with_curves["curves"]["train_loss"][a]
    assert len(downsampled) <= 500 and [500, 100.0] in downsampled and downsampled[-1] == [1000, "NaN"]


def test_search_text_is_literal_and_case_insensitive(client: McpClient, fx: Fixture) -> None:
    assert names(client.call("search", query="LR_0")) == ["lr_0.01"]
    assert names(client.call("search", query="50%")) == ["merged 50%"]
    assert names(client.call("search", query="%")) == ["merged 50%"]
    assert names(client.call("search", query="SPIKE")) == ["base"]  # notes
    assert names(client.call("search", query="basel")) == ["base"]  # tags
    assert client.call("search", query="no such text")["items"] == []
    everything = client.call("search")
    assert everything["total"] == 7 and names(everything) == names(client.call("list_runs"))


def test_search_each_filter(client: McpClient, fx: Fixture) -> None:
    def found(**filters: str) -> set[str]:
        return {r["id"] for r in client.call("search", filters=filters)["items"]}

    i = fx.ids
    assert found(tag="sweep") == {i["B"], i["C"]}
    assert found(status="failed") == {i["F"]}
    assert found(status="running") == {i["L"]}
    assert found(status="completed") == {i["A"], i["B"], i["C"], i["D"], i["E"]}
    assert found(experiment_prefix="cifar") == {i["E"], i["L"]}
    by_id = {r["id"]: r for r in client.call("list_runs")["items"]}
    pivot = by_id[i["D"]]["started_at"]
    after = found(started_after=pivot)
    assert {i["F"], i["E"], i["L"]} <= after and not {i["A"], i["B"], i["C"]} & after
    assert i["A"] in found(started_before=pivot) and i["E"] not in found(started_before=pivot)
    assert found(tag="sweep", experiment_prefix="imagenet/resnet50/v1") == {i["B"], i["C"]}
    assert client.call("search", query="lr", filters={"tag": "sweep"})["total"] == 2


def test_list_todos_scopes_and_order(client: McpClient, fx: Fixture) -> None:
    glob = client.call("list_todos")
    assert [t["content"] for t in glob["items"]] == ["write the paper", "tidy configs"]
    assert {"id", "scope_type", "scope_id", "content", "priority", "done", "created_at"} <= set(glob["items"][0])
    with_done = client.call("list_todos", include_done=True)
    assert [t["content"] for t in with_done["items"]] == ["write the paper", "done already", "tidy configs"]
    run_todos = client.call("list_todos", scope_type="run", scope_id=fx.ids["A"])
    assert [t["content"] for t in run_todos["items"]] == ["check the spike"]
    exp_id = client.call("get_run", run_id=fx.ids["A"])["experiment_id"]
    assert [t["content"] for t in client.call("list_todos", scope_type="experiment", scope_id=exp_id)["items"]] == [
        "compare optimisers"]
    assert "scope_id" in client.error("list_todos", scope_type="run")
    assert "scope_id" in client.error("list_todos", scope_type="global", scope_id=fx.ids["A"])


def test_lineage_diamond_depth_and_direction(client: McpClient, fx: Fixture) -> None:
    i = fx.ids
    up = client.call("get_lineage", node_type="run", node_id=i["D"], direction="ancestors", depth=2)
    assert set(up) == {"root", "nodes", "edges"}
    node_ids = [n["id"] for n in up["nodes"]]
    assert up["root"]["id"] == i["D"], "the start node is root, and only there"
    assert sorted(node_ids) == sorted({i["A"], i["B"], i["C"]}), "A is reached twice but listed once"
    assert {(e["parent_id"], e["child_id"]) for e in up["edges"]} == {
        (i["B"], i["D"]), (i["C"], i["D"]), (i["A"], i["B"]), (i["A"], i["C"])}
    assert len(up["edges"]) == 4
    assert all(e["relation"] == "derived_from" for e in up["edges"])
    labels = {n["id"]: n["label"] for n in up["nodes"]}
    assert labels[i["A"]] == "imagenet/resnet50/v1#base"
    one = client.call("get_lineage", node_type="run", node_id=i["D"], direction="ancestors", depth=1)
    assert sorted(n["id"] for n in one["nodes"]) == sorted([i["B"], i["C"]])
    down = client.call("get_lineage", node_type="run", node_id=i["A"], direction="descendants", depth=5)
    # A registered a model (an edge model -> A, issue 16) that the finetune run E derives from
    assert sorted(n["id"] for n in down["nodes"]) == sorted([i["B"], i["C"], i["D"], fx.model_id, i["E"]])
    model = client.call("get_lineage", node_type="model", node_id=fx.model_id)
    assert model["root"]["label"] == "resnet@v1" and {n["label"] for n in model["nodes"]} >= {"cifar/vit/base#finetune"}
    for bad in (0, 6):
        assert client.error("get_lineage", node_type="run", node_id=i["D"], depth=bad) == (
            f"Error executing tool get_lineage: depth must be an integer from 1 to 5, got {bad}")


def test_list_models(client: McpClient, fx: Fixture) -> None:
    page = client.call("list_models")
    assert page["total"] == 1
    model = page["items"][0]
    assert {"id", "name", "version", "run_id", "framework", "artifact_path", "metadata", "created_at"} <= set(model)
    assert (model["id"], model["name"], model["version"], model["run_id"]) == (fx.model_id, "resnet", "v1", fx.ids["A"])
    assert model["framework"] == "pytorch" and model["metadata"] == {"top1": 0.8}
    assert client.call("list_models", name_prefix="res")["total"] == 1
    assert client.call("list_models", name_prefix="vit")["items"] == []


def test_vault_log_commits_with_their_runs(client: McpClient, fx: Fixture) -> None:
    log = client.call("vault_log")
    assert log["branch"] == "main" and log["truncated"] is False
    assert [c["sha"] for c in log["items"]] == fx.commits
    newest, oldest = log["items"]
    assert newest["summary"] == "train v2" and newest["parents"] == [fx.commits[1]]
    assert {r["id"] for r in newest["runs"]} >= {fx.ids["E"]}
    assert {r["id"] for r in oldest["runs"]} == {fx.ids[k] for k in "ABCDF"}
    a = next(r for r in oldest["runs"] if r["id"] == fx.ids["A"])
    assert a["metrics"] == {"acc": 0.8, "loss": 0.5} and a["dirty"] is False
    one = client.call("vault_log", limit=1)
    assert len(one["items"]) == 1 and one["truncated"] is True


def test_concurrent_calls_are_answered(client: McpClient, fx: Fixture) -> None:
    async def many() -> list[Any]:
        calls = [client.session.call_tool("get_run", {"run_id": fx.ids[k]}) for k in "ABCDEFL"]
        calls += [client.session.call_tool("list_runs", {"limit": 3}) for _ in range(5)]
        return list(await asyncio.gather(*calls))

    results = client.run(many())
    assert not any(r.is_error for r in results)
    assert [json.loads(r.content[0].text)["id"] for r in results[:7]] == [fx.ids[k] for k in "ABCDEFL"]


# -- errors, verbatim --------------------------------------------------------------------------


def test_list_runs_and_search_take_where_sort_and_cursor(client: McpClient, fx: Fixture) -> None:
    i = fx.ids
    assert names(client.call("list_runs", where="metrics.loss < 0.35", sort="metrics.loss")) == [
        "merged 50%", "finetune", "lr_0.01"]
    assert names(client.call("search", query="lr", where="config.opt.name = 'sgd'")) == ["lrx0.01"]
    assert [r["id"] for r in client.call("list_runs", where="params.arch = 'resnet50'")["items"]] == [i["A"]]
    assert names(client.call("list_runs", where="status in ('running', 'failed')", sort="name")) == [
        "crashy", "live-run"]
    seen: list[str] = []
    page = client.call("list_runs", sort="-metrics.acc", limit=3)
    assert [r["id"] for r in page["items"]] == [i["D"], i["C"], i["A"]] and page["total"] == 7
    while True:
        seen += [r["id"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        page = client.call("list_runs", sort="-metrics.acc", limit=3, cursor=page["next_cursor"])
    assert len(seen) == len(set(seen)) == 7 and seen[3] == i["L"]
    assert client.error("list_runs", where="metric.loss < 1").endswith(
        "unknown field 'metric.loss' at 1: use metrics.NAME, config.PATH, params.NAME, tag, status, experiment, "
        "name, id, hostname, started, ended (did you mean 'metrics.loss'?)")
    assert "cursor is not a next_cursor" in client.error("search", cursor="nope")


def test_error_texts_reach_the_agent_verbatim(client: McpClient, fx: Fixture) -> None:
    seed = [
        ("get_run", {"run_id": "X"}, "Run not found: 'X'"),
        ("compare_runs", {"run_ids": [fx.ids["A"]]}, "compare_runs requires at least 2 run_ids (got 1)"),
        ("search", {"filters": {"colour": "red"}}, f"Unknown filter: 'colour'. Valid filters: {VALID_FILTERS}"),
    ]
    for tool, args, text in seed:
        assert client.error(tool, **args) == f"Error executing tool {tool}: {text}"
    assert client.error("get_curves", run_id="X").endswith("Run not found: 'X'")
    assert client.error("get_lineage", node_type="run", node_id="X").endswith("Run not found: 'X'")
    assert "Error executing tool search" in client.error("search", filters={"status": "exploded"})
    assert "exploded" in client.error("search", filters={"status": "exploded"})
    assert "yesterday" in client.error("search", filters={"started_after": "yesterday"})
    assert "Error executing tool" in client.error("get_lineage", node_type="planet", node_id="x")


def test_user_strings_never_break_the_query(client: McpClient) -> None:
    for text in ("'; DROP TABLE runs; --", "\" OR 1=1 --", "\\", "%_%"):
        assert client.call("search", query=text)["items"] == []
        assert client.call("list_experiments", prefix=text)["items"] == []
    assert client.call("list_runs")["total"] == 7


# -- read-only for real ------------------------------------------------------------------------


def test_zz_the_session_wrote_nothing(client: McpClient, fx: Fixture) -> None:
    """Runs last: after every tool call above, every file under .git and .extract is unchanged."""
    after = tree_hashes(fx.root / ".git", fx.root / ".extract")
    assert sorted(set(fx.before) - set(after)) == []
    assert [p for p in fx.before if fx.before[p] != after[p]] == []
    # SQLite's own bookkeeping: the first read-only reader of a WAL database whose writer has
    # closed creates an empty -wal and the -shm index beside it. No other file may appear.
    created = set(after) - set(fx.before)
    assert created <= {".extract/extract.db-wal", ".extract/extract.db-shm"}
    if ".extract/extract.db-wal" in created:
        assert (fx.root / ".extract/extract.db-wal").stat().st_size == 0
    assert fx.live.poll() is None
