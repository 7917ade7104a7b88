"""A short run's curves table is committed inside its seal commit (no blob file per run); readers
copy it into the blob store on first use, and it syncs with the records alone."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from gitvault import Store, Transaction, Vault

from gitvault.storage import layout
from gitvault.integrity.checks import fsck
from gitvault.runs.live import INLINE_CURVES_BYTES
from tests.conftest import git, vault_run as vault_cmd  # in-process: the same command, no start-up


def _short_run(store: Store, steps: int = 100) -> str:
    with store.experiment({"benchmark": "inline"}).run(name="short") as run:
        for s in range(steps):
            run.curve(s, loss=1.0 / (s + 1), acc=s / steps)
    return run.id


def test_a_short_run_commits_its_curves_and_writes_no_blob_file(vault_repo: Path) -> None:
    store = Store(vault_repo)
    rid = _short_run(store)
    info = store.vault.snapshot().get("run", rid)["curves"]
    assert info["inline"] is True and info["points"] == 200
    assert not store.blobs.has(info["blob"])  # nothing in .extract/objects yet
    listed = git(vault_repo, "ls-tree", "-r", "--name-only", "refs/vault/main").stdout
    assert f"{rid}/curves.parquet" in listed
    frame = store.get_run(rid).curves()  # the first reader copies it into the blob store
    assert frame["loss"].to_list() == [1.0 / (s + 1) for s in range(100)]
    assert store.blobs.has(info["blob"])
    report = fsck(store.vault)
    assert report.ok, report.problems


def test_a_short_run_curves_table_is_written_by_pyarrow(vault_repo: Path) -> None:
    """One writer for every curves table: LZ4, delta-coded steps, what every reader reads."""
    store = Store(vault_repo)
    rid = _short_run(store, steps=3)
    info = store.vault.snapshot().get("run", rid)["curves"]
    store.get_run(rid).curves()
    meta = pq.ParquetFile(store.blobs.path(info["blob"])).metadata
    assert meta.created_by.startswith("parquet-cpp-arrow") and meta.row_group(0).column(0).compression == "LZ4"
    rows = duckdb.sql(f"SELECT step, loss, acc FROM read_parquet('{store.blobs.path(info['blob'])}') ORDER BY step").fetchall()
    assert rows == [(0, 1.0, 0.0), (1, 0.5, 1 / 3), (2, 1 / 3, 2 / 3)]


def test_a_long_run_still_writes_its_blob_before_the_record(vault_repo: Path) -> None:
    store = Store(vault_repo)
    rid = _short_run(store, steps=20_000)  # ~20,000 x 2 points: well over INLINE_CURVES_BYTES
    info = store.vault.snapshot().get("run", rid)["curves"]
    assert "inline" not in info and store.blobs.has(info["blob"])
    assert store.blobs.path(info["blob"]).stat().st_size > INLINE_CURVES_BYTES


def test_a_records_only_pull_brings_short_runs_curves_to_sql(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(remote), str(a))
    (a / "train.py").write_text("print('train')\n")
    git(a, "add", "train.py")
    git(a, "commit", "-q", "-m", "initial")
    git(a, "push", "-q", "origin", "HEAD:main")
    vault_cmd(a, "init", check=True)
    rid = _short_run(Store(a))
    vault_cmd(a, "push", check=True)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    vault_cmd(b, "pull", "--records-only", check=True)
    assert list((b / ".extract" / "objects").glob("??/*")) == []  # no blob came over
    out = vault_cmd(b, "sql", "--json", f"SELECT count(*) AS n, max(step) AS last FROM curves WHERE run_id = '{rid}'",
                    check=True).stdout
    rows = json.loads(out)
    rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    assert rows[0]["n"] == 200 and rows[0]["last"] == 99
    assert len(list((b / ".extract" / "objects").glob("??/*"))) == 1  # the cache copied it from the vault
    assert fsck(Vault.open(b)).ok


def test_fsck_names_a_run_whose_committed_curves_are_damaged(vault_repo: Path) -> None:
    store = Store(vault_repo)
    rid = _short_run(store)
    vault = store.vault
    tx = Transaction(message="damage the curves of one run (a test)")
    tx.writes[layout.entity_dir("run", rid) + (layout.CURVES_FILE,)] = b"not the table"
    tx.replace.add(layout.entity_dir("run", rid) + (layout.CURVES_FILE,))
    vault.commit(tx)
    report = fsck(vault)
    assert not report.ok
    assert any(p.code == "corrupt_curves" and rid in p.where for p in report.problems), report.problems
