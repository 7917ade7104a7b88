"""A run's artifacts in the TUI (tui/views/artifacts.py, tui/loads.py `run`): matrices as colour
heatmaps with axes labels, values on `#`, every version of a step-tagged one; markdown texts
rendered; tensors with shape, dtype and a lazily read slice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("prompt_toolkit")

from tests.conftest import make_repo  # noqa: E402
from tests.tui_driver import ENTER, Driver, driven  # noqa: E402

from gitvault import Store  # noqa: E402
from gitvault.tui.views import artifacts  # noqa: E402
from gitvault.tui.views.text import Line  # noqa: E402


def text_of(lines: list[Line]) -> str:
    return "\n".join("".join(t for _, t, *_ in line) for line in lines)


def backgrounds(line: Line) -> list[str]:
    return [s.split("bg:")[1].split()[0] for s, _, *_ in line if "bg:" in s]


# -- heatmap -------------------------------------------------------------------------------------

def test_heatmap_colours_run_along_the_gradient_from_low_to_high() -> None:
    lines = artifacts.heatmap(np.arange(16, dtype=float).reshape(4, 4), 80)
    header, rows, bar = lines[0], lines[1:5], lines[5]
    assert "C0" in text_of([header])
    cells = [backgrounds(r) for r in rows]
    assert all(len(c) == 4 for c in cells)
    assert cells[0][0] == artifacts.GRADIENT[0] and cells[3][3] == artifacts.GRADIENT[-1]
    flat = [c for row in cells for c in row]
    assert len(set(flat)) >= 10  # a real gradient, not two colours
    assert [artifacts.GRADIENT.index(c) for c in flat] == sorted(artifacts.GRADIENT.index(c) for c in flat)
    assert [text_of([r]).split()[0] for r in rows] == ["R0", "R1", "R2", "R3"]
    assert "min 0" in text_of([bar]) and "max 15" in text_of([bar])
    assert backgrounds(bar) == list(artifacts.GRADIENT)  # the colour bar shows the whole gradient
    assert "more" not in text_of(lines)


def test_heatmap_labels_rows_and_columns_from_axes() -> None:
    named = text_of(artifacts.heatmap(np.eye(3), 80, axes={"rows": "true", "cols": "predicted"}))
    assert "rows: true · columns: predicted" in named and "R0" not in named and "C0" not in named
    listed = text_of(artifacts.heatmap(np.eye(3), 80, axes={"rows": ["cat", "dog", "emu"], "cols": ["x", "y", "z"]}))
    assert [line.split()[0] for line in listed.splitlines()[1:4]] == ["cat", "dog", "emu"]  # no names: no axes line
    assert listed.splitlines()[0].split() == ["x", "y", "z"]


def test_heatmap_zoom_shows_each_value_on_its_colour() -> None:
    lines = artifacts.heatmap(np.array([[0.125, 2.5], [10.0, 12345.678]]), 80, zoom=True)
    text = text_of(lines)
    for value in ("0.125", "2.5", "10", "12345.7"):
        assert value in text
    assert backgrounds(lines[1]) and backgrounds(lines[2])  # still coloured behind the numbers


def test_heatmap_marks_nan_and_infinite_cells() -> None:
    m = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    lines = artifacts.heatmap(m, 80)
    marked = [(s, t) for line in lines[1:3] for s, t, *_ in line if s == artifacts.NAN_STYLE]
    assert [t.strip() for _, t in marked] == ["×", "+∞", "-∞"]
    assert "NaN/inf: 3 cells" in text_of(lines)
    assert "NaN" in text_of(artifacts.heatmap(m, 80, zoom=True))
    assert "min 1" in text_of(lines) and "max 1" in text_of(lines)  # over the finite cells


def test_a_big_heatmap_shows_what_fits_and_counts_the_rest() -> None:
    lines = artifacts.heatmap(np.random.default_rng(0).random((200, 200)), 80)
    text = text_of(lines)
    shown_cols = len(backgrounds(lines[1]))
    assert len([line for line in lines if text_of([line]).startswith("R")]) == artifacts.ROWS_MOST
    assert f"({200 - artifacts.ROWS_MOST} more rows, {200 - shown_cols} more columns not shown of 200x200)" in text
    assert all(len(text_of([line])) <= 80 for line in lines)


# -- markdown ------------------------------------------------------------------------------------

def styled(lines: list[Line], text: str) -> str:
    return next(s for line in lines for s, t, *_ in line if text in t)


def test_markdown_headings_and_inline_marks() -> None:
    lines = artifacts.markdown("# Title\n## Sub\nplain **strong** and *slanted* and `x = 1` and [docs](https://d.io)", 80)
    text = text_of(lines)
    assert text.splitlines()[:2] == ["Title", "Sub"]  # no # left
    assert "bold" in styled(lines, "Title") and "class:heading" in styled(lines, "Title")
    assert "bold" in styled(lines, "strong") and "italic" in styled(lines, "slanted")
    assert styled(lines, "x") == "class:key" and "x = 1" in text
    assert "docs (https://d.io)" in text and "**" not in text and "`" not in text


def test_markdown_lists_wrap_with_a_hanging_indent() -> None:
    text = text_of(artifacts.markdown("- a bullet that is long enough to wrap onto another line\n"
                                      "  - nested\n1. first\n2. second", 30))
    lines = text.splitlines()
    assert lines[0].startswith("• a bullet") and lines[1].startswith("  ") and not lines[1].startswith("  •")
    assert "  • nested" in lines and "1. first" in lines and "2. second" in lines
    assert all(len(line) <= 30 for line in lines)


def test_markdown_code_blocks_tables_quotes_and_paragraphs() -> None:
    source = ("one line\nof a paragraph\n\n```python\ndef f(**kw): return `x`\n```\n"
              "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n---\nsnake_case_name")
    lines = artifacts.markdown(source, 40)
    text = text_of(lines).splitlines()
    assert text[0] == "one line of a paragraph"
    assert text[2].startswith("╭─ python") and text[3] == "│ def f(**kw): return `x`" and text[4].startswith("╰")
    assert styled(lines, "def f") == "class:key" and styled(lines, "╭─") == "class:dim"
    assert "| a | b |" in text and "| 1 | 2 |" in text
    assert "│ quoted" in text and "─" * 40 in text and "snake_case_name" in text


# -- tensors -------------------------------------------------------------------------------------

def test_tensor_preview_shows_shape_dtype_chunks_and_the_slice() -> None:
    info = {"name": "w", "shape": [4, 32, 32], "dtype": "float32", "chunks": [1, 32, 32],
            "slice": np.full((8, 8), 0.5), "where": "[0, 0:8, 0:8]", "why": ""}
    text = text_of(artifacts.tensor_preview(info, 80))
    assert "4x32x32" in text and "float32" in text and "1x32x32" in text
    assert "[0, 0:8, 0:8] (only this slice was read)" in text and "0.5" in text
    missing = text_of(artifacts.tensor_preview({**info, "slice": None, "why": "no zarr here"}, 80))
    assert "no zarr here" in missing


# -- the loader and the screen -------------------------------------------------------------------

@pytest.fixture
def with_artifacts(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "arts")
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    with exp.run(name="arts") as run:
        run.log(loss=0.5)
        run.log_table("confusion", np.array([[5.0, 1.0], [2.0, 7.0]]))
        for step in (10, 20):
            run.log_table("attention", np.arange(12, dtype=float).reshape(3, 4) * step, step=step,
                          axes={"rows": "head", "cols": "token"})
        run.log_table("huge", np.zeros((600, 600), dtype=np.uint8))
        run.log_text("report", "# Findings\n\n- **loss** fell\n- see `train.py`\n")
        try:
            import zarr  # noqa: F401
        except ImportError:
            pass
        else:
            run.write_tensors("weights", np.arange(3 * 20 * 20, dtype=np.float32).reshape(3, 20, 20), chunks=(1, 10, 10))
    return root


def test_the_loader_gives_every_matrix_version_texts_with_format_and_tensor_slices(with_artifacts: Path) -> None:
    from gitvault.query import Query
    from gitvault.tui import loads

    with Query(with_artifacts) as q:
        data = loads.run(q, q.resolve_run("b/m#arts"))
        tables = data["matrices"]
        assert [(t["name"], t["step"]) for t in tables] == [("confusion", None), ("attention", 10), ("attention", 20), ("huge", None)]
        assert tables[1]["axes"] == {"rows": "head", "cols": "token"} and tables[2]["matrix"][2, 3] == 220
        assert tables[3]["matrix"] is None and "360,000 cells" in tables[3]["why"]
        assert data["text_formats"] == {"report": "markdown"}
        assert list(loads.small_tables(data["run"]["artifacts"])) == ["confusion", "attention"]  # compare's, as before
        if data["tensors"]:
            t = data["tensors"][0]
            assert t["shape"] == [3, 20, 20] and t["dtype"] == "float32" and t["chunks"] == [1, 10, 10]
            assert t["where"] == "[0, 0:8, 0:8]" and t["slice"].shape == (8, 8) and t["slice"][1, 0] == 20


def test_tensor_slice_reads_only_its_chunks(with_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("zarr")
    from zarr.storage import ZipStore

    from gitvault.query import Query
    from gitvault.tui import loads

    read: list[str] = []
    original = ZipStore.get

    async def get(self: ZipStore, key: str, *args: object, **kwargs: object) -> object:
        read.append(key)
        return await original(self, key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ZipStore, "get", get)
    with Query(with_artifacts) as q:
        detail = q.get_run(q.resolve_run("b/m#arts"))
        info = loads.tensor_info(q, next(a for a in detail["artifacts"] if a["kind"] == "tensor"))
    chunks = [k for k in read if k.startswith("c/")]  # the rest is metadata (zarr.json, .zarray probes)
    assert info["slice"].shape == (8, 8) and chunks == ["c/0/0/0"]  # 1 of the 12 chunks


def test_a_run_detail_shows_heatmaps_markdown_and_tensors(with_artifacts: Path) -> None:
    async def body(d: Driver) -> None:
        await d.keys(":", "run arts", ENTER)
        doc = d.document()
        assert "Table confusion  2x2  # values" in doc
        assert "Table attention @ step 10  3x4" in doc and "Table attention @ step 20  3x4" in doc
        assert "rows: head · columns: token" in doc
        assert "Table huge  600x600" in doc and "not drawn: 360,000 cells, more than 250,000 (read it with the SDK)" in doc
        colours = {s for line in d.tui._detail_doc() for s, *_ in line if s.startswith("bg:#")}
        assert len(colours) >= 5  # heatmap cells in gradient colours
        assert "120" not in doc
        await d.keys("#")
        doc = d.document()
        assert d.state.heatmap_values and "120" in doc and "# colours" in doc  # each cell's value
        assert "tables: each cell’s value" in d.screen()
        await d.keys("#")
        assert "120" not in d.document()
        await d.keys("I")
        doc = d.document()
        assert "Text report  (markdown)" in doc
        assert "\nFindings\n" in doc and "# Findings" not in doc and "• loss fell" in doc and "see train.py" in doc
        if "weights" in doc:
            assert "Tensor weights" in doc and "3x20x20" in doc and "float32" in doc and "1x10x10" in doc
            assert "[0, 0:8, 0:8] (only this slice was read)" in doc

    async def main() -> None:
        async with driven(with_artifacts, 140, 45) as d:
            await body(d)
            assert d.tui.errors == []
    asyncio.run(main())


def test_the_tensor_shows_when_zarr_is_installed(with_artifacts: Path) -> None:
    pytest.importorskip("zarr")

    async def main() -> None:
        async with driven(with_artifacts, 140, 45) as d:
            await d.keys(":", "run arts", ENTER, "I")
            doc = d.document()
            assert "Tensor weights" in doc and "shape         3x20x20" in doc and "dtype         float32" in doc
            assert d.tui.errors == []
    asyncio.run(main())


def test_tables_highlight_rules_colour_the_cells_they_match() -> None:
    import numpy as np

    from gitvault.tui import session
    from gitvault.tui.views import artifacts
    from gitvault.tui.views.panels import matrix_lines

    settings = session.settings_of({"tables": {"highlight": [
        {"eq": 0.0, "color": "darkgray"}, {"min": 0.9, "color": "green"}, {"max": 0.1, "color": "#ff0000"},
        {"pattern": "5", "color": "orange"}, {"color": "red"}]}})
    rules = settings["highlight"]
    assert [r["color"] for r in rules] == ["ansibrightblack", "ansigreen", "#ff0000", "#ff8700"]
    assert settings["problems"] == ["[[tables.highlight]] needs a color (a name or #hex) and one of min, max, eq, pattern"]
    assert artifacts.highlighted(0.0, "0", rules) == "ansibrightblack"  # first match wins
    assert artifacts.highlighted(0.95, "0.95", rules) == "ansigreen"
    assert artifacts.highlighted(0.05, "0.05", rules) == "#ff0000"
    assert artifacts.highlighted(0.5, "0.5", rules) == "#ff8700"
    assert artifacts.highlighted(0.3, "0.3", rules) is None
    matrix = np.array([[0.95, 0.3], [0.0, 0.5]])
    styles = {t.strip(): st for line in matrix_lines(matrix, 60, highlight=rules) for st, t, *_ in line}
    assert styles["0.95"] == "fg:ansigreen" and styles["0.3"] == "" and styles["0.5"] == "fg:#ff8700"
    cells = [st for line in artifacts.heatmap(matrix, 60, highlight=rules) for st, t, *_ in line if st.startswith("bg:")]
    assert any(st.startswith("bg:ansigreen") for st in cells) and any(st.startswith("bg:#ff8700") for st in cells)
