"""Files, images and figures through the SDK (issue 26): files and folders round-trip byte for byte,
identical files are stored once, an image series comes back in step order, numpy images of every
accepted shape and dtype, bad inputs refused in one line with nothing stored, matplotlib figures
as PNGs of the figure's size, and push and pull carry them to another clone."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitvault import Store
from gitvault.errors import InvalidNameError
from gitvault.integrity.checks import fsck
from gitvault.query import Query
from gitvault.storage.vault import Vault
from tests.conftest import git, make_repo, vault_run

PIL = pytest.importorskip("PIL", reason="images need Pillow (the images extra)")
from PIL import Image  # noqa: E402


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run with a file, a folder (two identical files in it), a 20-step image series, images of
    each accepted kind, sealed; the repository pushed to a bare remote."""
    root = tmp_path_factory.mktemp("files")
    repo = make_repo(root / "project", "init")
    folder = repo / "configs"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.yaml").write_text("layers: 4\n")
    (folder / "sub" / "copy.yaml").write_text("layers: 4\n")  # the same bytes: one blob
    (folder / "sub" / "data.bin").write_bytes(bytes(range(256)) * 3)
    (repo / "preds.csv").write_text("id,label\n1,cat\n")
    store = Store(repo)
    exp = store.experiment({"benchmark": "b", "model": "m", "variant": "v"})
    rng = np.random.default_rng(0)
    series = [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(20)]
    with exp.run(name="media") as run:
        names = run.log_file(folder)
        run.log_file(repo / "preds.csv", name="eval/preds.csv")
        for step in reversed(range(20)):  # logged out of order: read back in step order
            run.log_image("samples", series[step], step=step, caption=f"step {step}")
        run.log_image("grey", np.full((3, 4), 0.5))
        run.log_image("grey1", np.zeros((3, 4, 1), dtype=np.uint8))
        run.log_image("rgba", np.ones((2, 2, 4), dtype=np.float32))
        run.log_image("pil", Image.new("P", (7, 3)))
    store.close()
    return {"repo": repo, "run": run.id, "names": names, "series": series, "folder": folder}


def view_of(logged: dict[str, Any]) -> Any:
    with Store(logged["repo"]) as store:
        return store.get_run(logged["run"])


def test_files_and_folders_round_trip_byte_for_byte(logged: dict[str, Any]) -> None:
    assert logged["names"] == ["configs/model.yaml", "configs/sub/copy.yaml", "configs/sub/data.bin"]
    view = view_of(logged)
    folder = logged["folder"]
    for name, source in (("configs/model.yaml", folder / "model.yaml"), ("configs/sub/data.bin", folder / "sub" / "data.bin"),
                         ("eval/preds.csv", logged["repo"] / "preds.csv")):
        assert view.file(name).read_bytes() == source.read_bytes()
    items = {i["name"]: i for i in view.files()}
    assert items["configs/sub/data.bin"]["size"] == 768 and items["configs/sub/data.bin"]["folder"] == "configs"
    assert items["eval/preds.csv"]["media_type"] == "text/csv" and items["eval/preds.csv"]["kind"] == "file"
    assert items["configs/model.yaml"]["media_type"] == "application/yaml"
    # identical files are one blob
    assert items["configs/model.yaml"]["blob"] == items["configs/sub/copy.yaml"]["blob"]
    with Query(logged["repo"]) as q:
        out = q.export(logged["run"], "configs", logged["repo"] / "out")
        assert sorted(p.relative_to(logged["repo"] / "out").as_posix() for p in out) == logged["names"]
        assert (logged["repo"] / "out" / "configs" / "sub" / "data.bin").read_bytes() == (folder / "sub" / "data.bin").read_bytes()
        with pytest.raises(FileExistsError, match="exists"):
            q.export(logged["run"], "configs", logged["repo"] / "out")


def test_an_image_series_comes_back_in_step_order(logged: dict[str, Any]) -> None:
    view = view_of(logged)
    series = view.images("samples")
    assert [i["step"] for i in series] == list(range(20))
    for item, pixels in zip(series, logged["series"]):
        with Image.open(item["path"]) as img:
            assert img.format == "PNG" and img.size == (5, 6)
            assert np.array_equal(np.asarray(img), pixels)
        assert (item["width"], item["height"], item["media_type"]) == (5, 6, "image/png")
        assert item["caption"] == f"step {item['step']}"
    assert view.file("samples", step=7) == series[7]["path"]
    assert view.file("samples") == series[0]["path"]  # the latest logged (step 0 came last)
    with pytest.raises(KeyError, match="no image 'nope'; it has: grey, grey1, pil, rgba, samples"):
        view.images("nope")
    with Query(logged["repo"]) as q:
        assert q.file_bytes(logged["run"], "samples", 3) == Path(series[3]["path"]).read_bytes()


def test_numpy_and_pil_images_of_each_accepted_kind(logged: dict[str, Any]) -> None:
    view = view_of(logged)
    with Image.open(view.file("grey")) as img:
        assert img.mode == "L" and img.size == (4, 3) and set(np.asarray(img).ravel()) == {128}
    with Image.open(view.file("grey1")) as img:
        assert img.mode == "L"
    with Image.open(view.file("rgba")) as img:
        assert img.mode == "RGBA" and set(np.asarray(img).ravel()) == {255}
    with Image.open(view.file("pil")) as img:
        assert img.mode == "RGB" and img.size == (7, 3)  # a palette image stored as RGB


BAD_IMAGES = [
    (np.zeros((3, 8, 8)), r"looks channels-first \(CxHxW\); pass HxWxC"),
    (np.zeros((6, 6, 5), dtype=np.uint8), r"HxW \(grey\) or HxWxC with C = 1, 3 or 4, got shape \(6, 6, 5\)"),
    (np.zeros(5, dtype=np.uint8), r"got shape \(5,\)"),
    (np.zeros((0, 4), dtype=np.uint8), "is empty"),
    (np.full((2, 2), 2.0), r"values in \[0, 1\], got 2..2; scale it"),
    (np.array([[0.5, np.nan]]), r"values in \[0, 1\], got nan"),
    (np.zeros((2, 2), dtype=np.int64), r"dtype int64 is not supported: give uint8"),
    (np.zeros((2, 2), dtype=bool), r"dtype bool is not supported"),
]


def test_bad_inputs_are_refused_in_one_line_and_nothing_is_stored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", "init")
    (repo / "d").mkdir()
    (repo / "d" / " bad").write_text("x")
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run() as run:
            for image, message in BAD_IMAGES:
                with pytest.raises((ValueError, TypeError), match=message) as caught:
                    run.log_image("bad", image, step=1)
                assert "\n" not in str(caught.value)
            with pytest.raises(FileNotFoundError, match="does not exist"):
                run.log_file(repo / "missing.txt")
            with pytest.raises(ValueError, match="holds no files"):
                (repo / "empty").mkdir()
                run.log_file(repo / "empty")
            with pytest.raises(InvalidNameError, match="'d/ bad' has whitespace around a '/'"):
                run.log_file(repo / "d")  # a file name that is no storable name: nothing stored
            with pytest.raises(InvalidNameError, match=r"'\.\.' segment"):
                run.log_file(repo / "train.py", name="../x")
            with pytest.raises(TypeError, match="needs a matplotlib Figure"):
                run.log_figure("fig", np.zeros((2, 2)))
            with pytest.raises(TypeError, match="caption must be a str"):
                run.log_image("x", np.zeros((2, 2), dtype=np.uint8), caption=3)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="is not an image Pillow can read"):
                run.log_image("x", repo / "train.py")
            with pytest.raises(TypeError, match="step must be"):
                run.log_image("x", np.zeros((2, 2), dtype=np.uint8), step="3")  # type: ignore[arg-type]
        view = store.get_run(run.id)
        assert view.files() == []
        assert not list(store.blobs.root.glob(".incoming-*"))


def test_a_matplotlib_figure_is_a_png_of_its_size(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib", reason="figures need matplotlib (a test extra)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    repo = make_repo(tmp_path / "p", "init")
    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([0, 1, 2], [1, 0, 1])
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run() as run:
            run.log_figure("plots/loss", fig, step=4, svg=True)
            run.log_figure("plots/axes", ax)  # an Axes: its figure
        plt.close(fig)
        view = store.get_run(run.id)
        with Image.open(view.file("plots/loss")) as img:
            assert img.format == "PNG" and img.size == (150, 100)
        item = view.images("plots/loss")[0]
        assert (item["step"], item["width"], item["height"]) == (4, 150, 100)
        svg = view.file("plots/loss.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert {i["name"]: i["media_type"] for i in view.files()}["plots/loss.svg"] == "image/svg+xml"


def test_images_of_a_live_run_are_readable_before_it_is_sealed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", "init")
    with Store(repo) as store:
        run = store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run()
        run.log_image("live", np.zeros((2, 3), dtype=np.uint8), step=0)
        view = run.view()  # flushed first: the flusher's encoding happens here
        assert view.is_live and [i["step"] for i in view.images("live")] == [0]
        with Query(repo) as q:
            assert [(i["name"], i["kind"], i["width"]) for i in q.files(run.id)] == [("live", "image", 3)]
        run.finish()


def test_fsck_checks_file_sizes_and_push_and_pull_carry_them(logged: dict[str, Any], tmp_path: Path) -> None:
    repo = logged["repo"]
    assert fsck(Vault.open(repo)).ok
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    vault_run(repo, "push", check=True)
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "b"))
    vault_run(tmp_path / "b", "pull", check=True)
    view = view_of({**logged, "repo": tmp_path / "b"})
    assert view.file("configs/sub/data.bin").read_bytes() == (logged["folder"] / "sub" / "data.bin").read_bytes()
    assert [i["step"] for i in view.images("samples")] == list(range(20))
    with Image.open(io.BytesIO(view.images("samples")[5]["path"].read_bytes())) as img:
        assert np.array_equal(np.asarray(img), logged["series"][5])


def test_push_refuses_a_secret_in_a_logged_config_file(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "me", "init")
    git(repo, "remote", "add", "origin", str(remote))
    (repo / "conf").mkdir()
    (repo / "conf" / "aws.yaml").write_text("bucket: data\nkey: AKIAIOSFODNN7EXAMPLE\n")
    (repo / "conf" / "big.bin").write_bytes(b"AKIAIOSFODNN7EXAMPLE")  # not text: not read
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run(name="r") as run:
            run.log_file(repo / "conf")
    refused = vault_run(repo, "push")
    assert refused.returncode != 0 and "push refused: 1 suspected secret(s)" in refused.stderr
    assert "file conf/aws.yaml" in refused.stderr and "AWS Access Key" in refused.stderr
    assert "AKIAIOSFODNN7EXAMPLE" not in refused.stderr
    assert git(remote, "for-each-ref").stdout == ""


def test_without_pillow_log_image_names_the_extra_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitvault import extras
    from gitvault.errors import MissingExtraError

    repo = make_repo(tmp_path / "p", "init")
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)  # an import of PIL fails, as when absent
    extras.available.cache_clear()
    try:
        with Store(repo) as store:
            with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run() as run:
                with pytest.raises(MissingExtraError) as caught:
                    run.log_image("x", np.zeros((2, 2), dtype=np.uint8))
                assert str(caught.value) == 'run.log_image needs the images extra: pip install "git-vault[images]"'
                run.log_file(repo / "train.py")  # files need no extra
            assert [i["name"] for i in store.get_run(run.id).files()] == ["train.py"]
    finally:
        extras.available.cache_clear()


def test_an_image_that_cannot_be_encoded_yet_is_kept_for_the_next_flush(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gitvault.runs import media

    repo = make_repo(tmp_path / "p", "init")
    real = media.encode_png
    failing = {"left": 1}

    def flaky(arr: Any) -> bytes:
        if failing["left"]:
            failing["left"] -= 1
            raise OSError(28, "No space left on device")
        return real(arr)

    monkeypatch.setattr(media, "encode_png", flaky)
    with Store(repo) as store:
        run = store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run()
        run.curve(0, loss=1.0)
        for step in range(3):
            run.log_image("s", np.full((2, 2), step, dtype=np.uint8), step=step)
        with pytest.raises(OSError, match="No space left"):
            run.flush()
        assert store.get_run(run.id).curves()["loss"].to_list() == [1.0]  # the points went out anyway
        run.finish()
        assert [i["step"] for i in store.get_run(run.id).images("s")] == [0, 1, 2]


def test_the_schema_checks_file_entries_and_old_entries_pass() -> None:
    from gitvault.storage import schema

    sha = "a" * 64
    good = {"kind": "run", "id": "r", "experiment_id": "e", "experiment_path": "p", "status": "completed",
            "artifacts": [{"name": "x.png", "kind": "image", "step": 3, "blob": sha, "size": 10,
                           "metadata": {"media_type": "image/png", "width": 2, "height": 2}},
                          {"name": "old", "kind": "matrix", "step": None, "blob": sha, "metadata": {}}]}
    assert schema.problem(good) is None  # an entry without size (written before files) passes
    bad = {**good, "artifacts": [{**good["artifacts"][0], "size": "10 B"}]}
    assert schema.problem(bad) == "field 'artifacts[0].size' is str '10 B', expected an integer or null"
