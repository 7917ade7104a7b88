"""A damaged blob never reads back as wrong numbers, and `git vault fsck --repair` fetches a good copy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gitvault import BlobError, Store, Vault
from gitvault.sync.exchange import pull, push
from tests.conftest import git, make_repo, vault_cmd


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def _long_run(repo: Path) -> tuple[str, str, str]:
    """A run whose curves are a blob file of their own (not committed inline), and a table."""
    with Store(repo).experiment({"benchmark": "v", "model": "m"}).run(config={}) as run:
        rng = np.random.default_rng(0)
        for step in range(20_000):
            run.curve(step, loss=float(rng.random()))
        run.log_table("t", rng.random((64, 64)))
        rid = run.id
    view = Store(repo).get_run(rid)
    curves_sha = view.record["curves"]["blob"]
    [table] = [a for a in view.artifacts if a["name"] == "t"]
    assert not view.record["curves"].get("inline")
    return rid, curves_sha, table["blob"]


@pytest.mark.parametrize("which", ["curves", "table"])
def test_a_flipped_byte_raises_instead_of_reading_back_altered_values(which: str, vault_repo: Path) -> None:
    rid, curves_sha, table_sha = _long_run(vault_repo)
    sha = curves_sha if which == "curves" else table_sha
    _flip_one_byte(Vault.open(vault_repo).paths.objects_dir / sha[:2] / sha[2:])
    view = Store(vault_repo).get_run(rid)
    with pytest.raises(BlobError, match=f"blob {sha} is damaged.*fsck --repair"):
        view.curves() if which == "curves" else view.table("t")


def test_fsck_repair_fetches_a_good_copy_from_the_remote(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(bare))
    rid, curves_sha, table_sha = _long_run(a)
    push(a)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    pull(b)
    objects = Vault.open(b).paths.objects_dir
    _flip_one_byte(objects / table_sha[:2] / table_sha[2:])
    (objects / curves_sha[:2] / curves_sha[2:]).unlink()
    proc = vault_cmd(b, "fsck")
    assert proc.returncode == 1 and "altered_blob" in proc.stdout and "missing_blob" in proc.stdout
    proc = vault_cmd(b, "fsck", "--repair", check=True)
    assert f"repaired: blob {table_sha}" in proc.stdout and f"repaired: blob {curves_sha}" in proc.stdout
    assert (b / ".git" / "vault" / "bad" / table_sha).is_file()  # the damaged copy is kept
    view = Store(b).get_run(rid)
    assert view.curves().height == 20_000 and view.table("t").shape == (64, 64)
