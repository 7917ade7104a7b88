"""The report's curve charts as Vega-Lite specs, built with Altair; the Vega JavaScript bundle and
PNG rendering come from vl-convert (a Rust build of Vega's own renderer: no browser, no network).

One chart per metric group (``train/*``, ``val/*``): a panel per metric, each with its own y scale,
hover values (the point under the pointer), zoom and pan (wheel and drag; double-click resets) and a log-y
toggle the page applies by drawing the spec again with ``log`` (``symlog`` where a value is 0 or
below). Runs keep one colour in every chart (`gitvault.report.model.PALETTE`).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitvault import extras

if TYPE_CHECKING:
    from gitvault.report.model import ChartGroup, Report

PANEL_WIDTH, PANEL_HEIGHT = 330, 210


def require() -> None:
    """One line naming the report extra (Altair, vl-convert-python, markdown-it-py) when a module
    of it is missing."""
    extras.require("report", "git vault report")


def run_keys(report: Report) -> dict[str, str]:
    """Each run's name in legends and tooltips: its label, with the end of its id when two runs
    share a label."""
    labels = [r.label for r in report.runs]
    return {r.id: r.label if labels.count(r.label) == 1 else f"{r.label} ({r.id[-6:]})" for r in report.runs}


def dataset(report: Report, group: ChartGroup) -> list[dict[str, Any]]:
    """One row per (run, metric): its steps and values as arrays (flattened by the spec), which
    keeps the page small (no key repeated per point)."""
    keys = run_keys(report)
    return [{"run": keys[c.run], "m": p.metric, "s": c.steps, "v": c.values} for p in group.panels for c in p.curves]


def spec(report: Report, index: int, *, interactive: bool = True) -> dict[str, Any]:
    """The Vega-Lite spec of ``report.groups[index]`` (data in ``datasets``). ``interactive``:
    with the hover points and zoom (a picture has neither: its points would only cost time)."""
    import altair as alt

    group = report.groups[index]
    keys = run_keys(report)
    colour = alt.Color("run:N", title="run", scale=alt.Scale(domain=list(keys.values()),
                                                              range=[r.colour for r in report.runs]),
                       legend=alt.Legend(orient="bottom", columns=2, labelLimit=520, symbolType="stroke"))
    panels = []
    for i, panel in enumerate(group.panels):
        hover = alt.selection_point(name=f"hover{i}", on="pointerover", empty=False, clear="pointerout")
        zoom = alt.selection_interval(name=f"zoom{i}", bind="scales")
        line = alt.Chart().mark_line(strokeWidth=1.5, invalid="break-paths-show-domains")
        points = alt.Chart().mark_point(filled=True, size=40).encode(
            opacity=alt.when(hover).then(alt.value(1)).otherwise(alt.value(0.01)),  # 0 is never picked
            tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("m:N", title="metric"),
                     alt.Tooltip("s:Q", title="step"), alt.Tooltip("v:Q", title="value", format=".6~g")],
        ).transform_filter("isValid(datum.v) && isFinite(datum.v)").add_params(hover, zoom)
        panels.append(alt.layer(*([line, points] if interactive else [line]), title=panel.metric).encode(
            x=alt.X("s:Q", title="step"),
            y=alt.Y("v:Q", title=panel.metric, scale=alt.Scale(type="linear", zero=False)),
            color=colour,
        ).transform_filter(alt.FieldEqualPredicate(field="m", equal=panel.metric))
         .transform_flatten(["s", "v"]).properties(width=PANEL_WIDTH, height=PANEL_HEIGHT))
    name = f"group{index}"
    columns = 2 if len(panels) == 4 else min(len(panels), 3)  # four panels as two rows of two
    chart = alt.concat(*panels, columns=columns, data=alt.Data(name=name))
    out: dict[str, Any] = chart.to_dict()
    out.pop("$schema", None)  # an address, never fetched: left out so the page names no URL
    out["datasets"] = {name: dataset(report, group)}
    return out


def log_types(group: ChartGroup) -> list[str]:
    """Each panel's scale under the log-y toggle: ``log``, or ``symlog`` when a value is 0 or below."""
    return ["log" if p.positive else "symlog" for p in group.panels]


def png(chart_spec: dict[str, Any]) -> bytes:
    """The chart drawn to PNG by vl-convert (no browser), at twice the pixels for sharp text."""
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(chart_spec, scale=2))


@functools.lru_cache(maxsize=1)
def script_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (`vegaEmbed`, `vega`, `vegaLite` on
    ``window``), from vl-convert. Its three addresses are inert text (an error message's issue
    link, the "open in editor" action, which the page turns off, and a schema id) and lose their
    scheme, so the page names no http(s) URL but XML namespaces; nothing in it is fetched.

    vl-convert bundles the libraries on each call (3-4 s), so the result is kept in the user's
    cache folder (``$XDG_CACHE_HOME/gitvault``, else ``~/.cache/gitvault``) per vl-convert
    version; where that cannot be written, it is bundled again each time."""
    from importlib.metadata import version

    cached = bundle_cache() / f"vega-bundle-{version('vl-convert-python')}.js"
    try:
        return cached.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = _bundle()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass
    return text


def bundle_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gitvault"


def _bundle() -> str:
    import vl_convert

    bundle = vl_convert.javascript_bundle("window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;")
    return re.sub(r"https?://(?!www\.w3\.org/)", "", bundle)
