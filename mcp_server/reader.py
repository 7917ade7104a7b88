"""The server's one handle on the vault: a `gitvault.query.Query`, used by one tool call at a time.

The server writes no file (README, docs/security.md): the Query is opened with ``refresh=False``,
so it reads the caches in ``.extract/`` as they are and never brings them up to date, and nothing
under ``.extract/`` or the git directory is created, changed or removed by a session
(`tests/test_day_one_mcp.py` checks every file's size and mtime). Before each call the reader
asks whether the caches hold the vault's tip (a file read and a ref lookup):

- current: the answer is read from them, the SQLite file opened ``immutable`` while its WAL holds
  nothing (no lock, no ``-shm`` index written; reopened whenever the files change), else as any
  `git vault` read command opens it;
- stale (a run was sealed, a tag added, a pull arrived since they were built): the answer is read
  from them as they are, around them for the runs sealed since (read from the vault itself:
  `gitvault.query.around`, so a run that finished during a session does not vanish), and carries
  ``note``, saying what may be missing and which command brings the caches up to date (any
  `git vault` command does; the next call then reads the new caches);
- not built at all: the call fails with one line naming the command that builds them.

Running runs are read from their spools on every call (each call reading only what a spool
appended since the one before), so their newest flushed points show up without any cache update.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Mapping

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from gitvault.query import Query
from gitvault.query.worker import QueryWorker

from .shaping import error_text, tool_errors, tool_result


def stale_note(q: Query) -> str | None:
    """None when the caches hold the vault's tip; else what an answer read from them may lack,
    and the command that updates them. Raises ToolError when there are no caches to read."""
    caches = q.caches
    where = q.paths.work_tree or q.paths.common_dir
    if not caches.sqlite_path.exists():
        raise ToolError(f"the caches of {where} are not built yet and this server writes no file: run "
                        f"`git vault reindex` in {where} (any `git vault` command builds them), then call again")
    if not caches.stale_path.exists() and caches.is_current():
        return None
    sealed = len(q.sealed_since())
    built = q.sealed_since_built_at()[:10]
    since = f" (built at vault commit {built})" if built else ""
    read = (f"; the {sealed} run(s) sealed since are read from the vault itself" if sealed else "")
    return (f"the caches{since} are behind the vault{read}, but tags, notes, TODOs, models and commit links "
            f"added since may be missing here. This server writes no file; any `git vault` command in {where}, "
            f"e.g. `git vault runs`, brings the caches up to date for the next call")


class VaultReader:
    """The query layer's `QueryWorker` (one thread owns the Query, calls are serialised) with MCP
    shaping: gitvault errors become ToolError, results strict JSON, stale caches noted."""

    def __init__(self, store: str | Path | None) -> None:
        self.store = store
        self._worker = QueryWorker(store, refresh=False)

    def start(self) -> Future[str | None]:
        """Begin opening the vault on the worker thread, so the server answers the host's
        handshake at once; tool calls queue behind it. The future holds the error text when the
        vault cannot be opened (every tool then answers with that text until it can)."""
        return self._worker.run(self._start)

    def _start(self) -> str | None:
        try:  # no redirect_stdout here: it would race with the SDK claiming stdout for the protocol
            self._worker.query().writes_nothing = True
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
            q = self._worker.query()
            q.writes_nothing = True
            note = stale_note(q)
            result = fn(q)
            return tool_result({**result, "note": note} if note else result)
