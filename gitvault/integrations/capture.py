"""`capture_config`: any framework's config object as a plain nested dict a run accepts.

Every adapter calls it on what its framework hands over (``Trainer.log_hyperparams(params)``,
``TrainingArguments``, a Hydra ``DictConfig``, an Optuna trial's params, ``wandb.config.update(x)``)
and passes the result as the run's config::

    from gitvault.integrations.capture import capture_config
    config = capture_config(hparams)          # always a dict of str keys; never raises on a value

The rules (docs/sdk.md, "Framework integrations"): the nested structure is kept and nothing is
truncated or dropped; argparse ``Namespace`` -> its attributes; dataclasses -> their fields
(recursively); pydantic models -> ``model_dump()`` (v1: ``dict()``); OmegaConf ``DictConfig`` /
``ListConfig`` -> containers, resolved, an interpolation that cannot be resolved (e.g.
``${hydra.job.num}`` outside a multirun) or a ``???`` value kept as its text; objects with a
``to_dict()`` returning a mapping (transformers ``TrainingArguments``, ``PretrainedConfig``) -> that
mapping; mappings -> dicts with ``str`` keys; lists, tuples and sets -> lists; numpy / torch / jax
scalars -> Python numbers; arrays of up to `MAX_ARRAY_ITEMS` items -> nested lists (a larger one
becomes a one-line description, with a warning); ``Path`` -> ``str``; enums -> their value;
datetimes -> ISO 8601 text; NaN and infinities stay floats (the SDK stores them as they are);
integers that do not fit in 64 bits -> text; callables and classes -> ``module.qualname``; any
other object -> its ``repr``, without memory addresses (``<X object at 0x7f..>`` becomes
``<X object>``, so equal configs stay equal across processes). A reference cycle becomes the text ``<cycle>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import enum
import math
import numbers
import re
import warnings
from collections.abc import Mapping, Set
from pathlib import PurePath
from typing import Any

MAX_ARRAY_ITEMS = 10_000
"""Arrays (numpy, torch, jax) up to this many items become lists in a config; larger ones are
described in one line and named in a warning (store them with ``run.log_table`` instead)."""

_INT_RANGE = (-(1 << 63), 1 << 64)  # what the record codec (msgpack) holds
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def capture_config(obj: object) -> dict[str, Any]:
    """``obj`` (a mapping, ``Namespace``, dataclass, pydantic model, OmegaConf config, an object
    with ``to_dict()``, or None) as a dict of JSON values a run's config accepts. A top-level value
    that is none of these (a list, a number) raises TypeError naming its type."""
    if obj is None:
        return {}
    value = _convert(obj, set())
    if not isinstance(value, dict):
        raise TypeError(f"a config must be a mapping, argparse.Namespace, dataclass, pydantic model or OmegaConf "
                        f"DictConfig, got {type(obj).__name__}; wrap it in a dict, e.g. {{'values': ...}}")
    return value


def _convert(value: Any, active: set[int]) -> Any:
    """One value, recursively; ``active`` holds the ids of the containers being converted (cycles)."""
    if isinstance(value, enum.Enum):  # first: a StrEnum is a str, an IntEnum an int
        return _convert(value.value, active)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(str(value))
    if isinstance(value, int):
        return int(value) if _INT_RANGE[0] <= value < _INT_RANGE[1] else str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return _text(bytes(value).decode("utf-8", "backslashreplace"))
    if isinstance(value, type) or _is_function(value):
        return _qualified(value)
    if id(value) in active:
        return "<cycle>"
    active.add(id(value))
    try:
        return _convert_object(value, active)
    finally:
        active.discard(id(value))


def _convert_object(value: Any, active: set[int]) -> Any:
    module = type(value).__module__ or ""
    if module.startswith("omegaconf"):
        return _omegaconf(value, active)
    if isinstance(value, Mapping):
        return _mapping(value, active)
    if isinstance(value, argparse.Namespace):
        return _mapping(vars(value), active)
    if _is_array(value):
        return _array(value, active)
    if isinstance(value, (list, tuple)):
        return [_convert(v, active) for v in value]
    if isinstance(value, Set):
        items = [_convert(v, active) for v in value]
        return sorted(items, key=repr)  # a set has no order; sorted, so equal sets store equal lists
    dumped = _dumped(value)
    if dumped is not None:
        return _convert(dumped, active)
    if dataclasses.is_dataclass(value):
        return {f.name: _convert(getattr(value, f.name, None), active) for f in dataclasses.fields(value)}
    if isinstance(value, numbers.Integral):
        return _convert(int(value), active)
    if isinstance(value, numbers.Real):
        return float(value)
    if callable(value):
        return _qualified(value)
    return _readable(value)


def _mapping(value: Mapping[Any, Any], active: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        converted = key if isinstance(key, str) else _convert(key, active)
        name = converted if isinstance(converted, str) else (
            repr(key) if isinstance(converted, (list, dict)) else str(converted))
        if name in out:  # 1 and "1": keep both, the second under its repr
            name = repr(key)
        out[_text(name)] = _convert(item, active)
    return out


def _text(value: str) -> str:
    """Text the record codec stores: an unpaired surrogate becomes its escape."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_function(value: Any) -> bool:
    return callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__")


def _qualified(value: Any) -> str:
    """``module.qualname`` of a function or class (Lightning keeps ``__name__``; the module says
    which ``Adam`` it was)."""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if name is None:
        return _readable(value)
    module = getattr(value, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


def _readable(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not fail the run
        return f"<{_qualified(type(value))}: repr failed: {exc}>"
    return _text(_ADDRESS.sub("", text))


def _is_array(value: Any) -> bool:
    """numpy, torch and jax arrays and scalars (anything with ``tolist`` and a ``shape``)."""
    return callable(getattr(value, "tolist", None)) and hasattr(value, "shape")


def _array(value: Any, active: set[int]) -> Any:
    size = math.prod(int(n) for n in value.shape)
    if size > MAX_ARRAY_ITEMS:
        dtype = getattr(value, "dtype", "?")
        shape = "x".join(str(int(n)) for n in value.shape)
        text = f"<{type(value).__name__} {shape} {dtype}: {size} items, too large for a config>"
        warnings.warn(f"gitvault: a config value is an array of {size} items (more than {MAX_ARRAY_ITEMS}); "
                      f"it is stored as {text!r}: store the array itself with run.log_table(name, array)",
                      UserWarning, stacklevel=4)
        return text
    if hasattr(value, "detach"):  # a torch tensor that requires grad refuses tolist()
        value = value.detach().cpu()
    return _convert(value.tolist(), active)


def _dumped(value: Any) -> Mapping[Any, Any] | None:
    """The mapping a pydantic model or an object with ``to_dict()`` gives of itself, or None."""
    for method in ("model_dump", "to_dict", "dict"):
        if method == "dict" and not hasattr(type(value), "__fields__"):  # pydantic v1 only
            continue
        fn = getattr(value, method, None)
        if not callable(fn) or isinstance(value, type):
            continue
        try:
            out = fn()
        except Exception:  # noqa: BLE001 - a to_dict() that fails: the next rule applies
            continue
        if isinstance(out, Mapping):
            return out
    return None


def _omegaconf(value: Any, active: set[int]) -> Any:
    """A DictConfig or ListConfig, resolved; a value that cannot be resolved (or a ``???``) keeps
    its text. Structured configs come out as plain containers."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if not isinstance(value, (DictConfig, ListConfig)):
        return _readable(value)
    try:
        return _convert(OmegaConf.to_container(value, resolve=True, throw_on_missing=True), active)
    except Exception:  # noqa: BLE001 - some interpolation fails: resolve node by node instead
        pass
    raw = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, DictConfig):
        assert isinstance(raw, dict)
        return {str(key): _node(value, key, raw[key], active) for key in raw}
    assert isinstance(raw, list)
    return [_node(value, index, raw[index], active) for index in range(len(raw))]


def _node(parent: Any, key: Any, raw: Any, active: set[int]) -> Any:
    try:
        item = parent[key]
    except Exception:  # noqa: BLE001 - unresolvable interpolation, missing value: keep the text
        return _convert(raw, active)
    return _convert(item, active)
