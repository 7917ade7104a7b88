"""The Extract seed's Full Usage Example, unchanged but for the import, in a fresh `git init` repo;
then every value it logged is read back. Importing the SDK changes nothing in the user's process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gitvault import Store

from gitvault.storage import records
from tests.conftest import git

FULL_USAGE_EXAMPLE = '''
import numpy as np
from gitvault import Store

store = Store()

# Create experiment hierarchy
exp = store.experiment({
    "benchmark": "imagenet",
    "model": "resnet50",
    "variant": "lr-sweep"
})

# Context manager approach
with exp.run(config={"lr": 0.001, "bs": 32, "epochs": 50}, name="resnet50-lr1e3", total_steps=50) as run:
    for step in range(50):
        # Streaming curve points — drive the live chart, not the headline summary.
        run.curve(step=step, train_loss=2.3 - step * 0.04, train_acc=step * 0.018)
    # Headline metrics — appear in Summary panel and rankings.
    run.log(final_acc=0.92)
    run.log(arch="resnet50", optimizer="sgd")
    run.log_table("confusion_matrix", np.random.rand(1000, 1000), axes={"rows": "true", "cols": "predicted"})
    run.log_text("notes", "## Observations\\nResNet50 with lr=1e-3 converges stably.")
    run.tag("sweep", "production-candidate")
    run.note("Best learning rate in sweep")
    run.todo("Try lr=0.005 next", priority=1)
    run.register_model("resnet50-imagenet", "v1.0", "/tmp/model.pt", framework="pytorch")
    run.derived_from(model="baseline-imagenet", version="v0.9")

# Direct call approach — run spans multiple scopes
run = exp.run(config={"lr": 0.005}, name="resnet50-lr5e3")
run.log(loss=2.1)
run.tag("sweep")
run.finish()          # explicit finalize (idempotent)

# Global TODO
store.todo("Write up results for paper", priority=2)

store.close()
'''


def test_full_usage_example_runs_unchanged_and_reads_back(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    model_bytes = b"fake torch weights " * 64
    Path("/tmp/model.pt").write_bytes(model_bytes)
    (root / "train.py").write_text(FULL_USAGE_EXAMPLE)
    proc = subprocess.run([sys.executable, "train.py"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    store = Store(root)
    assert store.hierarchy == ["benchmark", "model", "variant"]
    [exp] = store.list_experiments("imagenet/resnet50/")
    assert exp.path == "imagenet/resnet50/lr-sweep" and exp.node_type == "variant"
    assert [e.path for e in store.list_experiments()] == ["imagenet", "imagenet/resnet50", "imagenet/resnet50/lr-sweep"]
    runs = exp.list_runs()
    assert [r["name"] for r in runs] == ["resnet50-lr1e3", "resnet50-lr5e3"]
    assert all(r["status"] == "completed" for r in runs)

    first = store.get_run(runs[0]["id"])
    assert first.config == {"lr": 0.001, "bs": 32, "epochs": 50}
    assert first.record["total_steps"] == 50
    assert first.metrics == {"final_acc": 0.92}
    assert first.params == {"arch": "resnet50", "optimizer": "sgd"}
    assert first.tags == ["sweep", "production-candidate"]
    assert [n["content"] for n in first.notes] == ["Best learning rate in sweep"]
    curves = first.curves()
    assert curves.columns == ["step", "wall_time", "train_loss", "train_acc"]
    assert curves["step"].to_list() == list(range(50))
    assert curves["train_loss"].to_list() == [2.3 - s * 0.04 for s in range(50)]
    assert curves["train_acc"].to_list() == [s * 0.018 for s in range(50)]
    assert first.record["curves"]["points"] == 100 and first.record["curves"]["last_step"] == 49
    table = first.table("confusion_matrix")
    assert table.shape == (1000, 1000) and table.dtype == np.float64 and 0 <= table.min() and table.max() < 1
    [matrix] = [a for a in first.artifacts if a["kind"] == "matrix"]
    assert matrix["metadata"] == {"axes": {"rows": "true", "cols": "predicted"}} and matrix["shape"] == [1000, 1000]
    assert first.text("notes") == "## Observations\nResNet50 with lr=1e-3 converges stably."
    assert first.record["hostname"] and first.record["env"]["python"]
    assert "numpy" in first.record["env"]["packages"]
    assert first.record["git"]["sha"] is None and first.record["git"]["dirty"] is True  # unborn HEAD

    [todo] = store.list_todos("run", first.id)
    assert todo["content"] == "Try lr=0.005 next" and todo["priority"] == 1
    assert [t["content"] for t in store.list_todos()] == ["Write up results for paper"]
    [model] = store.list_models()
    assert (model["name"], model["version"], model["framework"], model["run_id"]) == ("resnet50-imagenet", "v1.0", "pytorch", first.id)
    assert Path(model["artifact_path"]).read_bytes() == model_bytes and model["size"] == len(model_bytes)
    snap = store.snapshot()
    edges = [snap.get("lineage", i) for i in snap.ids("lineage")]
    [made] = [e for e in edges if e["child_type"] == "model"]  # the model derives from the run that registered it
    assert (made["parent_type"], made["parent_id"], made["child_id"]) == ("run", first.id, model["id"])
    [edge] = [e for e in edges if e["child_type"] == "run"]
    assert edge["parent_type"] == "model" and edge["parent_id"] == records.model_id("baseline-imagenet", "v0.9")
    assert (edge["child_type"], edge["child_id"], edge["relation"]) == ("run", first.id, "derived_from")

    second = store.get_run(runs[1]["id"])
    assert second.config == {"lr": 0.005} and second.metrics == {"loss": 2.1} and second.tags == ["sweep"]
    assert second.curves().height == 0

    log = git(root, "log", "--format=%s", "refs/vault/main").stdout
    assert log.count("seal run ") == 2 and f"seal run {first.id} completed: imagenet/resnet50/lr-sweep" in log
    assert not any((root / ".git" / "vault" / "live").iterdir())
    assert git(root, "status", "--porcelain").stdout.strip() == "?? train.py"


PROBE = """
import json, os
before = dict(os.environ)
{imports}
import pyarrow as pa
print(json.dumps({{"pool": pa.default_memory_pool().backend_name, "env": dict(os.environ) == before}}))
"""


def test_importing_the_sdk_changes_nothing_in_the_process() -> None:
    """Arrow's default memory pool and the environment are what they would be without gitvault."""
    def probe(imports: str) -> str:
        clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
        return subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], env=clean, capture_output=True,
                              text=True, check=True).stdout.strip()

    plain = probe("")
    with_sdk = probe("import gitvault\nfrom gitvault import Store, Run\nimport gitvault.runs.run, gitvault.runs.curves")
    assert with_sdk == plain and '"env": true' in plain
