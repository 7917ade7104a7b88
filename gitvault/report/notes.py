"""Notes and logged texts (markdown) as HTML, with markdown-it-py (CommonMark, tables): raw HTML
is shown as text, never run, and an image a note points at is shown as its link, never loaded,
so a note can neither run a script nor make the page fetch anything."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _renderer() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

    def image_as_link(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        alt = md.utils.escapeHtml(renderer.renderInlineAsText(token.children or [], options, env)) or "image"
        src = md.utils.escapeHtml(str(token.attrGet("src") or ""))
        return f'[{alt}: <a href="{src}">{src}</a>]'

    md.add_render_rule("image", image_as_link)
    return md


def to_html(text: str) -> str:
    """``text`` (markdown) as an HTML fragment."""
    return str(_renderer().render(text))
