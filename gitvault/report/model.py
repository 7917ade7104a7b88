"""A report's content as plain data, independent of how it is drawn: `collect` reads the selected
runs through `gitvault.query` (items, details, config differences, curves downsampled with
`gitvault.query.downsample`, files and images, tables) into a `Report`, which the HTML and
Markdown renderers (`gitvault.report.html`, `gitvault.report.markdown`) only format."""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gitvault.cache.state import flatten
from gitvault.display import finite, group_of, grouped, headline, listed
from gitvault.errors import BlobError, QueryError, VaultError
from gitvault.query.compare import config_diffs
from gitvault.query.downsample import check_max_points, downsample
from gitvault.query.history import current_branch, log_commits
from gitvault.query.runs import rank

if TYPE_CHECKING:
    from gitvault.query import Query
    from gitvault.query.shapes import RunDetail

MAX_POINTS = 1000
"""Points per curve and run in the charts: the first and last, and each bucket's lowest and highest
value (`gitvault.query.downsample`), so spikes survive; 20 runs x 8 curves stay near 5 MB."""
SERIES_MOST = 12
"""Pictures of one image series shown: evenly spaced steps, the first and last among them."""
TABLE_CELLS_MOST = 2_000
"""A logged table of more cells is named with its shape, not printed."""
PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79")
"""One colour per run (Vega's tableau10, then ten of category20's): the same in every chart and table."""


@dataclass
class RunRow:
    id: str
    label: str
    colour: str
    status: str
    experiment: str | None
    name: str | None
    started_at: str | None
    ended_at: str | None
    hostname: str | None
    git_sha: str | None
    tags: list[str]
    config: dict[str, Any]  # flattened: ``optimizer.name``
    metrics: dict[str, Any]
    notes: str
    last_flush: float | None = None  # a running run: its writer's last flush (unix time)


@dataclass
class MetricColumn:
    name: str
    direction: str  # min, max or unknown
    best: set[str]  # run ids holding the best finite value (none when the direction is unknown)


@dataclass
class Curve:
    run: str
    steps: list[int]
    values: list[float | None]  # NaN and infinities as None (a gap), counted in `nonfinite`
    points: int  # in the run, before downsampling
    nonfinite: dict[str, int]  # {"NaN": 3, "Infinity": 1}


@dataclass
class Panel:
    metric: str
    curves: list[Curve]

    @property
    def positive(self) -> bool:
        """Every drawn value is above 0: a log scale fits (else the log toggle draws symlog)."""
        return all(v is None or v > 0 for c in self.curves for v in c.values)


@dataclass
class ChartGroup:
    name: str  # ``train`` for train/*; "" for names without a slash
    panels: list[Panel]


@dataclass
class Picture:
    step: int | None
    caption: str | None
    media_type: str
    data: bytes
    width: int | None
    height: int | None


@dataclass
class Series:
    run: str
    name: str
    pictures: list[Picture]
    total: int  # pictures of this name in the run


@dataclass
class Table:
    run: str
    name: str
    step: int | None
    shape: list[int]
    rows: list[list[Any]] | None
    why: str = ""  # why rows is None


@dataclass
class Text:
    run: str
    name: str
    content: str


@dataclass
class Other:
    """A file or artifact the report does not draw, listed so that nothing is left out silently."""
    run: str
    name: str
    kind: str
    size: int | None
    step: int | None = None


@dataclass
class Change:
    key: str
    kind: str  # added, removed, changed
    baseline: Any
    value: Any


@dataclass
class MetricDelta:
    name: str
    direction: str
    baseline: Any
    value: Any
    delta: float | None
    better: str | None  # "a" (the baseline), "b" (this run), "tie" or None


@dataclass
class BaselineDiff:
    run: str
    config: list[Change]
    params: list[Change]
    metrics: list[MetricDelta]


@dataclass
class Commit:
    sha: str
    short: str
    summary: str
    date: str | None
    runs: list[str]  # run ids that ran on it or were linked to it


@dataclass
class Report:
    title: str
    selection: str
    repository: str
    branch: str | None
    made_at: str
    runs: list[RunRow]
    metrics: list[MetricColumn]
    config_columns: list[str]
    groups: list[ChartGroup]
    baseline: str | None
    diffs: list[BaselineDiff]
    series: list[Series] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what this clone lacks (blobs not pulled), said on the page
    max_points: int | None = MAX_POINTS

    def run(self, run_id: str) -> RunRow:
        return next(r for r in self.runs if r.id == run_id)

    @property
    def running(self) -> list[RunRow]:
        return [r for r in self.runs if r.status == "running"]


def collect(q: Query, ids: list[str], *, selection: str, title: str | None = None,
            metrics: Sequence[str] | None = None, curves: Sequence[str] | None = None,
            baseline: str | None = None, max_points: int | None = MAX_POINTS) -> Report:
    """The report of the runs ``ids`` (resolved, in order). ``metrics``: the runs table's metric
    columns (default: the headline metrics most of them share); ``curves``: curve names or
    patterns (``train/*``) to chart (default: every curve); ``baseline``: the run the others'
    config and metrics are compared with (default: the first)."""
    max_points = check_max_points(max_points)
    details = {rid: q.get_run(rid) for rid in ids}
    rows = [_row(details[rid], PALETTE[i % len(PALETTE)]) for i, rid in enumerate(ids)]
    for row in rows:
        if row.status == "running":  # its spool holds NaN and infinities as logged (a run item has them as None)
            state = q.live_state(row.id) or {}
            row.metrics.update({k: v.get("value") for k, v in (state.get("metrics") or {}).items()
                                if isinstance(v, dict) and k in row.metrics})
    columns = _metric_columns(q, rows, metrics)
    missing: list[str] = []
    base = q.resolve_run(baseline) if baseline is not None else (ids[0] if len(ids) > 1 else None)
    if base is not None and base not in details:
        raise QueryError(f"--baseline {baseline} is not among the selected runs; add it to the selection")
    repo = q.paths.work_tree or q.paths.common_dir
    report = Report(
        title=title or _default_title(rows), selection=selection, repository=Path(repo).name,
        branch=current_branch(repo), made_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        runs=rows, metrics=columns, config_columns=list(config_diffs(ids, q.configs_of(ids))),
        groups=_charts(q, ids, details, curves, max_points, missing), baseline=base,
        diffs=[_diff(q, base, rid) for rid in ids if base is not None and rid != base], max_points=max_points,
        missing=missing)
    for rid in ids:
        _media(q, rid, details[rid], report)
    report.commits = _commits(repo, details)
    return report


def _row(d: RunDetail, colour: str) -> RunRow:
    last_flush = d.get("last_flush")
    return RunRow(id=d["id"], label=d["label"], colour=colour, status=str(d["status"]), experiment=d["experiment_path"],
                  name=d["name"], started_at=d["started_at"], ended_at=d["ended_at"], hostname=d["hostname"],
                  git_sha=d["git_sha"], tags=[str(t) for t in d["tags"] or []], config=flatten(d["config"] or {}),
                  metrics=dict(d["metrics_final"]), notes=d["notes"] or "",
                  last_flush=float(last_flush) if isinstance(last_flush, (int, float)) else None)


def _default_title(rows: list[RunRow]) -> str:
    experiments = sorted({r.experiment or "?" for r in rows})
    return f"{len(rows)} run{'s' if len(rows) != 1 else ''} of {listed(experiments, 3)}"


def _metric_columns(q: Query, rows: list[RunRow], wanted: Sequence[str] | None) -> list[MetricColumn]:
    known = sorted({n for r in rows for n in r.metrics})
    if wanted is None:
        names = headline(r.metrics for r in rows)
    else:
        names = list(dict.fromkeys(wanted))
        for name in names:
            if name not in known:
                raise QueryError(f"no metric {name!r} in these runs; their metrics: {listed(known, 10) or 'none'}")
    out = []
    for name in names:
        direction = q.metric_direction(name)
        values = [(r.id, r.metrics.get(name)) for r in rows if name in r.metrics]
        ranked = rank(values, direction) if direction in ("min", "max") else []
        best = ranked[0][1] if ranked and finite(ranked[0][1]) else None
        out.append(MetricColumn(name, direction, {i for i, v in values if best is not None and finite(v) and v == best}))
    return out


def _charts(q: Query, ids: list[str], details: dict[str, RunDetail], patterns: Sequence[str] | None,
            max_points: int | None, missing: list[str]) -> list[ChartGroup]:
    available = sorted({n for d in details.values() for n in d["curves"]["names"]})
    chosen = available
    if patterns is not None:
        chosen = []
        for pattern in patterns:
            hits = [n for n in available if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                raise QueryError(f"no curve {pattern!r} in these runs; their curves: {listed(available, 10) or 'none'}")
            chosen.extend(hits)
        chosen = list(dict.fromkeys(chosen))
    panels: dict[str, Panel] = {name: Panel(name, []) for name, _ in grouped(dict.fromkeys(chosen))}
    for rid in ids:
        try:
            arrays, totals = q.curve_arrays(rid, [n for n in chosen if n in details[rid]["curves"]["names"]])
        except BlobError as exc:
            missing.append(f"the curves of {details[rid]['label']}: {exc}")
            continue
        for name, (steps, values) in arrays.items():
            panels[name].curves.append(_curve(rid, steps, values, totals[name], max_points))
    groups: dict[str, ChartGroup] = {}
    for panel in panels.values():
        if panel.curves:
            groups.setdefault(group_of(panel.metric), ChartGroup(group_of(panel.metric), [])).panels.append(panel)
    return list(groups.values())


def _curve(rid: str, steps: Any, values: Any, points: int, max_points: int | None) -> Curve:
    import numpy as np

    bad = {"NaN": int(np.isnan(values).sum()), "Infinity": int(np.isposinf(values).sum()),
           "-Infinity": int(np.isneginf(values).sum())}
    kept_steps, kept = downsample(steps, values, max_points)
    shown = [v if math.isfinite(v) else None for v in kept.tolist()]
    return Curve(rid, [int(s) for s in kept_steps.tolist()], shown, points, {k: n for k, n in bad.items() if n})


def _diff(q: Query, base: str, rid: str) -> BaselineDiff:
    d = q.diff_runs(base, rid)

    def changes(section: Any) -> list[Change]:
        out = [Change(k, "removed", v, None) for k, v in section["removed"].items()]
        out += [Change(k, "added", None, v) for k, v in section["added"].items()]
        out += [Change(k, "changed", pair["a"], pair["b"]) for k, pair in section["changed"].items()]
        return sorted(out, key=lambda c: c.key)

    deltas = [MetricDelta(name, m["direction"], m["a"], m["b"], m["delta"], m["better"])
              for name, m in grouped(d["metrics"])]
    return BaselineDiff(rid, changes(d["config"]), changes(d["params"]), deltas)


def _media(q: Query, rid: str, detail: RunDetail, report: Report) -> None:
    """The run's images (as series), tables, texts, and every other file or artifact by name."""
    by_name: dict[str, list[Any]] = {}
    for item in q.files(rid):
        if item["kind"] == "image":
            by_name.setdefault(item["name"], []).append(item)
        else:
            report.others.append(Other(rid, item["name"], "file", item["size"], item["step"]))
    for name, items in by_name.items():
        pictures = []
        for i in _spread(items, SERIES_MOST):
            try:
                data = q.file_bytes(rid, name, i["step"])
            except BlobError as exc:
                at = "" if i["step"] is None else f" at step {i['step']}"
                report.missing.append(f"image {name}{at} of {detail['label']}: {exc}")
                continue
            pictures.append(Picture(i["step"], i["caption"], str(i["media_type"] or "image/png"), data, i["width"],
                                    i["height"]))
        report.series.append(Series(rid, name, pictures, len(items)))
    for artifact in detail["artifacts"]:
        kind, name = artifact["kind"] or "", artifact["name"] or ""
        if kind == "matrix":
            report.tables.append(_table(rid, artifact))
        elif kind == "text" and artifact["path"] and Path(artifact["path"]).exists():
            report.texts.append(Text(rid, name, Path(artifact["path"]).read_text("utf-8", errors="replace")))
        elif kind == "text":
            report.missing.append(f"text {name} of {detail['label']}: its blob is not in this clone (git vault pull)")
        elif kind not in ("file", "image"):
            report.others.append(Other(rid, name, kind, artifact["size"], artifact["step"]))


def _spread(items: list[Any], most: int) -> list[Any]:
    """At most ``most`` items, evenly spaced, the first and the last included."""
    if len(items) <= most:
        return items
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


def _table(rid: str, artifact: Any) -> Table:
    shape = [int(n) for n in artifact["shape"] or []]
    table = Table(rid, artifact["name"] or "", artifact["step"], shape, None)
    if math.prod(shape) > TABLE_CELLS_MOST:
        table.why = f"{math.prod(shape):,} cells, more than {TABLE_CELLS_MOST:,}: read it with store.get_run(RUN).table(NAME)"
    elif not artifact["path"] or not Path(artifact["path"]).exists():
        table.why = "its blob is not in this clone (git vault pull)"
    else:
        import numpy as np

        try:
            matrix = np.load(artifact["path"], allow_pickle=False)
        except (OSError, ValueError) as exc:
            table.why = f"unreadable: {exc}"
        else:
            matrix = matrix.reshape(1, -1) if matrix.ndim < 2 else matrix.reshape(matrix.shape[0], -1)
            table.rows = matrix.tolist()
    return table


def _commits(repo: Path, details: dict[str, RunDetail]) -> list[Commit]:
    """The commits the runs ran on or were linked to, with their subject as git gives it."""
    runs_of: dict[str, list[str]] = {}
    for rid, d in details.items():
        for sha in [d["git_sha"], *(link["commit"] for link in d["git"]["links"])]:
            if sha:
                runs_of.setdefault(sha, []).append(rid)
    out = []
    for sha, rids in runs_of.items():
        try:
            found, _ = log_commits(repo, ["--no-walk", sha, "--"], limit=1)
        except VaultError:
            found = []
        if found:
            c = found[0]
            out.append(Commit(c["sha"], c["short"], c["summary"], c["committed_at"], list(dict.fromkeys(rids))))
        else:
            out.append(Commit(sha, sha[:12], "(not in this clone)", None, list(dict.fromkeys(rids))))
    return out
