"""compare_runs, diff_runs, get_curves (downsampling keeps spikes) and lineage walks, on the vault
that tests/test_query.py builds (sealed runs, NaN/inf metrics, a diamond, a live run)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gitvault import QueryError, RecordNotFoundError
from gitvault.query import Query, downsample
from tests.test_query import World, q, world  # noqa: F401 - module-scoped fixtures

# -- compare --------------------------------------------------------------------------------------


def test_compare_counts_are_checked_with_the_seed_texts(q: Query, world: World) -> None:  # noqa: F811
    with pytest.raises(QueryError) as err:
        q.compare_runs([world.runs["a_b"]])
    assert str(err.value) == "compare_runs requires at least 2 run_ids (got 1)"
    with pytest.raises(QueryError) as err:
        q.compare_runs([])
    assert str(err.value) == "compare_runs requires at least 2 run_ids (got 0)"
    with pytest.raises(QueryError) as err:
        q.compare_runs([world.runs["a_b"]] * 11)
    assert str(err.value) == "compare_runs accepts at most 10 run_ids (got 11)"
    with pytest.raises(QueryError, match="more than once"):
        q.compare_runs([world.runs["a_b"], world.runs["a_b"][:-1]])
    with pytest.raises(RecordNotFoundError) as missing:
        q.compare_runs([world.runs["a_b"], "NOPE"])
    assert str(missing.value) == "Run not found: 'NOPE'"
    with pytest.raises(QueryError, match="list of run ids"):
        q.compare_runs(world.runs["a_b"])  # type: ignore[arg-type]


def test_compare_ranks_by_direction_with_nan_and_inf_last(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    ids = [r["a_b"], r["axb"], r["nan_run"], r["inf_run"], r["Ünïcode"], r["live_one"]]
    out = q.compare_runs([i[:-2] for i in ids])
    assert [x["id"] for x in out["runs"]] == ids
    assert out["runs"][0]["config"] == {"lr": 0.1, "method": {"lora_r": 8, "alpha": 16}}
    loss, acc = out["metrics"]["loss"], out["metrics"]["acc"]
    assert loss["direction"] == "min" and acc["direction"] == "max"
    assert loss["ranking"] == [r["live_one"], r["Ünïcode"], r["axb"], r["a_b"], r["inf_run"], r["nan_run"]]
    assert acc["ranking"] == [r["live_one"], r["nan_run"], r["a_b"], r["Ünïcode"], r["inf_run"], r["axb"]]
    assert loss["values"][r["nan_run"]] is None and loss["values"][r["inf_run"]] == math.inf
    assert loss["values"][r["live_one"]] == 0.05
    assert "curves" not in out


def test_compare_config_diffs_flatten_nested_keys_and_skip_equal_ones(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    diffs = q.compare_runs([r["a_b"], r["axb"], r["nan_run"]])["config_diffs"]
    assert diffs == {
        "lr": {r["a_b"]: 0.1, r["axb"]: 0.2, r["nan_run"]: 0.3},
        "method.lora_r": {r["a_b"]: 8, r["axb"]: 16, r["nan_run"]: 16},
        "extra": {r["a_b"]: None, r["axb"]: None, r["nan_run"]: True},
    }
    assert "method.alpha" not in diffs
    same = q.compare_runs([r["axb"], r["live_one"]])["config_diffs"]
    assert set(same) == {"lr", "method.lora_r"}


def test_compare_curves_from_blobs_and_the_live_spool(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    out = q.compare_runs([r["a_b"], r["spiky"], r["live_one"]], include_curves=True, max_points=100)
    curves = out["curves"]
    assert set(curves) == {"loss", "acc", "grad"}
    assert curves["loss"][r["a_b"]] == [[s, 1.0 / (s + 1)] for s in range(20)]
    assert curves["loss"][r["live_one"]] == [[s, 2.0 - s / 100] for s in range(50)]
    spiky = curves["loss"][r["spiky"]]
    assert len(spiky) <= 100 and [537, 100.0] in spiky
    assert [613, -50.0] in curves["grad"][r["spiky"]]
    assert set(curves["grad"]) == {r["spiky"]}
    every = q.compare_runs([r["a_b"], r["spiky"]], include_curves=True, max_points=None, curve_names=["grad"])
    assert set(every["curves"]) == {"grad"} and len(every["curves"]["grad"][r["spiky"]]) == 1000


def test_diff_runs(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    diff = q.diff_runs(r["a_b"], r["nan_run"][:-1])
    assert diff["a"]["id"] == r["a_b"] and diff["b"]["id"] == r["nan_run"]
    assert diff["config"] == {"added": {"extra": True}, "removed": {},
                              "changed": {"lr": {"a": 0.1, "b": 0.3}, "method.lora_r": {"a": 8, "b": 16}}}
    assert diff["metrics"]["acc"] == {"direction": "max", "a": 0.8, "b": 0.95, "delta": pytest.approx(0.15), "better": "b"}
    assert diff["metrics"]["loss"] == {"direction": "min", "a": 0.5, "b": None, "delta": None, "better": None}
    live = q.diff_runs(r["live_one"], r["axb"])
    assert live["metrics"]["loss"]["better"] == "a"
    assert live["config"]["changed"]["method.lora_r"] == {"a": 32, "b": 16}


# -- curves ---------------------------------------------------------------------------------------


def test_get_curves_downsamples_keeping_spikes(q: Query, world: World) -> None:  # noqa: F811
    out = q.get_curves(world.runs["spiky"], max_points=50)
    assert out["run_id"] == world.runs["spiky"] and out["points"] == {"loss": 1000, "grad": 1000}
    loss = out["curves"]["loss"]
    assert len(loss) <= 50 and [537, 100.0] in loss
    assert loss[0][0] == 0 and loss[-1][0] == 999
    assert [s for s, _ in loss] == sorted(s for s, _ in loss)
    assert [613, -50.0] in out["curves"]["grad"]
    assert set(q.get_curves(world.runs["spiky"], names=["grad"])["curves"]) == {"grad"}
    full = q.get_curves(world.runs["a_b"], max_points=None)
    assert len(full["curves"]["acc"]) == 20
    live = q.get_curves(world.live.id)
    assert live["points"] == {"loss": 50} and live["curves"]["loss"][0] == [0, 2.0]
    for bad in (3, 0, "10", True):
        with pytest.raises(QueryError, match="max_points"):
            q.get_curves(world.runs["spiky"], max_points=bad)  # type: ignore[arg-type]


def test_downsample_keeps_extremes_and_non_finite_points() -> None:
    steps = np.arange(100_000, dtype=np.int64)
    values = np.sin(steps / 1000.0)
    values[12_345] = 50.0
    values[54_321] = -50.0
    values[77_777] = np.nan
    values[88_888] = np.inf
    s, v = downsample(steps, values, 200)
    assert len(s) <= 200 and np.all(np.diff(s) > 0)
    kept = dict(zip(s.tolist(), v.tolist()))
    assert kept[12_345] == 50.0 and kept[54_321] == -50.0 and math.isnan(kept[77_777]) and kept[88_888] == math.inf
    assert s[0] == 0 and s[-1] == 99_999
    same_s, same_v = downsample(steps[:10], values[:10], 200)
    assert same_s.tolist() == list(range(10))


# -- lineage --------------------------------------------------------------------------------------


def _ids(result: dict[str, Any]) -> set[tuple[str, str]]:
    root = (result["root"]["type"], result["root"]["id"])
    assert root not in {(n["type"], n["id"]) for n in result["nodes"]}, "the root is in root, not in nodes"
    return {root} | {(n["type"], n["id"]) for n in result["nodes"]}


def test_lineage_descendants_visit_a_diamond_once(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    out = q.get_lineage("run", r["a_b"], "descendants", depth=2)
    assert out["root"] == {"type": "run", "id": r["a_b"], "label": "imagenet/resnet/v1#a_b"}
    assert r["a_b"] not in [n["id"] for n in out["nodes"]]
    # a_b and axb produced resnet_ft@v1 and @v2 (a registered model has an edge from its run), and
    # vit_run derives from resnet_ft@v1: two steps from a_b through the model
    labels = {n["label"]: n["id"] for n in out["nodes"] if n["type"] == "model"}
    assert set(labels) == {"resnet_ft@v1", "resnet_ft@v2"}
    m1, m2 = labels["resnet_ft@v1"], labels["resnet_ft@v2"]
    runs = {("run", r[n]) for n in ("a_b", "axb", "nan_run", "inf_run", "vit_run")}
    assert _ids(out) == runs | {("model", m1), ("model", m2)}
    assert len(out["nodes"]) == 6  # every node once (the diamond's inf_run too), the root not among them
    pairs = sorted((e["parent_id"], e["child_id"]) for e in out["edges"])
    assert pairs == sorted([(r["a_b"], r["axb"]), (r["a_b"], r["nan_run"]), (r["axb"], r["inf_run"]),
                            (r["nan_run"], r["inf_run"]), (r["a_b"], m1), (r["axb"], m2), (m1, r["vit_run"])])
    assert all(e["relation"] == "derived_from" for e in out["edges"])


def test_lineage_depth_bounds(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    chain = ["a_b", "axb", "inf_run", "Ünïcode", "vit_run", "spiky"]
    for depth in range(1, 6):
        out = q.get_lineage("run", r["a_b"], "descendants", depth=depth)
        assert {("run", r[n]) for n in chain[: depth + 1]} <= _ids(out)
        if depth < 3:  # past that the chain is shorter through resnet_ft@v1 (a_b -> model -> vit_run)
            assert ("run", r[chain[depth + 1]]) not in _ids(out)
    assert ("run", r["vit_run"]) not in _ids(q.get_lineage("run", r["a_b"], "descendants", depth=1))
    assert ("run", r["vit_run"]) in _ids(q.get_lineage("run", r["a_b"], "descendants", depth=2))
    assert ("run", r["spiky"]) in _ids(q.get_lineage("run", r["a_b"], "descendants", depth=5))
    for bad in (0, 6, -1, 2.0, "2", True):
        with pytest.raises(QueryError, match="depth must be an integer from 1 to 5"):
            q.get_lineage("run", r["a_b"], depth=bad)  # type: ignore[arg-type]


def test_lineage_ancestors_both_and_labels(q: Query, world: World) -> None:  # noqa: F811
    r = world.runs
    up = q.get_lineage("run", r["inf_run"], "ancestors", depth=5)
    labels = {n["id"]: n["label"] for n in up["nodes"]}
    assert set(labels) == {r["axb"], r["nan_run"], r["a_b"], world.exp_ids["v1"]}  # the root is up["root"]
    assert labels[world.exp_ids["v1"]] == "imagenet/resnet/v1"
    both = q.get_lineage("run", r["vit_run"], "both", depth=1)
    model_node = next(n for n in both["nodes"] if n["type"] == "model")
    assert model_node["label"] == "resnet_ft@v1"
    assert _ids(both) == {("run", r["vit_run"]), ("run", r["Ünïcode"]), ("run", r["spiky"]), ("model", model_node["id"])}
    by_model = q.get_lineage("model", "resnet_ft@v1", "descendants", depth=1)
    assert by_model["root"]["label"] == "resnet_ft@v1" and ("run", r["vit_run"]) in _ids(by_model)
    assert q.get_lineage("model", model_node["id"])["root"]["id"] == model_node["id"]
    by_path = q.get_lineage("experiment", "imagenet/resnet/v1", "descendants", depth=1)
    assert by_path["root"] == {"type": "experiment", "id": world.exp_ids["v1"], "label": "imagenet/resnet/v1"}
    assert ("run", r["a_b"]) in _ids(by_path)
    lonely = q.get_lineage("run", r["live_one"])
    assert lonely["nodes"] == [] and lonely["edges"] == []
    assert lonely["root"]["label"] == "imagenet/resnet/v1#live_one"


def test_lineage_errors(q: Query, world: World) -> None:  # noqa: F811
    with pytest.raises(QueryError, match="node_type must be one of experiment, run, model"):
        q.get_lineage("dataset", "x")
    with pytest.raises(QueryError, match="direction must be one of ancestors, descendants, both"):
        q.get_lineage("run", world.runs["a_b"], "up")
    with pytest.raises(RecordNotFoundError, match="Run not found: 'NOPE'"):
        q.get_lineage("run", "NOPE")
    with pytest.raises(RecordNotFoundError, match="Model not found: 'resnet_ft@v9'"):
        q.get_lineage("model", "resnet_ft@v9")
    with pytest.raises(RecordNotFoundError, match="Experiment not found: 'no/such'"):
        q.get_lineage("experiment", "no/such")
