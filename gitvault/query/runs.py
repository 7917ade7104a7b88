"""Listings and details: experiments, runs (list, search, detail, top-k, by commit), todos, models
(shapes: `gitvault.query.shapes`)."""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING, Any, Sequence, TypeVar, overload

from gitvault.storage import records
from gitvault.cache import sqlite_cache
from gitvault.cache.state import param_text
from gitvault.errors import AmbiguousIdError, QueryError, RecordNotFoundError
from gitvault.query.rerun import rerun_command
from gitvault.query.base import (
    RUN_COLUMNS,
    QueryBase,
    check_limit,
    chunks,
    counted,
    finite_or_none,
    flush_in_process,
    live_item,
    live_notes,
    loads,
    marks,
    newest_first,
    page,
    run_label,
    text_arg,
)

if TYPE_CHECKING:  # the shapes are types alone: nothing of them is needed at run time
    from gitvault.query import filter as filter_lang
    from gitvault.query.shapes import (
        Artifact,
        ColumnItem,
        CommitRunItem,
        ExperimentItem,
        ModelDetail,
        ModelItem,
        Page,
        RankedRunItem,
        RunDetail,
        RunIndexItem,
        RunItem,
        RunLink,
        RunsPage,
        TodoItem,
    )

FILTERS = ("tag", "status", "experiment_prefix", "started_after", "started_before")
DEFAULT_LIMIT = 50
WHOLE_COLUMNS = ("label", "metrics", "config", "params", "experiment_id", "git_sha")
MAX_COLUMNS = 100
TODO_SCOPES = ("global", "experiment", "run", "all")
_HEX = frozenset("0123456789abcdefABCDEF")
T = TypeVar("T")


def _filter_error(name: Any) -> QueryError:
    return QueryError(f"Unknown filter: {name!r}. Valid filters: {', '.join(FILTERS)}")


def _iso(name: str, value: Any) -> str:
    from gitvault.query import filter as filter_lang  # the language loads when a filter or sort is used

    if not isinstance(value, (str, _dt.datetime, _dt.date)):
        raise QueryError(f"filter {name} must be an ISO 8601 date or time such as 2024-12-19 or "
                         f"2024-12-19T14:30:00Z, got {value!r}")
    found = filter_lang.iso_time(value)
    if found is None:
        raise QueryError(f"filter {name}: {value!r} is not an ISO 8601 date or time; use e.g. "
                         "2024-12-19 or 2024-12-19T14:30:00Z (times without a zone are UTC)")
    return found


def _without_cursor(out: RunsPage[T]) -> Page[T]:
    """The page without its ``next_cursor`` (the same keys, in the same order, as `page` gives)."""
    return page(out["items"], out["total"], out.get("limit_clamped", False))


def _columns(columns: Any) -> list[tuple[str, filter_lang.Field | None]] | None:
    """(name, field or None for a whole-run column) of each column asked for; None = run items."""
    from gitvault.query import filter as filter_lang  # the language loads when a filter or sort is used

    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise QueryError(f"columns must be a list of field names such as ['name', 'metrics.val_loss'], got {columns!r}")
    if len(columns) > MAX_COLUMNS:
        raise QueryError(f"{len(columns)} columns asked for; give at most {MAX_COLUMNS}")
    out: list[tuple[str, filter_lang.Field | None]] = []
    for name in dict.fromkeys(columns):
        if name in WHOLE_COLUMNS:
            out.append((name, None))
            continue
        try:
            out.append((name, filter_lang.field_of_text(name)))
        except QueryError:
            raise QueryError(f"unknown column {name!r}: use {filter_lang.FIELDS_HELP}, or one of "
                             f"{', '.join(WHOLE_COLUMNS)}") from None
    return out


def _column_value(name: str, field: filter_lang.Field | None, state: dict[str, Any]) -> Any:
    from gitvault.query import filter as filter_lang  # the language loads when a filter or sort is used

    if field is not None:
        return filter_lang.live_value(field, state)
    if name == "label":
        return run_label(state.get("experiment_path"), state.get("name"), state["id"])
    if name == "metrics":
        return {k: finite_or_none(v.get("value") if isinstance(v, dict) else v)
                for k, v in sorted((state.get("metrics") or {}).items())}
    if name == "params":
        return {k: param_text(v) for k, v in sorted((state.get("params") or {}).items())}
    if name == "git_sha":
        return (state.get("git") or {}).get("sha")
    return state.get(name)  # config, experiment_id


class _RunFilter:
    """One search: the SQL for sealed runs and the same test in Python for live ones."""

    def __init__(self, text: Any, filters: Any) -> None:
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise QueryError(f"query must be a string, got {type(text).__name__}")
        if filters is None:
            filters = {}
        if not isinstance(filters, dict):
            raise QueryError(f"filters must be a dict with keys among {', '.join(FILTERS)}, got {type(filters).__name__}")
        for key in filters:
            if key not in FILTERS:
                raise _filter_error(key)
        self.text = text.strip().lower()
        given = {k: v for k, v in filters.items() if v is not None and v != ""}
        for key in ("tag", "status", "experiment_prefix"):
            if key in given and not isinstance(given[key], str):
                raise QueryError(f"filter {key} must be a string, got {given[key]!r}")
        if "status" in given and given["status"] not in records.RUN_STATUSES:
            raise QueryError(f"filter status: {given['status']!r} is not a run status; "
                             f"valid statuses: {', '.join(records.RUN_STATUSES)}")
        self.tag: str | None = given.get("tag")
        self.status: str | None = given.get("status")
        self.prefix: str | None = given.get("experiment_prefix")
        self.experiment_id: str | None = None
        self.after = _iso("started_after", given["started_after"]) if "started_after" in given else None
        self.before = _iso("started_before", given["started_before"]) if "started_before" in given else None

    def conditions(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on ``runs`` (to be joined with AND) and their parameters."""
        where: list[str] = []
        params: list[Any] = []
        if self.experiment_id is not None:
            where.append("experiment_id = ?")
            params.append(self.experiment_id)
        if self.text:
            # SQLite's lower() folds ASCII only and runs in C: right for an ASCII needle (bar the
            # Kelvin sign and dotted capital I); a non-ASCII needle needs Python's Unicode lowering.
            low = "lower" if self.text.isascii() else "pylower"
            where.append(f"(instr({low}(coalesce(name, '')), ?) > 0 OR instr({low}(coalesce(notes, '')), ?) > 0"
                         f" OR EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE instr({low}(value), ?) > 0))")
            params += [self.text] * 3
        if self.tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            params.append(self.tag)
        if self.status is not None:
            where.append("status = ?")
            params.append(self.status)
        if self.prefix is not None:
            where.append("substr(coalesce(experiment_path, ''), 1, ?) = ?")
            params += [len(self.prefix), self.prefix]
        if self.after is not None:
            where.append("started_at >= ?")
            params.append(self.after)
        if self.before is not None:
            where.append("started_at <= ?")  # inclusive, as the seed documents
            params.append(self.before)
        return where, params

    def matches(self, state: dict[str, Any]) -> bool:
        if self.experiment_id is not None and state.get("experiment_id") != self.experiment_id:
            return False
        tags = [str(t) for t in state.get("tags") or []]
        if self.text:
            hay = [state.get("name") or "", live_notes(state)] + tags
            if not any(self.text in h.lower() for h in hay):
                return False
        if self.tag is not None and self.tag not in tags:
            return False
        if self.status is not None and state.get("status") != self.status:
            return False
        if self.prefix is not None and not (state.get("experiment_path") or "").startswith(self.prefix):
            return False
        started = state.get("started_at") or ""
        if self.after is not None and started < self.after:
            return False
        if self.before is not None and started > self.before:
            return False
        return True


class RunQueries(QueryBase):

    def list_experiments(self, prefix: str = "", limit: int | None = None) -> Page[ExperimentItem]:
        """Experiments whose path starts with ``prefix`` (literal), ordered by path."""
        prefix = text_arg(prefix, "prefix")
        lim, clamped = check_limit(limit)
        total, rows = counted(
            self.db(), "e.*, (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id) AS n_runs",
            "experiments e WHERE substr(e.path, 1, ?) = ?", [len(prefix), prefix], "e.path, e.id", lim)
        live_counts: dict[str, int] = {}
        for state in self.live_states():
            eid = state.get("experiment_id")
            if eid:
                live_counts[eid] = live_counts.get(eid, 0) + 1
        items: list[ExperimentItem] = [{
            "id": r["id"], "path": r["path"], "name": r["name"], "node_type": r["node_type"],
            "parent_id": r["parent_id"], "n_runs": r["n_runs"] + live_counts.get(r["id"], 0),
            "specimen_id": r["specimen_id"], "domain": r["domain"], "method": r["method"], "model": r["model"],
            "tags": loads(r["tags"], []), "created_at": r["created_at"], "archived": bool(r["archived"]),
        } for r in rows]
        return page(items, total, clamped)

    def list_runs(self, experiment_id: str | None = None, limit: int | None = None) -> Page[RunItem]:
        """Runs newest first (sealed and running), optionally of one experiment (id or path)."""
        return _without_cursor(self.runs(limit=limit, experiment_id=experiment_id))

    def search(self, query: str = "", filters: dict[str, Any] | None = None,
               limit: int | None = None) -> Page[RunItem]:
        """Runs whose name, tags or notes contain ``query`` (case-insensitive, literal), AND every
        filter: tag, status, experiment_prefix, started_after and started_before (both inclusive)."""
        return _without_cursor(self.runs(limit=limit, text=query, filters=filters))

    @overload
    def runs(self, where: str | None = None, sort: str | Sequence[str] | None = None, offset: int = 0,
             limit: int | None = DEFAULT_LIMIT, cursor: str | None = None, columns: None = None, *,
             text: str = "", filters: dict[str, Any] | None = None,
             experiment_id: str | None = None) -> RunsPage[RunItem]: ...

    @overload
    def runs(self, where: str | None = None, sort: str | Sequence[str] | None = None, offset: int = 0,
             limit: int | None = DEFAULT_LIMIT, cursor: str | None = None, columns: Sequence[str] | None = None, *,
             text: str = "", filters: dict[str, Any] | None = None,
             experiment_id: str | None = None) -> RunsPage[RunItem] | RunsPage[ColumnItem]: ...

    def runs(self, where: str | None = None, sort: str | Sequence[str] | None = None, offset: int = 0,
             limit: int | None = DEFAULT_LIMIT, cursor: str | None = None, columns: Sequence[str] | None = None, *,
             text: str = "", filters: dict[str, Any] | None = None,
             experiment_id: str | None = None) -> RunsPage[RunItem] | RunsPage[ColumnItem]:
        """One page of runs, sealed and running: ``{items, total, truncated, next_cursor[, limit_clamped]}``.

        ``where``: a filter expression (`gitvault.query.filter`), e.g. ``metrics.val_loss < 0.2 and
        config.optimizer.name = 'adam' and tag = 'sweep'``. ``sort``: keys such as
        ``"-metrics.val_acc, started"`` (default ``-started``: newest first); missing values last,
        ties broken by id. ``limit``: page size (default 50, at most 500; None = all);
        ``offset``: items to skip; ``cursor``: the ``next_cursor`` of the previous page, which
        continues after that page's last item even while runs are being added (same sort).
        ``columns``: None for the usual run items, or field names (``name``,
        ``metrics.val_loss``, ``config.optimizer.name``, ``tags``, ``label``, ``metrics``,
        ``config``, ``params`` ...): each item is then ``{id, <column>: value...}``. ``text``,
        ``filters`` and ``experiment_id`` are `search`'s and `list_runs`' filters, ANDed in.
        ``total`` counts every run that matches (cursor and offset aside)."""
        from gitvault.query import filter as filter_lang  # loaded by the commands that list runs

        node = filter_lang.parse(where)
        keys = filter_lang.parse_sort(sort)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise QueryError(f"offset must be a whole number of runs to skip (0 or more), got {offset!r}")
        lim, clamped = check_limit(limit)
        wanted = _columns(columns)
        after = filter_lang.read_cursor(cursor, keys) if cursor is not None else None
        legacy = _RunFilter(text, filters)
        if experiment_id is not None:
            legacy.experiment_id = self.experiment_ref(experiment_id)
        conds, params = legacy.conditions()
        if node is not None:
            sql, more = filter_lang.to_sql(node)
            conds.append(sql)
            params += more
        where_sql = " AND ".join(conds) or "1"

        # spools first: a run sealed meanwhile is then in the cache (and dropped from `live`), never in neither
        live: dict[str, dict[str, Any]] = {}
        live_rows: list[Sequence[Any]] = []
        for state in self.live_states():
            if legacy.matches(state) and (node is None or filter_lang.matches(node, state)):
                live[state["id"]] = state
                live_rows.append((*(filter_lang.sort_value(filter_lang.live_value(k.field, state)) for k in keys),
                                  state["id"]))
        cursor_db = self.tuples()
        names = [f"k{i}" for i in range(len(keys))]
        exprs = filter_lang.key_sql(keys)
        select = ", ".join(f"{e} AS {n}" for (e, _), n in zip(exprs, names))
        select_params = [p for _, ps in exprs for p in ps]
        outer, outer_params = "", list[Any]()
        if after is not None:
            outer, outer_params = filter_lang.after_sql(keys, names, after)
            outer = f" WHERE {outer}"
            live_rows = [r for r in live_rows if filter_lang.compare_keys(keys, r, after) > 0]
        skip = 0 if live_rows else offset
        want = -1 if lim is None else lim + 1 + (offset if live_rows else 0)
        # with a filter, the page's pass also counts the matches (one scan, not two); without one,
        # count(*) of the whole table is cheaper on its own
        window = ", count(*) OVER () AS total" if conds else ""
        rows: list[Sequence[Any]] = cursor_db.execute(
            f"SELECT * FROM (SELECT {select}, id{window} FROM runs WHERE {where_sql}){outer}"
            f" ORDER BY {filter_lang.order_sql(keys, names)} LIMIT ? OFFSET ?",
            [*select_params, *params, *outer_params, want, skip]).fetchall()
        if window and rows:
            total = rows[0][-1]
            rows = [r[:-1] for r in rows]
        elif conds:
            total = cursor_db.execute(f"SELECT count(*) FROM runs WHERE {where_sql}", params).fetchone()[0]
        else:
            total = sqlite_cache.run_count(cursor_db)
        if live:
            sealed = self.sealed_ids(list(live))
            live_rows = [r for r in live_rows if r[-1] not in sealed]
            total += sum(1 for rid in live if rid not in sealed)
        if live_rows:
            rows = filter_lang.sorted_rows(keys, [*rows, *live_rows])[offset:]
        has_more = lim is not None and len(rows) > lim
        rows = rows[:lim] if lim is not None else rows
        ids = [str(r[-1]) for r in rows]
        next_cursor = filter_lang.make_cursor(keys, rows[-1]) if has_more and rows else None
        if wanted is not None:
            columns_page: RunsPage[ColumnItem] = {**page(self._column_items(ids, live, wanted), total, clamped),
                                                  "next_cursor": next_cursor}
            return columns_page
        runs_page: RunsPage[RunItem] = {**page(self._run_items_of(ids, live), total, clamped),
                                        "next_cursor": next_cursor}
        return runs_page

    def _run_items_of(self, ids: list[str], live: dict[str, dict[str, Any]]) -> list[RunItem]:
        found = self.run_items([i for i in ids if i not in live])
        for rid in ids:
            if rid in live and rid not in found:
                found[rid] = live_item(live[rid])
        return [found[i] for i in ids if i in found]

    def _column_items(self, ids: list[str], live: dict[str, dict[str, Any]],
                      wanted: list[tuple[str, filter_lang.Field | None]]) -> list[ColumnItem]:
        """Items of the chosen columns: sealed runs are read into the shape of a live run's state,
        so one function (`filter.live_value`) reads a column from either."""
        states = dict(live)
        sealed = [i for i in ids if i not in live]
        if sealed:
            cursor = self.tuples()
            for part in chunks(sealed):
                marked = marks(len(part))
                metrics: dict[str, dict[str, Any]] = {}
                for rid, name, value in cursor.execute(
                        f"SELECT run_id, name, value FROM scalar_metrics WHERE run_id IN ({marked})", part):
                    metrics.setdefault(rid, {})[name] = {"value": value}
                params: dict[str, dict[str, Any]] = {}
                for rid, name, value in cursor.execute(
                        f"SELECT run_id, name, value FROM run_params WHERE run_id IN ({marked})", part):
                    params.setdefault(rid, {})[name] = value
                for row in cursor.execute(
                        "SELECT id, experiment_id, experiment_path, name, status, started_at, ended_at, hostname, tags,"
                        f" config, git_sha FROM runs WHERE id IN ({marked})", part):
                    rid = row[0]
                    states[rid] = {
                        "id": rid, "experiment_id": row[1], "experiment_path": row[2], "name": row[3],
                        "status": row[4], "started_at": row[5], "ended_at": row[6], "hostname": row[7],
                        "tags": loads(row[8], []), "config": loads(row[9], {}), "git": {"sha": row[10]},
                        "metrics": metrics.get(rid, {}), "params": params.get(rid, {}),
                    }
        return [{"id": rid, **{name: _column_value(name, field, states[rid]) for name, field in wanted}}
                for rid in ids if rid in states]

    def get_experiment(self, ref: Any) -> ExperimentItem:
        """One experiment by id or path, as `list_experiments` lists it."""
        eid = self.experiment_ref(ref)
        path = self.db().execute("SELECT path FROM experiments WHERE id = ?", (eid,)).fetchone()[0]
        # listed by path, the path itself first (a string sorts before its extensions)
        for item in self.list_experiments(prefix=path, limit=1)["items"]:
            if item["id"] == eid:
                return item
        raise RecordNotFoundError(f"Experiment not found: {ref!r}")

    def experiment_ref(self, ref: Any) -> str:
        """The id of the experiment whose id or path is ``ref``."""
        if not isinstance(ref, str) or not ref:
            raise QueryError(f"experiment must be an experiment id or path, got {ref!r}")
        conn = self.db()
        for eid in (ref, records.experiment_id(ref)):
            if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (eid,)).fetchone():
                return eid
        why = self.deleted_note("experiment", ref) or self.deleted_note("experiment", records.experiment_id(ref))
        raise RecordNotFoundError(f"Experiment not found: {ref!r}" + (f" ({why})" if why else ""))

    def runs_below(self, experiment: Any) -> int:
        """How many runs (sealed and running) an experiment (id or path) and every experiment
        below it hold: what deleting or archiving it affects."""
        eid = self.experiment_ref(experiment)
        below = {r[0] for r in self.db().execute(
            "WITH RECURSIVE below(id) AS (SELECT ? UNION SELECT e.id FROM experiments e JOIN below b"
            " ON e.parent_id = b.id) SELECT id FROM below", (eid,))}
        sealed = 0
        for part in chunks(sorted(below)):
            sealed += self.db().execute(f"SELECT count(*) FROM runs WHERE experiment_id IN ({marks(len(part))})",
                                        part).fetchone()[0]
        live = [state["id"] for state in self.live_states() if state.get("experiment_id") in below]
        return sealed + len(set(live) - self.sealed_ids(live))  # a run sealed meanwhile is counted once

    def resolve_todo(self, ref: Any) -> str:
        """The id of the TODO whose id or unique id prefix is ``ref`` (done ones too)."""
        wanted = text_arg(ref, "todo").strip()
        ids = [r[0] for r in self.db().execute("SELECT id FROM todos ORDER BY id")]
        exact = [i for i in ids if i in (wanted, wanted.upper())]
        matches = exact or [i for i in ids if wanted and i.startswith(wanted.upper())]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousIdError(f"TODO id prefix {wanted!r} matches {len(matches)} TODOs "
                                   f"({', '.join(matches[:5])}); give more characters")
        raise RecordNotFoundError(f"TODO not found: {wanted!r} (see `git vault todo list --all`)")

    # -- one run -------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunDetail:
        """Everything about one run (id or unique prefix), sealed or running."""
        rid = self.resolve_run(run_id)
        conn = self.db()
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
        todos = [_todo(t) for t in conn.execute(
            "SELECT * FROM todos WHERE scope_type = 'run' AND scope_id = ? ORDER BY priority DESC, created_at, id", (rid,))]
        if row is None:
            return self._live_detail(rid, run_id, todos)
        metrics = conn.execute("SELECT name, value FROM scalar_metrics WHERE run_id = ? ORDER BY name", (rid,)).fetchall()
        curve_names = loads(row["curve_names"], [])
        links: list[RunLink] = [{"commit": c, "via": v, "created_at": t} for c, v, t in conn.execute(
            'SELECT "commit", via, created_at FROM run_links WHERE run_id = ? ORDER BY created_at, "commit"', (rid,))]
        metrics_final = {n: v for n, v in metrics}
        return {
            "id": rid,
            "experiment_id": row["experiment_id"],
            "experiment_path": row["experiment_path"],
            "name": row["name"],
            "label": run_label(row["experiment_path"], row["name"], rid),
            "status": row["status"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "hostname": row["hostname"],
            "git_sha": row["git_sha"],
            "tags": loads(row["tags"], []),
            "notes": row["notes"] or "",
            "config": loads(row["config"], {}),
            "metrics_final": metrics_final,
            "metrics_available": sorted(set(metrics_final) | set(curve_names)),
            "run_params": dict(conn.execute("SELECT name, value FROM run_params WHERE run_id = ? ORDER BY name", (rid,))),
            "artifacts": [self._artifact(a) for a in conn.execute(
                "SELECT * FROM artifacts WHERE run_id = ? ORDER BY created_at, name, id", (rid,))],
            "todos": todos,
            "git": {"sha": row["git_sha"], "branch": row["git_branch"],
                    "dirty": None if row["git_dirty"] is None else bool(row["git_dirty"]),
                    "tree": row["git_tree"], "patch": row["git_patch"], "links": links},
            "env": (env := loads(row["env"], {})),
            "rerun": rerun_command(rid, {"sha": row["git_sha"], "dirty": row["git_dirty"], "patch": row["git_patch"],
                                         "links": links}, env),
            "total_steps": row["total_steps"],
            "archived": bool(row["archived"]),
            "curves": {"names": curve_names, "points": row["curve_points"] or 0, "last_step": row["last_step"]},
        }

    def _live_detail(self, rid: str, asked: str, todos: list[TodoItem]) -> RunDetail:
        flush_in_process(rid)
        state = self.live_state(rid, with_curves=True)
        if state is None:  # sealed meanwhile
            if self.db().execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone():
                return self.get_run(rid)
            raise RecordNotFoundError(f"Run not found: {asked!r}")
        git = state.get("git") or {}
        metrics_final = {k: finite_or_none(v.get("value")) for k, v in sorted((state.get("metrics") or {}).items())}
        curve_names = list(state.get("curves") or {})
        blobs = self.caches.blobs
        return {
            "id": rid,
            "experiment_id": state.get("experiment_id"),
            "experiment_path": state.get("experiment_path"),
            "name": state.get("name"),
            "label": run_label(state.get("experiment_path"), state.get("name"), rid),
            "status": state["status"],
            "started_at": state.get("started_at"),
            "ended_at": None,
            "hostname": state.get("hostname"),
            "git_sha": git.get("sha"),
            "tags": list(state.get("tags") or []),
            "notes": live_notes(state),
            "config": state.get("config") or {},
            "metrics_final": metrics_final,
            "metrics_available": sorted(set(metrics_final) | set(curve_names)),
            "run_params": {k: str(v) for k, v in sorted((state.get("params") or {}).items())},
            "artifacts": [{
                "id": a.get("id"), "name": a.get("name"), "kind": a.get("kind"), "step": a.get("step"),
                "path": str(blobs.path(a["blob"])) if a.get("blob") else None, "blob": a.get("blob"),
                "shape": a.get("shape"), "dtype": a.get("dtype"), "metadata": a.get("metadata"),
                "created_at": a.get("created_at"), "size": a.get("size"),
            } for a in state.get("artifacts") or []],
            "todos": todos,
            "git": {"sha": git.get("sha"), "branch": git.get("branch"), "dirty": git.get("dirty"),
                    "tree": git.get("tree"), "patch": git.get("patch"), "links": []},
            "env": state.get("env") or {},
            "rerun": rerun_command(rid, git, state.get("env") or {}),
            "total_steps": state.get("total_steps"),
            "archived": False,
            "curves": {"names": curve_names, "points": state.get("points") or 0, "last_step": state.get("last_step")},
            "last_flush": state.get("last_flush"),
        }

    def _artifact(self, a: Any) -> Artifact:
        return {
            "id": a["id"], "name": a["name"], "kind": a["kind"], "step": a["step"],
            "path": str(self.extract_dir / a["rel_path"]) if a["rel_path"] else None, "blob": a["blob"],
            "shape": loads(a["shape"]), "dtype": a["dtype"], "metadata": loads(a["metadata"]),
            "created_at": a["created_at"], "size": a["size"],
        }

    # -- rankings and commits ------------------------------------------------------------------

    def run_index(self) -> list[RunIndexItem]:
        """Every run, sealed and running, in a few fields (id, label, experiment, name, status,
        times, tags, archived), oldest first: what a browser needs to draw its tree (the TUI), about
        ten times cheaper than `runs` items, which carry config summaries and metrics."""
        live = [live_item(state) for state in self.live_states()]  # spools first, as in `runs`
        rows = self.tuples().execute(
            "SELECT id, experiment_id, experiment_path, name, status, started_at, ended_at, tags, archived"
            " FROM runs ORDER BY started_at, id").fetchall()
        decoded: dict[str | None, list[str]] = {}  # runs share a few tag lists: each JSON text decoded once

        def tags_of(text: str | None) -> list[str]:
            if text not in decoded:
                decoded[text] = loads(text, [])
            return list(decoded[text])

        items: list[RunIndexItem] = [{
            "id": rid, "label": run_label(path, name, rid), "experiment_id": eid, "experiment_path": path,
            "name": name, "status": status, "started_at": started, "ended_at": ended,
            "tags": tags_of(tags), "archived": bool(archived),
        } for rid, eid, path, name, status, started, ended, tags, archived in rows]
        sealed = {item["id"] for item in items}
        items += [{"id": r["id"], "label": r["label"], "experiment_id": r["experiment_id"],
                   "experiment_path": r["experiment_path"], "name": r["name"], "status": r["status"],
                   "started_at": r["started_at"], "ended_at": None, "tags": r["tags"], "archived": False}
                  for r in live if r["id"] not in sealed]  # a run sealed meanwhile is in the cache now
        return items

    def top_runs(self, metric: str, k: int = 10, experiment_prefix: str = "") -> list[RankedRunItem]:
        """The ``k`` best runs by a headline metric in its direction; NaN/inf last."""
        direction = self.direction(metric)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise QueryError(f"k must be a positive integer, got {k!r}")
        k = min(k, 500)
        prefix = text_arg(experiment_prefix, "experiment_prefix")
        order = "DESC" if direction == "max" else "ASC"
        inf = math.inf
        source = "scalar_metrics WHERE name = ?"
        params: list[Any] = [metric]
        if prefix:
            source += " AND run_id IN (SELECT id FROM runs WHERE substr(coalesce(experiment_path, ''), 1, ?) = ?)"
            params += [len(prefix), prefix]
        cursor = self.tuples()
        rows = cursor.execute(f"SELECT run_id, value FROM {source} AND value NOT IN (?, ?)"
                              f" ORDER BY value {order}, run_id LIMIT ?", [*params, inf, -inf, k]).fetchall()
        if len(rows) < k:  # then +-inf, then None (NaN)
            rows += cursor.execute(f"SELECT run_id, value FROM {source} AND (value IS NULL OR value IN (?, ?))"
                                   " ORDER BY value IS NULL, run_id LIMIT ?", [*params, inf, -inf, k - len(rows)]).fetchall()
        ranked: list[tuple[str, Any]] = [(r[0], r[1]) for r in rows]
        for state in self.live_states():
            entry = (state.get("metrics") or {}).get(metric)
            if entry is not None and (state.get("experiment_path") or "").startswith(prefix):
                ranked.append((state["id"], finite_or_none(entry.get("value"))))
        ranked = rank(ranked, direction)[:k]
        items = self.run_items(i for i, _ in ranked)
        return [{**items[i], "value": v} for i, v in ranked if i in items]

    def runs_for_commits(self, shas: list[str]) -> dict[str, list[CommitRunItem]]:
        """For each commit (full sha or a prefix of at least 4 hex digits): the runs made on it
        (``linked_via`` "git_sha", ``dirty`` from the run) and the runs linked to it later
        (``linked_via`` = the link's ``via``, e.g. "amend" or "rebase")."""
        if isinstance(shas, str) or not isinstance(shas, (list, tuple)):
            raise QueryError("shas must be a list of commit shas")
        for sha in shas:
            if not isinstance(sha, str) or not 4 <= len(sha) <= 40 or any(c not in _HEX for c in sha):
                raise QueryError(f"{sha!r} is not a commit sha (4 to 40 hex digits)")
        keys = {sha: sha.lower() for sha in shas}
        full = sorted({k for k in keys.values() if len(k) == 40})
        short = sorted({k for k in keys.values() if len(k) < 40})
        conn = self.db()
        made: list[tuple[str, str, bool]] = []  # (run id, sha, dirty)
        linked: list[tuple[str, str, str]] = []  # (run id, commit, via)
        for part in chunks(full):
            made += [(r, c, bool(d)) for r, c, d in conn.execute(
                f"SELECT id, git_sha, git_dirty FROM runs WHERE git_sha IN ({marks(len(part))})", part)]
            linked += list(conn.execute(
                f'SELECT run_id, "commit", via FROM run_links WHERE "commit" IN ({marks(len(part))}) ORDER BY created_at',
                part))
        for key in short:
            made += [(r, c, bool(d)) for r, c, d in conn.execute(
                "SELECT id, git_sha, git_dirty FROM runs WHERE substr(git_sha, 1, ?) = ?", (len(key), key))]
            linked += list(conn.execute('SELECT run_id, "commit", via FROM run_links WHERE substr("commit", 1, ?) = ?'
                                        " ORDER BY created_at", (len(key), key)))
        for state in self.live_states():
            git = state.get("git") or {}
            if git.get("sha"):
                made.append((state["id"], git["sha"], bool(git.get("dirty"))))
        items = self.run_items({r for r, _, _ in made} | {r for r, _, _ in linked})
        out: dict[str, list[CommitRunItem]] = {}
        for sha, key in keys.items():
            found: dict[str, tuple[str, bool]] = {}
            for rid, commit, dirty in made:
                if commit.startswith(key):
                    found[rid] = ("git_sha", dirty)
            for rid, commit, via in linked:
                if commit and commit.startswith(key):
                    found.setdefault(rid, (via or "link", False))
            out[sha] = newest_first([{**items[i], "linked_via": via, "dirty": dirty}
                                     for i, (via, dirty) in found.items() if i in items])
        return out

    # -- todos and models ----------------------------------------------------------------------

    def list_todos(self, scope_type: str = "global", scope_id: str | None = None, include_done: bool = False,
                   limit: int | None = None) -> Page[TodoItem]:
        """TODOs of a scope (global | experiment | run | all), high priority first, then oldest."""
        if scope_type not in TODO_SCOPES:
            raise QueryError(f"scope_type must be one of {', '.join(TODO_SCOPES)}, got {scope_type!r}")
        if scope_type == "global" and scope_id is not None:
            raise QueryError("scope_id must be None for global TODOs (or use scope_type='all')")
        if scope_type in ("experiment", "run") and not scope_id:
            raise QueryError(f"scope_id is required for {scope_type} TODOs: give the {scope_type} id")
        lim, clamped = check_limit(limit)
        where, params = [], []
        if scope_type != "all":
            where.append("scope_type = ?")
            params.append(scope_type)
        if scope_type == "run":
            scope_id = self.resolve_run(scope_id)
        elif scope_type == "experiment":
            scope_id = self.experiment_ref(scope_id)
        if scope_id is not None:
            where.append("scope_id = ?")
            params.append(scope_id)
        if not include_done:
            where.append("done = 0")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total, rows = counted(self.db(), "*", f"todos{clause}", params, "priority DESC, created_at, id", lim)
        return page([_todo(r) for r in rows], total, clamped)

    def list_models(self, name_prefix: str = "", limit: int | None = None) -> Page[ModelItem]:
        """Registered models whose name starts with ``name_prefix``, by name then version (integer
        versions in number order: 2 before 10), each with the aliases that name it."""
        name_prefix = text_arg(name_prefix, "name_prefix")
        lim, clamped = check_limit(limit)
        total, rows = counted(self.db(), "*", "models WHERE substr(name, 1, ?) = ?",
                              [len(name_prefix), name_prefix],
                              "name, CAST(version AS INTEGER) = 0 AND version != '0',"
                              " CAST(version AS INTEGER), version, id", lim)
        aliases = self._aliases_of({r["name"] for r in rows})
        items: list[ModelItem] = [_model_item(r, aliases.get(r["name"], {})) for r in rows]
        return page(items, total, clamped)

    def _aliases_of(self, names: set[str]) -> dict[str, dict[str, str]]:
        """name -> {alias: version}, resolved over every version of each name."""
        versions: dict[str, list[dict[str, Any]]] = {}
        for part in chunks(sorted(names)):
            for name, version, created_at, events in self.db().execute(
                    f"SELECT name, version, created_at, aliases FROM models WHERE name IN ({marks(len(part))})", part):
                versions.setdefault(name, []).append(
                    {"version": version, "created_at": created_at, "alias_events": loads(events, [])})
        return {name: records.model_aliases(found) for name, found in versions.items()}

    def get_model(self, ref: Any) -> ModelDetail:
        """One model version by ``name@version``, ``name@alias`` (``latest``, ``best``, any alias
        set), ``name`` alone (its latest version) or its id. ``name@v3`` finds version ``3`` when
        nothing is called ``v3``."""
        if not isinstance(ref, str) or not ref.strip():
            raise QueryError(f"a model is named NAME@VERSION, NAME@ALIAS or NAME, got {ref!r}")
        ref = ref.strip()
        conn = self.db()
        row = conn.execute("SELECT * FROM models WHERE id = ?", (ref,)).fetchone()
        if row is None:
            name, sep, wanted = ref.rpartition("@")
            if not sep:
                name, wanted = ref, records.LATEST
            if not name or not wanted:
                raise QueryError(f"{ref!r} is not a model reference: write NAME@VERSION or NAME@ALIAS, "
                                 "e.g. net@3 or net@best")
            if not conn.execute("SELECT 1 FROM models WHERE name = ? LIMIT 1", (name,)).fetchone():
                raise RecordNotFoundError(f"Model not found: {name!r}; `git vault models` lists the registered models")
            aliases = self._aliases_of({name}).get(name, {})
            registered = {r[0] for r in conn.execute("SELECT version FROM models WHERE name = ?", (name,))}
            version = records.version_named(wanted, registered, aliases)
            if version is not None:
                row = conn.execute("SELECT * FROM models WHERE name = ? AND version = ?", (name, version)).fetchone()
            if row is None:
                known = ", ".join(sorted(aliases)) or "none"
                raise RecordNotFoundError(f"model {name!r} has no version or alias {wanted!r} (aliases: {known}); "
                                          f"`git vault models {name}` lists its versions")
        aliases = self._aliases_of({row["name"]}).get(row["name"], {})
        return {**_model_item(row, aliases), "ref": ref, "blob": row["blob"], "files": loads(row["files"]),
                "all_aliases": aliases}


def _model_item(r: Any, aliases: dict[str, str]) -> ModelItem:
    return {
        "id": r["id"], "name": r["name"], "version": r["version"], "run_id": r["run_id"],
        "framework": r["framework"], "artifact_path": r["artifact_path"], "metadata": loads(r["metadata"]),
        "created_at": r["created_at"], "size": r["size"],
        "aliases": sorted(a for a, v in aliases.items() if v == r["version"]),
    }


def rank(pairs: list[tuple[str, Any]], direction: str) -> list[tuple[str, Any]]:
    """Best first by value in ``direction``; then +-inf, then None and NaN (each in id order)."""
    good = [(i, v) for i, v in pairs if isinstance(v, (int, float)) and math.isfinite(v)]
    bad = sorted(((i, v) for i, v in pairs if not (isinstance(v, (int, float)) and math.isfinite(v))),
                 key=lambda p: (not isinstance(p[1], (int, float)) or math.isnan(p[1]), p[0]))
    good.sort(key=lambda p: p[0])
    good.sort(key=lambda p: p[1], reverse=direction == "max")
    return good + bad


def _todo(r: Any) -> TodoItem:
    return {"id": r["id"], "scope_type": r["scope_type"], "scope_id": r["scope_id"], "content": r["content"],
            "done": bool(r["done"]), "priority": r["priority"], "created_at": r["created_at"],
            "completed_at": r["completed_at"]}
