"""Issue 16, point 9 (two of its items): `git vault fsck` warns about runs whose commit is gone
from the repository, and every `git vault <command>` that an error message, a hint or a docstring
of gitvault quotes is a real command (with its real subcommands and options)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tests.conftest import git, vault_cmd
from tests.git_helpers import make_run

SOURCE = Path(__file__).resolve().parents[1]
SCANNED = ("gitvault", "cli", "mcp_server", "hooks")
QUOTED = re.compile(r"git vault ((?:[a-z][a-z0-9-]*)(?: +(?:--?[a-z][a-z0-9-]*(?:=\S*)?|[a-z][a-z0-9-]*))*)")


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's full parser (`git vault -h` lists the commands
    without building their options; the man page builds them all)."""
    from gitvault.cli.main import build_parser
    from gitvault.cli.manpage import commands

    return build_parser(), commands().parsers


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _quotes() -> list[tuple[str, int, str]]:
    """(file, line, the words after "git vault") of every quote in the source."""
    found = []
    for top in SCANNED:
        for path in sorted((SOURCE / top).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for match in QUOTED.finditer(line):
                    found.append((str(path.relative_to(SOURCE)), number, match.group(1)))
    return found


def test_every_quoted_git_vault_command_exists() -> None:
    _, commands = _parsers()
    quotes = _quotes()
    assert len(quotes) > 50, "the scan found too few quotes to mean anything"
    wrong = []
    for where, number, text in quotes:
        words = text.split()
        parser = commands.get(words[0])
        if parser is None:
            wrong.append(f"{where}:{number}: `git vault {words[0]}` is no command")
            continue
        value_next = False
        for word in words[1:]:
            if value_next:  # the value of the option before it (`--sort -val/loss`)
                value_next = False
                continue
            if word.startswith("-"):
                option = word.split("=", 1)[0]
                action = _options(parser).get(option)
                if action is None:
                    wrong.append(f"{where}:{number}: `git vault {text}`: {option} is no option of {parser.prog}")
                value_next = action is not None and action.nargs != 0 and "=" not in word
                continue
            children = _children(parser)
            if not children:
                break  # a positional argument (a run, a remote, a revision...)
            if word not in children:
                wrong.append(f"{where}:{number}: `git vault {text}`: {word!r} is no subcommand of {parser.prog}")
                break
            parser = children[word]
    assert wrong == []


def test_the_check_catches_a_made_up_command() -> None:
    _, commands = _parsers()
    assert "push" in commands and "no-such-command" not in commands
    assert QUOTED.search("run `git vault hooks install --in-work-tree` again").group(1) == "hooks install --in-work-tree"  # type: ignore[union-attr]


def test_fsck_warns_about_runs_whose_commit_is_gone(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text("print('v1')\n")
    git(vault_repo, "commit", "-q", "-am", "v1")
    gone = git(vault_repo, "rev-parse", "HEAD").stdout.strip()
    first = make_run(vault_repo, "on-v1")
    second = make_run(vault_repo, "also-on-v1")
    assert "gone_commit" not in vault_cmd(vault_repo, "fsck").stdout
    (vault_repo / "train.py").write_text("print('v1, amended')\n")
    git(vault_repo, "commit", "-q", "--amend", "-am", "v1 amended")  # no hooks installed: nothing linked
    git(vault_repo, "reflog", "expire", "--expire=now", "--all")
    git(vault_repo, "gc", "-q", "--prune=now")
    assert git(vault_repo, "cat-file", "-e", gone, check=False).returncode != 0
    proc = vault_cmd(vault_repo, "fsck")
    assert proc.returncode == 0  # a warning, not a problem: the vault itself is whole
    lines = [line for line in proc.stdout.splitlines() if "gone_commit" in line]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith(f"warning: gone_commit: commit {gone[:12]} is no longer in this repository: "
                               "2 run(s) ran on it (")
    assert first in lines[0] and second in lines[0] and "`git fetch`" in lines[0]
    report = json.loads(vault_cmd(vault_repo, "fsck", "--json").stdout)
    assert [w["where"] for w in report["warnings"] if w["code"] == "gone_commit"] == [gone]


def test_the_gone_commit_hint_says_what_checkout_can_do(vault_repo: Path) -> None:
    """Review of issue 16: the warning suggested `git vault checkout RUN`, which fails for a run
    whose commit is gone (its patch is a diff against that very commit). The hint now says the
    commit must be fetched first, and where a dirty run's patch is kept."""
    (vault_repo / "train.py").write_text("print('v1')\n")
    git(vault_repo, "commit", "-q", "-am", "v1")
    gone = git(vault_repo, "rev-parse", "HEAD").stdout.strip()
    (vault_repo / "train.py").write_text("print('v1 with a local edit')\n")
    dirty = make_run(vault_repo, "dirty-on-v1")
    git(vault_repo, "checkout", "-q", "--", "train.py")
    (vault_repo / "train.py").write_text("print('v1, amended')\n")
    git(vault_repo, "commit", "-q", "--amend", "-am", "v1 amended")
    git(vault_repo, "reflog", "expire", "--expire=now", "--all")
    git(vault_repo, "gc", "-q", "--prune=now")
    line = next(line for line in vault_cmd(vault_repo, "fsck").stdout.splitlines() if "gone_commit" in line)
    assert "rebuilds a run's code from its patch" not in line
    assert (f"commit {gone[:12]} is no longer in this repository: 1 run(s) ran on it ({dirty}); "
            "`git vault checkout` cannot rebuild the code of a run that ran on it until it is back: "
            "`git fetch` the branch that holds it") in line, line
    assert "1 of them keep their uncommitted changes in their record, as a patch against that commit " \
           "(`git vault show RUN --json` names its blob: git.patch)" in line, line
    # what the hint says: checkout fails until the commit is back, and show names the patch
    failed = vault_cmd(vault_repo, "checkout", dirty)
    assert failed.returncode != 0 and "not in this repository" in failed.stderr
    detail = json.loads(vault_cmd(vault_repo, "show", dirty, "--json", check=True).stdout)
    assert detail["git"]["sha"] == gone and detail["git"]["dirty"] and detail["git"]["patch"]
