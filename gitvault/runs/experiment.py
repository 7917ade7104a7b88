"""An experiment: one node of the hierarchy ("imagenet/resnet50/v1"), optionally a specimen with
taxonomy (domain, method, model, tags)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gitvault.runs import artifacts
from gitvault.names import check_name
from gitvault.runs.run import Run

if TYPE_CHECKING:
    import polars as pl

    from gitvault.query.shapes import RunItem
    from gitvault.runs.store import Store


class Experiment:
    """Returned by ``store.experiment(spec)``. Properties: id, path, name, node_type, parent_id."""

    def __init__(self, store: "Store", record: Mapping[str, Any]) -> None:
        self._store = store
        self.record: dict[str, Any] = dict(record)

    @property
    def id(self) -> str:
        """The experiment's id (derived from its path, so clones agree)."""
        return self.record["id"]

    @property
    def path(self) -> str:
        """Its path in the hierarchy, e.g. ``imagenet/resnet50/lr-sweep``."""
        return self.record["path"]

    @property
    def name(self) -> str:
        """The last part of its path."""
        return self.record["name"]

    @property
    def node_type(self) -> str | None:
        """The hierarchy level it sits at (``benchmark``, ``model``, ...)."""
        return self.record.get("node_type")

    @property
    def parent_id(self) -> str | None:
        """The id of the experiment one level up (None at the top)."""
        return self.record.get("parent_id")

    @property
    def domain(self) -> str | None:
        """The taxonomy domain of a specimen (None otherwise)."""
        return self.record.get("domain")

    @property
    def method(self) -> str | None:
        """The taxonomy method of a specimen (None otherwise)."""
        return self.record.get("method")

    @property
    def model(self) -> str | None:
        """The model a specimen studies (None when not given)."""
        return self.record.get("model")

    @property
    def specimen_id(self) -> str | None:
        """The specimen id (its SQL view is ``exp_<specimen_id>``), or None."""
        return self.record.get("specimen_id")

    @property
    def tags(self) -> list[str]:
        """The experiment's tags."""
        return list(self.record.get("tags") or [])

    def __repr__(self) -> str:
        return f"Experiment(path={self.path!r}, id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def run(self, config: dict[str, Any] | None = None, name: str | None = None,
            total_steps: int | None = None) -> Run:
        """Start a run (status "running"); use it as a context manager or call ``finish()``.
        Everything is checked before anything is written."""
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        config = artifacts.check_json(config, "config")
        if name is not None:
            check_name(name, "run name")
        if total_steps is not None and (type(total_steps) is not int or total_steps < 1):
            raise ValueError(f"total_steps must be a positive int or None, got {total_steps!r}")
        self._store.check_open()
        return Run(self._store, self, config, name, total_steps)

    def list_runs(self) -> list[RunItem]:
        """Every run of this experiment (sealed and live), as `Store.list_runs` gives them."""
        return self._store.list_runs(experiment_id=self.id)

    def runs_frame(self, where: str | None = None, columns: Sequence[str] | None = None,
                   sort: str | Sequence[str] | None = None) -> "pl.DataFrame":
        """The runs of this experiment and of those below it as a polars DataFrame
        (`Store.runs_frame` with ``experiment`` set to this one)."""
        return self._store.runs_frame(experiment=self.id, where=where, columns=columns, sort=sort)

    def todo(self, content: str, priority: int = 0) -> str:
        """A TODO scoped to this experiment; returns its id."""
        return self._store.add_todo(content, priority, scope_type="experiment", scope_id=self.id)
