"""``run.curve(step, **values)``: an ordinary method packing each call into a record of its layout
(the tuple of curve names it logged). Every mix of layouts must read back exactly as logged, in
the order the calls were made, and no call may be lost: once ``finish()`` has taken the buffers,
``curve()`` raises."""

from __future__ import annotations

import inspect
import math
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import gitvault.runs.flusher as flusher_module
import gitvault.runs.run as run_module
from gitvault import Store
from gitvault.runs.spool import read_spool
from gitvault.runs.run import Run


@pytest.fixture
def store(repo: Path) -> Store:
    return Store(repo)


def _column(frame, name: str) -> list[float | None]:  # noqa: ANN001
    return frame[name].to_list()


def test_curve_is_an_ordinary_typed_method_and_tracebacks_name_its_file(store: Store) -> None:
    assert inspect.isfunction(Run.__dict__["curve"])
    assert Path(inspect.getsourcefile(Run.curve) or "").name == "run.py"
    params = inspect.signature(Run.curve).parameters
    assert list(params) == ["self", "step", "values"] and params["values"].kind is inspect.Parameter.VAR_KEYWORD
    assert Run.curve.__annotations__ == {"step": "int", "values": "float", "return": "None"}
    run = store.experiment({"benchmark": "method"}).run()
    run.curve(0, loss=1.0)
    with pytest.raises(TypeError, match="curve value loss is a string") as caught:
        run.curve(1, loss="high")
    files = {frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)}
    assert all(Path(f).is_file() for f in files), files  # no generated code: every frame is a real file
    assert str(Path(run_module.__file__)) in files
    run.finish()


def test_sparse_and_dense_curves_in_one_run(store: Store) -> None:
    run = store.experiment({"benchmark": "layouts"}).run()
    for s in range(300):
        run.curve(s, train_loss=1.0 / (s + 1))
        if s % 10 == 0:
            run.curve(s, val_loss=2.0 * s, val_acc=s / 300)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame.columns == ["step", "wall_time", "train_loss", "val_loss", "val_acc"]
    assert frame["step"].to_list() == list(range(300))
    assert _column(frame, "train_loss") == [1.0 / (s + 1) for s in range(300)]
    assert _column(frame, "val_loss") == [2.0 * s if s % 10 == 0 else None for s in range(300)]
    assert _column(frame, "val_acc") == [s / 300 if s % 10 == 0 else None for s in range(300)]


def test_layouts_interleave_in_the_order_of_the_calls(store: Store) -> None:
    """The same (curve, step) logged in several layouts keeps the value of the latest call, and a
    step's wall_time is that of its latest call, whether a flush fell between the calls or not."""
    run = store.experiment({"benchmark": "order"}).run()
    run.curve(3, loss=5.0)
    run.curve(3, loss=1.0, acc=2.0)
    run.curve(3, acc=4.0)
    run.curve(1, loss=0.5)
    run.flush()
    run.curve(1, acc=0.25, loss=0.75)  # the same names in another order: a layout of its own
    time.sleep(0.05)
    run.curve(1, loss=0.125)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [1, 3]
    assert _column(frame, "loss") == [0.125, 1.0] and _column(frame, "acc") == [0.25, 4.0]
    assert frame["wall_time"][0] > frame["wall_time"][1] + 0.04


def test_names_that_are_not_identifiers_and_keyword_order(store: Store) -> None:
    run = store.experiment({"benchmark": "names"}).run()
    for s in range(50):
        if s % 2:
            run.curve(s, b=float(s), a=-float(s), **{"val-loss": s * 0.5, "class": 1.0})
        else:
            run.curve(s, a=-float(s), b=float(s))
    run.finish()
    frame = store.get_run(run.id).curves()
    assert _column(frame, "a") == [-float(s) for s in range(50)]
    assert _column(frame, "b") == [float(s) for s in range(50)]
    assert _column(frame, "val-loss") == [s * 0.5 if s % 2 else None for s in range(50)]
    assert _column(frame, "class") == [1.0 if s % 2 else None for s in range(50)]


def test_values_that_are_not_floats_are_converted_or_refused(store: Store) -> None:
    run = store.experiment({"benchmark": "types"}).run()
    run.curve(0, x=1.5, y=2.5)
    run.curve(1, x=3, y=np.float32(0.5))  # a known layout, values that take the checked path
    run.curve(np.int64(2), x=10**400, y=np.array([7.0]))
    for bad in (True, "1.0", b"1", None, [1.0]):
        with pytest.raises(TypeError):
            run.curve(3, x=1.0, y=bad)
    for step in (-1, 1.0, "3", True, 2**63):
        with pytest.raises((TypeError, ValueError)):
            run.curve(step, x=1.0, y=1.0)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [0, 1, 2]
    assert _column(frame, "x") == [1.5, 3.0, math.inf] and _column(frame, "y") == [2.5, 0.5, 7.0]


def test_more_tuples_of_names_than_the_run_keeps_layouts_for(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "MAX_LAYOUTS", 4)
    run = store.experiment({"benchmark": "wide"}).run()
    names = [f"m{i}" for i in range(30)]
    for s in range(40):
        run.curve(s, **{n: float(s * 1000 + i) for i, n in enumerate(names) if (s + i) % 3 == 0})
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == list(range(40))
    assert frame.columns[2:] == [f"m{i}" for i in sorted(range(30), key=lambda i: (-i % 3, i))]  # first use
    for i, n in enumerate(names):
        assert _column(frame, n) == [float(s * 1000 + i) if (s + i) % 3 == 0 else None for s in range(40)], n


def test_a_bound_curve_kept_from_before_still_logs_and_stops_at_finish(store: Store) -> None:
    run = store.experiment({"benchmark": "kept"}).run()
    early = run.curve
    early(0, x=0.0)
    run.curve(1, x=1.0, y=10.0)
    early(2, x=2.0)
    early(3, y=30.0)
    run.finish()
    with pytest.raises(RuntimeError, match="finished"):
        early(4, x=4.0)
    with pytest.raises(RuntimeError, match="finished"):
        run.curve(4, x=4.0)
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [0, 1, 2, 3]
    assert _column(frame, "x") == [0.0, 1.0, 2.0, None]
    assert _column(frame, "y") == [None, 10.0, None, 30.0]


def test_a_thread_racing_finish_gets_an_error_and_loses_no_point(store: Store) -> None:
    """Every call that returned is sealed; the first call after ``finish()`` took the buffers
    raises (never a point accepted, then dropped). A tiny switch interval makes the threads
    interleave inside ``curve()`` (the generated ``curve`` of old lost points in ~40% of runs)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for attempt in range(8):
            run = store.experiment({"benchmark": "race"}).run(name=f"race-{attempt}")
            started = threading.Event()
            outcome: dict[str, object] = {}

            def log(run: Run = run, outcome: dict[str, object] = outcome, started: threading.Event = started) -> None:
                step = 0
                try:
                    while True:
                        run.curve(step, loss=float(step), acc=-float(step))
                        if step == 200:
                            started.set()
                        step += 1
                except RuntimeError as exc:
                    outcome["logged"], outcome["error"] = step, str(exc)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    outcome["error"] = repr(exc)
                finally:
                    started.set()

            thread = threading.Thread(target=log)
            thread.start()
            started.wait(10)
            run.finish()
            thread.join(10)
            error = str(outcome.get("error"))
            assert "is being sealed" in error or "is finished" in error, outcome
            logged = outcome["logged"]
            assert isinstance(logged, int) and logged > 200
            frame = store.get_run(run.id).curves()
            assert frame["step"].to_list() == list(range(logged)), (attempt, logged, frame.height)
            assert _column(frame, "acc") == [-float(s) for s in range(logged)]
    finally:
        sys.setswitchinterval(previous)


def test_calls_with_no_values_log_nothing_and_nan_is_kept(store: Store) -> None:
    run = store.experiment({"benchmark": "empty"}).run()
    run.curve(0, x=float("nan"))
    run.curve(1)
    run.curve(2, x=2.0)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [0, 2]
    x = _column(frame, "x")
    assert math.isnan(x[0]) and x[1] == 2.0


def test_a_full_buffer_is_flushed_to_the_spool_without_waiting_for_the_second(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flusher_module, "FLUSH_INTERVAL_S", 3600.0)  # only the size check can flush
    monkeypatch.setattr(run_module, "FLUSH_BYTES", 2_000 * 32)  # 2,000 records of step, clock, a, b
    run = store.experiment({"benchmark": "bounded"}).run()
    for s in range(5_000):
        run.curve(s, a=float(s), b=1.0)
    spool = store.vault.paths.live_dir / run.id
    deadline, seen = time.monotonic() + 10, 0
    while time.monotonic() < deadline and seen < 2_000:
        time.sleep(0.01)
        seen = read_spool(spool)["points"] // 2
    assert seen >= 2_000  # the flusher thread took the full buffer, long before its 1-hour tick
    run.finish()
    assert store.get_run(run.id).curves().height == 5_000


def test_curves_named_like_builtins_and_positional_values(store: Store) -> None:
    run = store.experiment({"benchmark": "builtins"}).run()
    run.curve(0)  # nothing logged, and no empty step either
    for s in range(1, 4):
        run.curve(s, type=float(s), int=2.0 * s, float=3.0 * s, len=4.0 * s, self=5.0 * s)
    run.curve(step=4, type=4.0)
    with pytest.raises(TypeError):
        run.curve(5, 5.0)  # a value must name its curve
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [1, 2, 3, 4]
    assert _column(frame, "type") == [1.0, 2.0, 3.0, 4.0]
    assert _column(frame, "int") == [2.0, 4.0, 6.0, None]
    assert _column(frame, "len") == [4.0, 8.0, 12.0, None]
    assert _column(frame, "self") == [5.0, 10.0, 15.0, None]
