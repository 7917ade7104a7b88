"""Writers on file systems whose locks fail or never exclude (issue 23, point 1): no run is lost,
no writer is told of an error for a run that was stored, git and gitvault fsck are clean.

Where a lock never excludes, a live run is judged by its writer's facts (``writer.msgpack``:
host, pid, boot id, its time the heartbeat): on this host the process must be gone; from another
host the heartbeat must be older than the lease. Each writer is a separate process whose ``fcntl.flock`` is replaced before gitvault loads:
``ENOSYS`` (Lustre mounted without ``-o flock``), ``ENOLCK`` (NFS without lockd), or a lock that
always succeeds (``-o localflock`` seen from two nodes: nothing is excluded).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import git, make_repo, vault_run

PATCH = {
    "enosys": "def flock(fd, op):\n    raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))\n",
    "enolck": "def flock(fd, op):\n    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))\n",
    "noexclude": "def flock(fd, op):\n    return None\n",
}


def _patched(mode: str) -> str:
    return "import errno, fcntl, os\n" + PATCH[mode] + "fcntl.flock = flock\n"


def _writers(repo: Path, mode: str, writers: int, runs: int) -> list[subprocess.CompletedProcess[str]]:
    code = _patched(mode) + textwrap.dedent(f"""
        import json, sys
        import gitvault
        store = gitvault.Store({str(repo)!r})
        exp = store.experiment({{"benchmark": "cluster", "model": "w" + sys.argv[1]}})
        ids = []
        for k in range({runs}):
            with exp.run(name=f"w{{sys.argv[1]}}-{{k}}", config={{"k": k}}) as run:
                for step in range(20):
                    run.curve(step, loss=1.0 / (step + 1))
                run.log(acc=k / {runs})
            ids.append(run.id)
        print(json.dumps(ids))
        """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(w)], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(writers)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize(("mode", "writers", "runs"), [("enosys", 8, 25), ("noexclude", 8, 25), ("enolck", 4, 5)])
def test_no_run_is_lost_without_working_locks(tmp_path: Path, mode: str, writers: int, runs: int) -> None:
    repo = make_repo(tmp_path / "shared", "init")
    done = _writers(repo, mode, writers, runs)
    assert [p.returncode for p in done] == [0] * writers, "\n".join(p.stderr for p in done)
    stored = [rid for p in done for rid in json.loads(p.stdout)]
    assert len(set(stored)) == writers * runs
    if mode != "noexclude":  # one warning per process, naming the file system
        assert all(p.stderr.count("has no file locks") == 1 for p in done), done[0].stderr
    check = _patched(mode) + textwrap.dedent(f"""
        import json
        from gitvault.storage.vault import Vault
        snap = Vault.open({str(repo)!r}).snapshot()
        print(json.dumps(sorted({{rid: snap.get("run", rid)["status"] for rid in {stored!r}}}.values())))
        """)
    proc = subprocess.run([sys.executable, "-c", check], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["completed"] * (writers * runs)
    assert git(repo, "fsck", "--no-dangling").returncode == 0
    assert vault_run(repo, "fsck").returncode == 0
    cli = _patched(mode) + "import sys\nfrom gitvault.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"
    listed = subprocess.run([sys.executable, "-c", cli, "runs", "--all", "--json"], cwd=repo, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert {item["id"] for item in json.loads(listed.stdout)["items"]} == set(stored)


def test_a_run_on_another_node_is_left_alone_until_its_lease_passes_and_keeps_every_point(tmp_path: Path) -> None:
    """A writer on "node-a" (its host name, and a lock that does not exclude) while this host runs
    `git vault recover`: its fresh heartbeat keeps the run live; once the heartbeat is older than
    the lease the run is sealed as crashed with what it flushed; the writer then finishes, and its
    every point is kept in a run that continues the first, with a warning."""
    import os
    import time

    repo = make_repo(tmp_path / "shared", "init")
    writer = subprocess.Popen([sys.executable, "-c", _patched("noexclude") + textwrap.dedent(f"""
        import socket, sys
        socket.gethostname = lambda: "node-a"
        import gitvault
        run = gitvault.Store({str(repo)!r}).experiment({{"benchmark": "far"}}).run(name="far")
        for step in range(5):
            run.curve(step, loss=1.0)
        run.flush()
        print(run.id, flush=True)
        sys.stdin.readline()
        for step in range(5, 10):
            run.curve(step, loss=0.5)
        run.finish()
        """)], cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdin is not None and writer.stdout is not None
    first = writer.stdout.readline().strip()
    assert first, writer.stderr.read() if writer.stderr else ""
    spool_dir = repo / ".git" / "vault" / "live" / first
    assert "nothing to recover" in vault_run(repo, "recover").stdout  # fresh heartbeat, other host
    assert (spool_dir / "writer.msgpack").exists()
    stale = time.time() - 700  # the default lease is 600 s
    os.utime(spool_dir / "writer.msgpack", (stale, stale))
    assert f"sealed {first} crashed" in vault_run(repo, "recover").stdout
    out, err = writer.communicate("\n", timeout=120)
    assert writer.returncode == 0, err
    assert "ContinuedRunWarning" in err and f"run {first} was sealed as crashed by another process" in err
    listed = json.loads(vault_run(repo, "runs", "--json").stdout)["items"]
    by_status = {item["status"]: item["id"] for item in listed}
    assert set(by_status) == {"completed", "crashed"} and by_status["crashed"] == first
    continued = by_status["completed"]
    shown = json.loads(vault_run(repo, "show", continued, "--json").stdout)
    assert shown["curves"]["points"] == 10 and "continues run " + first in shown["notes"]
    lineage = vault_run(repo, "lineage", continued, "--direction", "ancestors", "--json")
    assert first in lineage.stdout
