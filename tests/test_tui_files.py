"""Files and images in the TUI (issue 26): the half-block renderer draws a known 4x4 image to the
expected cells and colours; the run summary lists files and image series; `o` opens the files
view with a thumbnail, `[` / `]` step through a series, Enter opens a file with the system viewer.
Driven through prompt_toolkit's pipe input (tests/tui_driver.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("prompt_toolkit")
pytest.importorskip("PIL", reason="images and thumbnails need Pillow (the images extra)")

from tests.conftest import make_repo  # noqa: E402
from tests.git_helpers import wait_for  # noqa: E402
from tests.tui_driver import ENTER, ESC, Driver, driven  # noqa: E402

from gitvault import Store  # noqa: E402
from gitvault.tui.views import media  # noqa: E402

KNOWN = np.array([  # 4x4 RGB: rows 0/1 make the first line of cells, rows 2/3 the second
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]],
    [[0, 0, 0], [16, 32, 48], [255, 255, 0], [0, 255, 255]],
    [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]],
    [[200, 100, 50], [50, 100, 200], [128, 128, 128], [255, 0, 255]],
], dtype=np.uint8)


def test_the_half_block_renderer_draws_a_known_image_to_the_expected_cells() -> None:
    lines = media.halfblock(KNOWN)
    assert len(lines) == 2 and all(len(line) == 4 for line in lines)
    assert all(text == "▀" for line in lines for _, text, *_ in line)
    styles = [[style.replace(media.THUMB, "").split() for style, *_ in line] for line in lines]
    assert styles[0] == [["fg:#ff0000", "bg:#000000"], ["fg:#00ff00", "bg:#102030"],
                         ["fg:#0000ff", "bg:#ffff00"], ["fg:#ffffff", "bg:#00ffff"]]
    assert styles[1] == [["fg:#010203", "bg:#c86432"], ["fg:#040506", "bg:#3264c8"],
                         ["fg:#070809", "bg:#808080"], ["fg:#0a0b0c", "bg:#ff00ff"]]
    odd = media.halfblock(KNOWN[:3])  # an odd last row: its upper half only
    assert [s.split()[1:] for s, *_ in odd[1]] == [["fg:#010203"], ["fg:#040506"], ["fg:#070809"], ["fg:#0a0b0c"]]


def test_thumbnails_keep_the_aspect_within_the_room_given() -> None:
    assert media.fit_pixels(64, 64, 40, 10) == (20, 20)  # 10 lines hold 20 pixel rows
    assert media.fit_pixels(200, 50, 40, 10) == (40, 10)
    assert media.fit_pixels(4, 4, 40, 10) == (20, 20)  # small images are drawn larger


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = make_repo(tmp_path_factory.mktemp("tuifiles") / "project")
    (root / "notes.txt").write_text("hello\n")
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    with exp.run(name="pics") as run:
        run.log(loss=0.5)
        run.log_file(root / "notes.txt")
        for step in (0, 5, 10):
            image = np.zeros((4, 4, 3), dtype=np.uint8)
            image[:, :, 0] = step * 20  # each step a different red
            run.log_image("pred", image, step=step, caption=f"at {step}")
    return {"root": root, "run": run.id}


def _reds(d: Driver) -> set[str]:
    return {s.split("fg:")[1].split()[0] for e in d.tui.view_entries() for s, t, *_ in e.line if t == "▀"}


def test_the_files_view_lists_files_and_series_steps_and_opens(pictures: dict[str, object], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "seen"
    viewer = tmp_path / "viewer"
    viewer.write_text(f"#!/bin/sh\ncp \"$1\" {seen}\n")
    viewer.chmod(0o755)
    monkeypatch.setenv("GITVAULT_OPEN", str(viewer))

    async def body(d: Driver) -> None:
        await d.keys(":", "run pics", ENTER)
        doc = d.document()
        assert "Files and images (1 files, 3 images)  o: thumbnails, Enter opens" in doc
        assert "notes.txt" in doc and "step 10 (3/3)" in doc
        screen = await d.keys("o")
        assert d.state.view == "files" and "Files and images of b/m#pics" in screen
        rows = [line for line in screen.splitlines() if "notes.txt" in line or "pred" in line]
        assert "notes.txt" in rows[0] and "6 B" in rows[0] and "text/plain" in rows[0]
        assert "step 10 (3/3)" in rows[1] and "4x4" in rows[1] and "at 10" in rows[1]
        assert "Enter opens it with the system viewer" in screen  # the cursor is on the file
        screen = await d.keys("j")
        await d.wait_for("▀")
        assert _reds(d) == {"#c80000"}  # step 10: red 200, drawn as half blocks
        screen = await d.keys("[")
        assert "step 5 (2/3)" in screen and "at 5" in screen
        await d.settle()
        assert _reds(d) == {"#640000"}
        screen = await d.keys("[", "[")  # stops at the first step
        assert "step 0 (1/3)" in screen
        screen = await d.keys("]")
        assert "step 5 (2/3)" in screen
        await d.keys(ENTER)  # the image at the step shown, in the system viewer
        wait_for(seen.exists, timeout=20)
        with Store(pictures["root"]) as store:
            assert seen.read_bytes() == store.get_run(str(pictures["run"])).file("pred", step=5).read_bytes()
        assert "opened pred in the system viewer" in d.screen()
        help_keys = d.tui.keymap.markdown()
        assert "| `[ / ]` | previous / next image of the series under the cursor |" in help_keys
        await d.keys(ESC)
        assert d.state.view == "explorer"

    async def main() -> None:
        async with driven(pictures["root"], 120, 30) as d:  # type: ignore[arg-type]
            await body(d)
            assert d.tui.errors == []
    asyncio.run(main())


def test_the_thumbnail_loader_reads_a_verified_file(pictures: dict[str, object]) -> None:
    from gitvault.query import Query
    from gitvault.tui import loads

    with Query(pictures["root"]) as q:
        thumb = loads.thumbnail(q, str(pictures["run"]), "pred", 5, 8, 2)
        assert thumb["pixels"].shape == (4, 4, 3) and set(thumb["pixels"][:, :, 0].ravel()) == {100}
        files = loads.files(q, str(pictures["run"]))
        assert [(i["name"], i["step"]) for i in files["items"]] == [("notes.txt", None), ("pred", 0), ("pred", 5), ("pred", 10)]


def test_the_same_cells_fall_back_to_256_colours_through_prompt_toolkit() -> None:
    """The thumbnail's 24-bit colours are written as such on a true-colour terminal and mapped to
    the nearest of the 256 palette on one of 256 colours, by prompt_toolkit's renderer."""
    import io

    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.output.color_depth import ColorDepth
    from prompt_toolkit.output.vt100 import Vt100_Output
    from prompt_toolkit.renderer import print_formatted_text
    from prompt_toolkit.styles import Style

    line = media.halfblock(KNOWN[:2, :1])[0]  # one cell: red over black
    written = {}
    for depth in (ColorDepth.DEPTH_24_BIT, ColorDepth.DEPTH_8_BIT):
        sink = io.StringIO()
        out = Vt100_Output(sink, lambda: Size(rows=5, columns=20), term="xterm-256color")
        print_formatted_text(out, line, Style([]), color_depth=depth)
        out.flush()
        written[depth] = sink.getvalue()
    assert "38;2;255;0;0" in written[ColorDepth.DEPTH_24_BIT] and "48;2;0;0;0" in written[ColorDepth.DEPTH_24_BIT]
    assert "38;5;196" in written[ColorDepth.DEPTH_8_BIT] and "▀" in written[ColorDepth.DEPTH_8_BIT]
