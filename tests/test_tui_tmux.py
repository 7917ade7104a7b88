"""`git vault tui` end to end in a real terminal: tmux runs the installed command in a 140x45 pane,
keys go in with send-keys and the screen comes back with capture-pane. The demo's experiments on
the first screen, a jump to a run, help, a compare of two marked runs, a live run in another
process whose chart grows after each flush and whose LIVE badge goes when it ends, then `q` and
exit status 0."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

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

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "0")

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
        deadline = time.monotonic() + TIMEOUT
        while not (status_file.exists() and status_file.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status_file.exists(), f"git vault tui did not quit on q; the screen was:\n{pane.screen()}"
        assert status_file.read_text().strip() == "EXIT=0"
    finally:
        writer.kill()
        writer.wait()
