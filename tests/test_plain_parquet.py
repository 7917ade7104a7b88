"""A short run's curves file is written without pyarrow (`gitvault.plain_parquet`); every reader
we rely on must read it as the table pyarrow would have written."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gitvault import curves, plain_parquet
from tests.conftest import curve_points


def _block(n: int, seed: int) -> curves.Block:
    rng = np.random.default_rng(seed)
    loss = rng.random(n)
    loss[: min(n, 2)] = [np.nan, np.inf][: min(n, 2)]
    acc_valid = rng.random(n) > 0.3
    sparse_valid = np.arange(n) == n // 2
    return {"steps": np.arange(n, dtype=np.int64) * 3, "wall": rng.random(n).astype(np.float32),
            "values": {"loss": loss, "acc": rng.random(n), "ö val-loss": np.where(sparse_valid, -0.0, np.nan)},
            "valid": {"loss": None, "acc": acc_valid, "ö val-loss": sparse_valid}}


PLAIN_ROWS = curves.PLAIN_MAX_BYTES // (12 + 8 * 3)  # the most rows of three curves written plainly


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100, PLAIN_ROWS])
def test_pyarrow_polars_and_duckdb_read_what_pyarrow_would_have_written(tmp_path: Path, n: int) -> None:
    block = _block(n, n)
    data, written = curves.sealed_file([block])
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.created_by == "gitvault"  # written plainly
    expected = pl.from_arrow(curves.table([block]))
    assert pl.read_parquet(io.BytesIO(data)).equals(expected)
    assert pl.from_arrow(pq.read_table(pa.BufferReader(data))).equals(expected)
    assert pq.read_schema(pa.BufferReader(data)).types == [pa.int64(), pa.float32()] + [pa.float64()] * 3
    path = tmp_path / "curves.parquet"
    path.write_bytes(data)
    rows, steps, accs, sparse = duckdb.sql(
        f"select count(*), sum(step), count(acc), count(\"ö val-loss\") from '{path}'").fetchall()[0]
    assert (rows, steps, accs, sparse) == (n, int(block["steps"].sum()), int(block["valid"]["acc"].sum()), 1)
    assert written.points == curve_points(curves.table([block]))
    assert written.names == ["loss", "acc", "ö val-loss"] and written.last_step == 3 * (n - 1)


def test_longer_tables_are_compressed_by_pyarrow() -> None:
    data, _ = curves.sealed_file([_block(PLAIN_ROWS + 1, 1)])
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.created_by != "gitvault"
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0).column(0).compression == "LZ4"


def test_the_writer_names_itself() -> None:
    data = plain_parquet.write(np.arange(3), np.zeros(3, np.float32), {})
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.created_by == "gitvault"


def test_a_mask_that_is_not_bool_is_read_as_one() -> None:
    data = plain_parquet.write(np.arange(3), np.zeros(3, np.float32),
                               {"x": (np.array([10.0, 20.0, 30.0]), np.array([1, 0, 1], np.uint8))})
    assert pq.read_table(pa.BufferReader(data)).column("x").to_pylist() == [10.0, None, 30.0]
