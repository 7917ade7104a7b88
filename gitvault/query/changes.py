"""`Query.changes(since=token)`: what changed since the caller last looked, for views that poll
(the TUI, an agent following a sweep).

A token holds the vault tip and, for each live spool, the size of its data file when last seen
and the offset just past its last complete frame. Telling that nothing changed costs one ref
lookup, one directory listing and one ``stat`` per live run. When something did, records that
changed come from the tree diff between the two tips (`gitvault.storage.vault.changed_entities`, which
skips equal subtrees: its cost follows the change, not the vault), and live runs are read from
their spool's previous offset on, so only appended frames are decoded. The first call
(``since=None``) reads each live spool once to find that offset.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitvault.runs import spool
from gitvault.errors import QueryError
from gitvault.query.base import QueryBase, finite_or_none

if TYPE_CHECKING:
    from gitvault.query.shapes import Changes, LiveChange

_PREFIX = "v1."
_BAD = "since is not a token from changes(); call changes() without since to start over"


def _encode(tip: str, spools: dict[str, list[int]]) -> str:
    payload = json.dumps({"t": tip, "l": spools}, separators=(",", ":"), sort_keys=True)
    return _PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode(token: Any) -> tuple[str, dict[str, tuple[int, int]]]:
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise QueryError(_BAD)
    body = token[len(_PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise QueryError(_BAD) from None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("l"), dict):
        raise QueryError(_BAD)
    spools: dict[str, tuple[int, int]] = {}
    for rid, pair in data["l"].items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(x) is int and x >= 0 for x in pair)):
            raise QueryError(_BAD)
        spools[rid] = (pair[0], pair[1])
    return data["t"], spools


def _spool_sizes(live_dir: Path) -> dict[str, int]:
    """Run id -> size of its spool's data file (0 before the first flush), for every live run."""
    out: dict[str, int] = {}
    try:
        entries = list(os.scandir(live_dir))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            out[entry.name] = os.stat(os.path.join(entry.path, spool.DATA)).st_size
        except (FileNotFoundError, NotADirectoryError):
            out[entry.name] = 0
    return out


class ChangeQueries(QueryBase):

    def changes(self, since: str | None = None, points: bool = False) -> Changes:
        """What changed since the token ``since`` (from an earlier call; None: the first look):
        ``{token, changed, reset, runs, experiments, records, config, live}``.

        ``token``: pass it next time. ``reset``: True on the first look or when the old state is
        gone (its vault tip no longer exists): reload everything. ``runs``: ids of runs whose record
        changed (sealed, tagged, noted, purged...) or that started, grew or ended live.
        ``experiments``: ids of experiments that changed. ``records``: ids of other records that
        changed, by kind (todo, model, lineage, link...). ``config``: vault.toml changed. ``live``:
        per live run that started or grew, ``{id, status, new (started since), points (new curve
        points), last_step, metrics (headline values logged since), tags (added since)}``, plus
        with ``points`` its new curve points ``curves: {name: {steps, values}}``."""
        if not isinstance(points, bool):
            raise QueryError(f"points must be true or false, got {points!r}")
        tip = self._tip()
        sizes = _spool_sizes(self.paths.live_dir)
        out: Changes = {"token": "", "changed": False, "reset": since is None, "runs": [], "experiments": [],
                               "records": {}, "config": False, "live": []}
        old_tip, old_spools = ("", {}) if since is None else _decode(since)
        if since is not None and old_tip == tip and {r: s for r, (s, _) in old_spools.items()} == sizes:
            out["token"] = since
            return out
        spools: dict[str, list[int]] = {}
        runs: set[str] = set()
        for rid, size in sorted(sizes.items()):
            seen_size, offset = old_spools.get(rid, (0, 0))
            if since is not None and rid in old_spools and seen_size == size:
                spools[rid] = [seen_size, offset]
                continue
            start = offset if rid in old_spools and size >= offset else 0
            report, end = self._live_since(rid, start, new=rid not in old_spools, report=since is not None,
                                           with_points=points)
            spools[rid] = [max(size, end), end]  # bytes appended between the stat and the read count as seen
            if report is not None:
                out["live"].append(report)
                runs.add(rid)
        if since is not None:
            runs.update(r for r in old_spools if r not in sizes)  # sealed or gone
            changed: set[tuple[str, str]] = set()
            if old_tip != tip:
                import pygit2  # libgit2 for the tree diff, loaded by the first caller that needs one

                from gitvault.storage.vault import changed_entities

                try:
                    if old_tip and old_tip not in self.vault.repo:
                        raise KeyError(old_tip)
                    changed, out["config"] = changed_entities(self.vault.repo, pygit2.Oid(hex=old_tip) if old_tip else None,
                                                              pygit2.Oid(hex=tip) if tip else None)
                except (KeyError, ValueError, pygit2.GitError):
                    out["reset"] = True  # the old tip is gone (a purge rewrote the vault's history)
                for kind, rid in changed:
                    if kind == "run":
                        runs.add(rid)
                    elif kind == "experiment":
                        out["experiments"].append(rid)
                    else:
                        out["records"].setdefault(kind, []).append(rid)
        out["runs"] = sorted(runs)
        out["experiments"].sort()
        for ids in out["records"].values():
            ids.sort()
        out["token"] = _encode(tip, spools)
        out["changed"] = bool(out["reset"] or runs or out["experiments"] or out["records"] or out["config"])
        return out

    def _live_since(self, rid: str, offset: int, new: bool, report: bool,
                    with_points: bool) -> tuple[LiveChange | None, int]:
        """(what a live run's spool holds from ``offset`` on, or None when ``report`` is False or
        nothing new was read; the offset past its last complete frame). A spool that cannot be
        read (gone, damaged: `live_states` names those) gives None and ``offset``."""
        run_dir = self.paths.live_dir / rid
        # a first look only needs the end of the data: no curve blocks, from the writer's summary on
        reader = spool.SpoolReader(run_dir, warn=False, with_curves=report)
        reader.offset = offset
        try:
            state = reader.refresh()
        except Exception:  # noqa: BLE001 - a spool being removed or torn is reported by live_states
            return None, offset
        if not report or not (new or reader.frames):
            return None, reader.offset
        view = spool.view_of(state)
        out: LiveChange = {
            "id": rid, "status": "running" if spool.is_locked(run_dir) else "crashed", "new": new,
            "points": view["points"], "last_step": view["last_step"],
            "metrics": {k: finite_or_none(v.get("value")) for k, v in sorted((state.get("metrics") or {}).items())},
            "tags": list(state.get("tags") or []),
        }
        if with_points:
            out["curves"] = {name: {"steps": c["step"].tolist(), "values": [finite_or_none(v) for v in c["value"].tolist()]}
                             for name, c in view["curves"].items()}
        return out, reader.offset
