"""Issue 16, point 10: the MCP server keeps the seed's documented contract and writes no file.

Through a real MCP client session (`tests/test_mcp_client.py`): `get_lineage` gives the start
node in ``root`` only; `search`'s ``started_after``/``started_before`` are inclusive; `vault_log`
lists a few runs per commit and counts the rest (600 runs on three commits: 177,672 bytes before,
about 5 KB now; the test seals 60 a commit, 53 KB uncapped); a bad ``scope_type`` is answered in gitvault's words; and with caches that are
behind the vault the session changes no file under ``.git`` or ``.extract`` (size and mtime of
every file), answering from the caches as they are, around them for the runs sealed since (read
from the vault), with a ``note``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault.query import Query
from tests.conftest import git, make_repo, vault_cmd
from tests.test_mcp_client import McpClient

PER_COMMIT = 60
"""Runs sealed on each of three commits: a log of them uncapped is over three times the cap's 16 KB."""

MAKE = """
import subprocess, sys
from gitvault import Store
store = Store(sys.argv[1])
exp = store.experiment({"benchmark": "b", "model": "m", "variant": "v"})
n, commits = int(sys.argv[2]), int(sys.argv[3])
first = None
for c in range(commits):
    for i in range(n):
        with exp.run(config={"lr": i * 0.001, "seed": i}, name=f"c{c}-run-{i}") as run:
            run.log(val_loss=1.0 / (i + 1), val_acc=i / n, train_loss=0.5)
            run.curve(0, loss=1.0)
            if first is None:
                first = run.id
            elif i == 1 and c == 0:
                run.derived_from(run=first)
    with open(f"{sys.argv[1]}/train.py", "a") as f:
        f.write(f"# {c}\\n")
    subprocess.run(["git", "commit", "-qam", f"code {c}"], cwd=sys.argv[1], check=True)
"""

ONE_MORE = """
import sys
from gitvault import Store
with Store(sys.argv[1]).experiment({"benchmark": "b", "model": "m", "variant": "v"}).run(config={}, name="late") as run:
    run.log(val_loss=0.01)
    run.curve(0, loss=2.0)
print(run.id)
"""


def files(*roots: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime in ns) of every file under ``roots`` (links not followed)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                out[str(path.relative_to(root.parent))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("mcp16") / "project", "init")
    subprocess.run([sys.executable, "-c", MAKE, str(root), str(PER_COMMIT), "3"], check=True, timeout=600)
    with Query(root) as q:  # the caches, as an earlier `git vault` read built them
        q.list_runs(limit=1)
    return root


def test_vault_log_caps_the_runs_of_each_commit_and_counts_the_rest(sweep: Path) -> None:
    with McpClient(sweep) as client:
        result = client.raw("vault_log")
        text = result.content[0].text
        log = json.loads(text)
        assert len(text.encode()) < 16_000, len(text.encode())  # 53 KB before the cap (177,672 at 200 a commit)
        with_runs = [c for c in log["items"] if c["n_runs"]]
        assert sum(c["n_runs"] for c in with_runs) == 3 * PER_COMMIT
        for commit in with_runs:
            assert len(commit["runs"]) == 5 and commit["more_runs"] == commit["n_runs"] - 5
        wide = client.call("vault_log", limit=2, runs_per_commit=300)
        assert [len(c["runs"]) for c in wide["items"] if c["n_runs"]] == [PER_COMMIT] * len([c for c in wide["items"] if c["n_runs"]])
        assert all("more_runs" not in c for c in wide["items"])
        none = client.call("vault_log", limit=3, runs_per_commit=0)
        assert all(c["runs"] == [] for c in none["items"])
        error = client.error("vault_log", runs_per_commit=-1)
        assert error == ("Error executing tool vault_log: runs_per_commit must be an integer from 0 to 500 "
                         "(default 5; list_runs or search list every run), got -1")


def test_a_bad_scope_type_is_answered_in_gitvaults_words(sweep: Path) -> None:
    with McpClient(sweep) as client:
        error = client.error("list_todos", scope_type="project")
        assert error == ("Error executing tool list_todos: scope_type must be one of global, experiment, run, all, "
                         "got 'project'")
        assert "\n" not in error and "pydantic" not in error.lower() and "literal" not in error.lower()
        schema = client.list_tools()["list_todos"].input_schema["properties"]["scope_type"]
        assert schema["enum"] == ["global", "experiment", "run", "all"] and schema["default"] == "global"


def test_lineage_root_and_inclusive_start_times(sweep: Path) -> None:
    with McpClient(sweep) as client:
        runs = client.call("list_runs", limit=500, sort="started")["items"]
        first, second = runs[0], runs[1]
        up = client.call("get_lineage", node_type="run", node_id=second["id"], direction="ancestors")
        assert up["root"]["id"] == second["id"]
        assert [n["id"] for n in up["nodes"]] == [first["id"]]
        pivot = runs[10]["started_at"]
        before = {r["id"] for r in client.call("search", filters={"started_before": pivot}, limit=500)["items"]}
        after = {r["id"] for r in client.call("search", filters={"started_after": pivot}, sort="started",
                                              limit=500)["items"]}
        assert runs[10]["id"] in before and runs[10]["id"] in after  # both bounds inclusive


def test_stale_caches_are_read_as_they_are_and_the_session_writes_no_file(sweep: Path) -> None:
    late = subprocess.run([sys.executable, "-c", ONE_MORE, str(sweep)], check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()
    before = files(sweep / ".git", sweep / ".extract")
    with McpClient(sweep) as client:
        listing = client.call("list_runs", limit=5)
        assert "note" in listing and "git vault runs" in listing["note"] and "behind the vault" in listing["note"]
        assert "1 run(s) sealed since are read from the vault" in listing["note"]
        # the caches do not hold it yet: it is read around them, from the vault
        assert listing["items"][0]["id"] == late and listing["items"][0]["status"] == "completed"
        assert listing["total"] == 3 * PER_COMMIT + 1
        assert client.call("get_run", run_id=late)["metrics_final"] == {"val_loss": 0.01}
        assert [r["id"] for r in client.call("search", query="late")["items"]] == [late]
        assert client.call("get_curves", run_id=late)["curves"] == {"loss": [[0, 2.0]]}
        old = listing["items"][1]["id"]
        for name, args in [("get_run", {"run_id": old}), ("get_curves", {"run_id": old}),
                           ("search", {"query": "c1"}), ("vault_log", {}), ("list_experiments", {}),
                           ("list_todos", {"scope_type": "all"}), ("list_models", {}),
                           ("compare_runs", {"run_ids": [old, late], "include_curves": True}),
                           ("get_lineage", {"node_type": "run", "node_id": old})]:
            assert "note" in client.call(name, **args), name
        after = files(sweep / ".git", sweep / ".extract")
        changed = [p for p in before if before[p] != after.get(p)]
        created = set(after) - set(before)
        # SQLite's own bookkeeping: a read-only reader of a WAL database whose writer has closed
        # may leave the empty -wal and its -shm index; nothing else may appear or change
        assert changed == [] and created <= {".extract/extract.db-wal", ".extract/extract.db-shm"}, (changed, created)
        if ".extract/extract.db-wal" in created:
            assert after[".extract/extract.db-wal"][0] == 0
        # once any git vault command brought the caches up to date, the same session reads them
        vault_cmd(sweep, "runs", "--limit", "1", check=True)
        fresh = client.call("list_runs", limit=5)
        assert "note" not in fresh and fresh["items"][0]["id"] == late and fresh["total"] == 3 * PER_COMMIT + 1


def test_no_caches_the_call_names_the_command_that_builds_them(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "project", "init")
    subprocess.run([sys.executable, "-c", ONE_MORE, str(root)], check=True, capture_output=True, timeout=120)
    for leftover in (root / ".extract").glob("*"):
        if leftover.name in ("extract.db", "vault.duckdb", "cache.state"):
            leftover.unlink()
    before = files(root / ".git", root / ".extract")
    with McpClient(root) as client:
        error = client.error("list_runs")
        assert error.startswith("Error executing tool list_runs: the caches of ")
        assert "`git vault reindex`" in error and "\n" not in error
    assert files(root / ".git", root / ".extract") == before
    git(root, "status")  # the repository is as it was
