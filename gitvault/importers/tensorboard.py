"""Importing TensorBoard event files (as tensorboardX, torch's ``SummaryWriter``, Keras and
Lightning write them), read with the ``tensorboard`` package's own event reader
(``EventAccumulator``, every event kept: no sampling, no purge of events after a restart):
``pip install tensorboard``.

| TensorBoard                              | gitvault                                                      |
|------------------------------------------|---------------------------------------------------------------|
| a run folder: the shallowest folder on each path holding event files (its subfolders, such as tensorboardX's ``add_scalars`` and ``add_hparams`` ones, belong to it) | one run, named after the folder, in the experiment named after PATH (or ``--experiment``); id derived from the folder's name and its event files' names (which hold their creation time and host) |
| scalars (step, value, wall time)         | curves (wall time: seconds since the run's first event); each one's last value a headline metric; a subfolder's scalars are named ``<subfolder>/<tag>`` (``add_scalars``' ``grp/a`` keeps its folder name) |
| images                                   | image series (`run.log_image`'s kind), one image per step    |
| text summaries                           | ``text`` artifacts at their step                             |
| hparams (the hparams plugin's session start) | config; the metrics logged with them (``add_hparams``' folder named by the time) keep their own names |
| the host in the event file's name        | hostname                                                      |
| histograms, audio, graphs, other tensors | counted in the report, not imported                           |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitvault.errors import VaultError
from gitvault.importers.plan import Import, curve_blocks, iso_from_seconds, same_step_values
from gitvault.names import stable_id

EVENTS = "events.out.tfevents."


def import_store(imp: Import, path: Path, experiment: str | None = None) -> None:
    """Read every run folder under ``path`` into ``imp``."""
    from gitvault import extras

    extras.require("tensorboard", "git vault import-from tensorboard (the tensorboard package's event reader)")
    runs = run_folders(path)
    if not runs:
        raise VaultError(f"{path} holds no TensorBoard event files (events.out.tfevents.*)")
    parts = [p for p in (experiment or "").split("/") if p] or [path.name]
    for i, (folder, files) in enumerate(sorted(runs.items()), 1):
        _run(imp, path, folder, files, parts)
        imp.progress("reading runs", i, len(runs))


def run_folders(path: Path) -> dict[Path, list[Path]]:
    """run folder -> its event files (its own and its subfolders')."""
    files = sorted(p for p in path.rglob(f"{EVENTS}*") if p.is_file())
    holders = sorted({f.parent for f in files}, key=lambda p: len(p.parts))
    runs: dict[Path, list[Path]] = {}
    for folder in holders:
        owner = next((r for r in runs if folder.is_relative_to(r)), folder)
        runs.setdefault(owner, [])
    for f in files:
        owner = next(r for r in runs if f.parent.is_relative_to(r))
        runs[owner].append(f)
    return runs


def _accumulator(folder: Path) -> tuple[Any, list[str]]:
    """The folder's events, and the files whose reading stopped at a damaged or truncated record
    (the reader says so only in a debug log line, which is caught here)."""
    import logging

    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tb_logging

    damaged: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Truncated record"):
                damaged.append(record.getMessage())

    log = tb_logging.get_logger()
    handler, level = Catch(logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        acc = event_accumulator.EventAccumulator(str(folder), size_guidance={k: 0 for k in (
            "compressedHistograms", "images", "audio", "scalars", "histograms", "tensors")}, purge_orphaned_data=False)
        acc.Reload()
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return acc, damaged


def _run(imp: Import, root: Path, folder: Path, files: list[Path], parts: list[str]) -> None:
    import numpy as np

    name = folder.name if folder != root else root.name
    rid = stable_id("import-tensorboard", name, *sorted(f.name for f in files))
    scalars: dict[str, list[tuple[float, int, float]]] = {}
    images: list[tuple[str, Any]] = []
    texts: list[tuple[str, int, float, str]] = []
    config: dict[str, Any] = {}
    walls: list[float] = []
    for sub in sorted({f.parent for f in files}):
        acc, damaged = _accumulator(sub)
        for line in damaged:
            imp.report.lost("runs", f"{folder.name}: {line}: the events after it are not imported")
        rel = sub.relative_to(folder).as_posix()
        session = _hparams(acc)
        config.update(session)
        if session:  # tensorboardX's add_hparams: a subfolder named by the time, its metrics named as logged
            rel = "."
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            key = tag if rel == "." else (rel if rel.startswith(tag + "/") else f"{rel}/{tag}")
            events = acc.Scalars(tag)
            scalars.setdefault(key, []).extend((e.wall_time, e.step, e.value) for e in events)
            walls += [e.wall_time for e in events]
        for tag in tags.get("images", []):
            for event in acc.Images(tag):
                images.append((tag if rel == "." else f"{rel}/{tag}", event))
                walls.append(event.wall_time)
        for tag in tags.get("tensors", []):
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            events = acc.Tensors(tag)
            if plugin == "text":
                from tensorboard.util import tensor_util

                for e in events:
                    cells = tensor_util.make_ndarray(e.tensor_proto).ravel().tolist()
                    text = "\n".join(c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in cells)
                    texts.append((tag.removesuffix("/text_summary"), e.step, e.wall_time, text))
                    walls.append(e.wall_time)
            elif plugin == "hparams":
                continue
            else:
                imp.report.lost("runs.tensors", f"{folder.name}: {plugin or 'tensor'} summary {tag!r} ({len(events)} "
                                "events) not imported")
        for kind in ("histograms", "audio"):
            for tag in tags.get(kind, []):
                imp.report.lost(f"runs.{kind}", f"{folder.name}: {tag!r} not imported")
        if tags.get("graph") or tags.get("meta_graph"):
            imp.report.lost("runs.graph", f"{folder.name}: the model graph is not imported")
    for other in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(EVENTS)):
        imp.report.lost("runs", f"{folder.name}: {other.relative_to(folder)} (not an event file) not imported")
    if not walls:
        walls = [f.stat().st_mtime for f in files]
    start = min(walls)
    started, ended = iso_from_seconds(start), iso_from_seconds(max(walls))
    blocks_in = []
    metrics: dict[str, Any] = {}
    for key, points in sorted(scalars.items()):
        ordered = sorted(points, key=lambda p: (p[1], p[0]))  # by step, then time
        steps = np.array([p[1] for p in ordered], dtype=np.int64)
        values = np.array([p[2] for p in ordered], dtype=np.float64)
        for line in same_step_values(key, steps, values):
            imp.report.lost("runs.curves", f"{folder.name}: {line}")
        blocks_in.append((key, steps, values, np.array([p[0] for p in ordered]) - start))
        metrics[key] = {"value": float(values[-1]), "wall_time": float(ordered[-1][0] - start)}
    items = []
    for tag, event in images:
        item = imp.image_artifact(rid, tag, event.encoded_image_string, int(event.step), (event.width, event.height),
                                  iso_from_seconds(event.wall_time), "runs.images")
        if item is not None:
            items.append(item)
    for tag, step, wall, text in texts:
        items.append({"id": stable_id("import-artifact", rid, "text", tag, str(step)), "name": tag, "kind": "text",
                      "step": step, "blob": imp.put_bytes(text.encode("utf-8")), "shape": None, "dtype": None,
                      "metadata": {"format": "markdown"}, "created_at": iso_from_seconds(wall)})
    hosts = sorted({f.name[len(EVENTS):].split(".", 1)[1] for f in files if f.name.count(".") >= 4})
    eid, exp_path = imp.experiment(parts, started)
    state = {"id": rid, "experiment_id": eid, "experiment_path": exp_path, "name": name, "config": config,
             "started_at": started, "hostname": hosts[0] if hosts else None, "git": {}, "env": {},
             "total_steps": None, "metrics": metrics, "params": {}, "artifacts": items, "tags": [], "notes": []}
    imp.run_record(state, curve_blocks(blocks_in), "completed", ended)


def _hparams(acc: Any) -> dict[str, Any]:
    """The hyperparameters of a session start written by the hparams plugin (tensorboardX's
    ``add_hparams``, Keras' hparams API), if any."""
    from tensorboard.plugins.hparams import metadata

    out: dict[str, Any] = {}
    try:
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    except KeyError:
        return out
    for tag, data in content.items():
        if tag != metadata.SESSION_START_INFO_TAG:
            continue
        info = metadata.parse_session_start_info_plugin_data(data)
        for key, value in info.hparams.items():
            kind = value.WhichOneof("kind")
            out[key] = getattr(value, kind) if kind else None
    return out
