"""Framework adapters: what each one adds to a training step (issue 19; goal: under 2 % of a
1 ms step, i.e. under 20 us a step).

    .venv/bin/python bench/integrations_bench.py [--steps 2000] [--rounds 5] [--only wandb.log]

Every case runs the same loop twice, without the adapter and with it, in a fresh git repository
(a temp dir), for ``--rounds`` rounds (the two interleaved, so both see the same background load),
and prints the medians side by side: time per step of each, the overhead per step in us, as % of
the plain step, and as % of a 1 ms step. A "step" is one call of `train_step` (a 1 ms busy loop,
a stand-in for the forward/backward pass) plus, with the adapter, what the framework's logging
hook does at that step.

Adding a case (one per adapter): a function ``(repo: Path, steps: int) -> Case`` decorated with
``@case("name")``. ``Case.plain`` and ``Case.adapted`` each run ``steps`` steps (setup such as
starting a run belongs outside them, in the case function); ``Case.close`` runs once at the end
(seal the run); ``Case.per`` names the unit when a "step" is something else (an Optuna trial).
Import the framework inside the case function and raise `Skip` when it is not installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STEP_S = 0.001
"""The stand-in training step: 1 ms."""


def train_step(seconds: float = STEP_S) -> float:
    """A busy loop of ``seconds`` (holding the GIL, as a Python training step mostly does);
    returns a loss-like number."""
    end = time.perf_counter() + seconds
    x = 0.0
    while time.perf_counter() < end:
        x += 1.0
    return 1.0 / (1.0 + x * 1e-6)


class Skip(Exception):
    """A case whose framework is not installed."""


@dataclass
class Case:
    plain: Callable[[], object]
    adapted: Callable[[], object]
    close: Callable[[], object] = field(default=lambda: None)
    per: str = "step"
    steps: int | None = None  # when a round runs another number of units than --steps


CASES: dict[str, Callable[[Path, int], Case]] = {}


def case(name: str) -> Callable[[Callable[[Path, int], Case]], Callable[[Path, int], Case]]:
    def register(fn: Callable[[Path, int], Case]) -> Callable[[Path, int], Case]:
        CASES[name] = fn
        return fn
    return register


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    (root / "train.py").write_text("print('training')\n")
    subprocess.run(["git", "add", "train.py"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=root, check=True, env=env)
    os.environ.update({k: v for k, v in env.items() if k.startswith("GIT_")})
    return root


# -- cases ------------------------------------------------------------------------------------------


@case("wandb.log")
def wandb_log(repo: Path, steps: int) -> Case:
    """``gitvault.log({...})`` (the W&B-shaped API) with 4 metrics at every step."""
    import gitvault as wandb

    wandb.init(project="bench", name="wandb-log", config={"lr": 0.1}, dir=repo)

    def plain() -> None:
        for i in range(steps):
            train_step()

    def adapted() -> None:
        for i in range(steps):
            loss = train_step()
            wandb.log({"train/loss": loss, "train/acc": 1.0 - loss, "lr": 0.1, "epoch": i // 100})

    return Case(plain, adapted, close=wandb.finish)


@case("optuna.trial")
def optuna_trial(repo: Path, steps: int) -> Case:
    """One Optuna trial of 200 steps, without and with `GitVaultCallback` (one run per trial:
    started, config stored, sealed as one vault commit)."""
    try:
        import optuna
    except ImportError:
        raise Skip("optuna is not installed") from None
    from gitvault.integrations.optuna import GitVaultCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = max(1, steps // 200)

    def objective(trial: "optuna.Trial") -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        for _ in range(200):
            train_step()
        return x * x

    callback = GitVaultCallback(directory=repo)

    def plain() -> None:
        optuna.create_study(study_name="bench-plain").optimize(objective, n_trials=trials)

    def adapted() -> None:
        optuna.create_study(study_name="bench").optimize(objective, n_trials=trials, callbacks=[callback])

    return Case(plain, adapted, per="trial (200 steps)", steps=trials)


# -- harness ----------------------------------------------------------------------------------------


def measure(name: str, repo: Path, steps: int, rounds: int) -> dict[str, float | str] | None:
    try:
        c = CASES[name](repo, steps)
    except Skip as why:
        print(f"{name:<16} skipped: {why}")
        return None
    units = c.steps or steps
    plain, adapted = [], []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            c.plain()
            t1 = time.perf_counter()
            c.adapted()
            t2 = time.perf_counter()
            plain.append((t1 - t0) / units)
            adapted.append((t2 - t1) / units)
    finally:
        c.close()
    p, a = statistics.median(plain), statistics.median(adapted)
    return {"case": name, "per": c.per, "plain_s": p, "adapted_s": a, "overhead_s": a - p}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps a round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, medians taken (default 5)")
    parser.add_argument("--only", action="append", choices=sorted(CASES), help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    names = args.only or list(CASES)
    print(f"{len(names)} case(s), {args.steps} steps x {args.rounds} rounds; stand-in step {STEP_S * 1e3:.1f} ms; "
          f"python {sys.version.split()[0]}")
    print(f"{'case':<16} {'unit':<18} {'plain':>10} {'adapter':>10} {'overhead':>10} {'% plain':>8} {'% of 1 ms':>9}")
    with tempfile.TemporaryDirectory(prefix="gitvault-integrations-bench-") as tmp:
        for i, name in enumerate(names):
            row = measure(name, make_repo(Path(tmp) / f"repo{i}"), args.steps, args.rounds)
            if row is None:
                continue
            p, a, o = float(row["plain_s"]), float(row["adapted_s"]), float(row["overhead_s"])
            print(f"{name:<16} {row['per']:<18} {_t(p):>10} {_t(a):>10} {_t(o):>10} {o / p * 100:>7.2f}% "
                  f"{o / STEP_S * 100:>8.2f}%")
    return 0


def _t(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if abs(seconds) < 0.01 else f"{seconds * 1e3:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
