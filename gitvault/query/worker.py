"""One thread that owns a `Query` and its SQLite and DuckDB connections, for threaded front-ends
(the MCP server, the TUI).

SQLite connections belong to the thread that opened them, and a front-end's event loop must not
block on a cache build or a slow query. A `QueryWorker` opens the Query on its thread (lazily,
retrying on each call until the vault exists) and runs every call there, one at a time: calls
are serialised and always see the thread that opened the connections.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from gitvault.query import Query

T = TypeVar("T")


class QueryWorker:
    def __init__(self, store: str | Path | None, thread_name: str = "gitvault-query", refresh: bool = True) -> None:
        """``refresh``: as `Query`'s (False: the caches are read as they are, never written)."""
        self.store = store
        self.refresh = refresh
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._query: Query | None = None

    def submit(self, fn: Callable[[Query], T]) -> Future[T]:
        """``fn(query)`` on the worker thread; the future holds its result or its exception."""
        return self._pool.submit(lambda: fn(self.query()))

    def run(self, fn: Callable[[], T]) -> Future[T]:
        """``fn()`` on the worker thread (it may call `query`, which opens the Query if needed)."""
        return self._pool.submit(fn)

    def open(self) -> None:
        """Open the Query now (its caches brought up to date), so that a missing repository or
        vault is raised here, as one error, before a front-end starts; the worker is closed then."""
        try:
            self.submit(lambda q: q.opened).result()
        except BaseException:
            self.close()
            raise

    def query(self) -> Query:
        """The worker's Query, opened on first use. Call it on the worker thread only."""
        if self._query is None:
            self._query = Query(self.store, refresh=self.refresh)
        return self._query

    def close(self) -> None:
        """Close the Query on its thread, then stop the thread."""
        self._pool.submit(self._close).result()
        self._pool.shutdown()

    def _close(self) -> None:
        if self._query is not None:
            self._query.close()
        self._query = None

