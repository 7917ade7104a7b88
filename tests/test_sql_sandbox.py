"""User SQL runs in a sandbox (issue 14, item 2): one SELECT (or EXPLAIN of one, never ANALYZE) on a
DuckDB connection whose external access is off except for the blob store the views read and
whose configuration is locked. Every attack is tried through the real `git vault sql` command,
through `gitvault.query` (`Query.sql`, `VaultQuery.search`) and against the sandboxed connection
itself with the statement check skipped; each is refused with one clear line and writes nothing.
The MCP server offers no SQL tool: SQL-shaped text in its arguments is data. Legitimate queries
over the catalog, the cross-run views, the curves and the `exp_<id>` views return the same rows
as the query API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from gitvault import QueryError

from gitvault.scaffold import demo
from gitvault.cache import Caches, duckdb_catalog
from gitvault.query import Query, VaultQuery
from gitvault.storage.vault import Vault
from tests.conftest import make_repo, vault_cmd, vault_run
from tests.test_mcp_client import McpClient, tree_hashes

SECRET = "TOP-SECRET-do-not-leak"


@dataclass
class World:
    root: Path
    outside: Path  # a folder outside the vault: holds the secret, must receive nothing
    secret: Path
    blobs: Path

    def fill(self, sql: str) -> str:
        return sql.format(out=self.outside / "written.csv", secret=self.secret, outside=self.outside,
                          blobs=self.blobs)

    def written(self) -> list[Path]:
        """Every file an attack could have left behind."""
        made = [p for p in self.outside.iterdir() if p != self.secret]
        return made + [p for p in (self.root / "relative.csv", self.root / "exported", self.blobs / "planted.csv")
                       if p.exists()]

    def state(self) -> dict[str, str]:
        return tree_hashes(self.root / ".git", self.root / ".extract")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = make_repo(tmp_path_factory.mktemp("sandbox") / "project", "demo")
    outside = tmp_path_factory.mktemp("outside")
    secret = outside / "secret.csv"
    secret.write_text(f"name,value\nkey,{SECRET}\n")
    blobs = Vault.open(root).paths.objects_dir
    vault_cmd(root, "sql", "SELECT 1", check=True)  # the caches exist before any state is compared
    return World(root, outside, secret, blobs)


# (id, SQL); {out}, {secret}, {outside} and {blobs} are filled in from the World
ATTACKS = [
    ("copy-to", "COPY (SELECT 42 AS x) TO '{out}'"),
    ("copy-to-relative", "COPY (SELECT 42 AS x) TO 'relative.csv'"),
    ("copy-into-the-blob-store", "COPY (SELECT 42 AS x) TO '{blobs}/planted.csv'"),
    ("copy-from", "COPY catalog FROM '{secret}'"),
    ("explain-analyze-copy", "EXPLAIN ANALYZE COPY (SELECT 42 AS x) TO '{out}'"),
    ("explain-analyse-after-comment", "EXPLAIN /* only the plan */ analyse COPY (SELECT 42 AS x) TO '{out}'"),
    ("explain-analyze-checkpoint", "EXPLAIN ANALYZE CHECKPOINT"),
    ("explain-analyze-option", "EXPLAIN (ANALYZE) COPY (SELECT 42 AS x) TO '{out}'"),
    ("explain-copy", "EXPLAIN COPY (SELECT 42 AS x) TO '{out}'"),
    ("read-csv", "SELECT * FROM read_csv('{secret}')"),
    ("read-csv-auto", "SELECT * FROM '{secret}'"),
    ("read-text", "SELECT content FROM read_text('{secret}')"),
    ("read-blob", "SELECT content FROM read_blob('{secret}')"),
    ("glob", "SELECT * FROM glob('{outside}/*')"),
    ("sniff-csv", "SELECT * FROM sniff_csv('{secret}')"),
    ("out-of-the-blob-store", "SELECT content FROM read_text('{blobs}/../../config')"),
    ("query-function", "SELECT * FROM query('SELECT content FROM read_text(''{secret}'')')"),
    ("attach", "ATTACH '{out}' AS other"),
    ("install", "INSTALL httpfs"),
    ("load", "LOAD httpfs"),
    ("set-external-access", "SET enable_external_access = true"),
    ("unlock", "SET lock_configuration = false"),
    ("reset", "RESET enable_external_access"),
    ("set-threads", "SET threads = 1"),
    ("pragma", "PRAGMA version"),
    ("checkpoint", "CHECKPOINT"),
    ("export", "EXPORT DATABASE '{outside}/exported'"),
    ("create", "CREATE TABLE t AS SELECT 1"),
    ("delete", "DELETE FROM catalog"),
    ("use", "USE memory"),
    ("two-statements", "SELECT 1; COPY (SELECT 42 AS x) TO '{out}'"),
    ("comment-hidden-second-statement", "SELECT 1 -- only one statement here\n; COPY (SELECT 42 AS x) TO '{out}'"),
    ("block-comment-hidden-second-statement", "SELECT 1 /* ; */; /* and */ COPY (SELECT 42 AS x) TO '{out}'"),
]


def check_refusal(message: str) -> None:
    """One line that names what is refused and what is allowed."""
    assert "\n" not in message.strip(), message
    assert SECRET not in message
    if "is refused" in message or "statements given" in message:
        assert "allowed is one SELECT" in message, message
    else:
        assert "Permission Error" in message and "sandbox" in message and "reads the catalog" in message, message


@pytest.mark.parametrize("sql", [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_the_sql_command_refuses_the_attack_and_writes_nothing(world: World, sql: str) -> None:
    proc = vault_run(world.root, "sql", world.fill(sql))  # in-process: the real parser, command and error line
    assert proc.returncode != 0, proc.stdout
    assert proc.stderr.startswith("git vault: error: ") and "Traceback" not in proc.stderr, proc.stderr
    check_refusal(proc.stderr)
    assert SECRET not in proc.stdout
    assert world.written() == []


def test_query_sql_and_vaultquery_search_refuse_every_attack(world: World) -> None:
    before = world.state()
    with Query(world.root) as q, VaultQuery(world.root) as vq:
        for name, sql in ATTACKS:
            for run in (q.sql, vq.search):
                with pytest.raises(QueryError) as caught:
                    run(world.fill(sql))
                check_refusal(str(caught.value))
            assert world.written() == [], name
        assert q.sql("SELECT count(*) AS n FROM catalog")["n"][0] == 3  # still usable afterwards
    assert world.state() == before


@pytest.fixture
def sandboxed(world: World) -> Iterator[duckdb.DuckDBPyConnection]:
    caches = Caches(Vault.open(world.root))
    con = duckdb_catalog.sandbox(caches.duckdb_path, [caches.blobs.root])
    yield con
    con.close()
    caches.close()


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 42 AS x) TO '{out}'", "EXPLAIN ANALYZE COPY (SELECT 42 AS x) TO '{out}'",
    "SELECT * FROM read_csv('{secret}')", "SELECT * FROM read_text('{secret}')", "SELECT * FROM glob('{outside}/*')",
    "ATTACH '{out}' AS other", "INSTALL httpfs", "EXPORT DATABASE '{outside}/exported'",
    "SET enable_external_access = true", "SET lock_configuration = false", "RESET lock_configuration",
    "SET allowed_directories = ['/']", "SET allowed_paths = ['{secret}']",
])
def test_the_connection_alone_stops_what_the_statement_check_would(world: World, sandboxed: duckdb.DuckDBPyConnection,
                                                                   sql: str) -> None:
    """The second wall: the statement check is skipped here, the connection still refuses. (Inside
    the blob store, which the views read, only the statement check stops a COPY.)"""
    with pytest.raises(duckdb.Error):
        sandboxed.execute(world.fill(sql)).fetchall()
    assert world.written() == []


def test_the_connection_settings(sandboxed: duckdb.DuckDBPyConnection, world: World) -> None:
    settings = dict(sandboxed.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration',"
        " 'autoload_known_extensions', 'autoinstall_known_extensions', 'allow_community_extensions',"
        " 'allow_persistent_secrets', 'allowed_directories')").fetchall())
    assert settings["enable_external_access"] == "false" and settings["lock_configuration"] == "true"
    assert settings["autoload_known_extensions"] == settings["autoinstall_known_extensions"] == "false"
    assert settings["allow_community_extensions"] == settings["allow_persistent_secrets"] == "false"
    assert str(world.blobs) in settings["allowed_directories"]
    attached = sandboxed.execute("SELECT database_name, readonly FROM duckdb_databases() WHERE NOT internal").fetchall()
    assert ("vault", True) in attached


# -- what still works ------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def test_legitimate_queries_return_the_rows_the_query_api_gives(world: World) -> None:
    with Query(world.root) as q:
        experiments = q.list_experiments(limit=500)["items"]
        specimens = {e["specimen_id"] for e in experiments if e.get("specimen_id")}
        assert set(q.sql("SELECT specimen_id FROM catalog")["specimen_id"].to_list()) == specimens
        runs = q.list_runs(limit=500)
        assert q.sql("SELECT count(*) AS n FROM runs")["n"][0] == runs["total"]
        assert set(q.sql("SELECT run_id FROM runs")["run_id"].to_list()) == {r["id"] for r in runs["items"]}

        run_id = q.sql(f"SELECT run_id FROM exp_{demo.SPECIMEN_ID} LIMIT 1")["run_id"][0]
        detail = q.get_run(run_id)
        metrics = q.sql(f"SELECT name, value FROM metrics WHERE run_id = '{run_id}'").rows()
        assert {n: v for n, v in metrics} == pytest.approx(detail["metrics_final"], nan_ok=True)
        curves = q.get_curves(run_id, max_points=None)["curves"]
        for name, pairs in curves.items():
            rows = q.sql(f"SELECT step, value FROM curves WHERE run_id = '{run_id}' AND name = '{name}' ORDER BY step")
            assert all(_same(a, b) for a, b in zip(rows.rows(), [tuple(p) for p in pairs], strict=True)), name
        view = q.sql(f"SELECT step, loss FROM exp_{demo.SPECIMEN_ID} WHERE run_id = '{run_id}' ORDER BY step").rows()
        assert [tuple(p) for p in curves["loss"]] == view

        assert q.sql("WITH best AS (SELECT min(value) AS v FROM metrics WHERE name = 'loss') SELECT v FROM best"
                     ).height == 1
        assert q.sql("VALUES (1, 'a'), (2, 'b')").rows() == [(1, "a"), (2, "b")]
        assert q.sql("FROM catalog SELECT count(*) AS n")["n"][0] == len(specimens)
        assert q.sql("DESCRIBE runs").height > 10
        plan = q.sql(f"EXPLAIN SELECT count(*) FROM exp_{demo.SPECIMEN_ID} WHERE loss < 0.5")
        assert plan.columns == ["explain_key", "explain_value"] and plan["explain_key"][0] == "physical_plan"
        assert q.sql("SELECT 1 -- a trailing comment; COPY is only text here").rows() == [(1,)]
        assert q.sql("SELECT 1 AS x;")["x"].to_list() == [1]  # one statement with its ';'

        # the blob store the views read stays readable: the artifacts view names its files
        frame = q.sql("SELECT path FROM artifacts WHERE kind = 'metrics' LIMIT 1")["path"][0]
        assert q.sql(f"SELECT count(*) AS n FROM read_parquet('{frame}')")["n"][0] > 0
        note = q.sql("SELECT path FROM artifacts WHERE kind = 'text' LIMIT 1")["path"][0]
        assert q.sql(f"SELECT content FROM read_text('{note}')")["content"][0] == Path(note).read_text()
    assert world.written() == []


def test_the_sql_command_still_answers_over_the_views(world: World) -> None:
    out = vault_cmd(world.root, "sql", "--format", "csv",
                    f"SELECT count(*) AS n, min(step) AS first, max(step) AS last FROM exp_{demo.SPECIMEN_ID}", check=True)
    assert out.stdout.splitlines() == ["n,first,last", "100,0,99"]
    out = vault_cmd(world.root, "sql", "--format", "csv",
                    "SELECT count(*) AS n FROM curves c JOIN runs r USING (run_id) WHERE r.experiment_path = "
                    f"'{demo.LR_SWEEP}'", check=True)
    assert int(out.stdout.splitlines()[1]) > 0
    plan = vault_cmd(world.root, "sql", "EXPLAIN SELECT * FROM catalog", check=True)
    assert "physical_plan" in plan.stdout


# -- MCP -------------------------------------------------------------------------------------------


def test_the_mcp_server_has_no_sql_tool_and_sql_in_its_arguments_is_data(world: World) -> None:
    before = world.state()
    attack = world.fill("x'; COPY (SELECT 42 AS x) TO '{out}'; SELECT * FROM read_text('{secret}') --")
    with McpClient(world.root) as client:
        tools = client.list_tools()
        for tool in tools.values():
            assert "sql" not in tool.name.lower()
            assert not any("sql" in prop.lower() for prop in tool.input_schema.get("properties", {})), tool.name
        assert client.call("search", query=attack)["total"] == 0
        assert client.call("list_experiments", prefix=attack)["total"] == 0
        assert client.call("list_models", name_prefix=attack)["total"] == 0
        assert "Run not found" in client.error("get_run", run_id=attack)
        assert "Run not found" in client.error("get_curves", run_id=attack)
    assert world.written() == []
    assert world.state() == before
