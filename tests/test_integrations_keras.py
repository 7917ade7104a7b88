"""`gitvault.integrations.keras.GitVaultCallback`: a tiny Keras 3 model trained on CPU with the JAX
backend, read back through the query layer: batch and epoch curves on one global step (also with
``steps_per_execution``), the fit, optimizer and model config, statuses."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported (a worker may have imported it)

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gitvault.query import Query  # noqa: E402
from tests.conftest import make_repo, needs  # noqa: E402

# looked up, not imported: every pytest worker collects every file (keras and jax take seconds)
pytestmark = needs("keras", "the Keras adapter's tests need keras 3 (and jax)")
keras: Any = None
GitVaultCallback: Any = None
Explode: Any = None


@pytest.fixture(scope="module", autouse=True)
def _frameworks() -> None:
    """keras and the adapter, imported when this file's tests run rather than when it is collected."""
    global keras, GitVaultCallback, Explode
    import keras as keras_module

    from gitvault.integrations.keras import GitVaultCallback as callback_class

    class ExplodeAtEpochOne(keras_module.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise FloatingPointError("loss is NaN")

    keras, GitVaultCallback, Explode = keras_module, callback_class, ExplodeAtEpochOne


X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = (X.sum(axis=1, keepdims=True) > 0).astype("float32")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("keras") / "project", "init")


def model(steps_per_execution: int = 1) -> Any:
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)],
                           name="tiny")
    net.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"],
                steps_per_execution=steps_per_execution)
    return net


def runs_of(q: Query, experiment: str) -> list[dict[str, Any]]:
    items = q.runs(where=f"experiment = '{experiment}'", sort="started", limit=None)["items"]
    return [dict(q.get_run(item["id"])) for item in items]


def steps(q: Query, run_id: str, name: str) -> list[int]:
    return [s for s, _ in q.get_curves(run_id, max_points=None)["curves"][name]]


def test_fit_writes_batch_and_epoch_curves_on_one_step_then_a_second_fit_is_a_new_run(repo: Path) -> None:
    callback = GitVaultCallback("keras/fit", "adam", directory=repo, config={"data": "random"})
    net = model()
    net.fit(X, Y, batch_size=8, epochs=2, validation_split=0.25, verbose=0, callbacks=[callback])
    first = callback.run_id
    net.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    with Query(repo) as q:
        run, again = runs_of(q, "keras/fit")
        assert (run["id"], run["status"], again["status"]) == (first, "completed", "completed")
        assert steps(q, first, "batch/loss") == [1, 2, 3, 4, 5, 6]  # 24 training samples: 3 batches an epoch
        assert steps(q, first, "epoch/loss") == steps(q, first, "epoch/val_loss") == steps(q, first, "epoch") == [3, 6]
        assert [v for _, v in q.get_curves(first)["curves"]["epoch"]] == [0.0, 1.0]
        config = run["config"]
        assert config["data"] == "random" and config["fit"] == {"verbose": 0, "epochs": 2, "steps": 3}
        assert config["optimizer"]["learning_rate"] == pytest.approx(0.01)
        assert config["optimizer"]["class"].endswith("Adam")
        assert (config["model"]["name"], config["model"]["parameters"]) == ("tiny", 4 * 4 + 4 + 4 + 1)
        assert run["metrics_final"]["epoch/val_loss"] == q.get_curves(first)["curves"]["epoch/val_loss"][-1][1]
        assert steps(q, again["id"], "batch/loss") == [1, 2, 3, 4]
        assert first in str(q.get_lineage("run", again["id"], direction="ancestors"))


def test_steps_per_execution_counts_steps_from_the_batch_index(repo: Path) -> None:
    callback = GitVaultCallback("keras/spe", directory=repo)
    model(steps_per_execution=2).fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    with Query(repo) as q:
        [run] = runs_of(q, "keras/spe")
        assert steps(q, run["id"], "batch/loss") == [2, 4, 6, 8]  # the hook fires every second batch
        assert steps(q, run["id"], "epoch/loss") == [4, 8]


def test_an_exception_in_fit_seals_the_run_failed(repo: Path) -> None:
    callback = GitVaultCallback("keras/failing", directory=repo, log_batches=False)
    with pytest.raises(FloatingPointError), callback:
        model().fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[callback, Explode()])
    with Query(repo) as q:
        [run] = runs_of(q, "keras/failing")
        assert run["status"] == "failed" and "traceback" in [a["name"] for a in run["artifacts"]]
        assert steps(q, run["id"], "epoch/loss") == [2, 4] and "batch/loss" not in run["curves"]["names"]


def test_processes_other_than_the_first_write_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if keras.backend.backend() != "jax":
        pytest.skip("the process index is read from JAX here")
    import jax

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    callback = GitVaultCallback("keras/second-process", directory=repo)
    model().fit(X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    assert callback.run_id is None
