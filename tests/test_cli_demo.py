"""`python -m gitvault.scaffold.demo` (what `make demo` runs) and `git vault demo`: the scratch repository,
real command output, and a second run that adds nothing. Also the shared progress display."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitvault.cli.progress import Progress
from tests.conftest import git, vault_cmd

SPECIMEN = "example_2024_12_19_synthetic_demo"


def make_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITVAULT_DEMO_DIR"}
    return subprocess.run([sys.executable, "-m", "gitvault.scaffold.demo"], cwd=cwd, text=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("make-demo")
    proc = make_demo(cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cwd / "demo-vault", proc


def test_make_demo_builds_a_scratch_repo_and_prints_real_output(first: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, proc = first
    assert (root / ".git").is_dir() and (root / "specimens" / SPECIMEN / "protocol.py").is_file()
    out = proc.stdout
    for header in ("$ git vault demo", "$ git vault experiments", "$ git vault runs", "$ git vault show ",
                   "$ git vault sql "):
        assert header in out, header
    assert "demo built: 3 specimens, 14 runs, 4 todos, 3 models, 12 lineage edges" in out
    assert "imagenet/resnet50/lr-sweep#lr-3e-3" in out  # the run `show` prints
    assert "interpretability" in out and "sae_analysis" in out  # the seed query's result
    assert "Traceback" not in proc.stderr


def test_second_make_demo_reuses_the_repo_and_adds_nothing(first: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = first
    tip = git(root, "rev-parse", "refs/vault/main").stdout
    head = git(root, "rev-parse", "HEAD").stdout
    again = make_demo(root.parent)
    assert again.returncode == 0, again.stderr
    assert "demo already complete (3 specimens, 14 runs, 4 todos, 3 models, 12 lineage edges); nothing added" in again.stdout
    assert git(root, "rev-parse", "refs/vault/main").stdout == tip
    assert git(root, "rev-parse", "HEAD").stdout == head
    report = json.loads(vault_cmd(root, "demo", "--json", check=True).stdout)
    assert not any(report["created"].values()) and report["already_present"]["runs"] == 14
    assert report["files"] == [] and len(report["runs"]) == 14
    assert git(root, "rev-parse", "refs/vault/main").stdout == tip


def test_demo_completes_an_interrupted_build(repo: Path) -> None:
    """Deleting the protocol.py and running again: the specimen is kept and nothing is duplicated."""
    first = json.loads(vault_cmd(repo, "demo", "--json", check=True).stdout)
    assert first["created"]["runs"] == 14 and first["created"]["specimens"] == 3
    assert sorted(Path(f).name for f in first["files"]) == ["field_notes.md"] * 3 + ["protocol.py"] * 3
    (repo / "specimens" / SPECIMEN / "protocol.py").unlink()
    second = json.loads(vault_cmd(repo, "demo", "--json", check=True).stdout)
    assert second["runs"] == first["runs"] and second["created"]["runs"] == 0
    runs = json.loads(vault_cmd(repo, "runs", SPECIMEN, "--json", check=True).stdout)
    assert runs["total"] == 1


def test_demo_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    proc = vault_cmd(tmp_path, "demo")
    assert proc.returncode == 1 and proc.stderr.startswith("git vault: error: ") and len(proc.stderr.splitlines()) == 1
    assert vault_cmd(tmp_path, "demo", "--help", check=True).stdout.startswith("usage: git vault demo")


def test_progress_plain_lines_once_per_finished_stage() -> None:
    out = io.StringIO()
    with Progress("t", labels={"a": "stage a"}, stream=out, bar=False) as progress:
        for done in range(4):
            progress.update("a", done, 3)
        progress.update("b", 1, 1)
        progress.update("b", 1, 1)
    assert out.getvalue() == "  stage a: done (3)\n  b: done\n"


def test_demo_under_a_one_level_hierarchy(repo: Path) -> None:
    vault_cmd(repo, "init", "--hierarchy", "project", check=True)
    report = json.loads(vault_cmd(repo, "demo", "--json", check=True).stdout)
    assert report["created"]["runs"] == 14 and report["created"]["lineage edges"] == 12  # 9 + each model's edge to its run
    experiments = json.loads(vault_cmd(repo, "experiments", "--json", check=True).stdout)["items"]
    assert {e["path"]: e["n_runs"] for e in experiments if not e["specimen_id"]} == {"imagenet": 7, "cifar10": 4}
