"""git's own maintenance beside vault writers, for a minute. Prints what it found; exits 1 when a
sealed run is lost or a check fails.

    .venv/bin/python bench/gc_race_bench.py [--seconds 60] [--writers 3]

SDK processes seal runs (10 curve points and a metric each) into one vault, from a dirty work
tree, while `git gc --quiet`, `git repack -ad -q` and
`git maintenance run --task=loose-objects --task=incremental-repack` run in turn in the same
repository (never --prune=now). Then: every run id a writer printed must be in refs/vault/main
(target: 0 lost), no seal may have raised (target: 0 failed), `git fsck --full` must report
nothing but dangling objects, the reflog of refs/vault/main must read and gitvault's fsck must
pass. Last, the loose objects left. The race itself is `race` in tests/test_gc_race.py (the test
runs it for 10 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault.cli.cmd_fsck import summary as fsck_summary  # noqa: E402
from gitvault.storage.vault import Vault  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.test_gc_race import WRITERS, object_counts, race  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the writers seal runs")
    parser.add_argument("--writers", type=int, default=WRITERS, help="writer processes")
    args = parser.parse_args()
    print(f"({os.cpu_count()} cores shared with other work: load average {os.getloadavg()[0]:.1f} at start)")
    with tempfile.TemporaryDirectory(prefix="gitvault-gc-race-") as tmp:
        root = Path(tmp)
        repo = make_repo(root / "project", "init")
        print(f"gc race: {args.writers} writers seal runs for {args.seconds:g} s"
              " beside git gc / repack -ad / maintenance run")
        result = race(repo, root, args.writers, args.seconds)
        print(f"   runs sealed:        {len(result.sealed):7,}   ({len(result.sealed) / args.seconds:.1f} runs/s)")
        lost = f"   FAIL: {', '.join(result.lost[:5])}" if result.lost else ""
        print(f"   runs lost:          {len(result.lost):7,}   (target 0){lost}")
        print(f"   seals failed:       {len(result.seal_failures):7,}   (target 0: the writer's seal raised)")
        for failure in result.seal_failures[:5]:
            print(f"   FAIL: {failure}")
        passes = ", ".join(f"{name} {count}" for name, count in result.passes.items())
        skipped = sum(result.skipped.values())
        print(f"   maintenance passes: {sum(result.passes.values()):7,}   ({passes}"
              f"{f'; {skipped} skipped: gc already running' if skipped else ''})")
        for failure in result.failures:
            print(f"   FAIL: {failure}")
        print(f"   {result.fsck_line()}")
        print(f"   reflog of refs/vault/main: {result.reflog_entries:,} entries, exit {result.reflog_rc}, "
              f"newest entry is the tip: {'yes' if result.reflog_top_is_tip else 'NO'}")
        if result.vault_fsck is not None:
            print(f"   gitvault {fsck_summary(result.vault_fsck)}")
        print(f"   at the end: {object_counts(Vault.open(repo).paths.common_dir)}")
        print(f"\n[gc race] {result.summary()}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
