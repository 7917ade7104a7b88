"""The read-only MCP server: the Extract seed's 8 tools plus `get_curves`, `list_files` and `vault_log`, over
stdio, on the official `mcp` SDK (2.x: `mcp.server.mcpserver.MCPServer`).

Every tool is a thin call into `gitvault.query.Query` plus JSON shaping. Tool errors are raised as
the SDK's `ToolError`, so the agent reads gitvault's message (the SDK prefixes it with
"Error executing tool <name>: "). Results are strict JSON: NaN and infinities are the strings
"NaN", "Infinity", "-Infinity" (see `shaping`). Nothing writes to stdout but the protocol;
logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from gitvault import __version__
from gitvault.query.runs import TODO_SCOPES

from . import history
from .reader import VaultReader
from .shaping import ToolResult, clamp_limit

log = logging.getLogger("gitvault.mcp")

INSTRUCTIONS = """\
gitvault: experiment tracking stored in this git repository (records in refs/vault/main, caches \
in .extract/). All tools are read-only. Run ids are ULIDs (26 characters, e.g. 01JD3...); find \
them with list_runs or search and pass them verbatim (a unique prefix also works). Experiments \
are hierarchy paths like "imagenet/resnet50/v1". Listing tools return {items, total, truncated} \
with limit 50 by default and at most 500 (larger limits are clamped and the result carries \
limit_clamped: true). Numbers that are NaN or infinite appear as the strings "NaN", "Infinity", \
"-Infinity"."""

CURVE_POINTS = 500

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

Limit = Annotated[int, Field(description="Maximum number of items to return (default 50). Values above 500 are "
                                         "clamped to 500 and the result then carries limit_clamped: true.")]
RunId = Annotated[str, Field(description="A run id (ULID from list_runs/search) or a unique prefix of one.")]

Where = Annotated[str | None, Field(description=(
    "Optional filter expression over metrics, config, params, tags, status, experiment and times, e.g. "
    "\"metrics.val_loss < 0.2 and config.optimizer.name = 'adam' and tag = 'sweep'\". Fields: metrics.NAME, "
    "config.PATH (nested keys joined by dots), params.NAME, tag, status, experiment, name, id, hostname, "
    "started, ended. Operators: = != < <= > >= ~ (text starts with), in (...), not in (...), is null, "
    "is not null; join with and, or, not and parentheses. Values: numbers, 'quoted text', true, false; "
    "times in ISO 8601 ('2026-01-31'). A comparison with a missing value is false."))]
Sort = Annotated[str | None, Field(description=(
    "Optional sort keys, e.g. '-metrics.val_acc, name' ('-' = descending; default '-started', newest "
    "first). Missing values sort last."))]
Cursor = Annotated[str | None, Field(description=(
    "The next_cursor of the previous result (same where and sort) to get the next page; null = first page. "
    "Pages stay stable while new runs are added."))]

RUN_ITEM = ("Each item: {id, label ('experiment/path#run-name'), experiment_id, experiment_path, name, status "
            "('running' | 'completed' | 'failed' | 'crashed'), started_at, ended_at (null while running), tags, "
            "git_sha, hostname, config_summary: {n_keys, top_level_keys}, metrics: {name: headline value}}. "
            "Call get_run for the full config and details.")


def build_server(reader: VaultReader) -> MCPServer:
    """The MCP server with every tool bound to ``reader``."""
    mcp = MCPServer(name="gitvault", version=__version__, instructions=INSTRUCTIONS)
    tool = mcp.tool

    @tool(annotations=READ_ONLY)
    async def list_experiments(
        prefix: Annotated[str, Field(description="Only experiments whose path starts with this literal text, "
                                                 "e.g. 'imagenet/' (empty = all).")] = "",
        limit: Limit = 50,
    ) -> ToolResult:
        """List experiments (nodes of the hierarchy, e.g. 'imagenet', 'imagenet/resnet50',
        'imagenet/resnet50/v1'), ordered by path. Returns {items, total, truncated[, limit_clamped]};
        each item: {id, path, name, node_type (the hierarchy level), parent_id, n_runs, specimen_id,
        domain, method, model, tags, created_at}. Pass an item's id to list_runs(experiment_id=...)."""
        return await reader.call(lambda q: q.list_experiments(prefix=prefix, limit=limit))

    @tool(annotations=READ_ONLY, description=(
        "List runs newest first (by start time) or in the order of sort, including runs still in progress "
        "(status 'running', with their latest flushed metrics), optionally filtered by a where expression. "
        "Returns {items, total, truncated, next_cursor[, limit_clamped]}; next_cursor is null on the last "
        "page. " + RUN_ITEM))
    async def list_runs(
        experiment_id: Annotated[str | None, Field(description="Only runs of this experiment (an id from "
                                                               "list_experiments); null = all runs.")] = None,
        limit: Limit = 50,
        where: Where = None,
        sort: Sort = None,
        cursor: Cursor = None,
    ) -> ToolResult:
        return await reader.call(lambda q: q.runs(where=where, sort=sort, limit=limit, cursor=cursor,
                                                  experiment_id=experiment_id))

    @tool(annotations=READ_ONLY)
    async def get_run(run_id: RunId) -> ToolResult:
        """Everything about one run: {id, experiment_id, experiment_path, name, label, status,
        started_at, ended_at, hostname, git_sha, tags, notes, config (full, nested), metrics_final
        (headline value of each scalar metric), metrics_available, run_params (string params),
        artifacts, todos, git: {sha, branch, dirty, tree, patch, links: [{commit, via, created_at}]},
        env, total_steps, curves: {names, points, last_step}}. Curve histories are not included:
        use get_curves (one run, downsampled) or compare_runs(include_curves=true)."""
        return await reader.call(lambda q: q.get_run(run_id))

    @tool(annotations=READ_ONLY)
    async def compare_runs(
        run_ids: Annotated[list[str], Field(description="2 to 10 run ids (or unique prefixes).")],
        include_curves: Annotated[bool, Field(description="Also return the streamed curves of every run.")] = False,
    ) -> ToolResult:
        """Compare 2-10 runs side by side. Returns {runs, metrics, config_diffs[, curves]}:
        runs = the runs' summaries in the order given; metrics = {name: {direction ('min' | 'max'),
        values: {run_id: headline value}, ranking: [run_id best first; NaN last]}}; config_diffs =
        {dotted.config.key: {run_id: value}} only for keys where at least two runs differ; with
        include_curves=true, curves = {curve_name: {run_id: [[step, value], ...]}}: the streamed
        training curves (separate from headline metrics), each downsampled to at most 500 points
        keeping every bucket's min and max; use get_curves for one run at another resolution."""
        return await reader.call(lambda q: q.compare_runs(run_ids, include_curves=include_curves,
                                                           max_points=CURVE_POINTS))

    @tool(annotations=READ_ONLY, description=(
        "Search runs by text and structured filters, newest first (or in the order of sort). Returns the same "
        "shape as list_runs: {items, total, truncated, next_cursor[, limit_clamped]}. " + RUN_ITEM))
    async def search(
        query: Annotated[str, Field(description="Case-insensitive literal substring matched against run "
                                                "name, tags and notes ('_' and '%' are ordinary characters); "
                                                "empty = no text filter.")] = "",
        filters: Annotated[dict[str, str] | None, Field(description=(
            "Optional, AND-combined: tag (exact tag), status ('running' | 'completed' | 'failed' | "
            "'crashed'), experiment_prefix (experiment path prefix), started_after and started_before "
            "(ISO 8601, e.g. '2026-01-31' or '2026-01-31T12:00:00Z'). Any other key is an error."))] = None,
        limit: Limit = 50,
        where: Where = None,
        sort: Sort = None,
        cursor: Cursor = None,
    ) -> ToolResult:
        return await reader.call(lambda q: q.runs(where=where, sort=sort, limit=limit, cursor=cursor, text=query,
                                                  filters=filters))

    @tool(annotations=READ_ONLY)
    async def list_todos(
        scope_type: Annotated[str, Field(description=(
            "'global' (project-wide TODOs), 'experiment' or 'run' (TODOs attached to one; give scope_id), "
            "or 'all' (every TODO)."), json_schema_extra={"enum": list(TODO_SCOPES)})] = "global",
        scope_id: Annotated[str | None, Field(description="The experiment or run id for scope_type "
                                                          "'experiment'/'run'; must be null otherwise.")] = None,
        include_done: Annotated[bool, Field(description="Also list TODOs already marked done.")] = False,
        limit: Limit = 50,
    ) -> ToolResult:
        """List TODO notes, highest priority first (2=high, 1=mid, 0=low), then oldest first.
        Returns {items, total, truncated[, limit_clamped]}; each item: {id, scope_type, scope_id,
        content, priority, done, created_at, completed_at}."""
        return await reader.call(lambda q: q.list_todos(scope_type=scope_type, scope_id=scope_id,
                                                  include_done=include_done, limit=limit))

    @tool(annotations=READ_ONLY)
    async def get_lineage(
        node_type: Annotated[Literal["experiment", "run", "model"], Field(description="The kind of the start node.")],
        node_id: Annotated[str, Field(description="A run id (or unique prefix), an experiment id or path "
                                                  "(e.g. 'imagenet/resnet50/v1'), or a model id or "
                                                  "'name@version' (from list_models).")],
        direction: Annotated[Literal["ancestors", "descendants", "both"], Field(description=(
            "Walk towards parents ('ancestors'), children ('descendants') or both."))] = "both",
        depth: Annotated[int, Field(description="How many edges to walk, 1 to 5.")] = 2,
    ) -> ToolResult:
        """Walk the lineage graph (run derived_from run/model, run branched_from experiment/run)
        breadth-first from one node. Returns a flat graph {root, nodes: [{type, id, label}], edges:
        [{parent_type, parent_id, child_type, child_id, relation}]}; a node reached by two paths
        (a diamond) appears once. Labels: 'path#name' for runs, the path for experiments,
        'name@version' for models."""
        return await reader.call(lambda q: q.get_lineage(node_type, node_id, direction=direction, depth=depth))

    @tool(annotations=READ_ONLY)
    async def list_models(
        name_prefix: Annotated[str, Field(description="Only models whose name starts with this literal text.")] = "",
        limit: Limit = 50,
    ) -> ToolResult:
        """List registered models. Returns {items, total, truncated[, limit_clamped]}; each item:
        {id, name, version, run_id (the run that registered it), framework, artifact_path, metadata,
        created_at}."""
        return await reader.call(lambda q: q.list_models(name_prefix=name_prefix, limit=limit))

    @tool(annotations=READ_ONLY)
    async def get_curves(
        run_id: RunId,
        names: Annotated[list[str] | None, Field(description="Curve names to return (see get_run's "
                                                             "curves.names); null = all curves.")] = None,
        max_points: Annotated[int, Field(description="At most this many points per curve (default 500). "
                                                     "Longer curves are downsampled keeping each bucket's "
                                                     "min and max, so spikes and divergences survive.")] = 500,
    ) -> ToolResult:
        """The streamed training curves of one run (sealed or still running: a running run's
        newest flushed points are included). Returns {run_id, curves: {name: [[step, value], ...]},
        points: {name: total points before downsampling}}."""
        return await reader.call(lambda q: q.get_curves(run_id, names=names, max_points=max_points))

    @tool(annotations=READ_ONLY)
    async def list_files(
        run_id: RunId,
        name_prefix: Annotated[str, Field(description="Only files whose name starts with this literal text, "
                                                      "e.g. 'eval/' (empty = all).")] = "",
        limit: Limit = 50,
    ) -> ToolResult:
        """The files and images one run logged (run.log_file, log_image, log_figure), by name then
        step: {run_id, items: [{name, kind ('file' | 'image'), step (null when untagged; the steps
        of an image series), size (bytes), media_type, width, height (images), caption}], total,
        truncated[, limit_clamped]}. Names and sizes only: file contents are never returned (open
        them with `git vault open RUN NAME`)."""
        wanted, clamped = clamp_limit(limit)
        return await reader.call(lambda q: files_page(run_id, q.files(run_id), name_prefix, wanted, clamped))

    @tool(annotations=READ_ONLY)
    async def vault_log(
        limit: Annotated[int, Field(description="How many commits to return, newest first (default 20, "
                                                "values above 500 are clamped).")] = 20,
        runs_per_commit: Annotated[int, Field(description=(
            "How many runs to list under each commit (default 5, 0 to 500); the others are counted in "
            "more_runs. list_runs or search(where=...) list every run."))] = history.RUNS_PER_COMMIT,
    ) -> ToolResult:
        """Recent commits of the repository's current branch (the code history, newest first), each
        with the runs that ran on it, as `git vault log` shows them: {branch, items: [{sha,
        short_sha, summary, author, committed_at, parents, runs: [{id, label, name, status,
        started_at, state, dirty, linked_via, metrics}], n_runs, more_runs (when runs_per_commit
        left some out)}], truncated[, limit_clamped]}. state is
        'clean' (started on this commit with a clean tree), 'dirty' (started on it with uncommitted
        changes not committed since), 'linked' (its uncommitted code was committed here; linked_via
        names how: post-commit, amend, rebase, catch-up) or 'orphaned' (it ran on a commit that an
        amend or rebase rewrote to other code). metrics are the run's headline values."""
        wanted, clamped = clamp_limit(limit)
        per_commit = history.check_runs_per_commit(runs_per_commit)
        return await reader.call(lambda q: history.vault_log(q, wanted, clamped, per_commit))

    return mcp


FILE_FIELDS = ("name", "kind", "step", "size", "media_type", "width", "height", "caption")
"""What `list_files` tells of a file: never its bytes, nor where its blob is."""


def files_page(run_id: str, items: Sequence[Mapping[str, Any]], prefix: str, limit: int, clamped: bool) -> dict[str, Any]:
    wanted = [{k: item.get(k) for k in FILE_FIELDS} for item in items if str(item.get("name")).startswith(prefix)]
    page: dict[str, Any] = {"run_id": run_id, "items": wanted[:limit], "total": len(wanted),
                            "truncated": len(wanted) > limit}
    if clamped:
        page["limit_clamped"] = True
    return page


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gitvault.mcp_server",
        description="Read-only MCP server (stdio) over the gitvault vault of a git repository.")
    parser.add_argument("--store", default=None, metavar="PATH",
                        help="the repository (any path inside it) or its .extract folder; "
                             "default: the current directory")
    return parser.parse_args(argv)


def serve(store: str | Path | None) -> int:
    """Run the server on stdin/stdout until the client disconnects (`gitvault.mcp_server.serve`)."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="gitvault-mcp: %(levelname)s %(message)s")
    reader = VaultReader(store)
    reader.start().add_done_callback(_report_start)
    try:
        build_server(reader).run("stdio")
    finally:
        reader.close()
    return 0


def _report_start(opened: Future[str | None]) -> None:
    problem = opened.result()
    if problem:
        log.warning("%s (every tool will answer with this until it is fixed)", problem)


def main(argv: Sequence[str] | None = None) -> int:
    return serve(parse_args(argv).store)
