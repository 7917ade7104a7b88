"""Where each record lives in the tree of ``refs/vault/main``.

``<kind>/<h[0:2]>/<h[2:4]>/<id>/record.msgpack`` with ``h = sha256(id)``, and later facts about a
record as ``<...>/<id>/events/<event-id>.msgpack``. Fanning out on a hash (never on the ULID's
timestamp prefix) keeps every leaf tree small, so one commit rewrites a few small trees whatever
the vault's size.
"""

from __future__ import annotations

import hashlib
import re

CONFIG_FILE = "vault.toml"
RECORD_FILE = "record.msgpack"
EVENTS_DIR = "events"
CONFLICTS_DIR = "conflicts"
PURGES_DIR = "purges"  # purge records (see gitvault.secrets.purge), at the top of the tree
CURVES_FILE = "curves.parquet"  # a short run's curves, kept in its entity folder (see live.INLINE_CURVES_BYTES)

KIND_DIRS: dict[str, str] = {
    "experiment": "experiments",
    "run": "runs",
    "model": "models",
    "lineage": "lineage",
    "todo": "todos",
    "link": "links",
}
DIR_KINDS = {v: k for k, v in KIND_DIRS.items()}
_ID = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")


def check_kind(kind: str) -> str:
    if kind not in KIND_DIRS:
        raise ValueError(f"unknown record kind {kind!r}; known kinds: {', '.join(KIND_DIRS)}")
    return kind


def check_id(record_id: object) -> str:
    if not isinstance(record_id, str) or not _ID.match(record_id):
        raise ValueError(f"{record_id!r} is not a valid record id (1-64 letters, digits, '_' or '-')")
    return record_id


def fan(record_id: str) -> tuple[str, str]:
    h = hashlib.sha256(record_id.encode("ascii")).hexdigest()
    return h[0:2], h[2:4]


def entity_dir(kind: str, record_id: str) -> tuple[str, ...]:
    a, b = fan(check_id(record_id))
    return (KIND_DIRS[check_kind(kind)], a, b, record_id)


def record_path(kind: str, record_id: str) -> tuple[str, ...]:
    return entity_dir(kind, record_id) + (RECORD_FILE,)


def event_path(kind: str, record_id: str, event_id: str) -> tuple[str, ...]:
    return entity_dir(kind, record_id) + (EVENTS_DIR, f"{check_id(event_id)}.msgpack")


def conflict_path(kind: str, record_id: str, blob_hex: str) -> tuple[str, ...]:
    return entity_dir(kind, record_id) + (CONFLICTS_DIR, f"{blob_hex}.msgpack")
