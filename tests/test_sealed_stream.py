"""A long run's sealed curves table is written row group by row group (`curves.write_stream`);
it must hold exactly what the merging path (`curves.table`) would have written."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from gitvault import Store

from gitvault.runs import curves
from gitvault.storage.blobs import BlobStore
from tests.conftest import curve_points


def _records(names: list[str], rows: list[tuple]) -> tuple[tuple[str, ...], bytearray]:
    """The records ``run.curve()`` would have packed for ``rows`` of (step, *values) (clock:
    100 s plus a millisecond per step)."""
    layout = curves.Layout(tuple(names))
    for step, *values in rows:
        layout.records += layout.pack(step, 100.0 + step / 1000, *values)
    return layout.names, layout.records


def _packed(names: list[str], rows: list[tuple]) -> curves.Packed:
    return curves.Packed(names, _records(names, rows)[1], 100.0)


def _streamed(tmp_path: Path, blocks: list, packed: list) -> tuple[pl.DataFrame, curves.Written]:
    path = tmp_path / "streamed.parquet"
    with path.open("wb") as out:
        written = curves.write_stream(out, blocks, packed)
    return pl.read_parquet(path), written


def test_streamed_table_equals_the_merged_table(tmp_path: Path) -> None:
    n = curves.ROW_GROUP_ROWS + 1000
    flushed = curves.records_block([  # an earlier flush of two layouts: interleaved by clock
        _records(["loss"], [(s, 1.0 / (s + 1)) for s in range(n) if s % 3]),
        _records(["acc", "loss"], [(s, -s, 1.0 / (s + 1)) for s in range(n) if s % 3 == 0]),
    ], ["loss", "acc"], 100.0)
    assert flushed is not None and flushed["steps"].tolist() == list(range(n))
    rows = [(s, float(s), -s) for s in range(n, 3 * n)]
    rows[5] = (rows[5][0], float("nan"), float("inf"))
    tail = _packed(["loss", "acc"], rows)
    late = _packed(["lr"], [(3 * n, 0.5)])
    assert curves.streamable([flushed], [tail, late])

    frame, written = _streamed(tmp_path, [flushed], [tail, late])
    merged = curves.table([flushed, tail.block(), late.block()])
    assert frame.equals(pl.from_arrow(merged))
    assert written.names == ["loss", "acc", "lr"] and written.last_step == 3 * n
    assert written.points == curve_points(merged) == 3 * n + (n + 2) // 3 + 2 * n + 1
    assert frame.height == 3 * n + 1
    assert frame["acc"][:6].to_list() == [0.0, None, None, -3.0, None, None]
    special = frame.row(by_predicate=pl.col("step") == n + 5, named=True)
    assert math.isnan(special["loss"]) and special["acc"] == math.inf
    assert pq.ParquetFile(tmp_path / "streamed.parquet").metadata.num_row_groups > 2


def test_short_or_unordered_curves_are_merged_not_streamed() -> None:
    n = curves.ROW_GROUP_ROWS
    assert not curves.streamable([], [_packed(["loss"], [(s, 1.0) for s in range(n - 1)])])
    ordered = [(s, 1.0) for s in range(n)]
    assert curves.streamable([], [_packed(["loss"], ordered)])
    twice = ordered + [(n - 1, 2.0)]  # a step logged again: its values are merged
    assert not curves.streamable([], [_packed(["loss"], twice)])
    block = _packed(["loss"], ordered).block()
    assert not curves.streamable([block], [_packed(["loss"], [(0, 1.0)])])  # steps go back


def test_a_long_run_reads_back_every_point(vault_repo: Path) -> None:
    store = Store(vault_repo)
    n = 3 * curves.ROW_GROUP_ROWS
    with store.experiment({"benchmark": "imagenet"}).run(name="long") as run:
        for s in range(n):
            late = {"val-loss": 0.25} if s == n - 10 else {}  # a name the fast path cannot take
            run.curve(s, loss=1.0 / (s + 1), **({"acc": s / n} if s % 2 else {}), **late)
            if s == n // 2:
                run.flush()
    info = store.get_run(run.id).record["curves"]
    assert "inline" not in info and info["names"] == ["loss", "acc", "val-loss"]
    assert info["points"] == n + n // 2 + 1 and info["last_step"] == n - 1
    assert pq.ParquetFile(store.blobs.path(info["blob"])).metadata.num_row_groups > 1
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == list(range(n))
    assert frame["loss"].to_list() == [1.0 / (s + 1) for s in range(n)]
    assert frame["acc"].drop_nulls().to_list() == [s / n for s in range(1, n, 2)]
    assert frame["val-loss"].drop_nulls().to_list() == [0.25]


def test_a_long_run_logging_a_step_twice_keeps_the_latest_value(vault_repo: Path) -> None:
    store = Store(vault_repo)
    n = curves.ROW_GROUP_ROWS + 10
    with store.experiment({"benchmark": "imagenet"}).run(name="twice") as run:
        for s in range(n):
            run.curve(s, loss=1.0)
            run.curve(s, acc=2.0)  # the same step, another curve: one row
        run.curve(3, loss=5.0)  # a step logged again later: latest wins
    frame = store.get_run(run.id).curves()
    assert frame.height == n and frame["step"].to_list() == list(range(n))
    assert frame["loss"][3] == 5.0 and frame["acc"].to_list() == [2.0] * n


def test_put_written_names_the_blob_by_what_was_written(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "objects")
    payload = np.arange(100_000).tobytes()
    sha, result = blobs.put_written(lambda out: (out.write(payload[:10]), out.write(payload[10:]), "done")[-1])
    assert sha == hashlib.sha256(payload).hexdigest() and result == "done"
    assert blobs.read_bytes(sha) == payload
    assert blobs.put_written(lambda out: out.write(payload))[0] == sha  # again: the same blob
    with pytest.raises(RuntimeError):
        blobs.put_written(lambda out: (out.write(b"half"), (_ for _ in ()).throw(RuntimeError("disk gone"))))
    assert [p.name for p in (tmp_path / "objects").iterdir() if p.name.startswith(".incoming")] == []


def test_a_blob_that_cannot_reach_the_disk_seals_nothing(vault_repo: Path, monkeypatch) -> None:
    """If the curves blob cannot be made durable the ref does not move, the run stays open with
    every point, and no temp file is left behind."""
    from gitvault.storage import blobs as blobs_module

    store = Store(vault_repo)
    run = store.experiment({"benchmark": "imagenet"}).run(name="disk-full")
    n = curves.ROW_GROUP_ROWS + 5
    for s in range(n):
        run.curve(s, loss=float(s))
    tip = store.vault.repo.lookup_reference("refs/vault/main").target

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(blobs_module.os, "fsync", no_space)
        with pytest.raises(OSError, match="No space left"):
            run.finish()
    assert store.vault.repo.lookup_reference("refs/vault/main").target == tip
    assert list((vault_repo / ".extract" / "objects").glob(".incoming-*")) == []
    assert run.status == "running"
    run.finish()
    assert store.get_run(run.id).curves()["loss"].to_list() == [float(s) for s in range(n)]


def test_a_long_but_tiny_table_still_travels_in_the_commit(vault_repo: Path) -> None:
    store = Store(vault_repo)
    with store.experiment({"benchmark": "imagenet"}).run(name="constant") as run:
        for s in range(curves.ROW_GROUP_ROWS):
            run.curve(s, loss=0.5)
    info = store.get_run(run.id).record["curves"]
    assert info["inline"] is True and info["points"] == curves.ROW_GROUP_ROWS


def test_a_last_stretch_of_several_layouts_keeps_the_latest_wall_time(vault_repo: Path) -> None:
    """Records of several layouts not flushed yet are merged in the order they were logged: a
    step's wall_time is that of its latest call."""
    store = Store(vault_repo)
    many = {f"m{i}": float(i) for i in range(16)}
    with store.experiment({"benchmark": "imagenet"}).run(name="wide") as run:
        for s in range(curves.ROW_GROUP_ROWS):
            run.curve(s, **many)
        time.sleep(0.2)
        run.curve(curves.ROW_GROUP_ROWS - 1, extra=1.0)  # another layout, at the same step
    frame = store.get_run(run.id).curves()
    assert frame.height == curves.ROW_GROUP_ROWS
    assert frame["wall_time"][-1] >= 0.2 and frame["extra"][-1] == 1.0 and frame["m15"][-1] == 15.0


def test_a_long_crashed_run_is_streamed_by_recovery(vault_repo: Path) -> None:
    n = 2 * curves.ROW_GROUP_ROWS
    script = (
        "import os\nfrom gitvault import Store\n"
        "run = Store().experiment({'benchmark': 'imagenet'}).run(name='killed')\n"
        f"for s in range({n}):\n    run.curve(s, loss=s / 2, **({{}} if s % 2 else {{'acc': 1.0}}))\n"
        "run.flush()\nprint(run.id, flush=True)\nos._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=vault_repo, capture_output=True, text=True)
    run_id = proc.stdout.strip()
    assert proc.returncode == 9 and run_id, proc.stderr
    store = Store(vault_repo)  # opening the store recovers it
    view = store.get_run(run_id)
    assert view.record["status"] == "crashed"
    assert pq.ParquetFile(store.blobs.path(view.record["curves"]["blob"])).metadata.num_row_groups > 1
    frame = view.curves()
    assert frame["loss"].to_list() == [s / 2 for s in range(n)]
    assert frame["acc"].to_list() == [None if s % 2 else 1.0 for s in range(n)]
