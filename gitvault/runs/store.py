"""`Store`: the SDK's entry point, Extract's ``Store`` on top of the vault.

``Store(root)`` opens the vault of the git repository containing ``root`` (any path inside the
work tree, or its ``.extract`` folder; default: the current directory). A repository without a
vault gets one with the default hierarchy ("benchmark > model > variant"), as Extract creates its
store when absent. Opening also seals runs orphaned by killed processes (one ``listdir`` when
there are none). Listings read the vault tree and the live spools directly; the SQLite/DuckDB
caches are not involved.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from gitvault.runs import artifacts, live, spool

from gitvault.storage import codec, records
from gitvault.storage.blobs import BlobStore
from gitvault.config import LocalConfig, VaultConfig
from gitvault.errors import (
    AmbiguousIdError,
    ConfigError,
    RecordExistsError,
    RecordNotFoundError,
    VaultExistsError,
)
from gitvault.runs.experiment import Experiment
from gitvault.storage.layout import check_id, record_path
from gitvault.names import check_name, check_specimen_id
from gitvault.runs.flusher import flush_live_runs, live_run_in_process
from gitvault.runs.view import RunView, load as load_view
from gitvault.storage.vault import Snapshot, Transaction, Vault, new_id

TODO_SCOPES = ("global", "experiment", "run")


class Store:
    """Experiments, runs, todos, models and lineage of one repository's vault."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.vault = Vault.open(root)
        if not self.vault.exists():
            try:
                self.vault.init(VaultConfig.default())
            except VaultExistsError:
                pass  # another process created it first
        self.vault.ensure_local_dirs()
        self.config = self.vault.config()
        try:
            LocalConfig.load(self.vault.extract_dir / "config.toml").sync_from(self.config)
        except (ConfigError, OSError) as exc:
            warnings.warn(f"gitvault: could not update .extract/config.toml: {exc}", stacklevel=2)
        self.blobs = BlobStore(self.vault.paths.objects_dir, fetch=self._fetch_blobs)
        self._closed = False
        self.recovered = live.recover(self)

    @property
    def root(self) -> Path:
        """The ``.extract`` folder (Extract's store root)."""
        return self.vault.extract_dir

    @property
    def hierarchy(self) -> list[str]:
        return list(self.config.hierarchy)

    def _fetch_blobs(self, shas: list[str]) -> None:
        """Blobs a ``--records-only`` pull left behind are fetched from the remote on first read."""
        from gitvault.sync.exchange import fetch_missing_blobs

        fetch_missing_blobs(self.vault, shas)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def check_open(self) -> None:
        """Raise RuntimeError once the Store is closed (every write checks)."""
        if self._closed:
            raise RuntimeError("this Store is closed; open a new Store()")

    def snapshot(self) -> Snapshot:
        return self.vault.snapshot()

    # -- experiments ------------------------------------------------------------------------------

    def experiment(self, spec: dict[str, str], domain: str | None = None, method: str | None = None,
                   model: str | None = None, tags: list[str] | None = None,
                   specimen_id: str | None = None) -> Experiment:
        """The experiment at ``spec`` (keys = hierarchy levels from the root, in order), created
        with its missing parents in one commit; an existing path is returned unchanged."""
        self.check_open()
        levels = self.config.hierarchy
        values = self._check_spec(spec, levels)
        self.config.check_taxonomy(domain, method)
        if model is not None:
            check_name(model, "model")
        tag_list = self._check_tags(tags)
        if specimen_id is not None:
            check_specimen_id(specimen_id)
        now = codec.utc_now()
        nodes: list[dict[str, Any]] = []
        parent_id = None
        for depth, value in enumerate(values):
            path = "/".join(values[: depth + 1])
            eid = records.experiment_id(path)
            is_leaf = depth == len(values) - 1
            nodes.append({
                "kind": "experiment", "id": eid, "path": path, "name": value, "parent_id": parent_id,
                "node_type": levels[depth], "created_at": now, "metadata": None, "status": "created",
                "specimen_id": specimen_id if is_leaf else None, "domain": domain if is_leaf else None,
                "method": method if is_leaf else None, "model": model if is_leaf else None,
                "tags": tag_list if is_leaf else [],
            })
            parent_id = eid
        leaf = nodes[-1]
        snap = self.snapshot()
        missing = [n for n in nodes if not snap.has("experiment", n["id"])]
        if missing:
            tx = Transaction(message=f"create experiment {leaf['path']}")
            for node in missing:
                tx.put("experiment", node["id"], node)

            def only_new(tip: Snapshot) -> None:
                for node in missing:
                    if tip.has("experiment", node["id"]):
                        tx.writes.pop(record_path("experiment", node["id"]), None)
                if specimen_id is not None and not tip.has("experiment", leaf["id"]):
                    self._require_unique_specimen(tip, specimen_id, leaf["path"])

            tx.require(only_new)
            self.vault.commit(tx)
        return self._existing_experiment(leaf, domain, method, model, tag_list, specimen_id)

    def _existing_experiment(self, wanted: dict[str, Any], domain: str | None, method: str | None,
                             model: str | None, tags: list[str], specimen_id: str | None) -> Experiment:
        snap = self.snapshot()
        record = records.fold(snap.get("experiment", wanted["id"]), snap.events("experiment", wanted["id"]))
        for field, value in (("domain", domain), ("method", method), ("model", model), ("specimen_id", specimen_id)):
            if value is not None and record.get(field) != value:
                raise RecordExistsError(
                    f"experiment {record['path']!r} already exists with {field}={record.get(field)!r}, "
                    f"not {value!r}; experiments are never rewritten (use a new path)"
                )
        new_tags = [t for t in tags if t not in record.get("tags", [])]
        if new_tags:
            tx = Transaction(message=f"tag experiment {record['path']}: {', '.join(new_tags)}")
            tx.add_event("experiment", record["id"], "tag", {"tags": new_tags})
            self.vault.commit(tx)
            record["tags"] = record.get("tags", []) + new_tags
        return Experiment(self, record)

    @staticmethod
    def _check_spec(spec: object, levels: list[str]) -> list[str]:
        hierarchy = " > ".join(levels)
        if not isinstance(spec, dict):
            raise TypeError(f"an experiment spec is a dict of hierarchy levels ({hierarchy}), got {type(spec).__name__}")
        if not spec:
            raise ValueError(f"an experiment spec needs at least the first level; the hierarchy is {hierarchy}")
        for key in spec:
            if key not in levels:
                raise ValueError(f"{key!r} is not a level of the hierarchy {hierarchy}; "
                                 "use these level names (set them with `git vault init --hierarchy`)")
        expected = levels[: len(spec)]
        if set(spec) != set(expected):
            skipped = [lvl for lvl in expected if lvl not in spec]
            raise ValueError(f"the spec skips level(s) {', '.join(skipped)}: keys must follow the hierarchy "
                             f"{hierarchy} from the root without gaps")
        return [check_name(spec[lvl], f"{lvl} name") for lvl in expected]

    @staticmethod
    def _check_tags(tags: object) -> list[str]:
        if tags is None:
            return []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, (list, tuple)):
            raise TypeError(f"tags must be a list of strings, got {type(tags).__name__}")
        out: list[str] = []
        for t in tags:
            check_name(t, "tag")
            if t not in out:
                out.append(t)
        return out

    @staticmethod
    def _require_unique_specimen(snap: Snapshot, specimen_id: str, path: str) -> None:
        for eid in snap.ids("experiment"):
            other = snap.get("experiment", eid)
            if other.get("specimen_id") == specimen_id and other.get("path") != path:
                raise RecordExistsError(
                    f"specimen id {specimen_id!r} is already used by experiment {other['path']!r}; "
                    "choose another id, e.g. with a _v2 suffix"
                )

    def list_experiments(self, prefix: str = "") -> list[Experiment]:
        """Every experiment whose path starts with ``prefix``, ordered by path."""
        snap = self.snapshot()
        out = []
        for eid in snap.ids("experiment"):
            record = snap.get("experiment", eid)
            if record.get("path", "").startswith(prefix):
                out.append(Experiment(self, records.fold(record, snap.events("experiment", eid))))
        out.sort(key=lambda e: e.path)
        return out

    def get_experiment(self, ref: str) -> Experiment:
        """An experiment by id or by path."""
        snap = self.snapshot()
        for eid in (ref, records.experiment_id(ref)):
            try:
                check_id(eid)
            except ValueError:
                continue
            if snap.has("experiment", eid):
                return Experiment(self, records.fold(snap.get("experiment", eid), snap.events("experiment", eid)))
        raise RecordNotFoundError(f"Experiment not found: {ref!r}")

    # -- runs -------------------------------------------------------------------------------------

    def list_runs(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """Runs as dicts (sealed records folded with their events, then live runs with status
        "running"), ordered by started_at."""
        snap = self.snapshot()
        out = []
        for rid in snap.ids("run"):
            record = snap.get("run", rid)
            if experiment_id is None or record.get("experiment_id") == experiment_id:
                out.append(records.fold(record, snap.events("run", rid)))
        sealed = {r["id"] for r in out}
        flush_live_runs(self.vault.extract_dir)
        for state in spool.list_live_runs(self.vault.paths.live_dir):
            if state["id"] in sealed or (experiment_id is not None and state.get("experiment_id") != experiment_id):
                continue
            state.pop("curves", None)
            out.append(state)
        out.sort(key=lambda r: (r.get("started_at") or "", r["id"]))
        return out

    def get_run(self, run_id: str) -> RunView:
        """A read-only view of a run (sealed or live) by id or unique id prefix."""
        return load_view(self, self._resolve_run_id(self.snapshot(), run_id))

    def _resolve_run_id(self, snap: Snapshot, run_id: str) -> str:
        if not isinstance(run_id, str) or not run_id:
            raise RecordNotFoundError(f"Run not found: {run_id!r}")
        try:
            check_id(run_id)
        except ValueError:
            raise RecordNotFoundError(f"Run not found: {run_id!r}") from None
        if snap.has("run", run_id) or (self.vault.paths.live_dir / run_id).is_dir():
            return run_id
        live_ids = [p.name for p in (self.vault.paths.live_dir).glob(f"{run_id}*") if not p.name.startswith(".")]
        matches = sorted({i for i in snap.ids("run") if i.startswith(run_id)} | set(live_ids))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousIdError(f"run id prefix {run_id!r} matches {len(matches)} runs; give more characters")
        raise RecordNotFoundError(f"Run not found: {run_id!r}")

    def tag_run(self, run_id: str, *tags: str) -> None:
        """Tag a run: in its record while live in this process, else as an event commit."""
        for t in tags:
            check_name(t, "tag")
        if not tags:
            return
        running = live_run_in_process(run_id)
        if running is not None and running.writable:
            running.tag(*tags)
            return
        rid = self._sealed_run_id(run_id)
        self.vault.commit(_event_tx(rid, "tag", {"tags": list(tags)}, f"tag run {rid}: {', '.join(tags)}"))

    def note_run(self, run_id: str, content: str) -> None:
        if not isinstance(content, str):
            raise TypeError(f"a note must be a str, got {type(content).__name__}")
        running = live_run_in_process(run_id)
        if running is not None and running.writable:
            running.note(content)
            return
        rid = self._sealed_run_id(run_id)
        self.vault.commit(_event_tx(rid, "note", {"content": content}, f"note on run {rid}"))

    def _sealed_run_id(self, run_id: str) -> str:
        snap = self.snapshot()
        rid = self._resolve_run_id(snap, run_id)
        spool.claim_for_events(self.vault.paths.live_dir, rid)
        if not snap.has("run", rid):
            live.recover(self)  # an orphan: seal it first, then record the event
            if not self.snapshot().has("run", rid):
                raise RecordNotFoundError(f"Run not found: {run_id!r}")
        return rid

    def recover(self) -> list[str]:
        """Seal runs orphaned by killed processes as "crashed"; returns their ids."""
        return live.recover(self)

    # -- todos ------------------------------------------------------------------------------------

    def todo(self, content: str, priority: int = 0) -> str:
        """A global TODO (priority 0=low, 1=mid, 2=high); returns its id."""
        return self.add_todo(content, priority)

    def add_todo(self, content: str, priority: int = 0, *, scope_type: str = "global",
                 scope_id: str | None = None) -> str:
        """A TODO for the project (global), an experiment or a run (live or sealed); returns its id."""
        self.check_open()
        if scope_type not in TODO_SCOPES:
            raise ValueError(f"scope_type must be one of {', '.join(TODO_SCOPES)}, got {scope_type!r}")
        if (scope_type == "global") != (scope_id is None):
            raise ValueError("scope_id must be None for a global TODO and given for an experiment or run TODO")
        if not isinstance(content, str) or not content.strip():
            raise ValueError("a TODO needs non-empty text content")
        if type(priority) is not int or priority not in (0, 1, 2):
            raise ValueError(f"priority must be 0 (low), 1 (mid) or 2 (high), got {priority!r}")
        tid = new_id()
        tx = Transaction(message=f"todo ({scope_type}): {content.splitlines()[0][:60]}")
        tx.put("todo", tid, {
            "scope_type": scope_type, "scope_id": scope_id, "content": content, "priority": priority,
            "created_at": codec.utc_now(), "done": False, "completed_at": None,
        })
        self.vault.commit(tx)
        return tid

    def list_todos(self, scope_type: str = "global", scope_id: str | None = None,
                   include_done: bool = False) -> list[dict[str, Any]]:
        """TODOs of one scope, by priority (high first) then created_at."""
        if scope_type not in TODO_SCOPES:
            raise ValueError(f"scope_type must be one of {', '.join(TODO_SCOPES)}, got {scope_type!r}")
        if scope_type == "global" and scope_id is not None:
            raise ValueError("scope_id must be None for global TODOs")
        snap = self.snapshot()
        out = []
        for tid in snap.ids("todo"):
            todo = records.fold(snap.get("todo", tid), snap.events("todo", tid))
            if todo.get("scope_type") != scope_type:
                continue
            if scope_id is not None and todo.get("scope_id") != scope_id:
                continue
            if todo.get("done") and not include_done:
                continue
            out.append(todo)
        out.sort(key=lambda t: (-int(t.get("priority") or 0), t.get("created_at") or "", t["id"]))
        return out

    def todo_done(self, todo_id: str) -> None:
        """Mark a TODO done (an event; done wins on merge)."""
        snap = self.snapshot()
        check_id(todo_id)
        if not snap.has("todo", todo_id):
            raise RecordNotFoundError(f"TODO not found: {todo_id!r}")
        tx = Transaction(message=f"todo done: {todo_id}")
        tx.add_event("todo", todo_id, "done", {"completed_at": codec.utc_now()})
        self.vault.commit(tx)

    # -- models and lineage -----------------------------------------------------------------------

    def register_model(self, name: str, version: str, path: str | Path, metadata: dict[str, Any] | None = None,
                       framework: str = "pytorch", run_id: str | None = None) -> str:
        """Store a model file or directory as blobs and commit its record; returns the model id."""
        self.check_open()
        check_name(name, "model name")
        check_name(version, "model version")
        check_name(framework, "framework")
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise TypeError(f"model metadata must be a dict, got {type(metadata).__name__}")
            metadata = artifacts.check_json(metadata, "model metadata")
        source = Path(path).expanduser()
        if not source.exists():
            raise ValueError(f"register_model: {source} does not exist; save the model there first")
        mid = records.model_id(name, version)

        def unique(snap: Snapshot) -> None:
            if snap.has("model", mid):
                other = snap.get("model", mid)
                raise RecordExistsError(
                    f"model {name!r} version {version!r} is already registered (by run "
                    f"{other.get('run_id')}); (name, version) must be unique: pick a new version"
                )

        unique(self.snapshot())
        record: dict[str, Any] = {
            "name": name, "version": version, "run_id": run_id, "framework": framework,
            "metadata": metadata, "created_at": codec.utc_now(), "source_path": str(source.resolve()),
        }
        if source.is_dir():
            files = {}
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                files[file.relative_to(source).as_posix()] = self.blobs.put_file(file)
            if not files:
                raise ValueError(f"register_model: directory {source} holds no files")
            record["files"] = files
            record["size"] = sum(self.blobs.path(s).stat().st_size for s in set(files.values()))
        else:
            record["blob"] = self.blobs.put_file(source)
            record["size"] = self.blobs.path(record["blob"]).stat().st_size
        tx = Transaction(message=f"register model {name}@{version}")
        tx.put("model", mid, record)
        tx.require(unique)
        self.vault.commit(tx)
        return mid

    def list_models(self, name_prefix: str = "") -> list[dict[str, Any]]:
        snap = self.snapshot()
        out = [snap.get("model", mid) for mid in snap.ids("model")]
        out = [m for m in out if m.get("name", "").startswith(name_prefix)]
        out.sort(key=lambda m: (m["name"], m["version"]))
        return out


def _event_tx(run_id: str, event: str, data: dict[str, Any], message: str) -> Transaction:
    tx = Transaction(message=message)
    tx.add_event("run", run_id, event, data)
    return tx
