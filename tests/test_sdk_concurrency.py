"""A sweep: 8 processes each sealing 25 runs into one vault at once; nothing is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitvault import Store
from tests.conftest import git

WORKER = '''
import sys
from gitvault import Store
worker = int(sys.argv[1])
store = Store()
exp = store.experiment({"benchmark": "sweep", "model": f"w{worker % 3}"})
for i in range(25):
    with exp.run(config={"worker": worker, "i": i}, name=f"w{worker}-r{i}") as run:
        for step in range(20):
            run.curve(step, loss=worker + i + step / 100)
        run.log(final=float(worker * 100 + i))
        run.tag(f"worker-{worker}")
'''


def test_eight_processes_times_25_runs_all_sealed(vault_repo: Path) -> None:
    script = vault_repo / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(w)], cwd=vault_repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    store = Store(vault_repo)
    runs = store.list_runs()
    assert len(runs) == 200
    assert {r["status"] for r in runs} == {"completed"}
    assert sorted(r["name"] for r in runs) == sorted(f"w{w}-r{i}" for w in range(8) for i in range(25))
    for r in runs:  # the query layer's run items; the whole record through get_run
        view = store.get_run(r["id"])
        w, i = view.config["worker"], view.config["i"]
        assert r["name"] == f"w{w}-r{i}" and r["config_summary"]["n_keys"] == 2
        assert r["metrics"]["final"] == view.metrics["final"] == float(w * 100 + i)
        assert r["tags"] == [f"worker-{w}"] and view.record["curves"]["points"] == 20
    sample = store.get_run(runs[137]["id"])
    w, i = sample.config["worker"], sample.config["i"]
    assert sample.curves()["loss"].to_list() == [w + i + s / 100 for s in range(20)]
    seals = git(vault_repo, "log", "--format=%s", "refs/vault/main").stdout.count("seal run ")
    assert seals == 200  # one vault commit per sealed run
    assert [e.path for e in store.list_experiments()] == ["sweep", "sweep/w0", "sweep/w1", "sweep/w2"]
    assert not any((vault_repo / ".git" / "vault" / "live").iterdir())
