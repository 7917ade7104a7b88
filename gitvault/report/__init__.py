"""A report to share: one self-contained HTML page (or a Markdown file with PNG charts) of runs,
curves, config differences, images, tables and notes (`git vault report`, `Store.report`).

selection (`select`) -> a `Report` of plain data read through `gitvault.query` (`model.collect`)
-> HTML (`html.render`) or Markdown with PNG charts (`markdown.write`). Charts: Vega-Lite specs
built with Altair, drawn in the page by the inlined Vega bundle and to PNG by vl-convert
(`charts`); notes: markdown-it-py (`notes`). These are the ``report`` extra, imported only here.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from gitvault.query import Query
    from gitvault.report.model import Report

__all__ = ["HtmlReport", "build", "write_html"]


def build(q: Query, runs: Sequence[str] = (), *, where: str | None = None, title: str | None = None,
          metrics: Sequence[str] | None = None, curves: Sequence[str] | None = None, baseline: str | None = None,
          max_points: int | None = None) -> Report:
    """The report of ``runs`` (ids, prefixes, names, ``path#name`` labels, experiment paths) and/or
    the runs ``where`` matches; see `gitvault.report.model.collect` for the rest."""
    from gitvault.report import charts, model
    from gitvault.report.select import select

    charts.require()
    ids = select(q, list(runs), where)
    said = " ".join(runs) + (" " if runs and where else "") + (f"where {where}" if where else "")
    return model.collect(q, ids, selection=said, title=title, metrics=metrics, curves=curves, baseline=baseline,
                         max_points=model.MAX_POINTS if max_points is None else max_points)


def write_html(report: Report, out: Path) -> Path:
    """Write the page to ``out`` (replaced whole, through a temporary file)."""
    from gitvault.report import html

    return replace_file(out, html.render(report).encode("utf-8"))


def replace_file(out: Path, data: bytes) -> Path:
    """``data`` into ``out`` by a rename: a reader never sees half a report."""
    import os

    out = Path(out).expanduser()
    if out.is_dir():
        raise IsADirectoryError(f"{out} is a folder; give the report a file name, e.g. {out / 'report.html'}")
    tmp = out.with_name(f".{out.name}.gitvault-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out


class HtmlReport(str):
    """The page's HTML (a ``str``); Jupyter shows it in a sandboxed frame (`_repr_html_`), so its
    scripts and styles stay inside it."""

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{escape(str(self), quote=True)}" style="width:100%;height:900px;border:0" '
                'sandbox="allow-scripts"></iframe>')
