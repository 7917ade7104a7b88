"""Python's cycle collector paused for a command that builds millions of objects at once.

A full rebuild or an import decodes every record into dicts and lists, none of which form cycles
(reference counting frees them). While they pile up, the collector still scans the survivors each
time its generation thresholds fill, again and again as the heap grows: a fifth of a 100,000-run
`git vault reindex` (bench/cluster_bench.py). The `git vault` process is ours, so its bulk commands
pause the collector for their duration; the library never does (it runs inside the user's process).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_collector() -> Iterator[None]:
    """Disable the cycle collector inside the block, and restore it (with one collection) after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()
