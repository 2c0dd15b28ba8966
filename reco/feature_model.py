"""V2 with side features: genres, release year, and the date of each rating (notebook 09).

The walkthrough the course grew from ends: "we could create some date
features from the timestamp or throw in the movie genres as a new embedding
layer. We could tune the size of the movie and user embeddings independently
since they no longer need to match." :func:`build_feature_model` does all of
it, on top of V2 (:func:`reco.models.build_v2`):

* a movie is its ID factors (``n_factors``) **and** a side vector
  (``side_factors``): the mean of its genres' embeddings (an embedding bag over
  the multi-hot genres; "(no genres listed)" has an embedding of its own) plus
  the embedding of its release decade (parsed from the title; "unknown" has
  its own). The user embedding has ``n_factors + side_factors`` columns, so
  the two embeddings' sizes differ;
* the score adds to V2's ``u . m + b_u + b_m`` a bias of the side features and
  a linear effect of the date features: the time of
  the rating and the movie's age when it was rated;
* optionally (``cross=True``), a deep-and-cross term (KerasRS's
  ``FeatureCross``, Wang et al. 2021) over the user vector, the movie vector
  and the date features, added to the score;
* users and movies with no training ratings are **masked**: their ID rows were
  never trained (random, then shrunk by L2), so their ID factors and biases
  count for nothing and a new movie is scored from its genres, decade and
  date alone (with the user's factors and bias), a new user from the movie's
  side vector's bias, its own bias and the date.

The model is functional, made of built-in layers only, and loads in safe
mode after ``import reco.models`` (a ``cross=True`` model after ``import
reco.feature_model``, which imports KerasRS). It takes
``[users, movies, rating_year]``: the third input is each rating's time as a
fractional year, which its kind computes from the ``timestamp`` the split
carries (:attr:`FeatureKind.context`). Its lookup tables of genres, decades
and known users and movies are weights that do not train, so the ``.keras``
file holds them.
"""

from __future__ import annotations

import random

import keras
import numpy as np
from keras import layers

from reco import kinds
from reco._checks import check_l2, check_range, positive_int
from reco.constants import MAX_RATING, MIN_RATING, TIMESTAMP_COL
from reco.features import MovieFeatures, year_of
from reco.models import (
    DEFAULT_L2,
    _embedding,
    _RatingKind,
    _scaled_sigmoid,
    architecture,
    score_pairs,
)

# KerasRS's deep-and-cross layer, for cross=True (Python 3.11+). Importing KerasRS draws
# from Python's random generator, which seeds Keras's initializers: this module is
# imported lazily, on the first look-up of its kind (often after train.set_seed), so the
# draw would make the first model after it differ from every later one. The state is kept.
_random_state = random.getstate()
try:
    from keras_rs.layers import FeatureCross
except ImportError:  # pragma: no cover - keras-rs is in the dev extra
    FeatureCross = None
finally:
    random.setstate(_random_state)
    del _random_state

__all__ = [
    "DECADES",
    "YEARS_PER_UNIT",
    "FeatureKind",
    "build_feature_model",
    "reference_year",
    "side_table",
]

#: The release decades a movie's year falls in (earlier years join the first,
#: later the last), then one for an unknown year.
DECADES = tuple(range(1900, 2030, 10))


#: Years per unit of the date features (a decade).
YEARS_PER_UNIT = 10.0


def _date_features(when, release, known, reference_year: float):
    """The date features of a rating, from built-in layers: when it was made, and its movie's age.

    ``when`` is the rating's time as a fractional year, ``(n, 1)``; ``release``
    the movie's release year and ``known`` 1 where the title gives one (else
    both 0), ``(n, 1)`` each. Returns ``(n, 3)``: the time from ``reference_year``
    (the end of the training part) in decades, the movie's age then in
    decades, ``max(when - release_year, 0) / 10`` (0 when unknown), and
    ``known``. It reads nothing but its inputs: a rating's features use only
    that rating and the catalogue. The ``"rating_time"`` layer's offset holds
    ``reference_year``, the time :meth:`FeatureKind.score_users` scores at.
    """
    since = layers.Rescaling(
        1 / YEARS_PER_UNIT, offset=-reference_year / YEARS_PER_UNIT, name="rating_time"
    )(when)
    age = layers.ReLU(name="age_years")(layers.Subtract(name="since_release")([when, release]))
    age = layers.Rescaling(1 / YEARS_PER_UNIT, name="movie_age")(
        layers.Multiply(name="age_if_known")([age, known])
    )
    return layers.Concatenate(name="date_features")([since, age, known])


def side_table(features: MovieFeatures) -> np.ndarray:
    """Return each movie's side features: its genres mean-pooled, then its decade one-hot.

    Row ``i`` (movie index ``i``) holds, for each genre, ``1 / (number of the
    movie's genres)`` where the movie has it (so a product with the genre
    embeddings is their mean: an embedding bag), a last genre column of 1 for
    "(no genres listed)", and a one-hot of :data:`DECADES` plus "unknown".

    Returns:
        float32 array ``(n_movies, n_genres + 1 + len(DECADES) + 1)``.
    """
    genres = np.asarray(features.genres, dtype=np.float32)
    count = genres.sum(axis=1, keepdims=True)
    bag = np.hstack([genres / np.maximum(count, 1.0), (count == 0).astype(np.float32)])
    year = np.asarray(features.year, dtype=np.float64)
    decade = np.full(len(year), len(DECADES), dtype=np.int64)  # unknown
    known = np.isfinite(year)
    decade[known] = np.clip((year[known] - DECADES[0]) // 10, 0, len(DECADES) - 1).astype(np.int64)
    return np.hstack([bag, np.eye(len(DECADES) + 1, dtype=np.float32)[decade]])


def _known(indices, n: int, what: str) -> np.ndarray:
    """Return a float32 ``(n, 1)`` mask, 1 for the given indices (all if ``None``)."""
    mask = np.zeros((n, 1), dtype=np.float32)
    if indices is None:
        mask[:] = 1.0
        return mask
    indices = np.asarray(indices)
    if indices.dtype == bool:
        if indices.shape != (n,):
            raise ValueError(f"known_{what}s as a mask needs shape ({n},); got {indices.shape}.")
        mask[indices, 0] = 1.0
        return mask
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"known_{what}s holds an index outside 0..{n - 1}.")
    mask[indices.astype(np.int64), 0] = 1.0
    return mask


def _fixed(n, values, name):
    """An Embedding that looks up fixed rows (a lookup table saved with the model)."""
    layer = layers.Embedding(n, values.shape[1], trainable=False, name=name)
    layer.build()
    layer.set_weights([values.astype(np.float32)])
    return layer


def build_feature_model(
    encoder=None,
    *,
    features: MovieFeatures,
    trained_on=None,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 50,
    side_factors: int = 16,
    date_features: bool = True,
    cross: bool = False,
    l2: float = DEFAULT_L2,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    known_users=None,
    known_movies=None,
    reference_year: float | None = None,
) -> keras.Model:
    """Build V2 with genres, release decade and date features (see the module's docstring).

    ``stars = min + (max - min) * sigmoid(u . [m_id, s] + b_u + b_m + b_s + t + c)``:
    ``u`` the user's ``n_factors + side_factors`` factors, ``m_id`` the movie's
    ``n_factors`` ID factors, ``s`` its side vector (mean of its genres'
    embeddings plus its decade's), ``b_s`` a bias of the side features, ``t``
    a linear effect of the date features (the rating's time from the end of
    training, the movie's age then, whether its year is known), and ``c`` the cross term if
    ``cross``. Unknown users' ``u`` and ``b_u`` and unknown movies' ``m_id``
    and ``b_m`` are multiplied by 0.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and give
            ``n_users`` and ``n_movies``.
        features: :func:`reco.features.movie_features` of the encoder's movies.
        trained_on: the :class:`reco.split.Split` the model will train on: its
            training part says which users and movies are known and when it
            ends (the default time to score lists at). Or give ``known_users``,
            ``known_movies`` and ``reference_year``.
        n_factors: the movie ID embedding's size, at least 1.
        side_factors: the size of the genre and decade embeddings, at least 1;
            the user embedding has ``n_factors + side_factors`` columns.
        date_features: add the effect of the rating's year and the movie's age.
        cross: add a deep-and-cross term (needs ``keras-rs``).
        l2: L2 penalty on the trainable embeddings (``0`` for none), as V2's.
        min_rating, max_rating: the rating range.
        known_users, known_movies: indices (or boolean masks) of the users and
            movies with training ratings; default: from ``trained_on``, else all.
        reference_year: the fractional year lists are scored at; default: the
            last training rating's, from ``trained_on``, else 2000.

    Returns:
        an uncompiled ``keras.Model`` named ``"features"`` mapping ``[users,
        movies, rating_year]`` (int, int, float arrays of shape ``(n,)`` or
        ``(n, 1)``) to stars, float32 ``(n, 1)``.

    Raises:
        ValueError: a size is not a positive integer, the features do not
            match the movies, ``min_rating >= max_rating``, or ``cross=True``
            without keras-rs.
    """
    n_users, n_movies, n_factors = architecture(encoder, n_users, n_movies, n_factors)
    side_factors = positive_int(side_factors, "side_factors", "for example side_factors=16")
    min_rating, max_rating = check_range(min_rating, max_rating)
    l2 = check_l2(l2)
    if not isinstance(features, MovieFeatures):
        raise ValueError(
            f"features must be a reco.features.MovieFeatures; got {type(features).__name__}. "
            "Fix: features = reco.features.movie_features(movies, encoder)."
        )
    if len(features.year) != n_movies or len(features.genres) != n_movies:
        raise ValueError(
            f"features describe {len(features.year)} movies for a model of {n_movies}. Fix: "
            "build them with the same encoder: reco.features.movie_features(movies, encoder)."
        )
    if cross and FeatureCross is None:
        raise ValueError("cross=True needs KerasRS. Fix: pip install keras-rs.")
    if trained_on is not None:
        X_train = trained_on.X_train
        known_users = X_train[:, 0] if known_users is None else known_users
        known_movies = X_train[:, 1] if known_movies is None else known_movies
        times = trained_on.context.get("train", {}).get(TIMESTAMP_COL)
        if reference_year is None and times is not None and len(times):
            reference_year = float(year_of([np.max(times)])[0])
    reference_year = 2000.0 if reference_year is None else float(reference_year)

    users = keras.Input(shape=(1,), dtype="int32", name="users")
    movies = keras.Input(shape=(1,), dtype="int32", name="movies")
    when = keras.Input(shape=(1,), dtype="float32", name="rating_year")
    flat = layers.Flatten
    user_known = flat(name="user_known_flat")(
        _fixed(n_users, _known(known_users, n_users, "user"), "user_known")(users)
    )
    movie_known = flat(name="movie_known_flat")(
        _fixed(n_movies, _known(known_movies, n_movies, "movie"), "movie_known")(movies)
    )
    side = side_table(features)
    side_in = flat(name="side_flat")(_fixed(n_movies, side, "movie_side")(movies))

    u = flat(name="user_factors")(
        _embedding(n_users, n_factors + side_factors, "user_embedding", l2=l2)(users)
    )
    u = layers.Multiply(name="user_masked")([u, user_known])
    m_id = flat(name="movie_factors")(
        _embedding(n_movies, n_factors, "movie_embedding", l2=l2)(movies)
    )
    m_id = layers.Multiply(name="movie_masked")([m_id, movie_known])
    s = layers.Dense(
        side_factors,
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(l2) if l2 else None,
        name="side_embedding",
    )(side_in)
    m = layers.Concatenate(name="movie_vector")([m_id, s])
    terms = [layers.Dot(axes=1, name="dot")([u, m])]
    ub = flat(name="user_bias_flat")(_embedding(n_users, 1, "user_bias", l2=l2)(users))
    mb = flat(name="movie_bias_flat")(_embedding(n_movies, 1, "movie_bias", l2=l2)(movies))
    terms += [
        layers.Multiply(name="user_bias_masked")([ub, user_known]),
        layers.Multiply(name="movie_bias_masked")([mb, movie_known]),
        layers.Dense(1, kernel_initializer="zeros", name="side_bias")(side_in),
    ]
    year_known = np.isfinite(features.year).astype(np.float32)[:, None]
    released = np.nan_to_num(features.year, nan=0.0).astype(np.float32)[:, None]
    release = flat(name="release_year_flat")(_fixed(n_movies, released, "release_year")(movies))
    known = flat(name="year_known_flat")(_fixed(n_movies, year_known, "year_known")(movies))
    dates = _date_features(when, release, known, reference_year)
    if date_features:
        terms.append(layers.Dense(1, kernel_initializer="zeros", name="date_effect")(dates))
    if cross:
        x0 = layers.Concatenate(name="cross_input")([u, m, dates] if date_features else [u, m])
        x = FeatureCross(projection_dim=None, name="feature_cross")(x0, x0)
        terms.append(layers.Dense(1, kernel_initializer="zeros", name="cross_score")(x))
    x = layers.Add(name="add_terms")(terms)
    out = _scaled_sigmoid(x, min_rating, max_rating)
    return keras.Model([users, movies, when], out, name=FeatureKind.name)


def reference_year(model) -> float:
    """Return the fractional year a feature model scores at by default: the end of its training part.

    A model built with ``date_features=False`` (and no cross term) has no use
    for the time, and no ``"rating_time"`` layer: its output does not depend
    on the year it is given, so any year will do (2000).
    """
    try:
        layer = model.get_layer("rating_time")  # its offset is -reference_year / YEARS_PER_UNIT
    except ValueError:
        return 2000.0
    return -float(layer.offset) / float(layer.scale)


@kinds.register
class FeatureKind(_RatingKind):
    """V2 with side features: ``[users, movies, rating_year]`` in, stars out.

    Its sizes, rating range, movie factors and biases and metrics are V2's
    (:class:`reco.models._RatingKind`, the same layer names). Its input needs
    each rating's ``timestamp`` (:attr:`context`), which the splits carry. It
    scores every movie by calling the model on every pair, at the time the
    ``context`` gives (``{"timestamp": seconds}``) or else at the end of its
    training part (kept in the ``"rating_time"`` layer). It does not fold in a
    new user: its user vector also weighs the side features.
    """

    name = "features"
    label = "V2 + features"
    context = (TIMESTAMP_COL,)
    biases = True

    def build(self, encoder=None, **kwargs):
        return build_feature_model(encoder, **kwargs)

    def fold_in(self, model, movies, stars, *, l2):
        return kinds.ModelKind.fold_in(self, model, movies, stars, l2=l2)

    def inputs(self, model, X, context=None):
        """Return ``[users, movies, rating_year]``; without timestamps, at the reference time.

        Training and evaluation pass each rating's timestamp (the split carries
        them, and :func:`reco.train.fit` refuses a split without them); a call
        without them (``reco.recommend.recommend``, ``kinds.predict(model, X)``)
        predicts as of the end of the training part, as lists are scored.
        """
        X = kinds.check_rows(X, *self.sizes(model))
        if context is None or TIMESTAMP_COL not in context:
            return [X[:, 0], X[:, 1], np.full(len(X), reference_year(model), dtype=np.float32)]
        stamps = np.asarray(context[TIMESTAMP_COL]).reshape(-1)
        if len(stamps) != len(X):
            raise ValueError(
                f"context[{TIMESTAMP_COL!r}] has {len(stamps)} timestamps for {len(X)} "
                "[user, movie] rows. Fix: give one per row, e.g. split.part_of('test').context."
            )
        return [X[:, 0], X[:, 1], year_of(stamps).astype(np.float32)]

    def score_users(self, model, users, context=None):
        """Score by calling the model on every user-movie pair at one time.

        The time is ``context["timestamp"]`` (Unix seconds) if given, else the
        end of the training part; the output, the predicted stars, ranks the
        movies.
        """
        if context is not None and TIMESTAMP_COL in context:
            when = np.unique(np.asarray(context[TIMESTAMP_COL]).reshape(-1))
            if len(when) != 1:
                raise ValueError(
                    f"lists are scored at one moment; context[{TIMESTAMP_COL!r}] holds "
                    f"{len(when)} distinct values. Fix: pass one time, e.g. "
                    f"context={{'{TIMESTAMP_COL}': split.protocol['test_start']}}."
                )
            year = float(year_of(when)[0])
        else:
            year = reference_year(model)

        def inputs(user_rows, movie_rows):
            return [user_rows, movie_rows, np.full(len(user_rows), year, dtype=np.float32)]

        return score_pairs(model, users, self.sizes(model)[1], inputs)
