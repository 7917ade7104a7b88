"""The one query layer: every front-end (CLI, MCP server, `git vault log`, TUI) reads through it.

Shapes follow the Extract seed's MCP tools; the contract is /work/notes/QUERY_API.md (also in
the docstrings below). Sealed runs come from the SQLite cache, running runs from their spools,
curves from the Parquet blobs or spools, SQL from the DuckDB catalog (read-only).
"""

from __future__ import annotations

from typing import Any

from gitvault.errors import QueryError
from gitvault.cache.state import flatten
from gitvault.query.base import MAX_LIMIT
from gitvault.query.compare import CompareQueries, config_diffs
from gitvault.query.downsample import downsample
from gitvault.query.lineage import LineageQueries
from gitvault.query.runs import FILTERS, RunQueries, rank

__all__ = ["FILTERS", "MAX_LIMIT", "Query", "VaultQuery", "config_diffs", "downsample", "flatten", "rank"]


class Query(RunQueries, CompareQueries, LineageQueries):
    """``Query(root=None, refresh=True)``: root is None (cwd), any path in the repository, its
    ``.extract`` folder, a `Store` or a `Vault`. With ``refresh`` the caches are brought up to the
    vault's tip on open and before every call (cheap when current). Use as a context manager or
    call ``close()``."""

    def __enter__(self) -> "Query":
        return self

    def sql(self, text: str) -> Any:
        """Run SQL on the DuckDB catalog (read-only connection); a polars DataFrame. Bad SQL
        raises `QueryError` carrying DuckDB's message."""
        import duckdb
        import polars as pl

        if not isinstance(text, str) or not text.strip():
            raise QueryError("sql needs the text of a query, e.g. SELECT * FROM catalog")
        with self._lock:
            if not self.caches.duckdb_path.exists() or (self.auto_refresh and self._tip() != self._fresh_at):
                self._refresh_now()
            con = self.caches.connect_duckdb(read_only=True)
        try:
            _check_read_only(con, text)
            relation = con.sql(text)
            return relation.pl() if relation is not None else pl.DataFrame()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        finally:
            con.close()


def _check_read_only(con: Any, text: str) -> None:
    """Exactly one SELECT (or EXPLAIN): COPY ... TO, SET, INSTALL, ATTACH and friends are refused,
    because the read-only connection alone does not stop them writing files or reaching the network."""
    import duckdb

    statements = con.extract_statements(text)
    if len(statements) != 1:
        raise QueryError(f"give exactly one SQL statement (got {len(statements)}); run them one at a time")
    kind = statements[0].type
    if kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        raise QueryError(f"only SELECT queries are allowed here (got {kind.name}); the caches are read-only "
                         "views of the vault")


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


