"""SDK edge cases found in review: damaged spools, failed seals, runs killed after sealing, views of new runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitvault import Store

from gitvault.storage import codec
from tests.conftest import vault_cmd


def _orphan_spool(repo: Path, run_id: str, header: dict, data: bytes) -> Path:
    folder = repo / ".git" / "vault" / "live" / run_id
    folder.mkdir(parents=True)
    (folder / "header.msgpack").write_bytes(codec.encode(header))
    (folder / "data").write_bytes(data)
    (folder / "lock").write_bytes(b"")
    return folder


def test_store_and_commands_survive_damaged_spools(vault_repo: Path) -> None:
    store = Store(vault_repo)
    exp = store.experiment({"benchmark": "imagenet"})
    with exp.run(name="good") as run:
        run.curve(0, loss=1.0)
    store.close()
    frame = codec.encode({"metrics": {"a": [1.0]}})  # a frame of the wrong shape
    bad_frame = _orphan_spool(vault_repo, "01BADFRAME0000000000000000", {"id": "01BADFRAME0000000000000000",
                              "experiment_id": exp.id, "experiment_path": exp.path, "started_at": codec.utc_now()},
                              len(frame).to_bytes(4, "little") + frame)
    no_exp = _orphan_spool(vault_repo, "01NOEXPERIMENT000000000000", {"id": "01NOEXPERIMENT000000000000"}, b"")
    with pytest.warns(UserWarning) as caught:
        reopened = Store(vault_repo)
        listed = reopened.list_runs()
    said = " ".join(str(w.message) for w in caught)
    assert "01BADFRAME" in said and "01NOEXPERIMENT" in said
    assert [r["name"] for r in listed if r.get("status") == "completed"] == ["good"]
    runs = vault_cmd(vault_repo, "runs")
    assert runs.returncode == 0 and "good" in runs.stdout and "Traceback" not in runs.stderr
    recover = vault_cmd(vault_repo, "recover")
    assert recover.returncode == 0 and "Traceback" not in recover.stderr
    assert bad_frame.exists() and no_exp.exists()  # left in place for the user to look at


@pytest.mark.parametrize("steps", [100, 20_000])  # the last stretch merged, or streamed
def test_a_failed_seal_keeps_its_points_in_the_spool(vault_repo: Path, monkeypatch, steps: int) -> None:
    """If sealing fails (e.g. a lock timeout), the run goes on; a later crash must not lose the
    points that finish() had already taken out of the buffer, nor hold any of them twice."""
    from gitvault import LockTimeoutError, Vault
    from gitvault.runs import spool as spool_format

    store = Store(vault_repo)
    run = store.experiment({"benchmark": "imagenet"}).run(name="interrupted")
    for step in range(100):
        run.curve(step, loss=1.0 / (step + 1))
    run.flush()
    for step in range(100, 100 + steps):
        run.curve(step, loss=1.0 / (step + 1))

    def refuse(*args: object, **kwargs: object) -> None:
        raise LockTimeoutError("the vault lock was held too long")

    with monkeypatch.context() as patch:
        patch.setattr(Vault, "commit", refuse)  # the curves table is built (and streamed) first
        with pytest.raises(LockTimeoutError):
            run.finish()
    end = 200 + steps
    for step in range(100 + steps, end):
        run.curve(step, loss=1.0 / (step + 1))
    run.flush()
    spool = vault_repo / ".git" / "vault" / "live" / run.id
    assert sum(b["steps"].size for b in spool_format.load(spool)["blocks"]) == end  # each point once
    assert sum(b["steps"].size for b in run._data["blocks"]) == end
    assert spool_format.read_spool(spool)["curves"]["loss"]["step"].tolist() == list(range(end))
    run.finish()
    assert store.get_run(run.id).curves()["step"].to_list() == list(range(end))


def test_recover_of_a_run_killed_after_its_seal_commit_reports_nothing(vault_repo: Path) -> None:
    import shutil

    from gitvault.runs import live

    store = Store(vault_repo)
    run = store.experiment({"benchmark": "imagenet"}).run(name="sealed-then-killed")
    for step in range(10):
        run.curve(step, loss=float(step))
    run.flush()
    spool = vault_repo / ".git" / "vault" / "live" / run.id
    kept = vault_repo / "spool-copy"
    shutil.copytree(spool, kept)
    run.finish()
    shutil.copytree(kept, spool)  # as if the process died between the seal commit and the cleanup:
    ended = subprocess.Popen(["true"])  # its writer is a process that has ended
    ended.wait()
    from gitvault.runs import spool as spool_files
    from gitvault.storage import codec

    (spool / spool_files.WRITER).write_bytes(codec.encode({**spool_files.writer_facts(), "pid": ended.pid}))
    assert live.recover(store) == []
    assert store.get_run(run.id).record["status"] == "completed" and not spool.exists()


def test_view_of_a_run_that_logged_nothing_yet(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "imagenet"}).run(name="just-started", config={"lr": 0.1})
    view = run.view()
    assert view.config == {"lr": 0.1} and view.curves().height == 0
    run.finish()
    assert run.view().record["status"] == "completed"
