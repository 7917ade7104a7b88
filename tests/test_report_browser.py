"""The report page in a real browser (issue 27): headless Chromium (Debian's ``chromium``; skipped
with the reason where there is none) opens the file written by `git vault report`, driven over the
DevTools protocol (`tests/browser_cdp.py`). Every request the page makes is logged: only the file
itself and its inline ``data:`` images may appear. No console error, every chart drawn, a screenshot
that is not blank, the value shown on hover equal to the SDK's, the log-y toggle, the print style."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault import Store
from tests.browser_cdp import Browser, find_chromium
from tests.conftest import make_repo, vault_run

for module in ("altair", "vl_convert", "markdown_it"):
    pytest.importorskip(module, reason="the report needs the report extra (altair, vl-convert-python, markdown-it-py)")
pytest.importorskip("websocket", reason="the browser is driven with websocket-client")
pytest.importorskip("PIL", reason="images and the screenshot check need Pillow")
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")

POINTS = """(() => {
  const out = [];
  for (const [id, view] of Object.entries(window.gitvaultViews)) {
    const box = view.container().querySelector('canvas').getBoundingClientRect();
    const [ox, oy] = view.origin(), pad = view.padding();  // the scene is drawn at origin + padding
    (function walk(mark, x, y) {
      if (mark.marktype === 'group') {
        for (const g of mark.items) for (const child of g.items || []) walk(child, x + (g.x || 0), y + (g.y || 0));
      } else if (mark.marktype === 'symbol') {
        for (const it of mark.items) if (it.datum && Number.isFinite(it.datum.v))
          out.push({chart: id, run: it.datum.run, metric: it.datum.m, step: it.datum.s, value: it.datum.v,
                    x: box.left + ox + pad.left + x + it.x, y: box.top + oy + pad.top + y + it.y});
      }
    })(view.scenegraph().root, 0, 0);
  }
  return out;
})()"""

TOOLTIP = """(() => {
  const el = document.getElementById('vg-tooltip-element');
  if (!el || !el.classList.contains('visible')) return null;
  return Object.fromEntries(Array.from(el.querySelectorAll('tr'),
    tr => [tr.querySelector('.key').textContent.replace(/:$/, ''), tr.querySelector('.value').textContent]));
})()"""

DRAWN = """Array.from(document.querySelectorAll('.chart'), el => {
  const c = el.querySelector('canvas');
  if (!c || !c.width || !c.height) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
  return painted;
})"""


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import numpy as np

    repo = make_repo(tmp_path_factory.mktemp("browser") / "project", "init")
    with Store(repo) as store:
        exp = store.experiment({"benchmark": "cifar", "model": "resnet", "variant": "lr"})
        for i, lr in enumerate([0.1, 0.01]):
            with exp.run(config={"lr": lr}, name=f"lr{lr}") as run:
                for step in range(300):
                    run.curve(step, **{"train/loss": 2 / (1 + step * lr) + 0.01 * i, "train/acc": step / 300 * (i + 1),
                                       "val/loss": 2.5 / (1 + step * lr)})
                run.curve(300, **{"train/loss": float("nan")})
                run.log(**{"val/acc": 0.8 + 0.05 * i})
                run.log_image("pred", np.full((8, 8, 3), 100 * i, dtype=np.uint8), step=0)
                run.note("*fine*")
    page = repo / "report.html"
    vault_run(repo, "report", "cifar", "-o", str(page), check=True)
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)
    try:
        browser.open(page)
        browser.evaluate("window.gitvaultReady.then(() => true)")
        yield {"repo": repo, "page": page, "browser": browser}
    finally:
        browser.close()


def test_no_request_leaves_the_page(opened: dict[str, Any]) -> None:
    requests = opened["browser"].requests()
    page_url = opened["page"].resolve().as_uri()
    assert requests[0] == page_url
    others = [url for url in requests if url != page_url and not url.startswith("data:image/png;base64,")]
    assert others == []
    assert len(requests) == 1 + 2  # the page and its two inline images, nothing else


def test_no_console_error_and_every_chart_drawn(opened: dict[str, Any]) -> None:
    browser = opened["browser"]
    assert browser.errors() == []
    painted = browser.evaluate(DRAWN)
    assert len(painted) == 2 and all(n > 2000 for n in painted), painted  # train (2 panels) and val
    assert sorted(browser.evaluate("Object.keys(window.gitvaultViews)")) == ["chart0", "chart1"]


def test_screenshot_is_not_blank(opened: dict[str, Any]) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(opened["browser"].screenshot())) as shot:
        colours = shot.convert("RGB").getcolors(1 << 22) or []
    assert shot.width >= 1000 and len(colours) > 50  # text, swatches, lines: far from one flat colour
    assert max(n for n, _ in colours) < 0.97 * shot.width * shot.height


def test_hover_shows_the_sdks_value(opened: dict[str, Any]) -> None:
    browser = opened["browser"]
    browser.evaluate("document.getElementById('chart0').scrollIntoView()")
    points = browser.evaluate(POINTS)
    chosen = [p for p in points if p["chart"] == "chart0" and p["metric"] == "train/loss"
              and p["run"] == "cifar/resnet/lr#lr0.01" and p["step"] == 150]
    assert len(chosen) == 1, points[:3]
    target = chosen[0]
    browser.move_mouse(target["x"], target["y"])
    shown = None
    for _ in range(50):
        shown = browser.evaluate(TOOLTIP)
        if shown:
            break
        browser.evaluate("new Promise(r => setTimeout(r, 20))")
    assert shown is not None, "no tooltip after hovering a point"
    with Store(opened["repo"]) as store:
        curve = store.get_run("lr0.01").curve("train/loss")
    sdk = dict(zip(curve["step"].to_list(), curve["value"].to_list()))
    assert shown["run"] == "cifar/resnet/lr#lr0.01" and shown["metric"] == "train/loss"
    step = int(shown["step"].replace(",", ""))
    assert abs(step - 150) <= 3  # the point under the pointer (neighbours overlap by a pixel or two)
    assert float(shown["value"]) == pytest.approx(sdk[step], rel=1e-5)
    assert target["value"] == sdk[150]  # the page holds the SDK's number itself


def test_log_y_toggle_redraws_on_a_log_scale(opened: dict[str, Any]) -> None:
    browser = opened["browser"]
    scale = "window.gitvaultViews.chart1.scale('concat_0_y').type"
    assert browser.evaluate(scale) == "linear"
    browser.evaluate("document.querySelector('input.logy[data-chart=chart1]').click()")
    browser.evaluate("window.gitvaultReady.then(() => true)")
    assert browser.evaluate(scale) == "log"
    assert browser.errors() == []


def test_prints_without_the_controls(opened: dict[str, Any]) -> None:
    browser = opened["browser"]
    browser.call("Emulation.setEmulatedMedia", media="print")
    try:
        hidden = browser.evaluate("Array.from(document.querySelectorAll('nav, .toggle'), "
                                  "el => getComputedStyle(el).display)")
    finally:
        browser.call("Emulation.setEmulatedMedia", media="")
    assert hidden and set(hidden) == {"none"}
    import base64

    pdf = base64.b64decode(browser.call("Page.printToPDF", printBackground=True)["data"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
