"""The full-screen terminal UI, `git vault tui` (prompt_toolkit): a thin view over
`gitvault.query`, like the CLI and the MCP server.

`tui.app` holds the application (loading, live watching, layout), with `tui.prompts` (what it
asks: text lines, confirmations, the tag picker, search) and `tui.screens` (the full-screen views);
`tui.state` the one state object every panel reads and `tui.navigation` what keys do to it;
`tui.actions` the vault writes with undo; `tui.session` the settings and the saved session; `tui.tree` the experiment tree;
`tui.bindings` every key, registered in a `tui.keys.KeyMap` (the bindings, the help screen and
the status bar's hints come from it); `tui.loads` what is asked of the query layer on its worker
thread; `tui.views` what each panel shows; `tui.chart` the braille charts; `tui.graphics` and
`tui.inline_images` the files view's pictures (kitty, iTerm2, sixel: `tui.sixel`); `tui.controls` the
line-by-line control every list and document is drawn with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitvault.query.worker import QueryWorker


def run(directory: str | Path | None = None, worker: QueryWorker | None = None) -> int:
    """Run the TUI full screen in this terminal until the user quits; the exit status. ``worker``:
    a query worker whose vault is already open (`git vault tui` opens it first, so a missing
    vault is one error line before the screen is taken). The tree's data is asked of it before
    the application is imported and built, so the two overlap."""
    prefetched = None
    if worker is not None:
        from gitvault.tui import loads

        prefetched = (worker.submit(loads.experiments), worker.submit(lambda q: loads.index_since(q, None)))
    from gitvault.tui.app import TuiApp

    return TuiApp(directory, worker=worker, prefetched=prefetched).run()
