"""The query layer's worker thread: one thread owns the Query, calls from any thread are served there."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitvault import Store
from gitvault.query.worker import QueryWorker


def test_calls_from_many_threads_run_on_the_one_worker_thread(vault_repo: Path) -> None:
    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run(config={"lr": 0.1}, name="r") as run:
        run.log(acc=0.5)
        rid = run.id
    worker = QueryWorker(vault_repo)
    seen: set[str] = set()

    def call(_: int) -> int:
        def read(query):  # noqa: ANN001, ANN202
            seen.add(threading.current_thread().name)
            return query.get_run(rid[:8])["id"]
        return worker.submit(read).result()

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(call, range(40)))
    worker.close()
    assert counts == [rid] * 40
    assert len(seen) == 1 and next(iter(seen)).startswith("gitvault-query")


def test_an_error_reaches_the_caller_and_the_worker_goes_on(vault_repo: Path) -> None:
    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run() as run:
        rid = run.id
    worker = QueryWorker(vault_repo)
    failed = worker.submit(lambda q: q.get_run("no-such-run"))
    try:
        failed.result()
    except Exception as exc:  # noqa: BLE001
        assert "no-such-run" in str(exc)
    else:
        raise AssertionError("expected an error")
    assert worker.submit(lambda q: q.get_run(rid)["id"]).result() == rid
    worker.close()
