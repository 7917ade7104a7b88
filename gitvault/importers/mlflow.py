"""Importing MLflow's two local stores, read directly (no mlflow import): the ``mlruns/`` file
store (``meta.yaml`` files read with PyYAML; ``metrics/<key>`` lines of ``timestamp value step``)
and the SQLite backend store (``mlflow.db``: tables ``experiments``, ``runs``, ``metrics``,
``params``, ``tags``, ``experiment_tags``), both as mlflow 3.18 writes them.

| MLflow                                  | gitvault                                                        |
|-----------------------------------------|-----------------------------------------------------------------|
| experiment (name, creation time, tags)  | an experiment named after it (under ``--experiment`` when given); ``mlflow.note.content``: a note; other tags and its MLflow id in ``metadata`` |
| run (uuid kept, run name, times)        | a run with the same id, name, times (milliseconds kept as UTC ISO-8601) |
| status FINISHED / FAILED / KILLED / RUNNING, SCHEDULED | completed / failed / failed / crashed (the last three reported) |
| params                                  | config (text values, as MLflow keeps them)                      |
| tags (``mlflow.*`` aside)               | params                                                          |
| ``mlflow.parentRunId`` (nested runs)    | lineage: the child run ``branched_from`` its parent             |
| ``mlflow.source.git.commit`` / ``branch`` | git sha / branch                                              |
| ``mlflow.note.content``                 | a note                                                          |
| every ``mlflow.*`` tag, the user        | ``env["mlflow_tags"]``, ``env["user"]``                          |
| metric histories (step, value, timestamp) | curves (wall time: seconds since the run's start); the latest value of each metric (MLflow's rule: highest step, then latest timestamp) as its headline metric |
| several values at one step              | the curve keeps the latest; every value stays in the run's ``mlflow_metric_history`` table (Parquet: key, step, value, timestamp) |
| deleted experiments and runs            | imported with a delete event (hidden; ``git vault restore`` brings them back) |
| artifacts (local folders)               | file artifacts (`Import.file_artifact`)                          |
| registered model versions (``runs:/``, ``models:/`` or local sources) | models (name, version, run, creation time; description, stage and tags in ``metadata``; files copied into blobs) with the run -> model edge; aliases as alias events dated at the model's last update |

Datasets, run inputs and outputs and traces are counted in the report, not imported.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from gitvault.errors import VaultError
from gitvault.importers.plan import Import, curve_blocks, iso_from_ms, read_sqlite, same_step_values
from gitvault.storage import records

STATUSES = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "failed", "RUNNING": "crashed",
            "SCHEDULED": "crashed"}
STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
HISTORY_TABLE = "mlflow_metric_history"


@dataclass
class Experiment:
    id: str
    name: str
    created_ms: int | None
    updated_ms: int | None
    deleted: bool
    artifact_location: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    id: str
    experiment_id: str
    name: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    deleted: bool
    deleted_ms: int | None
    user: str | None
    artifact_dir: Path | None
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)  # key -> (timestamp ms, value, step)


@dataclass
class ModelVersion:
    name: str
    version: str
    created_ms: int | None
    updated_ms: int | None  # the registered model's last update: the time its aliases are given
    description: str | None
    model_description: str | None
    run_id: str | None
    source: str | None
    stage: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


def import_store(imp: Import, path: Path, experiment: str | None = None) -> None:
    """Read the MLflow store at ``path`` (an ``mlruns/`` folder, an ``mlflow.db`` file, or a
    folder holding either) into ``imp``; ``experiment``: a path every experiment goes under."""
    source = find_store(path)
    with tempfile.TemporaryDirectory(prefix="gitvault-import-") as scratch:
        reader = SqliteStore(source, Path(scratch)) if source.is_file() else FileStore(source)
        try:
            experiments = {e.id: e for e in reader.experiments()}
            expected = reader.count_runs()
            runs = []
            for run in reader.runs(experiments):
                runs.append(run)
                imp.progress("reading the store", len(runs), max(expected, len(runs)))
            versions = list(reader.models())
            logged = reader.logged_models()
            for line in reader.unread():
                imp.report.lost("mlflow", line)
        finally:
            reader.close()
    prefix = [p for p in (experiment or "").split("/") if p]
    placed = {e.id: _experiment(imp, e, prefix) for e in experiments.values()}
    for i, run in enumerate(runs, 1):
        _run(imp, run, placed[run.experiment_id], experiments[run.experiment_id])
        imp.progress("reading runs", i, len(runs))
    folders = {run.id: run.artifact_dir for run in runs}
    for version in versions:
        _model(imp, version, folders, logged)


def find_store(path: Path) -> Path:
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise VaultError(f"{path} is not an MLflow store: not an SQLite file (give mlflow.db or an mlruns/ folder)")
        return path
    if (path / "0" / "meta.yaml").is_file() or any(path.glob("*/meta.yaml")):
        return path
    for candidate in (path / "mlruns", path / "mlflow.db"):
        if candidate.exists():
            return find_store(candidate)
    raise VaultError(f"{path} holds no MLflow store (no mlruns/ folder with meta.yaml files, no mlflow.db); give "
                     "the mlruns/ folder, the mlflow.db file or the folder holding them")


def _ms(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _local(uri: str | None, base: Path) -> Path | None:
    """A local folder named by an artifact URI (``file:///x``, ``/x``, ``./x`` from ``base``)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", "local") or len(parsed.scheme) == 1:  # a plain path (C: on Windows)
        p = Path(uri)
        return p if p.is_absolute() else base / p
    return None


# -- the file store ---------------------------------------------------------------------------------

class FileStore:
    def __init__(self, root: Path) -> None:
        import importlib.util

        if importlib.util.find_spec("yaml") is None:
            raise VaultError("reading MLflow's mlruns/ file store needs PyYAML for its meta.yaml files: pip install pyyaml")
        self.root = root
        self._unread: list[str] = []

    def _meta(self, folder: Path) -> dict[str, Any]:
        import yaml

        try:
            data = yaml.safe_load((folder / "meta.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            self._unread.append(f"{folder}: meta.yaml unreadable ({str(exc).splitlines()[0]}): not imported")
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _values(folder: Path) -> dict[str, str]:
        """``key -> text`` of a params/ or tags/ folder (keys with ``/`` are nested folders)."""
        if not folder.is_dir():
            return {}
        return {f.relative_to(folder).as_posix(): f.read_text(encoding="utf-8")
                for f in sorted(folder.rglob("*")) if f.is_file()}

    def count_runs(self) -> int:
        return sum(1 for folder, _ in self._experiment_dirs() for meta in folder.glob("*/meta.yaml")
                   if meta.parent.name not in ("tags", "datasets", "traces", "models"))

    def _experiment_dirs(self) -> Iterator[tuple[Path, bool]]:
        for folder, deleted in ((self.root, False), (self.root / ".trash", True)):
            if folder.is_dir():
                for sub in sorted(folder.iterdir()):
                    if sub.is_dir() and (sub / "meta.yaml").is_file():
                        yield sub, deleted

    def experiments(self) -> Iterator[Experiment]:
        for folder, deleted in self._experiment_dirs():
            meta = self._meta(folder)
            if not meta:
                continue
            yield Experiment(id=str(meta.get("experiment_id", folder.name)), name=str(meta.get("name") or folder.name),
                             created_ms=_ms(meta.get("creation_time")), updated_ms=_ms(meta.get("last_update_time")),
                             deleted=deleted or meta.get("lifecycle_stage") == "deleted",
                             artifact_location=meta.get("artifact_location"), tags=self._values(folder / "tags"))

    def runs(self, experiments: dict[str, Experiment]) -> Iterator[Run]:
        for folder, _ in self._experiment_dirs():
            for extra in ("datasets", "traces"):
                if (folder / extra).is_dir() and any((folder / extra).iterdir()):
                    self._unread.append(f"experiment folder {folder.name}: {extra}/ ({len(list((folder / extra).iterdir()))} "
                                        "entries) not imported")
            for run_dir in sorted(folder.iterdir()):
                if run_dir.name in ("tags", "datasets", "traces", "models") or not (run_dir / "meta.yaml").is_file():
                    continue
                meta = self._meta(run_dir)
                if not meta:
                    continue
                experiment_id = str(meta.get("experiment_id", folder.name))
                if experiment_id not in experiments:
                    self._unread.append(f"run {run_dir.name}: its experiment {experiment_id} has no meta.yaml: not imported")
                    continue
                status = meta.get("status")
                here = run_dir / "artifacts"
                for extra in ("inputs", "outputs"):
                    if (run_dir / extra).is_dir() and any((run_dir / extra).iterdir()):
                        self._unread.append(f"run {run_dir.name}: {extra}/ (dataset or model links) not imported")
                yield Run(id=str(meta.get("run_id") or run_dir.name), experiment_id=experiment_id,
                          name=meta.get("run_name") or None,
                          status=STATUS_NUMBERS.get(status, str(status)) if isinstance(status, int) else str(status),
                          start_ms=_ms(meta.get("start_time")), end_ms=_ms(meta.get("end_time")),
                          deleted=meta.get("lifecycle_stage") == "deleted", deleted_ms=_ms(meta.get("deleted_time")),
                          user=meta.get("user_id"), artifact_uri=meta.get("artifact_uri"),
                          artifact_dir=here if here.is_dir() else _local(meta.get("artifact_uri"), self.root),
                          params=self._values(run_dir / "params"), tags=self._values(run_dir / "tags"),
                          metrics=self._metrics(run_dir / "metrics"))

    def _metrics(self, folder: Path) -> dict[str, list[tuple[int, float, int]]]:
        out: dict[str, list[tuple[int, float, int]]] = {}
        if not folder.is_dir():
            return out
        for file in sorted(folder.rglob("*")):
            if not file.is_file():
                continue
            key = file.relative_to(folder).as_posix()
            points = out.setdefault(key, [])
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                parts = line.split()
                try:
                    points.append((int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 0))
                except (IndexError, ValueError):
                    if line.strip():
                        self._unread.append(f"{file} line {number}: {line[:60]!r} is no 'timestamp value step' line")
        return out

    def models(self) -> Iterator[ModelVersion]:
        """Registered model versions (``models/<name>/version-<n>/meta.yaml``)."""
        for folder in sorted((self.root / "models").glob("*/meta.yaml")):
            registered = self._meta(folder.parent)
            aliases = registered.get("aliases") or {}
            for version_dir in sorted(folder.parent.glob("version-*")):
                meta = self._meta(version_dir)
                if not meta:
                    continue
                version = str(meta.get("version", version_dir.name.removeprefix("version-")))
                yield ModelVersion(
                    name=str(meta.get("name") or registered.get("name") or folder.parent.name), version=version,
                    created_ms=_ms(meta.get("creation_timestamp")), updated_ms=_ms(registered.get("last_updated_timestamp")),
                    description=meta.get("description") or None, model_description=registered.get("description") or None,
                    run_id=meta.get("run_id") or None, source=meta.get("source") or meta.get("storage_location"),
                    stage=meta.get("current_stage"), tags=self._values(version_dir / "tags"),
                    aliases=sorted(a for a, v in aliases.items() if str(v) == version))

    def logged_models(self) -> dict[str, Path]:
        """MLflow 3's logged models (``<experiment>/models/<model_id>/artifacts``): id -> folder."""
        return {d.name: d / "artifacts" for folder, _ in self._experiment_dirs()
                for d in sorted((folder / "models").glob("*")) if (d / "artifacts").is_dir()}

    def unread(self) -> list[str]:
        return self._unread

    def close(self) -> None:
        pass


# -- the SQLite store -------------------------------------------------------------------------------

class SqliteStore:
    def __init__(self, db: Path, scratch: Path) -> None:
        self.db = db
        try:
            self.conn = read_sqlite(db, scratch)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise VaultError(f"cannot read {db} as an MLflow store ({exc})") from None
        missing = {"experiments", "runs", "metrics", "params", "tags"} - tables
        if missing:
            raise VaultError(f"{db} is not an MLflow store (it has no {', '.join(sorted(missing))} table)")
        self.tables = tables

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def experiments(self) -> Iterator[Experiment]:
        tags: dict[str, dict[str, str]] = {}
        if "experiment_tags" in self.tables:
            for key, value, eid in self.conn.execute("SELECT key, value, experiment_id FROM experiment_tags ORDER BY key"):
                tags.setdefault(str(eid), {})[key] = value
        for eid, name, location, stage, created, updated in self.conn.execute(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
                "FROM experiments ORDER BY experiment_id"):
            yield Experiment(id=str(eid), name=name, created_ms=_ms(created), updated_ms=_ms(updated),
                             deleted=stage == "deleted", artifact_location=location, tags=tags.get(str(eid), {}))

    def count_runs(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def _pairs(self, table: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for key, value, rid in self.conn.execute(f"SELECT key, value, run_uuid FROM {table} ORDER BY key"):
            out.setdefault(rid, {})[key] = value
        return out

    def runs(self, experiments: dict[str, Experiment]) -> Iterator[Run]:
        params, tags = self._pairs("params"), self._pairs("tags")
        metrics: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
        nan = self._columns("metrics") >= {"is_nan"}
        for rid, key, ts, value, step, is_nan in self.conn.execute(
                f"SELECT run_uuid, key, timestamp, value, step, {'is_nan' if nan else '0'} FROM metrics "
                "ORDER BY run_uuid, key, timestamp, step"):
            metrics.setdefault(rid, {}).setdefault(key, []).append(
                (int(ts), float("nan") if is_nan else float(value), int(step or 0)))
        deleted_time = "deleted_time" if "deleted_time" in self._columns("runs") else "NULL"
        for row in self.conn.execute(
                f"SELECT run_uuid, experiment_id, name, status, start_time, end_time, lifecycle_stage, user_id, "
                f"artifact_uri, {deleted_time} FROM runs ORDER BY start_time, run_uuid"):
            rid, eid, name, status, start, end, stage, user, uri, deleted_ms = row
            yield Run(id=rid, experiment_id=str(eid), name=name or None, status=str(status), start_ms=_ms(start),
                      end_ms=_ms(end), deleted=stage == "deleted", deleted_ms=_ms(deleted_ms), user=user,
                      artifact_uri=uri, artifact_dir=_local(uri, self.db.parent), params=params.get(rid, {}),
                      tags=tags.get(rid, {}), metrics=metrics.get(rid, {}))

    def models(self) -> Iterator[ModelVersion]:
        if not {"registered_models", "model_versions"} <= self.tables:
            return
        tags: dict[tuple[str, str], dict[str, str]] = {}
        if "model_version_tags" in self.tables:
            for key, value, name, version in self.conn.execute(
                    "SELECT key, value, name, version FROM model_version_tags ORDER BY key"):
                tags.setdefault((name, str(version)), {})[key] = value
        aliases: dict[tuple[str, str], list[str]] = {}
        if "registered_model_aliases" in self.tables:
            for alias, version, name in self.conn.execute(
                    "SELECT alias, version, name FROM registered_model_aliases ORDER BY alias"):
                aliases.setdefault((name, str(version)), []).append(alias)
        for row in self.conn.execute(
                "SELECT v.name, v.version, v.creation_time, r.last_updated_time, v.description, r.description, "
                "v.run_id, v.source, v.current_stage FROM model_versions v JOIN registered_models r ON r.name = v.name "
                "ORDER BY v.name, v.version"):
            name, version = row[0], str(row[1])
            yield ModelVersion(name=name, version=version, created_ms=_ms(row[2]), updated_ms=_ms(row[3]),
                               description=row[4] or None, model_description=row[5] or None, run_id=row[6] or None,
                               source=row[7], stage=row[8], tags=tags.get((name, version), {}),
                               aliases=aliases.get((name, version), []))

    def logged_models(self) -> dict[str, Path]:
        if "logged_models" not in self.tables:
            return {}
        out = {}
        for model_id, location in self.conn.execute("SELECT model_id, artifact_location FROM logged_models"):
            folder = _local(location, self.db.parent)
            if folder is not None:
                out[model_id] = folder
        return out

    def unread(self) -> list[str]:
        out = []
        for table, what in (("datasets", "datasets"), ("inputs", "run inputs"), ("trace_info", "traces")):
            if table in self.tables:
                n = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                if n:
                    out.append(f"{n} {what} (table {table}) not imported")
        return out

    def close(self) -> None:
        self.conn.close()


# -- records --------------------------------------------------------------------------------------

def _experiment(imp: Import, exp: Experiment, prefix: list[str]) -> tuple[str, str]:
    parts = [p.strip() for p in exp.name.split("/") if p.strip()] or [f"experiment-{exp.id}"]
    if len(prefix) + len(parts) > len(imp.hierarchy):
        imp.report.lost("experiments", f"MLflow experiment {exp.name!r}: deeper than the vault's hierarchy "
                        f"({' > '.join(imp.hierarchy)}): named {'-'.join(parts)!r}")
        parts = ["-".join(parts)]
    created = iso_from_ms(exp.created_ms) or iso_from_ms(0)
    assert created is not None
    note = exp.tags.get("mlflow.note.content")
    leaf = {"metadata": {"mlflow_experiment_id": exp.id, "artifact_location": exp.artifact_location,
                         "mlflow_tags": {k: v for k, v in exp.tags.items() if k != "mlflow.note.content"}},
            "notes": [{"content": note, "created_at": created}] if note else []}
    eid, path = imp.experiment(prefix + parts, created, leaf=leaf)
    if exp.deleted:
        imp.event("experiment", eid, "delete", {}, iso_from_ms(exp.updated_ms) or created)
    return eid, path


def _run(imp: Import, run: Run, placed: tuple[str, str], exp: Experiment) -> None:
    import numpy as np

    tags = dict(run.tags)
    start = run.start_ms if run.start_ms is not None else exp.created_ms or 0
    started = iso_from_ms(start)
    assert started is not None
    last_ts = max([start] + [ts for points in run.metrics.values() for ts, _, _ in points])
    ended = iso_from_ms(run.end_ms if run.end_ms is not None else last_ts)
    assert ended is not None
    status = STATUSES.get(run.status)
    if status is None or run.status in ("KILLED", "RUNNING", "SCHEDULED"):
        imp.report.lost("runs.status", f"run {run.id}: {run.status} in MLflow: imported as {status or 'crashed'}")
    metrics: dict[str, Any] = {}
    blocks_in = []
    replaced = 0
    times_at: dict[int, set[int]] = {}  # step -> the timestamps of its values (a curve row keeps one)
    for key, points in sorted(run.metrics.items()):
        ordered = sorted(points, key=lambda p: (p[2], p[0]))  # by step, then time: the latest value last
        steps = np.array([p[2] for p in ordered], dtype=np.int64)
        values = np.array([p[1] for p in ordered], dtype=np.float64)
        walls = (np.array([p[0] for p in ordered], dtype=np.float64) - start) / 1000.0
        blocks_in.append((key, steps, values, walls))
        replaced += len(same_step_values(key, steps, values))
        for ts, _, step in ordered:
            times_at.setdefault(step, set()).add(ts)
        ts, value, _ = max(points, key=lambda p: (p[2], p[0]))
        metrics[key] = {"value": value, "wall_time": (ts - start) / 1000.0}
    artifacts = []
    spread = sum(1 for times in times_at.values() if len(times) > 1)
    if replaced or spread:
        artifacts.append(_history(imp, run, started))
        imp.report.lost("runs.curves", f"run {run.id}: " + "; ".join(filter(None, (
            f"{replaced} value(s) logged at a step that has a later one (a curve keeps the latest)" if replaced else "",
            f"{spread} step(s) whose values were logged at different times (a curve row has one wall time: the "
            "latest)" if spread else ""))) + f"; every value with its own timestamp is in the run's {HISTORY_TABLE} table")
    artifacts += _files(imp, run, started)
    parent = tags.get("mlflow.parentRunId")
    if parent:
        lid = records.lineage_id("run", parent, "run", run.id, "branched_from")
        imp.add("lineage", lid, {"parent_type": "run", "parent_id": parent, "child_type": "run", "child_id": run.id,
                                 "relation": "branched_from", "metadata": {"mlflow": "nested run (mlflow.parentRunId)"},
                                 "created_at": started})
    system = {k: v for k, v in tags.items() if k.startswith("mlflow.")}
    note = system.get("mlflow.note.content")
    git = {k: v for k, v in (("sha", system.get("mlflow.source.git.commit")),
                             ("branch", system.get("mlflow.source.git.branch"))) if v}
    env: dict[str, Any] = {"mlflow_tags": system}
    if run.user:
        env["user"] = run.user
    state = {
        "id": run.id, "experiment_id": placed[0], "experiment_path": placed[1],
        "name": run.name or system.get("mlflow.runName"), "config": dict(run.params), "started_at": started,
        "hostname": None, "git": git, "env": env, "total_steps": None, "metrics": metrics,
        "params": {k: v for k, v in tags.items() if not k.startswith("mlflow.")}, "artifacts": artifacts,
        "tags": [], "notes": [{"content": note, "created_at": started}] if note else [],
    }
    imp.run_record(state, curve_blocks(blocks_in), status or "crashed", ended)
    if run.deleted:
        imp.event("run", run.id, "delete", {}, iso_from_ms(run.deleted_ms) or ended)


def _model(imp: Import, mv: ModelVersion, folders: dict[str, Path | None], logged: dict[str, Path]) -> None:
    """A registered model version as a gitvault model (files copied into blobs), with the run ->
    model edge `Store.register_model` makes and its aliases as alias events."""
    from gitvault.names import check_name

    where = f"{mv.name} version {mv.version}"
    try:
        check_name(mv.name, "model name")
        if "@" in mv.name:
            raise ValueError("'@' separates a model's name from its version")
    except (VaultError, ValueError) as exc:
        imp.report.lost("models", f"{where}: not imported ({exc})")
        return
    files = _model_files(mv, folders, logged)
    if files is None or not files.exists():
        imp.report.lost("models", f"{where}: its files ({mv.source}) are not in a local folder of the store: not imported")
        return
    created = iso_from_ms(mv.created_ms) or iso_from_ms(0)
    assert created is not None
    record: dict[str, Any] = {
        "name": mv.name, "version": mv.version, "run_id": mv.run_id, "framework": "mlflow", "created_at": created,
        "source_path": mv.source,
        "metadata": {k: v for k, v in (("description", mv.description), ("model_description", mv.model_description),
                                       ("stage", mv.stage if mv.stage not in (None, "None") else None),
                                       ("tags", mv.tags or None)) if v is not None}}
    if files.is_dir():
        listed = sorted(p for p in files.rglob("*") if p.is_file())
        record["files"] = {p.relative_to(files).as_posix(): imp.put_file(p) for p in listed}
        record["size"] = sum(p.stat().st_size for p in listed)
    else:
        record["blob"] = imp.put_file(files)
        record["size"] = files.stat().st_size
    mid = records.model_id(mv.name, mv.version)
    imp.add("model", mid, record)
    if mv.run_id:
        lid = records.lineage_id("run", mv.run_id, "model", mid, "derived_from")
        imp.add("lineage", lid, {"parent_type": "run", "parent_id": mv.run_id, "child_type": "model", "child_id": mid,
                                 "relation": "derived_from", "metadata": {"name": mv.name, "version": mv.version},
                                 "created_at": created})
    for alias in mv.aliases:
        if alias == records.LATEST:
            imp.report.lost("models.aliases", f"{where}: alias 'latest' is gitvault's own (the version registered last)")
            continue
        imp.event("model", mid, "alias", {"alias": alias}, iso_from_ms(mv.updated_ms) or created)
    if mv.aliases:
        imp.report.lost("models.aliases", f"{where}: MLflow keeps no time per alias: dated at the model's last update")


def _model_files(mv: ModelVersion, folders: dict[str, Path | None], logged: dict[str, Path]) -> Path | None:
    """The local files a model version's source names: ``runs:/<run>/<path>`` (in the run's
    artifact folder), ``models:/<model id>`` (a logged model's folder), or a path."""
    source = mv.source or ""
    if source.startswith("runs:/"):
        run_id, _, rel = source[len("runs:/"):].partition("/")
        folder = folders.get(run_id)
        return folder / rel if folder is not None else None
    if source.startswith("models:/"):
        return logged.get(source[len("models:/"):].strip("/"))
    base = next((f for f in folders.values() if f is not None), Path("."))
    return _local(source, base)


def _history(imp: Import, run: Run, created_at: str) -> dict[str, Any]:
    """Every metric value of ``run`` as a Parquet table (the SDK's ``write_metrics`` format)."""
    import pyarrow as pa

    from gitvault.names import stable_id
    from gitvault.runs import artifacts

    rows = [(key, step, value, ts) for key, points in sorted(run.metrics.items()) for ts, value, step in points]
    table = pa.table({"key": [r[0] for r in rows], "step": pa.array([r[1] for r in rows], pa.int64()),
                      "value": pa.array([r[2] for r in rows], pa.float64()),
                      "timestamp": pa.array([r[3] for r in rows], pa.int64())})
    sha = imp.put_bytes(artifacts.parquet_bytes(table))
    return {"id": stable_id("import-artifact", run.id, HISTORY_TABLE), "name": HISTORY_TABLE, "kind": "metrics",
            "step": None, "blob": sha, "shape": [table.num_rows, table.num_columns], "dtype": None,
            "metadata": {"columns": table.column_names, "source": "mlflow"}, "created_at": created_at}


def _files(imp: Import, run: Run, created_at: str) -> list[dict[str, Any]]:
    folder = run.artifact_dir
    if folder is None:
        if run.artifact_uri:
            imp.report.lost("runs.artifacts", f"run {run.id}: artifacts at {run.artifact_uri} (not a local folder) "
                            "not imported")
        return []
    if not folder.is_dir():
        return []  # MLflow makes the folder with the first artifact logged
    out = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        entry = imp.file_artifact(run.id, file.relative_to(folder).as_posix(), file, created_at, "runs.artifacts")
        if entry is not None:
            out.append(entry)
    return out
