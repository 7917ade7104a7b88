"""Push protection benchmark (issue 22): what `outgoing.scan` costs a clean push.

    .venv/bin/python bench/push_bench.py [--runs 500] [--repeat 5]

Builds, in a temp dir, a git repository whose vault holds ``runs`` typical runs made with the SDK:
a ~30-key config (learning rate, batch size, model and tokenizer names, data paths, a git sha, a
ULID, a sha256 id, a base64 hash, an s3 URI, nested optimizer/scheduler/LoRA dicts), string
params and headline metrics, a short loss curve, notes on some runs (in the record, and a few as
note/tag events on sealed runs), text artifacts (a training log tail, an eval report) on some,
and a dirty work tree for about half of them (a tracked file edited between runs, sometimes an
untracked script too), so their records carry code patches that all differ.

Then, per repetition (the cases take turns, so load noise on the shared machine hits all alike):

- the scan a push of everything does, ``outgoing.scan(vault, None, tip)``, in a fresh process:
  its first call (what `git vault push` pays: loading the scanner's patterns is in it)
  and three warm calls after it (what a long-lived process pays);
- loading the scanner's patterns (`gitvault.secrets.patterns`, compiled regexes) alone, in another fresh process;
- the reference: `git vault push` of the whole vault to a fresh bare remote (a subprocess),
  and the same push with the scan stubbed out (``gitvault.cli.main`` in a subprocess with
  ``outgoing.scan`` returning nothing), whose difference is the scan's end-to-end cost.

Prints medians, the scan's share of the push, and the findings (0 expected for these typical
runs: any finding listed is a false positive); also any value capture redacted while building.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pygit2

    from gitvault.storage.vault import Vault

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
for key, value in (("GIT_AUTHOR_NAME", "Bench"), ("GIT_AUTHOR_EMAIL", "bench@example.invalid"),
                   ("GIT_COMMITTER_NAME", "Bench"), ("GIT_COMMITTER_EMAIL", "bench@example.invalid")):
    os.environ.setdefault(key, value)
sys.path.insert(0, str(ROOT))

WARM_CALLS = 3

TRAIN_PY = '''"""Fine-tune a causal LM on a tokenized corpus."""

import argparse
import math
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

from data import ShardDataset

LR = 3e-4
BATCH_SIZE = 32
WARMUP_STEPS = 500
MAX_STEPS = 20_000
EVAL_EVERY = 1_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-name", default="meta-llama/Llama-3.1-8B")
    parser.add_argument("--data-dir", default="/data/shards/c4-en")
    parser.add_argument("--output-dir", default="checkpoints")
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--max-tokens", type=int, default=4096)
    return parser.parse_args()


def evaluate(model, loader, device):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            out = model(**{k: v.to(device) for k, v in batch.items()})
            total += out.loss.item()
            count += 1
    model.train()
    return total / max(count, 1)


def main() -> None:
    args = parse_args()
    hf_token = os.environ.get("HF_TOKEN")
    tokenizer = AutoTokenizer.from_pretrained(args.model_name, token=hf_token)
    model = AutoModelForCausalLM.from_pretrained(args.model_name, torch_dtype=torch.bfloat16, token=hf_token)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    train = DataLoader(ShardDataset(Path(args.data_dir) / "train", tokenizer, args.max_tokens),
                       batch_size=args.batch_size, shuffle=True, num_workers=8)
    val = DataLoader(ShardDataset(Path(args.data_dir) / "val", tokenizer, args.max_tokens), batch_size=64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    scheduler = get_cosine_schedule_with_warmup(optimizer, WARMUP_STEPS, MAX_STEPS)
    step = 0
    while step < MAX_STEPS:
        for batch in train:
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % EVAL_EVERY == 0:
                print(f"step {step} val_loss {evaluate(model, val, device):.4f} ppl {math.exp(loss.item()):.2f}")
                model.save_pretrained(Path(args.output_dir) / f"step-{step}")
            if step >= MAX_STEPS:
                break


if __name__ == "__main__":
    main()
'''

DATA_PY = '''"""Token shards on disk."""

from pathlib import Path

import pyarrow.parquet as pq
import torch


class ShardDataset(torch.utils.data.Dataset):
    def __init__(self, root: Path, tokenizer, max_tokens: int) -> None:
        self.files = sorted(Path(root).glob("*.parquet"))
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.rows = [row for f in self.files for row in pq.read_table(f).column("text").to_pylist()]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        enc = self.tokenizer(self.rows[i], truncation=True, max_length=self.max_tokens, padding="max_length",
                             return_tensors="pt")
        token_ids = enc["input_ids"][0]
        return {"input_ids": token_ids, "attention_mask": enc["attention_mask"][0], "labels": token_ids}
'''

# the kind of lines people add between two runs (each dirty run's patch adds some of them)
EDITS = [
    "LR = {lr}",
    "BATCH_SIZE = {bs}",
    "WARMUP_STEPS = {warmup}",
    "    print(f\"lr={{args.lr}} batch={{args.batch_size}} run {i}\")",
    "    torch.manual_seed({seed})",
    "    wandb.init(project=\"llm-ft\", name=\"run-{i}\", config=vars(args))",
    "    model.gradient_checkpointing_enable()  # OOM at batch {bs}",
    "    tokenizer.pad_token = tokenizer.eos_token",
    "    api_url = os.environ.get(\"EVAL_API_URL\", \"http://eval.internal:8080/v1\")",
    "    ckpt = \"s3://ml-checkpoints/llm-ft/{ulid}/step-{step}\"",
    "    max_new_tokens = {tokens}",
    "    resume_from = \"checkpoints/step-{step}\"  # commit {sha7}",
    "    # TODO: try lr={lr} with {warmup} warmup steps",
    "    password_file = Path(\"~/.config/eval/password\").expanduser()",
    "    api_key = os.environ[\"OPENAI_API_KEY\"]",
]

NOTES = [
    "Loss spiked at step {step}; restarted from checkpoints/step-{step0} with lr {lr}.",
    "Same as {ulid} but batch {bs}. Val loss {loss:.3f}, better than the baseline.",
    "Diverged after warmup; grad norm > 50. Probably the lr ({lr}), try half.",
    "Eval on held-out shard sha256:{sha256short}: ppl {ppl:.2f}.",
    "Reproduces commit {sha} exactly (same seed {seed}).",
]

MODELS = ["meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.3", "Qwen/Qwen2.5-7B", "google/gemma-2-9b",
          "microsoft/phi-3-mini-4k-instruct", "EleutherAI/pythia-1.4b"]


def hexdigest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, text=True, capture_output=True).stdout


def make_config(i: int, rng: random.Random, ulid: str, sha: str) -> dict[str, Any]:
    """A ~30-key training config as people log them."""
    model = MODELS[i % len(MODELS)]
    dataset_sha = hexdigest(f"dataset {i // 50}")
    return {
        "lr": rng.choice([1e-5, 3e-5, 1e-4, 3e-4, 6e-4]),
        "batch_size": rng.choice([8, 16, 32, 64]),
        "grad_accum_steps": rng.choice([1, 2, 4]),
        "max_steps": 20_000,
        "warmup_steps": rng.choice([100, 500, 2000]),
        "seed": rng.randrange(10_000),
        "model_name": model,
        "tokenizer_name": model,
        "revision": hexdigest(model)[:40],
        "dtype": "bfloat16",
        "max_tokens": 4096,
        "pad_token_id": 0,
        "eos_token": "</s>",
        "data_dir": f"/data/shards/c4-en/v{i // 100}",
        "train_files": [f"/data/shards/c4-en/train-{k:05d}-of-01024.parquet" for k in range(i % 3, i % 3 + 3)],
        "output_dir": f"/scratch/alice/ckpt/llm-ft/{ulid}",
        "dataset_id": f"sha256:{dataset_sha}",
        "dataset_b64": base64.b64encode(hashlib.sha256(dataset_sha.encode()).digest()).decode(),
        "code_sha": sha,
        "parent_run": ulid,
        "resume_from": f"s3://ml-checkpoints/llm-ft/{ulid}/step-{1000 * (i % 20)}",
        "tracking_uri": "http://mlflow.internal:5000",
        "hub_url": f"https://huggingface.co/{model}",
        "hf_token_env": "HF_TOKEN",
        "num_workers": 8,
        "host": f"gpu-node-{i % 16:02d}",
        "user": "alice",
        "optimizer": {"name": "adamw", "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
                      "fused": True},
        "scheduler": {"name": "cosine", "min_lr_ratio": 0.1, "warmup": "linear"},
        "lora": {"r": rng.choice([8, 16, 64]), "alpha": 32, "dropout": 0.05,
                 "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "eval": {"every": 1000, "batch_size": 64, "shards": ["val-00000", "val-00001"], "metrics": ["loss", "ppl"]},
    }


def train_log(i: int, rng: random.Random, lr: float, bs: int) -> str:
    lines = [f"[rank0] loading {MODELS[i % len(MODELS)]} (bfloat16) ...", "[rank0] 8 dataloader workers",
             f"[rank0] tokens per step: {bs * 4096:,}"]
    loss = 3.2
    for step in range(100, 6100, 100):
        loss *= 0.985 + rng.random() * 0.01
        lines.append(f"step {step:>6} | loss {loss:.4f} | lr {lr * min(1, step / 500):.2e} | grad_norm "
                     f"{rng.uniform(0.3, 2.0):.3f} | tokens/s {rng.randrange(38_000, 42_000):,} | mem 61.2 GiB")
    lines.append(f"saved checkpoints/step-6000 ({hexdigest(str(i))[:12]})")
    return "\n".join(lines) + "\n"


def eval_report(i: int, rng: random.Random) -> str:
    rows = "\n".join(f"| {task} | {rng.uniform(0.3, 0.8):.3f} | {rng.uniform(0.3, 0.8):.3f} |"
                     for task in ("hellaswag", "arc_easy", "arc_challenge", "piqa", "winogrande", "mmlu"))
    return (f"# Eval of run {i}\n\n| task | acc | acc_norm |\n|---|---|---|\n{rows}\n\n"
            f"Harness commit `{hexdigest('harness')[:40]}`, 5-shot, batch 64.\n")


def build(root: Path, runs: int) -> tuple[Path, dict[str, Any]]:
    """The source repository with its vault of ``runs`` runs; returns it and what was built."""
    from gitvault import SecretRedactedWarning, Store
    from gitvault.storage.vault import new_id

    src = root / "src"
    src.mkdir()
    sh(src, "git", "init", "-q", "-b", "main")
    sh(src, "git", "config", "gc.auto", "0")  # no background gc racing the build; packed once at the end
    (src / "train.py").write_text(TRAIN_PY)
    (src / "data.py").write_text(DATA_PY)
    (src / "README.md").write_text("# llm-ft\n\nFine-tuning experiments.\n")
    (src / ".gitignore").write_text("checkpoints/\n__pycache__/\n")
    sh(src, "git", "add", ".")
    sh(src, "git", "commit", "-q", "-m", "initial training script")
    sh(src, "git", "vault", "init")
    rng = random.Random(0)
    store = Store(src)
    experiments = [store.experiment({"benchmark": "c4", "model": m.split("/")[1].lower().replace(".", "-"),
                                     "variant": f"lora-{v}"}) for m in MODELS[:4] for v in ("a", "b")]
    stats: dict[str, Any] = {"dirty": 0, "notes": 0, "events": 0, "texts": 0}
    sealed: list[str] = []
    lines = TRAIN_PY.splitlines()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(runs):
            lr, bs = rng.choice([1e-5, 3e-5, 1e-4, 3e-4]), rng.choice([8, 16, 32, 64])
            sha = sh(src, "git", "rev-parse", "HEAD").strip()
            if i % 2 == 1:  # edit the tracked script: the run's record carries a patch
                edit = EDITS[i % len(EDITS)].format(lr=lr, bs=bs, warmup=rng.choice([100, 500]), i=i, seed=i,
                                                    ulid=new_id(), step=1000 * (i % 20), tokens=256 * (i % 8 + 1),
                                                    sha7=sha[:7])
                lines.insert(rng.randrange(20, len(lines) - 3), edit)
                (src / "train.py").write_text("\n".join(lines) + "\n")
                if i % 10 == 3:  # sometimes an untracked script as well
                    (src / f"sweep_{i}.py").write_text(f"import subprocess\n\nfor lr in ({lr}, {lr / 2}):\n"
                                                      f"    subprocess.run(['python', 'train.py', '--lr', str(lr)])\n")
                stats["dirty"] += 1
            if i % 40 == 39:  # commit now and then: HEAD moves, the next patches start over
                sh(src, "git", "add", "-A")
                sh(src, "git", "commit", "-q", "-m", f"tweaks after run {i}")
            exp = experiments[i % len(experiments)]
            config = make_config(i, rng, new_id(), sha)
            run = exp.run(config=config, name=f"r{i:05d}", total_steps=200)
            loss = 3.0
            for step in range(0, 200, 10):
                loss *= 0.97
                run.curve(step, loss=loss, lr=lr)
            run.log(loss=loss, ppl=2.718 ** loss, tokens_per_second=40_000.0 + i,
                    optimizer="adamw", precision="bf16", dataset="c4/en", git_sha=sha,
                    checkpoint=f"checkpoints/step-{1000 * (i % 20)}")
            if i % 3 == 0:
                run.note(NOTES[i % len(NOTES)].format(step=1200 + i, step0=1000, lr=lr, ulid=new_id(), bs=bs,
                                                      loss=loss, sha256short=hexdigest(str(i))[:16],
                                                      ppl=2.718 ** loss, sha=sha, seed=i))
                stats["notes"] += 1
            if i % 4 == 0:
                run.log_text("train_log", train_log(i, rng, lr, bs))
                stats["texts"] += 1
            if i % 8 == 0:
                run.log_text("eval_report", eval_report(i, rng))
                stats["texts"] += 1
            run.finish()
            sealed.append(run.id)
        for k, rid in enumerate(sealed[::50]):  # a few notes and tags made after the fact (events)
            store.note_run(rid, f"Picked as the baseline for sweep {k}; see eval_report.")
            store.tag_run(rid, "baseline")
            stats["events"] += 2
        store.close()
    sh(src, "git", "gc", "--quiet")  # the state auto gc keeps a lived-in repository in: packed
    stats["warnings"] = [str(w.message) for w in caught if issubclass(w.category, SecretRedactedWarning)]
    return src, stats


def scanned_volume(src: Path) -> dict[str, int]:
    """Records, patches and text blobs a push of everything reads, and their bytes."""
    from gitvault.secrets import outgoing
    from gitvault.storage.blobs import BlobStore
    from gitvault.sync.merge import iter_entity_trees
    from gitvault.storage.vault import Vault

    vault = Vault.open(src)
    store = BlobStore(vault.paths.objects_dir)
    snap = vault.snapshot()
    out = {"runs": 0, "records": 0, "redacted": 0, "patches": 0, "patch_bytes": 0, "texts": 0, "text_bytes": 0}
    seen: set[str] = set()
    for kind, record_id, _ in iter_entity_trees(vault.repo, None, vault.tip()):
        out["records"] += 1
        if kind != "run":
            continue
        out["runs"] += 1
        record = snap.get("run", record_id)
        out["redacted"] += len(record.get("redacted") or [])
        for sha, what in outgoing._text_blobs(record):
            if sha not in seen:
                seen.add(sha)
                key = "patch" if what == "patch" else "text"
                out[f"{key}s" if key == "text" else "patches"] += 1
                out[f"{key}_bytes"] += store.path(sha).stat().st_size
    return out


def breakdown(vault: Vault, tip: pygit2.Oid | None) -> dict[str, float]:
    """Seconds the parts of a warm scan take: reading and decoding the records, scanning their
    fields (``scan_value``), code patches and text artifacts (the same calls ``outgoing.scan`` makes)."""
    from gitvault.storage import layout
    from gitvault.secrets import outgoing
    from gitvault.storage.blobs import BlobStore
    from gitvault.sync.merge import iter_entity_trees
    from gitvault.secrets.scan import scan_value

    store = BlobStore(vault.paths.objects_dir)
    out = dict.fromkeys(("read", "fields", "patches", "texts"), 0.0)
    t = time.perf_counter()
    records = [outgoing._decode(vault.repo, tree, layout.RECORD_FILE, record_id)
               for _, record_id, tree in iter_entity_trees(vault.repo, None, tip)]
    out["read"] = time.perf_counter() - t
    blobs: dict[str, str] = {}
    t = time.perf_counter()
    for record in records:
        if record is not None:
            scan_value(record, "")
            blobs.update(outgoing._text_blobs(record))
    out["fields"] = time.perf_counter() - t
    for sha, what in blobs.items():
        t = time.perf_counter()
        outgoing._scan_blob(store, sha, what)
        out["patches" if what == "patch" else "texts"] += time.perf_counter() - t
    return out


def worker(mode: str, src: Path) -> None:
    """In a fresh process: ``scan`` times the first scan and WARM_CALLS warm ones; ``import`` times
    loading the scanner's patterns alone; prints JSON."""
    if mode == "import":
        assert "gitvault.secrets.patterns" not in sys.modules
        t = time.perf_counter()
        from gitvault.secrets import patterns  # noqa: F401 - the import is what is timed
        print(json.dumps({"import": time.perf_counter() - t}))
        return
    from gitvault.secrets import outgoing
    from gitvault.storage.vault import Vault

    vault = Vault.open(src)
    tip = vault.tip()
    assert "gitvault.secrets.patterns" not in sys.modules
    t = time.perf_counter()
    findings = outgoing.scan(vault, None, tip)
    first = time.perf_counter() - t
    warm = []
    for _ in range(WARM_CALLS):
        t = time.perf_counter()
        outgoing.scan(vault, None, tip)
        warm.append(time.perf_counter() - t)
    print(json.dumps({"first": first, "warm": warm, "parts": breakdown(vault, tip),
                      "findings": [str(f) for f in findings]}))


def run_worker(mode: str, src: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(src)], check=True, text=True,
                         capture_output=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


STUBBED_PUSH = ("import sys; sys.path.insert(0, sys.argv[1]); import gitvault.secrets.outgoing as o; "
                "o.scan = lambda *a, **k: []; from gitvault.cli.main import main; "
                "sys.argv = ['git-vault', 'push', sys.argv[2]]; raise SystemExit(main())")


def push_once(root: Path, src: Path, name: str, stub_scan: bool) -> float:
    """Seconds `git vault push` of the whole vault to a fresh bare remote takes (a subprocess)."""
    remote = root / f"{name}.git"
    sh(root, "git", "init", "-q", "--bare", str(remote))
    sh(src, "git", "remote", "add", name, str(remote))
    cmd = [sys.executable, "-c", STUBBED_PUSH, str(ROOT), name] if stub_scan else ["git", "vault", "push", name]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=src, check=True, capture_output=True)
    elapsed = time.perf_counter() - t
    sh(src, "git", "remote", "remove", name)
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="runs in the vault (default 500)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measurement (default 5)")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "SRC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return 0
    print(f"(shared machine: load average {os.getloadavg()[0]:.1f} at start)")
    with tempfile.TemporaryDirectory(prefix="gitvault-push-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        src, stats = build(root, args.runs)
        vol = scanned_volume(src)
        print(f"built {args.runs} runs (git objects packed after) in {time.perf_counter() - t0:.1f} s: "
              f"{stats['dirty']} with a dirty work tree, "
              f"{stats['notes']} with a note, {stats['texts']} text artifacts, {stats['events']} note/tag events")
        print(f"a push of everything scans {vol['records']} records ({vol['runs']} runs), {vol['patches']} patches "
              f"({vol['patch_bytes'] / 1e3:.0f} kB), {vol['texts']} text artifacts ({vol['text_bytes'] / 1e3:.0f} kB)")
        print(f"values capture redacted while building: {vol['redacted']}"
              + (" (false positives at capture:)" if vol["redacted"] or stats["warnings"] else ""))
        for text in dict.fromkeys(stats["warnings"]):
            print(f"   {text}")
        first, warm, imports, pushes, stubbed = [], [], [], [], []
        parts: dict[str, list[float]] = {}
        findings: list[str] = []
        for r in range(args.repeat):
            result = run_worker("scan", src)
            first.append(result["first"])
            warm += result["warm"]
            for part, seconds in result["parts"].items():
                parts.setdefault(part, []).append(seconds)
            findings = result["findings"]
            imports.append(run_worker("import", src)["import"])
            pushes.append(push_once(root, src, f"r{r}", stub_scan=False))
            stubbed.append(push_once(root, src, f"s{r}", stub_scan=True))
        med = statistics.median
        n = args.runs
        print(f"medians of {args.repeat} (warm: of {args.repeat * WARM_CALLS}); load average {os.getloadavg()[0]:.1f}")
        print(f"scan, first call in a fresh process: {ms(med(first))}  ({med(first) / n * 1000:.3f} ms/run)"
              f"  [{', '.join(f'{s * 1000:.0f}' for s in first)}]")
        print(f"  the scanner's patterns alone:        {ms(med(imports))}")
        print(f"  first call less the import:          {ms(med(first) - med(imports))}"
              f"  ({(med(first) - med(imports)) / n * 1000:.3f} ms/run)")
        print(f"scan, warm (same process again):     {ms(med(warm))}  ({med(warm) / n * 1000:.3f} ms/run)")
        print("  warm, by part: " + ", ".join(f"{part} {med(v) * 1000:.0f} ms" for part, v in parts.items())
              + f"  (fields: scan_value over each record; {vol['patches']} patches, {vol['texts']} texts)")
        print(f"`git vault push` to a fresh remote:  {ms(med(pushes))}  ({med(pushes) / n * 1000:.3f} ms/run)"
              f"  [{', '.join(f'{s * 1000:.0f}' for s in pushes)}]")
        print(f"  same push, scan stubbed out:        {ms(med(stubbed))}"
              f"  (difference {ms(med(pushes) - med(stubbed))})")
        print(f"scan's share of the push: {med(first) / med(pushes):.1%} (fresh process, import included), "
              f"{(med(first) - med(imports)) / med(pushes):.1%} without the import, "
              f"{med(warm) / med(pushes):.1%} warm")
        print(f"findings: {len(findings)}" + (" (false positives on typical runs:)" if findings else ""))
        for finding in findings:
            print(f"   {finding}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
