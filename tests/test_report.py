"""`git vault report` and `Store.report` (issue 27): the selection forms, NaN and infinities, a live
run, a 100,000-step run downsampled, images inlined, tables and notes, `--markdown` with valid PNGs,
no address that could be fetched; read back through the SDK and the query layer."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from gitvault import Store
from gitvault.errors import QueryError
from gitvault.query import Query
from tests.conftest import make_repo, vault_run

for module in ("altair", "vl_convert", "markdown_it"):
    pytest.importorskip(module, reason="the report needs the report extra (altair, vl-convert-python, markdown-it-py)")
pytest.importorskip("PIL", reason="images need Pillow (the images extra)")

from gitvault.report import build, select as select_module  # noqa: E402
from gitvault.report import html as report_html  # noqa: E402

LONG = 100_000


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    repo = make_repo(tmp_path_factory.mktemp("report") / "project", "init")
    store = Store(repo)
    exp = store.experiment({"benchmark": "cifar", "model": "resnet", "variant": "lr"})
    ids: dict[str, str] = {}
    for i, lr in enumerate([0.1, 0.01]):
        with exp.run(config={"lr": lr, "optimizer": {"name": "adam"}, "seed": 1}, name=f"lr{lr}") as run:
            for step in range(50):
                run.curve(step, **{"train/loss": 2 / (1 + step * lr), "val/loss": 2.2 / (1 + step * lr)})
            run.curve(50, **{"train/loss": float("nan") if i == 0 else float("inf")})
            run.log(**{"val/acc": 0.8 + i * 0.05, "val/loss": 0.5 - i * 0.1,
                       "odd": float("-inf") if i == 0 else float("inf")})
            for step in range(3):
                run.log_image("samples/pred", np.full((8, 8, 3), 40 * step + i, dtype=np.uint8), step=step,
                              caption=f"epoch {step}")
            run.log_table("confusion", np.array([[5, 1], [2, 7]]) * (i + 1))
            run.note("**Looks good**\n\n- warmup helped\n\n<script>alert(1)</script>")
        ids[f"lr{lr}"] = run.id
    other = store.experiment({"benchmark": "mnist", "model": "mlp", "variant": "base"})
    with other.run(config={"lr": 0.5}, name="long") as run:
        steps = np.arange(LONG)
        loss = 1 / (1 + steps / 1000)
        loss[77_777] = 9.5  # one spike the downsampling must keep
        for step in range(LONG):
            run.curve(step, loss=float(loss[step]))
        run.log(loss=float(loss[-1]))
    ids["long"] = run.id
    live = other.run(config={"lr": 0.25}, name="live")
    for step in range(5):
        live.curve(step, loss=1.0 / (step + 1))
    live.log(loss=0.2, spike=float("inf"))
    ids["live"] = live.id
    yield {"repo": repo, "store": store, "ids": ids}
    live.finish()
    store.close()


@pytest.fixture(scope="module")
def page(vault: dict[str, Any]) -> str:
    out = vault["repo"] / "out" / "report.html"
    out.parent.mkdir()
    proc = vault_run(vault["repo"], "report", "cifar/resnet/lr", "-o", str(out), "--title", "LR sweep", check=True)
    assert proc.stdout.startswith(str(out)) and "2 runs" in proc.stdout
    return out.read_text("utf-8")


def ids_of(q: Query, *refs: str, where: str | None = None) -> list[str]:
    return select_module.select(q, refs, where)


def test_selection_forms(vault: dict[str, Any]) -> None:
    ids = vault["ids"]
    a, b = ids["lr0.1"], ids["lr0.01"]
    with Query(vault["repo"]) as q:
        assert ids_of(q, a) == [a]  # an id
        assert ids_of(q, a[:12], "lr0.01") == [a, b]  # a unique prefix, a name
        assert ids_of(q, "cifar/resnet/lr#lr0.01") == [b]  # a path#name label
        assert ids_of(q, "cifar/resnet/lr") == [a, b]  # an experiment path: its runs, oldest first
        assert ids_of(q, "cifar") == [a, b]  # and the experiments below it
        assert ids_of(q, "cifar", "mnist/mlp/base#long") == [a, b, ids["long"]]
        assert ids_of(q, where="config.lr < 0.2") == [a, b]
        assert ids_of(q, "cifar", where="config.lr < 0.05") == [b]  # --where narrows the named runs
        assert ids_of(q, where="status = 'running'") == [ids["live"]]
        assert ids_of(q, b, a) == [b, a]  # the order given
        with pytest.raises(QueryError, match="neither a run .* nor an experiment path; experiments: cifar"):
            build(q, ["nope"])
        with pytest.raises(QueryError, match="name the runs to report"):
            build(q, [])
        with pytest.raises(QueryError, match="no run matches this selection"):
            build(q, ["cifar"], where="config.lr > 5")
        assert [r.id for r in build(q, ["lr0.1"]).runs] == [a]  # what the report shows


def test_too_many_runs_is_refused_not_cut(vault: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select_module, "MAX_RUNS", 2)
    proc = vault_run(vault["repo"], "report", "cifar", "mnist", "-o", str(vault["repo"] / "x.html"))
    assert proc.returncode == 1 and not (vault["repo"] / "x.html").exists()
    assert proc.stderr.startswith("git vault: error: the selection holds 4 runs; a report shows at most 2")


def test_bad_options_are_one_line(vault: dict[str, Any]) -> None:
    repo = vault["repo"]
    for args, said in [(["--metrics", "val/nope"], "no metric 'val/nope' in these runs; their metrics: odd, val/acc"),
                       (["--curves", "test/*"], "no curve 'test/*' in these runs; their curves: train/loss, val/loss"),
                       (["--baseline", "long"], "--baseline long is not among the selected runs"),
                       (["--points", "3"], "max_points must be an integer >= 8"),
                       (["--metrics", ","], "--metrics names nothing")]:
        proc = vault_run(repo, "report", "cifar", "-o", str(repo / "bad.html"), *args)
        assert proc.returncode != 0 and said in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert not (repo / "bad.html").exists()
    proc = vault_run(repo, "report", "cifar", "-o", str(repo))
    assert proc.returncode == 1 and "is a folder; give the report a file name" in proc.stderr


def test_header_runs_table_and_best_marks(vault: dict[str, Any], page: str) -> None:
    a, b = vault["ids"]["lr0.1"], vault["ids"]["lr0.01"]
    assert "<title>LR sweep</title>" in page and "<dt>Selection</dt><dd>cifar/resnet/lr</dd>" in page
    assert "<dt>Repository</dt><dd>project (branch main)</dd>" in page
    head = Store(vault["repo"]).get_run(a)
    sha = head.artifacts and vault["store"].query().get_run(a)["git_sha"]
    assert sha and f"<code>{sha[:7]}" in page and "initial" in page  # the commit the runs ran on
    runs = re.search(r'<section id="runs">(.*?)</section>', page, re.S)
    assert runs is not None
    table = runs.group(1)
    assert "<th>lr</th>" in table and "<th>seed</th>" not in table  # config keys that differ, only
    assert "<th>val/acc ↑</th>" in table and "<th>val/loss ↓</th>" in table
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])
    assert a in rows[0] and b in rows[1]
    assert re.search(r'class="num best" title=best>0.85 ★', rows[1]) and re.search(r'class="num best" title=best>0.4 ★', rows[1])
    assert "★" not in rows[0]
    assert "no best marked for odd" in table


def test_nan_and_infinities_shown_as_such(vault: dict[str, Any], page: str) -> None:
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('<section id="runs">')[1].split("<tbody>")[1].split("</tbody>")[0])
    assert ">-Infinity</td>" in rows[0] and ">Infinity</td>" in rows[1]
    assert "train/loss of cifar/resnet/lr#lr0.1: 1 NaN (not drawn: gaps in the line)" in page
    assert "train/loss of cifar/resnet/lr#lr0.01: 1 Infinity (not drawn: gaps in the line)" in page
    specs = [json.loads(s.replace("\\u003c", "<")) for s in
             re.findall(r'<script type="application/json" id="spec-chart\d+">(.*?)</script>', page)]
    rows_of = {(r["run"], r["m"]): r for s in specs for r in next(iter(s["datasets"].values()))}
    drawn = rows_of[("cifar/resnet/lr#lr0.1", "train/loss")]
    assert drawn["s"][-1] == 50 and drawn["v"][-1] is None  # a gap at the NaN, never a number
    assert drawn["v"][:50] == vault["store"].get_run(vault["ids"]["lr0.1"]).curve("train/loss")["value"].to_list()[:50]


def test_one_chart_per_metric_group_with_consistent_colours(page: str) -> None:
    specs = [json.loads(s.replace("\\u003c", "<")) for s in
             re.findall(r'<script type="application/json" id="spec-chart\d+">(.*?)</script>', page)]
    assert [[p["title"] for p in s["concat"]] for s in specs] == [["train/loss"], ["val/loss"]]
    scales = [p["encoding"]["color"]["scale"] for s in specs for p in s["concat"]]
    assert all(scale == scales[0] for scale in scales)
    assert scales[0]["domain"] == ["cifar/resnet/lr#lr0.1", "cifar/resnet/lr#lr0.01"]
    assert page.count('<span class="swatch" style="background:' + scales[0]["range"][0]) >= 2  # the table too
    assert all(any(param.get("bind") == "scales" for param in s["params"]) for s in specs)  # zoom
    assert all(p["layer"][1]["encoding"]["tooltip"] for s in specs for p in s["concat"])  # hover values
    assert page.count('class="logy"') == 2


def test_no_address_that_could_be_fetched(page: str) -> None:
    namespaces = {"http://www.w3.org/1999/xlink", "http://www.w3.org/2000/svg", "http://www.w3.org/2000/xmlns/"}
    found = set(re.findall(r"https?://[^\s\"'<>)]*", page))
    assert found <= namespaces, found - namespaces
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # the page without the Vega bundle's code
    assert not re.search(r"<(link|iframe|object|embed)\b", markup) and not re.search(r"<script[^>]+src=", markup)
    assert not re.search(r"<img[^>]+src=\"(?!data:)", markup) and "@import" not in markup and "url(" not in markup
    assert "default-src 'none'" in page and "connect-src 'none'" in page  # and the browser is told so


def test_images_tables_and_notes_inlined(vault: dict[str, Any], page: str) -> None:
    view = vault["store"].get_run(vault["ids"]["lr0.01"])
    for step in range(3):
        data = base64.b64encode(view.file("samples/pred", step=step).read_bytes()).decode()
        assert f'src="data:image/png;base64,{data}"' in page
    assert re.sub(r"<script>.*?</script>", "", page, flags=re.S).count("<img") == 6 and "step 2 · epoch 2" in page
    assert re.search(r"<td class=num>10</td><td class=num>2</td>", page)  # the second run's table
    assert "<strong>Looks good</strong>" in page and "<li>warmup helped</li>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_baseline_diff(vault: dict[str, Any]) -> None:
    with Query(vault["repo"]) as q:
        report = build(q, ["cifar"], baseline="lr0.01")
    assert report.baseline == vault["ids"]["lr0.01"]
    (diff,) = report.diffs
    assert diff.run == vault["ids"]["lr0.1"]
    assert [(c.key, c.baseline, c.value) for c in diff.config] == [("lr", 0.01, 0.1)]
    deltas = {m.name: m for m in diff.metrics}
    assert deltas["val/acc"].better == "a" and deltas["val/loss"].better == "a"
    page = report_html.render(report)
    assert "Against the baseline" in page and "<code>config.lr</code></td><td>0.01</td><td>0.1</td>" in page


def test_a_live_run_is_marked_running(vault: dict[str, Any]) -> None:
    out = vault["repo"] / "live.html"
    vault_run(vault["repo"], "report", "mnist", "-o", str(out), check=True)
    page = out.read_text("utf-8")
    assert "2, 1 running when this was made" in page
    assert '<span class="badge running">running</span>' in page
    live_row = next(row for row in re.findall(r"<tr>(.*?)</tr>", page) if vault["ids"]["live"] in row)
    assert ">Infinity</td>" in live_row  # as the spool holds it, not as a run item's None
    spec = json.loads(re.findall(r'id="spec-chart0">(.*?)</script>', page)[0].replace("\\u003c", "<"))
    live = next(r for r in spec["datasets"]["group0"] if r["run"] == "mnist/mlp/base#live")
    assert live["s"] == [0, 1, 2, 3, 4] and live["v"][-1] == pytest.approx(0.2)  # read from its spool


def test_a_100000_step_curve_is_downsampled_keeping_extremes(vault: dict[str, Any]) -> None:
    with Query(vault["repo"]) as q:
        report = build(q, ["long"])
        full_steps, full = q.curve_arrays(vault["ids"]["long"], ["loss"])[0]["loss"]
    (curve,) = report.groups[0].panels[0].curves
    assert curve.points == LONG and len(curve.steps) <= 1000
    assert curve.steps[0] == 0 and curve.steps[-1] == LONG - 1
    assert 9.5 in curve.values and min(v for v in curve.values if v is not None) == full.min()
    kept = dict(zip(full_steps.tolist(), full.tolist()))
    assert all(kept[s] == v for s, v in zip(curve.steps, curve.values))  # real points, not averages
    assert "loss of mnist/mlp/base#long: 100,000 points, " in report_html.render(report)


def test_markdown_writes_valid_pngs(vault: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "share" / "report.md"
    out.parent.mkdir()
    proc = vault_run(vault["repo"], "report", "cifar", "--markdown", "-o", str(out), check=True)
    assert proc.stdout.startswith(str(out))
    text = out.read_text("utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(linked) == 2 + 6  # two charts, six images
    for rel in linked:
        data = (out.parent / rel).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    with Image.open(out.parent / linked[0]) as chart:
        assert chart.width > 300 and len(chart.convert("RGB").getcolors(1 << 20) or []) > 20  # drawn, not blank
    assert "| cifar/resnet/lr#lr0.01 |" in text and "**0.85** ★" in text and "| -Infinity |" in text
    assert "**Looks good**" in text  # notes as written (markdown already)


def test_store_report_returns_the_page(vault: dict[str, Any]) -> None:
    page = vault["store"].report(["lr0.1", "lr0.01"], curves=["val/*"], metrics=["val/acc"])
    assert isinstance(page, str) and page.startswith("<!DOCTYPE html>")
    assert "<th>val/acc ↑</th>" in page and "<th>val/loss ↓</th>" not in page
    assert page.count('id="spec-chart') == 1 and '"title":"val/loss"' in page
    frame = page._repr_html_()  # type: ignore[attr-defined]
    assert frame.startswith("<iframe srcdoc=\"&lt;!DOCTYPE html&gt;") and 'sandbox="allow-scripts"' in frame


def test_blobs_this_clone_lacks_are_named_not_fatal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", "init")
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run(name="pulled") as run:
            for step, value in enumerate(np.random.default_rng(0).random(20_000).tolist()):
                run.curve(step, loss=value)  # a curves table past 64 KB: a blob, not inline in the vault
            run.log_image("pred", np.zeros((4, 4, 3), dtype=np.uint8), step=0)
            run.log_table("confusion", np.eye(2))
    vault_run(repo, "runs", check=True)  # the caches, as a clone pulled with --records-only has them
    for blob in (repo / ".git" / "vault" / "objects").rglob("*"):
        if blob.is_file():
            blob.unlink()
    out = repo / "report.html"
    vault_run(repo, "report", "pulled", "-o", str(out), check=True)
    page = out.read_text("utf-8")
    assert "Not shown, not in this clone:" in page
    assert "<li>the curves of b/m/v#pulled: run " in page and "fetch it with `git vault pull`" in page
    assert "<li>image pred at step 0 of b/m/v#pulled: blob " in page
    assert "its blob is not in this clone (git vault pull)" in page  # the table
