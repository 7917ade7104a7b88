"""Blobs, spools and caches get the modes git gives its own objects: the umask, then
``core.sharedRepository``; never wider.

Each case runs the real SDK in a child process started with the umask under test (through ``sh -c
umask``: the test process's own umask is never changed), in a real repository. In the same child,
git writes a loose object of its own, so the expected modes are checked against git itself as well
as against a table.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault.storage.perms import PERM_EVERYBODY, PERM_GROUP, PERM_UMASK, Perms, parse_shared, shared_mode
from tests.conftest import git, make_repo

CHILD = r"""
import hashlib, json, os, subprocess, sys
from pathlib import Path

from gitvault import Store
from gitvault.storage.blobs import BlobStore
from gitvault.cache import Caches

repo = Path(sys.argv[1])
store = Store(repo)
exp = store.experiment({"benchmark": "perms", "model": "mlp"})
with exp.run(name="sealed") as run:
    run.curve(0, loss=1.0)
    run.log_text("notes", "sealed run")
live = exp.run(name="live")
live.curve(0, loss=0.5)
live.log_text("notes", "live run")
live.flush()  # its spool stays behind: this process ends without sealing it

staged = repo / ".git" / "vault" / "staged-for-adopt"
data = b"a blob arriving by pull"
fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, data)
os.close(fd)
adopted = hashlib.sha256(data).hexdigest()
assert BlobStore(store.vault.paths.objects_dir).adopt(staged, adopted)

with Caches(store.vault) as caches:
    caches.refresh()

# git's own loose object, written by git in a bucket folder it creates now, under this umask
objects = repo / ".git" / "objects"
for n in range(10_000):
    text = f"git's own object {n}\n"
    oid = subprocess.run(["git", "hash-object", "--stdin"], cwd=repo, input=text, text=True,
                         capture_output=True, check=True).stdout.strip()
    if not (objects / oid[:2]).exists():
        break
subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, text=True, check=True,
               capture_output=True)
print(json.dumps({"live_id": live.id, "adopted": adopted, "git_object": str(objects / oid[:2] / oid[2:])}))
sys.stdout.flush()
os._exit(0)
"""


def _child(repo: Path, umask: int) -> dict[str, Any]:
    proc = subprocess.run(["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', sys.executable, "-c", CHILD, str(repo)],
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _made(tmp_path: Path, umask: int, shared: str | None) -> tuple[Path, dict[str, Any]]:
    repo = make_repo(tmp_path / "project")
    if shared is not None:
        git(repo, "config", "core.sharedRepository", shared)
    return repo, _child(repo, umask)


def _ours(repo: Path, facts: dict[str, Any]) -> tuple[list[Path], list[Path], list[Path]]:
    """(blob files, folders, mutable files) gitvault made: blobs, spool and cache files."""
    data = repo / ".git" / "vault"
    objects = data / "objects"
    blobs = [p for p in objects.rglob("*") if p.is_file()]
    folders = [data, objects, data / "live", *(p for p in objects.iterdir() if p.is_dir())]
    spool = data / "live" / facts["live_id"]
    folders += [spool, repo / ".extract"]
    extract = repo / ".extract"
    mutable = [spool / "lock", spool / "header.msgpack", spool / "data"]
    mutable += [extract / name for name in ("extract.db", "vault.duckdb", "cache.state", "cache.lock", ".gitvault")]
    mutable += [p for p in extract.iterdir() if p.name.endswith(("-wal", "-shm", ".wal"))]
    assert len(blobs) >= 3 and all(p.exists() for p in mutable)
    return blobs, folders, mutable


def _check(repo: Path, facts: dict[str, Any], blob: int, folder: int, mutable: int) -> None:
    blobs, folders, files = _ours(repo, facts)
    adopted = repo / ".git" / "vault" / "objects" / facts["adopted"][:2] / facts["adopted"][2:]
    assert adopted in blobs
    assert {str(p): oct(_mode(p)) for p in blobs} == {str(p): oct(blob) for p in blobs}
    assert {str(p): oct(_mode(p)) for p in folders} == {str(p): oct(folder) for p in folders}
    assert {str(p): oct(_mode(p)) for p in files} == {str(p): oct(mutable) for p in files}
    git_object = Path(facts["git_object"])  # the same as git's own, written in the same process
    assert _mode(git_object) == blob
    assert _mode(git_object.parent) == folder


def test_default_umask_gives_git_object_modes(tmp_path: Path) -> None:
    repo, facts = _made(tmp_path, 0o022, None)
    _check(repo, facts, blob=0o444, folder=0o755, mutable=0o644)


def test_umask_077_leaves_nothing_readable_by_group_or_world(tmp_path: Path) -> None:
    repo, facts = _made(tmp_path, 0o077, None)
    _check(repo, facts, blob=0o400, folder=0o700, mutable=0o600)
    for root in (repo / ".git" / "vault", repo / ".extract"):
        for path in [root, *root.rglob("*")]:
            if not path.is_symlink():
                assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}"


def test_group_shared_repository(tmp_path: Path) -> None:
    repo, facts = _made(tmp_path, 0o022, "group")
    _check(repo, facts, blob=0o444, folder=0o2775, mutable=0o664)
    assert _mode(repo / ".git" / "vault.lock") == 0o664  # every member can take the vault's lock


def test_group_shared_repository_with_umask_077(tmp_path: Path) -> None:
    repo, facts = _made(tmp_path, 0o077, "true")
    _check(repo, facts, blob=0o440, folder=0o2770, mutable=0o660)


def test_octal_shared_repository_is_exactly_that(tmp_path: Path) -> None:
    repo, facts = _made(tmp_path, 0o022, "0640")
    _check(repo, facts, blob=0o440, folder=0o2750, mutable=0o640)
    assert _mode(repo / ".git" / "vault.lock") == 0o640


@pytest.mark.parametrize(("value", "parsed"), [
    (None, PERM_GROUP), ("", PERM_UMASK), ("umask", PERM_UMASK), ("false", PERM_UMASK), ("0", PERM_UMASK),
    ("group", PERM_GROUP), ("true", PERM_GROUP), ("1", PERM_GROUP), ("all", PERM_EVERYBODY),
    ("world", PERM_EVERYBODY), ("everybody", PERM_EVERYBODY), ("2", PERM_EVERYBODY),
    ("0640", -0o640), ("0660", -0o660), ("0777", -0o666), ("0400", PERM_UMASK), ("nonsense", PERM_UMASK),
])
def test_core_shared_repository_values_read_as_git_reads_them(value: str | None, parsed: int) -> None:
    assert parse_shared(value) == parsed


@pytest.mark.parametrize(("shared", "umask", "blob", "folder", "mutable"), [
    (PERM_UMASK, 0o022, 0o444, 0o755, 0o644),
    (PERM_UMASK, 0o002, 0o444, 0o775, 0o664),
    (PERM_GROUP, 0o022, 0o444, 0o2775, 0o664),
    (PERM_EVERYBODY, 0o077, 0o444, 0o2775, 0o664),
    (-0o640, 0o022, 0o440, 0o2750, 0o640),
    (-0o600, 0o000, 0o400, 0o700, 0o600),
])
def test_mode_table(shared: int, umask: int, blob: int, folder: int, mutable: int) -> None:
    modes = Perms(shared, umask)
    assert (modes.file_mode(readonly=True), modes.dir_mode(), modes.file_mode()) == (blob, folder, mutable)


def test_adjusting_keeps_what_git_keeps() -> None:
    # a group setting only adds bits (a setgid folder stays setgid); an octal replaces rwx only
    assert shared_mode(PERM_GROUP, 0o2700, folder=True) == 0o2770
    assert shared_mode(-0o640, 0o4644) == 0o4640
    assert shared_mode(-0o640, 0o755) == 0o750  # an executable gets x where it may read, as git does
    assert shared_mode(PERM_UMASK, 0o600) == 0o600
