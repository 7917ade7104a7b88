"""`RunView`: the read-only view of one run, sealed (its record with its events folded in) or live
(its spool, flushed first when this process writes it), and `load`, which opens one by full id.

`Store.get_run` resolves a run reference (id, unique prefix, name, ``path#name``) through the query
layer, then calls `load`; `Run.view` calls `load` with its own id, opening no cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitvault.errors import RecordNotFoundError
from gitvault.runs import artifacts, curves, spool
from gitvault.runs.flusher import live_run_in_process
from gitvault.storage.records import FILE_KINDS, file_items, fold, materialize_curves

if TYPE_CHECKING:
    import numpy as np

    from gitvault.runs.store import Store


class RunView:
    """Read-only view of a run, sealed or live: metrics, params, curves, tables, texts, tensors,
    files and images."""

    def __init__(self, store: "Store", record: dict[str, Any], *, is_live: bool,
                 blocks: list[dict[str, Any]] | None = None) -> None:
        self._store = store
        self.record = record
        self.is_live = is_live
        self._blocks = blocks

    @property
    def id(self) -> str:
        """The run's id (a ULID)."""
        return self.record["id"]

    @property
    def name(self) -> str | None:
        """The run's name (None when it was given none)."""
        return self.record.get("name")

    @property
    def path(self) -> str:
        """The path of the run's experiment, e.g. ``imagenet/resnet50/lr-sweep``."""
        return self.record["experiment_path"]

    @property
    def status(self) -> str:
        """running, completed, failed or crashed."""
        return self.record["status"]

    @property
    def config(self) -> dict[str, Any]:
        """The config the run was started with (secrets redacted)."""
        return self.record.get("config") or {}

    @property
    def metrics(self) -> dict[str, float]:
        """Headline metrics logged with ``run.log``: name -> latest value."""
        return {k: v["value"] for k, v in (self.record.get("metrics") or {}).items()}

    @property
    def params(self) -> dict[str, str]:
        """String params logged with ``run.log``: name -> text."""
        return dict(self.record.get("params") or {})

    @property
    def tags(self) -> list[str]:
        """The run's tags, in the order they were added."""
        return list(self.record.get("tags") or [])

    @property
    def notes(self) -> list[dict[str, Any]]:
        """The run's notes: ``{content, created_at}`` each, oldest first."""
        return list(self.record.get("notes") or [])

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        """Every artifact entry (tables, texts, tensors, metrics frames): id, name, kind, step,
        blob, shape, dtype, metadata, created_at."""
        return list(self.record.get("artifacts") or [])

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __repr__(self) -> str:
        return f"RunView(id={self.id!r}, path={self.path!r}, status={self.status!r})"

    def curves(self, wide: bool = True) -> Any:
        """Curve points as polars. Wide (default): step, wall_time, one column per curve, null
        where a curve has no point. ``wide=False``: long (name, step, value, wall_time)."""
        if self._blocks is not None:
            frame = curves.wide_frame(self._blocks) if self._blocks else curves.empty_frame()
        else:
            sha = (self.record.get("curves") or {}).get("blob")
            if sha:
                materialize_curves(self._store.vault.snapshot(), self._store.blobs, self.record)
                self._store.blobs.open(sha).close()
            frame = curves.read_wide(self._store.blobs.path(sha)) if sha else curves.empty_frame()
        return frame if wide else curves.to_long(frame)

    def curve(self, name: str) -> Any:
        """One curve as polars (step, value, wall_time)."""
        import polars as pl

        long = self.curves(wide=False)
        return long.filter(pl.col("name") == name).drop("name")

    def _find(self, name: str, kind: str, step: int | None = None, any_step: bool = True) -> dict[str, Any]:
        item = artifacts.latest(self.artifacts, name, kind, step, any_step=any_step)
        if item is None:
            have = sorted({a["name"] for a in self.artifacts if a["kind"] == kind})
            raise KeyError(f"run {self.id} has no {kind} artifact {name!r}"
                           + (f" at step {step}" if step is not None else "")
                           + f"; it has: {', '.join(have) or 'none'}")
        return item

    def table(self, name: str, step: int | None = None) -> np.ndarray:
        """A table logged with log_table (the latest one, or the one at ``step``)."""
        return artifacts.load_table(self._store.blobs, self._find(name, "matrix", step, step is None)["blob"])

    def tables(self) -> dict[str, np.ndarray]:
        """Every table logged with log_table (the latest of each name), as numpy arrays by name."""
        return {a["name"]: self.table(a["name"]) for a in self.artifacts if a["kind"] == "matrix"}

    def text(self, name: str) -> str:
        """The text logged with log_text under ``name`` (markdown); KeyError names the texts there are."""
        return artifacts.load_text(self._store.blobs, self._find(name, "text")["blob"])

    def texts(self) -> dict[str, str]:
        """Every text logged with log_text, by name."""
        return {a["name"]: self.text(a["name"]) for a in self.artifacts if a["kind"] == "text"}

    def tensor(self, name: str) -> Any:
        """A lazy, read-only zarr array; slicing reads only the chunks it touches."""
        return artifacts.open_tensor(self._store.blobs, self._find(name, "tensor")["blob"])

    def tensors(self) -> dict[str, Any]:
        """Every tensor written with write_tensors, as lazy read-only zarr arrays by name."""
        return {a["name"]: self.tensor(a["name"]) for a in self.artifacts if a["kind"] == "tensor"}

    def metrics_frame(self, name: str = "metrics") -> Any:
        """A table written with write_metrics, as a polars DataFrame."""
        return artifacts.load_metrics(self._store.blobs, self._find(name, "metrics")["blob"])

    def metric_frames(self) -> dict[str, Any]:
        """Every table written with write_metrics, as polars DataFrames by name."""
        return {a["name"]: self.metrics_frame(a["name"]) for a in self.artifacts if a["kind"] == "metrics"}

    def files(self) -> list[dict[str, Any]]:
        """Every file and image the run logged (``log_file``, ``log_image``, ``log_figure``), the
        latest of each (name, step), by name then step: name, kind (``file`` or ``image``), step,
        size, media_type, width, height, caption, folder, blob, created_at."""
        return file_items(self.artifacts)

    def file(self, name: str, step: int | None = None) -> Path:
        """The path of file or image ``name`` in the blob store (the one at ``step``, else the
        latest), its sha256 checked; read it, never write it. KeyError names the files there are."""
        return self._verified(self._file_entry(name, step)["blob"])

    def images(self, name: str) -> list[dict[str, Any]]:
        """The images logged as ``name``, in step order (an untagged one first), each a `files`
        item plus its verified ``path``; KeyError names the images there are."""
        series = [item for item in self.files() if item["kind"] == "image" and item["name"] == name]
        if not series:
            have = sorted({item["name"] for item in self.files() if item["kind"] == "image"})
            raise KeyError(f"run {self.id} has no image {name!r}; it has: {', '.join(have) or 'none'}")
        return [{**item, "path": self._verified(item["blob"])} for item in series]

    def _file_entry(self, name: str, step: int | None) -> dict[str, Any]:
        found = None
        for a in self.artifacts:
            if a.get("name") == name and a.get("kind") in FILE_KINDS and (step is None or a.get("step") == step):
                found = a
        if found is None:
            have = sorted({item["name"] for item in self.files()})
            raise KeyError(f"run {self.id} has no file or image {name!r}"
                           + (f" at step {step}" if step is not None else "")
                           + f"; it has: {', '.join(have) or 'none'}")
        return found

    def _verified(self, sha: str) -> Path:
        self._store.blobs.open(sha).close()  # a missing or damaged blob raises BlobError here
        return self._store.blobs.path(sha)

    def tag(self, *tags: str) -> None:
        """Tag the run; for a sealed run this is a new event commit."""
        self._store.tag_run(self.id, *tags)

    def note(self, content: str) -> None:
        """Add a note to the run; for a sealed run this is a new event commit."""
        self._store.note_run(self.id, content)


def load(store: "Store", run_id: str) -> RunView:
    """The view of the run ``run_id`` (a full id): sealed from the vault, else live from its spool
    (flushed first when this process writes it). `RecordNotFoundError` when it is neither."""
    running = live_run_in_process(run_id)
    if running is not None:
        running.flush()
    for _ in range(2):  # a run sealed between the two looks is found in the vault the second time
        snap = store.snapshot()
        if snap.has("run", run_id):
            return RunView(store, fold(snap.get("run", run_id), snap.events("run", run_id)), is_live=False)
        try:
            return _live_view(store, store.vault.paths.live_dir / run_id)
        except FileNotFoundError:
            continue
    raise RecordNotFoundError(f"Run not found: {run_id!r}")


def _live_view(store: "Store", run_dir: Path) -> RunView:
    state = spool.load(run_dir)
    blocks = state.pop("blocks")
    state["status"] = "running" if spool.is_locked(run_dir) else "crashed"
    state.setdefault("ended_at", None)
    return RunView(store, state, is_live=True, blocks=blocks)
