"""Optuna: one gitvault run per trial.

    from gitvault.integrations.optuna import GitVaultCallback

    callback = GitVaultCallback()                       # the repository of the current directory
    study = optuna.create_study(study_name="mnist/lr-search")
    study.optimize(callback.track(objective), n_trials=50, callbacks=[callback])

Each finished trial becomes a run of the experiment named by the study (``study_name`` mapped onto
the hierarchy as every adapter maps names, `gitvault.integrations.base`; or ``experiment=``),
named ``trial-<number>``: the trial's params are its config; its value is the headline metric
``metric_name`` (``value``; several objectives: ``value_0``, ``value_1``..., or a list of names);
the values it reported with ``trial.report(value, step)`` are the curve ``metric_name`` at those
steps; its numeric and text user attributes are headline metrics and params; its state is the
param ``optuna/state`` and a tag (``complete``, ``pruned``, ``fail``), with the trial number
(``optuna/trial``) and its duration (``optuna/duration_s``). Complete and pruned trials are sealed
completed, failed trials failed.

Optuna calls no callback for a trial whose objective raises an exception that ``catch`` does not
cover (the study stops with it). ``callback.track(objective)`` wraps the objective so such a trial
is recorded too: a failed run with its params so far and the traceback (``traceback`` text), then
the exception goes on as before. A trial is recorded once either way.

The callback imports nothing of Optuna: it reads the trial it is given. Trials finished by
``n_jobs > 1`` threads are recorded one at a time.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from gitvault import jsonsafe
from gitvault.integrations import base

if TYPE_CHECKING:
    import optuna

    from gitvault.runs.run import Run

R = TypeVar("R")

STATUS = {"COMPLETE": "completed", "PRUNED": "completed", "FAIL": "failed"}
"""Optuna's trial state -> the run's status (a pruned trial ran as asked; its tag says pruned)."""


class GitVaultCallback:
    """``study.optimize(..., callbacks=[GitVaultCallback()])``: one run per finished trial."""

    def __init__(self, experiment: str | Mapping[str, str] | None = None, directory: Path | str | None = None,
                 metric_name: str | Sequence[str] = "value", tags: Sequence[str] | None = None) -> None:
        self.experiment = experiment
        self.directory = directory
        self.metric_name = metric_name
        self.tags = list(tags or [])
        self.runs: dict[tuple[str, int], str] = {}
        """(study name, trial number) -> the id of the run recording it (the latest, for a name
        used by several studies)."""
        self._recorded: "weakref.WeakKeyDictionary[optuna.Study, set[int]]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        """Record a finished trial (Optuna calls this after each one)."""
        with self._lock:
            if trial.number in self._recorded.get(study, ()):  # by `track` already
                return
            state = trial.state.name
            values = list(trial.values or [])
            names = self._names(len(values) or 1)  # checked before anything is written
            run = self._start(study, trial.number, trial.params, state)
            try:
                self._record(run, trial, dict(zip(names, values)), names[0])
            except BaseException as exc:
                base.finish_run(run, exc=exc)
                raise
            base.finish_run(run, STATUS.get(state, "failed"))
            self._done(study, trial.number, run.id)

    def track(self, objective: Callable[["optuna.Trial"], R]) -> Callable[["optuna.Trial"], R]:
        """``objective`` wrapped so that a trial raising an exception (which Optuna does not pass
        to callbacks unless ``catch`` covers it) is recorded as a failed run with its traceback.
        ``optuna.TrialPruned`` is left to Optuna (the callback records the pruned trial)."""
        @functools.wraps(objective)
        def tracked(trial: "optuna.Trial") -> R:
            try:
                return objective(trial)
            except BaseException as exc:
                if type(exc).__name__ != "TrialPruned":
                    self._failed(trial, exc)
                raise
        return tracked

    def _failed(self, trial: "optuna.Trial", exc: BaseException) -> None:
        study = trial.study
        with self._lock:
            run = self._start(study, trial.number, trial.params, "FAIL")
            try:
                self._attributes(run, trial.user_attrs)
                reported = next((t.intermediate_values for t in study.get_trials(deepcopy=False)
                                 if t.number == trial.number), {})
                _curve(run, self._names(1)[0], dict(reported))
            finally:
                base.finish_run(run, exc=exc)
            self._done(study, trial.number, run.id)

    def _done(self, study: "optuna.Study", number: int, run_id: str) -> None:
        """A trial recorded: never twice (a study object and a number name one trial; two studies
        of one name, in a notebook run twice, are two)."""
        self._recorded.setdefault(study, set()).add(number)
        self.runs[(study.study_name, number)] = run_id

    def _start(self, study: "optuna.Study", number: int, params: Mapping[str, Any], state: str) -> "Run":
        run = base.start_run(self.experiment if self.experiment is not None else study.study_name,
                             name=f"trial-{number}", config=params, directory=self.directory,
                             tags=[*self.tags, state.lower()])
        run.log(**{"optuna/state": state, "optuna/trial": str(number)})
        return run

    def _record(self, run: "Run", trial: "optuna.trial.FrozenTrial", values: dict[str, float], curve: str) -> None:
        if values:
            run.log(**values)
        _curve(run, curve, dict(trial.intermediate_values))
        self._attributes(run, trial.user_attrs)
        if trial.duration is not None:
            run.log(**{"optuna/duration_s": trial.duration.total_seconds()})

    def _names(self, count: int) -> list[str]:
        if isinstance(self.metric_name, str):
            return [self.metric_name] if count == 1 else [f"{self.metric_name}_{i}" for i in range(count)]
        names = list(self.metric_name)
        if len(names) != count:
            raise ValueError(f"metric_name names {len(names)} objectives but the trial has {count} values; "
                             "give one name per objective")
        return names

    @staticmethod
    def _attributes(run: "Run", attrs: Mapping[str, Any]) -> None:
        """User attributes: numbers as headline metrics, text as params, the rest as JSON text params."""
        values: dict[str, Any] = {}
        for key, value in attrs.items():
            number = base.to_float(value)
            values[key] = number if number is not None else (value if isinstance(value, str) else jsonsafe.dumps(value))
        if values:
            run.log(**values)


def _curve(run: "Run", name: str, points: dict[int, float]) -> None:
    """The values a trial reported (``trial.report``), at their steps."""
    for step in sorted(points):
        base.log_curves(run, step, {name: points[step]})
