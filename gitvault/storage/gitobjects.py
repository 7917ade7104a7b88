"""Typed access to git objects by id: pygit2 types ``repo[oid]`` as a bare ``Object`` and a
reference's target as ``Oid | str``; these narrow them once, and name damage plainly."""

from __future__ import annotations

import pygit2

from gitvault.errors import CorruptRecordError


def ref_target(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    """The commit a reference points at (symbolic refs resolved), or None when it does not exist."""
    try:
        target = repo.lookup_reference(name).resolve().target
    except (KeyError, pygit2.InvalidSpecError):
        return None
    return target if isinstance(target, pygit2.Oid) else pygit2.Oid(hex=target)


def tree(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Tree:
    """The tree ``oid`` names (a commit is peeled to its tree)."""
    obj = repo[oid]
    if isinstance(obj, pygit2.Commit):
        return obj.tree
    if not isinstance(obj, pygit2.Tree):
        raise CorruptRecordError(f"git object {oid} is a {type(obj).__name__.lower()} where a tree was expected")
    return obj


def blob_bytes(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    """The content of the blob ``oid`` names."""
    obj = repo[oid]
    if not isinstance(obj, pygit2.Blob):
        raise CorruptRecordError(f"git object {oid} is a {type(obj).__name__.lower()} where a file was expected")
    return obj.data
