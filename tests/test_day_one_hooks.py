"""Issue 16, point 8: hooks that always run. The shim records the interpreter `git vault hooks
install` ran under, so a commit from an IDE or a shell without the project's environment on PATH
still links its runs; it falls back to ``git-vault`` on PATH, says so when neither can start, and
`git vault hooks status` names a shim that cannot start. A hooks folder in the work tree
(``core.hooksPath``, husky) is never written unasked: the lines to add are printed."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from gitvault.gitlink import hookinstall
from gitvault.gitlink.hookinstall import recorded_python, shim_text
from tests.conftest import git, vault_cmd, vault_run
from tests.git_helpers import head, link, make_run, wait_for, wait_hooks_idle


def bare_path() -> str:
    """A PATH with git and the system's tools but not the project's environment (as an IDE has)."""
    git_dir = os.path.dirname(subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout)
    path = f"{git_dir}:/usr/bin:/bin"
    assert subprocess.run(["sh", "-c", "command -v git-vault"], env={"PATH": path}).returncode != 0
    return path


def commit_without_the_environment(repo: Path, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(["git", "commit", "-q", "-am", message], cwd=repo, capture_output=True, text=True,
                          env={**env, "PATH": bare_path()})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_the_shim_records_the_interpreter_and_links_from_an_ide(vault_repo: Path) -> None:
    out = vault_cmd(vault_repo, "hooks", "install", check=True).stdout
    shim = (vault_repo / ".git" / "hooks" / "post-commit").read_text()
    assert recorded_python(shim) == sys.executable and shim == shim_text("post-commit", sys.executable)
    assert "installed" in out
    (vault_repo / "train.py").write_text("print('ide')\n")
    run_id = make_run(vault_repo, "from-the-ide")
    commit_without_the_environment(vault_repo, "committed from an IDE")
    assert wait_for(lambda: link(vault_repo, run_id, head(vault_repo))), (vault_repo / ".extract/hooks.log").read_text()
    status = vault_cmd(vault_repo, "hooks", "status", check=True).stdout
    assert f"post-commit   installed (runs {sys.executable})" in status


def test_a_shim_whose_interpreter_is_gone_falls_back_and_status_says_so(
        vault_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = vault_repo / ".git" / "hooks"
    gone = str(vault_repo.parent / "deleted-venv" / "bin" / "python")
    for name in hookinstall.BASE_HOOKS:  # as installed from a virtualenv deleted since
        (hooks / name).write_text(shim_text(name, gone))
        (hooks / name).chmod(0o755)
    status = vault_cmd(vault_repo, "hooks", "status")  # git-vault is on this PATH: it falls back to it
    assert status.returncode == 1
    assert f"post-commit   installed but cannot start (its interpreter {gone} is gone; it falls back to" in status.stdout
    (vault_repo / "train.py").write_text("print('fallback')\n")
    run_id = make_run(vault_repo, "fallback")
    git(vault_repo, "commit", "-q", "-am", "falls back to git-vault on PATH")
    assert wait_for(lambda: link(vault_repo, run_id, head(vault_repo)))

    monkeypatch.setenv("PATH", bare_path())  # and without git-vault on PATH either
    status = vault_run(vault_repo, "hooks", "status")
    assert status.returncode == 1
    assert "and git-vault is not on PATH: commits are not linked; run `git vault hooks install`" in status.stdout
    (vault_repo / "train.py").write_text("print('nothing')\n")
    commit_without_the_environment(vault_repo, "nothing can start gitvault")
    log = vault_repo / ".extract" / "hooks.log"
    assert wait_for(lambda: log.exists() and "the post-commit hook cannot start" in log.read_text())
    # a pristine shim of another interpreter is still ours: uninstall removes it
    states = {s.name: s.action for s in hookinstall.uninstall(vault_repo)}
    assert states == {"post-commit": "removed", "post-rewrite": "removed"}


def test_an_interpreter_without_gitvault_is_reported(vault_repo: Path, tmp_path: Path) -> None:
    venv.create(tmp_path / "bare", with_pip=False)
    python = str(tmp_path / "bare" / "bin" / "python")
    hooks = vault_repo / ".git" / "hooks"
    (hooks / "post-commit").write_text(shim_text("post-commit", python))
    (hooks / "post-commit").chmod(0o755)
    status = vault_cmd(vault_repo, "hooks", "status").stdout
    assert f"installed but cannot start (its interpreter {python} cannot import gitvault (ModuleNotFoundError" in status
    (vault_repo / "train.py").write_text("print('bare')\n")
    run_id = make_run(vault_repo, "bare")
    git(vault_repo, "commit", "-q", "-am", "python without gitvault: git-vault on PATH links it")
    assert wait_for(lambda: link(vault_repo, run_id, head(vault_repo)))
    out = vault_cmd(vault_repo, "hooks", "install", check=True).stdout  # reinstalling records this interpreter
    assert f"post-commit   upgraded (runs {sys.executable}, was {python})" in out
    assert "cannot start" not in vault_cmd(vault_repo, "hooks", "status", check=True).stdout


@pytest.mark.parametrize("folder", [".githooks", ".husky/_"])
def test_a_hooks_folder_in_the_work_tree_is_never_written_unasked(vault_repo: Path, folder: str) -> None:
    git(vault_repo, "config", "core.hooksPath", folder)
    (vault_repo / folder).mkdir(parents=True)
    (vault_repo / folder / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    out = vault_cmd(vault_repo, "hooks", "install", "--push", check=True).stdout
    assert sorted(p.name for p in (vault_repo / folder).iterdir()) == ["pre-commit"]
    for name in ("post-commit", "post-rewrite", "pre-push"):
        assert f"{name:<13} skipped (" in out
        assert hookinstall.SNIPPETS[name] in out  # the line to add, for each hook
    if folder == ".githooks":
        assert "is in your work tree" in out and "`git vault hooks install --in-work-tree`" in out
        vault_cmd(vault_repo, "hooks", "install", "--in-work-tree", check=True)
        assert (vault_repo / folder / "post-commit").read_text() == shim_text("post-commit", sys.executable)
    else:
        assert "managed by husky" in out
    wait_hooks_idle(vault_repo)
