"""`git vault tui` driven through prompt_toolkit's pipe input on a fixed-size dummy terminal: every
view of part 1, jumps, tiny and huge terminals, an empty vault, a live writer in another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

pytest.importorskip("prompt_toolkit")

from tests.conftest import git, make_repo, vault_run  # noqa: E402
from tests.tui_driver import CTRL_F, DOWN, ENTER, ESC, TAB, Driver, driven  # noqa: E402

from gitvault import Store  # noqa: E402
from gitvault.errors import VaultError  # noqa: E402
from gitvault.tui.app import TuiApp  # noqa: E402


def drive(repo: Path, body: Callable[[Driver], Awaitable[Any]], columns: int = 140, rows: int = 45) -> None:
    async def main() -> None:
        async with driven(repo, columns, rows) as d:
            await body(d)
            assert d.tui.errors == []
    asyncio.run(main())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's experiments and runs (read-only for every test that uses it)."""
    return make_repo(tmp_path_factory.mktemp("tui") / "demo", "demo")


def row_of(screen: str, text: str) -> int:
    return next(i for i, line in enumerate(screen.splitlines()) if text in line)


def test_first_screen_shows_the_tree_the_dashboard_and_the_keys(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = d.screen()
        tree = "\n".join(line[:40] for line in screen.splitlines())
        assert "1 Experiments" in screen and "2 Overview" in screen
        for name in ("cifar10", "imagenet", "resnet50", "vit-b16"):
            assert name in tree
        assert "imagenet 7" in tree  # runs rolled up from resnet50 (5) and vit-b16 (2)
        assert "✗ imagenet" in tree  # coloured by its failed run
        assert "14 runs" in screen and "✓ 13 completed" in screen and "✗ 1 failed" in screen
        assert "Recent runs" in screen and "cifar10/resnet18/augment#crop-flip" in screen
        assert "Best runs" in screen and "final_acc ↑" in screen and "final_loss ↓" in screen
        status = screen.splitlines()[-1]
        assert "? help" in status and "Space mark" in status and "LIVE" not in status
    drive(demo, body)


def test_a_run_detail_summary_and_info_and_the_tree_cursor_agree_after_jumps(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys(":", "run crop-flip", ENTER)
        assert d.state.selected.path == "cifar10/resnet18/augment#crop-flip"
        assert "2 Run cifar10/resnet18/augment#crop-flip" in screen
        assert "class:selected" in " ".join(d.styles_of("crop-flip", in_tree=True))  # the tree's cursor is on it
        assert "final_acc ↑" in screen and "0.8981" in screen
        assert "Curves (3)" in screen and "● train  ● val" in screen
        assert any(ch in screen for ch in "⠁⠂⠄⡀⣀⠉")  # braille dots drawn
        chart_rows = [line for line in screen.splitlines() if "┤" in line]
        assert chart_rows and all("-" not in line.split("┤")[0] for line in chart_rows)  # no tick below 0
        screen = await d.keys("I")
        assert "id            " + d.state.selected.id in screen
        assert "data.augment.crop true" in screen and "derived_from" in screen
        assert "rerun         git vault checkout" in screen
        # a jump from the search popup moves the tree cursor and the detail together
        screen = await d.keys(CTRL_F, "vit-no")
        assert "[run] ✗ imagenet/vit-b16/baseline#vit-no-warmup" in screen
        screen = await d.keys(ENTER)
        assert d.state.selected.path == "imagenet/vit-b16/baseline#vit-no-warmup"
        assert "2 Run imagenet/vit-b16/baseline#vit-no-warmup" in screen
        assert "class:selected" in " ".join(d.styles_of("vit-no-warmup", in_tree=True))
        screen = await d.keys("[")  # the previous run of the same experiment, wrapping around
        assert d.state.selected.path.startswith("imagenet/vit-b16/baseline#")
        assert d.state.selected.path in screen
    drive(demo, body)


def test_node_and_leaf_summaries(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys(":", "exp imagenet", ENTER)
        assert "imagenet  (benchmark)" in screen
        assert "2 sub-experiments · 7 runs" in screen and "✗ 1 failed" in screen
        assert "Children" in screen and "resnet50" in screen and "vit-b16" in screen
        assert "Ranking of the children (their best run)" in screen and "↑ higher is better" in screen
        screen = await d.keys(":", "exp cifar10/resnet18/augment", ENTER)
        assert "Runs (4)" in screen and "crop-flip" in screen and "augment" in screen
        assert "Metrics over runs: mean ± std [min, max]" in screen
        assert "final_acc" in screen and "± " in screen and "[0.8681, 0.8981]" in screen
    drive(demo, body)


def test_compare_and_diff_of_marked_runs(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys("c")
        assert "mark at least two" in screen and d.state.view == "explorer"  # visible feedback, nothing else
        await d.keys(":", "run augment#crop-flip", ENTER, " ")
        screen = await d.keys(":", "run augment#base", ENTER, " ")
        assert "Marked 2" in screen and "★ cifar10/resnet18/augment#crop-flip" in screen
        screen = await d.keys("c")
        assert "Compare 2 runs" in screen
        assert "1. cifar10/resnet18/augment#crop-flip" in screen and "2. cifar10/resnet18/augment#base" in screen
        assert "final_acc ↑" in screen and "class:good" in " ".join(d.styles_of("0.8981"))  # the best, marked
        assert "data.augment.crop" in screen and "data.augment.flip" in screen  # only keys that differ
        assert "data.dataset" not in screen
        assert "train_loss" in screen and "● 2. cifar10/resnet18/augment#base" in screen
        screen = await d.keys("D")
        assert "Diff against the baseline ★" in screen
        assert "Δ -0.03 ↓" in screen and "class:bad" in " ".join(d.styles_of("Δ -0.03"))  # acc fell: worse
        assert "class:bad" in " ".join(d.styles_of("Δ +0.03"))  # loss rose: worse too
        assert "data.augment.crop: true -> false" in screen
        screen = await d.keys("b")  # the next marked run becomes the baseline
        assert "★ cifar10/resnet18/augment#base" in screen and "data.augment.crop: false -> true" in screen
        assert "class:good" in " ".join(d.styles_of("Δ +0.03"))  # acc rose against this baseline
        screen = await d.keys("q")
        assert d.state.view == "explorer" and "1 Experiments" in screen
    drive(demo, body)


def test_help_is_generated_scrolls_filters_and_q_closes_then_quits(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys("?")
        assert "Everywhere" in screen and "Ctrl-C" in screen and "quit at once" in screen
        for binding in d.tui.keymap.bindings:
            if binding.context == "global":
                assert binding.description in screen
        first = screen.splitlines()[1]
        screen = await d.keys("j", "j")
        assert screen.splitlines()[1] != first
        screen = await d.keys("/", "log-y", ENTER)
        assert "charts: log-y on or off" in screen and "move down" not in screen
        screen = await d.keys("q")
        assert d.state.view == "explorer"
        await d.keys("q")
        assert await asyncio.wait_for(d.task, 10) == 0
    drive(demo, body, rows=30)


def test_tree_filter_filter_bar_and_command_line(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys("/", "vit")
        tree = [line[:40] for line in screen.splitlines()[1:-2]]
        assert any("vit-b16" in line for line in tree) and not any("cifar10" in line for line in tree)
        screen = await d.keys(ESC)
        assert "cifar10" in screen and d.state.tree_filter == ""
        screen = await d.keys("f", "metrics.final_acc > 0.88", ENTER)
        assert d.state.where_ids is not None and len(d.state.where_ids) == 2
        await d.keys(":", "exp cifar10/resnet18/augment", ENTER, "l")  # filters stay when they show the target
        names = {n.name for n in (r.node for r in d.state.rows) if n.kind == "run"}
        assert names == {"crop-flip", "flip"}
        screen = await d.keys("f", "\x15", "metrics.final_acc >", ENTER)  # Ctrl-U clears the line
        assert "expected a value, found the end of the condition" in screen.splitlines()[-1]
        assert d.state.where == "metrics.final_acc > 0.88"  # a bad filter changes nothing
        await d.keys(ESC, ESC)
        screen = await d.keys(":", "ru", TAB)
        assert d.tui.buffers["command"].text.startswith("run")
        await d.keys(ESC)
        screen = await d.keys(":", "frobnicate", ENTER)
        assert "unknown command 'frobnicate'" in screen
    drive(demo, body)


def test_git_view_jumps_from_a_commit_to_its_runs_and_back(demo: Path) -> None:
    head = git(demo, "rev-parse", "HEAD").stdout.strip()

    async def body(d: Driver) -> None:
        screen = await d.keys("g", "l")
        assert d.state.view == "git" and head[:7] in screen and "initial" in screen
        assert "(14 runs)" in screen
        screen = await d.keys("j", "j", ENTER)
        chosen = d.state.selected
        assert d.state.view == "explorer" and chosen is not None and chosen.kind == "run"
        assert f"Run {chosen.path}" in screen
        screen = await d.keys("g", "l")  # back: the git view opens on the run's row
        assert chosen.path in screen.splitlines()[d.tui.git_cursor + 1]
        screen = await d.keys("q", ":", f"commit {head[:8]}", ENTER)
        assert d.state.view == "git" and d.tui.git_cursor == 0
    drive(demo, body)


def test_tiny_and_huge_terminals(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.resize(40, 10)
        assert " ".join(screen.split()) == "terminal too small (40x10): gitvault needs 60x12"
        screen = await d.resize(300, 100)
        assert "1 Experiments" in screen and "Recent runs" in screen
        screen = await d.keys(":", "run crop-flip", ENTER)
        assert "Curves (3)" in screen
        screen = await d.resize(60, 12)
        assert "1 Experiments" in screen and len(screen.splitlines()[0]) <= 60
    drive(demo, body)


def test_an_empty_vault_and_a_missing_one(tmp_path: Path) -> None:
    fresh = make_repo(tmp_path / "fresh", "init")

    async def body(d: Driver) -> None:
        screen = d.screen()
        assert "No runs yet" in screen
        screen = await d.keys("j", "k", ENTER, " ", "c", "g", "l")
        assert d.state.view == "git" and "initial" in screen
    drive(fresh, body)
    bare = make_repo(tmp_path / "novault")
    with pytest.raises(VaultError, match="has no vault yet; run `git vault init` first"):
        TuiApp(bare).open()
    result = vault_run(bare, "tui")
    assert result.returncode == 1 and result.stderr.strip().endswith("run `git vault init` first")
    outside = tmp_path / "outside"
    outside.mkdir()
    result = vault_run(outside, "tui")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "git" in result.stderr


def test_a_failed_run_shows_its_traceback(repo: Path) -> None:
    store = Store(repo)
    with pytest.raises(ZeroDivisionError):
        with store.experiment({"benchmark": "b", "model": "m"}).run(name="boom") as run:
            run.curve(0, loss=1.0)
            1 / 0

    async def body(d: Driver) -> None:
        screen = await d.keys(":", "run boom", ENTER)
        assert "ZeroDivisionError: division by zero" in screen  # its last line on the summary
        screen = await d.keys("I", "G")
        assert "Traceback" in screen and "1 / 0" in screen
    drive(repo, body)


LIVE_WRITER = '''
import sys, time
from gitvault import Store
run = Store().experiment({"benchmark": "live", "model": "m"}).run(name="growing", total_steps=1000)
step = 0
for line in sys.stdin:
    if line.strip() == "finish":
        break
    for _ in range(int(line)):
        run.curve(step, loss=1.0 / (step + 1))
        step += 1
    run.flush()
    print(step, flush=True)
run.finish()
'''


def test_a_live_run_in_another_process_appears_grows_and_ends(repo: Path) -> None:
    Store(repo).experiment({"benchmark": "live", "model": "m"}).run(name="done").finish()
    script = repo / "writer.py"
    script.write_text(LIVE_WRITER)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=repo, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None

    def feed(line: str) -> str:
        proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return proc.stdout.readline().strip()  # type: ignore[union-attr]

    async def body(d: Driver) -> None:
        assert feed("100") == "100"
        # another process's run: its interpreter and first flush may take long on a loaded machine
        screen = await d.wait_for("growing", timeout=60)
        assert "LIVE 1" in screen.splitlines()[-1]
        await d.keys(":", "run growing", ENTER)
        await d.wait_for("Curves (1)")
        before = d.state.curves[d.state.selected.id]["loss"][0][-1]
        assert before == 99
        assert feed("200") == "300"
        await d.wait_for("LIVE 1", timeout=60)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if d.state.curves[d.state.selected.id]["loss"][0][-1] == 299:
                break
        assert d.state.curves[d.state.selected.id]["loss"][0][-1] == 299  # grew within seconds of the flush
        proc.stdin.write("finish\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        assert proc.wait(60) == 0
        for _ in range(200):
            await asyncio.sleep(0.05)
            if "LIVE" not in d.screen().splitlines()[-1]:
                break
        assert "LIVE" not in d.screen().splitlines()[-1]
        assert d.state.runs[d.state.selected.id]["status"] == "completed"
    try:
        drive(repo, body)
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 runs of one experiment (lr and seed differ), one of them archived; config.toml [info]
    shows the lr and the optimizer's keys only."""
    root = make_repo(tmp_path_factory.mktemp("tui") / "sweep")
    store = Store(root)
    exp = store.experiment({"benchmark": "sweep", "model": "mlp"})
    for i in range(25):
        with exp.run(config={"lr": 0.001 * (i + 1), "seed": i, "optimizer": {"name": "adam", "beta": 0.9}},
                     name=f"r{i:02d}") as run:
            for step in range(50):
                run.curve(step, train_loss=1.0 / (step + 1 + i), val_loss=1.2 / (step + 1 + i))
            run.log(val_loss=1.2 / (50 + i), val_acc=0.5 + i / 100)
    from gitvault.query import Query

    with Query(root) as q:
        q.archive(q.resolve_run("sweep/mlp#r03"))
    (root / ".extract" / "config.toml").write_text('[info]\nfields = ["lr", "optimizer.*"]\n')
    return root


def test_archived_runs_are_hidden_until_h_and_info_fields_filter_the_config(sweep: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys(":", "exp sweep/mlp", ENTER, "l")
        names = [r.node.name for r in d.state.rows if r.node.kind == "run"]
        assert len(names) == 24 and "r03" not in names
        assert "24 runs" in screen and "(1 archived, H shows)" in screen
        screen = await d.keys("H")
        assert "r03 (archived)" in screen and "SHOW ALL" in screen.splitlines()[-1]
        assert d.state.runs[d.state.tree.get("e:" + d.state.selected.id).runs[3].id]["archived"] is True
        screen = await d.keys(":", "run r03", ENTER, "I")
        assert "Config (3 of 4 keys, [info] fields)" in screen
        assert "optimizer.beta" in screen and "lr " in screen and "seed" not in screen
        assert "archived" in screen.lower()
    drive(sweep, body)


def test_a_leaf_shows_its_newest_runs_curves_and_chart_keys_redraw_them(sweep: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys(":", "exp sweep/mlp", ENTER)
        assert "Runs (24)" in screen and " r03 " not in screen  # archived: hidden
        doc = d.document()
        assert "Newest run r24: params and tables" in doc and "Newest run r24: curves" in doc
        assert "\nloss" in doc and "● train  ● val" in doc
        screen = await d.keys("y")
        assert "log-y" in screen.splitlines()[-1] and any("log-y" in line for line in screen.splitlines()[1:-1])
        screen = await d.keys("z")
        assert "last 1000" in screen.splitlines()[-1]
        screen = await d.keys("s")
        assert "smooth 0.6" in screen.splitlines()[-1]
    drive(sweep, body)


def test_compare_of_25_runs_marked_as_a_range(sweep: Path) -> None:
    async def body(d: Driver) -> None:
        await d.keys(":", "exp sweep/mlp", ENTER, "H", "l")  # the first run, archived ones shown
        await d.keys("v", "G", "v")
        assert len(d.state.marks) == 25
        screen = await d.keys("c")
        assert "Compare 25 runs" in screen
        screen = await d.keys("j" * 25)
        assert "25. sweep/mlp#r24" in screen
        await d.keys("\x04" * 3)  # Ctrl-D pages down to the config that differs
        text = d.document()
        assert "Config: the 2 keys that differ" in text and "optimizer.name" not in text
        assert "val_loss ↓" in text and text.count("sweep/mlp#r") >= 50  # the runs, then the legend
    drive(sweep, body, rows=50)


def test_the_mouse_selects_rows_and_scrolls(sweep: Path) -> None:
    async def body(d: Driver) -> None:
        screen = d.screen()
        y = row_of(screen, "sweep")
        await d.keys(f"\x1b[<0;6;{y + 1}M", f"\x1b[<0;6;{y + 1}m")  # press and release on the row
        assert d.state.selected is not None and d.state.selected.name == "sweep"
        assert d.state.selected.key in d.state.expanded  # the first level is open on start
        await d.keys(f"\x1b[<0;6;{y + 1}M", f"\x1b[<0;6;{y + 1}m")  # a second click closes it
        assert d.state.selected.key not in d.state.expanded
        await d.keys(f"\x1b[<0;6;{y + 1}M", f"\x1b[<0;6;{y + 1}m")  # and opens it again
        assert d.state.selected.key in d.state.expanded
        await d.keys("j", "l")  # mlp, opened: 24 runs below it
        before = d.state.cursor
        await d.keys(f"\x1b[<65;6;{y + 1}M")  # the wheel, down
        assert d.state.cursor == before + 3
    drive(sweep, body)


def test_docs_list_every_key_of_the_key_map() -> None:
    from types import SimpleNamespace

    from gitvault.tui import bindings
    from gitvault.tui.keys import KeyMap
    from gitvault.tui.state import State

    tui = SimpleNamespace(keymap=KeyMap(), state=State())
    bindings.bind(tui)  # type: ignore[arg-type]
    docs = (Path(__file__).parents[1] / "docs" / "tui.md").read_text()
    start = docs.index("<!-- keys: generated by KeyMap.markdown() -->\n") + len("<!-- keys: generated by KeyMap.markdown() -->\n")
    assert docs[start:docs.index("<!-- /keys -->")] == tui.keymap.markdown(), \
        "docs/tui.md's key tables are not the key map's: paste KeyMap.markdown() there"


# -- part 2: actions, each a vault commit, each undone with u and redone with Ctrl-R --------------

@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Two sealed runs of one experiment, with a tag each."""
    root = make_repo(tmp_path / "small")
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    for name, tag in (("first", "baseline"), ("second", "sweep")):
        with exp.run(config={"lr": 0.1}, name=name) as run:
            run.curve(0, loss=1.0)
            run.log(loss=0.5)
            run.tag(tag)
    return root


def stored(repo: Path, name: str) -> dict[str, Any]:
    """The run as the vault holds it now, read afresh through the query layer."""
    from gitvault.query import Query

    with Query(repo) as q:
        return dict(q.get_run(q.resolve_run(f"b/m#{name}")))


def test_tag_picker_toggles_creates_and_undo_redo_them(small: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys(":", "run first", ENTER, "t")
        assert "Tags of b/m#first: baseline" in screen
        assert "[x] baseline" in screen and "[ ] sweep" in screen  # a tag used on another run is offered
        await d.keys("swe", ENTER)  # typing filters; Enter toggles the highlighted one and saves
        assert stored(small, "first")["tags"] == ["baseline", "sweep"]
        screen = await d.keys("\x15", "best-so-far")  # Ctrl-U clears; a new tag is offered for creation
        assert "+ create best-so-far" in screen
        await d.keys(ENTER)
        assert stored(small, "first")["tags"] == ["baseline", "sweep", "best-so-far"]
        await d.keys("\x15", "baseline", ENTER, ESC)  # toggles it off
        assert stored(small, "first")["tags"] == ["sweep", "best-so-far"]
        assert "untagged baseline: b/m#first · u undoes" in d.screen()
        await d.keys("u")
        assert stored(small, "first")["tags"] == ["sweep", "best-so-far", "baseline"]
        await d.keys("u", "u")
        assert stored(small, "first")["tags"] == ["baseline"]
        screen = await d.keys("\x12")  # Ctrl-R redoes
        assert stored(small, "first")["tags"] == ["baseline", "sweep"] and "redone: tagged sweep" in screen
        screen = await d.keys("u", "u", "u")
        assert "nothing to undo" in screen
    drive(small, body)


def test_note_rename_and_mark_ask_and_commit(small: Path) -> None:
    async def body(d: Driver) -> None:
        await d.keys(":", "run second", ENTER, "n", "lr too high: diverged", ENTER)
        assert "lr too high: diverged" in stored(small, "second")["notes"]
        await d.keys("R", "\x15", "second-try", ENTER)
        assert stored(small, "second-try")["name"] == "second-try"
        assert d.state.selected.path == "b/m#second-try"  # the tree follows the new name
        screen = await d.keys("F")
        assert "Mark b/m#second-try failed? (it is completed)" in screen
        screen = await d.keys(ESC)
        assert "cancelled: nothing changed" in screen and stored(small, "second-try")["status"] == "completed"
        await d.keys("F", "y")
        assert stored(small, "second-try")["status"] == "failed"
        screen = await d.keys("u")
        assert stored(small, "second-try")["status"] == "completed" and "undone: marked failed" in screen
        screen = await d.keys("u")
        assert "undone: renamed second to second-try" in screen, screen
        assert stored(small, "second")["name"] == "second"
    drive(small, body)


def test_archive_a_run_keeps_its_status_and_h_shows_it(small: Path) -> None:
    async def body(d: Driver) -> None:
        await d.keys(":", "run first", ENTER, "A")
        run = stored(small, "first")
        assert run["archived"] is True and run["status"] == "completed"
        assert all(r.node.name != "first" for r in d.state.rows)  # hidden until H
        await d.keys("H", ":", "run first", ENTER, "U")
        assert stored(small, "first")["archived"] is False
    drive(small, body)


def test_ctrl_e_writes_a_note_in_the_editor_and_leaves_no_file(small: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    editor = tmp_path / "editor.py"
    seen = tmp_path / "seen.txt"
    editor.write_text(f"import sys, pathlib\npath = pathlib.Path(sys.argv[1])\n"
                      f"pathlib.Path({str(seen)!r}).write_text(str(path) + '\\n' + path.read_text())\n"
                      "path.write_text(path.read_text() + 'written in the editor\\n')\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")

    async def body(d: Driver) -> None:
        await d.keys(":", "run first", ENTER, "\x05")
        for _ in range(100):
            if "written in the editor" in stored(small, "first")["notes"]:
                break
            await asyncio.sleep(0.05)
        assert "written in the editor" in stored(small, "first")["notes"]
        temp, template = seen.read_text().split("\n", 1)
        assert "# A new note on b/m#first" in template and not Path(temp).exists()
    drive(small, body)


def test_model_registry_lineage_and_jumps(demo: Path) -> None:
    async def body(d: Driver) -> None:
        screen = await d.keys("M")
        assert d.state.view == "models" and "resnet50-imagenet@v1.0" in screen and "latest" in screen
        assert "imagenet/resnet50/lr-sweep#lr-3e-3" in screen  # the producing run, named in full
        row = next(i for i, e in enumerate(d.tui.view_entries()) if "resnet50-imagenet@v1.0" in
                   "".join(t for _, t, *_ in e.line))
        await d.keys("j" * row)
        screen = await d.keys("L")
        assert d.state.view == "lineage" and "Lineage of model resnet50-imagenet@v1.0" in screen
        assert "derived from run imagenet/resnet50/lr-sweep#lr-3e-3" in screen
        assert "derived from model baseline-imagenet@v0.9" in screen  # two levels up
        assert "imagenet/resnet50/finetune#finetune-from-v1" in screen  # what came from it
        rows = [i for i, e in enumerate(d.tui.view_entries()) if e.key and e.key.startswith("r:")]
        d.tui.cursors["lineage"] = rows[0]
        screen = await d.keys(ENTER)
        assert d.state.view == "explorer" and d.state.selected.path == "imagenet/resnet50/lr-sweep#lr-3e-3"
        screen = await d.keys(":", "run crop-flip", ENTER, "L")  # scoped to the run: each node once
        doc = d.document()
        assert doc.count("run cifar10/resnet18/augment#base") == 2 and "(shown above)" in doc
        assert "imagenet" not in doc
    drive(demo, body)


def test_todo_view_add_done_priority_delete_and_undo(small: Path) -> None:
    from gitvault.query import Query

    def todos() -> dict[str, dict[str, Any]]:
        with Query(small) as q:
            return {t["content"]: dict(t) for t in q.list_todos("all", include_done=True)["items"]}

    async def body(d: Driver) -> None:
        screen = await d.keys("T")
        assert d.state.view == "todo" and "no TODOs: a adds one" in screen
        await d.keys("a", "read the paper again", ENTER)
        assert todos()["read the paper again"]["scope_type"] == "global"
        screen = await d.keys(ESC, ":", "run first", ENTER, "T", "R")
        assert "no run TODOs" in screen
        await d.keys("a", "rerun with seed 2", ENTER)
        assert todos()["rerun with seed 2"]["scope_type"] == "run"
        screen = await d.keys("A")
        assert "[run: b/m#first]" in screen  # the scope named in full
        row = next(i for i, e in enumerate(d.tui.view_entries()) if "rerun with seed 2" in "".join(t for _, t, *_ in e.line))
        d.tui.cursors["todo"] = row
        await d.keys(" ")
        assert todos()["rerun with seed 2"]["done"] is True
        await d.keys("2")
        assert todos()["rerun with seed 2"]["priority"] == 2
        screen = await d.keys("x")
        assert d.tui.asking is not None, (d.tui.errors, d.state.toasts)
        assert "Delete the TODO 'rerun with seed 2'?" in screen, screen
        await d.keys(ENTER)
        assert "rerun with seed 2" not in todos()
        await d.keys("u")
        assert todos()["rerun with seed 2"]["priority"] == 2
    drive(small, body)


def test_delete_and_archive_an_experiment_keep_statuses_and_undo(small: Path) -> None:
    from gitvault.query import Query

    def statuses() -> dict[str, str]:
        with Query(small) as q:
            return {r["name"]: r["status"] for r in q.runs(limit=None)["items"]}

    async def body(d: Driver) -> None:
        before = statuses()
        screen = await d.keys(":", "exp b/m", ENTER, "A")
        assert "Archive the experiment b/m (2 runs below it keep their status)?" in screen
        await d.keys("y")
        with Query(small) as q:
            assert q.get_experiment("b/m")["archived"] is True
        assert statuses() == before
        assert all(r.node.path != "b/m" for r in d.state.rows)  # hidden until H
        screen = await d.keys("H")
        assert "m 0 (archived)" in screen or "m 2 (archived)" in screen
        await d.keys("u")
        with Query(small) as q:
            assert q.get_experiment("b/m")["archived"] is False
        screen = await d.keys(":", "exp b/m", ENTER, "x")
        assert "Delete the experiment b/m and the 2 runs below it?" in screen
        screen = await d.keys(ENTER)
        assert "deleted experiment b/m (2 runs)" in screen.splitlines()[-1], (screen.splitlines()[-1], d.state.toasts)
        assert statuses() == {}
        assert all(r.node.path != "b/m" for r in d.state.rows)
        await d.keys("u")
        assert statuses() == before
    drive(small, body)


def test_opening_and_closing_a_node_gives_the_rows_a_full_rebuild_gives() -> None:
    from gitvault.tui.state import State

    experiments = [{"id": f"e{i}", "path": p, "name": p.rsplit("/", 1)[-1], "parent_id": None}
                   for i, p in enumerate(["a", "a/x", "a/y", "b"])]
    for e in experiments:
        if "/" in e["path"]:
            e["parent_id"] = "e0"
    runs = [{"id": f"r{i}", "experiment_id": ("e1", "e2", "e3")[i % 3], "name": f"r{i}", "status": "completed",
             "archived": i == 4, "label": f"run{i}"} for i in range(9)]
    state = State()
    state.set_index(experiments, runs)
    for key in ["e:e1", "e:e0", "e:e2", "e:e0", "e:e3", "e:e1"]:
        node = state.tree.get(key)
        assert node is not None
        state.expand(node, key not in state.expanded)
        incremental = [(r.node.key, r.depth, r.expanded, r.has_children) for r in state.rows]
        state.refresh_rows()
        assert incremental == [(r.node.key, r.depth, r.expanded, r.has_children) for r in state.rows]
        if state.row_of(key) is not None:  # (a node under a closed one is not on screen to select)
            assert state.selected is node


def test_tables_side_by_side_and_the_marks_window_scrolling_with_the_tree() -> None:
    import numpy as np

    from gitvault.tui.state import State
    from gitvault.tui.views import chrome
    from gitvault.tui.views.compare import side_by_side

    text = ["".join(t for _, t, *_ in line) for line in side_by_side(
        [("cm · 1. a#x", np.eye(2)), ("cm · 2. a#y", np.zeros((2, 2)))], 80)]
    assert "cm · 1. a#x" in text[0] and "cm · 2. a#y" in text[0]  # one row of two tables
    assert text[2].count("R0") == 2
    narrow = ["".join(t for _, t, *_ in line) for line in side_by_side(
        [("cm · 1. a#x", np.eye(2)), ("cm · 2. a#y", np.zeros((2, 2)))], 30)]
    assert sum("cm ·" in line for line in narrow) == 2 and not any(line.count("R0") == 2 for line in narrow)

    state = State()
    runs = [{"id": f"r{i:02d}", "experiment_id": "e", "name": f"r{i:02d}", "status": "completed", "label": f"e#r{i:02d}"}
            for i in range(30)]
    state.set_index([{"id": "e", "path": "e", "name": "e", "parent_id": None}], runs)
    state.expand(state.tree.get("e:e"), True)
    state.marks = [r["id"] for r in runs]
    box = "".join(t for _, t, *_ in chrome.marks_box(state, 120, 40))
    assert "e#r29" in box and "e#r00" not in box and "22 more above" in box
    state.select("r:r05")
    box = "".join(t for _, t, *_ in chrome.marks_box(state, 120, 40))
    assert "e#r05" in box and "e#r29" not in box and "1 more above" in box and "21 more below" in box


def test_the_session_is_restored_and_config_toml_is_reloaded_when_it_changes(sweep: Path) -> None:
    config = sweep / ".extract" / "config.toml"
    before = config.read_text()

    async def first(d: Driver) -> None:
        await d.keys(":", "run r07", ENTER, " ", ":", "run r09", ENTER, " ", "I", "y", ">")
    asyncio.run(_drive_kept(sweep, first, keep=False))

    async def second(d: Driver) -> None:
        await d.wait_for("Run sweep/mlp#r09")
        assert d.state.selected.path == "sweep/mlp#r09" and d.state.detail_tab == "info"
        assert [d.state.label(m) for m in d.state.marks] == ["sweep/mlp#r07", "sweep/mlp#r09"]
        assert d.state.chart.log_y and d.tui.tree_fraction == 0.35
        config.write_text(before + '[notifications]\ntimeout = 9\n[theme]\naccent = "red"\n'
                          '[summary]\nsections = ["metrics", "runs"]\n')
        for _ in range(100):
            if d.state.settings.get("toast_seconds") == 9:
                break
            await asyncio.sleep(0.05)
        assert d.state.settings["toast_seconds"] == 9 and d.state.settings["theme"]["accent"] == "ansired"
        await d.keys(":", "exp sweep/mlp", ENTER)
        doc = d.document()
        assert doc.index("Metrics over runs") < doc.index("Runs (24)") and "curves" not in doc
        config.write_text(before + '[summary]\nsections = ["nonsense"]\n')
        await d.wait_for("[summary] sections must list some of runs, metrics, tables, curves")
    try:
        asyncio.run(_drive_kept(sweep, second, keep=True))
    finally:
        config.write_text(before)


async def _drive_kept(repo: Path, body: Callable[[Driver], Awaitable[Any]], keep: bool) -> None:
    async with driven(repo, keep_session=keep) as d:
        await body(d)
        assert d.tui.errors == []
        await d.quit()


def test_an_action_syncs_and_undo_after_a_pull_keeps_a_teammates_change(small: Path, tmp_path: Path) -> None:
    """Multi-user truth: what the TUI did reaches a teammate through push/pull like any record;
    `u` after a pull that brought the teammate's change to the same run undoes only ours."""
    from gitvault.query import Query
    from gitvault.sync.exchange import pull, push

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(small, "remote", "add", "origin", str(remote))
    push(small)
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(remote), str(mate))
    pull(mate)

    async def body(d: Driver) -> None:
        await d.keys(":", "run first", ENTER, "t", "mine", ENTER, ESC)
        assert stored(small, "first")["tags"] == ["baseline", "mine"]
        with Query(mate) as q:  # meanwhile the teammate tags the same run and pushes
            q.tag(q.resolve_run("b/m#first"), "theirs")
        push(mate)
        pull(small)  # the TUI's vault now holds both changes
        await asyncio.sleep(0.3)  # the TUI's watcher sees the pulled tip
        screen = await d.keys("u")
        assert "undone: tagged mine" in screen
        assert stored(small, "first")["tags"] == ["baseline", "theirs"]
        push(small)
        pull(mate)
        with Query(mate) as q:
            assert q.get_run(q.resolve_run("b/m#first"))["tags"] == ["baseline", "theirs"]
    drive(small, body)


def test_compare_sections_metric_directions_and_tag_definitions_from_config_toml(sweep: Path) -> None:
    config = sweep / ".extract" / "config.toml"
    before = config.read_text()
    config.write_text(before + '[compare]\nsections = ["config", "pivot"]\n[metrics]\nmaximize = ["val_loss"]\n'
                               '[[tags.definitions]]\nname = "promising"\ncolor = "green"\n')

    async def body(d: Driver) -> None:
        await d.keys(":", "run r01", ENTER, " ", ":", "run r02", ENTER, " ", "c")
        doc = d.document()
        assert doc.index("Config: the 2 keys that differ") < doc.index("Metrics (best per direction")
        assert "Curves" not in doc and "val_loss ↑" in doc  # [metrics] says larger is better here
        await d.keys("q", "t")
        screen = d.screen()
        assert "[ ] promising" in screen  # offered by [[tags.definitions]] though no run has it
        assert "fg:ansigreen" in " ".join(d.styles_of("promising"))
    try:
        drive(sweep, body)
    finally:
        config.write_text(before)


def test_a_run_that_starts_before_the_first_look_for_changes_appears(repo: Path) -> None:
    """The watcher's first token is taken before the tree is read, not at its first look: a run
    that starts in between is reported to it (it used to stay out of the tree until it ended)."""
    Store(repo).experiment({"benchmark": "early", "model": "m"}).run(name="sealed").finish()

    async def main() -> None:
        async with driven(repo, poll=2.0) as d:  # the first look comes 2 s after the tree was read
            run = Store(repo).experiment({"benchmark": "early", "model": "m"}).run(name="started-early")
            try:
                run.curve(0, loss=1.0)
                run.flush()
                screen = await d.wait_for("started-early", timeout=30)
                assert "LIVE 1" in screen.splitlines()[-1]
            finally:
                run.finish()
            assert d.tui.errors == []
    asyncio.run(main())
