"""`git vault push | pull | sync | status | export | import`: share the vault through a git remote."""

from __future__ import annotations

import argparse
import functools
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from typing import TYPE_CHECKING

from gitvault.cli.output import print_json, print_table

from gitvault.display import listed
from gitvault.cli.progress import bar_wanted
from gitvault.sizes import human_size

if TYPE_CHECKING:
    from gitvault.sync.report import SyncReport

COUNT_LABELS = {"runs": ("run", "runs"), "experiments": ("experiment", "experiments"), "models": ("model", "models"),
                "lineage": ("lineage", "lineage"), "todos": ("todo", "todos"), "links": ("link", "links"),
                "events": ("event", "events"), "conflicts": ("conflict", "conflicts")}


def register(sub: argparse._SubParsersAction) -> None:
    for name, func, help_text in (
        ("push", run_push, "send the blobs the remote lacks, then refs/vault/main (git push, never forced)"),
        ("pull", run_pull, "fetch a remote's vault and blobs and merge them into yours"),
        ("sync", run_sync, "pull, then push"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text + ". The remote defaults to the "
                           "current branch's upstream remote, else origin. Blobs up to "
                           "`git config vault.blobLimit` (50m) travel as git objects on refs/vault/blobs; "
                           "larger ones go to `git config vault.<remote>.blobs URL` (a folder, host:path "
                           "or s3://bucket/prefix).")
        p.add_argument("remote", nargs="?", default=None, help="git remote name (or URL/path)")
        p.add_argument("--dry-run", action="store_true", help="say what would move; change nothing")
        only = p.add_mutually_exclusive_group()
        only.add_argument("--blobs-only", action="store_true", help="move only blobs (fill in a lazy pull)")
        only.add_argument("--records-only", action="store_true",
                          help="move only records; a blob is fetched when the SDK first reads it, or all by `pull --blobs-only`")
        p.add_argument("--json", action="store_true", help="print the counts as JSON")
        if name != "pull":
            p.add_argument("--allow-secrets", action="store_true",
                           help="push even when what would leave holds suspected secrets (they are named)")
        p.set_defaults(func=func)
    p = sub.add_parser("status", help="runs ahead and behind a remote, blobs missing here and there",
                       description="Compare this vault with a remote's current refs (fetched, nothing "
                       "merged): records ahead and behind, blobs missing here, blobs the remote lacks.")
    p.add_argument("remote", nargs="?", default=None, help="git remote name (or URL/path)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run_status)
    p = sub.add_parser("export", help="write the vault (or some experiments) and its blobs to a .tar.gz",
                       description="A git bundle of refs/vault/main plus every referenced blob.")
    p.add_argument("output", help="FILE.tar.gz")
    p.add_argument("--experiment", action="append", default=[], metavar="PREFIX",
                   help="only experiments whose path is PREFIX or below it (repeatable)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run_export)
    p = sub.add_parser("import", help="verify and merge an archive made by `git vault export`",
                       description="Every blob's sha256 is verified before anything is installed.")
    p.add_argument("archive", help="FILE.tar.gz")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run_import)


@contextmanager
def console_stage(label: str, total: int, *, json: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal, one plain line on stderr otherwise (a pipe, a notebook,
    ``--json``)."""
    if total <= 0:
        yield lambda n: None
        return
    if bar_wanted(sys.stderr, json=json):
        from prompt_toolkit.shortcuts.progress_bar import ProgressBar, ProgressBarCounter

        with ProgressBar(title=label) as bar:
            counter: ProgressBarCounter[object] = bar(label="blobs", total=total)

            def advance(n: int) -> None:
                for _ in range(n):
                    counter.item_completed()

            yield advance
        return
    sys.stderr.write(f"{label}: {total} blob(s)\n")
    yield lambda n: None


def summary(counts: dict[str, int]) -> str:
    """"12 runs, 3 experiments, 2 events" from a counts dict (zeros and other keys left out)."""
    parts = [f"{value} {COUNT_LABELS[key][value != 1]}" for key, value in counts.items()
             if value and key in COUNT_LABELS]
    return ", ".join(parts) if parts else "nothing new"


def _moved(counts: dict[str, int], blobs: int, blob_bytes: int) -> str:
    text = summary(counts)
    if blobs:
        text = (text + ", " if text != "nothing new" else "") + f"{human_size(blob_bytes)} of blobs ({blobs})"
    return text


def _finish(report: SyncReport, mode: str, lines: list[str]) -> int:
    """Print a report (``mode``: "text", "json" or "quiet" = stderr only); 1 when blobs failed."""
    if mode == "json":
        out = report.as_counts()
        out["bad_blobs"] = len(report.bad)
        out["missing_blobs"] = len(report.missing)
        print_json(out)
    elif mode == "text":
        for line in lines:
            print(line)
        for conflict in report.conflicts:
            print(f"  conflict kept: {conflict}")
    for note in _notes(report):
        sys.stderr.write(f"git vault: note: {note}\n")
    problems = _problems(report)
    for problem in problems:
        sys.stderr.write(f"git vault: error: {problem}\n")
    return 1 if problems else 0


def _notes(report: SyncReport) -> list[str]:
    """What the user should know beside the counts: the core's notes, then what its figures say."""
    notes = list(report.notes)
    if report.how == "remote-empty":
        notes.append(f"{report.remote} has no vault yet (no refs/vault/main); `git vault push` creates it")
    if report.unsent:
        notes.append(f"{len(report.unsent)} blob(s) referenced here are not stored here (a --records-only pull?); "
                     "they were not sent: `git vault pull --blobs-only` fetches them")
    if report.secrets and report.how != "dry-run":  # a push that went ahead with them: --allow-secrets
        notes.append(f"sent {len(report.secrets)} suspected secret(s) because of --allow-secrets; "
                     "rotate any real credential among them")
    return notes


def _problems(report: SyncReport) -> list[str]:
    """Blobs that failed: the command exits 1."""
    out = []
    if report.bad:
        out.append(f"{len(report.bad)} blob(s) arrived damaged (sha256 mismatch) and were NOT installed "
                   f"(kept in .git/vault/bad/): {listed(report.bad)}")
    if report.missing:
        out.append(f"{len(report.missing)} blob(s) are on neither this machine nor the remote: "
                   f"{listed(report.missing)}; ask whoever created them to `git vault push`")
    return out


def _mode(args: argparse.Namespace) -> str:
    return "json" if args.json else "text"


def _pull_lines(report: SyncReport, dry: bool) -> list[str]:
    verb = "would pull" if dry else "pulled"
    moved = _moved(report.counts, report.blobs, report.blob_bytes)
    how = f" ({report.how})" if report.how and not dry else ""
    return [f"{verb} from {report.remote}: {moved}{how}"]


def _push_lines(report: SyncReport, dry: bool) -> list[str]:
    verb = "would push" if dry else "pushed"
    moved = _moved(report.sent, report.blobs, report.blob_bytes)
    lines = [f"{verb} to {report.remote}: {moved}" + (" (already up to date)" if report.how == "up-to-date" else "")]
    if any(report.counts.values()):
        lines.insert(0, f"merged from {report.remote} first: {summary(report.counts)}")
    if dry and report.secrets:
        lines.append(f"would refuse: {len(report.secrets)} suspected secret(s) (`--allow-secrets` sends them):")
        lines += [f"  {finding}" for finding in report.secrets]
    return lines


def _options(args: argparse.Namespace) -> dict:
    return dict(dry_run=args.dry_run, blobs_only=args.blobs_only, records_only=args.records_only,
                stage=functools.partial(console_stage, json=args.json))


def run_push(args: argparse.Namespace) -> int:
    from gitvault.sync.exchange import push_report

    report = push_report(args.directory, args.remote, allow_secrets=args.allow_secrets, **_options(args))
    return _finish(report, _mode(args), _push_lines(report, args.dry_run))


def run_pull(args: argparse.Namespace) -> int:
    from gitvault.sync.exchange import pull_report

    report = pull_report(args.directory, args.remote, **_options(args))
    return _finish(report, _mode(args), _pull_lines(report, args.dry_run))


def run_sync(args: argparse.Namespace) -> int:
    from gitvault.sync.exchange import pull_report, push_report

    pulled = pull_report(args.directory, args.remote, **_options(args))
    if args.json:
        pushed = push_report(args.directory, args.remote, allow_secrets=args.allow_secrets, **_options(args))
        print_json({"pulled": pulled.as_counts(), "pushed": pushed.as_counts(),
                    "bad_blobs": len(pulled.bad), "missing_blobs": len(pulled.missing)})
        return max(_finish(pulled, "quiet", []), _finish(pushed, "quiet", []))
    status = _finish(pulled, "text", _pull_lines(pulled, args.dry_run))
    pushed = push_report(args.directory, args.remote, allow_secrets=args.allow_secrets, **_options(args))
    return max(status, _finish(pushed, "text", _push_lines(pushed, args.dry_run)))


def run_status(args: argparse.Namespace) -> int:
    from gitvault.sync.exchange import status

    found = status(args.directory, args.remote)
    if args.json:
        print_json({"remote": found.remote, "ahead": found.ahead, "behind": found.behind,
                    "blobs_missing_here": found.blobs_missing_here,
                    "blobs_missing_there": found.blobs_missing_there, "blobs_nowhere": found.blobs_nowhere})
        return 0
    print(f"ahead of {found.remote}:  {summary(found.ahead)}")
    print(f"behind {found.remote}:    {summary(found.behind)}")
    print(f"blobs missing here:   {found.blobs_missing_here}"
          + (" (`git vault pull` fetches them)" if found.blobs_missing_here else ""))
    print(f"blobs missing there:  {found.blobs_missing_there}"
          + (" (`git vault push` sends them)" if found.blobs_missing_there else ""))
    if found.blobs_nowhere:
        print(f"blobs on neither side: {found.blobs_nowhere} (ask whoever made those runs to `git vault push`)")
    return 0


def _count_rows(counts: dict[str, int]) -> list[dict]:
    return [{"table": k, "added": v} for k, v in counts.items()]


def run_export(args: argparse.Namespace) -> int:
    from gitvault.sync.archive import export_report

    report = export_report(args.directory, args.output, args.experiment or None)
    counts = report.as_counts()
    if args.json:
        print_json(counts)
        return 0
    print(f"exported to {args.output}: {_moved(report.sent, report.blobs, report.blob_bytes)}")
    print_table(_count_rows(counts), ["table", "added"])
    return 0


def run_import(args: argparse.Namespace) -> int:
    from gitvault.sync.archive import import_report

    report = import_report(args.archive, args.directory)
    if args.json:
        return _finish(report, "json", [])
    print(f"imported {args.archive}: {_moved(report.counts, report.blobs, report.blob_bytes)} ({report.how})")
    print_table(_count_rows(report.as_counts()), ["table", "added"])
    return _finish(report, "text", [])
