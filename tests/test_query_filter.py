"""`Query.runs(where=..., sort=..., cursor=..., columns=...)` and its filter language
(`gitvault.query.filter`): the same expressions select the same runs whether they are sealed (SQL on
the SQLite cache) or live (Python on the spool), sorts put missing values last, cursors page stably
while runs are added, and every bad expression gets one line naming the problem, where, and the fix."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitvault import QueryError, Store
from gitvault.query import Query
from gitvault.query import filter as flt
from tests.conftest import make_repo, vault_run

SPEC = {"benchmark": "cifar", "model": "resnet", "variant": "sweep"}
OTHER = {"benchmark": "imagenet", "model": "vit", "variant": "base"}

# name: (experiment, config, metrics, params, tags)
TWINS: dict[str, tuple[dict[str, str], dict[str, Any], dict[str, float], dict[str, str], list[str]]] = {
    "a": (SPEC, {"optimizer": {"name": "adam", "lr": 0.001}, "layers": 4, "amp": True},
          {"val_loss": 0.15, "val_acc": 0.91}, {"arch": "resnet50", "seed": "3"}, ["sweep", "best"]),
    "b": (SPEC, {"optimizer": {"name": "sgd", "lr": 0.1}, "layers": 8, "amp": False},
          {"val_loss": 0.3, "val_acc": 0.85}, {"arch": "vit", "seed": "10"}, ["sweep"]),
    "c": (SPEC, {"optimizer": {"name": "adam", "lr": 0.01}, "layers": "4", "a.b": {"c": 1}},
          {"val_loss": math.nan, "val_acc": 0.95}, {"arch": "resnet18"}, []),
    "d": (OTHER, {"optimizer": "adam", "top-1 k": 5}, {"val_loss": 0.1}, {"seed": "x7"}, ["baseline"]),
    "e": (OTHER, {}, {}, {}, []),
    "f": (SPEC, {"optimizer": {"name": "adam"}, "layers": 2.5, "notes": None},
          {"val_loss": math.inf, "val_acc": -math.inf, "top-1 acc": 0.5}, {"arch": "resnet50"}, ["sweepy"]),
}

# expression -> the twins it selects (as a set; sorted names for the sort tests below)
EXPECTED = {
    "metrics.val_loss < 0.2": "ad",
    "metrics.val_loss < 0.2 and config.optimizer.name = 'adam' and tag = 'sweep'": "a",
    "metrics.val_loss >= 0.15": "abf",
    "metrics.val_loss = 0.3 or metrics.val_acc > 0.9": "abc",
    "not metrics.val_loss < 0.2": "bcef",
    "metrics.val_loss != 0.1": "abcef",
    "metrics.val_loss is null": "ce",
    "metrics.val_loss is not null": "abdf",
    "metrics.val_acc < -1e300": "f",
    "metrics.\"top-1 acc\" = 0.5": "f",
    "config.optimizer.name = 'adam'": "acf",
    "config.optimizer.name ~ 'ad'": "acf",
    "config.optimizer = 'adam'": "d",
    "config.optimizer.lr <= 0.01": "ac",
    "config.layers = 4": "a",
    "config.layers = '4'": "c",
    "config.layers > 3": "ab",
    "config.layers in (2.5, 8)": "bf",
    "config.layers not in (2.5, 8)": "acde",
    "config.amp = true": "a",
    "config.amp = false": "b",
    "config.amp != true": "bcdef",
    "config.amp is null": "cdef",
    "config.notes is null": "abcdef",
    "config.\"a.b\".c = 1": "c",
    "config.\"top-1 k\" >= 5": "d",
    "config.optimizer.name is null": "de",
    "params.arch = 'resnet50'": "af",
    "params.arch ~ 'resnet'": "acf",
    "params.seed < 5": "a",
    "params.seed >= 3": "ab",
    "params.seed = 'x7'": "d",
    "params.seed is null": "cef",
    "tag = 'sweep'": "ab",
    "tag != 'sweep'": "cdef",
    "tag ~ 'sweep'": "abf",
    "tag in ('best', 'baseline')": "ad",
    "tag is null": "ce",
    "TAG = 'sweep' AND NOT (Metrics.val_loss > 0.2 OR config.amp = TRUE)": "",
    "(tag = 'sweep' or tag = 'baseline') and not config.amp = true": "bd",
    "experiment ~ 'imagenet/'": "de",
    "experiment = 'cifar/resnet/sweep'": "abcf",
    "experiment in ('imagenet/vit/base')": "de",
    "status = 'running'": "abcdef",  # the live twins; their sealed twins are completed (checked apart)
    "name ~ 'x'": "",
}


class Twins:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sealed: dict[str, str] = {}
        self.live: dict[str, str] = {}
        self.runs: list[Any] = []


def _start(store: Store, name: str) -> Any:
    exp, config, metrics, params, tags = TWINS[name[2:]]
    run = store.experiment(exp).run(config=config, name=name)
    if metrics or params:
        run.log(**metrics, **params)
    if tags:
        run.tag(*tags)
    return run


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    """Each spec twice: sealed ("s-a") and live in this process ("l-a"), in the same order."""
    root = make_repo(tmp_path_factory.mktemp("filter") / "project", "init")
    world = Twins(root)
    store = Store(root)
    for name in TWINS:
        run = _start(store, f"s-{name}")
        run.finish()
        world.sealed[name] = run.id
    for name in TWINS:
        run = _start(store, f"l-{name}")
        run.flush()
        world.runs.append(run)
        world.live[name] = run.id
    yield world
    for run in world.runs:
        run.finish()
    store.close()


@pytest.fixture(scope="module")
def q(twins: Twins) -> Iterator[Query]:
    with Query(twins.root) as query:
        yield query


def selected(q: Query, where: str, side: str, sort: str | None = None) -> str:
    """The twins of one side ("s" or "l") that ``where`` selects, by their spec letter."""
    both = f"name ~ '{side}-'" + (f" and ({where})" if where.strip() else "")
    page = q.runs(where=both, sort=sort, limit=None)
    assert page["total"] == len(page["items"]) and page["next_cursor"] is None
    return "".join(item["name"][2:] for item in page["items"])


@pytest.mark.parametrize("where", list(EXPECTED))
def test_each_expression_selects_the_same_runs_sealed_and_live(q: Query, where: str) -> None:
    live = selected(q, where, "l", sort="name")
    assert live == EXPECTED[where]
    if "status" not in where:
        assert selected(q, where, "s", sort="name") == live


def test_status_time_and_id_fields(q: Query, twins: Twins) -> None:
    assert selected(q, "status = 'completed'", "s", sort="name") == "abcdef"
    assert selected(q, "status in ('running', 'failed')", "s") == ""
    assert selected(q, "ended is null", "l", sort="name") == "abcdef"
    assert selected(q, "ended is not null", "s", sort="name") == "abcdef"
    first = q.get_run(twins.sealed["d"])["started_at"]
    assert selected(q, f"started > '{first}'", "s", sort="name") == "ef"
    assert selected(q, f"started >= '{first}'", "s", sort="name") == "def"
    assert selected(q, "started > '2000-01-01' and started < '2999-12-31T23:00:00+02:00'", "s", sort="name") == "abcdef"
    assert selected(q, f"started ~ '{first[:4]}'", "l", sort="name") == "abcdef"
    assert selected(q, f"id = '{twins.live['b']}'", "l") == "b"
    assert selected(q, f"id ~ '{twins.live['b'][:20]}'", "l") != ""


SORTS = {
    "metrics.val_loss": "dabfce",  # NaN (c) and missing (e) last
    "-metrics.val_loss": "fbadec",  # still last when descending (ties by id, descending too)
    "metrics.val_acc": "fbacde",
    "-metrics.val_acc, name": "cabfde",
    "config.layers": "fabcde",  # numbers, then text ('4'), then missing
    "-config.layers": "cbafed",  # text first when descending, missing still last
    "params.seed, -name": "badfec",  # text order: '10' < '3' < 'x7'
    "experiment, -metrics.val_loss": "fbacde",
    "-experiment name": "deabcf",
    "config.optimizer.name, -name": "fcabed",
}


@pytest.mark.parametrize("sort", list(SORTS))
def test_sort_orders_sealed_and_live_alike_with_missing_last(q: Query, sort: str) -> None:
    assert selected(q, "", "l", sort=sort) == SORTS[sort]
    assert selected(q, "", "s", sort=sort) == SORTS[sort]


def test_sealed_and_live_runs_merge_in_one_order(q: Query) -> None:
    page = q.runs(sort="metrics.val_loss, -name", limit=None)
    assert [i["name"] for i in page["items"]] == ["s-d", "l-d", "s-a", "l-a", "s-b", "l-b", "s-f", "l-f",
                                                  "s-e", "s-c", "l-e", "l-c"]
    newest = q.runs(limit=3)
    assert [i["name"] for i in newest["items"]] == ["l-f", "l-e", "l-d"]
    assert newest["total"] == 12 and newest["truncated"] and newest["next_cursor"]


def test_cursor_and_offset_walk_every_run_once(q: Query) -> None:
    for sort in ("metrics.val_loss, -name", "-started", "config.layers", "-params.seed"):
        whole = [i["id"] for i in q.runs(sort=sort, limit=None)["items"]]
        seen: list[str] = []
        page = q.runs(sort=sort, limit=5)
        while True:
            seen += [i["id"] for i in page["items"]]
            if page["next_cursor"] is None:
                break
            page = q.runs(sort=sort, limit=5, cursor=page["next_cursor"])
        assert seen == whole, sort
        assert [i["id"] for i in q.runs(sort=sort, offset=4, limit=3)["items"]] == whole[4:7]
        assert q.runs(sort=sort, offset=20)["items"] == []
        first = q.runs(where="name ~ 'l-' or tag = 'sweep'", sort=sort, limit=3)
        rest = q.runs(where="name ~ 'l-' or tag = 'sweep'", sort=sort, limit=3, cursor=first["next_cursor"])
        assert first["total"] == rest["total"] == 8 and len(rest["items"]) == 3
        assert q.runs(where="tag = 'sweep'", sort=sort, offset=6)["total"] == 4  # counted with no row on the page


def test_columns_pick_fields_from_sealed_and_live_runs(q: Query, twins: Twins) -> None:
    cols = ["name", "metrics.val_loss", "config.optimizer.name", "params.arch", "tags", "label", "status"]
    page = q.runs(where="config.optimizer.name = 'adam' and params.arch = 'resnet50'", sort="name", columns=cols)
    assert page["items"] == [
        {"id": twins.live["a"], "name": "l-a", "metrics.val_loss": 0.15, "config.optimizer.name": "adam",
         "params.arch": "resnet50", "tags": ["sweep", "best"], "label": "cifar/resnet/sweep#l-a", "status": "running"},
        {"id": twins.live["f"], "name": "l-f", "metrics.val_loss": math.inf, "config.optimizer.name": "adam",
         "params.arch": "resnet50", "tags": ["sweepy"], "label": "cifar/resnet/sweep#l-f", "status": "running"},
        {"id": twins.sealed["a"], "name": "s-a", "metrics.val_loss": 0.15, "config.optimizer.name": "adam",
         "params.arch": "resnet50", "tags": ["sweep", "best"], "label": "cifar/resnet/sweep#s-a", "status": "completed"},
        {"id": twins.sealed["f"], "name": "s-f", "metrics.val_loss": math.inf, "config.optimizer.name": "adam",
         "params.arch": "resnet50", "tags": ["sweepy"], "label": "cifar/resnet/sweep#s-f", "status": "completed"},
    ]
    whole = q.runs(where="name ~ 's-c' or name ~ 'l-c'", sort="name", columns=["config", "metrics", "params"])["items"]
    assert [{k: v for k, v in i.items() if k != "id"} for i in whole] == [
        {"config": TWINS["c"][1], "metrics": {"val_acc": 0.95, "val_loss": None}, "params": {"arch": "resnet18"}}] * 2
    with pytest.raises(QueryError, match="unknown column 'colour': use metrics.NAME"):
        q.runs(columns=["colour"])


def test_search_and_list_runs_filters_combine_with_where(q: Query, twins: Twins) -> None:
    page = q.runs(where="metrics.val_loss < 0.2", text="L-", filters={"tag": "sweep"})
    assert [i["name"] for i in page["items"]] == ["l-a"]
    exp = q.runs(where="tag = 'baseline'", experiment_id="imagenet/vit/base", sort="name")
    assert [i["name"] for i in exp["items"]] == ["l-d", "s-d"]
    assert "next_cursor" not in q.list_runs(limit=2) and "next_cursor" not in q.search("x")


BAD = {
    "metric.loss < 0.2": "unknown field 'metric.loss' at 1: use metrics.NAME, config.PATH, params.NAME, tag, status, "
                         "experiment, name, id, hostname, started, ended (did you mean 'metrics.loss'?)",
    "metrics.val_loss < 'low'": "metrics.val_loss is a number but 'low' is text at 20: compare it with a number, "
                                "e.g. metrics.val_loss < 0.2",
    "status = 'done'": "'done' is not a run status at 10: use one of running, completed, failed, crashed",
    "status in ('running', 'finished')": "'finished' is not a run status at 23",
    "metrics.val_loss <": "expected a value, found the end of the condition at 19: give a number, a 'quoted text', "
                          "true or false",
    "(tag = 'a'": "'(' is not closed (found the end of the condition) at 1: add ')'",
    "tag = 'a')": "unexpected ')' at 10: remove it or add the '(' it closes",
    "metrics.val_loss 0.2": "expected an operator after 'metrics.val_loss', found '0.2' at 18: use =, !=, <, <=, >, >=",
    "started > 'yesterday'": "'yesterday' is not a date or time at 11: use ISO 8601",
    "name = adam": "expected a value, found 'adam' at 8: quote text values, e.g. name = 'adam'",
    "name = 3": "name is text but 3 is a number at 8: quote the value, e.g. name = '3'",
    "tag < 'a'": "tag < 'a' at 5: tag takes a quoted tag with =, !=, ~ (starts with), in (...) or is null",
    "name = 'unclosed": "unterminated text starting with ' at 8: close it with '",
    "metrics. < 1": "'metrics.' ends with a dot at 9: put a name after the dot",
    "metrics < 1": "'metrics' needs a name at 1: write metrics.NAME, e.g. metrics.val_loss",
    "status = 'failed' tag = 'x'": "unexpected 'tag' after a complete condition at 19: join conditions with and / or",
    "status = 'failed' and": "expected a field, found the end of the condition at 22",
    "name $ 'x'": "unexpected character '$' at 6",
    "config.lr = null": "null cannot be compared at 13: write config.lr is null or config.lr is not null",
    "config.amp < true": "< true at 12: true and false compare with = and != only",
    "metrics.val_loss ~ 'a'": "metrics.val_loss is a number but 'a' is text at 20",
    "config.lr ~ 1": "~ 1 at 11: ~ means 'starts with' and takes quoted text",
    "tag not 'a'": "expected 'in' after 'not', found \"'a'\" at 9",
    "tag in 'a'": "expected '(' after in, found \"'a'\" at 8: write tag in ('a', 'b')",
    "tag in ('a' 'b')": "expected ',' or ')' in the in (...) list, found \"'b'\" at 13",
    "config.lr is 3": "expected null after 'is', found '3' at 14",
    "true = name": "'true' is a value, not a field at 1",
    "config.lr < 1e999": "1e999 is not a finite number at 13: give a finite number",
    "config.lr < 3x": "'3x'... is not a number at 13",
    "(" * 100 + "tag = 'a'" + ")" * 100: "the condition is nested too deeply at 65: use at most 64 levels",
}


@pytest.mark.parametrize("text", list(BAD))
def test_bad_expressions_get_one_line_with_position_and_fix(q: Query, text: str) -> None:
    with pytest.raises(QueryError) as err:
        q.runs(where=text)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(BAD[text]), message


def test_bad_sorts_cursors_and_arguments(q: Query) -> None:
    cases = {
        "tag": "runs cannot be sorted by tag at 1: sort by another field",
        "-": "expected a field to sort by, found the end at 2",
        "metrics.val_loss;": "unexpected ';' in the sort at 17",
        "colour": "unknown field 'colour' at 1",
        "name, -metrc.x": "unknown field 'metrc.x' at 8",
    }
    for sort, message in cases.items():
        with pytest.raises(QueryError) as err:
            q.runs(sort=sort)
        assert str(err.value).startswith(message), str(err.value)
    cursor = q.runs(sort="name", limit=1)["next_cursor"]
    with pytest.raises(QueryError, match="cursor belongs to a page sorted by name, not by -started"):
        q.runs(cursor=cursor)
    for bad in ("nope", "c1.!!", "c1." + "e30", 3):
        with pytest.raises(QueryError, match="cursor is not a next_cursor from runs"):
            q.runs(cursor=bad)  # type: ignore[arg-type]
    for offset in (-1, 1.5, True):
        with pytest.raises(QueryError, match="offset must be"):
            q.runs(offset=offset)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="where must be a filter expression"):
        q.runs(where=3)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="sort must be text"):
        q.runs(sort=3)  # type: ignore[arg-type]
    assert q.runs(where="  ")["total"] == q.runs()["total"] == 12
    assert [i["name"] for i in q.runs(sort=["-name", "id"], limit=2)["items"]] == ["s-f", "s-e"]


def test_user_text_never_reaches_the_sql(q: Query, twins: Twins) -> None:
    hostile = ["'); DROP TABLE runs; --", "\" OR 1=1 --", "%", "_", "\\", "' OR '1'='1"]
    for text in hostile:
        quoted = json.dumps(text)
        assert q.runs(where=f"name = {quoted}")["total"] == 0
        assert q.runs(where=f"metrics.{quoted} > 0 or params.{quoted} ~ {quoted} or tag = {quoted}"
                            f" or experiment ~ {quoted} or config.optimizer.name = {quoted}")["total"] == 0
        assert q.runs(sort=f"-metrics.{quoted}, params.{quoted}", limit=1)["total"] == 12
        if '"' not in text:
            assert q.runs(where=f"config.{quoted} = {quoted}", sort=f"config.{quoted}")["total"] == 0
    with pytest.raises(QueryError, match="contains a double quote"):
        q.runs(where="config.'x\"y' = 1")
    assert q.list_runs(limit=None)["total"] == 12


def test_parse_shapes() -> None:
    node = flt.parse("metrics.x < 1 and (tag = 'a' or not name ~ 'b')")
    assert isinstance(node, flt.And) and isinstance(node.parts[1], flt.Or)
    assert flt.parse(None) is None and flt.parse(" ") is None
    assert flt.parse("status != 'failed'") == flt.Not(flt.Compare(flt.Field("status", (), "status", 1), "=", "failed", 8))
    assert [k.text for k in flt.parse_sort("-metrics.a  config.b.c,+name")] == ["-metrics.a", "config.b.c", "name"]


def test_cli_runs_where_and_sort(twins: Twins) -> None:
    out = vault_run(twins.root, "runs", "--where", "metrics.val_loss < 0.2", "--sort", "metrics.val_loss, name",
                    "--json", check=True)
    assert [i["name"] for i in json.loads(out.stdout)["items"]] == ["l-d", "s-d", "l-a", "s-a"]
    table = vault_run(twins.root, "runs", "cifar/", "--tag", "sweep", "--where", "config.amp = false", check=True).stdout
    assert "l-b" in table and "s-b" in table and "l-a" not in table
    limited = vault_run(twins.root, "runs", "--sort=-metrics.val_acc", "--limit", "2", "--json", check=True)
    assert [i["name"] for i in json.loads(limited.stdout)["items"]] == ["l-c", "s-c"]
    bad = vault_run(twins.root, "runs", "--where", "metric.loss < 1")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("git vault: error: unknown field 'metric.loss' at 1: use metrics.NAME")
    help_text = vault_run(twins.root, "runs", "--help").stdout
    assert "--where EXPR" in help_text and "--sort KEYS" in help_text


def test_cursor_pages_stay_stable_while_runs_are_added(tmp_path: Path) -> None:
    """Runs sealed between pages (sorting before, among and after the rest) never make a page
    repeat or skip a run that was there: each page continues after the previous page's last
    (key, id). Paging by offset, walked the same way, repeats runs."""
    root = make_repo(tmp_path / "project", "init")
    spec = {"benchmark": "paging", "model": "m", "variant": "v"}

    def add(store: Store, loss: float | None, name: str) -> str:
        with store.experiment(spec).run(name=name) as run:
            if loss is not None:
                run.log(loss=loss)
        return str(run.id)

    with Store(root) as store, Query(root) as q:
        there = {add(store, i / 10 if i % 5 else None, f"r{i}") for i in range(20)}
        for sort in ("metrics.loss", "-started", "-metrics.loss, name"):
            seen: list[str] = []
            by_offset: list[str] = []
            added: set[str] = set()
            page = q.runs(sort=sort, limit=4)
            step = 0
            while True:
                seen += [i["id"] for i in page["items"]]
                by_offset += [i["id"] for i in q.runs(sort=sort, limit=4, offset=4 * step)["items"]]
                if page["next_cursor"] is None:
                    break
                step += 1
                added |= {add(store, -1.0, f"first-{step}"), add(store, 0.95, f"mid-{step}"),
                          add(store, None, f"none-{step}")}
                page = q.runs(sort=sort, limit=4, cursor=page["next_cursor"])
            assert len(seen) == len(set(seen)), f"{sort}: a run was listed twice"
            assert there <= set(seen), f"{sort}: a run that was there was skipped"
            assert set(seen) <= there | added
            if sort == "-started":  # newest first: every run added meanwhile sorts before the cursor
                assert set(seen) == there
            assert len(by_offset) != len(set(by_offset)), f"{sort}: offsets happened to be stable"
            there |= added
