"""Inline pictures in the TUI's files view (issue 26, item 3): what the terminal can draw is asked
of it through a real pty (a thread plays kitty, an xterm with sixel, iTerm2, WezTerm, a VT100,
and a terminal that never answers); the sixel encoder gives a known 4x4 image back; kitty's
placeholders, iTerm2's OSC 1337 and sixel pictures are checked in the bytes prompt_toolkit writes
while the TUI is driven through its pipe input: the image sent decodes to the logged one, `]`
draws the next step, leaving the view deletes or blanks it, and a failure falls back to half
blocks with the reason in the status bar."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

pytest.importorskip("prompt_toolkit")
pytest.importorskip("PIL", reason="inline pictures are made from the image by Pillow (the images extra)")

from PIL import Image  # noqa: E402
from prompt_toolkit.data_structures import Size  # noqa: E402
from prompt_toolkit.output import ColorDepth  # noqa: E402
from prompt_toolkit.output.vt100 import Vt100_Output  # noqa: E402

from tests.conftest import make_repo  # noqa: E402
from tests.tui_driver import ESC, Driver, driven  # noqa: E402

from gitvault import Store  # noqa: E402
from gitvault.tui import graphics, inline_images, sixel  # noqa: E402
from gitvault.tui.views import chrome  # noqa: E402

# -- detection through a pty ------------------------------------------------------------------------

KITTY = b"\x1b_Gi=31;OK\x1b\\\x1bP>|kitty(0.35.2)\x1b\\\x1b[6;20;10t\x1b[?62;c"
XTERM_SIXEL = b"\x1bP>|XTerm(390)\x1b\\\x1b[6;17;9t\x1b[?1;0;16S\x1b[?63;1;2;4;6;9;15;16;22;28c"
ITERM2 = b"\x1bP>|iTerm2 3.5.9\x1b\\\x1b[6;32;15t\x1b[?1;0;1024S\x1b[?62;4c"
WEZTERM = b"\x1b_Gi=31;OK\x1b\\\x1bP>|WezTerm 20240203-110809-5046fc22\x1b\\\x1b[6;24;12t\x1b[?65;4;6;18;22c"
VT100 = b"\x1b[?1;2c"
ENV = {"TERM": "xterm-256color"}


def play_terminal(master: int, answers: bytes | None, seen: bytearray) -> threading.Thread:
    """A thread playing the terminal on the pty's far end ``master``: what it reads is kept in
    ``seen``, and once the queries have come it writes ``answers`` (None: it never answers)."""
    def play() -> None:
        answered = False
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the near end closed
                return
            if not chunk:
                return
            seen.extend(chunk)
            if not answered and graphics.QUERIES in seen:
                answered = True
                if answers is not None:
                    os.write(master, answers)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def terminal(answers: bytes | None) -> Iterator[tuple[int, bytearray]]:
    """A pty whose far end answers the queries with ``answers``; the near end, and what the
    terminal read."""
    master, slave = os.openpty()
    seen = bytearray()
    thread = play_terminal(master, answers, seen)
    try:
        yield slave, seen
    finally:
        os.close(slave)
        os.close(master)
        thread.join(5)


@pytest.mark.parametrize(("answers", "mode", "cell"), [
    (KITTY, "kitty", (10, 20)),
    (XTERM_SIXEL, "sixel", (9, 17)),
    (ITERM2, "iterm2", (15, 32)),
    (WEZTERM, "iterm2", (12, 24)),  # answers the kitty query but draws no Unicode placeholders
    (VT100, "blocks", None),
], ids=["kitty", "xterm-sixel", "iterm2", "wezterm", "vt100"])
def test_the_terminal_is_asked_what_it_draws_through_a_pty(answers: bytes, mode: str, cell: tuple[int, int] | None) -> None:
    with terminal(answers) as (fd, heard):
        chosen = graphics.detect(fd, fd, ENV, timeout=5)
    assert heard == graphics.QUERIES
    assert (chosen.mode, chosen.cell) == (mode, cell), chosen.why
    assert chosen.why and not chosen.problem
    assert chosen.registers == (16 if answers is XTERM_SIXEL else 256)  # xterm's VT340: 16 colour registers


def test_a_terminal_that_never_answers_gets_half_blocks_after_the_timeout() -> None:
    with terminal(None) as (fd, heard):
        chosen = graphics.detect(fd, fd, ENV, timeout=0.3)
    assert heard == graphics.QUERIES and chosen.mode == "blocks"
    assert chosen.why == "the terminal did not answer within 0.3 s"


def test_a_sixel_terminal_that_does_not_say_its_cell_size_gets_half_blocks() -> None:
    with terminal(b"\x1b[?62;4c") as (fd, _):
        chosen = graphics.detect(fd, fd, ENV, timeout=5)
    assert chosen.mode == "blocks" and "cell size" in chosen.why


def test_inside_tmux_the_terminal_is_not_asked_and_the_env_var_forces_or_is_named() -> None:
    with terminal(KITTY) as (fd, heard):
        chosen = graphics.detect(fd, fd, {**ENV, "TMUX": "/tmp/tmux-0/default,1,0"}, timeout=0.3)
    assert heard == b"" and chosen.mode == "blocks" and "tmux" in chosen.why
    for term in ("linux", "dumb", "eterm-color", "screen-256color"):  # never asked either
        assert graphics.multiplexed({"TERM": term}), term
    assert graphics.multiplexed(ENV) == ""
    from prompt_toolkit.output import ColorDepth

    assert graphics.colour_depth({"COLORTERM": "truecolor"}) == ColorDepth.DEPTH_24_BIT
    assert graphics.colour_depth({"COLORTERM": "truecolor", "PROMPT_TOOLKIT_COLOR_DEPTH": "DEPTH_8_BIT"}) is None
    assert graphics.colour_depth({}) is None  # prompt_toolkit's own choice: 256 colours
    with terminal(VT100) as (fd, heard):
        chosen = graphics.detect(fd, fd, {**ENV, "GITVAULT_IMAGES": "kitty"}, timeout=0.3)
    assert heard == b"" and chosen.mode == "kitty"
    bad = graphics.without_terminal({"GITVAULT_IMAGES": "png"})
    assert bad.mode == "blocks"
    assert bad.problem == ("GITVAULT_IMAGES=png is not one of kitty, iterm2, sixel, blocks: half blocks are drawn "
                           "(unset it to ask the terminal)")
    assert graphics.without_terminal({}).mode == "blocks"
    assert graphics.without_terminal({"GITVAULT_IMAGES": "sixel"}).cell == graphics.ASSUMED_CELL


def test_a_terminal_that_cannot_be_asked_still_starts_with_half_blocks(tmp_path: Path) -> None:
    class Pretending(io.StringIO):  # says it is a terminal; its file is not one (termios fails)
        def __init__(self, fd: int) -> None:
            super().__init__()
            self.fd = fd

        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return self.fd

    with open(tmp_path / "not-a-tty", "w+") as plain:
        chosen = graphics.for_terminal(Pretending(plain.fileno()), Pretending(plain.fileno()), ENV)
    assert chosen.mode == "blocks" and chosen.why.startswith("the terminal could not be asked (error")
    assert graphics.for_terminal(io.StringIO(), io.StringIO(), {"GITVAULT_IMAGES": "iterm2"}).mode == "iterm2"


# -- the sixel encoder ------------------------------------------------------------------------------

R, G, B, W, K, S = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (51, 102, 153)
KNOWN = np.array([[R, R, B, B], [R, R, B, B], [G, G, G, G], [S, W, K, S]], dtype=np.uint8)
KNOWN_SIXEL = ('\x1bPq"1;1;4;4'
               "#0;2;100;100;100#1;2;0;100;0#2;2;20;40;60#3;2;100;0;0#4;2;0;0;100#5;2;0;0;0"
               "#0?G??$#1!4C$#2G??G$#3BB??$#4??BB$#5??G?\x1b\\")
"""Hand-checked: colour 3 (red) covers rows 0-1 of columns 0-1 (bits 1+2: '?'+3 = 'B'), colour 1
(green) row 2 of every column ('?'+4 = 'C', four times: '!4C'), row 3 (bit 8: 'G') holds steel
blue at columns 0 and 3, white at 1, black at 2."""


def decode_sixel(text: str) -> np.ndarray:
    """A tiny sixel decoder (raster size, colour registers in percent, #, !, $, -)."""
    match = re.fullmatch(r'\x1bPq"1;1;(\d+);(\d+)(.*)\x1b\\', text, re.S)
    assert match, text[:40]
    width, height, body = int(match.group(1)), int(match.group(2)), match.group(3)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    colours: dict[int, tuple[int, ...]] = {}
    colour, x, top = 0, 0, 0
    for token in re.findall(r"#\d+;2;\d+;\d+;\d+|#\d+|![0-9]+[?-~]|[?-~]|\$|-", body):
        if token.startswith("#") and ";" in token:
            number, _, *rgb = token[1:].split(";")
            colours[int(number)] = tuple(round(int(p) * 255 / 100) for p in rgb)
        elif token.startswith("#"):
            colour = int(token[1:])
        elif token == "$":
            x = 0
        elif token == "-":
            x, top = 0, top + 6
        else:
            count, char = (int(token[1:-1]), token[-1]) if token.startswith("!") else (1, token)
            bits = ord(char) - 63
            for dx in range(count):
                for row in range(6):
                    if bits >> row & 1 and top + row < height:
                        pixels[top + row, x + dx] = colours[colour]
            x += count
    return pixels


def test_the_sixel_encoder_draws_a_known_4x4_image_and_decodes_back() -> None:
    encoded = sixel.encode(Image.fromarray(KNOWN))
    assert encoded == KNOWN_SIXEL
    assert (decode_sixel(encoded) == KNOWN).all()
    tall = np.zeros((13, 3, 3), dtype=np.uint8)  # three bands, the last of one row
    tall[::2] = W
    assert (decode_sixel(sixel.encode(Image.fromarray(tall))) == tall).all()
    ramp = np.repeat(np.arange(0, 240, 6, dtype=np.uint8)[None, :, None], 3, axis=2)  # 40 greys
    registers = re.findall(r"#(\d+);2;", sixel.encode(Image.fromarray(ramp), colours=16))
    assert 1 < len(registers) <= 16  # as many colours as the terminal has registers


def test_kitty_placeholders_are_one_cell_each_and_carry_the_id() -> None:
    from prompt_toolkit.utils import get_cwidth

    assert len(inline_images.DIACRITICS) == 297 and len(set(inline_images.DIACRITICS)) == 297
    assert all(get_cwidth(d) == 0 for d in inline_images.DIACRITICS) and get_cwidth(inline_images.PLACEHOLDER) == 1
    picture = inline_images.Picture(("k",), "kitty", 3, 2, "", 42, inline_images.id_colour(42, palette=True))
    lines = picture.cells()
    assert [get_cwidth(text) for line in lines for _, text in line] == [3, 3]
    assert lines[1][0][1].startswith("\U0010eeee\u030d\u0305\U0010eeee\u030d\u030d")
    assert inline_images.id_colour(0x123456, palette=False) == "#123456"
    from prompt_toolkit.output.vt100 import _256_colors  # the palette prompt_toolkit maps colours to

    for ident in (16, 42, 231, 232, 255):
        rgb = bytes.fromhex(inline_images.id_colour(ident, palette=True)[1:])
        assert _256_colors[tuple(rgb)] == ident


# -- the TUI, its bytes captured ---------------------------------------------------------------------

class CapturedOutput(Vt100_Output):
    """A true-colour VT100 terminal of a fixed size whose bytes are kept in ``sink``."""

    def __init__(self, columns: int, rows: int) -> None:
        self.sink = io.StringIO()
        self.size = Size(rows=rows, columns=columns)
        super().__init__(self.sink, lambda: self.size, term="xterm-256color",
                         default_color_depth=ColorDepth.DEPTH_24_BIT, enable_cpr=False)

    def written(self) -> str:
        self.flush()
        return self.sink.getvalue()


def captured(repo: Path, columns: int = 120, rows: int = 30) -> Any:
    """The TUI driven on a terminal that keeps its bytes (`CapturedOutput`)."""
    return driven(repo, poll=0.1, output=CapturedOutput(columns, rows))  # type: ignore[arg-type]


REDS = {0: 51, 5: 102, 10: 204}  # each step its own red (a whole percent, as sixel colours are)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = make_repo(tmp_path_factory.mktemp("inline") / "project")
    (root / "notes.txt").write_text("hello\n")
    logged = {}
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    with exp.run(name="pics") as run:
        run.log_file(root / "notes.txt")
        for step, red in REDS.items():
            image = np.zeros((4, 6, 3), dtype=np.uint8)
            image[:, :, 0] = red
            image[0, 0] = W  # a corner that tells up from down
            logged[step] = image
            run.log_image("pred", image, step=step)
    with exp.run(name="many") as many:  # more rows than the screen: the series last
        for i in range(40):
            (root / f"a{i:02}.txt").write_text(f"{i}\n")
            many.log_file(root / f"a{i:02}.txt")
        many.log_image("z", logged[10])
    return {"root": root, "run": run.id, "logged": logged}


async def open_series(d: Driver) -> None:
    await d.keys(":", "run pics", "\r", "o", "j")
    for _ in range(100):
        await d.settle()
        if (d.tui.pictures.shown() or {}).get("inline") is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no picture came: {d.tui.pictures.shown()}")


def png_pixels(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def kitty_images(text: str) -> list[tuple[dict[str, str], bytes]]:
    """Each image sent with the kitty protocol: its first chunk's keys and its decoded payload."""
    out: list[tuple[dict[str, str], bytes]] = []
    payload = ""
    keys: dict[str, str] = {}
    for head, chunk in re.findall(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", text):
        fields = dict(kv.split("=") for kv in head.split(","))
        if fields.get("a") == "T":
            keys, payload = fields, ""
        if "m" in fields and keys:
            payload += chunk
            if fields["m"] == "0":
                out.append((keys, base64.standard_b64decode(payload)))
                keys = {}
    return out


def test_kitty_pictures_are_placeholders_in_the_layout_and_the_png_sent_before(
        pictures: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITVAULT_IMAGES", "kitty")

    async def main() -> None:
        async with captured(pictures["root"]) as d:
            await open_series(d)
            sent = kitty_images(d.output.written())  # type: ignore[attr-defined]
            assert len(sent) == 1
            keys, png = sent[0]
            assert (keys["U"], keys["f"], keys["q"]) == ("1", "100", "2")
            assert (png_pixels(png) == pictures["logged"][10]).all()  # the last step, pixel for pixel
            picture = d.tui.pictures.shown()["inline"]
            assert (int(keys["i"]), int(keys["c"]), int(keys["r"])) == (picture.image_id, picture.cols, picture.rows)
            screen = d.screen()
            assert screen.count("\U0010eeee") == picture.cols * picture.rows
            first = next(line for line in screen.splitlines() if "\U0010eeee" in line)
            assert first[first.index("\U0010eeee"):].startswith("\U0010eeee\u0305\u0305\U0010eeee\u0305\u030d")
            rgb = picture.image_id.to_bytes(3, "big")
            assert f"38;2;{rgb[0]};{rgb[1]};{rgb[2]}" in d.output.written()  # type: ignore[attr-defined]
            assert "▀" not in screen

            await d.keys("]")  # at the last step already: nothing new is sent
            await d.keys("[")
            for _ in range(100):
                if len(kitty_images(d.output.written())) == 2:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
                await d.settle()
            sent = kitty_images(d.output.written())  # type: ignore[attr-defined]
            assert len(sent) == 2 and (png_pixels(sent[1][1]) == pictures["logged"][5]).all()
            assert "step 5 (2/3)" in d.screen()

            before = len(d.output.written())  # type: ignore[attr-defined]
            await d.keys("]")  # back to step 10, loaded already: sent again, step 5's image deleted first
            tail = d.output.written()[before:]  # type: ignore[attr-defined]
            assert tail.index(f"\x1b_Ga=d,d=I,i={sent[1][0]['i']},q=2\x1b\\") < tail.index("\x1b_Ga=T")
            assert [k["i"] for k, _ in kitty_images(tail)] == [sent[0][0]["i"]]

            before = len(d.output.written())  # type: ignore[attr-defined]
            await d.keys(ESC)
            assert d.state.view == "explorer" and "\U0010eeee" not in d.screen()
            deleted = re.findall(r"\x1b_Ga=d,d=I,i=(\d+),q=2\x1b\\", d.output.written()[before:])  # type: ignore[attr-defined]
            assert [int(i) for i in deleted] == [int(sent[0][0]["i"])]  # the one shown; the others went before
            every = re.findall(r"\x1b_Ga=d,d=I,i=(\d+),q=2\x1b\\", d.output.written())  # type: ignore[attr-defined]
            assert {int(i) for i in every} == {int(k["i"]) for k, _ in sent}
            assert d.tui.errors == []
    asyncio.run(main())


OSC_1337 = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]*)\x07\x1b8")
SIXEL_AT = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H(\x1bPq.*?\x1b\\)\x1b8", re.S)
BLANKED = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H\x1b\[0m( +)\x1b8")


@pytest.mark.parametrize("mode", ["iterm2", "sixel"])
def test_iterm2_and_sixel_pictures_are_drawn_after_the_frame_and_blanked_when_gone(
        mode: str, pictures: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITVAULT_IMAGES", mode)
    pattern = OSC_1337 if mode == "iterm2" else SIXEL_AT

    def drawn(text: str) -> list[tuple[int, int, re.Match[str]]]:
        """Each picture written: its screen row and column (from 0), and the escape (`pixels`)."""
        return [(int(found.group(1)) - 1, int(found.group(2)) - 1, found) for found in pattern.finditer(text)]

    def pixels(found: re.Match[str]) -> np.ndarray:
        if mode == "iterm2":
            args = dict(kv.split("=") for kv in found.group(3).split(";"))
            assert args["inline"] == "1" and args["preserveAspectRatio"] == "1"
            return png_pixels(base64.standard_b64decode(found.group(4)))
        return decode_sixel(found.group(3))

    async def main() -> None:
        async with captured(pictures["root"]) as d:
            await open_series(d)
            picture = d.tui.pictures.shown()["inline"]
            first = drawn(d.output.written())  # type: ignore[attr-defined]
            assert first, "the picture was never written"
            y, x, found = first[-1]
            shown = pixels(found)
            if mode == "iterm2":
                assert (shown == pictures["logged"][10]).all()
            else:  # scaled pixel for pixel (nearest) into its cells of 10x20 pixels
                assert shown.shape[1] <= picture.cols * 10 and shown.shape[0] <= picture.rows * 20
                assert shown.shape[0] % 6 == 0
                assert (shown[0, 0] == W).all() and (shown[-1, -1] == [204, 0, 0]).all()
            screen = d.tui.app.renderer.last_rendered_screen
            cells = [screen.data_buffer[y + r][x + c] for r in range(picture.rows) for c in range(picture.cols)]
            assert all(cell.char == " " and inline_images.INLINE in cell.style for cell in cells)
            assert "▀" not in d.screen()

            count = len(first)
            await d.keys("[")
            for _ in range(100):
                now = drawn(d.output.written())  # type: ignore[attr-defined]
                if len(now) > count and (pixels(now[-1][2])[-1, -1] == [102, 0, 0]).all():
                    break
                await asyncio.sleep(0.05)
                await d.settle()
            else:
                raise AssertionError("[ did not draw step 5")
            assert "step 5 (2/3)" in d.screen()

            count = len(drawn(d.output.written()))  # type: ignore[attr-defined]
            # the terminal grows: the same picture and room, but every cell is repainted, so the
            # picture is drawn again (prompt_toolkit polls the size every 0.5 s and repaints once more:
            # both are waited for, so that no repaint lands amid the keys below)
            d.output.size = Size(rows=32, columns=120)  # type: ignore[attr-defined]
            await asyncio.sleep((d.tui.app.terminal_size_polling_interval or 0) + 0.2)
            await d.settle()
            assert len(drawn(d.output.written())) > count, "not drawn again after a resize"  # type: ignore[attr-defined]
            picture = d.tui.pictures.shown()["inline"]
            y, x, _ = drawn(d.output.written())[-1]  # type: ignore[attr-defined]

            count = len(drawn(d.output.written()))  # type: ignore[attr-defined]
            d.tui.app.style = chrome.style({"accent": "#123456"})  # as config.toml's [theme] changing does
            await d.settle()  # a new style: prompt_toolkit repaints every cell, so the picture is drawn again
            assert len(drawn(d.output.written())) > count  # type: ignore[attr-defined]
            count, before = len(drawn(d.output.written())), len(d.output.written())  # type: ignore[attr-defined]
            await d.keys("k")  # to the file: the picture blanked
            assert BLANKED.search(d.output.written()[before:]) and len(drawn(d.output.written())) == count  # type: ignore[attr-defined]
            await d.keys("j")  # back: drawn again
            assert len(drawn(d.output.written())) > count  # type: ignore[attr-defined]

            await d.keys(ESC)
            assert d.state.view == "explorer"
            written = d.output.written()  # type: ignore[attr-defined]
            last = max(found.end() for found in pattern.finditer(written))
            blanked = BLANKED.findall(written[last:])  # after the last picture, its cells written blank again
            assert [(int(r) - 1, int(c) - 1, len(s)) for r, c, s in blanked] == \
                [(y + r, x, picture.cols) for r in range(picture.rows)]
            assert d.tui.errors == []
    asyncio.run(main())


def test_a_picture_that_cannot_be_made_or_written_falls_back_to_half_blocks_and_says_why(
        pictures: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITVAULT_IMAGES", "kitty")
    real_write = CapturedOutput.write_raw

    def broken_terminal(self: CapturedOutput, data: str) -> None:
        if "\x1b_G" in data:
            raise OSError("the terminal went away")
        real_write(self, data)

    monkeypatch.setattr(CapturedOutput, "write_raw", broken_terminal)

    async def main() -> None:
        async with captured(pictures["root"]) as d:
            await d.keys(":", "run pics", "\r", "o", "j")
            await d.wait_for("▀")
            assert d.tui.pictures.graphics.mode == "blocks"
            assert "kitty pictures failed (OSError: the terminal went away): half blocks from now on" in d.screen()
            assert d.tui.errors == []
    asyncio.run(main())

    def encoder_fails(*args: Any) -> None:
        raise ValueError("no encoder for this image")

    monkeypatch.setattr(inline_images, "make", encoder_fails)  # an image no picture can be made of
    monkeypatch.setenv("GITVAULT_IMAGES", "sixel")

    async def cannot_be_made() -> None:
        async with captured(pictures["root"]) as d:
            await d.keys(":", "run pics", "\r", "o", "j")
            await d.wait_for("▀")  # that image in half blocks, the mode kept for the others
            assert d.tui.pictures.graphics.mode == "sixel"
            assert "pred: no sixel picture (ValueError: no encoder for this image): half blocks drawn" in d.screen()
            assert d.tui.errors == []
    asyncio.run(cannot_be_made())


def test_git_vault_tui_asks_a_real_pty_before_taking_the_screen_and_sends_kitty_pictures(
        pictures: dict[str, Any]) -> None:
    """The one subprocess: `git vault tui` on a pty whose far end answers as kitty."""
    import fcntl
    import shutil
    import struct
    import subprocess
    import sys
    import termios
    import time

    bin_dir = Path(sys.executable).parent
    if shutil.which("git-vault", path=str(bin_dir)) is None:
        pytest.skip("git-vault is not installed in this environment's bin folder")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 1200, 600))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "GITVAULT_", "STY"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", TERM="xterm-256color", COLORTERM="truecolor")
    proc = subprocess.Popen(["git", "vault", "tui"], cwd=pictures["root"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)
    seen = bytearray()
    thread = play_terminal(master, KITTY, seen)

    def wait(what: bytes) -> None:
        deadline = time.monotonic() + 30
        while what not in seen:
            assert proc.poll() is None, f"git vault tui ended: {bytes(seen)[-400:]!r}"
            assert time.monotonic() < deadline, f"{what!r} never came: {bytes(seen)[-400:]!r}"
            time.sleep(0.05)

    try:
        wait(b"Experiments")
        for keys, then in ((b":", b"Esc"), (b"run pics\r", b"Run b/m#pics"),
                           (b"o", b"Enter opens it with the system viewer"), (b"j", b"\x1b_Ga=T")):
            os.write(master, keys)
            wait(then)
        wait(b"\x1b\\")
        os.write(master, b"\x03")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
        thread.join(5)
    out = bytes(seen).decode("utf-8", "replace")
    assert out.index(graphics.QUERIES.decode()) < out.index("\x1b[?1049h")  # asked before the screen was taken
    (keys, png), *_ = kitty_images(out)
    assert (png_pixels(png) == pictures["logged"][10]).all()
    rgb = int(keys["i"]).to_bytes(3, "big")  # COLORTERM=truecolor: 24-bit colours, so a 24-bit id
    assert f"38;2;{rgb[0]};{rgb[1]};{rgb[2]}m\U0010eeee" in out
    assert f"\x1b_Ga=d,d=I,i={keys['i']},q=2\x1b\\" in out  # freed on quitting
    assert "\U0010eeee" in out


def test_a_bad_gitvault_images_value_is_named_in_the_status_bar_and_half_blocks_are_drawn(
        pictures: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITVAULT_IMAGES", "png")

    async def main() -> None:
        async with captured(pictures["root"]) as d:
            assert "GITVAULT_IMAGES=png is not one of kitty, iterm2, sixel, blocks" in d.screen()
            await d.keys(":", "run pics", "\r", "o", "j")
            await d.wait_for("▀")
            assert "\x1b_G" not in d.output.written() and d.tui.errors == []  # type: ignore[attr-defined]
    asyncio.run(main())


@pytest.mark.parametrize("mode", ["iterm2", "blocks"])
def test_below_a_long_list_the_picture_or_thumbnail_beside_the_cursor_stays_whole_in_sight(
        mode: str, pictures: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITVAULT_IMAGES", mode)

    async def main() -> None:
        async with captured(pictures["root"]) as d:
            await d.keys(":", "run many", "\r", "o")
            await d.wait_for("a00.txt")
            await d.keys("\x1b[F")  # End: the last row, the series, at the bottom of the list
            if mode == "blocks":
                await d.wait_for("▀")
                screen = d.screen().splitlines()
                drawn = [i for i, line in enumerate(screen) if "▀" in line]
                thumbnail = d.tui.pictures.shown()
                assert len(drawn) == (thumbnail["pixels"].shape[0] + 1) // 2  # every line of it
                assert drawn[-1] < len(screen) - 1  # above the status bar
                return
            for _ in range(100):
                if OSC_1337.search(d.output.written()):  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
                await d.settle()
            else:
                raise AssertionError("the picture beside the last row was never drawn")
            picture = d.tui.pictures.shown()["inline"]
            y = int(OSC_1337.findall(d.output.written())[-1][0]) - 1  # type: ignore[attr-defined]
            assert 1 <= y and y + picture.rows <= 29  # under the title, above the status bar
            assert "z " in d.screen() and d.tui.errors == []
    asyncio.run(main())
