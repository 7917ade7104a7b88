"""A run's files and images as lines: the files view's rows (files, and image series with the step
shown) beside a half-block thumbnail of the image under the cursor. Pure functions of what
`tui.loads.files` and `tui.loads.thumbnail` give.

A thumbnail is drawn with ``▀`` (upper half block): each cell shows two pixels, the upper one as
its foreground and the lower one as its background, both 24-bit colours (``#rrggbb``). Unless
``$COLORTERM`` says the terminal has 24-bit colours (`tui.graphics.colour_depth`), prompt_toolkit's
renderer maps each to the nearest colour of the 256 palette (``PROMPT_TOOLKIT_COLOR_DEPTH``
overrides both), so one drawing serves both.

Where the terminal draws pictures itself (kitty graphics, iTerm2 inline images, sixel: asked of
it by `tui.graphics`), the thumbnail's place holds a `tui.inline_images.Picture`'s cells instead
(kitty's Unicode placeholders, or blanks an iTerm2 or sixel picture is drawn over after each frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from prompt_toolkit.utils import get_cwidth

from gitvault.sizes import human_size
from gitvault.query.files import FILE_KINDS, files_in
from gitvault.tui.views.text import Line, blank, cut, fit, heading, pad

HALF = "▀"
THUMB = "class:thumb"
"""The style every thumbnail cell starts with (the list's selection never restyles these)."""
LEFT_MOST = 60
"""Cells the rows take at most; the thumbnail gets the rest."""


@dataclass(frozen=True)
class Row:
    """A row of the files view: a file, or an image series (``steps``: its steps in order)."""

    name: str
    kind: str
    items: tuple[dict[str, Any], ...]  # the series' images in step order; a file: itself

    @property
    def steps(self) -> list[int | None]:
        return [i.get("step") for i in self.items]


def rows(items: Sequence[dict[str, Any]]) -> list[Row]:
    """Files (each its own row) and images (one row per name: the series), by name."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        key = (item["name"], "image" if item.get("kind") == "image" else f"file:{len(grouped)}")
        grouped.setdefault(key, []).append(item)
    return [Row(name, "image" if kind == "image" else "file", tuple(found))
            for (name, kind), found in sorted(grouped.items(), key=lambda kv: kv[0][0])]


def shown(row: Row, positions: dict[str, int]) -> dict[str, Any]:
    """The item of ``row`` on screen: a series' image at its position (the last step unless
    ``[``/``]`` moved it)."""
    at = positions.get(row.name, len(row.items) - 1)
    return row.items[max(0, min(at, len(row.items) - 1))]


def row_line(row: Row, positions: dict[str, int], width: int) -> Line:
    """``name  size  type`` for a file; ``name  step 3 (4/20)  64x64  caption`` for a series."""
    item = shown(row, positions)
    size = human_size(item["size"]) if isinstance(item.get("size"), int) else ""
    name_w = max(8, min(24, width // 3))
    if row.kind == "file":
        return fit([("", pad(row.name, name_w) + " "), ("class:dim", f"{size:>8}  {item.get('media_type') or ''}")], width)
    at = row.items.index(item) + 1
    step = item.get("step")
    where = (f"step {step} " if step is not None else "") + (f"({at}/{len(row.items)})" if len(row.items) > 1 else "")
    pixels = f"{item.get('width')}x{item.get('height')}" if item.get("width") else ""
    return fit([("class:accent", pad(row.name, name_w) + " "), ("", f"{where:<14} "), ("class:dim", f"{pixels:>7}  "),
                ("class:dim", item.get("caption") or "")], width)


def halfblock(pixels: Any) -> list[Line]:
    """An RGB image (HxWx3 uint8) as lines of ``▀``: two pixel rows per line, the upper pixel the
    cell's foreground, the lower its background (an odd last row: foreground only)."""
    height, width = pixels.shape[:2]
    out: list[Line] = []
    for y in range(0, height, 2):
        line: Line = []
        for x in range(width):
            top = _hex(pixels[y, x])
            style = f"{THUMB} fg:{top}" + (f" bg:{_hex(pixels[y + 1, x])}" if y + 1 < height else "")
            line.append((style, HALF))
        out.append(line)
    return out


def _hex(rgb: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(int(rgb[0]), int(rgb[1]), int(rgb[2]))


def fit_pixels(width: int, height: int, cols: int, rows_: int) -> tuple[int, int]:
    """The size (columns, pixel rows) an image of ``width`` x ``height`` is drawn at in ``cols``
    cells by ``rows_`` lines (two pixels each), its aspect kept, at least 1x1."""
    scale = min(cols / max(width, 1), 2 * rows_ / max(height, 1))
    return max(1, int(width * scale)), max(1, int(height * scale))


def screen(items: Sequence[dict[str, Any]] | None, cursor: int, positions: dict[str, int],
           thumbnail: dict[str, Any] | None, width: int) -> list[Line]:
    """The files view: one line per row, and beside the rows, centred on the cursor's, the
    thumbnail of the image under the cursor (or why there is none)."""
    if items is None:
        return [[("class:dim", "loading the files…")]]
    listed = rows(items)
    if not listed:
        return [[("class:dim", "this run logged no files or images (run.log_file, run.log_image, run.log_figure)")]]
    left = min(LEFT_MOST, max(20, width // 2))
    lines = [row_line(r, positions, left) for r in listed]
    right: list[Line] = []
    cursor = max(0, min(cursor, len(listed) - 1))
    row = listed[cursor]
    if row.kind == "image":
        if thumbnail is None:
            right = [[("class:dim", "drawing…")]]
        elif thumbnail.get("inline") is not None:  # a picture the terminal draws (`tui.inline_images`)
            right = thumbnail["inline"].cells()
        elif thumbnail.get("pixels") is None:
            right = [[("class:dim", cut(str(thumbnail.get("why") or "no thumbnail"), width - left - 2))]]
        else:
            right = halfblock(thumbnail["pixels"])
    else:
        right = [[("class:dim", cut("Enter opens it with the system viewer", width - left - 2))]]
    top = max(0, cursor - len(right) // 2)  # beside the cursor's row, so a long list keeps it in sight
    out: list[Line] = []
    for i in range(max(len(lines), top + len(right))):
        mine = lines[i] if i < len(lines) else []
        used = sum(get_cwidth(t) for _, t, *_ in mine)
        beside = right[i - top] if 0 <= i - top < len(right) else []
        out.append(list(mine) + [("", " " * (left - used + 2))] + beside)
    return out


def beside_lines(thumbnail: dict[str, Any] | None) -> int:
    """How many lines `screen` draws beside the rows for an image: its thumbnail's or picture's,
    else one (a file's hint, "drawing…", why there is none)."""
    if thumbnail is not None and thumbnail.get("inline") is not None:
        return int(thumbnail["inline"].rows)
    if thumbnail is not None and thumbnail.get("pixels") is not None:
        return (int(thumbnail["pixels"].shape[0]) + 1) // 2
    return 1


def scroll_margins(thumbnail: dict[str, Any] | None) -> tuple[int, int]:
    """The lines to keep in sight above and below the cursor's row, so that the whole of what is
    drawn beside it (centred on it by `screen`) is on screen."""
    lines = beside_lines(thumbnail)
    return lines // 2, lines - 1 - lines // 2


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """(columns, lines) a thumbnail may take in a files view of ``width`` x ``height`` cells."""
    left = min(LEFT_MOST, max(20, width // 2))
    return max(4, width - left - 2), max(2, min(24, height - 4))


SUMMARY_ROWS = 12
"""Rows of files and series a run's summary lists (the files view, ``o``, lists them all)."""


def summary(artifacts: Sequence[dict[str, Any]], width: int) -> list[Line]:
    """A run summary's section: its files and image series, one row each, and how to see them."""
    listed = rows([dict(item) for item in files_in(artifacts)])
    if not listed:
        return []
    files = sum(1 for r in listed if r.kind == "file")
    images = sum(len(r.items) for r in listed if r.kind == "image")
    out = [heading(f"Files and images ({files} files, {images} images)  o: thumbnails, Enter opens", width)]
    out += [row_line(r, {}, width) for r in listed[:SUMMARY_ROWS]]
    if len(listed) > SUMMARY_ROWS:
        out.append([("class:dim", f"({len(listed) - SUMMARY_ROWS} more: o lists them)")])
    out.append(blank())
    return out
