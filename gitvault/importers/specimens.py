"""Importing a Specimen Vault repository (the seed's layout: ``specimens/<id>/manifest.msgpack``,
``strata/metrics.parquet``, ``strata/<name>.zarr``, ``field_notes.md``, ``protocol.py``), read with
msgpack, pyarrow and zarr.

| Specimen Vault                          | gitvault                                                        |
|-----------------------------------------|-----------------------------------------------------------------|
| a specimen (its manifest)               | an experiment at the first hierarchy level named by its id, with specimen_id, domain, method, model, tags; the manifest's other fields in ``metadata`` |
| its results (``strata/``)               | one run of that experiment, id derived from the specimen id, dated by the manifest's ``created`` (else the files' times) |
| ``strata/metrics.parquet``              | the run's curves (``step`` column, else the row number; reported), each column's last value a headline metric; a table with other columns is also kept whole as a ``metrics`` artifact |
| ``strata/<name>.zarr``                  | ``tensor`` artifacts, Zarr v3 in a zip written deterministically (the same array gives the same sha256), read lazily afterwards |
| other ``strata/*.parquet``              | ``metrics`` artifacts                                           |
| ``field_notes.md``                      | a note of the run                                               |
| ``protocol.py``                         | a ``text`` artifact of the run                                  |
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from gitvault.errors import VaultError
from gitvault.importers.plan import Import, curve_blocks, iso_from_seconds, iso_from_text
from gitvault.names import check_specimen_id, stable_id

TAXONOMY = ("specimen_id", "domain", "method", "model", "tags")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def import_store(imp: Import, path: Path) -> None:
    """Read every specimen under ``path`` (the repository, or its ``specimens/`` folder)."""
    folder = path / "specimens" if (path / "specimens").is_dir() else path
    found = sorted(p.parent for p in folder.glob("*/manifest.msgpack"))
    if not found:
        raise VaultError(f"{path} holds no specimens (no specimens/<id>/manifest.msgpack); give a Specimen Vault "
                         "repository or its specimens/ folder")
    for i, specimen in enumerate(found, 1):
        _specimen(imp, specimen)
        imp.progress("reading runs", i, len(found))


def _manifest(imp: Import, folder: Path) -> dict[str, Any] | None:
    import msgpack

    try:
        data = msgpack.unpackb((folder / "manifest.msgpack").read_bytes(), raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        imp.report.lost("specimens", f"{folder.name}: manifest.msgpack unreadable ({exc}): not imported")
        return None
    if not isinstance(data, dict):
        imp.report.lost("specimens", f"{folder.name}: manifest.msgpack is not a map: not imported")
        return None
    return {str(k): v for k, v in data.items()}


def _specimen(imp: Import, folder: Path) -> None:
    from gitvault.runs import artifacts

    manifest = _manifest(imp, folder)
    if manifest is None:
        return
    specimen_id = str(manifest.get("specimen_id") or folder.name)
    try:
        check_specimen_id(specimen_id)
    except (VaultError, ValueError) as exc:
        imp.report.lost("specimens", f"{folder.name}: {exc}: not imported")
        return
    strata = folder / "strata"
    files = sorted(p for p in strata.rglob("*") if p.is_file()) if strata.is_dir() else []
    stamps = [p.stat().st_mtime for p in files] or [(folder / "manifest.msgpack").stat().st_mtime]
    created = iso_from_text(str(manifest.get("created") or "")) or iso_from_seconds(min(stamps))
    domain, method = manifest.get("domain"), manifest.get("method")
    try:
        imp.vault.config().check_taxonomy(domain, method)
    except (VaultError, ValueError) as exc:
        imp.report.lost("specimens.taxonomy", f"{specimen_id}: {exc} (kept as the manifest says)")
    tags = manifest.get("tags") or []
    tags = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else [str(t) for t in tags]
    notes_file = folder / "field_notes.md"
    notes = notes_file.read_text(encoding="utf-8") if notes_file.is_file() else None
    metadata = artifacts.check_json({k: v for k, v in manifest.items() if k not in TAXONOMY + ("created",)},
                                    f"{specimen_id} manifest")
    eid, path = imp.experiment([specimen_id], created, leaf={
        "specimen_id": specimen_id, "domain": domain, "method": method, "model": manifest.get("model"),
        "tags": tags, "metadata": metadata or None})
    rid = stable_id("import-specimen", specimen_id)
    items: list[dict[str, Any]] = []
    blocks: list[Any] = []
    metrics: dict[str, Any] = {}
    for file in files:
        rel = file.relative_to(strata).as_posix()
        if ".zarr/" in rel + "/":
            continue
        if rel == "metrics.parquet":
            blocks, metrics, whole = _curves(imp, specimen_id, file)
            if whole:
                items.append(_table(imp, rid, "metrics", file, created))
        elif file.suffix == ".parquet":
            items.append(_table(imp, rid, rel[: -len(".parquet")], file, created))
        else:
            entry = imp.file_artifact(rid, rel, file, created, "runs.artifacts")
            if entry is not None:
                items.append(entry)
    for tensor in sorted(p for p in strata.glob("*.zarr") if p.is_dir()) if strata.is_dir() else []:
        entry = _tensor(imp, rid, tensor, created)
        if entry is not None:
            items.append(entry)
    for other in sorted(p for p in folder.iterdir() if p.name not in ("manifest.msgpack", "protocol.py",
                                                                       "field_notes.md", "strata")):
        imp.report.lost("specimens", f"{specimen_id}: {other.name} (beside the specimen's manifest) not imported")
    protocol = folder / "protocol.py"
    if protocol.is_file():
        items.append({"id": stable_id("import-artifact", rid, "protocol.py"), "name": "protocol.py", "kind": "text",
                      "step": None, "blob": imp.put_file(protocol), "shape": None, "dtype": None,
                      "metadata": {"format": "python"}, "created_at": created})
    if not blocks and not files:
        imp.report.lost("specimens", f"{specimen_id}: strata/ holds nothing: the run has no results")
    ended = iso_from_seconds(max(stamps))
    state = {"id": rid, "experiment_id": eid, "experiment_path": path, "name": specimen_id, "config": {},
             "started_at": min(created, ended), "hostname": None, "git": {}, "env": {}, "total_steps": None,
             "metrics": metrics, "params": {}, "artifacts": items, "tags": [],
             "notes": [{"content": notes, "created_at": created}] if notes else []}
    imp.run_record(state, blocks, "completed", ended)


def _curves(imp: Import, specimen_id: str, file: Path) -> tuple[list[Any], dict[str, Any], bool]:
    """The curves of metrics.parquet, its columns' last values, and whether the table has more
    than curves (then it is also kept whole)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        imp.report.lost("runs.curves", f"{specimen_id}: strata/metrics.parquet unreadable ({exc})")
        return [], {}, False
    if "step" in table.column_names:
        steps = np.asarray(table.column("step").to_numpy(zero_copy_only=False), dtype=np.int64)
    else:
        steps = np.arange(table.num_rows, dtype=np.int64)
        imp.report.lost("runs.curves", f"{specimen_id}: metrics.parquet has no step column: steps are row numbers")
    whole = False
    points = []
    metrics: dict[str, Any] = {}
    for name in table.column_names:
        if name == "step":
            continue
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            imp.report.lost("runs.curves", f"{specimen_id}: column {name!r} ({column.type}) is no number: kept in "
                            "the run's metrics table, not as a curve")
            whole = True
            continue
        valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        if valid.any():
            points.append((name, steps[valid], values[valid], np.full(int(valid.sum()), np.nan)))
            metrics[name] = {"value": float(values[valid][-1]), "wall_time": None}
    imp.report.lost("runs.wall_time", f"{specimen_id}: metrics.parquet holds no times: the points' wall times are empty")
    return curve_blocks(points), metrics, whole


def _table(imp: Import, rid: str, name: str, file: Path, created: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(file)
    return {"id": stable_id("import-artifact", rid, name), "name": name, "kind": "metrics", "step": None,
            "blob": imp.put_file(file), "shape": [meta.num_rows, meta.num_columns], "dtype": None,
            "metadata": {"columns": meta.schema.to_arrow_schema().names}, "created_at": created}


def _tensor(imp: Import, rid: str, folder: Path, created: str) -> dict[str, Any] | None:
    from gitvault import extras

    extras.require("tensors", "importing Specimen Vault tensors (Zarr)")
    import zarr

    name = folder.name[: -len(".zarr")]
    try:
        source = zarr.open_array(folder, mode="r")
    except Exception as exc:  # zarr raises several unrelated types for a folder that is no array
        imp.report.lost("runs.artifacts", f"tensor {folder}: not a Zarr array ({exc}): not imported")
        return None
    with tempfile.TemporaryDirectory(prefix="gitvault-tensor-") as tmp:
        zipped = Path(tmp) / "tensor.zip"
        deterministic_zarr_zip(source, zipped)
        sha = imp.put_file(zipped)
    return {"id": stable_id("import-artifact", rid, name), "name": name, "kind": "tensor", "step": None, "blob": sha,
            "shape": list(source.shape), "dtype": source.dtype.str, "metadata": {"format": "zarr-v3-zip"},
            "created_at": created}


def deterministic_zarr_zip(source: Any, out: Path) -> None:
    """Write ``source`` (a zarr array) to ``out``, a zip holding a Zarr v3 array, byte for byte the
    same for the same array every time: written to a folder (chunk by chunk along the first axis), then zipped with
    sorted names and fixed times (a zarr ZipStore stamps the time of writing). Opened in place by
    `gitvault.runs.artifacts.open_tensor` as every tensor blob is."""
    import zarr

    from gitvault.runs import artifacts

    with tempfile.TemporaryDirectory(prefix="gitvault-tensor-") as tmp:
        chunks = artifacts.default_chunks(tuple(source.shape), source.dtype.itemsize)
        target = zarr.create_array(store=tmp, shape=source.shape, chunks=chunks, dtype=source.dtype)
        step = chunks[0] if chunks else 1
        if source.ndim == 0:
            target[...] = source[...]
        for start in range(0, source.shape[0] if source.ndim else 0, step):
            target[start:start + step] = source[start:start + step]
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in sorted(Path(tmp).rglob("*")):
                if file.is_file():
                    info = zipfile.ZipInfo(file.relative_to(tmp).as_posix(), date_time=ZIP_TIME)
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, file.read_bytes())

