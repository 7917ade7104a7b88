"""A `Report` as Markdown for a pull request or a wiki: ``report.md`` and, in ``report_files/``
beside it, one PNG per chart (drawn by vl-convert from the same Vega-Lite specs as the page, no
browser) and the runs' images as PNG files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
import re

from gitvault import __version__
from gitvault.display import number, value_text
from gitvault.report import charts, replace_file
from gitvault.report.html import curve_notes, metric_text
from gitvault.report.model import Report


def cell(text: str) -> str:
    """Text safe in a Markdown table cell: pipes escaped, on one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def write(report: Report, out: Path) -> list[Path]:
    """Write ``out`` (report.md) and its files folder (``<stem>_files/``); returns every file written."""
    out = Path(out).expanduser()
    folder = out.with_name(f"{out.stem}_files")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> str:
        written.append(replace_file(folder / name, data))
        return PurePosixPath(folder.name, name).as_posix()

    lines = [f"# {report.title}", "",
             f"- **Selection:** {report.selection}",
             f"- **Repository:** {report.repository}" + (f" (branch {report.branch})" if report.branch else ""),
             f"- **Runs:** {len(report.runs)}" + (f", {len(report.running)} running when this was made"
                                                   if report.running else ""),
             "- **Commits:** " + ("; ".join(f"`{c.short}` {c.summary}" for c in report.commits) or "none recorded"),
             f"- **Made:** {report.made_at}", ""]
    if report.missing:
        lines += ["Not shown, not in this clone:", "", *(f"- {m}" for m in report.missing), ""]
    lines += ["## Runs", ""]
    head = ["run", "id", "status", *report.config_columns,
            *(f"{m.name} {'↓' if m.direction == 'min' else '↑' if m.direction == 'max' else ''}".rstrip()
              for m in report.metrics)]
    lines += ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for run in report.runs:
        row = [run.label, f"`{run.id}`", f"**{run.status}**" if run.status == "running" else run.status]
        row += [value_text(run.config[k]) if k in run.config else "-" for k in report.config_columns]
        row += [(f"**{metric_text(run, m.name)}** ★" if run.id in m.best else metric_text(run, m.name))
                for m in report.metrics]
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    lines += ["", "★ best value (↓ smaller is better, ↑ larger)."]
    if report.groups:
        lines += ["", "## Curves", ""]
        legend = ", ".join(f"{r.label} ({r.colour})" for r in report.runs)
        for i, group in enumerate(report.groups):
            name = group.name or "curves"
            path = put(f"curves-{i}-{_slug(name)}.png", charts.png(charts.spec(report, i, interactive=False)))
            lines += [f"### {name}", "", f"![{name}]({path})", ""]
            lines += [f"- {line}" for line in curve_notes(report, i)] + [""]
        lines += [f"Colours: {legend}."]
    if report.diffs and report.baseline is not None:
        base = report.run(report.baseline)
        lines += ["", "## Against the baseline", "", f"Baseline: {base.label} (`{base.id}`)", ""]
        for diff in report.diffs:
            run = report.run(diff.run)
            lines += [f"### {run.label}", "", "| key | baseline | this run |", "|---|---|---|"]
            for section, changes in (("config", diff.config), ("params", diff.params)):
                lines += [f"| `{cell(section + '.' + c.key)}` | {cell(_value(c.baseline))} | {cell(_value(c.value))} |"
                          for c in changes]
            lines += ["", "| metric | baseline | this run | change |", "|---|---|---|---|"]
            lines += [f"| {cell(m.name)} | {metric_text(base, m.name)} | {metric_text(run, m.name)} | "
                      f"{'' if m.delta is None else ('+' if m.delta > 0 else '') + number(m.delta)}"
                      f"{' (better)' if m.better == 'b' else ' (worse)' if m.better == 'a' else ''} |"
                      for m in diff.metrics]
            lines.append("")
    if report.series:
        lines += ["", "## Images", ""]
        for series in report.series:
            run = report.run(series.run)
            more = f" ({len(series.pictures)} of {series.total} steps)" if len(series.pictures) < series.total else ""
            lines += [f"### {series.name} · {run.label}{more}", ""]
            for pic in series.pictures:
                step = "" if pic.step is None else f"-step{pic.step}"
                path = put(f"{_slug(run.id[-8:] + '-' + series.name)}{step}.png", pic.data)
                label = " · ".join(x for x in (f"step {pic.step}" if pic.step is not None else "", pic.caption or "") if x)
                lines.append(f"![{cell(series.name + ' ' + label)}]({path}) ")
            lines.append("")
    if report.tables:
        lines += ["", "## Tables", ""]
        for table in report.tables:
            at = f" at step {table.step}" if table.step is not None else ""
            lines += [f"### {table.name}{at} · {report.run(table.run).label} ({'x'.join(map(str, table.shape))})", ""]
            if table.rows is None:
                lines += [table.why, ""]
                continue
            width = max((len(r) for r in table.rows), default=0)
            lines += ["| " + " | ".join(str(i) for i in range(width)) + " |", "|" + "---|" * width]
            lines += ["| " + " | ".join(number(v) for v in row) + " |" for row in table.rows]
            lines.append("")
    noted = [r for r in report.runs if r.notes.strip()]
    if noted or report.texts:
        lines += ["", "## Notes", ""]
        for run in noted:
            lines += [f"### {run.label}", "", run.notes.strip(), ""]
        for text in report.texts:
            lines += [f"### {text.name} · {report.run(text.run).label}", "", text.content.strip(), ""]
    if report.others:
        lines += ["", "## Other files", "", "| run | name | kind | step | bytes |", "|---|---|---|---|---|"]
        lines += [f"| {cell(report.run(o.run).label)} | `{cell(o.name)}` | {o.kind} | {'' if o.step is None else o.step} | "
                  f"{'' if o.size is None else o.size} |" for o in report.others]
    lines += ["", f"_Made by gitvault {__version__} (git vault report)._", ""]
    return [replace_file(out, "\n".join(lines).encode("utf-8")), *written]


def _value(value: object) -> str:
    return "(none)" if value is None else value_text(value)
