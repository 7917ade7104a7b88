"""JSON shaping for MCP tool results: strict-JSON numbers, the listing envelope, error texts.

Non-finite floats are encoded as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (the
spellings of JavaScript and JSON5), because strict JSON parsers reject bare ``NaN``. ``None`` stays
``null``, so an agent can tell "no value" from "the value was NaN".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from gitvault.errors import VaultError

HARD_LIMIT = 500


def json_safe(value: Any) -> Any:
    """``value`` with every leaf made strict-JSON-safe (see the module docstring)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    if hasattr(value, "tolist"):  # numpy arrays
        return json_safe(value.tolist())
    return str(value)


def clamp_limit(limit: int) -> tuple[int, bool]:
    """The limit to use and whether it was clamped to the hard cap of 500."""
    if type(limit) is not int or limit < 1:
        raise ToolError(f"limit must be a positive integer (1..{HARD_LIMIT}; larger values are clamped to "
                        f"{HARD_LIMIT}), got {limit!r}")
    return (HARD_LIMIT, True) if limit > HARD_LIMIT else (limit, False)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn gitvault's user errors into the SDK's ToolError so their text reaches the agent verbatim
    (any other exception reaches it only as a generic "Error executing tool <name>")."""
    try:
        yield
    except ToolError:
        raise
    except (VaultError, ValueError, KeyError, TypeError, LookupError) as exc:
        raise ToolError(error_text(exc)) from exc


def error_text(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and not isinstance(exc, VaultError) and exc.args:
        text = str(exc.args[0])
    return text or type(exc).__name__
