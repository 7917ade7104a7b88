"""MCP tool latency on a 10,000-run vault, end to end: the real server subprocess, called through
the `mcp` SDK's stdio client (JSON-RPC, validation, the query, JSON shaping). Prints the median
of several calls per tool against the 100 ms target, and the CPU time per call of client and
server together (robust when other processes compete for the cores); asserts nothing.

    .venv/bin/python bench/mcp_bench.py [--runs 10000] [--repeats 9] [--rebuild]

The vault is bench/query_bench.py's (its builder, imported: 10,000 runs with 5 headline metrics and
a 100-point curve each, plus 10 runs with two 100,000-point curves), plus a lineage chain with
diamonds, 50 models, 300 todos, 30 code commits and commit links. It is kept in the temp dir
between invocations (--rebuild makes a new one); its caches are current before the server starts,
as after any earlier `git vault` command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import query_bench  # noqa: E402
from gitvault.storage import records  # noqa: E402
from gitvault.storage.blobs import BlobStore  # noqa: E402
from gitvault.query import Query  # noqa: E402
from gitvault.storage.vault import Transaction, Vault, new_id  # noqa: E402
from tests.test_mcp_client import McpClient  # noqa: E402

TARGET_MS = 100.0
T0 = "2024-12-19T11:00:00.000000Z"
EXPERIMENT = "bench/model1/v1"


def add_code_commits(root: Path, n: int) -> list[str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    for i in range(n):
        (root / "train.py").write_text(f"print('version {i}')\n")
        subprocess.run(["git", "add", "train.py"], cwd=root, check=True, env=env)
        subprocess.run(["git", "commit", "-q", "-m", f"train v{i}"], cwd=root, check=True, env=env)
    out = subprocess.run(["git", "rev-list", "HEAD"], cwd=root, check=True, text=True, capture_output=True, env=env)
    return out.stdout.split()


def add_extras(vault: Vault, run_ids: list[str], commits: list[str]) -> None:
    """Lineage (a chain with a diamond every 3 runs), 50 models, 300 todos, 10 linked runs per commit."""
    blobs = BlobStore(vault.paths.objects_dir)
    tx = Transaction(message="bench: lineage, models, todos, links")

    def edge(parent: str, child: str) -> None:
        lid = records.lineage_id("run", parent, "run", child, "derived_from")
        tx.put("lineage", lid, {"parent_type": "run", "parent_id": parent, "child_type": "run", "child_id": child,
                                "relation": "derived_from", "metadata": None, "created_at": T0})

    for i in range(1, 600):
        edge(run_ids[i - 1], run_ids[i])
        if i % 3 == 0 and i >= 2:
            edge(run_ids[i - 2], run_ids[i])
    weights = blobs.put_bytes(b"weights" * 100)
    for m in range(50):
        mid = records.model_id(f"model-{m % 10}", f"v{m}")
        tx.put("model", mid, {"name": f"model-{m % 10}", "version": f"v{m}", "run_id": run_ids[m],
                              "framework": "pytorch",
                              "metadata": {"acc": 0.5 + m / 100}, "created_at": T0, "blob": weights, "size": 700})
    for t in range(300):
        scope, scope_id = (("run", run_ids[t]) if t % 3 == 0 else ("global", None))
        tx.put("todo", new_id(), {"scope_type": scope, "scope_id": scope_id, "content": f"todo {t}",
                                  "priority": t % 3, "created_at": T0, "done": t % 5 == 0, "completed_at": None})
    for c, commit in enumerate(commits[:20]):
        for k in range(10):
            rid = run_ids[(1000 + c * 10 + k) % len(run_ids)]
            tx.put("link", records.link_id(rid, commit), {"run_id": rid, "commit": commit, "tree": "d" * 40,
                                                          "via": "post-commit", "created_at": T0})
    vault.commit(tx)


def build(root: Path, n_runs: int) -> None:
    big = query_bench.build(root, n_runs)
    vault = Vault.open(root)
    commits = add_code_commits(root, 30)
    add_extras(vault, sorted(vault.snapshot().ids("run")), commits)
    (root / "mcp_big_runs.txt").write_text("\n".join(big))


def ready_vault(n_runs: int, rebuild: bool) -> tuple[Path, list[str], list[str]]:
    """(repository, every run id, the big-curve run ids)."""
    root = Path(tempfile.gettempdir()) / f"gitvault-mcp-bench-{n_runs}-v1"
    marker = root / "mcp_big_runs.txt"
    if rebuild or not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"building {root} (bench/query_bench.py's vault + lineage, models, todos, commits)", flush=True)
        build(root, n_runs)
    else:
        print(f"reusing {root} (--rebuild to start over)")
    return root, sorted(Vault.open(root).snapshot().ids("run")), marker.read_text().split()


def cases(run_ids: list[str], big: list[str], exp_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    five = run_ids[100:105]
    some = run_ids[len(run_ids) // 2]
    return [
        ("list_experiments", "default", {}),
        ("list_experiments", "prefix, limit 500", {"prefix": "bench/model1", "limit": 500}),
        ("list_runs", f"default (50 of {len(run_ids):,})", {}),
        ("list_runs", "limit 500", {"limit": 500}),
        ("list_runs", "one experiment", {"experiment_id": exp_id}),
        ("get_run", "full id", {"run_id": some}),
        ("get_run", "12-char prefix", {"run_id": some[:12]}),
        ("compare_runs", "5 runs", {"run_ids": five}),
        ("compare_runs", "5 runs + curves", {"run_ids": five, "include_curves": True}),
        ("compare_runs", "10 runs x 2 x 100k points", {"run_ids": big, "include_curves": True}),
        ("search", "text", {"query": "run-12"}),
        ("search", "no match (full scan)", {"query": "nothing-like-this"}),
        ("search", "status + prefix", {"filters": {"status": "completed", "experiment_prefix": EXPERIMENT}}),
        ("search", "tag + date", {"filters": {"tag": "group3", "started_after": "2024-12-05"}}),
        ("list_todos", "global", {}),
        ("list_todos", "all incl. done", {"scope_type": "all", "include_done": True}),
        ("get_lineage", "depth 5 both", {"node_type": "run", "node_id": run_ids[300], "depth": 5}),
        ("list_models", "default", {}),
        ("get_curves", "100 points", {"run_id": run_ids[42]}),
        ("get_curves", "2 x 100k points", {"run_id": big[0]}),
        ("get_curves", "2 x 100k, max_points 50", {"run_id": big[0], "max_points": 50}),
        ("vault_log", "20 commits", {}),
        ("vault_log", "limit 30", {"limit": 30}),
    ]


def server_cpu_s() -> float:
    """User + system CPU seconds of this process's children (the server), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true", help="build a new bench vault")
    args = parser.parse_args()
    root, run_ids, big = ready_vault(args.runs, args.rebuild)
    t = time.perf_counter()
    with Query(root) as q:
        exp_id = q.list_experiments(prefix=EXPERIMENT, limit=1)["items"][0]["id"]
    print(f"vault: {len(run_ids):,} runs; caches current after {time.perf_counter() - t:.1f} s", flush=True)
    print(f"\nMCP tool latency over stdio, median of {args.repeats} calls after one warm-up "
          f"(target <= {TARGET_MS:.0f} ms)")
    print(f"  {'tool':<17} {'case':<27} {'median':>9} {'max':>9} {'CPU/call':>9}  {'bytes':>9}")
    slow = 0
    with McpClient(root) as client:
        for tool, label, arguments in cases(run_ids, big, exp_id):
            result = client.raw(tool, **arguments)
            assert not result.is_error, f"{tool} {arguments}: {result.content[0].text}"
            size = len(result.content[0].text)
            samples = []
            cpu0 = time.process_time() + server_cpu_s()
            for _ in range(args.repeats):
                start = time.perf_counter()
                client.raw(tool, **arguments)
                samples.append((time.perf_counter() - start) * 1000)
            cpu = (time.process_time() + server_cpu_s() - cpu0) * 1000 / args.repeats
            median = statistics.median(samples)
            slow += median > TARGET_MS
            flag = "" if median <= TARGET_MS else "  over target"
            print(f"  {tool:<17} {label:<27} {median:7.1f} ms {max(samples):7.1f} ms {cpu:6.1f} ms  {size:>9,}{flag}",
                  flush=True)
    verdict = "all cases within" if not slow else f"{slow} case(s) over"
    print(f"\n{verdict} the {TARGET_MS:.0f} ms target (wall-clock median); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
