"""`git vault reindex`: rebuild the SQLite and DuckDB caches from refs/vault/main and the blobs."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from gitvault.cache import Caches, RefreshResult
from gitvault.vault import Vault

STAGES = {
    "records": "reading records",
    "curves": "reading curves",
    "sqlite": "writing extract.db",
    "duckdb": "writing vault.duckdb",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reindex", help="rebuild the caches (.extract/extract.db, .extract/vault.duckdb)",
                       description="Rebuild both caches from refs/vault/main and the blobs. They are "
                                   "caches: nothing is lost by deleting them or by running this.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    vault = Vault.open(args.directory)
    vault.config()  # a clear error when there is no vault yet
    caches = Caches(vault)
    if sys.stdout.isatty():
        result = _with_progress_bar(caches)
    else:
        result = caches.rebuild(progress=_plain_progress())
    _print_summary(caches, result)
    return 0


def _plain_progress() -> Callable[[str, int, int], None]:
    finished: set[str] = set()

    def progress(stage: str, done: int, total: int) -> None:
        if done >= total and stage not in finished:
            finished.add(stage)
            print(f"  {STAGES.get(stage, stage)}: done", flush=True)

    return progress


def _with_progress_bar(caches: Caches) -> RefreshResult:
    from prompt_toolkit.shortcuts import ProgressBar

    with ProgressBar(title="git vault reindex") as bar:
        counters: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            counter = counters.get(stage)
            if counter is None:
                counter = counters[stage] = bar(label=STAGES.get(stage, stage), total=total)
            counter.total = max(total, 1)
            counter.items_completed = min(done, counter.total)
            if done >= total:
                counter.done = True
            bar.invalidate()

        return caches.rebuild(progress=progress)


def _print_summary(caches: Caches, result: RefreshResult, out: Callable[[str], None] = print) -> None:
    out(f"indexed {result.experiments} experiments, {result.runs} runs, {result.points} curve points "
        f"in {result.seconds:.2f} s")
    out(f"  {caches.sqlite_path}")
    out(f"  {caches.duckdb_path}")
    for problem in result.problems:
        out(f"  warning: {problem}")
