"""Seed, train, predict and evaluate the course's models.

A notebook makes one explicit call, :func:`set_seed`, before it builds a model;
then every run gives the same losses. The model builders in :mod:`reco.models`
own the architecture (factors, L2, dropout, rating range); this module owns the
optimisation: a :class:`TrainConfig` holds the optimizer, learning rate, batch
size, epochs and ``steps_per_execution``, and :func:`fit` compiles the model
with it and trains. :func:`predict_ratings` and :func:`evaluate` speak stars
for every model, using the rating range stored in the model itself.

Two configurations are defined:

* :data:`ORIGINAL_SETTINGS` -- what the course used to do: batch 64, 5 epochs,
  Adam 1e-3 (with an L2 of 1e-6 in the builders).
* :data:`COURSE_DEFAULTS` -- what the course does now: batches of 2,048 with a
  learning rate matched to them, and several batches per graph call (the
  builders' default L2 is matched to this batch size).
  ``make bench`` measures both in one run.

Every function checks its inputs where they enter: ``[user, movie]`` rows must
be integer indices inside the model's embeddings, and ratings must be finite
and inside the model's rating range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from reco import models
from reco.constants import SEED
from reco.metrics import rmse_mae
from reco.split import Split

__all__ = [
    "COURSE_DEFAULTS",
    "MODEL_NAMES",
    "ORIGINAL_SETTINGS",
    "EpochLog",
    "TrainConfig",
    "build_model",
    "compile_model",
    "denormalize_ratings",
    "evaluate",
    "fit",
    "normalize_ratings",
    "predict_ratings",
    "set_seed",
    "to_inputs",
    "train_model",
]

#: Rows per model call when predicting (another size may change predictions by one
#: float32 rounding step, about 1e-7 relative, never the course's printed digits).
PREDICT_BATCH_SIZE = 8192


def set_seed(seed: int = SEED, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend, and make its ops deterministic.

    This is the one explicit call a notebook makes before building a model;
    ``import reco`` never seeds. What ``deterministic=True`` guarantees depends
    on the Keras backend:

    * TensorFlow (the course's): ``tf.config.experimental.enable_op_determinism()``,
      so two runs of the same code give bit-identical losses on the same machine.
      It stays on for the rest of the process.
    * PyTorch: ``torch.use_deterministic_algorithms(True)``; on a GPU, CUDA may
      also need ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment.
    * JAX: nothing more is needed on a CPU, where JAX is deterministic; on a
      GPU, set ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` before starting
      Python for bit-identical runs.

    Args:
        seed: the seed for ``random``, ``numpy`` and the backend.
        deterministic: also switch on the backend's deterministic ops.
    """
    keras.utils.set_random_seed(seed)
    if not deterministic:
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: the optimisation settings, and nothing about the model.

    Attributes:
        batch_size: ratings per gradient step. The L2 penalty, set in the
            builders, is added once per step: change it with the batch size.
        epochs: passes over the training ratings.
        lr: the optimizer's learning rate.
        steps_per_execution: batches run per call into the compiled graph
            (faster; it does not change the results).
        optimizer: a Keras optimizer name, such as ``"adam"``.
    """

    batch_size: int
    epochs: int
    lr: float
    steps_per_execution: int = 1
    optimizer: str = "adam"

    def __post_init__(self):
        for name in ("batch_size", "epochs", "steps_per_execution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; got {value!r}.")
        if not float(self.lr) > 0:
            raise ValueError(f"TrainConfig.lr must be a positive learning rate; got {self.lr!r}.")

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """Return a new optimizer with this config's learning rate."""
        try:
            return keras.optimizers.get(
                {"class_name": self.optimizer, "config": {"learning_rate": float(self.lr)}}
            )
        except ValueError as err:
            raise ValueError(
                f"TrainConfig.optimizer {self.optimizer!r} is not a Keras optimizer. "
                "Fix: use a name such as 'adam', 'sgd' or 'rmsprop'."
            ) from err


#: The course's original settings: batch 64, 5 epochs, Adam 1e-3. The original
#: course built its models with an L2 of 1e-6 (``make bench`` does the same).
ORIGINAL_SETTINGS = TrainConfig(batch_size=64, epochs=5, lr=1e-3)

#: The course's training settings for all four models, chosen on the
#: validation part of ``train_val_test_split`` and measured with ``make bench``:
#: 32x bigger batches, a 10x learning rate, and 16 batches per graph call.
#: The builders' default L2 (100x the original) is matched to these batches.
#: No XLA: Keras turns ``jit_compile`` off whenever TensorFlow op determinism
#: is on, and the course needs determinism more than XLA.
COURSE_DEFAULTS = TrainConfig(batch_size=2048, epochs=8, lr=1e-2, steps_per_execution=16)

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


def _span(min_rating: float, max_rating: float) -> float:
    if not min_rating < max_rating:
        raise ValueError(
            f"min_rating must be less than max_rating; got {min_rating} and {max_rating}."
        )
    return max_rating - min_rating


def normalize_ratings(y, *, min_rating: float, max_rating: float) -> np.ndarray:
    """Map ratings in stars to ``[0, 1]``: ``(y - min_rating) / (max_rating - min_rating)``.

    Args:
        y: ratings in stars, any shape.
        min_rating: lowest rating of the scale.
        max_rating: highest rating of the scale.

    Returns:
        float32 array of the same shape.
    """
    span = _span(min_rating, max_rating)
    y = np.asarray(y, dtype=np.float32)
    return ((y - min_rating) / span).astype(np.float32)


def denormalize_ratings(p, *, min_rating: float, max_rating: float) -> np.ndarray:
    """Map scores in ``[0, 1]`` back to stars: ``min_rating + p * (max_rating - min_rating)``.

    Args:
        p: normalized ratings, any shape.
        min_rating: lowest rating of the scale.
        max_rating: highest rating of the scale.

    Returns:
        float32 array of the same shape.
    """
    span = _span(min_rating, max_rating)
    p = np.asarray(p, dtype=np.float32)
    return (min_rating + p * span).astype(np.float32)


def _rows(X) -> np.ndarray:
    """Return ``X`` as an int32 array of ``[user, movie]`` rows, or raise ``ValueError``."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        hint = (
            " A pair [users, movies] is read as 2 rows: stack it with np.column_stack."
            if X.ndim == 2 and X.shape[0] == 2
            else ""
        )
        raise ValueError(
            f"X must have shape (n, 2), one [user, movie] index row per rating; got shape "
            f"{X.shape}.{hint} Fix: use split.X_train / split.X_test from reco.split."
        )
    if X.size and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(
            f"X must hold integer indices; got dtype {X.dtype}. "
            "Fix: encode ids with reco.split.encode_ids."
        )
    return X.astype(np.int32, copy=False)


def _check_indices(model, X: np.ndarray) -> None:
    """Raise ``ValueError`` if a user or movie index is outside the model's embeddings."""
    if not X.size:
        return
    for col, kind, size in zip(
        (0, 1), ("user", "movie"), models.embedding_sizes(model), strict=True
    ):
        lo, hi = int(X[:, col].min()), int(X[:, col].max())
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{kind} index {bad} is outside the model's {size} {kind}s (indices 0 to "
                f"{size - 1}): the data were encoded with another encoder than the one the "
                "model was built with. Fix: build the model with the encoder that encoded "
                "these ratings (for example build_v2(encoder)), and encode new ratings with "
                "that same encoder."
            )


def to_inputs(model, X):
    """Arrange ``[user, movie]`` rows the way ``model`` takes them.

    Args:
        model: one of the course's models.
        X: int array (or list of rows) of shape ``(n, 2)`` with ``[user, movie]``
            index rows, inside the model's embeddings.

    Returns:
        ``X`` as an int32 ``(n, 2)`` array for :class:`reco.models.RecommenderNetV2`;
        ``[users, movies]``, two int32 arrays of shape ``(n,)``, for the others.

    Raises:
        ValueError: ``X`` is not ``(n, 2)`` integer rows, or an index is out of range.
    """
    X = _rows(X)
    _check_indices(model, X)
    if _uses_normalized_ratings(model):
        return X
    return [X[:, 0], X[:, 1]]


def _check_ratings(model, y, n: int, what: str = "y") -> np.ndarray:
    """Return ``y`` as float32 ``(n,)`` after checking it is finite and in the model's range."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} ratings for {n} [user, movie] rows.")
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"{what} has {int(bad.sum())} missing or infinite rating(s), first at row "
            f"{int(np.flatnonzero(bad)[0])}. Fix: drop those rows before training."
        )
    bounds = models.rating_range(model)
    if bounds is not None and y.size:
        lo, hi = bounds
        outside = (y < lo - 1e-6) | (y > hi + 1e-6)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"{what} has {int(outside.sum())} rating(s) outside the model's rating range "
                f"[{lo:g}, {hi:g}], first {y[first]:g} at row {first}. Fix: build the model "
                "with min_rating= and max_rating= of your rating scale."
            )
    return y


def _targets(model, y) -> np.ndarray:
    if _uses_normalized_ratings(model):
        lo, hi = models.rating_range(model)
        return normalize_ratings(y, min_rating=lo, max_rating=hi)
    return y


def compile_model(model, config: TrainConfig) -> keras.Model:
    """Compile a course model for training with ``config``'s optimizer settings.

    The loss follows the model: mean squared error in stars for V1, V2 and
    RecommenderNet; binary cross-entropy on normalized ratings for
    RecommenderNetV2. The ``rmse`` metric reads in stars for all four.
    :func:`fit` calls this, so each ``fit`` starts a fresh optimizer.

    Args:
        model: a model from :mod:`reco.models`.
        config: the training settings.

    Returns:
        the same model, compiled.
    """
    if _uses_normalized_ratings(model):
        lo, hi = models.rating_range(model)
        loss, scale = "binary_crossentropy", hi - lo
    else:
        loss, scale = "mean_squared_error", 1.0
    model.compile(
        optimizer=config.make_optimizer(),
        loss=loss,
        metrics=[models.StarsRMSE(scale)],
        steps_per_execution=int(config.steps_per_execution),
    )
    return model


def _xy(data, y, part: str):
    if isinstance(data, Split):
        if y is not None:
            raise ValueError("pass either a Split or X and y, not both.")
        return data.part(part)
    if y is None:
        raise ValueError("y is missing: pass fit(model, X, y) or fit(model, split).")
    return data, y


def _checked(model, data, y, part: str, what: str):
    X, y = _xy(data, y, part)
    inputs = to_inputs(model, X)
    return inputs, _check_ratings(model, y, len(_rows(X)), what)


class EpochLog(keras.callbacks.Callback):
    """Print one compact line per epoch, without timings or progress bars.

    For example ``epoch 1/5  loss 0.9123  val_loss 0.8012``; notebook outputs
    stay identical from run to run, so nbval can compare them.

    Args:
        digits: decimals printed for each metric.
        every: print the first epoch, every ``every``-th and the last (for
            long trainings); ``1`` prints every epoch.
    """

    def __init__(self, digits: int = 4, every: int = 1):
        super().__init__()
        self.digits = digits
        self.every = max(1, int(every))

    def on_epoch_end(self, epoch, logs=None):
        """Print the epoch number and its metrics."""
        total = self.params.get("epochs", "?") if self.params else "?"
        if epoch > 0 and (epoch + 1) % self.every and epoch + 1 != total:
            return
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
    config: TrainConfig = COURSE_DEFAULTS,
    validation=None,
    log: bool = False,
    callbacks=None,
) -> pd.DataFrame:
    """Compile ``model`` with ``config``, train it on ratings in stars, and return its history.

    Each call compiles the model afresh (:func:`compile_model`), so training
    starts from the model's current weights with a new optimizer. Ratings are
    normalized to ``[0, 1]`` for :class:`reco.models.RecommenderNetV2`, with
    the rating range stored in the model. Training data are shuffled each
    epoch from the seed that :func:`set_seed` set.

    Args:
        model: a model from :mod:`reco.models`.
        data: a :class:`reco.split.Split` (its train part is used), or an int
            array ``X`` of shape ``(n, 2)`` with ``[user, movie]`` rows.
        y: float ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        config: the training settings.
        validation: ``None``; ``"val"`` or ``"test"`` to report the loss on that
            part of the ``Split`` each epoch (choose settings on ``"val"`` of
            :func:`reco.split.train_val_test_split`); or a tuple ``(X, y)``.
        log: print one :class:`EpochLog` line per epoch.
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
        ValueError: bad rows (shape, dtype, indices outside the model), or
            ratings that are missing, infinite or outside the model's range.
    """
    inputs, y = _checked(model, data, y, "train", "y")
    validation_data = None
    if validation is not None:
        if isinstance(validation, str):
            if not isinstance(data, Split):
                raise ValueError(f"validation={validation!r} needs a Split as data.")
            Xv, yv = _checked(model, data, None, validation, f"the {validation} ratings")
        else:
            Xv, yv = _checked(model, *validation, "train", "the validation ratings")
        validation_data = (Xv, _targets(model, yv))
    compile_model(model, config)
    callbacks = list(callbacks or [])
    if log:
        callbacks.append(EpochLog())
    start = time.perf_counter()
    history = model.fit(
        inputs,
        _targets(model, y),
        batch_size=int(config.batch_size),
        epochs=int(config.epochs),
        validation_data=validation_data,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return history_frame(history, time.perf_counter() - start)


def history_frame(history: keras.callbacks.History, seconds: float) -> pd.DataFrame:
    """Return a Keras ``History`` as a DataFrame indexed by ``epoch`` from 1.

    ``attrs["train_seconds"]`` holds ``seconds``, the wall-clock training time.
    """
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


def predict_ratings(model, X) -> np.ndarray:
    """Predict ratings in stars for ``[user, movie]`` rows, with any course model.

    Scores of :class:`reco.models.RecommenderNetV2` are mapped back from
    ``[0, 1]`` to stars with the rating range stored in the model. Nothing is
    clipped: V1's predictions may fall outside the rating range, and the
    course reports them as they are.

    Args:
        model: a model from :mod:`reco.models`.
        X: int array (or list of rows) of shape ``(n, 2)`` with ``[user, movie]`` rows.

    Returns:
        float32 array of shape ``(n,)``: predicted stars.

    Raises:
        ValueError: ``X`` is not ``(n, 2)`` integer rows inside the model's embeddings.
    """
    pred = _predict(model, to_inputs(model, X))
    if _uses_normalized_ratings(model):
        lo, hi = models.rating_range(model)
        pred = denormalize_ratings(pred, min_rating=lo, max_rating=hi)
    return pred.astype(np.float32, copy=False)


def evaluate(model, data, y=None, *, part: str = "test") -> dict[str, float]:
    """Compute RMSE and MAE, in stars, of a model's predictions.

    Args:
        model: a model from :mod:`reco.models`.
        data: a :class:`reco.split.Split` (``part`` chooses which part), or an
            int array ``X`` of shape ``(n, 2)``.
        y: true ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        part: ``"train"``, ``"val"`` or ``"test"`` when ``data`` is a Split.

    Returns:
        ``{"rmse": float, "mae": float}``.

    Raises:
        ValueError: bad rows, or ratings that are missing, infinite or outside
            the model's range.
    """
    X, y = _xy(data, y, part)
    y = _check_ratings(model, y, len(_rows(X)), "y")
    return rmse_mae(y, predict_ratings(model, X))


def build_model(name: str, encoder=None, **kwargs) -> keras.Model:
    """Build one of the four course models by name (uncompiled).

    Args:
        name: one of :data:`MODEL_NAMES`: ``"v1"``, ``"v2"``, ``"net"``, ``"net_v2"``.
        encoder: the fitted :class:`reco.split.IdEncoder` (or pass ``n_users=``
            and ``n_movies=``).
        **kwargs: passed to the builder (for example ``n_factors=``, ``l2=``).

    Returns:
        the model.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}.")
    return _BUILDERS[name](encoder, **kwargs)


def train_model(
    name: str,
    split: Split,
    encoder=None,
    *,
    config: TrainConfig = COURSE_DEFAULTS,
    validation=None,
    log: bool = False,
    **kwargs,
):
    """Build one of the four course models by name and train it on ``split``.

    Call :func:`set_seed` first for reproducible results.

    Args:
        name: one of :data:`MODEL_NAMES`.
        split: a :class:`reco.split.Split`; its train part is used.
        encoder: the fitted :class:`reco.split.IdEncoder` (or pass ``n_users=``
            and ``n_movies=``).
        config: the training settings.
        validation: as in :func:`fit`.
        log: print one line per epoch.
        **kwargs: passed to the builder (for example ``n_factors=``, ``min_rating=``).

    Returns:
        ``(model, history)``: the trained model and :func:`fit`'s DataFrame.
    """
    model = build_model(name, encoder, **kwargs)
    history = fit(model, split, config=config, validation=validation, log=log)
    return model, history
