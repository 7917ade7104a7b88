"""A run's patch never copies credential-shaped untracked files, and names what it left out
(issue 22, item 1, by file name; content scanning is still to come)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitvault import Store
from tests.conftest import git

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _untracked(repo: Path) -> None:
    (repo / ".env").write_text(SECRET + "\n")
    (repo / "credentials.json").write_text('{"token": "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}\n')
    (repo / "keys").mkdir()
    (repo / "keys" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    (repo / "notes.txt").write_text("plain notes\n")
    (repo / "tokenizer.py").write_text("def tokenize(text): return text.split()\n")


def _patch(repo: Path) -> tuple[str, dict]:
    store = Store(repo)
    with store.experiment({"benchmark": "s", "model": "m"}).run(config={}) as run:
        rid = run.id
    facts = store.get_run(rid).record["git"]
    return store.blobs.read_bytes(facts["patch"]).decode() if facts.get("patch") else "", facts


def test_credential_shaped_untracked_files_are_named_never_copied(vault_repo: Path) -> None:
    _untracked(vault_repo)
    patch, facts = _patch(vault_repo)
    assert "plain notes" in patch and "def tokenize" in patch
    assert "AWS_SECRET" not in patch and "ghp_" not in patch and "PRIVATE KEY" not in patch
    assert sorted(f["path"] for f in facts["untracked_left_out"]) == [".env", "credentials.json", "keys/id_rsa"]
    assert all(f["why"] == "credential-shaped name" for f in facts["untracked_left_out"])
    assert facts["dirty"] is True


@pytest.mark.parametrize("mode", ["none", "all"])
def test_vault_capture_untracked_chooses(mode: str, vault_repo: Path) -> None:
    _untracked(vault_repo)
    git(vault_repo, "config", "vault.captureUntracked", mode)
    patch, facts = _patch(vault_repo)
    if mode == "none":
        assert "plain notes" not in patch and "AWS_SECRET" not in patch and "untracked_left_out" not in facts
    else:
        assert "plain notes" in patch and "AWS_SECRET" in patch and "untracked_left_out" not in facts
