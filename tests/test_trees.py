"""Tree bodies edited as bytes must equal what libgit2's TreeBuilder writes for the same edits."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pygit2
import pytest

from gitvault import packs, trees

FileMode = pygit2.enums.FileMode


def _libgit2_tree(repo: pygit2.Repository, items: dict[str, tuple[int, bytes]]) -> bytes:
    builder = repo.TreeBuilder()
    for name, (mode, raw) in items.items():
        builder.insert(name, pygit2.Oid(raw=raw), mode)
    return repo[builder.write()].read_raw()


@pytest.mark.parametrize("seed", range(6))
def test_edits_match_libgit2(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    sub = repo.TreeBuilder().write()  # every folder entry points at a real (empty) tree
    blob = repo.create_blob(b"x")
    # fan-out trees (uniform: every entry a folder with a 2- or 26-character name) and mixed ones
    name_len = rng.choice([2, 26])
    alphabet = "0123456789abcdef" if name_len == 2 else "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    names = {"".join(rng.choice(alphabet) for _ in range(name_len)) for _ in range(rng.randint(0, 200))}
    items = {n: (FileMode.TREE, sub.raw) for n in names}
    if seed % 3 == 2:  # not uniform: a file and names of other lengths
        items.update({"record.msgpack": (FileMode.BLOB, blob.raw), "events": (FileMode.TREE, sub.raw),
                      "events.txt": (FileMode.BLOB, blob.raw)})
    body = trees.serialize((n, m, r) for n, (m, r) in items.items())
    assert body == _libgit2_tree(repo, items)
    for _ in range(20):
        edits: dict[str, tuple[int, bytes]] = {}
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(sorted(items)) if items and rng.random() < 0.5 else \
                "".join(rng.choice(alphabet) for _ in range(name_len))
            edits[name] = (FileMode.TREE, sub.raw)
        if seed % 3 == 1:
            edits["vault.toml"] = (FileMode.BLOB, blob.raw)  # a file edit takes the general path
        body = trees.apply(body, edits)
        items.update(edits)
        assert body == _libgit2_tree(repo, items)
        probe = rng.choice(sorted(items))
        assert trees.find(body, probe) == items[probe]
        assert trees.find(body, "zz-not-there") is None
        assert trees.entries(body) == items


def test_serialized_ids_are_libgit2_ids(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    blob = repo.create_blob(os.urandom(16))
    items = {"Zé ünïcode": (FileMode.BLOB, blob.raw), "a": (FileMode.BLOB, blob.raw)}
    builder = repo.TreeBuilder()
    for name, (mode, raw) in items.items():
        builder.insert(name, pygit2.Oid(raw=raw), mode)
    assert packs.object_id(packs.TREE, trees.serialize((n, m, r) for n, (m, r) in items.items())) == builder.write()


def test_an_edited_fan_out_body_remembers_the_shape_it_would_parse_to() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        names = sorted({f"{rnd.randrange(256):02x}" for _ in range(rnd.randrange(1, 60))})
        body = trees.serialize((n, trees.TREE_MODE, rnd.randbytes(20)) for n in names)
        edits = {f"{rnd.randrange(256):02x}": (trees.TREE_MODE, rnd.randbytes(20)) for _ in range(rnd.randrange(1, 5))}
        edited = trees.apply(body, edits)
        current = trees.entries(body)
        current.update(edits)
        assert edited == trees.serialize((n, m, raw) for n, (m, raw) in current.items())
        uniform = trees._uniform(edited)
        assert trees._SHAPES[edited] == (*uniform, trees._names(edited, *uniform))
