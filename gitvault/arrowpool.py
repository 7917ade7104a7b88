"""Which allocator Arrow uses by default in a process that imports gitvault before pyarrow.

Arrow's default allocator, mimalloc, maps its memory as transparent huge pages; on VMs where first
touching one costs milliseconds, the Parquet writer (whose buffers always come from Arrow's
default pool, whatever pool a caller passes) stalled a run's seal by 5-20 ms in 11 of 15 runs,
with the system allocator in none. The pool is fixed when pyarrow loads, from
``ARROW_DEFAULT_MEMORY_POOL``: gitvault sets it only when nobody has (and pyarrow is not loaded
yet), and takes it out of the environment again once pyarrow is loaded, so child processes (data
loader workers, subprocesses) inherit nothing.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
POOL = "system"
_set_here = False


def choose() -> None:
    """Before anything imports pyarrow (``gitvault/__init__``)."""
    global _set_here
    if sys.platform.startswith("linux") and "pyarrow" not in sys.modules and VARIABLE not in os.environ:
        os.environ[VARIABLE] = POOL
        _set_here = True


def chosen() -> None:
    """Right after gitvault imports pyarrow: the pool is fixed, the variable goes."""
    global _set_here
    if _set_here and "pyarrow" in sys.modules:
        if os.environ.get(VARIABLE) == POOL:
            del os.environ[VARIABLE]
        _set_here = False
