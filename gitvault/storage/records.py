"""The record kinds of the vault and how later events fold into a record's current view.

Record fields (every record also has ``kind``, ``id`` and ``schema``; times are UTC ISO-8601):

- ``experiment`` (id = `stable_id("experiment", path)`, so clones creating one path converge):
  ``path, name, parent_id, node_type, created_at, metadata, status, specimen_id, domain, method,
  model, tags``. Events: ``tag``, ``note``, ``archive`` / ``unarchive``, ``delete`` / ``restore``.
- ``run`` (ULID id; written once, when sealed): ``experiment_id, experiment_path, name, config,
  started_at, ended_at, status, hostname, git{sha, branch, dirty, patch, tree}, env{python,
  platform, packages}, total_steps, metrics{name: {value, wall_time}}, params{name: str},
  curves{blob, names, points, last_step}, artifacts[{id, name, kind, step, blob, shape, dtype,
  metadata, created_at}], tags[], notes[{content, created_at}]``. Artifacts of the kinds
  `FILE_KINDS` (``file``, ``image``: `gitvault.runs.media`) also hold ``size`` (the blob's bytes)
  and ``metadata{media_type, width, height, caption, folder}`` (`file_item`).
  Events: ``tag`` / ``untag`` {tags}, ``note`` {content}, ``unnote`` {content, created_at} (the
  undo of a note), ``archive`` / ``unarchive`` {}, ``rename`` {name}, ``status`` {status} (a
  terminal status: mark completed or failed; archived is a flag, never a status), ``delete`` /
  ``restore`` {} (a tombstone: the view's ``deleted``; the record and its blobs stay, so a
  restore brings it back whole; the caches leave a deleted record out, `cache.loading.hide_deleted`).
- ``model`` (id = `stable_id("model", name, version)`): ``name, version, run_id, framework,
  metadata, created_at, blob`` (a file) or ``files{relpath: sha}`` (a directory), ``size``.
  Versions given by nobody are integers as text (``"1"``, ``"2"``: `next_model_version`).
  Events: ``alias`` {alias} (the alias now names this version) and ``unalias`` {alias}. An alias is
  a fact about a model *name*, so it is resolved across the events of all its versions
  (`model_aliases`): the latest event by (created_at, event id) wins, whichever clone wrote it,
  so every clone folds the same aliases after a merge. ``latest`` is never an event: it is the
  version registered last (`LATEST`).
- ``lineage`` (id from its endpoints): ``parent_type, parent_id, child_type, child_id, relation,
  metadata, created_at``.
- ``todo`` (ULID id): ``scope_type, scope_id, content, priority, created_at, done, completed_at``.
  Events: ``done`` {completed_at}, ``undone`` {} (its undo: done False, completed_at None),
  ``priority`` {priority} (0, 1 or 2), ``delete`` / ``restore`` {}.
- ``link`` (id = `stable_id("link", run_id, commit)`): ``run_id, commit, tree, via, created_at``.

Events are folded in (created_at, event id) order, so every clone computes the same view.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any, Collection, Iterable, Mapping

from gitvault.storage import layout
from gitvault.names import stable_id

if TYPE_CHECKING:
    from gitvault.storage.blobs import BlobStore
    from gitvault.storage.vault import Snapshot

RUN_STATUSES = ("running", "completed", "failed", "crashed")
TERMINAL_STATUSES = ("completed", "failed", "crashed")
NODE_TYPES = ("experiment", "run", "model")
RELATIONS = ("derived_from", "branched_from")
DELETABLE = ("run", "experiment", "todo")
"""Kinds a ``delete`` event hides (a tombstone) and a ``restore`` event brings back."""
TODO_PRIORITIES = (0, 1, 2)
LATEST = "latest"
"""The alias every model name has: the version registered last (by created_at, then version)."""


def experiment_id(path: str) -> str:
    return stable_id("experiment", path)


def model_id(name: str, version: str) -> str:
    return stable_id("model", name, version)


def lineage_id(parent_type: str, parent_id: str, child_type: str, child_id: str, relation: str) -> str:
    return stable_id("lineage", parent_type, parent_id, child_type, child_id, relation)


def link_id(run_id: str, commit: str) -> str:
    return stable_id("link", run_id, commit)


def fold(record: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The current view of a record: the sealed record plus its events, in order."""
    view = copy.deepcopy(record)
    kind = record.get("kind")
    if kind in ("run", "experiment"):
        view["tags"] = list(view.get("tags") or [])
        view["notes"] = list(view.get("notes") or [])
    for event in events:
        etype, data = event.get("type"), event.get("data") or {}
        if etype == "tag":
            for tag in data.get("tags", []):
                if tag not in view["tags"]:
                    view["tags"].append(tag)
        elif etype == "untag":
            view["tags"] = [t for t in view.get("tags") or [] if t not in data.get("tags", [])]
        elif etype == "note":
            note = {"content": data.get("content", ""), "created_at": event.get("created_at")}
            if note not in view["notes"]:  # a merge re-adds a losing version's notes as events
                view["notes"].append(note)
        elif etype == "unnote":  # the undo of a note: the note with that content and time goes
            gone = {"content": data.get("content", ""), "created_at": data.get("created_at")}
            view["notes"] = [n for n in view.get("notes") or [] if n != gone]
        elif etype == "archive":
            view["archived"] = True
        elif etype == "unarchive":
            view["archived"] = False
        elif etype in ("delete", "restore") and kind in DELETABLE:
            view["deleted"] = etype == "delete"
        elif etype == "rename" and kind == "run" and isinstance(data.get("name"), (str, type(None))):
            view["name"] = data.get("name")
        elif etype == "status" and kind == "run" and data.get("status") in TERMINAL_STATUSES:
            view["status"] = data["status"]
        elif etype in ("alias", "unalias") and kind == "model" and isinstance(data.get("alias"), str):
            view.setdefault("alias_events", []).append({
                "alias": data["alias"], "set": etype == "alias", "at": event.get("created_at") or "",
                "event": event.get("id") or ""})
        elif etype == "done" and kind == "todo":
            if not view.get("done"):
                view["done"] = True
                view["completed_at"] = data.get("completed_at") or event.get("created_at")
        elif etype == "undone" and kind == "todo":
            view["done"] = False
            view["completed_at"] = None
        elif etype == "priority" and kind == "todo" and data.get("priority") in TODO_PRIORITIES \
                and type(data.get("priority")) is int:
            view["priority"] = data["priority"]
    return view


def is_deleted(view: Mapping[str, Any]) -> bool:
    """True when a folded record carries a tombstone (its latest delete/restore event is a delete)."""
    return bool(view.get("deleted"))


def next_model_version(versions: Iterable[str]) -> str:
    """The version a model registered without one gets: one more than the largest integer version
    of its name (``"1"`` for the first); versions that are not integers (``"v1.0"``) are skipped."""
    numbers = [int(v) for v in versions if isinstance(v, str) and v.isdigit()]
    return str(max(numbers, default=0) + 1)


def version_named(wanted: str, versions: Collection[str], aliases: Mapping[str, str]) -> str | None:
    """The version of a model that ``wanted`` names: itself when registered, else the version its
    alias names (``best``, `LATEST`), else ``3`` for ``v3``; None when none of them is registered."""
    for version in (wanted, aliases.get(wanted), wanted[1:] if wanted[:1] in "vV" else None):
        if version and version in versions:
            return version
    return None


def model_aliases(versions: Iterable[dict[str, Any]]) -> dict[str, str]:
    """alias -> version for one model name, from its versions' folded records: each alias as its
    latest ``alias``/``unalias`` event says (by created_at, then event id: deterministic on every
    clone), plus `LATEST`, the version registered last. Sorted by alias."""
    latest: dict[str, tuple[str, str, bool, str]] = {}
    newest: tuple[str, str] | None = None
    for record in versions:
        version = str(record.get("version"))
        stamp = (str(record.get("created_at") or ""), version)
        if newest is None or stamp > newest:
            newest = stamp
        for ev in record.get("alias_events") or []:
            if not isinstance(ev, dict) or not isinstance(ev.get("alias"), str):
                continue
            key = (str(ev.get("at") or ""), str(ev.get("event") or ""))
            have = latest.get(ev["alias"])
            if have is None or key > have[:2]:
                latest[ev["alias"]] = (key[0], key[1], bool(ev.get("set")), version)
    out = {alias: v for alias, (_, _, on, v) in latest.items() if on and alias != LATEST}
    if newest is not None:
        out[LATEST] = newest[1]
    return dict(sorted(out.items()))


FILE_KINDS = ("file", "image")
"""Artifact kinds that are files a person opens: ``log_file``'s and ``log_image``/``log_figure``'s."""


def file_item(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """A file or image artifact in the fields every reader lists: name, kind, step, size,
    media_type, width, height (images), caption, folder (a logged folder's name), blob, created_at."""
    found = artifact.get("metadata")
    meta: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return {"name": artifact.get("name"), "kind": artifact.get("kind"), "step": artifact.get("step"),
            "size": artifact.get("size"), "media_type": meta.get("media_type"), "width": meta.get("width"),
            "height": meta.get("height"), "caption": meta.get("caption"), "folder": meta.get("folder"),
            "blob": artifact.get("blob"), "created_at": artifact.get("created_at")}


def file_items(artifacts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run's files and images (`file_item`), the latest of each (name, step), by name then step
    (an untagged one first)."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for artifact in artifacts:
        if artifact.get("kind") in FILE_KINDS and isinstance(artifact.get("name"), str):
            step = artifact.get("step")
            latest[(artifact["name"], -1 if step is None else int(step))] = file_item(artifact)
    return [latest[key] for key in sorted(latest)]


def notes_text(view: dict[str, Any]) -> str:
    """Notes as the seed stores them: newline-separated plain text."""
    return "\n".join(n["content"] if isinstance(n, dict) else str(n) for n in view.get("notes") or [])


def blob_refs(record: dict[str, Any]) -> list[str]:
    """Every blob sha256 a record (of any kind) references; fsck, gc and sync use this."""
    refs: list[str] = []
    kind = record.get("kind")
    if kind == "run":
        patch = (record.get("git") or {}).get("patch")
        if patch:
            refs.append(patch)
        curves_info = record.get("curves") or {}
        if curves_info.get("blob") and not curves_info.get("inline"):  # inline: held by the vault
            refs.append(curves_info["blob"])
        refs.extend(a["blob"] for a in record.get("artifacts") or [] if a.get("blob"))
    elif kind == "model":
        if record.get("blob"):
            refs.append(record["blob"])
        refs.extend((record.get("files") or {}).values())
    return refs


def materialize_curves(snap: "Snapshot", blobs: "BlobStore", record: dict[str, Any]) -> bool:
    """Copy a run's curves table committed with its record into the blob store, if it is not
    there yet; False when the vault does not hold it whole (a problem for `git vault fsck`)."""
    info = record.get("curves") or {}
    sha = info.get("blob")
    if not info.get("inline") or not sha:
        return True
    if blobs.has(sha):
        return True
    blob = snap.blob_at(layout.entity_dir("run", record["id"]) + (layout.CURVES_FILE,))
    if blob is None or hashlib.sha256(blob.data).hexdigest() != sha:
        return False
    blobs.put_bytes(blob.data)
    return True
