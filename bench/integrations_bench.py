"""Framework adapters: what each one adds to a training step (issue 19; goal: under 2 % of a
1 ms step, i.e. under 20 us a step).

    .venv/bin/python bench/integrations_bench.py [--steps 2000] [--rounds 5] [--only wandb.log]

Every case runs the same loop twice, without the adapter and with it, in a fresh git repository
(a temp dir), for ``--rounds`` rounds (the two interleaved, so both see the same background load),
and prints the medians side by side: time per step of each, the overhead per step in us, as % of
the plain step, and as % of a 1 ms step. A "step" is one call of `train_step` (a fixed amount of
Python work calibrated to 1 ms of CPU, a stand-in for the forward/backward pass) plus, with the
adapter, what the framework's logging hook does at that step. Times are the CPU time of the whole
process (`time.process_time`: every thread, so the flusher's work counts), which other jobs on a
shared machine do not inflate as they do wall-clock time.

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
"""The stand-in training step: 1 ms of CPU."""


def _calibrate() -> int:
    """Iterations of `train_step`'s loop that take `STEP_S` of CPU here (the fastest of a few tries)."""
    n = 20_000
    best = min(_timed_spin(n) for _ in range(5))
    return max(1, int(n * STEP_S / best))


def _timed_spin(n: int) -> float:
    t0 = time.process_time()
    _spin(n)
    return time.process_time() - t0


def _spin(n: int) -> float:
    x = 0.0
    for i in range(n):
        x += i * 1e-9
    return x


SPIN = 0  # set by main(): the iterations of one 1 ms step


def train_step() -> float:
    """A fixed amount of Python work, about 1 ms of CPU (a stand-in for a training step that holds
    the GIL); returns a loss-like number."""
    return 1.0 / (1.0 + _spin(SPIN))


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


@case("sdk.curve")
def sdk_curve(repo: Path, steps: int) -> Case:
    """The floor every adapter builds on: the SDK's own ``run.curve(step, **4 values)`` at every step."""
    from gitvault.integrations import base

    run = base.start_run("bench", name="sdk-curve", directory=repo)
    at = iter(range(10**12))

    def plain() -> None:
        for i in range(steps):
            train_step()

    def adapted() -> None:
        for i in range(steps):
            loss = train_step()
            run.curve(next(at), **{"train/loss": loss, "train/acc": 1.0 - loss, "lr": 0.1, "epoch": float(i // 100)})

    return Case(plain, adapted, close=lambda: base.finish_run(run))


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


# The four framework adapters: the framework's own loop, each step a 1 ms `train_step` plus three
# metrics logged, with no logger at all and with the gitvault one. With Lightning, transformers and
# Keras each round is one fit, hence one run started and sealed (tens of ms, spread over the round's
# steps: more --steps, less of it per step); with no logger, Lightning also skips its own per-step
# logging work (metrics to Python numbers), which the adapter's time includes.


@case("lightning.step")
def lightning_step(repo: Path, steps: int) -> Case:
    """``Trainer.fit`` of `steps` steps, ``logger=False`` against `GitVaultLogger` (log_every_n_steps=1)."""
    try:
        import lightning.pytorch as L
        import torch
    except ImportError:
        raise Skip("lightning (and torch) are not installed") from None
    import logging
    import warnings

    from gitvault.integrations.lightning import GitVaultLogger

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # its banners, once a fit

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: "torch.Tensor", batch_idx: int) -> "torch.Tensor":
            loss = self.layer(batch).pow(2).mean() + train_step() * 0
            self.log_dict({"train/loss": loss, "train/acc": 1.0 - loss.detach(), "lr": 0.1})
            return loss

        def configure_optimizers(self) -> "torch.optim.Optimizer":
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> "torch.utils.data.DataLoader[torch.Tensor]":
            return torch.utils.data.DataLoader(torch.randn(64, 4), batch_size=8)

    def fit(logger: object) -> None:
        L.Trainer(max_steps=steps, logger=logger, log_every_n_steps=1, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False, accelerator="cpu").fit(Module())

    return Case(lambda: fit(False), lambda: fit(GitVaultLogger("bench/lightning", directory=repo)))


@case("transformers.step")
def transformers_step(repo: Path, steps: int) -> Case:
    """``Trainer.train`` of `steps` steps (logging_steps=1), without a reporting callback against
    with `GitVaultCallback`."""
    try:
        import torch
        from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
    except ImportError:
        raise Skip("transformers (and torch) are not installed") from None
    from gitvault.integrations.transformers import GitVaultCallback

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def forward(self, x: "torch.Tensor", labels: "torch.Tensor") -> dict[str, "torch.Tensor"]:
            return {"loss": (self.layer(x) - labels).pow(2).mean()}

    class Busy(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *args: object, **kwargs: object) -> None:
            train_step()

    data = [{"x": torch.randn(4), "labels": torch.randn(1)} for _ in range(64)]
    args = TrainingArguments(output_dir=str(repo / "hf-out"), max_steps=steps, per_device_train_batch_size=8,
                             logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True)

    def train(*callbacks: object) -> None:
        trainer = Trainer(model=Model(), args=args, train_dataset=data, callbacks=[Busy(), *callbacks])
        trainer.remove_callback(PrinterCallback)
        trainer.train()

    return Case(train, lambda: train(GitVaultCallback("bench/transformers", directory=repo)))


@case("keras.step")
def keras_step(repo: Path, steps: int) -> Case:
    """``model.fit`` of `steps` batches (JAX backend unless KERAS_BACKEND says otherwise), without
    against with `GitVaultCallback` (batch and epoch curves)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
        import numpy as np
    except ImportError:
        raise Skip("keras is not installed") from None
    from gitvault.integrations.keras import GitVaultCallback

    class Busy(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            train_step()

    x = np.random.default_rng(0).normal(size=(steps * 8, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])

    def fit(*callbacks: object) -> None:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Busy(), *callbacks])

    return Case(fit, lambda: fit(GitVaultCallback("bench/keras", directory=repo)))


@case("accelerate.step")
def accelerate_step(repo: Path, steps: int) -> Case:
    """A loop of `steps` steps with ``accelerator.log`` of three metrics to `GitVaultTracker`
    (one run, started before the rounds and sealed by ``end_training`` after them), against the
    same loop with no tracker and no ``log`` call."""
    try:
        from accelerate import Accelerator
    except ImportError:
        raise Skip("accelerate (and torch) are not installed") from None
    from gitvault.integrations.accelerate import GitVaultTracker

    accelerator = Accelerator(cpu=True, log_with=[GitVaultTracker("bench/accelerate", directory=repo)])
    accelerator.init_trackers("bench", config={"lr": 0.1})
    accelerator.log({"train/loss": 1.0})  # the run starts here, outside the timed rounds

    def plain() -> None:
        for _ in range(steps):
            train_step()

    def adapted() -> None:
        for _ in range(steps):
            loss = train_step()
            accelerator.log({"train/loss": loss, "train/acc": 1.0 - loss, "lr": 0.1})

    return Case(plain, adapted, close=accelerator.end_training)


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
            t0 = time.process_time()
            c.plain()
            t1 = time.process_time()
            c.adapted()
            t2 = time.process_time()
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
    global SPIN
    SPIN = _calibrate()
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
