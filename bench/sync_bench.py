"""Sync benchmark: push and pull of 1,000 runs with 100 MB of blobs to a local bare remote.

Prints medians of 3 of: first push (fresh remote), a second push with nothing new (Python API and
the real `git vault push` command, target < 1 s), and a pull into a fresh clone.

    .venv/bin/python bench/sync_bench.py [--runs 1000] [--mb 100] [--repeat 3]
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

BIN = Path(sys.executable).parent
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
for key, value in (("GIT_AUTHOR_NAME", "Bench"), ("GIT_AUTHOR_EMAIL", "bench@example.invalid"),
                   ("GIT_COMMITTER_NAME", "Bench"), ("GIT_COMMITTER_EMAIL", "bench@example.invalid")):
    os.environ.setdefault(key, value)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault import BlobStore, Transaction, Vault  # noqa: E402
from gitvault.sync.exchange import pull, push  # noqa: E402
from tests.test_merge import curves_parquet, experiment_record, run_record  # noqa: E402
from gitvault.storage.records import experiment_id  # noqa: E402
from gitvault.storage.vault import new_id  # noqa: E402


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, text=True, capture_output=True).stdout


def build_source(root: Path, runs: int, megabytes: int) -> Path:
    src = root / "src"
    src.mkdir()
    sh(src, "git", "init", "-q", "-b", "main")
    sh(src, "git", "commit", "-q", "--allow-empty", "-m", "init")
    sh(src, "git", "vault", "init")
    vault = Vault.open(src)
    store = BlobStore(vault.paths.objects_dir)
    blob_size = megabytes * 1_000_000 // runs
    experiments = [f"bench/model/v{i}" for i in range(10)]
    tx = Transaction(message="experiments")
    for path in experiments:
        tx.put("experiment", experiment_id(path), experiment_record(path))
    vault.commit(tx)
    for start in range(0, runs, 100):
        tx = Transaction(message=f"seal runs {start}..")
        for i in range(start, min(start + 100, runs)):
            sha = store.put_bytes(curves_parquet(blob_size // 8))
            tx.put("run", new_id(), run_record(experiments[i % 10], sha, name=f"run{i}"))
        vault.commit(tx)
    return src


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--with-caches", action="store_true",
                        help="also time one pull into a clone whose caches exist (adds their incremental refresh)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitvault-sync-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        src = build_source(root, args.runs, args.mb)
        size = sum(f.stat().st_size for f in (src / ".extract" / "objects").glob("*/*"))
        print(f"built {args.runs} runs, {size / 1e6:.0f} MB of Parquet curves blobs in {time.perf_counter() - t0:.1f} s")
        first, noop_api, noop_cli, pulls = [], [], [], []
        for i in range(args.repeat):
            remote = root / f"remote{i}.git"
            sh(root, "git", "init", "-q", "--bare", str(remote))
            sh(src, "git", "remote", "add", f"r{i}", str(remote))
            first.append(timed(lambda: push(src, f"r{i}")))
            noop_api.append(timed(lambda: push(src, f"r{i}")))
            noop_cli.append(timed(lambda: sh(src, "git", "vault", "push", f"r{i}")))
            clone = root / f"clone{i}"
            sh(root, "git", "clone", "-q", str(remote), str(clone))
            counts: dict[str, int] = {}
            pulls.append(timed(lambda: counts.update(pull(clone))))
            assert counts["runs"] == args.runs and counts["blobs"] == args.runs, counts
        med = statistics.median
        print(f"push {args.runs} runs + {args.mb} MB to a fresh bare remote: median {med(first):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in first)})")
        print(f"second push, nothing new (API):            median {med(noop_api) * 1000:.0f} ms")
        print(f"second push, nothing new (`git vault push`): median {med(noop_cli) * 1000:.0f} ms "
              f"(target < 1000 ms)")
        print(f"pull into a fresh clone:                    median {med(pulls):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in pulls)})")
        if args.with_caches:
            from gitvault.cache import Caches

            cached = root / "cached"
            sh(root, "git", "init", "-q", "-b", "main", str(cached))
            sh(cached, "git", "vault", "init")
            Caches(Vault.open(cached)).refresh()
            sh(cached, "git", "remote", "add", "origin", str(root / "remote0.git"))
            print(f"pull into a clone with built caches (one run, incl. cache refresh): "
                  f"{timed(lambda: pull(cached)):.2f} s")


if __name__ == "__main__":
    main()
