"""`GitVaultCallback`: a Keras 3 callback writing gitvault runs (any backend: JAX, TensorFlow, torch).

    from gitvault.integrations.keras import GitVaultCallback
    callback = GitVaultCallback("mnist/mlp", name="adam-1e-3")
    with callback:            # optional: an exception inside seals the run failed, with its traceback
        model.fit(x, y, epochs=3, validation_split=0.2, callbacks=[callback])

What it does (README.md, "Keras 3"):

- ``on_train_begin`` starts the run; its config is ``{"fit": self.params}`` (Keras passes only
  ``verbose``, ``epochs`` and ``steps``), ``"optimizer"`` (the optimizer's ``get_config()``: its
  class, learning rate and schedule), ``"model"`` (``name``, ``class``, ``parameters`` and the
  model's ``get_config()`` when it has one: a subclassed model may not), under the ``config=`` given;
- one global step for the whole fit: the number of training batches done. Keras restarts the
  ``batch`` index at every epoch and, with ``compile(steps_per_execution=N)``, calls the batch hook
  once per N batches with the last one's index, so the step is counted from that index, not from
  the calls;
- ``batch/<name>`` curves at each batch hook (Keras's running means over the epoch so far;
  ``log_batches=False`` leaves them out) and ``epoch/<name>`` curves (validation ones are
  ``epoch/val_<name>``) plus ``epoch`` (Keras's 0-based index) at each epoch's end, at the step
  of its last batch; the latest value of each becomes a headline metric when the run is sealed;
- ``on_train_end`` seals the run completed; a second ``fit`` with the same callback is a new run
  derived from the first (`gitvault.integrations.adapter`);
- in a distributed fit only the first process writes (JAX's ``process_index()``, the
  ``torch.distributed`` rank; TensorFlow strategies are not looked at).

Keras calls no hook when ``fit`` raises: uncaught, the exception ends the interpreter and the SDK
seals the run failed at exit; ``with callback:`` seals it failed at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitvault.integrations.adapter import AdapterRun, SealsOnError, require

keras: Any = require("keras", "gitvault.integrations.keras", "keras")
Callback: Any = keras.callbacks.Callback


class GitVaultCallback(Callback, SealsOnError):
    """See the module docstring. ``experiment`` and ``name`` as in `gitvault.integrations.base`
    (default experiment: ``keras``); ``config``: config of your own; ``directory``: a path in the
    repository (default: the current directory); ``log_batches``: the per-batch curves."""

    def __init__(self, experiment: str | Mapping[str, str] | None = None, name: str | None = None, *,
                 config: object = None, directory: str | Path | None = None, tags: Sequence[str] | None = None,
                 log_batches: bool = True) -> None:
        super().__init__()
        self.session = AdapterRun(experiment, name, config=config, directory=directory, tags=tags,
                                  default_experiment="keras")
        self._config = self.session.config
        self.log_batches = log_batches
        self._epoch_start = 0  # batches done before the current epoch
        self._step = 0  # batches done
        self._main = True  # this is the main process of a distributed fit (set at its start)

    @property
    def run_id(self) -> str | None:
        """The id of the open (or last sealed) run; None before the first."""
        run = self.session.run
        return run.id if run is not None else self.session.previous

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch_start = self._step = 0
        self._main = _main_process()
        if not self._main:
            return
        if not self.session.started:
            self.session.config = dict(self._config)
            self.session.add_config({"fit": dict(self.params or {}), "optimizer": _optimizer(self.model),
                                     "model": _model(self.model)})
        self.session.active()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._step = self._epoch_start + batch + 1
        if logs and self.log_batches and self._main:
            self.session.log(self._step, dict(zip(_batch_names(tuple(logs)), logs.values())))

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch_start = self._step
        if self._main:
            self.session.log(self._step, {"epoch": epoch, **{f"epoch/{k}": v for k, v in (logs or {}).items()}})

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.session.seal("completed")


@functools.lru_cache(maxsize=1024)
def _batch_names(keys: tuple[str, ...]) -> tuple[str, ...]:
    """``batch/<key>`` for each of one batch's keys. Cached: Keras logs the same keys at every
    batch, where each Python operation counts (see `AdapterRun.log_open`)."""
    return tuple(f"batch/{key}" for key in keys)


def _main_process() -> bool:
    """False on the processes other than the first of a distributed fit (JAX: ``process_index``;
    torch: the ``torch.distributed`` rank); TensorFlow's strategies are not looked at."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return int(jax.process_index()) == 0
    if backend == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    return True


def _optimizer(model: Any) -> dict[str, Any]:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return {}
    return {"class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}", **_config_of(optimizer)}


def _model(model: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": getattr(model, "name", None),
                             "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    try:
        facts["parameters"] = int(model.count_params())
    except Exception:  # noqa: BLE001 - a model not built yet has no count
        pass
    config = _config_of(model)
    if config:
        facts["config"] = config
    return facts


def _config_of(obj: Any) -> dict[str, Any]:
    """``obj.get_config()``, or {} when it has none (a subclassed model without ``get_config``)."""
    try:
        config = obj.get_config()
    except Exception:  # noqa: BLE001 - Keras raises NotImplementedError for subclassed models
        return {}
    return dict(config) if isinstance(config, Mapping) else {}
