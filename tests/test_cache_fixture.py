"""Vault fixtures for the cache tests and bench: records written directly with `Transaction` and
`BlobStore`, with exactly the fields the SDK writes (see gitvault/storage/records.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gitvault.runs import curves

from gitvault.storage import records
from gitvault.storage.blobs import BlobStore
from gitvault.storage.vault import Transaction, Vault, new_id

SPECIMEN = "example_2024_12_19_synthetic_demo"


def experiment(path: str, *, created_at: str = "2024-12-19T10:00:00.000000Z", node_type: str = "benchmark",
               specimen_id: str | None = None, domain: str | None = None, method: str | None = None,
               model: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    parent = path.rsplit("/", 1)[0] if "/" in path else None
    return {
        "kind": "experiment", "id": records.experiment_id(path), "path": path, "name": path.rsplit("/", 1)[-1],
        "parent_id": records.experiment_id(parent) if parent else None, "node_type": node_type,
        "created_at": created_at, "metadata": None, "status": "created", "specimen_id": specimen_id,
        "domain": domain, "method": method, "model": model, "tags": list(tags or []),
    }


def curves_blob(blobs: BlobStore, steps: int, names: tuple[str, ...] = ("loss", "accuracy"), seed: int = 0,
                nan_at: int | None = None) -> tuple[str, int, list[str]]:
    """A sealed wide curves blob (step, wall_time, one float64 column per name)."""
    rng = np.random.default_rng(seed)
    s = np.arange(steps, dtype=np.int64)
    cols: dict[str, Any] = {"step": pa.array(s), "wall_time": pa.array((s * 0.5).astype(np.float32))}
    for i, name in enumerate(names):
        base = np.exp(-s / 30.0) if "loss" in name else 1 - np.exp(-s / 30.0)
        vals = base + rng.normal(0, 0.01, steps) + i * 1e-3
        if nan_at is not None and i == 0:
            vals[nan_at] = math.nan
        cols[name] = pa.array(vals)
    table = pa.table(cols)
    return blobs.put_bytes(curves.to_parquet(table)), steps * len(names), list(names)


def run(exp: dict[str, Any], blobs: BlobStore, *, run_id: str | None = None, steps: int = 100,
        curve_names: tuple[str, ...] = ("loss", "accuracy"), metrics: dict[str, float] | None = None,
        params: dict[str, str] | None = None, config: dict[str, Any] | None = None, seed: int = 0,
        artifacts: list[dict[str, Any]] | None = None, tags: list[str] | None = None,
        nan_at: int | None = None, started_at: str = "2024-12-19T10:00:00.000000Z") -> dict[str, Any]:
    rid = run_id or new_id()
    curve_info: dict[str, Any] = {"blob": None, "names": [], "points": 0, "last_step": None}
    if steps:
        sha, points, names = curves_blob(blobs, steps, curve_names, seed, nan_at)
        curve_info = {"blob": sha, "names": names, "points": points, "last_step": steps - 1}
    return {
        "kind": "run", "id": rid, "experiment_id": exp["id"], "experiment_path": exp["path"],
        "name": f"run-{seed}", "config": config if config is not None else {"lr": 0.001 * (seed + 1), "opt": {"name": "adam", "beta": 0.9}},
        "started_at": started_at, "ended_at": "2024-12-19T10:05:00.000000Z", "status": "completed",
        "hostname": "testhost", "git": {"sha": "a" * 40, "branch": "main", "dirty": False, "patch": None, "tree": "b" * 40},
        "env": {"python": "3.11", "platform": "linux", "packages": {}}, "total_steps": steps or None,
        "metrics": {k: {"value": v, "wall_time": 1.5} for k, v in (metrics or {"final_loss": 0.1 + seed * 1e-3}).items()},
        "params": params or {"arch": "resnet18"}, "curves": curve_info, "artifacts": artifacts or [],
        "tags": list(tags or []), "notes": [],
    }


def frame_artifact(blobs: BlobStore, steps: int = 10) -> dict[str, Any]:
    """A Parquet "metrics" frame artifact (the seed's strata/metrics.parquet)."""
    s = np.arange(steps, dtype=np.int64)
    table = pa.table({"step": pa.array(s), "grad_norm": pa.array(np.linspace(1, 0, steps))})
    return {"id": new_id(), "name": "metrics", "kind": "metrics", "step": None,
            "blob": blobs.put_bytes(curves.to_parquet(table)), "shape": [steps, 2], "dtype": None,
            "metadata": None, "created_at": "2024-12-19T10:04:00.000000Z"}


def put(vault: Vault, *recs: dict[str, Any], message: str = "fixture") -> None:
    tx = Transaction(message=message)
    for rec in recs:
        tx.put(rec["kind"], rec["id"], rec)
    vault.commit(tx)


def demo(vault: Vault) -> dict[str, Any]:
    """The seed's specimen (100 steps of loss/accuracy), a second specimen, an Extract-style
    hierarchy with runs, a model, lineage, todos and a link."""
    blobs = BlobStore(vault.paths.objects_dir)
    spec = experiment(SPECIMEN, specimen_id=SPECIMEN, domain="interpretability", method="sae_analysis",
                      model="gpt2", tags=["synthetic", "gpt2"], created_at="2024-12-19T09:00:00.000000Z")
    other = experiment("2024_11_02_probe", specimen_id="2024_11_02_probe", domain="alignment", method="probe_training",
                       tags=["llama"], created_at="2024-11-02T09:00:00.000000Z")
    bench = experiment("imagenet")
    leaf = experiment("imagenet/resnet50", node_type="model")
    spec_run = run(spec, blobs, seed=1, artifacts=[frame_artifact(blobs)], tags=["demo"])
    runs = [run(leaf, blobs, seed=i, nan_at=5 if i == 0 else None,
                metrics={"final_loss": 0.3 - i * 0.01, "final_acc": float("nan") if i == 2 else 0.8 + i * 0.01})
            for i in range(3)]
    model_blob = blobs.put_bytes(b"weights")
    model = {"kind": "model", "id": records.model_id("resnet", "v1"), "name": "resnet", "version": "v1",
             "run_id": runs[0]["id"], "framework": "pytorch", "metadata": {"acc": 0.8},
             "created_at": "2024-12-19T11:00:00.000000Z", "blob": model_blob, "size": 7}
    edge = {"kind": "lineage", "id": records.lineage_id("run", runs[0]["id"], "run", runs[1]["id"], "derived_from"),
            "parent_type": "run", "parent_id": runs[0]["id"], "child_type": "run", "child_id": runs[1]["id"],
            "relation": "derived_from", "metadata": None, "created_at": "2024-12-19T11:00:00.000000Z"}
    todo = {"kind": "todo", "id": new_id(), "scope_type": "run", "scope_id": runs[0]["id"], "content": "try lr=0.005",
            "priority": 1, "created_at": "2024-12-19T11:00:00.000000Z", "done": False, "completed_at": None}
    link = {"kind": "link", "id": records.link_id(runs[0]["id"], "c" * 40), "run_id": runs[0]["id"], "commit": "c" * 40,
            "tree": "d" * 40, "via": "post-commit", "created_at": "2024-12-19T11:00:00.000000Z"}
    put(vault, spec, other, bench, leaf, spec_run, *runs, model, edge, todo, link, message="demo fixture")
    return {"specimen_run": spec_run, "runs": runs, "leaf": leaf, "todo": todo, "model": model}


def test_demo_fixture_is_complete(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    made = demo(vault)
    snap = vault.snapshot()
    assert snap.get("run", made["specimen_run"]["id"])["curves"]["points"] == 200
    assert sorted(snap.ids("experiment")) == sorted(
        records.experiment_id(p) for p in (SPECIMEN, "2024_11_02_probe", "imagenet", "imagenet/resnet50"))
