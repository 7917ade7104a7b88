"""capture_config (every adapter's config capture) and base (opening, streaming to and sealing a
run): each captured config is stored by a real run and read back through the query layer."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import math
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest

from gitvault.errors import InvalidNameError
from gitvault.integrations import base
from gitvault.integrations.capture import MAX_ARRAY_ITEMS, capture_config
from tests.conftest import make_repo


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Optim:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class Train:
    optim: Optim = dataclasses.field(default_factory=Optim)
    out: Path = Path("/tmp/out")
    color: Color = Color.RED


def loss_fn(x: float) -> float:
    return x


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("capture") / "project")


def stored_config(repo: Path, config: object) -> dict[str, Any]:
    """``config`` captured, stored by a run, and read back through the query layer."""
    run = base.start_run("capture", config=config, directory=repo)
    base.finish_run(run)
    return base.open_store(repo).query().get_run(run.id)["config"]


def test_namespace_dataclass_enum_path_callable_nested(repo: Path) -> None:
    ns = argparse.Namespace(lr=np.float32(0.5), steps=np.int64(10), train=Train(), loss=loss_fn, cls=dict,
                            paths=[PurePosixPath("a/b")], tags={"b", "a"})
    expected = {"lr": 0.5, "steps": 10, "train": {"optim": {"name": "adam", "betas": [0.9, 0.999]},
                                                  "out": "/tmp/out", "color": "red"},
                "loss": f"{__name__}.loss_fn", "cls": "dict", "paths": ["a/b"], "tags": ["a", "b"]}
    assert capture_config(ns) == expected
    assert stored_config(repo, ns) == expected


def test_non_finite_floats_big_ints_and_keys_are_kept(repo: Path) -> None:
    captured = capture_config({"nan": float("nan"), "inf": np.float64("inf"), "big": 2**70, 1: "int key",
                               "1": "text key", (2, 3): "tuple key", "arr": np.arange(4).reshape(2, 2),
                               "none": None, "flag": np.bool_(True)})
    assert math.isnan(captured["nan"]) and captured["inf"] == math.inf
    assert captured["big"] == str(2**70)  # the record codec holds 64-bit ints
    assert captured["1"] == "int key" and captured["'1'"] == "text key" and captured["(2, 3)"] == "tuple key"
    assert captured["arr"] == [[0, 1], [2, 3]] and captured["none"] is None and captured["flag"] is True
    stored = stored_config(repo, captured)
    # the query layer spells non-finite floats as jsonsafe does ("NaN", "Infinity"); float() reads both
    assert math.isnan(float(stored["nan"])) and float(stored["inf"]) == math.inf and stored["big"] == str(2**70)


def test_enums_that_are_also_str_or_int_store_their_plain_value() -> None:
    class Mode(enum.StrEnum):
        TRAIN = "train"

    class Level(enum.IntEnum):
        HIGH = 2

    captured = capture_config({"mode": Mode.TRAIN, "level": Level.HIGH})
    assert captured == {"mode": "train", "level": 2}
    assert type(captured["mode"]) is str and type(captured["level"]) is int


def test_objects_become_readable_text_without_addresses() -> None:
    class Odd:
        pass

    cycle: dict[str, Any] = {"a": 1}
    cycle["self"] = cycle
    captured = capture_config({"obj": Odd(), "cycle": cycle, "bytes": b"\xffab"})
    assert captured["obj"].startswith("<") and "0x" not in captured["obj"] and "Odd object" in captured["obj"]
    assert captured["cycle"] == {"a": 1, "self": "<cycle>"}
    assert captured["bytes"] == "\\xffab"


def test_a_large_array_is_described_with_a_warning_never_truncated_silently() -> None:
    with pytest.warns(UserWarning, match="log_table"):
        captured = capture_config({"weights": np.zeros(MAX_ARRAY_ITEMS + 1)})
    assert captured["weights"].startswith("<ndarray") and str(MAX_ARRAY_ITEMS + 1) in captured["weights"]
    small = capture_config({"w": np.zeros(MAX_ARRAY_ITEMS)})["w"]
    assert len(small) == MAX_ARRAY_ITEMS  # nothing cut at the limit


def test_omegaconf_resolved_and_unresolvable_kept_as_text(repo: Path) -> None:
    omegaconf = pytest.importorskip("omegaconf", reason="OmegaConf is not installed")
    cfg = omegaconf.OmegaConf.create({"lr": 0.1, "copy": "${lr}", "num": "${hydra.job.num}", "must": "???",
                                      "nested": {"x": "${lr}", "bad": "${nope}"}, "items": [1, "${lr}"]})
    expected = {"lr": 0.1, "copy": 0.1, "num": "${hydra.job.num}", "must": "???",
                "nested": {"x": 0.1, "bad": "${nope}"}, "items": [1, 0.1]}
    assert capture_config(cfg) == expected
    assert stored_config(repo, {"cfg": cfg}) == {"cfg": expected}
    fine = omegaconf.OmegaConf.create({"a": {"b": "${c}"}, "c": 2})
    assert capture_config(fine) == {"a": {"b": 2}, "c": 2}


def test_pydantic_model_dump() -> None:
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")

    base_model: Any = pydantic.BaseModel

    class Model(base_model):
        lr: float = 0.1
        out: Path = Path("runs")
        optim: dict[str, Any] = {"name": "sgd"}

    assert capture_config(Model()) == {"lr": 0.1, "out": "runs", "optim": {"name": "sgd"}}


@dataclasses.dataclass
class ArgsWithToDict:
    """Shaped like transformers' TrainingArguments: a dataclass whose ``to_dict()`` is what to store
    (enums to values, the hub token masked). The real class is covered by the transformers
    callback's tests (constructing it imports torch: seconds)."""

    learning_rate: float = 3e-4
    hub_token: str | None = "hf_secret"
    scheduler: Color = Color.RED

    def to_dict(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "hub_token": "<HUB_TOKEN>", "scheduler": self.scheduler.value}


def test_to_dict_wins_over_dataclass_fields(repo: Path) -> None:
    expected = {"learning_rate": 3e-4, "hub_token": "<HUB_TOKEN>", "scheduler": "red"}
    assert capture_config(ArgsWithToDict()) == expected
    assert stored_config(repo, ArgsWithToDict()) == expected


def test_top_level_values_that_are_no_mapping_are_refused() -> None:
    assert capture_config(None) == {}
    for bad in ([1, 2], 3.0, "lr=0.1"):
        with pytest.raises(TypeError, match="a config must be a mapping"):
            capture_config(bad)


def test_experiment_names_map_onto_the_hierarchy(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    levels = ["benchmark", "model", "variant"]
    assert base.experiment_spec("mnist", levels) == {"benchmark": "mnist"}
    assert base.experiment_spec("mnist/cnn/sweep", levels) == {"benchmark": "mnist", "model": "cnn", "variant": "sweep"}
    assert base.experiment_spec({"benchmark": "x"}, levels) == {"benchmark": "x"}
    assert base.experiment_spec(None, levels, default="lightning_logs") == {"benchmark": "lightning_logs"}
    assert base.experiment_spec(None, levels) == {"benchmark": base.DEFAULT_EXPERIMENT}
    monkeypatch.setenv(base.EXPERIMENT_ENV, "from-env/a")
    assert base.experiment_spec(None, levels, default="ignored") == {"benchmark": "from-env", "model": "a"}
    with pytest.raises(ValueError, match="hierarchy has 3"):
        base.experiment_spec("a/b/c/d", levels)
    with pytest.raises(InvalidNameError, match="empty"):
        base.experiment_spec("a//b", levels)
    tip = base.open_store(repo).snapshot()
    with pytest.raises(InvalidNameError):
        base.start_run("ok", name="bad/name", directory=repo)
    assert set(base.open_store(repo).snapshot().ids("experiment")) == set(tip.ids("experiment"))  # nothing written


def test_log_curves_finish_run_and_statuses(repo: Path) -> None:
    run = base.start_run("mnist/cnn", name="curves", config={"lr": 0.1}, directory=repo, tags=["t1"],
                         notes="a note")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            stored = base.log_curves(run, step, {"loss": np.float32(1.0 / (step + 1)), "ok": True, "n": 2,
                                                 "phase": "train", "hist": [1, 2], "bad/": 1.0,
                                                 "one": np.array([4.0])})
    assert stored == {"loss": pytest.approx(1 / 3), "ok": 1.0, "n": 2.0, "one": 4.0}
    messages = [str(w.message) for w in caught if issubclass(w.category, base.MetricNotStoredWarning)]
    assert len(messages) == 2  # once per run and name
    assert any("'hist'" in m and "list" in m for m in messages) and any("'bad/'" in m for m in messages)
    base.finish_run(run, "success")
    base.finish_run(run, "success")  # Lightning finalizes after fit and after test: no error
    store = base.open_store(repo)
    detail = store.query().get_run(run.id)
    assert detail["status"] == "completed" and detail["experiment_path"] == "mnist/cnn"
    assert sorted(detail["tags"]) == ["t1"]
    view = store.get_run(run.id)
    assert view.params["phase"] == "train"
    curves = view.curves()
    assert curves["step"].to_list() == [0, 1, 2] and curves["n"].to_list() == [2.0, 2.0, 2.0]
    assert "hist" not in curves.columns and "bad/" not in curves.columns


def test_finish_run_with_an_exception_stores_the_traceback(repo: Path) -> None:
    run = base.start_run("errors", directory=repo)
    try:
        raise RuntimeError("diverged at step 7")
    except RuntimeError as exc:
        base.finish_run(run, "success", exc=exc)
    store = base.open_store(repo)
    assert store.query().get_run(run.id)["status"] == "failed"
    assert "diverged at step 7" in store.get_run(run.id).text("traceback")
    other = base.start_run("errors", directory=repo)
    with pytest.raises(ValueError, match="unknown run status 'maybe'"):
        base.finish_run(other, "maybe")
    base.finish_run(other, "crashed")
    assert other.status == "crashed"
