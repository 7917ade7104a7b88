"""Images on the training thread (issue 26): 1,000 small images (64x64 RGB, uint8) logged at one
per step, beside the same loop with no images.

    .venv/bin/python bench/media_bench.py [--images 1000] [--size 64] [--repeats 3]

Each repeat, in a fresh git repository of a temp dir: a run whose loop does a little numpy work per
step (a stand-in for a training step: a 64x64 matrix product) and ``run.curve(step, loss=...)``;
then a run with the same loop that also calls ``run.log_image("samples", image, step=step)``. Each
call is timed alone (``perf_counter`` around the loop body); the cost per image is the median step
of the image run minus the median step of the plain run. ``log_image`` checks and copies the array
and leaves the PNG encoding to the flusher thread, so the training thread pays microseconds; the
flusher's work (encoding, writing blobs) competes only for the GIL. ``finish()`` (which encodes
what is left) and the whole loop are timed too, and the sealed run is checked to hold every image.

Goal: under 1 ms per image on the training thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from scratch import repository  # bench/scratch.py (a script's folder is on sys.path)

GOAL_MS = 1.0


def one(root: Path, images: int, size: int, with_images: bool) -> dict[str, float]:
    from gitvault import Store

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(16)]
    weights = rng.random((64, 64))
    steps: list[float] = []
    with Store(root) as store:
        run = store.experiment({"benchmark": "media", "model": "bench", "variant": "v"}).run()
        begin = time.perf_counter()
        for step in range(images):
            t0 = time.perf_counter()
            weights = np.tanh(weights @ weights) * 0.5  # the "training step"
            run.curve(step, loss=float(weights[0, 0]))
            if with_images:
                run.log_image("samples", frames[step % len(frames)], step=step)
            steps.append(time.perf_counter() - t0)
        loop = time.perf_counter() - begin
        t0 = time.perf_counter()
        run.finish()
        finish = time.perf_counter() - t0
        if with_images:
            stored = len(store.get_run(run.id).images("samples"))
            assert stored == images, f"{stored} images stored of {images}"
    return {"median_ms": statistics.median(steps) * 1e3, "p90_ms": sorted(steps)[int(len(steps) * 0.9)] * 1e3,
            "loop_s": loop, "finish_s": finish}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    plain: list[dict[str, float]] = []
    imaged: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved, so both see the same background load
            plain.append(one(repository(Path(tmp) / f"plain{i}"), args.images, args.size, False))
            imaged.append(one(repository(Path(tmp) / f"img{i}"), args.images, args.size, True))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"{args.images} steps, {args.size}x{args.size} RGB uint8 images, median of {args.repeats} runs")
    print(f"{'':28}{'no images':>12}{'one per step':>14}")
    for key, label, unit in (("median_ms", "step, median", "ms"), ("p90_ms", "step, 90th percentile", "ms"),
                             ("loop_s", "whole loop", "s"), ("finish_s", "finish() (seal)", "s")):
        print(f"{label:28}{med(plain, key):>10.4f} {unit}{med(imaged, key):>12.4f} {unit}")
    cost = med(imaged, "median_ms") - med(plain, "median_ms")
    mean = (med(imaged, "loop_s") - med(plain, "loop_s")) / args.images * 1e3
    print(f"cost per image on the training thread: {cost:.4f} ms by the median step, {mean:.4f} ms by the "
          f"whole loop (the flusher's encoding included, through the GIL); goal < {GOAL_MS} ms: "
          f"{'met' if max(cost, mean) < GOAL_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
