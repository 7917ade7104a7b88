"""``run.curve`` is generated for the run's curve names: every layout of calls must read back
exactly as logged, whichever path (generated fast path, slow path, overflow) a call took."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import gitvault.run as run_module
from gitvault import Store
from gitvault.curve_writer import MAX_FAST_NAMES
from gitvault.live import read_spool


@pytest.fixture
def store(repo: Path) -> Store:
    return Store(repo)


def _column(frame, name: str) -> list[float | None]:  # noqa: ANN001
    return frame[name].to_list()


def test_sparse_and_dense_curves_in_one_run(store: Store) -> None:
    run = store.experiment({"benchmark": "layouts"}).run()
    for s in range(300):
        run.curve(s, train_loss=1.0 / (s + 1))
        if s % 10 == 0:
            run.curve(s, val_loss=2.0 * s, val_acc=s / 300)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == list(range(300))
    assert _column(frame, "train_loss") == [1.0 / (s + 1) for s in range(300)]
    assert _column(frame, "val_loss") == [2.0 * s if s % 10 == 0 else None for s in range(300)]
    assert _column(frame, "val_acc") == [s / 300 if s % 10 == 0 else None for s in range(300)]


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


def test_more_curve_names_than_the_generated_layout_holds(store: Store) -> None:
    run = store.experiment({"benchmark": "wide"}).run()
    names = [f"m{i}" for i in range(MAX_FAST_NAMES * 3)]
    for s in range(40):
        run.curve(s, **{n: float(s * 1000 + i) for i, n in enumerate(names) if (s + i) % 3 == 0})
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == list(range(40))
    for i, n in enumerate(names):
        assert _column(frame, n) == [float(s * 1000 + i) if (s + i) % 3 == 0 else None for s in range(40)], n


def test_a_curve_function_kept_from_before_new_names_still_logs_and_stops_at_finish(store: Store) -> None:
    run = store.experiment({"benchmark": "kept"}).run()
    run.curve(0, x=0.0)
    early = run.curve
    run.curve(1, x=1.0, y=10.0)
    assert run.curve is not early
    early(2, x=2.0)
    early(3, y=30.0)  # a name the early version has no parameter for: the slow path takes it
    run.finish()
    with pytest.raises(RuntimeError, match="finished"):
        early(4, x=4.0)
    with pytest.raises(RuntimeError, match="finished"):
        run.curve(4, x=4.0)
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [0, 1, 2, 3]
    assert _column(frame, "x") == [0.0, 1.0, 2.0, None]
    assert _column(frame, "y") == [None, 10.0, None, 30.0]


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
    monkeypatch.setattr(run_module, "FLUSH_INTERVAL_S", 3600.0)  # only the size check can flush
    monkeypatch.setattr(run_module, "FLUSH_BYTES", 2_000 * 32)  # 2,000 records of step, clock, a, b
    run = store.experiment({"benchmark": "bounded"}).run()
    for s in range(5_000):
        run.curve(s, a=float(s), b=1.0)
    spool = store.vault.paths.live_dir / run.id
    deadline, seen = time.monotonic() + 10, 0
    while time.monotonic() < deadline and seen < 2_000:
        time.sleep(0.01)
        if (spool / "data").exists():
            seen = read_spool(spool)["points"] // 2
    assert seen >= 2_000  # the flusher thread took the full buffer, long before its 1-hour tick
    run.finish()
    assert store.get_run(run.id).curves().height == 5_000


def test_curves_named_like_builtins_and_positional_values(store: Store) -> None:
    run = store.experiment({"benchmark": "builtins"}).run()
    run.curve(0)  # nothing logged, and no empty step either
    for s in range(1, 4):
        run.curve(s, type=float(s), int=2.0 * s, float=3.0 * s, len=4.0 * s)
    run.curve(4, type=4.0)
    with pytest.raises(TypeError):
        run.curve(5, 5.0)  # a value must name its curve
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [1, 2, 3, 4]
    assert _column(frame, "type") == [1.0, 2.0, 3.0, 4.0]
    assert _column(frame, "int") == [2.0, 4.0, 6.0, None]
    assert _column(frame, "len") == [4.0, 8.0, 12.0, None]
