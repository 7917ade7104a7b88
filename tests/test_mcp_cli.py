"""Starting the MCP server the ways a host does (`git vault mcp`, `--store`, `python -m`), a
repository without a vault, a clean stdout, and runs that change during a session."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gitvault import Store
from tests.conftest import git, vault_cmd
from tests.test_mcp_client import McpClient

FINISHING_WRITER = """
import sys
from gitvault import Store
exp = Store(sys.argv[1]).experiment({"benchmark": "b"})
with exp.run(name="slow") as run:
    run.curve(0, loss=1.0)
    run.flush()
    print(run.id, flush=True)
    sys.stdin.readline()
"""


def _one_run(root: Path, name: str) -> str:
    with Store(root) as store:
        with store.experiment({"benchmark": "b"}).run(name=name) as run:
            run.log(acc=0.5)
        return run.id


def test_git_vault_mcp_with_store_from_another_directory(vault_repo: Path, tmp_path: Path) -> None:
    rid = _one_run(vault_repo, "first")
    vault_cmd(vault_repo, "runs", check=True)  # the server writes no file: a command builds the caches
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with McpClient(elsewhere, command="git", args=["vault", "mcp", "--store", str(vault_repo / ".extract")]) as c:
        assert [r["id"] for r in c.call("list_runs")["items"]] == [rid]
    with McpClient(elsewhere, command="git", args=["-C", str(vault_repo), "vault", "mcp"]) as c:
        assert c.call("get_run", run_id=rid)["name"] == "first"


def test_without_a_vault_every_tool_says_how_to_fix_it(repo: Path, tmp_path: Path) -> None:
    with McpClient(repo) as c:
        text = c.error("list_runs")
        assert "no vault" in text and "git vault init" in text
        assert "git vault init" in c.error("vault_log")
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    with McpClient(outside) as c:
        assert "not inside a git repository" in c.error("list_experiments")


def test_stdout_carries_only_the_protocol(vault_repo: Path) -> None:
    _one_run(vault_repo, "first")
    vault_cmd(vault_repo, "runs", check=True)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_runs", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "get_run", "arguments": {"run_id": "X"}}},
    ]
    proc = subprocess.Popen([sys.executable, "-m", "gitvault.mcp_server"], cwd=vault_repo, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
    proc.stdin.flush()
    lines: list[str] = []
    while len([line for line in lines if '"id"' in line]) < 3 and len(lines) < 20:
        lines.append(proc.stdout.readline())
    rest, _ = proc.communicate(timeout=60)  # stdin closed: the server exits
    lines += rest.splitlines()
    assert proc.returncode == 0
    messages_out = [json.loads(line) for line in lines if line.strip()]
    assert all(m.get("jsonrpc") == "2.0" for m in messages_out)
    replies = {m["id"]: m for m in messages_out if "id" in m}
    assert sorted(replies) == [1, 2, 3]
    assert replies[1]["result"]["serverInfo"]["name"] == "gitvault"
    assert json.loads(replies[2]["result"]["content"][0]["text"])["total"] == 1
    assert replies[3]["result"]["isError"] is True


def test_runs_sealed_during_a_session_show_up(vault_repo: Path) -> None:
    first = _one_run(vault_repo, "first")
    vault_cmd(vault_repo, "runs", check=True)  # caches as of "first"; the server never updates them
    writer = subprocess.Popen([sys.executable, "-c", FINISHING_WRITER, str(vault_repo)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        live_id = writer.stdout.readline().strip()  # type: ignore[union-attr]
        with McpClient(vault_repo) as c:
            page = c.call("list_runs")
            assert [(r["id"], r["status"]) for r in page["items"]] == [(live_id, "running"), (first, "completed")]
            writer.communicate("done\n", timeout=60)
            second = _one_run(vault_repo, "second")
            page = c.call("list_runs")  # the two sealed since are read around the caches, from the vault
            statuses = {r["id"]: r["status"] for r in page["items"]}
            assert statuses == {first: "completed", live_id: "completed", second: "completed"}
            assert "2 run(s) sealed since are read from the vault" in page["note"]
            assert c.call("get_run", run_id=second)["name"] == "second"
            assert c.call("get_curves", run_id=live_id)["curves"] == {"loss": [[0, 1.0]]}
            (vault_repo / "train.py").write_text("print('v2')\n")
            git(vault_repo, "commit", "-q", "-am", "v2")
            assert c.call("vault_log")["items"][0]["summary"] == "v2"
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
