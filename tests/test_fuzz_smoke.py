"""The decoder fuzz harness (bench/fuzz_records.py) still runs: each target tries cases for ~1 s
and its own setup works (a setup error raises). Findings are not asserted here (the script's exit code reports them)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "fuzz_records.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_records", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_records", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["decode", "config", "spool", "archive"])
def test_target_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = _harness()
    monkeypatch.chdir(tmp_path)
    target = fuzz.Target(name, deadline=time.monotonic() + 1.0)
    run = {"decode": fuzz.fuzz_decode, "config": fuzz.fuzz_config}.get(name)
    if run is not None:
        run(target)
    else:
        {"spool": fuzz.fuzz_spool, "archive": fuzz.fuzz_archive}[name](target, tmp_path)
    assert target.tried > 0
