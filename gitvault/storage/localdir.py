"""The local ``.extract/`` folder: knowing what is ours before touching anything in it.

Extract (the seed) keeps its whole store in ``.extract/``: ``extract.db``, ``config.toml``,
``artifacts/``, ``models/``. gitvault uses the same folder name for its caches, so a repository
may hold a store gitvault did not write. The rules:

- a folder gitvault creates carries a marker file, ``.extract/.gitvault`` (JSON: the format, and
  the values gitvault last mirrored into ``config.toml``); a folder made by an older gitvault is
  recognised by its ``.gitignore`` line or its caches' ``gitvault_meta`` table, and gets the marker;
- anything else with content (an Extract store, or files of unknown origin) is *foreign*: gitvault
  writes nothing there and says what it found, and how to go on (`ForeignStoreError`);
- every cache file carries a marker too (SQLite: ``PRAGMA application_id`` and the
  ``gitvault_meta`` table; DuckDB: the ``gitvault_meta`` table); `check_cache_file` refuses to
  touch one without it, and `set_aside` moves an unreadable one out of the way instead of deleting it.

Durable data (blobs, live spools) lives in the git dir, so logging runs never needs this folder.
The folder and its files get the modes git gives the repository's own files (`gitvault.storage.perms`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitvault.storage import perms
from gitvault.errors import ForeignStoreError
from gitvault.sizes import human_size

MARKER = ".gitvault"
SQLITE_APPLICATION_ID = 0x4756_4C54  # "GVLT"
_LEGACY_IGNORE = "# gitvault:"
_EXTRACT_SIGNS = ("extract.db", "config.toml", "artifacts", "models")
ADOPTED_PREFIX = ".extract-from-extract-"


@dataclass
class Found:
    """What a foreign ``.extract/`` folder holds."""

    folder: Path
    kind: str  # "Extract store" or "folder"
    runs: int | None = None
    experiments: int | None = None
    size: int = 0
    files: list[str] = field(default_factory=list)

    def describe(self) -> str:
        size = human_size(self.size)
        if self.kind == "file":
            return f"{self.folder} is a file gitvault did not write ({size})"
        if self.kind == "folder":
            return f"{self.folder} holds files gitvault did not write ({', '.join(self.files[:3])}; {size})"
        counts = [f"{n} {label}{'s' if n != 1 else ''}"
                  for n, label in ((self.runs, "run"), (self.experiments, "experiment")) if n is not None]
        return f"{self.folder} holds an {self.kind} gitvault did not write ({', '.join(counts + [size])})"


def is_ours(folder: Path) -> bool | None:
    """True: gitvault's folder (or an empty one); False: foreign; None: it does not exist."""
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return False
    if MARKER in names:
        return True
    if not names:
        return True
    if ".gitignore" in names:
        try:
            if (folder / ".gitignore").read_text(errors="replace").startswith(_LEGACY_IGNORE):
                return True
        except OSError:
            pass
    if "extract.db" in names and sqlite_is_ours(folder / "extract.db") is True:
        return True
    return False


def inspect(folder: Path) -> Found:
    """Describe a foreign folder (counts read from Extract's SQLite without writing a byte)."""
    if not folder.is_dir():
        return Found(folder=folder, kind="file", files=[folder.name], size=folder.stat().st_size)
    names = sorted(os.listdir(folder))
    kind = "Extract store" if any(n in names for n in _EXTRACT_SIGNS) else "folder"
    found = Found(folder=folder, kind=kind, files=names, size=_tree_size(folder))
    db = folder / "extract.db"
    if db.is_file():
        try:
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro&immutable=1", uri=True)
            try:
                found.runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
                found.experiments = conn.execute("SELECT count(*) FROM experiments").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            pass
    return found


def _tree_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def foreign_error(found: Found) -> ForeignStoreError:
    return ForeignStoreError(
        f"{found.describe()}; gitvault stopped before touching it. Run `git vault init --adopt-extract` "
        f"to move it aside whole (one rename, to {found.folder.parent / (ADOPTED_PREFIX + '<UTC time>')}) "
        "and start there, or keep gitvault's caches elsewhere with `git config vault.cacheDir DIR`"
    )


def claim(folder: Path) -> None:
    """Make sure ``folder`` is gitvault's before writing into it: create it with the marker, or
    add the marker to a folder an older gitvault made. Raises `ForeignStoreError` otherwise."""
    ours = is_ours(folder)
    if ours is False:
        raise foreign_error(inspect(folder))
    if ours is None:
        perms.for_path(folder).make_dirs(folder)
    if not (folder / MARKER).exists():
        write_marker(folder, {})


def read_marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_marker(folder: Path, mirrored: dict[str, Any]) -> None:
    """Record the folder as gitvault's, with the config values gitvault last wrote."""
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}"
    text = json.dumps({"format": 1, "written_by": "gitvault", "mirrored": mirrored}, sort_keys=True) + "\n"
    perms.for_path(folder).write(tmp, text.encode())
    tmp.replace(folder / MARKER)


# -- cache files -------------------------------------------------------------------------------

def sqlite_is_ours(path: Path) -> bool | None:
    """True: a gitvault cache; False: another program's database; None: not readable as SQLite."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gitvault_meta'"
                                ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return bool(app_id == SQLITE_APPLICATION_ID or (app_id == 0 and meta))


def duckdb_is_ours(instance: Any, path: Path) -> bool | None:
    """True: a gitvault catalog; False: another DuckDB file; None: not readable as DuckDB. Looks
    through ``instance`` (an in-memory DuckDB), attaching the file read-only; a lock held by
    another process is raised as the ``duckdb.Error`` it is (the caller waits or skips)."""
    import duckdb

    probe = "gitvault_probe"
    try:
        instance.execute(f"ATTACH '{_sql_text(path)}' AS {probe} (READ_ONLY)")
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise
        return None
    try:
        row = instance.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? "
                               "AND table_name = 'gitvault_meta'", [probe]).fetchone()
    finally:
        instance.execute(f"DETACH {probe}")
    return bool(row and row[0])


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def check_cache_file(path: Path, ours: bool | None) -> None:
    """Refuse to touch a cache file that another program wrote (``ours`` False)."""
    if ours is False:
        raise ForeignStoreError(
            f"{path} is not a gitvault cache (it lacks gitvault's marker); gitvault did not touch it. "
            "Move it away if it is yours, or keep gitvault's caches elsewhere with `git config vault.cacheDir DIR`"
        )


def set_aside(path: Path) -> Path:
    """Rename an unreadable cache file out of the way (never delete what we cannot prove ours)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    os.replace(path, target)
    return target


def adopt(folder: Path) -> Path:
    """Move a foreign store aside whole, by one rename, into a dated folder beside it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = folder.with_name(ADOPTED_PREFIX + stamp)
    os.rename(folder, target)
    return target
