"""The shapes the query layer returns, as `TypedDict`s: what a front-end (CLI, MCP server, TUI) or
the SDK may rely on in each item, detail and page.

At run time these are plain dicts (a `TypedDict` is a dict), so JSON and MCP output are the dicts
themselves; the types are for readers and the type checker (the query modules import this module
only when type checking, so it costs a reading process nothing). Keys marked `NotRequired` are present
only sometimes (``limit_clamped`` only when a limit was clamped, a live run's ``last_flush`` only in
its detail, ...). Values read from records are typed as the records hold them; JSON values given
by users (config, metadata, env) are `Any`.

- run items: `RunItem` (`Query.runs`, `list_runs`, `search`), with ``value`` (`RankedRunItem`,
  `top_runs`), with how it is tied to a commit (`CommitRunItem`, `runs_for_commits`), with its
  state under a commit (`HistoryRun`, `history`); `ColumnItem` when `runs` is given ``columns``;
- pages: `Page` (``items, total, truncated[, limit_clamped]``) of `ExperimentItem`, `TodoItem`,
  `ModelItem`; `RunsPage` adds ``next_cursor``;
- one run: `RunDetail` (`get_run`) with its `Artifact`, `TodoItem`, `GitDetail` and `CurveSummary`;
  its files and images: `FileItem` (`files`), `FileBlob` (`file`, `folder`);
- `History` (`history`: `HistoryCommit` = `Commit` + runs), `Changes` (`changes`: `LiveChange`),
  `Comparison` (`compare_runs`), `RunDiff` (`diff_runs`), `RunCurves` (`get_curves`), `Lineage`
  (`get_lineage`).
"""

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

T = TypeVar("T")

Metrics = dict[str, float | None]
"""Headline value of each scalar metric; NaN is None, +-inf stay floats."""
Points = list[list[float | int]]
"""A downsampled curve: ``[[step, value], ...]``."""


# -- pages -------------------------------------------------------------------------------------

class Page(TypedDict, Generic[T]):
    """One page of a listing: ``truncated`` when ``total`` is more than the items given."""
    items: list[T]
    total: int
    truncated: bool
    limit_clamped: NotRequired[bool]  # present (True) when the limit asked for was above 500


class RunsPage(Page[T]):
    """`Query.runs`: a page plus the cursor of the next one (None on the last page)."""
    next_cursor: str | None


# -- runs --------------------------------------------------------------------------------------

class ConfigSummary(TypedDict):
    n_keys: int
    top_level_keys: list[str]


class RunItem(TypedDict):
    """A run in a listing, sealed or running."""
    id: str
    label: str  # "experiment/path#name"
    experiment_id: str | None
    experiment_path: str | None
    name: str | None
    status: str  # running | completed | failed | crashed
    started_at: str | None
    ended_at: str | None
    tags: list[str]
    git_sha: str | None
    hostname: str | None
    config_summary: ConfigSummary
    metrics: Metrics


class RunIndexItem(TypedDict):
    """`Query.run_index`: a run in the few fields a tree of runs needs."""
    id: str
    label: str
    experiment_id: str | None
    experiment_path: str | None
    name: str | None
    status: str
    started_at: str | None
    ended_at: str | None
    tags: list[str]
    archived: bool


ColumnItem = dict[str, Any]
"""An item of `Query.runs` given ``columns``: ``{id, <column>: value, ...}``."""


class RankedRunItem(RunItem):
    """`Query.top_runs`: a run item and its value of the ranked metric."""
    value: float | None


class CommitRunItem(RunItem):
    """`Query.runs_for_commits`: a run item and how it is tied to the commit."""
    linked_via: str  # "git_sha" (made on it), or a link's via: "post-commit", "amend", "orphaned..."
    dirty: bool


class HistoryRun(CommitRunItem):
    """A run under a commit of `Query.history`; an orphaned run also names the rewritten commit and
    the patch (a blob) that turns this commit into its code."""
    state: Literal["clean", "dirty", "linked", "orphaned"]
    rewritten_from: NotRequired[str | None]
    patch: NotRequired[str | None]


class Artifact(TypedDict):
    id: str | None
    name: str | None
    kind: str | None
    step: int | None
    path: str | None  # the file in this clone, when the artifact has one
    blob: str | None
    shape: Any
    dtype: str | None
    metadata: Any
    created_at: str | None
    size: int | None  # the blob's bytes, recorded for files and images


class FileItem(TypedDict):
    """`Query.files`: a file or image a run logged (`gitvault.storage.records.file_item`)."""
    name: str
    kind: str  # "file" or "image"
    step: int | None
    size: int | None  # bytes
    media_type: str | None  # e.g. image/png, text/csv
    width: int | None  # images
    height: int | None
    caption: str | None
    folder: str | None  # the folder given to log_file, for its files
    blob: str | None
    created_at: str | None


class FileBlob(FileItem):
    """`Query.file`: a `FileItem` and its blob's path in this clone, sha256 checked."""
    path: str


class RunLink(TypedDict):
    commit: str
    via: str | None
    created_at: str | None


class GitDetail(TypedDict):
    sha: str | None
    branch: str | None
    dirty: bool | None
    tree: str | None
    patch: str | None  # blob of the uncommitted changes
    links: list[RunLink]  # commits linked later (none while running)


class CurveSummary(TypedDict):
    names: list[str]
    points: int
    last_step: int | None


class TodoItem(TypedDict):
    id: str
    scope_type: str  # global | experiment | run
    scope_id: str | None
    content: str
    done: bool
    priority: int | None
    created_at: str | None
    completed_at: str | None


class RunDetail(TypedDict):
    """`Query.get_run`: everything about one run."""
    id: str
    experiment_id: str | None
    experiment_path: str | None
    name: str | None
    label: str
    status: str
    started_at: str | None
    ended_at: str | None
    hostname: str | None
    git_sha: str | None
    tags: list[str]
    notes: str
    config: dict[str, Any]
    metrics_final: Metrics
    metrics_available: list[str]
    run_params: dict[str, str]
    artifacts: list[Artifact]
    todos: list[TodoItem]
    git: GitDetail
    env: dict[str, Any]
    rerun: str | None  # one shell line that runs it again (`gitvault.query.rerun`), None without a command
    total_steps: int | None
    archived: bool
    curves: CurveSummary
    last_flush: NotRequired[float | None]  # running runs only: unix time of the newest flushed frame


# -- experiments, models -----------------------------------------------------------------------

class ExperimentItem(TypedDict):
    id: str
    path: str
    name: str
    node_type: str | None  # the hierarchy level
    parent_id: str | None
    n_runs: int
    specimen_id: str | None
    domain: str | None
    method: str | None
    model: str | None
    tags: list[str]
    created_at: str | None
    archived: bool  # a flag, never a status: its runs keep theirs


class ModelItem(TypedDict):
    id: str
    name: str
    version: str
    run_id: str | None
    framework: str | None
    artifact_path: str | None
    metadata: Any
    created_at: str | None
    size: int | None
    aliases: list[str]
    """The aliases naming this version (``latest``, ``best``, ...), sorted."""


class ModelDetail(ModelItem):
    """One model version as `Query.get_model` gives it: the item plus its stored files."""
    ref: str
    """What was asked for (``name@version``, ``name@alias``, ``name`` or an id)."""
    blob: str | None
    """The sha256 of a one-file model."""
    files: dict[str, str] | None
    """relative path -> sha256, for a model registered from a directory."""
    all_aliases: dict[str, str]
    """Every alias of the model's name -> the version it names."""


# -- history -----------------------------------------------------------------------------------

class Commit(TypedDict):
    """A commit as `gitvault.query.history.log_commits` reads it from ``git log``."""
    sha: str
    short: str  # git's abbreviation
    parents: list[str]
    author: str
    email: str
    date: str  # git's own date format
    authored_at: str  # ISO 8601
    committed_at: str | None  # UTC, "...Z"
    summary: str


class HistoryCommit(Commit):
    runs: list[HistoryRun]


class History(TypedDict):
    """`Query.history`: commits newest first with their runs."""
    branch: str | None  # None when HEAD is detached
    items: list[HistoryCommit]
    truncated: bool
    limit_clamped: NotRequired[bool]


# -- changes -----------------------------------------------------------------------------------

class CurveSeries(TypedDict):
    steps: list[int]
    values: list[float | None]


class LiveChange(TypedDict):
    """A live run that started or grew since the last look."""
    id: str
    status: str  # running | crashed
    new: bool  # started since
    points: int
    last_step: int | None
    metrics: Metrics  # headline values logged since
    tags: list[str]
    curves: NotRequired[dict[str, CurveSeries]]  # with changes(points=True): the new curve points


class Changes(TypedDict):
    """`Query.changes`: what changed since a token."""
    token: str
    changed: bool
    reset: bool
    runs: list[str]
    experiments: list[str]
    records: dict[str, list[str]]  # kind -> ids
    config: bool
    live: list[LiveChange]


# -- comparing and curves ----------------------------------------------------------------------

class CompareRun(RunItem):
    config: dict[str, Any]


class MetricComparison(TypedDict):
    direction: str  # min | max
    values: dict[str, float | None]  # run id -> value
    ranking: list[str]  # run ids, best first


class Comparison(TypedDict):
    """`Query.compare_runs`."""
    runs: list[CompareRun]
    metrics: dict[str, MetricComparison]
    config_diffs: dict[str, dict[str, Any]]  # dotted key -> run id -> value
    curves: NotRequired[dict[str, dict[str, Points]]]  # curve name -> run id -> points


class ValueChange(TypedDict):
    a: Any
    b: Any


class FieldChanges(TypedDict):
    added: dict[str, Any]
    removed: dict[str, Any]
    changed: dict[str, ValueChange]


class MetricDiff(TypedDict):
    direction: str
    a: float | None
    b: float | None
    delta: float | None  # b - a, when both are finite
    better: Literal["a", "b", "tie"] | None


class RunDiff(TypedDict):
    """`Query.diff_runs`: run ``b`` against run ``a``."""
    a: RunItem
    b: RunItem
    config: FieldChanges
    params: FieldChanges
    metrics: dict[str, MetricDiff]


class RunCurves(TypedDict):
    """`Query.get_curves`."""
    run_id: str
    curves: dict[str, Points]
    points: dict[str, int]  # each curve's full count


# -- lineage -----------------------------------------------------------------------------------

class LineageNode(TypedDict):
    type: str  # experiment | run | model
    id: str
    label: str


class LineageEdge(TypedDict):
    parent_type: str
    parent_id: str
    child_type: str
    child_id: str
    relation: str


class Lineage(TypedDict):
    """`Query.get_lineage`."""
    root: LineageNode
    nodes: list[LineageNode]
    edges: list[LineageEdge]
