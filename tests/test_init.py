"""Opening a vault and `git vault init`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitvault import NotARepositoryError, Vault
from tests.conftest import git, vault_cmd


def test_init_writes_vault_toml_into_the_vault_ref(repo: Path) -> None:
    proc = vault_cmd(repo, "init", "--hierarchy", "dataset > model", check=True)
    assert "dataset > model" in proc.stdout
    toml = git(repo, "show", "refs/vault/main:vault.toml").stdout
    assert 'hierarchy = "dataset > model"' in toml
    assert "format_version = 1" in toml
    assert "[taxonomy.domains.interpretability]" in toml
    assert (repo / ".extract" / "objects").is_dir()
    assert git(repo, "status", "--porcelain").stdout == ""
    assert git(repo, "log", "--oneline", "-g", "refs/vault/main").stdout.strip()


def test_init_twice_refuses_without_force(vault_repo: Path) -> None:
    before = git(vault_repo, "rev-parse", "refs/vault/main").stdout
    proc = vault_cmd(vault_repo, "init", "--hierarchy", "a > b")
    assert proc.returncode == 1
    assert proc.stderr.startswith("git vault: error:") and "--force" in proc.stderr
    assert git(vault_repo, "rev-parse", "refs/vault/main").stdout == before
    vault_cmd(vault_repo, "init", "--hierarchy", "a > b", "--force", check=True)
    assert 'hierarchy = "a > b"' in git(vault_repo, "show", "refs/vault/main:vault.toml").stdout


@pytest.mark.parametrize("bad", ["", "a >", "> b", "a > a", "a/b > c", "a > b\x07", "1x > y"])
def test_bad_hierarchy_is_refused_and_nothing_written(repo: Path, bad: str) -> None:
    proc = vault_cmd(repo, "init", "--hierarchy", bad)
    assert proc.returncode != 0
    assert "git vault: error:" in proc.stderr and "Traceback" not in proc.stderr
    assert git(repo, "rev-parse", "--verify", "-q", "refs/vault/main", check=False).returncode != 0


def test_outside_a_repository_says_git_init(tmp_path: Path) -> None:
    proc = vault_cmd(tmp_path, "init")
    assert proc.returncode == 1 and "git init" in proc.stderr
    with pytest.raises(NotARepositoryError, match="git init"):
        Vault.open(tmp_path)


def test_subdirectories_and_worktrees_share_one_vault(vault_repo: Path, tmp_path: Path) -> None:
    sub = vault_repo / "src" / "deep"
    sub.mkdir(parents=True)
    assert Vault.open(sub).paths.extract_dir == vault_repo / ".extract"
    wt = tmp_path / "wt"
    git(vault_repo, "worktree", "add", "-q", str(wt))
    opened = Vault.open(wt)
    assert opened.paths.extract_dir == vault_repo / ".extract"
    assert opened.tip() == Vault.open(vault_repo).tip()
    assert vault_cmd(wt, "init").returncode == 1  # same vault: already initialised


def test_extract_dir_is_ignored_by_git(vault_repo: Path) -> None:
    (vault_repo / ".extract" / "junk.bin").write_bytes(b"x")
    assert git(vault_repo, "status", "--porcelain", "--ignored").stdout.count(".extract") == 1
    assert ".extract" not in git(vault_repo, "status", "--porcelain").stdout
    assert subprocess.run(["git", "check-ignore", ".extract/junk.bin"], cwd=vault_repo).returncode == 0


@pytest.mark.parametrize("text", ["store = 5", "[taxonomy]\ndomains = 3", "[metrics]\nminimize = 4",
                                  "[taxonomy.domains.x]\nmethods = 5", "format_version = 99", "store = ["])
def test_vault_toml_of_the_wrong_shape_is_a_config_error(text: str) -> None:
    from gitvault import ConfigError, VaultConfig

    with pytest.raises(ConfigError, match="vault.toml"):
        VaultConfig.from_toml(text)


def test_os_errors_are_one_line_not_a_traceback(vault_repo: Path) -> None:
    import shutil

    shutil.rmtree(vault_repo / ".extract")
    (vault_repo / ".extract").write_text("not a folder\n")
    for args in (["runs"], ["recover"], ["reindex"]):
        proc = vault_cmd(vault_repo, *args)
        assert proc.returncode == 1, args
        assert proc.stderr.startswith("git vault: error:") and "Traceback" not in proc.stderr, proc.stderr
        assert "is a file gitvault did not write" in proc.stderr, proc.stderr
