"""Helpers shared by the tests/test_git_*.py files: runs made with the real SDK, waiting for the
background hooks, reading links and notes the way a user would."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from gitvault import Store
from gitvault.storage.records import link_id
from gitvault.storage.vault import Vault
from tests.conftest import git, vault_cmd

SPEC = {"benchmark": "bench", "model": "net", "variant": "v1"}


def make_run(repo: Path, name: str, **metrics: float) -> str:
    """A sealed run made with the SDK in ``repo`` (its git facts are captured at start)."""
    with Store(repo) as store:
        with store.experiment(SPEC).run(config={"name": name}, name=name) as run:
            if metrics:
                run.log(**metrics)
        return run.id


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def link(repo: Path, run_id: str, commit: str) -> dict[str, Any] | None:
    snap = Vault.open(repo).snapshot()
    lid = link_id(run_id, commit)
    return snap.get("link", lid) if snap.has("link", lid) else None


def wait_for(what: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until ``what()`` is truthy (the hooks run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def wait_hooks_idle(repo: Path, timeout: float = 60.0) -> None:
    """Wait until no background hook holds the linking lock."""
    import fcntl
    import os

    lock = repo / ".extract" / "linking.lock"
    deadline = time.monotonic() + timeout
    time.sleep(0.3)
    while time.monotonic() < deadline:
        if not lock.exists():
            return
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.1)
        finally:
            os.close(fd)


def note(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--notes=vault", "--format=%N", commit).stdout


def log_json(repo: Path, *args: str) -> list[dict[str, Any]]:
    return json.loads(vault_cmd(repo, "log", "--json", *args, check=True).stdout)


def runs_under(repo: Path, commit: str, *args: str) -> dict[str, dict[str, Any]]:
    for entry in log_json(repo, *args):
        if entry["sha"] == commit:
            return {r["id"]: r for r in entry["runs"]}
    raise AssertionError(f"commit {commit} not listed by git vault log")
