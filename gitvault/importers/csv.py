"""Importing CSV logs: Lightning's ``CSVLogger`` folders (``<save_dir>/<name>/version_<n>/`` with
``metrics.csv``, a ``step`` column, one column per logged metric, an empty cell where a row did not
log it, and ``hparams.yaml``), and any CSV with a step column (``--step-column``), read with the
standard library's csv module.

| source                                  | gitvault                                                       |
|-----------------------------------------|----------------------------------------------------------------|
| one ``metrics.csv`` (or CSV file)       | one run: named ``version_<n>`` (or the file's stem), id derived from its name and the files' bytes (so importing again adds nothing) |
| the logger's folder ``<name>``          | the experiment (``--experiment`` to choose one)                |
| every other column                      | a curve (empty cells: no point); its last value the headline metric |
| ``hparams.yaml``                        | config                                                         |
| the files' modification times           | started (hparams.yaml) and ended (metrics.csv): a CSV holds no times (reported) |
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from typing import Any

from gitvault.errors import VaultError
from gitvault.importers.plan import Import, curve_blocks, iso_from_seconds, same_step_values
from gitvault.names import stable_id

LIGHTNING_FILE = "metrics.csv"
HPARAMS_FILE = "hparams.yaml"


def import_store(imp: Import, path: Path, experiment: str | None = None, step_column: str | None = None) -> None:
    """Read the CSV logs at ``path`` (a file, or a folder searched for Lightning's ``metrics.csv``,
    and for every ``*.csv`` when ``step_column`` is given) into ``imp``."""
    files = _files(path, step_column)
    if not files:
        raise VaultError(f"{path} holds no {LIGHTNING_FILE} (Lightning's CSVLogger); for other CSV files name their "
                         "step column with --step-column")
    prefix = [p for p in (experiment or "").split("/") if p]
    for i, file in enumerate(files, 1):
        _run(imp, file, prefix, step_column or "step")
        imp.progress("reading runs", i, len(files))
    imp.report.lost("runs.wall_time", f"{len(files)} run(s): a CSV holds no times: every point's wall time is empty, "
                    "and runs are dated by their files' modification times")


def _files(path: Path, step_column: str | None) -> list[Path]:
    if path.is_file():
        return [path]
    pattern = "*.csv" if step_column else LIGHTNING_FILE
    return sorted(p for p in path.rglob(pattern) if p.is_file())


def _run(imp: Import, file: Path, prefix: list[str], step_column: str) -> None:
    import numpy as np

    lightning = file.name == LIGHTNING_FILE
    name = file.parent.name if lightning else file.stem
    hparams = file.parent / HPARAMS_FILE if lightning else None
    parts = prefix or [(file.parent.parent if lightning else file.parent).name]
    data = file.read_bytes()
    extra = hparams.read_bytes() if hparams is not None and hparams.is_file() else b""
    rid = stable_id("import-csv", name, hashlib.sha256(data).hexdigest(), hashlib.sha256(extra).hexdigest())
    started = iso_from_seconds((hparams if extra and hparams else file).stat().st_mtime)
    ended = iso_from_seconds(file.stat().st_mtime)
    eid, exp_path = imp.experiment(parts, started)
    columns = _columns(imp, file, data, step_column)
    blocks_in = []
    metrics: dict[str, Any] = {}
    for column, (steps, values) in columns.items():
        if not steps:
            continue
        order = np.argsort(np.asarray(steps), kind="stable")
        s, v = np.asarray(steps)[order], np.asarray(values)[order]
        for line in same_step_values(column, s, v):
            imp.report.lost("runs.curves", f"{file}: {line}")
        blocks_in.append((column, s, v, np.full(len(s), np.nan)))
        metrics[column] = {"value": float(v[-1]), "wall_time": None}
    state: dict[str, Any] = {"id": rid, "experiment_id": eid, "experiment_path": exp_path, "name": name,
             "config": _hparams(imp, hparams) if extra and hparams else {}, "started_at": started, "hostname": None,
             "git": {}, "env": {"source_file": str(file)}, "total_steps": None, "metrics": metrics, "params": {},
             "artifacts": [], "tags": [], "notes": []}
    imp.run_record(state, curve_blocks(blocks_in), "completed", ended)


def _columns(imp: Import, file: Path, data: bytes, step_column: str) -> dict[str, tuple[list[int], list[float]]]:
    """column -> (steps, values) of its non-empty cells; what cannot be read is reported."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VaultError(f"{file} is not UTF-8 text; a CSV log is expected") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise VaultError(f"{file} is empty; a CSV with a header row is expected")
    if step_column not in header:
        raise VaultError(f"{file} has no column {step_column!r} (its columns: {', '.join(header[:8])}); name the step "
                         "column with --step-column")
    at = header.index(step_column)
    out: dict[str, tuple[list[int], list[float]]] = {c: ([], []) for i, c in enumerate(header) if i != at}
    bad: dict[str, int] = {}
    for number, row in enumerate(reader, 2):
        if not row:
            continue
        try:
            step = float(row[at])
            if not step.is_integer() or step < 0:
                raise ValueError
        except (ValueError, IndexError):
            imp.report.lost("runs.curves", f"{file} line {number}: step {row[at] if at < len(row) else ''!r} is not a "
                            "whole number >= 0: the row is not imported")
            continue
        if len(row) > len(header) and any(row[len(header):]):
            imp.report.lost("runs.curves", f"{file} line {number}: {len(row) - len(header)} cell(s) past the header's "
                            f"{len(header)} columns: not imported")
        for i, cell in enumerate(row[:len(header)]):
            if i == at or cell == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                bad[header[i]] = bad.get(header[i], 0) + 1
                continue
            steps, values = out[header[i]]
            steps.append(int(step))
            values.append(value if not math.isnan(value) else math.nan)
    for column, n in bad.items():
        imp.report.lost("runs.curves", f"{file}: column {column!r}: {n} cell(s) are not numbers: not imported")
    return out


def _hparams(imp: Import, path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        imp.report.lost("runs.config", f"{path}: not read (reading hparams.yaml needs PyYAML: pip install pyyaml)")
        return {}
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        imp.report.lost("runs.config", f"{path}: not read ({str(exc).splitlines()[0]})")
        return {}
    if value is None:
        return {}
    if not isinstance(value, dict):
        imp.report.lost("runs.config", f"{path}: not a mapping: kept as {{'value': ...}}")
        return {"value": value}
    from gitvault.runs import artifacts

    try:
        return dict(artifacts.check_json(value, f"{path}"))
    except TypeError as exc:
        imp.report.lost("runs.config", f"{path}: {exc}: not imported")
        return {}
