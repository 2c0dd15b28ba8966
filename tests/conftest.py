"""Fixtures shared by the test modules: the tiny trained models, trained once per session.

The synthetic data live in ``synthetic.py`` (plain functions the tests import).
A fit costs about a second, nearly all of it TensorFlow tracing the training
step, so each model is trained once, here, in this process, and the tests only
read it. Keras is imported when a test first asks for a trained model, so the
tests of the data layer never load TensorFlow. One fresh interpreter
(:func:`fresh`) does the checks that need one, for ``test_fresh_process.py``
and ``test_kinds.py``; it imports the classes below. It starts when the tests
are collected and runs beside them, on the second core.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh Python process and return what it printed.

    It runs from the repository root with ``tests/`` on its path and TensorFlow's
    start-up log silenced; the test fails if it fails or takes over 5 minutes.
    """
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=python_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"the fresh process failed:\n{run.stderr[-3000:]}"
    return run.stdout


def python_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a fresh process: ``tests/`` on its path, TensorFlow's log silenced."""
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}


def quietly(function, *args, **kwargs):
    """Call ``function`` and return ``(its result, what it printed)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = function(*args, **kwargs)
    return result, out.getvalue()


class CourseModels:
    """The four course models, trained once; tests read them and never train or change them.

    The training is cheap and memorises: the train part of
    :func:`synthetic.make_dataset` (ratings 1..10, random, about 230 of them) is
    repeated ``COPIES`` times and run as full batches, ``COPIES`` steps per
    graph call, for two epochs, without L2 or dropout. On the 1-10 scale a
    rating range lost on its way from :func:`reco.train.train_model` to the
    model shows up as a factor of two.

    Attributes:
        data: the :class:`synthetic.Dataset`.
        split: its split with the train part repeated ``COPIES`` times.
        config: the :class:`reco.train.TrainConfig` of every fit.
        models: by model name, the trained model, saved and loaded back in safe mode.
        histories, printed: by model name, what :func:`reco.train.train_model`
            returned and printed, with ``log_every=1``; V2 and RecommenderNetV2
            with validation on the validation part, named (``"val"``) for V2,
            as ``(X_val, y_val)`` for RecommenderNetV2 (validation costs a
            second trace, so V1 and RecommenderNet go without).
        when_trained: by model name, the trained model before saving:
            ``{"class", "predictions" (for every row of the data),
            "rating_range", "embedding_sizes", "steps"}``.
        saved: by model name, the ``.keras`` file of the trained model.
    """

    COPIES = 80

    def __init__(self):
        from reco import train
        from reco.split import Split

        self.data = make_dataset(ten_point=True)
        s, repeat = self.data.split, self.COPIES
        self.split = Split(
            np.tile(s.X_train, (repeat, 1)),
            np.tile(s.y_train, repeat),
            s.X_test,
            s.y_test,
            s.X_val,
            s.y_val,
            n_users=s.n_users,
            n_movies=s.n_movies,
        )
        self.config = train.TrainConfig(
            batch_size=len(s.y_train), epochs=2, lr=0.05, steps_per_execution=repeat
        )
        self.models, self.histories, self.printed, self.saved = {}, {}, {}, {}
        self.when_trained = {}

    def train(self) -> None:
        """Train the four models with :func:`reco.train.train_model`, each after ``set_seed()``."""
        from reco import train

        s = self.data.split
        for name in train.MODEL_NAMES:
            validation = {"v2": "val", "recommender_net_v2": (s.X_val, s.y_val)}.get(name)
            train.set_seed()
            (model, history), printed = quietly(
                train.train_model,
                name,
                self.split,
                self.data.encoder,
                config=self.config,
                validation=validation,
                log_every=1,
                **self.builder_kwargs(name),
            )
            self.models[name], self.histories[name], self.printed[name] = model, history, printed

    def save_and_reload(self, folder: Path) -> None:
        """Save each trained model as a ``.keras`` file, then use it as loaded back in safe mode."""
        import keras

        from reco import kinds, models, train

        for name, model in self.models.items():
            self.saved[name] = folder / f"{name}.keras"
            model.save(self.saved[name])
            self.when_trained[name] = {
                "class": type(model).__name__,
                "predictions": train.predict_ratings(model, self.data.X),
                "rating_range": models.rating_range(model),
                "embedding_sizes": kinds.sizes(model),
                "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
            }
            self.models[name] = keras.models.load_model(self.saved[name], safe_mode=True)

    @staticmethod
    def builder_kwargs(name: str) -> dict:
        """The builder keywords of model ``name``: 8 factors, no L2, no dropout, range 1..10."""
        kwargs = {"n_factors": 8, "l2": 0.0}
        if name != "v1":  # V1 is unbounded: it has no rating range
            kwargs |= {"min_rating": 1, "max_rating": 10}
        if name == "recommender_net":
            kwargs |= {"dropout": 0.0, "hidden_dropout": 0.0}
        return kwargs

    def build(self, name: str):
        """Build model ``name`` afresh after ``set_seed()``: the trained model's initial state."""
        from reco import train

        train.set_seed()
        return train.build_model(name, self.data.encoder, **self.builder_kwargs(name))

    def train_again(self, name: str) -> dict:
        """Train ``name`` once more, the other way: :func:`build_model`, then :func:`fit`.

        The same seed and config, but ``X, y`` rather than a Split, no
        validation, no log, and a callback of our own that counts epochs.
        ``test_fresh_process.py`` runs this for every model in another process.

        Returns:
            ``{"columns", "losses" (one row per epoch), "printed", "epochs counted"}``.
        """
        import keras

        from reco import train

        model = self.build(name)
        epochs = []
        counter = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e))
        history, printed = quietly(
            train.fit,
            model,
            self.split.X_train,
            self.split.y_train,
            config=self.config,
            callbacks=[counter],
        )
        return {
            "columns": list(history.columns),
            "losses": history.to_numpy().tolist(),
            "printed": printed,
            "epochs counted": len(epochs),
        }


class ImplicitModels:
    """The implicit-feedback models of ``test_implicit.py``, trained once on 20 users x 30 movies.

    The toy problem is memorised: 32 factors for 30 movies, Adam, 2 users a
    step. ``multinomial`` is trained with a little dropout and logs every
    ``LOG_EVERY`` epochs; ``logistic`` is a short fit (``short``) with the
    logistic loss and no log, enough to see a loss fall.

    Attributes:
        data: the :class:`synthetic.Dataset`.
        config, short: the :class:`reco.train.TrainConfig` of the two fits.
        multinomial, logistic: ``(model, history, printed)`` of each fit.
    """

    BUILD = {"n_factors": 32, "dropout": 0.1}
    LOG_EVERY = 5

    def __init__(self):
        from reco import train

        self.data = make_dataset(n_users=20, n_movies=30)
        self.config = train.TrainConfig(batch_size=2, epochs=12, lr=0.02, steps_per_execution=10)
        self.short = train.TrainConfig(batch_size=2, epochs=3, lr=0.02, steps_per_execution=10)
        self.multinomial = self.logistic = None

    def train(self) -> None:
        """Fit both models."""
        self.multinomial = self.train_multinomial()
        self.logistic = self.train_logistic()

    def train_multinomial(self):
        """Fit a fresh model with the multinomial loss after ``set_seed()``, logging every 5 epochs."""
        from reco import train
        from reco.implicit import build_implicit_mf
        from reco.train import fit

        train.set_seed()
        model = build_implicit_mf(self.data.encoder, **self.BUILD)
        history, printed = quietly(
            fit, model, self.data.split, config=self.config, log_every=self.LOG_EVERY
        )
        return model, history, printed

    def train_logistic(self):
        """Fit a fresh model with the logistic loss after ``set_seed()``; no log."""
        from reco import train
        from reco.implicit import build_implicit_mf
        from reco.train import fit

        train.set_seed()
        model = build_implicit_mf(self.data.encoder, **self.BUILD)
        history, printed = quietly(fit, model, self.data.split, config=self.short, loss="logistic")
        return model, history, printed


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> CourseModels:
    """The four course models, trained once per session, saved, and loaded back in safe mode."""
    trained = CourseModels()
    trained.train()
    trained.save_and_reload(tmp_path_factory.mktemp("course"))
    return trained


@pytest.fixture(scope="session")
def implicit() -> ImplicitModels:
    """The two implicit-feedback models, trained once per session."""
    trained = ImplicitModels()
    trained.train()
    return trained


# --------------------------------------------------------------- one model of every kind


@contextlib.contextmanager
def eagerly():
    """Run Keras's train and predict functions eagerly inside the block.

    On the tiny data sets a few batches cost less eagerly than tracing a
    function (about a second a trace); the course models train in graph mode,
    as the notebooks do.
    """
    import warnings

    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        with warnings.catch_warnings():  # "this option does not apply to tf.data functions"
            warnings.filterwarnings("ignore", "Even though the `tf.config", UserWarning)
            yield
    finally:
        tf.config.run_functions_eagerly(before)


@pytest.fixture
def eager():
    """Run the test's Keras functions eagerly (:func:`eagerly`)."""
    with eagerly():
        yield


#: Training settings and size of the tiny model of every registered kind.
KIND_CONFIG = {"batch_size": 128, "epochs": 2, "lr": 1e-2}
KIND_FACTORS = 4


def kind_build_arguments(name: str, data) -> dict:
    """The builder arguments a kind needs besides its sizes: its side data, for the feature model."""
    if name == "features":
        from reco.features import movie_features

        return {"features": movie_features(data.movies, data.encoder), "trained_on": data.split}
    return {}


@pytest.fixture(scope="session")
def kind_data():
    """The synthetic data set the kinds' models train on: about 20 users and 30 movies."""
    return make_dataset()


@pytest.fixture(scope="session")
def kind_models(kind_data) -> dict:
    """Kind name -> a tiny model of every registered kind, trained for two epochs.

    Four batches a model take less time eagerly than tracing the train step
    (twice: the last batch is smaller), so the fixture trains eagerly; the
    course models above train in graph mode, as the notebooks do.
    """
    from reco import kinds, train

    out = {}
    with eagerly():
        for name, kind in kinds.registered().items():
            train.set_seed()
            model = kind.build(
                n_users=kind_data.encoder.n_users,
                n_movies=kind_data.encoder.n_movies,
                n_factors=KIND_FACTORS,
                **kind_build_arguments(name, kind_data),
            )
            history = train.fit(model, kind_data.split, config=train.TrainConfig(**KIND_CONFIG))
            assert np.isfinite(history["loss"]).all(), name
            out[name] = model
    return out


#: The one fresh process (:func:`fresh`). It starts as soon as the tests are collected, imports
#: Keras beside the first tests, then waits for ``job.json`` in the folder given as its
#: argument, and writes ``answer.json`` there.
FRESH = """
import json, sys, time
from pathlib import Path
import reco, reco.data, reco.split, reco.metrics, reco.explore
heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)

import reco.models  # exactly this import; then Keras loads the course's files in safe mode
implicit_before_lookup = "reco.implicit" in sys.modules
import random
random.seed(0)
seeded = random.getstate()
from reco import kinds as _kinds
_kinds.registered()  # imports every built-in kind's module (reco.feature_model imports KerasRS)
random_kept = random.getstate() == seeded
import keras
import numpy as np
from reco import kinds
folder = Path(sys.argv[1])
deadline = time.monotonic() + 600
while not (folder / "job.json").exists():
    if time.monotonic() > deadline:
        sys.exit("the tests gave the fresh process no job.json within 10 minutes")
    time.sleep(0.05)
job = json.loads((folder / "job.json").read_text())
loaded = {}
for name, item in job["kinds"].items():
    model = keras.models.load_model(item["path"], safe_mode=True)
    arrays = [np.load(f) for f in item["inputs"]]
    out = model(arrays if item["is_list"] else arrays[0], training=False)
    loaded[name] = {"name": model.name, "kind": kinds.kind_of(model).name,
                    "out": keras.ops.convert_to_numpy(out).tolist()}

from conftest import CourseModels, ImplicitModels
logistic = ImplicitModels().train_logistic()[1]
answer = {
    "heavy": heavy,
    "implicit imported before the look-up": implicit_before_lookup,
    "random state kept by the look-up": random_kept,
    "kinds": loaded,
    "trained again": {n: CourseModels().train_again(n) for n in job["course"]},
    "implicit trained again": {"columns": list(logistic), "losses": logistic.to_numpy().tolist()},
}
(folder / "answer.json").write_text(json.dumps(answer))
"""

#: The fresh process while it runs: ``{"process", "folder"}``, empty when no test asks for it.
_FRESH: dict = {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Start the fresh process when a selected test uses ``fresh``, so it runs beside the others."""
    if not any("fresh" in item.fixturenames for item in items):
        return
    folder = Path(tempfile.mkdtemp(prefix="reco-fresh-"))
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", FRESH, str(folder)],
            cwd=ROOT, env=python_env(), stdout=out, stderr=err, text=True,
        )  # fmt: skip
    _FRESH.update(process=process, folder=folder)


def pytest_unconfigure(config):
    """Stop the fresh process if the session ends before it does, and remove its folder."""
    if _FRESH:
        if _FRESH["process"].poll() is None:
            _FRESH["process"].kill()
            _FRESH["process"].wait()
        shutil.rmtree(_FRESH["folder"], ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _fresh_job(request) -> dict | None:
    """Give the fresh process its job when the first test starts (``None`` if none runs).

    The job is every kind's model, saved, with inputs to call it on; what the
    models output before saving is returned, for ``fresh["before"]``.
    """
    if not _FRESH:
        return None
    import json

    import keras

    kind_models = request.getfixturevalue("kind_models")
    kind_data = request.getfixturevalue("kind_data")
    folder = _FRESH["folder"]
    job, before = {"kinds": {}, "course": ["v2", "recommender_net_v2"]}, {}
    for name, model in kind_models.items():
        inputs, _ = kind_data.split.for_model(model, "test")
        arrays = inputs if isinstance(inputs, list) else [inputs]
        files = [str(folder / f"{name}_input{j}.npy") for j in range(len(arrays))]
        for path, array in zip(files, arrays, strict=True):
            np.save(path, np.asarray(array))
        model.save(folder / f"{name}.keras")
        job["kinds"][name] = {
            "path": str(folder / f"{name}.keras"),
            "inputs": files,
            "is_list": isinstance(inputs, list),
        }
        before[name] = keras.ops.convert_to_numpy(model(inputs, training=False))
    (folder / "job.tmp").write_text(json.dumps(job))
    os.replace(folder / "job.tmp", folder / "job.json")  # the process never reads half a job
    return before


@pytest.fixture(scope="session")
def fresh(_fresh_job) -> dict:
    """What the one fresh process answers (a TensorFlow import costs seconds: one is enough).

    It checks that ``import reco`` and its table modules load no deep-learning
    library; loads every kind's saved model in safe mode after only ``import
    reco.models`` and calls it on saved inputs (``"kinds"``; ``"before"`` holds
    the outputs before saving); and trains the course models and an implicit
    model again from the same seed. It started when the tests were collected
    (:func:`pytest_collection_modifyitems`); this waits for its answer.
    """
    import json

    process, folder = _FRESH["process"], _FRESH["folder"]
    try:
        process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    stderr = (folder / "stderr").read_text()
    assert process.returncode == 0, f"the fresh process failed:\n{stderr[-3000:]}"
    return {**json.loads((folder / "answer.json").read_text()), "before": _fresh_job}
