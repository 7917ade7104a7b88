"""Merging vault tips: unions of paths, per-kind rules that never drop data, order-free results."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitvault import BlobStore, Transaction, Vault

from gitvault.storage import codec, layout
from gitvault.settings import VaultConfig
from gitvault.runs.curves import to_parquet
from gitvault.sync.merge import TreeMerger, merge_into, merge_tree_ids
from gitvault.storage.records import experiment_id, fold, model_id
from gitvault.storage.vault import new_id
from tests.conftest import git, make_repo

# -- helpers shared with test_sync ---------------------------------------------------------------

def init_repo(path: Path) -> Path:
    return make_repo(path, "init")


def experiment_record(path: str, created_at: str | None = None, **extra: Any) -> dict[str, Any]:
    parts = path.split("/")
    return {
        "path": path, "name": parts[-1],
        "parent_id": experiment_id("/".join(parts[:-1])) if len(parts) > 1 else None,
        "node_type": "experiment", "created_at": created_at or codec.utc_now(), "metadata": {},
        "status": "active", "specimen_id": None, "domain": None, "method": None, "model": None,
        "tags": [], **extra,
    }


def add_experiment(vault: Vault, path: str, **extra: Any) -> str:
    rid = experiment_id(path)
    tx = Transaction(message=f"experiment {path}")
    tx.put("experiment", rid, experiment_record(path, **extra))
    vault.commit(tx)
    return rid


def run_record(experiment_path: str, curves_sha: str, *, status: str = "completed", **extra: Any) -> dict[str, Any]:
    now = codec.utc_now()
    return {
        "experiment_id": experiment_id(experiment_path), "experiment_path": experiment_path,
        "name": extra.pop("name", "run"), "config": {"lr": 0.1}, "started_at": now,
        "ended_at": now if status != "running" else None, "status": status, "hostname": "host",
        "git": {"sha": None, "branch": "main", "dirty": False, "patch": None, "tree": None},
        "env": {"python": "3.11", "platform": "linux", "packages": {}}, "total_steps": 10,
        "metrics": {"loss": {"value": 0.5, "wall_time": 1.0}}, "params": {},
        "curves": {"blob": curves_sha, "names": ["loss"], "points": 10, "last_step": 9},
        "artifacts": [], "tags": extra.pop("tags", []), "notes": extra.pop("notes", []), **extra,
    }


def curves_parquet(points: int) -> memoryview:
    """A sealed curves blob in the house format (wide: step, wall_time, loss) of about 12 B/point."""
    rng = np.random.default_rng()
    table = pa.table({
        "step": pa.array(np.arange(points, dtype=np.int64)),
        "wall_time": pa.array(np.linspace(0, points / 100, points, dtype=np.float32)),
        "loss": pa.array(rng.random(points)),
    })
    return to_parquet(table)


def add_run(vault: Vault, experiment_path: str = "bench/model/v1", *, blob_size: int = 2048,
            run_id: str | None = None, **extra: Any) -> str:
    """A sealed run with a curves blob; creates its experiment node when missing."""
    store = BlobStore(vault.paths.objects_dir)
    sha = store.put_bytes(curves_parquet(max(2, blob_size // 12)))
    rid = run_id or new_id()
    tx = Transaction(message=f"seal run {rid}")
    snap = vault.snapshot()
    if not snap.has("experiment", experiment_id(experiment_path)):
        tx.put("experiment", experiment_id(experiment_path), experiment_record(experiment_path))
    tx.put("run", rid, run_record(experiment_path, sha, **extra))
    vault.commit(tx)
    return rid


def add_tags(vault: Vault, run_id: str, *tags: str) -> None:
    tx = Transaction(message=f"tag {run_id}")
    tx.add_event("run", run_id, "tag", {"tags": list(tags)})
    vault.commit(tx)


def tree_of(vault: Vault) -> str:
    tip = vault.tip()
    assert tip is not None
    return str(vault.repo[tip].peel(pygit2.Tree).id)


def view(vault: Vault, kind: str, rid: str) -> dict[str, Any]:
    snap = vault.snapshot()
    return fold(snap.get(kind, rid), snap.events(kind, rid))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Vault, Vault]:
    """Two repositories sharing one vault history (b cloned a's vault)."""
    a_path = init_repo(tmp_path / "a")
    b_path = tmp_path / "b"
    b_path.mkdir()
    git(b_path, "init", "-q", "-b", "main")
    git(b_path, "fetch", "-q", str(a_path), "refs/vault/main:refs/vault/main")
    return Vault.open(a_path), Vault.open(b_path)


def diverge(a: Vault, b: Vault) -> tuple[pygit2.Oid, pygit2.Oid]:
    """Bring b's objects into a and return both tips."""
    git(a.paths.work_tree, "fetch", "-q", str(b.paths.work_tree), "+refs/vault/main:refs/vault-test/b")
    git(b.paths.work_tree, "fetch", "-q", str(a.paths.work_tree), "+refs/vault/main:refs/vault-test/a")
    return a.tip(), b.tip()  # type: ignore[return-value]


def both_ways(a: Vault, b: Vault) -> tuple[str, str, list[str]]:
    ta, tb = diverge(a, b)
    base = a.repo.merge_base(ta, tb)
    ab, conflicts = merge_tree_ids(a.repo, base, ta, tb)
    ba, _ = merge_tree_ids(b.repo, base, tb, ta)
    return str(ab), str(ba), conflicts


# -- tests -------------------------------------------------------------------------------------

def test_disjoint_runs_and_tags_on_the_same_run_merge_as_a_union(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    shared = add_run(a)
    git(b.paths.work_tree, "fetch", "-q", str(a.paths.work_tree), "+refs/vault/main:refs/vault/main")
    add_tags(a, shared, "from-a")
    add_tags(b, shared, "from-b")
    run_a, run_b = add_run(a, name="a"), add_run(b, "other/model/v2", name="b")
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and conflicts == []
    result = merge_into(a, b.tip(), "merge b")  # type: ignore[arg-type]
    assert result.how == "merge"
    assert len(a.repo[result.tip].parents) == 2
    assert str(a.repo[result.tip].tree.id) == ab
    assert result.added["runs"] == 1 and result.added["experiments"] == 1 and result.added["events"] == 1
    assert set(view(a, "run", shared)["tags"]) == {"from-a", "from-b"}
    snap = a.snapshot()
    assert snap.has("run", run_a) and snap.has("run", run_b)


def test_merge_is_idempotent_and_fast_forwards(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    add_run(a)
    add_run(b)
    diverge(a, b)
    first = merge_into(a, b.tip(), "merge")  # type: ignore[arg-type]
    again = merge_into(a, b.tip(), "merge")  # type: ignore[arg-type]
    assert again.how == "up-to-date" and again.tip == first.tip
    tree = a.repo[first.tip].tree.id
    self_merge, _ = merge_tree_ids(a.repo, first.tip, first.tip, first.tip)
    assert self_merge == tree
    git(b.paths.work_tree, "fetch", "-q", str(a.paths.work_tree), "+refs/vault/main:refs/vault-test/a")
    ff = merge_into(b, first.tip, "merge")  # type: ignore[arg-type]
    assert ff.how == "fast-forward" and b.tip() == first.tip


def test_same_experiment_path_created_on_both_sides(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    add_experiment(a, "imagenet", created_at="2026-01-01T00:00:00.000000Z")
    add_experiment(b, "imagenet", created_at="2026-01-02T00:00:00.000000Z")
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and conflicts == []  # only created_at differs: nothing to keep aside
    tree = a.repo[pygit2.Oid(hex=ab)]
    rid = experiment_id("imagenet")
    entity = tree["/".join(("experiments", *layout.fan(rid), rid))]
    assert [e.name for e in entity] == ["record.msgpack"]
    kept = codec.decode(a.repo[entity["record.msgpack"].id].data)
    assert kept["created_at"].startswith("2026-01-01")


def test_same_experiment_with_different_fields_keeps_both(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    add_experiment(a, "imagenet", created_at="2026-01-02T00:00:00.000000Z", domain="training", tags=["x"])
    add_experiment(b, "imagenet", created_at="2026-01-01T00:00:00.000000Z", domain="alignment", tags=["y"])
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and len(conflicts) == 1 and "imagenet" in conflicts[0]
    merge_into(a, b.tip(), "merge")  # type: ignore[arg-type]
    rid = experiment_id("imagenet")
    snap = a.snapshot()
    assert snap.get("experiment", rid)["domain"] == "alignment"
    assert [c["domain"] for c in snap.conflicts("experiment", rid)] == ["training"]
    assert set(view(a, "experiment", rid)["tags"]) == {"x", "y"}


def test_model_name_version_conflict_is_kept_and_reported(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    for vault, blob in ((a, "a" * 64), (b, "b" * 64)):
        tx = Transaction(message="register model")
        tx.put("model", model_id("resnet", "1"), {
            "name": "resnet", "version": "1", "run_id": None, "framework": "torch", "metadata": {},
            "created_at": "2026-01-01T00:00:00.000000Z", "blob": blob, "size": 3})
        vault.commit(tx)
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba
    assert len(conflicts) == 1 and "model 'resnet' version '1'" in conflicts[0] and "conflicts" in conflicts[0]
    result = merge_into(b, a.tip(), "merge")  # type: ignore[arg-type]
    assert result.conflicts == conflicts and result.added["conflicts"] == 1
    snap = b.snapshot()
    blobs = {snap.get("model", model_id("resnet", "1"))["blob"]} | {
        c["blob"] for c in snap.conflicts("model", model_id("resnet", "1"))}
    assert blobs == {"a" * 64, "b" * 64}


def test_run_conflict_terminal_status_wins_and_tags_and_notes_union(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    rid = new_id()
    add_run(a, run_id=rid, status="running", tags=["early"],
            notes=[{"content": "started", "created_at": "2026-01-01T00:00:00.000000Z"}])
    add_run(b, run_id=rid, status="completed", tags=["final"])
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and len(conflicts) == 1
    merge_into(a, b.tip(), "merge")  # type: ignore[arg-type]
    folded = view(a, "run", rid)
    assert folded["status"] == "completed"
    assert set(folded["tags"]) == {"early", "final"}
    assert [n["content"] for n in folded["notes"]] == ["started"]
    assert [c["status"] for c in a.snapshot().conflicts("run", rid)] == ["running"]


def test_three_versions_converge_in_any_order(tmp_path: Path) -> None:
    a_path = init_repo(tmp_path / "a")
    vaults = [Vault.open(a_path)]
    for name in ("b", "c"):
        path = tmp_path / name
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        git(path, "fetch", "-q", str(a_path), "refs/vault/main:refs/vault/main")
        vaults.append(Vault.open(path))
    for i, vault in enumerate(vaults):
        add_experiment(vault, "shared", created_at=f"2026-01-0{3 - i}T00:00:00.000000Z", domain=f"d{i % 2}")
        add_run(vault, "shared")
    repo = vaults[0].repo
    for other in vaults[1:]:
        git(a_path, "fetch", "-q", str(other.paths.work_tree), f"+refs/vault/main:refs/vault-test/{id(other)}")
    tips = [v.tip() for v in vaults]
    base = repo.merge_base(tips[0], tips[1])

    def merged(x: pygit2.Oid, y: pygit2.Oid) -> pygit2.Oid:
        tree, _ = merge_tree_ids(repo, base, x, y)
        sig = pygit2.Signature("t", "t@example.invalid")
        return repo.create_commit(None, sig, sig, "m", tree, [x, y])

    orders = [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    trees = {str(repo[merged(merged(tips[i], tips[j]), tips[k])].tree.id) for i, j, k in orders}
    assert len(trees) == 1


def test_vault_toml_edited_on_both_sides_is_a_union(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    for vault, metric, domain in ((a, "loss", "vision"), (b, "accuracy", "speech")):
        config = vault.config()
        config.minimize.append(metric) if metric == "loss" else config.maximize.append(metric)
        config.domains[domain] = ["fine_tuning"]
        tx = Transaction(message="config")
        tx.put_config(config)
        vault.commit(tx)
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and conflicts == []
    merge_into(a, b.tip(), "merge")  # type: ignore[arg-type]
    config = a.config()
    assert config.minimize == ["loss"] and config.maximize == ["accuracy"]
    assert {"vision", "speech", "training"} <= set(config.domains)


def test_hierarchy_conflict_is_reported(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    for vault, hierarchy in ((a, "x > y"), (b, "p > q")):
        tx = Transaction(message="config")
        tx.put_config(VaultConfig.default(hierarchy))
        vault.commit(tx)
    ab, ba, conflicts = both_ways(a, b)
    assert ab == ba and any("hierarchy" in c for c in conflicts)


def test_cli_merge_commit_has_both_parents_and_readable_message(pair: tuple[Vault, Vault]) -> None:
    a, b = pair
    add_run(a)
    add_run(b)
    diverge(a, b)
    merge_into(a, b.tip(), "merge vault from b")  # type: ignore[arg-type]
    out = subprocess.run(["git", "log", "-1", "--format=%P%n%s", "refs/vault/main"], cwd=a.paths.work_tree,
                         text=True, capture_output=True, check=True).stdout.split("\n")
    assert len(out[0].split()) == 2 and out[1] == "merge vault from b"


# -- property: the merged tree depends only on the set of versions seen ----------------------------


_IDS = {"run": ["01J0000000000000000000000A", "01J0000000000000000000000B"],
        "experiment": [experiment_id("p"), experiment_id("q")], "model": [model_id("m", "1")]}
_T1, _T2 = "2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z"


def _variant(kind: str, rid: str, n: int) -> dict[str, Any]:
    if kind == "run":
        return {"kind": kind, "id": rid, "status": ("running", "completed")[n % 2], "tags": [["x"], ["y"]][n // 2 % 2],
                "notes": [{"content": f"n{n // 2}", "created_at": _T1}]}
    if kind == "experiment":
        return {"kind": kind, "id": rid, "path": "p", "created_at": (_T1, _T2)[n % 2], "domain": f"d{n // 2 % 2}",
                "tags": [f"t{n // 2 % 2}"]}
    return {"kind": kind, "id": rid, "name": "m", "version": "1", "created_at": (_T1, _T2)[n % 2],
            "blob": "ab"[n // 2 % 2] * 64}


_side = st.dictionaries(
    st.sampled_from([(k, i) for k, ids in _IDS.items() for i in ids]),
    st.tuples(st.integers(0, 3), st.sets(st.tuples(st.sampled_from(["e1", "e2"]), st.integers(0, 1)), max_size=2)),
    max_size=4)


def _build(repo: pygit2.Repository, side: dict) -> pygit2.Oid:
    nested: dict = {}
    for (kind, rid), (n, events) in side.items():
        node = nested
        for part in layout.entity_dir(kind, rid):
            node = node.setdefault(part, {})
        node[layout.RECORD_FILE] = codec.encode(_variant(kind, rid, n))
        for eid, v in events:
            ev = {"kind": "event", "id": eid, "type": "tag", "target_kind": kind, "target_id": rid,
                  "created_at": _T1, "data": {"tags": [f"e{v}"]}}
            node.setdefault(layout.EVENTS_DIR, {})[f"{eid}.msgpack"] = codec.encode(ev)

    def write(tree: dict) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in tree.items():
            if isinstance(value, dict):
                builder.insert(name, write(value), pygit2.enums.FileMode.TREE)
            else:
                builder.insert(name, repo.create_blob(value), pygit2.enums.FileMode.BLOB)
        return builder.write()

    return write(nested)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("prop") / "r.git"), bare=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=_side, y=_side, z=_side)
def test_merge_is_commutative_idempotent_and_associative(bare: pygit2.Repository, x: dict, y: dict, z: dict) -> None:
    a, b, c = (_build(bare, s) for s in (x, y, z))

    def m(p: pygit2.Oid, q: pygit2.Oid) -> pygit2.Oid:
        return TreeMerger(bare).merge(None, p, q)

    ab = m(a, b)
    assert ab == m(b, a)
    assert m(a, a) == a or not x  # a lone tree is its own merge
    assert m(ab, a) == ab and m(ab, ab) == ab
    assert m(ab, c) == m(a, m(b, c)) == m(m(c, a), b)
