"""`git vault import-from csv`: a Lightning ``CSVLogger`` folder written the way CSVLogger 2.6
writes it (``csv.DictWriter`` with the sorted keys as header, an empty cell where a row did not log
a metric, ``hparams.yaml`` through ``yaml.dump``; importing lightning itself costs seconds), and a
plain CSV with its own step column; every cell is read back through the SDK."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from gitvault import Store
from tests.conftest import git, make_repo, vault_run

yaml = pytest.importorskip("yaml", reason="PyYAML reads hparams.yaml")

HPARAMS = {"lr": 0.01, "layers": [32, 16], "optimizer": {"name": "adam", "betas": [0.9, 0.999]}}


def _lightning_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in range(30):
        rows.append({"train_loss": 1.0 / (step + 1), "epoch": step // 10, "step": step})
        if step % 10 == 9:
            rows.append({"val_loss": 2.0 / (step + 1), "val/acc": step / 30, "epoch": step // 10, "step": step})
    return rows


def _write_logger(version_dir: Path, rows: list[dict[str, Any]]) -> None:
    """What CSVLogger's experiment writer does on save(): metrics.csv and hparams.yaml."""
    version_dir.mkdir(parents=True)
    keys = sorted({k for row in rows for k in row})
    with (version_dir / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (version_dir / "hparams.yaml").write_text(yaml.dump(HPARAMS))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("csv-logs")
    _write_logger(root / "lightning_logs" / "mnist" / "version_0", _lightning_rows())
    _write_logger(root / "lightning_logs" / "mnist" / "version_1", _lightning_rows()[:5])
    plain = root / "plain"
    plain.mkdir()
    (plain / "run_a.csv").write_text("iteration,loss,note\n0,1.5,warmup\n1,1.0,\n2,nan,diverged\n3,0.5,,7\n")
    return root


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("csv-import") / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    return repo


def test_lightning_folders_become_runs_with_every_cell(logs: Path, repo: Path) -> None:
    out = vault_run(repo, "import-from", "csv", str(logs / "lightning_logs"), check=True).stdout
    assert "added: 1 experiment, 2 runs" in out and "runs.wall_time: 2 run(s): a CSV holds no times" in out
    with Store(repo) as store:
        runs = {r["name"]: r for r in store.list_runs()}
        assert set(runs) == {"version_0", "version_1"} and {r["experiment_path"] for r in runs.values()} == {"mnist"}
        for name, rows in (("version_0", _lightning_rows()), ("version_1", _lightning_rows()[:5])):
            view = store.get_run(runs[name]["id"])
            assert view.config == HPARAMS and view.status == "completed"
            long = view.curves(wide=False)
            got = {(n, s): v for n, s, v in zip(long["name"], long["step"], long["value"])}
            want = {(k, row["step"]): float(v) for row in rows for k, v in row.items() if k != "step"}
            assert got == want
            last = {k: float(v) for row in rows for k, v in row.items() if k != "step"}
            assert view.metrics == last
    before = git(repo, "rev-parse", "refs/vault/main").stdout
    again = vault_run(repo, "import-from", "csv", str(logs / "lightning_logs"), check=True).stdout
    assert "added: 0 experiments, 0 runs;" in again and git(repo, "rev-parse", "refs/vault/main").stdout == before


def test_any_csv_with_a_step_column(logs: Path, repo: Path) -> None:
    proc = vault_run(repo, "import-from", "csv", str(logs / "plain" / "run_a.csv"))
    assert proc.returncode == 1 and "has no column 'step'" in proc.stderr and "--step-column" in proc.stderr
    out = vault_run(repo, "import-from", "csv", str(logs / "plain"), "--step-column", "iteration",
                    "--experiment", "bench/plain", check=True).stdout
    assert "column 'note': 2 cell(s) are not numbers: not imported" in out
    assert "run_a.csv line 5: 1 cell(s) past the header's 3 columns: not imported" in out
    with Store(repo) as store:
        [item] = [r for r in store.list_runs() if r["name"] == "run_a"]
        assert item["experiment_path"] == "bench/plain"
        wide = store.get_run(item["id"]).curves()
        assert wide["step"].to_list() == [0, 1, 2, 3]
        loss = wide["loss"].to_list()
        assert loss[:2] == [1.5, 1.0] and math.isnan(loss[2]) and loss[3] == 0.5


def test_a_folder_without_logs_is_one_line(tmp_path: Path, repo: Path) -> None:
    proc = vault_run(repo, "import-from", "csv", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "holds no metrics.csv" in proc.stderr


def test_an_option_of_another_kind_is_refused(logs: Path, repo: Path) -> None:
    proc = vault_run(repo, "import-from", "extract", str(logs), "--step-column", "step")
    assert proc.returncode == 1 and "--step-column does not apply to extract (it takes no options)" in proc.stderr


def test_json_and_the_report_file_hold_every_line(logs: Path, repo: Path, tmp_path: Path) -> None:
    import json

    proc = vault_run(repo, "import-from", "csv", str(logs / "plain"), "--step-column", "iteration", "--dry-run",
                     "--json", "--report", str(tmp_path / "report.json"), check=True)
    printed, written = json.loads(proc.stdout), json.loads((tmp_path / "report.json").read_text())
    assert printed == written and printed["dry_run"] is True and printed["kind"] == "csv"
    assert any("2 cell(s) are not numbers" in line for line in printed["not_carried"]["runs.curves"])
