"""Drive `git vault tui` in process: prompt_toolkit's pipe input for keys, a fixed-size dummy
output, and the rendered screen read back as text (tui-anchors.md §3.3)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import AsyncIterator

from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from gitvault.tui.app import TuiApp

DOWN, UP, RIGHT, LEFT, ESC, ENTER, TAB = "\x1b[B", "\x1b[A", "\x1b[C", "\x1b[D", "\x1b", "\r", "\t"
CTRL_F = "\x06"


class SizedOutput(DummyOutput):
    """A dummy terminal of a fixed (changeable) size."""

    def __init__(self, columns: int, rows: int) -> None:
        self.size = Size(rows=rows, columns=columns)

    def get_size(self) -> Size:
        return self.size


class Driver:
    def __init__(self, tui: TuiApp, pipe: object, output: SizedOutput, task: asyncio.Task[int]) -> None:
        self.tui, self.pipe, self.output, self.task = tui, pipe, output, task

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.tui.state

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until no answer is on its way and a frame was drawn after the last one came."""
        deadline = time.monotonic() + timeout
        idle_frames = 0  # frames drawn with nothing on its way (a frame may ask for more)
        while time.monotonic() < deadline:
            if self.task.done():
                return
            frames = self.tui.app.render_counter
            was_idle = not (self.tui.pending - {"changes"})
            self.tui.app.invalidate()
            await asyncio.sleep(0.015)
            drew = self.tui.app.render_counter > frames
            idle = was_idle and not (self.tui.pending - {"changes"})
            idle_frames = idle_frames + 1 if (drew and idle) else 0
            if idle_frames >= 2:
                return
        raise AssertionError(f"the TUI did not settle: still waiting for {sorted(self.tui.pending)}")

    async def keys(self, *texts: str) -> str:
        for text in texts:
            self.pipe.send_text(text)  # type: ignore[attr-defined]
            # an Esc alone is told from an escape sequence by a pause (the app's ttimeoutlen)
            await asyncio.sleep(0.08 if text.endswith("\x1b") else 0.01)
            await self.settle()
        return self.screen()

    async def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            await asyncio.sleep(0.05)
            self.tui.app.invalidate()
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def document(self) -> str:
        """The whole text of the detail panel or the full-screen view (scrolled out of sight or not)."""
        if self.tui.state.view == "explorer":
            lines = self.tui._detail_doc()
        else:
            lines = [entry.line for entry in self.tui.view_entries()]
        return "\n".join("".join(text for _, text, *_ in line) for line in lines)

    def screen(self) -> str:
        """The last frame as text, one line per terminal row (trailing spaces cut)."""
        screen = self.tui.app.renderer.last_rendered_screen
        if screen is None:
            return ""
        size = self.output.size
        rows = []
        for y in range(size.rows):
            row = screen.data_buffer[y]
            rows.append("".join(row[x].char for x in range(size.columns)).rstrip())
        return "\n".join(rows)

    def styles_of(self, text: str, in_tree: bool = False) -> set[str]:
        """The styles of the cells where ``text`` is drawn (its first occurrence; with ``in_tree``,
        its first one in the tree panel's rows)."""
        screen = self.tui.app.renderer.last_rendered_screen
        assert screen is not None
        width = self.tui._tree_width() if in_tree else self.output.size.columns
        for y, line in enumerate(self.screen().splitlines()):
            x = line[:width].find(text)
            if x >= 0 and (y > 0 or not in_tree):
                return {screen.data_buffer[y][x + i].style for i in range(len(text))}
        raise AssertionError(f"{text!r} is not on the screen")

    async def resize(self, columns: int, rows: int) -> str:
        self.output.size = Size(rows=rows, columns=columns)
        self.tui.app._on_resize()
        await asyncio.sleep(0.05)
        await self.settle()
        return self.screen()

    async def quit(self) -> int:
        self.pipe.send_text("\x03")  # type: ignore[attr-defined]
        return await asyncio.wait_for(self.task, 20)


@contextlib.asynccontextmanager
async def driven(repo: Path, columns: int = 140, rows: int = 45, poll: float = 0.1,
                 keep_session: bool = False, output: SizedOutput | None = None) -> AsyncIterator[Driver]:
    """A running TUI on ``repo``, settled on its first screen; the session the last TUI saved
    there is removed first unless ``keep_session``. ``output``: another terminal with a ``size``
    (one that keeps the bytes written, say), instead of a dummy of ``columns`` x ``rows``."""
    if not keep_session:
        for found in repo.glob("**/.extract/tui-session.json"):
            found.unlink()
    output = output or SizedOutput(columns, rows)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
        tui = TuiApp(repo, poll_seconds=poll)
        tui.open()
        task = asyncio.ensure_future(tui.run_async())
        driver = Driver(tui, pipe, output, task)
        try:
            await asyncio.sleep(0.1)
            await driver.settle()
            yield driver
        finally:
            if not task.done():
                pipe.send_text("\x03")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 20)
