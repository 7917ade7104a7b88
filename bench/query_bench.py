"""Read-path benchmark (issue 15, "What it must show"). Prints figures beside the targets; asserts nothing.

    .venv/bin/python bench/query_bench.py [--runs 10000 | --quick] [--repeats 5] [--rebuild]

The vault: a git repository whose vault holds ``--runs`` runs (default 10,000; ``--quick``: 1,000)
written with the SDK as a user writes them (``Store().experiment(...).run(...)`` in a loop, one
vault commit per sealed run: 100 experiments, a nested config, 2 x 100-step curves, 4 headline
metrics, tags, a note and a todo now and then), with a commit of the work tree every 100 runs so
``git vault log`` has runs under each commit. It takes a few minutes at 10,000 runs and is kept in
the temp dir between invocations (``--rebuild`` makes a new one). Then one live run is started in a
child process that logs 3,000,000 points (3 curves x 1,000,000 steps through ``run.curve``), flushes
them to its spool and stays alive, sleeping, while everything below is measured; at the end it is
killed and its spool removed, so the kept vault is the same next time.

1. Each read command's wall time as a subprocess in the repository, with current caches (after
   one warm-up of each, the first of which builds the caches): ``git vault runs``, ``show RUN``,
   ``compare RUN RUN``, ``log -n 5``, ``experiments``, ``todo list``, ``--help`` (as ``git vault -h``:
   git turns ``git vault --help`` into ``git help vault``, a man page) and ``show`` of the live run, beside two references measured in the same rounds, ``git log -n 5`` and
   ``python -c pass``. The machine may be shared and noisy: every round runs every command once,
   in an order rotated from round to round, so commands and references see the same load. Median
   and minimum wall time and the median CPU time (user + system of the process and its children).
2. In-process latency on an open ``Query``: ``runs(where="metrics.val_loss < 0.2 and tag = 'sweep'",
   sort="-metrics.val_acc", limit=50)``, ``changes(token)`` when nothing changed, and
   ``changes(token)`` after the live run logged (and flushed) one new point.
3. Import time, each in a fresh interpreter, of ``gitvault``, ``gitvault.query`` and the CLI entry
   point ``gitvault.cli.main``: the ``-X importtime`` total of the statement's imports, and the wall
   time of ``python -c 'import X'`` minus that of ``python -c pass`` (interleaved); then the
   heaviest packages each one pulls in.

Targets (issue 15): every read command <= 150 ms at 10,000 runs with current caches;
``git vault --help`` <= 80 ms.

``build(root, n_runs)``, near the end, builds another vault, written straight as records
and blobs, that bench/mcp_bench.py imports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gitvault.storage import codec, records  # noqa: E402

from gitvault.runs import curves
from gitvault.storage.blobs import BlobStore  # noqa: E402
from gitvault.cache import Caches  # noqa: E402
from gitvault.settings import VaultConfig  # noqa: E402
from gitvault.storage.vault import Transaction, Vault, new_id  # noqa: E402

FORMAT = 1  # bump when the vault built below changes shape
RUNS_PER_COMMIT = 100
LIVE_STEPS = 1_000_000  # x 3 curves = 3M points
WHERE = "metrics.val_loss < 0.2 and tag = 'sweep'"
SORT = "-metrics.val_acc"
READ_TARGET_MS, HELP_TARGET_MS = 150.0, 80.0
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}

BUILDER = r'''
import json, random, subprocess, sys, time
from gitvault import Store

n, per_commit = int(sys.argv[1]), int(sys.argv[2])
store = Store(".")
exps = [store.experiment({"benchmark": "bench", "model": f"model{m}", "variant": f"v{v}"}) for m in range(10)
        for v in range(10)]
store.todo("compare the warm-up schedules", priority=2)
store.todo("rerun the seeds that diverged", priority=1)
rng = random.Random(0)
ids, t0 = [], time.perf_counter()
for i in range(n):
    if i and i % per_commit == 0:
        with open("train.py", "a") as f:
            f.write(f"# change {i // per_commit}\n")
        subprocess.run(["git", "commit", "-q", "-am", f"train.py: change {i // per_commit}"], check=True)
    exp = exps[i % len(exps)]
    lr = rng.choice([1e-4, 3e-4, 1e-3, 3e-3])
    config = {"lr": lr, "batch_size": rng.choice([32, 64, 128]), "seed": i,
              "optimizer": {"name": rng.choice(["adam", "adamw", "sgd"]), "weight_decay": 0.01, "beta1": 0.9},
              "model": {"depth": rng.choice([18, 34, 50]), "width": rng.choice([64, 128])}}
    with exp.run(config=config, name=f"run-{i}", total_steps=100) as run:
        tau = rng.uniform(15, 60)
        for s in range(100):
            run.curve(s, train_loss=2.0 / (1 + s / tau), val_loss=2.2 / (1 + s / tau) + 0.01 * rng.random())
        run.log(val_loss=rng.uniform(0.05, 1.0), val_acc=rng.uniform(0.5, 0.99), train_loss=rng.uniform(0.01, 0.8),
                f1=rng.uniform(0.3, 0.95))
        run.tag("sweep" if i % 2 == 0 else "baseline", f"group{i % 10}")
        if i % 250 == 0:
            run.note(f"run {i}: loss plateaued after warm-up")
        if i % 1000 == 0:
            run.todo(f"look at run {i} again", priority=(i // 1000) % 3)
    ids.append(run.id)
    if (i + 1) % 500 == 0 or i + 1 == n:
        rate = (i + 1) / (time.perf_counter() - t0)
        print(f"   ... {i + 1:,} runs ({time.perf_counter() - t0:.0f} s, {rate:.0f} runs/s)", flush=True)
print(json.dumps({"show": ids[n // 2], "compare": [ids[n // 2], ids[n // 2 + 100]], "seconds": time.perf_counter() - t0}))
'''

LIVE = r'''
import json, os, sys, time
from gitvault import Store

steps = int(sys.argv[1])
store = Store(".")
exp = store.experiment({"benchmark": "bench", "model": "live", "variant": "big"})
run = exp.run(config={"lr": 3e-4, "optimizer": {"name": "adamw"}}, name="live-3M", total_steps=steps + 1000)
run.log(val_loss=0.15, val_acc=0.97)  # it matches the benchmarked filter
run.tag("sweep")
t0 = time.perf_counter()
curve = run.curve
for s in range(steps):
    curve(s, train_loss=1.0 / (1 + s * 1e-5), val_loss=1.1 / (1 + s * 1e-5), lr=3e-4 * (1 - s / steps))
run.flush()
print(json.dumps({"id": run.id, "seconds": time.perf_counter() - t0}), flush=True)
s = steps
for line in sys.stdin:  # one new point per "point" line; EOF (the bench died): go without sealing
    curve(s, train_loss=0.5, val_loss=0.55, lr=1e-6)
    run.flush()
    s += 1
    print("ok", flush=True)
os._exit(0)
'''


def env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, **IDENTITY, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "GIT_PAGER": "cat", "PAGER": "cat", "NO_COLOR": "1"}


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the children it waited for) of one command."""
    c, t = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return wall, children_cpu() - c


def interleaved(cmds: dict[str, list[str]], cwd: Path, repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    """Every command once per round, the order rotated each round; (walls, cpus) per label."""
    labels = list(cmds)
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in labels}
    for r in range(repeats):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            wall, cpu = timed(cmds[label], cwd)
            out[label][0].append(wall)
            out[label][1].append(cpu)
    return out


def ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the vault ------------------------------------------------------------------------------------

def build_sdk_vault(base: Path, n: int) -> dict[str, Any]:
    shutil.rmtree(base, ignore_errors=True)
    root = base / "repo"
    root.mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=root, env=env(), check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    git("config", "user.name", "bench")
    git("config", "user.email", "bench@example.invalid")
    (root / "train.py").write_text("print('train')\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "initial")
    print(f"building {root}: {n:,} runs through the SDK, a commit of train.py every {RUNS_PER_COMMIT} runs",
          flush=True)
    proc = subprocess.Popen([sys.executable, "-c", BUILDER, str(n), str(RUNS_PER_COMMIT)], cwd=root, env=env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        if line.startswith("   ..."):
            print(line.rstrip(), flush=True)
        last = line
    if proc.wait() != 0:
        raise SystemExit("building the vault failed (its error is above)")
    info = json.loads(last)
    info.update(format=FORMAT, runs=n, root=str(root))
    (base / "ready.json").write_text(json.dumps(info))
    print(f"   built in {info['seconds']:.0f} s", flush=True)
    return info


def vault_for(n: int, rebuild: bool) -> dict[str, Any]:
    base = Path(tempfile.gettempdir()) / f"gitvault-query-bench15-{n}"
    ready = base / "ready.json"
    if not rebuild and ready.exists():
        info = json.loads(ready.read_text())
        if info.get("format") == FORMAT and Path(info["root"]).is_dir():
            print(f"reusing {info['root']} ({n:,} runs; --rebuild to start over)", flush=True)
            return info
    return build_sdk_vault(base, n)


def live_dir(root: Path) -> Path:
    return root / ".git" / "vault" / "live"


def clear_spools(root: Path) -> None:
    """Spools left by an earlier invocation that died before removing its live run's."""
    d = live_dir(root)
    if d.is_dir():
        for entry in d.iterdir():
            if not entry.name.startswith("."):
                shutil.rmtree(entry, ignore_errors=True)


class LiveRun:
    """The child process holding a running run of 3 x ``steps`` points."""

    def __init__(self, root: Path, steps: int) -> None:
        self.root = root
        print(f"starting the live run: 3 curves x {steps:,} steps through run.curve ...", flush=True)
        t = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", LIVE, str(steps)], cwd=root, env=env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the live run's process died (its error is above)")
        info = json.loads(line)
        self.id: str = info["id"]
        spool = sum(f.stat().st_size for f in (live_dir(root) / self.id).iterdir() if f.is_file())
        print(f"   live run {self.id}: {3 * steps:,} points logged in {info['seconds']:.1f} s, "
              f"flushed ({spool / 1e6:.0f} MB of spool) {time.perf_counter() - t:.1f} s after start", flush=True)

    def point(self) -> None:
        """One more point, flushed to the spool before this returns."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("point\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            raise RuntimeError("the live run's process stopped answering")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(live_dir(self.root) / self.id, ignore_errors=True)


# -- 1. commands ----------------------------------------------------------------------------------

def commands(root: Path, info: dict[str, Any], live_id: str, repeats: int) -> None:
    a, b = info["compare"]
    vault = ["git", "vault"]
    cmds = {
        "git vault runs": [*vault, "runs"],
        "git vault show RUN": [*vault, "show", info["show"]],
        "git vault compare RUN RUN": [*vault, "compare", a, b],
        "git vault log -n 5": [*vault, "log", "-n", "5"],
        "git vault experiments": [*vault, "experiments"],
        "git vault todo list": [*vault, "todo", "list"],
        # git itself answers `git vault --help` with `git help vault` (a man page, which there is
        # none of); `-h` reaches git-vault and prints what `git-vault --help` prints
        "git vault -h (= git-vault --help)": [*vault, "-h"],
        "(extra) git vault show LIVE-RUN": [*vault, "show", live_id],
        "reference: git log -n 5": ["git", "log", "-n", "5"],
        "reference: python -c pass": [sys.executable, "-c", "pass"],
    }
    print("\nwarm-up (one each; the first builds the caches):", flush=True)
    for label, cmd in cmds.items():
        wall, _ = timed(cmd, root)
        print(f"   {label:<34} {ms(wall)} ms", flush=True)
    results = interleaved(cmds, root, repeats)
    base = statistics.median(results["reference: python -c pass"][0])
    print(f"\n1. commands as subprocesses with current caches: {repeats} interleaved rounds after the warm-up; "
          f"load average {load()}")
    print(f"   {'command':<34} {'median':>8} {'min':>8} {'CPU':>8} {'-pass':>8}   target     (ms)")
    for label, (walls, cpus) in results.items():
        med = statistics.median(walls)
        target = HELP_TARGET_MS if "--help" in label else READ_TARGET_MS
        verdict = ""
        if label.startswith("git vault"):
            verdict = f"<= {target:3.0f}  {'ok' if med * 1000 <= target else 'MISS'}"
        print(f"   {label:<34} {ms(med)} {ms(min(walls))} {ms(statistics.median(cpus))} {ms(med - base)}   {verdict}",
              flush=True)


# -- 2. the query layer in process ----------------------------------------------------------------

def in_process(root: Path, live: LiveRun, repeats: int) -> None:
    from gitvault.query import Query

    def median_of(fn: Callable[[], Any], n: int) -> tuple[float, float, Any]:
        walls, out = [], None
        for _ in range(n):
            t = time.perf_counter()
            out = fn()
            walls.append(time.perf_counter() - t)
        return statistics.median(walls), min(walls), out

    n = max(repeats, 21)
    print(f"\n2. the query layer in process (open Query, one call first; median and min of {n}); load average {load()}")
    with Query(root) as q:
        t = time.perf_counter()
        page = q.runs(where=WHERE, sort=SORT, limit=50)
        first = time.perf_counter() - t
        med, low, page = median_of(lambda: q.runs(where=WHERE, sort=SORT, limit=50), n)
        assert len(page["items"]) == min(50, page["total"]) and page["total"] > 1, page["total"]
        assert any(item["id"] == live.id for item in q.runs(where=WHERE, sort=SORT, limit=None)["items"])
        print(f"   Query.runs(where={WHERE!r}, sort={SORT!r}, limit=50)")
        print(f"   {'':40} {ms(med)} ms median {ms(low)} ms min   (first call {first * 1000:.1f} ms; "
              f"{page['total']:,} runs match, the live one among them)")

        t = time.perf_counter()
        token = q.changes()["token"]
        first = time.perf_counter() - t
        med, low, out = median_of(lambda: q.changes(token), n)
        assert not out["changed"], out
        print(f"   {'Query.changes(token), nothing changed':<40} {ms(med)} ms median {ms(low)} ms min   "
              f"(the first look, changes(), {first * 1000:.1f} ms)")

        walls = []
        for _ in range(n):
            live.point()
            t = time.perf_counter()
            out = q.changes(token)
            walls.append(time.perf_counter() - t)
            assert out["runs"] == [live.id] and out["live"] and out["live"][0]["points"] == 3, out
            token = out["token"]
        print(f"   {'Query.changes(token), one new live point':<40} {ms(statistics.median(walls))} ms median "
              f"{ms(min(walls))} ms min   (the live run's new point, flushed, read from the spool's last offset)")


# -- 3. imports -----------------------------------------------------------------------------------

def importtime(statement: str) -> tuple[float, list[tuple[str, int, int]]]:
    """(seconds the statement's imports took by ``-X importtime``, [(module, self us, cumulative us)]);
    the interpreter's own start-up imports (up to and including ``site``) are left out."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], env=env(), capture_output=True,
                          text=True, check=True)
    rows, total, started = [], 0, False
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|")
        top = name.startswith(" ") and not name.startswith("  ")
        mod = name.strip()
        if not started:
            started = top and mod == "site"
            continue
        rows.append((mod, int(self_us), int(cum_us)))
        if top:
            total += int(cum_us)
    return total / 1e6, rows


def heaviest(rows: list[tuple[str, int, int]], k: int = 6) -> str:
    per: dict[str, int] = {}
    for mod, self_us, _ in rows:
        top = mod.split(".")[0]
        key = ".".join(mod.split(".")[:2]) if top == "gitvault" else top
        per[key] = per.get(key, 0) + self_us
    best = sorted(per.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in best)


def imports(repeats: int) -> None:
    modules = ["gitvault", "gitvault.query", "gitvault.cli.main"]
    n = max(repeats, 7)
    cmds = {m: [sys.executable, "-c", f"import {m}"] for m in modules}
    cmds["pass"] = [sys.executable, "-c", "pass"]
    walls = interleaved(cmds, REPO, n)
    base = statistics.median(walls["pass"][0])
    print(f"\n3. import time in a fresh interpreter (medians of {n}; `python -c pass` {base * 1000:.1f} ms); "
          f"load average {load()}")
    print(f"   {'module':<20} {'-X importtime':>14} {'wall - pass':>12}   heaviest packages by self time (ms)")
    for m in modules:
        samples = [importtime(f"import {m}") for _ in range(n)]
        total = statistics.median(s[0] for s in samples)
        rows = samples[len(samples) // 2][1]
        wall = statistics.median(walls[m][0]) - base
        print(f"   {m:<20} {total * 1000:11.1f} ms {wall * 1000:9.1f} ms   {heaviest(rows)}", flush=True)


# -- the direct vault bench/mcp_bench.py builds on (`build`) ---------------------------------------
# 10,000 runs (5 headline metrics, a 100-point "loss" curve each) plus 10 runs of 2 x 100,000-point
# curves, written straight as records and Parquet blobs with `Transaction` and `BlobStore`, 100
# records per commit: quicker to make than the SDK's vault above, not what a user's looks like.

PER_COMMIT = 100
BIG_RUNS = 10
BIG_POINTS = 100_000
T0 = dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc)


def experiment_records(path: str, levels: list[str]) -> list[dict[str, Any]]:
    parts = path.split("/")
    out: list[dict[str, Any]] = []
    parent: str | None = None
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


# -- main -----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the vault (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 runs")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the commands (median of these)")
    parser.add_argument("--live-steps", type=int, default=LIVE_STEPS, help="steps of the live run (3 curves each)")
    parser.add_argument("--rebuild", action="store_true", help="build a new vault even if one is kept")
    args = parser.parse_args()
    n = 1_000 if args.quick else args.runs
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {load()}", flush=True)
    # byte-compiled first, as `pip install` leaves a package: with PYTHONDONTWRITEBYTECODE set (as on
    # some machines) every start would otherwise compile the modules edited since the last compile
    import compileall

    for package in ("gitvault", "cli", "mcp_server", "hooks", "tui"):
        compileall.compile_dir(str(REPO / package), quiet=1)
    info = vault_for(n, args.rebuild)
    root = Path(info["root"])
    clear_spools(root)
    live = LiveRun(root, args.live_steps)
    try:
        commands(root, info, live.id, args.repeats)
        in_process(root, live, args.repeats)
        imports(args.repeats)
        db = root / ".extract" / "extract.db"
        vault_commits = subprocess.run(["git", "rev-list", "--count", "refs/vault/main"], cwd=root,
                                       capture_output=True, text=True).stdout.strip()
        print(f"\nvault: {n:,} sealed runs + 1 live run of {3 * args.live_steps:,} points, {vault_commits} vault commits, "
              f"extract.db {db.stat().st_size / 1e6:.1f} MB")
    finally:
        live.kill()
    print(f"targets (issue 15): every read command <= {READ_TARGET_MS:.0f} ms at 10,000 runs with current caches, "
          f"`git vault --help` <= {HELP_TARGET_MS:.0f} ms")
    print(f"load average at the end {load()}; {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
