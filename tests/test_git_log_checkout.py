"""`git vault log` (git log's revision arguments, runs under their commits, best metrics, colour,
JSON) and `git vault checkout` (a worktree holding the run's exact code)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from gitvault.storage.vault import Transaction, Vault, new_id
from tests.conftest import git, vault_run
from tests.git_helpers import head, log_json, make_run, runs_under

ESC = "\x1b["


@pytest.fixture
def history(vault_repo: Path) -> dict[str, str]:
    """Three commits (one touching data.txt only) with runs on them, and one dirty run on HEAD."""
    first = head(vault_repo)
    runs = {"first": make_run(vault_repo, "first", loss=0.5, acc=0.70)}
    (vault_repo / "data.txt").write_text("data\n")
    git(vault_repo, "add", "data.txt")
    git(vault_repo, "commit", "-q", "-m", "add data")
    second = head(vault_repo)
    runs["second"] = make_run(vault_repo, "second", loss=0.2, acc=0.60)
    (vault_repo / "train.py").write_text("print('third')\n")
    git(vault_repo, "commit", "-q", "-am", "third")
    third = head(vault_repo)
    runs["third"] = make_run(vault_repo, "third", loss=0.9, acc=0.95)
    (vault_repo / "train.py").write_text("print('uncommitted')\n")
    runs["dirty"] = make_run(vault_repo, "dirty", loss=1.5)
    return {"repo": str(vault_repo), "c1": first, "c2": second, "c3": third, **runs}


def test_log_lists_commits_like_git_log_with_their_runs(history: dict[str, str]) -> None:
    repo = Path(history["repo"])
    entries = log_json(repo)
    assert [e["sha"] for e in entries] == [history["c3"], history["c2"], history["c1"]]
    assert entries[0]["subject"] == "third" and entries[0]["author"] == "Test Researcher"
    top = {r["id"]: r for r in entries[0]["runs"]}
    assert top[history["third"]]["state"] == "clean"
    assert top[history["dirty"]]["state"] == "dirty"
    assert {r["id"] for r in entries[1]["runs"]} == {history["second"]}

    assert [e["sha"] for e in log_json(repo, "-n", "1")] == [history["c3"]]
    assert [e["sha"] for e in log_json(repo, f"{history['c1']}..{history['c2']}")] == [history["c2"]]
    assert [e["sha"] for e in log_json(repo, "--", "data.txt")] == [history["c2"]]
    assert [e["sha"] for e in log_json(repo, "--all")] == [history["c3"], history["c2"], history["c1"]]


def test_best_value_per_direction_is_marked(history: dict[str, str]) -> None:
    repo = Path(history["repo"])
    runs = {r["id"]: r for e in log_json(repo) for r in e["runs"]}
    assert runs[history["second"]]["best"] == ["loss"]  # lowest loss
    assert runs[history["third"]]["best"] == ["acc"]  # highest acc
    assert runs[history["first"]]["best"] == []
    assert runs[history["third"]]["directions"] == {"acc": "max", "loss": "min"}

    coloured = vault_run(repo, "log", "--oneline", "--color=always", check=True).stdout
    assert f"{ESC}1;32mloss=0.2{ESC}0m" in coloured and f"{ESC}1;32macc=0.95{ESC}0m" in coloured
    plain = vault_run(repo, "log", "--oneline", check=True).stdout
    assert ESC not in plain
    lines = plain.splitlines()
    assert lines[0].startswith(history["c3"][:7]) and lines[0].endswith("third")
    assert any(history["dirty"][:10] in line and "dirty" in line for line in lines)


def test_colour_follows_color_ui_and_no_color(history: dict[str, str]) -> None:
    repo = Path(history["repo"])

    def run(*config: str, **env: str) -> str:
        proc = subprocess.run(["git", *config, "vault", "log", "-n", "1"], cwd=repo, capture_output=True, text=True,
                              env={**os.environ, **env})
        return proc.stdout

    assert ESC in run("-c", "color.ui=always")
    assert ESC not in run("-c", "color.ui=always", "-c", "color.ui=never")
    assert ESC not in run("-c", "color.ui=auto")  # not a terminal
    assert ESC not in run(NO_COLOR="1")
    full = run()
    assert f"commit {history['c3']}" in full and "Author: Test Researcher" in full and "    third" in full


def test_log_outside_a_vault_is_plain_git_log(repo: Path) -> None:
    out = vault_run(repo, "log", "--oneline", check=True).stdout
    assert out.strip().endswith("initial")
    bad = vault_run(repo, "log", "no-such-revision")
    assert bad.returncode == 1 and bad.stderr.startswith("git vault: error: git log failed")


def tree_files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file git would see (tracked or untracked, not ignored): bytes and executable bit."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
    out = {}
    for rel in filter(None, listed):
        path = root / rel
        if path.is_file():
            out[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return out


def test_checkout_reproduces_the_run_files_byte_for_byte(vault_repo: Path, tmp_path: Path) -> None:
    (vault_repo / "weights.bin").write_bytes(bytes(range(256)) * 40)
    (vault_repo / "old.txt").write_text("to be deleted\n")
    (vault_repo / "run.sh").write_text("#!/bin/sh\n")
    git(vault_repo, "add", "-A")
    git(vault_repo, "commit", "-q", "-m", "base")
    (vault_repo / "train.py").write_text("print('changed')\nprint('twice')\n")
    (vault_repo / "weights.bin").write_bytes(bytes(reversed(range(256))) * 33 + b"\0\xff")
    (vault_repo / "old.txt").unlink()
    (vault_repo / "run.sh").chmod(0o755)
    (vault_repo / "pkg" / "deep").mkdir(parents=True)
    (vault_repo / "pkg" / "deep" / "new.py").write_text("NEW = 'ü'\n")
    (vault_repo / "blob.npy").write_bytes(os.urandom(3000))
    (vault_repo / ".gitignore").write_text("*.log\n")
    (vault_repo / "debug.log").write_text("ignored, not code\n")
    expected = tree_files(vault_repo)
    status_before = git(vault_repo, "status", "--porcelain").stdout
    run_id = make_run(vault_repo, "exact")

    target = tmp_path / "exact-code"
    out = vault_run(vault_repo, "checkout", run_id[:12], "--worktree", str(target), check=True).stdout
    assert str(target) in out and "uncommitted changes" in out
    assert tree_files(target) == expected
    assert not (target / "debug.log").exists()
    assert git(vault_repo, "status", "--porcelain").stdout == status_before  # the user's tree is untouched
    assert git(target, "rev-parse", "HEAD").stdout == git(vault_repo, "rev-parse", "HEAD").stdout

    again = vault_run(vault_repo, "checkout", run_id, "--worktree", str(target))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_checkout_default_dir_and_clean_run(vault_repo: Path) -> None:
    run_id = make_run(vault_repo, "clean")
    out = vault_run(vault_repo, "checkout", run_id, check=True).stdout
    target = vault_repo.parent / f"{vault_repo.name}-run-{run_id[:10].lower()}"
    assert str(target) in out
    assert tree_files(target) == tree_files(vault_repo)


def _fake_run(repo: Path, git_facts: dict[str, object] | None) -> str:
    run_id = new_id()
    tx = Transaction(message="a run from elsewhere")
    tx.put("run", run_id, {"experiment_id": "e", "experiment_path": "bench/net/v1", "name": "x", "config": {},
                           "started_at": "2026-01-01T00:00:00.000000Z", "status": "completed", "git": git_facts})
    Vault.open(repo).commit(tx)
    return run_id


def test_checkout_errors_are_clear(vault_repo: Path) -> None:
    no_git = _fake_run(vault_repo, None)
    proc = vault_run(vault_repo, "checkout", no_git)
    assert proc.returncode == 1 and "has no git facts" in proc.stderr
    gone = _fake_run(vault_repo, {"sha": "ab" * 20, "dirty": False, "tree": None, "patch": None, "branch": "main"})
    proc = vault_run(vault_repo, "checkout", gone)
    assert proc.returncode == 1 and "not in this repository" in proc.stderr and "git fetch" in proc.stderr
    assert runs_under(vault_repo, head(vault_repo)) == {}


def test_checkout_of_an_orphaned_run_after_gc(vault_repo: Path, tmp_path: Path) -> None:
    from gitvault.gitlink import hookinstall
    from tests.git_helpers import link, wait_for

    hookinstall.install(vault_repo)
    (vault_repo / "train.py").write_text("print('the code the run ran')\n")
    git(vault_repo, "commit", "-q", "-am", "run me")
    expected = tree_files(vault_repo)
    run_id = make_run(vault_repo, "orphan")
    (vault_repo / "train.py").write_text("print('rewritten later')\n")
    git(vault_repo, "commit", "-q", "-a", "--amend", "-m", "run me, amended")
    amended = head(vault_repo)
    assert wait_for(lambda: link(vault_repo, run_id, amended))
    git(vault_repo, "reflog", "expire", "--expire=now", "--all")
    git(vault_repo, "gc", "-q", "--prune=now")

    target = tmp_path / "orphan-code"
    out = vault_run(vault_repo, "checkout", run_id, "--worktree", str(target), check=True).stdout
    assert "orphaned" in out
    assert tree_files(target) == expected
