"""`git vault import-from tensorboard`: event files written by tensorboardX (scalars, add_scalars'
subfolders, images, text, a histogram, add_hparams; a second writer re-logging a step, as a
restarted job does), imported and compared with what tensorboard's own reader reads back."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import pytest

from gitvault import Store
from tests.conftest import git, make_repo, needs, vault_run

pytestmark = [  # looked up, not imported: every worker collects this file
    needs("tensorboardX", "tensorboardX writes the event files"),
    needs("tensorboard", "the tensorboard package reads event files: pip install tensorboard"),
]
Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the imported PNGs")

PIXELS = [np.linspace(0, 1, 3 * 6 * 5).reshape(3, 6, 5) * k / 2 for k in (1, 2)]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tensorboardX import SummaryWriter

    root = tmp_path_factory.mktemp("tb") / "tb_logs"
    writer = SummaryWriter(str(root / "run_a"))
    for step in range(20):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalars("lr", {"group0": 0.1 * step, "group1": 0.2 * step}, step)
    for step, pixels in enumerate(PIXELS):
        writer.add_image("samples", pixels, step)
    writer.add_text("notes", "**converged**", 3)
    writer.add_histogram("weights", np.arange(10.0), 0)
    writer.add_hparams({"lr": 0.1, "optimizer": "adam", "augment": True}, {"hparam/acc": 0.75})
    writer.close()
    first = SummaryWriter(str(root / "run_b"))
    for step in range(3):
        first.add_scalar("loss", 10.0 - step, step)
    first.close()
    resumed = SummaryWriter(str(root / "run_b"), filename_suffix=".resumed")
    resumed.add_scalar("loss", 5.5, 2)  # a restarted job logs step 2 again
    resumed.add_scalar("loss", 5.0, 3)
    resumed.close()
    (root / "run_b" / "hparams.yaml").write_text("lr: 0.1\n")  # as Lightning's TensorBoardLogger leaves one
    killed = SummaryWriter(str(root / "run_c"))
    for step in range(5):
        killed.add_scalar("loss", float(step), step)
    killed.close()
    [events] = (root / "run_c").glob("events.out.tfevents.*")
    events.write_bytes(events.read_bytes()[:-7])  # a writer killed mid-record: its last event is cut
    return root


@pytest.fixture(scope="module")
def repo(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = make_repo(tmp_path_factory.mktemp("tb-import") / "project")
    vault_run(repo, "init", "--no-hooks", check=True)
    out = vault_run(repo, "import-from", "tensorboard", str(logs), check=True).stdout
    return repo, out


def _read(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=False)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_each_run_folder_is_a_run_with_its_scalars_images_text_and_hparams(logs: Path, repo: tuple[Path, str]) -> None:
    root, out = repo
    assert "added: 1 experiment, 3 runs" in out and "runs.histograms: run_a: 'weights' not imported" in out
    assert "runs: run_c: Truncated record in" in out and "the events after it are not imported" in out
    assert "runs: run_b: hparams.yaml (not an event file) not imported" in out
    assert "run_b: loss step 2: 8.0 (kept the later 5.5)" in out
    with Store(root) as store:
        runs = {r["name"]: store.get_run(r["id"]) for r in store.list_runs()}
        assert set(runs) == {"run_a", "run_b", "run_c"} and {v.path for v in runs.values()} == {"tb_logs"}
        assert runs["run_c"].curves()["loss"].to_list() == [0.0, 1.0, 2.0, 3.0]  # all but the cut one
        a = runs["run_a"]
        assert a.config == {"lr": 0.1, "optimizer": "adam", "augment": True}
        assert a["hostname"] == socket.gethostname()
        long = a.curves(wide=False)
        got = {name: list(zip(long.filter(long["name"] == name)["step"], long.filter(long["name"] == name)["value"]))
               for name in set(long["name"])}
        want = {"train/loss": _read(logs / "run_a")["train/loss"],
                "lr/group0": _read(logs / "run_a" / "lr" / "group0")["lr"],
                "lr/group1": _read(logs / "run_a" / "lr" / "group1")["lr"]}
        hparams_dir = next(p for p in (logs / "run_a").iterdir() if p.is_dir() and p.name != "lr")
        want["hparam/acc"] = _read(hparams_dir)["hparam/acc"]
        assert got == want
        assert a.metrics["train/loss"] == want["train/loss"][-1][1]
        images = a.images("samples")
        assert [i["step"] for i in images] == [0, 1]
        for item, pixels in zip(images, PIXELS):
            decoded = np.asarray(Image.open(io.BytesIO(store.blobs.read_bytes(item["blob"]))))
            assert decoded.shape == (6, 5, 3)
            assert np.abs(decoded.astype(int) - (pixels.transpose(1, 2, 0) * 255).astype(int)).max() <= 1
        assert a.text("notes") == "**converged**"
        b = runs["run_b"].curves()
        assert b["step"].to_list() == [0, 1, 2, 3] and b["loss"].to_list() == [10.0, 9.0, 5.5, 5.0]


def test_importing_again_adds_nothing(logs: Path, repo: tuple[Path, str]) -> None:
    root, _ = repo
    before = git(root, "rev-parse", "refs/vault/main").stdout
    assert "added: 0 experiments, 0 runs;" in vault_run(root, "import-from", "tensorboard", str(logs), check=True).stdout
    assert git(root, "rev-parse", "refs/vault/main").stdout == before


def test_no_event_files_is_one_line(tmp_path: Path, repo: tuple[Path, str]) -> None:
    proc = vault_run(repo[0], "import-from", "tensorboard", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "holds no TensorBoard event files" in proc.stderr
