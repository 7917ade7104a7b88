"""Specimens (the Specimen Vault seed's ``create_specimen.py``): an experiment at the top level of
the hierarchy whose path is its specimen id, carrying taxonomy (domain x method from
``vault.toml``, model, tags). `create` validates everything, refuses a duplicate id, records the
manifest in ``refs/vault/main`` and scaffolds ``specimens/<id>/protocol.py`` and
``field_notes.md`` in the work tree. Those two files are ordinary code for the user to commit;
the seed's ``strata/`` results live in the vault instead (curves, tensors, frames as blobs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from gitvault.storage import codec, records
from gitvault.errors import RecordExistsError
from gitvault.names import check_specimen_id

if TYPE_CHECKING:
    from gitvault.runs.experiment import Experiment
    from gitvault.runs.store import Store

SPECIMENS_DIR = "specimens"
SCAFFOLD = {"protocol.py": "protocol.py.tmpl", "field_notes.md": "field_notes.md.tmpl"}


@dataclass
class Created:
    experiment: "Experiment"
    folder: Path | None
    files: list[Path] = field(default_factory=list)


def find(store: "Store", specimen_id: str) -> dict[str, Any] | None:
    """The experiment record carrying ``specimen_id``, if any."""
    snap = store.snapshot()
    by_path = records.experiment_id(specimen_id)
    if snap.has("experiment", by_path) and snap.get("experiment", by_path).get("specimen_id") == specimen_id:
        return snap.get("experiment", by_path)
    for eid in snap.ids("experiment"):
        record = snap.get("experiment", eid)
        if record.get("specimen_id") == specimen_id:
            return record
    return None


def spec_of(store: "Store", specimen_id: str) -> dict[str, str]:
    """The hierarchy spec of a specimen: its id at the first level."""
    return {store.hierarchy[0]: specimen_id}


def check_tags(tags: str | list[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags_text, tags = tags, [t.strip() for t in tags.split(",")]
        if any(t == "" for t in tags):
            raise ValueError(f"tags {tags_text!r} have an empty entry; write tags separated by commas, "
                             "e.g. gpt2,layer_12")
    return list(tags)


def create(store: "Store", specimen_id: str, domain: str, method: str, *, tags: str | list[str] | None = None,
           model: str | None = None, scaffold: bool = True) -> Created:
    """Create specimen ``specimen_id``; nothing is written unless every check passes."""
    check_specimen_id(specimen_id)
    if domain is None or method is None:
        raise ValueError("a specimen needs both a domain and a method (see [taxonomy] in vault.toml)")
    store.config.check_taxonomy(domain, method)
    tag_list = check_tags(tags)
    existing = find(store, specimen_id)
    if existing is not None:
        raise RecordExistsError(
            f"specimen {specimen_id!r} already exists (experiment {existing['path']!r}, created "
            f"{existing.get('created_at')}); specimens are never modified: choose a new id, e.g. {specimen_id}_v2"
        )
    spec = spec_of(store, specimen_id)
    if store.snapshot().has("experiment", records.experiment_id(specimen_id)):
        raise RecordExistsError(f"an experiment at path {specimen_id!r} already exists; choose another specimen id")
    folder = folder_of(store, specimen_id) if scaffold else None
    if folder is not None:
        clashes = [folder / name for name in SCAFFOLD if (folder / name).exists()]
        if clashes:
            raise RecordExistsError(
                f"{clashes[0]} already exists; a specimen's files are never overwritten: choose a new id "
                "or move the folder away"
            )
    experiment = store.experiment(spec, domain=domain, method=method, model=model, tags=tag_list,
                                  specimen_id=specimen_id)
    files = _scaffold(folder, experiment.record, spec) if folder is not None else []
    return Created(experiment=experiment, folder=folder, files=files)


def folder_of(store: "Store", specimen_id: str) -> Path | None:
    """``specimens/<id>/`` in the work tree (None in a repository without one)."""
    work_tree = store.vault.paths.work_tree
    return None if work_tree is None else Path(work_tree) / SPECIMENS_DIR / specimen_id


def render(template: str, record: dict[str, Any], spec: dict[str, str]) -> str:
    text = resources.files("gitvault.scaffold").joinpath("templates", template).read_text(encoding="utf-8")
    tags = list(record.get("tags") or [])
    return Template(text).substitute(
        specimen_id=record["specimen_id"], domain=record["domain"], method=record["method"],
        spec=repr(spec), model=repr(record.get("model")), tags=repr(tags),
        model_text=record.get("model") or "-", tags_text=", ".join(tags) or "-",
        created=record.get("created_at") or codec.utc_now(),
    )


def _scaffold(folder: Path, record: dict[str, Any], spec: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in SCAFFOLD.items():
        target = folder / name
        with target.open("x", encoding="utf-8") as fh:  # never overwrite
            fh.write(render(template, record, spec))
        written.append(target)
    return written
