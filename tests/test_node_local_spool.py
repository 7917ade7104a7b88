"""A node-local spool (``GITVAULT_SPOOL_DIR`` or ``git config vault.spoolDir``): a live run's
flushed points on node-local storage for a shared file system too slow for a flush a second
(docs/cluster.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gitvault import Store
from gitvault.query import Query
from tests.conftest import git, make_repo, vault_run

WRITER = '''
import sys
from gitvault import Store
run = Store().experiment({"benchmark": "b", "model": "m"}).run(name="local")
for step in range(50):
    run.curve(step, loss=1.0 / (step + 1))
run.flush()
print(run.id, flush=True)
sys.stdin.readline()
'''


def test_a_run_spools_on_node_local_storage_seals_into_the_vault_and_recovers_there(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shared", "init")
    node = tmp_path / "node-local"
    env = {**os.environ, "GITVAULT_SPOOL_DIR": str(node)}
    (repo / "w.py").write_text(WRITER)
    proc = subprocess.Popen([sys.executable, "w.py"], cwd=repo, env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    rid = proc.stdout.readline().strip()
    try:
        spools = [p for p in node.glob("gitvault-spool-*/*") if p.name == rid]
        assert spools and not (repo / ".git" / "vault" / "live" / rid).exists()
        with Query(repo) as q:  # another node (no GITVAULT_SPOOL_DIR): not seen until sealed
            assert q.run_index() == []
        os.environ["GITVAULT_SPOOL_DIR"] = str(node)
        try:
            with Query(repo) as q:  # the same node: seen live
                assert [(r["id"], r["status"]) for r in q.run_index()] == [(rid, "running")]
        finally:
            del os.environ["GITVAULT_SPOOL_DIR"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert vault_run(repo, "runs").stdout.count(rid[:8]) == 0  # still unsealed, on the node only
    git(repo, "config", "vault.spoolDir", str(node))  # the same folder named in git's config
    result = vault_run(repo, "recover")
    assert result.returncode == 0, result.stderr
    view = Store(repo).get_run(rid)
    assert view.status == "crashed" and len(view.curve("loss")) == 50  # every flushed point kept
    assert not list(node.glob(f"gitvault-spool-*/{rid}"))
