"""One worker thread per process for I/O that can overlap the caller's own work.

Sealing a run writes and fsyncs its curves blob while the same thread builds the git objects of
the record; ``fsync`` releases the GIL, so on two cores the wait mostly disappears. The worker is
a daemon thread (it keeps working while ``atexit`` handlers seal runs) and is recreated in a
forked child, which inherits the queue but not the thread.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable


class Job:
    """A call running on the worker; ``wait()`` returns its result or raises its exception."""

    __slots__ = ("_done", "_result", "_error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def wait(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # handed to whoever waits
            self._error = exc
        self._done.set()


_lock = threading.Lock()
_worker: tuple[int, queue.SimpleQueue] | None = None


def _loop(jobs: queue.SimpleQueue) -> None:
    while True:
        job, fn = jobs.get()
        job._run(fn)


def submit(fn: Callable[[], Any]) -> Job:
    """Run ``fn`` on the process's worker thread."""
    global _worker
    job = Job()
    with _lock:
        if _worker is None or _worker[0] != os.getpid():
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            threading.Thread(target=_loop, args=(jobs,), name="gitvault-io", daemon=True).start()
            _worker = (os.getpid(), jobs)
        _worker[1].put((job, fn))
    return job


def _reset_after_fork() -> None:
    global _lock, _worker
    _lock = threading.Lock()
    _worker = None


os.register_at_fork(after_in_child=_reset_after_fork)
