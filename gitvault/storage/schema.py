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
from typing import Any

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

# (kind, field) -> the shape of each entry of a list, or of each value of a map
_ENTRIES: dict[tuple[str, str], tuple[type, ...]] = {
    ("run", "metrics"): (dict, *_SCALAR), ("run", "params"): _SCALAR, ("run", "artifacts"): (dict,),
    ("run", "tags"): (str,), ("run", "notes"): (dict, str), ("run", "argv"): (str,), ("run", "redacted"): (dict,),
    ("experiment", "tags"): (str,),
    ("experiment", "notes"): (dict, str),
    ("model", "files"): (str,),
}

# (kind, field) -> fields of a nested map
_NESTED: dict[tuple[str, str], dict[str, tuple[type, ...]]] = {
    ("run", "git"): {"sha": (str, _OPT), "branch": (str, _OPT), "dirty": (bool, _OPT), "patch": (str, _OPT),
                     "tree": (str, _OPT)},
    ("run", "curves"): {"blob": (str, _OPT), "names": (list, _OPT), "points": (int, _OPT),
                        "last_step": _NUMBER, "inline": (bool, _OPT)},
}

# (event type) -> fields of its ``data`` (events of other types: only ``data`` being a map is checked)
_EVENT_DATA: dict[str, dict[str, tuple[type, ...]]] = {
    "alias": {"alias": (str,)}, "unalias": {"alias": (str,)},  # model aliases (records.model_aliases)
}

# fields of a run's artifact entries (files and images carry ``size``: `gitvault.runs.media`)
_ARTIFACT_FIELDS: dict[str, tuple[type, ...]] = {"name": (str,), "kind": (str,), "step": (int, _OPT),
                                                 "size": (int, _OPT), "metadata": (dict, _OPT)}

# fields holding blob ids, which become file paths: they must be sha256 hex
_BLOB_FIELDS = {("run", "git", "patch"), ("run", "curves", "blob"), ("model", "blob")}

KINDS = tuple(_FIELDS)

# (kind, field) pairs whose value has more to check than its own type (`_inside`); the other
# fields skip that call (most of a record's fields, most of the time of a check)
_DEEP = {*_ENTRIES, *_NESTED, *(f for f in _BLOB_FIELDS if len(f) == 2)}


def problem(record: dict[str, Any]) -> str | None:
    """None when ``record`` has the shape of its kind, else the first problem, naming the field."""
    kind = record.get("kind")
    if kind is None:
        return None  # not a record (a spool frame, a header)
    if not isinstance(kind, str):
        return _typed("kind", kind, "text")
    if kind not in _FIELDS:
        return None  # a kind from a newer gitvault: passed on untouched
    if not isinstance(record.get("id"), str):
        return _typed("id", record.get("id"), "text")
    for name, allowed in _FIELDS[kind].items():
        if name not in record:
            continue
        value = record[name]
        if not isinstance(value, allowed):
            return _typed(name, value, _names(allowed))
        if (kind, name) in _DEEP:
            found = _inside(kind, name, value)
            if found:
                return found
    if kind == "event" and isinstance(record.get("data"), dict):
        for sub, allowed in _EVENT_DATA.get(str(record.get("type")), {}).items():
            if not isinstance(record["data"].get(sub), allowed):
                return _typed(f"data.{sub}", record["data"].get(sub), _names(allowed))
    return None


def _inside(kind: str, name: str, value: Any) -> str | None:
    entries = _ENTRIES.get((kind, name))
    if entries is not None and value is not None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if not isinstance(item, entries):
                return _typed(f"{name}[{key!r}]", item, _names(entries))
            if (kind, name) == ("run", "artifacts") and isinstance(item, dict):
                blob = item.get("blob")
                if blob is not None and not (isinstance(blob, str) and _SHA256.match(blob)):
                    return _typed(f"{name}[{key}].blob", blob, "a sha256 blob id")
                for sub, allowed in _ARTIFACT_FIELDS.items():
                    if sub in item and not isinstance(item[sub], allowed):
                        return _typed(f"{name}[{key}].{sub}", item[sub], _names(allowed))
    nested = _NESTED.get((kind, name))
    if nested is not None and value is not None:
        for sub, allowed in nested.items():
            if sub in value and not isinstance(value[sub], allowed):
                return _typed(f"{name}.{sub}", value[sub], _names(allowed))
            if (kind, name, sub) in _BLOB_FIELDS and value.get(sub) is not None and not _SHA256.match(value[sub]):
                return _typed(f"{name}.{sub}", value[sub], "a sha256 blob id")
    if (kind, name) in _BLOB_FIELDS and value is not None and not _SHA256.match(value):
        return _typed(name, value, "a sha256 blob id")
    if (kind, name) == ("model", "files") and value is not None:
        for rel, sha in value.items():
            if not _SHA256.match(sha):
                return _typed(f"files[{rel!r}]", sha, "a sha256 blob id")
    return None


def _names(allowed: tuple[type, ...]) -> str:
    words = {str: "text", int: "an integer", float: "a number", bool: "true/false", dict: "a map",
             list: "a list", _OPT: "null"}
    return " or ".join(words[t] for t in allowed)


def _typed(field: str, value: Any, expected: str) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"field {field!r} is {type(value).__name__} {shown}, expected {expected}"
