"""`git vault fsck` and `git vault gc`: damage is named, unreferenced blobs go after a grace
window, everything reachable from vault refs, reflogs and live runs stays."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gitvault import BlobStore, Transaction, Vault, VaultNotInitializedError

from gitvault.storage import codec, layout
from gitvault.integrity.checks import fsck, gc
from tests.conftest import git, vault_run as vault_cmd  # in-process: the same command, no start-up
from tests.test_vault_store import plain_git_commit, tip

MONTH_AGO = time.time() - 30 * 86400


@dataclass
class Seeded:
    vault: Vault
    store: BlobStore
    run_id: str
    curves: str
    table: str
    model_id: str
    weights: str


def parquet_bytes(points: int = 100) -> bytes:
    frame = pl.DataFrame({
        "step": np.arange(points, dtype=np.int64),
        "wall_time": np.linspace(0, 10, points, dtype=np.float32),
        "loss": np.exp(-np.arange(points) / 30.0),
    })
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd")
    return buf.getvalue()


def npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(2000, dtype=np.float64).reshape(40, 50))
    return buf.getvalue()


def seed(repo: Path) -> Seeded:
    """A run with a Parquet curves blob and an npy artifact, and a model file with its size."""
    vault = Vault.open(repo)
    store = BlobStore(vault.paths.objects_dir)
    curves = store.put_bytes(parquet_bytes())
    table = store.put_bytes(npy_bytes())
    weight_bytes = os.urandom(4096)
    weights = store.put_bytes(weight_bytes)
    run_id, model_id = "01JRUN0000000000000000000A", "MODEL1"
    tx = Transaction(message=f"seal run {run_id} completed: bench/model/v1")
    tx.put("run", run_id, {"status": "completed", "curves": {"blob": curves, "names": ["loss"], "points": 100},
                           "artifacts": [{"name": "confusion", "kind": "table", "blob": table}]})
    tx.put("model", model_id, {"name": "net", "version": "1", "blob": weights, "size": len(weight_bytes)})
    tx.put("todo", "T1", {"content": "no blobs here"})
    vault.commit(tx)
    return Seeded(vault, store, run_id, curves, table, model_id, weights)


def make_old(path: Path) -> None:
    os.utime(path, (MONTH_AGO, MONTH_AGO))


def damage(store: BlobStore, sha: str, data: bytes) -> None:
    path = store.path(sha)
    path.chmod(0o644)
    path.write_bytes(data)


def test_clean_vault_passes_and_survives_git_gc_aggressive(vault_repo: Path) -> None:
    s = seed(vault_repo)
    proc = vault_cmd(vault_repo, "fsck", check=True)
    assert proc.stdout.strip() == "fsck: ok: 3 records, 0 events, 3 blobs (sha256 verified)"
    before = tip(vault_repo)
    git(vault_repo, "gc", "--prune=now", "--aggressive", "--quiet")
    assert not list((vault_repo / ".git" / "refs" / "vault").glob("main"))  # the ref is packed now
    assert tip(vault_repo) == before
    assert vault_cmd(vault_repo, "fsck", check=True).stdout.startswith("fsck: ok: 3 records")
    snap = Vault.open(vault_repo).snapshot()
    assert snap.get("run", s.run_id)["curves"]["blob"] == s.curves
    assert snap.get("model", s.model_id)["size"] == 4096
    assert snap.config().hierarchy == ["benchmark", "model", "variant"]
    assert git(vault_repo, "fsck", "--full", "--no-dangling").returncode == 0
    tx = Transaction(message="a commit on the packed ref")  # CAS still works on a packed ref
    tx.put("todo", "T2", {"content": "after gc"})
    s.vault.commit(tx)
    assert vault_cmd(vault_repo, "fsck", check=True).stdout.startswith("fsck: ok: 4 records")


def test_missing_truncated_and_altered_blobs_and_a_corrupt_record_are_each_named(vault_repo: Path) -> None:
    s = seed(vault_repo)
    record_path = "/".join(layout.record_path("run", "BROKEN"))
    plain_git_commit(vault_repo, record_path, b"\xc1 this is not msgpack")
    s.store.delete(s.table)                                         # missing
    damage(s.store, s.curves, parquet_bytes()[:-200])               # truncated Parquet
    damage(s.store, s.weights, s.store.read_bytes(s.weights)[:1000])  # shorter than the model's size
    before, reflog = tip(vault_repo), git(vault_repo, "reflog", "refs/vault/main").stdout

    report = fsck(s.vault)
    found = {(p.code, p.where) for p in report.problems}
    assert found == {("corrupt_record", record_path), ("missing_blob", s.table),
                     ("truncated_blob", s.curves), ("truncated_blob", s.weights)}
    run_path = "/".join(layout.record_path("run", s.run_id))
    by_code = {p.code: p.message for p in report.problems}
    assert run_path in by_code["missing_blob"] and "git vault pull" in by_code["missing_blob"]
    assert "1000 bytes of 4096" in " ".join(p.message for p in report.problems)

    proc = vault_cmd(vault_repo, "fsck")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 5 and lines[-1].startswith("fsck: 4 problems in 3 records")
    assert any(line.startswith("corrupt_record: ") and record_path in line for line in lines)
    assert any(line.startswith("missing_blob: ") and s.table in line for line in lines)
    assert sum(line.startswith("truncated_blob: ") for line in lines) == 2
    as_json = json.loads(vault_cmd(vault_repo, "fsck", "--json").stdout)
    assert as_json["ok"] is False and len(as_json["problems"]) == 4

    unreferenced = s.store.put_bytes(b"nobody references me")
    make_old(s.store.path(unreferenced))
    report = gc(s.vault, grace=dt.timedelta(0))  # a record it cannot read: gc removes nothing
    assert report.blocked and report.dry_run and s.store.has(unreferenced)
    assert "nothing was removed" in report.blocked and "--force" not in report.blocked  # the CLI says how
    assert [e.name for e in report.removed] == [unreferenced]  # what it would remove
    assert record_path in report.unreadable[0]
    proc = vault_cmd(vault_repo, "gc", "--grace", "0")
    assert proc.returncode == 1 and "nothing was removed" in proc.stdout and "would remove" in proc.stdout
    assert "Run `git vault fsck`, or pass --force to collect anyway" in proc.stdout
    assert s.store.has(unreferenced)
    assert gc(s.vault, grace=dt.timedelta(0), force=True).removed[0].name == unreferenced
    vault_cmd(vault_repo, "gc", "--grace", "0", "--force", check=True)
    assert tip(vault_repo) == before  # neither fsck nor gc moves the vault ref
    assert git(vault_repo, "reflog", "refs/vault/main").stdout == reflog
    assert s.store.has(s.curves) and s.store.has(s.weights)  # damaged but referenced: never gc'd


def test_altered_blobs_and_truncated_npy(vault_repo: Path) -> None:
    s = seed(vault_repo)
    data = bytearray(parquet_bytes())
    data[len(data) // 2] ^= 0xFF
    damage(s.store, s.curves, bytes(data))
    damage(s.store, s.table, npy_bytes()[:-800])
    flipped = bytearray(s.store.read_bytes(s.weights))
    flipped[10] ^= 1
    damage(s.store, s.weights, bytes(flipped))
    found = {(p.code, p.where) for p in fsck(s.vault).problems}
    assert found == {("altered_blob", s.curves), ("truncated_blob", s.table), ("altered_blob", s.weights)}
    assert fsck(s.vault, hashes=False).ok  # existence only
    assert vault_cmd(vault_repo, "fsck", "--quick").returncode == 0


def test_bad_vault_toml_and_misplaced_records(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    plain_git_commit(vault_repo, "vault.toml", b"format_version = [broken")
    wrong = layout.record_path("run", "RIGHT")
    plain_git_commit(vault_repo, "/".join(wrong), codec.encode({"kind": "run", "id": "OTHER"}))
    plain_git_commit(vault_repo, "runs/00/00/RIGHT/record.msgpack", codec.encode({"kind": "run", "id": "RIGHT"}))
    codes = sorted(p.code for p in fsck(vault).problems)
    assert codes == ["bad_config", "misplaced_record", "misplaced_record"]
    proc = vault_cmd(vault_repo, "fsck")
    assert proc.returncode == 1 and "bad_config: vault.toml: vault.toml is not valid TOML" in proc.stdout

    plain_git_commit(vault_repo, "vault.toml", b"store = 5")  # valid TOML, wrong shape
    odd = "/".join(layout.record_path("run", "ODD"))
    plain_git_commit(vault_repo, odd, codec.encode({"kind": "run", "id": "ODD", "artifacts": ["not a dict"]}))
    problems = {p.code: p for p in fsck(vault).problems}
    assert problems["bad_config"].where == "vault.toml"
    assert problems["corrupt_record"].where == odd  # a wrongly typed record is quarantined, and named
    assert "field 'artifacts[0]' is str" in problems["corrupt_record"].message
    assert "quarantined" in problems["corrupt_record"].message


def test_orphan_temp_files_are_reported_and_old_ones_collected(vault_repo: Path) -> None:
    s = seed(vault_repo)
    fresh, old = s.store.root / ".incoming-fresh", s.store.root / ".incoming-old"
    fresh.write_bytes(b"half a blob")
    old.write_bytes(b"a writer that died")
    make_old(old)
    report = fsck(s.vault)
    assert report.ok and sorted(w.where for w in report.warnings) == sorted([str(fresh), str(old)])
    proc = vault_cmd(vault_repo, "fsck", check=True)
    assert proc.stdout.count("warning: orphan_temp:") == 2
    result = gc(s.vault)
    assert [e.name for e in result.removed_temps] == [str(old)]
    assert fresh.exists() and not old.exists()


def test_gc_removes_old_unreferenced_blobs_and_keeps_young_ones(vault_repo: Path) -> None:
    s = seed(vault_repo)
    young = s.store.put_bytes(b"written a moment ago by a writer that has not committed yet")
    old = s.store.put_bytes(b"x" * 3000)
    make_old(s.store.path(old))
    for sha in (s.curves, s.table, s.weights):
        make_old(s.store.path(sha))
    before = tip(vault_repo)

    dry = vault_cmd(vault_repo, "gc", "--dry-run", check=True)
    assert f"would remove {old}" in " ".join(dry.stdout.split())
    assert "3.0 KB" in dry.stdout and s.store.has(old)
    as_json = json.loads(vault_cmd(vault_repo, "gc", "--dry-run", "--json", check=True).stdout)
    assert [e["name"] for e in as_json["removed"]] == [old] and as_json["dry_run"] is True
    assert [e["name"] for e in as_json["kept_young"]] == [young] and as_json["referenced"] == 3

    proc = vault_cmd(vault_repo, "gc", check=True)
    assert proc.stdout.splitlines()[0].split()[:2] == ["removed", old]
    assert any(line.startswith("kept") and young in line and "the 14-day grace window" in line
               for line in proc.stdout.splitlines())  # the default window, in days
    assert "kept 3 referenced blobs" in proc.stdout.splitlines()[-1]
    assert not s.store.has(old) and s.store.has(young)
    assert all(s.store.has(sha) for sha in (s.curves, s.table, s.weights))
    assert tip(vault_repo) == before and fsck(s.vault).ok

    report = gc(s.vault, grace=dt.timedelta(0))  # with no grace the young one goes too
    assert [e.name for e in report.removed] == [young] and report.referenced == 3


def test_gc_keeps_a_re_put_old_blob(vault_repo: Path) -> None:
    s = seed(vault_repo)
    reused = s.store.put_bytes(b"an old unreferenced blob a new run is about to reference")
    make_old(s.store.path(reused))
    s.store.put_bytes(b"an old unreferenced blob a new run is about to reference")  # the writer's put
    assert gc(s.vault).kept_young[0].name == reused and s.store.has(reused)


def test_gc_keeps_what_refs_remotes_reflog_and_history_reference(vault_repo: Path) -> None:
    s = seed(vault_repo)
    vault = s.vault
    seeded_tip = tip(vault_repo)

    def commit_run(run_id: str, payload: bytes, *, replace: bool = False) -> str:
        sha = s.store.put_bytes(payload)
        make_old(s.store.path(sha))
        tx = Transaction(message=f"seal run {run_id}")
        tx.put("run", run_id, {"status": "completed", "curves": {"blob": sha}}, replace=replace)
        vault.commit(tx)
        return sha

    in_history = commit_run("R1", b"first version of R1")
    commit_run("R1", b"second version of R1", replace=True)  # the first is only in history now
    in_reflog = commit_run("R2", b"R2 is rewound below")
    git(vault_repo, "update-ref", "refs/vault/main", seeded_tip)  # rewind: R1, R2 live on in the reflog
    remote_blob = s.store.put_bytes(b"fetched from a colleague")
    make_old(s.store.path(remote_blob))
    plain_git_commit(vault_repo, "/".join(layout.record_path("run", "REMOTE")), codec.encode(
        {"kind": "run", "id": "REMOTE", "curves": {"blob": remote_blob}}))
    remote_tip = tip(vault_repo)
    git(vault_repo, "update-ref", "refs/vault-remotes/origin/main", remote_tip)
    git(vault_repo, "update-ref", "refs/vault/main", seeded_tip)

    report = gc(vault, grace=dt.timedelta(0))
    assert report.removed == [] and report.referenced == 3 + 4
    assert "refs/vault-remotes/origin/main" in report.sources
    assert all(s.store.has(sha) for sha in (in_history, in_reflog, remote_blob))

    git(vault_repo, "update-ref", "-d", "refs/vault-remotes/origin/main")
    git(vault_repo, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")
    git(vault_repo, "gc", "--prune=now", "--quiet")
    report = gc(vault, grace=dt.timedelta(0))
    gone = {e.name for e in report.removed}
    assert {in_history, in_reflog, remote_blob} <= gone
    assert fsck(vault).ok and tip(vault_repo) == seeded_tip


def test_gc_keeps_blobs_of_unsealed_live_runs(vault_repo: Path) -> None:
    live = pytest.importorskip("gitvault.runs.live", reason="gitvault.runs.live does not exist yet")
    if not hasattr(live, "live_blob_refs"):
        pytest.skip("gitvault.runs.live.live_blob_refs does not exist yet")
    from gitvault.runs.store import Store

    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run({"lr": 0.1})
    run.log_text("plan", "a note written while the run is still running")
    run.flush()
    live_shas = live.live_blob_refs(store.vault.paths.live_dir)
    assert len(live_shas) == 1
    for sha in live_shas:
        make_old(store.blobs.path(sha))
    report = gc(store.vault, grace=dt.timedelta(0))
    assert "live spools (.git/vault/live)" in report.sources and report.skipped_sources == []
    assert report.removed == [] and all(store.blobs.has(sha) for sha in live_shas)
    run.finish()
    assert gc(store.vault, grace=dt.timedelta(0)).removed == [] and fsck(store.vault).ok


@pytest.mark.parametrize(("grace", "error"), [(dt.timedelta(days=-1), ValueError), (14, TypeError), ("14", TypeError)])
def test_gc_bad_grace(vault_repo: Path, grace: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="grace"):
        gc(Vault.open(vault_repo), grace=grace)  # type: ignore[arg-type]


@pytest.mark.parametrize("grace", ["-1", "abc", "nan", "inf", ""])
def test_gc_cli_bad_grace(vault_repo: Path, grace: str) -> None:
    seed(vault_repo)
    before = sorted(p.name for p in (vault_repo / ".extract" / "objects").rglob("*"))
    proc = vault_cmd(vault_repo, "gc", "--grace", grace)
    assert proc.returncode == 1 and proc.stderr.startswith("git vault: error: --grace")
    assert sorted(p.name for p in (vault_repo / ".extract" / "objects").rglob("*")) == before


def test_fsck_and_gc_need_a_vault(repo: Path) -> None:
    for command in ("fsck", "gc"):
        proc = vault_cmd(repo, command)
        assert proc.returncode == 1 and "git vault init" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(VaultNotInitializedError):
        fsck(Vault.open(repo))
