"""`Query.history`: commits as `git log` lists them, each with its runs and their state (clean,
dirty, linked, orphaned); `git vault log` and MCP `vault_log` are thin callers of it and show the
same runs under the same commits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitvault import QueryError, VaultError

from gitvault.gitlink import hookinstall
from gitvault.query import Query
from gitvault.query.history import log_commits
from tests.conftest import git, make_repo, vault_cmd, vault_run
from tests.git_helpers import head, link, make_run, wait_for, wait_hooks_idle
from tests.test_mcp_client import McpClient


def _states(commits: list[dict]) -> dict[str, dict[str, str]]:
    return {c["sha"]: {r["id"]: r["state"] for r in c["runs"]} for c in commits}


def test_git_vault_log_and_mcp_vault_log_give_the_same_runs_per_commit(vault_repo: Path) -> None:
    hookinstall.install(vault_repo)
    c1 = head(vault_repo)
    clean1 = make_run(vault_repo, "clean1", loss=0.5)
    (vault_repo / "train.py").write_text("print('v2')\n")
    dirty_then_committed = make_run(vault_repo, "dirty-then-committed", loss=0.4)
    git(vault_repo, "commit", "-q", "-am", "v2")
    c2 = head(vault_repo)
    assert wait_for(lambda: link(vault_repo, dirty_then_committed, c2))
    clean2 = make_run(vault_repo, "clean2", loss=0.3)
    git(vault_repo, "commit", "-q", "--allow-empty", "-m", "v3")
    to_orphan = make_run(vault_repo, "to-orphan", acc=0.9)
    (vault_repo / "train.py").write_text("print('v3 amended')\n")
    git(vault_repo, "commit", "-q", "-a", "--amend", "-m", "v3 amended")
    c3 = head(vault_repo)
    assert wait_for(lambda: link(vault_repo, to_orphan, c3))
    (vault_repo / "train.py").write_text("print('uncommitted')\n")
    dirty_now = make_run(vault_repo, "dirty-now", loss=0.1)
    wait_hooks_idle(vault_repo)

    cli = json.loads(vault_run(vault_repo, "log", "--json", check=True).stdout)
    expected = {
        c3: {to_orphan: "orphaned", dirty_now: "dirty"},
        c2: {dirty_then_committed: "linked", clean2: "clean"},
        c1: {clean1: "clean"},
    }
    assert _states(cli) == expected  # the dirty run whose code c2 holds is not also shown under c1
    with Query(vault_repo) as q:
        page = q.history()
    assert page["branch"] == "main" and page["truncated"] is False
    assert _states(page["items"]) == expected
    orphan = next(r for r in page["items"][0]["runs"] if r["id"] == to_orphan)
    assert orphan["rewritten_from"] and orphan["patch"]
    with McpClient(vault_repo) as client:
        log = client.call("vault_log")
    assert _states(log["items"]) == expected
    assert [c["sha"] for c in log["items"]] == [c["sha"] for c in cli] == [c3, c2, c1]
    mcp_runs = {r["id"]: r for c in log["items"] for r in c["runs"]}
    cli_runs = {r["id"]: r for c in cli for r in c["runs"]}
    for key in ("label", "status", "started_at", "dirty", "linked_via", "metrics"):
        assert {i: r[key] for i, r in mcp_runs.items()} == {i: r[key] for i, r in cli_runs.items()}, key
    assert log["items"][0]["short_sha"] == c3[:10] and log["items"][0]["parents"] == [c2]


def test_history_follows_git_log_arguments_and_limits(vault_repo: Path) -> None:
    first = head(vault_repo)
    run_id = make_run(vault_repo, "one", loss=1.0)
    (vault_repo / "data.txt").write_text("data\n")
    git(vault_repo, "add", "data.txt")
    git(vault_repo, "commit", "-q", "-m", "add data")
    second = head(vault_repo)
    with Query(vault_repo) as q:
        one = q.history(limit=1)
        assert [c["sha"] for c in one["items"]] == [second] and one["truncated"] is True
        assert [c["sha"] for c in q.history(["--all"])["items"]] == [second, first]  # no vault commits
        assert [c["sha"] for c in q.history(["--", "data.txt"])["items"]] == [second]
        assert [c["sha"] for c in q.history(["-n", "1", first])["items"]] == [first]
        assert [c["sha"] for c in q.history(["-n", "5"], limit=1)["items"]] == [second]
        commit = q.history([first])["items"][0]
        assert [r["id"] for r in commit["runs"]] == [run_id]
        assert commit["summary"] == "initial" and commit["author"] == "Test Researcher"
        assert commit["committed_at"].endswith("Z") and commit["parents"] == []
        assert q.history(limit=10_000)["limit_clamped"] is True
        with pytest.raises(VaultError, match="git log failed: .*no-such-rev"):
            q.history(["no-such-rev"])
        with pytest.raises(QueryError, match="'--output=x' is not a revision"):
            q.history(["--output=x"])
        with pytest.raises(QueryError, match="revisions must be a list"):
            q.history("HEAD")  # type: ignore[arg-type]
        assert q.history()["branch"] == q.history(["-n", "1"])["branch"] == q.history([first])["branch"] == "main"
        git(vault_repo, "branch", "-q", "feature/x")
        git(vault_repo, "checkout", "-q", "feature/x")
        git(vault_repo, "config", "log.decorate", "full")  # ref names spelled out (refs/heads/...)
        assert q.history()["branch"] == "feature/x"
        git(vault_repo, "checkout", "-q", "--detach")
        detached = q.history()
        assert detached["branch"] is None and [c["sha"] for c in detached["items"]] == [second, first]
        assert q.history(["-n", "1"])["branch"] is None
    assert not (vault_repo / "x").exists()


def test_history_of_an_unborn_branch_and_outside_a_vault(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    vault_cmd(root, "init", check=True)
    with Query(root) as q:
        assert q.history() == {"branch": "trunk", "items": [], "truncated": False}
    plain = make_repo(tmp_path / "plain")
    commits, more = log_commits(plain, [])
    assert [c["summary"] for c in commits] == ["initial"] and more is False
    assert vault_run(plain, "log", "--oneline", check=True).stdout.strip().endswith("initial")
