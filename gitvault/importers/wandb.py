"""Importing local W&B run folders (``wandb/run-*``, ``wandb/offline-run-*``: runs synced or never
synced, from an air-gapped cluster say). A run's history, and in wandb 0.31 its config and summary
too, live only in its transaction log ``run-<id>.wandb``; wandb 0.31's Python package no longer
reads that log (its Go ``wandb-core`` does), so the framing is read here (`read_log`: LevelDB's log
format as ``core/pkg/leveldb`` writes it) and each record is decoded with the protobuf classes the
``wandb`` package ships (``wandb.proto.wandb_internal_pb2.Record``): ``pip install wandb``. Nothing
of wandb's network or run machinery is used.

| W&B                                        | gitvault                                                     |
|--------------------------------------------|--------------------------------------------------------------|
| run id, display name                       | a run named the same, its id derived from the W&B run id     |
| project                                    | the experiment (or ``--experiment``)                         |
| config (records; ``files/config.yaml``'s ``{"key": {"value": ...}}`` when the log has none) | config (``_wandb``: ``env["wandb_config"]``) |
| history rows (every number logged, at ``_step``; ``_runtime`` as wall time) | curves; a nested dict logged is ``a.b`` |
| images logged (``wandb.Image``)            | image series at their step                                   |
| summary (numbers)                          | headline metrics                                             |
| tags, notes                                | tags, a note                                                 |
| start time; exit record (code, runtime)    | started_at; ended_at (the latest of start + runtime and the last history time); exit code 0: completed, other: failed, no exit record: crashed (reported) |
| git commit / remote                        | git sha / ``env["wandb"]["git_remote"]``                     |
| host, os, python, the rest of the metadata | hostname, ``env["platform"]``, ``env["python"]``, ``env["wandb"]`` |
| ``define_metric`` goals                    | ``vault.toml``'s metric directions                           |
| files in ``files/`` (``requirements.txt``, ``output.log``, media, ...) | file artifacts                   |

Tables, histograms and other media, text values in the history, W&B artifacts, system metrics,
TensorBoard sync records, alerts and wandb's own bookkeeping records are named in the report.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitvault.errors import VaultError
from gitvault.importers.plan import Import, curve_blocks, iso_from_seconds, same_step_values
from gitvault.names import stable_id

BLOCK = 32 * 1024
"""LevelDB's log block: a chunk never crosses one; fewer than HEADER bytes left are zero padding."""
HEADER = 7
"""A chunk's header (CRC32 of type and data, length, type), and the W&B file header before the first chunk."""
IDENT, MAGIC = b":W&B", 0xBEE1
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
LOG_GLOB = "run-*.wandb"
INTERNAL = ("header", "footer", "final", "telemetry", "request", "output_logger", "noop_link_artifact")
"""Records that hold wandb's own bookkeeping (counted in the report, not imported)."""
SKIPPED = {"stats": ("runs.system_metrics", "samples of system metrics (stats records)"),
           "output_raw": ("runs.console", "console output lines (no files/output.log holds them)"),
           "output": ("runs.console", "console output lines (no files/output.log holds them)"),
           "artifact": ("runs.artifacts", "W&B artifacts logged (references to W&B's artifact store)"),
           "use_artifact": ("runs.artifacts", "W&B artifacts used (references to W&B's artifact store)"),
           "tbrecord": ("runs.tensorboard", "TensorBoard sync records (import the event files with "
                        "import-from tensorboard)"),
           "alert": ("runs.alerts", "alerts"), "preempting": ("runs.status", "preemption notices")}
"""Record kinds not imported: where the report names them, and what they are."""
Media = dict[str, list[tuple[int, float, dict[str, Any]]]]
"""A history's media by key: (step, wall time, W&B's description of the file)."""


def read_log(path: Path) -> tuple[list[bytes], list[str]]:
    """The records of the W&B transaction log at ``path`` and what could not be read. Its framing is
    LevelDB's log format as wandb-core's ``leveldb`` package writes it: a 7-byte W&B header
    (``:W&B``, magic 0xBEE1, version), then 32 KiB blocks of chunks, each a CRC-32 (IEEE, over the
    type byte and the data), a length and a type (FULL, or FIRST MIDDLE* LAST of one record). A
    damaged chunk skips to the next block; a file cut mid-chunk (a killed writer) keeps what is whole."""
    data = memoryview(path.read_bytes())
    if len(data) < HEADER or bytes(data[:4]) != IDENT or struct.unpack_from("<H", data, 4)[0] != MAGIC:
        raise VaultError(f"{path} is not a W&B transaction log (no ':W&B' header); give a wandb run folder")
    out: list[bytes] = []
    problems: list[str] = []
    pending: bytearray | None = None
    pos = HEADER
    while pos < len(data):
        block_end = (pos // BLOCK + 1) * BLOCK
        if block_end - pos < HEADER:  # the block's zero trailer
            pos = block_end
            continue
        if pos + HEADER > len(data):
            problems.append(f"cut at byte {len(data)}, inside a chunk header")
            break
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if crc == 0 and length == 0 and kind == 0:  # zeros to the end of the block
            pos = block_end
            continue
        end = pos + HEADER + length
        if end > len(data):
            problems.append(f"cut at byte {len(data)}, inside the chunk at byte {pos} ({length} bytes)")
            break
        if end > block_end or kind not in (FULL, FIRST, MIDDLE, LAST) or zlib.crc32(data[pos + 6:end]) != crc:
            problems.append(f"the chunk at byte {pos} is damaged (checksum, type or length): the rest of its "
                            "block is skipped")
            pos, pending = block_end, None
            continue
        body, start, pos = data[pos + HEADER:end], pos, end
        if kind in (FULL, FIRST):
            if pending is not None:
                problems.append(f"a record split across chunks has no last chunk before byte {start}: skipped")
            pending = None if kind == FULL else bytearray(body)
            if kind == FULL:
                out.append(bytes(body))
        elif pending is None:
            problems.append(f"the chunk at byte {start} continues a record whose start is lost: skipped")
        else:
            pending += body
            if kind == LAST:
                out.append(bytes(pending))
                pending = None
    if pending is not None:
        problems.append(f"the last record is cut ({len(pending)} bytes without its last chunk)")
    return out, problems


def import_store(imp: Import, path: Path, experiment: str | None = None) -> None:
    """Read every W&B run folder under ``path`` (a run folder, a ``wandb/`` folder or one holding it)."""
    from gitvault import extras

    extras.require("wandb", "git vault import-from wandb (the wandb package's record classes)")
    folders = run_folders(path)
    if not folders:
        raise VaultError(f"{path} holds no W&B run folders (wandb/run-*/ or wandb/offline-run-*/ with a "
                         f"{LOG_GLOB} log); give a run folder or the wandb/ folder")
    parts = [p for p in (experiment or "").split("/") if p]
    seen: dict[str, Path] = {}
    for i, (folder, log) in enumerate(folders, 1):
        run = read_run(imp, folder, log)
        if run is not None:
            if run.run_id in seen:
                imp.report.lost("runs", f"{folder.name}: W&B run {run.run_id} is in {seen[run.run_id].name} too "
                                "(a resumed run): this folder is not imported")
            else:
                seen[run.run_id] = folder
                _add_run(imp, run, parts)
        imp.progress("reading runs", i, len(folders))


def run_folders(path: Path) -> list[tuple[Path, Path]]:
    """(run folder, its log) under ``path``, in name order (time order: they are named by start);
    ``latest-run`` and other symlinks are not followed."""
    candidates = [path] if path.is_dir() else []
    for sub in (path, path / "wandb"):
        if sub.is_dir():
            candidates += sorted(p for p in sub.iterdir() if p.is_dir() and not p.is_symlink()
                                 and p.name.startswith(("run-", "offline-run-")))
    out = []
    for folder in dict.fromkeys(candidates):
        logs = sorted(folder.glob(LOG_GLOB))
        if logs:
            out.append((folder, logs[0]))
    return out


@dataclass
class WandbRun:
    """What one run folder's log (and files/) says."""

    folder: Path
    run_id: str
    project: str | None = None
    name: str | None = None
    started: float | None = None
    times: list[float] = field(default_factory=list)  # the history's _timestamp values
    runtime: float | None = None
    exit_code: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[int, float | None, float | None, dict[str, Any]]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    host: str | None = None
    git: dict[str, str] = field(default_factory=dict)
    wandb: dict[str, Any] = field(default_factory=dict)  # run facts and the metadata, for env["wandb"]
    goals: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # record kind -> count not imported


def read_run(imp: Import, folder: Path, log: Path) -> WandbRun | None:
    """The run in ``folder`` (None, reported, when its log holds no record at all)."""
    import importlib

    from google.protobuf import json_format
    from google.protobuf.message import DecodeError

    pb: Any = importlib.import_module("wandb.proto.wandb_internal_pb2")  # picks the classes of the protobuf installed

    try:
        raw, problems = read_log(log)
    except VaultError as exc:
        imp.report.lost("runs", f"{folder.name}: {exc}: not imported")
        return None
    for line in problems:
        imp.report.lost("runs", f"{folder.name}: {log.name}: {line}")
    run = WandbRun(folder=folder, run_id=log.stem.removeprefix("run-"))
    for number, data in enumerate(raw):
        try:
            record = pb.Record.FromString(data)
        except DecodeError:
            imp.report.lost("runs", f"{folder.name}: record {number} of {log.name} is no W&B record: skipped")
            continue
        kind = record.WhichOneof("record_type")
        if kind == "run":
            _run_record(run, record.run)
        elif kind == "config":
            _apply(run.config, record.config.update, record.config.remove)
        elif kind == "summary":
            _apply(run.summary, record.summary.update, record.summary.remove)
        elif kind == "history":
            _history_row(run, record.history)
        elif kind == "exit":
            run.exit_code, run.runtime = record.exit.exit_code, float(record.exit.runtime)
        elif kind == "environment":
            env = json_format.MessageToDict(record.environment)
            env.pop("writerId", None)
            run.wandb.setdefault("metadata", {}).update(env)
            run.host = run.host or record.environment.host or None
            if record.environment.git.commit:
                run.git.setdefault("sha", record.environment.git.commit)
            if record.environment.git.remote_url:
                run.wandb.setdefault("git_remote", record.environment.git.remote_url)
        elif kind == "metric":
            _metric(imp, run, record.metric)
        elif kind in ("files", None):
            continue  # files/ is read itself; a control-only record carries nothing
        elif kind in ("output", "output_raw") and (folder / "files" / "output.log").is_file():
            continue  # the console output: files/output.log holds it, imported as a file
        elif kind is not None:
            run.skipped[kind] = run.skipped.get(kind, 0) + 1
    if not raw:
        imp.report.lost("runs", f"{folder.name}: {log.name} holds no whole record: not imported")
        return None
    _fallbacks(imp, run)
    return run


def _run_record(run: WandbRun, rec: Any) -> None:
    run.run_id = rec.run_id or run.run_id
    run.project, run.name = rec.project or run.project, rec.display_name or run.name
    run.notes, run.tags, run.host = rec.notes or run.notes, list(rec.tags) or run.tags, rec.host or run.host
    if rec.HasField("start_time"):
        run.started = rec.start_time.seconds + rec.start_time.nanos / 1e9
    _apply(run.config, rec.config.update, rec.config.remove)
    if rec.git.commit:
        run.git["sha"] = rec.git.commit
    if rec.git.remote_url:
        run.wandb["git_remote"] = rec.git.remote_url
    run.wandb.update({k: v for k, v in (("run_id", rec.run_id), ("entity", rec.entity), ("project", rec.project),
                                        ("group", rec.run_group), ("job_type", rec.job_type),
                                        ("sweep_id", rec.sweep_id)) if v})


def _value(item: Any) -> Any:
    """The value of a config, summary or history item (``value_json``, or a history item's typed value)."""
    which = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    try:
        if which is None:
            return json.loads(item.value_json) if item.value_json else None
        if which == "json":
            return json.loads(item.json)
    except ValueError:  # a damaged value: kept as its text rather than stopping the import
        return item.value_json if which is None else item.json
    return None if which == "none" else getattr(item, which)


def _key(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _apply(target: dict[str, Any], updates: Any, removes: Any) -> None:
    """A config or summary record's updates and removals, applied to ``target`` (nested keys: nested dicts)."""
    for item in updates:
        *parents, last = _key(item)
        node = target
        for k in parents:
            child = node.get(k)
            if not isinstance(child, dict):
                child = node[k] = {}
            node = child
        node[last] = _value(item)
    for item in removes:
        *parents, last = _key(item)
        node = target
        for k in parents:
            child = node.get(k)
            node = child if isinstance(child, dict) else {}
        node.pop(last, None)


def _history_row(run: WandbRun, rec: Any) -> None:
    row: dict[str, Any] = {}
    _apply(row, rec.item, [])
    step = row.pop("_step", None)
    if not isinstance(step, (int, float)):
        step = rec.step.num
    stamp, runtime = row.pop("_timestamp", None), row.pop("_runtime", None)
    if isinstance(stamp, (int, float)):
        run.times.append(float(stamp))
    run.history.append((int(step), float(stamp) if isinstance(stamp, (int, float)) else None,
                        float(runtime) if isinstance(runtime, (int, float)) else None, row))


def _metric(imp: Import, run: WandbRun, rec: Any) -> None:
    name = rec.name or rec.glob_name
    if rec.goal:
        run.goals[name] = "minimize" if rec.goal == 1 else "maximize"
    if rec.step_metric:
        imp.report.lost("runs.define_metric", f"{run.folder.name}: {name!r} is plotted against {rec.step_metric!r} "
                        "in W&B: its curve is imported against _step")


def _fallbacks(imp: Import, run: WandbRun) -> None:
    """What a log lacks, from the files an older or synced run keeps beside it."""
    files = run.folder / "files"
    if not run.config and (files / "config.yaml").is_file():
        try:
            import yaml
        except ImportError:
            imp.report.lost("runs.config", f"{run.folder.name}: files/config.yaml needs PyYAML: pip install pyyaml")
        else:
            try:
                loaded = yaml.safe_load((files / "config.yaml").read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                loaded = None
                imp.report.lost("runs.config", f"{run.folder.name}: files/config.yaml unreadable ({exc})")
            if isinstance(loaded, dict):  # W&B's {"key": {"value": ..., "desc": ...}}
                run.config = {str(k): v.get("value") if isinstance(v, dict) and "value" in v else v
                              for k, v in loaded.items() if k != "wandb_version"}
    if not run.summary and (files / "wandb-summary.json").is_file():
        try:
            run.summary = json.loads((files / "wandb-summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            imp.report.lost("runs.summary", f"{run.folder.name}: files/wandb-summary.json unreadable ({exc})")


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``, media (a dict with ``_type``) kept whole."""
    if isinstance(value, dict) and "_type" not in value:
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _add_run(imp: Import, run: WandbRun, parts: list[str]) -> None:
    name = run.folder.name
    rid = stable_id("import-wandb", run.run_id)
    start = run.started if run.started is not None else min(run.times, default=None)
    if start is None:
        start = (run.folder / f"run-{run.run_id}.wandb").stat().st_mtime
        imp.report.lost("runs.started_at", f"{name}: the log holds no start time: dated by the log file's time")
    end = max([start, *run.times] + ([start + run.runtime] if run.runtime is not None else []))
    started, ended = iso_from_seconds(start), iso_from_seconds(end)
    blocks_in, media, last_wall = _history(imp, run, start)
    metrics: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    _flat("", {k: v for k, v in run.summary.items() if not str(k).startswith("_")}, summary)
    for key, value in sorted(summary.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = {"value": float(value), "wall_time": last_wall.get(key, end - start)}
        elif not (isinstance(value, dict) and key in media):  # a media summary is its series' last item
            imp.report.lost("runs.summary", f"{name}: {key!r}: {_short(value)} (no number) not imported")
    items, used = _media(imp, rid, run, media, start)
    items += _files(imp, rid, run, used, started)
    imp.directions([k for k, g in run.goals.items() if g == "minimize"],
                   [k for k, g in run.goals.items() if g == "maximize"])
    status = "crashed" if run.exit_code is None else "completed" if run.exit_code == 0 else "failed"
    if run.exit_code is None:
        imp.report.lost("runs.status", f"{name}: no exit record (the process was killed or is still running): "
                        "imported as crashed")
    for kind, n in sorted(run.skipped.items()):
        where, what = SKIPPED.get(kind, (f"runs.{kind}", f"{kind} record(s)"))
        imp.report.lost("runs.wandb_internal" if kind in INTERNAL else where, f"{name}: {n} {what} not imported")
    metadata = run.wandb.get("metadata", {})
    config = dict(run.config)
    wandb_config = config.pop("_wandb", None)
    env: dict[str, Any] = {"wandb": run.wandb}
    if wandb_config:
        env["wandb_config"] = wandb_config
    if metadata.get("python"):
        env["python"] = str(metadata["python"]).split()[-1]
    if metadata.get("os"):
        env["platform"] = metadata["os"]
    eid, exp_path = imp.experiment(parts or [run.project or "uncategorized"], started)
    state = {"id": rid, "experiment_id": eid, "experiment_path": exp_path, "name": run.name or run.run_id,
             "config": config, "started_at": started, "hostname": run.host, "git": run.git, "env": env,
             "total_steps": None, "metrics": metrics, "params": {}, "artifacts": items, "tags": run.tags,
             "notes": [{"content": run.notes, "created_at": started}] if run.notes else []}
    imp.run_record(state, curve_blocks(blocks_in), status, ended)


def _history(imp: Import, run: WandbRun, start: float) -> tuple[list[tuple[str, Any, Any, Any]], Media,
                                                                dict[str, float]]:
    """The history's numbers as ``curve_blocks`` input, its media by key, and each curve's last wall time."""
    import numpy as np

    name = run.folder.name
    points: dict[str, list[tuple[int, float, float]]] = {}
    media: Media = {}
    dropped: dict[str, list[str]] = {}
    for step, stamp, runtime, row in run.history:
        wall = runtime if runtime is not None else (stamp - start if stamp is not None else 0.0)
        flat: dict[str, Any] = {}
        _flat("", row, flat)
        for key, value in flat.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.setdefault(key, []).append((step, float(value), wall))
            elif isinstance(value, dict):
                media.setdefault(key, []).append((step, wall, value))
            else:
                dropped.setdefault(key, []).append(type(value).__name__)
    for key, kinds in dropped.items():
        imp.report.lost("runs.history", f"{name}: {key!r}: {len(kinds)} value(s) that are no numbers "
                        f"({', '.join(sorted(set(kinds)))}) not imported")
    blocks_in: list[tuple[str, Any, Any, Any]] = []
    for key, pts in sorted(points.items()):
        steps = np.array([p[0] for p in pts], dtype=np.int64)
        values = np.array([p[1] for p in pts], dtype=np.float64)
        for line in same_step_values(key, steps, values):
            imp.report.lost("runs.curves", f"{name}: {line}")
        blocks_in.append((key, steps, values, np.array([p[2] for p in pts], dtype=np.float64)))
    return blocks_in, media, {key: pts[-1][2] for key, pts in points.items()}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _media(imp: Import, rid: str, run: WandbRun, media: Media, start: float) -> tuple[list[dict[str, Any]], set[Path]]:
    """Images logged in the history as image series; other media named in the report. The files
    taken as images (so not imported again as files)."""
    items: list[dict[str, Any]] = []
    used: set[Path] = set()
    files = run.folder / "files"
    for key, logged in sorted(media.items()):
        for step, wall, value in logged:
            kind = value.get("_type")
            paths = [value["path"]] if kind == "image-file" and "path" in value else \
                [f if "/" in f else f"media/images/{f}" for f in value.get("filenames", [])] \
                if kind == "images/separated" else []
            if not paths:
                imp.report.lost("runs.media", f"{run.folder.name}: {key!r} step {step}: {kind} not imported")
                continue
            for i, rel in enumerate(paths):
                file = files / rel
                series = key if len(paths) == 1 else f"{key}/{i}"
                if not file.is_file():
                    imp.report.lost("runs.images", f"{run.folder.name}: {key!r} step {step}: {rel} is not in "
                                    "the folder: not imported")
                    continue
                item = imp.image_artifact(rid, series, file.read_bytes(), step,
                                          (int(value.get("width") or 0), int(value.get("height") or 0)),
                                          iso_from_seconds(start + wall), "runs.images")
                if item is not None:
                    items.append(item)
                    used.add(file)
    return items, used


NOT_COPIED = {
    "wandb-metadata.json": "its command line, host and git facts are taken from the log's environment record, "
                           "through the secret redaction; the file itself holds them unredacted, with the user's email",
    "diff.patch": "the uncommitted code diff W&B saved, which may hold credentials that gitvault's own patch "
                  "capture would leave out",
}
"""Files of a run folder's ``files/`` that are never copied into the vault, and why (reported)."""


def _files(imp: Import, rid: str, run: WandbRun, used: set[Path], created_at: str) -> list[dict[str, Any]]:
    """Every other file of the run folder's ``files/`` as a file artifact; the folder's other files
    (wandb's debug logs) named in the report."""
    out = []
    files = run.folder / "files"
    for file in sorted(p for p in files.rglob("*") if p.is_file() and p not in used) if files.is_dir() else []:
        if file.parent == files and file.name in NOT_COPIED:
            imp.report.lost("runs.files", f"{run.folder.name}: files/{file.name} not imported ({NOT_COPIED[file.name]})")
            continue
        entry = imp.file_artifact(rid, file.relative_to(files).as_posix(), file, created_at, "runs.files")
        if entry is not None:
            out.append(entry)
    for other in sorted(p for p in run.folder.rglob("*") if p.is_file() and not p.is_relative_to(files)
                        and p.suffix != ".wandb"):
        imp.report.lost("runs.files", f"{run.folder.name}: {other.relative_to(run.folder)} (outside files/: "
                        "wandb's own logs) not imported")
    return out
