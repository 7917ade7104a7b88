"""One badly typed record from a collaborator never hides the good ones (issue 14, item 1).

A crafted clone writes records of the wrong shape straight into the vault tree (as a buggy or
hostile tool would), pushes them, and a teammate pulls: every command keeps working on the good
records, the bad ones are named (record and field) and kept untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from gitvault import Transaction, Vault

from gitvault.storage import layout
from gitvault.integrity.checks import fsck
from gitvault.sync.exchange import pull, push
from tests.conftest import git, vault_run as vault_cmd
from tests.test_mcp_client import McpClient
from tests.test_merge import add_run, run_record
from tests.test_sync import cluster  # noqa: F401 - the fixture

BAD_FIELDS = {
    "metrics": "not a map",
    "name": {"a": "map"},
    "curves": "oops",
    "artifacts": "oops",
    "git": "oops",
    "params": ["a", "list"],
    "env": 42,
    "tags": "not-a-list",
    "status": None,
}


def _raw_put(vault: Vault, kind: str, record_id: str, record: dict) -> None:
    """Write a record's bytes without the writer's checks, as another tool could."""
    body = dict(record, kind=kind, id=record_id, schema=1)
    tx = Transaction(message=f"crafted {kind} {record_id}")
    tx.writes[layout.record_path(kind, record_id)] = msgpack.packb(body, use_bin_type=True)
    vault.commit(tx)


@pytest.fixture
def team(cluster: dict[str, Path]) -> dict[str, Path]:
    """A bare remote, clone ``a`` and a clone ``mallory`` that writes crafted records."""
    return {"remote": cluster["remote"], "a": cluster["a"], "mallory": cluster["b"]}


def test_badly_typed_records_are_quarantined_and_the_good_ones_keep_working(team: dict[str, Path]) -> None:
    a, mallory = team["a"], team["mallory"]
    good = add_run(Vault.open(a), "bench/good/v1", name="good-run")
    push(a)
    pull(mallory)
    bad_ids = []
    vault_m = Vault.open(mallory)
    for i, (field, value) in enumerate(BAD_FIELDS.items()):
        rid = f"01BAD{i:021d}"
        record = run_record("bench/good/v1", "0" * 64)
        record[field] = value
        _raw_put(vault_m, "run", rid, record)
        bad_ids.append((rid, field))
    push(mallory)

    proc = vault_cmd(a, "pull", "--json", check=True)
    assert json.loads(proc.stdout)["runs"] == len(BAD_FIELDS)  # they arrived: kept in the vault, untouched
    for rid, field in bad_ids:  # each named once, with its field
        assert any(rid in line and repr(field) in line and "quarantined" in line
                   for line in proc.stderr.splitlines()), (rid, field, proc.stderr)
    listing = vault_cmd(a, "runs", "--json", check=True)
    ids = {r["id"] for r in json.loads(listing.stdout)["items"]}
    assert good in ids and not any(rid in ids for rid, _ in bad_ids)
    shown = vault_cmd(a, "show", good, check=True).stdout
    assert "good-run" in shown
    for args in (["experiments"], ["reindex"], ["sql", "SELECT count(*) AS n FROM runs", "--format", "json"]):
        proc = vault_cmd(a, *args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert json.loads(vault_cmd(a, "sql", "SELECT count(*) AS n FROM runs", "--format", "json").stdout)[0]["n"] == 1
    report = fsck(Vault.open(a))
    lines = [f"{p.code}: {p.message}" for p in report.problems]
    for rid, field in bad_ids:
        assert any(rid in line and repr(field) in line for line in lines), (rid, field, lines)
    proc = vault_cmd(a, "fsck")
    assert proc.returncode == 1 and "quarantined" in proc.stdout + proc.stderr
    with McpClient(a) as client:  # the agent's view: the good run, none of the quarantined ones
        listed = {r["id"] for r in client.call("list_runs")["items"]}
        assert good in listed and not any(rid in listed for rid, _ in bad_ids)
        assert client.call("get_run", run_id=good)["id"] == good


def test_the_writer_refuses_a_record_of_the_wrong_shape(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    before = vault.tip()
    tx = Transaction(message="bad")
    with pytest.raises(ValueError, match="field 'metrics' is str"):
        tx.put("run", "01WRONG0000000000000000000", dict(run_record("x/y/z", "0" * 64), metrics="nope"))
    assert vault.tip() == before


def test_a_garbage_vault_toml_is_refused_before_a_merge(team: dict[str, Path]) -> None:
    a, mallory = team["a"], team["mallory"]
    add_run(Vault.open(a), "bench/good/v1")
    push(a)
    pull(mallory)
    vault_m = Vault.open(mallory)
    tx = Transaction(message="garbage config")
    tx.writes[(layout.CONFIG_FILE,)] = b"\xff\xfe not toml at all"
    tx.replace.add((layout.CONFIG_FILE,))
    vault_m.commit(tx)
    push(mallory)
    before = git(a, "rev-parse", "refs/vault/main").stdout
    proc = vault_cmd(a, "pull")
    assert proc.returncode == 1 and "vault.toml" in proc.stderr and "Traceback" not in proc.stderr
    assert git(a, "rev-parse", "refs/vault/main").stdout == before
    assert vault_cmd(a, "runs", check=True).returncode == 0


def test_a_run_without_its_experiment_is_named_by_fsck(vault_repo: Path) -> None:
    rid = add_run(Vault.open(vault_repo), "bench/good/v1")
    vault = Vault.open(vault_repo)
    _raw_put(vault, "run", "01ORPHAN00000000000000000A", run_record("nowhere/to/be", "0" * 64))
    lines = [f"{p.code}: {p.message}" for p in fsck(vault).problems]
    assert any(line.startswith("orphan_run:") and "01ORPHAN00000000000000000A" in line and "nowhere/to/be" in line
               for line in lines), lines
    assert not any(rid in line for line in lines)


def test_a_tree_entry_named_dot_dot_hides_nothing(vault_repo: Path) -> None:
    """git mktree accepts an entry named '..'; such a vault tree still reads, and fsck names it."""
    rid = add_run(Vault.open(vault_repo), "bench/good/v1", name="kept")
    blob = git(vault_repo, "hash-object", "-w", "--stdin", input="x").stdout.strip()
    runs_tree = git(vault_repo, "rev-parse", "refs/vault/main^{tree}:runs").stdout.strip()
    listing = git(vault_repo, "ls-tree", runs_tree).stdout + f"100644 blob {blob}\t..\n"
    new_runs = git(vault_repo, "mktree", input=listing).stdout.strip()
    top = [line if not line.endswith("\truns") else f"040000 tree {new_runs}\truns"
           for line in git(vault_repo, "ls-tree", "refs/vault/main^{tree}").stdout.splitlines()]
    root = git(vault_repo, "mktree", input="\n".join(top) + "\n").stdout.strip()
    commit = git(vault_repo, "commit-tree", root, "-p", "refs/vault/main", "-m", "crafted").stdout.strip()
    git(vault_repo, "update-ref", "refs/vault/main", commit)
    proc = vault_cmd(vault_repo, "runs", "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert rid in proc.stdout
    report = fsck(Vault.open(vault_repo))
    assert any("runs/.." in p.where or "'..'" in p.message for p in report.problems), [f"{p.code}: {p.message}" for p in report.problems]
