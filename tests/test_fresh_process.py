"""Checks that need a fresh Python process, run with :func:`conftest.run_python`.

What ``import reco`` loads can only be seen in a process that has not loaded
it yet; a saved model must load where only ``import reco.models`` ran; and the
same seed must give the same losses in another process, not only in this one.
A fresh TensorFlow import costs a few seconds, so the three checks share one
process, :data:`FRESH`, run once for the module by the ``elsewhere`` fixture.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import run_python

from reco import train

NAMES = train.MODEL_NAMES

#: Reads ``job.json`` in the folder given as its argument, writes ``answer.json`` there.
FRESH = """
import json, sys
from pathlib import Path
import reco, reco.data, reco.split, reco.metrics, reco.explore
heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)

import reco.models  # exactly this import; then Keras loads the course's files in safe mode
import keras
import numpy as np
folder = Path(sys.argv[1])
job = json.loads((folder / "job.json").read_text())
course = {n: keras.models.load_model(path, safe_mode=True) for n, path in job["course"].items()}
implicit = keras.models.load_model(job["implicit"], safe_mode=True)

from conftest import CourseModels, ImplicitModels
from reco.train import predict_ratings
X, users = np.load(folder / "X.npy"), np.load(folder / "users.npy")
logistic = ImplicitModels().train_logistic()[1]
answer = {
    "heavy": heavy,
    "classes": {n: type(m).__name__ for n, m in course.items()},
    "predictions": {n: predict_ratings(m, X).tolist() for n, m in course.items()},
    "implicit logits": keras.ops.convert_to_numpy(implicit(users, training=False)).tolist(),
    "trained again": {n: CourseModels().train_again(n) for n in course},
    "implicit trained again": {"columns": list(logistic), "losses": logistic.to_numpy().tolist()},
}
(folder / "answer.json").write_text(json.dumps(answer))
"""


@pytest.fixture(scope="module")
def elsewhere(course, implicit, tmp_path_factory) -> dict:
    """What :data:`FRESH` answers for the session's saved and trained models."""
    folder = tmp_path_factory.mktemp("fresh")
    implicit.multinomial[0].save(folder / "implicit.keras")
    np.save(folder / "X.npy", course.data.X)
    np.save(folder / "users.npy", np.arange(implicit.data.encoder.n_users, dtype=np.int32))
    job = {
        "course": {n: str(path) for n, path in course.saved.items()},
        "implicit": str(folder / "implicit.keras"),
    }
    (folder / "job.json").write_text(json.dumps(job))
    run_python(FRESH, str(folder))
    return json.loads((folder / "answer.json").read_text())


def test_import_reco_and_its_table_modules_loads_no_deep_learning_library(elsewhere):
    heavy = elsewhere["heavy"]
    assert heavy == [], (
        f"import reco, reco.data, reco.split, reco.metrics, reco.explore loaded {heavy}"
    )


def test_saved_models_load_in_a_fresh_process_after_import_reco_models(course, implicit, elsewhere):
    for name, trained in course.when_trained.items():
        assert elsewhere["classes"][name] == trained["class"]
        predictions = np.asarray(elsewhere["predictions"][name], dtype=np.float32)
        np.testing.assert_array_equal(predictions, trained["predictions"])
    model = implicit.multinomial[0]
    users = np.arange(implicit.data.encoder.n_users, dtype=np.int32)
    logits = keras.ops.convert_to_numpy(model(users, training=False))
    np.testing.assert_array_equal(np.asarray(elsewhere["implicit logits"], np.float32), logits)


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_identical_losses_in_a_fresh_process(course, elsewhere, name):
    # The second run goes through build_model and fit on X, y without validation:
    # the seed alone fixes the losses, and validation changes nothing in the training.
    again = elsewhere["trained again"][name]
    first = course.histories[name][["loss", "rmse"]]
    assert again["columns"] == ["loss", "rmse"]
    assert again["losses"] == first.to_numpy().tolist()


def test_the_implicit_model_gives_identical_losses_in_a_fresh_process(implicit, elsewhere):
    again, first = elsewhere["implicit trained again"], implicit.logistic[1]
    assert again["columns"] == list(first.columns)
    assert again["losses"] == first.to_numpy().tolist()


def test_fit_without_log_prints_nothing_and_runs_our_callbacks(course, elsewhere):
    again = elsewhere["trained again"]["v2"]
    assert again["printed"] == ""
    assert again["epochs counted"] == course.config.epochs
