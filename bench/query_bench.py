"""Query-layer benchmarks (issue 4, "What it must show"). Prints medians; asserts nothing.

    .venv/bin/python bench/query_bench.py [--runs 10000] [--repeats 7] [--rebuild]

The vault (10,000 runs, 5 headline metrics and a 100-point "loss" curve each, plus 10 runs with
two 100,000-point curves) is written directly as records and Parquet blobs with `Transaction` and
`BlobStore` (100 records per commit) and kept in the temp dir between invocations; --rebuild
makes a new one. Timings:

1. top-10 runs by a headline metric through `Query.top_runs` (warm, and with a fresh `Query`);
2. `git vault runs --json` end to end in a subprocess (every run, no limit);
3. `Query.compare_runs` of the 10 big runs with curves (default downsampling, and every point);
4. one SQL aggregate over the 1,000,000 points of the "loss" curves through `Query.sql`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault import codec, curves, records  # noqa: E402
from gitvault.blobs import BlobStore  # noqa: E402
from gitvault.cache import Caches  # noqa: E402
from gitvault.config import VaultConfig  # noqa: E402
from gitvault.query import Query  # noqa: E402
from gitvault.vault import Transaction, Vault, new_id  # noqa: E402

METRICS = ("loss", "accuracy", "f1", "val_loss", "perplexity")
PER_COMMIT = 100
BIG_RUNS = 10
BIG_POINTS = 100_000
T0 = dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc)


def _cpu() -> float:
    """CPU seconds of this process and its finished children: less disturbed by other load
    on the machine than wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def report(label: str, fn: Callable[[], Any], repeats: int, target_ms: float | None = None) -> None:
    """Print the median wall and CPU time of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c, t = _cpu(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
    target = f"   (target <= {target_ms:,.0f} ms)" if target_ms else ""
    print(f"{label:<72} {statistics.median(wall) * 1000:8.1f} ms wall {statistics.median(cpu) * 1000:8.1f} ms CPU"
          f"{target}", flush=True)


def experiment_records(path: str, levels: list[str]) -> list[dict[str, Any]]:
    parts = path.split("/")
    out, parent = [], None
    for depth in range(len(parts)):
        sub = "/".join(parts[: depth + 1])
        eid = records.experiment_id(sub)
        out.append({"kind": "experiment", "id": eid, "path": sub, "name": parts[depth], "parent_id": parent,
                    "node_type": levels[depth], "created_at": codec.iso_utc(T0), "metadata": None,
                    "status": "created", "specimen_id": None, "domain": None, "method": None, "model": None,
                    "tags": []})
        parent = eid
    return out


def curves_blob(blobs: BlobStore, columns: dict[str, np.ndarray]) -> dict[str, Any]:
    n = len(next(iter(columns.values())))
    table = pa.table({"step": pa.array(np.arange(n, dtype=np.int64)),
                      "wall_time": pa.array(np.linspace(0, n / 100, n, dtype=np.float32)),
                      **{k: pa.array(v, pa.float64()) for k, v in columns.items()}})
    return {"blob": blobs.put_bytes(curves.to_parquet(table)), "names": list(columns),
            "points": n * len(columns), "last_step": n - 1}


def run_record(i: int, exp: dict[str, Any], curve_info: dict[str, Any], rng: np.random.Generator,
               name: str) -> dict[str, Any]:
    started = T0 + dt.timedelta(seconds=60 * i)
    values = {"loss": rng.uniform(0.05, 2.0), "accuracy": rng.uniform(0.3, 0.99), "f1": rng.uniform(0.2, 0.95),
              "val_loss": rng.uniform(0.1, 2.5), "perplexity": rng.uniform(2, 50)}
    return {
        "kind": "run", "id": new_id(), "experiment_id": exp["id"], "experiment_path": exp["path"], "name": name,
        "config": {"lr": float(rng.choice([1e-4, 3e-4, 1e-3])), "batch_size": int(rng.choice([32, 64, 128])),
                   "optimizer": {"name": "adamw", "beta1": 0.9, "weight_decay": 0.01}, "seed": i},
        "started_at": codec.iso_utc(started), "ended_at": codec.iso_utc(started + dt.timedelta(seconds=50)),
        "status": "completed", "hostname": "bench-host",
        "git": {"sha": f"{i % 50:040x}", "branch": "main", "dirty": False, "patch": None, "tree": None},
        "env": {"python": "3.11"}, "total_steps": curve_info["last_step"] + 1,
        "metrics": {k: {"value": float(v), "wall_time": 50.0} for k, v in values.items()},
        "params": {"dataset": "synthetic"}, "curves": curve_info, "artifacts": [],
        "tags": ["bench", f"group{i % 10}"], "notes": [],
    }


def build(root: Path, n_runs: int) -> list[str]:
    """The bench vault at ``root``; returns the ids of the big-curve runs."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    vault = Vault.open(root)
    config = VaultConfig.default()
    vault.init(config)
    blobs = BlobStore(vault.paths.objects_dir)
    rng = np.random.default_rng(0)
    exps: list[dict[str, Any]] = []
    tx = Transaction(message="bench: experiments")
    for m in range(10):
        for v in range(10):
            recs = experiment_records(f"bench/model{m}/v{v}", config.hierarchy)
            for rec in recs:
                tx.put("experiment", rec["id"], rec)
            exps.append(recs[-1])
    vault.commit(tx)
    started = time.perf_counter()
    steps = np.arange(100)
    for lo in range(0, n_runs, PER_COMMIT):
        tx = Transaction(message=f"bench: runs {lo}..{min(lo + PER_COMMIT, n_runs) - 1}")
        for i in range(lo, min(lo + PER_COMMIT, n_runs)):
            loss = np.exp(-steps / rng.uniform(20, 60)) + rng.normal(0, 0.01, 100)
            rec = run_record(i, exps[i % len(exps)], curves_blob(blobs, {"loss": loss}), rng, f"run-{i}")
            tx.put("run", rec["id"], rec)
        vault.commit(tx)
        if (lo // PER_COMMIT) % 20 == 19:
            print(f"   ... {lo + PER_COMMIT:,} runs ({time.perf_counter() - started:.0f} s)", flush=True)
    big = []
    tx = Transaction(message="bench: big-curve runs")
    x = np.arange(BIG_POINTS)
    for j in range(BIG_RUNS):
        info = curves_blob(blobs, {"train_loss": np.exp(-x / 30_000) + rng.normal(0, 0.02, BIG_POINTS),
                                   "train_acc": 1 - np.exp(-x / 20_000) + rng.normal(0, 0.02, BIG_POINTS)})
        rec = run_record(n_runs + j, exps[j], info, rng, f"big-{j}")
        tx.put("run", rec["id"], rec)
        big.append(rec["id"])
    vault.commit(tx)
    print(f"   records and blobs written in {time.perf_counter() - started:.1f} s; building the caches ...", flush=True)
    t = time.perf_counter()
    with Caches(vault) as caches:
        caches.refresh()
    print(f"   caches built in {time.perf_counter() - t:.1f} s", flush=True)
    (root / "big_runs.txt").write_text("\n".join(big))
    return big


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="build a new bench vault")
    args = parser.parse_args()

    root = Path(tempfile.gettempdir()) / f"gitvault-query-bench-{args.runs}-v1"
    ready = root / "big_runs.txt"
    if args.rebuild or not ready.exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"building {root} ({args.runs:,} runs + {BIG_RUNS} runs of 2 x {BIG_POINTS:,}-point curves)", flush=True)
        big = build(root, args.runs)
    else:
        print(f"reusing {root} (--rebuild to start over)")
        big = ready.read_text().split()
    n = args.repeats

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmedians of {n} runs after one warm-up; {os.cpu_count()} CPUs, load average {load}")
    with Query(root) as q:
        total = q.list_runs(limit=1)["total"]
        points = q.sql("SELECT count(*) AS n FROM curves WHERE name = 'loss'")["n"][0]
        all_points = q.sql("SELECT count(*) AS n FROM curves")["n"][0]
        print(f"vault: {total:,} runs, {points:,} 'loss' curve points, {all_points:,} curve points in all")

        top = q.top_runs("val_loss", 10)
        assert len(top) == 10 and top[0]["value"] <= top[-1]["value"]
        report("1. top-10 runs by val_loss (Query.top_runs, open Query)", lambda: q.top_runs("val_loss", 10), n, 50)

        def fresh() -> None:
            with Query(root) as other:
                other.top_runs("accuracy", 10)

        report("   same, opening a new Query() each time", fresh, n)

        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        command = ["git", "vault", "-C", str(root), "runs", "--json"]
        size = len(subprocess.run(command, capture_output=True, env=env, check=True).stdout)
        report(f"2. `git vault runs --json` (all {total:,} runs, {size / 1e6:.1f} MB, subprocess)",
               lambda: subprocess.run(command, capture_output=True, env=env, check=True), n, 1000)
        listing = (f"import json, sys; from gitvault.query import Query; q = Query({str(root)!r}); "
                   "sys.stdout.write(json.dumps(q.list_runs(), default=str))")
        report("   `python -c`: Query.list_runs() + compact json.dumps (subprocess)",
               lambda: subprocess.run([sys.executable, "-c", listing], check=True, capture_output=True), n)
        report("   `python -c`: Python start + gitvault.cli.main, gitvault.query imports",
               lambda: subprocess.run([sys.executable, "-c", "import gitvault.cli.main, gitvault.query"], check=True), n)
        report("   Query.list_runs() in process (all runs)", lambda: q.list_runs(), n)

        out = q.compare_runs(big, include_curves=True)
        assert set(out["curves"]) == {"train_acc", "train_loss"} and len(out["curves"]["train_loss"]) == BIG_RUNS
        report(f"3. compare 10 runs with curves (2 x {BIG_POINTS:,} points each), downsampled to 1,000",
               lambda: q.compare_runs(big, include_curves=True), n, 300)
        report(f"   same, every point returned ({2 * BIG_RUNS * BIG_POINTS:,} [step, value] pairs)",
               lambda: q.compare_runs(big, include_curves=True, max_points=None), max(3, n // 2))

        agg = ("SELECT run_id, min(value) AS best, avg(value) AS mean, count(*) AS n FROM curves"
               " WHERE name = 'loss' GROUP BY run_id ORDER BY best LIMIT 10")
        assert len(q.sql(agg)) == 10
        report(f"4. SQL aggregate over the {points:,} 'loss' points (Query.sql)", lambda: q.sql(agg), n, 500)
        everything = "SELECT name, count(*), avg(value), max(value) FROM curves GROUP BY name"
        report(f"   same kind over all {all_points:,} curve points", lambda: q.sql(everything), n)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
