"""The read commands (`runs`, `show`, `compare`, `diff`, `sql`, `experiments`, `models`, `lineage`)
run for real against one vault built by `git vault demo`, including their error paths."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import make_repo, vault_cmd, vault_run
from tests.test_cache import SEED_QUERIES

SPECIMEN = "example_2024_12_19_synthetic_demo"
READ_COMMANDS = ("runs", "show", "compare", "diff", "sql", "experiments", "models", "lineage")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("cli-read") / "project", "demo")


def ok(root: Path, *args: str) -> str:
    """The command's stdout, run in-process (`vault_run`; a few tests keep the real subprocess)."""
    return vault_run(root, *args, check=True).stdout


def as_json(root: Path, *args: str) -> Any:
    return json.loads(ok(root, *args, "--json"))


def fails(root: Path, *args: str) -> str:
    """A user error: one line on stderr starting `git vault: error:`, exit 1, no traceback."""
    proc = vault_run(root, *args)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("git vault: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def runs(demo: Path) -> dict[str, dict[str, Any]]:
    """The demo's runs by label (read commands change nothing, so one listing serves all tests)."""
    return {r["label"]: r for r in as_json(demo, "runs")["items"]}


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_every_read_command_has_help(demo: Path, command: str) -> None:
    out = ok(demo, command, "--help")
    assert out.startswith(f"usage: git vault {command}") and "--json" in out


def test_runs_lists_every_demo_run_newest_first(demo: Path) -> None:
    page = as_json(demo, "runs")
    items = page["items"]
    assert page["total"] == len(items) == 14 and not page["truncated"]
    starts = [r["started_at"] for r in items]
    assert starts == sorted(starts, reverse=True)
    statuses = {r["label"]: r["status"] for r in items}
    assert statuses["imagenet/vit-b16/baseline#vit-no-warmup"] == "failed"
    assert statuses[f"{SPECIMEN}#protocol"] == "completed"
    table = ok(demo, "runs")
    assert table.splitlines()[0].split()[:4] == ["ID", "EXPERIMENT", "NAME", "STATUS"]
    assert "imagenet/resnet50/lr-sweep" in table and "FINAL_ACC" in table.splitlines()[0]


def test_runs_filters(demo: Path) -> None:
    def labels(*args: str) -> set[str]:
        return {r["label"] for r in as_json(demo, "runs", *args)["items"]}

    sweep = labels("imagenet/resnet50/lr-sweep")
    assert sweep == {f"imagenet/resnet50/lr-sweep#{n}" for n in ("lr-1e-3", "lr-3e-3", "lr-1e-2")}
    assert labels("--experiment", "imagenet/resnet50/lr-sweep") == sweep
    assert labels("--status", "failed") == {"imagenet/vit-b16/baseline#vit-no-warmup"}
    assert labels("--tag", "production-candidate") == {"imagenet/resnet50/lr-sweep#lr-3e-3"}
    assert labels("--text", "WARMUP", "--tag", "needs-warmup") == {"imagenet/resnet50/lr-sweep#lr-1e-2"}  # tagged after sealing
    assert labels("--text", "no warmup: the loss") == {"imagenet/vit-b16/baseline#vit-no-warmup"}  # a note
    assert labels("cifar10", "--tag", "augment") == {f"cifar10/resnet18/augment#{n}" for n in ("base", "crop", "flip", "crop-flip")}
    assert labels("--since", "2000-01-01", "--until", "2000-12-31") == set()
    assert len(labels("--since", "2000-01-01", "--until", "2999-12-31T23:59")) == 14
    limited = as_json(demo, "runs", "--limit", "2")
    assert len(limited["items"]) == 2 and limited["total"] == 14 and limited["truncated"]
    assert "(2 of 14 runs" in ok(demo, "runs", "--limit", "2")


def test_runs_bad_filters_are_one_line_errors(demo: Path) -> None:
    assert "'finished' is not a run status" in fails(demo, "runs", "--status", "finished")
    assert "--since 'the day before' is not a date" in fails(demo, "runs", "--since", "the day before")
    assert "--until '2024-13-45' is not a date" in fails(demo, "runs", "--until", "2024-13-45")
    assert "two experiment prefixes" in fails(demo, "runs", "imagenet", "--experiment", "cifar10")
    assert "--limit must be a positive number" in fails(demo, "runs", "--limit", "0")


def test_show_by_unique_prefix(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    run = runs["imagenet/resnet50/lr-sweep#lr-3e-3"]
    detail = as_json(demo, "show", run["id"][:16])
    assert detail["id"] == run["id"] and detail["status"] == "completed"
    assert detail["config"]["optimizer"]["schedule"]["kind"] == "cosine"
    assert set(detail["metrics_final"]) == {"final_acc", "final_loss"}
    assert detail["run_params"] == {"arch": "resnet50", "optimizer": "sgd"}
    assert detail["curves"]["names"] == ["train_loss", "train_acc", "val_loss"] and detail["curves"]["points"] == 180
    assert {(a["name"], a["kind"]) for a in detail["artifacts"]} == {("confusion_matrix", "matrix"), ("observations", "text")}
    assert "production-candidate" in detail["tags"]
    text = ok(demo, "show", run["id"][:16])
    for expected in (f"run {run['id']}", "status:   completed", "optimizer.schedule.kind = 'cosine'",
                     "final_acc = ", "curves (180 points, last step 59 of 60)", "confusion_matrix", "lr=0.003"):
        assert expected in text, expected


def test_show_failed_run_has_its_todo_and_note(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    run = runs["imagenet/vit-b16/baseline#vit-no-warmup"]
    detail = as_json(demo, "show", run["id"])
    assert detail["status"] == "failed"
    assert "no warmup" in detail["notes"]
    assert [t["content"] for t in detail["todos"]] == ["Investigate the divergence at step 30"]
    assert detail["curves"]["last_step"] == 31


def test_show_unknown_and_ambiguous_ids(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    assert fails(demo, "show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ") == "git vault: error: Run not found: '01ZZZZZZZZZZZZZZZZZZZZZZZZ'"
    prefix = next(iter(runs.values()))["id"][:2]
    assert "ambiguous" in fails(demo, "show", prefix)


def test_compare_ranks_metrics_and_shows_config_differences(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    ids = [runs[f"imagenet/resnet50/lr-sweep#{n}"]["id"] for n in ("lr-1e-3", "lr-3e-3", "lr-1e-2")]
    result = as_json(demo, "compare", *(i[:14] for i in ids))
    assert [r["id"] for r in result["runs"]] == ids
    acc = result["metrics"]["final_acc"]
    assert acc["direction"] == "max" and acc["ranking"][0] == ids[1]
    loss = result["metrics"]["final_loss"]
    assert loss["direction"] == "min" and loss["ranking"][0] == ids[1]
    assert result["config_diffs"]["optimizer.name"] == {ids[0]: "sgd", ids[1]: "sgd", ids[2]: "adamw"}
    assert "curves" not in result
    text = ok(demo, "compare", *ids)
    assert "metrics (* = best)" in text and "optimizer.schedule.kind" in text
    best_row = next(line for line in text.splitlines() if line.startswith("final_acc"))
    assert best_row.split()[-1] == "B" and best_row.split()[3].endswith("*")


def test_compare_with_curves(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    ids = [runs["cifar10/resnet18/augment#base"]["id"], runs["imagenet/vit-b16/baseline#vit-no-warmup"]["id"]]
    result = as_json(demo, "compare", *ids, "--curves")
    assert len(result["curves"]["train_loss"][ids[0]]) == 60
    assert len(result["curves"]["train_loss"][ids[1]]) == 32  # diverged at step 30, failed at 31
    assert result["metrics"]["final_acc"]["ranking"] == [ids[0]]
    assert "curves (last value / points)" in ok(demo, "compare", *ids, "--curves")


def test_compare_needs_two_to_ten_distinct_runs(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    ids = [r["id"] for r in runs.values()]
    assert "at least 2 run_ids (got 1)" in fails(demo, "compare", ids[0])
    assert "at most 10" in fails(demo, "compare", *ids[:11])
    assert "Run not found: 'nope'" in fails(demo, "compare", ids[0], "nope")


def test_diff_two_runs(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["imagenet/resnet50/lr-sweep#lr-1e-3"]["id"], runs["imagenet/resnet50/lr-sweep#lr-1e-2"]["id"]
    result = as_json(demo, "diff", a, b)
    assert result["config"]["changed"]["lr"] == {"a": 0.001, "b": 0.01}
    assert "optimizer.betas" in result["config"]["added"] and "optimizer.momentum" in result["config"]["removed"]
    assert result["metrics"]["final_loss"]["direction"] == "min"
    text = ok(demo, "diff", a[:14], b[:14])
    assert "~ lr: 0.001 -> 0.01" in text and "+ optimizer.betas" in text and "- optimizer.momentum" in text
    assert "final_acc (max)" in text
    assert "Run not found" in fails(demo, "diff", a, "01ZZZZZZZZZZZZZZZZZZZZZZZZ")


def test_the_seven_seed_queries_pass_verbatim(demo: Path) -> None:
    results = {name: pl.DataFrame(as_json(demo, "sql", sql)) for name, sql in SEED_QUERIES.items()}
    assert len(results) == 7
    assert results["catalog_by_domain"]["specimen_id"].to_list() == [SPECIMEN]
    assert results["view_filter"].height > 0 and (results["view_filter"]["loss"] < 0.5).all()
    assert results["recent_interpretability"]["tags"].to_list() == [["synthetic", "gpt2", "layer_12"]]
    assert sorted(results["tag_search"]["specimen_id"].to_list()) == sorted([SPECIMEN, "2024_12_21_lora_ablation"])
    assert SPECIMEN in results["date_range"]["specimen_id"].to_list()
    metrics = results["specimen_metrics"]
    assert metrics.columns == ["step", "loss", "accuracy"] and sorted(metrics["step"].to_list()) == list(range(50, 100))
    agg = results["aggregate"].row(0, named=True)
    assert agg["experiment"] == "example" and 0 < agg["min_loss"] < agg["mean_loss"]


def test_sql_formats(demo: Path, tmp_path: Path) -> None:
    query = "SELECT specimen_id, tags FROM catalog ORDER BY specimen_id"
    table = ok(demo, "sql", query)
    assert table.splitlines()[0].split() == ["SPECIMEN_ID", "TAGS"] and table.rstrip().endswith("(3 rows)")
    rows = list(csv.DictReader(io.StringIO(ok(demo, "sql", query, "--format", "csv"))))
    assert [r["specimen_id"] for r in rows] == ["2024_12_20_probe_sweep", "2024_12_21_lora_ablation", SPECIMEN]
    assert json.loads(rows[2]["tags"]) == ["synthetic", "gpt2", "layer_12"]
    assert json.loads(ok(demo, "sql", query, "--format", "json")) == as_json(demo, "sql", query)
    target = tmp_path / "out.parquet"
    assert "wrote 3 rows x 2 columns" in ok(demo, "sql", query, "--parquet", str(target))
    assert pl.read_parquet(target)["specimen_id"].to_list()[2] == SPECIMEN


def test_sql_cross_run_ranking(demo: Path) -> None:
    best = as_json(demo, "sql", "SELECT r.experiment_path, r.name, m.value FROM metrics m JOIN runs r USING (run_id) "
                                "WHERE m.name = 'final_acc' ORDER BY m.value DESC LIMIT 3")
    assert len(best) == 3 and best[0]["value"] >= best[1]["value"] >= best[2]["value"]
    points = as_json(demo, "sql", "SELECT count(*) AS n FROM curves")[0]["n"]
    assert points > 2000


def test_sql_errors(demo: Path, tmp_path: Path) -> None:
    assert "syntax error" in fails(demo, "sql", "SELEC 1")
    assert "nope does not exist" in fails(demo, "sql", "SELECT * FROM nope")
    assert "empty" in fails(demo, "sql", "  ")
    assert "contradict" in fails(demo, "sql", "SELECT 1", "--json", "--format", "csv")
    fails(demo, "sql", "CREATE TABLE t (x INT)")  # the catalog is opened read-only
    assert "cannot write" in fails(demo, "sql", "SELECT 1", "--parquet", str(tmp_path / "missing" / "x.parquet"))


def test_experiments(demo: Path) -> None:
    items = {e["path"]: e for e in as_json(demo, "experiments")["items"]}
    assert items["imagenet/resnet50/lr-sweep"]["n_runs"] == 3
    assert items["imagenet/resnet50/lr-sweep"]["node_type"] == "variant"
    spec = items[SPECIMEN]
    assert (spec["specimen_id"], spec["domain"], spec["method"], spec["model"]) == (SPECIMEN, "interpretability", "sae_analysis", "gpt2")
    assert {e["path"] for e in as_json(demo, "experiments", "cifar10")["items"]} == {
        "cifar10", "cifar10/resnet18", "cifar10/resnet18/augment"}
    assert as_json(demo, "experiments", "nothing-here")["items"] == []
    text = ok(demo, "experiments")
    assert "interpretability/sae_analysis" in text and "variant" in text
    assert ok(demo, "experiments", "nothing-here").strip() == "(none)"


def test_models(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    models = as_json(demo, "models")["items"]
    assert [f"{m['name']}@{m['version']}" for m in models] == [
        "baseline-imagenet@v0.9", "resnet50-imagenet@v1.0", "vit-b16-imagenet@v1.0"]
    sweep = runs["imagenet/resnet50/lr-sweep#lr-3e-3"]["id"]
    assert models[1]["run_id"] == sweep and models[1]["metadata"]["top1"] == 0.91
    assert [m["name"] for m in as_json(demo, "models", "vit")["items"]] == ["vit-b16-imagenet"]
    assert "resnet50-imagenet@v1.0" in ok(demo, "models")


def test_lineage_diamond_from_a_run(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    top = runs["cifar10/resnet18/augment#crop-flip"]["id"]
    graph = as_json(demo, "lineage", top[:14], "--direction", "ancestors", "--depth", "3")
    labels = [n["label"] for n in graph["nodes"]]
    assert graph["root"]["id"] == top
    assert sorted(labels) == sorted(f"cifar10/resnet18/augment#{n}" for n in ("crop", "flip", "base"))  # and the root
    assert len(graph["edges"]) == 4  # the diamond's shared ancestor once, both edges into it
    one = as_json(demo, "lineage", top, "--direction", "ancestors", "--depth", "1")
    assert len(one["nodes"]) == 2
    text = ok(demo, "lineage", top, "--depth", "3")
    assert "--derived_from-->" in text and "(4 nodes, 4 edges" in text


def test_lineage_of_a_model_and_an_experiment(demo: Path) -> None:
    model = as_json(demo, "lineage", "resnet50-imagenet@v1.0")
    assert model["root"]["type"] == "model" and model["root"]["label"] == "resnet50-imagenet@v1.0"
    assert {n["label"] for n in model["nodes"]} >= {"imagenet/resnet50/finetune#finetune-from-v1"}
    by_id = as_json(demo, "lineage", model["root"]["id"])
    assert by_id["root"] == model["root"]
    exp = as_json(demo, "lineage", "imagenet/resnet50/lr-sweep", "--direction", "descendants")
    assert exp["root"]["type"] == "experiment"
    assert [e["relation"] for e in exp["edges"]] == ["branched_from"]
    baseline = as_json(demo, "lineage", "baseline-imagenet@v0.9", "--direction", "descendants", "--depth", "1")
    assert len(baseline["edges"]) == 3  # the three sweep runs derive from it
    forced = as_json(demo, "lineage", "imagenet/resnet50/lr-sweep", "--type", "experiment")
    assert forced["root"]["type"] == "experiment"


def test_lineage_errors(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    assert "no run, model or experiment matches 'nowhere'" in fails(demo, "lineage", "nowhere")
    assert "Model not found" in fails(demo, "lineage", "resnet50-imagenet@v9")
    assert "depth must be an integer from 1 to 5" in fails(demo, "lineage", "imagenet/resnet50/lr-sweep", "--depth", "9")
    prefix = next(iter(runs.values()))["id"][:2]
    assert "ambiguous" in fails(demo, "lineage", prefix)
    proc = vault_cmd(demo, "lineage", "x", "--direction", "sideways")
    assert proc.returncode == 2 and "git vault: error: argument --direction" in proc.stderr


def test_read_commands_outside_a_vault(repo: Path) -> None:
    assert "no vault yet" in fails(repo, "runs")
    assert "no vault yet" in fails(repo, "sql", "SELECT 1")


def test_runs_table_shows_the_newest_hundred_unless_asked(tmp_path: Path) -> None:
    from gitvault import Store
    from tests.conftest import make_repo, vault_run

    repo = make_repo(tmp_path / "many", "init")
    exp = Store(repo).experiment({"benchmark": "b", "model": "m"})
    for i in range(105):
        with exp.run(name=f"r{i:03d}"):
            pass
    table = vault_run(repo, "runs", check=True).stdout.splitlines()
    assert len(table) == 1 + 100 + 1 and table[-1] == "(100 of 105 runs; raise --limit to see more)"
    assert "r104" in table[1] and "r004" not in "\n".join(table)
    assert len(vault_run(repo, "runs", "--all", check=True).stdout.splitlines()) == 1 + 105
    import json

    assert len(json.loads(vault_run(repo, "runs", "--json", check=True).stdout)["items"]) == 105
    assert len(vault_run(repo, "runs", "--limit", "3", check=True).stdout.splitlines()) == 1 + 3 + 1


def test_every_command_is_built_from_its_own_module_alone() -> None:
    """`git vault CMD` builds the parser of CMD's module only: each command is found in
    ``cmd_<command>`` or in `SHARED_MODULES`."""
    import argparse
    import importlib

    from gitvault.cli.main import SHARED_MODULES, build_parser, command_modules

    for name in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        for command in sub.choices:
            parser = build_parser(command)
            chosen = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            assert set(chosen.choices) == set(sub.choices), (command, name)
    assert all(f"gitvault.cli.cmd_{module}" in command_modules() for module in SHARED_MODULES.values())
