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
import shutil
import warnings
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Sequence

from gitvault.settings import LocalConfig, VaultConfig
from gitvault.errors import ConfigError, InvalidNameError, RecordExistsError, RecordNotFoundError, VaultExistsError
from gitvault.names import check_name, check_specimen_id
from gitvault.runs import artifacts, edits, lineage, live, spool
from gitvault.runs.experiment import Experiment
from gitvault.runs.flusher import flush_live_runs, live_run_in_process
from gitvault.runs.run import Run
from gitvault.runs.view import RunView, load as load_view
from gitvault.storage import codec, records
from gitvault.storage.blobs import BlobStore
from gitvault.storage.layout import check_id, record_path
from gitvault.storage.vault import Snapshot, Transaction, Vault, new_id

if TYPE_CHECKING:
    import polars as pl

    from gitvault.query import Query
    from gitvault.query.shapes import ModelDetail, ModelItem, RunItem, TodoItem


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
        """The hierarchy's level names, from the top (``benchmark``, ``model``, ``variant``)."""
        return list(self.config.hierarchy)

    def _fetch_blobs(self, shas: list[str]) -> None:
        """Blobs a ``--records-only`` pull left behind are fetched from the remote on first read."""
        from gitvault.sync.exchange import fetch_missing_blobs

        fetch_missing_blobs(self.vault, shas)

    def close(self) -> None:
        """Close the Store: its query layer (caches) is closed and every later write raises. Runs
        still open are not sealed (finish them first); a ``with Store() as store:`` block closes it."""
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
        """The vault as of now (`Snapshot`: records and events by kind and id), for low-level reads."""
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
        for node in nodes:
            if node not in missing and records.is_deleted(
                    records.fold(snap.get("experiment", node["id"]), snap.events("experiment", node["id"]))):
                warnings.warn(f"experiment {node['path']!r} was deleted: its runs stay hidden until "
                              f"`git vault restore experiment {node['path']}`", UserWarning, stacklevel=2)
                break
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

    def list_runs(self, experiment: str | None = None, *, experiment_id: str | None = None,
                  where: str | None = None) -> list[RunItem]:
        """Runs, sealed and live (status "running"), as the query layer's run items (`Query.runs`:
        id, label, experiment_id, experiment_path, name, status, started_at, ended_at, tags,
        git_sha, hostname, config_summary, metrics), ordered by started_at. ``experiment`` (or
        Extract's ``experiment_id=``): only the runs of that experiment, given by id or path
        (``"imagenet/resnet50/lr-sweep"``); ``where``: a filter such as
        ``"metrics.val/loss < 0.2 and config.lr >= 0.01"`` (`gitvault.query.filter`)."""
        if experiment is not None and experiment_id is not None and experiment != experiment_id:
            raise TypeError("list_runs: give the experiment once (experiment= or experiment_id=)")
        flush_live_runs(self.vault.extract_dir)
        return self.query().runs(where=where, sort="started", limit=None,
                                 experiment_id=experiment if experiment is not None else experiment_id)["items"]

    def runs_frame(self, experiment: str | None = None, where: str | None = None,
                   columns: Sequence[str] | None = None, sort: str | Sequence[str] | None = None) -> "pl.DataFrame":
        """The runs table as a polars DataFrame (one row per run, live runs included, oldest
        first unless ``sort``): ``id, name, experiment_path, experiment_id, status, started_at,
        ended_at, hostname, git_sha, tags``, then ``config.*`` (the config flattened with dots:
        ``config.optimizer.lr``), ``metrics.*`` (headline values) and ``params.*``.

        ``experiment``: an experiment's id or path; its runs and those of the experiments below it.
        ``where``: the query layer's filter (``"metrics.val_acc > 0.9 and tag = 'sweep'"``; a name
        with a slash is quoted: ``metrics.'val/loss' < 0.2``). ``columns``: only ``id`` and these
        columns, in this order (a name no run has gives nulls). ``sort``: keys such as
        ``"-metrics.val_acc"``. ``.to_pandas()`` on the result needs pandas (``pip install
        'git-vault[pandas]'``). Column types: `gitvault.runs.frames`."""
        from gitvault.runs import frames

        wanted = frames.check_columns(columns) if columns is not None else None
        flush_live_runs(self.vault.extract_dir)
        if experiment is not None:
            where = frames.under(self.get_experiment(experiment).path, where)
        return frames.frame(frames.rows(self.query(), where, sort), wanted)

    def report(self, runs: str | Sequence[str] = (), *, where: str | None = None, title: str | None = None,
               metrics: Sequence[str] | None = None, curves: Sequence[str] | None = None,
               baseline: str | None = None, max_points: int | None = None) -> str:
        """One self-contained HTML page of runs to share, as `git vault report` writes it
        (docs/report.md): ``runs`` are ids, names, ``path#name`` labels or experiment paths,
        ``where`` a filter expression. Returns the HTML text (a ``str``), which Jupyter displays."""
        from gitvault.report import HtmlReport, build, html

        flush_live_runs(self.vault.extract_dir)
        chosen = build(self.query(), [runs] if isinstance(runs, str) else list(runs), where=where, title=title,
                       metrics=metrics, curves=curves, baseline=baseline, max_points=max_points)
        return HtmlReport(html.render(chosen))

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
        """Add a note to a run (as `get_run` takes it): in its record while live in this process, else as an event commit."""
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
        return edits.add_todo(self.vault, content, priority, scope_type, scope_id).id

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
        """Mark a TODO done (an event; after a merge, the latest done or undone event decides)."""
        check_id(todo_id)
        edits.todo_done(self.vault, todo_id)

    # -- models and lineage -----------------------------------------------------------------------

    def register_model(self, name: str, *args: str | Path, path: str | Path | None = None,
                       version: str | int | None = None, metadata: dict[str, Any] | None = None,
                       framework: str = "pytorch", run_id: str | None = None,
                       aliases: Sequence[str] = ()) -> str:
        """Store a model file or directory as blobs, commit its record and return the model id.

        Called ``register_model(name, path)`` (or ``path=``), the version is the next integer of
        that name as text: ``"1"``, ``"2"``, ... as MLflow numbers versions (``name@3`` refers to
        one; ``name@v3`` works too). ``version=`` picks one, e.g. ``"v1.0"``; Extract's order
        ``register_model(name, version, path)`` still works. ``aliases``: set in the same commit
        (e.g. ``["best"]``; ``latest`` always names the version registered last).

        A version that is taken never loses the model nor raises: the same files under the same
        version are the same model (its id is returned; a run other than the one that registered
        it gets its lineage edge to it); other files are registered under the next free integer
        version, with a `ModelVersionWarning` naming it. With no version given, registering the
        latest version's files again from the same run changes nothing, and from another run makes
        a new version (as MLflow does), with that run's edge.
        ``run_id``: the run that produced the model (``run.register_model`` passes its own): the
        model gets a lineage edge to it (model ``derived_from`` run), in the same commit."""
        self.check_open()
        if len(args) > 2:
            raise TypeError("register_model takes (name, path) or Extract's (name, version, path); "
                            "give the rest by keyword (version=, metadata=, framework=)")
        if len(args) == 2:
            if version is not None or path is not None:
                raise TypeError("register_model(name, version, path): version and path are given twice")
            first, second = args
            # Extract's (name, version, path); (name, path, version) when only the first is a path
            if isinstance(first, Path) or (not Path(second).expanduser().exists() and Path(first).expanduser().exists()):
                first, second = second, first
            if not isinstance(first, str):
                raise TypeError(f"register_model(name, version, path): version must be text, got "
                                f"{type(first).__name__} {first!r}; call register_model(name, path, version=...)")
            version, path = first, second
        elif len(args) == 1:
            if path is not None:
                raise TypeError("register_model: path is given twice (positionally and as path=)")
            path = args[0]
        if path is None:
            raise TypeError("register_model needs the model's path: register_model(name, 'model.pt')")
        check_name(name, "model name")
        if "@" in name:
            raise InvalidNameError(f"model name {name!r} contains '@', which separates a name from its version "
                                   "(net@3); use '-' or '_' instead")
        if isinstance(version, bool) or (version is not None and not isinstance(version, (str, int))):
            raise TypeError(f"model version must be text or an int, got {type(version).__name__} {version!r}")
        if isinstance(version, int):
            if version < 1:
                raise ValueError(f"model version must be 1 or more, got {version}")
            version = str(version)
        if version is not None:
            check_name(version, "model version")
            if "@" in version:
                raise InvalidNameError(f"model version {version!r} contains '@'; use '-', '_' or '.' instead")
            if version == records.LATEST:
                raise ValueError("'latest' is the alias of the version registered last, not a version; "
                                 "leave version out to get the next number")
        check_name(framework, "framework")
        alias_list = [self._check_alias(a) for a in ([aliases] if isinstance(aliases, str) else aliases)]
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise TypeError(f"model metadata must be a dict, got {type(metadata).__name__}")
            metadata = artifacts.check_json(metadata, "model metadata")
        if not isinstance(path, (str, Path)):
            raise TypeError(f"register_model: path must be a file or folder path, got {type(path).__name__}")
        source = Path(path).expanduser()
        if not source.exists():
            raise ValueError(f"register_model: {source} does not exist; save the model there first")
        record: dict[str, Any] = {
            "name": name, "run_id": run_id, "framework": framework, "metadata": metadata,
            "created_at": codec.utc_now(), "source_path": str(source.resolve()),
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
        content = (record.get("blob"), record.get("files"))
        asked = version
        for _ in range(20):  # another writer may take the version between our look and our commit
            snap = self.snapshot()
            chosen, existing = self._model_version(snap, name, asked, content, run_id)
            if existing is not None:
                if alias_list:
                    self._commit_aliases(name, existing, chosen, alias_list)
                if run_id is not None and not snap.has(
                        "lineage", records.lineage_id("run", run_id, "model", existing, "derived_from")):
                    # another run produced these files too: its edge to the version
                    lineage.add(self.vault, "run", run_id, "model", existing, "derived_from",
                                {"name": name, "version": chosen})
                return existing
            if asked is not None and chosen != asked:
                warnings.warn(ModelVersionWarning(
                    f"model {name!r} version {asked!r} is already registered with other files; these files "
                    f"were registered as {name}@{chosen} (nothing was replaced)"), stacklevel=2)
            mid = records.model_id(name, chosen)
            tx = Transaction(message=f"register model {name}@{chosen}")
            tx.put("model", mid, {**record, "version": chosen})
            if run_id is not None:
                lid = records.lineage_id("run", run_id, "model", mid, "derived_from")
                tx.put("lineage", lid, {"parent_type": "run", "parent_id": run_id, "child_type": "model",
                                        "child_id": mid, "relation": "derived_from",
                                        "metadata": {"name": name, "version": chosen}, "created_at": record["created_at"]})
            for alias in alias_list:
                tx.add_event("model", mid, "alias", {"alias": alias})

            def still_free(tip: Snapshot, mid: str = mid) -> None:
                if tip.has("model", mid):
                    raise _VersionTaken()

            tx.require(still_free)
            try:
                self.vault.commit(tx)
            except _VersionTaken:
                continue
            return mid
        raise RecordExistsError(f"model {name!r}: could not find a free version after 20 tries; try again")

    def _model_version(self, snap: Snapshot, name: str, asked: str | None,
                       content: tuple[Any, Any], run_id: str | None) -> tuple[str, str | None]:
        """(the version to register, the id of an identical model already registered or None).

        With no version asked, the latest version is reused only when it holds the same files and
        came from the same run (or neither has one): a retry changes nothing, while another run's
        identical files are a new version, as every MLflow ``register_model`` call from a run is."""
        versions = lineage.model_versions(snap, name)
        if asked is not None:
            other = versions.get(asked)
            if other is None:
                return asked, None
            if (other.get("blob"), other.get("files")) == content:
                return asked, other["id"]
        elif versions:
            newest = max(versions.values(), key=lambda r: (str(r.get("created_at") or ""), str(r.get("version"))))
            if (newest.get("blob"), newest.get("files")) == content and newest.get("run_id") == run_id:
                return str(newest["version"]), newest["id"]
        return records.next_model_version(versions), None

    @staticmethod
    def _check_alias(alias: object) -> str:
        check_name(alias, "model alias")
        assert isinstance(alias, str)
        if alias == records.LATEST:
            raise ValueError("the alias 'latest' moves by itself to the version registered last; "
                             "choose another alias (e.g. 'best' or 'production')")
        if "@" in alias:
            raise InvalidNameError(f"model alias {alias!r} contains '@'; use letters, digits, '-' or '_'")
        return alias

    def _commit_aliases(self, name: str, mid: str, version: str, aliases: list[str], *, remove: bool = False) -> None:
        tx = Transaction(message=f"model {name}: {'remove alias' if remove else f'alias {version} as'} "
                                 f"{', '.join(aliases)}")
        for alias in aliases:
            tx.add_event("model", mid, "unalias" if remove else "alias", {"alias": alias})
        self.vault.commit(tx)

    def set_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` (``best``, ``production``, any name but ``latest``) of the model ``name``
        at ``version``, moving it from the version it named before. An alias is an event commit:
        clones that set it differently agree after a merge (the later setting wins)."""
        self.check_open()
        check_name(name, "model name")
        alias = self._check_alias(alias)
        if isinstance(version, bool) or not isinstance(version, (str, int)):
            raise TypeError(f"model version must be text or an int, got {type(version).__name__} {version!r}")
        version = str(version)
        versions = lineage.model_versions(self.snapshot(), name)
        if not versions:
            raise RecordNotFoundError(f"Model not found: {name!r}; register it first with run.register_model")
        version = records.version_named(version, versions, {}) or version  # 3 for v3; not an alias
        if version not in versions:
            raise RecordNotFoundError(f"model {name!r} has no version {version!r}; its versions: "
                                      f"{', '.join(sorted(versions, key=_version_key))}")
        self._commit_aliases(name, versions[version]["id"], version, [alias])

    def remove_model_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from the model ``name`` (an event commit; no version is touched)."""
        self.check_open()
        check_name(name, "model name")
        alias = self._check_alias(alias)
        versions = lineage.model_versions(self.snapshot(), name)
        current = records.model_aliases(versions.values()).get(alias)
        if current is None:
            raise RecordNotFoundError(f"model {name!r} has no alias {alias!r}; `git vault models {name}` lists its aliases")
        self._commit_aliases(name, versions[current]["id"], current, [alias], remove=True)

    def model_aliases(self, name: str) -> dict[str, str]:
        """alias -> version of the model ``name`` (``latest`` included), read from the vault."""
        check_name(name, "model name")
        return records.model_aliases(lineage.model_versions(self.snapshot(), name).values())

    def get_model(self, ref: str) -> ModelDetail:
        """One registered model version by ``name@version``, ``name@alias`` or ``name`` (its latest
        version), as the query layer gives it (`Query.get_model`: the `list_models` item plus
        ``blob`` or ``files`` and every alias of the name)."""
        return self.query().get_model(ref)

    def download_model(self, ref: str, out: str | Path) -> list[Path]:
        """Copy the files of model ``ref`` (as `get_model` takes it) into the folder ``out``
        (created if missing): a one-file model keeps the name it was registered from, a directory
        its layout. Blobs missing here (a ``--records-only`` pull) are fetched from the remote
        first; every copy is checked against its sha256. Returns the files written. An existing file
        of the same name is not overwritten (`FileExistsError`)."""
        model = self.get_model(ref)
        target = Path(out).expanduser()
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target} is a file; give a folder to copy model {ref!r} into")
        if model.get("files"):
            entries = sorted((model["files"] or {}).items())
        elif model.get("blob"):
            source = self.snapshot().get("model", model["id"]).get("source_path") or ""
            entries = [(PurePosixPath(str(source).replace("\\", "/")).name or "model", str(model["blob"]))]
        else:
            raise RecordNotFoundError(f"model {ref!r} holds no files")
        plan: list[tuple[Path, str]] = []
        for rel, sha in entries:
            parts = PurePosixPath(rel).parts
            if not parts or PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
                raise ValueError(f"model {ref!r}: file entry {rel!r} would leave {target}; run `git vault fsck`")
            dest = target.joinpath(*parts)
            if dest.exists():
                raise FileExistsError(f"{dest} exists; copy model {ref!r} into an empty folder (--out DIR)")
            plan.append((dest, sha))
        lacking = sorted({sha for _, sha in plan if not self.blobs.has(sha)})
        if lacking:  # one fetch for them all, before any file is written
            self._fetch_blobs(lacking)
        for dest, sha in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.gitvault-tmp")
            with self.blobs.open(sha) as src, open(tmp, "wb") as fh:
                shutil.copyfileobj(src, fh)
            os.replace(tmp, dest)
        return [dest for dest, _ in plan]

    def list_models(self, name_prefix: str = "") -> list[ModelItem]:
        """Registered models whose name starts with ``name_prefix``, by name then version, as the
        query layer's items (`Query.list_models`: id, name, version, run_id, framework,
        artifact_path (the model's file, or a folder of links to a directory's files), metadata,
        created_at, size, aliases)."""
        return self.query().list_models(name_prefix=name_prefix)["items"]


class ModelVersionWarning(UserWarning):
    """``register_model`` was given a version that holds other files: the model was registered
    under the next free version instead (the warning names it)."""


class _VersionTaken(Exception):
    """The version chosen for a model was registered by another writer meanwhile."""


def _version_key(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _event_tx(run_id: str, event: str, data: dict[str, Any], message: str) -> Transaction:
    tx = Transaction(message=message)
    tx.add_event("run", run_id, event, data)
    return tx
