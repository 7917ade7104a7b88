"""`git vault import-from KIND PATH`: bring another tracker's whole store into the vault."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gitvault.cli.output import print_json

if TYPE_CHECKING:
    from gitvault.importers.plan import Report
    from gitvault.storage.vault import Vault


def register(sub: argparse._SubParsersAction) -> None:
    from gitvault.importers import KINDS

    p = sub.add_parser("import-from", help="import another tracker's store: " + ", ".join(KINDS),
                       description="Import a whole store of another tracker into the vault, keeping its ids where "
                                   "it has them and its times, in one vault commit (importing again adds nothing). "
                                   "Prints what was added and everything that could not be carried over. KIND: "
                                   + "; ".join(f"{k}: {v}" for k, v in KINDS.items()) + ".")
    p.add_argument("kind", choices=list(KINDS), help="what PATH holds")
    p.add_argument("path", help="the store, folder or file to import")
    p.add_argument("--dry-run", action="store_true", help="say what would be added; write nothing")
    p.add_argument("--experiment", default=None, metavar="PATH",
                   help="csv, mlflow, tensorboard, wandb: put the runs under this experiment path (a/b, levels of "
                        "the hierarchy); default: from the source (csv: the logger's folder name; mlflow: each "
                        "experiment's name; tensorboard: the folder's name; wandb: each run's project)")
    p.add_argument("--step-column", default=None, metavar="COLUMN",
                   help="csv: the column holding the step (Lightning's metrics.csv: step, the default there)")
    p.add_argument("--report", default=None, metavar="FILE",
                   help="also write the whole report as JSON to FILE (every line not carried over)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    options = {key: value for key, value in (("experiment", args.experiment), ("step_column", args.step_column))
               if value is not None}
    path, report_file = (_here(args.directory, p) for p in (args.path, args.report))
    assert path is not None
    report = import_and_report(vault, args.kind, path, dry_run=args.dry_run, json=args.json,
                               report_file=report_file, **options)
    if args.json:
        print_json(report.as_dict())
    return 0


def _here(directory: str | None, given: str | None) -> Path | None:
    """A path given on the command line, relative to ``-C DIR`` as git reads paths."""
    if given is None:
        return None
    path = Path(given).expanduser()
    return Path(directory) / path if directory and not path.is_absolute() else path


def import_and_report(vault: Vault, kind: str, path: Path, *, dry_run: bool = False, json: bool = False,
                      report_file: Path | None = None, **options: str) -> Report:
    """Run the import with a progress display and print its report (unless ``json``); `git vault
    init --adopt-extract` calls this too."""
    from gitvault.cli.progress import Progress
    from gitvault.importers import import_from
    from gitvault import jsonsafe

    with Progress(f"git vault import-from {kind}", json=json) as progress:
        report = import_from(vault, kind, path, dry_run=dry_run, progress=progress.update, **options)
    if report_file is not None:
        report_file.write_text(jsonsafe.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    if not json:
        print(f"{'dry run: nothing written; ' if dry_run else ''}{kind} store {report.source}")
        for line in report.lines():
            print(f"  {line}")
        if not dry_run:
            print(f"  {report.commits} vault commit{'s' if report.commits != 1 else ''}, {report.seconds:.1f} s")
    return report
