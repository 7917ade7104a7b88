"""`git vault import-from mlflow`: both stores mlflow-skinny 3.18 writes (the ``mlruns/`` file
store and the SQLite ``mlflow.db``) are built by mlflow itself in one subprocess (importing mlflow
takes seconds), which also dumps what mlflow's own client reads back from each; the import is then
compared with that value by value through gitvault's SDK and query layer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault import Store
from gitvault.importers.plan import iso_from_ms
from gitvault.query import Query
from tests.conftest import git, make_repo, needs, vault_run

pytestmark = needs("mlflow", "mlflow-skinny is not installed (pip install -e '.[test]')")

WRITE = r"""
import json, os, sys
from pathlib import Path
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

root = Path(sys.argv[1])
dump = {}
for kind, uri in (("file", (root / "mlruns").as_uri()), ("sqlite", f"sqlite:///{root / 'mlflow.db'}")):
    os.chdir(root)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    mlflow.set_experiment("vision")
    mlflow.set_experiment_tag("team", "cv")
    mlflow.set_experiment_tag("mlflow.note.content", "the vision sweep")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": 0.1, "batch": 32, "opt": "adam"})
        mlflow.set_tags({"owner": "ana", "mlflow.note.content": "baseline run",
                         "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567"})
        for step in range(20):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("val/acc", step / 20, step=step)
        mlflow.log_metric("loss", 0.75, step=3)      # a second value at step 3
        mlflow.log_metric("odd", float("nan"), step=0)
        (root / "out").mkdir(exist_ok=True)
        (root / "out" / "report.txt").write_text("hello")
        (root / "out" / "plots").mkdir(exist_ok=True)
        (root / "out" / "plots" / "curve.svg").write_text("<svg/>")
        mlflow.log_artifacts(str(root / "out"))
        (root / "net").mkdir(exist_ok=True)
        (root / "net" / "MLmodel").write_text("flavors: {}\n")
        (root / "net" / "weights.bin").write_bytes(bytes(range(256)))
        mlflow.log_artifacts(str(root / "net"), "model")
        with mlflow.start_run(run_name="trial-1", nested=True):
            mlflow.log_param("lr", 0.01)
            mlflow.log_metric("loss", 0.5, step=0)
    failed = client.create_run(parent.info.experiment_id, run_name="crashed-trial")
    client.log_metric(failed.info.run_id, "loss", 3.0, step=0)
    client.set_terminated(failed.info.run_id, "FAILED")
    killed = client.create_run(parent.info.experiment_id, run_name="killed")
    client.set_terminated(killed.info.run_id, "KILLED")
    gone = client.create_run(parent.info.experiment_id, run_name="deleted-one")
    client.set_terminated(gone.info.run_id, "FINISHED")
    client.delete_run(gone.info.run_id)
    old = client.create_experiment("old-study")
    old_run = client.create_run(old, run_name="in-deleted")
    client.set_terminated(old_run.info.run_id, "FINISHED")
    client.delete_experiment(old)
    client.create_registered_model("vision-net", description="the classifier")
    version = client.create_model_version("vision-net", f"runs:/{parent.info.run_id}/model",
                                          run_id=parent.info.run_id, description="first")
    client.set_registered_model_alias("vision-net", "champion", version.version)
    client.set_model_version_tag("vision-net", version.version, "validated", "yes")
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL)

    def files(run_id, path=None):
        out = []
        for f in client.list_artifacts(run_id, path):
            out += files(run_id, f.path) if f.is_dir else [f.path]
        return out

    dump[kind] = {
        "experiments": [{"id": e.experiment_id, "name": e.name, "created": e.creation_time,
                         "stage": e.lifecycle_stage, "tags": e.tags} for e in experiments],
        "runs": [{"id": r.info.run_id, "experiment_id": r.info.experiment_id, "name": r.info.run_name,
                  "status": r.info.status, "start": r.info.start_time, "end": r.info.end_time,
                  "stage": r.info.lifecycle_stage, "params": r.data.params, "tags": r.data.tags,
                  "history": {k: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(r.info.run_id, k)]
                              for k in r.data.metrics},
                  "latest": r.data.metrics, "files": files(r.info.run_id)} for r in runs],
        "models": [{"name": v.name, "version": v.version, "run_id": v.run_id, "created": v.creation_timestamp,
                    "description": v.description, "tags": v.tags, "aliases": v.aliases}
                   for v in (client.get_model_version(m.name, m.version)
                             for m in client.search_model_versions("name = 'vision-net'"))],
    }
(root / "dump.json").write_text(json.dumps(dump))
"""

STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "failed"}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("mlflow-src")
    proc = subprocess.run([sys.executable, "-c", WRITE, str(root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, json.loads((root / "dump.json").read_text())


@pytest.fixture(scope="module", params=["file", "sqlite"])
def imported(request: pytest.FixtureRequest, stores: tuple[Path, dict[str, Any]],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any], str]:
    root, dump = stores
    source = root / ("mlruns" if request.param == "file" else "mlflow.db")
    repo = make_repo(tmp_path_factory.mktemp(f"mlflow-{request.param}") / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    out = vault_run(repo, "import-from", "mlflow", str(source), "--experiment", "mlflow", check=True).stdout
    return repo, source, dump[request.param], out


def test_every_run_carries_what_mlflow_reads_back(imported: tuple[Path, Path, dict[str, Any], str]) -> None:
    repo, _, dump, out = imported
    assert "added: 4 experiments, 6 runs, 1 model, 2 lineage edges, 4 events" in out, out
    assert "KILLED in MLflow: imported as failed" in out
    experiments = {e["id"]: e for e in dump["experiments"]}
    with Store(repo) as store:
        snap = store.snapshot()
        for run in dump["runs"]:
            view = store.get_run(run["id"])  # ids kept (deleted runs too: they are hidden, not gone)
            assert view.name == run["name"] and view.path == f"mlflow/{experiments[run['experiment_id']]['name']}"
            assert view.status == STATUS[run["status"]]
            assert (view["started_at"], view["ended_at"]) == (iso_from_ms(run["start"]), iso_from_ms(run["end"]))
            assert view.config == run["params"]
            assert view.params == {k: v for k, v in run["tags"].items() if not k.startswith("mlflow.")}
            assert view["env"]["mlflow_tags"] == {k: v for k, v in run["tags"].items() if k.startswith("mlflow.")}
            assert [n["content"] for n in view.notes] == [t for k, t in run["tags"].items() if k == "mlflow.note.content"]
            assert view["git"].get("sha") == run["tags"].get("mlflow.source.git.commit")
            assert view.metrics.keys() == run["latest"].keys()
            for key, value in run["latest"].items():
                assert view.metrics[key] == value or value != value and view.metrics[key] != view.metrics[key]
            for key, history in run["history"].items():
                long = view.curves(wide=False)
                mine = long.filter(long["name"] == key)
                latest: dict[int, tuple[int, float]] = {}
                for step, value, ts in history:
                    if step not in latest or ts >= latest[step][0]:
                        latest[step] = (ts, value)
                assert mine["step"].to_list() == sorted(latest)
                got, want = mine["value"].to_list(), [latest[s][1] for s in sorted(latest)]
                assert [g if g == g else "nan" for g in got] == [w if w == w else "nan" for w in want]
                walls = mine["wall_time"].to_list()  # one wall time per step row: its latest value's
                assert all(w >= (latest[s][0] - run["start"]) / 1000 - 1e-3 for w, s in zip(walls, sorted(latest)))
            deleted = any(e["type"] == "delete" for e in snap.events("run", run["id"]))
            assert deleted == (run["stage"] == "deleted" or experiments[run["experiment_id"]]["stage"] == "deleted")
        parent = next(r for r in dump["runs"] if r["name"] == "parent")
        history = store.get_run(parent["id"]).metrics_frame("mlflow_metric_history")
        every = sorted((k, s, v, t) for k, h in parent["history"].items() for s, v, t in h)
        got = zip(history["key"], history["step"], history["value"], history["timestamp"])
        assert sorted(map(str, got)) == sorted(map(str, every))  # every value, the one replaced at step 3 too
        record = snap.get("run", parent["id"])
        names = sorted(a["name"] for a in record["artifacts"] if a["kind"] == "file")
        if names:  # this gitvault stores files (issue 26): each one, bytes equal
            assert names == sorted(parent["files"])
            for name in names:
                entry = next(a for a in record["artifacts"] if a["name"] == name)
                written = {"report.txt": "hello", "plots/curve.svg": "<svg/>", "model/MLmodel": "flavors: {}\n"}
                if name in written:
                    assert store.blobs.read_bytes(entry["blob"]).decode() == written[name]
        else:
            assert all(f"file {name}" in out for name in parent["files"])
    with Query(repo) as query:
        child = next(r for r in dump["runs"] if r["name"] == "trial-1")
        edges = query.get_lineage("run", child["id"], "ancestors", 1)["edges"]
        assert [(e["parent_id"], e["relation"]) for e in edges] == [(parent["id"], "branched_from")]
        visible = {r["name"] for r in query.list_runs()["items"]}
        assert visible == {"parent", "trial-1", "crashed-trial", "killed"}
        vision = query.get_experiment("mlflow/vision")
        assert vision["created_at"] == iso_from_ms(next(e["created"] for e in dump["experiments"] if e["name"] == "vision"))


def test_registered_models_with_their_files_and_aliases(imported: tuple[Path, Path, dict[str, Any], str],
                                                        tmp_path: Path) -> None:
    repo, source, dump, _ = imported
    [mv] = dump["models"]
    with Store(repo) as store:
        [item] = store.list_models()
        assert (item["name"], item["version"], item["run_id"]) == (mv["name"], str(mv["version"]), mv["run_id"])
        assert item["created_at"] == iso_from_ms(mv["created"])
        assert mv["aliases"] == ["champion"] and set(item["aliases"]) == {"champion", "latest"}
        assert item["metadata"]["description"] == mv["description"] and item["metadata"]["tags"] == mv["tags"]
        written = store.download_model(f"{mv['name']}@champion", tmp_path / "out")
        assert {p.name: p.read_bytes() for p in written} == {"MLmodel": b"flavors: {}\n", "weights.bin": bytes(range(256))}
    with Query(repo) as query:
        edges = query.get_lineage("model", item["id"], "ancestors", 1)["edges"]
        assert [(e["parent_id"], e["relation"]) for e in edges] == [(mv["run_id"], "derived_from")]


def test_importing_again_adds_nothing(imported: tuple[Path, Path, dict[str, Any], str]) -> None:
    repo, source, _, _ = imported
    before = git(repo, "rev-parse", "refs/vault/main").stdout
    out = vault_run(repo, "import-from", "mlflow", str(source), "--experiment", "mlflow", check=True).stdout
    assert "added: 0 experiments, 0 runs;" in out
    assert git(repo, "rev-parse", "refs/vault/main").stdout == before


def test_not_a_store(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    (tmp_path / "x.db").write_text("no")
    for target, says in ((tmp_path / "x.db", "not an SQLite file"), (repo, "holds no MLflow store")):
        proc = vault_run(repo, "import-from", "mlflow", str(target))
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
