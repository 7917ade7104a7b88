"""Front-end writes (gitvault.runs.edits): each one vault commit, each undoable, seen by the query layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitvault import Store, Vault

from gitvault.runs import edits
from gitvault.errors import ConcurrentWriterError, InvalidNameError, RecordNotFoundError
from gitvault.query import Query


@pytest.fixture
def sealed(vault_repo: Path) -> tuple[Vault, str]:
    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run(name="first") as run:
        run.tag("base")
        rid = run.id
    return Vault.open(vault_repo), rid


def _view(vault: Vault, rid: str) -> dict:
    with Query(vault.paths.work_tree) as q:
        return q.get_run(rid)


def test_tag_untag_and_their_undo(sealed: tuple[Vault, str]) -> None:
    vault, rid = sealed
    tip = vault.tip()
    edit = edits.tag(vault, rid, "sweep", "base", "sweep")
    assert edit is not None and edit.data == {"tags": ["sweep"]} and vault.tip() != tip
    assert _view(vault, rid)["tags"] == ["base", "sweep"]
    assert edits.tag(vault, rid, "sweep") is None  # nothing to change: no commit
    undo = edit.inverse()
    assert undo is not None and edits.apply(vault, undo) and _view(vault, rid)["tags"] == ["base"]
    redo = undo.inverse()
    assert redo is not None and edits.apply(vault, redo) and _view(vault, rid)["tags"] == ["base", "sweep"]
    assert edits.untag(vault, rid, "base") is not None and _view(vault, rid)["tags"] == ["sweep"]


def test_note_undo_and_redo(sealed: tuple[Vault, str]) -> None:
    vault, rid = sealed
    edit = edits.note(vault, rid, "diverged after warmup")
    assert [n["content"] for n in Store(vault.paths.work_tree).get_run(rid).notes] == ["diverged after warmup"]
    undo = edit.inverse()
    assert undo is not None
    edits.apply(vault, undo)
    assert Store(vault.paths.work_tree).get_run(rid).notes == []
    redo = undo.inverse()
    assert redo is not None
    again = edits.apply(vault, redo)
    assert [n["content"] for n in Store(vault.paths.work_tree).get_run(rid).notes] == ["diverged after warmup"]
    edits.apply(vault, again.inverse())  # type: ignore[arg-type]
    assert Store(vault.paths.work_tree).get_run(rid).notes == []
    with pytest.raises(ValueError, match="needs some text"):
        edits.note(vault, rid, "  ")


def test_rename_mark_and_archive_with_undo(sealed: tuple[Vault, str]) -> None:
    vault, rid = sealed
    renamed = edits.rename(vault, rid, "baseline")
    failed = edits.mark(vault, rid, "failed")
    archived = edits.archive(vault, "run", rid)
    view = _view(vault, rid)
    assert (view["name"], view["status"], view.get("archived")) == ("baseline", "failed", True)
    for edit in (archived, failed, renamed):
        assert edit is not None
        undo = edit.inverse()
        assert undo is not None
        edits.apply(vault, undo)
    view = _view(vault, rid)
    assert (view["name"], view["status"], bool(view.get("archived"))) == ("first", "completed", False)
    with pytest.raises(ValueError, match="completed or failed"):
        edits.mark(vault, rid, "crashed")
    with pytest.raises(InvalidNameError):
        edits.rename(vault, rid, "a/b\n")


def test_a_run_not_sealed_is_refused_and_nothing_changes(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    run = Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run()
    tip = vault.tip()
    with pytest.raises((RecordNotFoundError, ConcurrentWriterError), match="not sealed in the vault yet|still running"):
        edits.tag(vault, run.id, "x")
    assert vault.tip() == tip
    run.finish()


def test_the_edit_commands(sealed: tuple[Vault, str]) -> None:
    from tests.conftest import vault_run

    vault, rid = sealed
    repo = vault.paths.work_tree
    assert vault_run(repo, "untag", rid[:10], "base", check=True).stdout == f"untagged {rid}: base (tags now: none)\n"
    assert "has none of base; nothing changed" in vault_run(repo, "untag", rid, "base", check=True).stdout
    assert vault_run(repo, "rename", rid, "baseline", check=True).stdout == f"{rid}: renamed first to baseline\n"
    assert vault_run(repo, "mark", rid, "failed", check=True).stdout == f"{rid}: marked failed (was completed)\n"
    assert vault_run(repo, "archive", rid, check=True).stdout == f"{rid}: archived\n"
    assert "already archived" in vault_run(repo, "archive", rid, check=True).stdout
    view = _view(vault, rid)
    assert (view["name"], view["status"], view["archived"], view["tags"]) == ("baseline", "failed", True, [])
    bad = vault_run(repo, "mark", rid, "crashed")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_writes_through_the_query_layer_with_undo(sealed: tuple[Vault, str]) -> None:
    vault, rid = sealed
    with Query(vault.paths.work_tree) as q:
        edit = q.tag(rid[:10], "sweep")
        assert edit is not None and q.get_run(rid)["tags"] == ["base", "sweep"]
        undo = edit.inverse()
        assert undo is not None
        q.apply(undo)
        assert q.get_run(rid)["tags"] == ["base"]
        assert q.rename(rid, "b2") is not None and q.get_run(rid)["name"] == "b2"
