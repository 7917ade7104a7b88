"""Importing an Extract store (``.extract/``: ``extract.db``, ``artifacts/``, ``models/``,
``config.toml``; the seed's schema as extract-tracker 0.3 writes it), read directly with sqlite3
(read-only) and numpy.

| Extract                                   | gitvault                                                      |
|-------------------------------------------|---------------------------------------------------------------|
| experiments (ULID, path, node_type, ...)  | experiments keyed by path (`records.experiment_id`), Extract's node types, tags, notes, metadata, status; ``archived``: an archive event |
| runs (ULID kept)                          | runs: name, config, status (``running``: ``crashed``), times, hostname, git sha, total_steps, tags, notes |
| scalar_metrics                            | headline metrics (the latest step; earlier steps kept as points of the curve of that name) |
| run_params                                | params                                                        |
| curve_points                              | the run's curves (one Parquet blob, as a sealed run's)        |
| artifacts (matrix ``.npy``, text ``.md``) | ``matrix`` and ``text`` artifacts, their ids and times kept   |
| models (files under ``models/``)          | models (files copied into blobs) with the run -> model edge `Store.register_model` makes |
| lineage                                   | lineage edges, ids mapped (experiments by path, models by name and version) |
| todos                                     | TODOs (ids, done, priority, times kept)                       |
| config.toml ``[metrics]``                 | vault.toml ``[metrics]`` minimize / maximize                  |
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from gitvault.errors import VaultError
from gitvault.importers.plan import EPOCH, Import, curve_blocks, iso_from_text, plus_seconds, read_sqlite
from gitvault.names import check_name
from gitvault.storage import localdir, records

RUN_STATUSES = {"completed": "completed", "failed": "failed", "crashed": "crashed"}


def find_store(path: Path) -> Path:
    """The ``.extract/`` folder at or in ``path``; a one-line error when there is none."""
    for folder in (path, path / ".extract"):
        if (folder / "extract.db").is_file():
            if localdir.sqlite_is_ours(folder / "extract.db"):
                raise VaultError(f"{folder / 'extract.db'} is gitvault's own cache, not an Extract store; give the "
                                 "folder of an Extract store (it holds extract.db and config.toml)")
            return folder
    raise VaultError(f"{path} holds no Extract store (no extract.db in it or in {path / '.extract'}); give the "
                     "folder holding .extract/ or the .extract/ folder itself")


def connect(store: Path, scratch: Path | None = None) -> sqlite3.Connection:
    """A connection to ``extract.db`` that writes nothing in the store (`read_sqlite`)."""
    db = store / "extract.db"
    try:
        conn = read_sqlite(db, scratch)
        conn.row_factory = sqlite3.Row
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise VaultError(f"cannot read {db} as an Extract store ({exc}); is it an SQLite file?") from None
    missing = {"experiments", "runs"} - tables
    if missing:
        raise VaultError(f"{db} is not an Extract store (it has no {', '.join(sorted(missing))} table)")
    return conn


def hierarchy_of(store: Path) -> list[str] | None:
    """The Extract store's hierarchy levels (config.toml, else its hierarchy table), or None."""
    levels = _config(store).get("store", {}).get("hierarchy")
    if isinstance(levels, str) and levels.strip():
        return [level.strip() for level in levels.split(">")]
    try:
        conn = connect(store)
        try:
            rows = conn.execute("SELECT level_name FROM hierarchy ORDER BY level_order").fetchall()
        finally:
            conn.close()
    except (VaultError, sqlite3.Error):
        return None
    return [r[0] for r in rows] or None


def _config(store: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads((store / "config.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _rows(conn: sqlite3.Connection, table: str, order: str) -> list[sqlite3.Row]:
    if not _columns(conn, table):
        return []
    return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def _json(text: str | None, what: str, imp: Import) -> Any:
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        imp.report.lost(what, f"not JSON, kept as text: {text[:60]!r}")
        return text


def _map(value: Any, what: str, imp: Import) -> dict[str, Any] | None:
    """A JSON object for a record's map field (config, metadata); anything else kept under ``value``."""
    if value is None or isinstance(value, dict):
        return value
    imp.report.lost(what, f"not a JSON object ({type(value).__name__}): kept as {{'value': ...}}")
    return {"value": value}


def import_store(imp: Import, path: Path) -> None:
    """Read the Extract store at ``path`` into ``imp`` (see the module docstring)."""
    store = find_store(path)
    with tempfile.TemporaryDirectory(prefix="gitvault-import-") as scratch:
        conn = connect(store, Path(scratch))
        try:
            _read(imp, store, conn)
        finally:
            conn.close()


def _read(imp: Import, store: Path, conn: sqlite3.Connection) -> None:
    levels = hierarchy_of(store)
    if levels and levels != imp.hierarchy[:len(levels)]:
        imp.report.lost("experiments.node_type", f"the Extract store's hierarchy ({' > '.join(levels)}) is not the "
                        f"vault's ({' > '.join(imp.hierarchy)}): experiments keep Extract's node types")
    config = _config(store)
    metrics_cfg = config.get("metrics", {})
    views = sorted(k for k in config if k not in ("store", "metrics"))
    if views:
        imp.report.lost("config.toml", f"view settings [{'], ['.join(views)}] not carried over (local to a clone: copy "
                        "the sections into gitvault's .extract/config.toml to keep them)")
    imp.directions([str(m) for m in metrics_cfg.get("minimize", [])], [str(m) for m in metrics_cfg.get("maximize", [])])
    experiments = _experiments(imp, conn)
    runs = _rows(conn, "runs", "started_at, id")
    models = _models(imp, store, conn)
    for i, row in enumerate(runs, 1):
        _run(imp, store, conn, row, experiments)
        imp.progress("reading runs", i, len(runs))
    _lineage(imp, conn, experiments, models)
    _todos(imp, conn, experiments)
    named = {(store / r[0]).resolve() for r in conn.execute("SELECT rel_path FROM artifacts")} \
        if _columns(conn, "artifacts") else set()
    for file in sorted(p for p in (store / "artifacts").rglob("*") if p.is_file()) if (store / "artifacts").is_dir() else []:
        if file.resolve() not in named:
            imp.report.lost("runs.artifacts", f"{file.relative_to(store)}: no artifact row names this file: not imported")


def _experiments(imp: Import, conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Every experiment as a gitvault record; Extract id -> (gitvault id, path)."""
    out: dict[str, tuple[str, str]] = {}
    rows = _rows(conn, "experiments", "length(path), path")
    by_id = {r["id"]: r for r in rows}
    for row in rows:
        path = row["path"]
        check_name(row["name"], f"experiment name (Extract experiment {row['id']})")
        eid = records.experiment_id(path)
        parent = by_id.get(row["parent_id"]) if row["parent_id"] else None
        created = iso_from_text(row["created_at"]) or EPOCH
        keys = row.keys()
        tags = _json(row["tags"], "experiments.tags", imp) if "tags" in keys else None
        notes = row["notes"] if "notes" in keys else None
        imp.add("experiment", eid, {
            "path": path, "name": row["name"], "parent_id": records.experiment_id(parent["path"]) if parent else None,
            "node_type": row["node_type"], "created_at": created,
            "metadata": _map(_json(row["metadata"], "experiments.metadata", imp), "experiments.metadata", imp),
            "status": row["status"], "specimen_id": None, "domain": None, "method": None, "model": None,
            "tags": _tags(tags, f"experiment {path}", imp),
            "notes": [{"content": notes, "created_at": created}] if notes else [],
        })
        if row["status"] == "archived":
            imp.event("experiment", eid, "archive", {}, created)
            imp.report.lost("experiments.status", f"{path}: archived (Extract keeps no time of archiving: the "
                            "archive is dated at the experiment's creation)")
        out[row["id"]] = (eid, path)
    return out


def _tags(value: Any, where: str, imp: Import) -> list[str]:
    out: list[str] = []
    for tag in value if isinstance(value, list) else ([] if value is None else [value]):
        try:
            check_name(tag, "tag")
        except (VaultError, ValueError) as exc:
            imp.report.lost("tags", f"{where}: {exc}")
            continue
        if tag not in out:
            out.append(tag)
    return out


def _run(imp: Import, store: Path, conn: sqlite3.Connection, row: sqlite3.Row,
         experiments: dict[str, tuple[str, str]]) -> None:
    rid = row["id"]
    if row["experiment_id"] not in experiments:
        imp.report.lost("runs", f"run {rid}: its experiment {row['experiment_id']} is not in the store: not imported")
        return
    eid, path = experiments[row["experiment_id"]]
    started = iso_from_text(row["started_at"]) or EPOCH
    metrics, extra, last_wall = _headline(conn, rid)
    curves, last_curve = _curves(conn, rid)
    names = {b_name for block in curves for b_name in block["values"]}
    for name, steps, values, walls in extra:  # a metric logged at several steps (Extract's old log(step=))
        if name in names:
            imp.report.lost("runs.metrics", f"run {rid}: metric {name} at steps {steps}: a curve of that name exists; "
                            f"only the latest step is kept (as the headline value)")
        else:
            curves += curve_blocks([(name, steps, values, walls)])
            imp.report.lost("runs.metrics", f"run {rid}: metric {name} was logged at {len(steps)} steps: the latest "
                            "is the headline value, every step is kept as the curve of that name")
    status = RUN_STATUSES.get(row["status"])
    ended = iso_from_text(row["ended_at"])
    if status is None:
        status = "crashed"
        imp.report.lost("runs.status", f"run {rid}: {row['status']!r} in Extract (never finished): imported as crashed")
    if ended is None:
        ended = plus_seconds(started, max(last_wall, last_curve))  # its last point, as the source dates it
    config = _map(_json(row["config"], "runs.config", imp), "runs.config", imp) or {}
    keys = row.keys()
    notes = row["notes"] if "notes" in keys else None
    params = {r["name"]: r["value"] for r in conn.execute(
        "SELECT name, value FROM run_params WHERE run_id = ? ORDER BY id", (rid,))} if _columns(conn, "run_params") else {}
    state = {
        "id": rid, "experiment_id": eid, "experiment_path": path, "name": row["name"], "config": config,
        "started_at": started, "hostname": row["hostname"], "git": {"sha": row["git_sha"]} if row["git_sha"] else {},
        "env": {}, "total_steps": row["total_steps"] if "total_steps" in keys else None,
        "metrics": metrics, "params": params, "artifacts": _artifacts(imp, store, conn, rid),
        "tags": _tags(_json(row["tags"], "runs.tags", imp), f"run {rid}", imp),
        "notes": [{"content": notes, "created_at": ended}] if notes else [],
    }
    if notes:
        imp.report.lost("runs.notes", f"run {rid}: Extract keeps no time per note: the notes are one note dated at "
                        "the run's end")
    imp.run_record(state, curves, status, ended)


def _headline(conn: sqlite3.Connection, rid: str) -> tuple[dict[str, Any], list[tuple[str, Any, Any, Any]], float]:
    """Headline metrics (each name's latest step), the names logged at several steps as
    (name, steps, values, wall times), and the latest wall time seen."""
    metrics: dict[str, Any] = {}
    extra = []
    last = 0.0
    by_name: dict[str, list[sqlite3.Row]] = {}
    for r in conn.execute("SELECT name, step, value, wall_time FROM scalar_metrics WHERE run_id = ? "
                          "ORDER BY name, step", (rid,)):
        by_name.setdefault(r["name"], []).append(r)
    for name, rows in by_name.items():
        latest = rows[-1]
        wall = float(latest["wall_time"]) if latest["wall_time"] is not None else 0.0
        metrics[name] = {"value": float(latest["value"]), "wall_time": wall}
        last = max([last] + [float(r["wall_time"]) for r in rows if r["wall_time"] is not None])
        if len(rows) > 1:
            extra.append((name, [r["step"] for r in rows], [r["value"] for r in rows],
                          [r["wall_time"] if r["wall_time"] is not None else float("nan") for r in rows]))
    return metrics, extra, last


def _curves(conn: sqlite3.Connection, rid: str) -> tuple[list[Any], float]:
    """The run's curve points as blocks (one per name) and the latest wall time."""
    if not _columns(conn, "curve_points"):
        return [], 0.0
    rows = conn.execute("SELECT name, step, value, wall_time FROM curve_points WHERE run_id = ? ORDER BY name, step",
                        (rid,)).fetchall()
    if not rows:
        return [], 0.0
    grouped: dict[str, tuple[list[int], list[float], list[float]]] = {}
    last = 0.0
    for name, step, value, wall in rows:
        steps, values, walls = grouped.setdefault(name, ([], [], []))
        steps.append(step)
        values.append(value)
        walls.append(float("nan") if wall is None else wall)
        if wall is not None and wall > last:
            last = wall
    return curve_blocks((name, *cols) for name, cols in grouped.items()), float(last)


def _inside(store: Path, rel: str) -> Path | None:
    """``rel`` under the store, or None when it would leave it."""
    target = (store / rel).resolve()
    return target if target.is_relative_to(store.resolve()) else None


def _artifacts(imp: Import, store: Path, conn: sqlite3.Connection, rid: str) -> list[dict[str, Any]]:
    import numpy as np

    if not _columns(conn, "artifacts"):
        return []
    out = []
    for r in conn.execute("SELECT * FROM artifacts WHERE run_id = ? ORDER BY created_at, id", (rid,)):
        where = f"run {rid}: {r['kind']} {r['name']!r} ({r['rel_path']})"
        file = _inside(store, r["rel_path"])
        if file is None or not file.is_file():
            imp.report.lost("runs.artifacts", f"{where}: the file is {'outside the store' if file is None else 'missing'}")
            continue
        metadata = _map(_json(r["metadata"], "artifacts.metadata", imp), "artifacts.metadata", imp) or {}
        entry = {"id": r["id"], "name": r["name"], "kind": r["kind"], "step": r["step"], "blob": None, "shape": None,
                 "dtype": None, "metadata": metadata, "created_at": iso_from_text(r["created_at"])}
        if r["kind"] == "matrix":
            try:
                arr = np.load(file, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                imp.report.lost("runs.artifacts", f"{where}: not a numpy array without pickles ({exc})")
                continue
            entry.update(shape=list(arr.shape), dtype=arr.dtype.str)
            del arr
        elif r["kind"] == "text":
            try:
                file.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                imp.report.lost("runs.artifacts", f"{where}: not UTF-8 text")
                continue
            entry["metadata"] = {"format": "markdown", **metadata}
        else:
            imp.report.lost("runs.artifacts", f"{where}: unknown kind {r['kind']!r}")
            continue
        entry["blob"] = imp.put_file(file)
        out.append(entry)
    return out


def _models(imp: Import, store: Path, conn: sqlite3.Connection) -> dict[str, str]:
    """Every model whose files are in the store; Extract id -> gitvault model id."""
    out: dict[str, str] = {}
    rows = _rows(conn, "models", "created_at, id")
    named = {(r["name"], r["version"]) for r in rows}
    for folder in sorted(p for p in (store / "models").glob("*/*") if p.is_dir()):
        if (folder.parent.name, folder.name) not in named:
            imp.report.lost("models", f"{folder.relative_to(store)}: no model row names this folder: not imported")
    for r in rows:
        name, version = r["name"], r["version"]
        where = f"{name}@{version}"
        try:
            check_name(name, "model name")
            check_name(version, "model version")
            if "@" in name or "@" in version:
                raise ValueError("'@' separates a model's name from its version")
        except (VaultError, ValueError) as exc:
            imp.report.lost("models", f"{where}: not imported ({exc})")
            continue
        source = _model_files(store, name, version, r["artifact_path"])
        if source is None:
            imp.report.lost("models", f"{where}: its files are neither in {store / 'models' / name / version} nor at "
                            f"{r['artifact_path']}: not imported")
            continue
        record: dict[str, Any] = {"name": name, "version": version, "run_id": r["run_id"], "framework": r["framework"],
                                  "metadata": _map(_json(r["metadata"], "models.metadata", imp), "models.metadata", imp),
                                  "created_at": iso_from_text(r["created_at"]), "source_path": r["artifact_path"]}
        if source.is_dir():
            files = {f.relative_to(source).as_posix(): imp.put_file(f)
                     for f in sorted(p for p in source.rglob("*") if p.is_file())}
            record["files"] = files
            record["size"] = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        else:
            record["blob"] = imp.put_file(source)
            record["size"] = source.stat().st_size
        mid = records.model_id(name, version)
        imp.add("model", mid, record)
        if r["run_id"]:  # the edge `Store.register_model` makes from a run's model
            _edge(imp, "run", r["run_id"], "model", mid, "derived_from", {"name": name, "version": version},
                  record["created_at"])
        out[r["id"]] = mid
    return out


def _model_files(store: Path, name: str, version: str, artifact_path: str | None) -> Path | None:
    folder = _inside(store, f"models/{name}/{version}")
    if artifact_path:
        for candidate in ([folder / Path(artifact_path).name] if folder else []) + [Path(artifact_path)]:
            if candidate.exists():
                return candidate
    if folder is not None and folder.is_dir():
        inside = [p for p in folder.iterdir()]
        return inside[0] if len(inside) == 1 else folder
    return None


def _edge(imp: Import, parent_type: str, parent_id: str, child_type: str, child_id: str, relation: str,
          metadata: dict[str, Any] | None, created_at: str | None) -> None:
    lid = records.lineage_id(parent_type, parent_id, child_type, child_id, relation)
    imp.add("lineage", lid, {"parent_type": parent_type, "parent_id": parent_id, "child_type": child_type,
                             "child_id": child_id, "relation": relation, "metadata": metadata, "created_at": created_at})


def _lineage(imp: Import, conn: sqlite3.Connection, experiments: dict[str, tuple[str, str]], models: dict[str, str]) -> None:
    for r in _rows(conn, "lineage", "id"):
        ends = []
        for side in ("parent", "child"):
            kind, ident = r[f"{side}_type"], r[f"{side}_id"]
            if kind == "experiment" and ident in experiments:
                ident = experiments[ident][0]
            elif kind == "model" and ident in models:
                ident = models[ident]
            elif kind != "run":
                imp.report.lost("lineage", f"edge {r['id']}: {side} {kind} {ident!r} is not in the store (Extract keeps "
                                "the name it was given): kept as named")
            ends.append((kind, ident))
        (ptype, pid), (ctype, cid) = ends
        metadata = _map(_json(r["metadata"], "lineage.metadata", imp), "lineage.metadata", imp)
        _edge(imp, ptype, pid, ctype, cid, r["relation"], metadata, iso_from_text(r["created_at"]))


def _todos(imp: Import, conn: sqlite3.Connection, experiments: dict[str, tuple[str, str]]) -> None:
    for r in _rows(conn, "todos", "created_at, id"):
        scope_id = r["scope_id"]
        if r["scope_type"] == "experiment" and scope_id in experiments:
            scope_id = experiments[scope_id][0]
        elif r["scope_type"] == "experiment":
            imp.report.lost("todos.scope", f"TODO {r['id']}: its experiment {scope_id!r} is not in the store: kept as named")
        priority = r["priority"]
        if priority not in records.TODO_PRIORITIES:
            imp.report.lost("todos.priority", f"TODO {r['id']}: priority {priority!r} is not 0, 1 or 2: stored as "
                            f"{min(2, max(0, int(priority or 0)))}")
            priority = min(2, max(0, int(priority or 0)))
        imp.add("todo", r["id"], {"scope_type": r["scope_type"], "scope_id": scope_id, "content": r["content"],
                                  "priority": priority, "created_at": iso_from_text(r["created_at"]),
                                  "done": bool(r["done"]), "completed_at": iso_from_text(r["completed_at"])})

