"""The shape of every record kind, checked wherever a record enters (every decode).

A record pulled from a collaborator, fetched by plain ``git fetch`` or imported from an archive
may be wrongly typed (a ``metrics`` that is a string, a ``name`` that is a map). Such a record is
*quarantined*: `gitvault.storage.codec.decode` raises `InvalidRecordError` (a `CorruptRecordError`)
naming the record and the field, so every reader that skips damaged records skips it too (the
caches, sync, fsck, the MCP server), it stays in the vault untouched, and `git vault fsck` lists
it. Only shapes are checked, and only for fields this version knows: a field may be absent, and
unknown fields pass (records written by a newer gitvault keep working).
"""

from __future__ import annotations

import re
from typing import Any, Callable

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OPT = type(None)
_SCALAR = (str, int, float, bool, _OPT)
_NUMBER = (int, float, _OPT)

# field -> allowed Python types (None allowed where _OPT is listed)
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "run": {
        "experiment_id": (str,), "experiment_path": (str,), "name": (str, _OPT), "config": (dict, _OPT),
        "started_at": (str, _OPT), "ended_at": (str, _OPT), "status": (str,), "hostname": (str, _OPT),
        "git": (dict, _OPT), "env": (dict, _OPT), "total_steps": (int, _OPT), "metrics": (dict, _OPT),
        "params": (dict, _OPT), "curves": (dict, _OPT), "artifacts": (list, _OPT), "tags": (list, _OPT),
        "notes": (list, _OPT), "argv": (list, _OPT), "redacted": (list, _OPT),
    },
    "experiment": {
        "path": (str,), "name": (str, _OPT), "parent_id": (str, _OPT), "node_type": (str, _OPT),
        "created_at": (str, _OPT), "metadata": (dict, _OPT), "status": (str, _OPT), "tags": (list, _OPT),
        "notes": (list, _OPT), "specimen_id": (str, _OPT), "domain": (str, _OPT), "method": (str, _OPT), "model": (str, _OPT),
    },
    "model": {
        "name": (str,), "version": (str,), "run_id": (str, _OPT), "framework": (str, _OPT),
        "metadata": (dict, _OPT), "created_at": (str, _OPT), "blob": (str, _OPT), "files": (dict, _OPT),
        "size": (int, _OPT),
    },
    "lineage": {
        "parent_type": (str,), "parent_id": (str,), "child_type": (str,), "child_id": (str,),
        "relation": (str,), "metadata": (dict, _OPT), "created_at": (str, _OPT),
    },
    "todo": {
        "scope_type": (str,), "scope_id": (str, _OPT), "content": (str,), "priority": (int, _OPT),
        "created_at": (str, _OPT), "done": (bool, _OPT), "completed_at": (str, _OPT),
    },
    "link": {"run_id": (str,), "commit": (str,), "tree": (str, _OPT), "via": (str, _OPT), "created_at": (str, _OPT)},
    "event": {"type": (str,), "target_kind": (str,), "target_id": (str,), "created_at": (str, _OPT),
              "data": (dict, _OPT)},
}

def _names(allowed: tuple[type, ...]) -> str:
    words = {str: "text", int: "an integer", float: "a number", bool: "true/false", dict: "a map",
             list: "a list", _OPT: "null"}
    return " or ".join(words[t] for t in allowed)


def _typed(field: str, value: Any, expected: str) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"field {field!r} is {type(value).__name__} {shown}, expected {expected}"


Check = Callable[[str, Any], "str | None"]
"""A field's deeper check: ``check(field, value)`` -> the problem, naming the field, or None
(called with a value of the field's own type, never None)."""


def _each(allowed: tuple[type, ...], item: Callable[[str, Any, Any], str | None] | None = None) -> Check:
    """Every entry of a list, or every value of a map, is one of ``allowed`` (and passes ``item``)."""
    expected = _names(allowed)

    def check(name: str, value: Any) -> str | None:
        for key, entry in value.items() if isinstance(value, dict) else enumerate(value):
            if not isinstance(entry, allowed):
                return _typed(f"{name}[{key!r}]", entry, expected)
            if item is not None:
                found = item(name, key, entry)
                if found:
                    return found
        return None

    return check


def _fields(spec: dict[str, tuple[type, ...]], blobs: tuple[str, ...] = ()) -> Check:
    """A nested map's known fields have their types (those in ``blobs`` hold blob ids)."""
    def check(name: str, value: Any) -> str | None:
        for sub, allowed in spec.items():
            if sub in value:
                found = value[sub]
                if not isinstance(found, allowed):
                    return _typed(f"{name}.{sub}", found, _names(allowed))
                if sub in blobs and isinstance(found, str) and not _SHA256.match(found):
                    return _typed(f"{name}.{sub}", found, "a sha256 blob id")
        return None

    return check


def _blob_id(name: str, value: Any) -> str | None:
    return None if _SHA256.match(value) else _typed(name, value, "a sha256 blob id")


def _artifact(name: str, key: Any, item: dict[str, Any]) -> str | None:
    """A run's artifact entry: its blob id and the fields files and images carry (`gitvault.runs.media`)."""
    blob = item.get("blob")
    if blob is not None and not (isinstance(blob, str) and _SHA256.match(blob)):
        return _typed(f"{name}[{key}].blob", blob, "a sha256 blob id")
    for sub, allowed in _ARTIFACT_FIELDS.items():
        if sub in item and not isinstance(item[sub], allowed):
            return _typed(f"{name}[{key}].{sub}", item[sub], _names(allowed))
    return None


def _file_blob(name: str, key: Any, sha: str) -> str | None:
    return None if _SHA256.match(sha) else _typed(f"{name}[{key!r}]", sha, "a sha256 blob id")


_ARTIFACT_FIELDS: dict[str, tuple[type, ...]] = {"name": (str,), "kind": (str,), "step": (int, _OPT),
                                                 "size": (int, _OPT), "metadata": (dict, _OPT)}

# (kind, field) -> what more than the field's own type is checked
_CHECKS: dict[tuple[str, str], Check] = {
    ("run", "metrics"): _each((dict, *_SCALAR)),
    ("run", "params"): _each(_SCALAR),
    ("run", "artifacts"): _each((dict,), _artifact),
    ("run", "tags"): _each((str,)),
    ("run", "notes"): _each((dict, str)),
    ("run", "argv"): _each((str,)),
    ("run", "redacted"): _each((dict,)),
    ("run", "git"): _fields({"sha": (str, _OPT), "branch": (str, _OPT), "dirty": (bool, _OPT),
                             "patch": (str, _OPT), "tree": (str, _OPT)}, blobs=("patch",)),
    ("run", "curves"): _fields({"blob": (str, _OPT), "names": (list, _OPT), "points": (int, _OPT),
                                "last_step": _NUMBER, "inline": (bool, _OPT)}, blobs=("blob",)),
    ("experiment", "tags"): _each((str,)),
    ("experiment", "notes"): _each((dict, str)),
    ("model", "blob"): _blob_id,
    ("model", "files"): _each((str,), _file_blob),
}

# (event type) -> fields of its ``data`` (events of other types: only ``data`` being a map is checked)
_EVENT_DATA: dict[str, dict[str, tuple[type, ...]]] = {
    "alias": {"alias": (str,)}, "unalias": {"alias": (str,)},  # model aliases (records.model_aliases)
}

KINDS = tuple(_FIELDS)

# kind -> (field, allowed types, deeper check or None) of each field, in the order problems are looked for
_SPEC: dict[str, tuple[tuple[str, tuple[type, ...], Check | None], ...]] = {
    kind: tuple((name, allowed, _CHECKS.get((kind, name))) for name, allowed in fields.items())
    for kind, fields in _FIELDS.items()
}
_MISSING = object()


def problem(record: dict[str, Any]) -> str | None:
    """None when ``record`` has the shape of its kind, else the first problem, naming the field."""
    kind = record.get("kind")
    if kind is None:
        return None  # not a record (a spool frame, a header)
    if not isinstance(kind, str):
        return _typed("kind", kind, "text")
    spec = _SPEC.get(kind)
    if spec is None:
        return None  # a kind from a newer gitvault: passed on untouched
    if not isinstance(record.get("id"), str):
        return _typed("id", record.get("id"), "text")
    for name, allowed, check in spec:
        value = record.get(name, _MISSING)
        if value is _MISSING:
            continue
        if not isinstance(value, allowed):
            return _typed(name, value, _names(allowed))
        if check is not None and value is not None:
            found = check(name, value)
            if found:
                return found
    if kind == "event" and isinstance(record.get("data"), dict):
        for sub, allowed in _EVENT_DATA.get(str(record.get("type")), {}).items():
            if not isinstance(record["data"].get(sub), allowed):
                return _typed(f"data.{sub}", record["data"].get(sub), _names(allowed))
    return None
