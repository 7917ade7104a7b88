"""The query layer follows live runs incrementally: each call reads only what spools appended."""

from __future__ import annotations

from pathlib import Path

from gitvault import Store
from gitvault.runs.spool import LiveFollower
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


def test_a_long_spool_is_listed_from_its_summary_and_the_frames_after_it(vault_repo: Path) -> None:
    """Past 1 MB of data the writer checkpoints the fold without curves (summary.msgpack): a
    reader listing live runs starts there, and sees exactly what a whole read sees."""
    from gitvault.runs import live, spool

    store = Store(vault_repo)
    run = store.experiment({"benchmark": "b", "model": "m"}).run(name="long")
    for step in range(120_000):
        run.curve(step, loss=1.0 / (step + 1), acc=step / 120_000)
    run.log(best=0.9, opt="adam")
    run.tag("t1")
    run.flush()
    run.log(best=0.95)  # a frame after the summary's offset
    run.note("after")
    run.flush()
    run_dir = store.vault.paths.live_dir / run.id
    summary = live.codec.decode((run_dir / spool.SUMMARY).read_bytes())
    assert summary["offset"] == (run_dir / spool.DATA).stat().st_size  # rewritten at the last flush
    reader = spool.SpoolReader(run_dir, with_curves=False)
    quick = reader.refresh()
    assert reader.offset == summary["offset"] and quick["blocks"] == []
    whole = spool.load(run_dir)
    for key in ("metrics", "params", "tags", "notes", "artifacts", "last_flush"):
        assert quick[key] == whole[key], key
    assert quick["metrics"]["best"]["value"] == 0.95 and [n["content"] for n in quick["notes"]] == ["after"]
    (run_dir / spool.SUMMARY).write_bytes(b"garbage")  # a bad summary: the data is read whole instead
    again = spool.SpoolReader(run_dir, with_curves=False).refresh()
    assert again["metrics"] == whole["metrics"] and again["notes"] == whole["notes"]
    run.finish()
    assert not run_dir.exists()
