"""Reading around caches that are behind the vault, for a reader that writes no file (the MCP
server: `QueryBase.writes_nothing`).

Such a reader never brings the caches up to date, so a run sealed after they were built would
vanish from its answers: its spool is gone and the caches do not hold it yet. `SealedSince` finds
those runs from the vault itself (`storage.vault.changed_entities` between the tip the caches were
built for and the vault's tip: the cost follows the size of the change) and gives each as the
state a spool reader gives (``metrics`` {name: {value}}, ``curves`` by name, ``points``), so the
query layer lists, resolves and details them with its running runs. Their curves are read from
the blob store, or from the vault's tree for a short run whose table was committed with its record
(nothing is copied into the blob store: that would be a write). Runs the caches hold but that
changed since (a tag, a note) are read as the caches hold them: the caller notes that.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from gitvault.storage import layout, records

if TYPE_CHECKING:
    from gitvault.cache import Caches


class SealedSince:
    """The runs sealed after the caches' tip, read from the vault once per (caches' tip, vault tip)."""

    def __init__(self, caches: Caches) -> None:
        self.caches = caches
        self._key: tuple[str, str] | None = None
        self._states: dict[str, dict[str, Any]] = {}

    def built_at(self) -> str:
        """The vault tip the caches were built for ("" when unknown)."""
        try:
            return str(json.loads(self.caches.state_path.read_text()).get("vault_tip") or "")
        except (OSError, ValueError, AttributeError):
            return ""

    def states(self) -> dict[str, dict[str, Any]]:
        """{run id: spool-shaped state} of every run in the vault at its tip and not at the caches' tip."""
        tip, built = self.caches.tip() or "", self.built_at()
        if not tip or tip == built:
            return {}
        if self._key != (built, tip):
            self._states = self._read(built, tip)
            self._key = (built, tip)
        return self._states

    def state(self, run_id: str, with_curves: bool = False) -> dict[str, Any] | None:
        state = self.states().get(run_id)
        if state is None or not with_curves:
            return state
        return {**state, "curves": self._curves(state)}

    def _read(self, built: str, tip: str) -> dict[str, dict[str, Any]]:
        import pygit2

        from gitvault.storage.vault import changed_entities

        vault = self.caches.vault
        old = pygit2.Oid(hex=built) if built else None
        try:
            changed, _ = changed_entities(vault.repo, old, pygit2.Oid(hex=tip))
        except (KeyError, ValueError, pygit2.GitError):  # the caches' tip is gone (a purge rewrote history)
            return {}
        snap = vault.snapshot(pygit2.Oid(hex=tip))
        old_snap = vault.snapshot(old) if old is not None else None
        out: dict[str, dict[str, Any]] = {}
        for kind, rid in sorted(changed):
            if kind != "run" or not snap.has("run", rid) or (old_snap is not None and old_snap.has("run", rid)):
                continue
            try:
                view = records.fold(snap.get("run", rid), snap.events("run", rid))
            except Exception:  # noqa: BLE001 - a damaged record is fsck's to name; the caches will quarantine it
                continue
            info = view.get("curves") or {}
            out[rid] = {**view, "curve_info": info, "curves": {n: None for n in info.get("names") or []},
                        "points": info.get("points") or 0, "last_step": info.get("last_step")}
        return out

    def _curves(self, state: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
        info = state.get("curve_info") or {}
        sha = info.get("blob")
        if not sha:
            return {}
        import pyarrow.parquet as pq

        if self.caches.blobs.has(sha):
            table = pq.read_table(self.caches.blobs.path(sha))
        else:
            blob = self.caches.vault.snapshot().blob_at(layout.entity_dir("run", state["id"]) + (layout.CURVES_FILE,))
            if blob is None:
                return {}
            table = pq.read_table(io.BytesIO(blob.data))
        steps = table.column("step").to_pylist()
        out: dict[str, dict[str, list[Any]]] = {}
        for name in table.column_names:
            if name in ("step", "wall_time"):
                continue
            values = table.column(name).to_pylist()
            kept = [(s, v) for s, v in zip(steps, values) if v is not None]
            out[name] = {"step": [s for s, _ in kept], "value": [v for _, v in kept]}
        return out
