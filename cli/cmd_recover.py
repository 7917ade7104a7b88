"""`git vault recover`: seal runs whose process died (SIGKILL, OOM, power loss) as "crashed"."""

from __future__ import annotations

import argparse
import sys
import warnings



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="seal runs left behind by killed processes as crashed",
                       description="Every live run whose process is gone is sealed as 'crashed' "
                                   "with every point it flushed. Runs still running are left alone.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.runs.spool import SpoolWarning
    from gitvault.runs.live import recover_details
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    if not vault.exists():
        print("no vault in this repository; nothing to recover")
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpoolWarning)
        sealed = recover_details(vault)
    problems = [str(w.message) for w in caught if issubclass(w.category, SpoolWarning)]
    for other in (w for w in caught if not issubclass(w.category, SpoolWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    for problem in problems:
        sys.stderr.write(f"git vault: warning: {problem.removeprefix('gitvault: ')}\n")
    if not sealed:
        print("nothing to recover: " + ("no orphaned live runs" if not problems
                                        else f"{len(problems)} spool(s) need attention (above)"))
        return 0
    for record in sealed:
        points = (record.get("curves") or {}).get("points", 0)
        print(f"sealed {record['id']} crashed: {record['experiment_path']} ({points} points)")
    return 0
