"""What every importer shares: building records as the SDK builds them, writing them in one go, and
the report of what was added and what could not be carried over.

An importer (`gitvault.importers.extract`, `mlflow`, `csv`, `specimens`) reads its source and
hands an `Import` the experiments, runs, models, lineage edges, TODOs and events it found, with
the source's own ids where it has them (Extract's ULIDs, MLflow's run uuids) and ids derived from
the source's content otherwise, and the source's own times (never "now"). `Import.finish` then:

1. compares every record with the vault's tip: one that is there with the same bytes is counted
   as already there; one that is there with other content (the source changed since an earlier
   import) is kept as the vault has it and named in the report (sealed records are never
   rewritten); experiments, keyed by their path, are simply reused;
2. writes the new records through `gitvault.storage.bulk.commit_many`, one commit (batches of
   100,000 records for larger imports), after every blob they name is in the blob store;
3. commits the events (an archived experiment, a run deleted in the source) in one more commit,
   each with an id derived from its content, so writing it again is a no-op.

So an import killed at any moment leaves the vault as it was (or, past the first commit, with
whole records only) and running it again ends in the same tree as one uninterrupted import.
``dry_run`` writes nothing, blobs included: the counts say what would be added.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pygit2

from gitvault.errors import VaultError
from gitvault.names import check_name, stable_id
from gitvault.storage import codec, layout, records
from gitvault.storage.blobs import BlobStore, file_sha256
from gitvault.storage.vault import Transaction, Vault, encode_record

if TYPE_CHECKING:
    from gitvault.runs.curves import Block

EPOCH = "1970-01-01T00:00:00.000000Z"
"""The time given to what the source left undated (reported where it happens)."""
ProgressFn = Callable[[str, int, int], None]
LABELS = {"experiment": ("experiment", "experiments"), "run": ("run", "runs"), "model": ("model", "models"),
          "lineage": ("lineage edge", "lineage edges"), "todo": ("TODO", "TODOs"), "event": ("event", "events")}
SHOWN_PER_FIELD = 10
"""Lines of one field of the report printed on a terminal; `Report.lines` with ``every`` gives all."""


@dataclass
class Report:
    """What an import added (by record kind), what was already there, what the vault kept as it
    was, and everything it could not carry over, field by field."""

    kind: str
    source: str
    dry_run: bool = False
    added: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)  # curve points, artifacts, files: in the new runs
    not_carried: dict[str, list[str]] = field(default_factory=dict)
    commits: int = 0
    seconds: float = 0.0

    def lost(self, where: str, detail: str) -> None:
        """``where`` (a field: ``runs.artifacts``) could not be carried over as the source had it."""
        self.not_carried.setdefault(where, []).append(detail)

    def counts_line(self) -> str:
        verb = "would add" if self.dry_run else "added"
        parts = [counted(self.added[k], k) for k in LABELS if self.added[k] or k in ("experiment", "run")]
        parts += [f"{n} {what}{'s' if n != 1 else ''}" for what, n in sorted(self.totals.items()) if n]
        line = f"{verb}: {', '.join(parts)}"
        if sum(self.already.values()):
            line += "; already in the vault: " + ", ".join(counted(n, k) for k, n in self.already.items() if n)
        return line

    def lines(self, every: bool = False) -> list[str]:
        """The report as text lines: the counts, then what was not carried over."""
        out = [self.counts_line()]
        if sum(self.kept.values()):
            out.append("kept as the vault has them (the source changed since they were imported; sealed records "
                       "are never rewritten): " + ", ".join(counted(n, k) for k, n in self.kept.items() if n))
        if self.not_carried:
            out.append("not carried over:")
            for where, details in self.not_carried.items():
                shown = details if every else details[:SHOWN_PER_FIELD]
                out.extend(f"  {where}: {d}" for d in shown)
                if len(details) > len(shown):
                    out.append(f"  {where}: ... and {len(details) - len(shown)} more (--report FILE lists every one)")
        else:
            out.append("not carried over: nothing")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "dry_run": self.dry_run, "added": dict(self.added),
                "already": dict(self.already), "kept": dict(self.kept), "totals": dict(self.totals),
                "not_carried": self.not_carried, "commits": self.commits}


def counted(n: int, kind: str) -> str:
    return f"{n} {LABELS[kind][n != 1]}"


@dataclass
class _Event:
    kind: str
    target: str
    type: str
    data: dict[str, Any]
    created_at: str

    @property
    def id(self) -> str:
        import json

        return stable_id("import-event", self.kind, self.target, self.type, self.created_at,
                         json.dumps(self.data, sort_keys=True))


class Import:
    """One import into one vault: collects records, writes them in `finish`."""

    def __init__(self, vault: Vault, kind: str, source: Path, *, dry_run: bool = False,
                 progress: ProgressFn | None = None) -> None:
        vault.config()  # no vault: one line saying to run `git vault init`, before the source is read
        self.vault = vault
        self.hierarchy = list(vault.config().hierarchy)
        self.dry_run = dry_run
        self.blobs = BlobStore(vault.paths.objects_dir)
        self.report = Report(kind=kind, source=str(source), dry_run=dry_run)
        self._progress = progress
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self._events: list[_Event] = []
        self._directions: dict[str, list[str]] = {"minimize": [], "maximize": []}

    # -- what importers call ---------------------------------------------------------------------

    def progress(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(stage, done, total)

    def put_bytes(self, data: bytes | bytearray | memoryview) -> str:
        """A blob of ``data`` (only its sha256 in a dry run)."""
        return hashlib.sha256(data).hexdigest() if self.dry_run else self.blobs.put_bytes(data)

    def put_file(self, path: Path) -> str:
        return file_sha256(path) if self.dry_run else self.blobs.put_file(path)

    def add(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        """A record to write (the same id twice: the last one given). An experiment's or model's
        ``metadata`` and ``notes`` (a tracker's tags and descriptions) are redacted first."""
        if kind in ("experiment", "model"):
            from gitvault.secrets import scan

            record = dict(record)
            for key in ("metadata", "notes"):
                clean, found = scan.redact(record.get(key), key)
                if found:
                    record[key] = clean
                    self.report.lost(f"{kind}s.{key}", f"{kind} {record_id}: {len(found)} value(s) looked like "
                                     "secrets and were replaced by a marker (" + ", ".join(f.where for f in found) + ")")
        self._records[(kind, record_id)] = {**record, "kind": kind, "id": record_id}

    def event(self, kind: str, target: str, event_type: str, data: dict[str, Any], created_at: str) -> None:
        """A later fact about a record (``archive``, ``delete``), dated by the source."""
        self._events.append(_Event(kind, target, event_type, data, created_at))

    def directions(self, minimize: list[str], maximize: list[str]) -> None:
        """Metric directions the source configures, added to vault.toml's ``[metrics]`` lists
        (one the vault already directs is left as the vault has it, and reported if it differs)."""
        config = self.vault.config()
        for key, names, other in (("minimize", minimize, config.maximize), ("maximize", maximize, config.minimize)):
            for name in names:
                if name in other:
                    self.report.lost("metrics directions", f"{name}: the source says {key}, vault.toml says the "
                                     "opposite (vault.toml kept)")
                elif name not in getattr(config, key) and name not in self._directions[key]:
                    self._directions[key].append(name)

    def experiment(self, parts: list[str], created_at: str, node_types: list[str] | None = None,
                   leaf: dict[str, Any] | None = None) -> tuple[str, str]:
        """The experiment at ``parts`` (one name per level) and the nodes above it, as
        `Store.experiment` makes them; ``node_types`` default to the vault's hierarchy levels.
        ``leaf``: more fields of the last node (tags, notes, metadata, status). (id, path)."""
        if node_types is None:
            if len(parts) > len(self.hierarchy):
                raise VaultError(f"experiment {'/'.join(parts)!r} has {len(parts)} levels but the vault's hierarchy "
                                 f"({' > '.join(self.hierarchy)}) has {len(self.hierarchy)}; give a shorter --experiment")
            node_types = self.hierarchy[:len(parts)]
        parent_id = None
        eid = path = ""
        for depth, name in enumerate(parts):
            check_name(name, f"{node_types[depth]} name")
            path = "/".join(parts[:depth + 1])
            eid = records.experiment_id(path)
            is_leaf = depth == len(parts) - 1
            node: dict[str, Any] = {
                "path": path, "name": name, "parent_id": parent_id, "node_type": node_types[depth],
                "created_at": created_at, "metadata": None, "status": "created", "specimen_id": None,
                "domain": None, "method": None, "model": None, "tags": []}
            if is_leaf and leaf:
                node.update(leaf)
            known = self._records.get(("experiment", eid))
            if known is None:
                self.add("experiment", eid, node)
            else:  # a node several runs share: its earliest time
                known["created_at"] = min(known["created_at"], created_at)
                if is_leaf and leaf:
                    known.update(leaf)
            parent_id = eid
        return eid, path

    def run_record(self, state: dict[str, Any], blocks: list[Block], status: str, ended_at: str) -> dict[str, Any]:
        """The sealed run record of ``state`` (the fields a live run's header and fold hold: id,
        experiment_id, experiment_path, name, config, started_at, hostname, git, env, total_steps,
        metrics, params, artifacts, tags, notes) with ``blocks`` as its curves, built by the SDK's
        own sealing code (`gitvault.runs.live.build_record`); the curves table is always a blob
        (the bulk path writes records only). A dry run builds no table: names and points only."""
        from gitvault.runs import curves, live
        from gitvault.secrets import scan

        state = dict(state)
        redacted: list[dict[str, str]] = []
        # every free-form field a source fills (a tracker's tags, environment, command line, notes)
        # goes through the SDK's redaction, as a run's own config and params do
        for key in ("config", "params", "env", "notes"):
            lines, found = _argv_redacted(state.get(key), key)
            clean, more = scan.redact(lines, key)
            found += more
            if found:
                state[key] = clean
                redacted += [{"field": f.where, "detector": f.detector} for f in found]
                self.report.lost(f"runs.{key}", f"run {state['id']}: {len(found)} value(s) looked like secrets "
                                 "and were replaced by a marker (" + ", ".join(f.where for f in found) + ")")
        if redacted:
            state["redacted"] = redacted
        if self.dry_run:
            points = sum(int(b["steps"].shape[0]) if b["valid"].get(n) is None else int(b["valid"][n].sum())
                         for b in blocks for n in b["values"])
            record = {**state, "status": status, "ended_at": ended_at,
                      "curves": {"blob": None, "names": curves.curve_names(blocks), "points": points}}
        else:
            record, inline = live.build_record({**state, "blocks": blocks}, status, ended_at, self.blobs)
            if inline is not None:
                self.blobs.put_bytes(inline)
                record["curves"] = {k: v for k, v in record["curves"].items() if k != "inline"}
        record.pop("kind", None)
        record.pop("id", None)
        self.add("run", state["id"], record)
        return record

    def file_artifact(self, run_id: str, name: str, path: Path, created_at: str, where: str) -> dict[str, Any] | None:
        """A file of a run (an MLflow artifact, a W&B media file) as a ``file`` artifact entry, when
        this gitvault stores files (`gitvault.runs.media`); otherwise None, and the file is named
        in the report under ``where``. Every importer's files go through here."""
        media = self._media(where, f"run {run_id}: file {name} ({path})")
        if media is None:
            return None
        return self._artifact(run_id, name, media.FILE, self.put_file(path), None, created_at, path.stat().st_size,
                              {"media_type": media.media_type(name)})

    def image_artifact(self, run_id: str, name: str, data: bytes, step: int | None, size: tuple[int, int],
                       created_at: str, where: str) -> dict[str, Any] | None:
        """An image of a run's series ``name`` (encoded PNG or JPEG bytes, (width, height)) as an
        ``image`` entry, as `run.log_image` stores one; None (and reported) where this gitvault
        stores no images, or for bytes that are neither."""
        media = self._media(where, f"run {run_id}: image {name} step {step}")
        if media is None:
            return None
        kind = media.PNG if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg" if data[:3] == b"\xff\xd8\xff" else None
        if kind is None:
            self.report.lost(where, f"run {run_id}: image {name} step {step}: neither PNG nor JPEG: not imported")
            return None
        return self._artifact(run_id, f"{name}@{step}", media.IMAGE, self.put_bytes(data), step, created_at, len(data),
                              media.image_metadata(size[0], size[1], None, media=kind), shown=name)

    def _media(self, where: str, what: str) -> Any:
        try:
            from gitvault.runs import media
        except ImportError:
            self.report.lost(where, f"{what}: this gitvault stores no files or images")
            return None
        return media

    @staticmethod
    def _artifact(run_id: str, key: str, kind: str, sha: str, step: int | None, created_at: str, size: int,
                  metadata: dict[str, Any], shown: str | None = None) -> dict[str, Any]:
        return {"id": stable_id("import-artifact", run_id, kind, key), "name": shown or key, "kind": kind,
                "step": step, "blob": sha, "shape": None, "dtype": None, "metadata": metadata,
                "created_at": created_at, "size": size}

    # -- writing ---------------------------------------------------------------------------------

    def finish(self, batch: int | None = None) -> Report:
        """Write what was collected (see the module docstring) and return the report."""
        import time

        started = time.perf_counter()
        snap = self.vault.snapshot()
        new: list[tuple[str, str, dict[str, Any]]] = []
        for (kind, record_id), record in self._records.items():
            path, data = encode_record(kind, record_id, record)
            existing = snap.blob_id_at(path)
            if existing is None:
                new.append((kind, record_id, record))
                self.report.added[kind] += 1
                if kind == "run":
                    self.report.totals["curve point"] += int(record["curves"].get("points") or 0)
                    for item in record.get("artifacts") or []:
                        self.report.totals["file" if item.get("kind") == "file" else "artifact"] += 1
            elif kind == "experiment" or existing == pygit2.hash(data) or self.dry_run and kind == "run":
                # (a dry run builds no curves table, so its run records are compared by id)
                self.report.already[kind] += 1
                if kind == "experiment" and existing != pygit2.hash(data):
                    self.report.lost("experiments", f"{record['path']} is in the vault already: its runs join it, and "
                                     "what this source says of the experiment itself (time, metadata, tags) is not "
                                     "carried over")
            else:
                self.report.kept[kind] += 1
                self.report.lost(LABELS[kind][1], f"{kind} {record_id} is in the vault with other content (imported "
                                 "before the source changed): kept as the vault has it")
        events = [e for e in self._events if snap.blob_id_at(layout.event_path(e.kind, e.target, e.id)) is None]
        self.report.added["event"] += len(events)
        if not self.dry_run and new:
            from gitvault.storage.bulk import DEFAULT_BATCH, commit_many

            total = len(new)

            def step(done: Any) -> None:
                self.progress("committing records", done.written + done.unchanged, total)

            result = commit_many(self.vault, new, batch=batch or DEFAULT_BATCH,
                                 message=f"import {self.report.kind} {self.report.source}", progress=step)
            self.report.commits += result.commits
        if not self.dry_run and events:
            tx = Transaction(message=f"import {self.report.kind} {self.report.source}: {len(events)} events")
            for e in events:
                tx.add_event(e.kind, e.target, e.type, e.data, event_id=e.id, created_at=e.created_at)
            self.vault.commit(tx)
            self.report.commits += 1
        self._commit_directions()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _commit_directions(self) -> None:
        from gitvault.settings import edit_config_text

        wanted = {k: v for k, v in self._directions.items() if v}
        self.report.totals["metric direction"] += sum(len(names) for names in wanted.values())
        if self.dry_run or not wanted:
            return

        def edit(text: str) -> str:
            for key, names in wanted.items():
                text = edit_config_text(text, "add", f"metrics.{key}", names)
            return text

        if self.vault.edit_config(edit, f"import {self.report.kind}: metric directions") is not None:
            self.report.commits += 1


# -- shared helpers for the source formats ------------------------------------------------------

def read_sqlite(db: Path, scratch: Path | None) -> sqlite3.Connection:
    """A read-only connection to another program's SQLite file that writes nothing beside it:
    SQLite's read-only mode still creates ``-shm`` and ``-wal`` files, so the file is opened as
    immutable, or, when a ``-wal`` file holds writes not yet checkpointed into it (the program was
    killed, or still runs), a copy of both in ``scratch`` is opened."""
    import shutil

    wal = db.with_name(db.name + "-wal")
    if scratch is not None and wal.is_file() and wal.stat().st_size:
        shutil.copy2(db, scratch / db.name)
        shutil.copy2(wal, scratch / wal.name)
        return sqlite3.connect(f"{(scratch / db.name).as_uri()}?mode=ro", uri=True)
    return sqlite3.connect(f"{db.as_uri()}?immutable=1", uri=True)


def iso_from_ms(ms: int | float | None) -> str | None:
    """Milliseconds since the epoch (MLflow's times) as gitvault's UTC ISO-8601."""
    if ms is None:
        return None
    return codec.iso_utc(_dt.datetime.fromtimestamp(float(ms) / 1000.0, _dt.timezone.utc))


def iso_from_seconds(seconds: float) -> str:
    return codec.iso_utc(_dt.datetime.fromtimestamp(float(seconds), _dt.timezone.utc))


def iso_from_text(text: str | None) -> str | None:
    """An ISO-8601 time as another program wrote it (``2026-12-06T22:16:51.123Z``, no zone = UTC)
    as gitvault's UTC ISO-8601; None for None or text that is no time."""
    if not text:
        return None
    try:
        return codec.iso_utc(_dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def plus_seconds(start: str, seconds: float) -> str:
    """``start`` (gitvault's UTC ISO-8601) plus ``seconds``."""
    return codec.iso_utc(_dt.datetime.fromisoformat(start.replace("Z", "+00:00")) + _dt.timedelta(seconds=seconds))


def curve_blocks(points: Iterable[tuple[str, Any, Any, Any]]) -> list[Block]:
    """The curve block of ``(name, steps, values, wall_times)`` arrays: every point one row, rows
    sorted by step, then wall time, then the source's order, so that where a step holds several
    values the curve keeps the last one logged and the step's row the latest wall time (as
    `gitvault.runs.curves.wide` merges a step logged twice)."""
    import numpy as np

    names: dict[str, int] = {}
    steps, values, walls, owners = [], [], [], []
    for name, s, v, w in points:
        s = np.asarray(s, dtype=np.int64)
        if s.shape[0]:
            steps.append(s)
            values.append(np.asarray(v, dtype=np.float64))
            walls.append(np.asarray(w, dtype=np.float64))
            owners.append(np.full(s.shape[0], names.setdefault(name, len(names))))
    if not steps:
        return []
    step, value, wall, owner = (np.concatenate(a) for a in (steps, values, walls, owners))
    order = np.lexsort((wall, step))  # stable: equal (step, wall) keep the source's order
    step, value, wall, owner = step[order], value[order], wall[order], owner[order]
    block: Block = {"steps": step, "wall": wall.astype(np.float32), "values": {}, "valid": {}}
    for name, index in names.items():
        mask = owner == index
        block["values"][name] = np.where(mask, value, np.nan)
        block["valid"][name] = None if bool(mask.all()) else mask
    return [block]


def same_step_values(name: str, steps: Any, values: Any) -> list[str]:
    """Each value of curve ``name`` that a different value logged later at the same step replaces
    (a curve keeps one value per step): ``"loss step 2: 0.333 (kept the later 0.99)"``."""
    import numpy as np

    steps = np.asarray(steps)
    if steps.shape[0] < 2 or np.unique(steps).shape[0] == steps.shape[0]:
        return []
    at: dict[int, list[float]] = {}
    for s, v in zip(steps.tolist(), np.asarray(values, dtype=np.float64).tolist()):
        at.setdefault(s, []).append(v)
    return [f"{name} step {s}: {v!r} (kept the later {vs[-1]!r})" for s, vs in at.items() if len(vs) > 1
            for v in vs[:-1] if not (v == vs[-1] or v != v and vs[-1] != vs[-1])]


def _argv_redacted(value: Any, where: str) -> tuple[Any, list[Any]]:
    """``value`` with every command line in it (a list of text under a key named ``args`` or
    ``argv``, as W&B's and MLflow's environments keep one) passed through `redact_argv`, which
    also catches ``--password X``, and what it found; the rest is left to `scan.redact`."""
    from gitvault.secrets import scan

    found: list[Any] = []
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if k in ("args", "argv") and isinstance(v, list) and all(isinstance(a, str) for a in v):
                out[k], hits = scan.redact_argv(v, f"{where}.{k}")
            else:
                out[k], hits = _argv_redacted(v, f"{where}.{k}")
            found += hits
        return out, found
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            item, hits = _argv_redacted(v, f"{where}[{i}]")
            items.append(item)
            found += hits
        return items, found
    return value, found
