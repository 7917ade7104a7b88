"""`GitVaultTracker`: an 🤗 accelerate tracker writing gitvault runs.

Two ways to use it (README.md, "accelerate"):

    from gitvault.integrations.accelerate import GitVaultTracker
    accelerator = Accelerator(log_with=[GitVaultTracker("mnist/mlp", name="lr-0.1")])   # an instance
    accelerator.init_trackers("ignored", config={"lr": 0.1})

accelerate gives an instance neither ``init_trackers``' project name nor its ``init_kwargs``, so
the experiment and name go to the constructor. Or register the class under the name ``gitvault``
(accelerate 1.16 has ``register_tracker_class``) and let ``init_trackers`` build it:

    from gitvault.integrations import accelerate as gitvault_accelerate
    gitvault_accelerate.register()                      # before Accelerator(...)
    accelerator = Accelerator(log_with="gitvault")
    accelerator.init_trackers("mnist/mlp", config={"lr": 0.1}, init_kwargs={"gitvault": {"name": "lr-0.1"}})

Then ``accelerator.log(values, step=...)`` writes curves (a text value is a param; no ``step``:
one more than the last step logged, 0 first), ``accelerator.end_training()`` seals the run
completed, and the latest value of each curve becomes a headline metric.
``store_init_configuration`` (``init_trackers``' ``config``) is the run's config, nested values
kept. Everything happens on the main process only (``main_process_only``: accelerate's
``on_main_process`` for the configuration and ``finish``; ``log`` makes the same check with the
process's rank looked up once). The run starts at the first value logged; ``accelerator.get_tracker("gitvault",
unwrap=True)`` is the gitvault `Run` (started then, if needed). Something logged after
``end_training()`` is a new run derived from the sealed one. An exception in the training loop
is seen by no tracker: uncaught, the SDK seals the run failed at exit; ``with tracker:`` seals it
failed at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitvault.integrations.adapter import AdapterRun, SealsOnError, require

if TYPE_CHECKING:
    from gitvault.runs.run import Run

_tracking = require("accelerate.tracking", "gitvault.integrations.accelerate", "accelerate")
GeneralTracker: Any = _tracking.GeneralTracker
on_main_process: Any = _tracking.on_main_process


class GitVaultTracker(GeneralTracker, SealsOnError):
    """See the module docstring. ``experiment`` (``init_trackers``' project name when accelerate
    builds it) and ``name`` as in `gitvault.integrations.base` (default experiment:
    ``accelerate``); ``config``: config of your own, under ``init_trackers``' ``config``;
    ``directory``: a path in the repository (default: the current directory)."""

    name = "gitvault"
    requires_logging_directory = False
    main_process_only = True

    def __init__(self, experiment: str | Mapping[str, str] | None = None, *, name: str | None = None,
                 config: object = None, directory: str | Path | None = None,
                 tags: Sequence[str] | None = None) -> None:
        super().__init__()
        self.session = AdapterRun(experiment, name, config=config, directory=directory, tags=tags,
                                  default_experiment="accelerate")
        self._step = -1  # the step logged last

    @property
    def tracker(self) -> Run:
        """The gitvault `Run` (started now if none is open)."""
        return self.session.active()

    @property
    def run_id(self) -> str | None:
        """The id of the open (or last sealed) run; None before the first."""
        run = self.session.run
        return run.id if run is not None else self.session.previous

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        """``init_trackers``' ``config``: the run's config."""
        self.session.add_config(values)

    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Curve points at ``step`` (None: one more than the last step logged). Main process only,
        as ``on_main_process`` does it, with the process's rank looked up once, not every step."""
        if self.main_process_only and not _main_process():
            return
        if kwargs:
            raise TypeError(f"GitVaultTracker.log takes values and step; not {', '.join(sorted(kwargs))} "
                            "(accelerator.log's log_kwargs for 'gitvault')")
        self._step = self._step + 1 if step is None else step
        self.session.log(self._step, values)

    @on_main_process
    def finish(self) -> None:
        """Seal the run completed (``accelerator.end_training()``)."""
        self.session.seal("completed")


@functools.cache
def _main_process() -> bool:
    """Whether this is accelerate's main process (its state is set up by then: ``Accelerator()``)."""
    from accelerate.state import PartialState

    return bool(PartialState().is_main_process)


def register() -> None:
    """Register `GitVaultTracker` with accelerate as ``"gitvault"``, for ``Accelerator(log_with="gitvault")``."""
    _tracking.register_tracker_class(GitVaultTracker)
