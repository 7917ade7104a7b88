"""bench/integrations_bench.py still runs and measures what it says: a short run of its two
pure-Python cases prints one row each, with the adapter's hook called once a step and a verdict.
The figures themselves are not asserted (they are times)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "integrations_bench.py"


def _bench() -> dict[str, Any]:
    """The script's globals, run afresh (not as __main__: its main() is called here)."""
    return runpy.run_path(str(SCRIPT), run_name="integrations_bench")


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench sets these for its repositories in os.environ: set here first, so they are undone after."""
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(name, "bench")


def test_the_bench_times_each_hook_call_and_gives_a_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    from gitvault.integrations import base

    start_run = base.start_run
    assert bench["main"](["--steps", "20", "--rounds", "1", "--only", "sdk.curve", "--only", "wandb.log"]) == 0
    assert base.start_run is start_run  # the timing wrapper it put on base is taken off again
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = {line[0]: line for line in lines if line and line[0] in ("sdk.curve", "wandb.log")}
    assert set(rows) == {"sdk.curve", "wandb.log"}
    assert all(row[-2] in ("PASS", "MISS") for row in rows.values())


def test_a_round_counts_one_timed_hook_call_a_step(tmp_path: Path) -> None:
    bench = _bench()  # uncalibrated (main() calibrates): the stand-in does no work, the counts are what matter
    row = bench["measure"]("sdk.curve", bench["make_repo"](tmp_path / "repo"), 40, 2, bench["wrapper_cost"]())
    assert row is not None and row.per == "step"
    assert row.calls == 1.0  # run.curve once a step, each call timed
    assert row.hooks > 0 and row.standin > 0  # the hook's and the stand-in's own CPU, apart
    assert row.lifetime is None  # the run spans every round: no start or seal inside one
