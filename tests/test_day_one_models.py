"""Issue 16 point 4: a model registry with versions that number themselves, aliases that move
(SDK and CLI, merged across clones), a lineage edge to the run that made the model, and
`git vault models get` copying a model out (fetching its blobs when a pull left them behind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitvault import Store
from gitvault.errors import InvalidNameError, RecordNotFoundError
from gitvault.runs.store import ModelVersionWarning
from gitvault.storage import records
from gitvault.sync.exchange import pull, pull_report, push
from tests.conftest import git, make_repo, vault_run


def _weights(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _with_remote(tmp_path: Path) -> tuple[Path, Path]:
    """A repository ``a`` with a vault and a bare remote ``origin``."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(bare))
    return a, bare


def test_versions_number_themselves_and_a_taken_version_never_fails_the_run(repo: Path, tmp_path: Path) -> None:
    store = Store(repo)
    exp = store.experiment({"benchmark": "b"})
    with exp.run(name="r1") as run:
        first = run.register_model("net", _weights(tmp_path, "a.pt", b"one"))
        again = run.register_model("net", tmp_path / "a.pt")  # the same files: the same model, nothing new
        second = run.register_model("net", _weights(tmp_path, "b.pt", b"two"))
        rid = run.id
    assert first == again
    assert [(m["version"], m["aliases"]) for m in store.list_models("net")] == [("1", []), ("2", ["latest"])]
    with exp.run(name="r2") as run:
        named = run.register_model("net", "v1.0", _weights(tmp_path, "c.pt", b"three"))  # Extract's order
        with pytest.warns(ModelVersionWarning, match=r"version 'v1.0' is already registered.*net@3"):
            moved = run.register_model("net", _weights(tmp_path, "d.pt", b"four"), version="v1.0")
        same = run.register_model("net", tmp_path / "c.pt", version="v1.0")  # re-registering is harmless
        run.curve(0, loss=1.0)  # the run goes on
    assert same == named
    assert store.get_run("r2").status == "completed"
    versions = [m["version"] for m in store.list_models("net")]
    assert versions == ["1", "2", "3", "v1.0"]
    assert store.get_model("net@3")["id"] == moved and store.get_model("net@v3")["id"] == moved
    assert store.get_model("net")["version"] == "3"  # a bare name is its latest version
    assert store.get_model(second)["version"] == "2"
    # the model has a lineage edge to the run that produced it
    lineage = store.query().get_lineage("run", rid, direction="descendants")
    assert {(e["child_type"], e["child_id"], e["relation"]) for e in lineage["edges"]} >= {
        ("model", first, "derived_from"), ("model", second, "derived_from")}
    assert "net@2" in {n["label"] for n in lineage["nodes"]}
    store.set_model_alias("net", "best", 1)
    with exp.run(name="child") as child:
        child.derived_from(model="net", version="best")  # an alias names the version it points at now
        child.derived_from(model="net", version="latest")
    parents = store.query().get_lineage("run", child.id, direction="ancestors", depth=1)
    assert {n["label"] for n in parents["nodes"]} >= {"net@1", "net@3"}


def test_a_second_run_registering_the_same_files_gets_a_version_and_its_lineage_edge(repo: Path, tmp_path: Path) -> None:
    """Review of issue 16: byte-identical weights from another run made no version and left that
    run with no lineage at all. Now each run's register call makes a version (as MLflow does), a
    retry from the same run changes nothing, and a run naming a version that holds the same files
    gets its own edge to it."""
    store = Store(repo)
    exp = store.experiment({"benchmark": "b"})
    weights = _weights(tmp_path, "w.pt", b"same bytes")
    with exp.run(name="first") as run:
        first = run.register_model("net", weights)
        assert run.register_model("net", weights) == first  # a retry from the same run: nothing new
    with exp.run(name="second") as run:
        second = run.register_model("net", weights)
        assert run.register_model("net", weights) == second
        second_id = run.id
    with exp.run(name="third") as run:
        pinned = run.register_model("net", weights, version="1")  # the same files under version 1
        third_id = run.id
    assert second != first and pinned == first
    assert [m["version"] for m in store.list_models("net")] == ["1", "2"]
    assert store.get_model("net@2")["id"] == second
    for rid, model in ((second_id, second), (third_id, first)):
        graph = store.query().get_lineage("run", rid, direction="descendants")
        assert {(e["child_type"], e["child_id"]) for e in graph["edges"]} == {("model", model)}
    out = vault_run(repo, "lineage", "second", check=True).stdout
    assert "no lineage" not in out and "net@2" in out
    assert "net@1" in vault_run(repo, "lineage", "third", check=True).stdout


def test_aliases_set_move_and_go_from_sdk_and_cli(repo: Path, tmp_path: Path) -> None:
    store = Store(repo)
    with store.experiment({"benchmark": "b"}).run() as run:
        for i in range(3):
            run.register_model("net", _weights(tmp_path, f"{i}.pt", bytes([i])), aliases=["best"] if i == 0 else ())
    assert store.model_aliases("net") == {"best": "1", "latest": "3"}
    store.set_model_alias("net", "best", 2)
    store.set_model_alias("net", "production", "v2")
    assert store.model_aliases("net") == {"best": "2", "latest": "3", "production": "2"}
    assert store.get_model("net@production")["version"] == "2"

    vault_run(repo, "models", "alias", "net", "best", "3", check=True)
    listing = vault_run(repo, "models", check=True).stdout
    assert "ALIASES" in listing and "best, latest" in listing and "production" in listing
    page = json.loads(vault_run(repo, "models", "--json", check=True).stdout)
    assert {m["version"]: m["aliases"] for m in page["items"]} == {"1": [], "2": ["production"], "3": ["best", "latest"]}
    vault_run(repo, "models", "unalias", "net", "production", check=True)
    assert store.model_aliases("net") == {"best": "3", "latest": "3"}
    with pytest.raises(RecordNotFoundError, match="no version or alias 'production'"):
        store.get_model("net@production")

    # every bad input: one line naming what is wrong and how to fix it
    for args, message in ((("models", "alias", "net", "latest", "1"), "moves by itself"),
                          (("models", "alias", "net", "best", "9"), "has no version '9'"),
                          (("models", "alias", "nope", "best", "1"), "Model not found"),
                          (("models", "alias", "net", "best"), "NAME ALIAS VERSION"),
                          (("models", "get", "net@best"), "--out DIR"),
                          (("models", "get", "net@gold", "--out", str(tmp_path / "x")), "no version or alias 'gold'")):
        proc = vault_run(repo, *args)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
    with pytest.raises(InvalidNameError):
        store.set_model_alias("net", "a@b", 1)
    with pytest.raises(InvalidNameError, match="separates a name from its version"):
        store.register_model("a@b", tmp_path / "0.pt")
    with pytest.raises(InvalidNameError, match="contains '@'"):
        store.register_model("net", tmp_path / "0.pt", version="1@2")


def test_models_get_copies_files_out_fetching_missing_blobs(tmp_path: Path) -> None:
    a, bare = _with_remote(tmp_path)
    ckpt = tmp_path / "ckpt"
    (ckpt / "sub").mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    (ckpt / "sub" / "w.bin").write_bytes(b"\x01" * 10)
    store = Store(a)
    with store.experiment({"benchmark": "b"}).run() as run:
        run.register_model("dirnet", ckpt)
        run.register_model("filenet", _weights(tmp_path, "model.pt", b"weights"), aliases=["best"])
    push(a)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    assert pull(b, records_only=True)["blobs"] == 0
    out = vault_run(b, "models", "get", "dirnet@1", "--out", str(tmp_path / "out1"), check=True)
    assert "copied dirnet@1 (2 files)" in out.stdout
    assert (tmp_path / "out1" / "sub" / "w.bin").read_bytes() == b"\x01" * 10
    vault_run(b, "models", "get", "filenet@best", "--out", str(tmp_path / "out2"), check=True)
    assert (tmp_path / "out2" / "model.pt").read_bytes() == b"weights"
    again = vault_run(b, "models", "get", "filenet@best", "--out", str(tmp_path / "out2"))
    assert again.returncode != 0 and "exists" in again.stderr  # nothing is overwritten


def test_aliases_merge_across_clones_the_later_setting_wins(tmp_path: Path) -> None:
    a, bare = _with_remote(tmp_path)
    store_a = Store(a)
    with store_a.experiment({"benchmark": "b"}).run() as run:
        for i in range(3):
            run.register_model("net", _weights(tmp_path, f"{i}.pt", bytes([i])))
    push(a)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    pull(b)
    store_b = Store(b)
    store_a.set_model_alias("net", "best", "1")
    store_a.set_model_alias("net", "production", "1")
    store_b.set_model_alias("net", "best", "2")  # later than a's: wins everywhere
    store_a.remove_model_alias("net", "production")  # removed last: gone everywhere
    push(a)
    pull(b)
    push(b)
    pull(a)
    expected = {"best": "2", "latest": "3"}
    assert Store(a).model_aliases("net") == expected and Store(b).model_aliases("net") == expected
    assert {m["version"]: m["aliases"] for m in Store(a).list_models("net")} == {"1": [], "2": ["best"], "3": ["latest"]}


def test_model_aliases_fold_deterministically() -> None:
    def ev(alias: str, at: str, eid: str, on: bool = True) -> dict[str, object]:
        return {"alias": alias, "set": on, "at": at, "event": eid}

    v1 = {"version": "1", "created_at": "2024-01-01T00:00:00Z", "alias_events": [ev("best", "T2", "b")]}
    v2 = {"version": "2", "created_at": "2024-01-02T00:00:00Z", "alias_events": [ev("best", "T2", "a"),
                                                                                 ev("prod", "T3", "c", False)]}
    v3 = {"version": "3", "created_at": "2024-01-01T12:00:00Z", "alias_events": [ev("prod", "T1", "d")]}
    for order in ([v1, v2, v3], [v3, v2, v1]):
        assert records.model_aliases(order) == {"best": "1", "latest": "2"}  # ties broken by event id
    assert records.next_model_version(["1", "v2.0", "7"]) == "8" and records.next_model_version([]) == "1"


def test_two_clones_registering_one_version_lose_neither_model(tmp_path: Path) -> None:
    a, bare = _with_remote(tmp_path)
    push(a)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    pull(b)
    store_a, store_b = Store(a), Store(b)
    store_a.register_model("net", _weights(tmp_path, "a.pt", b"from a"))
    store_b.register_model("net", _weights(tmp_path, "b.pt", b"from b"))  # both are net@1
    push(a)
    report = pull_report(b)
    assert any("net" in c or "model" in c for c in report.conflicts), report.conflicts  # the merge reports it
    mid = records.model_id("net", "1")
    snap = store_b.snapshot()
    kept = [snap.get("model", mid)] + snap.conflicts("model", mid)
    assert sorted(m["blob"] for m in kept) == sorted(store_b.blobs.put_bytes(d) for d in (b"from a", b"from b"))
    again = store_b.register_model("net", tmp_path / "b.pt")  # b registers its files again: they get a number
    versions = {m["version"]: m["id"] for m in store_b.list_models("net")}
    if snap.get("model", mid)["blob"] == store_b.blobs.put_bytes(b"from b"):
        assert again == mid  # b's version won the merge: nothing to do
    else:
        assert versions["2"] == again


def test_an_alias_event_of_the_wrong_shape_is_refused_by_the_schema() -> None:
    from gitvault.storage import schema

    good = {"kind": "event", "id": "e1", "type": "alias", "target_kind": "model", "target_id": "m",
            "data": {"alias": "best"}}
    assert schema.problem(good) is None
    assert "data.alias" in str(schema.problem({**good, "data": {"alias": 3}}))
    assert schema.problem({**good, "type": "tag", "data": {"tags": ["x"]}}) is None
