"""JSON shaping for MCP tool results: strict JSON text, the listing cap, error texts.

Values are encoded by `gitvault.jsonsafe`, the one encoder of every surface: non-finite floats as
the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, ``None`` as ``null``, so an agent can tell
"no value" from "the value was NaN". Results are compact JSON (no indentation: an agent pays for
every whitespace token).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from gitvault import jsonsafe
from gitvault.errors import VaultError

HARD_LIMIT = 500

ToolResult = Annotated[CallToolResult, dict[str, Any]]
"""What every tool returns: a result built here, advertised to clients as a JSON object."""


def tool_result(value: Mapping[str, Any]) -> CallToolResult:
    """``value`` as the tool's text content (strict JSON) and as its structured content."""
    text = jsonsafe.dumps(value)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=json.loads(text))


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
