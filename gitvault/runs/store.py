"""`Store`: the SDK's entry point, Extract's ``Store`` on top of the vault.

``Store(root)`` opens the vault of the git repository containing ``root`` (any path inside the
work tree, or its ``.extract`` folder; default: the current directory). A repository without a
vault gets one with the default hierarchy ("benchmark > model > variant"), as Extract creates its
store when absent. Opening also seals runs orphaned by killed processes (one ``listdir`` when
there are none).

Reads go through the query layer (`gitvault.query`, the one read API), opened on the first read:
``list_runs``, ``list_todos`` and ``list_models`` return its items, ``list_experiments`` and
``get_experiment`` wrap its items in `Experiment`, and ``get_run``, ``tag_run`` and ``note_run``
resolve a run reference as every front-end does (id, unique id prefix, unique name, ``path#name``).
Writing (experiments, runs, todos, models) opens no cache, nor does naming a run by its exact id.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitvault.config import LocalConfig, VaultConfig
from gitvault.errors import ConfigError, RecordExistsError, RecordNotFoundError, VaultExistsError
from gitvault.names import check_name, check_specimen_id
from gitvault.runs import artifacts, live, spool
from gitvault.runs.experiment import Experiment
from gitvault.runs.flusher import flush_live_runs, live_run_in_process
from gitvault.runs.run import Run
from gitvault.runs.view import RunView, load as load_view
from gitvault.storage import codec, records
from gitvault.storage.blobs import BlobStore
from gitvault.storage.layout import check_id, record_path
from gitvault.storage.vault import Snapshot, Transaction, Vault, new_id

if TYPE_CHECKING:
    from gitvault.query import Query
    from gitvault.query.shapes import ModelItem, RunItem, TodoItem

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
        self._query: tuple[int, Query] | None = None  # (pid, the query layer on this vault), on first read
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
        if self._query is not None:
            pid, query = self._query
            self._query = None
            if pid == os.getpid():
                query.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def check_open(self) -> None:
        """Raise RuntimeError once the Store is closed (every write checks)."""
        if self._closed:
            raise RuntimeError("this Store is closed; open a new Store()")

    def query(self) -> "Query":
        """The query layer on this vault (`gitvault.query.Query`), opened on first use and kept
        until `close`: every read of the Store goes through it (its caches are brought up to the
        vault's tip before each call). A forked child opens its own."""
        if self._query is None or self._query[0] != os.getpid():
            from gitvault.query import Query

            self._query = (os.getpid(), Query(self.vault))
        return self._query[1]

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
        return [Experiment(self, item) for item in self.query().list_experiments(prefix=prefix)["items"]]

    def get_experiment(self, ref: str) -> Experiment:
        """An experiment by id or by path."""

        return Experiment(self, self.query().get_experiment(ref))

    # -- runs -------------------------------------------------------------------------------------

    def list_runs(self, experiment_id: str | None = None) -> list[RunItem]:
        """Runs, sealed and live (status "running"), as the query layer's run items (`Query.runs`:
        id, label, experiment_id, experiment_path, name, status, started_at, ended_at, tags,
        git_sha, hostname, config_summary, metrics), ordered by started_at; ``experiment_id``: only
        that experiment's (an id or a path)."""
        flush_live_runs(self.vault.extract_dir)
        return self.query().runs(sort="started", limit=None, experiment_id=experiment_id)["items"]

    def get_run(self, run_id: str) -> RunView:
        """A read-only view of a run (sealed or live) by id, unique id prefix, unique run name or
        ``path#name`` label; an ambiguous one raises `AmbiguousIdError` naming the candidates."""
        return load_view(self, self._run_id(run_id))

    def _run_id(self, ref: str) -> str:
        """The full id of the run ``ref`` names. A run's exact id is looked up in the vault and the
        spools, opening no cache (reading back or tagging a run by ``run.id``, also where
        ``.extract/`` is another program's); any other reference is resolved by the query layer."""
        try:
            check_id(ref)
        except ValueError:
            pass
        else:
            if self.snapshot().has("run", ref) or (self.vault.paths.live_dir / ref).is_dir():
                return ref
        return self.query().resolve_run(ref)

    def tag_run(self, run_id: str, *tags: str) -> None:
        """Tag a run: in its record while live in this process, else as an event commit."""
        for t in tags:
            check_name(t, "tag")
        if not tags:
            return
        target = self._event_target(run_id)
        if isinstance(target, Run):
            target.tag(*tags)
            return
        self.vault.commit(_event_tx(target, "tag", {"tags": list(tags)}, f"tag run {target}: {', '.join(tags)}"))

    def note_run(self, run_id: str, content: str) -> None:
        if not isinstance(content, str):
            raise TypeError(f"a note must be a str, got {type(content).__name__}")
        target = self._event_target(run_id)
        if isinstance(target, Run):
            target.note(content)
            return
        self.vault.commit(_event_tx(target, "note", {"content": content}, f"note on run {target}"))

    def _event_target(self, run_id: str) -> Run | str:
        """The run this process is writing (its record takes the tag or note), else the id of the
        sealed run (an orphan is sealed first) for an event commit."""
        running = live_run_in_process(run_id)
        if running is None or not running.writable:
            rid = self._run_id(run_id)
            running = live_run_in_process(rid)
            if running is None or not running.writable:
                return self._sealed_run_id(rid)
        return running

    def _sealed_run_id(self, rid: str) -> str:
        spool.claim_for_events(self.vault.paths.live_dir, rid)
        if not self.snapshot().has("run", rid):
            live.recover(self)  # an orphan: seal it first, then record the event
            if not self.snapshot().has("run", rid):
                raise RecordNotFoundError(f"Run not found: {rid!r}")
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
                   include_done: bool = False) -> list[TodoItem]:
        """TODOs of one scope (global, experiment, run, or all), high priority first, then oldest,
        as the query layer's items (`Query.list_todos`: id, scope_type, scope_id, content, done,
        priority, created_at, completed_at). ``scope_id``: an experiment's id or path, a run as
        `get_run` takes it; None for an experiment or run scope: every TODO of that scope."""
        if scope_type in ("experiment", "run") and scope_id is None:
            every = self.query().list_todos("all", include_done=include_done)["items"]
            items = [todo for todo in every if todo["scope_type"] == scope_type]
        else:
            items = self.query().list_todos(scope_type, scope_id, include_done=include_done)["items"]
        return items

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

    def list_models(self, name_prefix: str = "") -> list[ModelItem]:
        """Registered models whose name starts with ``name_prefix``, by name then version, as the
        query layer's items (`Query.list_models`: id, name, version, run_id, framework,
        artifact_path (the model's file, or a folder of links to a directory's files), metadata,
        created_at, size)."""
        return self.query().list_models(name_prefix=name_prefix)["items"]


def _event_tx(run_id: str, event: str, data: dict[str, Any], message: str) -> Transaction:
    tx = Transaction(message=message)
    tx.add_event("run", run_id, event, data)
    return tx
