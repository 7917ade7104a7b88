"""The one query layer: every front-end (CLI, MCP server, `git vault log`, TUI) reads through it.

Shapes follow the Extract seed's MCP tools (the contract is in the docstrings below), typed as
`TypedDict`s in `gitvault.query.shapes`. Sealed runs come from
the SQLite cache, running runs from their spools, curves from the Parquet blobs or spools, SQL from
the DuckDB catalog (one SELECT in a sandbox: `sql`).
For views: `runs` (a filter and sort language, `gitvault.query.filter`; pages with stable cursors),
`history` (commits with their runs, `gitvault.query.history`), `changes` (what changed since a
token, `gitvault.query.changes`) and a run's files and images (`files`, `file`: `gitvault.query.files`). Writes: `tag`, `untag`, `note`, `rename`, `mark`, `archive`,
`archive_experiment`, `delete` and `restore` (runs, experiments, TODOs), `add_todo`, `todo_done`,
`todo_priority` and `apply` (undo, redo), one vault commit each (`gitvault.query.writes`,
`gitvault.runs.edits`).
"""

from __future__ import annotations

from typing import Any

from gitvault.errors import QueryError, VaultError
from gitvault.cache.state import flatten
from gitvault.query.base import MAX_LIMIT
from gitvault.query.changes import ChangeQueries
from gitvault.query.compare import CompareQueries, config_diffs
from gitvault.query.downsample import downsample
from gitvault.query.files import FileQueries
from gitvault.query.history import HistoryQueries
from gitvault.query.lineage import LineageQueries
from gitvault.query.runs import FILTERS, RunQueries, rank
from gitvault.query.writes import WriteQueries

__all__ = ["FILTERS", "MAX_LIMIT", "Query", "VaultQuery", "config_diffs", "downsample", "flatten", "rank"]


class Query(HistoryQueries, FileQueries, RunQueries, CompareQueries, LineageQueries, ChangeQueries, WriteQueries):
    """``Query(root=None, refresh=True, tip=None)``: root is None (cwd), any path in the repository,
    its ``.extract`` folder, a `Store` or a `Vault`. With ``refresh`` the caches are brought up to
    the vault's tip on open and before every call (cheap when current); ``tip``, the tip the caller
    has just read, saves asking git for it on open. Use as a context manager or call ``close()``."""

    def __enter__(self) -> "Query":
        return self

    def sql(self, text: str) -> Any:
        """Run one SELECT on the DuckDB catalog in a sandbox (`gitvault.query.sql`: read-only, no
        file outside the catalog and its blobs, configuration locked); a polars DataFrame.
        Refused statements and bad SQL raise `QueryError` (DuckDB's message for the latter)."""
        from gitvault.cache import duckdb_catalog
        from gitvault.query import sql as user_sql

        if not isinstance(text, str) or not text.strip():
            raise QueryError("sql needs the text of a query, e.g. SELECT * FROM catalog")
        with self._lock:
            if (not self.caches.duckdb_path.exists() or self._stale
                    or (self.auto_refresh and self._tip() != self._fresh_at)):
                self._refresh_now()
            try:
                con = duckdb_catalog.sandbox(self.caches.duckdb_path, [self.caches.blobs.root],
                                             live=self.live_states())
            except duckdb_catalog.DuckDBBusy as exc:
                raise VaultError(f"{self.caches.duckdb_path} is held by another process ({exc}); try again") from None
        try:
            return user_sql.run(con, text)
        finally:
            con.close()


class VaultQuery:
    """The Specimen Vault seed's API: ``VaultQuery().search(sql)`` -> polars DataFrame."""

    def __init__(self, root: Any = None, refresh: bool = True) -> None:
        self.query = Query(root, refresh=refresh)

    def search(self, sql: str) -> Any:
        return self.query.sql(sql)

    def close(self) -> None:
        self.query.close()

    def __enter__(self) -> "VaultQuery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


