"""Runs linked to the commits that hold their code: real repos, the real SDK, real `git commit`
with the installed hooks (which run in the background), amend, rebase and lazy catch-up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitvault.gitlink import hookinstall, linking
from gitvault.storage.repo import signature
from gitvault.storage.vault import Vault
from tests.conftest import git, vault_cmd
from tests.git_helpers import (
    head,
    link,
    make_run,
    note,
    runs_under,
    wait_for,
    wait_hooks_idle,
)


@pytest.fixture
def hooked(vault_repo: Path) -> Path:
    hookinstall.install(vault_repo)
    return vault_repo


def test_dirty_run_is_linked_to_the_commit_that_holds_its_code(hooked: Path) -> None:
    (hooked / "train.py").write_text("print('training v2')\n")
    (hooked / "model.py").write_text("LAYERS = 3\n")  # untracked, not ignored: part of the run's code
    run_id = make_run(hooked, "dirty", loss=0.25)
    base = head(hooked)

    git(hooked, "add", "-A")
    proc = git(hooked, "commit", "-q", "-m", "v2")
    assert proc.returncode == 0 and proc.stderr == ""
    commit = head(hooked)

    record = wait_for(lambda: link(hooked, run_id, commit))
    assert record is not None, (hooked / ".extract" / "hooks.log").read_text()
    assert record["via"] == "post-commit"
    assert record["tree"] == git(hooked, "rev-parse", "HEAD^{tree}").stdout.strip()
    assert wait_for(lambda: run_id in note(hooked, commit))
    assert "ran on uncommitted code" in note(hooked, commit)

    shown = runs_under(hooked, commit)
    assert shown[run_id]["state"] == "linked"
    assert run_id not in runs_under(hooked, base)  # no longer "dirty on the base": its code is committed
    text = vault_cmd(hooked, "log", "-n", "1", check=True).stdout
    assert run_id[:10] in text and "loss=0.25" in text


def test_clean_run_shows_under_head_at_once(vault_repo: Path) -> None:
    run_id = make_run(vault_repo, "clean", acc=0.5)
    shown = runs_under(vault_repo, head(vault_repo))
    assert shown[run_id]["state"] == "clean"
    assert shown[run_id]["dirty"] is False
    assert not Vault.open(vault_repo).snapshot().has("link", linking.link_id(run_id, head(vault_repo)))
    assert run_id in note(vault_repo, head(vault_repo))  # git log --notes=vault lists it too


def test_second_uncommitted_edit_stays_unlinked(hooked: Path) -> None:
    (hooked / "train.py").write_text("print('edit one')\n")
    first = make_run(hooked, "first")
    git(hooked, "commit", "-q", "-am", "edit one")
    one = head(hooked)
    assert wait_for(lambda: link(hooked, first, one))

    (hooked / "train.py").write_text("print('edit two, never committed')\n")
    second = make_run(hooked, "second")
    wait_hooks_idle(hooked)
    shown = runs_under(hooked, one)
    assert shown[second]["state"] == "dirty"
    assert shown[first]["state"] == "linked"
    links = list(Vault.open(hooked).snapshot().ids("link"))
    assert links == [linking.link_id(first, one)]
    assert "dirty" in vault_cmd(hooked, "log", "--oneline", "-n", "1", check=True).stdout


def test_amend_relinks_and_reports_orphans(hooked: Path) -> None:
    clean = make_run(hooked, "clean")
    first = head(hooked)
    git(hooked, "commit", "-q", "--amend", "-m", "initial, reworded")  # same tree: the run follows
    reworded = head(hooked)
    record = wait_for(lambda: link(hooked, clean, reworded))
    assert record is not None and record["via"] == "post-rewrite:amend"
    assert runs_under(hooked, reworded)[clean]["state"] == "linked"

    (hooked / "train.py").write_text("print('amended code')\n")
    dirty = make_run(hooked, "dirty")
    git(hooked, "commit", "-q", "-a", "--amend", "-m", "initial, amended")
    amended = head(hooked)
    assert wait_for(lambda: link(hooked, dirty, amended))
    orphan = wait_for(lambda: link(hooked, clean, amended))
    assert orphan is not None and orphan["via"] == "orphaned:amend"
    assert orphan["rewritten_from"] == reworded
    shown = runs_under(hooked, amended)
    assert shown[dirty]["state"] == "linked"
    assert shown[clean]["state"] == "orphaned" and shown[clean]["patch"] == orphan["patch"]
    patch = (hooked / ".extract" / "objects" / orphan["patch"][:2] / orphan["patch"][2:]).read_text()
    assert "-print('amended code')" in patch and "+print('training')" in patch
    assert first != reworded != amended


def test_rebase_moves_links_to_the_rewritten_commits(hooked: Path) -> None:
    (hooked / "train.py").write_text("print('feature')\n")
    run_id = make_run(hooked, "feature")
    git(hooked, "commit", "-q", "-am", "feature")
    old = head(hooked)
    assert wait_for(lambda: link(hooked, run_id, old))
    later = {**os.environ, "GIT_COMMITTER_DATE": "2031-01-01T00:00:00Z"}  # same second -> same sha
    subprocess.run(["git", "rebase", "-q", "--force-rebase", "HEAD~1"], cwd=hooked, env=later, check=True)
    new = head(hooked)
    assert new != old
    record = wait_for(lambda: link(hooked, run_id, new))
    assert record is not None and record["via"] in ("post-commit", "post-rewrite:rebase")
    assert runs_under(hooked, new)[run_id]["state"] == "linked"


def test_commits_made_without_hooks_are_linked_lazily(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text("print('from an IDE')\n")
    run_id = make_run(vault_repo, "ide")
    repo = pygit2.Repository(str(vault_repo))  # libgit2 commits run no hooks
    repo.index.read()
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    sig = signature(repo)
    commit = str(repo.create_commit("HEAD", sig, sig, "committed by libgit2", tree, [repo.head.target]))
    assert link(vault_repo, run_id, commit) is None
    shown = runs_under(vault_repo, commit)  # `git vault log` catches up first
    assert shown[run_id]["state"] == "linked" and shown[run_id]["linked_via"] == "catch-up"


def test_run_sealed_after_its_code_was_committed_is_linked(hooked: Path) -> None:
    from gitvault import Store
    from tests.git_helpers import SPEC

    (hooked / "train.py").write_text("print('long run')\n")
    with Store(hooked) as store:
        run = store.experiment(SPEC).run(name="long")
        git(hooked, "commit", "-q", "-am", "commit while the run is running")
        commit = head(hooked)
        wait_hooks_idle(hooked)
        run.finish()
    linking.link_run(Vault.open(hooked), Vault.open(hooked).snapshot().get("run", run.id))
    record = link(hooked, run.id, commit)
    assert record is not None and record["via"] == "seal"
    assert runs_under(hooked, commit)[run.id]["state"] == "linked"


def test_catch_up_is_idempotent(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text("print('x')\n")
    run_id = make_run(vault_repo, "x")
    git(vault_repo, "commit", "-q", "-am", "x")
    vault = Vault.open(vault_repo)
    first = linking.catch_up(vault)
    assert [r for r, _, _ in first.linked] == [run_id]
    tip = vault.tip()
    again = linking.catch_up(vault)
    assert again.linked == [] and again.notes == 0 and vault.tip() == tip
    (vault_repo / ".git" / "vault" / linking.STATE_FILE).unlink()  # rebuilt from scratch: still nothing new
    assert linking.catch_up(vault).linked == [] and vault.tip() == tip


def test_git_vault_log_knows_when_the_link_index_is_current(vault_repo: Path) -> None:
    """`git vault log` links new commits only when the vault or a branch moved since the index last
    looked, read from the head of the index file (`freshness.seen_heads`)."""
    from gitvault.gitlink import freshness

    paths = Vault.open(vault_repo).paths
    linking.catch_up(Vault.open(vault_repo))
    assert freshness.up_to_date(paths, freshness.current_heads(paths))
    assert freshness.seen_heads(paths) == freshness.current_heads(paths)
    git(vault_repo, "commit", "-q", "--allow-empty", "-m", "moved")
    assert not freshness.up_to_date(paths, freshness.current_heads(paths))
    make_run(vault_repo, "y")
    linking.catch_up(Vault.open(vault_repo))
    assert freshness.up_to_date(paths, freshness.current_heads(paths))
    (paths.data_dir / linking.STATE_FILE).write_bytes(b"\x93\x01")  # not the index's map: never current
    assert freshness.seen_heads(paths) is None
    assert not freshness.up_to_date(paths, freshness.current_heads(paths))
