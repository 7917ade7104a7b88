"""Where durable data lives: nothing irreplaceable in the work tree, blobs through any git remote.

Real git, real remotes: a bare repository by path, a ``file://`` URL and a ``git daemon`` serving
``git://127.0.0.1`` (a URL with no folder beside it), always with rsync absent from ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from gitvault import Store, Vault
from gitvault.integrity.checks import fsck
from gitvault.sync.exchange import missing_blobs, pull, push
from tests.conftest import git, make_repo, vault_cmd, vault_run

STEPS = 100_000


@pytest.fixture
def no_rsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH holding git, python and the test's own tools, but no rsync."""
    bin_dir = tmp_path / "bin-without-rsync"
    bin_dir.mkdir()
    kept = []
    for folder in os.environ["PATH"].split(os.pathsep):
        if folder and (Path(folder) / "rsync").exists():
            for tool in ("git", "git-vault", "python", "python3"):
                found = Path(folder) / tool
                if found.exists() and not (bin_dir / tool).exists():
                    (bin_dir / tool).symlink_to(found)
            continue
        kept.append(folder)
    monkeypatch.setenv("PATH", os.pathsep.join([*kept, str(bin_dir)]))
    assert shutil.which("rsync") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daemon_url(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A bare repository served read-write by ``git daemon`` on 127.0.0.1."""
    base = tmp_path / "served"
    base.mkdir()
    bare = base / "proj.git"
    git(base, "init", "-q", "--bare", str(bare))
    port = _free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                             f"--base-path={base}", "--listen=127.0.0.1", f"--port={port}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"git://127.0.0.1:{port}/proj.git"
    try:
        for _ in range(100):
            if proc.poll() is not None:
                pytest.skip(f"git daemon could not start: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
            if subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.skip("git daemon did not answer on 127.0.0.1 within 5 s")
        yield bare, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _write_everything(repo: Path) -> str:
    """A long run (100,000 steps), a table, a Zarr tensor and a model file."""
    store = Store(repo)
    exp = store.experiment({"benchmark": "storage", "model": "mlp"})
    weights = repo / "model.bin"
    weights.write_bytes(os.urandom(300_000))
    with exp.run(config={"lr": 0.1}, name="long") as run:
        for step in range(STEPS):
            run.curve(step, loss=1.0 / (step + 1))
        run.log_table("confusion", np.arange(12, dtype=np.float32).reshape(3, 4))
        run.write_tensors("activations", np.ones((8, 16), dtype=np.float64))
        run.register_model("mlp", "1", weights)
        rid = run.id
    store.close()
    weights.unlink()
    return rid


def _reads_back(repo: Path, rid: str) -> None:
    view = Store(repo).get_run(rid)
    curves = view.curves()
    assert curves.height == STEPS and curves["loss"][STEPS - 1] == 1.0 / STEPS
    assert view.table("confusion").tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()
    assert np.asarray(view.tensor("activations")[:]).sum() == 8 * 16
    assert fsck(Vault.open(repo)).ok


def _clone(url: str, path: Path) -> Path:
    git(path.parent, "clone", "-q", url, str(path))
    return path


@pytest.mark.parametrize("kind", ["git-daemon", "file-url"])
def test_everything_travels_through_a_plain_git_remote_without_rsync(
        kind: str, tmp_path: Path, no_rsync: None, request: pytest.FixtureRequest) -> None:
    if kind == "git-daemon":
        bare, url = request.getfixturevalue("daemon_url")
    else:
        bare = tmp_path / "remote.git"
        git(tmp_path, "init", "-q", "--bare", str(bare))
        url = f"file://{bare}"
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", url)
    git(a, "push", "-q", "origin", "main")
    rid = _write_everything(a)
    proc = vault_cmd(a, "push", check=True)
    assert "pushed to origin: 1 run" in proc.stdout and "of blobs" in proc.stdout
    assert not list(tmp_path.glob("*.vault-blobs")) and not list(bare.parent.glob("*.vault-blobs"))

    b = _clone(url, tmp_path / "b")
    assert git(b, "for-each-ref", "refs/vault*").stdout == ""  # a plain clone of the code fetches no vault
    proc = vault_cmd(b, "pull", check=True)
    assert "1 run" in proc.stdout
    assert missing_blobs(Vault.open(b)) == []
    _reads_back(b, rid)
    _reads_back(a, rid)
    [model] = Store(b).list_models()
    model_file = Path(model["artifact_path"])  # in the blob store
    assert model_file.is_relative_to(Vault.open(b).paths.objects_dir) and model_file.stat().st_size == 300_000
    status = vault_cmd(b, "status", "--json", check=True).stdout
    assert '"blobs_missing_here": 0' in status and '"blobs_missing_there": 0' in status


def test_status_names_what_is_ahead_behind_and_missing(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(bare))
    vault_run(a, "push", check=True)
    b = _clone(str(bare), tmp_path / "b")
    pull(b)
    store = Store(a)
    with store.experiment({"benchmark": "s", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.zeros(3))
    vault_run(a, "push", "--records-only", check=True)
    out = vault_run(a, "status", check=True).stdout
    assert "ahead of origin:  nothing new" in out and "blobs missing there:  1" in out, out
    out = vault_run(b, "status", check=True).stdout
    assert "behind origin:    1 run" in out and "blobs missing here:   1" in out, out
    assert "blobs on neither side: 1" in out
    push(a)
    assert "blobs missing there:  0" in vault_run(a, "status", check=True).stdout


@pytest.mark.parametrize("wipe", ["clean", "stash", "rm-extract"])
def test_work_tree_cleaning_loses_nothing(wipe: str, vault_repo: Path) -> None:
    store = Store(vault_repo)
    with store.experiment({"benchmark": "b", "model": "m"}).run(config={"x": 1}) as run:
        for step in range(50):
            run.curve(step, loss=float(step))
        run.log_table("t", np.arange(5.0))
        run.log_text("readme", "# kept")
        rid = run.id
    live = store.experiment({"benchmark": "b", "model": "m"}).run(config={"x": 2})
    live.curve(0, loss=1.0)
    live.flush()
    assert vault_run(vault_repo, "runs", check=True).stdout.count("\n") >= 2  # caches built
    if wipe == "clean":
        git(vault_repo, "clean", "-fdx")
        assert not (vault_repo / ".extract").exists()
    elif wipe == "stash":
        git(vault_repo, "stash", "--all")
        assert not (vault_repo / ".extract").exists()
    else:
        shutil.rmtree(vault_repo / ".extract")
    assert fsck(Vault.open(vault_repo)).ok
    live.curve(1, loss=0.5)
    live.finish()
    if wipe == "stash":
        git(vault_repo, "stash", "pop")
    view = Store(vault_repo).get_run(rid)
    assert view.table("t").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and view.text("readme") == "# kept"
    assert Store(vault_repo).get_run(live.id).curves()["loss"].to_list() == [1.0, 0.5]
    out = vault_run(vault_repo, "runs", "--json", check=True).stdout
    assert rid in out and live.id in out  # caches rebuilt
    assert (vault_repo / ".extract" / "objects").is_symlink()
    report = fsck(Vault.open(vault_repo))
    assert report.ok, [f"{p.code}: {p.message}" for p in report.problems]


def test_a_second_worktree_shares_the_vault(vault_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "wt"
    git(vault_repo, "worktree", "add", "-q", str(other), "-b", "side")
    with Store(other).experiment({"benchmark": "w", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.arange(3.0))
        rid = run.id
    assert not (other / ".extract").exists()  # one local folder, in the main work tree
    assert Store(vault_repo).get_run(rid).table("t").tolist() == [0.0, 1.0, 2.0]
    git(vault_repo, "worktree", "remove", "--force", str(other))
    assert Store(vault_repo).get_run(rid).table("t").tolist() == [0.0, 1.0, 2.0]
    assert fsck(Vault.open(vault_repo)).ok


def _old_layout(repo: Path) -> tuple[list[str], str]:
    """Put a vault's blobs and a spool back where gitvault kept them before (``.extract/``)."""
    paths = Vault.open(repo).paths
    blobs = sorted(p.name for p in paths.objects_dir.glob("*/*"))
    (repo / ".extract" / "objects").unlink()
    os.rename(paths.objects_dir, repo / ".extract" / "objects")
    spool = repo / ".extract" / "live" / "01OLDSPOOL"
    spool.mkdir(parents=True)
    (spool / "marker").write_text("x")
    return blobs, spool.name


def test_an_old_vault_is_moved_into_the_git_dir_by_renames(vault_repo: Path) -> None:
    with Store(vault_repo).experiment({"benchmark": "o", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.arange(4.0))
        rid = run.id
    blobs, spool = _old_layout(vault_repo)
    inode = (vault_repo / ".extract" / "objects").stat().st_ino
    paths = Vault.open(vault_repo).paths  # opening migrates
    assert paths.objects_dir.stat().st_ino == inode  # renamed, not copied
    assert sorted(p.name for p in paths.objects_dir.glob("*/*")) == blobs
    assert (paths.live_dir / spool / "marker").read_text() == "x"
    assert (vault_repo / ".extract" / "objects").is_symlink() and not (vault_repo / ".extract" / "live").exists()
    Vault.open(vault_repo)  # idempotent
    assert Store(vault_repo).get_run(rid).table("t").tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_migration_interrupted_half_way_is_finished(vault_repo: Path) -> None:
    with Store(vault_repo).experiment({"benchmark": "o", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.arange(4.0))
        rid = run.id
    blobs, _ = _old_layout(vault_repo)
    # a crash after some blobs were moved: both folders hold part of the store
    target = vault_repo / ".git" / "vault" / "objects"
    first = sorted((vault_repo / ".extract" / "objects").glob("*/*"))[0]
    (target / first.parent.name).mkdir(parents=True)
    os.rename(first, target / first.parent.name / first.name)
    Vault.open(vault_repo)
    assert sorted(p.name for p in target.glob("*/*")) == blobs
    assert (vault_repo / ".extract" / "objects").is_symlink()
    assert Store(vault_repo).get_run(rid).table("t").tolist() == [0.0, 1.0, 2.0, 3.0]
    assert fsck(Vault.open(vault_repo)).ok


def test_vault_commits_are_plain_loose_objects_git_can_pack(vault_repo: Path) -> None:
    store = Store(vault_repo)
    for i in range(5):
        with store.experiment({"benchmark": "p", "model": f"m{i}"}).run(config={"i": i}):
            pass
    pack_dir = vault_repo / ".git" / "objects" / "pack"
    assert not list(pack_dir.glob("*.pack"))  # gitvault writes no packfile of its own
    git(vault_repo, "gc", "--quiet")
    assert git(vault_repo, "count-objects", "-v").stdout.splitlines()[0] == "count: 0"
    with store.experiment({"benchmark": "p", "model": "after-gc"}).run(config={}):
        pass
    assert git(vault_repo, "fsck", "--full").returncode == 0
    assert len(list(Vault.open(vault_repo).snapshot().ids("run"))) == 6


def test_a_records_only_pull_fetches_blobs_on_first_read(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(bare))
    with Store(a).experiment({"benchmark": "lazy", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.arange(6.0))
        rid = run.id
    push(a)
    b = _clone(str(bare), tmp_path / "b")
    assert pull(b, records_only=True)["blobs"] == 0
    assert len(missing_blobs(Vault.open(b))) == 1
    assert Store(b).get_run(rid).table("t").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # fetched now
    assert missing_blobs(Vault.open(b)) == []


def test_a_push_past_the_budget_warns_and_says_what_to_do(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(bare))
    git(a, "config", "vault.budget", "1k")
    with Store(a).experiment({"benchmark": "budget", "model": "m"}).run(config={}) as run:
        run.log_table("t", np.arange(1000.0))
    proc = vault_run(a, "push", check=True)
    assert "of blobs (1)" in proc.stdout
    assert "past the 0.0 MiB budget" in proc.stderr and "vault.blobLimit" in proc.stderr, proc.stderr


def test_git_gc_auto_is_started_when_git_would_start_it(tmp_path: Path) -> None:
    from gitvault.storage import maintenance

    repo = make_repo(tmp_path / "r")
    common = repo / ".git"
    assert not maintenance.loose_objects_due(common)
    bucket = common / "objects" / "17"
    bucket.mkdir(exist_ok=True)
    for i in range(30):  # git's own estimate: more than gc.auto/256 (27) loose objects in objects/17
        (bucket / f"{i:038x}").write_bytes(b"")
    assert maintenance.loose_objects_due(common)
    assert not maintenance.loose_objects_due(common, limit=0)  # gc.auto = 0 switches it off
    assert maintenance.pack_when_due(common)
    assert (common / "vault" / "gc-started").is_file()
    assert not maintenance.pack_when_due(common)  # at most once a minute
