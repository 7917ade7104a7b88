"""Importing gitvault before pyarrow picks jemalloc for Arrow's default pool (the Parquet writer's
buffers come from it; Arrow's mimalloc stalled seals on THP-backed VMs), never overriding a choice."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="jemalloc is chosen on Linux only")

PROBE = "import pyarrow as pa; print(pa.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"


def _probe(prelude: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    code = f"import os; {prelude}; {PROBE}"
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_gitvault_imported_first_selects_jemalloc() -> None:
    assert _probe("import gitvault") == "jemalloc jemalloc"


def test_a_pool_the_user_chose_is_kept() -> None:
    assert _probe("import gitvault", ARROW_DEFAULT_MEMORY_POOL="system") == "system system"


def test_pyarrow_imported_first_is_left_alone() -> None:
    assert _probe("import pyarrow, gitvault").endswith(" None")
