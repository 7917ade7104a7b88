"""`GitVaultCallback`: a Hugging Face transformers ``TrainerCallback`` writing gitvault runs.

    from gitvault.integrations.transformers import GitVaultCallback
    callback = GitVaultCallback("glue/bert-tiny", checkpoints="best")
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    with callback:            # optional: an exception inside seals the run failed, with its traceback
        trainer.train()

What it does (README.md, "Hugging Face transformers"); every hook acts on the world's main process
only (``state.is_world_process_zero``), the others write nothing:

- ``on_train_begin`` starts the run: experiment ``GitVaultCallback(experiment)``, else
  ``TrainingArguments.project`` when set, else ``$GITVAULT_EXPERIMENT``, else ``huggingface``; name
  ``GitVaultCallback(name=)``, else the trial's name (hyperparameter search), else ``args.run_name``;
  config ``{"training_args": args, "model_config": model.config}`` (both whole, nested) under the
  ``config=`` given to the callback. During a hyperparameter search each trial is a run (a trial
  that never reached ``on_train_end``, pruned or failed, is sealed failed, with a note, when the
  next one begins);
- ``on_log`` streams curves on ``state.global_step``, named as the W&B and MLflow callbacks name them:
  ``eval_loss`` -> ``eval/loss``, ``test_x`` -> ``test/x``, the rest ``train/x`` (the fractional
  ``epoch`` included, as ``train/epoch``). The end-of-training values (``train_runtime``,
  ``train_samples_per_second``, ``train_steps_per_second``, ``train_loss``, ``total_flos``) are
  headline metrics; the latest value of every curve becomes one too when the run is sealed;
- ``on_save`` (``checkpoints="all"``) registers each checkpoint folder as a version of the model
  (aliases ``latest``, and ``best`` on ``state.best_model_checkpoint``); ``checkpoints="best"``
  registers the best checkpoint (or, without ``metric_for_best_model``, the last) at the end;
- ``on_train_end`` seals the run completed. ``trainer.evaluate()`` or ``predict()`` after that
  logs into a new run derived from it (`gitvault.integrations.adapter`).

No callback hook sees an exception raised inside ``train()``. Uncaught, it ends the interpreter,
and the SDK seals the run failed at exit (`gitvault.runs.flusher`); caught (a notebook, a sweep),
the run would stay open until the interpreter exits and then be sealed completed, so wrap the call:
``with callback: trainer.train()`` seals it failed with the traceback, and lets the exception go on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from gitvault.integrations.adapter import AdapterRun, SealsOnError, require

TrainerCallback: Any = require("transformers.trainer_callback", "gitvault.integrations.transformers",
                               "transformers").TrainerCallback

SINGLE_VALUES = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
"""What the Trainer logs once, at the end of training: headline metrics, not curves."""
PREFIXES = (("eval_", "eval/"), ("test_", "test/"))


def curve_name(key: str) -> str:
    """The Trainer's log key as the curve's name: ``eval_loss`` -> ``eval/loss``, ``loss`` -> ``train/loss``."""
    for prefix, group in PREFIXES:
        if key.startswith(prefix):
            return group + key[len(prefix):]
    return "train/" + key


@functools.lru_cache(maxsize=1024)
def _curve_names(keys: tuple[str, ...]) -> tuple[str, ...]:
    """`curve_name` of each of one ``on_log``'s keys, "" for the `SINGLE_VALUES` (headline metrics).
    Cached: the Trainer logs the same few keys at every step, where each Python operation counts
    (see `AdapterRun.log_open`)."""
    return tuple("" if key in SINGLE_VALUES else curve_name(key) for key in keys)


class GitVaultCallback(TrainerCallback, SealsOnError):
    """See the module docstring. ``experiment`` and ``name`` as in `gitvault.integrations.base`;
    ``config``: config of your own, beside the Trainer's; ``directory``: a path in the repository
    (default: the current directory); ``checkpoints``: None, ``"best"`` or ``"all"``; ``model_name``:
    the model checkpoints are registered as (default: the experiment's last level)."""

    def __init__(self, experiment: str | Mapping[str, str] | None = None, name: str | None = None, *,
                 config: object = None, directory: str | Path | None = None, tags: Sequence[str] | None = None,
                 checkpoints: Literal["best", "all"] | None = None, model_name: str | None = None) -> None:
        if checkpoints not in (None, "best", "all"):
            raise ValueError(f"checkpoints must be None, 'best' or 'all', got {checkpoints!r}")
        self.session = AdapterRun(experiment, name, config=config, directory=directory, tags=tags,
                                  default_experiment="huggingface")
        self._experiment = experiment
        self._name = name
        self._config = self.session.config
        self.checkpoints = checkpoints
        self.model_name = model_name

    @property
    def run_id(self) -> str | None:
        """The id of the open (or last sealed) run; None before the first."""
        run = self.session.run
        return run.id if run is not None else self.session.previous

    # -- hooks ---------------------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.session.started and state.is_hyper_param_search:  # each trial is a run
            assert self.session.run is not None
            self.session.run.note("train() ended without on_train_end: a pruned trial, or an exception the "
                                  "hyperparameter search caught")
            self.session.seal("failed")
        if state.is_hyper_param_search:
            self.session.previous = None  # trials are siblings: none derives from the one before
        self._start(args, state, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        curves = {name: value for name, value in zip(_curve_names(tuple(logs)), logs.values()) if name}
        if not (curves and self.session.log_open(state.global_step, curves)):  # no run open: start one
            self._start(args, state, model)
            self.session.log(state.global_step, curves)
        if len(curves) < len(logs):
            self.session.log_headline(**{k: v for k, v in logs.items() if k in SINGLE_VALUES})

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> None:
        if state.is_world_process_zero and metrics:
            self._start(args, state, kwargs.get("model"))
            self.session.log(state.global_step, {curve_name(k): v for k, v in metrics.items()})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.checkpoints != "all":
            return
        folder = _checkpoint(args, state.global_step)
        best = Path(state.best_model_checkpoint) if state.best_model_checkpoint else None
        if folder is not None:
            self._register(folder, best=folder == best, state=state)
        if best is not None and best != folder and best.is_dir():  # the best is one saved before
            self._register(best, best=True, state=state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.checkpoints == "best" and self.session.started:
            best = state.best_model_checkpoint or _checkpoint(args, state.global_step)
            if best is not None and Path(best).is_dir():
                self._register(Path(best), best=True, state=state)
        self.session.seal("completed")

    # -- helpers ---------------------------------------------------------------------------------

    def _start(self, args: Any, state: Any, model: Any) -> None:
        """Set the run's experiment, name and config from the Trainer, and start it, unless one is open."""
        if self.session.started:
            return
        project = getattr(args, "project", None)
        default_project = getattr(type(args), "__dataclass_fields__", {}).get("project")
        if project is not None and default_project is not None and project == default_project.default:
            project = None  # not set: $GITVAULT_EXPERIMENT or the default apply
        self.session.experiment = self._experiment if self._experiment is not None else project
        self.session.name = self._name or getattr(state, "trial_name", None) or getattr(args, "run_name", None)
        config: dict[str, Any] = {"training_args": args}
        model_config = getattr(model, "config", None)
        if model_config is not None:
            config["model_config"] = model_config
        self.session.config = dict(self._config)
        self.session.add_config(config)
        self.session.active()

    def _register(self, folder: Path, *, best: bool, state: Any) -> None:
        name = self.model_name or self.session.path.rsplit("/", 1)[-1]
        self.session.register_checkpoint(name, folder, best=best, framework="transformers",
                                         metadata={"checkpoint": folder.name, "global_step": state.global_step,
                                                   "best_metric": state.best_metric})


def _checkpoint(args: Any, step: int) -> Path | None:
    """The folder the Trainer saved the checkpoint of ``step`` in (a trial's under ``run-<trial>``)."""
    output = Path(args.output_dir)
    folder = output / f"checkpoint-{step}"
    if folder.is_dir():
        return folder
    return next(iter(sorted(output.glob(f"run-*/checkpoint-{step}"))), None)
