"""Damaged live spools: every good frame survives recovery and live reading, every spool that
cannot be read is named (with what to do), stray files are ignored, nothing is skipped silently."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import msgpack
import numpy as np
import pytest

from gitvault import Store

from gitvault.storage import codec
from gitvault.runs.spool import SpoolReader, SpoolWarning, list_live_runs, live_run, read_spool
from tests.conftest import vault_run as vault_cmd  # in-process: the same command, no start-up

WRITER = '''
import sys, time
from gitvault import Store
run = Store().experiment({"benchmark": "spool", "model": "m"}).run(name="damaged", config={"lr": 0.1})
run.view()  # the spool exists from here on, even before the first frame
for frame in range(int(sys.argv[1])):
    for step in range(10 * frame, 10 * frame + 10):
        run.curve(step, loss=step / 10)
    run.flush()
print(run.id, flush=True)
time.sleep(600)
'''


def _live(repo: Path) -> Path:
    return repo / ".git" / "vault" / "live"


def _killed_run(repo: Path, frames: int = 4) -> tuple[str, Path]:
    """A run that flushed ``frames`` frames of 10 steps each, then was killed with SIGKILL."""
    script = repo.parent / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(frames)], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(10)
    return run_id, _live(repo) / run_id


def _frames(data: bytes) -> list[bytes]:
    """The frames of an undamaged spool's data, each with its length prefix."""
    out, pos = [], 0
    while pos < len(data):
        end = pos + 4 + int.from_bytes(data[pos:pos + 4], "little")
        out.append(data[pos:end])
        pos = end
    return out


def _steps(*frames: bytes) -> list[int]:
    steps = []
    for frame in frames:
        for block in msgpack.unpackb(frame[4:])["blocks"]:
            steps.extend(np.frombuffer(block["steps"], "<i8").tolist())
    return sorted(steps)


def _frame(body: dict) -> bytes:
    payload = codec.encode(body)
    return len(payload).to_bytes(4, "little") + payload


def _lines_naming(text: str, folder: Path) -> list[str]:
    return [line for line in text.splitlines() if str(folder) in line]


def _said(caught: list[warnings.WarningMessage], folder: Path) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SpoolWarning) and str(folder) in str(w.message)]


def _age(folder: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_stray_files_in_the_live_folder_are_ignored(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=3)
    live = _live(vault_repo)
    strays = [live / "notes.txt", live / ".DS_Store", live / "01STRAYFILE000000000000000"]
    for stray in strays:
        stray.write_text("not a spool")
    os.symlink(spool, live / "01SYMLINK00000000000000000")
    assert [r["id"] for r in list_live_runs(live)] == [run_id]
    assert live_run(live / "01STRAYFILE000000000000000") is None
    runs = vault_cmd(vault_repo, "runs")
    assert runs.returncode == 0 and "Traceback" not in runs.stderr, runs.stderr
    (live / "01SYMLINK00000000000000000").unlink()
    store = Store(vault_repo)
    assert store.recovered == [run_id]
    assert store.get_run(run_id).curves()["step"].to_list() == list(range(30))
    recover = vault_cmd(vault_repo, "recover")
    assert recover.returncode == 0 and "nothing to recover" in recover.stdout and "Traceback" not in recover.stderr
    assert all(stray.read_text() == "not a spool" for stray in strays)  # never touched


GARBAGE = b"\x2a\x00\x00\x00" + bytes(range(0x90, 0xC6)) + b"torn\xc1\xc1 junk"


@pytest.mark.parametrize("damage", ["garbage_at_start", "garbage_in_middle", "frame_replaced", "torn_last_frame"])
def test_recovery_keeps_every_good_frame(vault_repo: Path, damage: str) -> None:
    run_id, spool = _killed_run(vault_repo, frames=4)
    frames = _frames((spool / "data").read_bytes())
    assert _steps(*frames) == list(range(40))
    data, kept = {
        "garbage_at_start": (GARBAGE + b"".join(frames), frames),
        "garbage_in_middle": (frames[0] + frames[1] + GARBAGE + b"".join(frames[2:]), frames),
        "frame_replaced": (frames[0] + GARBAGE + frames[1][len(GARBAGE):] + b"".join(frames[2:]),
                           [frames[0]] + frames[2:]),
        "torn_last_frame": (b"".join(frames[:-1]) + frames[-1][:len(frames[-1]) // 2], frames[:-1]),
    }[damage]
    (spool / "data").write_bytes(data)
    expected = _steps(*kept)

    with warnings.catch_warnings(record=True) as caught:  # live readers, before recovery
        warnings.simplefilter("always")
        assert read_spool(spool)["curves"]["loss"]["step"].tolist() == expected
    assert len(_said(caught, spool)) == (damage != "torn_last_frame")
    proc = vault_cmd(vault_repo, "recover")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"sealed {run_id} crashed: spool/m ({len(expected)} points)" in proc.stdout
    view = Store(vault_repo).get_run(run_id)
    assert view.status == "crashed" and view.curves()["step"].to_list() == expected
    assert view.curves()["loss"].to_list() == [s / 10 for s in expected]
    assert not spool.exists()
    said = _lines_naming(proc.stderr, spool)
    if damage == "torn_last_frame":  # what a kill mid-write leaves: no damage, nothing to keep
        assert said == [] and not (_live(vault_repo) / f".damaged-{run_id}").exists()
    else:
        [line] = said
        assert "skipped damaged data (bytes " in line and f"sealed as crashed with {len(kept)} readable frames" in line
        kept_at = _live(vault_repo) / f".damaged-{run_id}"
        assert f"kept at {kept_at}" in line and (kept_at / "data").read_bytes() == data  # nothing deleted
    assert "nothing to recover" in vault_cmd(vault_repo, "recover", check=True).stdout


def test_a_wrongly_typed_frame_is_named_in_one_line_and_the_others_kept(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=3)
    frames = _frames((spool / "data").read_bytes())
    wrong = _frame({"t": time.time(), "blocks": [], "metrics": {"loss": ["very high", 1.0]}})
    (spool / "data").write_bytes(frames[0] + wrong + frames[1] + frames[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = Store(vault_repo)
    assert store.recovered == [run_id]
    assert not [w for w in caught if not issubclass(w.category, SpoolWarning)]  # no raw UserWarning
    [line] = _said(caught, spool)
    start = len(frames[0])
    assert f"bytes {start}-{start + len(wrong) - 1}: a wrongly typed frame: field 'metrics'['loss'] is list " \
           "['very high', 1.0], expected [value, wall_time] as numbers" in line
    assert "\n" not in line and "sealed as crashed with 3 readable frames (30 points)" in line
    assert store.get_run(run_id).curves()["step"].to_list() == list(range(30))


def test_a_torn_header_is_sealed_from_the_fields_that_survived(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=2)
    header = (spool / "header.msgpack").read_bytes()
    (spool / "header.msgpack").write_bytes(header[:header.index(b"\xa8hostname")])  # torn after git
    proc = vault_cmd(vault_repo, "recover")
    assert proc.returncode == 0 and f"sealed {run_id} crashed: spool/m (20 points)" in proc.stdout
    [line] = _lines_naming(proc.stderr, spool)
    assert "header.msgpack is torn or damaged" in line and "sealed from the fields that survived" in line
    assert "lost hostname, id, name, pid, started_at, total_steps" in line
    assert "started_at taken from the run id" in line
    view = Store(vault_repo).get_run(run_id)
    assert view.curves()["step"].to_list() == list(range(20)) and view.config == {"lr": 0.1}
    assert view.record["started_at"].startswith(time.strftime("%Y-%m-%dT", time.gmtime()))
    assert (_live(vault_repo) / f".damaged-{run_id}" / "header.msgpack").exists()


def test_an_unreadable_header_is_reported_on_every_recovery_until_fixed(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=2)
    header = (spool / "header.msgpack").read_bytes()
    (spool / "header.msgpack").write_bytes(header[:5])  # torn inside the config: no experiment
    for _ in range(2):  # never skipped silently
        proc = vault_cmd(vault_repo, "recover")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr
        [line] = _lines_naming(proc.stderr, spool)
        assert "header.msgpack is torn or damaged (5 bytes" in line
        assert "it holds 2 readable frames (20 points) that cannot be sealed without the run's experiment" in line
        assert f"restore {spool / 'header.msgpack'}" in line and "or delete the folder to drop the run" in line
    with pytest.warns(SpoolWarning, match="header.msgpack is torn or damaged"):
        assert Store(vault_repo).recovered == []
    assert (spool / "data").exists()  # left as it is
    (spool / "header.msgpack").write_bytes(header)
    assert f"sealed {run_id} crashed: spool/m (20 points)" in vault_cmd(vault_repo, "recover", check=True).stdout


def test_a_torn_header_without_data_says_what_to_do(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=0)
    (spool / "header.msgpack").write_bytes((spool / "header.msgpack").read_bytes()[:3])
    proc = vault_cmd(vault_repo, "recover")
    [line] = _lines_naming(proc.stderr, spool)
    assert "it holds no data (nothing was flushed): nothing to recover" in line and f"rm -r {spool}" in line
    assert spool.exists()  # the user's bytes are theirs to delete


def test_data_without_one_readable_frame_is_left_in_place(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=1)
    (spool / "data").write_bytes(GARBAGE)
    with pytest.warns(SpoolWarning) as caught:
        assert Store(vault_repo).recovered == []
    [line] = _said(list(caught), spool)
    assert "its data holds no readable frame (bytes 0-" in line and f"move {spool / 'data'} out of the folder" in line
    (spool / "data").rename(vault_repo.parent / "data.damaged")  # what the line says to do
    assert Store(vault_repo).recovered == [run_id] and not spool.exists()


def test_empty_spool_folders_are_reported_and_removed_once_stale(vault_repo: Path) -> None:
    live = _live(vault_repo)
    live.mkdir(parents=True, exist_ok=True)
    fresh, empty, lock_only, no_lock = (live / n for n in (
        "01FRESHEMPTY00000000000000", "01EMPTY0000000000000000000", "01LOCK00NLY000000000000000",
        "01N0LOCK000000000000000000"))
    for folder in (fresh, empty, lock_only, no_lock):
        folder.mkdir()
    (lock_only / "lock").write_bytes(b"")
    (no_lock / "header.msgpack").write_bytes(b"\x81")
    for folder in (empty, lock_only, no_lock):
        _age(folder)
    proc = vault_cmd(vault_repo, "recover")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert _lines_naming(proc.stderr, fresh) == [] and fresh.exists()  # a writer may be removing it right now
    for folder in (empty, lock_only):
        [line] = _lines_naming(proc.stderr, folder)
        assert "held no header and no data (nothing to recover); removed" in line and not folder.exists()
    [line] = _lines_naming(proc.stderr, no_lock)
    assert "has no lock file" in line and f"touch {no_lock / 'lock'}" in line and no_lock.exists()
    _age(fresh)
    assert "removed" in _lines_naming(vault_cmd(vault_repo, "recover").stderr, fresh)[0] and not fresh.exists()


def test_live_readers_skip_damage_and_resynchronise(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b"}).run(name="live")
    spool = store.vault.paths.live_dir / run.id
    reader = SpoolReader(spool)

    def flush(steps: range) -> None:
        for step in steps:
            run.curve(step, loss=float(step))
        run.flush()

    flush(range(0, 10))
    assert reader.read()["curves"]["loss"]["step"].tolist() == list(range(10))
    start = (spool / "data").stat().st_size
    with open(spool / "data", "ab") as fh:
        fh.write(GARBAGE)  # damage at the end: it may be a frame still being written, so it waits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reader.read()["points"] == 10 and live_run(spool)["points"] == 10
    flush(range(10, 20))  # the writer goes on after the damage
    with pytest.warns(SpoolWarning, match="skipped damaged data") as caught:
        state = reader.read()
    assert state["curves"]["loss"]["step"].tolist() == list(range(20))
    [line] = _said(list(caught), spool)
    assert f"bytes {start}-{start + len(GARBAGE) - 1}: not a msgpack frame" in line
    assert "every other frame is read" in line
    flush(range(20, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the damage is behind this reader now
        assert reader.read()["curves"]["loss"]["step"].tolist() == list(range(30))
    with pytest.warns(SpoolWarning):
        assert live_run(spool)["curves"]["loss"]["step"].tolist() == list(range(30))
        assert [r["points"] for r in list_live_runs(store.vault.paths.live_dir)] == [30]
        assert store.get_run(run.id).curves()["step"].to_list() == list(range(30))
    run.finish()
    assert store.get_run(run.id).curves()["step"].to_list() == list(range(30))


def test_the_search_for_frames_is_bounded(vault_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitvault.runs import spool as spool_format

    run_id, spool = _killed_run(vault_repo, frames=3)
    frames = _frames((spool / "data").read_bytes())
    decoys = b"\x08\x00\x00\x00\x81\xa1tX" * (1 << 17)  # 1 MiB where every 8th offset looks like a frame
    data = frames[0] + decoys + os.urandom(1 << 20) + frames[1] + frames[2]
    (spool / "data").write_bytes(data)
    started = time.monotonic()
    with pytest.warns(SpoolWarning, match="skipped damaged data"):
        assert read_spool(spool)["points"] == 30
    assert time.monotonic() - started < 10

    monkeypatch.setattr(spool_format, "_RESYNC_MAX_CANDIDATES", 1000)  # a budget this damage exhausts
    with pytest.warns(SpoolWarning) as caught:
        assert Store(vault_repo).recovered == [run_id]
    [line] = _said(list(caught), spool)
    assert "no whole frame was looked for past it (the search budget ran out)" in line
    assert "sealed as crashed with 1 readable frame (10 points)" in line
    assert (_live(vault_repo) / f".damaged-{run_id}" / "data").read_bytes() == data  # the rest is kept


def test_fsck_lists_unreadable_and_set_aside_spools(vault_repo: Path) -> None:
    sealed_id, sealed_spool = _killed_run(vault_repo, frames=2)
    frames = _frames((sealed_spool / "data").read_bytes())
    (sealed_spool / "data").write_bytes(frames[0] + GARBAGE + frames[1])
    vault_cmd(vault_repo, "recover", check=True)  # sealed, and the damaged spool set aside
    run_id, spool = _killed_run(vault_repo, frames=2)
    (spool / "header.msgpack").write_bytes((spool / "header.msgpack").read_bytes()[:5])
    stray = _live(vault_repo) / "notes.txt"
    stray.write_text("not a spool")
    proc = vault_cmd(vault_repo, "fsck")
    assert proc.returncode == 0 and "fsck: ok" in proc.stdout  # the vault itself is whole
    lines = [line for line in proc.stdout.splitlines() if line.startswith("warning: live_spool: ")]
    assert len(lines) == 3, proc.stdout
    [set_aside] = _lines_naming("\n".join(lines), _live(vault_repo) / f".damaged-{sealed_id}")
    assert "set aside after sealing its run; delete it once you have looked at it" in set_aside
    [torn] = _lines_naming("\n".join(lines), spool)
    assert "header.msgpack is torn or damaged" in torn and "`git vault recover` says what to do" in torn
    [stray_line] = _lines_naming("\n".join(lines), stray)
    assert "a stray file in the live folder, not a spool; gitvault ignores it" in stray_line


def test_a_damaged_spool_of_an_already_sealed_run_is_kept(vault_repo: Path) -> None:
    run_id, spool = _killed_run(vault_repo, frames=2)
    frames = _frames((spool / "data").read_bytes())
    (spool / "data").write_bytes(frames[0] + GARBAGE + frames[1])
    vault_cmd(vault_repo, "recover", check=True)
    kept = _live(vault_repo) / f".damaged-{run_id}"
    kept.rename(spool)  # the set-aside spool put back (or a copy restored): its run is sealed
    proc = vault_cmd(vault_repo, "recover")
    [line] = _lines_naming(proc.stderr, spool)
    assert f"its run is sealed already; the damaged spool is kept at {kept}" in line
    assert (kept / "data").exists() and not spool.exists()
    assert Store(vault_repo).get_run(run_id).curves()["step"].to_list() == list(range(20))


def test_spool_files_of_the_wrong_kind_do_not_stop_the_store(vault_repo: Path) -> None:
    live = _live(vault_repo)
    odd = live / "01W0NGK1ND0000000000000000"
    (odd / "header.msgpack").mkdir(parents=True)
    (odd / "data").mkdir()
    (odd / "lock").write_bytes(b"")
    with pytest.warns(SpoolWarning) as caught:
        store = Store(vault_repo)
        assert store.recovered == [] and store.list_runs() == []
    said = _said(list(caught), odd)
    assert "data cannot be read (Is a directory); header.msgpack cannot be read (Is a directory)" in said[0]
    assert "nothing to recover" in said[0] and odd.exists()
    proc = vault_cmd(vault_repo, "runs")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
