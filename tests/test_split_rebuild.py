"""`Caches.rebuild(processes=2)` (`git vault reindex -j 2`): two processes each read a share of the
runs and hand each other their rows (`gitvault.cache.split_rebuild`). The caches must come out as
a one-process rebuild makes them, whatever the records (deleted runs and experiments, lineage and
TODOs naming runs of the other share) and wherever the second process fails."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault import Store
from gitvault.cache import CacheUnwritable, Caches, loading, split_rebuild
from gitvault.query import Query
from gitvault.storage import layout
from gitvault.storage.vault import Vault
from tests.conftest import make_repo
from tests.test_cache import dump
from tests.test_edits_delete import SPECS, seed


def shares(run_ids: list[str]) -> tuple[list[str], list[str]]:
    """The runs the first and the second process read (`split_rebuild.Partner`)."""
    folders = sorted({layout.fan(r)[0] for r in run_ids})
    second = set(folders[:round(len(folders) * split_rebuild.SECOND_SHARE)])
    return [r for r in run_ids if layout.fan(r)[0] not in second], [r for r in run_ids if layout.fan(r)[0] in second]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A vault with runs in both shares of a deleted experiment and of a kept one, a deleted run,
    lineage to a run of the other share, and TODOs on a deleted and on a kept run."""
    root = make_repo(tmp_path_factory.mktemp("split") / "project", "init")
    seeded = seed(root)
    store = Store(root)
    kept, gone = store.experiment(SPECS[0]), store.experiment(SPECS[2])
    made: dict[str, list[str]] = {kept.path: list(seeded[kept.path]), gone.path: list(seeded[gone.path])}
    every = [i for ids in seeded.values() for i in ids]

    def filled() -> bool:
        return all(len(set(ids) & set(share)) >= 2 for ids in made.values() for share in shares(every))

    while not filled():
        assert len(every) < 80, "the fan-out never filled both shares"
        exp = kept if len(every) % 2 else gone
        with exp.run(name=f"more{len(every)}", config={"lr": len(every) / 10, "opt": {"name": "adam"}}) as run:
            run.tag(f"t{len(every) % 3}")
            run.log(acc=len(every) / 80)
            if len(every) % 4 == 0:
                for step in range(5):
                    run.curve(step, loss=1 / (step + 1))
        made[exp.path].append(run.id)
        every.append(run.id)
    store.close()
    first, second = (sorted(set(made[kept.path]) & set(share)) for share in shares(every))
    with Store(root).experiment(SPECS[0]).run(name="derived") as run:
        run.derived_from(run=second[0])
        run.derived_from(run=second[1])
    with Query(root) as q:
        q.add_todo("look at this", 0, "run", first[0])
        q.add_todo("and this", 0, "run", second[1])
        q.delete("run", second[1])  # deleted: its TODO and its lineage edge leave the caches too
        q.delete("experiment", "other")  # and with it other/m, whose runs are in both shares
    return root, {"deleted_run": second[1], "kept_parent": second[0], "gone": made[gone.path]}


def test_a_split_rebuild_equals_a_one_process_one(shared: tuple[Path, dict[str, Any]]) -> None:
    root, made = shared
    caches = Caches(Vault.open(root))
    one = caches.rebuild(processes=1)
    alone = dump(caches)
    assert one.problems == [] and not any(r in repr(alone["sqlite.runs"]) for r in [made["deleted_run"], *made["gone"]])
    assert made["kept_parent"] in repr(alone["sqlite.lineage"]) and made["deleted_run"] not in repr(alone["sqlite.lineage"])
    two = caches.rebuild(processes=2)
    assert (two.mode, two.experiments, two.runs, two.entities, two.points, two.problems) == (
        "full", one.experiments, one.runs, one.entities, one.points, [])
    assert dump(caches) == alone
    assert caches.refresh().mode == "current"
    assert not list(caches.extract_dir.glob(".rebuild-*"))  # the exchange folder is removed


def _python_failing_at(tmp_path: Path, target: str) -> Path:
    """An interpreter for the second process in which ``target`` (module:attribute) raises."""
    module, attribute = target.split(":")
    owner, _, name = attribute.rpartition(".")
    code = (
        "import runpy, sys\n"
        f"import {module} as m\n"
        "def fail(*args, **kwargs):\n"
        "    raise RuntimeError('injected failure')\n"
        f"setattr({'m.' + owner if owner else 'm'}, {name!r}, fail)\n"
        "sys.argv[0] = 'split_rebuild'\n"
        "runpy.run_module('gitvault.cache.split_rebuild', run_name='__main__')\n"
    )
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nshift 2\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.parametrize("where, why", [
    ("start", "no-such-python"),
    ("gitvault.cache.loading:Plan.tables", "RuntimeError: injected failure"),
    ("gitvault.cache.duckdb_catalog:build_file", "RuntimeError: injected failure"),
], ids=["cannot-start", "reading-its-share", "writing-duckdb"])
def test_a_failed_second_process_leaves_its_work_to_the_first(shared: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, where: str, why: str) -> None:
    """Wherever the second process fails (it cannot start; it fails reading its share, before the
    exchange; it fails writing the DuckDB file, after it), the first does its work and names it."""
    root, _ = shared
    caches = Caches(Vault.open(root))
    caches.rebuild(processes=1)
    alone = dump(caches)
    caches.duckdb_path.unlink()
    executable = tmp_path / "no-such-python" if where == "start" else _python_failing_at(tmp_path, where)
    monkeypatch.setattr(sys, "executable", str(executable))
    result = caches.rebuild(processes=2)
    assert (result.sqlite, result.duckdb) == ("full", "full") and len(result.problems) == 1, result.problems
    assert result.problems[0].startswith("the second process of the rebuild failed (")
    assert why in result.problems[0] and result.problems[0].endswith("); this one did its work instead")
    assert dump(caches) == alone
    assert not list(caches.extract_dir.glob(".rebuild-*"))


def test_a_failing_first_process_stops_the_second(shared: tuple[Path, dict[str, Any]],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the first process (here: a full disk writing SQLite's file) is raised as ever; the second
    process is stopped, not left waiting, and the exchange folder removed."""
    from gitvault.cache import sqlite_cache

    root, _ = shared
    started: list[split_rebuild.Partner] = []
    real = split_rebuild.Partner.__init__

    def keep(self: split_rebuild.Partner, *args: Any) -> None:
        real(self, *args)
        started.append(self)

    def fail(*args: Any, **kwargs: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(split_rebuild.Partner, "__init__", keep)
    monkeypatch.setattr(sqlite_cache, "write", fail)
    caches = Caches(Vault.open(root))
    with pytest.raises(CacheUnwritable, match="ENOSPC"):
        caches.rebuild(processes=2)
    assert len(started) == 1 and started[0].process is not None and started[0].process.poll() is not None
    assert not started[0].folder.exists()


def test_run_folders_counts_the_first_fan_out_level(shared: tuple[Path, dict[str, Any]]) -> None:
    vault = Vault.open(shared[0])
    tip = vault.repo.references["refs/vault/main"].target
    root = vault.repo[tip].peel(type(vault.repo[tip].tree))
    assert loading.run_folders(vault.repo, tip) == len(root["runs"]) > 1


def test_the_stored_run_count_follows_every_write(tmp_path: Path) -> None:
    """`git vault runs` takes the total from the count each write stores (`sqlite_cache.run_count`),
    not from counting a million rows: it stays exact through rebuilds, new runs, deletes and restores."""
    import sqlite3

    from gitvault.cache import sqlite_cache

    root = make_repo(tmp_path / "p", "init")
    seed(root)
    with Query(root) as q:
        def stored_and_counted() -> tuple[int, int, int]:
            q.refresh()
            con = sqlite3.connect(q.caches.sqlite_path)
            try:
                counted = con.execute("SELECT count(*) FROM runs").fetchone()[0]
                return sqlite_cache.run_count(con), counted, q.runs(limit=1)["total"]
            finally:
                con.close()

        assert stored_and_counted() == (4, 4, 4)
        with Store(root).experiment(SPECS[1]).run(name="new") as run:
            run.log(acc=1.0)
        assert stored_and_counted() == (5, 5, 5)
        q.delete("run", run.id)
        assert stored_and_counted() == (4, 4, 4)
        q.delete("experiment", "b")
        assert stored_and_counted() == (1, 1, 1)
        q.restore("experiment", "b")
        q.restore("run", run.id)
        assert stored_and_counted() == (5, 5, 5)
        q.caches.rebuild(processes=2)
        assert stored_and_counted() == (5, 5, 5)


def test_a_killed_rebuilds_exchange_folder_is_removed_by_the_next(shared: tuple[Path, dict[str, Any]]) -> None:
    """A rebuild killed mid-way leaves its exchange folder (1 GB at a million runs): the next
    two-process rebuild removes it once it is an hour old, and leaves a fresh one alone."""
    import os
    import time

    caches = Caches(Vault.open(shared[0]))
    caches.rebuild(processes=1)
    old, fresh = caches.extract_dir / ".rebuild-killed", caches.extract_dir / ".rebuild-running"
    for folder in (old, fresh):
        (folder / "first").mkdir(parents=True)
        (folder / "first" / "run_rows.arrow").write_bytes(b"x" * 100)
    hour_ago = time.time() - split_rebuild.LEFTOVER_AFTER_S - 60
    os.utime(old, (hour_ago, hour_ago))
    assert caches.rebuild(processes=2).problems == []
    assert not old.exists() and fresh.exists()


def test_sqlite_rows_go_in_as_many_a_statement_as_the_library_allows(shared: tuple[Path, dict[str, Any]],
                                                                    tmp_path: Path) -> None:
    """SQLite before 3.32 allows 999 parameters a statement: 50 runs of 23 columns would be 1,150.
    A connection limited so writes the same rows as an unlimited one."""
    import sqlite3

    from gitvault.cache import sqlite_cache
    from gitvault.cache.loading import Plan

    vault = Vault.open(shared[0])
    caches = Caches(vault)
    written = []
    for name, limit in (("limited.db", 999), ("tight.db", 23)):
        plan = Plan(caches, vault.repo, vault.repo.references["refs/vault/main"].target, None)
        loaded = plan.full()
        conn = sqlite_cache.connect(tmp_path / name)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        sqlite_cache.write(conn, loaded, caches.key(str(plan.tip)), caches.blobs, tmp_path, plan.reader(loaded),
                           plan.parts(loaded))
        written.append({table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
                        for table in ("runs", "run_params", "artifacts", "curve_points")})
        assert written[-1]["runs"] and conn.execute("SELECT count(*) FROM scalar_metrics").fetchone()[0]
        conn.close()
    assert written[0] == written[1]
