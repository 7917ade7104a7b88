"""git's own maintenance beside vault writers: `git gc`, `git repack -ad` and `git maintenance run`
loop in the repository while SDK processes seal runs; no sealed run is lost and git fsck is clean.

`race` is shared with bench/gc_race_bench.py (the same race for a minute). Never ``--prune=now``:
git documents it as unsafe beside any writer. The work tree is dirty, as a researcher's is, so
every run start also writes the would-be tree of the work tree into git's object store.

What the race found (libgit2 1.9 through pygit2, git 2.39), each now a retry in `Vault.advance`:
- libgit2 writes a loose object as ``objects/tmp_object*``, creates ``objects/xx/`` and renames
  into it; git's ``prune-packed`` (gc, ``repack -d``, the loose-objects task) removes every empty
  ``xx/`` it visits, so the rename can fail with ENOENT and the seal with it;
- libgit2 keeps the multi-pack-index it loaded. A pack in it whose ``.idx`` libgit2 had mapped
  (any existence check maps it) but whose ``.pack`` it never opened, once deleted by git
  (``repack -ad``, ``gc``), fails every read through it with "invalid packfile": not "not found", so
  libgit2 never reloads, and that handle is broken until it is dropped (the second test).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitvault.storage.vault import Transaction, Vault
from gitvault.integrity.checks import FsckReport, fsck
from gitvault.storage.maintenance import loose_object_count

WRITERS = 3
SECONDS = 10.0
COMMAND_TIMEOUT_S = 120.0  # one maintenance command; a git gc of this small repository takes ~1 s
GRACE_S = 180.0  # how long after their own deadline the writers may take to exit

MAINTENANCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gc", ("gc", "--quiet")),
    ("repack -ad", ("repack", "-ad", "-q")),
    ("maintenance", ("maintenance", "run", "--task=loose-objects", "--task=incremental-repack")),
)

WRITER = """
import sys, time
from pathlib import Path
from gitvault import Store

worker, seconds, go = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
store = Store()
exp = store.experiment({"benchmark": "gc-race", "model": f"w{worker}"})
while not go.exists():
    time.sleep(0.002)
deadline = time.monotonic() + seconds
i = 0
while time.monotonic() < deadline:
    i += 1
    run = None
    try:
        with exp.run(config={"worker": worker, "i": i}, name=f"w{worker}-r{i}") as run:
            for step in range(10):
                run.curve(step, loss=1.0 / (step + 1))
            run.log(final=float(i))
    except Exception as exc:  # reported, and the race goes on: the test fails on any of these
        why = f"{type(exc).__name__}: {exc}".replace("\\n", " ")
        print(f"failed {run.id if run is not None else '-'} {why}", flush=True)
        continue
    print(f"sealed {run.id}", flush=True)
"""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)


_PROBLEM = re.compile(r"missing|broken|bad|error|fatal|corrupt", re.IGNORECASE)


@dataclass
class RaceResult:
    writers: int
    seconds: float
    sealed: list[str]
    lost: list[str]
    seal_failures: list[str]  # "<run id or -> <exception>", as the writers printed them
    passes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # "gc is already running" (git's gc.pid lock)
    failures: list[str] = field(default_factory=list)
    fsck_rc: int = 0
    fsck_problems: list[str] = field(default_factory=list)
    dangling: int = 0
    reflog_rc: int = 0
    reflog_entries: int = 0
    reflog_top_is_tip: bool = False
    vault_fsck: FsckReport | None = None

    @property
    def git_fsck_clean(self) -> bool:
        return self.fsck_rc == 0 and not self.fsck_problems

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.seal_failures and not self.failures and self.git_fsck_clean
                and self.reflog_rc == 0 and self.reflog_top_is_tip
                and self.vault_fsck is not None and self.vault_fsck.ok)

    def fsck_line(self) -> str:
        if self.git_fsck_clean:
            return f"git fsck clean ({self.dangling} dangling)"
        return f"git fsck FAILED (exit {self.fsck_rc}): {'; '.join(self.fsck_problems[:5])}"

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        return (f"{self.writers} writers x {self.seconds:g} s: {len(self.sealed)} runs sealed, {len(self.lost)} lost, "
                f"{len(self.seal_failures)} seals failed, {sum(self.passes.values())} maintenance passes "
                f"({', '.join(f'{name} {self.passes[name]}' for name, _ in MAINTENANCE)}"
                f"{f'; {skipped} skipped, gc already running' if skipped else ''}), {self.fsck_line()}")


def race(repo: Path, workdir: Path, writers: int = WRITERS, seconds: float = SECONDS) -> RaceResult:
    """``writers`` SDK processes seal runs into ``repo``'s vault for ``seconds`` while git's
    maintenance commands run there in turn; then every printed run id is looked up in
    ``refs/vault/main`` and the repository is checked (git fsck, reflog, gitvault fsck)."""
    go = workdir / "go"
    outs = [workdir / f"writer-{w}.out" for w in range(writers)]
    errs = [workdir / f"writer-{w}.err" for w in range(writers)]
    procs: list[subprocess.Popen[bytes]] = []
    passes: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failures: list[str] = []
    (repo / "notes.md").write_text("untracked notes\n")
    (repo / "train.py").write_text("print('edited, not committed')\n")
    try:
        for w in range(writers):
            with outs[w].open("wb") as out, errs[w].open("wb") as log:  # files: a full pipe would stall a writer
                procs.append(subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(seconds), str(go)],
                                              cwd=repo, stdout=out, stderr=log))
        go.touch()
        deadline = time.monotonic() + seconds + GRACE_S
        turn = 0
        while any(p.poll() is None for p in procs) or turn < len(MAINTENANCE):
            if time.monotonic() > deadline:
                raise TimeoutError(f"writers still running {GRACE_S:.0f} s after their {seconds:g} s")
            name, args = MAINTENANCE[turn % len(MAINTENANCE)]
            turn += 1
            proc = _git(repo, *args)
            if proc.returncode == 0:
                passes[name] += 1
            elif "already running" in proc.stderr:
                skipped[name] += 1
            else:
                failures.append(f"git {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    for p, err in zip(procs, errs):
        if p.returncode != 0:
            raise AssertionError(f"a writer exited {p.returncode}:\n{err.read_text()[-3000:]}")

    printed = [line.split(" ", 1) for out in outs for line in out.read_text().splitlines()]
    sealed = [rest for what, rest in printed if what == "sealed"]
    vault = Vault.open(repo)
    snap = vault.snapshot()
    result = RaceResult(writers, seconds, sealed, [rid for rid in sealed if not snap.has("run", rid)],
                        [rest for what, rest in printed if what == "failed"], passes, skipped, failures)
    check = _git(repo, "fsck", "--full")
    lines = (check.stdout + check.stderr).splitlines()
    result.fsck_rc = check.returncode
    result.dangling = sum(1 for line in lines if line.startswith("dangling "))
    result.fsck_problems = [line for line in lines if _PROBLEM.search(line)]
    reflog = _git(repo, "reflog", "show", "--format=%H", "refs/vault/main")
    entries = reflog.stdout.split()
    result.reflog_rc, result.reflog_entries = reflog.returncode, len(entries)
    result.reflog_top_is_tip = bool(entries) and entries[0] == str(vault.tip())
    result.vault_fsck = fsck(vault)
    return result


def object_counts(common_dir: Path) -> str:
    """Loose objects as gitvault counts them, beside ``git count-objects -v``."""
    proc = _git(common_dir, "count-objects", "-v")
    stats = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    loose = loose_object_count(common_dir)
    gc = ("; a git gc is running (gc.pid): the two counts may differ" if (common_dir / "gc.pid").exists()
          else "; gitvault had started a background git gc --auto" if (common_dir / "vault" / "gc-started").exists()
          else "")
    return (f"{loose:,} loose objects; git count-objects -v: count {stats.get('count')}, "
            f"size {stats.get('size')} KiB, in-pack {stats.get('in-pack')}, packs {stats.get('packs')}, "
            f"size-pack {stats.get('size-pack')} KiB, garbage {stats.get('garbage')}{gc}")


def test_git_maintenance_beside_sdk_writers_loses_nothing(vault_repo: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    result = race(vault_repo, tmp_path, WRITERS, SECONDS)
    with capsys.disabled():
        print(f"\n[gc race] {result.summary()}")
    sealed, seal_failures, lost, vault_fsck = result.sealed, result.seal_failures, result.lost, result.vault_fsck
    assert sealed, "no writer sealed a run"
    assert not seal_failures, f"{len(seal_failures)} seals failed beside git maintenance: {seal_failures[:3]}"
    assert not lost, f"{len(lost)} sealed runs are not in refs/vault/main: {lost[:10]}"
    assert result.git_fsck_clean, result.fsck_line()
    assert not result.failures, result.failures
    assert result.reflog_rc == 0 and result.reflog_top_is_tip
    assert result.reflog_entries > len(sealed)  # init, experiments and every seal
    assert vault_fsck is not None and vault_fsck.ok, vault_fsck.problems[:5] if vault_fsck else None
    assert vault_fsck.records >= len(sealed)


def test_commit_recovers_when_git_deletes_a_pack_of_the_loaded_multi_pack_index(vault_repo: Path) -> None:
    """The second finding above, step by step: without a fresh handle the last commit fails with
    OSError "invalid packfile '<the deleted pack>'", however often it is retried."""
    writer = Vault.open(vault_repo)
    for i in range(3):
        tx = Transaction(message=f"seal run r{i}")
        tx.put("run", f"r{i}", {"status": "completed"})
        writer.commit(tx)

    def run_git(*args: str) -> None:
        proc = _git(vault_repo, *args)
        assert proc.returncode == 0, proc.stderr

    run_git("repack", "-d", "-q")  # every object, the vault's tip too, in one pack
    vault = Vault.open(vault_repo)  # a long-lived writer's handle, which has read nothing yet
    vault.repo.create_blob(b"probe 1")  # the existence check maps the pack's .idx; its .pack stays closed
    run_git("multi-pack-index", "write")
    vault.repo.create_blob(b"probe 2")  # a miss again: libgit2 reloads and takes the multi-pack-index
    run_git("commit", "-q", "--allow-empty", "-m", "meanwhile, work on the branch")
    run_git("repack", "-ad", "-q")  # that pack (and the multi-pack-index) deleted, all in a new pack
    tx = Transaction(message="seal run r3")
    tx.put("run", "r3", {"status": "completed"})
    vault.commit(tx)
    assert all(Vault.open(vault_repo).snapshot().has("run", f"r{i}") for i in range(4))
