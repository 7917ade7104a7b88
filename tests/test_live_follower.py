"""The query layer follows live runs incrementally: each call reads only what spools appended."""

from __future__ import annotations

from pathlib import Path

from gitvault import Store
from gitvault.live import LiveFollower
from gitvault.query import Query


def test_a_long_lived_query_reads_only_appended_spool_bytes(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b", "model": "m"}).run(name="live")
    for step in range(1000):
        run.curve(step, loss=1.0 / (step + 1))
    run.log(acc=0.5)
    run.flush()
    with Query(vault_repo) as q:
        first = {s["id"]: s for s in q.live_states()}
        assert first[run.id]["metrics"]["acc"]["value"] == 0.5 and first[run.id]["status"] == "running"
        reader = q._follower._readers[run.id][1]  # type: ignore[union-attr]
        offset = reader.offset
        assert reader.state is not None and reader.state["blocks"] == []  # curve data not kept
        run.log(acc=0.75)
        run.flush()
        second = {s["id"]: s for s in q.live_states()}
        assert second[run.id]["metrics"]["acc"]["value"] == 0.75
        assert reader.offset > offset and q._follower._readers[run.id][1] is reader  # type: ignore[union-attr]
        second[run.id]["metrics"]["acc"]["value"] = -1  # a caller's change does not reach the follower
        assert q.live_states()[0]["metrics"]["acc"]["value"] == 0.75
    run.finish()
    with Query(vault_repo) as q:
        assert q.live_states() == []


def test_the_follower_forgets_sealed_runs(vault_repo: Path) -> None:
    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b", "model": "m"}).run()
    run.flush()
    follower = LiveFollower(Store(vault_repo).vault.paths.live_dir)
    assert [s["id"] for s in follower.states()] == [run.id]
    run.finish()
    assert follower.states() == [] and follower._readers == {}
