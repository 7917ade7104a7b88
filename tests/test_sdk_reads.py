"""The SDK reads through the query layer (issue 15, "one read API"): `Store.list_runs`, `get_run`,
`list_todos`, `list_models`, `list_experiments` and `get_experiment` give the query layer's items
and resolve a run as every front-end does (id, unique id prefix, unique name, ``path#name``),
live runs included; writing a run opens no cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitvault import Store
from gitvault.errors import AmbiguousIdError, RecordNotFoundError
from gitvault.query import Query


@pytest.fixture
def store(repo: Path) -> Store:
    return Store(repo)


def _shared_prefix(a: str, b: str) -> str:
    return os.path.commonprefix([a, b])


def test_get_run_resolves_ids_prefixes_names_and_labels(store: Store) -> None:
    exp = store.experiment({"benchmark": "synth", "model": "mlp"})
    other = store.experiment({"benchmark": "other", "model": "mlp"})
    with exp.run(name="solo") as run:
        run.curve(0, loss=1.0)
        solo = run.id
    with exp.run(name="twin") as run:
        twin_a = run.id
    with other.run(name="twin") as run:
        twin_b = run.id
    assert store.get_run(solo).id == solo
    assert store.get_run(solo.lower()).id == solo  # ids are case-insensitive, as in every front-end
    assert store.get_run(solo[:-3]).id == solo  # a unique prefix
    assert store.get_run("solo").name == "solo" and store.get_run("solo").curves()["loss"].to_list() == [1.0]
    assert store.get_run("synth/mlp#twin").id == twin_a and store.get_run("other/mlp#twin").id == twin_b
    with pytest.raises(AmbiguousIdError, match="Run name 'twin' is ambiguous") as name_error:
        store.get_run("twin")
    assert twin_a in str(name_error.value) and "other/mlp#twin" in str(name_error.value)
    with pytest.raises(RecordNotFoundError, match="Run not found: 'nobody'"):
        store.get_run("nobody")


def test_an_ambiguous_prefix_lists_the_candidates(store: Store) -> None:
    exp = store.experiment({"benchmark": "b"})
    ids = []
    for name in ("a", "b"):
        with exp.run(name=name) as run:
            ids.append(run.id)
    prefix = _shared_prefix(*ids)
    assert prefix  # ULIDs of one millisecond, or one minute, share their start
    with pytest.raises(AmbiguousIdError, match=f"Run id prefix '{prefix}' is ambiguous") as error:
        store.get_run(prefix)
    assert all(i in str(error.value) for i in ids)
    with pytest.raises(AmbiguousIdError):
        store.tag_run(prefix, "x")  # writes resolve the same way


def test_list_runs_gives_the_query_layers_items_oldest_first(store: Store) -> None:
    exp = store.experiment({"benchmark": "b", "model": "m"})
    with exp.run(config={"lr": 0.1, "opt": {"name": "adam"}}, name="first") as run:
        run.log(loss=0.5, arch="mlp")
        run.tag("keep")
    with store.experiment({"benchmark": "c"}).run(name="second"):
        pass
    runs = store.list_runs()
    assert [r["name"] for r in runs] == ["first", "second"]
    with Query(store.vault) as q:
        assert sorted(runs, key=lambda r: r["id"]) == sorted(q.list_runs()["items"], key=lambda r: r["id"])
    first = runs[0]
    assert first["label"] == "b/m#first" and first["experiment_path"] == "b/m" and first["status"] == "completed"
    assert first["metrics"] == {"loss": 0.5} and first["tags"] == ["keep"]
    assert first["config_summary"] == {"n_keys": 2, "top_level_keys": ["lr", "opt"]}
    assert [r["name"] for r in exp.list_runs()] == ["first"]
    assert [r["name"] for r in store.list_runs("b/m")] == ["first"]  # an experiment by path, too


def test_a_live_run_is_listed_and_gettable_in_its_process_and_in_others(store: Store, repo: Path) -> None:
    exp = store.experiment({"benchmark": "live"})
    with exp.run(name="done"):
        pass
    run = exp.run(name="going")
    try:
        run.curve(0, loss=2.0)  # not flushed yet: reading flushes this process's runs first
        listed = {r["name"]: r for r in store.list_runs()}
        assert listed["going"]["status"] == "running" and listed["going"]["id"] == run.id
        assert listed["done"]["status"] == "completed"
        view = store.get_run("going")
        assert view.is_live and view.status == "running" and view.curves()["loss"].to_list() == [2.0]
        assert store.get_run(run.id[:-2]).id == run.id
        script = ("import json, sys\nfrom gitvault import Store\ns = Store(sys.argv[1])\n"
                  "print(json.dumps([[r['name'], r['status']] for r in s.list_runs()]))\n"
                  "v = s.get_run('live#going')\nprint(json.dumps([v.id, v.status, v.curves()['loss'].to_list()]))\n")
        proc = subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        names, got = (json.loads(line) for line in proc.stdout.splitlines())
        assert names == [["done", "completed"], ["going", "running"]] and got == [run.id, "running", [2.0]]
        store.tag_run("going", "by-name")  # a live run of this process takes the tag in its record
    finally:
        run.finish()
    [sealed] = [r for r in store.list_runs() if r["name"] == "going"]
    assert sealed["status"] == "completed" and sealed["tags"] == ["by-name"]


def test_todos_and_models_are_the_query_layers_items(store: Store, tmp_path: Path) -> None:
    exp = store.experiment({"benchmark": "b"})
    low = store.todo("global low", priority=0)
    high = store.todo("global high", priority=2)
    exp_todo = exp.todo("experiment scoped")
    with exp.run(name="r") as run:
        run_todo = run.todo("run scoped", priority=1)
        weights = tmp_path / "w.bin"
        weights.write_bytes(b"\x01" * 32)
        mid = run.register_model("net", "v1", weights, metadata={"acc": 0.9})
    todo_keys = {"id", "scope_type", "scope_id", "content", "done", "priority", "created_at", "completed_at"}
    todos = store.list_todos()
    assert [t["id"] for t in todos] == [high, low] and all(set(t) == todo_keys for t in todos)
    assert [t["id"] for t in store.list_todos("experiment", exp.id)] == [exp_todo]
    assert [t["id"] for t in store.list_todos("experiment", "b")] == [exp_todo]  # by path
    assert [t["id"] for t in store.list_todos("experiment")] == [exp_todo]  # the whole scope
    assert [t["id"] for t in store.list_todos("run", "r")] == [run_todo]  # a run as get_run takes it
    store.todo_done(low)
    assert [t["id"] for t in store.list_todos()] == [high]
    [done] = [t for t in store.list_todos(include_done=True) if t["id"] == low]
    assert done["done"] is True and done["completed_at"]
    with pytest.raises(ValueError, match="scope_type"):
        store.list_todos("team")
    [model] = store.list_models()
    assert set(model) == {"id", "name", "version", "run_id", "framework", "artifact_path", "metadata",
                          "created_at", "size", "aliases"}
    assert model["aliases"] == ["latest"]
    assert (model["id"], model["name"], model["version"], model["run_id"]) == (mid, "net", "v1", run.id)
    assert model["metadata"] == {"acc": 0.9} and Path(model["artifact_path"]).read_bytes() == b"\x01" * 32
    assert store.list_models("x") == []
    with Query(store.vault) as q:
        assert store.list_models() == q.list_models()["items"] and store.list_todos() == q.list_todos()["items"]


def test_experiments_read_through_the_query_layer(store: Store) -> None:
    leaf = store.experiment({"benchmark": "b", "model": "m"}, tags=["t"])
    store.experiment({"benchmark": "c"})
    assert [e.path for e in store.list_experiments()] == ["b", "b/m", "c"]
    assert [e.path for e in store.list_experiments("b/")] == ["b/m"]
    for ref in (leaf.id, "b/m"):
        got = store.get_experiment(ref)
        assert got == leaf and got.path == "b/m" and got.tags == ["t"] and got.node_type == "model"
    assert store.get_experiment("b").parent_id is None
    with pytest.raises(RecordNotFoundError, match="Experiment not found: 'b/nope'"):
        store.get_experiment("b/nope")


WRITER = """
import sys
from gitvault import Store
store = Store(sys.argv[1])
exp = store.experiment({"benchmark": "b"})
with exp.run(name="r", config={"lr": 0.1}) as run:
    run.curve(0, loss=1.0)
    run.log(acc=0.5)
    run.tag("t")
    assert run.view().curves()["loss"].to_list() == [1.0]  # reading a run back by its own id
    run.todo("later")
store.tag_run(run.id, "after")  # a sealed run by its exact id: an event commit
assert store.get_run(run.id).tags == ["t", "after"]
print(sorted(m for m in ("gitvault.query", "gitvault.cache", "duckdb") if m in sys.modules))
"""


def test_writing_a_run_opens_no_cache(repo: Path) -> None:
    """Starting, logging, reading back and sealing a run, and naming it by its exact id later: no
    query layer, no cache, no DuckDB."""
    Store(repo).close()
    proc = subprocess.run([sys.executable, "-c", WRITER, str(repo)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert not (repo / ".extract" / "extract.db").exists() and not (repo / ".extract" / "vault.duckdb").exists()
    with Store(repo) as store:
        assert store.get_run("r").tags == ["t", "after"]
