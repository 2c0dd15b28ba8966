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

import ast
import dataclasses
import functools
import inspect
import re
import warnings
from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from reco import kinds
from reco._checks import check_l2, check_rate, positive_int
from reco.config import TrainConfig
from reco.models import architecture
from reco.split import Split, index_sizes

__all__ = [
    "BPR",
    "IMPLICIT_DEFAULTS",
    "LOSSES",
    "POSITIVE_RATING",
    "ImplicitKind",
    "WeightedLogistic",
    "build_implicit_mf",
    "fit_implicit",
    "interactions",
    "loss_name",
    "positives",
]

#: Training settings of the implicit model, chosen on the validation part of
#: ``train_val_test_split`` with ``make tune`` (tools/tune.py); a
#: batch is a number of *users*.
#: A rating of at least this many stars is a positive: what the implicit model learns from.
POSITIVE_RATING = 4.0

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


def positives(split: Split, min_rating: float = POSITIVE_RATING) -> Split:
    """Return ``split`` with only the training ratings of at least ``min_rating`` stars.

    Relevance in :mod:`reco.evaluate` is a rating of 4 stars or more, while
    :func:`interactions` counts every rating, even half a star, as a positive.
    Train on ``positives(split)`` to learn from the liked movies only (Liang et
    al. 2018 and Steck 2019 binarise at 4 stars); evaluate on the original
    ``split``, so that lists still exclude every training rating. The other
    parts are the same arrays, not copies.

    Args:
        split: a :class:`reco.split.Split`.
        min_rating: the lowest rating kept in the training part, in stars.

    Returns:
        a :class:`reco.split.Split` whose training part (and its context) holds
        the ratings ``>= min_rating``; its sizes and other parts are unchanged.

    Raises:
        ValueError: ``min_rating`` is not a finite number, or no training rating reaches it.
    """
    try:
        threshold = float(min_rating)
    except (TypeError, ValueError):
        threshold = float("nan")
    if isinstance(min_rating, bool) or not np.isfinite(threshold):
        raise ValueError(
            f"min_rating must be a number of stars; got {min_rating!r}. Fix: for example "
            "min_rating=4.0 (the course's relevance threshold)."
        )
    keep = np.asarray(split.y_train) >= threshold
    if not keep.any():
        top = f"{float(np.max(split.y_train)):g}" if len(split.y_train) else "none (it is empty)"
        raise ValueError(
            f"no training rating is at least min_rating={min_rating!r}: the highest is {top}. "
            "Fix: choose a lower min_rating, such as 4.0 on MovieLens's 0.5-5 scale."
        )
    context = dict(split.context)
    if "train" in context:
        context["train"] = {col: np.asarray(v)[keep] for col, v in context["train"].items()}
    # The test part is passed on, not read (reco.split records every read of it).
    test = {name: object.__getattribute__(split, name) for name in ("X_test", "y_test")}
    return dataclasses.replace(
        split, X_train=split.X_train[keep], y_train=split.y_train[keep], context=context, **test
    )


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


# --------------------------------------------------------------------------- losses that rank
# Two fixes of the logistic loss, whose 9,700 negatives a user outweigh their
# ~150 positives (its model collapses to the popularity prior), and one pairwise loss.


@keras.saving.register_keras_serializable(package="reco")
class WeightedLogistic(keras.losses.Loss):
    """Binary cross-entropy per movie with the negatives down-weighted (WMF, Hu et al. 2008).

    For a user's multi-hot row ``x`` and logits ``z``, the loss is the mean over
    the catalogue of ``x_i softplus(-z_i) + w (1 - x_i) softplus(z_i)``, where
    ``softplus(-z) = -log sigmoid(z)``. With ``w = 1`` it is the logistic loss
    (``keras.losses.BinaryCrossentropy(from_logits=True)``); a small ``w``
    gives the few positives as much say as the many negatives, which is the
    same as up-weighting the positives by ``1 / w`` (with a learning rate ``w``
    times smaller).

    Args:
        negative_weight: the weight ``w`` of a movie the user did not rate, in ``(0, 1]``.
    """

    def __init__(self, negative_weight: float = 0.1, name: str = "logistic_weighted", **kwargs):
        super().__init__(name=name, **kwargs)
        self.negative_weight = _check_weight(negative_weight)

    def call(self, y_true, y_pred):
        """Return the loss of each user row, shape ``(batch,)``."""
        y_true = ops.cast(y_true, y_pred.dtype)
        per_movie = y_true * ops.softplus(-y_pred) + self.negative_weight * (
            1.0 - y_true
        ) * ops.softplus(y_pred)
        return ops.mean(per_movie, axis=-1)

    def get_config(self):
        return {**super().get_config(), "negative_weight": self.negative_weight}


@keras.saving.register_keras_serializable(package="reco")
class BPR(keras.losses.Loss):
    """Bayesian Personalised Ranking (Rendle et al. 2009) on each user's multi-hot row.

    Each step draws, for every user row, ``n_negatives`` movies the user did
    not rate and up to ``n_positives`` movies they rated, each uniformly and
    without replacement (all of them if the user has fewer); a user's loss is
    the mean of ``softplus(z_j - z_i)``, that is ``-log sigmoid(z_i - z_j)``,
    over every pair of a drawn rated movie ``i`` and a drawn unrated movie
    ``j``. Only score *differences* count, so no movie wins by being popular
    alone. Drawing the rated movies too, as Rendle's LearnBPR draws triples,
    keeps a step at ``batch x n_positives x n_negatives`` pairs (64 x 64 x 16
    = 65,536) rather than one per movie of the catalogue.

    The draws come from a ``keras.random.SeedGenerator`` made when the loss is,
    so training is deterministic after :func:`reco.train.set_seed`.

    Args:
        n_negatives: unrated movies drawn per user and step, at least 1.
        n_positives: rated movies drawn per user and step, at least 1.
        seed: the generator's seed; ``None`` draws it from the seeded global state.
    """

    def __init__(
        self,
        n_negatives: int = 16,
        n_positives: int = 64,
        seed: int | None = None,
        name: str = "bpr",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.n_negatives = positive_int(n_negatives, "n_negatives", "for example n_negatives=16")
        self.n_positives = positive_int(n_positives, "n_positives", "for example n_positives=64")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, y_true, y_pred):
        """Return the loss of each user row, shape ``(batch,)``."""
        rated = ops.cast(y_true, y_pred.dtype) > 0
        i, valid_i = _draw(rated, self.n_positives, self.seed_generator)
        j, valid_j = _draw(ops.logical_not(rated), self.n_negatives, self.seed_generator)
        positive = ops.take_along_axis(y_pred, i, axis=-1)  # (batch, n_positives)
        negative = ops.take_along_axis(y_pred, j, axis=-1)  # (batch, n_negatives)
        gaps = ops.softplus(ops.expand_dims(negative, 1) - ops.expand_dims(positive, 2))
        pairs = ops.cast(ops.expand_dims(valid_i, 2) & ops.expand_dims(valid_j, 1), gaps.dtype)
        return ops.sum(gaps * pairs, axis=(1, 2)) / ops.maximum(ops.sum(pairs, axis=(1, 2)), 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "n_negatives": self.n_negatives,
            "n_positives": self.n_positives,
            "seed": self.seed,
        }


def _draw(mask, n: int, seed_generator):
    """Draw ``n`` of each row's ``True`` entries, uniformly without replacement.

    Each entry gets a uniform key in ``[0, 1)`` (entries outside the mask -1);
    the ``n`` largest keys are a uniform sample of the mask's entries.

    Returns:
        ``(indices, valid)``, both of shape ``(batch, min(n, n_movies))``:
        int column indices, and ``False`` where a row had fewer than ``n`` entries.
    """
    n = min(int(n), int(mask.shape[-1]))
    keys = keras.random.uniform(ops.shape(mask), seed=seed_generator)
    top, drawn = ops.top_k(ops.where(mask, keys, -1.0), k=n)
    return drawn, top >= 0.0


def _check_weight(value) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if isinstance(value, bool) or not 0.0 < weight <= 1.0:
        raise ValueError(
            f"negative_weight must be in (0, 1]; got {value!r}. Fix: for example "
            "negative_weight=0.1 (1 is the plain logistic loss)."
        )
    return weight


def _weighted_logistic(model, negative_weight: float = 0.1):
    return WeightedLogistic(negative_weight)


def _bpr(model, n_negatives: int = 16, n_positives: int = 64):
    return BPR(n_negatives, n_positives)


class _Losses(Mapping):
    """Loss name -> factory(model); a name may set the loss's keywords: ``"bpr(n_negatives=32)"``.

    Iterating gives the plain names. :func:`loss_name` writes a name with keywords.
    """

    def __init__(self, factories):
        self._factories = dict(factories)

    def __getitem__(self, name):
        base, keywords = _parse_loss(name)
        factory = self._factories[base]  # a KeyError: not a loss of this kind
        if not keywords:
            return factory
        allowed = [p for p in inspect.signature(factory).parameters if p != "model"]
        unknown = sorted(set(keywords) - set(allowed))
        if unknown:
            raise ValueError(
                f"the loss {base!r} takes the keyword(s) {allowed}; got {unknown} in {name!r}. "
                f"Fix: for example loss={loss_name(base, **{allowed[0]: 0.1})!r}."
                if allowed
                else f"the loss {base!r} takes no keywords; got {name!r}. Fix: loss={base!r}."
            )
        return functools.partial(factory, **keywords)

    def __iter__(self):
        return iter(self._factories)

    def __len__(self):
        return len(self._factories)


_LOSS_NAME = re.compile(r"(\w+)(?:\((.*)\))?")


def _parse_loss(name) -> tuple[str, dict]:
    match = _LOSS_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise KeyError(name)
    keywords = {}
    for item in filter(None, (match[2] or "").split(",")):
        key, _, value = item.partition("=")
        try:
            keywords[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise ValueError(
                f"cannot read {item.strip()!r} in the loss name {name!r}: write keyword=number, "
                f"for example {loss_name(match[1], n_negatives=16)!r}."
            ) from None
    return match[1], keywords


def loss_name(loss: str, **keywords) -> str:
    """Return the name of ``loss`` with its keywords set, for ``train.fit(..., loss=...)``.

    For example ``loss_name("logistic_weighted", negative_weight=0.03)`` is
    ``"logistic_weighted(negative_weight=0.03)"``; with no keywords it is ``loss``.
    """
    if not keywords:
        return loss
    return f"{loss}({', '.join(f'{k}={v!r}' for k, v in sorted(keywords.items()))})"


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
    losses = _Losses(
        {
            "multinomial": _multinomial,
            "logistic": _logistic,
            "logistic_weighted": _weighted_logistic,
            "bpr": _bpr,
        }
    )
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

    def fold_in(self, model, movies, stars, *, l2):
        """Fit the user vector to the softmax over the catalogue (:func:`reco.coldstart.softmax_fold_in`).

        The model learned from positives (ratings of at least
        :data:`POSITIVE_RATING`), so only those of the new user count.
        """
        return self.fold_in_many(model, [(movies, stars)], l2=l2)[0]

    def fold_in_many(self, model, answers, *, l2):
        """All the users in one solve (:func:`reco.coldstart.softmax_fold_in_many`)."""
        from reco.coldstart import softmax_fold_in_many

        kernel, bias = self._movie_scores(model)
        liked = [np.asarray(m)[np.asarray(s) >= POSITIVE_RATING] for m, s in answers]
        return softmax_fold_in_many(kernel, bias, liked, l2=l2)


#: The two losses notebook 08 compares first. The contract accepts more
#: (``ImplicitKind.losses``): ``"logistic_weighted"`` (:class:`WeightedLogistic`)
#: and ``"bpr"`` (:class:`BPR`), with keywords set by :func:`loss_name`.
LOSSES = ("multinomial", "logistic")


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
