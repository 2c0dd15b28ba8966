"""Learn to rank from implicit feedback: which movies a user rated, not how.

The rating models of notebooks 02-06 learn what a user *would* rate a movie;
their loss never sees the 9,700 movies a user did not rate, so it never learns
which ones they would *watch*. Here a (user, movie) pair is positive when the
user rated the movie in the training part, whatever the stars, and every other
movie of the catalogue is, implicitly, a negative.

:func:`build_implicit_mf` is matrix factorisation with a softmax over the whole
catalogue: a user's vector, after dropout, goes through one ``Dense`` layer
whose kernel holds the movie factors and whose bias is a learned popularity
prior; the output is one logit per movie. :func:`fit_implicit` trains it with
a *multinomial* likelihood at the user level (Liang et al. 2018, Mult-VAE/DAE):
all of a user's training movies form one target row over the catalogue, and
the loss is ``-sum_i x_ui log softmax(logits_u)_i``. That is the same objective
as one softmax per (user, movie) pair, at about 1/100 of the cost, because
the catalogue's softmax is computed once per user. The alternative it is
compared with, ``loss="logistic"``, treats every movie as an independent yes/no
(a sigmoid and binary cross-entropy per movie).

The model is built from standard Keras layers, saves and loads in safe mode,
and trains deterministically after :func:`reco.train.set_seed`.
:func:`reco.evaluate.top_k` scores it with one matrix product, like the other
dot-product models.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pandas as pd
from keras import layers

from reco.models import _architecture, _check_l2, embedding_sizes
from reco.split import Split, index_sizes
from reco.train import EpochLog, TrainConfig, history_frame

__all__ = ["IMPLICIT_DEFAULTS", "LOSSES", "build_implicit_mf", "fit_implicit", "interactions"]

#: The losses :func:`fit_implicit` knows.
LOSSES = ("multinomial", "logistic")

#: Training settings of the implicit model, chosen on the validation part of
#: ``train_val_test_split`` with ``make tune`` (tools/tune_implicit.py); a
#: batch is a number of *users*.
IMPLICIT_DEFAULTS = TrainConfig(batch_size=64, epochs=60, lr=3e-3, steps_per_execution=4)


def build_implicit_mf(
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 256,
    dropout: float = 0.7,
    l2: float = 0.0,
) -> keras.Model:
    """Build matrix factorisation with one logit per movie of the catalogue (uncompiled).

    Layers: user index -> Embedding(n_factors) -> Dropout -> Dense(n_movies).
    The Dense kernel, of shape ``(n_factors, n_movies)``, holds the movie
    factors; its bias, one number per movie, learns a popularity prior.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and give
            ``n_users`` and ``n_movies``.
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        dropout: rate on the user vector during training, in ``[0, 1)``.
        l2: L2 penalty on the user embedding and the movie factors (``0`` for none).

    Returns:
        a ``keras.Model`` mapping user indices (int array of shape ``(n,)`` or
        ``(n, 1)``) to logits of shape ``(n, n_movies)``; higher ranks first.

    Raises:
        ValueError: a size is not a positive integer, or ``dropout`` is not in ``[0, 1)``.
    """
    n_users, n_movies, n_factors = _architecture(encoder, n_users, n_movies, n_factors)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1); got {dropout!r}.")
    l2 = _check_l2(l2)
    reg = keras.regularizers.l2(l2) if l2 else None
    users = keras.Input(shape=(1,), dtype="int32", name="users")
    u = layers.Embedding(
        n_users,
        n_factors,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        embeddings_regularizer=reg,
        name="user_embedding",
    )(users)
    u = layers.Flatten(name="user_factors")(u)
    u = layers.Dropout(float(dropout), name="dropout")(u)
    logits = layers.Dense(n_movies, kernel_regularizer=reg, name="movie_scores")(u)
    return keras.Model(users, logits, name="implicit_mf")


def interactions(split: Split, part: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Return the users of a part and their rated movies as multi-hot rows.

    Args:
        split: a :class:`reco.split.Split` with ``n_users`` and ``n_movies``.
        part: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        ``(users, rows)``: the int32 user indices with at least one rating in
        ``part``, shape ``(n,)``, and a float32 array of shape
        ``(n, n_movies)`` with 1 where the user rated the movie.
    """
    X, _ = split.part(part)
    _, n_movies = index_sizes(split)
    users, row = np.unique(X[:, 0], return_inverse=True)
    rows = np.zeros((len(users), n_movies), dtype=np.float32)
    rows[row, X[:, 1]] = 1.0
    return users.astype(np.int32), rows


def fit_implicit(
    model: keras.Model,
    split: Split,
    *,
    config: TrainConfig = IMPLICIT_DEFAULTS,
    loss: str = "multinomial",
    log_every: int = 0,
    callbacks=None,
) -> pd.DataFrame:
    """Train an implicit model on which movies each user rated in the training part.

    Args:
        model: from :func:`build_implicit_mf`.
        split: its training part gives the positives.
        config: optimizer settings; ``batch_size`` counts users.
        loss: ``"multinomial"`` (a softmax over the catalogue, one row per user)
            or ``"logistic"`` (a sigmoid per movie, binary cross-entropy).
        log_every: print an :class:`reco.train.EpochLog` line every this many
            epochs (and the last); ``0`` prints nothing.
        callbacks: more Keras callbacks.

    Returns:
        the history (``loss`` per epoch, index ``epoch`` from 1), with
        ``attrs["train_seconds"]``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")
    users, rows = interactions(split, "train")
    n_users, n_movies = embedding_sizes(model)
    if n_movies != rows.shape[1] or (len(users) and users.max() >= n_users):
        raise ValueError(
            f"the model was built for {n_users} users and {n_movies} movies, but the split has "
            f"{rows.shape[1]} movies and user indices up to {users.max()}. Fix: build the model "
            "with the encoder of this split, e.g. build_implicit_mf(encoder)."
        )
    if loss == "multinomial":
        # Keras's categorical cross-entropy is -sum(target * log_softmax(logits)):
        # with 0/1 targets it is the multinomial log-likelihood of all of a user's movies.
        objective = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        objective = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(
        optimizer=config.make_optimizer(),
        loss=objective,
        steps_per_execution=int(config.steps_per_execution),
    )
    callbacks = list(callbacks or [])
    if log_every:
        callbacks.append(EpochLog(every=log_every))
    start = time.perf_counter()
    history = model.fit(
        users,
        rows,
        batch_size=int(config.batch_size),
        epochs=int(config.epochs),
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return history_frame(history, time.perf_counter() - start)
