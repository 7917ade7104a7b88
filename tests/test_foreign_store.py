"""Never destroy what gitvault did not write: an Extract store in ``.extract/``, foreign cache files,
and config keys someone else set.

The Extract store is built by the real ``extract-tracker`` (a test extra); its own SDK reads it
back at the end. (Its CLI needs ``mcp<2`` and cannot run beside gitvault's ``mcp`` 2.)
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gitvault import Store
from tests.conftest import git, make_repo, vault_cmd, vault_run

pytest.importorskip("extract", reason="extract-tracker is not installed (pip install -e '.[test]')")

EXTRACT_RUNS = """
import sys
from extract import Store
store = Store(sys.argv[1])
for i in range(3):
    with store.experiment({"bench": "b1", "model": f"m{i % 2}"}).run(config={"lr": 0.1 * i}) as run:
        run.curve(step=0, loss=1.0 / (i + 1))
        run.log(acc=0.5 + i / 10)
store.close()
"""

EXTRACT_COUNT = """
import sys
from extract import Store
store = Store(sys.argv[1])
print(sum(len(e.list_runs()) for e in store.list_experiments()))
store.close()
"""


def _python(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def extract_repo(tmp_path: Path) -> Path:
    """A repository holding an Extract store: ``extract init --hierarchy "bench > model"``, 3 runs."""
    repo = make_repo(tmp_path / "project")
    proc = subprocess.run([str(Path(sys.executable).parent / "extract"), "init", "--hierarchy", "bench > model",
                           "--no-gitignore"], cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    _python(EXTRACT_RUNS, str(repo / ".extract"))
    return repo


COMMANDS = [["runs"], ["show", "01ABC"], ["experiments"], ["reindex"], ["sql", "SELECT 1"], ["demo"],
            ["fsck"], ["gc"], ["recover"], ["mcp"], ["models"], ["todo", "list"], ["log", "-n", "1"],
            ["push"], ["pull"], ["status"]]


def test_every_command_leaves_an_extract_store_byte_identical(extract_repo: Path) -> None:
    store = extract_repo / ".extract"
    before = _digest(store)
    assert "extract.db" in before and "config.toml" in before
    proc = vault_cmd(extract_repo, "init")  # the real command, once
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("git vault: error:")
    assert "Extract store" in proc.stderr and "3 runs, 3 experiments" in proc.stderr, proc.stderr
    assert "git vault init --adopt-extract" in proc.stderr and "vault.cacheDir" in proc.stderr
    assert git(extract_repo, "for-each-ref", "refs/vault").stdout == ""  # nothing written, not even the ref
    for args in COMMANDS:
        proc = vault_run(extract_repo, *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "gitvault did not write" in proc.stderr, (args, proc.stderr)
    # the SDK can still log runs (their data lives in the git dir), and never writes .extract/
    with Store(extract_repo).experiment({"benchmark": "b", "model": "m"}).run(config={}) as run:
        run.curve(0, loss=1.0)
    assert _digest(store) == before
    assert _python(EXTRACT_COUNT, str(store)) == "3"


def test_adopting_moves_the_store_aside_whole_and_gitvault_works(extract_repo: Path) -> None:
    before = _digest(extract_repo / ".extract")
    inode = (extract_repo / ".extract" / "extract.db").stat().st_ino
    proc = vault_run(extract_repo, "init", "--adopt-extract", "--no-hooks", check=True)
    [moved] = list(extract_repo.glob(".extract-from-extract-*"))
    assert str(moved) in proc.stdout and "Extract itself still reads it there" in proc.stdout
    assert "import-from" not in proc.stdout  # no such command: none is quoted
    assert _digest(moved) == before and (moved / "extract.db").stat().st_ino == inode  # one rename
    assert _python(EXTRACT_COUNT, str(moved)) == "3"
    assert git(extract_repo, "status", "--porcelain", "--ignored=no").stdout == ""  # kept out of git
    vault_run(extract_repo, "demo", check=True)
    assert "imagenet" in vault_run(extract_repo, "runs", check=True).stdout
    assert _digest(moved) == before
    proc = vault_run(extract_repo, "init", "--adopt-extract")
    assert proc.returncode == 1 and "no store of another program" in proc.stderr


def test_a_cache_dir_elsewhere_works_beside_the_store(extract_repo: Path, tmp_path: Path) -> None:
    before = _digest(extract_repo / ".extract")
    git(extract_repo, "config", "vault.cacheDir", str(tmp_path / "gitvault-caches"))
    vault_run(extract_repo, "init", "--no-hooks", check=True)
    vault_run(extract_repo, "demo", check=True)
    assert "imagenet" in vault_run(extract_repo, "runs", check=True).stdout
    assert (tmp_path / "gitvault-caches" / "extract.db").is_file()
    assert _digest(extract_repo / ".extract") == before


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("name", ["extract.db", "vault.duckdb"])
def test_a_foreign_cache_file_is_never_touched(name: str, vault_repo: Path) -> None:
    vault_run(vault_repo, "demo", check=True)
    target = vault_repo / ".extract" / name
    for leftover in vault_repo.joinpath(".extract").glob(name + "*"):
        leftover.unlink()
    if name == "extract.db":
        _foreign_sqlite(target)
    else:
        import duckdb

        con = duckdb.connect(str(target))
        con.execute("CREATE TABLE mine AS SELECT 42 AS answer")
        con.close()
    (vault_repo / ".extract" / "cache.state").unlink(missing_ok=True)
    before = target.read_bytes()
    for args in (["runs"], ["reindex"], ["sql", "SELECT 1"], ["experiments"]):
        proc = vault_run(vault_repo, *args)
        assert proc.returncode == 1 and "is not a gitvault cache" in proc.stderr and name in proc.stderr, (args, proc.stderr)
        assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.glob(name + "*")) == [name]


def test_an_unreadable_cache_file_is_set_aside_not_deleted(vault_repo: Path) -> None:
    vault_run(vault_repo, "demo", check=True)
    db = vault_repo / ".extract" / "extract.db"
    for leftover in vault_repo.joinpath(".extract").glob("extract.db*"):
        leftover.unlink()
    db.write_bytes(b"this is not a database, and it is not ours to delete")
    assert "imagenet" in vault_run(vault_repo, "runs", check=True).stdout
    [aside] = list(db.parent.glob("extract.db.unreadable-*"))
    assert aside.read_bytes().startswith(b"this is not a database")


def test_config_keys_someone_else_set_are_never_changed(vault_repo: Path) -> None:
    config = vault_repo / ".extract" / "config.toml"
    text = config.read_text()
    assert 'hierarchy = "benchmark > model > variant"' in text
    config.write_text(text.replace('hierarchy = "benchmark > model > variant"', 'hierarchy = "bench > model"')
                      + "\n[mine]\nkeep = true\n")
    vault_run(vault_repo, "init", "--force", "--hierarchy", "a > b", check=True)
    vault_run(vault_repo, "reindex", check=True)
    after = config.read_text()
    assert 'hierarchy = "bench > model"' in after and "[mine]\nkeep = true" in after
    assert "minimize" in after  # the keys gitvault wrote itself still follow vault.toml
