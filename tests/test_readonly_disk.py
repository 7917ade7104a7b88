"""Reads on a read-only repository and on a full disk; writes there fail with one clear line.

We run as root, and root ignores permission bits: the read-only cases run `git vault` with the
DAC override capabilities dropped (``capsh``), or as ``nobody`` (``setpriv``) when that can reach
the interpreter. The full disk is a 20 MB tmpfs when ``mount`` works here, and ENOSPC injected at
the cache write boundary (in-process) always.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault.cache import sqlite_cache
from tests.conftest import git, make_repo, vault_cmd, vault_run

READ_COMMANDS = ("runs", "experiments", "models", "show {run}", "sql 'SELECT count(*) AS n FROM runs'",
                 "compare {run} {other}")


def _probe(prefix: list[str], target: Path) -> bool:
    """True when ``prefix`` runs this interpreter and cannot write the read-only ``target``."""
    script = f"open({str(target)!r}, 'a')"
    try:
        proc = subprocess.run(_shell(prefix, shlex.join([sys.executable, "-c", script])),
                              capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return proc.returncode != 0 and "PermissionError" in proc.stderr


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A command prefix under which permission bits hold; skips (with the reason) when none works."""
    target = tmp_path_factory.mktemp("probe") / "read-only"
    target.write_text("")
    target.chmod(0o444)
    target.parent.chmod(0o755)
    candidates = []
    if os.geteuid() != 0:
        candidates.append([])
    if shutil.which("capsh"):
        candidates.append(["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner", "--"])
    if shutil.which("setpriv"):
        candidates.append(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    for prefix in candidates:
        if _probe(prefix, target):
            return prefix
    pytest.skip("cannot drop root's permission override here: neither capsh --drop=cap_dac_override nor "
                "setpriv --reuid=nobody (which must reach the interpreter) works")


def _shell(prefix: list[str], command: str) -> list[str]:
    """argv running the shell ``command`` under ``prefix`` (capsh hands what follows ``--`` to bash)."""
    return [*prefix, "-c", command] if prefix[:1] == ["capsh"] else [*prefix, "sh", "-c", command]


def _vault_as(prefix: list[str], cwd: Path, args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_shell(prefix, f"git vault {args}"), cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120)


def _run_ids(repo: Path) -> list[str]:
    out = vault_cmd(repo, "runs", "--limit", "500", check=True).stdout.splitlines()[1:]
    return [line.split()[0] for line in out if line.strip()]


def _tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    state = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        state[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return state


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        mode = (mode | stat.S_IWUSR) if writable else (mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        path.chmod(mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | (0o111 if path.is_dir() else 0))


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo vault, made once for the module (`git vault demo` takes seconds); each test
    gets a copy of it."""
    return make_repo(tmp_path_factory.mktemp("readonly") / "project", "demo")


@pytest.fixture
def demo(tmp_path: Path, demo_template: Path) -> Iterator[Path]:
    repo = make_copy(demo_template, tmp_path / "project")
    _run_ids(repo)  # caches current
    tmp_path.chmod(0o755)
    yield repo
    _set_writable(repo, True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o777 | stat.S_ISVTX)
    return {**os.environ, "TMPDIR": str(tmp), "HOME": str(tmp)}


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("git vault: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], proc.stderr
    assert "cannot rollback" not in proc.stderr


def _check_reads(prefix: list[str], repo: Path, env: dict[str, str], ids: list[str]) -> list[str]:
    """Every read command answers; returns their stderr lines."""
    notes = []
    for template in READ_COMMANDS:
        proc = _vault_as(prefix, repo, template.format(run=ids[0], other=ids[1]), env)
        assert proc.returncode == 0, f"{template}: {proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr and "error" not in proc.stderr, proc.stderr
        assert proc.stdout.strip()
        if template == "runs":
            assert ids[0] in proc.stdout
        notes.extend(proc.stderr.splitlines())
    return notes


@pytest.mark.parametrize("side_files", ["kept", "removed"])
def test_reads_on_read_only_repo_with_current_caches(demo: Path, env: dict[str, str], unprivileged: list[str],
                                                     side_files: str) -> None:
    """Current caches in a read-only repository: every read command answers and writes nothing
    (also when the WAL's -shm file is gone and cannot be created: the database opens immutable)."""
    ids = _run_ids(demo)
    if side_files == "removed":
        for side in ("-wal", "-shm"):
            Path(f"{demo / '.extract' / 'extract.db'}{side}").unlink(missing_ok=True)
    before = _tree_state(demo / ".extract")
    _set_writable(demo, False)
    notes = _check_reads(unprivileged, demo, env, ids)
    assert notes == []
    assert _tree_state(demo / ".extract") == before
    assert not any(Path(env["TMPDIR"]).iterdir())  # no fallback was needed


@pytest.mark.parametrize("extract", ["stale", "missing"])
def test_stale_caches_on_read_only_repo_are_rebuilt_elsewhere(demo: Path, env: dict[str, str],
                                                              unprivileged: list[str], extract: str) -> None:
    git(demo, "update-ref", "refs/vault/main", "refs/vault/main~1")  # caches no longer current
    if extract == "missing":
        shutil.rmtree(demo / ".extract")
    ids = _run_ids(make_copy(demo, demo.parent / "copy"))  # listing them here would refresh the caches
    _set_writable(demo, False)
    proc = _vault_as(unprivileged, demo, "runs --limit 500", env)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:] if line.strip()] == ids
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"could not be written to {demo / '.extract'} (" in lines[0] and "EACCES" in lines[0]
    assert list(Path(env["TMPDIR"]).glob("gitvault-caches-*/*/extract.db"))
    _check_reads(unprivileged, demo, env, ids)


def test_reindex_on_read_only_repo_fails_with_one_line(demo: Path, env: dict[str, str],
                                                       unprivileged: list[str]) -> None:
    _set_writable(demo, False)
    proc = _vault_as(unprivileged, demo, "reindex", env)
    _assert_one_line_error(proc, str(demo / ".extract"), "EACCES")


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a 20 MB tmpfs here ({proc.stderr.strip() or proc.returncode}); "
                    "the in-process ENOSPC tests cover the full disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_full_disk_reads_answer_and_writes_fail_with_one_line(small_disk: Path, env: dict[str, str]) -> None:
    repo = make_repo(small_disk / "project", "demo")
    ids = _run_ids(repo)
    _fill(small_disk)
    assert _check_reads([], repo, env, ids) == []  # current caches: nothing to write

    (small_disk / "filler").unlink()
    git(repo, "update-ref", "refs/vault/main", "refs/vault/main~1")  # caches no longer current
    _fill(small_disk)
    proc = _vault_as([], repo, "runs --limit 500", env)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "ENOSPC" in proc.stderr, proc.stderr
    assert f"could not be written to {repo / '.extract'} (" in proc.stderr

    _assert_one_line_error(_vault_as([], repo, "reindex", env), str(repo / ".extract"), "ENOSPC")
    (small_disk / "filler").unlink()
    assert _run_ids(repo)  # the caches were left whole


# -- ENOSPC injected at the write boundary (in-process) --------------------------------------------


def _disk_full() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL
    return exc


def test_failed_commit_reports_the_disk_full_not_the_rollback(tmp_path: Path) -> None:
    """A COMMIT that fails on a full disk ends the transaction itself: the ROLLBACK that follows
    must not replace the real error with 'cannot rollback - no transaction is active'."""
    real = sqlite_cache.connect(tmp_path / "x.db")

    class FullOnCommit:
        in_transaction = property(lambda self: real.in_transaction)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "COMMIT":
                real.execute("ROLLBACK")
                raise _disk_full()
            return real.execute(sql, *args)

        def executemany(self, sql: str, rows: Any) -> Any:
            return real.executemany(sql, rows)

    from gitvault.cache.state import CacheKey, Loaded

    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        sqlite_cache.write(FullOnCommit(), Loaded(full=True), CacheKey(tip=None), None,  # type: ignore[arg-type]
                           tmp_path, None, [])  # type: ignore[arg-type]
    real.close()


def test_injected_full_disk_stale_reads_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "project", "demo")
    ids = _run_ids(repo)
    git(repo, "update-ref", "refs/vault/main", "refs/vault/main~1")
    expected = _run_ids(make_copy(repo, tmp_path / "copy"))
    tmp = full_extract_setup(monkeypatch, tmp_path)
    proc = vault_run(repo, "runs", "--limit", "500")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:] if line.strip()] == expected
    assert f"could not be written to {repo / '.extract'} (" in proc.stderr and "ENOSPC" in proc.stderr
    assert list(tmp.glob("gitvault-caches-*/*/extract.db"))
    assert ids  # the demo's runs were listed before the tip moved

    failed = vault_run(repo, "reindex")
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr and "cannot rollback" not in failed.stderr
    assert f"could not be written to {repo / '.extract'} (" in failed.stderr and "ENOSPC" in failed.stderr


def make_copy(repo: Path, copy: Path) -> Path:
    shutil.copytree(repo, copy, symlinks=True)
    shutil.rmtree(copy / ".extract", ignore_errors=True)
    return copy


def full_extract_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """ENOSPC for every cache file written under a repository's ``.extract/`` (the fallback in the
    temp dir still works); returns that temp dir."""
    import tempfile

    from gitvault.cache import duckdb_catalog

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    real_connect, real_build = sqlite_cache.connect, duckdb_catalog.build_file

    def connect(path: Path) -> sqlite3.Connection:
        if path.parent.name == ".extract":
            raise _disk_full()
        return real_connect(path)

    def build_file(path: Path, *args: Any) -> int:
        if path.parent.name == ".extract":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_build(path, *args)

    monkeypatch.setattr(sqlite_cache, "connect", connect)
    monkeypatch.setattr(duckdb_catalog, "build_file", build_file)
    return tmp


def test_a_vault_write_on_a_full_disk_fails_at_once_with_one_line(vault_repo: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pygit2

    from gitvault import Store

    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run(config={}) as run:
        rid = run.id
    before = git(vault_repo, "rev-parse", "refs/vault/main").stdout

    def full(self: Any, data: bytes) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pygit2.Repository, "create_blob", full)
    proc = vault_run(vault_repo, "tag", rid, "keep")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "the disk is full" in proc.stderr and str(vault_repo / ".git" / "objects") in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert git(vault_repo, "rev-parse", "refs/vault/main").stdout == before


def test_a_run_that_cannot_stream_says_so_and_never_promises_recovery(vault_repo: Path) -> None:
    """The spool folder cannot be written (here: it is a file): the run says so within a second,
    finish() still seals it from memory, and a process dying first is told the truth."""
    live = vault_repo / ".git" / "vault" / "live"
    shutil.rmtree(live)
    live.write_text("not a folder")
    script = (
        "import time\n"
        "from gitvault import Store\n"
        "run = Store().experiment({'benchmark': 'b', 'model': 'm'}).run(config={})\n"
        "for step in range(5):\n"
        "    run.curve(step, loss=1.0)\n"
        "time.sleep(2.5)\n"  # the flusher tries (and fails) about once a second
        "run.finish()\n"
        "print(run.id)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=vault_repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "cannot create" in proc.stderr  # said when the store opened
    assert "cannot stream its points to" in proc.stderr and "lost if this process dies" in proc.stderr
    assert proc.stderr.count("cannot stream its points") == 1  # once, not every second
    live.unlink()
    assert vault_run(vault_repo, "show", proc.stdout.strip(), check=True).returncode == 0
