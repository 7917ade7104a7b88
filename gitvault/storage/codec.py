"""The one record codec: deterministic msgpack.

Keys are sorted at every level, tuples become lists, times are UTC ISO-8601 strings, so equal
content always gives equal bytes and therefore equal git blobs. Decoding keeps every field,
including ones this version does not know, so a rewritten record never loses data.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import msgpack

from gitvault.storage import schema
from gitvault.errors import CorruptRecordError, InvalidRecordError

SCHEMA_VERSION = 1


def utc_now() -> str:
    """The current time as UTC ISO-8601 with microseconds and a ``Z`` suffix."""
    return iso_utc(_dt.datetime.now(_dt.timezone.utc))


def iso_utc(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, bytes)):
        return value
    if isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 64):
            raise ValueError(f"{where}: the integer {value} does not fit in 64 bits; store it as a str or float")
        return value
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"{where}: the text holds an unpaired surrogate at position {exc.start}; "
                                 "it cannot be stored as UTF-8") from None
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        out = {}
        for key in sorted(value, key=_key_order(where)):
            if not isinstance(key, str):
                raise TypeError(f"{where}: record keys must be strings, got {key!r}")
            out[key] = _canonical(value[key], f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, _dt.datetime):
        return iso_utc(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:  # numpy scalars
        return _canonical(value.item(), where)
    raise TypeError(
        f"{where}: cannot store a value of type {type(value).__name__}; "
        "use str, int, float, bool, None, list or dict (store arrays and files as blobs)"
    )


def _key_order(where: str):  # noqa: ANN202 - a key function
    def order(key: object) -> tuple[int, str]:
        if not isinstance(key, str):
            raise TypeError(f"{where}: record keys must be strings, got {key!r}")
        return (0, key)

    return order


def encode(record: dict[str, Any]) -> bytes:
    """Encode a record deterministically; adds ``schema`` when missing."""
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a dict, got {type(record).__name__}")
    body = dict(record)
    body.setdefault("schema", SCHEMA_VERSION)
    return msgpack.packb(_canonical(body, "record"), use_bin_type=True)


def decode(data: bytes, where: str = "record") -> dict[str, Any]:
    """Decode a record; raise `CorruptRecordError` naming ``where`` on any damage."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise CorruptRecordError(f"{where}: not valid msgpack ({exc}); run `git vault fsck`") from exc
    if not isinstance(value, dict):
        raise CorruptRecordError(f"{where}: expected a map, found {type(value).__name__}")
    found = schema.problem(value)
    if found is not None:
        raise InvalidRecordError(f"{where}: {found}; the record is quarantined (kept in the vault untouched, "
                                 "hidden from every view); `git vault fsck` lists it")
    return value


def is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
