"""A damaged or foreign live spool must not stop a store from opening or hide the other runs."""

from __future__ import annotations

import warnings
from pathlib import Path

from gitvault import Store, codec
from tests.conftest import vault_cmd


def _orphan_spool(repo: Path, run_id: str, header: dict, data: bytes) -> Path:
    folder = repo / ".extract" / "live" / run_id
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
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        reopened = Store(vault_repo)
    assert [r["name"] for r in reopened.list_runs() if r.get("status") == "completed"] == ["good"]
    runs = vault_cmd(vault_repo, "runs")
    assert runs.returncode == 0 and "good" in runs.stdout and "Traceback" not in runs.stderr
    recover = vault_cmd(vault_repo, "recover")
    assert recover.returncode == 0 and "Traceback" not in recover.stderr
    assert bad_frame.exists() and no_exp.exists()  # left in place for the user to look at
