"""`git vault files`, `git vault open` and the counts of `git vault show` (issue 26), in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitvault import Store
from tests.conftest import make_repo, vault_run

pytest.importorskip("PIL", reason="images need Pillow (the images extra)")


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = make_repo(tmp_path_factory.mktemp("cli") / "project", "init")
    (repo / "report.csv").write_text("a,b\n1,2\n")
    (repo / "cfg").mkdir()
    (repo / "cfg" / "a.toml").write_text("x = 1\n")
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run(name="pics") as run:
            run.log_file(repo / "report.csv")
            run.log_file(repo / "cfg")
            for step in range(3):
                run.log_image("pred", np.full((4, 6, 3), step * 40, dtype=np.uint8), step=step, caption=f"s{step}")
            run.log_table("confusion", np.eye(2))
    return {"repo": repo, "run": run.id}


def test_files_lists_name_kind_step_size(vault: dict[str, Any]) -> None:
    out = vault_run(vault["repo"], "files", "pics", check=True).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STEP", "SIZE", "TYPE", "PIXELS", "CAPTION"]
    assert lines[1].split() == ["cfg/a.toml", "file", "6", "B", "application/toml"]
    assert lines[2].split()[:3] == ["pred", "image", "0"] and lines[2].split()[4] == "B"
    assert "6x4" in lines[2] and lines[2].rstrip().endswith("s0")
    assert [line.split()[2] for line in lines[2:5]] == ["0", "1", "2"]
    assert lines[5].split() == ["report.csv", "file", "8", "B", "text/csv"]
    assert "confusion" not in out  # a table is no file
    items = json.loads(vault_run(vault["repo"], "files", vault["run"][:10], "--json", check=True).stdout)
    assert [(i["name"], i["kind"], i["step"]) for i in items] == [
        ("cfg/a.toml", "file", None), ("pred", "image", 0), ("pred", "image", 1), ("pred", "image", 2),
        ("report.csv", "file", None)]
    assert items[4]["size"] == 8 and items[1]["width"] == 6 and items[1]["height"] == 4
    only = json.loads(vault_run(vault["repo"], "files", "pics", "--name", "cfg/", "--json", check=True).stdout)
    assert [i["name"] for i in only] == ["cfg/a.toml"]


def test_open_out_writes_the_bytes(vault: dict[str, Any], tmp_path: Path) -> None:
    repo, out = vault["repo"], tmp_path / "out"
    proc = vault_run(repo, "open", "pics", "report.csv", "--out", str(out), check=True)
    assert proc.stdout.strip() == str(out / "report.csv")
    assert (out / "report.csv").read_bytes() == (repo / "report.csv").read_bytes()
    vault_run(repo, "open", "pics", "pred", "--step", "1", "--out", str(out), check=True)
    with Store(repo) as store:
        assert (out / "pred.step1.png").read_bytes() == store.get_run(vault["run"]).file("pred", step=1).read_bytes()
    vault_run(repo, "open", "pics", "cfg", "--out", str(out), check=True)  # a folder: its files
    assert (out / "cfg" / "a.toml").read_text() == "x = 1\n"
    again = vault_run(repo, "open", "pics", "report.csv", "--out", str(out))
    assert again.returncode == 1 and "exists" in again.stderr and len(again.stderr.splitlines()) == 1


def test_open_errors_are_one_line(vault: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = vault["repo"]
    proc = vault_run(repo, "open", "pics", "nope")
    assert proc.returncode == 1
    assert proc.stderr == ("git vault: error: run pics has no file or image 'nope'; it has: cfg/a.toml, pred, "
                           "report.csv (git vault files pics)\n")
    proc = vault_run(repo, "open", "pics", "pred", "--step", "7")
    assert proc.stderr == "git vault: error: run pics has no 'pred' at step 7; its steps: 0, 1, 2\n"
    monkeypatch.setenv("GITVAULT_OPEN", "no-such-viewer-here")
    proc = vault_run(repo, "open", "pics", "pred")
    assert proc.returncode == 1 and "no-such-viewer-here is not installed" in proc.stderr


def test_open_starts_the_viewer_on_a_named_copy(vault: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    viewer = tmp_path / "viewer"
    viewer.write_text(f"#!/bin/sh\ncp \"$1\" {seen}\n")
    viewer.chmod(0o755)
    monkeypatch.setenv("GITVAULT_OPEN", str(viewer))
    proc = vault_run(vault["repo"], "open", "pics", "pred", check=True)
    copy = Path(proc.stdout.split("opened ", 1)[1].strip())
    assert copy.name == "pred.step2.png"  # the latest of the series, named for a viewer
    from tests.git_helpers import wait_for

    wait_for(seen.exists, timeout=20)
    with Store(vault["repo"]) as store:
        assert seen.read_bytes() == store.get_run(vault["run"]).file("pred", step=2).read_bytes()


def test_show_counts_files_and_images(vault: dict[str, Any]) -> None:
    out = vault_run(vault["repo"], "show", "pics", check=True).stdout
    assert "files: 2 files, 3 images (1 series), " in out
    assert f"(git vault files {vault['run'][:12]})" in out
    assert "confusion" in out and "\n  pred " not in out  # tables listed, images counted
