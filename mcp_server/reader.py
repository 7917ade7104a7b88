"""The server's one handle on the vault: a `gitvault.query.Query`, used by one tool call at a time.

Freshness without needless writes: the Query is opened with its default refresh behaviour, which
before each read compares `refs/vault/main` with the tip the caches were built for (a file read
and a ref lookup). While the vault stands still, nothing is written. Only when the vault moved (a
run was sealed, a tag added, a pull arrived) are the caches brought up to date incrementally from
the tree diff, exactly as any `git vault` read command does. The caches are derived data whose
content is a function of the vault tip, so this never changes what is true. Opening with
``refresh=False`` instead would make a long agent session go stale: a run that finishes during it
would vanish (its live spool is removed when it is sealed, and a stale cache does not have it).
Live runs are read from their spools on every call, so their newest flushed points show up without
any refresh.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Mapping

from mcp.types import CallToolResult

from gitvault.query import Query
from gitvault.query.worker import QueryWorker

from .shaping import error_text, tool_errors, tool_result


class VaultReader:
    """The query layer's `QueryWorker` (one thread owns the Query, calls are serialised) with MCP
    shaping: gitvault errors become ToolError, results strict JSON."""

    def __init__(self, store: str | Path | None) -> None:
        self.store = store
        self._worker = QueryWorker(store)

    def start(self) -> Future[str | None]:
        """Begin opening the vault (and refreshing its caches) on the worker thread, so the server
        answers the host's handshake at once even when a first cache build takes seconds; tool
        calls queue behind it. The future holds the error text when the vault cannot be opened
        (every tool then answers with that text until it can)."""
        return self._worker.run(self._start)

    def _start(self) -> str | None:
        try:  # no redirect_stdout here: it would race with the SDK claiming stdout for the protocol
            self._worker.query()
        except Exception as exc:  # noqa: BLE001 - reported to the agent on every call instead
            return error_text(exc)
        return None

    def close(self) -> None:
        self._worker.close()

    async def call(self, fn: Callable[[Query], Mapping[str, Any]]) -> CallToolResult:
        """``fn(query)`` on the worker thread, with gitvault errors turned into ToolError and the
        result shaped as strict JSON (`tool_result`). While serving, the SDK points fd 1 at
        stderr, so a stray print cannot corrupt the protocol stream."""
        return await asyncio.wrap_future(self._worker.run(lambda: self._run(fn)))

    def _run(self, fn: Callable[[Query], Mapping[str, Any]]) -> CallToolResult:
        with tool_errors():
            return tool_result(fn(self._worker.query()))
