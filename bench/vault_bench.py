"""Storage and cache benchmarks (issue 2). Prints medians; asserts nothing.

    .venv/bin/python bench/vault_bench.py [--quick] [--caches-only]

1. cost of committing one run record with 100, 10,000 and 100,000 records already in the vault
   (the big vaults are built directly as fan-out trees with pygit2's TreeBuilder), and last/first;
   then each repository's loose objects (gitvault's count and `git count-objects -v`);
2. blob put throughput (200 x 1 MB, one 256 MB stream);
3. full reindex of 10,000 runs (5 headline metrics + a 100-point curve blob each);
4. incremental cache refresh after one new record;
5. incremental refresh after 1,000 new runs (one commit, as a `git vault pull` brings them), beside
   the full rebuild of the same vault.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pygit2
from pygit2.enums import FileMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault.storage import codec, layout  # noqa: E402
from gitvault.storage.blobs import BlobStore  # noqa: E402
from gitvault.cache import Caches  # noqa: E402
from gitvault.settings import VaultConfig  # noqa: E402
from gitvault.storage.vault import Transaction, Vault, new_id  # noqa: E402
from tests.test_cache_fixture import experiment, run  # noqa: E402
from tests.test_gc_race import object_counts  # noqa: E402


def new_repo(root: Path, name: str) -> Vault:
    path = root / name
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    vault = Vault.open(path)
    vault.init(VaultConfig.default())
    return vault


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def seed_fanout(vault: Vault, n: int) -> None:
    """Put ``n`` run records under runs/ as fan-out trees in one commit (one shared record blob and
    entity tree: the tree shape, not the content, is what a commit's cost depends on)."""
    repo = vault.repo
    record = codec.encode({"kind": "run", "id": "x", "status": "completed", "metrics": {"loss": {"value": 0.1}}})
    blob = repo.create_blob(record)
    eb = repo.TreeBuilder()
    eb.insert(layout.RECORD_FILE, blob, FileMode.BLOB)
    entity = eb.write()
    buckets: dict[str, dict[str, list[str]]] = {}
    for _ in range(n):
        rid = new_id()
        a, b = layout.fan(rid)
        buckets.setdefault(a, {}).setdefault(b, []).append(rid)
    top = repo.TreeBuilder()
    for a, subs in buckets.items():
        mid = repo.TreeBuilder()
        for b, ids in subs.items():
            leaf = repo.TreeBuilder()
            for rid in ids:
                leaf.insert(rid, entity, FileMode.TREE)
            mid.insert(b, leaf.write(), FileMode.TREE)
        top.insert(a, mid.write(), FileMode.TREE)
    tip = vault.tip()
    base = repo[tip].peel(pygit2.Tree)
    root = repo.TreeBuilder(base)
    root.insert(layout.KIND_DIRS["run"], top.write(), FileMode.TREE)
    sig = pygit2.Signature("bench", "bench@example.invalid")
    commit = repo.create_commit(None, sig, sig, f"seed {n} runs", root.write(), [tip])
    repo.lookup_reference("refs/vault/main").set_target(commit)


def bench_commit_cost(root: Path, sizes: list[int], repeats: int) -> None:
    print(f"1. commit one run record (median of {repeats}; the vaults take turns, so load noise hits all alike)")
    vaults = []
    for n in sizes:
        vault = new_repo(root, f"commit_{n}")
        t0 = time.perf_counter()
        seed_fanout(vault, n)
        vaults.append((n, vault, time.perf_counter() - t0))
    exp = experiment("bench/commit")
    samples: dict[int, list[float]] = {n: [] for n in sizes}
    for i in range(-2, repeats):  # two warm-up rounds
        for n, vault, _ in vaults:
            rec = run(exp, BlobStore(vault.paths.objects_dir), steps=0, seed=i)
            tx = Transaction(message=f"seal run {rec['id']}")
            tx.put("run", rec["id"], rec)
            t = time.perf_counter()
            vault.commit(tx)
            if i >= 0:
                samples[n].append(time.perf_counter() - t)
    for n, _, built in vaults:
        print(f"   {n:>7,} records already: {median_ms(samples[n]):7.2f} ms   (vault built in {built:.1f} s)")
    ratio = median_ms(samples[sizes[-1]]) / median_ms(samples[sizes[0]])
    print(f"   ratio {sizes[-1]:,} / {sizes[0]:,}: {ratio:.2f}  (target <= 1.5)")
    print("   objects after writing (the seed commit's trees are written loose, as every commit's are):")
    for n, vault, _ in vaults:
        print(f"   {n:>7,} records: {object_counts(vault.paths.common_dir)}")


def bench_blobs(root: Path, small: int, big_mb: int) -> None:
    print("2. blob put throughput")
    store = BlobStore(root / "blobs" / "objects")
    chunks = [os.urandom(1 << 20) for _ in range(small)]
    t = time.perf_counter()
    for c in chunks:
        store.put_bytes(c)
    dt = time.perf_counter() - t
    print(f"   {small} x 1 MB put_bytes: {small / dt:7.1f} MB/s")
    source = root / "big.bin"
    block = os.urandom(1 << 20)
    with source.open("wb") as fh:
        for i in range(big_mb):
            fh.write(hashlib.sha256(block + i.to_bytes(4, "little")).digest() + block[32:])
    t = time.perf_counter()
    store.put_file(source)
    dt = time.perf_counter() - t
    print(f"   one {big_mb} MB stream (put_file): {big_mb / dt:7.1f} MB/s")
    source.unlink()


def build_runs_vault(root: Path, n_runs: int, per_experiment: int) -> tuple[Vault, list[dict]]:
    vault = new_repo(root, f"runs_{n_runs}")
    blobs = BlobStore(vault.paths.objects_dir)
    tx = Transaction(message=f"bench: {n_runs} runs")
    exps = []
    for e in range(max(1, n_runs // per_experiment)):
        spec = f"2024_12_{e % 28 + 1:02d}_bench_{e}" if e < 2 else None
        exps.append(experiment(f"bench/e{e:03d}", specimen_id=spec, domain="training" if spec else None,
                               method="fine_tuning" if spec else None, tags=["bench"] if spec else None))
        tx.put("experiment", exps[-1]["id"], exps[-1])
    for i in range(n_runs):
        exp = exps[i % len(exps)]
        metrics = {f"m{k}": 0.1 * k + i * 1e-6 for k in range(4)} | {"final_loss": 1.0 / (i + 1)}
        rec = run(exp, blobs, seed=i, steps=100, curve_names=("loss",), metrics=metrics)
        tx.put("run", rec["id"], rec)
    vault.commit(tx)
    return vault, exps


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_reindex(root: Path, n_runs: int, repeats: int, incremental_repeats: int) -> None:
    print(f"3. full reindex of {n_runs:,} runs (5 headline metrics, a 100-point curve blob each)")
    t = time.perf_counter()
    vault, exps = build_runs_vault(root, n_runs, per_experiment=100)
    print(f"   (vault built in {time.perf_counter() - t:.1f} s)")
    caches = Caches(vault)
    samples, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        rebuilt: list[Any] = []
        samples.append(timed(lambda: rebuilt.append(caches.rebuild())))
        cpu.append(time.process_time() - c0)
    points = rebuilt[-1].points  # every logged point read (SQLite keeps a bounded sample of them)
    result = caches.refresh()
    print(f"   median of {repeats}: {median_ms(samples) / 1000:.2f} s  ({points:,} curve points; target <= 10 s)"
          f"  [{', '.join(f'{s:.2f}' for s in samples)}]; CPU {statistics.median(cpu):.2f} s (all threads),"
          f" load average {os.getloadavg()[0]:.1f}")
    assert result.mode == "current"

    print(f"4. incremental refresh after one new record (median of {incremental_repeats})")
    blobs = BlobStore(vault.paths.objects_dir)
    for label, exp in (("plain experiment", exps[-1]), ("specimen experiment (view rebuilt)", exps[0])):
        samples = []
        for i in range(incremental_repeats):
            rec = run(exp, blobs, seed=10_000_000 + i, steps=100, curve_names=("loss",))
            tx = Transaction(message="one more run")
            tx.put("run", rec["id"], rec)
            vault.commit(tx)
            t = time.perf_counter()
            result = caches.refresh()
            samples.append(time.perf_counter() - t)
            assert result.mode == "incremental", result
        print(f"   {label}: {median_ms(samples):6.1f} ms  (target <= 50 ms)")
    samples = [timed(caches.refresh) for _ in range(incremental_repeats)]
    print(f"   nothing changed: {median_ms(samples):6.2f} ms")
    new_runs = max(1, n_runs // 10)
    bench_big_change(vault, exps, caches, new_runs, steps=100, repeats=repeats)
    # the runs of bench/sync_bench.py: 100 kB curves blobs of 12,500 points (12.5 M points per 1,000 runs)
    bench_big_change(vault, exps, caches, new_runs, steps=12_500, repeats=1)


def bench_big_change(vault: Vault, exps: list[dict], caches: Caches, new_runs: int, steps: int, repeats: int) -> None:
    print(f"5. incremental refresh after {new_runs:,} new runs of {steps:,} curve points, in one commit"
          f" (median of {repeats}; the vault grows each round)")
    blobs = BlobStore(vault.paths.objects_dir)
    samples, cpu, modes = [], [], []
    for r in range(repeats):
        tx = Transaction(message=f"bench: {new_runs} more runs")
        for i in range(new_runs):
            rec = run(exps[i % len(exps)], blobs, seed=20_000_000 + steps + r * new_runs + i, steps=steps, curve_names=("loss",))
            tx.put("run", rec["id"], rec)
        vault.commit(tx)
        c0 = time.process_time()
        t = time.perf_counter()
        result = caches.refresh()
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c0)
        modes.append(result.mode)
    rebuild = [timed(caches.rebuild) for _ in range(repeats)]
    runs = sum(1 for _ in vault.snapshot().ids("run"))
    print(f"   {median_ms(samples) / 1000:.2f} s [{', '.join(f'{s:.2f}' for s in samples)}],"
          f" CPU {statistics.median(cpu):.2f} s, mode {'/'.join(sorted(set(modes)))};"
          f" full rebuild of the {runs:,} runs after: {median_ms(rebuild) / 1000:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--caches-only", action="store_true", help="only the cache cases (3 to 5)")
    args = parser.parse_args()
    sizes = [100, 1_000, 5_000] if args.quick else [100, 10_000, 100_000]
    print(f"(2 cores shared with other work: load average {os.getloadavg()[0]:.1f} at start)")
    with tempfile.TemporaryDirectory(prefix="gitvault-bench-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
        os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
        os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        if not args.caches_only:
            bench_commit_cost(root, sizes, repeats=50)
            bench_blobs(root, small=20 if args.quick else 200, big_mb=16 if args.quick else 256)
        bench_reindex(root, 500 if args.quick else 10_000, repeats=3, incremental_repeats=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
