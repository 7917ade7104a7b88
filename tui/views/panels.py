"""The detail panel: the dashboard (nothing selected), an experiment's summary (a node with
sub-experiments, or a leaf with runs) and a run's summary and info tabs."""

from __future__ import annotations

import fnmatch
import math
import statistics
from typing import TYPE_CHECKING, Any, Sequence

from gitvault.display import headline, number, tags_text, value_text
from gitvault.tui.state import State
from gitvault.tui.tree import Node
from gitvault.tui.views import artifacts as artifact_views
from gitvault.tui.views import media as media_views
from gitvault.tui.views.text import (STATUS_GLYPH, Line, blank, duration, fit, heading, kv, pad, status_style,
                                     table, when, wrap)

if TYPE_CHECKING:
    from gitvault.tui import chart

CHART_HEIGHT = 12


def loading(what: str) -> list[Line]:
    return [[("class:dim", f"loading {what}…")]]


# -- dashboard -----------------------------------------------------------------------------------

def dashboard(state: State, width: int) -> list[Line]:
    """Counts, recent runs, the best runs per headline metric, running runs with their progress."""
    data = state.dashboard
    if data is None:
        return loading("the dashboard")
    runs = list(state.runs.values())
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    n_exp = sum(1 for n in state.tree.nodes.values() if n.kind == "experiment")
    out: list[Line] = [[("class:title", "gitvault"), ("class:dim", f"  {data.get('where', '')}")], blank()]
    if not runs:
        out += wrap("No runs yet. Log one from Python (gitvault.Store().experiment(...).run()) or try "
                    "`git vault demo`; it appears here as soon as it starts.", width, "class:dim")
        return out
    summary: Line = [("", f"{n_exp} experiments · {len(runs)} runs  ")]
    for status in ("running", "completed", "failed", "crashed"):
        if counts.get(status):
            summary += [(status_style(status), f"{STATUS_GLYPH[status]} {counts[status]} {status}  ")]
    archived = sum(1 for r in runs if r.get("archived"))
    if archived:
        summary.append(("class:dim", f"({archived} archived)"))
    out += [fit(summary, width), blank()]
    running = data.get("running") or []
    if running:
        out.append(heading(f"Running ({len(running)})", width))
        for r in running:
            total, last = r.get("total_steps"), r.get("last_step")
            progress = f"step {last}" + (f"/{total}" if total else "") if last is not None else "no points yet"
            bar = ""
            if total and last is not None:
                filled = max(0, min(20, round(20 * (last + 1) / total)))
                bar = "█" * filled + "░" * (20 - filled) + " "
            out.append(fit([(status_style("running"), "● "), ("", pad(r["label"], 40) + " "),
                            ("class:accent", bar), ("class:dim", progress)], width))
        out.append(blank())
    out.append(heading("Recent runs", width))
    recent = data.get("recent") or []
    metrics = headline(r.get("metrics") for r in recent)[:3]
    rows = [[(status_style(r["status"]), STATUS_GLYPH.get(r["status"], "?")), ("", r["label"]),
             ("class:dim", when(r.get("started_at")))] + [("", number(r["metrics"].get(m))) for m in metrics]
            for r in recent]
    out += table(["", "run", "started", *metrics], rows, width, max_col=40)
    best = data.get("best") or {}
    if best:
        out += [blank(), heading("Best runs", width)]
        for metric, items in best.items():
            direction = state.directions.get(metric, "")
            arrow = {"min": "↓", "max": "↑"}.get(direction, "")
            out.append([("class:key", f"{metric} {arrow}")])
            for item in items:
                out.append(fit([("class:good", "  " + pad(number(item.get("value")), 12)), ("", item["label"])], width))
    return out


# -- experiments ---------------------------------------------------------------------------------

def experiment(state: State, node: Node, width: int) -> list[Line]:
    """A node's summary (children, status breakdown, ranking per metric) or, for an experiment
    that holds runs, the leaf summary (its runs, mean ± std [min, max] per metric, curves)."""
    items = state.experiment_runs.get(node.id)
    if items is not None and not state.show_archived:
        items = [r for r in items if not state.runs.get(r["id"], {}).get("archived")]
    out: list[Line] = [[("class:title", node.path)] + ([("class:dim", f"  ({node.node_type})")] if node.node_type else [])]
    breakdown: Line = [("", f"{len(node.sub_experiments)} sub-experiments · " if node.sub_experiments else ""),
                       ("", f"{node.n_runs} runs  ")]
    for status in ("running", "completed", "failed", "crashed"):
        if node.counts.get(status):
            breakdown.append((status_style(status), f"{STATUS_GLYPH[status]} {node.counts[status]} {status}  "))
    if node.archived_runs:
        breakdown.append(("class:dim", f"({node.archived_runs} archived{'' if state.show_archived else ', H shows'})"))
    out += [fit(breakdown, width), blank()]
    if items is None:
        return out + loading("its runs")
    metrics = headline(r.get("metrics") for r in items)
    if node.sub_experiments:
        out.append(heading("Children", width))
        rows = [[("class:key", c.name), ("", str(c.n_runs)),
                 (status_style(c.colour_status()), " ".join(f"{STATUS_GLYPH.get(s, s)}{n}" for s, n in c.counts.items()))]
                for c in node.sub_experiments]
        out += table(["child", "runs", "status"], rows, width, max_col=40)
        if metrics:
            out += [blank(), heading("Ranking of the children (their best run)", width)]
            for m in metrics:
                out += _ranking(state, node, items, m, width)
    if node.runs:
        out += [blank()] if len(out) > 2 else []
        out += leaf_sections(state, node, [r for r in items if r.get("experiment_id") == node.id], width)
    return out


def newest_run(state: State, node: Node) -> Node | None:
    """The run an experiment's summary shows the curves of: its newest one that is shown."""
    shown = [r for r in node.runs if state.show_archived or not r.archived]
    return shown[-1] if shown else None


def _ranking(state: State, node: Node, items: list[dict[str, Any]], metric: str, width: int) -> list[Line]:
    direction = state.directions.get(metric, "max")
    best: dict[str, float] = {}
    for child in node.sub_experiments:
        prefix = child.path + "/"
        values = [r["metrics"].get(metric) for r in items
                  if (r.get("experiment_path") or "") == child.path or (r.get("experiment_path") or "").startswith(prefix)]
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if finite:
            best[child.name] = min(finite) if direction == "min" else max(finite)
    ordered = sorted(best.items(), key=lambda kv: kv[1], reverse=direction != "min")
    arrow = {"min": "↓ lower is better", "max": "↑ higher is better"}.get(direction, "")
    lines: list[Line] = [[("class:key", metric), ("class:dim", f"  {arrow}")]]
    for rank, (name, value) in enumerate(ordered, 1):
        lines.append(fit([("class:good" if rank == 1 else "", f"  {rank}. {pad(name, 24)} {number(value)}")], width))
    return lines


def leaf_sections(state: State, node: Node, items: list[dict[str, Any]], width: int) -> list[Line]:
    """An experiment's own runs, in the order (and with the parts) of config.toml's
    ``[summary] sections``: ``runs`` (status, top metrics, tags), ``metrics`` (mean ± std [min,
    max] over them), ``tables`` (the newest run's params and tables), ``curves`` (its charts)."""
    metrics = headline(r.get("metrics") for r in items)
    newest = newest_run(state, node)
    data = state.details.get(newest.id) if newest is not None else None
    out: list[Line] = []
    for section in state.settings.get("summary", ("runs", "metrics", "tables", "curves")):
        part: list[Line] = []
        if section == "runs":
            part = runs_table(state, items, metrics[:3], width)
        elif section == "metrics" and metrics and len(items) > 1:
            part = [heading("Metrics over runs: mean ± std [min, max]", width)]
            part += [kv(m, spread([r["metrics"].get(m) for r in items]), width, key_width=18) for m in metrics]
        elif section == "tables" and newest is not None:
            part = [heading(f"Newest run {newest.name}: params and tables", width)]
            part += loading("the run") if data is None else params_and_tables(data, width, state.heatmap_values,
                                                                             state.settings.get("highlight", ()))
        elif section == "curves" and newest is not None:
            part = [heading(f"Newest run {newest.name}: curves (select a run for its own)", width)]
            part += curve_charts(state, newest.id, width)
        if part:
            out += part + [blank()]
    return out


def runs_table(state: State, items: list[dict[str, Any]], top: list[str], width: int) -> list[Line]:
    rows = []
    for r in items:
        mark = "★" if r["id"] == state.baseline else ("◆" if r["id"] in state.marks else " ")
        rows.append([(status_style(r["status"]), f"{mark}{STATUS_GLYPH.get(r['status'], '?')}"),
                     ("", r.get("name") or r["id"][:10]), ("class:dim", when(r.get("started_at")))]
                    + [("", number(r["metrics"].get(m))) for m in top] + [("class:tag", tags_text(r.get("tags"), " "))])
    return [heading(f"Runs ({len(items)})", width)] + table(["", "run", "started", *top, "tags"], rows, width)


def spread(values: Sequence[Any]) -> str:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not finite:
        return "no finite value"
    std = statistics.pstdev(finite) if len(finite) > 1 else 0.0
    missing = len(values) - len(finite)
    return (f"{number(statistics.fmean(finite))} ± {number(std)} [{number(min(finite))}, {number(max(finite))}]"
            + (f"  ({missing} without)" if missing else ""))


# -- one run -------------------------------------------------------------------------------------

def run_header(state: State, run_id: str, width: int) -> list[Line]:
    item = state.runs.get(run_id, {})
    node = state.tree.get("r:" + run_id)
    siblings = node.parent.runs if node is not None and node.parent is not None else []
    position = f"  run {siblings.index(node) + 1}/{len(siblings)}" if node in siblings else ""
    status = item.get("status", "")
    tabs: Line = []
    for tab in ("summary", "info"):
        style = "class:tab.active" if state.detail_tab == tab else "class:tab"
        tabs += [(style, f" {tab[0].upper()}{tab[1:]} "), ("", " ")]
    return [fit([(status_style(status), f"{STATUS_GLYPH.get(status, '?')} "), ("class:title", item.get("label", run_id)),
                 ("class:dim", position), ("", "  "), (status_style(status), status)]
                + ([("class:accent", "  ★ baseline")] if run_id == state.baseline else [])
                + ([("class:accent", "  ◆ marked")] if run_id in state.marks and run_id != state.baseline else []), width),
            fit(tabs + [("class:dim", "S/I switch")], width), blank()]


def run_panel(state: State, run_id: str, width: int) -> list[Line]:
    """A run: its header and tabs, then its summary or its info."""
    out = run_header(state, run_id, width)
    data = state.details.get(run_id)
    if data is None:
        return out + loading("the run")
    return out + (run_info(state, data, width) if state.detail_tab == "info" else run_summary(state, run_id, data, width))


def run_summary(state: State, run_id: str, data: dict[str, Any], width: int) -> list[Line]:
    """Metrics (with their direction), params, tables, curves; a failure's last line."""
    out: list[Line] = []
    run = data["run"]
    if run["metrics_final"]:
        out.append(heading("Metrics", width))
        for name, value in run["metrics_final"].items():
            arrow = {"min": " ↓", "max": " ↑"}.get(state.directions.get(name, ""), "")
            out.append(kv(name + arrow, number(value), width, key_width=22))
        out.append(blank())
    out += params_and_tables(data, width, state.heatmap_values,
                                                                             state.settings.get("highlight", ()))
    out += media_views.summary(run["artifacts"], width)
    out += curve_charts(state, run_id, width)
    if run["status"] in ("failed", "crashed") and data.get("texts", {}).get("traceback"):
        out += [blank(), heading("Traceback (I for the whole info)", width)]
        out += wrap(data["texts"]["traceback"].rstrip().splitlines()[-1], width, "class:error")
    return out


def params_and_tables(data: dict[str, Any], width: int, values: bool = False,
                      highlight: Sequence[dict[str, Any]] = ()) -> list[Line]:
    """The run's params, then every matrix it logged (each version of a step-tagged one, titled
    ``name @ step N``) as a heatmap, or with ``values`` each cell's value (`#` switches)."""
    out: list[Line] = []
    params = data["run"]["run_params"]
    if params:
        out.append(heading("Params", width))
        out += [kv(k, str(v), width, key_width=22) for k, v in params.items()]
        out.append(blank())
    tables = data.get("matrices")
    if tables is None:  # a detail loaded before `loads.matrices`: the first version of each
        tables = [{"name": n, "step": None, "shape": list(m.shape), "axes": None, "matrix": m, "why": ""}
                  for n, m in (data.get("tables") or {}).items()]
    for t in tables:
        title = t["name"] + ("" if t.get("step") is None else f" @ step {t['step']}")
        shape = "x".join(map(str, t.get("shape") or []))
        out.append(heading(f"Table {title}  {shape}  # {'colours' if values else 'values'}", width))
        if t.get("matrix") is None:
            out.append(fit([("class:dim", f"not drawn: {t.get('why') or 'not loaded'}")], width))
        else:
            out += artifact_views.heatmap(t["matrix"], width, t.get("axes"), zoom=values, highlight=highlight)
        out.append(blank())
    return out


def matrix_lines(matrix: Any, width: int, most: int = 20, highlight: Sequence[dict[str, Any]] = ()) -> list[Line]:
    """A small table's cells (at most ``most`` rows and the columns that fit; the rest counted),
    each in the colour of the first ``[[tables.highlight]]`` rule it matches."""
    rows, cols = (matrix.shape + (1,))[:2] if matrix.ndim >= 1 else (1, 1)
    grid = matrix.reshape(rows, -1) if matrix.ndim != 2 else matrix
    cell = 9
    fits = max(1, (width - 6) // (cell + 1))
    out: list[Line] = [[("class:th", "      " + " ".join(pad(f"C{j}", cell) for j in range(min(cols, fits))))]]
    for i in range(min(rows, most)):
        line: Line = [("class:th", pad(f"R{i}", 6))]
        for j in range(min(cols, fits)):
            value = _py(grid[i, j])
            text = number(value)
            rule = artifact_views.highlighted(float(value), text, highlight) \
                if highlight and isinstance(value, (int, float)) else None
            line.append((f"fg:{rule}" if rule else "", pad(text, cell) + " "))
        out.append(line)
    more = artifact_views.left_out(rows, cols, min(rows, most), min(cols, fits))
    if more:
        out.append([("class:dim", f"      ({more}; shape {rows}x{cols})")])
    return out


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def curve_charts(state: State, run_id: str, width: int) -> list[Line]:
    """One braille chart per curve group (``train/loss`` beside ``val/loss``), x pinned to the
    run's total_steps; each drawn once per (curves loaded, group, width, chart settings)."""
    curves = state.curves.get(run_id)
    if curves is None:
        return loading("the curves")
    if not curves:
        return [[("class:dim", "no curves")]]
    data = state.details.get(run_id)
    total = data["run"].get("total_steps") if data else None
    out: list[Line] = [heading(f"Curves ({len(curves)})  y log-y · s smooth · z zoom", width)]
    from gitvault.tui import chart  # numpy, loaded by the first chart drawn rather than at start

    options = chart_options(state, total)
    chart_width = min(width, int(state.settings.get("summary_width") or width))  # [summary] curve_width
    for title, names in chart.group_curves(list(curves)):
        out += drawn(curves, title, names, chart_width, options)
        out.append(blank())
    return out


_DRAWN: dict[tuple[int, str, int, chart.ChartOptions], tuple[object, list[Line]]] = {}
_DRAWN_MOST = 256


def drawn(curves: dict[str, Any], title: str, names: list[str], width: int, options: chart.ChartOptions) -> list[Line]:
    """A chart of ``curves[names]``, cached: the curves of a run are a new dict each time they are
    loaded (so its identity is their data version), kept alive by the cache while it holds them."""
    key = (id(curves), title, width, options)
    hit = _DRAWN.get(key)
    if hit is not None and hit[0] is curves:
        return hit[1]
    from gitvault.tui import chart

    series = [chart.Series(chart.legend_label(n, title) if len(names) > 1 else n, *curves[n]) for n in names]
    lines = chart.render(title, series, width, CHART_HEIGHT, options)
    if len(_DRAWN) >= _DRAWN_MOST:
        _DRAWN.pop(next(iter(_DRAWN)))
    _DRAWN[key] = (curves, lines)
    return lines


def chart_options(state: State, total_steps: int | None) -> chart.ChartOptions:
    from gitvault.tui import chart

    return chart.ChartOptions(log_y=state.chart.log_y, smooth=state.chart.smooth, last_n=state.chart.last_n,
                              x_max=total_steps)


def run_info(state: State, data: dict[str, Any], width: int) -> list[Line]:
    """Ids, times, host, git, how to rerun, config, tags, notes, artifacts, texts, lineage, TODOs,
    the traceback of a failure."""
    out: list[Line] = []
    run = data["run"]
    git = run["git"]
    out.append(heading("Run", width))
    out += [kv("id", run["id"], width), kv("name", run.get("name") or "", width),
            kv("experiment", run.get("experiment_path") or "", width),
            kv("status", run["status"], width, style=status_style(run["status"])),
            kv("started", when(run.get("started_at")), width),
            kv("ended", when(run.get("ended_at")) or "(running)", width),
            kv("duration", duration(run.get("started_at"), run.get("ended_at")), width),
            kv("host", run.get("hostname") or "", width)]
    if run.get("total_steps"):
        out.append(kv("total steps", str(run["total_steps"]), width))
    if run["curves"]["points"]:
        out.append(kv("curves", f"{len(run['curves']['names'])} curves, {run['curves']['points']} points, "
                                f"last step {run['curves']['last_step']}", width))
    out.append(blank())
    out.append(heading("Git", width))
    sha = git.get("sha") or ""
    out.append(kv("commit", (sha[:12] + ("  + uncommitted changes (dirty)" if git.get("dirty") else "")) if sha
                  else "(not in a git commit)", width, style="class:warn" if git.get("dirty") else ""))
    if git.get("branch"):
        out.append(kv("branch", git["branch"], width))
    for link in git.get("links") or []:
        out.append(kv("linked to", f"{link['commit'][:12]} ({link.get('via') or 'link'})", width))
    if run.get("rerun"):
        out.append(kv("rerun", run["rerun"], width, style="class:accent"))
    out.append(blank())
    out += config_lines(run.get("config") or {}, state.info_fields, width)
    if run["run_params"]:
        out.append(heading("Params", width))
        out += [kv(k, str(v), width, key_width=22) for k, v in run["run_params"].items()]
        out.append(blank())
    if run.get("tags"):
        out += [heading("Tags", width), [("class:tag", tags_text(run["tags"], "  "))], blank()]
    if run.get("notes"):
        out.append(heading("Notes", width))
        out += wrap(run["notes"], width)
        out.append(blank())
    texts = data.get("texts") or {}
    artifacts = [a for a in run.get("artifacts") or [] if a.get("kind") not in media_views.FILE_KINDS]
    out += media_views.summary(run.get("artifacts") or [], width)  # files and images: listed, not one row each
    if artifacts:
        out.append(heading(f"Artifacts ({len(artifacts)})", width))
        rows = [[("", a.get("name") or ""), ("class:dim", a.get("kind") or ""),
                 ("", "" if a.get("step") is None else str(a["step"])),
                 ("class:dim", "x".join(map(str, a["shape"])) if isinstance(a.get("shape"), list) else ""),
                 ("class:dim", str(a.get("dtype") or ""))]
                for a in artifacts]
        out += table(["name", "kind", "step", "shape", "dtype"], rows, width, max_col=40)
        out.append(blank())
    for tensor in data.get("tensors") or []:
        out.append(heading(f"Tensor {tensor['name']}", width))
        out += artifact_views.tensor_preview(tensor, width)
        out.append(blank())
    formats = data.get("text_formats") or {}
    for name, text in texts.items():
        if name == "traceback":
            continue
        markdown = formats.get(name) == "markdown"
        out.append(heading(f"Text {name}" + ("  (markdown)" if markdown else ""), width))
        out += artifact_views.markdown(text, width) if markdown else wrap(text.rstrip(), width)
        out.append(blank())
    lineage = data.get("lineage")
    if lineage and lineage.get("edges"):
        out.append(heading("Lineage", width))
        labels = {(n["type"], n["id"]): n["label"] for n in [lineage["root"], *lineage["nodes"]]}
        for e in lineage["edges"]:
            parent = labels.get((e["parent_type"], e["parent_id"]), e["parent_id"])
            child = labels.get((e["child_type"], e["child_id"]), e["child_id"])
            out.append(fit([("", f"{e['child_type']} {child} "), ("class:accent", f"─{e['relation']}→ "),
                            ("", f"{e['parent_type']} {parent}")], width))  # as `git vault lineage` writes it
        out.append(blank())
    if run.get("todos"):
        out.append(heading("TODOs", width))
        for t in run["todos"]:
            out.append(fit([("class:good" if t["done"] else "", "[x] " if t["done"] else "[ ] "),
                            ("", "!" * int(t.get("priority") or 0) + " " + t["content"])], width))
        out.append(blank())
    if texts.get("traceback"):
        out.append(heading("Traceback", width))
        for line in texts["traceback"].rstrip().splitlines():
            out += wrap(line, width, "class:error")
    return out


def config_lines(config: dict[str, Any], fields: list[str], width: int) -> list[Line]:
    """The config flattened to dotted keys, filtered by the ``[info] fields`` globs when set."""
    from gitvault.query import flatten

    flat = flatten(config)
    shown = {k: v for k, v in flat.items() if not fields or any(fnmatch.fnmatchcase(k, g) for g in fields)}
    title = f"Config ({len(shown)} of {len(flat)} keys, [info] fields)" if fields else f"Config ({len(flat)} keys)"
    out: list[Line] = [heading(title, width)]
    key_width = min(32, max([len(k) for k in shown] + [8]) + 1)
    out += [kv(k, value_text(v), width, key_width=key_width) for k, v in shown.items()]
    return out + [blank()]


def detail(state: State, width: int) -> list[Line]:
    """What the detail panel shows for the selection."""
    if state.problem:
        return wrap(state.problem, width, "class:error")
    if not state.loaded:
        return loading("the vault")
    node = state.selected
    if node is None:
        return dashboard(state, width)
    if node.kind == "experiment":
        return experiment(state, node, width)
    return run_panel(state, node.id, width)


def tree_line(state: State, index: int, width: int) -> Line:
    """One row of the experiment tree."""
    row = state.rows[index]
    node = row.node
    selected = index == state.cursor
    indent = "  " * row.depth
    if node.kind == "experiment":
        arrow = ("▾ " if row.expanded else "▸ ") if row.has_children else "  "
        colour = status_style(node.colour_status())
        glyph = STATUS_GLYPH.get(node.colour_status(), "·")
        count = f" {node.n_runs}" + (f"+{node.archived_runs}a" if state.show_archived and node.archived_runs else "")
        line: Line = [("", indent + arrow), (colour, glyph + " "),
                      ("class:dim" if node.archived else "class:tree.experiment", node.name), ("class:dim", count)]
        if node.archived:
            line.append(("class:dim", " (archived)"))
    else:
        mark = "★" if node.id == state.baseline else ("◆" if node.id in state.marks else " ")
        line = [("", indent + "  "), ("class:accent", mark), (status_style(node.status), STATUS_GLYPH.get(node.status, "?") + " "),
                ("class:dim" if node.archived else "", node.name)]
        if node.archived:
            line.append(("class:dim", " (archived)"))
    line = fit(line, width)
    if selected:
        used = sum(len(t) for _, t, *_ in line)
        line = [(s + " class:selected", t) for s, t, *_ in line] + [("class:selected", " " * max(0, width - used))]
    return line
