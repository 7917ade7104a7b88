"""Hydra: one gitvault run per job (a plain run, or each job of a ``--multirun`` sweep).

Register the callback in the app's config (``config.yaml``)::

    hydra:
      callbacks:
        gitvault:
          _target_: gitvault.integrations.hydra.GitVaultCallback
          # experiment: mnist/cnn        (default: the job's name, i.e. the script's name)

and read the job's run inside the task with `current_run()`::

    from gitvault.integrations.hydra import current_run

    @hydra.main(version_base="1.3", config_path="conf", config_name="config")
    def train(cfg):
        run = current_run()
        for step in range(100):
            run.curve(step, loss=...)
        return val_loss                      # a number becomes the headline metric "value"

Each job's run starts in ``on_job_start`` and is sealed in ``on_job_end``: completed, or failed
with the traceback when the task raised. Its config is the job's config, resolved
(`capture_config`: an interpolation that cannot be resolved, such as ``${hydra:job.num}`` outside a
multirun, keeps its text), plus ``hydra.overrides``, the command-line overrides of that job (what
sweeps vary). Params: ``hydra/overrides`` (the same, as one line), ``hydra/job_name``,
``hydra/job_num`` (multirun), ``hydra/output_dir``. The run is named by the job's overrides
(``lr=0.1,model=cnn``, Hydra's ``override_dirname``) when there are some, and its experiment is
``experiment=`` or the job's name, mapped onto the hierarchy as by every adapter
(`gitvault.integrations.base`). The task's return value: a number -> the headline metric
``value``, a dict -> its numbers and texts as headline metrics and params.

The repository is the one holding the directory Hydra was started from
(``hydra.utils.get_original_cwd()``, so the ``chdir`` into the job's output folder does not
matter), or ``directory=``.

Hydra turns an exception raised inside a callback into a warning; this callback therefore writes
such a failure to stderr too, naming the job, so that a job that recorded nothing says so.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback

from gitvault.errors import InvalidNameError
from gitvault.integrations import base
from gitvault.names import check_name

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from gitvault.runs.run import Run

_CURRENT = threading.local()


def current_run() -> "Run | None":
    """The run of the Hydra job running in this thread (None outside a job with the callback)."""
    return getattr(_CURRENT, "run", None)


class GitVaultCallback(Callback):
    """A Hydra callback that records every job as a gitvault run (see the module docstring)."""

    def __init__(self, experiment: str | None = None, directory: str | None = None,
                 tags: list[str] | None = None) -> None:
        self.experiment = experiment
        self.directory = directory
        self.tags = list(tags or [])
        self.runs: list[str] = []
        """The ids of the runs this callback started, in order."""

    def on_job_start(self, config: "DictConfig", **kwargs: Any) -> None:
        """Start the job's run."""
        _CURRENT.run = None
        try:
            _CURRENT.run = self._start(config)
        except BaseException as exc:
            _say(f"gitvault: the Hydra job was not recorded: {exc}")
            raise
        self.runs.append(_CURRENT.run.id)

    def on_job_end(self, config: "DictConfig", job_return: Any, **kwargs: Any) -> None:
        """Seal the job's run: completed with its return value, or failed with the traceback."""
        run: "Run | None" = getattr(_CURRENT, "run", None)
        _CURRENT.run = None
        if run is None or not run.writable:
            return
        try:
            if job_return.status.name == "COMPLETED":
                _returned(run, job_return.return_value)
                base.finish_run(run, "completed")
            else:
                with contextlib.redirect_stderr(io.StringIO()):  # Hydra prints the error itself
                    try:
                        job_return.return_value
                    except BaseException as exc:  # the task's exception, re-raised by Hydra's property
                        base.finish_run(run, exc=exc)
                base.finish_run(run, "failed")
        except BaseException as exc:
            _say(f"gitvault: run {run.id} of this Hydra job could not be sealed: {exc}")
            base.finish_run(run, exc=exc)
            raise

    def _start(self, config: "DictConfig") -> "Run":
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import get_original_cwd
        from omegaconf import OmegaConf

        hydra = HydraConfig.get()
        captured = base.capture_config(config)  # resolved against the whole config; its hydra node is replaced
        overrides = [str(o) for o in hydra.overrides.task]
        captured["hydra"] = {"overrides": overrides}
        job_num = OmegaConf.select(config, "hydra.job.num", default=None, throw_on_resolution_failure=False)
        multirun = str(hydra.mode).endswith("MULTIRUN")
        params = {"hydra/job_name": str(hydra.job.name), "hydra/output_dir": str(hydra.runtime.output_dir),
                  "hydra/overrides": " ".join(overrides)}
        if multirun and job_num is not None:
            params["hydra/job_num"] = str(job_num)
        directory = self.directory if self.directory is not None else get_original_cwd()
        run = base.start_run(self.experiment, name=_name(hydra.job.override_dirname), config=captured,
                             directory=Path(directory), tags=self.tags, default_experiment=str(hydra.job.name))
        run.log(**params)
        return run


def _name(override_dirname: object) -> str | None:
    """The job's overrides as its run's name, when they make a valid one."""
    if not override_dirname:
        return None
    try:
        return check_name(str(override_dirname), "run name")
    except InvalidNameError:
        return None


def _returned(run: "Run", value: Any) -> None:
    """A task's return value: a number -> the headline metric ``value``; a mapping -> its numbers
    and texts (others named in a warning)."""
    if value is None:
        return
    values = {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {"value": value}
    kept: dict[str, float | str] = {}
    for key, item in values.items():
        number = base.to_float(item)
        if number is not None:
            kept[key] = number
        elif isinstance(item, str):
            kept[key] = item
        else:
            _say(f"gitvault: the Hydra task returned {key}={item!r}, neither a number nor text; it is not stored")
    if kept:
        run.log(**kept)


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
