"""`git vault import-from specimens`: a Specimen Vault repository written as the seed describes it
(msgpack manifests, polars' Parquet metrics, Zarr arrays in ``strata/``; the seed's own
``write_tensors`` fails on zarr 3, so ``zarr.create_array`` writes them), imported and read back
through the SDK; tensor blobs are the same bytes on a re-import."""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from gitvault import Store
from gitvault.query import Query
from tests.conftest import git, make_repo, vault_run

pl = pytest.importorskip("polars", reason="the query extra (polars) writes the seed's metrics.parquet")
zarr = pytest.importorskip("zarr", reason="the tensors extra (zarr) writes the seed's strata/*.zarr")

ACTIVATIONS = np.arange(100 * 24, dtype=np.float32).reshape(100, 24) / 7


def _specimen(root: Path, specimen_id: str, manifest: dict[str, object], steps: int) -> Path:
    folder = root / "specimens" / specimen_id
    (folder / "strata").mkdir(parents=True)
    (folder / "manifest.msgpack").write_bytes(msgpack.packb({"specimen_id": specimen_id, **manifest}))
    (folder / "protocol.py").write_text("def run_experiment():\n    pass\n")
    (folder / "field_notes.md").write_text(f"# {specimen_id}\n\u25cfLOG|\u0394:created\n")
    pl.DataFrame({"step": list(range(steps)), "loss": [1 / (s + 1) for s in range(steps)],
                  "accuracy": [s / steps for s in range(steps)]}).write_parquet(folder / "strata" / "metrics.parquet")
    z = zarr.create_array(store=str(folder / "strata" / "activations.zarr"), shape=ACTIVATIONS.shape,
                          chunks=(10, 24), dtype=ACTIVATIONS.dtype)
    z[...] = ACTIVATIONS
    return folder


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("specimen-vault")
    _specimen(root, "2024_12_19_synthetic_demo", {"created": "2024-12-19T10:30:00Z", "domain": "interpretability",
                                                   "method": "sae_analysis", "model": "gpt2", "tags": ["gpt2", "layer_12"],
                                                   "dependencies": ["numpy", "zarr"]}, 100)
    _specimen(root, "2024_12_20_finetune", {"created": "2024-12-20T08:00:00Z", "domain": "training",
                                             "method": "probe_training", "tags": "lora"}, 10)
    (root / "specimens" / "2024_12_20_finetune" / "README.md").write_text("extra")
    return root


@pytest.fixture(scope="module")
def repo(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("specimen-import") / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    out = vault_run(repo, "import-from", "specimens", str(source), check=True).stdout
    assert "added: 2 experiments, 2 runs" in out, out
    assert "2024_12_20_finetune: method 'probe_training' is not valid for domain 'training'" in out
    assert "2024_12_20_finetune: README.md (beside the specimen's manifest) not imported" in out
    return repo


def test_specimens_become_experiments_with_their_results(source: Path, repo: Path) -> None:
    with Store(repo) as store:
        demo = store.get_experiment("2024_12_19_synthetic_demo")
        assert (demo.specimen_id, demo.domain, demo.method, demo.model, demo.tags) == (
            "2024_12_19_synthetic_demo", "interpretability", "sae_analysis", "gpt2", ["gpt2", "layer_12"])
        assert store.snapshot().get("experiment", demo.id)["metadata"] == {"dependencies": ["numpy", "zarr"]}
        [item] = demo.list_runs()
        view = store.get_run(item["id"])
        assert view["started_at"] == "2024-12-19T10:30:00.000000Z"
        metrics = pl.read_parquet(source / "specimens" / "2024_12_19_synthetic_demo" / "strata" / "metrics.parquet")
        wide = view.curves()
        assert wide["step"].to_list() == metrics["step"].to_list()
        assert wide["loss"].to_list() == metrics["loss"].to_list()
        assert wide["accuracy"].to_list() == metrics["accuracy"].to_list()
        assert view.metrics == {"loss": metrics["loss"][-1], "accuracy": metrics["accuracy"][-1]}
        tensor = view.tensor("activations")
        assert tensor.shape == ACTIVATIONS.shape and np.array_equal(tensor[3:5], ACTIVATIONS[3:5])  # lazily sliced
        assert np.array_equal(tensor[...], ACTIVATIONS)
        assert view.text("protocol.py").startswith("def run_experiment")
    with Query(repo) as query:
        [note] = query.get_run(item["id"])["notes"].splitlines()[1:2]
        assert note == "\u25cfLOG|\u0394:created"
        frame = query.sql("SELECT step, loss FROM exp_2024_12_19_synthetic_demo WHERE step >= 98 ORDER BY step")
        assert frame["loss"].to_list() == metrics["loss"].to_list()[98:]


def test_a_reimport_adds_nothing_and_tensor_blobs_are_the_same_bytes(source: Path, repo: Path, tmp_path: Path) -> None:
    before = git(repo, "rev-parse", "refs/vault/main").stdout
    assert "added: 0 experiments, 0 runs;" in vault_run(repo, "import-from", "specimens", str(source), check=True).stdout
    assert git(repo, "rev-parse", "refs/vault/main").stdout == before
    other = make_repo(tmp_path / "other")
    vault_run(other, "init", "--no-hooks", check=True)
    vault_run(other, "import-from", "specimens", str(source / "specimens"), check=True)
    assert git(other, "rev-parse", "refs/vault/main^{tree}").stdout == git(repo, "rev-parse", "refs/vault/main^{tree}").stdout


def test_no_specimens_is_one_line(tmp_path: Path, repo: Path) -> None:
    proc = vault_run(repo, "import-from", "specimens", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "holds no specimens" in proc.stderr
