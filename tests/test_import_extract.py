"""`git vault import-from extract` and `git vault init --adopt-extract`: an Extract store written by
the real extract-tracker is imported, and every value is read back through gitvault's SDK and
query layer and compared with what Extract's own database and files hold. Importing twice adds
nothing; a SIGKILL during an import leaves a vault that a second import brings to the same tree
as one clean import."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gitvault import Store
from gitvault.importers.plan import iso_from_text
from gitvault.query import Query
from tests.conftest import git, make_repo, vault_run

pytest.importorskip("extract", reason="extract-tracker is not installed (pip install -e '.[test]')")

WRITE = r"""
import sqlite3, sys
from pathlib import Path
import numpy as np
from extract import Store

root = Path(sys.argv[1])
store = Store(root)
exp = store.experiment({"bench": "imagenet", "model": "resnet"})
other = store.experiment({"bench": "imagenet", "model": "vit"})
with exp.run(config={"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}}, name="base", total_steps=40) as run:
    for step in range(40):
        run.curve(step=step, loss=1.0 / (step + 1), acc=step / 40)
    run.curve(step=7, loss=0.5)          # a step logged again: the latest value wins
    run.log(final_acc=0.93, final_loss=0.02, arch="resnet50")
    run.log_table("confusion", np.arange(12.0).reshape(3, 4), axes={"rows": "true", "cols": "pred"})
    run.log_table("per_step", np.eye(2, dtype=np.int32), step=3)
    run.log_text("summary", "## Observations\nconverges \u2713")
    run.tag("sweep", "best")
    run.note("first note")
    run.note("second note")
    run.todo("try lr=0.05", priority=2)
    weights = root.parent / "model.pt"
    weights.write_bytes(b"\x00weights\xff" * 100)
    run.register_model("resnet-net", "v1", str(weights), metadata={"acc": 0.93})
    folder = root.parent / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a" * 10)
    (folder / "sub" / "b.txt").write_text("b")
    run.register_model("resnet-dir", "2", str(folder), framework="jax")
    base = run.id
with exp.run(config={"lr": 0.2}, name="child") as run:
    run.curve(step=0, loss=2.0)
    run.derived_from(run=base)
    run.derived_from(model="resnet-net", version="v1")
    run.derived_from(model="never-registered", version="v0")
    run.branched_from(experiment=exp.id)
try:
    with other.run(config={"lr": 0.3}, name="boom") as run:
        run.curve(step=0, loss=9.0)
        raise RuntimeError("diverged")
except RuntimeError:
    pass
hung = other.run(config={}, name="hung")  # never finished: Extract says running
hung.curve(step=0, loss=1.0)
hung._flush_curves()
store.todo("write the paper", priority=1)
other.run(config={}, name="done-todo").todo("finished already")
store.close()
conn = sqlite3.connect(root / "extract.db")   # what Extract's TUI does: mark a TODO done, archive a node
conn.execute("UPDATE todos SET done = 1, completed_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE content = 'finished already'")
conn.execute("UPDATE experiments SET status = 'archived' WHERE path = 'imagenet/vit'")
conn.commit()
"""

CONFIG = ('[store]\nhierarchy = "bench > model"\n\n[metrics]\nminimize = ["final_err"]\nmaximize = ["final_loss_gap"]\n'
          '\n[theme]\naccent = "#89b4fa"\n')


def _extract_store(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(CONFIG)
    proc = subprocess.run([sys.executable, "-c", WRITE, str(folder)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (folder / "artifacts" / "stray.npy").write_bytes(b"no row names me")
    return folder


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Extract store, as extract-tracker wrote it (never imported from in place)."""
    return _extract_store(tmp_path_factory.mktemp("extract-src") / ".extract")


@pytest.fixture(scope="module")
def adopted(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A repository whose .extract/ held the store: `git vault init --adopt-extract` moved it aside
    and imported it. (repository, moved store, the command's output)."""
    repo = make_repo(tmp_path_factory.mktemp("extract-adopt") / "project")
    shutil.copytree(source, repo / ".extract")
    proc = vault_run(repo, "init", "--adopt-extract", "--no-hooks", check=True)
    [moved] = list(repo.glob(".extract-from-extract-*"))
    return repo, moved, proc.stdout


def _db(store: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(store / "extract.db")
    conn.row_factory = sqlite3.Row
    return conn


def tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/vault/main").stdout.strip()


def test_adopting_imports_every_run_with_its_values(adopted: tuple[Path, Path, str]) -> None:
    repo, moved, out = adopted
    assert "hierarchy: bench > model" in out and str(moved) in out
    assert "added: 3 experiments, 5 runs, 2 models, 6 lineage edges, 3 TODOs, 1 event" in out, out
    assert "runs.status: run" in out and "'running' in Extract (never finished): imported as crashed" in out
    assert "lineage: edge" in out and "'never-registered'" in out
    assert "config.toml: view settings [theme] not carried over" in out
    assert "artifacts/stray.npy: no artifact row names this file: not imported" in out
    conn = _db(moved)
    with Store(repo) as store:
        listed = {r["id"]: r for r in store.list_runs()}
        assert set(listed) == {r["id"] for r in conn.execute("SELECT id FROM runs")}  # ids kept
        for row in conn.execute("SELECT * FROM runs"):
            view = store.get_run(row["id"])
            assert view.name == row["name"]
            assert view.config == (json.loads(row["config"]) if row["config"] else {})
            assert view.status == {"running": "crashed"}.get(row["status"], row["status"])
            assert view["started_at"] == iso_from_text(row["started_at"])
            if row["ended_at"]:
                assert view["ended_at"] == iso_from_text(row["ended_at"])
            assert view["hostname"] == row["hostname"] and view["git"]["sha"] == row["git_sha"]
            assert view["total_steps"] == row["total_steps"]
            assert view.tags == json.loads(row["tags"] or "[]")
            assert [n["content"] for n in view.notes] == ([row["notes"]] if row["notes"] else [])
            metrics = {r["name"]: r["value"] for r in conn.execute(
                "SELECT name, value FROM scalar_metrics WHERE run_id = ?", (row["id"],))}
            assert view.metrics == metrics
            assert view.params == {r["name"]: r["value"] for r in conn.execute(
                "SELECT name, value FROM run_params WHERE run_id = ?", (row["id"],))}
            points = {(r["name"], r["step"]): (r["value"], r["wall_time"]) for r in conn.execute(
                "SELECT * FROM curve_points WHERE run_id = ?", (row["id"],))}
            long = view.curves(wide=False)
            got = {(n, s): v for n, s, v in zip(long["name"], long["step"], long["value"])}
            assert got == {key: value for key, (value, _) in points.items()}
            for artifact in conn.execute("SELECT * FROM artifacts WHERE run_id = ?", (row["id"],)):
                file = moved / artifact["rel_path"]
                if artifact["kind"] == "matrix":
                    table = view.table(artifact["name"], step=artifact["step"])
                    assert np.array_equal(table, np.load(file)) and table.dtype == np.load(file).dtype
                else:
                    assert view.text(artifact["name"]) == file.read_text()
        base = store.get_run(next(i for i, r in listed.items() if r["name"] == "base"))
        wide = base.curves()
        assert wide.filter(wide["step"] == 7)["loss"][0] == 0.5
        assert wide["wall_time"].null_count() == 0


def test_experiments_models_lineage_todos_and_directions(adopted: tuple[Path, Path, str], tmp_path: Path) -> None:
    repo, moved, _ = adopted
    conn = _db(moved)
    with Query(repo) as query:
        experiments = {e["path"]: e for e in query.list_experiments()["items"]}
        for row in conn.execute("SELECT * FROM experiments"):
            item = experiments[row["path"]]
            assert (item["name"], item["node_type"], item["created_at"]) == (
                row["name"], row["node_type"], iso_from_text(row["created_at"]))
        assert experiments["imagenet/vit"]["archived"] and not experiments["imagenet/resnet"]["archived"]
        todos = {t["id"]: t for t in query.list_todos(scope_type="all", include_done=True)["items"]}
        for row in conn.execute("SELECT * FROM todos"):
            todo = todos[row["id"]]
            assert (todo["content"], todo["priority"], todo["done"]) == (row["content"], row["priority"], bool(row["done"]))
            assert todo["created_at"] == iso_from_text(row["created_at"])
            assert todo["completed_at"] == iso_from_text(row["completed_at"])
        child = next(r["id"] for r in query.list_runs()["items"] if r["name"] == "child")
        edges = {(e["parent_type"], e["relation"]) for e in query.get_lineage("run", child, "ancestors", 1)["edges"]}
        assert edges == {("run", "derived_from"), ("model", "derived_from"), ("experiment", "branched_from")}
    with Store(repo) as store:
        for row in conn.execute("SELECT * FROM models"):
            out = tmp_path / row["name"]
            written = store.download_model(f"{row['name']}@{row['version']}", out)
            source = moved / "models" / row["name"] / row["version"] / Path(row["artifact_path"]).name
            if source.is_dir():
                assert {p.relative_to(out).as_posix(): p.read_bytes() for p in written} == {
                    p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
            else:
                assert [p.read_bytes() for p in written] == [source.read_bytes()]
        assert store.config.minimize == ["final_err"] and store.config.maximize == ["final_loss_gap"]
    assert "fsck: ok" in vault_run(repo, "fsck", check=True).stdout


def test_importing_again_adds_nothing(adopted: tuple[Path, Path, str]) -> None:
    repo, moved, _ = adopted
    before = tip(repo)
    out = vault_run(repo, "import-from", "extract", str(moved), check=True).stdout
    assert "added: 0 experiments, 0 runs;" in out and "0 vault commits" in out
    dry = vault_run(repo, "import-from", "extract", str(moved), "--dry-run", check=True).stdout
    assert "would add: 0 experiments, 0 runs; already in the vault: 3 experiments, 2 models" in dry, dry
    assert "kept as the vault has them" not in dry
    assert tip(repo) == before


def test_a_dry_run_writes_nothing(source: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    vault_run(repo, "init", "--hierarchy", "bench > model", "--no-hooks", check=True)
    before, objects = tip(repo), sorted((repo / ".git" / "vault" / "objects").rglob("*"))
    out = vault_run(repo, "import-from", "extract", str(source.parent), "--dry-run", check=True).stdout
    assert "would add: 3 experiments, 5 runs, 2 models" in out
    assert tip(repo) == before and sorted((repo / ".git" / "vault" / "objects").rglob("*")) == objects


@pytest.mark.parametrize("what", ["empty folder", "gitvault's own", "not sqlite"])
def test_a_store_it_cannot_read_is_one_line_and_changes_nothing(what: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    vault_run(repo, "reindex", check=True)
    target = {"empty folder": tmp_path / "empty", "gitvault's own": repo / ".extract", "not sqlite": tmp_path / "bad"}[what]
    target.mkdir(exist_ok=True)
    if what == "not sqlite":
        (target / "extract.db").write_text("not a database")
    before = tip(repo)
    proc = vault_run(repo, "import-from", "extract", str(target))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("git vault: error:")
    assert {"empty folder": "holds no Extract store", "gitvault's own": "gitvault's own cache",
            "not sqlite": "cannot read"}[what] in proc.stderr
    assert tip(repo) == before


KILLED_IMPORT = r"""
import os, signal, sys
from pathlib import Path
from gitvault.importers import extract
from gitvault.importers.plan import Import
from gitvault.storage.vault import Vault

stage_to_kill, source = sys.argv[2], Path(sys.argv[3])

def progress(stage, done, total):
    if stage == stage_to_kill and done >= 2:
        os.kill(os.getpid(), signal.SIGKILL)

imp = Import(Vault.open(sys.argv[1]), "extract", source, progress=progress)
extract.import_store(imp, source)
imp.finish(batch=4)
"""


@pytest.mark.parametrize("stage", ["reading runs", "committing records"])
def test_a_killed_import_resumes_to_the_tree_of_a_clean_one(stage: str, source: Path, tmp_path: Path) -> None:
    clean = make_repo(tmp_path / "clean")
    vault_run(clean, "init", "--hierarchy", "bench > model", "--no-hooks", check=True)
    vault_run(clean, "import-from", "extract", str(source), check=True)
    killed = make_repo(tmp_path / "killed")
    vault_run(killed, "init", "--hierarchy", "bench > model", "--no-hooks", check=True)
    before = tip(killed)
    proc = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(killed), stage, str(source)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    if stage == "reading runs":
        assert tip(killed) == before  # nothing committed before the records were all read
    else:
        assert tip(killed) != before  # whole batches of records, the rest to come
    vault_run(killed, "import-from", "extract", str(source), check=True)
    assert git(killed, "rev-parse", "refs/vault/main^{tree}").stdout == git(clean, "rev-parse", "refs/vault/main^{tree}").stdout
    assert "fsck: ok" in vault_run(killed, "fsck", check=True).stdout


KILLED_EXTRACT = r"""
import os, signal, sys
from extract import Store
store = Store(sys.argv[1])
run = store.experiment({"bench": "wal", "model": "m"}).run(config={"lr": 1}, name="in-the-wal")
for step in range(10):
    run.curve(step=step, loss=float(step))
os.kill(os.getpid(), signal.SIGKILL)  # Extract killed mid-run: its writes are still in extract.db-wal
"""


def test_writes_still_in_the_wal_are_imported_and_the_store_is_untouched(tmp_path: Path) -> None:
    store = tmp_path / ".extract"
    store.mkdir()
    (store / "config.toml").write_text(CONFIG)
    proc = subprocess.run([sys.executable, "-c", KILLED_EXTRACT, str(store)], capture_output=True, text=True)
    assert proc.returncode == -9 and (store / "extract.db-wal").stat().st_size > 0
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}
    repo = make_repo(tmp_path / "project")
    vault_run(repo, "init", "--hierarchy", "bench > model", "--no-hooks", check=True)
    out = vault_run(repo, "import-from", "extract", str(tmp_path), check=True).stdout
    assert "added: 2 experiments, 1 run" in out and "imported as crashed" in out
    with Store(repo) as gv:
        [item] = gv.list_runs()
        assert item["name"] == "in-the-wal" and gv.get_run(item["id"]).curves()["loss"].to_list() == list(range(10))
    assert {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()} == before
