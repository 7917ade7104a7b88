"""`git vault tui` end to end in a real terminal: tmux runs the installed command in a 140x45 pane,
keys go in with send-keys and the screen comes back with capture-pane. The demo's experiments on
the first screen, a jump to a run, help, a compare of two marked runs, a live run in another
process whose chart grows after each flush and whose LIVE badge goes when it ends, then `q` and
exit status 0. Then the actions (issue 18): a tag added in the picker and undone, an experiment
archived and unarchived with its runs' statuses untouched, a heatmap (colours, then values with #)
and a markdown text rendered in the Info tab, quit; and `git vault` itself agrees afterwards."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import make_repo

COLUMNS, ROWS = 140, 45
TIMEOUT = 20.0  # seconds any expected screen may take; never asserted on

# A writer in its own process: each line on stdin is a number of points to log (then a flush and
# the last step logged is printed back); "finish" ends the run. The run is created with the first
# batch, so the first screen shows the demo alone.
WRITER = '''
import sys
from gitvault import Store

run, step = None, 0
for line in sys.stdin:
    if line.strip() == "finish":
        break
    if run is None:
        run = Store().experiment({"benchmark": "live", "model": "m"}).run(name="growing", total_steps=300)
    for _ in range(int(line)):
        run.curve(step, loss=2.0 / (1 + 0.05 * step))
        step += 1
    run.flush()
    print(step - 1, flush=True)
run.finish()
'''


class Pane:
    """One private tmux server (its own socket) holding one pane that runs a shell command."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.socket = f"gitvault-tui-{uuid.uuid4().hex[:12]}"
        self.cwd, self.env = cwd, env
        self.socket_path: Path | None = None  # tmux leaves its socket file behind on kill-server

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], cwd=self.cwd, env=self.env,
                              text=True, capture_output=True, timeout=TIMEOUT)
        assert proc.returncode == 0, f"tmux {' '.join(args)} failed: {proc.stderr.strip()}"
        return proc.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS), "-c", str(self.cwd), command)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def keys(self, *keys: str, literal: bool = False) -> None:
        """tmux key names (``Enter``, ``Space``, ``C-c``), or with ``literal`` text typed as is."""
        self.tmux("send-keys", "-t", "0", *(["-l"] if literal else []), *keys)

    def command(self, text: str) -> None:
        """The TUI's command line: ``:`` then ``text`` then Enter."""
        self.keys(":", literal=True)
        self.keys(text, literal=True)
        self.keys("Enter")

    def screen(self, colours: bool = False) -> str:
        """The pane's text; with ``colours`` its escape sequences too (``capture-pane -e``)."""
        return self.tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", "0")

    def wait(self, ready: Callable[[str], bool], what: str) -> str:
        """Capture the pane until ``ready(screen)``; fail with the last screen after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            screen = self.screen()
            if ready(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never happened; the screen was:\n{screen}")
            time.sleep(0.1)

    def wait_for(self, *texts: str) -> str:
        return self.wait(lambda screen: all(text in screen for text in texts), f"{texts!r} on the screen")

    def vault(self, *args: str) -> Any:
        """``git vault ARGS --json`` in the pane's repository, parsed."""
        proc = subprocess.run(["git", "vault", *args, "--json"], cwd=self.cwd, env=self.env, text=True,
                              capture_output=True, timeout=TIMEOUT)
        assert proc.returncode == 0, f"git vault {' '.join(args)} failed: {proc.stderr.strip()}"
        return json.loads(proc.stdout)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=TIMEOUT)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)


def status_bar(screen: str) -> str:
    return screen.rstrip("\n").splitlines()[-1]


def tree(screen: str) -> str:
    """The experiment tree: the left panel of every row."""
    return "\n".join(line.split("│")[0] for line in screen.splitlines())


def chart_extent(screen: str, title: str) -> int:
    """How many columns of the chart titled ``title`` hold braille dots: grows as a run logs steps
    (its x axis is pinned to the run's total_steps)."""
    lines = screen.splitlines()
    top = next((i for i, line in enumerate(lines) if line.split("│", 1)[-1].strip() == title), None)
    if top is None:
        return 0
    columns: set[int] = set()
    for line in lines[top + 1:]:
        plot = line.split("┤", 1)[-1] if "┤" in line else line.split("│")[-1]
        if not re.search("[\u2801-\u28ff]", line):
            if columns:
                break
            continue
        columns |= {i for i, ch in enumerate(plot) if "\u2801" <= ch <= "\u28ff"}
    return len(columns)


def exit_status(pane: Pane, status_file: Path) -> str:
    """What the pane's shell wrote to ``status_file`` once `git vault tui` ended (``EXIT=N``)."""
    deadline = time.monotonic() + TIMEOUT
    while not (status_file.exists() and status_file.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_file.exists(), f"git vault tui did not quit on q; the screen was:\n{pane.screen()}"
    return status_file.read_text().strip()


def detail(screen: str) -> list[str]:
    """The detail panel's rows: what is right of the tree's border, with their escapes if any."""
    return [line.split("│", 1)[1] if "│" in line else "" for line in screen.splitlines()]


def table(screen: str, name: str) -> list[str]:
    """The detail panel's rows of the table ``name``, from its title to the blank row after it."""
    rows = detail(screen)
    top = next((i for i, row in enumerate(rows) if row.startswith(f"── Table {name} ")), None)
    if top is None:
        return []
    return rows[top:next((i for i in range(top + 1, len(rows)) if not rows[i].strip()), len(rows))]


def heatmap_rows(screen: str) -> int:
    """How many rows of the detail panel change the background colour 5 times or more (256-colour
    ``48;5;N`` or true-colour ``48;2;R;G;B``; a cell of the same colour as its left neighbour needs
    none): a heatmap drawn as colours."""
    return sum(len(re.findall(r"48;(?:5;\d+|2;\d+;\d+;\d+)", row)) >= 5 for row in detail(screen))


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: the end-to-end terminal test needs it")
    repo = make_repo(tmp_path / "demo", "demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", TERM="xterm-256color",
               SHELL="/bin/sh")
    env.pop("NO_COLOR", None)
    pane = Pane(repo, env)
    try:
        yield pane
    finally:
        pane.kill()


def test_git_vault_tui_in_a_real_terminal(pane: Pane, tmp_path: Path) -> None:
    status_file = tmp_path / "status"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script)], cwd=pane.cwd, env=pane.env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None

    def log(points: str) -> str:
        writer.stdin.write(points + "\n")  # type: ignore[union-attr]
        writer.stdin.flush()  # type: ignore[union-attr]
        return writer.stdout.readline().strip()  # type: ignore[union-attr]

    try:
        pane.start(f"git vault tui; echo EXIT=$? > {shlex.quote(str(status_file))}; sleep 30")

        # the first screen: the demo's experiments with rolled-up counts, the dashboard, the keys
        screen = pane.wait_for("1 Experiments", "Recent runs", "Best runs")
        for name in ("cifar10", "resnet18", "imagenet", "resnet50", "vit-b16"):
            assert name in tree(screen)
        assert "imagenet 7" in tree(screen) and "14 runs" in screen and "✗ 1 failed" in screen
        assert "? help" in status_bar(screen) and "LIVE" not in status_bar(screen)

        # navigate to a run: the tree opens onto it and the detail shows its metrics and curves
        pane.command("run crop-flip")
        screen = pane.wait_for("2 Run cifar10/resnet18/augment#crop-flip", "Curves (3)")
        assert "crop-flip" in tree(screen) and "augment" in tree(screen)
        assert "final_acc ↑" in screen and "0.8981" in screen and chart_extent(screen, "loss") > 0
        pane.keys("I")
        screen = pane.wait_for("rerun", "data.augment.crop")

        # help lists the keys; q closes it and leaves the run where it was
        pane.keys("?")
        screen = pane.wait_for("Everywhere", "quit at once", "undo the last change made here")
        pane.keys("q")
        screen = pane.wait_for("1 Experiments", "2 Run cifar10/resnet18/augment#crop-flip")

        # compare two marked runs, then back to the explorer
        pane.keys("Space")
        pane.command("run augment#base")
        # (the "marked" toast covers the panel's title for a while: wait on base's own numbers)
        pane.wait(lambda s: "0.8681" in s and "run 1/4" in status_bar(s), "the run augment#base")
        pane.keys("Space")
        pane.wait_for("Marked 2")
        pane.keys("c")
        screen = pane.wait_for("Compare 2 runs", "1. cifar10/resnet18/augment#crop-flip", "final_acc")  # the data come after the title
        assert "1. cifar10/resnet18/augment#crop-flip" in screen and "2. cifar10/resnet18/augment#base" in screen
        assert "data.augment.crop" in screen and "final_acc ↑" in screen
        pane.keys("q")
        pane.wait_for("1 Experiments")

        # a live run in another process: it appears with the LIVE badge and its chart grows per flush
        assert log("60") == "59"
        pane.wait(lambda s: "● live 1" in tree(s) and "LIVE 1" in status_bar(s), "the live run and LIVE 1")
        pane.command("run growing")
        pane.keys("S")
        screen = pane.wait_for("2 Run live/m#growing", "Curves (1)")
        before = chart_extent(screen, "loss")
        assert before > 0
        assert log("150") == "209"
        # 210 of 300 steps against 60: the dots reach much further right
        pane.wait(lambda s: chart_extent(s, "loss") >= 2 * before, f"the live chart growing past {before} columns")
        pane.keys("I")
        pane.wait_for("last step 209")

        # the run ends: the LIVE badge goes and the run reads completed
        writer.stdin.write("finish\n")
        writer.stdin.flush()
        assert writer.wait(TIMEOUT) == 0
        pane.wait(lambda s: "LIVE" not in status_bar(s) and "status        completed" in s, "the end of the live run")

        # q quits from the explorer with exit status 0
        pane.keys("q")
        assert exit_status(pane, status_file) == "EXIT=0"
    finally:
        writer.kill()
        writer.wait()


def test_actions_and_artifacts_in_a_real_terminal_and_git_vault_agrees(pane: Pane, tmp_path: Path) -> None:
    """Issue 18: each action a vault commit that `git vault` sees at once, and the TUI's undo too."""
    status_file = tmp_path / "status"
    run, experiment = "imagenet/resnet50/lr-sweep#lr-3e-3", "imagenet/resnet50/lr-sweep"
    tags = ["sweep", "production-candidate"]

    def statuses() -> dict[str, str]:
        return {r["label"]: r["status"] for r in pane.vault("runs", "--all")["items"]}

    def archived(path: str) -> bool:
        return next(e["archived"] for e in pane.vault("experiments")["items"] if e["path"] == path) is True

    before = statuses()
    assert len(before) == 14 and pane.vault("show", run)["tags"] == tags and not archived(experiment)
    pane.start(f"git vault tui; echo EXIT=$? > {shlex.quote(str(status_file))}; sleep 30")
    pane.wait_for("1 Experiments", "Recent runs")

    # a run with a matrix: its Summary draws it as a heatmap, each cell a background colour
    pane.command("run lr-3e-3")
    pane.wait_for(f"2 Run {run}", "Table confusion_matrix  10x10", "rows: true · columns: predicted")
    pane.wait(lambda s: heatmap_rows(pane.screen(colours=True)) >= 10, "the heatmap's 10 coloured rows")
    cells = table(pane.screen(), "confusion_matrix")[3:13]  # under its title, axes and column labels
    assert [row.split()[0] for row in cells] == [str(i) for i in range(10)]
    assert not any(re.search(r"\d\.\d", row) for row in cells)  # colours, no numbers

    # t: typing creates a tag, Enter saves it at once (one vault commit), Esc closes the picker
    pane.keys("t")
    pane.wait_for(f"Tags of {run}", "[x] sweep", "[x] production-candidate")
    pane.keys("e2e-check", literal=True)
    pane.wait_for("+ create e2e-check")
    pane.keys("Enter")
    pane.wait_for("[x] e2e-check")
    pane.keys("Escape")
    pane.wait(lambda s: f"tagged e2e-check: {run} · u undoes" in status_bar(s), "the tagged toast")
    assert pane.vault("show", run)["tags"] == [*tags, "e2e-check"]

    # u: the inverse commit
    pane.keys("u")
    pane.wait(lambda s: "undone: tagged e2e-check" in status_bar(s), "the undone toast")
    assert pane.vault("show", run)["tags"] == tags

    # A on an experiment asks first (naming it and its runs), y archives it: a flag, statuses stay
    pane.command(f"exp {experiment}")
    pane.wait_for(f"2 {experiment}", "Runs (3)")
    pane.keys("A")
    # (the popup wraps the question: "(3 runs below it keep their status)?" spans two lines)
    pane.wait_for(f"Archive the experiment {experiment} (3 runs below it", "Enter/y confirm")
    pane.keys("y")
    # the toast comes with the write's answer, the tree's reload just after: hidden until H
    pane.wait(lambda s: f"archived: {experiment} · u undoes" in status_bar(s) and "lr-sweep 3" not in tree(s),
              "the archived toast and the experiment gone from the tree")
    assert archived(experiment) and statuses() == before

    # H shows it, marked archived; U asks again, y unarchives it
    pane.keys("H")
    pane.wait(lambda s: "lr-sweep 3 (archived)" in tree(s) and "SHOW ALL" in status_bar(s), "the archived experiment under H")
    pane.command(f"exp {experiment}")
    pane.wait_for(f"2 {experiment}", "Runs (3)")
    pane.keys("U")
    pane.wait_for(f"Unarchive the experiment {experiment} (3 runs below it", "Enter/y confirm")
    pane.keys("y")
    screen = pane.wait(lambda s: f"unarchived: {experiment}" in status_bar(s) and "(archived)" not in tree(s),
                       "the unarchived toast")
    assert "lr-sweep 3" in tree(screen)
    assert not archived(experiment) and statuses() == before

    # #: the heatmap's cells as numbers (10 rows of 10 values), and back to colours
    pane.command("run lr-3e-3")
    pane.wait_for(f"2 Run {run}", "Table confusion_matrix  10x10")
    pane.keys("#")
    screen = pane.wait(lambda s: [len(re.findall(r"\b[01]\.\d+\b", row)) for row in table(s, "confusion_matrix")[3:13]]
                       == [10] * 10, "10 rows of 10 cell values")
    assert "each cell" in status_bar(screen)
    pane.keys("#")
    pane.wait(lambda s: heatmap_rows(pane.screen(colours=True)) >= 10, "the heatmap's colours again")

    # I: the Info tab renders the run's markdown text (a heading without its # marks); scrolled to it
    pane.keys("I")
    pane.wait_for("── Run ──", "── Config (10 keys)")
    pane.keys("2")
    for _ in range(60):
        if "Converges stably." in pane.screen():
            break
        pane.keys("j")
        time.sleep(0.05)
    screen = pane.wait_for("── Text observations  (markdown)", "Converges stably.")
    assert "lr=0.003" in [row.strip() for row in detail(screen)] and "## lr=0.003" not in screen

    # Esc back to the tree, q quits with exit status 0
    pane.keys("Escape")
    pane.wait(lambda s: "Enter open" in status_bar(s), "the tree's keys in the status bar")
    pane.keys("q")
    assert exit_status(pane, status_file) == "EXIT=0"

    # git vault agrees with what the TUI left: the tag undone, the experiment unarchived, statuses as they were
    shown = pane.vault("show", run)
    assert shown["tags"] == tags and shown["status"] == "completed" and shown["archived"] is False
    assert not archived(experiment) and statuses() == before
