"""Fixtures shared by the test modules: fresh Python processes, and the trained course models.

The synthetic data live in ``synthetic.py`` (plain functions the tests import).
This file holds what needs pytest. Keras is imported only when a test asks for
the trained models, so the tests of the data layer never load TensorFlow.

Time is what shapes it. A fit costs about a second, nearly all of it TensorFlow
tracing the training step, whatever the number of steps; a fresh process costs
a few seconds of TensorFlow import. So the four models are trained once per
session (:class:`CourseModels`), in a process of their own that starts with
the session: its import and its fits run on the second core while this one
collects the tests. It saves the models and what training returned, and this
process loads them (test_implicit.py's two models are trained there too). A
second fresh process, started once the models are saved, does every check that
needs a clean interpreter: that ``import reco`` and the table modules load no
Keras, that the saved models load after only ``import reco.models``, and that
the same seed gives the same losses in another process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
#: A fresh process prints each answer as one line: this prefix, then JSON.
ANSWER = "@answer "


class FreshPython:
    """A new Python interpreter running ``code``, started at once and read from later.

    ``code`` may read lines from stdin (see :meth:`send`) and prints its answers
    as lines of :data:`ANSWER` followed by JSON (see :meth:`answer`). It runs
    from the repository root with ``tests/`` on its path and TensorFlow's
    start-up log silenced; it is killed after ``timeout`` seconds.
    """

    def __init__(self, code: str, env: dict[str, str] | None = None, timeout: float = 300):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
                "TF_CPP_MIN_LOG_LEVEL": "3",
                **(env or {}),
            },
        )
        self._watchdog = threading.Timer(timeout, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()

    def send(self, message: str) -> None:
        """Write ``message`` as one line to the process's stdin."""
        self.process.stdin.write(message + "\n")
        self.process.stdin.flush()

    def answer(self) -> object:
        """Wait for the next answer line and return its JSON value."""
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER) :])
        self.process.wait()
        self._stderr.seek(0)
        raise AssertionError(
            f"the fresh process ended (exit code {self.process.returncode}) without an "
            f"answer:\n{self._stderr.read()[-3000:]}"
        )

    def stop(self) -> None:
        """Kill the process if it still runs (a test that needed it was deselected)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._watchdog.cancel()


@pytest.fixture(scope="session")
def fresh_python():
    """Return ``start(code, env=None) -> FreshPython``; processes still running at the end are killed."""
    started = []

    def start(code: str, env: dict[str, str] | None = None) -> FreshPython:
        started.append(FreshPython(code, env))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def quietly(function, *args, **kwargs):
    """Call ``function`` and return ``(its result, what it printed)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = function(*args, **kwargs)
    return result, out.getvalue()


# --------------------------------------------------------------------------- trained models


class CourseModels:
    """The four course models, trained once; tests read them and never train or change them.

    The training is cheap and memorises: the train part of
    :func:`synthetic.make_dataset` (ratings 1..10, random, about 230 of them) is
    repeated ``COPIES`` times and run as full batches, ``COPIES`` steps per
    graph call, for two epochs, without L2 or dropout. On the 1-10 scale a
    rating range lost on its way from :func:`reco.train.train_model` to the
    model shows up as a factor of two.

    The session trains them in a process of its own (:data:`TRAIN_COURSE`),
    which calls :meth:`train` and :meth:`save`; the ``course`` fixture then
    calls :meth:`load` here.

    Attributes:
        data: the :class:`synthetic.Dataset`.
        split: its split with the train part repeated ``COPIES`` times.
        config: the :class:`reco.train.TrainConfig` of every fit.
        models: by model name, the trained model, loaded in safe mode from ``saved``.
        histories, printed: by model name, what :func:`reco.train.train_model`
            returned and printed, with ``log=True``; V2 and RecommenderNetV2
            with validation on the validation part, named (``"val"``) for V2,
            as ``(X_val, y_val)`` for RecommenderNetV2 (validation costs a
            second trace, so V1 and RecommenderNet go without).
        when_trained: by model name, the trained model as the training process
            saw it before saving: ``{"class", "predictions" (for every row of
            the data), "rating_range", "embedding_sizes", "steps"}``.
        saved: by model name, the ``.keras`` file of the trained model.
    """

    COPIES = 80

    def __init__(self):
        from synthetic import make_dataset

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
        self._fresh, self._answers = None, []

    def train(self) -> None:
        """Train the four models with :func:`reco.train.train_model`, each after ``set_seed()``."""
        from reco import train

        s = self.data.split
        for name in train.MODEL_NAMES:
            validation = {"v2": "val", "net_v2": (s.X_val, s.y_val)}.get(name)
            train.set_seed()
            (model, history), printed = quietly(
                train.train_model,
                name,
                self.split,
                self.data.encoder,
                config=self.config,
                validation=validation,
                log=True,
                **self.builder_kwargs(name),
            )
            self.models[name], self.histories[name], self.printed[name] = model, history, printed

    def save(self, folder: Path) -> None:
        """Save the trained models as ``.keras`` files, and the rest in ``trained.pkl``."""
        import keras

        from reco import models, train

        for name, model in self.models.items():
            self.saved[name] = folder / f"{name}.keras"
            model.save(self.saved[name])
            self.when_trained[name] = {
                "class": type(model).__name__,
                "predictions": train.predict_ratings(model, self.data.X),
                "rating_range": models.rating_range(model),
                "embedding_sizes": models.embedding_sizes(model),
                "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
            }
        record = (self.histories, self.printed, self.when_trained, self.saved)
        (folder / "trained.pkl").write_bytes(pickle.dumps(record))

    def load(self, folder: Path) -> None:
        """Read what :meth:`save` wrote, loading the models in safe mode."""
        import keras

        import reco.models  # noqa: F401  (registers the course's layers)

        record = pickle.loads((folder / "trained.pkl").read_bytes())
        self.histories, self.printed, self.when_trained, self.saved = record
        self.models = {
            name: keras.models.load_model(path, safe_mode=True) for name, path in self.saved.items()
        }

    @staticmethod
    def builder_kwargs(name: str) -> dict:
        """The builder keywords of model ``name``: 8 factors, no L2, no dropout, range 1..10."""
        kwargs = {"n_factors": 8, "l2": 0.0}
        if name != "v1":  # V1 is unbounded: it has no rating range
            kwargs |= {"min_rating": 1, "max_rating": 10}
        if name == "net":
            kwargs["dropout"] = (0, 0)
        return kwargs

    def build(self, name: str):
        """Build model ``name`` afresh after ``set_seed()``: the trained model's initial state."""
        from reco import train

        train.set_seed()
        return train.build_model(name, self.data.encoder, **self.builder_kwargs(name))

    def train_again(self, name: str) -> dict:
        """Train ``name`` once more, the other way: :func:`build_model`, then :func:`fit`.

        The same seed and config, but ``X, y`` rather than a Split, no
        validation, no log, and a callback of our own that counts epochs. The
        fresh process runs this for every model.

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

    def loaded_elsewhere(self) -> dict:
        """The fresh process's first answer, after it loaded the saved models.

        ``{"heavy": the deep-learning libraries loaded by importing reco and its
        table modules, "classes": {name: class of the loaded model},
        "predictions": {name: its predictions for every row of the data}}``.
        """
        return self._answer(0)

    def trained_elsewhere(self) -> dict:
        """The fresh process's second answer: ``{name: train_again(name)}`` from there."""
        return self._answer(1)

    def _answer(self, i: int) -> dict:
        while len(self._answers) <= i:
            self._answers.append(self._fresh.answer())
        return self._answers[i]


#: The training process: trains the four models, saves them into the folder
#: named by ``$COURSE_FOLDER`` and answers ``null``; then the same for the two
#: models of test_implicit.py, into its ``implicit/`` subfolder.
TRAIN_COURSE = f"""
import os
from pathlib import Path
from conftest import CourseModels
folder = Path(os.environ["COURSE_FOLDER"])
course = CourseModels()
course.train()
course.save(folder)
print({ANSWER!r} + "null", flush=True)
import test_implicit
test_implicit.save_trained(folder / "implicit")
print({ANSWER!r} + "null", flush=True)
os._exit(0)  # skip the interpreter's teardown of TensorFlow: a second and a half of CPU
"""

#: The fresh process: first the imports, then loading the saved models after
#: exactly ``import reco.models``, then training every model again.
FRESH_COURSE = f"""
import json, sys
import reco, reco.data, reco.split, reco.metrics, reco.explore
heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules)
import reco.models  # exactly this import; then Keras loads the course's files in safe mode
import keras
import numpy as np
job = json.loads(sys.stdin.readline())  # waits for the training process to save the models
loaded = {{n: keras.models.load_model(path, safe_mode=True) for n, path in job["saved"].items()}}
from reco.train import predict_ratings
X = np.load(job["X"])
print({ANSWER!r} + json.dumps({{
    "heavy": heavy,
    "classes": {{n: type(m).__name__ for n, m in loaded.items()}},
    "predictions": {{n: predict_ratings(m, X).tolist() for n, m in loaded.items()}},
}}), flush=True)
from conftest import CourseModels
again = CourseModels()
print({ANSWER!r} + json.dumps({{n: again.train_again(n) for n in job["saved"]}}), flush=True)
import os
os._exit(0)  # skip the interpreter's teardown of TensorFlow: a second and a half of CPU
"""


class Training:
    """The session's training process (:data:`TRAIN_COURSE`), and the folder it saves into.

    Started by :func:`pytest_sessionstart`, so that its TensorFlow import and
    its fits overlap the collection of the tests; stopped, and the folder
    removed, when the session ends, or at once when no selected test needs it.
    """

    #: The fixtures that read what it trains.
    FIXTURES = frozenset({"course", "implicit_trained_folder"})

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="reco-trained-models-"))
        self.process = FreshPython(TRAIN_COURSE, {"COURSE_FOLDER": str(self.folder)})
        self._answers = 0

    def wait(self, i: int) -> Path:
        """Wait for answer ``i`` (0: the course models, 1: test_implicit's); return the folder."""
        while self._answers <= i:
            self.process.answer()
            self._answers += 1
        return self.folder

    def stop(self) -> None:
        self.process.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


#: The session's :class:`Training`, once started.
_TRAINING: list[Training] = []


def pytest_sessionstart(session):
    """Start training, unless none of the test files asked for can use what it trains."""
    files = []
    for arg in session.config.args:
        path = Path(arg.split("::")[0])
        files += sorted(path.glob("**/test_*.py")) if path.is_dir() else [path]
    if any(
        name in path.read_text(encoding="utf-8")
        for path in files
        if path.suffix == ".py" and path.is_file()
        for name in Training.FIXTURES
    ):
        _TRAINING.append(Training())


def _training() -> Training:
    """The session's :class:`Training`, started now if the session did not start it."""
    if not _TRAINING:
        _TRAINING.append(Training())
    return _TRAINING[0]


def pytest_collection_finish(session):
    """Stop training when no selected test needs it (``-k``, or files that do not use it)."""
    if not any(Training.FIXTURES & set(getattr(i, "fixturenames", ())) for i in session.items):
        for training in _TRAINING:
            training.stop()


def pytest_sessionfinish(session, exitstatus):
    for training in _TRAINING:
        training.close()


@pytest.fixture(scope="session")
def course(fresh_python):
    """The four course models, trained once per session: a :class:`CourseModels`.

    The training process started with the session; this waits for it to save
    the models, loads them, and hands them to a fresh process started now.
    """
    folder = _training().wait(0)
    fresh = fresh_python(FRESH_COURSE)
    trained = CourseModels()
    trained.load(folder)
    np.save(folder / "X.npy", trained.data.X)
    fresh.send(
        json.dumps(
            {"saved": {n: str(p) for n, p in trained.saved.items()}, "X": str(folder / "X.npy")}
        )
    )
    trained._fresh = fresh
    return trained


@pytest.fixture(scope="session")
def implicit_trained_folder() -> Path:
    """The folder where the training process saved test_implicit.py's two trained models."""
    return _training().wait(1) / "implicit"
