"""Git tree bodies, read and edited as bytes.

A vault commit rewrites the trees on one path, and the big ones are the fan-out levels: up to 256
folders named by two hex digits (and 26-character ids one level down). Every entry of such a tree
has the same size, so an entry is found by binary search and replaced or inserted by slicing,
without parsing 256 entries and serializing them again (which cost ~0.25 ms a commit in Python,
enough to make a commit into a 100,000-run vault 1.5x slower than into a 100-run one). Other
trees (the root, an entity's folder) are small and take the general path.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Iterable

TREE_MODE = 0o040000
_DIR_PREFIX = b"40000 "
_ENTRY = re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.S)

Entry = tuple[int, bytes]  # (mode, raw id)


def entries(body: bytes) -> dict[str, Entry]:
    """Every entry of a tree body: {name: (mode, raw id)}."""
    return {m[2].decode("utf-8", "surrogateescape"): (int(m[1], 8), m[3]) for m in _ENTRY.finditer(body)}


def serialize(items: Iterable[tuple[str, int, bytes]]) -> bytes:
    """A tree body from (name, mode, raw id), in git's order (a folder sorts as if its name ended
    with '/')."""
    keyed = []
    for name, mode, raw in items:
        encoded = name.encode("utf-8", "surrogateescape")
        keyed.append((encoded + b"/" if mode == TREE_MODE else encoded, b"%o %s\0%s" % (mode, encoded, raw)))
    keyed.sort()
    return b"".join(entry for _, entry in keyed)


_SHAPES: dict[bytes, tuple[int, int, list[bytes]] | None] = {}


def _shape(body: bytes) -> tuple[int, int, list[bytes]] | None:
    """(entry size, name length, names) of a uniform body, remembered: a commit looks at the same
    few bodies several times (``bytes`` keep their hash, so a look-up costs no rehash)."""
    if body in _SHAPES:
        return _SHAPES[body]
    uniform = _uniform(body)
    return _remember_shape(body, None if uniform is None else (*uniform, _names(body, *uniform)))


def _remember_shape(body: bytes, shape: tuple[int, int, list[bytes]] | None) -> tuple[int, int, list[bytes]] | None:
    if len(_SHAPES) >= 64:
        _SHAPES.clear()
    _SHAPES[body] = shape
    return shape


def _uniform(body: bytes) -> tuple[int, int] | None:
    """(entry size, name length) if every entry is a folder with a name of one length."""
    if not body.startswith(_DIR_PREFIX):
        return None
    name_len = body.index(b"\0") - len(_DIR_PREFIX)
    size = len(_DIR_PREFIX) + name_len + 21
    count, rest = divmod(len(body), size)
    if rest:
        return None
    for offset, byte in enumerate(_DIR_PREFIX):
        if body[offset::size] != bytes([byte]) * count:
            return None
    if body[len(_DIR_PREFIX) + name_len::size] != b"\0" * count:
        return None
    return size, name_len


def find(body: bytes, name: str) -> Entry | None:
    """The entry called ``name``, or None."""
    shape = _shape(body)
    if shape is None:
        return entries(body).get(name)
    size, name_len, names = shape
    key = name.encode("utf-8", "surrogateescape")
    if len(key) != name_len:
        return None
    i = bisect_left(names, key)
    if i < len(names) and names[i] == key:
        at = i * size + len(_DIR_PREFIX) + name_len + 1
        return TREE_MODE, body[at:at + 20]
    return None


def apply(body: bytes, edits: dict[str, Entry]) -> bytes:
    """``body`` with each entry of ``edits`` put in (replacing one of the same name)."""
    shape = _shape(body)
    if shape is not None and all(mode == TREE_MODE for mode, _ in edits.values()):
        size, name_len, names = shape
        keys = {name: name.encode("utf-8", "surrogateescape") for name in edits}
        if all(len(k) == name_len for k in keys.values()):
            for name, (mode, raw) in sorted(edits.items(), key=lambda kv: keys[kv[0]]):
                key = keys[name]
                i = bisect_left(names, key)
                after = i + 1 if i < len(names) and names[i] == key else i
                body = body[:i * size] + _DIR_PREFIX + key + b"\0" + raw + body[after * size:]
                names = names[:i] + [key] + names[after:]
            _remember_shape(body, (size, name_len, names))  # the next commit starts from this body
            return body
    current = entries(body)
    current.update(edits)
    return serialize((name, mode, raw) for name, (mode, raw) in current.items())


def _names(body: bytes, size: int, name_len: int) -> list[bytes]:
    start = len(_DIR_PREFIX)
    return [body[at + start:at + start + name_len] for at in range(0, len(body), size)]
