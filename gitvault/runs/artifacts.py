"""Run artifacts as blobs, and reading them back.

| kind      | written by                      | blob                                   | read back as            |
|-----------|---------------------------------|----------------------------------------|-------------------------|
| "matrix"  | ``log_table`` (Extract)         | ``.npy`` (no pickles)                  | numpy array             |
| "text"    | ``log_text`` (Extract)          | UTF-8 markdown                         | str                     |
| "metrics" | ``write_metrics`` (Specimen)    | Parquet (zstd)                         | polars DataFrame        |
| "tensor"  | ``write_tensors`` (Specimen)    | a Zarr v3 array inside a zip file      | lazy read-only zarr.Array |
| "file", "image" | ``log_file``, ``log_image``, ``log_figure`` (`gitvault.runs.media`) | the file's bytes, PNG | a verified path |

A tensor blob is opened in place with zarr's ``ZipStore`` in read mode, so slicing one row of a
huge tensor reads only the chunks it touches.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from gitvault import extras
from gitvault.storage import codec
from gitvault.storage.blobs import BlobStore
from gitvault.names import check_name
from gitvault.storage.vault import new_id

if TYPE_CHECKING:
    import polars as pl

KINDS = ("matrix", "text", "metrics", "tensor", "file", "image")
TENSOR_CHUNK_BYTES = 1 << 20


def check_json(value: Any, what: str) -> Any:
    """``value`` as JSON would keep it (NaN/inf allowed), or a TypeError naming ``what``."""
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serializable (str, int, float, bool, None, list, dict): {exc}") from None


def entry(name: str, kind: str, blob: str, *, step: int | None = None, shape: list[int] | None = None,
          dtype: str | None = None, metadata: dict[str, Any] | None = None, size: int | None = None) -> dict[str, Any]:
    """An artifact entry of a run record; ``size`` (the blob's bytes) is recorded for files and
    images (`gitvault.runs.media`), where `git vault fsck` checks it."""
    item = {
        "id": new_id(), "name": name, "kind": kind, "step": step, "blob": blob,
        "shape": shape, "dtype": dtype, "metadata": metadata or {}, "created_at": codec.utc_now(),
    }
    if size is not None:
        item["size"] = size
    return item


def check_step(step: object) -> int | None:
    if step is None:
        return None
    if type(step) is bool or not isinstance(step, (int, np.integer)):
        raise TypeError(f"step must be a non-negative int or None, got {type(step).__name__} {step!r}")
    if int(step) < 0 or int(step) >= 2**63:
        raise ValueError(f"step must be between 0 and 2**63-1, got {step}")
    return int(step)


def table_array(data: object) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype.hasobject:
        raise TypeError("log_table needs a numeric/bool/str numpy array; object arrays cannot be stored without pickle")
    return arr


def npy_bytes(arr: np.ndarray) -> bytes:
    sink = io.BytesIO()
    np.save(sink, arr, allow_pickle=False)
    return sink.getvalue()


def _is_polars_frame(data: object) -> TypeGuard[pl.DataFrame]:
    """Without importing polars for a caller who never did (it made no polars object then)."""
    if not type(data).__module__.startswith("polars"):
        return False
    import polars as pl

    return isinstance(data, pl.DataFrame)


def parquet_frame(data: object) -> Any:
    """A dict of columns or a polars DataFrame, checked, as a pyarrow Table."""
    import pyarrow as pa

    if _is_polars_frame(data):
        tbl = data.to_arrow()
    elif isinstance(data, dict):
        if not data:
            raise ValueError("write_metrics needs at least one column")
        lengths = {}
        for key, col in data.items():
            check_name(key, "metrics column name", allow_slash=True)
            try:
                lengths[key] = len(col)
            except TypeError:
                raise TypeError(f"metrics column {key!r} must be a list or array, got {type(col).__name__}") from None
        if len(set(lengths.values())) > 1:
            raise ValueError(f"metrics columns have different lengths {lengths}; give every column the same length")
        try:
            tbl = pa.table({k: (np.asarray(v) if isinstance(v, np.ndarray) else list(v)) for k, v in data.items()})
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TypeError(f"write_metrics could not store these columns: {exc}") from None
    else:
        raise TypeError(f"write_metrics needs a dict of columns or a polars.DataFrame, got {type(data).__name__}")
    for col in tbl.column_names:
        check_name(col, "metrics column name", allow_slash=True)
    return tbl


def parquet_bytes(tbl: Any) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(tbl, sink, compression="zstd")
    return sink.getvalue()


def default_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Whole trailing dims, as many leading rows as fit in ~1 MiB."""
    if not shape:
        return ()
    row_bytes = max(1, itemsize * math.prod(shape[1:]))
    rows = max(1, min(shape[0], TENSOR_CHUNK_BYTES // row_bytes))
    return (rows, *[max(1, d) for d in shape[1:]])


def put_tensor(blobs: BlobStore, arr: np.ndarray, chunks: tuple[int, ...] | None) -> str:
    """Write ``arr`` as a Zarr v3 array into a zip file, store it as one blob."""
    extras.require("tensors", "tensors (Zarr)")
    import zarr
    from zarr.storage import ZipStore

    if chunks is None:
        chunks = default_chunks(arr.shape, arr.dtype.itemsize)
    else:
        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != arr.ndim or any(c < 1 for c in chunks):
            raise ValueError(f"chunks {chunks} must give one positive size per dimension of shape {arr.shape}")
    blobs.root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tensor-", suffix=".zip", dir=blobs.root)
    os.close(fd)
    os.unlink(tmp_name)
    try:
        store = ZipStore(tmp_name, mode="w")
        try:
            z = zarr.create_array(store=store, shape=arr.shape, chunks=chunks, dtype=arr.dtype)
            z[...] = arr
        finally:
            store.close()
        return blobs.put_file(tmp_name)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


# -- read back ---------------------------------------------------------------------------------


def load_table(blobs: BlobStore, sha: str) -> np.ndarray:
    with blobs.open(sha) as fh:
        return np.load(fh, allow_pickle=False)


def load_text(blobs: BlobStore, sha: str) -> str:
    return blobs.read_bytes(sha).decode("utf-8")


def load_metrics(blobs: BlobStore, sha: str) -> Any:
    import polars as pl

    blobs.open(sha).close()  # a clear error when missing
    return pl.read_parquet(blobs.path(sha))


def open_tensor(blobs: BlobStore, sha: str) -> Any:
    """A lazy read-only zarr array over the blob; only sliced chunks are read."""
    extras.require("tensors", "tensors (Zarr)")
    import zarr
    from zarr.storage import ZipStore

    blobs.open(sha).close()
    return zarr.open_array(store=ZipStore(blobs.path(sha), mode="r"), mode="r")


def latest(artifacts: list[dict[str, Any]], name: str, kind: str, step: int | None = None, *, any_step: bool = False) -> dict[str, Any] | None:
    found = None
    for a in artifacts:
        if a.get("name") == name and a.get("kind") == kind and (any_step or a.get("step") == step):
            found = a
    return found
