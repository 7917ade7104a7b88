"""A vault commit's new objects written as one small packfile, not one loose file each.

A seal creates about seven objects (the record blob, the trees on its path, the commit). As
loose objects each is a file created and renamed in ``.git/objects/xx/``: ~0.2 ms apiece on a
VM disk, most of a seal. One pack (``.pack`` + ``.idx``, as ``git fast-import`` writes) costs two
files for all of them. The objects are serialized here byte for byte as libgit2 would (a test
holds us to that), so ids do not change.

Objects go in as stored (uncompressed) zlib blocks; ``git gc`` compresses them when it repacks.
Many tiny packs would slow every lookup, so the packs we write are listed in
``<git-common-dir>/gitvault-packs`` with their object counts and merged in tiers: once eight
packs of a tier (1-7, 8-63, 64-511, ... objects) exist they are copied, entry by entry, into one
pack of the next tier. The merged-away packs are deleted only at a write at least
`RETIRE_AFTER_S` later, so a reader that found a pack a moment ago can still open it (one that
misses an object rescans the pack folder and finds the merged pack). Long-lived handles drop
deleted packs themselves (`Vault._drop_merged_packs`). Packs are not fsynced, like libgit2's loose
objects; ``git gc`` may repack them at any time.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from pathlib import Path

import pygit2

COMMIT, TREE, BLOB = 1, 2, 3
_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob"}
REGISTRY = "gitvault-packs"
TIER_FANOUT = 8
_MAX_TIER = 4  # packs of 4,096+ objects are left to git gc
_OFS_DELTA = 6
RETIRE_AFTER_S = 0.05
_MAX_PACK_BYTES = 1 << 30


def object_id(kind: int, body: bytes) -> pygit2.Oid:
    """The git object id of a body (what libgit2 would name it)."""
    return pygit2.Oid(raw=hashlib.sha1(b"%s %d\0" % (_NAMES[kind], len(body)) + body).digest())


class PackBuffer:
    """The new objects of one commit, hashed as they are added and written together."""

    def __init__(self) -> None:
        self.objects: dict[bytes, tuple[int, bytes]] = {}

    def add(self, kind: int, body: bytes) -> pygit2.Oid:
        oid = object_id(kind, body)
        self.objects.setdefault(oid.raw, (kind, body))
        return oid


def _signature_line(kind: bytes, sig: pygit2.Signature) -> bytes:
    offset = sig.offset
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    return b"%s %s <%s> %d %s%02d%02d\n" % (kind, sig.raw_name, sig.raw_email, sig.time, sign, offset // 60, offset % 60)


def commit_body(tree: pygit2.Oid, parents: list[pygit2.Oid], author: pygit2.Signature,
                committer: pygit2.Signature, message: str) -> bytes:
    head = b"tree %s\n" % str(tree).encode()
    head += b"".join(b"parent %s\n" % str(p).encode() for p in parents)
    head += _signature_line(b"author", author) + _signature_line(b"committer", committer)
    return head + b"\n" + message.encode("utf-8")


def _entry_header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _stored(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) blocks: 1 us where ``zlib.compress``
    spends ~50 us setting up a deflate state per object. Trees are hashes and hardly compress;
    ``git gc`` compresses everything when it repacks."""
    out = bytearray(b"\x78\x01")
    view = memoryview(data)
    start = 0
    while True:
        chunk = view[start:start + 0xFFFF]
        start += len(chunk)
        last = start >= len(data)
        out += struct.pack("<BHH", 1 if last else 0, len(chunk), len(chunk) ^ 0xFFFF)
        out += chunk
        if last:
            break
    out += struct.pack(">I", zlib.adler32(data))
    return bytes(out)


def _write_files(pack_dir: Path, entries: list[tuple[bytes, bytes]]) -> tuple[str, int]:
    """Write a pack of raw entries (sha, header + zlib data) and its index; returns (name, count)."""
    body = bytearray(b"PACK" + struct.pack(">II", 2, len(entries)))
    index: list[tuple[bytes, int, int]] = []
    for sha, raw in entries:
        index.append((sha, zlib.crc32(raw), len(body)))
        body += raw
    checksum = hashlib.sha1(body).digest()
    body += checksum
    index.sort()
    idx = bytearray(b"\377tOc" + struct.pack(">I", 2))
    counts = [0] * 256
    for sha, _, _ in index:
        counts[sha[0]] += 1
    total = 0
    for c in counts:
        total += c
        idx += struct.pack(">I", total)
    idx += b"".join(sha for sha, _, _ in index)
    idx += b"".join(struct.pack(">I", crc) for _, crc, _ in index)
    idx += b"".join(struct.pack(">I", off) for _, _, off in index)
    idx += checksum
    idx += hashlib.sha1(idx).digest()
    name = f"pack-{checksum.hex()}"
    pack_path, idx_path = pack_dir / f"{name}.pack", pack_dir / f"{name}.idx"
    if idx_path.exists():  # the same objects in the same order were written before
        return name, len(entries)
    # readers find packs by their .idx: the .pack goes in place first, the .idx is renamed in last
    try:
        _write_new(pack_path, body)
    except FileNotFoundError:  # a repository without a pack folder yet
        pack_dir.mkdir(parents=True, exist_ok=True)
        _write_new(pack_path, body)
    except FileExistsError:  # left by a writer that died before its .idx: keep it only if whole
        if pack_path.read_bytes() != body:
            tmp = pack_dir / f"tmp_gitvault_{os.getpid()}.pack"
            tmp.unlink(missing_ok=True)
            _write_new(tmp, body)
            os.replace(tmp, pack_path)
    tmp_idx = pack_dir / f"tmp_gitvault_{os.getpid()}.idx"
    tmp_idx.unlink(missing_ok=True)
    _write_new(tmp_idx, idx)
    os.replace(tmp_idx, idx_path)
    return name, len(entries)


def _write_new(path: Path, data: bytes | bytearray) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write(common_dir: Path, buffer: PackBuffer) -> None:
    """Write the buffer's objects as one pack, register it and merge a full tier. Call with the
    vault lock held: the registry has one writer at a time."""
    if not buffer.objects:
        return
    entries = [(sha, _entry_header(kind, len(body)) + _stored(body)) for sha, (kind, body) in buffer.objects.items()]
    pack_dir = common_dir / "objects" / "pack"
    name, count = _write_files(pack_dir, entries)
    registry, retired, whole = _read_registry(common_dir)
    registry[name] = count
    now = time.time()
    changed = _merge_full_tiers(pack_dir, registry, retired, now)
    for old, since in list(retired.items()):
        if now - since >= RETIRE_AFTER_S:
            for ext in (".idx", ".pack"):  # the .idx first: no reader discovers a half-deleted pack
                try:
                    os.unlink(pack_dir / f"{old}{ext}")
                except FileNotFoundError:
                    pass
            del retired[old]
            changed = True
    if changed:  # also forget packs someone else removed (git gc repacks ours too)
        present = set(os.listdir(pack_dir))
        registry = {n: c for n, c in registry.items() if f"{n}.idx" in present}
        retired = {n: t for n, t in retired.items() if f"{n}.idx" in present or f"{n}.pack" in present}
        _remove_leftovers(pack_dir, present, now)
        _write_registry(common_dir, registry, retired)
    else:
        with open(common_dir / REGISTRY, "a") as fh:
            fh.write(("" if whole else "\n") + f"{name} {count}\n")  # never glued to a torn line


def _remove_leftovers(pack_dir: Path, present: set[str], now: float) -> None:
    """A ``.pack`` without its ``.idx``, or a temp file, left by a writer that died an hour ago."""
    for entry in present:
        orphan = entry.startswith("pack-") and entry.endswith(".pack") and f"{entry[:-5]}.idx" not in present
        if orphan or entry.startswith("tmp_gitvault_"):
            path = pack_dir / entry
            try:
                if now - path.stat().st_mtime > 3600:
                    path.unlink()
            except FileNotFoundError:
                pass


def _tier(count: int) -> int:
    return (max(count, 1).bit_length() - 1) // 3


def _merge_full_tiers(pack_dir: Path, registry: dict[str, int], retired: dict[str, float], now: float) -> bool:
    """Merge every tier holding TIER_FANOUT packs (the merged ones join ``retired``); True if the
    registry changed beyond the newest pack."""
    changed = False
    for tier in range(_MAX_TIER):
        group = [n for n, c in registry.items() if _tier(c) == tier]
        if len(group) < TIER_FANOUT:
            continue
        entries: dict[bytes, bytes] = {}
        merged = []
        size = 0
        for name in group:
            found = _read_entries(pack_dir, name)
            if found is None:  # gone (git gc) or not one of ours to copy: forget it
                del registry[name]
                changed = True
                continue
            size += sum(len(raw) for _, raw in found)
            if size >= _MAX_PACK_BYTES:  # pack offsets in our .idx are 31-bit: leave the rest
                break
            for sha, raw in found:
                entries.setdefault(sha, raw)
            merged.append(name)
        if len(merged) < 2:
            continue
        new_name, count = _write_files(pack_dir, sorted(entries.items()))
        registry[new_name] = count
        changed = True
        for name in merged:
            if name != new_name:
                del registry[name]
                retired[name] = now
    return changed


def _read_entries(pack_dir: Path, name: str) -> list[tuple[bytes, bytes]] | None:
    """The raw entries of a pack we wrote, or None if it is gone or holds offset deltas (whose
    bytes depend on their position, so they cannot be copied as they are)."""
    try:
        idx = (pack_dir / f"{name}.idx").read_bytes()
        pack = (pack_dir / f"{name}.pack").read_bytes()
    except OSError:
        return None
    if idx[:8] != b"\377tOc" + struct.pack(">I", 2) or pack[:4] != b"PACK":
        return None
    n = struct.unpack(">I", idx[8 + 255 * 4:8 + 256 * 4])[0]
    shas_at = 8 + 1024
    offsets_at = shas_at + 20 * n + 4 * n
    shas = [idx[shas_at + 20 * i:shas_at + 20 * (i + 1)] for i in range(n)]
    offsets = list(struct.unpack(f">{n}I", idx[offsets_at:offsets_at + 4 * n]))
    if any(off & 0x80000000 for off in offsets):
        return None
    order = sorted(range(n), key=offsets.__getitem__)
    ends = [offsets[j] for j in order[1:]] + [len(pack) - 20]
    out = []
    for i, end in zip(order, ends):
        raw = pack[offsets[i]:end]
        if (raw[0] >> 4) & 7 == _OFS_DELTA:
            return None
        out.append((shas[i], raw))
    return out


def generation(common_dir: Path) -> int | None:
    """Changes whenever packs are merged away (the registry is then rewritten, a new file; adding
    a pack only appends to it)."""
    try:
        return os.stat(common_dir / REGISTRY).st_ino
    except FileNotFoundError:
        return None


def _read_registry(common_dir: Path) -> tuple[dict[str, int], dict[str, float], bool]:
    """Our live packs {name: object count}, retired ones {name: unix time merged away}, and
    whether the file ends with a whole line."""
    registry: dict[str, int] = {}
    retired: dict[str, float] = {}
    try:
        text = (common_dir / REGISTRY).read_text()
    except FileNotFoundError:
        return registry, retired, True
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        try:
            if name.startswith("pack-"):
                registry[name] = int(value)
            elif name.startswith("retired:pack-"):
                retired[name.removeprefix("retired:")] = float(value)
        except ValueError:
            continue  # a torn line: that pack is left to git gc
    return registry, retired, not text or text.endswith("\n")


def _write_registry(common_dir: Path, registry: dict[str, int], retired: dict[str, float]) -> None:
    tmp = common_dir / f"{REGISTRY}.tmp"
    tmp.write_text("".join(f"{name} {count}\n" for name, count in registry.items())
                   + "".join(f"retired:{name} {since!r}\n" for name, since in retired.items()))
    os.replace(tmp, common_dir / REGISTRY)
