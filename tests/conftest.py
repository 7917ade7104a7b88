"""Shared fixtures: real git repositories in temp dirs and the real `git vault` command."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

os.environ.update(
    GIT_AUTHOR_NAME="Test Researcher",
    GIT_AUTHOR_EMAIL="researcher@example.invalid",
    GIT_COMMITTER_NAME="Test Researcher",
    GIT_COMMITTER_EMAIL="researcher@example.invalid",
    GIT_CONFIG_NOSYSTEM="1",
)
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.pop("NO_COLOR", None)


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, check=check, input=input)


def vault_cmd(cwd: Path, *args: str, check: bool = False, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `git vault` command the way a user would."""
    proc = subprocess.run(["git", "vault", *args], cwd=cwd, text=True, capture_output=True, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"git vault {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def vault_run(cwd: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`git vault` called in-process (no interpreter start-up): the same parser, commands and
    one-line errors as `vault_cmd`, with stdout and stderr captured."""
    import contextlib
    import io

    from gitvault.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["-C", str(cwd), *args])
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
    proc = subprocess.CompletedProcess(["git", "vault", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"git vault {' '.join(args)} failed ({code}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_repo(root: Path, *vault_args: str) -> Path:
    """A new git repository at ``root`` with one commit; ``vault_args`` (e.g. "init" or "demo")
    are run as one `git vault` command afterwards."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('training')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "initial")
    if vault_args == ("init",):  # in-process: the real command without an interpreter start-up
        vault_run(root, "init", check=True)
    elif vault_args:
        vault_cmd(root, *vault_args, check=True)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository with one commit and no vault."""
    return make_repo(tmp_path / "project")


@pytest.fixture
def vault_repo(repo: Path) -> Path:
    """A repository whose vault is initialised with the default hierarchy (`git vault init`,
    in-process: hundreds of tests start from one)."""
    vault_run(repo, "init", check=True)
    return repo


def curve_points(tbl: Any) -> int:
    """Non-null values in a sealed curves table's curve columns (all but step and wall_time)."""
    return sum(len(tbl.column(i)) - tbl.column(i).null_count for i in range(2, tbl.num_columns))


def needs(module: str, reason: str) -> pytest.MarkDecorator:
    """Skip a test module when ``module`` is not installed, looked up rather than imported: every
    pytest worker collects every test file, and torch, Keras or mlflow take seconds to import."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=reason)
