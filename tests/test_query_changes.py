"""`Query.changes(since=token)`: nothing changed costs a ref lookup and a stat per live spool; a
new live run and its new points, a seal, a tag and a pull each show up once, with a new token."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gitvault import QueryError, Store
from gitvault.query import Query
from gitvault.storage.records import experiment_id
from tests.conftest import make_repo, vault_run
from tests.test_secrets import _team

SPEC = {"benchmark": "feed", "model": "m", "variant": "v"}


def test_changes_after_live_points_a_seal_a_tag_and_a_pull(tmp_path: Path) -> None:
    _, a, b = _team(tmp_path)  # a bare remote and two clones whose vaults are shared
    with Store(a) as store, Query(a) as q:
        first = q.changes()
        assert first["reset"] is True and first["changed"] is True and first["runs"] == []
        token = first["token"]
        same = q.changes(token)
        assert same == {"token": token, "changed": False, "reset": False, "runs": [], "experiments": [],
                        "records": {}, "config": False, "live": []}

        run = store.experiment(SPEC).run(config={"lr": 0.1}, name="live")
        for step in range(10):
            run.curve(step, loss=1.0 / (step + 1))
        run.log(acc=0.5)
        run.flush()
        started = q.changes(token, points=True)
        assert started["changed"] and run.id in started["runs"] and experiment_id("feed/m/v") in started["experiments"]
        (report,) = started["live"]
        assert report["id"] == run.id and report["new"] is True and report["status"] == "running"
        assert report["points"] == 10 and report["last_step"] == 9 and report["metrics"] == {"acc": 0.5}
        assert report["curves"]["loss"]["steps"] == list(range(10))
        token = started["token"]
        assert q.changes(token)["changed"] is False

        for step in range(10, 15):
            run.curve(step, loss=0.01)
        run.tag("late")
        run.flush()
        grew = q.changes(token, points=True)
        (report,) = grew["live"]
        assert grew["runs"] == [run.id] and grew["experiments"] == []
        assert report["new"] is False and report["points"] == 5 and report["tags"] == ["late"]
        assert report["curves"] == {"loss": {"steps": [10, 11, 12, 13, 14], "values": [0.01] * 5}}
        assert report["metrics"] == {}
        without_points = q.changes(token)
        assert "curves" not in without_points["live"][0] and without_points["live"][0]["points"] == 5
        token = grew["token"]

        run.finish()
        sealed = q.changes(token)
        assert sealed["runs"] == [run.id] and sealed["live"] == [] and sealed["changed"]
        token = sealed["token"]
        assert q.changes(token)["changed"] is False

        store.tag_run(run.id, "reviewed")
        tagged = q.changes(token)
        assert tagged["runs"] == [run.id]
        token = tagged["token"]

        with Store(b) as other:
            with other.experiment({"benchmark": "feed", "model": "m", "variant": "w"}).run(name="theirs") as theirs:
                theirs.log(acc=0.9)
        vault_run(b, "push", check=True)
        vault_run(a, "pull", check=True)
        pulled = q.changes(token)
        assert pulled["runs"] == [theirs.id] and pulled["experiments"] == [experiment_id("feed/m/w")]
        assert pulled["live"] == [] and not pulled["reset"]
        assert [i["name"] for i in q.runs(where=f"id = '{theirs.id}'")["items"]] == ["theirs"]


def test_a_token_is_checked(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", "init")
    with Query(root) as q:
        for bad in ("nope", "v1.!!", "v1.e30", 3):
            with pytest.raises(QueryError, match="since is not a token from changes"):
                q.changes(bad)  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="points must be true or false"):
            q.changes(points="yes")  # type: ignore[arg-type]
        token = q.changes()["token"]
        gone = token[:3] + base64.urlsafe_b64encode(b'{"l":{},"t":"' + b"1" * 40 + b'"}').decode()
        lost = q.changes(gone)
        assert lost["reset"] is True and lost["changed"] is True
