"""The man page `git vault --help` opens (git turns it into ``man git-vault``), generated from the
parser so it lists every command as ``git vault -h`` does: ``make man`` writes
``man/man1/git-vault.1``, which the package installs as ``share/man/man1/git-vault.1`` (where
``man`` finds it from ``PATH``: ``<venv>/bin`` -> ``<venv>/share/man``); a test checks the
committed page is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent.parent / "man" / "man1" / "git-vault.1"

INTRO = """\
gitvault records ML experiments inside the git repository they belong to: runs (config, headline
metrics, curves, artifacts, the exact code) are committed as plain git objects under
refs/vault/main, large data sits beside them as sha256-addressed blobs in the git directory, and
teams share both through the git remote they already have (git vault push, git vault pull).
SQLite and DuckDB caches in .extract/ answer queries and can be deleted at any time.
"""

EXAMPLES = [
    ("git vault init", "create the vault of this repository"),
    ("git vault runs --columns name,status,val/acc,config.lr --sort -val/acc",
     "a runs table: chosen columns, best first (a bare name is a metric)"),
    ("git vault runs --where \"metrics.val_loss < 0.2 and tag = 'sweep'\" --since 2.weeks.ago",
     "filter by any expression over metrics, config, params, tags, status, times"),
    ("git vault show mlp-h64-lr0.3", "one run in full: by id, unique id prefix, unique name or path#name"),
    ("git vault compare RUN RUN --curves", "runs side by side; the best value of each metric marked *"),
    ("git vault config add metrics.minimize latency_ms", "say which way a metric is better (one vault commit)"),
    ("git vault log --oneline", "git log with each commit's runs under it"),
    ("git vault pull", "fetch and merge a remote's vault (a fresh clone has none until then)"),
]


def _esc(text: str) -> str:
    """Text as troff reads it: backslashes doubled, '-' as \\-, no line starting with '.' or "'"."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + out if out[:1] in (".", "'") else out


class _Commands:
    """Stands in for argparse's subparsers action while each command module registers itself:
    keeps every command's parser and one-line help."""

    def __init__(self) -> None:
        self.parsers: dict[str, argparse.ArgumentParser] = {}
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, *, help: str | None = None, **kwargs: Any) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=f"git vault {name}", **kwargs)
        self.parsers[name] = parser
        self.helps[name] = help or ""
        return parser


def commands() -> _Commands:
    """Every command's parser and help, registered as `git vault` registers them."""
    import importlib

    from gitvault.cli.main import command_modules

    found = _Commands()
    for module in command_modules():
        importlib.import_module(module).register(found)
    return found


def render() -> str:
    """The man page (troff, man macros) of every command."""
    found = commands()
    lines = [
        '.TH GIT-VAULT 1 "" "gitvault" "Git Manual"',
        ".SH NAME",
        "git\\-vault \\- experiment tracking for ML research that lives inside your git repository",
        ".SH SYNOPSIS",
        ".B git vault",
        "[\\-C \\fIdir\\fR] [\\-\\-no\\-pager] [\\-\\-version] \\fIcommand\\fR [\\fIargs\\fR]",
        ".SH DESCRIPTION",
        *(_esc(line) for line in INTRO.splitlines()),
        ".PP",
        "Every command takes \\fB\\-h\\fR for its options; listing commands take \\fB\\-\\-json\\fR.",
        "A user error prints one line, \\fIgit vault: error: ...\\fR, and exits non\\-zero.",
        ".SH OPTIONS",
        ".TP", "\\fB\\-C\\fR \\fIdir\\fR", "Run as if started in \\fIdir\\fR.",
        ".TP", "\\fB\\-\\-no\\-pager\\fR",
        _esc("Do not pipe long output into a pager. On a terminal, runs, show, compare, diff and log page "
             "their output as git does: GIT_PAGER, then core.pager, then PAGER, then less with LESS=FRX."),
        ".TP", "\\fB\\-\\-version\\fR", "Print the version and exit.",
        ".SH COMMANDS",
    ]
    for name, parser in found.parsers.items():
        if name == "hook" or found.helps[name] in ("", argparse.SUPPRESS):
            continue
        usage = parser.format_usage().strip().removeprefix("usage: ")
        lines += [".TP", f"\\fB{_esc(' '.join(usage.split()))}\\fR", _esc(found.helps[name]) + "."]
    lines += [".SH EXAMPLES"]
    for command, what in EXAMPLES:
        lines += [".TP", f"\\fB{_esc(command)}\\fR", _esc(what) + "."]
    lines += [
        ".SH FILES",
        ".TP", "\\fBrefs/vault/main\\fR", _esc("the vault: records, events and vault.toml (shared settings)"),
        ".TP", "\\fB.git/vault/objects/\\fR", _esc("blobs (curves, tables, tensors, models, patches), by sha256"),
        ".TP", "\\fB.extract/\\fR", _esc("the SQLite and DuckDB caches and local view settings; safe to delete"),
        ".SH SEE ALSO",
        "\\fBgit\\fR(1), \\fBgit\\-log\\fR(1); the README of gitvault (PyPI: git\\-vault).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the page (``python -m gitvault.cli.manpage [PATH]``)."""
    path = Path(argv[0]) if argv else PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
