"""SQLite cache size and reindex time for one 600,000-point run (issue 15, item 5). Prints medians;
asserts nothing.

    .venv/bin/python bench/cache_bench.py [--repeats N] [--shape CURVESxSTEPS ...]

For each shape (default: 3 curves x 200,000 steps and 20 curves x 30,000 steps), one run is logged
through the SDK into a fresh vault and sealed; then ``Caches.rebuild()`` (what `git vault reindex`
does, both caches) is timed ``--repeats`` times. Printed beside the run's Parquet curves blob (the
reference: the full curve, as sealed): extract.db's bytes (its WAL and shared-memory files
included, after the writer closed) and bytes per logged point, the rows ``curve_points`` keeps,
vault.duckdb's bytes, and the reindex median (wall clock, and CPU time of all threads: the wall
clock depends on what else the machine runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault import Store  # noqa: E402
from gitvault.cache import Caches  # noqa: E402
from gitvault.storage.vault import Vault  # noqa: E402

DEFAULT_SHAPES = ("3x200000", "20x30000")


def shape(text: str) -> tuple[int, int]:
    curves, _, steps = text.partition("x")
    try:
        return int(curves), int(steps)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CURVESxSTEPS (e.g. 3x200000), got {text!r}") from None


def log_run(root: Path, n_curves: int, n_steps: int) -> str:
    """One sealed run of ``n_curves`` noisy training-like curves over ``n_steps`` steps; its id."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    store = Store(root)
    exp = store.experiment({"benchmark": "cache", "model": "bench", "variant": f"{n_curves}x{n_steps}"})
    rng = np.random.default_rng(0)
    s = np.arange(n_steps, dtype=np.float64)
    columns = []
    for i in range(n_curves):
        decay = np.exp(-s / (n_steps / (4 + i % 5)))
        values = (decay if i % 2 == 0 else 1 - decay) + rng.normal(0, 0.02, n_steps)
        columns.append(values.tolist())
    names = [f"curve_{i:02d}" for i in range(n_curves)]
    with exp.run(config={"curves": n_curves}, name=f"bench-{n_curves}x{n_steps}", total_steps=n_steps) as run:
        for step in range(n_steps):
            run.curve(step=step, **{name: col[step] for name, col in zip(names, columns)})
        run_id = run.id
    store.close()
    return run_id


def file_bytes(path: Path, sides: tuple[str, ...]) -> int:
    return sum(os.path.getsize(f"{path}{side}") for side in ("", *sides) if os.path.exists(f"{path}{side}"))


def bench(root: Path, n_curves: int, n_steps: int, repeats: int) -> None:
    points = n_curves * n_steps
    print(f"{n_curves} curves x {n_steps:,} steps ({points:,} points)")
    t = time.perf_counter()
    run_id = log_run(root, n_curves, n_steps)
    print(f"   logged and sealed in {time.perf_counter() - t:.1f} s")
    vault = Vault.open(root)
    record = vault.snapshot().get("run", run_id)
    caches = Caches(vault)
    parquet = caches.blobs.path(record["curves"]["blob"]).stat().st_size
    samples, cpu = [], []
    for _ in range(repeats):
        caches.close()  # each rebuild opens its writer, as `git vault reindex` does
        t, c = time.perf_counter(), time.process_time()
        caches.rebuild()
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    caches.close()  # checkpoints the WAL into the file
    sqlite_bytes = file_bytes(caches.sqlite_path, ("-wal", "-shm"))
    con = caches.connect_sqlite()
    rows = con.execute("SELECT count(*) FROM curve_points").fetchone()[0]
    con.close()
    duck_bytes = file_bytes(caches.duckdb_path, (".wal",))
    print(f"   Parquet curves blob (reference): {parquet:>12,} bytes  {parquet / points:6.2f} bytes/point")
    print(f"   extract.db:                      {sqlite_bytes:>12,} bytes  {sqlite_bytes / points:6.2f} bytes/point"
          f"  ({rows:,} curve_points rows; target <= 2 bytes/point)")
    print(f"   vault.duckdb:                    {duck_bytes:>12,} bytes  {duck_bytes / points:6.2f} bytes/point")
    print(f"   reindex, median of {repeats}: {statistics.median(samples):.2f} s (target < 1 s)"
          f"  [{', '.join(f'{s:.2f}' for s in samples)}]; CPU {statistics.median(cpu):.2f} s (all threads),"
          f" load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shape", type=shape, action="append", help="CURVESxSTEPS (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitvault-cache-bench-") as tmp:
        for i, (n_curves, n_steps) in enumerate(args.shape or [shape(s) for s in DEFAULT_SHAPES]):
            bench(Path(tmp) / f"vault{i}", n_curves, n_steps, args.repeats)


if __name__ == "__main__":
    main()
