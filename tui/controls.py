"""A list or document drawn line by line: prompt_toolkit asks only for the lines it shows.

A `FormattedTextControl` re-splits its whole text on every frame (measured in
tui-anchors.md: 148 ms a frame at 10,000 rows, 784 ms at 50,000); a `UIContent` with
``get_line`` costs the visible rows only (6-10 ms at any size). Every panel of the TUI is one of
these: the tree, the detail panel, compare, the git view, help, search results."""

from __future__ import annotations

from typing import Callable

from prompt_toolkit.data_structures import Point
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindingsBase
from prompt_toolkit.layout.controls import UIContent, UIControl
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType

Line = StyleAndTextTuples


class LineControl(UIControl):
    """``count()`` lines, line ``i`` drawn by ``line(i, width)``; ``cursor()`` is the line kept in
    view (the selected row of a list; the top line of a scrolled document). A click calls
    ``on_click(i)``; the wheel calls ``on_scroll(+-3)``."""

    def __init__(self, count: Callable[[], int], line: Callable[[int, int], Line], cursor: Callable[[], int],
                 on_click: Callable[[int], None] | None = None, on_scroll: Callable[[int], None] | None = None,
                 key_bindings: KeyBindingsBase | None = None, focusable: bool = True) -> None:
        self.count, self.line, self.cursor = count, line, cursor
        self.on_click, self.on_scroll = on_click, on_scroll
        self._key_bindings = key_bindings
        self._focusable = focusable

    def is_focusable(self) -> bool:
        return self._focusable

    def create_content(self, width: int, height: int | None) -> UIContent:
        n = self.count()
        cache: dict[int, Line] = {}

        def get_line(i: int) -> Line:
            if i not in cache:
                cache[i] = self.line(i, width) if 0 <= i < n else []
            return cache[i]

        row = max(0, min(self.cursor(), n - 1)) if n else 0
        return UIContent(get_line=get_line, line_count=max(n, 1), cursor_position=Point(0, row), show_cursor=False)

    def mouse_handler(self, mouse_event: MouseEvent) -> object:
        kind = mouse_event.event_type
        if kind == MouseEventType.MOUSE_UP and self.on_click is not None:
            self.on_click(mouse_event.position.y)
            return None
        if kind in (MouseEventType.SCROLL_DOWN, MouseEventType.SCROLL_UP) and self.on_scroll is not None:
            self.on_scroll(3 if kind == MouseEventType.SCROLL_DOWN else -3)
            return None
        return NotImplemented

    def get_key_bindings(self) -> KeyBindingsBase | None:
        return self._key_bindings
