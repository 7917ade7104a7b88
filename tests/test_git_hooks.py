"""`git vault hooks install|uninstall|status`: shims that chain the hooks already there, respect
core.hooksPath, install idempotently, uninstall byte for byte, and never fail a commit."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitvault.gitlink import hookinstall
from gitvault.gitlink.hookinstall import ALL_HOOKS, MARKER, shim_text
from tests.conftest import git, vault_cmd
from tests.git_helpers import head, link, make_run, wait_for

SOURCE = Path(__file__).resolve().parents[1]
USER_HOOK = "#!/bin/sh\necho \"user $0 $*\" >> \"$(git rev-parse --show-toplevel)/user-hook.log\"\nexit 0\n"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a folder: bytes and permission bits (symlinks as their target)."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            out[path.name] = (os.readlink(path).encode(), 0)
        elif path.is_file():
            out[path.name] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return out


def write_hook(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def test_githooks_folder_holds_the_installed_shims() -> None:
    for name in ALL_HOOKS:
        shipped = SOURCE / ".githooks" / name
        assert shipped.read_text() == shim_text(name)
        assert os.access(shipped, os.X_OK)
        assert MARKER in shipped.read_text()
        assert subprocess.run(["sh", "-n", str(shipped)]).returncode == 0


def test_install_twice_changes_nothing_and_uninstall_restores_bytes(vault_repo: Path) -> None:
    hooks = vault_repo / ".git" / "hooks"
    write_hook(hooks / "post-commit", USER_HOOK)
    (hooks / "post-rewrite").symlink_to("post-commit")
    before = snapshot(hooks)

    out = vault_cmd(vault_repo, "hooks", "install", "--push", check=True).stdout
    assert "post-commit.pre-gitvault" in out
    installed = snapshot(hooks)
    assert installed["post-commit"][0].decode() == shim_text("post-commit", sys.executable)
    assert installed["post-commit.pre-gitvault"] == before["post-commit"]
    assert installed["post-rewrite.pre-gitvault"] == before["post-rewrite"]  # the symlink itself moved
    mtimes = {p.name: p.lstat().st_mtime_ns for p in hooks.iterdir()}

    again = vault_cmd(vault_repo, "hooks", "install", "--push", check=True).stdout
    assert again.count("unchanged") == 3
    assert snapshot(hooks) == installed
    assert {p.name: p.lstat().st_mtime_ns for p in hooks.iterdir()} == mtimes

    status = vault_cmd(vault_repo, "hooks", "status", check=True).stdout
    assert "chains post-commit.pre-gitvault" in status

    vault_cmd(vault_repo, "hooks", "uninstall", check=True)
    assert snapshot(hooks) == before
    assert (hooks / "post-rewrite").is_symlink()


def test_user_hook_still_runs_after_install_and_after_uninstall(vault_repo: Path) -> None:
    hooks = vault_repo / ".git" / "hooks"
    write_hook(hooks / "post-commit", USER_HOOK)
    log = vault_repo / "user-hook.log"
    hookinstall.install(vault_repo)

    (vault_repo / "train.py").write_text("print('chained')\n")
    run_id = make_run(vault_repo, "chained")
    git(vault_repo, "commit", "-q", "-am", "with both hooks")
    assert log.read_text().count("user") == 1
    assert wait_for(lambda: link(vault_repo, run_id, head(vault_repo)))  # ours ran too

    hookinstall.uninstall(vault_repo)
    git(vault_repo, "commit", "-q", "--allow-empty", "-m", "after uninstall")
    assert log.read_text().count("user") == 2
    assert (hooks / "post-commit").read_text() == USER_HOOK


def test_chained_hook_exit_status_is_kept(vault_repo: Path, tmp_path: Path) -> None:
    hooks = vault_repo / ".git" / "hooks"
    write_hook(hooks / "pre-push", "#!/bin/sh\ncat > /dev/null\necho 'user pre-push says no' >&2\nexit 3\n")
    write_hook(hooks / "post-commit", "#!/bin/sh\nexit 5\n")
    hookinstall.install(vault_repo, push=True)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(vault_repo, "remote", "add", "origin", str(remote))

    pushed = git(vault_repo, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode != 0 and "user pre-push says no" in pushed.stderr
    assert git(remote, "for-each-ref", check=True).stdout == ""  # neither the code nor the vault went

    shim = subprocess.run(["sh", str(hooks / "post-commit")], cwd=vault_repo)
    assert shim.returncode == 5
    assert git(vault_repo, "commit", "-q", "--allow-empty", "-m", "post-commit status is ignored by git").returncode == 0


def test_pre_push_pushes_the_vault_with_the_code(vault_repo: Path, tmp_path: Path) -> None:
    hookinstall.install(vault_repo, push=True)
    make_run(vault_repo, "pushed", loss=1.0)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(vault_repo, "remote", "add", "origin", str(remote))
    pushed = git(vault_repo, "push", "origin", "main")
    assert "gitvault: vault pushed to origin" in pushed.stderr
    refs = git(remote, "for-each-ref", "--format=%(refname)").stdout.split()
    assert refs == ["refs/heads/main", "refs/vault/main"]
    assert git(remote, "rev-parse", "refs/vault/main").stdout == git(vault_repo, "rev-parse", "refs/vault/main").stdout


def test_core_hooks_path_is_respected(vault_repo: Path) -> None:
    git(vault_repo, "config", "core.hooksPath", "team-hooks")
    write_hook(vault_repo / "team-hooks" / "post-commit", USER_HOOK)
    before = snapshot(vault_repo / "team-hooks")
    out = vault_cmd(vault_repo, "hooks", "install", check=True).stdout  # a folder of the code: not written unasked
    assert "is in your work tree" in out and "git-vault hook post-commit" in out and "--in-work-tree" in out
    assert snapshot(vault_repo / "team-hooks") == before
    out = vault_cmd(vault_repo, "hooks", "install", "--in-work-tree", check=True).stdout
    assert str(vault_repo / "team-hooks") in out
    assert not (vault_repo / ".git" / "hooks" / "post-commit").exists()
    assert (vault_repo / "team-hooks" / "post-commit.pre-gitvault").read_text() == USER_HOOK

    (vault_repo / "train.py").write_text("print('team')\n")
    run_id = make_run(vault_repo, "team")
    git(vault_repo, "add", "-A")  # the team's hooks folder is part of the code
    git(vault_repo, "commit", "-q", "-m", "team hooks")
    assert (vault_repo / "user-hook.log").exists()
    assert wait_for(lambda: link(vault_repo, run_id, head(vault_repo)))
    hookinstall.uninstall(vault_repo)
    assert sorted(p.name for p in (vault_repo / "team-hooks").iterdir()) == ["post-commit"]


def test_framework_managed_hooks_are_not_edited(vault_repo: Path) -> None:
    git(vault_repo, "config", "core.hooksPath", ".husky/_")
    write_hook(vault_repo / ".husky" / "_" / "h", "#!/bin/sh\n# husky\n")
    before = snapshot(vault_repo / ".husky" / "_")
    out = vault_cmd(vault_repo, "hooks", "install", check=True).stdout
    assert "managed by husky" in out and "git-vault hook post-commit" in out
    assert snapshot(vault_repo / ".husky" / "_") == before

    git(vault_repo, "config", "--unset", "core.hooksPath")
    write_hook(vault_repo / ".git" / "hooks" / "post-commit", "#!/bin/sh\n# File generated by pre-commit: https://pre-commit.com\n")
    states = {s.name: s for s in hookinstall.install(vault_repo)}
    assert states["post-commit"].action == "skipped" and "pre-commit" in states["post-commit"].detail
    assert states["post-rewrite"].action == "installed"


def test_edited_shim_is_left_alone_on_uninstall(vault_repo: Path) -> None:
    hookinstall.install(vault_repo)
    shim = vault_repo / ".git" / "hooks" / "post-commit"
    shim.write_text(shim.read_text() + "echo mine\n")
    states = {s.name: s for s in hookinstall.uninstall(vault_repo)}
    assert states["post-commit"].action == "left alone"
    assert shim.read_text().endswith("echo mine\n")
    assert not (vault_repo / ".git" / "hooks" / "post-rewrite").exists()


def test_hook_exits_0_when_the_vault_is_locked(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text("print('locked')\n")
    make_run(vault_repo, "locked")
    git(vault_repo, "commit", "-q", "-am", "locked")
    fd = os.open(vault_repo / ".git" / "vault.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        proc = subprocess.run(["git-vault", "hook", "post-commit"], cwd=vault_repo, capture_output=True, text=True,
                              env={**os.environ, "GITVAULT_LOCK_TIMEOUT": "0.5"})
    finally:
        os.close(fd)
    assert proc.returncode == 0
    assert "LockTimeoutError" in (vault_repo / ".extract" / "hooks.log").read_text()


@pytest.mark.parametrize("damage", ["ref-to-blob", "garbage-state"])
def test_commit_succeeds_with_a_damaged_vault(vault_repo: Path, damage: str) -> None:
    hookinstall.install(vault_repo)
    if damage == "ref-to-blob":
        blob = git(vault_repo, "hash-object", "-w", "train.py").stdout.strip()
        git(vault_repo, "update-ref", "refs/vault/main", blob)
    else:
        (vault_repo / ".extract" / "linking.msgpack").write_bytes(b"\xc1 not msgpack")
    proc = git(vault_repo, "commit", "-q", "--allow-empty", "-m", "still commits", check=False)
    assert proc.returncode == 0 and proc.stderr == ""
    direct = subprocess.run(["git-vault", "hook", "post-commit"], cwd=vault_repo, capture_output=True, text=True)
    assert direct.returncode == 0
    if damage == "ref-to-blob":
        assert "post-commit failed" in wait_for(lambda: (vault_repo / ".extract" / "hooks.log").exists()
                                                and (vault_repo / ".extract" / "hooks.log").read_text())


def test_commit_succeeds_without_gitvault_on_path(vault_repo: Path) -> None:
    hooks = vault_repo / ".git" / "hooks"
    write_hook(hooks / "post-commit", USER_HOOK)
    hookinstall.install(vault_repo)
    git_dir = os.path.dirname(subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout)
    env = {**os.environ, "PATH": f"{git_dir}:/usr/bin:/bin"}
    assert subprocess.run(["sh", "-c", "command -v git-vault"], env=env).returncode != 0
    proc = subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "no gitvault"], cwd=vault_repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert (vault_repo / "user-hook.log").read_text().count("user") == 1


def test_init_offers_hooks_only_when_asked_or_on_a_terminal(repo: Path) -> None:
    out = vault_cmd(repo, "init", check=True).stdout  # stdin is not a terminal: no question, no hooks
    assert "hooks:     not installed" in out
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    out = vault_cmd(repo, "init", "--force", "--hooks", check=True).stdout
    assert "post-commit   installed" in out
    assert (repo / ".git" / "hooks" / "post-commit").read_text() == shim_text("post-commit", sys.executable)
