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
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=64, help="writer processes per lock mode (default 64)")
    parser.add_argument("--runs", type=int, default=5, help="runs each writer seals (default 5)")
    parser.add_argument("--clones", type=int, default=32, help="clones pushing at once (default 32)")
    parser.add_argument("--quick", action="store_true", help="16 writers x 3 runs, 8 clones")
    args = parser.parse_args()
    writers, runs, clones = (16, 3, 8) if args.quick else (args.writers, args.runs, args.clones)
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {load()}", flush=True)
    # byte-compiled first, as `pip install` leaves a package (with PYTHONDONTWRITEBYTECODE set,
    # every writer would otherwise compile the modules edited since the last compile)
    for package in ("gitvault", "cli"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
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
