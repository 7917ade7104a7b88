"""Bad input to the SDK: a clear error before anything is written, or it works faithfully."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gitvault import InvalidNameError, RecordExistsError, Store
from tests.conftest import git


def _tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/vault/main").stdout.strip()


@pytest.fixture
def vault_repo(repo: Path) -> Path:
    """Store() creates the vault itself (no `git vault init` subprocess: keeps these tests fast)."""
    return repo


@pytest.fixture
def store(vault_repo: Path) -> Store:
    return Store(vault_repo)


@pytest.fixture
def run(store: Store):  # noqa: ANN201
    r = store.experiment({"benchmark": "bad"}).run()
    yield r
    r.finish()


@pytest.mark.parametrize("config", [{"f": open}, {"s": {1, 2}}, {"b": b"bytes"}, {"o": object()}, [1, 2], "lr=1"])
def test_unserializable_config_is_refused_before_anything_is_written(store: Store, vault_repo: Path, config: object) -> None:
    exp = store.experiment({"benchmark": "b"})
    tip = _tip(vault_repo)
    with pytest.raises(TypeError, match="config"):
        exp.run(config=config)
    assert _tip(vault_repo) == tip
    assert not any((vault_repo / ".git" / "vault" / "live").iterdir())


@pytest.mark.parametrize("name", ["a/b", "..", "tab\tname", "nul\x00", "", "  padded  ", "back\\slash"])
def test_bad_run_names_are_refused(store: Store, vault_repo: Path, name: str) -> None:
    exp = store.experiment({"benchmark": "b"})
    tip = _tip(vault_repo)
    with pytest.raises(InvalidNameError):
        exp.run(name=name)
    assert _tip(vault_repo) == tip


@pytest.mark.parametrize("total_steps", [0, -5, 2.5, True, "100"])
def test_bad_total_steps(store: Store, total_steps: object) -> None:
    with pytest.raises(ValueError, match="total_steps"):
        store.experiment({"benchmark": "b"}).run(total_steps=total_steps)


@pytest.mark.parametrize("step, error", [(-1, ValueError), (1.5, TypeError), (2.0, TypeError), (True, TypeError),
                                         ("3", TypeError), (None, TypeError), (2**63, ValueError)])
def test_bad_steps_raise_and_log_nothing(run, store: Store, step: object, error: type) -> None:  # noqa: ANN001
    run.curve(0, x=1.0)
    with pytest.raises(error, match="step"):
        run.curve(step, x=2.0)
    run.finish()
    assert store.get_run(run.id).curves()["x"].to_list() == [1.0]


@pytest.mark.parametrize("value", [True, False, "0.5", b"1", None, [1.0], {"a": 1}, np.bool_(True), np.array([1.0, 2.0])])
def test_curve_values_must_be_numbers(run, value: object) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="curve value x"):
        run.curve(0, ok=1.0, x=value)
    run.curve(1, ok=2.0)
    run.finish()


def test_numpy_scalars_nan_inf_and_huge_ints_are_stored_faithfully(run, store: Store) -> None:  # noqa: ANN001
    run.curve(0, a=np.float32(0.5), b=np.int64(7), c=float("nan"))
    run.curve(1, a=float("inf"), b=-float("inf"), c=10**30)
    run.curve(2, a=np.array(3.0), b=2**60 + 1, c=-0.0)
    run.log(nan_metric=float("nan"), inf_metric=float("inf"), np_metric=np.float16(1.5))
    run.finish()
    view = store.get_run(run.id)
    frame = view.curves()
    assert frame["a"].to_list() == [0.5, math.inf, 3.0]
    assert frame["b"].to_list() == [7.0, -math.inf, float(2**60 + 1)]
    c = frame["c"].to_list()
    assert math.isnan(c[0]) and c[1] == 1e30 and c[2] == 0.0
    assert math.isnan(view.metrics["nan_metric"]) and view.metrics["inf_metric"] == math.inf
    assert view.metrics["np_metric"] == 1.5


def test_log_refuses_step_and_bools_and_objects(run) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="step"):
        run.log(loss=1.0, step=3)
    with pytest.raises(TypeError, match="bool"):
        run.log(flag=True)
    with pytest.raises(TypeError):
        run.log(obj=object())
    with pytest.raises(InvalidNameError):
        run.log(**{"a/../b": 1.0})  # "a/b" is a W&B-style name (issue 16); an escaping one is not


def test_a_bad_value_in_a_batch_logs_none_of_it(run, store: Store) -> None:  # noqa: ANN001
    with pytest.raises(TypeError):
        run.log(good=1.0, bad=[1])
    with pytest.raises(TypeError):
        run.curve(0, good=1.0, bad="x")
    run.finish()
    view = store.get_run(run.id)
    assert view.metrics == {} and view.curves().height == 0


@pytest.mark.parametrize("name", ["../escape", "a/../b", "/abs", "a//b", "a\\b", "..", "x\ny", ""])
def test_artifact_names_never_escape(run, store: Store, vault_repo: Path, name: str) -> None:  # noqa: ANN001
    objects_before = sorted((vault_repo / ".extract" / "objects").rglob("*"))
    for call in (lambda: run.log_table(name, np.ones(3)), lambda: run.log_text(name, "x"),
                 lambda: run.write_metrics({"a": [1]}, name=name), lambda: run.write_tensors(name, np.ones(3))):
        with pytest.raises(InvalidNameError):
            call()
    assert sorted((vault_repo / ".extract" / "objects").rglob("*")) == objects_before


def test_bad_artifact_payloads(run) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="object"):
        run.log_table("t", np.array([object()]))
    with pytest.raises(TypeError, match="axes"):
        run.log_table("t", np.ones(2), axes=["rows"])
    with pytest.raises(TypeError, match="str"):
        run.log_text("t", b"bytes")
    with pytest.raises(ValueError, match="same length"):
        run.write_metrics({"a": [1, 2], "b": [1]})
    with pytest.raises(TypeError, match="dict of columns"):
        run.write_metrics([1, 2, 3])
    with pytest.raises(ValueError, match="chunks"):
        run.write_tensors("t", np.ones((4, 4)), chunks=(2,))
    with pytest.raises(TypeError, match="step"):
        run.log_table("t", np.ones(2), step=-1.5)


def test_unicode_everywhere_round_trips(store: Store) -> None:
    exp = store.experiment({"benchmark": "données", "model": "模型", "variant": "🚀 v1"})
    with exp.run(config={"описание": "тест", "emoji": "✓"}, name="ラン") as run:
        run.curve(0, **{"損失": 1.0})
        run.log(**{"précision": 0.9, "modèle": "résnet"})
        run.log_text("заметки", "# Ünïcödé ✓")
        run.tag("标签")
        run.note("note ✓\nsecond line")
    view = store.get_run(run.id)
    assert view.path == "données/模型/🚀 v1" and view.name == "ラン"
    assert view.config == {"описание": "тест", "emoji": "✓"}
    assert view.curves().columns == ["step", "wall_time", "損失"]
    assert view.metrics == {"précision": 0.9} and view.params == {"modèle": "résnet"}
    assert view.text("заметки") == "# Ünïcödé ✓" and view.tags == ["标签"]
    assert [e.path for e in store.list_experiments("données/模型")] == ["données/模型", "données/模型/🚀 v1"]


def test_huge_batch_and_duplicate_steps_latest_wins(run, store: Store) -> None:  # noqa: ANN001
    values = {f"m{i}": float(i) for i in range(500)}
    run.curve(0, **values)
    run.curve(5, a=1.0)
    run.curve(3, a=2.0, b=1.0)
    run.curve(5, a=3.0)
    run.curve(3, b=9.0)
    run.finish()
    frame = store.get_run(run.id).curves()
    assert frame["step"].to_list() == [0, 3, 5]
    assert frame["a"].to_list() == [None, 2.0, 3.0] and frame["b"].to_list() == [None, 9.0, None]
    assert frame.row(0, named=True)["m499"] == 499.0
    long = store.get_run(run.id).curves(wide=False)
    assert long.height == 500 + 2 + 1


def test_a_taken_model_version_keeps_both_models_and_bad_input_writes_nothing(
        store: Store, vault_repo: Path, tmp_path: Path) -> None:
    from gitvault.runs.store import ModelVersionWarning

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w1")
    with store.experiment({"benchmark": "b"}).run() as run:
        first = run.register_model("net", "v1", weights)
        tip = _tip(vault_repo)
        assert run.register_model("net", "v1", weights) == first  # the same files: nothing written
        assert _tip(vault_repo) == tip
        weights.write_bytes(b"different")
        with pytest.warns(ModelVersionWarning, match="'net' version 'v1'.*net@1"):  # issue 16: never lost, never fatal
            other = run.register_model("net", "v1", weights)
        assert other != first
        tip = _tip(vault_repo)
        with pytest.raises(ValueError, match="does not exist"):
            run.register_model("net", "v2", tmp_path / "missing.pt")
        with pytest.raises(InvalidNameError):
            run.register_model("net/evil", "v2", weights)
        with pytest.raises(ValueError, match="'latest' is the alias"):
            run.register_model("net", weights, version="latest")
        with pytest.raises(TypeError, match="needs the model's path"):
            run.register_model("net")
        assert _tip(vault_repo) == tip
    assert [(m["version"], m["aliases"]) for m in store.list_models("net")] == [("1", ["latest"]), ("v1", [])]


def test_bad_todos_and_lineage(store: Store, vault_repo: Path) -> None:
    run = store.experiment({"benchmark": "b"}).run()
    tip = _tip(vault_repo)
    for call, error in ((lambda: store.todo("x", priority=5), ValueError), (lambda: store.todo("", 0), ValueError),
                        (lambda: run.todo("x", priority=True), ValueError),
                        (lambda: run.derived_from(), ValueError), (lambda: run.derived_from(run="x", model="m"), ValueError),
                        (lambda: run.derived_from(run="../../etc"), ValueError),
                        (lambda: run.derived_from(model="nope"), ValueError),
                        (lambda: run.branched_from(experiment="no/such/path"), ValueError),
                        (lambda: run.derived_from(run=run.id), ValueError),
                        (lambda: store.list_todos("team"), ValueError)):
        with pytest.raises(error):
            call()
    assert _tip(vault_repo) == tip
    run.finish()
