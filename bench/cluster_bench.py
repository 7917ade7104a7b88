"""Cluster benchmark (issue 23, "What it must show"): many jobs writing runs at once.
Prints figures beside the expected ones; asserts nothing.

    .venv/bin/python bench/cluster_bench.py [--writers 64] [--runs 5] [--clones 32] [--quick]

1. One shared checkout: ``--writers`` processes (default 64) each seal ``--runs`` runs (default 5;
   20 curve points and one metric each) with the SDK into ONE repository, a fresh ``git init`` +
   ``git vault init`` in the temp dir, all started together. Once per lock mode, each writer's
   ``fcntl.flock`` replaced before gitvault loads (as tests/test_no_flock.py does):

   - ``flock``: the real lock (a local disk);
   - ``enosys``: every ``flock`` fails with ENOSYS (Lustre mounted without ``-o flock``);
   - ``noexclude``: every ``flock`` succeeds and excludes nothing (``-o localflock`` or BeeGFS,
     seen from two nodes).

   Each writer prints a run's id once the run is sealed. Printed: runs written (ids printed),
   runs lost (an id printed but not sealed ``completed`` in the vault; expected 0), other runs
   the vault holds, writers that exited non-zero, writers whose stderr names an error, wall time,
   and ``git fsck`` / ``git vault fsck`` clean.
2. A clone per node: a bare remote holding a vault, then ``--clones`` jobs (default 32) started
   together, each: ``git clone``, ``git vault pull``, seal 1 or 2 runs with the SDK, ``git vault
   push``. Printed: runs sealed, runs that arrived on the remote (pulled into a fresh clone and
   counted), lost (expected 0), jobs that failed, wall time, and the slowest push.

3. ``--million`` (or ``--million-runs N``): a vault of N runs (default 1,000,000) built through the bulk
   path (`Vault.commit_many`, batches of 100,000: one commit and one pack each; time printed),
   and beside it a 100-run vault built the same way. Each bulk run holds a config (3 keys, one
   nested), 3 headline metrics, a params entry, 2 tags, git facts and an env; one run in 10,000
   also has its own 200-step curves blob (sealed Parquet), the rest none (a million runs each with
   its own curves file would be a million files). For both vaults, printed side by side with the
   goal: sealing one more run with the SDK (median of 5), ``git vault runs --limit 20`` and
   ``git vault show RUN`` with current caches (subprocess, median of 5), the incremental refresh
   after one new run (a long-lived reader's ``Caches.refresh()``, as a `Query` does, right after a
   seal minus the same with nothing new, median of 5; and ``git vault runs --limit 20`` right
   after a seal minus the same with nothing new, median of 3, which adds opening DuckDB), ``git vault reindex``, the largest tree (entries; every tree of the
   fan-out levels is read), and ``git clone`` of a bare mirror (``file://``) plus
   ``git vault pull --records-only`` in the clone: time and size of the clone on disk.
   ``--million`` runs this part alone (run it with ``nice -n 10``; at 1M it takes several minutes
   and a few GB of memory).

``--quick``: 16 writers x 3 runs and 8 clones. The machine's CPU count and load average are
printed at the start and the end: on a machine with few CPUs the wall times measure queueing as
much as gitvault. For reference (issue 23, on a local disk): 32 writers x 5 runs, 160 of 160
in 6.3 s; 8 clones pushing at once, 2 rounds, 48 of 48 runs arrive.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
for key, value in (("GIT_AUTHOR_NAME", "Bench"), ("GIT_AUTHOR_EMAIL", "bench@example.invalid"),
                   ("GIT_COMMITTER_NAME", "Bench"), ("GIT_COMMITTER_EMAIL", "bench@example.invalid")):
    os.environ[key] = value
sys.path.insert(0, str(ROOT))

from gitvault.storage.vault import Vault  # noqa: E402

JOB_TIMEOUT = 900  # seconds for every job of one case together

# what replaces fcntl.flock in a writer, per lock mode (as in tests/test_no_flock.py)
PATCH = {
    "flock": "",
    "enosys": "import errno, fcntl, os\n"
              "def flock(fd, op):\n    raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))\n"
              "fcntl.flock = flock\n",
    "noexclude": "import fcntl\ndef flock(fd, op):\n    return None\nfcntl.flock = flock\n",
}

WRITER = """
import sys
import gitvault
store = gitvault.Store(sys.argv[1])
exp = store.experiment({"benchmark": "cluster", "model": "w" + sys.argv[2]})
for k in range(int(sys.argv[3])):
    with exp.run(name=f"w{sys.argv[2]}-{k}", config={"k": k}) as run:
        for step in range(20):
            run.curve(step, loss=1.0 / (step + 1))
        run.log(acc=k / 10)
    print(run.id, flush=True)
"""

CLONE_JOB = """
import json, subprocess, sys, time
remote, path, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
subprocess.run(["git", "clone", "-q", remote, path], check=True)
subprocess.run(["git", "vault", "pull"], cwd=path, check=True, capture_output=True)
import gitvault
store = gitvault.Store(path)
exp = store.experiment({"benchmark": "cluster", "model": f"clone{index}"})
ids = []
for k in range(1 + index % 2):
    with exp.run(name=f"clone{index}-{k}", config={"k": k}) as run:
        for step in range(20):
            run.curve(step, loss=1.0 / (step + 1))
        run.log(acc=k / 2)
    ids.append(run.id)
print(json.dumps(ids), flush=True)
started = time.perf_counter()
pushed = subprocess.run(["git", "vault", "push"], cwd=path, capture_output=True, text=True)
print(json.dumps({"push_s": time.perf_counter() - started}), flush=True)
sys.stderr.write(pushed.stderr)
raise SystemExit(pushed.returncode)
"""


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def sh(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, check=check, text=True, capture_output=True)


def new_repo(path: Path) -> Path:
    """A git repository with one commit and an initialised vault."""
    path.mkdir(parents=True)
    sh(path, "git", "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('training')\n")
    sh(path, "git", "add", "train.py")
    sh(path, "git", "commit", "-q", "-m", "initial")
    sh(path, "git", "vault", "init")
    return path


def run_jobs(commands: list[list[str]], logs: Path) -> tuple[float, list[tuple[int, str, str]]]:
    """Start every command at once (output to files, so no job blocks on a full pipe while
    holding a lock); the wall time until the last exits, and each job's (code, stdout, stderr)."""
    logs.mkdir(parents=True)
    started = time.perf_counter()
    procs = []
    for i, command in enumerate(commands):
        with open(logs / f"{i}.out", "w") as out, open(logs / f"{i}.err", "w") as err:
            procs.append(subprocess.Popen(command, stdout=out, stderr=err, text=True))
    deadline = started + JOB_TIMEOUT
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - started
    return wall, [(p.returncode, (logs / f"{i}.out").read_text(), (logs / f"{i}.err").read_text())
                  for i, p in enumerate(procs)]


def error_lines(stderr: str) -> list[str]:
    """The lines of a job's stderr that name an error (the one-time no-locks warning is expected)."""
    return [line.strip() for line in stderr.splitlines() if "Error" in line or "error:" in line or "fatal:" in line]


def show_errors(done: list[tuple[int, str, str]], tmp: Path) -> None:
    """The distinct error lines the jobs printed (run ids and the temp dir left out), with how
    many jobs printed each."""
    seen: dict[str, int] = {}
    for _, _, err in done:
        for line in {re.sub(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "<run>", line.replace(str(tmp), "<tmp>"))
                     for line in error_lines(err)}:
            seen[line] = seen.get(line, 0) + 1
    for line, count in sorted(seen.items(), key=lambda item: -item[1])[:5]:
        print(f"      {count} x {line[:240]}")


def statuses(repo: Path, ids: list[str]) -> tuple[dict[str, str], int]:
    """Each id's status in the vault ("missing" when it has no record), and how many runs the
    vault holds in all."""
    snap = Vault.open(repo).snapshot()
    found = {rid: snap.get("run", rid)["status"] if snap.has("run", rid) else "missing" for rid in ids}
    return found, sum(1 for _ in snap.ids("run"))


def shared_checkout(tmp: Path, mode: str, writers: int, runs: int) -> None:
    """Part 1, one lock mode: ``writers`` processes x ``runs`` runs into one repository."""
    repo = new_repo(tmp / f"shared-{mode}")
    code = PATCH[mode] + textwrap.dedent(WRITER)
    commands = [[sys.executable, "-c", code, str(repo), str(w), str(runs)] for w in range(writers)]
    wall, done = run_jobs(commands, tmp / f"logs-{mode}")
    ids = [line for _, out, _ in done for line in out.split()]
    found, total = statuses(repo, ids)
    lost = [rid for rid, status in found.items() if status != "completed"]
    failed = sum(1 for code_, _, _ in done if code_ != 0)
    told = sum(1 for _, _, err in done if error_lines(err))
    fsck = sh(repo, "git", "fsck", "--no-dangling", check=False).returncode == 0
    vault_fsck = sh(repo, "git", "vault", "fsck", check=False).returncode == 0
    print(f"  {mode:<10} {len(ids):>4} of {writers * runs:<4} {len(lost):>4} {total - len(set(ids)):>6} "
          f"{failed:>7} {told:>7} {wall:>8.1f} s  {'yes' if fsck else 'NO':>4} {'yes' if vault_fsck else 'NO':>10}",
          flush=True)
    for rid in lost[:5]:
        print(f"      lost: {rid} ({found[rid]})")
    show_errors(done, tmp)


def seed_remote(tmp: Path) -> Path:
    """A bare remote holding the main branch and a vault (empty of runs)."""
    remote = tmp / "remote.git"
    sh(tmp, "git", "init", "-q", "--bare", str(remote))
    seed = new_repo(tmp / "seed")
    sh(seed, "git", "remote", "add", "origin", str(remote))
    sh(seed, "git", "push", "-q", "origin", "main")
    sh(seed, "git", "vault", "push")
    return remote


def clones_pushing(tmp: Path, clones: int) -> None:
    """Part 2: ``clones`` jobs each cloning, sealing 1-2 runs and pushing, all at once."""
    remote = seed_remote(tmp)
    code = textwrap.dedent(CLONE_JOB)
    commands = [[sys.executable, "-c", code, str(remote), str(tmp / f"clone-{i}"), str(i)] for i in range(clones)]
    wall, done = run_jobs(commands, tmp / "logs-clones")
    ids: list[str] = []
    pushes: list[float] = []
    for _, out, _ in done:
        lines = out.splitlines()
        if lines:
            ids += json.loads(lines[0])
        if len(lines) > 1:
            pushes.append(json.loads(lines[1])["push_s"])
    check = tmp / "check"
    sh(tmp, "git", "clone", "-q", str(remote), str(check))
    sh(check, "git", "vault", "pull")
    found, total = statuses(check, ids)
    arrived = [rid for rid, status in found.items() if status == "completed"]
    failed = sum(1 for code_, _, _ in done if code_ != 0)
    slowest = f"{max(pushes):.1f} s" if pushes else "-"
    print(f"  {clones} clones: {len(ids)} runs sealed, {len(arrived)} arrived on the remote "
          f"({total} runs there in all), {len(ids) - len(arrived)} lost (expected 0), {failed} jobs failed, "
          f"wall {wall:.1f} s, slowest push {slowest}", flush=True)
    show_errors(done, tmp)


# -- 3. a million runs --------------------------------------------------------------------------

CURVES_EVERY = 10_000  # one bulk run in this many has its own curves blob


def bulk_records(n: int, blobs_dir: Path, per_experiment: int = 1_000) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, id, record) of ``n`` runs in ``n / per_experiment`` leaf experiments (``bulk > m<k> >
    e<i>``), for `Vault.commit_many`; see part 3 of the module docstring for what a run holds."""
    from ulid import ULID

    import pyarrow as pa

    from gitvault.runs import curves
    from gitvault.storage import records
    from gitvault.storage.blobs import BlobStore

    store = BlobStore(blobs_dir)
    leaves = max(1, n // per_experiment)
    exp_ids: dict[str, str] = {}
    for e in range(leaves):
        for path in ("bulk", f"bulk/m{e % 10}", f"bulk/m{e % 10}/e{e:04d}"):
            if path in exp_ids:
                continue
            parent = path.rsplit("/", 1)[0] if "/" in path else None
            exp_ids[path] = records.experiment_id(path)
            yield ("experiment", exp_ids[path], {
                "path": path, "name": path.rsplit("/", 1)[-1], "parent_id": exp_ids.get(parent or ""),
                "node_type": ("benchmark", "model", "variant")[path.count("/")],
                "created_at": "2024-12-19T10:00:00.000000Z", "status": "created", "tags": []})
    steps = 200
    for i in range(n):
        path = f"bulk/m{(i % leaves) % 10}/e{i % leaves:04d}"
        curve: dict[str, Any] = {"blob": None, "names": [], "points": 0, "last_step": None}
        if i % CURVES_EVERY == 0:
            step = pa.array(range(steps), pa.int64())
            table = pa.table({"step": step, "wall_time": pa.array([s * 0.5 for s in range(steps)], pa.float32()),
                              "loss": pa.array([1.0 / (s + 1 + i % 7) for s in range(steps)], pa.float64())})
            curve = {"blob": store.put_bytes(curves.to_parquet(table)), "names": ["loss"], "points": steps,
                     "last_step": steps - 1}
        run_id = str(ULID.from_timestamp((1_700_000_000_000 + i) / 1000))
        yield ("run", run_id, {
            "experiment_id": exp_ids[path], "experiment_path": path, "name": f"run-{i}",
            "config": {"lr": 1e-4 * (1 + i % 7), "batch": 32 << (i % 3), "opt": {"name": "adam", "beta": 0.9}},
            "started_at": "2024-12-19T10:00:00.000000Z", "ended_at": "2024-12-19T10:05:00.000000Z",
            "status": "completed", "hostname": f"node{i % 64:03d}",
            "git": {"sha": "a" * 40, "branch": "main", "dirty": False, "patch": None, "tree": None},
            "env": {"python": "3.11", "platform": "linux"}, "total_steps": steps,
            "metrics": {"loss": {"value": 1.0 / (i + 1), "wall_time": 1.5},
                        "acc": {"value": 0.5 + (i % 100) / 200, "wall_time": 1.5},
                        "val_loss": {"value": 0.3 + (i % 13) / 100, "wall_time": 1.5}},
            "params": {"arch": "resnet18"}, "curves": curve, "artifacts": [],
            "tags": ["bulk", f"seed{i % 5}"], "notes": []})


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def children_cpu() -> float:
    """User + system seconds of this process's finished children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cmd(cwd: Path, *args: str) -> float:
    started = time.perf_counter()
    sh(cwd, *args)
    return time.perf_counter() - started


SEAL = """
import sys, time, statistics
import gitvault
store = gitvault.Store(sys.argv[1])
exp = store.experiment({"benchmark": "sealed", "model": "m", "variant": "v"})
samples = []
for k in range(int(sys.argv[2])):
    started = time.perf_counter()
    with exp.run(name=f"sealed-{k}", config={"k": k}) as run:
        for step in range(20):
            run.curve(step, loss=1.0 / (step + 1))
        run.log(acc=k / 10)
    samples.append(time.perf_counter() - started)
    print(run.id, flush=True)
print(statistics.median(samples), flush=True)
"""


REFRESH = """
import sys, time, statistics
import gitvault
from gitvault.cache import Caches
from gitvault.storage.vault import Vault
caches = Caches(Vault.open(sys.argv[1]))
caches.refresh()
exp = gitvault.Store(sys.argv[1]).experiment({"benchmark": "sealed", "model": "m", "variant": "v"})
samples = []
for k in range(6):
    with exp.run(name=f"refresh-{k}") as run:
        run.log(acc=k / 10)
    started = time.perf_counter()
    caches.refresh()
    after_seal = time.perf_counter() - started
    started = time.perf_counter()
    caches.refresh()
    samples.append(after_seal - (time.perf_counter() - started))
print(statistics.median(samples[1:]))  # the first one also opens DuckDB in this process
"""


def seal(repo: Path, count: int) -> tuple[list[str], float]:
    """Seal ``count`` runs with the SDK in one process: their ids and the median seconds of one
    (start, 20 curve points, a metric, finish)."""
    out = sh(repo, sys.executable, "-c", textwrap.dedent(SEAL), str(repo), str(count)).stdout.split()
    return out[:-1], float(out[-1])


def largest_tree(repo: Path) -> tuple[int, str]:
    """The most entries any tree of the vault's fan-out levels holds (root, kind folders, both
    fan-out levels, and the entity folders of the largest leaf), and where."""
    import pygit2

    git = pygit2.Repository(str(repo / ".git"))
    root = git.revparse_single("refs/vault/main").peel(pygit2.Tree)
    best = (len(root), "/")
    for top in root:
        if not isinstance(top, pygit2.Tree):
            continue
        best = max(best, (len(top), f"{top.name}/"))
        for a in top:
            if isinstance(a, pygit2.Tree):
                best = max(best, (len(a), f"{top.name}/{a.name}/"))
                for b in a:
                    if isinstance(b, pygit2.Tree):
                        best = max(best, (len(b), f"{top.name}/{a.name}/{b.name}/"))
                        for entity in b:
                            if isinstance(entity, pygit2.Tree) and len(entity) > best[0]:
                                best = (len(entity), f"{top.name}/{a.name}/{b.name}/{entity.name}/")
    return best


def disk_usage(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def vault_figures(tmp: Path, name: str, runs: int) -> dict[str, Any]:
    """Build a vault of ``runs`` bulk runs and measure it (see part 3 of the module docstring)."""
    repo = new_repo(tmp / name)
    vault = Vault.open(repo)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    result = vault.commit_many(bulk_records(runs, vault.paths.objects_dir), message="bench: bulk runs")
    figures["build"] = time.perf_counter() - started
    figures["written"] = result.written
    print(f"   {name}: {result.written:,} records written in {result.commits} commits, {figures['build']:.1f} s", flush=True)
    cpu_before = children_cpu()
    figures["reindex"] = timed_cmd(repo, "git", "vault", "reindex")
    figures["reindex_cpu"] = children_cpu() - cpu_before  # a shared machine's load shows in wall time only
    sh(repo, "git", "vault", "runs", "--limit", "1")
    ids, figures["seal"] = seal(repo, 5)
    sh(repo, "git", "vault", "runs", "--limit", "1")  # the caches take the seals in
    figures["runs"] = median([timed_cmd(repo, "git", "vault", "runs", "--limit", "20") for _ in range(5)])
    figures["show"] = median([timed_cmd(repo, "git", "vault", "show", ids[-1]) for _ in range(5)])
    increments = []
    for _ in range(3):
        seal(repo, 1)
        after_seal = timed_cmd(repo, "git", "vault", "runs", "--limit", "20")
        increments.append(after_seal - median([timed_cmd(repo, "git", "vault", "runs", "--limit", "20") for _ in range(3)]))
    figures["refresh_cli"] = median(increments)
    out = sh(repo, sys.executable, "-c", textwrap.dedent(REFRESH), str(repo)).stdout.split()
    figures["refresh"] = float(out[-1])
    figures["tree"] = largest_tree(repo)
    print(f"   {name}: reindex {figures['reindex']:.1f} s, seal {figures['seal'] * 1000:.1f} ms, runs --limit 20 "
          f"{figures['runs'] * 1000:.0f} ms, show {figures['show'] * 1000:.0f} ms, refresh {figures['refresh'] * 1000:.1f} ms "
          f"(CLI {figures['refresh_cli'] * 1000:.0f} ms), largest tree {figures['tree'][0]} entries", flush=True)
    remote = tmp / f"{name}-remote.git"
    sh(tmp, "git", "clone", "-q", "--mirror", str(repo), str(remote))
    clone = tmp / f"{name}-clone"
    started = time.perf_counter()
    sh(tmp, "git", "clone", "-q", f"file://{remote}", str(clone))
    sh(clone, "git", "vault", "pull", "--records-only")
    figures["clone"] = time.perf_counter() - started
    figures["clone_size"] = disk_usage(clone)
    return figures


def million(tmp: Path, runs: int) -> None:
    """Part 3: the figures of a ``runs``-run vault beside a 100-run one."""
    print(f"\n3. a vault of {runs:,} runs beside one of 100 (bulk-built; goals from issue 23)", flush=True)
    small = vault_figures(tmp, "runs-100", 100)
    big = vault_figures(tmp, f"runs-{runs}", runs)
    ms = 1000.0
    rows = [
        ("seal one more run (SDK, median of 5)", small["seal"] * ms, big["seal"] * ms, "ms",
         f"<= 2x the 100-run figure ({2 * small['seal'] * ms:.0f} ms)", big["seal"] <= 2 * small["seal"]),
        ("git vault runs --limit 20 (current caches)", small["runs"] * ms, big["runs"] * ms, "ms", "<= 150 ms",
         big["runs"] <= 0.150),
        ("git vault show RUN (current caches)", small["show"] * ms, big["show"] * ms, "ms", "<= 150 ms",
         big["show"] <= 0.150),
        ("incremental refresh after one new run (Query)", small["refresh"] * ms, big["refresh"] * ms, "ms",
         "<= 100 ms", big["refresh"] <= 0.100),
        ("  the same seen by one `git vault runs`", small["refresh_cli"] * ms, big["refresh_cli"] * ms, "ms",
         "printed", True),
        ("full reindex (git vault reindex)", small["reindex"], big["reindex"], "s", "<= 120 s", big["reindex"] <= 120),
        ("  its CPU time (user + system)", small["reindex_cpu"], big["reindex_cpu"], "s", "printed", True),
        ("largest tree (entries)", small["tree"][0], big["tree"][0], "", "<= 3,000", big["tree"][0] <= 3000),
        ("git clone + git vault pull --records-only", small["clone"], big["clone"], "s", "printed", True),
        ("size of that clone on disk (MB)", small["clone_size"] / 1e6, big["clone_size"] / 1e6, "MB", "printed", True),
    ]
    print(f"   {'':<44} {'100 runs':>12} {f'{runs:,} runs':>14}   goal")
    for label, a, b, unit, goal, ok in rows:
        print(f"   {label:<44} {a:>9.1f} {unit:<2} {b:>11.1f} {unit:<2}   {goal}: {'ok' if ok else 'MISS'}")
    print(f"   largest tree at {runs:,}: {big['tree'][1]}; bulk build {big['build']:.0f} s "
          f"({big['written'] / max(big['build'], 1e-9):,.0f} records/s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=64, help="writer processes per lock mode (default 64)")
    parser.add_argument("--runs", type=int, default=5, help="runs each writer seals (default 5)")
    parser.add_argument("--clones", type=int, default=32, help="clones pushing at once (default 32)")
    parser.add_argument("--quick", action="store_true", help="16 writers x 3 runs, 8 clones")
    parser.add_argument("--million", action="store_true", help="part 3 alone: 1,000,000 bulk runs beside 100")
    parser.add_argument("--million-runs", type=int, default=None, metavar="N",
                        help="part 3 alone with N runs instead of 1,000,000 (e.g. 20000 to try it)")
    args = parser.parse_args()
    # byte-compiled first, as `pip install` leaves a package (with PYTHONDONTWRITEBYTECODE set,
    # every writer and command would otherwise compile the modules edited since the last compile)
    for package in ("gitvault", "cli"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    if args.million or args.million_runs:
        print(f"{os.cpu_count()} CPUs, load average {load()}", flush=True)
        with tempfile.TemporaryDirectory(prefix="cluster-bench-") as name:
            million(Path(name), args.million_runs or 1_000_000)
        print(f"load average at the end {load()}")
        return 0
    writers, runs, clones = (16, 3, 8) if args.quick else (args.writers, args.runs, args.clones)
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as name:
        tmp = Path(name)
        print(f"\n1. {writers} writer processes x {runs} runs into one repository (expected: "
              f"{writers * runs} written, 0 lost, 0 other, 0 failed, fsck clean)")
        print(f"  {'lock':<10} {'written':>12} {'lost':>4} {'other':>6} {'failed':>7} {'errors':>7} "
              f"{'wall':>10}  {'fsck':>4} {'vault fsck':>6}")
        for mode in PATCH:
            shared_checkout(tmp, mode, writers, runs)
        print(f"\n2. {clones} clones pushing to one bare remote at once (expected: every run arrives, 0 lost)")
        clones_pushing(tmp, clones)
    print("\nreference (issue 23, local disk): 32 writers x 5 runs, 160 of 160 in 6.3 s; "
          "8 clones pushing at once, 2 rounds, 48 of 48 runs arrive")
    print(f"load average at the end {load()}; {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
