"""`git vault reindex`: rebuild the SQLite and DuckDB caches from refs/vault/main and the blobs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitvault.storage.vault import Vault

EXTRA = "query"  # its commands read through gitvault.query

PARALLEL_FROM = 20_000
"""Records from which `git vault reindex` shares the runs with a second process by default
(starting one costs about half a second; 100,000 runs take 12 s in one process, 7.5 s in two)."""

STAGES = {
    "records": "reading records",
    "rows": "making rows",
    "curves": "reading curves",
    "sqlite": "writing extract.db",
    "duckdb": "writing vault.duckdb",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reindex", help="rebuild the caches (.extract/extract.db, .extract/vault.duckdb)",
                       description="Rebuild both caches from refs/vault/main and the blobs. They are "
                                   "caches: nothing is lost by deleting them or by running this.")
    p.add_argument("-j", "--jobs", type=int, choices=(1, 2), default=None,
                   help="processes building the caches: 2 shares the runs between two processes, each "
                        "reading half of them (a million runs: 90 s instead of 139); default 2 when this "
                        "process may run on two or more CPUs and the vault holds "
                        f"{PARALLEL_FROM:,} records or more (below that, starting a second process "
                        "costs more than it saves)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.cache import Caches  # every `git vault` command imports this module to build its parser
    from gitvault.cli.collector import paused_collector
    from gitvault.cli.progress import Progress
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    vault.config()  # a clear error when there is no vault yet
    with Caches(vault) as caches:
        with Progress("git vault reindex", labels=STAGES) as progress, paused_collector():
            result = caches.rebuild(progress=progress.update, processes=args.jobs or _processes(vault))
        print(f"indexed {result.experiments} experiments, {result.runs} runs, {result.points} curve points "
              f"in {result.seconds:.2f} s")
        print(f"  {caches.sqlite_path}")
        print(f"  {caches.duckdb_path}")
        for problem in result.problems:
            print(f"  warning: {problem}")
    return 0


def _processes(vault: Vault) -> int:
    """2 where a second process pays off (see ``--jobs``), else 1."""
    import os

    from gitvault.cache.loading import count_entities

    try:
        cpus = len(os.sched_getaffinity(0))  # a cluster job's allocation, not the node's count
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 and count_entities(vault.repo, vault.tip(), PARALLEL_FROM) >= PARALLEL_FROM else 1
