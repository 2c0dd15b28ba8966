"""Seed, train, predict and evaluate the course's models.

A notebook makes one explicit call, :func:`set_seed`, before it builds a model;
then every run gives bit-identical losses. :func:`train_model` builds one of
the four models by name and fits it with a :class:`TrainConfig`;
:func:`predict_ratings` and :func:`evaluate` speak stars for every model.

Two configurations are defined:

* :data:`ORIGINAL_SETTINGS` -- what the course used to do: batch 64, 5 epochs,
  Adam 1e-3, plain ``fit``.
* :data:`COURSE_DEFAULTS` (and :data:`COURSE_DEFAULTS_NET_V2`, its L2 matched
  to RecommenderNetV2's loss, whose error-dependent part is smaller) -- what the course does now: bigger
  batches with a learning rate and an L2 penalty matched to them, and several
  batches per graph call. :func:`course_config` picks the one for a model.
  ``python -m reco.bench`` measures both in one run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import keras
import numpy as np
import pandas as pd

from reco import models
from reco.constants import MAX_RATING, MIN_RATING, SEED
from reco.metrics import rmse_mae
from reco.split import Split

__all__ = [
    "COURSE_DEFAULTS",
    "COURSE_DEFAULTS_NET_V2",
    "MODEL_NAMES",
    "ORIGINAL_SETTINGS",
    "EpochLog",
    "TrainConfig",
    "build_model",
    "course_config",
    "denormalize_ratings",
    "evaluate",
    "fit",
    "normalize_ratings",
    "predict_ratings",
    "set_seed",
    "to_inputs",
    "train_model",
]

#: Rows per model call when predicting (it does not change the predictions).
PREDICT_BATCH_SIZE = 8192


def set_seed(seed: int = SEED, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic.

    This is the one explicit call a notebook makes before building a model;
    ``import reco`` never seeds. With ``deterministic=True`` it also calls
    ``tf.config.experimental.enable_op_determinism()``, so two runs of the same
    code give bit-identical losses. Op determinism stays on for the rest of
    the process.

    Args:
        seed: the seed for ``random``, ``numpy`` and TensorFlow/Keras.
        deterministic: also enable TensorFlow op determinism.
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class TrainConfig:
    """How a model is built for training and trained.

    Attributes:
        batch_size: ratings per gradient step.
        epochs: passes over the training ratings.
        lr: Adam learning rate.
        steps_per_execution: batches run per call into the compiled graph.
        jit_compile: compile the train step with XLA. Keras ignores it (and
            warns) once :func:`set_seed` has enabled op determinism.
        l2: L2 penalty on the embeddings. Keras adds it once per gradient
            step, so bigger batches (fewer steps per epoch) need a bigger one.
    """

    batch_size: int
    epochs: int
    lr: float
    steps_per_execution: int = 1
    jit_compile: bool = False
    l2: float = models.EMBEDDING_L2

    def __post_init__(self):
        for name in ("batch_size", "epochs", "steps_per_execution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; got {value!r}.")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be a positive learning rate; got {self.lr!r}.")
        if not self.l2 >= 0:
            raise ValueError(f"TrainConfig.l2 must be zero or positive; got {self.l2!r}.")

    def build_kwargs(self) -> dict:
        """Return the settings the model builders take: ``lr``, ``l2``, ``jit_compile``, ``steps_per_execution``."""
        return {
            "lr": self.lr,
            "l2": self.l2,
            "jit_compile": self.jit_compile,
            "steps_per_execution": self.steps_per_execution,
        }


#: The course's original settings: batch 64, 5 epochs, Adam 1e-3, L2 1e-6, plain fit.
ORIGINAL_SETTINGS = TrainConfig(batch_size=64, epochs=5, lr=1e-3)

#: The course's training defaults for V1, V2 and RecommenderNet, chosen on the
#: validation part of ``train_val_test_split`` and measured with
#: ``python -m reco.bench``: 32x bigger batches, a 10x learning rate, a 100x L2
#: penalty (Keras adds it once per step, and there are 32x fewer steps per
#: epoch) and 16 batches per graph call. No XLA: Keras turns ``jit_compile``
#: off whenever TensorFlow op determinism is on (with a warning), and the
#: course needs determinism more than XLA.
COURSE_DEFAULTS = TrainConfig(
    batch_size=2048, epochs=8, lr=1e-2, steps_per_execution=16, jit_compile=False, l2=1e-4
)

#: The course defaults for RecommenderNetV2: the same, with a 10x smaller L2.
#: Its loss, binary cross-entropy on ratings scaled to ``[0, 1]``, is not
#: small in total (it never falls below the entropy of the targets, about 0.49
#: on MovieLens), but the part that depends on the prediction error, its
#: excess over that floor, is: about ``2 * (error / 4.5) ** 2`` near the middle
#: of the scale, roughly 7 to 10 times smaller than the squared error in stars
#: that V2's loss counts. The same penalty would weigh that much more against
#: the fit; on the validation part L2 1e-5 beat 5e-6, 3e-5 and 1e-4.
COURSE_DEFAULTS_NET_V2 = replace(COURSE_DEFAULTS, l2=1e-5)


def course_config(name: str) -> TrainConfig:
    """Return the course's default training settings for a model name.

    Args:
        name: one of :data:`MODEL_NAMES`.

    Returns:
        :data:`COURSE_DEFAULTS_NET_V2` for ``"net_v2"``, else :data:`COURSE_DEFAULTS`.
    """
    _check_name(name)
    return COURSE_DEFAULTS_NET_V2 if name == "net_v2" else COURSE_DEFAULTS


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}.")


#: Names accepted by :func:`build_model` and :func:`train_model`, in course order.
MODEL_NAMES = ("v1", "v2", "net", "net_v2")

_BUILDERS = {
    "v1": models.build_v1,
    "v2": models.build_v2,
    "net": models.build_net,
    "net_v2": models.build_net_v2,
}


def _uses_normalized_ratings(model) -> bool:
    return isinstance(model, models.RecommenderNetV2)


def normalize_ratings(y, min_rating: float = MIN_RATING, max_rating: float = MAX_RATING):
    """Map ratings in stars to ``[0, 1]``: ``(y - min_rating) / (max_rating - min_rating)``.

    Args:
        y: ratings in stars, any shape.

    Returns:
        float32 array of the same shape.
    """
    y = np.asarray(y, dtype=np.float32)
    return ((y - min_rating) / (max_rating - min_rating)).astype(np.float32)


def denormalize_ratings(p, min_rating: float = MIN_RATING, max_rating: float = MAX_RATING):
    """Map scores in ``[0, 1]`` back to stars: ``min_rating + p * (max_rating - min_rating)``.

    Args:
        p: normalized ratings, any shape.

    Returns:
        float32 array of the same shape.
    """
    p = np.asarray(p, dtype=np.float32)
    return (min_rating + p * (max_rating - min_rating)).astype(np.float32)


def to_inputs(model, X):
    """Arrange ``[user, movie]`` pairs the way ``model`` takes them.

    Args:
        model: one of the course's models.
        X: int array of shape ``(n, 2)`` with ``[user, movie]`` rows (or a
            pair ``[users, movies]`` of int arrays of shape ``(n,)``).

    Returns:
        ``X`` as an int32 ``(n, 2)`` array for :class:`reco.models.RecommenderNetV2`;
        ``[users, movies]``, two int32 arrays of shape ``(n,)``, for the others.

    Raises:
        ValueError: ``X`` is not ``(n, 2)`` or a pair of equal-length arrays.
    """
    if isinstance(X, (list, tuple)):
        if len(X) != 2:
            raise ValueError(f"expected [users, movies]; got a sequence of {len(X)} arrays.")
        users, movies = (np.asarray(a).reshape(-1) for a in X)
        if users.shape != movies.shape:
            raise ValueError(
                f"users and movies must have the same length; got {users.shape[0]} and "
                f"{movies.shape[0]}."
            )
        X = np.stack([users, movies], axis=1)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"X must have shape (n, 2) with [user, movie] index rows; got shape {X.shape}. "
            "Fix: use split.X_train / split.X_test from reco.split."
        )
    if not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must hold integer indices; got dtype {X.dtype}.")
    X = X.astype(np.int32, copy=False)
    if _uses_normalized_ratings(model):
        return X
    return [X[:, 0], X[:, 1]]


def _embedding_l2(model) -> float:
    if isinstance(model, models.RecommenderNetV2):
        return model.l2
    reg = model.get_layer("user_embedding").embeddings_regularizer
    return float(getattr(reg, "l2", 0.0)) if reg is not None else 0.0


def _build_settings(model) -> dict:
    return {
        "lr": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        "l2": _embedding_l2(model),
    }


def _check_built_for(model, config: TrainConfig) -> None:
    if getattr(model, "optimizer", None) is None:
        raise ValueError("the model is not compiled; build it with reco.train.build_model.")
    current = _build_settings(model)
    wanted = config.build_kwargs()
    differ = {
        k: (current[k], wanted[k])
        for k in ("lr", "l2")
        if not math.isclose(float(current[k]), float(wanted[k]), rel_tol=1e-6)
    }
    if differ:
        shown = ", ".join(f"{k}={a:.3g} (config: {b:.3g})" for k, (a, b) in differ.items())
        raise ValueError(
            f"the model was built with {shown}. Fix: build it with the config you train with, "
            "reco.train.build_model(name, n_users, n_movies, config=config), or "
            "build_v2(n_users, n_movies, **config.build_kwargs()); or pass the matching config."
        )


def _xy(data, y, part: str):
    if isinstance(data, Split):
        if y is not None:
            raise ValueError("pass either a Split or X and y, not both.")
        X, y = getattr(data, f"X_{part}"), getattr(data, f"y_{part}")
        if X is None:
            raise ValueError(
                f"this split has no {part!r} part; use reco.split.train_val_test_split."
            )
        return X, y
    if y is None:
        raise ValueError("y is missing: pass fit(model, X, y) or fit(model, split).")
    return data, y


class EpochLog(keras.callbacks.Callback):
    """Print one compact line per epoch, without timings or progress bars.

    For example ``epoch 1/5  loss 0.9123  val_loss 0.8012``; notebook outputs
    stay identical from run to run, so nbval can compare them.

    Args:
        digits: decimals printed for each metric.
    """

    def __init__(self, digits: int = 4):
        super().__init__()
        self.digits = digits

    def on_epoch_end(self, epoch, logs=None):
        """Print the epoch number and its metrics."""
        total = self.params.get("epochs", "?") if self.params else "?"
        parts = [f"epoch {epoch + 1}/{total}"]
        parts += [
            f"{k} {float(v):.{self.digits}f}"
            for k, v in sorted((logs or {}).items(), key=_metric_order)
        ]
        print("  ".join(parts))


def _metric_order(item):
    key = item[0]
    return (key.startswith("val_"), key.removeprefix("val_") != "loss", key)


def fit(
    model,
    data,
    y=None,
    *,
    config: TrainConfig | None = None,
    validation=None,
    log: bool = False,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    callbacks=None,
) -> pd.DataFrame:
    """Train ``model`` on ratings in stars and return its history as a DataFrame.

    ``config`` gives the batch size and epochs. Its other settings (learning
    rate, L2, ``steps_per_execution``, XLA) are fixed when the model is built,
    so build it with the same config (:func:`build_model` does). A model whose
    learning rate or L2 differs from ``config``'s raises ``ValueError`` rather
    than train silently with settings other than the ones asked for (the
    speed settings are not checked: they do not change the results).
    Ratings are normalized to ``[0, 1]`` for :class:`reco.models.RecommenderNetV2`.
    Training data are shuffled each epoch from the seed that :func:`set_seed` set.

    Args:
        model: a model from :mod:`reco.models`.
        data: a :class:`reco.split.Split` (its train part is used), or an int
            array ``X`` of shape ``(n, 2)`` with ``[user, movie]`` rows.
        y: float ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        config: the training settings; default: :func:`course_config` for the
            kind of model.
        validation: ``None``; ``"val"`` or ``"test"`` to report the loss on that
            part of the ``Split`` each epoch (the course split has no validation
            part, so the loss-curve notebooks pass ``"test"``, as the original
            course did; choose settings on ``"val"`` of
            :func:`reco.split.train_val_test_split`); or a tuple ``(X, y)``.
        log: print one :class:`EpochLog` line per epoch.
        min_rating: lowest rating (for normalization).
        max_rating: highest rating (for normalization).
        callbacks: more Keras callbacks.

    Returns:
        a DataFrame with one row per epoch (index ``epoch`` from 1) and the
        columns ``loss`` and ``rmse`` and, with validation, ``val_loss`` and
        ``val_rmse``. Losses are in the model's own units (squared stars, or
        binary cross-entropy for RecommenderNetV2) and include the L2
        penalty; ``rmse`` is in stars for every model, so compare models on
        it. ``rmse`` is averaged over the epoch's batches as the weights
        change (and with dropout on), so it is not the RMSE of the final
        model on the training part. ``attrs["train_seconds"]`` holds the wall
        time of the training (not printed: it differs between runs).

    Raises:
        ValueError: bad inputs, or a model built with settings other than ``config``'s.
    """
    X, y = _xy(data, y, "train")
    if config is None:
        config = course_config("net_v2" if _uses_normalized_ratings(model) else "v2")
    _check_built_for(model, config)
    prepare_y = (
        (lambda t: normalize_ratings(t, min_rating, max_rating))
        if _uses_normalized_ratings(model)
        else (lambda t: np.asarray(t, dtype=np.float32))
    )
    validation_data = None
    if validation is not None:
        if isinstance(validation, str):
            if not isinstance(data, Split):
                raise ValueError(f"validation={validation!r} needs a Split as data.")
            Xv, yv = _xy(data, None, validation)
        else:
            Xv, yv = validation
        validation_data = (to_inputs(model, Xv), prepare_y(yv))
    callbacks = list(callbacks or [])
    if log:
        callbacks.append(EpochLog())
    start = time.perf_counter()
    history = model.fit(
        to_inputs(model, X),
        prepare_y(y),
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=validation_data,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(history.history)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    frame.attrs["train_seconds"] = seconds
    return frame


def _predict(model, inputs) -> np.ndarray:
    # Call the model directly, chunk by chunk, in inference mode: unlike
    # ``model.predict`` this traces no tf.function per model, so notebooks that
    # predict with many models print no retracing warnings, and it is faster
    # on the few thousand rows the course predicts at a time.
    n = len(inputs) if not isinstance(inputs, list) else len(inputs[0])
    chunks = []
    for start in range(0, n, PREDICT_BATCH_SIZE):
        part = slice(start, start + PREDICT_BATCH_SIZE)
        x = inputs[part] if not isinstance(inputs, list) else [a[part] for a in inputs]
        chunks.append(keras.ops.convert_to_numpy(model(x, training=False)).reshape(-1))
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.float32)


def predict_ratings(
    model,
    X,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
) -> np.ndarray:
    """Predict ratings in stars for ``[user, movie]`` pairs, with any course model.

    Scores of :class:`reco.models.RecommenderNetV2` are mapped back from
    ``[0, 1]`` to stars. Nothing is clipped: V1's predictions may fall outside
    the rating range, and the course reports them as they are.

    Args:
        model: a model from :mod:`reco.models`.
        X: int array of shape ``(n, 2)`` with ``[user, movie]`` rows.
        min_rating: lowest rating (for de-normalization).
        max_rating: highest rating (for de-normalization).

    Returns:
        float32 array of shape ``(n,)``: predicted stars.
    """
    pred = _predict(model, to_inputs(model, X))
    if _uses_normalized_ratings(model):
        pred = denormalize_ratings(pred, min_rating, max_rating)
    return pred.astype(np.float32, copy=False)


def evaluate(
    model,
    data,
    y=None,
    *,
    part: str = "test",
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
) -> dict[str, float]:
    """Compute RMSE and MAE, in stars, of a model's predictions.

    Args:
        model: a model from :mod:`reco.models`.
        data: a :class:`reco.split.Split` (``part`` chooses which part), or an
            int array ``X`` of shape ``(n, 2)``.
        y: true ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        part: ``"train"``, ``"val"`` or ``"test"`` when ``data`` is a Split.
        min_rating: lowest rating (for de-normalization).
        max_rating: highest rating (for de-normalization).

    Returns:
        ``{"rmse": float, "mae": float}``.
    """
    X, y = _xy(data, y, part)
    return rmse_mae(y, predict_ratings(model, X, min_rating, max_rating))


def build_model(
    name: str, n_users: int, n_movies: int, *, config: TrainConfig | None = None, **kwargs
):
    """Build and compile one of the four course models by name, with ``config``'s settings.

    Args:
        name: one of :data:`MODEL_NAMES`: ``"v1"``, ``"v2"``, ``"net"``, ``"net_v2"``.
        n_users: number of users.
        n_movies: number of movies.
        config: supplies the learning rate, L2, ``steps_per_execution`` and XLA;
            default: ``course_config(name)``.
        **kwargs: passed to the builder (for example ``n_factors=``).

    Returns:
        the compiled model.
    """
    _check_name(name)
    if config is None:
        config = course_config(name)
    return _BUILDERS[name](n_users, n_movies, **config.build_kwargs(), **kwargs)


def train_model(
    name: str,
    split: Split,
    n_users: int,
    n_movies: int,
    *,
    config: TrainConfig | None = None,
    validation=None,
    log: bool = False,
    **kwargs,
):
    """Build one of the four course models by name and train it on ``split``.

    Call :func:`set_seed` first for reproducible results.

    Args:
        name: one of :data:`MODEL_NAMES`.
        split: a :class:`reco.split.Split`; its train part is used.
        n_users: number of users (``encoder.n_users``).
        n_movies: number of movies (``encoder.n_movies``).
        config: the training settings; default: ``course_config(name)``.
        validation: as in :func:`fit`.
        log: print one line per epoch.
        **kwargs: passed to the builder (for example ``n_factors=``).

    Returns:
        ``(model, history)``: the trained model and :func:`fit`'s DataFrame.
    """
    if config is None:
        config = course_config(name)
    model = build_model(name, n_users, n_movies, config=config, **kwargs)
    history = fit(model, split, config=config, validation=validation, log=log)
    return model, history
