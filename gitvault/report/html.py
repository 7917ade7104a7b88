"""A `Report` as one self-contained HTML page: every script, style and image inline (images as
``data:`` URIs), a Content-Security-Policy that lets the page fetch nothing, and a print style
sheet (`git vault report`, `Store.report`)."""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

from gitvault import __version__
from gitvault.display import number, value_text
from gitvault.report import charts, notes
from gitvault.report.model import Report, RunRow

CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'")
"""Nothing leaves the page: no fetch, image, font or frame from anywhere (Vega compiles its
expressions with ``Function``, hence ``unsafe-eval``)."""

STYLE = """
:root { color-scheme: light; --muted: #666; --line: #ddd; --best: #e8f5e9; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
table { border-collapse: collapse; font-size: .88rem; margin: .4rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .2rem .45rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: var(--best); font-weight: 600; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem;
          vertical-align: -1px; }
.badge { display: inline-block; padding: 0 .35rem; border-radius: 3px; font-size: .8rem; background: #eee; }
.badge.running { background: #fff3cd; color: #7a5a00; font-weight: 600; }
.badge.failed, .badge.crashed { background: #f8d7da; color: #842029; }
.badge.completed { background: #d1e7dd; color: #0f5132; }
.muted, .note { color: var(--muted); font-size: .85rem; }
.warn { background: #fff3cd; border: 1px solid #e0c36a; padding: .2rem .8rem; font-size: .88rem; }
.chart { margin: .3rem 0; min-height: 260px; }
.series { display: flex; flex-wrap: wrap; gap: .5rem; }
figure { margin: 0; text-align: center; font-size: .78rem; color: var(--muted); }
figure img { display: block; min-width: 64px; max-width: 320px; border: 1px solid var(--line); }
figure img.small { image-rendering: pixelated; width: 96px; }
.notes { border-left: 3px solid var(--line); padding-left: .8rem; margin: .4rem 0 1rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; }
nav a { margin-right: .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  nav, .toggle, .vega-bindings { display: none; }
  section, .chart, figure, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  .badge, td.best, .swatch { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

GLUE = """
window.gitvaultViews = {};
async function gitvaultDraw(id, logy) {
  const el = document.getElementById(id);
  const spec = JSON.parse(document.getElementById('spec-' + id).textContent);
  const types = JSON.parse(el.dataset.log);
  spec.concat.forEach((panel, i) => { panel.encoding.y.scale.type = logy ? types[i] : 'linear'; });
  if (window.gitvaultViews[id]) window.gitvaultViews[id].finalize();
  const result = await vegaEmbed(el, spec, {mode: 'vega-lite', actions: false, renderer: 'canvas'});
  window.gitvaultViews[id] = result.view;
}
window.gitvaultReady = Promise.all(Array.from(document.querySelectorAll('.chart'), el => gitvaultDraw(el.id, false)));
document.querySelectorAll('input.logy').forEach(box => box.addEventListener('change',
  () => { window.gitvaultReady = gitvaultDraw(box.dataset.chart, box.checked); }));
"""


def render(report: Report) -> str:
    """The page, as text."""
    parts = [_header(report), _nav(report), _runs(report), _curves(report), _baseline(report), _images(report),
             _tables(report), _notes(report), _others(report),
             f'<footer class="muted"><p>Made by gitvault {escape(__version__)} (git vault report); charts: '
             "Vega-Lite through Altair and vl-convert, inlined.</p></footer>"]
    scripts = "" if not report.groups else (f"<script>{charts.script_bundle()}</script>\n"
                                            + "".join(_spec_script(report, i) for i in range(len(report.groups)))
                                            + f"<script>{GLUE}</script>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(p for p in parts if p) + "\n" + scripts + "\n</body>\n</html>\n")


def _spec_script(report: Report, index: int) -> str:
    text = json.dumps(charts.spec(report, index), allow_nan=False, separators=(",", ":"))
    return f'<script type="application/json" id="spec-chart{index}">{_script_safe(text)}</script>\n'


def _script_safe(text: str) -> str:
    """JSON inside a <script> element: no ``</script>`` or ``<!--`` can end it early."""
    return text.replace("<", "\\u003c")


def _header(report: Report) -> str:
    running = report.running
    rows = [("Selection", escape(report.selection)),
            ("Repository", escape(report.repository) + (f" (branch {escape(report.branch)})" if report.branch else "")),
            ("Runs", f"{len(report.runs)}" + (f", {len(running)} running when this was made" if running else "")),
            ("Commits", "<br>".join(
                f"<code>{escape(c.short)}</code> {escape(c.summary)}" + (f' <span class="muted">{escape(c.date)}</span>'
                                                                         if c.date else "")
                for c in report.commits) or '<span class="muted">none recorded</span>'),
            ("Made", escape(report.made_at))]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    missing = "".join(f"<li>{escape(m)}</li>" for m in report.missing)
    warn = f'\n<div class="warn"><p>Not shown, not in this clone:</p><ul>{missing}</ul></div>' if missing else ""
    return f"<header>\n<h1>{escape(report.title)}</h1>\n<dl class=\"meta\">{meta}</dl>{warn}\n</header>"


def _nav(report: Report) -> str:
    links = [("runs", "Runs"), ("curves", "Curves") if report.groups else None,
             ("baseline", "Against the baseline") if report.diffs else None,
             ("images", "Images") if report.series else None, ("tables", "Tables") if report.tables else None,
             ("notes", "Notes") if any(r.notes for r in report.runs) or report.texts else None,
             ("files", "Other files") if report.others else None]
    return "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in (x for x in links if x)) + "</nav>"


def run_cell(run: RunRow) -> str:
    return f'<span class="swatch" style="background:{run.colour}"></span>{escape(run.label)}'


def status_badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _runs(report: Report) -> str:
    head = ["run", "id", "status", "started", *report.config_columns,
            *(f"{m.name} {'↓' if m.direction == 'min' else '↑' if m.direction == 'max' else ''}".rstrip()
              for m in report.metrics)]
    body = []
    for run in report.runs:
        cells = [f"<td>{run_cell(run)}</td>", f"<td><code>{escape(run.id)}</code></td>",
                 f"<td>{status_badge(run.status)}</td>", f"<td>{escape((run.started_at or '')[:16].replace('T', ' '))}</td>"]
        cells += [f"<td>{escape(value_text(run.config[k])) if k in run.config else '<span class=muted>-</span>'}</td>"
                  for k in report.config_columns]
        for m in report.metrics:
            best = run.id in m.best
            shown = escape(metric_text(run, m.name))
            cells.append(f'<td class="num{" best" if best else ""}"'
                         f'{" title=best" if best else ""}>{shown}{" ★" if best else ""}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    unknown = [m.name for m in report.metrics if m.direction not in ("min", "max")]
    legend = ("<p class=\"note\">★ best value (↓ smaller is better, ↑ larger); "
              + (f"no best marked for {escape(', '.join(unknown))}: its direction is unknown "
                 "(git vault config add metrics.minimize NAME). " if unknown else "")
              + "Config columns: the keys whose values differ between these runs.</p>")
    table = ("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")
    return f'<section id="runs">\n<h2>Runs</h2>\n{table}\n{legend}\n</section>'


def metric_text(run: RunRow, name: str) -> str:
    """A headline metric as tables print it; "" when the run has none, NaN for a NaN (the cache
    keeps a NaN headline as null)."""
    if name not in run.metrics:
        return ""
    value = run.metrics[name]
    return "NaN" if value is None else number(value)


def _curves(report: Report) -> str:
    if not report.groups:
        return ""
    out = ['<section id="curves">\n<h2>Curves</h2>',
           '<p class="note">Hover for values; drag to pan, wheel to zoom, double-click to reset. '
           + (f"Each curve is drawn from at most {report.max_points:,} of its points (first, last, and the lowest "
              "and highest of each stretch, so spikes stay)." if report.max_points else "Every point is drawn.")
           + "</p>"]
    for i, group in enumerate(report.groups):
        out.append(f"<h3>{escape(group.name or 'curves')}</h3>")
        out.append(f'<label class="toggle"><input type="checkbox" class="logy" data-chart="chart{i}"> log y</label>')
        out.append(f"<div class=\"chart\" id=\"chart{i}\" data-log='{json.dumps(charts.log_types(group))}'></div>")
        out.extend(f'<p class="note">{escape(line)}</p>' for line in curve_notes(report, i))
    return "\n".join(out) + "\n</section>"


def curve_notes(report: Report, index: int) -> list[str]:
    """What the chart cannot draw or draws thinned, in words: NaN and infinities (gaps in the
    line), a curve downsampled from its full count."""
    lines = []
    for panel in report.groups[index].panels:
        for curve in panel.curves:
            label = report.run(curve.run).label
            if curve.nonfinite:
                counts = ", ".join(f"{n:,} {k}" for k, n in curve.nonfinite.items())
                lines.append(f"{panel.metric} of {label}: {counts} (not drawn: gaps in the line)")
            if len(curve.steps) < curve.points:
                lines.append(f"{panel.metric} of {label}: {curve.points:,} points, {len(curve.steps):,} drawn")
    return lines


def _change_value(value: Any) -> str:
    return '<span class="muted">(none)</span>' if value is None else escape(value_text(value))


def _baseline(report: Report) -> str:
    if not report.diffs or report.baseline is None:
        return ""
    base = report.run(report.baseline)
    out = ['<section id="baseline">\n<h2>Against the baseline</h2>',
           f"<p>Baseline: {run_cell(base)} <code>{escape(base.id)}</code></p>"]
    for diff in report.diffs:
        run = report.run(diff.run)
        out.append(f"<h3>{run_cell(run)}</h3>")
        rows = [(f"config.{c.key}", c) for c in diff.config] + [(f"params.{c.key}", c) for c in diff.params]
        if rows:
            out.append("<table><thead><tr><th>key</th><th>baseline</th><th>this run</th></tr></thead><tbody>"
                       + "".join(f"<tr><td><code>{escape(k)}</code></td><td>{_change_value(c.baseline)}</td>"
                                 f"<td>{_change_value(c.value)}</td></tr>" for k, c in rows) + "</tbody></table>")
        else:
            out.append('<p class="note">Same config and params as the baseline.</p>')
        if diff.metrics:
            cells = []
            shown = {m.name: (metric_text(base, m.name), metric_text(run, m.name)) for m in diff.metrics}
            for m in diff.metrics:
                verdict = {"a": "worse", "b": "better", "tie": "equal"}.get(m.better or "", "")
                delta = "" if m.delta is None else ("+" if m.delta > 0 else "") + number(m.delta)
                cells.append(f"<tr><td>{escape(m.name)}</td><td class=num>{escape(shown[m.name][0])}</td>"
                             f"<td class=num>{escape(shown[m.name][1])}</td><td class=num>{escape(delta)}</td>"
                             f"<td>{verdict}</td></tr>")
            out.append("<table><thead><tr><th>metric</th><th>baseline</th><th>this run</th><th>change</th>"
                       "<th></th></tr></thead><tbody>" + "".join(cells) + "</tbody></table>")
    return "\n".join(out) + "\n</section>"


def data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _images(report: Report) -> str:
    if not report.series:
        return ""
    out = ['<section id="images">\n<h2>Images</h2>']
    for series in report.series:
        shown = len(series.pictures)
        more = f" ({shown} of {series.total} steps shown, evenly spaced)" if shown < series.total else ""
        out.append(f"<h3>{escape(series.name)} · {run_cell(report.run(series.run))}"
                   f'<span class="muted">{escape(more)}</span></h3><div class="series">')
        for pic in series.pictures:
            small = ' class="small"' if (pic.width or 0) < 64 else ""
            label = " · ".join(x for x in (f"step {pic.step}" if pic.step is not None else "", pic.caption or "") if x)
            out.append(f'<figure><img{small} src="{data_uri(pic.media_type, pic.data)}" '
                       f'alt="{escape(series.name)} {escape(label)}"><figcaption>{escape(label)}</figcaption></figure>')
        out.append("</div>")
    return "\n".join(out) + "\n</section>"


def _tables(report: Report) -> str:
    if not report.tables:
        return ""
    out = ['<section id="tables">\n<h2>Tables</h2>']
    for table in report.tables:
        at = f" at step {table.step}" if table.step is not None else ""
        out.append(f"<h3>{escape(table.name)}{escape(at)} · {run_cell(report.run(table.run))} "
                   f'<span class="muted">{escape("x".join(map(str, table.shape)))}</span></h3>')
        if table.rows is None:
            out.append(f'<p class="note">{escape(table.why)}</p>')
            continue
        out.append("<table><tbody>" + "".join(
            "<tr>" + "".join(f"<td class=num>{escape(number(v))}</td>" for v in row) + "</tr>" for row in table.rows)
            + "</tbody></table>")
    return "\n".join(out) + "\n</section>"


def _notes(report: Report) -> str:
    noted = [r for r in report.runs if r.notes.strip()]
    if not noted and not report.texts:
        return ""
    out = ['<section id="notes">\n<h2>Notes</h2>']
    for run in noted:
        out.append(f"<h3>{run_cell(run)}</h3>\n<div class=\"notes\">{notes.to_html(run.notes)}</div>")
    for text in report.texts:
        out.append(f"<h3>{escape(text.name)} · {run_cell(report.run(text.run))}</h3>\n"
                   f"<div class=\"notes\">{notes.to_html(text.content)}</div>")
    return "\n".join(out) + "\n</section>"


def _others(report: Report) -> str:
    if not report.others:
        return ""
    from gitvault.sizes import human_size

    rows = "".join(f"<tr><td>{run_cell(report.run(o.run))}</td><td><code>{escape(o.name)}</code></td>"
                   f"<td>{escape(o.kind)}</td><td>{'' if o.step is None else o.step}</td>"
                   f"<td class=num>{escape(human_size(o.size)) if isinstance(o.size, int) else ''}</td></tr>"
                   for o in report.others)
    return ('<section id="files">\n<h2>Other files</h2>\n<p class="note">Logged by these runs, not drawn here '
            "(git vault open RUN NAME --out DIR copies one out).</p>\n<table><thead><tr><th>run</th><th>name</th>"
            f"<th>kind</th><th>step</th><th>size</th></tr></thead><tbody>{rows}</tbody></table>\n</section>")


