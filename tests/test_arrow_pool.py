"""A process whose first pyarrow import is gitvault's SDK gets the system allocator as Arrow's
default pool (see gitvault/arrowpool.py); a choice already made is kept, children inherit nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="chosen on Linux only")

PROBE = ("import pyarrow as pa; print(pa.default_memory_pool().backend_name, "
         "os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))")


def _probe(prelude: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    return subprocess.run([sys.executable, "-c", f"import os; {prelude}; {PROBE}"], env={**clean, **env},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_sdk_imported_first_selects_the_system_pool_and_leaves_no_variable() -> None:
    assert _probe("from gitvault import Store") == "system None"


def test_a_pool_the_user_chose_is_kept() -> None:
    assert _probe("from gitvault import Store", ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc mimalloc"


def test_pyarrow_imported_first_is_left_alone() -> None:
    assert _probe("import pyarrow; from gitvault import Store") == _probe("import pyarrow")


def test_importing_gitvault_alone_changes_nothing() -> None:
    assert _probe("import gitvault") == _probe("import pyarrow")
