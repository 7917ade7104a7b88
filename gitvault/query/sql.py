"""User SQL (`git vault sql`, ``Query.sql``, ``VaultQuery.search``) in a sandbox.

Two walls:

1. The statement check: the text must parse (DuckDB's own parser) to exactly one statement, and
   that statement must be a SELECT (which includes ``WITH ... SELECT``, ``VALUES``, ``FROM ...``,
   ``TABLE``, ``DESCRIBE``, ``SUMMARIZE`` and ``SHOW``) or ``EXPLAIN`` of one. A second statement
   behind a ``;`` (a comment in between changes nothing) is refused, as are COPY, ATTACH,
   INSTALL/LOAD, SET, PRAGMA, CHECKPOINT, CALL, EXPORT and every write. For ``EXPLAIN`` only the
   plan of the SELECT it wraps is made (`duckdb.DuckDBPyRelation.explain`): ``EXPLAIN ANALYZE``,
   which runs its statement, is refused and could not be run here anyway. What runs is the parsed
   statement object, never the text re-read, and no user string is formatted into SQL.
2. The connection (`gitvault.cache.duckdb_catalog.sandbox`): the catalog attached read-only,
   external access disabled except for the blob store the views read (``allowed_directories``),
   no extension loading, and the configuration locked, so even a statement that got past (1)
   could read no file but the catalog and the blobs, write none outside the blob store, and undo
   none of the settings. (``allowed_paths`` naming each blob the views read would also keep writes
   out of the blob store, but DuckDB 2.0.1 takes ~85 us per path to set it: 0.85 s per query at
   10,000 runs.)
"""

from __future__ import annotations

from typing import Any

import duckdb

from gitvault.errors import QueryError

ALLOWED = ("allowed is one SELECT (also WITH ... SELECT, VALUES, DESCRIBE, SUMMARIZE, or EXPLAIN of a SELECT "
           "without ANALYZE) over catalog, exp_<specimen_id>, experiments, runs, metrics, params, tags, "
           "artifacts and curves")
SANDBOX = ("user SQL runs in a sandbox: it reads the catalog's tables and views and the vault's blob files only, "
           "and writes no file")
_ANALYZE = ("ANALYZE", "ANALYSE")


def run(con: duckdb.DuckDBPyConnection, text: str) -> Any:
    """``text`` on the sandboxed connection ``con``, as a polars DataFrame; `QueryError` for a
    refused statement (naming what is refused and what is allowed) or DuckDB's error."""
    statement, explain = checked(con, text)
    try:
        relation = con.sql(statement)
        if explain:
            import polars as pl

            return pl.DataFrame({"explain_key": ["physical_plan"], "explain_value": [relation.explain()]})
        return relation.pl()
    except duckdb.PermissionException as exc:
        raise QueryError(f"{_first_line(exc)} ({SANDBOX})") from None
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None


def checked(con: duckdb.DuckDBPyConnection, text: str) -> tuple[duckdb.Statement, bool]:
    """(the one SELECT statement to run, whether the user asked for its EXPLAIN); raises
    `QueryError` for anything else."""
    statements = _parse(con, text)
    if not statements:
        raise QueryError(f"no SQL statement in the text (only comments?); {ALLOWED}")
    if len(statements) > 1:
        raise QueryError(f"{len(statements)} SQL statements given, and only one may run (a ';' ends a statement, "
                         f"even after a comment); {ALLOWED}")
    statement = statements[0]
    kind = _kind(statement)
    if kind is duckdb.StatementType.SELECT:
        return statement, False
    if kind is duckdb.StatementType.EXPLAIN:
        inner = _explained(statement.query)
        wrapped = _parse(con, inner)
        if len(wrapped) == 1 and _kind(wrapped[0]) is duckdb.StatementType.SELECT:
            return wrapped[0], True
        kind_name = f"EXPLAIN {_leading_word(inner)}"
    else:
        kind_name = _leading_word(statement.query)
    hint = " (a PIVOT needs its values listed: PIVOT t ON c IN (...))" if kind is duckdb.StatementType.MULTI else ""
    raise QueryError(f"{kind_name} is refused: user SQL is read-only{hint}; {ALLOWED}")


def _parse(con: duckdb.DuckDBPyConnection, text: str) -> list[duckdb.Statement]:
    try:
        return list(con.extract_statements(text))
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None


def _kind(statement: duckdb.Statement) -> duckdb.StatementType | None:
    try:
        return statement.type
    except ValueError:  # a statement kind the Python client has no name for (e.g. UPDATE EXTENSIONS)
        return None


def _words(text: str) -> list[tuple[int, str]]:
    """(byte offset, text) of each token of ``text`` as DuckDB's tokenizer splits it, comments left out."""
    data = text.encode()
    found = duckdb.tokenize(text)  # (byte offset, token type)
    ends = [pos for pos, _ in found[1:]] + [len(data)]
    return [(pos, data[pos:end].decode().strip()) for (pos, kind), end in zip(found, ends)
            if kind != duckdb.token_type.comment]


def _leading_word(text: str) -> str:
    words = _words(text)
    return words[0][1].upper() if words else "an empty statement"


def _explained(query: str) -> str:
    """The statement an ``EXPLAIN`` wraps; ``EXPLAIN ANALYZE`` and ``EXPLAIN (options)`` are refused."""
    words = _words(query)
    if len(words) < 2:
        return ""
    start, second = words[1]
    if second.upper() in _ANALYZE:
        raise QueryError(f"EXPLAIN ANALYZE is refused: it runs the statement it explains; {ALLOWED}")
    if second.startswith("("):
        raise QueryError(f"EXPLAIN (options) is refused: an option may be ANALYZE, which runs the statement; {ALLOWED}")
    return query.encode()[start:].decode()


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
