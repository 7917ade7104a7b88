"""A small curves table as a Parquet file written directly: one row group, one uncompressed PLAIN
page per column, nulls as definition levels.

pyarrow's writer spends ~0.15-0.25 ms setting up each file, most of the cost of sealing a short
run (a sweep of 100-step runs); writing the few hundred bytes of Thrift metadata here costs a
tenth of that. Columns: ``step`` INT64, ``wall_time`` FLOAT, one DOUBLE per curve, all OPTIONAL,
as pyarrow writes them; pyarrow, polars and DuckDB read the result (tests hold us to that).
"""

from __future__ import annotations

import struct

import numpy as np

_I32, _I64, _BINARY, _LIST, _STRUCT = 5, 6, 8, 9, 12
_INT64, _FLOAT, _DOUBLE = 2, 4, 5  # parquet physical types
_OPTIONAL, _PLAIN, _RLE, _UNCOMPRESSED, _DATA_PAGE = 1, 0, 3, 0, 0


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


# A Thrift value: an integer (_I32, _I64), bytes (_BINARY, or an encoded _STRUCT), or a _LIST as
# (element type, elements)
_Value = int | bytes | tuple[int, list[int] | list[bytes]]


def _struct(*fields: tuple[int, int, _Value]) -> bytes:
    """A Thrift compact struct of (field id, type, value) in ascending id order."""
    out, last = bytearray(), 0
    for fid, kind, value in fields:
        out.append(((fid - last) << 4) | kind)
        last = fid
        if isinstance(value, int):
            out += _zigzag(value)
        elif isinstance(value, bytes):
            out += value if kind == _STRUCT else _varint(len(value)) + value
        else:
            elem, items = value
            out.append((len(items) << 4) | elem if len(items) < 15 else 0xF0 | elem)
            if len(items) >= 15:
                out += _varint(len(items))
            for item in items:
                out += _zigzag(item) if isinstance(item, int) else (
                    _varint(len(item)) + item if elem == _BINARY else item)
    out.append(0)
    return bytes(out)


def _levels(valid: np.ndarray | None, n: int) -> bytes:
    """Definition levels (bit width 1), RLE/bit-packed hybrid, with their 4-byte length."""
    if valid is None:
        body = _varint(n << 1) + b"\x01"
    else:
        groups = (n + 7) // 8
        body = _varint((groups << 1) | 1) + np.packbits(valid, bitorder="little").tobytes()
    return struct.pack("<I", len(body)) + body


def write(steps: np.ndarray, wall: np.ndarray, columns: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> bytes:
    """The Parquet file of one wide curves table (see `curves.wide`)."""
    n = int(steps.shape[0])
    specs: list[tuple[str, int, np.ndarray, np.ndarray | None]] = [
        ("step", _INT64, steps.astype("<i8", copy=False), None),
        ("wall_time", _FLOAT, wall.astype("<f4", copy=False), None)]
    specs += [(name, _DOUBLE, values.astype("<f8", copy=False), None if valid is None else np.asarray(valid, bool))
              for name, (values, valid) in columns.items()]
    out = bytearray(b"PAR1")
    chunks: list[bytes] = []
    schema = [_struct((4, _BINARY, b"schema"), (5, _I32, len(specs)))]
    for name, kind, values, valid in specs:
        data = (values if valid is None else values[valid]).tobytes()
        page = _levels(valid, n) + data
        header = _struct((1, _I32, _DATA_PAGE), (2, _I32, len(page)), (3, _I32, len(page)),
                         (5, _STRUCT, _struct((1, _I32, n), (2, _I32, _PLAIN), (3, _I32, _RLE), (4, _I32, _RLE))))
        offset, size = len(out), len(header) + len(page)
        out += header + page
        encoded = name.encode("utf-8")
        meta = _struct((1, _I32, kind), (2, _LIST, (_I32, [_PLAIN, _RLE])), (3, _LIST, (_BINARY, [encoded])),
                       (4, _I32, _UNCOMPRESSED), (5, _I64, n), (6, _I64, size), (7, _I64, size), (9, _I64, offset))
        chunks.append(_struct((2, _I64, offset), (3, _STRUCT, meta)))
        schema.append(_struct((1, _I32, kind), (3, _I32, _OPTIONAL), (4, _BINARY, encoded)))
    group = _struct((1, _LIST, (_STRUCT, chunks)), (2, _I64, len(out) - 4), (3, _I64, n))
    footer = _struct((1, _I32, 1), (2, _LIST, (_STRUCT, schema)), (3, _I64, n), (4, _LIST, (_STRUCT, [group])),
                     (6, _BINARY, b"gitvault"))
    out += footer + struct.pack("<I", len(footer)) + b"PAR1"
    return bytes(out)
