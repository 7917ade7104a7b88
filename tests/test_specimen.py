"""Specimens through the public API: validation, duplicates, the manifest in refs/vault/main, the
scaffolded protocol.py (run for real) and field_notes.md."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitvault.scaffold import specimen
from gitvault.settings import VaultConfig
from gitvault.errors import ConfigError, InvalidNameError, RecordExistsError
from gitvault.runs.store import Store
from gitvault.storage.vault import Transaction
from tests.conftest import git, vault_cmd


@pytest.fixture
def store(vault_repo: Path) -> Store:
    with Store(vault_repo) as s:
        yield s


def test_create_records_the_manifest_and_scaffolds(store: Store, vault_repo: Path) -> None:
    made = specimen.create(store, "2024_12_19_my_experiment", "interpretability", "sae_analysis",
                           tags="gpt2,layer_12", model="gpt2")
    record = made.experiment.record
    assert (record["path"], record["node_type"], record["specimen_id"]) == ("2024_12_19_my_experiment", "benchmark",
                                                                            "2024_12_19_my_experiment")
    assert (record["domain"], record["method"], record["model"], record["tags"]) == (
        "interpretability", "sae_analysis", "gpt2", ["gpt2", "layer_12"])
    assert specimen.find(store, "2024_12_19_my_experiment")["id"] == record["id"]
    folder = vault_repo / "specimens" / "2024_12_19_my_experiment"
    assert made.folder == folder and sorted(f.name for f in made.files) == ["field_notes.md", "protocol.py"]
    protocol = (folder / "protocol.py").read_text()
    ast.parse(protocol)
    assert '"specimen_id": "2024_12_19_my_experiment"' in protocol and "'gpt2', 'layer_12'" in protocol
    notes = (folder / "field_notes.md").read_text()
    assert notes.startswith("# Field notes: 2024_12_19_my_experiment") and "- tags: gpt2, layer_12" in notes
    assert "specimens/2024_12_19_my_experiment" not in git(vault_repo, "ls-files").stdout  # the user commits it
    message = git(vault_repo, "log", "-1", "--format=%s", "refs/vault/main").stdout.strip()
    assert message == "create experiment 2024_12_19_my_experiment"


def test_scaffolded_protocol_runs_and_fills_the_specimen_view(store: Store, vault_repo: Path) -> None:
    specimen.create(store, "2025_02_01_synthetic", "training", "fine_tuning")
    proc = subprocess.run([sys.executable, "specimens/2025_02_01_synthetic/protocol.py"], cwd=vault_repo,
                          text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sealed run ") and proc.stdout.rstrip().endswith("of specimen 2025_02_01_synthetic")
    runs = store.list_runs(store.get_experiment("2025_02_01_synthetic").id)
    assert [r["status"] for r in runs] == ["completed"]
    view = store.get_run(runs[0]["id"])
    assert view.tensor("activations").shape == (100, 512)
    assert view.curves().height == 100 and {"loss", "accuracy"} <= set(view.curves().columns)
    rows = json.loads(vault_cmd(vault_repo, "sql", "SELECT count(*) AS n, min(step) AS first, max(step) AS last "
                                "FROM exp_2025_02_01_synthetic", "--json", check=True).stdout)
    assert rows == [{"n": 100, "first": 0, "last": 99}]


@pytest.mark.parametrize("bad", ["", "has space", "semi;colon", "../up", "-leading", "a" * 121, "dot.ted", "ünï"])
def test_invalid_ids_are_refused(store: Store, vault_repo: Path, bad: str) -> None:
    tip = store.vault.tip()
    with pytest.raises(InvalidNameError):
        specimen.create(store, bad, "training", "fine_tuning")
    assert store.vault.tip() == tip and not (vault_repo / "specimens").exists()


@pytest.mark.parametrize(("domain", "method", "error", "text"), [
    ("biology", "fine_tuning", ConfigError, "unknown domain 'biology'"),
    ("benchmarking", "fine_tuning", ConfigError, "valid methods: ablation_study"),
    ("training", None, ValueError, "both a domain and a method"),
])
def test_invalid_taxonomy_is_refused(store: Store, vault_repo: Path, domain: str, method: str | None,
                                     error: type[Exception], text: str) -> None:
    tip = store.vault.tip()
    with pytest.raises(error, match=text):
        specimen.create(store, "2025_01_01_x", domain, method)  # type: ignore[arg-type]
    assert store.vault.tip() == tip and not (vault_repo / "specimens").exists()


def test_duplicates_are_refused_and_nothing_changes(store: Store, vault_repo: Path) -> None:
    specimen.create(store, "dup", "alignment", "probe_training", tags=["a"])
    (vault_repo / "specimens" / "dup" / "protocol.py").write_text("# edited by the researcher\n")
    tip = store.vault.tip()
    with pytest.raises(RecordExistsError, match="specimen 'dup' already exists"):
        specimen.create(store, "dup", "alignment", "probe_training")
    store.experiment({"benchmark": "plain"})
    with pytest.raises(RecordExistsError, match="an experiment at path 'plain' already exists"):
        specimen.create(store, "plain", "alignment", "probe_training")
    assert (vault_repo / "specimens" / "dup" / "protocol.py").read_text() == "# edited by the researcher\n"
    assert store.vault.tip() != tip  # only the plain experiment was added
    assert [e.path for e in store.list_experiments()] == ["dup", "plain"]


def test_existing_files_are_never_overwritten(store: Store, vault_repo: Path) -> None:
    folder = vault_repo / "specimens" / "mine"
    folder.mkdir(parents=True)
    (folder / "field_notes.md").write_text("my notes\n")
    tip = store.vault.tip()
    with pytest.raises(RecordExistsError, match="field_notes.md already exists"):
        specimen.create(store, "mine", "training", "fine_tuning")
    assert store.vault.tip() == tip and (folder / "field_notes.md").read_text() == "my notes\n"
    made = specimen.create(store, "mine", "training", "fine_tuning", scaffold=False)
    assert made.files == [] and made.folder is None and not (folder / "protocol.py").exists()


def test_taxonomy_comes_from_vault_toml(store: Store) -> None:
    config = store.vault.config()
    config.domains["robotics"] = ["sim2real"]
    config.methods["sim2real"] = "Transfer from simulation to hardware"
    tx = Transaction(message="taxonomy: add robotics")
    tx.put_config(config)
    store.vault.commit(tx)
    with Store(store.vault.paths.work_tree) as fresh:
        made = specimen.create(fresh, "arm_reach", "robotics", "sim2real", scaffold=False)
        assert (made.experiment.domain, made.experiment.method) == ("robotics", "sim2real")
        with pytest.raises(ConfigError, match="valid methods: sim2real"):
            specimen.create(fresh, "arm_reach_2", "robotics", "fine_tuning")
    assert VaultConfig.from_toml(config.to_toml()).domains["robotics"] == ["sim2real"]


def test_specimen_under_a_custom_hierarchy(repo: Path) -> None:
    vault_cmd(repo, "init", "--hierarchy", "project > study", check=True)
    with Store(repo) as store:
        made = specimen.create(store, "s1", "training", "ablation_study")
        assert made.experiment.node_type == "project" and made.experiment.path == "s1"
        assert "{'project': 's1'}" in (repo / "specimens" / "s1" / "protocol.py").read_text()
