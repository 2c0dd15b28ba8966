"""Learn to rank from implicit feedback: which movies a user rated, not how.

The rating models of notebooks 02-06 learn what a user *would* rate a movie;
their loss never sees the 9,700 movies a user did not rate, so it never learns
which ones they would *watch*. Here a (user, movie) pair is positive when the
user rated the movie in the training part, whatever the stars, and every other
movie of the catalogue is, implicitly, a negative.

:func:`build_implicit_mf` is matrix factorisation with a softmax over the whole
catalogue: a user's vector, after dropout, goes through one ``Dense`` layer
whose kernel holds the movie factors and whose bias is a learned popularity
prior; the output is one logit per movie. :func:`reco.train.fit` trains it with
a *multinomial* likelihood at the user level (Liang et al. 2018, Mult-VAE/DAE):
all of a user's training movies form one target row over the catalogue, and
the loss is ``-sum_i x_ui log softmax(logits_u)_i``. That is the same objective
as one softmax per (user, movie) pair, at about 1/100 of the cost, because
the catalogue's softmax is computed once per user. The alternative it is
compared with, ``loss="logistic"``, treats every movie as an independent yes/no
(a sigmoid and binary cross-entropy per movie).

The model is built from standard Keras layers, saves and loads in safe mode,
and trains deterministically after :func:`reco.train.set_seed`. Its contract,
:class:`ImplicitKind`, is declared below the builder: :func:`reco.train.fit`
trains it on multi-hot rows with either loss, ``split.for_model(model)`` gives
those rows for plain Keras, and :func:`reco.evaluate.top_k` and
:func:`reco.recommend.recommend` score it with one matrix product, like the
other dot-product models. It predicts no ratings.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pandas as pd
from keras import layers

from reco import kinds
from reco._checks import check_l2, check_rate
from reco.config import TrainConfig
from reco.models import architecture
from reco.split import Split, index_sizes

__all__ = [
    "IMPLICIT_DEFAULTS",
    "LOSSES",
    "ImplicitKind",
    "build_implicit_mf",
    "fit_implicit",
    "interactions",
]

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
    n_users, n_movies, n_factors = architecture(encoder, n_users, n_movies, n_factors)
    dropout = check_rate(dropout, "dropout")
    l2 = check_l2(l2)
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
    return keras.Model(users, logits, name=ImplicitKind.name)


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
    return _multi_hot(X, index_sizes(split)[1])


def _multi_hot(X: np.ndarray, n_movies: int) -> tuple[np.ndarray, np.ndarray]:
    users, row = np.unique(X[:, 0], return_inverse=True)
    rows = np.zeros((len(users), n_movies), dtype=np.float32)
    rows[row, X[:, 1]] = 1.0
    return users.astype(np.int32), rows


def _multinomial(model):
    # Keras's categorical cross-entropy is -sum(target * log_softmax(logits)):
    # with 0/1 targets it is the multinomial log-likelihood of all of a user's movies.
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def _logistic(model):
    return keras.losses.BinaryCrossentropy(from_logits=True)


@kinds.register
class ImplicitKind(kinds.ModelKind):
    """The implicit model: a user index in, one logit per movie of the catalogue out.

    Its examples are users, each with a multi-hot row of the movies they rated
    in the part (:func:`interactions`); it predicts no ratings. The Dense
    layer ``"movie_scores"`` holds the movie factors (its kernel) and a
    popularity prior (its bias).
    """

    name = "implicit_mf"
    label = "implicit MF"
    predicts_ratings = False
    losses = {"multinomial": _multinomial, "logistic": _logistic}
    default_loss = "multinomial"
    config = IMPLICIT_DEFAULTS

    def build(self, encoder=None, **kwargs):
        return build_implicit_mf(encoder, **kwargs)

    def sizes(self, model):
        return (
            int(model.get_layer("user_embedding").input_dim),
            int(model.get_layer("movie_scores").units),
        )

    def inputs(self, model, X, context=None):
        """Return the user indices of ``[user, movie]`` rows (the model takes users only)."""
        X = kinds.check_rows(X, *self.sizes(model))
        return X[:, 0]

    def examples(self, model, part):
        n_users, n_movies = self.sizes(model)
        top_user = int(part.X[:, 0].max()) if len(part.X) else -1
        if (part.n_movies is not None and part.n_movies != n_movies) or top_user >= n_users:
            raise ValueError(
                f"the model was built for {n_users} users and {n_movies} movies, but the split "
                f"has {part.n_movies} movies and user indices up to {top_user}. Fix: "
                "build the model with the encoder of this split, e.g. build_implicit_mf(encoder)."
            )
        return _multi_hot(kinds.check_rows(part.X, n_users, n_movies), n_movies)

    def _movie_scores(self, model):
        layer = model.get_layer("movie_scores")
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
        return np.asarray(kernel, dtype=np.float32), np.asarray(bias, dtype=np.float32)

    def score_users(self, model, users, context=None):
        """Score with one product: the user's vector times the movie factors, plus the prior."""
        kernel, bias = self._movie_scores(model)
        table = keras.ops.convert_to_numpy(model.get_layer("user_embedding").embeddings)
        return np.asarray(table, dtype=np.float32)[users] @ kernel + bias

    def movie_factors(self, model):
        return self._movie_scores(model)[0].T


#: The losses the implicit model trains with (its contract's).
LOSSES = tuple(ImplicitKind.losses)


def fit_implicit(
    model: keras.Model,
    split: Split,
    *,
    config: TrainConfig = IMPLICIT_DEFAULTS,
    loss: str = "multinomial",
    log_every: int = 0,
    callbacks=None,
) -> pd.DataFrame:
    """Deprecated: use ``reco.train.fit(model, split, loss=..., log_every=...)``.

    :func:`reco.train.fit` trains every registered kind, this one included,
    with its contract's default settings (:data:`IMPLICIT_DEFAULTS`) and loss.
    """
    from reco.train import fit

    warnings.warn(
        "reco.implicit.fit_implicit is deprecated: use reco.train.fit(model, split, "
        "loss=..., log_every=...).",
        DeprecationWarning,
        stacklevel=2,
    )
    return fit(model, split, config=config, loss=loss, log_every=log_every, callbacks=callbacks)
