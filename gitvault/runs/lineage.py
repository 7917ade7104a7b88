"""Lineage edges the SDK records (``run.derived_from``, ``run.branched_from``): one ``lineage``
record each, committed once (the same edge twice is one record).

The references are checked against the vault itself (the truth the edge is committed to), never
through the caches, so recording an edge from a live run opens no SQLite or DuckDB file.
"""

from __future__ import annotations

from typing import Any

from gitvault.names import check_name
from gitvault.storage import codec, records
from gitvault.storage.layout import check_id
from gitvault.storage.vault import Snapshot, Transaction, Vault


def add(vault: Vault, parent_type: str, parent_id: str, child_type: str, child_id: str, relation: str,
        metadata: dict[str, Any] | None = None) -> str:
    """Commit the edge child -> parent (unless it is there already); returns its id."""
    lid = records.lineage_id(parent_type, parent_id, child_type, child_id, relation)
    tx = Transaction(message=f"lineage: {child_type} {child_id} {relation} {parent_type} {parent_id}")
    tx.put("lineage", lid, {
        "parent_type": parent_type, "parent_id": parent_id, "child_type": child_type, "child_id": child_id,
        "relation": relation, "metadata": metadata, "created_at": codec.utc_now(),
    })

    def once(snap: Snapshot) -> None:
        if snap.has("lineage", lid):
            tx.writes.clear()

    tx.require(once)
    vault.commit(tx)
    return lid


def derived_from(vault: Vault, child_id: str, run: str | None = None, model: str | None = None,
                 version: str | None = None) -> str:
    """The run ``child_id`` derives from a run (its id) or a model (name with ``version``, which may
    be an alias such as ``best`` or ``latest``, or a model id)."""
    if (run is None) == (model is None):
        raise ValueError("derived_from needs exactly one of run= (a run id) or model= (a model name with version=, or a model id)")
    if run is not None:
        if version is not None:
            raise ValueError("version= only goes with model=")
        return add(vault, "run", _run_ref(run, child_id), "run", child_id, "derived_from")
    assert model is not None
    if version is not None:
        check_name(model, "model name")
        check_name(version, "model version")
        version = model_version(vault.snapshot(), model, version)
        return add(vault, "model", records.model_id(model, version), "run", child_id, "derived_from",
                   {"name": model, "version": version})
    try:
        check_id(model)
        known = vault.snapshot().has("model", model)
    except ValueError:
        known = False
    if not known:
        raise ValueError(f"no model with id {model!r}; to refer to a model by name pass version= too, "
                         f"e.g. derived_from(model={model!r}, version='v1')")
    return add(vault, "model", model, "run", child_id, "derived_from")


def model_versions(snap: Snapshot, name: str) -> dict[str, dict[str, Any]]:
    """version -> folded record, for every version of the model ``name`` in ``snap``."""
    out: dict[str, dict[str, Any]] = {}
    for mid in snap.ids("model"):
        record = snap.get("model", mid)
        if record.get("name") == name:
            out[str(record.get("version"))] = records.fold(record, snap.events("model", mid))
    return out


def model_version(snap: Snapshot, name: str, wanted: str) -> str:
    """The version ``wanted`` names: itself when registered (or unknown here: a model of another
    clone), else the version of the alias ``wanted`` (``best``, ``latest``), else ``3`` for ``v3``."""
    if snap.has("model", records.model_id(name, wanted)):
        return wanted
    versions = model_versions(snap, name)
    return records.version_named(wanted, versions, records.model_aliases(versions.values())) or wanted


def branched_from(vault: Vault, child_id: str, experiment: str | None = None, run: str | None = None) -> str:
    """The run ``child_id`` branches from an experiment (id or path) or another run (its id)."""
    if (experiment is None) == (run is None):
        raise ValueError("branched_from needs exactly one of experiment= (an experiment id or path) or run= (a run id)")
    if run is not None:
        return add(vault, "run", _run_ref(run, child_id), "run", child_id, "branched_from")
    if not isinstance(experiment, str):
        raise TypeError(f"experiment must be an experiment id or path, got {type(experiment).__name__}")
    snap = vault.snapshot()
    for eid in dict.fromkeys((experiment, records.experiment_id(experiment))):
        try:
            check_id(eid)
        except ValueError:
            continue
        if snap.has("experiment", eid):
            return add(vault, "experiment", eid, "run", child_id, "branched_from")
    raise ValueError(f"no experiment with id or path {experiment!r}")


def _run_ref(run: object, child_id: str) -> str:
    try:
        check_id(run)
    except ValueError:
        raise ValueError(f"run must be a run id (a ULID like 01J...), got {run!r}") from None
    assert isinstance(run, str)
    if run == child_id:
        raise ValueError("a run cannot derive or branch from itself")
    return run
