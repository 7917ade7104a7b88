"""What the post-commit hook costs with a 10,000-run vault (issue 5). Prints medians; asserts nothing.

    .venv/bin/python bench/hook_bench.py [--runs 10000] [--commits 10] [--keep DIR]

Setup: a repository with 50 code commits and a vault of ``--runs`` runs with git facts (70 %
clean on one of those commits, 30 % dirty with their own tree ids, 5 % of those linked), written
directly with `Transaction` (500 records per vault commit), then one cold `linking.catch_up`
(builds ``.extract/linking.msgpack``) and `git vault hooks install`.

Each of ``--commits`` rounds edits a file, records a run on that dirty tree (real
`capture.git_facts`, sealed with a `Transaction`) and commits it three ways:

1. ``git commit`` with the hooks installed: what the user waits for (the shim starts the Python
   part in the background and returns); compared with ``git commit`` with hooks off;
2. the Python part alone, end to end, as the shim runs it: ``git-vault hook post-commit`` in a
   subprocess (interpreter start, imports, catch-up, one link record, one git note);
3. the same work in a warm process: ``linking.catch_up`` (what the hook does after its imports).

Every round checks the new run really got linked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault.runs import capture  # noqa: E402

from gitvault.storage import codec, records

from gitvault.gitlink import hookinstall, linking
from gitvault.storage.blobs import BlobStore  # noqa: E402
from gitvault.settings import VaultConfig  # noqa: E402
from gitvault.storage.vault import Transaction, Vault, new_id  # noqa: E402

PER_COMMIT = 500
CODE_COMMITS = 50
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env or ENV, check=True, capture_output=True)
    return (time.perf_counter() - t) * 1000


def run_record(run_id: str, n: int, git_facts: dict[str, Any]) -> dict[str, Any]:
    started = T0 + dt.timedelta(minutes=n)
    return {
        "experiment_id": records.experiment_id("bench/net/v1"), "experiment_path": "bench/net/v1",
        "name": f"run-{n}", "config": {"lr": 0.001 * (n % 10 + 1), "seed": n},
        "started_at": codec.iso_utc(started), "ended_at": codec.iso_utc(started + dt.timedelta(minutes=5)),
        "status": "completed", "hostname": "bench", "git": git_facts, "env": {"python": "3.11"},
        "total_steps": 100, "metrics": {"loss": {"value": random.random(), "wall_time": 1.0},
                                        "accuracy": {"value": random.random(), "wall_time": 1.0}},
        "params": {}, "curves": None, "artifacts": [], "tags": [], "notes": [],
    }


def build(root: Path, n_runs: int) -> Vault:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    shas = []
    for i in range(CODE_COMMITS):
        (root / "train.py").write_text(f"print({i})\n")
        git(root, "add", "train.py")
        git(root, "commit", "-q", "-m", f"code {i}")
        shas.append(git(root, "rev-parse", "HEAD").strip())
    vault = Vault.open(root)
    vault.init(VaultConfig.default())
    rng = random.Random(7)
    tx = Transaction(message="bench runs")
    for n in range(n_runs):
        run_id = new_id()
        base = rng.choice(shas)
        if rng.random() < 0.7:
            facts = {"sha": base, "branch": "main", "dirty": False, "patch": None, "tree": None}
        else:
            tree = "%040x" % rng.getrandbits(160)
            facts = {"sha": base, "branch": "main", "dirty": True, "patch": None, "tree": tree}
            if rng.random() < 0.05:
                commit = rng.choice(shas)
                tx.put("link", records.link_id(run_id, commit), {"run_id": run_id, "commit": commit, "tree": tree,
                                                                 "via": "post-commit",
                                                                 "created_at": codec.iso_utc(T0)})
        tx.put("run", run_id, run_record(run_id, n, facts))
        if len(tx.writes) >= PER_COMMIT:
            vault.commit(tx)
            tx = Transaction(message="bench runs")
    if tx.writes:
        vault.commit(tx)
    return vault


def dirty_run(vault: Vault, root: Path, i: int, tag: str) -> str:
    (root / "train.py").write_text(f"print('round {i} {tag}')\n")
    run_id = new_id()
    facts = capture.git_facts(vault.paths, BlobStore(vault.paths.objects_dir))
    record = run_record(run_id, 1_000_000 + i, facts)
    record["started_at"] = codec.utc_now()
    tx = Transaction(message=f"seal run {run_id}")
    tx.put("run", run_id, record)
    vault.commit(tx)
    return run_id


def wait_linked(vault: Vault, run_id: str, commit: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if vault.snapshot().has("link", records.link_id(run_id, commit)):
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="gitvault-hook-bench-"))
    root = tmp / "repo"
    if root.exists():
        shutil.rmtree(root)
    t = time.perf_counter()
    vault = build(root, args.runs)
    print(f"built {args.runs:,} runs with git facts in {time.perf_counter() - t:.1f} s ({root})")
    t = time.perf_counter()
    cold = linking.catch_up(vault)
    print(f"cold catch-up (index of {cold.runs_indexed:,} runs built once): {(time.perf_counter() - t) * 1000:.0f} ms")
    hookinstall.install(root)
    off = {**ENV, "GITVAULT_NO_HOOKS": "1"}

    hooked, plain, python_part, warm = [], [], [], []
    linked = 0
    for i in range(args.commits):
        run_id = dirty_run(vault, root, i, "hooked")
        hooked.append(timed(["git", "commit", "-q", "-am", f"round {i} hooked"], root))
        linked += wait_linked(vault, run_id, git(root, "rev-parse", "HEAD").strip())

        dirty_run(vault, root, i, "plain")
        plain.append(timed(["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", f"round {i} plain"], root))
        linking.catch_up(vault)

        run_id = dirty_run(vault, root, i, "python")
        git(root, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", f"round {i} python")
        python_part.append(timed(["git-vault", "hook", "post-commit"], root, off))
        linked += wait_linked(vault, run_id, git(root, "rev-parse", "HEAD").strip(), timeout=1)

        run_id = dirty_run(vault, root, i, "warm")
        git(root, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", f"round {i} warm")
        t = time.perf_counter()
        report = linking.catch_up(vault, via="post-commit")
        warm.append((time.perf_counter() - t) * 1000)
        linked += len(report.linked)

    med = statistics.median
    print(f"\nmedians over {args.commits} commits, vault of {args.runs:,} runs:")
    print(f"  git commit with hooks installed (what the user waits for): {med(hooked):7.1f} ms")
    print(f"  git commit with hooks off:                                 {med(plain):7.1f} ms")
    print(f"  -> added to a commit:                                      {med(hooked) - med(plain):7.1f} ms")
    print(f"  Python part end to end (git-vault hook post-commit):       {med(python_part):7.1f} ms")
    print(f"  Python part in a warm process (linking.catch_up):          {med(warm):7.1f} ms")
    print(f"  runs linked: {linked} of {3 * args.commits}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
