"""The writing commands (`todo add|list|done`, `tag`, `note`, `new`) against one demo vault: each
change is a new vault commit, read back through the read commands, and bad input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, make_repo, vault_cmd
from tests.test_cli_read import as_json, fails, ok

WRITE_COMMANDS = (("todo", "add"), ("todo", "list"), ("todo", "done"), ("tag",), ("note",), ("new",))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("cli-write") / "project", "demo")


@pytest.fixture(scope="module")
def runs(demo: Path) -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in as_json(demo, "runs")["items"]}


def tip(root: Path) -> str:
    return git(root, "rev-parse", "refs/vault/main").stdout.strip()


@pytest.mark.parametrize("command", WRITE_COMMANDS, ids=" ".join)
def test_every_write_command_has_help(demo: Path, command: tuple[str, ...]) -> None:
    assert ok(demo, *command, "--help").startswith(f"usage: git vault {' '.join(command)}")


def test_todo_add_list_done(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    listed = as_json(demo, "todo", "list")
    assert [t["content"] for t in listed["items"]][:2] == ["Write up the lr sweep for the paper",
                                                           "Investigate the divergence at step 30"]
    assert "Build the demo vault" not in {t["content"] for t in listed["items"]}  # done
    assert "Build the demo vault" in {t["content"] for t in as_json(demo, "todo", "list", "--all")["items"]}

    run = runs["cifar10/resnet18/augment#base"]["id"]
    added = as_json(demo, "todo", "add", "--run", run[:14], "--priority", "2", "rerun", "with", "seed", "2")
    assert added["content"] == "rerun with seed 2"
    scoped = as_json(demo, "todo", "list", "--run", run[:14])["items"]
    assert [(t["id"], t["scope_type"], t["scope_id"], t["priority"]) for t in scoped] == [(added["id"], "run", run, 2)]
    assert as_json(demo, "show", run)["todos"][0]["content"] == "rerun with seed 2"

    exp_todo = as_json(demo, "todo", "add", "--experiment", "cifar10/resnet18/augment", "try mixup")
    assert [t["content"] for t in as_json(demo, "todo", "list", "--experiment", "cifar10/resnet18/augment")["items"]] == ["try mixup"]
    glob = ok(demo, "todo", "add", "global", "one")
    assert glob.startswith("added TODO ") and "(global, low priority)" in glob
    assert "global one" in {t["content"] for t in as_json(demo, "todo", "list", "--scope", "global")["items"]}
    text = ok(demo, "todo", "list")
    assert "experiment cifar10/resnet18/augment" in text and "try mixup" in text

    assert ok(demo, "todo", "done", exp_todo["id"][:20]).startswith(f"done: {exp_todo['id']}")
    assert as_json(demo, "todo", "list", "--experiment", "cifar10/resnet18/augment")["items"] == []
    before = tip(demo)
    assert "already done" in ok(demo, "todo", "done", exp_todo["id"])
    assert tip(demo) == before


def test_todo_errors_change_nothing(demo: Path) -> None:
    before = tip(demo)
    assert "TODO not found: 'ZZZZ'" in fails(demo, "todo", "done", "ZZZZ")
    assert "matches" in fails(demo, "todo", "done", "01")
    assert "Run not found: 'nope'" in fails(demo, "todo", "add", "--run", "nope", "text")
    assert "Experiment not found" in fails(demo, "todo", "add", "--experiment", "no/such", "text")
    assert "--scope run needs --run" in fails(demo, "todo", "list", "--scope", "run")
    assert "contradicts" in fails(demo, "todo", "list", "--scope", "global", "--run", "x")
    proc = vault_cmd(demo, "todo", "add", "--priority", "7", "x")
    assert proc.returncode == 2 and "invalid choice: 7" in proc.stderr
    assert tip(demo) == before


def test_tag_and_note_a_sealed_run(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    run = runs["imagenet/resnet50/baseline#baseline"]["id"]
    before = tip(demo)
    out = as_json(demo, "tag", run[:14], "reviewed", "paper", "reviewed")
    assert out == {"id": run, "added": ["reviewed", "paper"], "tags": ["baseline", "reviewed", "paper"]}
    assert tip(demo) != before
    assert "nothing changed" in ok(demo, "tag", run, "paper")
    assert ok(demo, "note", run[:14], "checked", "against", "the", "paper") == f"noted on {run}: checked against the paper\n"
    detail = as_json(demo, "show", run)
    assert detail["tags"] == ["baseline", "reviewed", "paper"] and "checked against the paper" in detail["notes"]
    assert {r["id"] for r in as_json(demo, "runs", "--tag", "reviewed")["items"]} == {run}
    assert {r["id"] for r in as_json(demo, "runs", "--text", "against the paper")["items"]} == {run}
    log = git(demo, "log", "--format=%s", "-2", "refs/vault/main").stdout.splitlines()
    assert log[0].startswith("note on run") and log[1].startswith("tag run")


def test_tag_and_note_errors_change_nothing(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    run = runs["imagenet/resnet50/baseline#baseline"]["id"]
    before = tip(demo)
    assert "Run not found" in fails(demo, "tag", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "x")
    assert "ambiguous" in fails(demo, "note", run[:2], "text")
    assert "path separator" in fails(demo, "tag", run, "a/b")
    assert "empty" in fails(demo, "note", run, " ")
    assert tip(demo) == before


def test_new_creates_a_specimen_and_scaffolds_it(demo: Path) -> None:
    out = as_json(demo, "new", "2025_01_07_probe_layers", "--domain", "interpretability", "--method", "probe_training",
                  "--tags", "gpt2,layer_6", "--model", "gpt2")
    assert (out["specimen_id"], out["path"], out["tags"], out["model"]) == (
        "2025_01_07_probe_layers", "2025_01_07_probe_layers", ["gpt2", "layer_6"], "gpt2")
    folder = demo / "specimens" / "2025_01_07_probe_layers"
    assert sorted(p.name for p in folder.iterdir()) == ["field_notes.md", "protocol.py"]
    assert "probe_training" in (folder / "field_notes.md").read_text()
    catalog = as_json(demo, "sql", "SELECT specimen_id, domain, method, model, tags FROM catalog "
                                    "WHERE specimen_id = '2025_01_07_probe_layers'")
    assert catalog == [{"specimen_id": "2025_01_07_probe_layers", "domain": "interpretability",
                        "method": "probe_training", "model": "gpt2", "tags": ["gpt2", "layer_6"]}]
    text = ok(demo, "new", "2025_01_08_manifest_only", "--domain", "training", "--method", "fine_tuning", "--no-scaffold")
    assert text.startswith("created specimen 2025_01_08_manifest_only (training / fine_tuning)") and "wrote" not in text
    assert not (demo / "specimens" / "2025_01_08_manifest_only").exists()


def test_new_refuses_bad_input_and_duplicates(demo: Path) -> None:
    before = tip(demo)
    specimens = sorted(p.name for p in (demo / "specimens").iterdir())
    assert "already exists" in fails(demo, "new", "example_2024_12_19_synthetic_demo", "--domain", "interpretability",
                                     "--method", "sae_analysis")
    assert "may only hold letters" in fails(demo, "new", "bad id!", "--domain", "training", "--method", "fine_tuning")
    assert "path separator" in fails(demo, "new", "../escape", "--domain", "training", "--method", "fine_tuning")
    assert "unknown domain 'biology'" in fails(demo, "new", "x1", "--domain", "biology", "--method", "fine_tuning")
    assert "method 'sae_analysis' is not valid for domain 'training'" in fails(
        demo, "new", "x2", "--domain", "training", "--method", "sae_analysis")
    assert "empty entry" in fails(demo, "new", "x3", "--domain", "training", "--method", "fine_tuning", "--tags", "a,,b")
    assert "an experiment at path 'imagenet' already exists" in fails(
        demo, "new", "imagenet", "--domain", "training", "--method", "fine_tuning")
    (demo / "specimens" / "x4").mkdir()
    (demo / "specimens" / "x4" / "protocol.py").write_text("# mine\n")
    assert "never overwritten" in fails(demo, "new", "x4", "--domain", "training", "--method", "fine_tuning")
    assert (demo / "specimens" / "x4" / "protocol.py").read_text() == "# mine\n"
    proc = vault_cmd(demo, "new", "x5", "--domain", "training")
    assert proc.returncode == 2 and "--method" in proc.stderr
    assert tip(demo) == before
    assert sorted(p.name for p in (demo / "specimens").iterdir()) == sorted(specimens + ["x4"])


def test_write_commands_json_is_parseable(demo: Path) -> None:
    out = vault_cmd(demo, "todo", "add", "--json", "json", "check", check=True).stdout
    assert json.loads(out)["content"] == "json check"


LIVE_WRITER = """
import sys
from gitvault import Store
store = Store()
exp = store.experiment({"benchmark": "imagenet", "model": "resnet50", "variant": "live"})
run = exp.run(config={"lr": 0.1}, name="still-training", total_steps=100)
for step in range(40):
    run.curve(step=step, train_loss=1.0 / (step + 1))
run.log(final_loss=0.025)
run.flush()
print(run.id, flush=True)
sys.stdin.readline()
run.finish()
"""


def test_running_runs_show_up_with_their_live_points(demo: Path, runs: dict[str, dict[str, Any]]) -> None:
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER], cwd=demo, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        rid = writer.stdout.readline().strip()
        assert rid, "the writer did not start"
        running = as_json(demo, "runs", "--status", "running")["items"]
        assert [(r["id"], r["label"]) for r in running] == [(rid, "imagenet/resnet50/live#still-training")]
        detail = as_json(demo, "show", rid[:20])
        assert detail["status"] == "running" and detail["curves"]["points"] == 40
        assert "status:   running" in ok(demo, "show", rid)
        sealed = runs["imagenet/resnet50/lr-sweep#lr-1e-3"]["id"]
        both = as_json(demo, "compare", rid, sealed, "--curves")
        assert len(both["curves"]["train_loss"][rid]) == 40 and len(both["curves"]["train_loss"][sealed]) == 60
        assert both["metrics"]["final_loss"]["ranking"][0] == rid
    finally:
        writer.stdin.write("\n")
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0
    assert as_json(demo, "show", rid)["status"] == "completed"
