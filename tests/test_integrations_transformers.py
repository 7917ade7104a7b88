"""`gitvault.integrations.transformers.GitVaultCallback`: its hooks called the way the Trainer calls
them (no torch needed: `TrainingArguments`, `TrainerState` and config classes import without it),
then a tiny BERT built from a config (no hub download) trained on CPU by a real `Trainer`; every run
read back through the query layer. Also: each adapter module names the package to install when its
framework is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gitvault.query import Query
from tests.conftest import make_repo, needs

# looked up, not imported: every pytest worker collects every file (transformers takes seconds)
pytestmark = needs("transformers", "the transformers adapter's tests need transformers")
BertConfig: Any = None
TrainerControl: Any = None
TrainerState: Any = None
TrainingArguments: Any = None
GitVaultCallback: Any = None
curve_name: Any = None


@pytest.fixture(scope="module", autouse=True)
def _frameworks() -> None:
    """transformers and the adapter, imported when this file's tests run rather than when it is collected."""
    global BertConfig, TrainerControl, TrainerState, TrainingArguments, GitVaultCallback, curve_name
    import transformers

    from gitvault.integrations import transformers as adapter

    BertConfig, TrainerControl = transformers.BertConfig, transformers.TrainerControl
    TrainerState, TrainingArguments = transformers.TrainerState, transformers.TrainingArguments
    GitVaultCallback, curve_name = adapter.GitVaultCallback, adapter.curve_name


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("transformers") / "project", "init")


def tiny_config() -> BertConfig:
    return BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=16, max_position_embeddings=16, num_labels=2)


def runs_of(q: Query, experiment: str) -> list[dict[str, Any]]:
    items = q.runs(where=f"experiment = '{experiment}'", sort="started", limit=None)["items"]
    return [dict(q.get_run(item["id"])) for item in items]


def steps(q: Query, run_id: str, name: str) -> list[int]:
    return [s for s, _ in q.get_curves(run_id, max_points=None)["curves"][name]]


def test_curve_names_follow_the_trainer_integrations() -> None:
    assert [curve_name(k) for k in ("loss", "eval_loss", "test_acc", "epoch")] == \
        ["train/loss", "eval/loss", "test/acc", "train/epoch"]


def test_the_callback_contract_without_a_trainer(repo: Path, tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", learning_rate=3e-4, run_name="tiny")
    state, control = TrainerState(), TrainerControl()
    model = SimpleNamespace(config=tiny_config())
    callback = GitVaultCallback("hf/contract", config={"data": "sst2"}, directory=repo, checkpoints="all",
                                model_name="tiny-bert")
    callback.on_train_begin(args, state, control, model=model)
    for step in (1, 2, 3):
        state.global_step, state.epoch = step, step / 3
        callback.on_log(args, state, control, logs={"loss": 1.0 / step, "learning_rate": 3e-4, "epoch": step / 3})
    state.global_step = 2
    checkpoint = Path(args.output_dir) / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"weights-2")
    state.best_model_checkpoint = str(checkpoint)
    callback.on_save(args, state, control)
    state.global_step = 3
    callback.on_log(args, state, control, logs={"eval_loss": 0.5, "epoch": 1.0})
    callback.on_log(args, state, control, logs={"train_runtime": 1.5, "train_loss": 0.6, "total_flos": 10.0,
                                                 "epoch": 1.0})
    callback.on_train_end(args, state, control)
    callback.on_train_end(args, state, control)  # twice: nothing changes
    first = callback.run_id
    callback.on_log(args, state, control, logs={"eval_loss": 0.4})  # trainer.evaluate() after train()
    callback.on_train_end(args, state, control)
    with Query(repo) as q:
        trained, evaluated = runs_of(q, "hf/contract")
        assert trained["id"] == first and trained["status"] == evaluated["status"] == "completed"
        assert trained["name"] == "tiny" and trained["config"]["data"] == "sst2"
        assert trained["config"]["training_args"]["learning_rate"] == 3e-4
        assert trained["config"]["model_config"]["hidden_size"] == 8
        assert steps(q, first, "train/loss") == [1, 2, 3] and steps(q, first, "eval/loss") == [3]
        assert steps(q, first, "train/epoch") == [1, 2, 3]
        headline = trained["metrics_final"]
        assert (headline["train_runtime"], headline["train_loss"], headline["eval/loss"]) == (1.5, 0.6, 0.5)
        assert "train_runtime" not in trained["curves"]["names"]
        assert steps(q, evaluated["id"], "eval/loss") == [3]
        assert first in str(q.get_lineage("run", evaluated["id"], direction="ancestors"))
        model = q.get_model("tiny-bert@best")
        assert (model["run_id"], model["metadata"]["checkpoint"]) == (first, "checkpoint-2")


def test_the_callback_works_where_torch_is_not_installed(repo: Path, tmp_path: Path) -> None:
    script = ("import sys\n"
              "sys.modules['torch'] = None  # importing it fails, as when it is not installed\n"
              "from transformers import TrainerControl, TrainerState, TrainingArguments\n"
              "from gitvault.integrations.transformers import GitVaultCallback\n"
              f"args = TrainingArguments(output_dir={str(tmp_path)!r}, report_to='none')\n"
              "state, control = TrainerState(global_step=1), TrainerControl()\n"
              f"callback = GitVaultCallback('hf/no-torch', directory={str(repo)!r})\n"
              "callback.on_train_begin(args, state, control)\n"
              "callback.on_log(args, state, control, logs={'loss': 0.5, 'epoch': 0.5})\n"
              "callback.on_train_end(args, state, control)\n"
              "assert 'torch' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n"
              "print(callback.run_id)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with Query(repo) as q:
        [run] = runs_of(q, "hf/no-torch")
        assert (run["id"], run["status"]) == (done.stdout.strip(), "completed")
        assert steps(q, run["id"], "train/loss") == [1] and run["config"]["training_args"]["report_to"] == []


def test_only_the_world_main_process_writes(repo: Path, tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    state = TrainerState(is_world_process_zero=False)
    callback = GitVaultCallback("hf/rank1", directory=repo)
    callback.on_train_begin(args, state, TrainerControl())
    callback.on_log(args, state, TrainerControl(), logs={"loss": 1.0})
    callback.on_train_end(args, state, TrainerControl())
    assert callback.run_id is None


def test_each_trial_of_a_hyperparameter_search_is_a_run(repo: Path, tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    callback = GitVaultCallback("hf/search", directory=repo)
    for trial in ("run-0", "run-1", "run-2"):
        state = TrainerState(is_hyper_param_search=True, trial_name=trial)
        callback.on_train_begin(args, state, TrainerControl())
        callback.on_log(args, state, TrainerControl(), logs={"loss": 1.0})
        if trial != "run-1":  # run-1 is pruned: train() raised, the search went on
            callback.on_train_end(args, state, TrainerControl())
    with Query(repo) as q:
        runs = runs_of(q, "hf/search")
        assert [(r["name"], r["status"]) for r in runs] == [("run-0", "completed"), ("run-1", "failed"),
                                                            ("run-2", "completed")]
        assert "pruned trial" in runs[1]["notes"]
        assert runs[1]["id"] not in str(q.get_lineage("run", runs[2]["id"], direction="ancestors"))


def test_an_exception_in_train_seals_the_run_failed(repo: Path, tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    state = TrainerState()
    callback = GitVaultCallback("hf/failing", directory=repo)
    with pytest.raises(RuntimeError, match="CUDA out of memory"), callback:
        callback.on_train_begin(args, state, TrainerControl())
        callback.on_log(args, state, TrainerControl(), logs={"loss": 1.0})
        raise RuntimeError("CUDA out of memory")
    with Query(repo) as q:
        [run] = runs_of(q, "hf/failing")
        assert run["status"] == "failed" and "traceback" in [a["name"] for a in run["artifacts"]]


def test_bad_settings_fail_when_the_callback_is_built() -> None:
    with pytest.raises(ValueError, match="checkpoints must be"):
        GitVaultCallback(checkpoints="yes")  # type: ignore[arg-type]


def test_a_real_trainer_trains_a_tiny_model(repo: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="a real Trainer.train() needs torch (pip install torch==2.13.0)")
    from transformers import BertForSequenceClassification, Trainer

    torch.manual_seed(0)
    data = [{"input_ids": torch.randint(0, 32, (8,)), "attention_mask": torch.ones(8, dtype=torch.long),
             "labels": torch.tensor(i % 2)} for i in range(16)]
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=4,
                             per_device_eval_batch_size=8, logging_steps=1, eval_strategy="steps", eval_steps=2,
                             save_strategy="steps", save_steps=2, metric_for_best_model="eval_loss",
                             report_to="none", use_cpu=True, disable_tqdm=True, project="hf/trainer")
    callback = GitVaultCallback(directory=repo, checkpoints="best", model_name="bert-tiny")
    trainer = Trainer(model=BertForSequenceClassification(tiny_config()), args=args, train_dataset=data,
                      eval_dataset=data[:8], callbacks=[callback])
    with callback:
        trainer.train()
    with Query(repo) as q:
        [run] = runs_of(q, "hf/trainer")  # TrainingArguments.project names the experiment
        assert run["status"] == "completed"
        assert steps(q, run["id"], "train/loss") == [1, 2, 3, 4] and steps(q, run["id"], "eval/loss") == [2, 4]
        assert {"train_runtime", "train_loss", "total_flos", "eval/loss"} <= set(run["metrics_final"])
        assert run["config"]["training_args"]["max_steps"] == 4
        assert run["config"]["model_config"]["num_hidden_layers"] == 1
        best = q.get_model("bert-tiny@best")
        assert best["run_id"] == run["id"]
        assert Path(trainer.state.best_model_checkpoint).name == best["metadata"]["checkpoint"]
        assert "model.safetensors" in (best["files"] or {})


ADAPTERS = {"lightning": "lightning", "transformers": "transformers", "keras": "keras", "accelerate": "accelerate"}


def test_each_adapter_names_the_package_it_needs_when_it_is_missing() -> None:
    script = ("import sys\n"
              "for blocked in ('lightning', 'pytorch_lightning', 'transformers', 'keras', 'accelerate'):\n"
              "    sys.modules[blocked] = None  # importing it fails, as when it is not installed\n"
              f"for module in {list(ADAPTERS)!r}:\n"
              "    try:\n"
              "        __import__('gitvault.integrations.' + module)\n"
              "    except ModuleNotFoundError as exc:\n"
              "        print(module, '|', exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(" | ") for line in out.splitlines())
    assert set(lines) == set(ADAPTERS)
    for module, package in ADAPTERS.items():
        assert f"pip install {package}" in lines[module] and "\n" not in lines[module]
