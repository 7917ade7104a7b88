"""Store and experiments: hierarchy, taxonomy, todos, models, lineage, events after sealing,
specimen storage (Parquet frames, lazy Zarr tensors) and code facts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gitvault import ConfigError, InvalidNameError, RecordExistsError, Store

from gitvault.storage import records
from gitvault.runs.spool import SpoolReader, read_spool
from tests.conftest import git, vault_cmd


@pytest.fixture
def store(repo: Path) -> Store:
    return Store(repo)


def _tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/vault/main").stdout.strip()


def test_store_creates_the_vault_when_absent_and_opens_from_extract_dir(repo: Path) -> None:
    store = Store(repo)
    assert 'hierarchy = "benchmark > model > variant"' in git(repo, "show", "refs/vault/main:vault.toml").stdout
    assert (repo / ".extract" / "config.toml").is_file() and (repo / ".git" / "vault" / "live").is_dir()
    assert Store(repo / ".extract").root == store.root == repo / ".extract"
    sub = repo / "src"
    sub.mkdir()
    assert Store(sub).root == store.root
    assert git(repo, "status", "--porcelain").stdout == ""


def test_store_follows_a_custom_hierarchy(repo: Path) -> None:
    vault_cmd(repo, "init", "--hierarchy", "dataset > arch", check=True)
    store = Store(repo)
    assert store.experiment({"dataset": "cifar", "arch": "vit"}).node_type == "arch"
    with pytest.raises(ValueError, match="dataset > arch"):
        store.experiment({"benchmark": "cifar"})


def test_experiment_creates_intermediate_nodes_in_one_commit(store: Store, repo: Path) -> None:
    before = int(git(repo, "rev-list", "--count", "refs/vault/main").stdout)
    exp = store.experiment({"benchmark": "imagenet", "model": "resnet50", "variant": "v1"})
    assert int(git(repo, "rev-list", "--count", "refs/vault/main").stdout) == before + 1
    assert exp.id == records.experiment_id("imagenet/resnet50/v1") and exp.name == "v1"
    parent = store.get_experiment("imagenet/resnet50")
    assert exp.parent_id == parent.id and parent.node_type == "model"
    assert store.get_experiment("imagenet").parent_id is None
    tip = _tip(repo)
    again = store.experiment({"benchmark": "imagenet", "model": "resnet50", "variant": "v1"})
    assert again == exp and _tip(repo) == tip  # no-op, no commit
    partial = store.experiment({"benchmark": "imagenet"})
    assert partial.path == "imagenet" and _tip(repo) == tip
    store.experiment({"benchmark": "imagenet", "model": "vit"})
    assert [e.path for e in store.list_experiments("imagenet/")] == ["imagenet/resnet50", "imagenet/resnet50/v1", "imagenet/vit"]


@pytest.mark.parametrize("spec, match", [
    ({"model": "resnet"}, "skips level"),
    ({"benchmark": "a", "variant": "v"}, "skips level"),
    ({"benchmark": "a", "dataset": "d"}, "not a level"),
    ({}, "at least"),
])
def test_bad_specs_name_the_hierarchy(store: Store, repo: Path, spec: dict, match: str) -> None:
    tip = _tip(repo)
    with pytest.raises(ValueError, match=match) as info:
        store.experiment(spec)
    assert "benchmark > model > variant" in str(info.value)
    assert _tip(repo) == tip


def test_bad_spec_values(store: Store, repo: Path) -> None:
    tip = _tip(repo)
    for value in ("a/b", "", "x\x00", 5):
        with pytest.raises(InvalidNameError):
            store.experiment({"benchmark": value})
    with pytest.raises(TypeError):
        store.experiment("imagenet")  # type: ignore[arg-type]
    assert _tip(repo) == tip


def test_taxonomy_is_validated_against_vault_toml(store: Store, repo: Path) -> None:
    exp = store.experiment({"benchmark": "sae"}, domain="interpretability", method="sae_analysis",
                           model="gpt2", tags=["gpt2", "layer_12"], specimen_id="2024_12_19_my_experiment")
    assert (exp.domain, exp.method, exp.model, exp.tags, exp.specimen_id) == (
        "interpretability", "sae_analysis", "gpt2", ["gpt2", "layer_12"], "2024_12_19_my_experiment")
    tip = _tip(repo)
    with pytest.raises(ConfigError, match="valid domains"):
        store.experiment({"benchmark": "x"}, domain="astrology", method="sae_analysis")
    with pytest.raises(ConfigError, match="not valid for domain"):
        store.experiment({"benchmark": "x"}, domain="benchmarking", method="fine_tuning")
    with pytest.raises(ConfigError, match="both"):
        store.experiment({"benchmark": "x"}, domain="training")
    with pytest.raises(InvalidNameError, match="specimen id"):
        store.experiment({"benchmark": "x"}, specimen_id="has space")
    with pytest.raises(RecordExistsError, match="already used"):
        store.experiment({"benchmark": "other"}, specimen_id="2024_12_19_my_experiment")
    with pytest.raises(RecordExistsError, match="domain"):
        store.experiment({"benchmark": "sae"}, domain="training", method="fine_tuning")
    assert _tip(repo) == tip
    store.experiment({"benchmark": "sae"}, tags=["extra"])  # new tags on an existing node: an event
    assert store.get_experiment("sae").tags == ["gpt2", "layer_12", "extra"]


def test_todos_scope_order_and_done(store: Store) -> None:
    exp = store.experiment({"benchmark": "b"})
    low = store.todo("low", priority=0)
    high = store.todo("high", priority=2)
    mid = store.todo("mid", priority=1)
    exp_todo = exp.todo("experiment scoped")
    assert [t["id"] for t in store.list_todos()] == [high, mid, low]
    assert [t["id"] for t in store.list_todos("experiment", exp.id)] == [exp_todo]
    store.todo_done(mid)
    assert [t["id"] for t in store.list_todos()] == [high, low]
    done = [t for t in store.list_todos(include_done=True) if t["id"] == mid][0]
    assert done["done"] is True and done["completed_at"]


def test_model_directory_and_lineage(store: Store, tmp_path: Path) -> None:
    model_dir = tmp_path / "ckpt"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "config.json").write_text("{}")
    (model_dir / "sub" / "weights.bin").write_bytes(b"\x00" * 100)
    exp = store.experiment({"benchmark": "b"})
    with exp.run(name="base") as base:
        mid = base.register_model("net", "v1", model_dir, metadata={"acc": 0.9}, framework="jax")
    with exp.run(name="child") as child:
        child.derived_from(model=mid)
        child.derived_from(model="net", version="v1")
        child.derived_from(run=base.id)
        child.branched_from(experiment=exp.path)
        child.branched_from(run=base.id)
        child.branched_from(run=base.id)  # the same edge twice is one record
    [model] = store.list_models("ne")
    folder = Path(model["artifact_path"])  # the files, as links into the blob store
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "config.json", "sub/weights.bin"]
    assert model["metadata"] == {"acc": 0.9} and model["size"] == 102
    assert (folder / "sub" / "weights.bin").read_bytes() == b"\x00" * 100
    snap = store.snapshot()
    edges = sorted((e["parent_type"], e["relation"]) for e in (snap.get("lineage", i) for i in snap.ids("lineage")))
    assert edges == [("experiment", "branched_from"), ("model", "derived_from"), ("run", "branched_from"),
                     ("run", "derived_from"), ("run", "derived_from")]  # model by id and by name+version is
    # the same edge; the other run -> derived_from edge is the model's, to the run that registered it


def test_tags_and_notes_after_sealing_are_events(store: Store, repo: Path) -> None:
    with store.experiment({"benchmark": "b"}).run() as run:
        run.tag("live-tag")
    view = store.get_run(run.id)
    view.tag("later", "live-tag")
    view.note("found a bug in eval")
    store.tag_run(run.id[:20], "by-prefix")
    again = store.get_run(run.id)
    assert again.tags == ["live-tag", "later", "by-prefix"]
    assert [n["content"] for n in again.notes] == ["found a bug in eval"]
    record = git(repo, "ls-tree", "-r", "--name-only", "refs/vault/main").stdout
    assert record.count(f"{run.id}/events/") == 3


def test_specimen_storage_parquet_and_lazy_zarr(store: Store) -> None:
    activations = np.random.default_rng(0).standard_normal((100, 768)).astype(np.float32)
    with store.experiment({"benchmark": "spec"}).run() as run:
        run.write_metrics({"step": [0, 1, 2, 3], "loss": [0.5, 0.3, 0.2, float("nan")]})
        run.write_metrics(pl.DataFrame({"x": [1, 2], "label": ["a", "b"]}), name="eval")
        run.write_tensors("activations", activations)
        run.write_tensors("big", np.arange(64 * 1000, dtype=np.int64).reshape(1000, 64), chunks=(10, 64))
        run.log_table("per_step", np.eye(2), step=3)
        run.log_table("per_step", np.eye(2) * 2, step=4)
    view = store.get_run(run.id)
    frame = view.metrics_frame()
    assert frame["step"].to_list() == [0, 1, 2, 3] and frame["loss"][:3].to_list() == [0.5, 0.3, 0.2]
    assert frame["loss"].is_nan()[3]
    assert view.metric_frames()["eval"]["label"].to_list() == ["a", "b"]
    lazy = view.tensor("activations")
    assert lazy.shape == (100, 768) and lazy.dtype == np.float32
    np.testing.assert_array_equal(lazy[5], activations[5])
    big = view.tensor("big")
    assert big.chunks == (10, 64)
    np.testing.assert_array_equal(big[437], np.arange(437 * 64, 438 * 64))
    with pytest.raises(Exception):
        big[0] = 1  # read-only
    assert view.table("per_step", step=3).tolist() == np.eye(2).tolist()
    assert view.table("per_step").tolist() == (np.eye(2) * 2).tolist()
    with pytest.raises(KeyError, match="has no matrix artifact 'nope'"):
        view.table("nope")


def test_code_facts_patch_and_tree(repo: Path, store: Store) -> None:
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    with store.experiment({"benchmark": "b"}).run() as clean:
        pass
    facts = store.get_run(clean.id).record["git"]
    assert facts == {"sha": head, "branch": "main", "dirty": False, "patch": None,
                     "tree": git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()}
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "new_module.py").write_text("X = 1\n")
    (repo / ".gitignore").write_text("ignored.log\n")
    (repo / "ignored.log").write_text("noise\n")
    index_before = (repo / ".git" / "index").read_bytes()
    with store.experiment({"benchmark": "b"}).run() as dirty:
        pass
    with store.experiment({"benchmark": "b"}).run() as again:  # the same process, the same tree
        pass
    assert (repo / ".git" / "index").read_bytes() == index_before  # the user's index is untouched
    facts = store.get_run(dirty.id).record["git"]
    assert facts["dirty"] is True and facts["sha"] == head
    assert store.get_run(again.id).record["git"] == facts
    patch = store.blobs.read_bytes(facts["patch"]).decode()
    assert "new_module.py" in patch and "print('changed')" in patch and "b/ignored.log" not in patch
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the code the run ran")
    assert git(repo, "rev-parse", "HEAD^{tree}").stdout.strip() == facts["tree"]


def test_big_untracked_files_are_listed_not_hashed(repo: Path, store: Store) -> None:
    (repo / "dataset.bin").write_bytes(b"\0" * (11 * 1024 * 1024))
    (repo / "small.txt").write_text("x\n")
    with store.experiment({"benchmark": "b"}).run() as run:
        pass
    facts = store.get_run(run.id).record["git"]
    assert facts["untracked_skipped"] == ["dataset.bin"] and facts["dirty"] is True
    assert "small.txt" in store.blobs.read_bytes(facts["patch"]).decode()


def test_live_run_header_and_read_spool(store: Store) -> None:
    run = store.experiment({"benchmark": "b"}).run(config={"lr": 0.1}, name="r", total_steps=10)
    run.curve(0, loss=1.0)
    run.flush()
    state = read_spool(store.vault.paths.live_dir / run.id)
    assert state["config"] == {"lr": 0.1} and state["total_steps"] == 10 and state["pid"] > 0
    assert state["curves"]["loss"]["value"].tolist() == [1.0] and state["last_step"] == 0
    reader = SpoolReader(store.vault.paths.live_dir / run.id)
    assert reader.read()["points"] == 1
    first_offset = reader.offset
    run.curve(1, loss=0.5)
    run.log(acc=0.9)
    run.flush()
    state = reader.read()
    assert reader.offset > first_offset
    assert state["curves"]["loss"]["value"].tolist() == [1.0, 0.5] and state["metrics"]["acc"]["value"] == 0.9
    run.finish()


def test_add_todo_scopes_are_checked_before_anything_is_written(repo: Path) -> None:
    from gitvault import Store

    store = Store(repo)
    before = store.vault.tip()
    for kwargs in ({"scope_type": "lab"}, {"scope_type": "run"}, {"scope_type": "global", "scope_id": "01X"}):
        with pytest.raises(ValueError, match="scope"):
            store.add_todo("check the logs", **kwargs)
    assert store.vault.tip() == before
    exp = store.experiment({"benchmark": "imagenet"})
    tid = store.add_todo("rerun with seed 2", 2, scope_type="experiment", scope_id=exp.id)
    assert [t["id"] for t in store.list_todos("experiment", exp.id)] == [tid]
