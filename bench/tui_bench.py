"""TUI benchmark (issue 17, "What it must show"). Prints figures beside the goals; asserts nothing.

    .venv/bin/python bench/tui_bench.py [--runs 10000 | --quick] [--repeats 5] [--keys 60] [--idle 10]

The vault is bench/query_bench.py's (10,000 runs written through the SDK, kept in the temp dir and
built there first if missing), copied with ``cp -a`` to a scratch folder, since the live run below
writes into it; the copy is removed at the end. One live run is started in the copy by a writer
process (3 curves x ``--live-steps`` steps, flushed, then one more point per request; after each
flush it prints ``time.monotonic()``) and stays running while everything is measured.

1. Time to first screen, as a user feels it: the real ``git vault tui`` started under a
   pseudo-terminal (``pty``, 200x50, TERM=xterm-256color), timed from just before the process is
   spawned until the text of the first screen's tree (the root experiment and its run count,
   ``bench 10001``: the experiments come first) is in the bytes it wrote (escape sequences stripped),
   and until its runs are in (the same row with its status glyph, ``● bench 10001``); also when the first byte
   came and when the screen was taken (the alternate screen switched on). Then Ctrl-C. Interleaved
   round by round with the references ``python -c pass``, ``git vault runs`` (output to /dev/null)
   and ``python -c 'import gitvault.tui.app'``: medians of ``--repeats`` rounds, after one warm-up
   of each. Beside them, the time of the tree's query work, ``gitvault.tui.loads.index(q)``.
2. Keypress to redraw, in process: ``TuiApp(repo)`` running under prompt_toolkit's pipe input and a
   real ``Vt100_Output`` writing into a StringIO at 200x50 (``create_app_session``), every
   experiment expanded (``state.expanded`` = all experiment keys; ``state.refresh_rows()``), the
   cursor put on the first run of an experiment in the middle of the tree, then ``--keys`` presses
   of ``j``, 150 ms apart (so the run detail each move asks for has come and been drawn): from
   ``send_text("j")`` to the end of the first frame drawn with the cursor moved (the application's
   ``after_render`` event), and that frame's own cost (``before_render`` to ``after_render``).
   On the vault's tree (its runs, the live one and their experiments), and at 50,000 rows: the
   same tree with its runs repeated under new ids (synthetic ``RunIndexItem``\\ s, set with
   ``state.set_index``; the detail panel of a synthetic run shows an error toast, as its id is not
   in the vault; the cursor walks real runs). Then (an extra figure) Enter on the run's experiment, closing and opening it:
   the tree's rows computed again.
3. Compare of 25 runs: 25 sealed runs marked (``state.marks``; those of the experiment with the
   most first), nothing held about them, ``c`` pressed in the running app, timed until the end of
   the frame drawn with the comparison loaded (end to end); and its two parts in the bench's own
   process: the query work ``gitvault.tui.loads.compare(q, ids)`` and the
   text ``gitvault.tui.views.compare.compare(state, 200)`` (medians of ``--repeats``).
4. Charts: one noisy 100,000-point curve through ``gitvault.tui.chart.render`` at 120x20 (median ms of 21, `chart_median_ms`), and
   ``gitvault.tui.views.panels.curve_charts`` of a run with 3 curves of 100,000 points at width 150
   (median of 21; the first call apart, as the panel caches charts).
5. Live lag after a flush: the live run selected in the running app (which polls ``Query.changes``
   every ``POLL_SECONDS`` = 0.5 s), the writer logs and flushes one point; from the time the writer
   printed after its flush returned to the end of the first frame drawn with the new last step in
   the state's curves of that run. ``--repeats`` trials at random phases of the poll.
6. Idle CPU: ``git-vault tui`` (the entry point itself, without git's wrapper process) in a
   pseudo-terminal, left alone for ``--idle`` seconds after its first screen: CPU seconds of the
   process, all threads (``/proc/PID/task/*/schedstat``) / wall seconds; beside, in the same
   window, a minimal prompt_toolkit full-screen ``Application`` in a pty and a ``sleep`` process.

7. Action to redraw (issue 18), in process: the same running app, a sealed run selected in the
   tree (the first of the experiment with the most runs), ``--actions`` times: ``t`` opens the tag
   picker, a new tag is typed (``bench-action-<k>``, a new one each time, so every toast is its
   own), then Enter, timed from ``send_text("\\r")`` to the end of the first frame drawn after the
   write's answer (the toast ``tagged bench-action-<k>`` in the state: the query layer's
   ``Query.tag`` on the TUI's worker, i.e. the vault commit, then the frame), and on to the end of
   the frame drawn with the index reloaded (the run's tags hold the new one: the caches refreshed
   after the commit and ``loads.index`` again, as ``TuiApp.vault_changed`` asks); Esc closes the
   picker, then ``u`` the same way (``undone: tagged ...``, then the tag gone from the run's tags).
   Then the parts, in the bench's own process on a ``Query`` of the same copy (medians of as many
   tags and untags): ``resolve_run``, ``runs.edits.current`` (the run's view from the vault), the
   whole ``Query.tag`` / ``Query.untag`` (those two and the vault commit), the cache refresh the
   next read does (``Query.refresh``) and ``loads.index(q)`` afterwards; and a cProfile of those
   tag + refresh + index cycles (the top functions by cumulative time).

Goals (issue 17): first screen <= 400 ms (Extract's Rust TUI: 23-51 ms on 500 runs); keypress to
redraw <= 16 ms median and <= 33 ms p95, at 50,000 rows too; compare of 25 runs <= 100 ms; a
100,000-point chart <= 20 ms; live lag <= 1 s; idle CPU <= 1 %. Issue 18: action to redraw
<= 50 ms including the vault commit.

    .venv/bin/python bench/tui_bench.py --only-actions   # 7. alone (the copy and live run still made)
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import fcntl
import io
import json
import os
import random
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import query_bench  # noqa: E402

COLUMNS, ROWS = 200, 50
LIVE_STEPS = 100_000  # x 3 curves
ROWS_50K = 50_000
ENTER_PAIRS = 5
KEY_GAP = 0.15  # seconds between presses: the detail a move asks for comes and is drawn meanwhile
IMPORT_APP = "python -c 'import gitvault.tui.app'"
GOALS = {"first": 400.0, "key_median": 16.0, "key_p95": 33.0, "compare": 100.0, "chart": 20.0, "lag": 1000.0,
         "idle": 1.0, "action": 50.0}
ACTION_TAG = "bench-action"
TREE_TEXT = re.compile(r"bench (\d+)")  # the root experiment's row with its run count
RUNS_TEXT = re.compile(r"[●✓✗!] bench (\d+)")  # the same row coloured by its runs' statuses: the runs are in
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHM]")

WRITER = r'''
import json, os, sys, time
from gitvault import Store

steps = int(sys.argv[1])
run = Store(".").experiment({"benchmark": "bench", "model": "live", "variant": "tui"}).run(
    config={"lr": 3e-4}, name="live-tui", total_steps=steps + 1000)
run.log(val_loss=0.15, val_acc=0.97)
curve = run.curve
for s in range(steps):
    curve(s, train_loss=1.0 / (1 + s * 1e-4), val_loss=1.1 / (1 + s * 1e-4), lr=3e-4 * (1 - s / steps))
run.flush()
print(json.dumps({"id": run.id, "last_step": steps - 1}), flush=True)
s = steps
for line in sys.stdin:  # one point per line, flushed; EOF: the bench is gone, go without sealing
    curve(s, train_loss=0.5, val_loss=0.55, lr=1e-6)
    run.flush()
    print(json.dumps({"step": s, "flushed": time.monotonic()}), flush=True)
    s += 1
os._exit(0)
'''

IDLE_REFERENCE = r'''
from prompt_toolkit import Application
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
kb = KeyBindings()
kb.add("c-c")(lambda e: e.app.exit())
Application(layout=Layout(Window(FormattedTextControl("a minimal prompt_toolkit app"))), key_bindings=kb,
            full_screen=True).run()
'''


@dataclass
class Figure:
    name: str
    value: float | None  # in the unit of the goal (ms, or % for idle CPU)
    goal: float
    unit: str
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, goal_key: str, unit: str = "ms", note: str = "") -> None:
        self.figures.append(Figure(name, value, GOALS[goal_key], unit, note))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p95(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def tui_env() -> dict[str, str]:
    """query_bench's environment (the venv's bin on PATH, a git identity), as a colour terminal."""
    out = {k: v for k, v in query_bench.env().items() if k != "NO_COLOR"}
    out.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    return out


# -- the vault and the live writer ----------------------------------------------------------------

def scratch_copy(source: Path, n: int) -> Path:
    """A fresh ``cp -a`` of the kept vault (its caches included), which is not written to."""
    base = Path(tempfile.gettempdir()) / f"gitvault-tui-bench17-{n}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    t = time.perf_counter()
    subprocess.run(["cp", "-a", str(source), str(base / "repo")], check=True)
    print(f"copied {source} to {base / 'repo'} in {time.perf_counter() - t:.1f} s", flush=True)
    return base / "repo"


class Writer:
    """The process holding the live run; ``point()`` logs and flushes one more point."""

    def __init__(self, root: Path, steps: int) -> None:
        t = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, str(steps)], cwd=root, env=query_bench.env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self._line()
        self.id: str = first["id"]
        self.last_step: int = first["last_step"]
        print(f"live run {self.id}: 3 curves x {steps:,} steps, flushed, {time.perf_counter() - t:.1f} s after start",
              flush=True)

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the live writer died (its error is above)")
        return dict(json.loads(line))

    def point(self) -> tuple[int, float]:
        """(the new step, ``time.monotonic()`` in the writer when its flush returned)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("point\n")
        self.proc.stdin.flush()
        out = self._line()
        self.last_step = int(out["step"])
        return self.last_step, float(out["flushed"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process so far, all its threads (not its children): the nanoseconds on CPU
    of each thread (``/proc/PID/task/*/schedstat``), else utime + stime in clock ticks."""
    try:
        return sum(int((task / "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- processes under a pseudo-terminal ------------------------------------------------------------

class PtyProcess:
    """A command whose stdin, stdout and stderr are a 200x50 pseudo-terminal; what it writes is
    read (and kept) by ``pump``."""

    def __init__(self, cmd: list[str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=tui_env(), stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.data = bytearray()
        self.first_byte: float | None = None
        self.screen_taken: float | None = None

    def pump(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``); False at EOF."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        now = time.perf_counter()
        if self.first_byte is None:
            self.first_byte = now
        self.data += chunk
        if self.screen_taken is None and b"\x1b[?1049h" in self.data:
            self.screen_taken = now
        return True

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 60.0) -> float:
        """Seconds from the spawn until ``pattern`` is in the text written (escapes stripped)."""
        deadline = time.perf_counter() + timeout
        scanned = 0
        while time.perf_counter() < deadline:
            alive = self.pump(0.05)
            if len(self.data) > scanned:
                scanned = len(self.data)
                if pattern.search(ANSI.sub("", self.data.decode("utf-8", "replace"))):
                    return time.perf_counter() - self.started
            if not alive:
                break
        tail = ANSI.sub("", self.data.decode("utf-8", "replace"))[-1500:]
        raise RuntimeError(f"{pattern.pattern!r} never appeared (exit {self.proc.poll()}); last output:\n{tail}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> int | None:
        """Ctrl-C, then a kill after 10 s; the exit status (None when killed)."""
        try:
            os.write(self.master, b"\x03")
        except OSError:
            pass
        deadline = time.perf_counter() + 10
        status: int | None = None
        while time.perf_counter() < deadline:
            if not self.pump(0.05) or self.proc.poll() is not None:
                status = self.proc.poll()
                if status is not None:
                    break
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)
        return status



def chart_median_ms(points: int = 100_000, width: int = 120, height: int = 20, repeats: int = 21) -> float:
    """Median milliseconds to render one noisy ``points``-point curve (one spike) in a width x height box."""
    import numpy as np

    from gitvault.tui import chart

    rng = np.random.default_rng(0)
    steps = np.arange(points)
    values = 2.0 / (1.0 + steps / 1000.0) + rng.normal(0.0, 0.05, points)
    values[points // 2] = 5.0
    curve = [chart.Series("train", steps, values)]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        chart.render("loss", curve, width, height)
        times.append((time.perf_counter() - start) * 1000.0)
    return median(times)

# -- 1. first screen ------------------------------------------------------------------------------

def first_screen(root: Path, repeats: int, report: Report) -> None:
    tui = ["git", "vault", "tui"]
    labels = ["git vault tui", "python -c pass", "git vault runs", IMPORT_APP]
    walls: dict[str, list[float]] = {k: [] for k in labels}
    byte_at: list[float] = []
    taken_at: list[float] = []
    runs_at: list[float] = []
    statuses: list[int | None] = []

    def once(label: str, keep: bool) -> None:
        if label == "git vault tui":
            p = PtyProcess(tui, root)
            wall = p.wait_for(TREE_TEXT)
            runs = p.wait_for(RUNS_TEXT)
            if keep:
                runs_at.append(runs)
                byte_at.append((p.first_byte or p.started) - p.started)
                taken_at.append((p.screen_taken or p.started) - p.started)
            statuses.append(p.close())
        else:
            cmd = {"python -c pass": [sys.executable, "-c", "pass"], "git vault runs": ["git", "vault", "runs"],
                   IMPORT_APP: [sys.executable, "-c", "import gitvault.tui.app"]}[label]
            wall, _ = query_bench.timed(cmd, root)
        if keep:
            walls[label].append(wall)

    for label in labels:  # warm-up: the OS's file cache, the vault's caches
        once(label, keep=False)
    for r in range(repeats):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            once(label, keep=True)
    med = median(walls["git vault tui"]) * 1000
    print(f"\n1. first screen under a pty ({COLUMNS}x{ROWS}), medians of {repeats} interleaved rounds; "
          f"load average {query_bench.load()}")
    print(f"   git vault tui: first byte {median(byte_at) * 1000:.0f} ms, screen taken {median(taken_at) * 1000:.0f} ms, "
          f"the tree (first screen) {med:.0f} ms (min {min(walls['git vault tui']) * 1000:.0f}), "
          f"its runs in {median(runs_at) * 1000:.0f} ms; "
          f"exit status after Ctrl-C: {sorted(set(statuses), key=str)}")
    for label in labels[1:]:
        print(f"   reference {label:<36} {median(walls[label]) * 1000:6.0f} ms (min {min(walls[label]) * 1000:.0f})")
    from gitvault.query import Query
    from gitvault.tui import loads

    with Query(root) as q:
        index_s = []
        for _ in range(repeats):
            t = time.perf_counter()
            index = loads.index(q)
            index_s.append(time.perf_counter() - t)
    print(f"   the tree's data, loads.index(q) in this process: {median(index_s) * 1000:.0f} ms "
          f"({len(index['runs']):,} runs, {len(index['experiments'])} experiments)")
    report.add("time to first screen (pty, `git vault tui`)", med, "first")
    report.references.append(f"python -c pass {median(walls['python -c pass']) * 1000:.0f} ms, "
                             f"git vault runs {median(walls['git vault runs']) * 1000:.0f} ms (same rounds as the first screen)")


# -- 2, 3, 5. the app in process ------------------------------------------------------------------

class Session:
    """A running ``TuiApp`` with a real VT100 output into a StringIO; every frame recorded as
    (start, end, what ``probe()`` said at its end), in ``time.monotonic()``."""

    def __init__(self, tui: Any, pipe: Any, task: asyncio.Task[int], sink: io.StringIO) -> None:
        self.tui, self.pipe, self.task, self.sink = tui, pipe, task, sink
        self.frames: list[tuple[float, float, bool]] = []
        self.bytes: list[int] = []
        self.probe: Callable[[], bool] = lambda: True
        self._start = 0.0
        tui.app.before_render += self._before
        tui.app.after_render += self._after

    def _before(self, _: Any) -> None:
        self._start = time.monotonic()

    def _after(self, _: Any) -> None:
        self.frames.append((self._start, time.monotonic(), self.probe()))
        self.bytes.append(self.sink.tell())
        self.sink.seek(0)
        self.sink.truncate()

    async def until(self, cond: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline or self.task.done():
                raise RuntimeError(f"the TUI never got to: {what}; errors: {self.tui.errors[-1:]}")
            await asyncio.sleep(0.002)

    async def quiet(self, seconds: float = 0.15) -> None:
        """Wait until nothing is on its way (the poll aside) and no frame came for ``seconds``."""
        await self.until(lambda: not (self.tui.pending - {"changes"}), what="an idle state")
        while True:
            n = len(self.frames)
            await asyncio.sleep(seconds)
            if len(self.frames) == n and not (self.tui.pending - {"changes"}):
                return

    async def frame_after(self, t0: float, probe: Callable[[], bool], timeout: float = 30.0) -> tuple[float, float, int]:
        """(end - t0, the frame's own seconds, its bytes) of the first frame ending after ``t0``
        with ``probe()`` true."""
        self.probe = probe
        start_index = len(self.frames)

        def found() -> tuple[float, float, float, bool] | None:
            for i in range(start_index, len(self.frames)):
                begin, end, ok = self.frames[i]
                if end > t0 and ok:
                    return end - t0, end - begin, self.bytes[i], True
            return None

        await self.until(lambda: found() is not None, timeout, what="the frame awaited")
        hit = found()
        assert hit is not None
        self.probe = lambda: True
        return hit[0], hit[1], int(hit[2])

    async def press(self, key: str, probe: Callable[[], bool]) -> tuple[float, float, int]:
        t0 = time.monotonic()
        self.pipe.send_text(key)
        return await self.frame_after(t0, probe)


async def with_session(root: Path, body: Callable[[Session], Any]) -> Any:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.vt100 import Vt100_Output

    from gitvault.tui.app import TuiApp

    sink = io.StringIO()
    output = Vt100_Output(sink, lambda: Size(rows=ROWS, columns=COLUMNS), term="xterm-256color")
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
        tui = TuiApp(root)
        tui.open()
        task = asyncio.ensure_future(tui.run_async())
        session = Session(tui, pipe, task, sink)
        try:
            await session.until(lambda: tui.state.loaded, what="the tree loaded")
            await session.quiet()
            return await body(session)
        finally:
            if not task.done():
                pipe.send_text("\x03")
                await asyncio.wait_for(task, 20)


def expand_all(session: Session) -> int:
    """Every experiment open; the cursor on the first run of an experiment in the middle of the
    tree with the most runs at hand; the row count."""
    state = session.tui.state
    state.expanded = {key for key, node in state.tree.nodes.items() if node.kind == "experiment"}
    state.refresh_rows()
    middle = len(state.rows) // 2
    first_runs = [i for i, row in enumerate(state.rows) if row.node.kind == "run" and i > 0
                  and state.rows[i - 1].node.kind == "experiment"]
    state.cursor = min(first_runs, key=lambda i: abs(i - middle)) if first_runs else middle
    state.focus = "tree"
    session.tui.app.invalidate()
    return len(state.rows)


async def keypresses(session: Session, presses: int) -> tuple[list[float], list[float], list[int]]:
    """``presses`` x ``j``: (latencies, frame costs, frame bytes)."""
    state = session.tui.state
    lat, cost, sizes = [], [], []
    for _ in range(presses):
        await session.quiet(KEY_GAP)
        target = min(state.cursor + 1, len(state.rows) - 1)
        took, frame, size = await session.press("j", lambda: state.cursor == target)
        lat.append(took)
        cost.append(frame)
        sizes.append(size)
    return lat, cost, sizes


async def toggles(session: Session, pairs: int) -> list[float]:
    """Enter on the experiment of the selected run, ``2 * pairs`` times (it closes, then opens):
    from the key to the frame showing it done."""
    state = session.tui.state
    node = state.selected
    home = node.parent if node is not None and node.parent is not None else node
    if home is None:
        return []
    state.cursor = state.row_of(home.key) or 0
    session.tui.app.invalidate()
    lat = []
    for _ in range(2 * pairs):
        await session.quiet(KEY_GAP)
        opened = home.key in state.expanded
        took, _, _ = await session.press(
            "\r", lambda: (home.key in state.expanded) != opened and state.selected is home)
        lat.append(took)
    return lat


def print_keys(label: str, rows: int, lat: list[float], cost: list[float], sizes: list[int], report: Report,
               note: str) -> None:
    print(f"   {label}: {rows:,} rows, {len(lat)} presses of j: key to redraw median {median(lat) * 1000:.1f} ms, "
          f"p95 {p95(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms; the frame itself median "
          f"{median(cost) * 1000:.1f} ms, p95 {p95(cost) * 1000:.1f} ms; {median([float(s) for s in sizes]):.0f} "
          f"bytes to the terminal")
    report.add(f"key to redraw, median, {rows:,} rows{note}", median(lat) * 1000, "key_median")
    report.add(f"key to redraw, p95, {rows:,} rows{note}", p95(lat) * 1000, "key_p95")


def pick_compare_ids(state: Any, k: int = 25) -> list[str]:
    """``k`` sealed runs: those of the experiment with the most, then of the next ones (tree order)."""
    per_experiment = [[c.id for c in node.runs if c.status != "running"]
                      for node in state.tree.nodes.values() if node.kind == "experiment"]
    per_experiment.sort(key=len, reverse=True)
    return [rid for ids in per_experiment for rid in ids][:k]


async def keys_at(root: Path, presses: int, report: Report, total_rows: int | None) -> int:
    """``presses`` x ``j`` on the vault's tree (``total_rows`` None) or on a synthetic one of
    ``total_rows`` rows; the row count."""
    from gitvault.tui import loads

    async def body(session: Session) -> int:
        note = ""
        if total_rows is not None:
            data = await asyncio.wrap_future(session.tui.worker.submit(loads.index))
            runs = synthetic_index(data["experiments"], data["runs"], total_rows)
            session.tui.state.set_index(data["experiments"], runs)
            note = " (synthetic)"
        rows = expand_all(session)
        await session.quiet()
        lat, cost, sizes = await keypresses(session, presses)
        print_keys("synthetic tree" if note else "the vault's tree", rows, lat, cost, sizes, report, note)
        lat = await toggles(session, ENTER_PAIRS)
        print(f"      Enter on the experiment above, closing and opening it ({len(lat)} presses): median "
              f"{median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms", flush=True)
        report.add(f"(extra) Enter closes/opens an experiment, {rows:,} rows{note}", median(lat) * 1000, "key_median")
        return rows

    return int(await with_session(root, body))


async def compare_and_lag(root: Path, writer: Writer, trials: int, report: Report) -> list[str]:
    """Compare of 25 runs end to end (3.) and the live lag (5.) in the running app; the 25 ids."""
    ids: list[str] = []

    async def body(session: Session) -> None:
        state = session.tui.state
        ids.extend(pick_compare_ids(state))
        state.marks, state.baseline = list(ids), ids[0]
        session.tui.app.invalidate()
        await session.quiet()
        ends = []
        for _ in range(trials):
            # nothing held: as on the first `c` after marking (what `_set_comparison` holds goes with the marks)
            state.comparison = None
            session.tui.loaded_gen.pop("compare", None)
            took, frame, _ = await session.press(
                "c", lambda: state.view == "compare" and (state.comparison or {}).get("ids") == ids)
            ends.append((took, frame))
            await session.quiet()
            await session.press("q", lambda: state.view == "explorer")
            await session.quiet()
        state.marks, state.baseline = [], None
        took_ms = median([e[0] for e in ends]) * 1000
        print(f"\n3. compare of {len(ids)} runs, end to end in the running app: `c` to the end of the frame drawn "
              f"with the comparison: median {took_ms:.0f} ms of {trials} (that frame itself "
              f"{median([e[1] for e in ends]) * 1000:.1f} ms)", flush=True)
        report.add(f"compare of {len(ids)} runs, `c` to the drawn comparison", took_ms, "compare")

        if not state.select("r:" + writer.id):
            raise RuntimeError("the live run is not in the tree")
        session.tui.app.invalidate()
        name = "train_loss"

        def last_step() -> int:
            curves = state.curves.get(writer.id) or {}
            return int(curves[name][0][-1]) if name in curves and len(curves[name][0]) else -1

        await session.until(lambda: last_step() >= writer.last_step, what="the live run's curves")
        await session.quiet()
        lags = []
        loop = asyncio.get_running_loop()
        rng = random.Random(1)
        for _ in range(trials):
            await asyncio.sleep(rng.uniform(0.2, 0.8))  # a random phase of the poll
            step, flushed = await loop.run_in_executor(None, writer.point)
            took, _, _ = await session.frame_after(flushed, lambda: last_step() >= step, timeout=20)
            lags.append(took)
        session.lags = lags  # type: ignore[attr-defined]
        print(f"\n5. live lag after a flush (the TUI polls every {session.tui.poll_seconds} s; the live run "
              f"selected, its curves drawn): " + ", ".join(f"{x * 1000:.0f}" for x in lags)
              + f" ms; median {median(lags) * 1000:.0f} ms", flush=True)
        report.add("live lag after a flush", median(lags) * 1000, "lag")

    await with_session(root, body)
    return ids


def top_functions(profile: Any, calls: int, k: int = 12) -> list[str]:
    """The ``k`` functions of ``profile`` with the most cumulative time, as ms and calls per one of
    the ``calls`` calls it watched (the bench's own frames left out)."""
    import pstats

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = sorted(((ct, nc, f"{Path(file).name}:{line}({name})" if file != "~" else name)
                   for (file, line, name), (_, nc, _, ct, _) in stats.items() if not file.endswith("tui_bench.py")),
                  reverse=True)
    return [f"{ct * 1000 / calls:8.1f} ms {nc / calls:8.1f} calls  {where}" for ct, nc, where in rows[:k]]


async def actions(root: Path, trials: int, report: Report) -> str:
    """7.: the tag picker's Enter and ``u`` on a sealed run, ``trials`` times each, in the running
    app; the run's id."""
    from gitvault.tui import loads

    picked: list[str] = []

    async def body(session: Session) -> None:
        tui, state = session.tui, session.tui.state
        rid = pick_compare_ids(state, 1)[0]
        picked.append(rid)
        if not state.select("r:" + rid):
            raise RuntimeError(f"the run {rid} is not in the tree")
        state.focus = "tree"
        tui.app.invalidate()
        await session.quiet()

        def toasted(text: str) -> Callable[[], bool]:
            return lambda: any(t.text.startswith(text) for t in state.toasts)

        def has_tag(tag: str) -> bool:
            return tag in (state.runs.get(rid, {}).get("tags") or [])

        figures: dict[str, list[float]] = {"tag": [], "tag_index": [], "undo": [], "undo_index": [], "frame": [],
                                           "tag_frames": [], "undo_frames": [], "choices": [], "choices_ms": []}
        # the picker's list, counted and timed where the app calls it (on this instance only)
        choices_calls: list[float] = []
        tag_choices = tui.tag_choices

        def counted() -> Any:
            t = time.perf_counter()
            out = tag_choices()
            choices_calls.append(time.perf_counter() - t)
            return out

        tui.tag_choices = counted
        # the index reload the write asks for: its query on the worker, then its answer on the UI thread
        reload_ms: dict[str, list[float]] = {"query": [], "apply": []}
        index_query, set_index = loads.index, tui._set_index

        def timed_index(q: Any) -> Any:
            t = time.perf_counter()
            out = index_query(q)
            reload_ms["query"].append((time.perf_counter() - t) * 1000)
            return out

        def timed_set_index(data: Any) -> None:
            t = time.perf_counter()
            set_index(data)
            reload_ms["apply"].append((time.perf_counter() - t) * 1000)

        loads.index, tui._set_index = timed_index, timed_set_index

        def drawn_between(t0: float, took: float) -> float:
            """The UI thread's time spent drawing frames from ``t0`` to ``t0 + took``."""
            return sum(end - max(begin, t0) for begin, end, _ in session.frames if t0 < end <= t0 + took + 1e-9)
        for k in range(trials):
            tag = f"{ACTION_TAG}-{k}"
            await session.press("t", lambda: tui.popup == "tags")
            await session.press(tag, lambda: tui.buffers["tags"].text == tag)
            await session.quiet()
            t0 = time.monotonic()
            choices_calls.clear()
            session.pipe.send_text("\r")
            took, frame, _ = await session.frame_after(t0, toasted(f"tagged {tag}"))
            figures["choices"].append(len(choices_calls))
            figures["choices_ms"].append(sum(choices_calls))
            figures["tag_frames"].append(drawn_between(t0, took))
            indexed, _, _ = await session.frame_after(t0, lambda: has_tag(tag))
            figures["tag"].append(took)
            figures["tag_index"].append(indexed)
            figures["frame"].append(frame)
            await session.quiet()
            await session.press("\x1b", lambda: tui.popup is None)
            await session.quiet()
            t0 = time.monotonic()
            session.pipe.send_text("u")
            took, frame, _ = await session.frame_after(t0, toasted(f"undone: tagged {tag}"))
            figures["undo_frames"].append(drawn_between(t0, took))
            indexed, _, _ = await session.frame_after(t0, lambda: not has_tag(tag))
            figures["undo"].append(took)
            figures["undo_index"].append(indexed)
            figures["frame"].append(frame)
            await session.quiet()
        tui.tag_choices = tag_choices
        loads.index, tui._set_index = index_query, set_index
        calls = figures.pop("choices")
        ms = {key: [x * 1000 for x in xs] for key, xs in figures.items()}
        print(f"\n7. action to redraw in the running app, run {state.label(rid)}, {trials} of each "
              f"(median / max ms; goal <= {GOALS['action']:g} ms including the vault commit):", flush=True)
        for key, label in (("tag", "t, a new tag, Enter: to the frame with the write's answer ('tagged')"),
                           ("tag_index", "                    ... to the frame with the index reloaded"),
                           ("undo", "u: to the frame with the undo's answer ('undone')"),
                           ("undo_index", "                    ... to the frame with the index reloaded")):
            print(f"   {label:<72} {median(ms[key]):6.1f} / {max(ms[key]):6.1f}")
        print(f"   those frames themselves: median {median(ms['frame']):.1f} ms, max {max(ms['frame']):.1f} ms; "
              f"the UI thread drawing frames between the key and the answer's frame (that one included): "
              f"median {median(ms['tag_frames']):.1f} ms after Enter, {median(ms['undo_frames']):.1f} ms after u")
        print(f"   the index reloads meanwhile ({len(reload_ms['query'])}, the poll's included): loads.index on the "
              f"worker median {median(reload_ms['query']):.1f} ms (max {max(reload_ms['query'], default=0):.1f}), "
              f"its answer applied on the UI thread (_set_index: the tree rebuilt) median "
              f"{median(reload_ms['apply']):.1f} ms (max {max(reload_ms['apply'], default=0):.1f})")
        print(f"   the picker's list (tag_choices(), over the {len(state.runs):,} runs' tags) was computed "
              f"{median(calls):.0f} times from Enter to the 'tagged' frame: {median(ms['choices_ms']):.1f} ms "
              f"(median), {median(ms['choices_ms']) / max(1.0, median(calls)):.2f} ms a call")
        report.add("action: tag picker Enter to the drawn 'tagged', median", median(ms["tag"]), "action",
                   note=f"max {max(ms['tag']):.0f}")
        report.add("action: u (undo) to the drawn 'undone', median", median(ms["undo"]), "action",
                   note=f"max {max(ms['undo']):.0f}")
        report.add("(extra) action: tag Enter to the drawn reloaded index, median", median(ms["tag_index"]), "action",
                   note=f"max {max(ms['tag_index']):.0f}")
        report.add("(extra) action: u to the drawn reloaded index, median", median(ms["undo_index"]), "action",
                   note=f"max {max(ms['undo_index']):.0f}")

    await with_session(root, body)
    return picked[0]


def action_parts(root: Path, rid: str, trials: int, report: Report) -> None:
    """Where an action's time goes, in this process: the query layer's steps of a tag and its
    undo, then the refresh and the index reload that follow, and a cProfile of those cycles."""
    import cProfile

    from gitvault.query import Query
    from gitvault.runs import edits
    from gitvault.tui import loads

    parts: dict[str, list[float]] = {k: [] for k in ("resolve", "current", "tag", "untag", "refresh", "index")}
    profiles = {step: cProfile.Profile() for step in ("write", "refresh", "index")}

    def timed(key: str, fn: Callable[[], Any], profile: cProfile.Profile | None = None) -> Any:
        t = time.perf_counter()
        out = fn() if profile is None else profile.runcall(fn)
        if profile is None:
            parts[key].append((time.perf_counter() - t) * 1000)
        return out

    def cycle(q: Any, tag: str, write: str, profiled: bool) -> None:
        timed(write, lambda: q.tag(rid, tag) if write == "tag" else q.untag(rid, tag),
              profiles["write"] if profiled else None)
        timed("refresh", q.refresh, profiles["refresh"] if profiled else None)
        timed("index", lambda: loads.index(q), profiles["index"] if profiled else None)

    with Query(root) as q:
        loads.index(q)
        for k in range(trials):
            tag = f"{ACTION_TAG}-parts-{k}"
            timed("resolve", lambda: q.resolve_run(rid))
            timed("current", lambda: edits.current(q.vault, "run", rid))
            cycle(q, tag, "tag", profiled=False)
            cycle(q, tag, "untag", profiled=False)
        for k in range(trials):  # profiled apart: cProfile slows what it watches
            tag = f"{ACTION_TAG}-profile-{k}"
            cycle(q, tag, "tag", profiled=True)
            cycle(q, tag, "untag", profiled=True)
    med = {k: median(v) for k, v in parts.items()}
    print(f"\n7. an action in parts, in this process on a Query of the same vault (medians of {trials}): "
          f"resolve_run {med['resolve']:.1f} ms, edits.current {med['current']:.1f} ms; Query.tag {med['tag']:.1f} ms "
          f"(max {max(parts['tag']):.1f}), Query.untag {med['untag']:.1f} ms (both include those two and the vault "
          f"commit); then the cache refresh {med['refresh']:.1f} ms (max {max(parts['refresh']):.1f}) and "
          f"loads.index {med['index']:.1f} ms (max {max(parts['index']):.1f})")
    print(f"   write + refresh + index: {med['tag'] + med['refresh'] + med['index']:.1f} ms; cProfile of "
          f"{2 * trials} more of each (tags and untags), the top functions by cumulative time (ms a call):")
    for step, profile in profiles.items():
        print(f"   -- {step} --")
        print("\n".join(f"   {line}" for line in top_functions(profile, 2 * trials)))
    report.add("action parts: Query.tag (the vault commit) + refresh + index", med["tag"] + med["refresh"] + med["index"],
               "action", note=f"{med['tag']:.0f} + {med['refresh']:.0f} + {med['index']:.0f}")


def synthetic_index(experiments: list[dict[str, Any]], runs: list[dict[str, Any]], total_rows: int) -> list[dict[str, Any]]:
    """The vault's runs, then copies of its sealed runs under new ids (``<id>-<k>``, ``<name>~<k>``),
    until experiments + runs = ``total_rows``."""
    sealed = [r for r in runs if r.get("status") != "running"]
    out = list(runs)
    k = 0
    while len(out) + len(experiments) < total_rows:
        k += 1
        for r in sealed:
            if len(out) + len(experiments) >= total_rows:
                break
            name = f"{r.get('name') or r['id'][:10]}~{k}"
            out.append({**r, "id": f"{r['id']}-{k}", "name": name, "label": f"{r.get('experiment_path')}#{name}"})
    return out


# -- 3. compare, in parts -------------------------------------------------------------------------

def compare_parts(root: Path, ids: list[str], repeats: int, report: Report) -> None:
    from gitvault.query import Query
    from gitvault.tui import loads
    from gitvault.tui.state import State
    from gitvault.tui.views import compare as compare_view

    with Query(root) as q:
        index = loads.index(q)
        t = time.perf_counter()
        data = loads.compare(q, ids)
        first = time.perf_counter() - t
        query_s = []
        for _ in range(repeats):
            t = time.perf_counter()
            data = loads.compare(q, ids)
            query_s.append(time.perf_counter() - t)
    state = State()
    state.set_index(index["experiments"], index["runs"])
    state.marks, state.baseline, state.comparison = list(ids), ids[0], data
    state.open_view("compare")
    draw_s, lines = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        lines = len(compare_view.compare(state, COLUMNS))
        draw_s.append(time.perf_counter() - t)
    q_ms, d_ms = median(query_s) * 1000, median(draw_s) * 1000
    print(f"\n3. compare of {len(ids)} runs in parts, in this process (medians of {repeats}): "
          f"loads.compare(q, {len(ids)} ids) {q_ms:.1f} ms "
          f"(first call {first * 1000:.1f} ms) + views.compare.compare(state, {COLUMNS}) {d_ms:.1f} ms "
          f"({lines} lines) = {q_ms + d_ms:.1f} ms")
    report.add(f"compare of {len(ids)} runs, query + text", q_ms + d_ms, "compare",
               note=f"{q_ms:.0f} + {d_ms:.0f}")


# -- 4. charts ------------------------------------------------------------------------------------

def charts(report: Report) -> None:
    from gitvault.tui.state import State
    from gitvault.tui.views import panels

    one = chart_median_ms(points=100_000, width=120, height=20)
    points = 100_000
    steps = np.arange(points)
    rng = np.random.default_rng(0)
    state = State()
    rid = "bench-run"
    state.details[rid] = {"run": {"total_steps": points}}
    times = []
    first = 0.0
    for i in range(22):
        # a new dict each time, as when the curves are loaded again (the panel caches per data version)
        state.curves[rid] = {
            "train/loss": (steps, 2.0 / (1 + steps / 1000) + rng.normal(0, 0.05, points)),
            "val/loss": (steps, 2.2 / (1 + steps / 1000) + rng.normal(0, 0.05, points)),
            "lr": (steps, 3e-4 * (1 - steps / points)),
        }
        t = time.perf_counter()
        panels.curve_charts(state, rid, 150)
        took = time.perf_counter() - t
        if i == 0:
            first = took
        else:
            times.append(took)
    t = time.perf_counter()
    panels.curve_charts(state, rid, 150)
    cached = time.perf_counter() - t
    print(f"\n4. charts: chart.render of 100,000 points at 120x20 median {one:.1f} ms; panels.curve_charts of 3 curves x "
          f"100,000 points at width 150 median {median(times) * 1000:.1f} ms (new curves each call; first "
          f"{first * 1000:.1f} ms; the same curves again {cached * 1000:.2f} ms)")
    report.add("100,000-point chart, chart.bench 120x20", one, "chart")
    report.add("curve_charts, 3 x 100,000 points, width 150", median(times) * 1000, "chart",
               note="3 curves, 2 charts")


# -- 6. idle CPU ----------------------------------------------------------------------------------

def idle_cpu(root: Path, seconds: float, report: Report) -> None:
    entry = str(Path(sys.executable).parent / "git-vault")
    tui = PtyProcess([entry, "tui"], root)
    ref = PtyProcess([sys.executable, "-c", IDLE_REFERENCE], root)
    sleeper = subprocess.Popen(["sleep", str(int(seconds) + 60)])
    try:
        tui.wait_for(TREE_TEXT)
        ref.wait_for(re.compile("a minimal prompt_toolkit app"))
        time.sleep(1.0)  # the first answers (dashboard, the first poll) land
        c0 = (tui.cpu_seconds(), ref.cpu_seconds(), cpu_seconds(sleeper.pid))
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            tui.pump(0.05)
            ref.pump(0.0)
        wall = time.perf_counter() - t0
        c1 = (tui.cpu_seconds(), ref.cpu_seconds(), cpu_seconds(sleeper.pid))
    finally:
        tui.close()
        ref.close()
        sleeper.kill()
        sleeper.wait()
    pct = [(b - a) / wall * 100 for a, b in zip(c0, c1)]
    print(f"\n6. idle CPU over {wall:.1f} s after the first screen (every thread's time on CPU, from /proc): "
          f"git-vault tui {pct[0]:.2f} %, "
          f"a minimal prompt_toolkit app {pct[1]:.2f} %, sleep {pct[2]:.2f} %")
    report.add(f"idle CPU over {wall:.0f} s", pct[0], "idle", unit="%")
    report.references.append(f"idle CPU: minimal prompt_toolkit app {pct[1]:.2f} %, sleep {pct[2]:.2f} % (same window)")


# -- main -----------------------------------------------------------------------------------------

def print_report(report: Report, n: int, rows: str) -> None:
    print(f"\nsummary ({n:,}-run vault + 1 live run; {rows}; {os.cpu_count()} CPUs, load average {query_bench.load()})")
    print(f"   {'figure':<66} {'measured':>10} {'goal':>9}")
    for f in report.figures:
        if f.value is None or f.value != f.value:
            shown, verdict = "-", "n/a"
        else:
            shown, verdict = f"{f.value:.1f} {f.unit}", "ok" if f.value <= f.goal else "MISS"
        note = f"  ({f.note})" if f.note else ""
        print(f"   {f.name:<66} {shown:>10} {'<= ' + format(f.goal, 'g'):>9} {f.unit:<2} {verdict}{note}")
    for ref in report.references:
        print(f"   reference: {ref}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the vault (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 runs, fewer key presses, 4 s of idle")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the first screen, compare and live lag")
    parser.add_argument("--keys", type=int, default=60, help="j presses per tree size (default 60)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured (default 10)")
    parser.add_argument("--live-steps", type=int, default=LIVE_STEPS, help="steps of the live run (3 curves each)")
    parser.add_argument("--rebuild", action="store_true", help="build query_bench's vault again")
    parser.add_argument("--actions", type=int, default=10, help="tags and undos timed (default 10)")
    parser.add_argument("--only-actions", action="store_true", help="measure 7. (action to redraw) alone")
    args = parser.parse_args()
    n = 1_000 if args.quick else args.runs
    presses = min(args.keys, 20) if args.quick else args.keys
    idle = min(args.idle, 4.0) if args.quick else args.idle
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {query_bench.load()}", flush=True)
    for package in ("gitvault", "cli", "tui"):  # byte-compiled, as `pip install` leaves a package
        compileall.compile_dir(str(REPO / package), quiet=1)
    info = query_bench.vault_for(n, args.rebuild)
    root = scratch_copy(Path(info["root"]), n)
    query_bench.clear_spools(root)
    writer = Writer(root, args.live_steps)
    report = Report()
    vault_rows = synthetic_rows = 0
    try:
        if not args.only_actions:
            first_screen(root, args.repeats, report)
            print(f"\n2. key to redraw in process ({COLUMNS}x{ROWS}, a VT100 output into a StringIO); "
                  f"load average {query_bench.load()}", flush=True)
            vault_rows = asyncio.run(keys_at(root, presses, report, None))
            synthetic_rows = asyncio.run(keys_at(root, presses, report, ROWS_50K))
            ids = asyncio.run(compare_and_lag(root, writer, args.repeats, report))
            compare_parts(root, ids, args.repeats, report)
            charts(report)
            idle_cpu(root, idle, report)
        action_parts(root, asyncio.run(actions(root, args.actions, report)), args.actions, report)
    finally:
        writer.stop()
        shutil.rmtree(root.parent, ignore_errors=True)
    print_report(report, n, "7. alone (--only-actions)" if args.only_actions
                 else f"trees of {vault_rows:,} and {synthetic_rows:,} rows")
    print(f"{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
