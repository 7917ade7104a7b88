"""`git vault import-from`: an Extract store and an MLflow store (the mlruns/ file store and
mlflow.db) of 500 runs and 400,000 curve points each, imported into a fresh vault (issue 28: at
most 20 s each). Prints the import's wall time (the source written beforehand is not timed), the
source's bytes and the repository's git dir before and after (records, packs and blobs).

    .venv/bin/python bench/import_bench.py [--runs 500] [--points 400000] [--only extract|mlflow-file|mlflow-db]

The Extract store is made by extract-tracker's own ``Store`` (its schema, its config.toml), with
its rows inserted in bulk (its ``run.curve`` commits every 10 points: 400,000 points would take
minutes); each run has 2 curves, 3 headline metrics, 2 params, a tag and a note. The MLflow stores
are written by mlflow's own client (``log_batch``, 1,000 metrics a call) in a subprocess, with 2
metrics a run, 3 params and a tag.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault.importers import import_from  # noqa: E402
from gitvault.sizes import human_size  # noqa: E402
from gitvault.storage.vault import Vault  # noqa: E402

GOAL_S = 20.0

MLFLOW_WRITER = r"""
import os, sys, time
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

uri, runs, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(uri)
exp = client.create_experiment("bench")
steps = points // runs // 2
t0 = int(time.time() * 1000)
for i in range(runs):
    run = client.create_run(exp, run_name=f"run-{i}", start_time=t0 + i)
    metrics = [Metric(key, 1.0 / (s + 1) + k + i * 1e-3, t0 + i + s, s) for s in range(steps) for k, key in enumerate(("loss", "acc"))]
    params = [Param("lr", str(0.001 * (i % 10))), Param("batch", "32"), Param("seed", str(i))]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000],
                         params=params if start == 0 else [], tags=[RunTag("sweep", "a")] if start == 0 else [])
    client.set_terminated(run.info.run_id, "FINISHED", end_time=t0 + i + steps)
"""


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def extract_store(root: Path, runs: int, points: int) -> Path:
    """An Extract store made by extract-tracker's Store, rows inserted in bulk."""
    import sqlite3

    from extract import Store  # the test extra: extract-tracker
    from ulid import ULID

    store = root / ".extract"
    store.mkdir(parents=True)
    (store / "config.toml").write_text('[store]\nhierarchy = "bench > model"\n')
    ext = Store(store)
    experiments = [ext.experiment({"bench": "b", "model": f"m{k}"}) for k in range(10)]
    ext.close()
    conn = sqlite3.connect(store / "extract.db")
    steps = points // runs // 2
    for i in range(runs):
        rid = str(ULID())
        conn.execute("INSERT INTO runs (id, experiment_id, name, config, status, ended_at, hostname, git_sha, tags, "
                     "notes, total_steps) VALUES (?, ?, ?, ?, 'completed', strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                     "'node1', 'abc123', '[\"sweep\"]', 'a note', ?)",
                     (rid, experiments[i % 10].id, f"run-{i}", json.dumps({"lr": 0.001 * i, "seed": i}), steps))
        conn.executemany("INSERT INTO curve_points (run_id, name, step, value, wall_time) VALUES (?, ?, ?, ?, ?)",
                         [(rid, name, s, 1.0 / (s + 1) + k + i * 1e-3, s * 0.01) for s in range(steps)
                          for k, name in enumerate(("loss", "acc"))])
        conn.executemany("INSERT INTO scalar_metrics (run_id, step, name, value, wall_time) VALUES (?, 0, ?, ?, 1.0)",
                         [(rid, name, 0.5 + k) for k, name in enumerate(("final_loss", "final_acc", "best_acc"))])
        conn.executemany("INSERT INTO run_params (run_id, name, value) VALUES (?, ?, ?)",
                         [(rid, "arch", "resnet"), (rid, "opt", "sgd")])
    conn.commit()
    conn.close()
    return store


def mlflow_store(root: Path, kind: str, runs: int, points: int) -> Path:
    target = root / ("mlruns" if kind == "mlflow-file" else "mlflow.db")
    uri = target.as_uri() if kind == "mlflow-file" else f"sqlite:///{target}"
    proc = subprocess.run([sys.executable, "-c", MLFLOW_WRITER, uri, str(runs), str(points)], cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"writing the MLflow store failed:\n{proc.stderr[-2000:]}")
    return target


def fresh_vault(root: Path) -> Vault:
    repo = root / "project"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env={**os.environ, "GIT_AUTHOR_NAME": "bench",
                       "GIT_AUTHOR_EMAIL": "b@example.invalid", "GIT_COMMITTER_NAME": "bench",
                       "GIT_COMMITTER_EMAIL": "b@example.invalid"})
    subprocess.run([sys.executable, "-m", "gitvault.cli.main", "-C", str(repo), "init", "--no-hooks",
                    "--hierarchy", "bench > model"], check=True, capture_output=True)
    return Vault.open(repo)


def bench(kind: str, runs: int, points: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        root = Path(tmp)
        made = time.perf_counter()
        source = extract_store(root, runs, points) if kind == "extract" else mlflow_store(root, kind, runs, points)
        made = time.perf_counter() - made
        vault = fresh_vault(root)
        git_dir = vault.paths.common_dir
        before = folder_bytes(git_dir)
        started = time.perf_counter()
        report = import_from(vault, "mlflow" if kind.startswith("mlflow") else "extract", source)
        took = time.perf_counter() - started
        after = folder_bytes(git_dir)
        ok = took <= GOAL_S and report.added["run"] == runs
        print(f"{kind:12s} {report.added['run']} runs, {report.totals['curve point']:,} curve points: "
              f"import {took:.1f} s (goal <= {GOAL_S:.0f} s: {'ok' if ok else 'MISS'}); source "
              f"{human_size(folder_bytes(source) if source.is_dir() else source.stat().st_size)} "
              f"(written in {made:.0f} s); git dir {human_size(before)} -> {human_size(after)}; "
              f"{report.commits} commit(s)")
        return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--points", type=int, default=400_000)
    parser.add_argument("--only", choices=("extract", "mlflow-file", "mlflow-db"), default=None)
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["extract", "mlflow-file", "mlflow-db"]
    results = [bench(kind, args.runs, args.points) for kind in kinds]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
