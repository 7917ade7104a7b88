"""The demo vault: the Specimen Vault seed's synthetic specimen plus an Extract-style hierarchy, so
every view (runs, show, compare, diff, sql, experiments, models, lineage, todos) has something.

`build(root)` adds the demo to the vault of the repository at ``root`` (`git vault demo`). It is
idempotent item by item: a run is identified by (experiment path, run name), a todo by (scope,
text), so a second build adds nothing and reports what was already there; an interrupted build is
completed by the next one.

``python -m gitvault.scaffold.demo`` (what ``make demo`` runs) creates or reuses a scratch repository
``./demo-vault``, runs ``git vault demo`` in it and prints the real output of a few commands.
"""

from __future__ import annotations

import math
import os
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gitvault.scaffold import specimen
from gitvault.errors import VaultError
from gitvault.runs.store import Store

SPECIMEN_ID = "example_2024_12_19_synthetic_demo"
SPECIMENS = [
    # id, domain, method, tags, model, run
    (SPECIMEN_ID, "interpretability", "sae_analysis", ["synthetic", "gpt2", "layer_12"], "gpt2", None),
    ("2024_12_20_probe_sweep", "alignment", "probe_training", ["llama", "probes"], "llama-3-8b", "probe"),
    ("2024_12_21_lora_ablation", "training", "ablation_study", ["gpt2", "lora"], "gpt2", "lora"),
]
LR_SWEEP = "imagenet/resnet50/lr-sweep"
STEPS = 60

Progress = Callable[[str, int, int], None]
KINDS = ("specimens", "runs", "todos", "models", "lineage edges")


@dataclass
class DemoReport:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    runs: dict[str, str] = field(default_factory=dict)  # "path#name" -> run id
    files: list[str] = field(default_factory=list)

    def count(self, what: str, made: bool) -> None:
        bucket = self.created if made else self.present
        bucket[what] = bucket.get(what, 0) + 1

    @property
    def changed(self) -> bool:
        return any(self.created.values())

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "already_present": self.present, "runs": self.runs, "files": self.files}


class _Builder:
    def __init__(self, store: Store, progress: Progress | None) -> None:
        self.store = store
        self.report = DemoReport()
        self.progress = progress or (lambda stage, done, total: None)
        self.existing = {f"{r.get('experiment_path')}#{r.get('name')}": r["id"]
                         for r in store.list_runs() if r.get("status") != "running"}
        self.levels = store.hierarchy
        self.tmp = Path(tempfile.mkdtemp(prefix="gitvault-demo-"))
        self.steps_done = 0

    def step(self) -> None:
        self.steps_done += 1
        self.progress("demo", self.steps_done, TOTAL_STEPS)

    def experiment(self, path: str) -> Any:
        parts = path.split("/")[: len(self.levels)]
        return self.store.experiment(dict(zip(self.levels, parts)))

    def run(self, exp: Any, name: str, body: Callable[[Any], None] | None, *, config: dict[str, Any],
            total_steps: int | None = STEPS, fails: bool = False) -> tuple[str, bool]:
        """Run ``body(run)`` (None: the specimen's protocol.py) unless (experiment, name) already has
        a sealed run; returns (run id, created)."""
        label = f"{exp.path}#{name}"
        if label in self.existing:
            self.report.count("runs", False)
            self.report.runs[label] = self.existing[label]
            self.step()
            return self.existing[label], False
        if body is None:
            rid = self.run_protocol(exp)
        else:
            try:
                with exp.run(config=config, name=name, total_steps=total_steps) as run:
                    rid = run.id
                    body(run)
            except FloatingPointError:
                if not fails:
                    raise
        self.existing[label] = self.report.runs[label] = rid
        self.report.count("runs", True)
        self.step()
        return rid, True

    def run_protocol(self, exp: Any) -> str:
        """Run the scaffolded ``specimens/<id>/protocol.py``, the seed's way of making a specimen's
        results; a missing file is scaffolded again from the template first."""
        folder = specimen.folder_of(self.store, exp.specimen_id)
        if folder is None:
            raise VaultError("`git vault demo` needs a repository with a work tree (it writes specimens/)")
        protocol = folder / "protocol.py"
        if not protocol.exists():
            folder.mkdir(parents=True, exist_ok=True)
            protocol.write_text(specimen.render(specimen.SCAFFOLD["protocol.py"], exp.record,
                                                specimen.spec_of(self.store, exp.specimen_id)), encoding="utf-8")
            self.report.files.append(str(protocol))
        return runpy.run_path(str(protocol))["run_experiment"]()

    def model_file(self, name: str, payload: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(payload)
        return path

    def todo(self, scope: str, scope_id: str | None, text: str, priority: int, done: bool = False) -> None:
        todos = self.store.list_todos(scope, scope_id, include_done=True)
        match = next((t for t in todos if t["content"] == text), None)
        if match is None:
            if scope == "global":
                tid = self.store.todo(text, priority)
            else:
                tid = self.store.add_todo(text, priority, scope_type=scope, scope_id=scope_id)
            self.report.count("todos", True)
        else:
            tid = match["id"]
            self.report.count("todos", False)
        if done and not (match is not None and match["done"]):
            self.store.todo_done(tid)
        self.step()


def _curves(run: Any, seed: int, steps: int = STEPS, lr: float = 1e-3, diverge_at: int | None = None) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    speed = 28 - 7 * math.log10(lr / 1e-4)
    unstable = 0.12 if lr >= 1e-2 else 0.0  # too large a step size: a higher floor, more noise
    loss = acc = 0.0
    for step in range(steps):
        loss = 2.3 * math.exp(-step / speed) + 0.25 + unstable + float(rng.normal(0, 0.015 + unstable / 4))
        acc = (0.9 - unstable) * (1 - math.exp(-step / speed)) + float(rng.normal(0, 0.006))
        val = loss + 0.05 + 0.002 * max(0, step - 40) + float(rng.normal(0, 0.01))
        if diverge_at is not None and step >= diverge_at:
            loss = val = math.nan if step > diverge_at else math.inf
        run.curve(step=step, train_loss=loss, train_acc=acc, val_loss=val)
        if diverge_at is not None and step > diverge_at:
            raise FloatingPointError(f"loss diverged to NaN at step {diverge_at}")
    end = math.exp(-(steps - 1) / speed)  # headline values without the noise
    return 2.3 * end + 0.25 + unstable, (0.9 - unstable) * (1 - end)


def _config(lr: float, **extra: Any) -> dict[str, Any]:
    return {"lr": lr, "batch_size": 32, "epochs": STEPS,
            "optimizer": {"name": "sgd", "momentum": 0.9, "schedule": {"kind": "cosine", "warmup": 5}},
            "data": {"dataset": "imagenet", "augment": {"crop": True, "flip": False}}, **extra}


def _specimens(b: _Builder) -> None:
    """The seed's specimen (scaffolded, then its protocol.py is run) and two more specimens."""
    store = b.store
    for sid, domain, method, tags, model, _ in SPECIMENS:
        record = specimen.find(store, sid)
        if record is None:
            folder = specimen.folder_of(store, sid)
            scaffold = folder is not None and not any((folder / name).exists() for name in specimen.SCAFFOLD)
            made = specimen.create(store, sid, domain, method, tags=tags, model=model, scaffold=scaffold)
            b.report.files.extend(str(f) for f in made.files)
        b.report.count("specimens", record is None)
    b.run(store.get_experiment(SPECIMEN_ID), "protocol", None, config={})

    def probe(run: Any) -> None:
        for layer in range(12):
            run.curve(step=layer, probe_acc=0.55 + 0.035 * layer - 0.002 * (layer - 8) ** 2)
        run.log(best_probe_acc=0.86, best_layer=8)
        run.log_table("probe_acc_by_layer", np.linspace(0.55, 0.86, 12).reshape(3, 4),
                      axes={"rows": "block", "cols": "layer"})
    b.run(store.get_experiment(SPECIMENS[1][0]), "layer-sweep", probe,
          config={"layers": list(range(12)), "probe": {"kind": "linear", "l2": 1e-3}}, total_steps=12)

    def lora(run: Any) -> None:
        _curves(run, seed=21, lr=3e-4)
        run.log(final_loss=0.61, perplexity=14.2, rank=8)
        run.write_metrics({"rank": [1, 2, 4, 8, 16], "eval_loss": [0.92, 0.81, 0.70, 0.61, 0.60]}, name="ablation")
    b.run(store.get_experiment(SPECIMENS[2][0]), "rank-ablation", lora,
          config={"lora": {"r": 8, "alpha": 16}, "lr": 3e-4})


def build(root: str | Path | None = None, progress: Progress | None = None) -> DemoReport:
    """Add the demo to the vault of the repository at ``root`` (see the module docstring)."""
    store = Store(root)
    b = _Builder(store, progress)
    before = {kind: len(list(store.snapshot().ids(kind))) for kind in ("model", "lineage")}
    try:
        _build(b)
        snap = store.snapshot()
        for kind, plural in (("model", "models"), ("lineage", "lineage edges")):
            now = len(list(snap.ids(kind)))
            b.report.created[plural] = now - before[kind]
            b.report.present[plural] = before[kind]
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
        store.close()
    b.progress("demo", TOTAL_STEPS, TOTAL_STEPS)
    return b.report


def _build(b: _Builder) -> None:
    store = b.store
    _specimens(b)

    # imagenet / resnet50: a baseline model, an lr sweep, a fine-tune derived from the best model
    base_exp = b.experiment("imagenet/resnet50/baseline")

    def baseline(run: Any) -> None:
        _, acc = _curves(run, seed=1, lr=1e-3)
        run.log(final_acc=round(acc, 4), final_loss=0.41, arch="resnet50", optimizer="sgd")
        run.register_model("baseline-imagenet", "v0.9", b.model_file("baseline.pt", b"baseline weights v0.9"),
                           metadata={"top1": 0.74}, framework="pytorch")
        run.tag("baseline")
    b.run(base_exp, "baseline", baseline, config=_config(1e-3))

    sweep = b.experiment(LR_SWEEP)
    for i, lr in enumerate((1e-3, 3e-3, 1e-2)):
        config = _config(lr) if i != 2 else _config(lr, optimizer={"name": "adamw", "betas": [0.9, 0.999],
                                                                   "schedule": {"kind": "step", "warmup": 0}})

        def one(run: Any, lr: float = lr, i: int = i, optimizer: str = config["optimizer"]["name"]) -> None:
            loss, acc = _curves(run, seed=10 + i, lr=lr)
            run.log(final_acc=round(acc, 4), final_loss=round(loss, 4), arch="resnet50", optimizer=optimizer)
            run.log_table("confusion_matrix", np.random.default_rng(i).random((10, 10)).round(3),
                          axes={"rows": "true", "cols": "predicted"})
            run.log_text("observations", f"## lr={lr:g}\nConverges {'stably' if lr < 1e-2 else 'fast, with noise'}.")
            run.tag("sweep")
            run.note(f"lr={lr:g} from the cosine schedule sweep")
            run.derived_from(model="baseline-imagenet", version="v0.9")
            if lr == 3e-3:
                run.tag("production-candidate")
                run.register_model("resnet50-imagenet", "v1.0", b.model_file("resnet50.pt", b"resnet50 weights v1.0"),
                                   metadata={"top1": 0.91, "lr": lr}, framework="pytorch")
        rid, made = b.run(sweep, f"lr-{lr:.0e}".replace("e-0", "e-"), one, config=config)
        if made and lr == 1e-2:
            store.note_run(rid, "later: noisy but fastest; try warmup")  # an event after sealing
            store.tag_run(rid, "needs-warmup")

    ft = b.experiment("imagenet/resnet50/finetune")

    def finetune(run: Any) -> None:
        loss, acc = _curves(run, seed=30, lr=3e-4)
        run.log(final_acc=round(acc + 0.02, 4), final_loss=round(loss, 4), arch="resnet50", optimizer="sgd")
        run.derived_from(model="resnet50-imagenet", version="v1.0")
        run.branched_from(experiment=sweep.id)
    b.run(ft, "finetune-from-v1", finetune, config=_config(3e-4, init="resnet50-imagenet@v1.0"))

    # imagenet / vit-b16: one completed run, one that diverged and failed
    vit = b.experiment("imagenet/vit-b16/baseline")

    def vit_ok(run: Any) -> None:
        loss, acc = _curves(run, seed=40, lr=1e-3)
        run.log(final_acc=round(acc, 4), final_loss=round(loss, 4), arch="vit-b16", optimizer="adamw")
        run.register_model("vit-b16-imagenet", "v1.0", b.model_file("vit", b"vit weights"), framework="jax")
    b.run(vit, "vit-warmup", vit_ok, config=_config(1e-3, model={"patch": 16, "depth": 12}, warmup=10))

    def vit_bad(run: Any) -> None:
        run.log(arch="vit-b16", optimizer="adamw")
        run.note("no warmup: the loss blows up")
        _curves(run, seed=41, lr=1e-2, diverge_at=30)
    vit_failed, _ = b.run(vit, "vit-no-warmup", vit_bad, fails=True,
                          config=_config(1e-2, model={"patch": 16, "depth": 12}, warmup=0))

    # cifar10 / resnet18: an augmentation study whose lineage is a diamond
    aug = b.experiment("cifar10/resnet18/augment")
    ids: dict[str, str] = {}
    for i, (name, parents) in enumerate((("base", []), ("crop", ["base"]), ("flip", ["base"]),
                                         ("crop-flip", ["crop", "flip"]))):
        def one_aug(run: Any, i: int = i, parents: list[str] = parents) -> None:
            loss, acc = _curves(run, seed=50 + i, lr=3e-3)
            run.log(final_acc=round(acc + 0.01 * i, 4), final_loss=round(loss - 0.01 * i, 4), arch="resnet18")
            for parent in parents:
                run.derived_from(run=ids[parent])
            run.tag("augment")
        ids[name], _ = b.run(aug, name, one_aug, config={
            "lr": 3e-3, "data": {"dataset": "cifar10", "augment": {"crop": "crop" in name, "flip": "flip" in name}}})

    # todos of every scope, one of them done
    b.todo("global", None, "Write up the lr sweep for the paper", 2)
    b.todo("global", None, "Build the demo vault", 0, done=True)
    b.todo("experiment", sweep.id, "Try lr=5e-3 with warmup next", 1)
    b.todo("run", vit_failed, "Investigate the divergence at step 30", 2)


TOTAL_STEPS = 14 + 4  # runs + todos


DEMO_DIR = "demo-vault"
SHOWCASE_SQL = ("SELECT specimen_id, created, method, tags FROM catalog WHERE domain = 'interpretability' "
                "ORDER BY created DESC")  # the seed's query, on one line


def _git_vault() -> list[str]:
    exe = shutil.which("git-vault")
    return ["git", "vault"] if exe else [sys.executable, "-m", "gitvault.cli.main"]


def _scratch_repo(root: Path) -> None:
    """Create ``root`` as a git repository with one commit, or reuse it when it already is one."""
    if (root / ".git").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    git = ["git", "-c", "init.defaultBranch=main", "-c", "user.name=gitvault demo",
           "-c", "user.email=demo@gitvault.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    (root / "README.md").write_text("# gitvault demo vault\n\nScratch repository made by `make demo`.\n")
    subprocess.run([*git, "add", "README.md"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "demo vault"], cwd=root, check=True)


def _quote(arg: str) -> str:
    """How a person would type it: SQL in double quotes, like the README."""
    if arg and not any(c in arg for c in ' \'"$`\\!*?;&|<>()'):
        return arg
    return f'"{arg}"' if not any(c in arg for c in '"$`\\!') else shlex.quote(arg)


def _show(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n$ git vault {' '.join(_quote(a) for a in args)}", flush=True)
    proc = subprocess.run([*_git_vault(), *args], cwd=root, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    sys.stdout.flush()
    if proc.returncode != 0:
        raise SystemExit(proc.returncode)
    return proc


def main(argv: list[str] | None = None) -> int:
    import json

    root = Path(argv[0] if argv else os.environ.get("GITVAULT_DEMO_DIR", DEMO_DIR)).resolve()
    _scratch_repo(root)
    print(f"demo repository: {root}")
    _show(root, "demo")
    _show(root, "experiments")
    _show(root, "runs")
    listed = subprocess.run([*_git_vault(), "runs", LR_SWEEP, "--tag", "production-candidate", "--json"],
                            cwd=root, text=True, capture_output=True, check=True)
    items = json.loads(listed.stdout)["items"]
    if items:
        _show(root, "show", items[0]["id"][:12])
    _show(root, "sql", SHOWCASE_SQL)
    _show(root, "sql", f"SELECT step, loss, accuracy FROM exp_{SPECIMEN_ID} WHERE step >= 95")
    print(f"\nexplore it: cd {root.relative_to(Path.cwd()) if root.is_relative_to(Path.cwd()) else root} "
          "&& git vault -h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
