"""Which allocator Arrow uses by default when gitvault is the first to import pyarrow.

Arrow's default allocator, mimalloc, maps its memory as transparent huge pages; on VMs where first
touching one costs milliseconds, the Parquet writer (whose buffers always come from Arrow's
default pool, whatever pool a caller passes) stalled a run's seal by 5-20 ms in 11 of 15 runs,
with the system allocator in none. The pool is fixed when pyarrow loads, from
``ARROW_DEFAULT_MEMORY_POOL``: the SDK's curves module (the one a training process loads) calls
`load` before importing pyarrow, which sets the variable only while pyarrow loads (child
processes inherit nothing) and only when nobody set it and pyarrow is not loaded yet (the user's
choice always wins).
"""

from __future__ import annotations

import importlib
import os
import sys

VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
POOL = "system"


def load() -> None:
    """Import pyarrow with the system allocator as its default pool, unless decided already."""
    if "pyarrow" in sys.modules or VARIABLE in os.environ or not sys.platform.startswith("linux"):
        return
    os.environ[VARIABLE] = POOL
    try:
        importlib.import_module("pyarrow")
    finally:
        if os.environ.get(VARIABLE) == POOL:
            del os.environ[VARIABLE]
