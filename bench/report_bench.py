"""The report page for 20 runs x 8 curves x 100,000 steps (issue 27): time and size.

    .venv/bin/python bench/report_bench.py [--runs 20] [--curves 8] [--steps 100000] [--repeats 3]

In a fresh git repository of a temp dir: ``runs`` runs of one experiment, each logging ``curves``
curves (four ``train/*``, four ``val/*``) at every one of ``steps`` steps, a few headline metrics and
a config that differs by run. Then `git vault report EXPERIMENT -o report.html`, called in process,
is timed ``repeats`` times: the first with an empty Vega bundle cache (``XDG_CACHE_HOME`` pointed at
a new folder: vl-convert bundles Vega on that call), the rest with it warm, as every later report
on the machine finds it. Each time covers opening the query layer on current caches, reading every
curve from its Parquet blob, downsampling (at most 1,000 points a curve: first, last, each stretch's
lowest and highest), building the specs and writing the page. The page's size is printed too, and
``--markdown`` (PNG charts through vl-convert) is timed once.

Goals: under 5 s, under 10 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from scratch import repository  # bench/scratch.py (a script's folder is on sys.path)

GOAL_S, GOAL_MB = 5.0, 10.0


def fill(root: Path, runs: int, curves: int, steps: int) -> None:
    from gitvault import Store

    names = [f"{'train' if i < curves // 2 else 'val'}/c{i}" for i in range(curves)]
    rng = np.random.default_rng(0)
    with Store(root) as store:
        exp = store.experiment({"benchmark": "bench", "model": "report", "variant": "v"})
        for r in range(runs):
            noise = rng.normal(0, 0.02, (steps, curves))
            base = 1 / (1 + np.arange(steps)[:, None] / (1000 * (r + 1))) + noise
            with exp.run(config={"lr": 10.0 ** -(r % 5), "seed": r, "width": 64}, name=f"run{r}") as run:
                for step in range(steps):
                    run.curve(step, **dict(zip(names, base[step].tolist())))
                run.log(**{"val/loss": float(base[-1, -1]), "val/acc": float(1 - base[-1, 0]), "epochs": 10})


def report(root: Path, out: Path, *extra: str) -> float:
    from gitvault.cli.main import main

    begin = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["-C", str(root), "report", "bench/report/v", "-o", str(out), *extra])
    took = time.perf_counter() - begin
    if code != 0:
        raise SystemExit("git vault report failed")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--curves", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = repository(Path(tmp) / "project")
        began = time.perf_counter()
        fill(root, args.runs, args.curves, args.steps)
        print(f"logged {args.runs} runs x {args.curves} curves x {args.steps:,} steps in "
              f"{time.perf_counter() - began:.1f} s")
        report(root, Path(tmp) / "warmup.html", "--title", "caches")  # builds the caches: not the report's cost
        from gitvault.report import charts

        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        charts.script_bundle.cache_clear()  # neither on disk nor in this process: bundled again
        out = Path(tmp) / "report.html"
        times = [report(root, out) for _ in range(max(args.repeats, 1))]
        size = out.stat().st_size / 1e6
        cold, warm = times[0], statistics.median(times[1:]) if len(times) > 1 else times[0]
        print(f"report, Vega bundle not cached: {cold:.2f} s")
        print(f"report, median of {len(times) - 1} with the bundle cached: {warm:.2f} s   goal < {GOAL_S:.0f} s   "
              f"{'ok' if warm < GOAL_S else 'MISSED'}")
        print(f"page size: {size:.2f} MB   goal < {GOAL_MB:.0f} MB   {'ok' if size < GOAL_MB else 'MISSED'}")
        (Path(tmp) / "md").mkdir()
        md = report(root, Path(tmp) / "md" / "report.md", "--markdown")
        print(f"--markdown (PNG charts through vl-convert): {md:.2f} s")


if __name__ == "__main__":
    main()
