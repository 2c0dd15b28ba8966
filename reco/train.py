"""Seed, train and predict with the course's models, whatever their kind.

A notebook makes one explicit call, :func:`set_seed`, before it builds a model;
then every run gives the same losses. The model builders in :mod:`reco.models`
own the architecture (factors, L2, dropout, rating range); this module owns the
optimisation: a :class:`TrainConfig` holds the optimizer, learning rate, batch
size, epochs and ``steps_per_execution``, and :func:`fit` compiles the model
with it and trains.

Everything that depends on the kind of model (how rows become its input, its
targets and loss, how its output becomes stars, its default settings) comes
from its contract in :mod:`reco.kinds`, matched by ``model.name``: :func:`fit`
trains any registered kind, the implicit model of :mod:`reco.implicit`
included, and :func:`predict_ratings` and :func:`rating_metrics` speak stars
for every rating model, with the rating range stored in the model itself.

Two configurations are defined (in :mod:`reco.config`):

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
import warnings

import keras
import numpy as np
import pandas as pd

from reco import kinds
from reco._checks import positive_int
from reco.config import COURSE_DEFAULTS, ORIGINAL_SETTINGS, TrainConfig
from reco.constants import SEED
from reco.metrics import rmse_mae
from reco.models import denormalize_ratings, normalize_ratings
from reco.split import Part, Split

__all__ = [
    "COURSE_DEFAULTS",
    "MODEL_NAMES",
    "ORIGINAL_SETTINGS",
    "EpochLog",
    "TrainConfig",
    "build_model",
    "compile_model",
    "denormalize_ratings",
    "fit",
    "normalize_ratings",
    "predict_outputs",
    "predict_ratings",
    "rating_metrics",
    "require_jax",
    "set_seed",
    "steps_per_execution",
    "to_inputs",
    "train_model",
    "training_part",
]

#: Rows per model call when predicting (another size may change predictions by one
#: float32 rounding step, about 1e-7 relative, never the course's printed digits).
PREDICT_BATCH_SIZE = 8192

#: The four rating models' kind names (their ``model.name``), in course order.
MODEL_NAMES = ("v1", "v2", "recommender_net", "recommender_net_v2")

#: Names the course used before its models were matched by ``model.name``.
_OLD_NAMES = {"net": "recommender_net", "net_v2": "recommender_net_v2"}


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


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: use {new}.", DeprecationWarning, stacklevel=3)


def to_inputs(model, X, context=None):
    """Arrange ``[user, movie]`` rows the way ``model`` takes them (its contract's ``inputs``).

    Args:
        model: a rating model of a registered kind.
        X: int array (or list of rows) of shape ``(n, 2)`` with ``[user, movie]``
            index rows, inside the model's embeddings.
        context: per-rating context the kind asks for, column -> ``(n,)`` array.

    Returns:
        the model's input: ``[users, movies]``, two int32 arrays of shape
        ``(n,)``, for the functional models; the int32 ``(n, 2)`` rows for
        :class:`reco.models.RecommenderNetV2`.

    Raises:
        ValueError: ``X`` is not ``(n, 2)`` integer rows, or an index is out of range.
    """
    return kinds.kind_of(model).inputs(model, X, context)


def _loss(kind, model, loss: str | None):
    name = kind.default_loss if loss is None else loss
    if name not in kind.losses:
        raise ValueError(
            f"a {kind.name!r} model trains with the loss {sorted(kind.losses)}; got {name!r}. "
            f"Fix: loss={kind.default_loss!r} (its default), or leave loss out."
        )
    return kind.losses[name](model)


def compile_model(model, config: TrainConfig | None = None, loss: str | None = None):
    """Compile a model for training with ``config``'s optimizer and its kind's loss.

    The loss and metrics come from the model's contract: mean squared error in
    stars for V1, V2 and RecommenderNet; binary cross-entropy on normalized
    ratings for RecommenderNetV2 (the ``rmse`` metric reads in stars for all
    four); the multinomial or logistic likelihood for the implicit model.
    :func:`fit` calls this, so each ``fit`` starts a fresh optimizer.

    Args:
        model: a model of a registered kind.
        config: the training settings; default: the kind's own (``kind.config``).
        loss: one of the kind's losses; default: its ``default_loss``.

    Returns:
        the same model, compiled.
    """
    kind = kinds.kind_of(model)
    config = kind.config if config is None else config
    model.compile(
        optimizer=config.make_optimizer(),
        loss=_loss(kind, model, loss),
        metrics=kind.metrics(model),
        steps_per_execution=steps_per_execution(config),
    )
    return model


def steps_per_execution(config: TrainConfig) -> int:
    """Return the batches per compiled call that ``config`` asks for, as this backend allows.

    Keras's PyTorch trainer runs one batch per call and refuses more (Keras
    3.15: "`steps_per_execution` must be 1 with the PyTorch backend"), so on
    PyTorch it is 1 whatever ``config`` says. That changes the speed, not the
    result: the same batches update the model in the same order.
    """
    steps = int(config.steps_per_execution)
    return 1 if keras.backend.backend() == "torch" else steps


def require_jax(what: str, otherwise: str = "") -> None:
    """Raise ``RuntimeError`` unless Keras runs on JAX, naming ``what`` needs it and the fix.

    The backend is fixed once Keras is imported, so the fix is to start Python
    again with ``KERAS_BACKEND=jax``; ``otherwise`` names another way, if any.
    """
    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(
            f"{what} needs Keras's JAX backend; Keras is running on {backend!r}, which cannot "
            "be changed once Keras is imported. Fix: set KERAS_BACKEND=jax before Python "
            "starts (for example KERAS_BACKEND=jax python train.py), with JAX installed "
            f"(pip install jax){otherwise}."
        )


def training_part(data, y=None, caller: str = "fit") -> Part:
    """Return the training part of a Split or of ``(X, y)``, refusing one with no ratings.

    ``caller`` names the function in the message for a missing ``y``.
    """
    part = _part(data, y, "train", caller)
    if not len(part.X):
        raise ValueError(
            "the training part holds no ratings, so there is nothing to learn from. "
            "Fix: split a ratings table that is not empty."
        )
    return part


def _part(data, y, name: str, caller: str = "fit") -> Part:
    """Return part ``name`` of a Split, or ``(X, y)`` given as arrays, as a Part."""
    if isinstance(data, Split):
        if y is not None:
            raise ValueError("pass either a Split or X and y, not both.")
        return data.part_of(name)
    if y is None:
        raise ValueError(f"y is missing: pass {caller}(model, X, y) or {caller}(model, split).")
    X = np.asarray(data)  # its shape, dtype and range are checked by the model's kind
    return Part(name, X, kinds.check_ratings(y, None, len(X)), {})


def fit(
    model,
    data,
    y=None,
    *,
    config: TrainConfig | None = None,
    loss: str | None = None,
    validation=None,
    log_every: int = 0,
    callbacks=None,
    log: bool | None = None,
) -> pd.DataFrame:
    """Compile ``model`` with ``config`` and its kind's loss, train it, and return its history.

    Each call compiles the model afresh (:func:`compile_model`), so training
    starts from the model's current weights with a new optimizer. The model's
    contract turns the part into its inputs and targets (ratings normalized to
    ``[0, 1]`` for :class:`reco.models.RecommenderNetV2`, a multi-hot row per
    user for the implicit model). Training data are shuffled each epoch from
    the seed that :func:`set_seed` set.

    Args:
        model: a model of a registered kind (:mod:`reco.kinds`).
        data: a :class:`reco.split.Split` (its train part is used), or an int
            array ``X`` of shape ``(n, 2)`` with ``[user, movie]`` rows.
        y: float ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        config: the training settings; default: the kind's (``COURSE_DEFAULTS``
            for the rating models, ``IMPLICIT_DEFAULTS`` for the implicit one).
        loss: one of the kind's losses (``"logistic"`` for the implicit model);
            default: the kind's.
        validation: ``None``; ``"val"`` or ``"test"`` to report the loss on that
            part of the ``Split`` each epoch (choose settings on ``"val"`` of
            :func:`reco.split.train_val_test_split`); or a tuple ``(X, y)``.
        log_every: print an :class:`EpochLog` line for the first epoch, every
            ``log_every``-th and the last; ``0`` prints nothing.
        callbacks: more Keras callbacks.
        log: deprecated; ``log=True`` is ``log_every=1``.

    Returns:
        a DataFrame with one row per epoch (index ``epoch`` from 1) and the
        columns ``loss`` and, for the rating models, ``rmse``; with validation,
        ``val_loss`` and ``val_rmse``. Losses are in the model's own units
        (squared stars, or binary cross-entropy for RecommenderNetV2) and
        include the L2 penalty; ``rmse`` is in stars for every rating model, so
        compare models on it. ``rmse`` is averaged over the epoch's batches as
        the weights change (and with dropout on), so it is not the RMSE of the
        final model on the training part. ``attrs["train_seconds"]`` holds the
        wall time of the training (not printed: it differs between runs).

    Raises:
        ValueError: an empty training part, bad rows (shape, dtype, indices
            outside the model), ratings that are missing, infinite or outside
            the model's range, or a loss the kind does not accept.
    """
    if log is not None:
        _deprecated("fit(log=...)", "fit(log_every=1)")
        log_every = int(bool(log))
    if log_every:
        log_every = positive_int(log_every, "log_every", "for example log_every=1, or 0 for none")
    kind = kinds.kind_of(model)
    config = kind.config if config is None else config
    train_part = training_part(data, y)
    inputs, targets = kind.examples(model, train_part)
    validation_data = None
    if validation is not None:
        if isinstance(validation, str):
            if not isinstance(data, Split):
                raise ValueError(f"validation={validation!r} needs a Split as data.")
            validation_data = kind.examples(model, data.part_of(validation))
        else:
            validation_data = kind.examples(model, _part(*validation, "val"))
    compile_model(model, config, loss)
    callbacks = list(callbacks or [])
    if log_every:
        callbacks.append(EpochLog(every=log_every))
    start = time.perf_counter()
    history = model.fit(
        inputs,
        targets,
        batch_size=int(config.batch_size),
        epochs=int(config.epochs),
        validation_data=validation_data,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return history_frame(history, time.perf_counter() - start)


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


def history_frame(history: keras.callbacks.History, seconds: float) -> pd.DataFrame:
    """Return a Keras ``History`` as a DataFrame indexed by ``epoch`` from 1.

    ``attrs["train_seconds"]`` holds ``seconds``, the wall-clock training time.
    """
    frame = pd.DataFrame(history.history)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    frame.attrs["train_seconds"] = seconds
    return frame


def predict_outputs(model, inputs) -> np.ndarray:
    """Call ``model`` on ``inputs`` chunk by chunk in inference mode; return its output rows.

    Unlike ``model.predict`` this traces no ``tf.function`` per model, so
    notebooks that predict with many models print no retracing warnings, and
    it is faster on the few thousand rows the course predicts at a time.

    Args:
        model: any Keras model.
        inputs: what the model takes (an array, or a list of arrays of equal length).

    Returns:
        float32 array: ``(n,)`` for a model with one output per row, else
        ``(n, outputs)``.
    """
    first = inputs[0] if isinstance(inputs, list) else inputs
    n = len(first)
    chunks = []
    for start in range(0, n, PREDICT_BATCH_SIZE):
        part = slice(start, start + PREDICT_BATCH_SIZE)
        x = [a[part] for a in inputs] if isinstance(inputs, list) else inputs[part]
        out = keras.ops.convert_to_numpy(model(x, training=False))
        chunks.append(out.reshape(len(out), -1))
    if not chunks:
        return np.empty(0, dtype=np.float32)
    out = np.concatenate(chunks).astype(np.float32, copy=False)
    return out.reshape(-1) if out.shape[1] == 1 else out


def predict_ratings(model, X, context=None) -> np.ndarray:
    """Predict ratings in stars for ``[user, movie]`` rows, with any rating model.

    The model's contract maps its output to stars (RecommenderNetV2's scores
    from ``[0, 1]``, with the rating range stored in the model). Nothing is
    clipped: V1's predictions may fall outside the rating range, and the
    course reports them as they are.

    Args:
        model: a rating model of a registered kind, or a baseline that predicts ratings.
        X: int array (or list of rows) of shape ``(n, 2)`` with ``[user, movie]`` rows.
        context: per-rating context the kind asks for, column -> ``(n,)`` array.

    Returns:
        float32 array of shape ``(n,)``: predicted stars.

    Raises:
        ValueError: ``X`` is not ``(n, 2)`` integer rows inside the model's
            embeddings, or the model predicts no ratings (the implicit model).
    """
    return kinds.predict(model, X, context).astype(np.float32, copy=False)


def rating_metrics(model, data, y=None, *, part: str = "test") -> dict[str, float]:
    """Compute RMSE and MAE, in stars, of a rating model's predictions.

    Args:
        model: a rating model of a registered kind.
        data: a :class:`reco.split.Split` (``part`` chooses which part), or an
            int array ``X`` of shape ``(n, 2)``.
        y: true ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        part: ``"train"``, ``"val"`` or ``"test"`` when ``data`` is a Split.

    Returns:
        ``{"rmse": float, "mae": float}``.

    Raises:
        ValueError: bad rows, ratings that are missing, infinite or outside
            the model's range, or a model that predicts no ratings.
    """
    rows = _part(data, y, part)
    stars = kinds.check_ratings(rows.y, _rating_range(model), len(rows.X))
    context = rows.context if rows.context else None
    return rmse_mae(stars, predict_ratings(model, rows.X, context))


def _rating_range(model):
    if not kinds.predicts_ratings(model):
        return None
    return kinds.kind_of(model).rating_range(model)


def evaluate(model, data, y=None, *, part: str = "test") -> dict[str, float]:
    """Deprecated name of :func:`rating_metrics` (it clashed with the module ``reco.evaluate``)."""
    _deprecated("reco.train.evaluate", "reco.train.rating_metrics")
    return rating_metrics(model, data, y, part=part)


def _kind_name(name: str) -> str:
    if name in _OLD_NAMES:
        _deprecated(f"the model name {name!r}", repr(_OLD_NAMES[name]))
        return _OLD_NAMES[name]
    return name


def build_model(name: str, encoder=None, **kwargs):
    """Build a model of a registered kind by its name (uncompiled).

    Args:
        name: a kind's name, its ``model.name``: one of :data:`MODEL_NAMES`
            (``"v1"``, ``"v2"``, ``"recommender_net"``, ``"recommender_net_v2"``),
            ``"implicit_mf"``, or a kind you registered.
        encoder: the fitted :class:`reco.split.IdEncoder` (or pass ``n_users=``
            and ``n_movies=``).
        **kwargs: passed to the builder (for example ``n_factors=``, ``l2=``).

    Returns:
        the model.
    """
    return kinds.get(_kind_name(name)).build(encoder, **kwargs)


def train_model(
    name: str,
    split: Split,
    encoder=None,
    *,
    config: TrainConfig | None = None,
    validation=None,
    log_every: int = 0,
    log: bool | None = None,
    **kwargs,
):
    """Build a model of a registered kind by name and train it on ``split``.

    Call :func:`set_seed` first for reproducible results.

    Args:
        name: as in :func:`build_model`.
        split: a :class:`reco.split.Split`; its train part is used.
        encoder: the fitted :class:`reco.split.IdEncoder` (or pass ``n_users=``
            and ``n_movies=``).
        config: the training settings; default: the kind's.
        validation: as in :func:`fit`.
        log_every: as in :func:`fit`.
        log: deprecated; ``log=True`` is ``log_every=1``.
        **kwargs: passed to the builder (for example ``n_factors=``, ``min_rating=``).

    Returns:
        ``(model, history)``: the trained model and :func:`fit`'s DataFrame.
    """
    if log is not None:
        _deprecated("train_model(log=...)", "train_model(log_every=1)")
        log_every = int(bool(log))
    model = build_model(name, encoder, **kwargs)
    history = fit(model, split, config=config, validation=validation, log_every=log_every)
    return model, history
