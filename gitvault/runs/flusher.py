"""The runs this process writes, and what keeps them on disk: one daemon thread per process flushing
every live run about once a second (and, within `SIZE_CHECK_INTERVAL_S`, any run whose buffer is
full: `Run.over_size`), the fork handler (a forked child cannot write its parent's runs) and the
exit handler (runs left open are sealed "completed", or "failed" after an uncaught exception).

`FLUSHER` is the registry: a `Run` adds itself when it starts and leaves when it is sealed;
`live_run_in_process` and `flush_live_runs` look runs up in it. This module imports no writer
(`gitvault.runs.run` imports it), so readers may use it without loading one.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitvault.runs.run import Run

FLUSH_INTERVAL_S = 1.0
SIZE_CHECK_INTERVAL_S = 0.05


class Flusher:
    """One daemon thread per process flushing every live run about once a second."""

    def __init__(self) -> None:
        self.runs: set[Run] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.failed_exit = False
        self.reported: set[str] = set()  # runs whose failed flush was reported

    def add(self, run: Run) -> None:
        _install_excepthook()
        with self.lock:
            self.runs.add(run)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="gitvault-flusher", daemon=True)
                self.thread.start()

    def discard(self, run: Run) -> None:
        with self.lock:
            self.runs.discard(run)

    def snapshot(self) -> list[Run]:
        with self.lock:
            return list(self.runs)

    def _loop(self) -> None:
        """Every second: flush every live run. Every `SIZE_CHECK_INTERVAL_S`: flush the runs whose
        buffers are full (the memory bound ``curve()`` leaves to this thread)."""
        last = time.monotonic()
        while True:
            time.sleep(SIZE_CHECK_INTERVAL_S if self.runs else FLUSH_INTERVAL_S)
            due = time.monotonic() - last >= FLUSH_INTERVAL_S
            if due:
                last = time.monotonic()
            for run in self.snapshot():
                try:
                    if due or run.over_size():
                        run.flush()
                    run.heartbeat()
                except Exception as exc:  # never kill the thread; the next finish() reports it
                    if run.id not in self.reported:  # once per run, not every second
                        self.reported.add(run.id)
                        where = run.store.vault.paths.live_dir
                        sys.stderr.write(f"gitvault: run {run.id} cannot stream its points to {where}: {exc}; "
                                         "finish() still seals them from memory, but they are lost if "
                                         "this process dies first\n")

    def after_fork_in_child(self) -> None:
        for run in list(self.runs):
            run.after_fork_in_child()
        self.runs = set()
        self.lock = threading.Lock()
        self.thread = None

    def seal_at_exit(self) -> None:
        status = "failed" if self.failed_exit else "completed"
        for run in self.snapshot():
            if run.writable:
                try:
                    run.finish(status)
                except Exception as exc:
                    fate = ("it will be recovered as crashed (`git vault recover`)" if run.spooled
                            else "nothing of it reached the disk (its spool could not be written), so it "
                                 "cannot be recovered")
                    sys.stderr.write(f"gitvault: could not seal run {run.id} at exit: {exc}; {fate}\n")


FLUSHER = Flusher()
os.register_at_fork(after_in_child=FLUSHER.after_fork_in_child)
atexit.register(FLUSHER.seal_at_exit)


def _install_excepthook() -> None:
    """Runs left open when the interpreter exits are sealed "failed" after an uncaught exception."""
    previous = sys.excepthook
    if getattr(previous, "_gitvault", False):
        return

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        FLUSHER.failed_exit = True
        previous(exc_type, exc, tb)

    hook._gitvault = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def live_run_in_process(run_id: str) -> Run | None:
    """The run ``run_id`` (a full id) if this very process is writing it."""
    for run in FLUSHER.snapshot():
        if run.id == run_id and run.in_this_process:
            return run
    return None


def flush_live_runs(extract_dir: Path) -> None:
    """Flush this process's live runs of one vault, so readers see them on disk."""
    for run in FLUSHER.snapshot():
        if run.in_this_process and run.store.vault.extract_dir == extract_dir:
            run.flush()
