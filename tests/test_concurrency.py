"""Eight real processes write one vault at once: no record is lost, history stays linear."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitvault import BlobStore, Vault
from gitvault.integrity.checks import fsck, gc
from tests.conftest import git

WORKERS = 8
PER_WORKER = 50

WORKER = """
import sys, time
from pathlib import Path
from gitvault import BlobStore, Transaction, Vault

repo, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
vault = Vault.open(repo)
store = BlobStore(vault.paths.objects_dir)
while not go.exists():
    time.sleep(0.002)
start = time.perf_counter()
for i in range(count):
    rid = f"w{worker}r{i:03d}"
    sha = store.put_bytes(f"curve points of {rid}".encode())  # blobs first, outside the lock
    tx = Transaction(message=f"seal run {rid} completed")
    tx.put("run", rid, {"status": "completed", "curves": {"blob": sha}, "worker": worker})
    vault.commit(tx)
print(f"{time.perf_counter() - start:.3f}")
"""


def test_eight_processes_lose_nothing(vault_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(vault_repo), str(w), str(PER_WORKER), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    time.sleep(0.5)  # let every interpreter start and block on the barrier
    started = time.perf_counter()
    go.touch()
    results = [p.communicate(timeout=240) for p in procs]
    wall = time.perf_counter() - started
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err

    vault = Vault.open(vault_repo)
    ids = set(vault.snapshot().ids("run"))
    expected = {f"w{w}r{i:03d}" for w in range(WORKERS) for i in range(PER_WORKER)}
    assert ids == expected
    report = fsck(vault)
    assert report.ok and report.records == WORKERS * PER_WORKER and report.blobs_checked == WORKERS * PER_WORKER
    parents = git(vault_repo, "rev-list", "--parents", "refs/vault/main").stdout.splitlines()
    assert len(parents) == WORKERS * PER_WORKER + 1  # one commit per record, plus init
    assert all(len(line.split()) <= 2 for line in parents)  # linear: no merge commits
    assert git(vault_repo, "fsck", "--full", "--no-dangling").returncode == 0
    reflog = git(vault_repo, "reflog", "show", "--format=%gs", "refs/vault/main").stdout.splitlines()
    assert len(reflog) == WORKERS * PER_WORKER + 1
    with capsys.disabled():
        per_worker = sorted(float(out.strip()) for out, _ in results)
        print(f"\n[concurrency] {WORKERS} processes x {PER_WORKER} records: {len(ids)} present, "
              f"{len(parents)} commits, linear, fsck clean; wall {wall:.2f} s "
              f"({WORKERS * PER_WORKER / wall:.0f} commits/s), worker times {per_worker[0]:.2f}-{per_worker[-1]:.2f} s")


def test_gc_running_beside_writers_loses_nothing(vault_repo: Path, tmp_path: Path) -> None:
    """gc (default grace) keeps every blob a writer stored but has not committed yet."""
    vault = Vault.open(vault_repo)
    store = BlobStore(vault.paths.objects_dir)
    stale = store.put_bytes(b"left behind by a crashed writer long ago")
    os.utime(store.path(stale), (time.time() - 30 * 86400,) * 2)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(vault_repo), str(w), "30", str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(2)]
    go.touch()
    rounds = 0
    while any(p.poll() is None for p in procs) or rounds == 0:
        gc(vault, grace=dt.timedelta(days=14))
        rounds += 1
        time.sleep(0.02)
    for proc in procs:
        assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    assert len(set(vault.snapshot().ids("run"))) == 60
    assert fsck(vault).ok and not store.has(stale) and rounds >= 1
