"""A full rebuild shared by two processes (``git vault reindex -j 2``, `Caches.rebuild(processes=2)`).

A rebuild is mostly Python work per run: reading and checking its record, then making its rows
for both caches. Threads of one process take turns at that (the GIL), so the runs are shared
between two processes instead, by their first-level fan-out folder. Each reads its share and
makes both caches' rows for it (`RunTables`), and hands the other, through files in a private
folder beside the caches, only what the other writes: the first process writes SQLite's file
(its own share's rows while the second still works, then the second's), the second
(``python -m gitvault.cache.split_rebuild``) DuckDB's. No record is read twice, and each cache is
written by one process, as a rebuild in one process writes it.

The second process reads the experiments and its share of the runs, which is all DuckDB's file
holds; the first reads every other record. Should the second process fail at any point, the first
reads its share or writes DuckDB's file itself, and the failure is among the rebuild's problems.

The exchange, on the second process's stdin and stdout (a line each):
1. the first process writes DuckDB's rows of its share to ``<folder>/first``;
2. the second writes SQLite's rows of its share to ``<folder>/second`` and says ``{"runs", "problems"}``;
3. the first, having read them, answers ``go``;
4. the second writes the DuckDB file and says ``{"points", "problems"}``.
Both hand over their share's curve points (SQLite keeps a sample, DuckDB every point).
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from gitvault.cache.state import RunTables
from gitvault.errors import VaultError

if TYPE_CHECKING:
    from gitvault.cache import Caches

SECOND_SHARE = 0.5
"""The second process's share of the run folders. Half each: the first then writes its own half
into SQLite while the second hands its rows over, and the second writes DuckDB's file (a few
seconds) while the first writes the second half into SQLite."""


LEFTOVER_AFTER_S = 3600.0
"""An exchange folder this old was left by a rebuild that was killed (one takes minutes)."""


def remove_leftovers(home: Path) -> None:
    """Remove the exchange folders killed rebuilds left in ``home`` (a million runs' is 1 GB)."""
    now = time.time()
    for folder in home.glob(".rebuild-*"):
        try:
            if now - folder.stat().st_mtime > LEFTOVER_AFTER_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def save(tables: RunTables, folder: Path) -> None:
    """The parts ``tables`` holds, as files in ``folder``: SQLite's rows as msgpack (two to three
    times faster to write than a pickle), DuckDB's and the points as Arrow."""
    import msgpack
    import pyarrow as pa

    folder.mkdir()
    if tables.sqlite is not None:
        (folder / "sqlite.msgpack").write_bytes(msgpack.packb(tables.sqlite, use_bin_type=True))
    for name in ("run_rows", "curves"):
        table = getattr(tables, name)
        if table is not None:
            with pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)


def load(folder: Path) -> RunTables:
    """What `save` wrote to ``folder``."""
    import msgpack
    import pyarrow as pa

    sqlite = None
    if (folder / "sqlite.msgpack").exists():
        packed = msgpack.unpackb((folder / "sqlite.msgpack").read_bytes(), use_list=False, raw=False)
        sqlite = {name: list(rows) for name, rows in packed.items()}
    arrow = {name: pa.ipc.open_file(pa.memory_map(str(path))).read_all() if (path := folder / f"{name}.arrow").exists()
             else None for name in ("run_rows", "curves")}
    return RunTables(sqlite, arrow["run_rows"], arrow["curves"])


class Partner:
    """The second process of a two-process rebuild, from the first: started at once, it reads its
    share of the runs (``theirs``) while this one reads ``mine``."""

    def __init__(self, caches: Caches, tip: str | None, folders: int) -> None:
        split = round(folders * SECOND_SHARE)
        self.mine, self.theirs = slice(split, None), slice(0, split)
        self.problems: list[str] = []
        self.duckdb_path = caches.duckdb_path
        remove_leftovers(caches.extract_dir)
        self.folder = Path(tempfile.mkdtemp(prefix=".rebuild-", dir=caches.extract_dir))
        self._closed = False
        self._failed = False
        self._handed = threading.Event()  # set once `receive` is over: `finish` reads the next answer
        self._stderr = (self.folder / "stderr").open("w+")
        command = [sys.executable, "-m", "gitvault.cache.split_rebuild", str(caches.paths.git_dir),
                   str(caches.duckdb_path), tip or "", str(self.folder), str(split)]
        self.process: subprocess.Popen[str] | None = None
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self._stderr, text=True)
        except OSError as exc:
            self._fail(str(exc))

    def hand_over(self, mine: RunTables) -> None:
        """Write this process's rows that the second one needs (DuckDB's, and the points)."""
        if self.process is None or self._failed:
            return
        try:
            save(replace(mine, sqlite=None), self.folder / "first")
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, this process does the other's work
            self._fail(f"this process's rows could not be handed over: {exc}")

    def receive(self) -> RunTables | None:
        """The second process's rows that this one needs (SQLite's, and the points), once it has
        made them; None when it failed. It then writes the DuckDB file."""
        try:
            if self.process is None or self._failed:
                return None
            if self._answer("runs") is None:
                return None
            try:
                theirs = load(self.folder / "second")
                assert self.process.stdin is not None
                self.process.stdin.write("go\n")
                self.process.stdin.flush()
            except Exception as exc:  # noqa: BLE001 - whatever went wrong, this process reads that share itself
                self._fail(f"its rows could not be read: {exc}")
                return None
            return theirs
        finally:
            self._handed.set()

    def finish(self) -> int | None:
        """The curve points the second process wrote into the DuckDB file; None when it failed.
        Raises `VaultError` when `close` stopped it (this process failed)."""
        self._handed.wait()
        answer = None if self.process is None or self._failed else self._answer("points")
        if self._closed:
            raise VaultError("the rebuild stopped")
        if answer is None:
            return None
        return int(answer.get("points") or 0)

    def close(self) -> None:
        """Stop the second process if it still runs (first: a thread reading its answers then
        reads the end of them, and a rebuild that failed here writes no DuckDB file there), and
        remove the exchange folder and any DuckDB file it left half written."""
        self._closed = True
        self._stop()
        self._handed.set()
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            from gitvault.cache import duckdb_catalog  # loaded already: the rebuild imported it first

            tmp = duckdb_catalog.temp_path(self.duckdb_path, self.process.pid)
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
        self._stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()

    def _answer(self, field: str) -> dict[str, Any] | None:
        """The second process's next line, its problems taken (None when it failed or was stopped)."""
        assert self.process is not None and self.process.stdout is not None
        try:
            line = self.process.stdout.readline()
            answer = json.loads(line) if line else None
        except (OSError, ValueError):
            answer = None
        if self._closed:
            return None
        if not isinstance(answer, dict) or field not in answer:
            if line:  # an answer it should not have given: it is stopped, not waited for
                self.process.kill()
            code = self.process.wait()
            self._stderr.seek(0)
            said = self._stderr.read().strip().splitlines()
            self._fail(said[-1] if said else f"exit status {code}")
            return None
        self.problems.extend(str(p) for p in answer.get("problems") or [])
        return answer

    def _fail(self, why: str) -> None:
        """Note the failure once, and stop the second process: its work is done here now."""
        if not self._failed and not self._closed:
            self._failed = True
            self.problems.append(f"the second process of the rebuild failed ({why}); this one did its work instead")
            self._stop()


def _say(out: IO[str], answer: dict[str, Any]) -> None:
    out.write(json.dumps(answer) + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    """The second process: ``GIT_DIR DUCKDB_PATH TIP FOLDER SPLIT`` (its share: the run folders before SPLIT)."""
    if len(argv) != 5:
        sys.stderr.write("usage: python -m gitvault.cache.split_rebuild GIT_DIR DUCKDB_PATH TIP FOLDER SPLIT\n")
        return 2
    git_dir, path, tip, folder, split = argv
    gc.disable()  # a process of ours building millions of acyclic objects (see cli/collector.py)
    import pygit2

    from gitvault.cache import Caches, duckdb_catalog
    from gitvault.cache.loading import Plan
    from gitvault.cache.state import CacheKey
    from gitvault.storage.vault import Vault

    out = sys.stdout
    sys.stdout = sys.stderr  # the exchange alone on stdout
    with Caches(Vault.open(git_dir)) as caches:
        plan = Plan(caches, caches.vault.repo, pygit2.Oid(hex=tip) if tip else None, None,
                    runs=slice(0, int(split)), kinds=("experiment", "run"))
        loaded = plan.full()
        mine = plan.tables(loaded)
        save(replace(mine, run_rows=None), Path(folder) / "second")  # what the first process writes
        _say(out, {"runs": mine.runs, "problems": plan.problems})
        told = len(plan.problems)
        if sys.stdin.readline().strip() != "go":
            return 0  # the first process stopped, or does without this one
        tables = mine.joined(load(Path(folder) / "first"))
        key = CacheKey(tip=tip or None, extract_dir=str(Path(path).parent.resolve()))
        points = duckdb_catalog.build_file(Path(path), loaded, key, caches.blobs, plan.reader(loaded), tables)
        _say(out, {"points": points, "problems": plan.problems[told:]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
