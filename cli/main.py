"""Entry point of `git vault`: builds the parser from the command modules and maps errors to
one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence, TextIO

from gitvault import extras
from gitvault.errors import VaultError



def command_modules() -> list[str]:
    """Every ``cmd_*`` module of this package registers its own subcommand(s). (A listing of this
    folder: ``pkgutil.iter_modules`` imports ``inspect``, 7 ms of every command's start.)"""
    return sorted(f"gitvault.cli.{p.stem}" for p in Path(__file__).parent.glob("cmd_*.py"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own usage errors, one line like ours
        self.print_usage(sys.stderr)
        sys.stderr.write(f"git vault: error: {message}\n")
        raise SystemExit(2)


SHARED_MODULES = {"diff": "compare", "hook": "hooks", "push": "sync", "pull": "sync", "status": "sync",
                  "export": "sync", "import": "sync", "untag": "tag", "note": "tag", "rename": "tag",
                  "mark": "tag", "archive": "tag", "unarchive": "tag", "restore": "delete", "import-from": "import"}
"""Commands registered by a module named after another command (``cmd_<command>`` holds the rest);
tests/test_cli_read.py checks it against what every module registers."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, when ``command`` is named and its module ``cmd_<command>``
    registers it, of that command alone (importing and building 40 subparsers costs a read command
    a third of its time; `git vault -h` and unknown commands still see them all)."""
    parser = _Parser(prog="git vault", description="Experiment tracking that lives in your git repository.")
    parser.add_argument("-C", dest="directory", default=None, help="run as if started in this directory")
    parser.add_argument("--no-pager", dest="no_pager", action="store_true",
                        help="do not pipe long output (runs, show, compare, diff, log) into a pager")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version of gitvault (PyPI: git-vault) and exit")
    if command is not None:
        module = f"gitvault.cli.cmd_{SHARED_MODULES.get(command, command.replace('-', '_'))}"
        if module in command_modules():
            sub = _commands(parser, _Parser)
            importlib.import_module(module).register(sub)
            if command in sub.choices:
                return parser
        return build_parser()
    sub = _commands(parser, _Unlisted)
    for name in command_modules():
        commands = importlib.import_module(name)
        extra = getattr(commands, "EXTRA", None)  # the extra a command module's commands need, if any
        commands.register(_Listed(sub, extra if extra and not extras.available(extra) else None))
    return parser


def _commands(parser: argparse.ArgumentParser, parser_class: type) -> "argparse._SubParsersAction[Any]":
    sub: "argparse._SubParsersAction[Any]" = parser.add_subparsers(dest="command", metavar="<command>", parser_class=parser_class)
    sub.required = True
    return sub


class _Listed:
    """The subcommands as `git vault -h` (or an unknown command) lists them: names and help only
    (never parsed here; `git vault CMD -h` builds CMD's parser alone), and, for a module whose
    extra is not installed, with help ending in what to install (running one says so too)."""

    def __init__(self, sub: argparse._SubParsersAction, missing_extra: str | None) -> None:
        self.sub, self.extra = sub, missing_extra

    def add_parser(self, name: str, **kwargs: Any) -> "_Unlisted":
        if self.extra and kwargs.get("help"):
            kwargs["help"] = f"{kwargs['help']} [needs the {self.extra} extra: pip install \"git-vault[{self.extra}]\"]"
        return self.sub.add_parser(name, **kwargs)


class _Unlisted:
    """A listed command's own parser (the listing's ``parser_class``), which the listing never
    parses: every call its module's ``register`` makes on it (arguments, defaults, groups,
    subcommands) is accepted and dropped, so `git vault -h` builds no parser or argument of any
    command (40 parsers: half of its time, mostly argparse asking gettext for their headings)."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Callable[..., "_Unlisted"]:
        return lambda *args, **kwargs: self


def command_named(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (after ``-C DIR``); None for options such as ``-h``."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--no-pager":
            continue
        elif word == "-C":
            skip = True
        elif not word.startswith("-C"):
            return None if word.startswith("-") else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"] and len(argv) > 1 and not argv[1].startswith("-"):  # git hooks: no command imports
        from gitvault.hooks import main as hook_main

        return hook_main(argv[1:])
    parser = build_parser(command_named(argv))
    args = parser.parse_args(argv)
    shown, warnings.showwarning = warnings.showwarning, _warning_line
    try:
        _refuse_foreign_store(args)
        if wants_pager(args):
            from gitvault.cli.output import paged  # not loaded by `git vault -h` and commands that never page

            with paged(True, args.directory, args.repo.settings if args.repo else None):
                result = args.func(args)
        else:
            result = args.func(args)
    except ImportError as exc:  # an extra not installed (MissingExtraError, or a module it holds)
        extra = getattr(exc, "extra", None) or extras.extra_of(getattr(exc, "name", None))
        if extra is None:
            raise
        sys.stderr.write(f"git vault: error: {extras.message(f'git vault {args.command}', extra)}\n")
        return 2
    except (VaultError, ValueError, TypeError) as exc:
        sys.stderr.write(f"git vault: error: {_pull_instead(exc, args)}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("git vault: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # disk full, permissions, .extract being a file...: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"git vault: error: {exc.strerror or exc}{where}\n")
        return 1
    finally:
        warnings.showwarning = shown
    return int(result or 0)


NO_VAULT_COMMANDS = ("init", "pull", "sync", "import", "status", "hooks", "hook", "mcp")
LS_REMOTE_TIMEOUT_S = 3.0


def _pull_instead(exc: BaseException, args: argparse.Namespace) -> str:
    """The error's text; when it says there is no vault here yet but a remote has one (a
    teammate's fresh clone), it says to pull that vault rather than start a new one."""
    from gitvault.errors import VaultNotInitializedError

    if not isinstance(exc, VaultNotInitializedError) or getattr(args, "command", None) in NO_VAULT_COMMANDS:
        return str(exc)
    remote = remote_with_vault(args.directory)
    if remote is None:
        return str(exc)
    pull = "git vault pull" if remote == "origin" else f"git vault pull {remote}"
    return (f"this clone has no vault yet, but {remote} has one: run `{pull}` to fetch it "
            "(`git vault init` would start a separate, empty vault)")


def remote_with_vault(cwd: str | None) -> str | None:
    """A remote that has ``refs/vault/main``: one fetched before (``refs/vault-remotes/<remote>/``),
    else asked with ``git ls-remote`` (origin first), each remote time-boxed to a few seconds
    with no password prompt; None when none has one or none answers."""
    import os
    import subprocess

    def git(*words: str, timeout: float | None = None) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": os.environ.get(
            "GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=3")}
        try:
            proc = subprocess.run(["git", *words], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                                  env=env, stdin=subprocess.DEVNULL)
        except (subprocess.TimeoutExpired, OSError):
            return ""
        return proc.stdout if proc.returncode == 0 else ""

    fetched = git("for-each-ref", "--format=%(refname)", "refs/vault-remotes/").split()
    for ref in fetched:
        parts = ref.split("/")
        if len(parts) >= 4 and parts[-1] == "main":
            return "/".join(parts[2:-1])
    remotes = git("remote").split()
    for remote in sorted(remotes, key=lambda r: r != "origin")[:3]:
        if "refs/vault/main" in git("ls-remote", remote, "refs/vault/main", timeout=LS_REMOTE_TIMEOUT_S):
            return remote
    return None


def version() -> str:
    """The installed distribution's version (``git-vault`` on PyPI), else the package's own."""
    from importlib import metadata

    try:
        return metadata.version("git-vault")
    except metadata.PackageNotFoundError:
        from gitvault import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"git vault {version()}\n")
        raise SystemExit(0)


def wants_pager(args: argparse.Namespace) -> bool:
    """Commands that print long text page it on a terminal, unless ``--no-pager`` (before or after
    the command) or ``--json``."""
    return (bool(getattr(args, "pages", False)) and not getattr(args, "no_pager", False)
            and not getattr(args, "no_pager_here", False) and not getattr(args, "json", False))


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """gitvault's warnings as one line (`git vault: warning: ...`), not Python's source excerpt."""
    text = str(message).removeprefix("gitvault: ")
    (file or sys.stderr).write(f"git vault: warning: {text}\n")


def _refuse_foreign_store(args: argparse.Namespace) -> None:
    """Stop before any command writes (or reads through caches) next to a store that another
    program keeps in ``.extract/`` (an Extract store); `init --adopt-extract` is the way on. The
    repository found is kept in ``args.repo`` (None outside one) for the command to reuse."""
    from gitvault.storage import localdir
    from gitvault.errors import NotARepositoryError
    from gitvault.storage.repo import discover

    args.repo = None
    if getattr(args, "adopt_extract", False):
        return
    try:
        args.repo = discover(args.directory)
    except NotARepositoryError:
        return  # the command says so itself
    if localdir.is_ours(args.repo.extract_dir) is False:
        raise localdir.foreign_error(localdir.inspect(args.repo.extract_dir))


if __name__ == "__main__":
    raise SystemExit(main())
