"""Caches on a network or cluster file system (issue 23, point 3): kept on node-local storage, every
read command works there, the seed's `.extract/extract.db` path still leads to them, and
`git config vault.cacheDir` still decides when set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitvault import Store
from gitvault.storage import locks
from tests.conftest import git, make_repo, vault_run


@pytest.fixture
def on_lustre(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose file system /proc/mounts would name ``lustre``; the rest of the machine
    (where ${XDG_CACHE_HOME} is) stays local."""
    shared = tmp_path / "lustre"
    real = locks.file_system_of

    def reported(path: Path) -> tuple[str, str]:
        where = os.path.realpath(path)
        if where == str(shared) or where.startswith(str(shared) + os.sep):
            return str(shared), "lustre"
        return real(path)

    monkeypatch.setattr(locks, "file_system_of", reported)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "node-local"))
    repo = make_repo(shared / "project", "init")
    store = Store(repo)
    for name, acc in (("a", 0.5), ("b", 0.7)):
        with store.experiment({"benchmark": "b", "model": "m"}).run(name=name) as run:
            run.curve(0, loss=1.0)
            run.log(acc=acc)
    store.todo("look at b")
    return repo


def test_caches_live_on_node_local_storage_and_every_read_command_works(on_lustre: Path, tmp_path: Path) -> None:
    repo = on_lustre
    for command in (["runs"], ["show", "a"], ["compare", "a", "b"], ["experiments"], ["todo", "list"],
                    ["log", "-n", "2"], ["sql", "SELECT count(*) AS n FROM runs"], ["models"], ["reindex"]):
        done = vault_run(repo, *command)
        assert done.returncode == 0, (command, done.stderr)
    local = list((tmp_path / "node-local" / "gitvault").iterdir())
    assert len(local) == 1 and {"extract.db", "vault.duckdb"} <= {p.name for p in local[0].iterdir()}
    seed_path = repo / ".extract" / "extract.db"
    assert seed_path.is_symlink() and seed_path.resolve() == (local[0] / "extract.db").resolve()
    assert not (repo / ".extract" / "vault.duckdb").exists()
    assert json.loads(vault_run(repo, "runs", "--json").stdout)["total"] == 2


def test_vault_cache_dir_still_decides_on_a_network_file_system(on_lustre: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    git(on_lustre, "config", "vault.cacheDir", str(chosen))
    assert vault_run(on_lustre, "runs").returncode == 0
    assert (chosen / "extract.db").is_file() and not (tmp_path / "node-local" / "gitvault").exists()
