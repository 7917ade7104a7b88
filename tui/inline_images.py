"""Pictures drawn by the terminal itself in the files view (kitty graphics, iTerm2 inline images,
sixel), where `tui.graphics` found that it can; half-block thumbnails (`tui.views.media`) stay
the fallback everywhere else.

prompt_toolkit owns every cell and repaints only the cells that changed since its last frame, so:

- kitty: the picture's cells are text, Unicode placeholders (U+10EEEE, a row and a column
  diacritic, the image id in the foreground colour), laid out like any other line; the image is
  sent once before the frame that shows it (``a=T,U=1``: a virtual placement the placeholders
  fill, ``q=2``: no answer that would reach the keyboard input), and deleted when another image
  or none is shown. prompt_toolkit measures U+10EEEE as one cell and merges the zero-width
  diacritics into it, and writes them unchanged.
- iTerm2 (OSC 1337) and sixel: the picture's cells are blank text marked `INLINE`; after each
  frame the picture is written over them (cursor saved and restored around it) when anything on
  its rows was repainted, when it moved or changed, or after a full repaint; before a frame that
  shows another picture or none, the blank cells under the old one are written again so that
  nothing stale stays where prompt_toolkit believes blanks already are.

A failure to draw never ends the TUI: the files view goes back to half blocks and the status bar
says why.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from prompt_toolkit.utils import get_cwidth

from gitvault.tui import graphics as terminal
from gitvault.tui.views.media import THUMB, scroll_margins
from gitvault.tui.views.text import Line

if TYPE_CHECKING:
    from prompt_toolkit.application import Application
    from prompt_toolkit.layout import ScrollOffsets, Window
    from prompt_toolkit.layout.screen import Screen

    from gitvault.query import Query
    from gitvault.tui.app import TuiApp

PLACEHOLDER = "\U0010eeee"
_DIACRITIC_RANGES = (  # kitty's gen/rowcolumn-diacritics.txt: the diacritic of row or column n is the n-th
    (0x0305, 0x0305), (0x030D, 0x030E), (0x0310, 0x0310), (0x0312, 0x0312), (0x033D, 0x033F), (0x0346, 0x0346),
    (0x034A, 0x034C), (0x0350, 0x0352), (0x0357, 0x0357), (0x035B, 0x035B), (0x0363, 0x036F), (0x0483, 0x0487),
    (0x0592, 0x0595), (0x0597, 0x0599), (0x059C, 0x05A1), (0x05A8, 0x05A9), (0x05AB, 0x05AC), (0x05AF, 0x05AF),
    (0x05C4, 0x05C4), (0x0610, 0x0617), (0x0657, 0x065B), (0x065D, 0x065E), (0x06D6, 0x06DC), (0x06DF, 0x06E2),
    (0x06E4, 0x06E4), (0x06E7, 0x06E8), (0x06EB, 0x06EC), (0x0730, 0x0730), (0x0732, 0x0733), (0x0735, 0x0736),
    (0x073A, 0x073A), (0x073D, 0x073D), (0x073F, 0x0741), (0x0743, 0x0743), (0x0745, 0x0745), (0x0747, 0x0747),
    (0x0749, 0x074A), (0x07EB, 0x07F1), (0x07F3, 0x07F3), (0x0816, 0x0819), (0x081B, 0x0823), (0x0825, 0x0827),
    (0x0829, 0x082D), (0x0951, 0x0951), (0x0953, 0x0954), (0x0F82, 0x0F83), (0x0F86, 0x0F87), (0x135D, 0x135F),
    (0x17DD, 0x17DD), (0x193A, 0x193A), (0x1A17, 0x1A17), (0x1A75, 0x1A7C), (0x1B6B, 0x1B6B), (0x1B6D, 0x1B73),
    (0x1CD0, 0x1CD2), (0x1CDA, 0x1CDB), (0x1CE0, 0x1CE0), (0x1DC0, 0x1DC1), (0x1DC3, 0x1DC9), (0x1DCB, 0x1DCC),
    (0x1DD1, 0x1DE6), (0x1DFE, 0x1DFE), (0x20D0, 0x20D1), (0x20D4, 0x20D7), (0x20DB, 0x20DC), (0x20E1, 0x20E1),
    (0x20E7, 0x20E7), (0x20E9, 0x20E9), (0x20F0, 0x20F0), (0x2CEF, 0x2CF1), (0x2DE0, 0x2DFF), (0xA66F, 0xA66F),
    (0xA67C, 0xA67D), (0xA6F0, 0xA6F1), (0xA8E0, 0xA8F1), (0xAAB0, 0xAAB0), (0xAAB2, 0xAAB3), (0xAAB7, 0xAAB8),
    (0xAABE, 0xAABF), (0xAAC1, 0xAAC1), (0xFE20, 0xFE26), (0x10A0F, 0x10A0F), (0x10A38, 0x10A38),
    (0x1D185, 0x1D189), (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244))
DIACRITICS = tuple(chr(c) for first, last in _DIACRITIC_RANGES for c in range(first, last + 1))  # 297
INLINE = f"{THUMB}.inline"
"""The style of the blank cells an iTerm2 or sixel picture is drawn over."""
MAX_PIXELS = 1024
"""A picture sent to kitty or iTerm2 is at most this wide and high when the cell size is not known
(they scale it to its cells); else at most its cells' pixels."""
SAVE, RESTORE = "\x1b7", "\x1b8"


@dataclass(frozen=True)
class Picture:
    """One picture in the files view: its ``mode``, the ``cols`` x ``rows`` cells it covers, what is
    written to the terminal (``escape``) and, for kitty, the image id the placeholders carry."""

    key: tuple[Any, ...]
    mode: str
    cols: int
    rows: int
    escape: str
    image_id: int = 0
    colour: str = ""

    def cells(self) -> list[Line]:
        """The picture's lines in the layout: placeholders (kitty) or blanks marked `INLINE`."""
        if self.mode == "kitty":
            style = f"{THUMB}.kitty fg:{self.colour}"
            return [[(style, "".join(PLACEHOLDER + DIACRITICS[r] + DIACRITICS[c] for c in range(self.cols)))]
                    for r in range(self.rows)]
        return [[(INLINE, " " * self.cols)] for _ in range(self.rows)]


# -- escapes -------------------------------------------------------------------------------------

def kitty_transmit(png: bytes, image_id: int, cols: int, rows: int) -> str:
    """Send a PNG as image ``image_id`` with a virtual placement of ``cols`` x ``rows`` cells for
    Unicode placeholders, in chunks of 4096 base64 characters, answering nothing (``q=2``)."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)] or [""]
    out = []
    for n, chunk in enumerate(chunks):
        more = int(n < len(chunks) - 1)
        keys = f"a=T,U=1,f=100,t=d,i={image_id},c={cols},r={rows},q=2,m={more}" if n == 0 else f"m={more}"
        out.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(out)


def kitty_delete(image_id: int) -> str:
    """Delete image ``image_id`` and free its data."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


def iterm2_image(png: bytes, cols: int, rows: int) -> str:
    """An inline image fitted into ``cols`` x ``rows`` cells, its aspect kept (OSC 1337 File)."""
    data = base64.standard_b64encode(png).decode("ascii")
    return (f"\x1b]1337;File=inline=1;size={len(png)};width={cols};height={rows};preserveAspectRatio=1;"
            f"doNotMoveCursor=1:{data}\x07")


def at(y: int, x: int, text: str) -> str:
    """``text`` written at screen row ``y``, column ``x`` (from 0), the cursor put back after."""
    return f"{SAVE}\x1b[{y + 1};{x + 1}H{text}{RESTORE}"


def image_id(key: tuple[Any, ...], palette: bool) -> int:
    """A kitty image id for a picture: 24 bits in true colour, 16..255 on a 256-colour terminal
    (the placeholder's foreground colour is the id: one of the palette's colours, which
    prompt_toolkit maps to its own index)."""
    digest = int(hashlib.sha256(repr(key).encode()).hexdigest(), 16)
    return 16 + digest % 240 if palette else 1 + digest % 0xFFFFFE


def id_colour(ident: int, palette: bool) -> str:
    """The ``#rrggbb`` foreground that carries ``ident``."""
    if not palette:
        return f"#{ident:06x}"
    if ident >= 232:
        grey = 8 + (ident - 232) * 10
        return f"#{grey:02x}{grey:02x}{grey:02x}"
    steps = (0x00, 0x5F, 0x87, 0xAF, 0xD7, 0xFF)
    i = ident - 16
    return "#{:02x}{:02x}{:02x}".format(steps[i // 36], steps[(i // 6) % 6], steps[i % 6])


# -- the picture, made on the query worker ---------------------------------------------------------

def load(q: Query, run_id: str, name: str, step: int | None, cols: int, lines: int, *,
         graphics: terminal.Graphics, palette: bool | None) -> dict[str, Any]:
    """What the files view shows for an image: ``{"inline": Picture}``, or the half-block
    thumbnail of `tui.loads.thumbnail` with a ``note`` saying why no picture could be made.
    ``palette``: the TUI's colours are the 256 palette (True), 24-bit (False), or fewer (None)."""
    from gitvault import extras
    from gitvault.tui import loads

    def blocks(note: str) -> dict[str, Any]:
        return {**loads.thumbnail(q, run_id, name, step, cols, lines), "note": note}

    if not extras.available("images"):
        return loads.thumbnail(q, run_id, name, step, cols, lines)
    if graphics.mode == "kitty" and palette is None:
        return blocks("kitty pictures need 256 or 24-bit colours (PROMPT_TOOLKIT_COLOR_DEPTH): half blocks drawn")
    path = q.file(run_id, name, step)["path"]
    key = (run_id, name, step, cols, lines)
    try:
        picture = make(path, key, cols, lines, graphics, bool(palette))
    except Exception as exc:  # noqa: BLE001 - any image Pillow cannot read or encode: half blocks, and why
        return blocks(f"{name}: no {graphics.mode} picture ({type(exc).__name__}: {exc}): half blocks drawn")
    return {"pixels": None, "why": "", "inline": picture}


def make(path: Any, key: tuple[Any, ...], cols: int, lines: int, graphics: terminal.Graphics,
         palette: bool) -> Picture:
    """The picture of the image file at ``path`` in at most ``cols`` x ``lines`` cells, its aspect kept."""
    from PIL import Image

    from gitvault.tui import sixel

    cell_w, cell_h = graphics.cell or (1, 2)
    with Image.open(path) as img:
        img.load()
        scale = min(cols * cell_w / img.width, lines * cell_h / img.height)
        width, height = max(1, int(img.width * scale)), max(1, int(img.height * scale))
        c, r = max(1, min(cols, math.ceil(width / cell_w))), max(1, min(lines, math.ceil(height / cell_h)))
        if graphics.mode == "sixel":
            height = max(6, height // 6 * 6) if height >= 6 else height  # whole bands: never past its cells
            resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX
            return Picture(key, "sixel", c, r, sixel.encode(img.resize((width, height), resample), graphics.registers))
        room = (c * cell_w, r * cell_h) if graphics.cell else (MAX_PIXELS, MAX_PIXELS)
        shrink = min(1.0, room[0] / img.width, room[1] / img.height)
        sent = img if shrink == 1.0 else img.resize(
            (max(1, int(img.width * shrink)), max(1, int(img.height * shrink))), Image.Resampling.BOX)
        buffer = io.BytesIO()
        sent.save(buffer, "PNG")
    png = buffer.getvalue()
    if graphics.mode == "iterm2":
        return Picture(key, "iterm2", c, r, iterm2_image(png, c, r))
    ident = image_id(key, palette)
    return Picture(key, "kitty", c, r, kitty_transmit(png, ident, c, r), ident, id_colour(ident, palette))


# -- drawing around prompt_toolkit's frames --------------------------------------------------------

class Painter:
    """Sends kitty images before the frames that show them, draws iTerm2 and sixel pictures after
    the frames, and falls back to half blocks on any failure (`Painter.fail`)."""

    def __init__(self, tui: TuiApp, graphics: terminal.Graphics) -> None:
        self.tui, self.graphics = tui, graphics
        self.sent: dict[int, tuple[Any, ...]] = {}  # kitty image id -> the picture it holds now
        self.drawn: tuple[Picture, tuple[int, int]] | None = None  # an iTerm2/sixel picture and its (y, x)
        self.previous: Screen | None = None  # the frame before the one being drawn
        self.facts: tuple[Any, ...] = ()  # what makes prompt_toolkit repaint every cell when it changes
        self.full = True  # the frame being drawn repaints every cell
        self.said: set[str] = set()  # what the status bar was told (once each)
        tui.app.before_render += self._before
        tui.app.after_render += self._after

    def detect(self) -> None:
        """Ask the terminal (`tui.graphics.for_terminal`), before the application takes the screen."""
        import os
        import sys

        self.graphics = terminal.for_terminal(sys.stdin, sys.stdout, os.environ)

    def loader(self) -> Callable[..., dict[str, Any]]:
        """What the files view loads for an image: a picture, or the half-block thumbnail."""
        from prompt_toolkit.output import ColorDepth

        from gitvault.tui import loads

        if self.graphics.mode == "blocks":
            return loads.thumbnail
        depth = self.tui.app.color_depth
        palette = {ColorDepth.DEPTH_24_BIT: False, ColorDepth.DEPTH_8_BIT: True}.get(depth)

        def load_picture(q: Query, run_id: str, name: str, step: int | None, cols: int, lines: int) -> dict[str, Any]:
            return load(q, run_id, name, step, cols, lines, graphics=self.graphics, palette=palette)
        return load_picture

    def scroll_offsets(self) -> ScrollOffsets:
        """The files view's scroll offsets: what is beside the cursor's row stays whole in sight
        (an iTerm2 or sixel picture is drawn only then)."""
        from prompt_toolkit.layout import ScrollOffsets

        return ScrollOffsets(top=lambda: scroll_margins(self.shown())[0],
                             bottom=lambda: scroll_margins(self.shown())[1])

    def shown(self) -> dict[str, Any] | None:
        """The files view's thumbnail or picture on screen now, if any."""
        tui = self.tui
        if tui.state.view != "files":
            return None
        return tui.state.thumbs.get(tui.thumb_key() or ())

    def _before(self, app: Application[Any]) -> None:
        self.previous = app.renderer.last_rendered_screen
        # prompt_toolkit's renderer repaints every cell (erasing the screen first) when there was no
        # frame, or when the size, the style or the colour depth changed (`Renderer.render`)
        facts = (app.output.get_size(), app.renderer.style.invalidation_hash(),
                 app.style_transformation.invalidation_hash(), app.color_depth)
        self.full, self.facts = self.previous is None or facts != self.facts, facts
        self._guarded(self._prepare)

    def _after(self, app: Application[Any]) -> None:
        self._guarded(self._draw)

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a picture must never take the TUI down
            self.fail(f"{type(exc).__name__}: {exc}")

    def fail(self, why: str) -> None:
        """Half blocks from now on; the status bar says why."""
        mode = self.graphics.mode
        self.graphics = terminal.Graphics("blocks", self.graphics.cell, why)
        self.sent, self.drawn = {}, None
        self._forget()
        self.tui.state.toast(f"{mode} pictures failed ({why}): half blocks from now on", "error")

    def _forget(self) -> None:
        """Every picture loaded so far dropped, to be loaded again (as half blocks after a failure)."""
        self.tui.state.thumbs.clear()
        for name in [n for n in self.tui.loaded_gen if n.startswith("thumb:")]:
            del self.tui.loaded_gen[name]
        self.tui.app.invalidate()

    def _prepare(self) -> None:
        """Before a frame: the problem of `ENV` said once; a kitty image sent, or deleted when no
        longer shown; the blanks under an iTerm2/sixel picture that is going away written again."""
        shown = self.shown() or {}
        for problem in (self.graphics.problem, shown.get("note")):
            if problem and problem not in self.said:
                self.said.add(problem)
                self.tui.state.toast(problem, "error")
        picture: Picture | None = shown.get("inline")
        if picture is not None and self.graphics.mode == "blocks":  # made while a failure happened
            self._forget()
            return
        output = self.tui.app.output
        if picture is not None and picture.mode == "kitty":
            if self.sent.get(picture.image_id) != picture.key:  # the terminal keeps the one shown only
                output.write_raw("".join(kitty_delete(i) for i in self.sent if i != picture.image_id))
                output.write_raw(picture.escape)
                self.sent = {picture.image_id: picture.key}
        elif self.sent and (picture is None or picture.mode != "kitty"):
            output.write_raw("".join(kitty_delete(i) for i in self.sent))
            self.sent = {}
        if self.drawn is not None and (picture is None or picture.key != self.drawn[0].key):
            self._erase(*self.drawn)
            self.drawn = None

    def _erase(self, picture: Picture, where: tuple[int, int]) -> None:
        """Blank again the cells an iTerm2/sixel picture covered that the last frame holds as its blanks."""
        screen = self.previous
        if screen is None:
            return
        y0, x0 = where
        out = []
        for y in range(y0, y0 + picture.rows):
            row = screen.data_buffer[y]
            blank = [x for x in range(x0, x0 + picture.cols) if INLINE in row[x].style]
            if blank:
                out.append(at(y, blank[0], "\x1b[0m" + " " * (blank[-1] - blank[0] + 1)))
        self.tui.app.output.write_raw("".join(out))

    def _draw(self) -> None:
        """After a frame: the iTerm2/sixel picture written over its blank cells, if any of them
        was repainted, or it is new or moved (all its cells visible and blank, else not drawn)."""
        picture = (self.shown() or {}).get("inline")
        if picture is None or picture.mode == "kitty":
            return
        app = self.tui.app
        screen = app.renderer.last_rendered_screen
        where = self._place(screen, picture) if screen is not None else None
        if screen is None or where is None:
            return
        y0, x0 = where
        rows = range(y0, y0 + picture.rows)
        columns = range(x0, x0 + picture.cols)
        if not all(INLINE in screen.data_buffer[y][x].style for y in rows for x in columns):
            return  # a popup covers part of it: drawn again when it has gone
        previous = self.previous
        repainted = self.full or previous is None or any(screen.data_buffer[y][x] != previous.data_buffer[y][x]
                                            for y in rows for x in range(app.output.get_size().columns))
        if self.drawn is not None and self.drawn[0].key == picture.key and self.drawn[1] == where and not repainted:
            return
        app.output.write_raw(at(y0, x0, picture.escape))
        app.output.flush()
        self.drawn = (picture, where)

    def _place(self, screen: Screen, picture: Picture) -> tuple[int, int] | None:
        """The screen (row, column) of the picture's first cell, when all its rows are in sight."""
        window: Window = self.tui.view_window
        position = screen.visible_windows_to_write_positions.get(window)
        info = window.render_info
        if position is None or info is None:
            return None
        found: list[tuple[int, int]] = []
        for visible, (row, _) in sorted(info.visible_line_to_row_col.items()):
            x = 0
            for style, text, *_ in info.ui_content.get_line(row):
                if style == INLINE:
                    found.append((position.ypos + visible, position.xpos + x))
                    break
                x += get_cwidth(text)
        if len(found) != picture.rows or found[-1][0] - found[0][0] != picture.rows - 1:
            return None
        return found[0]

    def close(self) -> None:
        """Free the kitty images this TUI sent (on quitting)."""
        if self.sent:
            try:
                self.tui.app.output.write_raw("".join(kitty_delete(i) for i in self.sent))
                self.tui.app.output.flush()
            except Exception:  # noqa: BLE001 - the terminal may be gone
                pass
            self.sent = {}
