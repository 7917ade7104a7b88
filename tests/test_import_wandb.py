"""`git vault import-from wandb`: offline runs written by the real wandb (one finished, one ended by
an exception), imported and compared with what was logged; a torn log; a dry run; importing again."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitvault import Store
from tests.conftest import git, make_repo, vault_run

pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="the wandb package's record classes: pip install wandb")
Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the imported PNGs")

CONFIG = {"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}}
PROMPT = "a long prompt " * 4000  # a 52 KB record: split across 32 KiB blocks (FIRST, MIDDLE, LAST chunks)
LOSSES = [1.0 / (i + 1) for i in range(5)]
PASSWORD = "hunter2-Xq9-secret"
REMOTE = "https://example.com/lab/vision.git"

SCRIPT = """
import json, sys
import numpy as np
import wandb

root, config, prompt = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4]
run = wandb.init(mode="offline", dir=root, project="vision", name="good-run", config=config,
                 tags=["baseline", "cpu"], notes="first try")
run.define_metric("val/loss", step_metric="epoch")
for i, loss in enumerate(json.loads(sys.argv[3])):
    run.log({"loss": loss, "acc": i * 0.1})                    # no step: wandb counts 0..4
run.config.update({"epochs": 3})
run.log({"val/loss": 0.5, "epoch": 1, "phase": "warmup", "grad": {"norm": 1.5}}, step=7)
run.log({"val/loss": 0.25, "epoch": 2, "img": wandb.Image(np.full((8, 6, 3), 120, dtype=np.uint8)),
         "h": wandb.Histogram([1, 2, 3])}, step=9)
run.summary["best"] = 0.99
run.finish()
run = wandb.init(mode="offline", dir=root, project="vision", name="bad-run", config={"lr": 0.1, "prompt": prompt})
run.log({"loss": 3.0})
run.log({"loss": 2.0})
raise RuntimeError("diverged")
"""


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two offline runs, written by wandb in one subprocess run from a git repository with a remote."""
    root = tmp_path_factory.mktemp("wandb")
    code = make_repo(root / "code")
    git(code, "remote", "add", "origin", REMOTE)
    env = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline", "HOME": str(root),
           "WANDB_CONFIG_DIR": str(root / "config")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(root / "out"), json.dumps(CONFIG), json.dumps(LOSSES),
                           PROMPT, "--password", PASSWORD],  # W&B keeps the command line in its log
                          cwd=code, env=env, capture_output=True, text=True, timeout=120)
    assert "RuntimeError: diverged" in proc.stderr, proc.stderr
    return root / "out"


@pytest.fixture(scope="module")
def repo(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = make_repo(tmp_path_factory.mktemp("wandb-import") / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    out = vault_run(repo, "import-from", "wandb", str(logs), check=True).stdout
    return repo, out


def _name(folder: Path) -> str:
    from gitvault.importers.wandb import read_log
    from wandb.proto import wandb_internal_pb2 as pb

    records, _ = read_log(next(folder.glob("run-*.wandb")))
    return next(r.run.display_name for r in map(pb.Record.FromString, records) if r.WhichOneof("record_type") == "run")


def _runs(store: Store) -> dict[str, Any]:
    return {r["name"]: store.get_run(r["id"]) for r in store.list_runs()}


def test_secrets_in_what_wandb_kept_never_reach_the_vault(logs: Path, repo: tuple[Path, str]) -> None:
    """W&B's environment record holds the command line (and may hold a remote URL with a token):
    it goes through the SDK's secret redaction, and wandb-metadata.json is not copied."""
    root, out = repo
    assert any(PASSWORD.encode() in log.read_bytes() for log in logs.rglob("*.wandb"))  # what W&B kept
    records = subprocess.run(["git", "log", "-p", "--text", "refs/vault/main"], cwd=root, capture_output=True).stdout
    assert records and PASSWORD.encode() not in records  # msgpack keeps text as UTF-8 bytes
    with Store(root) as store:
        for run in _runs(store).values():
            assert any(r["field"].startswith("env.wandb") for r in run.record.get("redacted", [])), run.record
    assert "runs.env: run " in out and "looked like secrets" in out


def test_runs_come_back_as_logged(logs: Path, repo: tuple[Path, str]) -> None:
    root, out = repo
    assert "added: 1 experiment, 2 runs" in out
    for line in ("runs.history: offline-run-", "'phase': 1 value(s) that are no numbers (str) not imported",
                 "'h' step 9: histogram not imported", "'val/loss' is plotted against 'epoch'",
                 "samples of system metrics (stats records) not imported", "(outside files/: wandb's own logs)"):
        assert line in out, line
    commit = git(logs.parent / "code", "rev-parse", "HEAD").stdout.strip()
    with Store(root) as store:
        runs = _runs(store)
        assert set(runs) == {"good-run", "bad-run"} and {r.path for r in runs.values()} == {"vision"}
        good, bad = runs["good-run"], runs["bad-run"]
        assert good.config == {**CONFIG, "epochs": 3}
        assert good["status"] == "completed" and bad["status"] == "failed"
        assert good.tags == ["baseline", "cpu"] and [n["content"] for n in good.notes] == ["first try"]
        assert good["git"]["sha"] == commit and good["env"]["wandb"]["git_remote"] == REMOTE
        assert good["env"]["python"] == ".".join(map(str, sys.version_info[:3]))
        assert good["hostname"] and good["env"]["platform"].startswith(("Linux", "macOS", "Windows"))
        curves = good.curves(wide=False)
        got = {n: list(zip(curves.filter(curves["name"] == n)["step"], curves.filter(curves["name"] == n)["value"]))
               for n in set(curves["name"])}
        assert got == {"loss": list(enumerate(LOSSES)), "acc": [(i, i * 0.1) for i in range(5)],
                       "val/loss": [(7, 0.5), (9, 0.25)], "grad.norm": [(7, 1.5)],
                       "epoch": [(7, 1.0), (9, 2.0)]}
        walls = good.curves()["wall_time"].to_list()
        assert walls == sorted(walls) and 0 <= walls[0] < walls[-1] < 60
        assert good.metrics == {"loss": LOSSES[-1], "acc": 0.4, "val/loss": 0.25, "grad.norm": 1.5, "best": 0.99,
                                "epoch": 2}
        assert good["started_at"] < good["ended_at"]
        [image] = good.images("img")
        assert image["step"] == 9
        pixels = Image.open(io.BytesIO(store.blobs.read_bytes(image["blob"])))
        assert pixels.size == (6, 8) and pixels.getpixel((0, 0)) == (120, 120, 120)
        files = {a["name"] for a in good["artifacts"] if a["kind"] == "file"}
        assert "requirements.txt" in files and not any(f.startswith("media/") for f in files)
        assert bad.curves()["loss"].to_list() == [3.0, 2.0] and bad.config == {"lr": 0.1, "prompt": PROMPT}
        assert "output.log" in {a["name"] for a in bad["artifacts"]}
        assert "RuntimeError: diverged" in store.blobs.read_bytes(
            next(a["blob"] for a in bad["artifacts"] if a["name"] == "output.log")).decode()


def test_importing_again_adds_nothing(logs: Path, repo: tuple[Path, str]) -> None:
    root, _ = repo
    before = git(root, "rev-parse", "refs/vault/main").stdout
    assert "added: 0 experiments, 0 runs;" in vault_run(root, "import-from", "wandb", str(logs), check=True).stdout
    assert git(root, "rev-parse", "refs/vault/main").stdout == before


def test_a_torn_log_imports_what_is_whole(logs: Path, tmp_path: Path) -> None:
    import shutil

    from gitvault.importers.wandb import read_log

    folder = next(f for f in (logs / "wandb").glob("offline-run-*") if _name(f) == "good-run")
    torn = tmp_path / "wandb" / folder.name
    shutil.copytree(folder, torn)
    log = next(torn.glob("run-*.wandb"))
    whole, problems = read_log(log)
    assert problems == []
    log.write_bytes(log.read_bytes()[:-5])  # a writer killed mid-chunk: the last record (the exit) is cut
    cut, problems = read_log(log)
    assert cut == whole[:-1] and len(problems) == 1 and "cut at byte" in problems[0]
    flipped = bytearray((folder / log.name).read_bytes())
    flipped[-1] ^= 0xFF  # the last record's data (the exit): its checksum fails
    (tmp_path / "flipped.wandb").write_bytes(bytes(flipped))
    damaged, problems = read_log(tmp_path / "flipped.wandb")
    assert damaged == whole[:-1] and len(problems) == 1 and "is damaged" in problems[0]
    repo = make_repo(tmp_path / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    tip = _tip(repo)
    dry = vault_run(repo, "import-from", "wandb", str(tmp_path / "wandb"), "--dry-run", "--experiment", "cluster",
                    check=True).stdout
    assert "would add: 1 experiment, 1 run" in dry and _tip(repo) == tip
    out = vault_run(repo, "import-from", "wandb", str(tmp_path / "wandb"), "--experiment", "cluster", check=True).stdout
    assert _tip(repo) != tip
    assert f"runs: {folder.name}: {log.name}: cut at byte" in out and "no exit record" in out
    with Store(repo) as store:
        [run] = store.list_runs()
        good = store.get_run(run["id"])
        assert good.path == "cluster" and good["status"] == "crashed"
        assert good.curves()["loss"].to_list()[:5] == LOSSES


def _tip(repo: Path) -> str:
    return git(repo, "rev-parse", "-q", "--verify", "refs/vault/main", check=False).stdout.strip()


def test_no_run_folder_and_no_log_are_one_line(tmp_path: Path, repo: tuple[Path, str]) -> None:
    proc = vault_run(repo[0], "import-from", "wandb", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "holds no W&B run folders" in proc.stderr
    from gitvault.errors import VaultError
    from gitvault.importers.wandb import read_log

    (tmp_path / "run-x.wandb").write_bytes(b"not a log")
    with pytest.raises(VaultError, match="not a W&B transaction log"):
        read_log(tmp_path / "run-x.wandb")
