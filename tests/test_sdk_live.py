"""Live runs: visibility to other processes, SIGKILL recovery, forks and threads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitvault import ConcurrentWriterError, Store
from gitvault.runs.spool import list_live_runs, read_spool
from gitvault.runs.live import live_blob_refs
from gitvault.runs.flusher import FLUSHER
from tests.conftest import git, vault_cmd, vault_run

LOGGER = '''
import sys, time
from gitvault import Store
store = Store()
exp = store.experiment({"benchmark": "live", "model": "m"})
run = exp.run(config={"kind": "endless"}, name="killed")
run.log(lr=0.1, opt="adam")
run.tag("doomed")
run.note("about to die")
run.log_text("readme", "# before the kill")
print(run.id, flush=True)
step = 0
while True:
    run.curve(step, loss=1.0 / (step + 1), acc=step * 0.5)
    step += 1
    if step % 100 == 0:
        time.sleep(0.01)
'''


def _spawn(repo: Path, code: str) -> subprocess.Popen[str]:
    script = repo / f"script_{time.monotonic_ns()}.py"
    script.write_text(code)
    return subprocess.Popen([sys.executable, str(script)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 10.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached within the timeout")


def test_points_become_visible_to_other_processes_then_sigkill_is_recovered(vault_repo: Path) -> None:
    proc = _spawn(vault_repo, LOGGER)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        live_dir = vault_repo / ".git" / "vault" / "live"
        live = _wait_for(lambda: [r for r in list_live_runs(live_dir) if r["id"] == run_id and r["points"] >= 200])
        assert live[0]["status"] == "running" and live[0]["name"] == "killed" and live[0]["metrics"]["lr"]["value"] == 0.1
        assert set(live[0]["curves"]) == {"loss", "acc"}
        other = Store(vault_repo)
        assert other.get_run(run_id).status == "running"  # opening a Store leaves live runs alone
        with pytest.raises(ConcurrentWriterError, match="still running"):
            other.tag_run(run_id, "from-another-process")
        assert git(vault_repo, "log", "--format=%s", "refs/vault/main").stdout.count(run_id) == 0
        blobs = live_blob_refs(live_dir)
        assert blobs  # the readme text (and the patch of the dirty tree) are kept by gc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = read_spool(live_dir / run_id)
    assert before["points"] >= 200
    [orphan] = list_live_runs(live_dir)
    assert orphan["status"] == "crashed" and orphan["orphaned"]

    store = Store(vault_repo)
    assert store.recovered == [run_id]
    view = store.get_run(run_id)
    assert view.status == "crashed" and not view.is_live
    curves = view.curves()
    assert curves.height == before["last_step"] + 1
    assert curves["step"].to_list() == before["curves"]["loss"]["step"].tolist()
    assert curves["loss"].to_list() == [1.0 / (s + 1) for s in range(curves.height)]
    assert curves["acc"].to_list() == [s * 0.5 for s in range(curves.height)]
    assert view.metrics == {"lr": 0.1} and view.params == {"opt": "adam"}
    assert view.tags == ["doomed"] and view.notes[0]["content"] == "about to die"
    assert view.text("readme") == "# before the kill"
    assert view.record["ended_at"] >= view.record["started_at"]
    assert not (live_dir / run_id).exists()
    assert f"seal run {run_id} crashed" in git(vault_repo, "log", "-1", "--format=%s", "refs/vault/main").stdout
    assert Store(vault_repo).recovered == []


STARTED_ONLY = '''
import sys
import gitvault.runs.flusher
from gitvault import Store
gitvault.runs.flusher.FLUSH_INTERVAL_S = 3600.0  # no flush while the test looks
run = Store().experiment({"benchmark": "live", "model": "m"}).run(config={"lr": 0.1}, name="quiet")
print(run.id, flush=True)
sys.stdin.readline()
run.curve(0, loss=1.0)
run.finish()
'''


def test_a_run_is_listed_as_running_from_the_moment_it_starts(vault_repo: Path) -> None:
    """Before its first flush (and its first point), another process lists the run as running."""
    proc = subprocess.Popen([sys.executable, "-c", STARTED_ONLY], cwd=vault_repo, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        [state] = list_live_runs(vault_repo / ".git" / "vault" / "live")
        assert (state["id"], state["status"], state["name"], state["points"]) == (run_id, "running", "quiet", 0)
        assert state["config"] == {"lr": 0.1} and state["last_flush"] is None
        assert Store(vault_repo).get_run(run_id).status == "running"
        [item] = json.loads(vault_run(vault_repo, "runs", "--json", check=True).stdout)["items"]
        assert (item["id"], item["status"]) == (run_id, "running")
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    view = Store(vault_repo).get_run(run_id)
    assert view.status == "completed" and view.curves()["loss"].to_list() == [1.0]
    assert list((vault_repo / ".git" / "vault" / "live").iterdir()) == []


def test_a_run_killed_before_its_first_flush_is_recovered_with_its_header(vault_repo: Path) -> None:
    code = ("import os\nfrom gitvault import Store\n"
            "run = Store().experiment({'benchmark': 'live', 'model': 'm'}).run(config={'lr': 0.5}, name='early')\n"
            "run.curve(0, loss=1.0)\nprint(run.id, flush=True)\nos._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=vault_repo, capture_output=True, text=True, timeout=60)
    run_id = proc.stdout.strip()
    assert proc.returncode == 9 and run_id, proc.stderr
    live_dir = vault_repo / ".git" / "vault" / "live"
    [orphan] = list_live_runs(live_dir)
    assert (orphan["id"], orphan["status"], orphan["points"]) == (run_id, "crashed", 0)
    store = Store(vault_repo)
    assert store.recovered == [run_id]
    view = store.get_run(run_id)
    assert (view.status, view.name, view.config) == ("crashed", "early", {"lr": 0.5})
    assert view.curves().height == 0  # its only point was never flushed: the unflushed window
    assert list(live_dir.iterdir()) == []


def test_git_vault_recover_prints_what_it_sealed(vault_repo: Path) -> None:
    proc = _spawn(vault_repo, LOGGER)
    run_id = proc.stdout.readline().strip()
    _wait_for(lambda: [r for r in list_live_runs(vault_repo / ".git" / "vault" / "live") if r["points"] > 0])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    out = vault_cmd(vault_repo, "recover", check=True).stdout
    assert f"sealed {run_id} crashed: live/m" in out
    assert "nothing to recover" in vault_cmd(vault_repo, "recover", check=True).stdout


def test_recover_leaves_running_runs_alone(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b"}).run()
    run.curve(0, x=1.0)
    run.flush()
    assert vault_cmd(vault_repo, "recover", check=True).stdout.startswith("nothing to recover")
    assert Store(vault_repo).recovered == []
    run.finish()
    assert store.get_run(run.id).status == "completed"


def test_live_run_is_readable_in_process_before_finish(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b"}).run(name="r")
    run.curve(0, loss=3.0)
    run.curve(1, loss=2.0)
    run.log(acc=0.5)
    view = run.view()
    assert view.is_live and view.status == "running"
    assert view.curves()["loss"].to_list() == [3.0, 2.0] and view.metrics == {"acc": 0.5}
    assert [r["id"] for r in store.list_runs()] == [run.id]
    run.finish()
    assert store.get_run(run.id).curves()["loss"].to_list() == [3.0, 2.0]


def test_runs_in_threads_each_seal(vault_repo: Path) -> None:
    store = Store(vault_repo)
    exp = store.experiment({"benchmark": "threads"})
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with exp.run(name=f"t{i}") as run:
                for s in range(200):
                    run.curve(s, v=float(i * 1000 + s))
                run.log(final=float(i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = exp.list_runs()
    assert sorted(r["name"] for r in runs) == [f"t{i}" for i in range(6)]
    for r in runs:
        i = int(r["name"][1:])
        assert store.get_run(r["id"]).curves()["v"].to_list() == [float(i * 1000 + s) for s in range(200)]


def test_one_run_shared_by_threads_keeps_every_point(vault_repo: Path) -> None:
    """... and never mixes the values of two calls (each call's record is appended at once)."""
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "shared"}).run()

    def work(offset: int) -> None:
        for s in range(offset, 40_000, 4):
            run.curve(s, v=float(s), w=-float(s), m=float(s % 7))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == list(range(40_000)) and frame["v"].to_list() == [float(s) for s in range(40_000)]
    assert frame["w"].to_list() == [-float(s) for s in range(40_000)]
    assert frame["m"].to_list() == [float(s % 7) for s in range(40_000)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_cannot_write_parent_run_but_can_start_its_own(vault_repo: Path) -> None:
    store = Store(vault_repo)
    exp = store.experiment({"benchmark": "fork"})
    parent_run = exp.run(name="parent")
    parent_run.curve(0, x=1.0)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            try:
                parent_run.curve(1, x=2.0)
                code = 10
            except ConcurrentWriterError:
                pass
            try:
                parent_run.finish()
                code = 11
            except ConcurrentWriterError:
                pass
            child = exp.run(name="child")
            child.curve(0, y=5.0)
            child.finish()
            os.write(write_end, child.id.encode())
        except BaseException:  # noqa: BLE001
            code = 12
        os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    parent_run.curve(1, x=2.0)
    parent_run.finish()
    assert store.get_run(parent_run.id).curves()["x"].to_list() == [1.0, 2.0]
    assert store.get_run(child_id).curves()["y"].to_list() == [5.0]
    assert store.get_run(child_id).status == "completed"


def test_run_started_in_forked_child_process(vault_repo: Path) -> None:
    code = '''
import multiprocessing as mp
from gitvault import Store

def work(i):
    store = Store()
    with store.experiment({"benchmark": "mp"}).run(name=f"w{i}") as run:
        run.curve(0, v=float(i))

if __name__ == "__main__":
    Store()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=work, args=(i,)) for i in range(3)]
    [p.start() for p in procs]
    [p.join() for p in procs]
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
'''
    proc = _spawn(vault_repo, code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    runs = Store(vault_repo).list_runs()
    assert sorted(r["name"] for r in runs) == ["w0", "w1", "w2"] and {r["status"] for r in runs} == {"completed"}


def test_exception_inside_with_seals_failed_and_reraises(vault_repo: Path) -> None:
    store = Store(vault_repo)
    exp = store.experiment({"benchmark": "b"})
    with pytest.raises(ZeroDivisionError):
        with exp.run(name="boom") as run:
            run.curve(0, loss=1.0)
            1 / 0
    view = store.get_run(run.id)
    assert view.status == "failed" and view.curves()["loss"].to_list() == [1.0]


def test_finish_is_idempotent_and_later_writes_raise(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b"}).run()
    run.finish()
    tip = git(vault_repo, "rev-parse", "refs/vault/main").stdout
    run.finish()
    run.finish("failed")
    assert git(vault_repo, "rev-parse", "refs/vault/main").stdout == tip
    for call in (lambda: run.curve(0, x=1.0), lambda: run.log(x=1.0), lambda: run.tag("t"), lambda: run.note("n"),
                 lambda: run.log_text("t", "x"), lambda: run.log_table("t", [1, 2]), lambda: run.todo("x"),
                 lambda: run.derived_from(run="01ARZ3NDEKTSV4RRFFQ69G5FAV")):
        with pytest.raises(RuntimeError, match="finished"):
            call()
    assert git(vault_repo, "rev-parse", "refs/vault/main").stdout == tip


def test_script_that_never_calls_finish_is_sealed_at_exit(vault_repo: Path) -> None:
    proc = _spawn(vault_repo, 'from gitvault import Store\nr = Store().experiment({"benchmark": "b"}).run()\n'
                              'r.curve(0, x=1.0)\nprint(r.id)\n')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    view = Store(vault_repo).get_run(out.strip())
    assert view.status == "completed" and view.curves()["x"].to_list() == [1.0]


def test_a_torn_last_frame_is_ignored(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b"}).run()
    for s in range(10):
        run.curve(s, x=float(s))
    run.flush()
    run.curve(10, x=10.0)
    run.flush()
    data = store.vault.paths.live_dir / run.id / "data"
    whole = data.read_bytes()
    first = int.from_bytes(whole[:4], "little") + 4
    run._spool.release()  # the writer "dies" holding nothing, and its process is gone:
    FLUSHER.discard(run)
    ended = subprocess.Popen(["true"])
    ended.wait()
    from gitvault.runs import spool as spool_files
    from gitvault.storage import codec

    (data.parent / spool_files.WRITER).write_bytes(codec.encode({**spool_files.writer_facts(), "pid": ended.pid}))
    data.write_bytes(whole[: first + 7])  # the second frame torn mid-write
    state = read_spool(store.vault.paths.live_dir / run.id)
    assert state["curves"]["x"]["value"].tolist() == [float(s) for s in range(10)]
    [recovered] = Store(vault_repo).recovered
    assert recovered == run.id
    view = store.get_run(run.id)
    assert view.status == "crashed" and view.curves()["x"].to_list() == [float(s) for s in range(10)]
