"""Build the course's four collaborative-filtering models in Keras.

The course teaches them in this order:

1. :func:`build_v1` -- the dot product of a user and a movie embedding.
2. :func:`build_v2` -- V1 plus a bias per user and per movie, squashed by a
   sigmoid and scaled to the rating range.
3. :func:`build_net` -- "RecommenderNet": the two embeddings concatenated and
   fed to a small dense network. (The Keras example calls a different model
   ``RecommenderNet``: that one is the course's :class:`RecommenderNetV2`.)
4. :class:`RecommenderNetV2` (built by :func:`build_net_v2`) -- a subclassed
   ``keras.Model`` with biases, trained with binary cross-entropy on ratings
   normalized to ``[0, 1]``.

A builder owns the architecture: the sizes, the number of factors, the L2
penalty, dropout and the rating range. It returns an *uncompiled* model;
training settings (optimizer, learning rate, batch size, epochs) belong to
:mod:`reco.train`, which compiles the model when it fits it. Plain Keras works
too: ``model.compile(...)`` then ``model.fit(...)``.

Each builder takes the fitted :class:`reco.split.IdEncoder` (``build_v2(encoder)``),
or, for synthetic data, the sizes (``build_v2(n_users=10, n_movies=20)``).
The rating range travels with the model: :func:`rating_range` reads it back,
so training, prediction and evaluation cannot use another one.

Every model uses built-in Keras layers only (no ``Lambda``), or is registered
with Keras. Keras does not import ``reco`` when it loads a file, so run
``import reco.models`` (or ``from reco import models``) first; then
``keras.models.load_model(path)`` loads a course ``.keras`` file in safe mode.

Layers are named ``"user_embedding"``, ``"movie_embedding"``, ``"user_bias"``
and ``"movie_bias"``, so notebooks can fetch the learned factors and biases
with ``model.get_layer(name).get_weights()[0]``.

The functional models take ``[users, movies]``: two integer arrays of shape
``(n,)`` or ``(n, 1)``. :class:`RecommenderNetV2` takes one integer array of
shape ``(n, 2)`` holding ``[user, movie]`` rows. All four return a float32
array of shape ``(n, 1)``.

Each builder is followed by its model kind's contract (:mod:`reco.kinds`): how
rows become the model's input, how its output becomes stars, its loss, how it
scores every movie for a user, where its movie factors are and its sizes. A
model is matched to its contract by ``model.name`` (``"v1"``, ``"v2"``,
``"recommender_net"``, ``"recommender_net_v2"``), and
``split.for_model(model, part)`` gives any of them its inputs and targets.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import layers, ops

from reco import kinds
from reco._checks import check_l2, check_range, check_rate, positive_int
from reco.constants import MAX_MODEL_BYTES, MAX_RATING, MIN_RATING

__all__ = [
    "DEFAULT_L2",
    "NET_V2_L2",
    "BatchSummingRecommenderNet",
    "RecommenderNetV2",
    "StarsRMSE",
    "batch_summing_dot",
    "build_net",
    "build_net_v2",
    "build_v1",
    "build_v2",
    "denormalize_ratings",
    "embedding_sizes",
    "normalize_ratings",
    "per_example_dot",
    "rating_range",
    "score_pairs",
]

#: L2 penalty on the embeddings of V1, V2 and RecommenderNet. Keras adds it to
#: the loss once per gradient step, so it is tied to the batch size: this value
#: fits the course's batches of 2,048 (the original batches of 64 used 1e-6).
#: Change it with the batch size.
DEFAULT_L2 = 1e-4

#: L2 penalty on RecommenderNetV2's embeddings, at the same batch size. Its loss,
#: binary cross-entropy on ratings scaled to ``[0, 1]``, depends on the
#: prediction error about 7 to 10 times less than V2's squared error in stars,
#: so the same penalty would weigh that much more; on the validation part 1e-5
#: beat 5e-6, 3e-5 and 1e-4.
NET_V2_L2 = 1e-5

#: Largest memory, in bytes, that training the embeddings may need (weights,
#: gradients and Adam's two moments, float32); bigger models are refused. The
#: package's one limit, shared with EASE.
MAX_TRAINING_BYTES = MAX_MODEL_BYTES


def _sizes(encoder, n_users, n_movies) -> tuple[int, int]:
    """Return ``(n_users, n_movies)`` from an encoder or from the sizes."""
    hint = "pass the fitted encoder from reco.split.encode_ids, e.g. build_v2(encoder)"
    if encoder is not None:
        if n_users is not None or n_movies is not None:
            raise ValueError(f"pass an encoder or n_users/n_movies, not both. Fix: {hint}.")
        if not hasattr(encoder, "n_users") or not hasattr(encoder, "n_movies"):
            raise ValueError(
                f"expected a fitted reco.split.IdEncoder; got {type(encoder).__name__}. "
                f"Fix: {hint}, or build_v2(n_users=..., n_movies=...) for synthetic data."
            )
        n_users, n_movies = encoder.n_users, encoder.n_movies
    elif n_users is None or n_movies is None:
        raise ValueError(f"the model needs the number of users and movies. Fix: {hint}.")
    return positive_int(n_users, "n_users", hint), positive_int(n_movies, "n_movies", hint)


def _check_memory(n_users: int, n_movies: int, n_factors: int) -> None:
    needed = (n_users + n_movies) * n_factors * 4 * 4  # float32; weights, grads, 2 moments
    if needed > MAX_TRAINING_BYTES:
        raise ValueError(
            f"n_factors={n_factors:,} for {n_users:,} users and {n_movies:,} movies needs about "
            f"{needed / 1024**3:,.1f} GiB to train (weights, gradients and Adam's moments), "
            f"over the {MAX_TRAINING_BYTES / 1024**3:.0f} GiB this package allows. Fix: use "
            "tens to a few hundred factors (the course uses 50)."
        )


def architecture(encoder, n_users, n_movies, n_factors) -> tuple[int, int, int]:
    """Return ``(n_users, n_movies, n_factors)`` checked, from an encoder or the sizes.

    The one check of a model's sizes, for every builder of the package.

    Raises:
        ValueError: a size is not a positive integer, or the model would not fit in memory.
    """
    n_users, n_movies = _sizes(encoder, n_users, n_movies)
    n_factors = positive_int(n_factors, "n_factors", "use an embedding size such as 50")
    _check_memory(n_users, n_movies, n_factors)
    return n_users, n_movies, n_factors


def _embedding(n, size, name, *, l2):
    return layers.Embedding(
        n,
        size,
        embeddings_initializer="he_normal",
        embeddings_regularizer=keras.regularizers.l2(l2) if l2 else None,
        name=name,
    )


@keras.saving.register_keras_serializable(package="reco")
class StarsRMSE(keras.metrics.RootMeanSquaredError):
    """Root mean squared error, multiplied by ``scale`` to read in stars.

    The functional models predict stars, so ``scale=1``. RecommenderNetV2
    predicts ratings normalized to ``[0, 1]``; with ``scale = max_rating -
    min_rating`` its ``rmse`` and ``val_rmse`` in the training history are in
    stars too, so the four models' curves can be compared.

    Args:
        scale: factor from the model's target units to stars.
        name: the metric's name in the history (``"rmse"``).
    """

    def __init__(self, scale=1.0, name="rmse", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.scale = float(scale)

    def result(self):
        """Return the RMSE so far, in stars."""
        return super().result() * self.scale

    def get_config(self):
        """Return the constructor arguments."""
        return {**super().get_config(), "scale": self.scale}


def _inputs():
    users = keras.Input(shape=(1,), dtype="int32", name="users")
    movies = keras.Input(shape=(1,), dtype="int32", name="movies")
    return users, movies


def _factors(users, movies, n_users, n_movies, n_factors, l2):
    u = layers.Flatten(name="user_factors")(
        _embedding(n_users, n_factors, "user_embedding", l2=l2)(users)
    )
    m = layers.Flatten(name="movie_factors")(
        _embedding(n_movies, n_factors, "movie_embedding", l2=l2)(movies)
    )
    return u, m


def _scaled_sigmoid(x, min_rating, max_rating):
    # The Rescaling layer's config holds the rating range: rating_range() reads it.
    x = layers.Activation("sigmoid", name="sigmoid")(x)
    return layers.Rescaling(scale=max_rating - min_rating, offset=min_rating, name="to_stars")(x)


def build_v1(
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 50,
    l2: float = DEFAULT_L2,
) -> keras.Model:
    """Build V1: the dot product of a user and a movie embedding.

    The output is unbounded: nothing keeps it inside a rating range, and the
    model has no biases (notebook 02 shows what that costs).

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and
            give ``n_users`` and ``n_movies``.
        n_users: number of users (rows of the user embedding), at least 1.
        n_movies: number of movies (rows of the movie embedding), at least 1.
        n_factors: embedding size, at least 1.
        l2: L2 penalty on the embeddings (``0`` for none). Keras adds it once
            per gradient step: change it with the batch size.

    Returns:
        an uncompiled ``keras.Model`` mapping ``[users, movies]`` (two int
        arrays of shape ``(n,)`` or ``(n, 1)``) to predicted stars, float32 of
        shape ``(n, 1)``.

    Raises:
        ValueError: a size is not a positive integer, or the model would not fit in memory.
    """
    n_users, n_movies, n_factors = architecture(encoder, n_users, n_movies, n_factors)
    l2 = check_l2(l2)
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    out = layers.Dot(axes=1, name="dot")([u, m])
    return keras.Model([users, movies], out, name="v1")


def build_v2(
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 50,
    l2: float = DEFAULT_L2,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
) -> keras.Model:
    """Build V2: V1 plus user and movie biases, scaled to the rating range.

    ``stars = min_rating + (max_rating - min_rating) * sigmoid(u . m + b_u + b_m)``.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and
            give ``n_users`` and ``n_movies``.
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        l2: L2 penalty on the embeddings and biases (``0`` for none); change
            it with the batch size.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.

    Returns:
        an uncompiled ``keras.Model`` mapping ``[users, movies]`` to predicted
        stars, float32 of shape ``(n, 1)`` inside ``[min_rating, max_rating]``.

    Raises:
        ValueError: a size is not a positive integer, ``min_rating >= max_rating``,
            or the model would not fit in memory.
    """
    n_users, n_movies, n_factors = architecture(encoder, n_users, n_movies, n_factors)
    min_rating, max_rating = check_range(min_rating, max_rating)
    l2 = check_l2(l2)
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    dot = layers.Dot(axes=1, name="dot")([u, m])
    ub = layers.Flatten(name="user_bias_flat")(_embedding(n_users, 1, "user_bias", l2=l2)(users))
    mb = layers.Flatten(name="movie_bias_flat")(
        _embedding(n_movies, 1, "movie_bias", l2=l2)(movies)
    )
    x = layers.Add(name="add_biases")([dot, ub, mb])
    out = _scaled_sigmoid(x, min_rating, max_rating)
    return keras.Model([users, movies], out, name="v2")


def build_net(
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 50,
    l2: float = DEFAULT_L2,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    dropout: float = 0.05,
    hidden_dropout: float = 0.5,
    hidden_units: int = 10,
) -> keras.Model:
    """Build RecommenderNet: concatenated embeddings through a small network.

    Layers: Concatenate -> Dropout(0.05) -> Dense(10, relu) -> Dropout(0.5) ->
    Dense(1) -> sigmoid -> scaled to ``[min_rating, max_rating]``. This is the
    course's own model; the Keras example's ``RecommenderNet`` is the
    course's :class:`RecommenderNetV2`.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and
            give ``n_users`` and ``n_movies``.
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        l2: L2 penalty on the embeddings (``0`` for none); change it with the batch size.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.
        dropout: rate on the concatenated embeddings, in ``[0, 1)`` (``0`` for
            none), as ``dropout`` is the rate on the user vector in
            :func:`reco.implicit.build_implicit_mf`.
        hidden_dropout: rate on the hidden units, in ``[0, 1)``.
        hidden_units: size of the hidden ``Dense`` layer, at least 1.

    Returns:
        an uncompiled ``keras.Model`` mapping ``[users, movies]`` to predicted
        stars, float32 of shape ``(n, 1)`` inside ``[min_rating, max_rating]``.

    Raises:
        ValueError: a size is not a positive integer, ``min_rating >= max_rating``,
            a dropout rate is not in ``[0, 1)``, or the model would not fit in memory.
    """
    if isinstance(dropout, (tuple, list)):  # the form before 0.2, for one release
        warnings.warn(
            "build_net(dropout=(a, b)) is deprecated: pass dropout=a, hidden_dropout=b.",
            DeprecationWarning,
            stacklevel=2,
        )
        if len(dropout) != 2:
            raise ValueError(f"dropout must be a rate in [0, 1); got {dropout!r}.")
        dropout, hidden_dropout = dropout
    n_users, n_movies, n_factors = architecture(encoder, n_users, n_movies, n_factors)
    hidden_units = positive_int(hidden_units, "hidden_units", "for example hidden_units=10")
    min_rating, max_rating = check_range(min_rating, max_rating)
    l2 = check_l2(l2)
    rate_in = check_rate(dropout, "dropout")
    rate_hidden = check_rate(hidden_dropout, "hidden_dropout")
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    x = layers.Concatenate(name="concat")([u, m])
    x = layers.Dropout(rate_in, name="dropout_in")(x)
    x = layers.Dense(
        hidden_units, activation="relu", kernel_initializer="he_normal", name="hidden"
    )(x)
    x = layers.Dropout(rate_hidden, name="dropout_hidden")(x)
    x = layers.Dense(1, kernel_initializer="he_normal", name="score")(x)
    out = _scaled_sigmoid(x, min_rating, max_rating)
    return keras.Model([users, movies], out, name="recommender_net")


def per_example_dot(u, m):
    """Return the dot product of each row of ``u`` with the same row of ``m``.

    Args:
        u: float tensor of shape ``(n, k)``.
        m: float tensor of shape ``(n, k)``.

    Returns:
        float tensor of shape ``(n, 1)``; row ``i`` is ``sum_j u[i, j] * m[i, j]``.
    """
    return ops.sum(u * m, axis=1, keepdims=True)


def batch_summing_dot(u, m):
    """Return ``tensordot(u, m, 2)``: the WRONG dot product, kept to teach the pitfall.

    This is what the widely copied Keras collaborative-filtering example
    computes. Contracting both axes gives one scalar, the sum of the dot
    products of *every* row in the batch. Added to per-example biases it
    broadcasts to shape ``(n, 1)``, so the shapes look right and nothing
    complains, yet each prediction depends on the other examples in its batch.
    Never use it in a model; see :func:`per_example_dot`.

    Args:
        u: float tensor of shape ``(n, k)``.
        m: float tensor of shape ``(n, k)``.

    Returns:
        a float scalar tensor (shape ``()``).
    """
    return ops.tensordot(u, m, 2)


@keras.saving.register_keras_serializable(package="reco")
class RecommenderNetV2(keras.Model):
    """Subclassed model: embeddings and biases, a per-example dot product, a sigmoid.

    ``p = sigmoid(u . m + b_u + b_m)`` is a rating normalized to ``[0, 1]``;
    :func:`reco.train.fit` trains it with binary cross-entropy on
    ``(r - min_rating) / (max_rating - min_rating)`` and
    :func:`reco.train.predict_ratings` maps its output back to stars. The
    rating range is part of the model's config, so it is saved with it.
    The Keras example calls this model ``RecommenderNet``; its constructor keeps
    that example's argument names (``num_users``, ``num_movies``,
    ``embedding_size``) so that a learner can hold the two side by side. The
    course's builders say ``n_users``, ``n_movies`` and ``n_factors``, and
    :func:`build_net_v2` takes those.

    Args:
        num_users: number of users, at least 1.
        num_movies: number of movies, at least 1.
        embedding_size: embedding size, at least 1.
        l2: L2 penalty on the two embeddings (``0`` for none); the biases
            are not penalized, as in the Keras example.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.

    Call:
        ``model(X)`` with ``X`` an int array of shape ``(n, 2)`` holding
        ``[user, movie]`` rows; returns float32 of shape ``(n, 1)`` in ``[0, 1]``.
    """

    def __init__(
        self,
        num_users,
        num_movies,
        embedding_size=50,
        l2=NET_V2_L2,
        min_rating=MIN_RATING,
        max_rating=MAX_RATING,
        **kwargs,
    ):
        num_users, num_movies, embedding_size = architecture(
            None, num_users, num_movies, embedding_size
        )
        self.min_rating, self.max_rating = check_range(min_rating, max_rating)
        # The name is the key of the model's contract (reco.kinds); Keras would
        # otherwise number a second instance "recommender_net_v2_1".
        kwargs.setdefault("name", NetV2Kind.name)
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.l2 = check_l2(l2)
        self.user_embedding = _embedding(num_users, embedding_size, "user_embedding", l2=self.l2)
        self.user_bias = layers.Embedding(num_users, 1, name="user_bias")
        self.movie_embedding = _embedding(num_movies, embedding_size, "movie_embedding", l2=self.l2)
        self.movie_bias = layers.Embedding(num_movies, 1, name="movie_bias")

    def build(self, input_shape=None):
        """Create the weights; the input is ``(n, 2)`` whatever ``input_shape`` says."""
        for layer in (self.user_embedding, self.user_bias, self.movie_embedding, self.movie_bias):
            layer.build((None,))
        self.built = True

    def _dot(self, u, m):
        return per_example_dot(u, m)

    def call(self, inputs):
        """Map ``(n, 2)`` ``[user, movie]`` rows to sigmoid scores of shape ``(n, 1)``."""
        inputs = ops.cast(inputs, "int32")
        users, movies = inputs[:, 0], inputs[:, 1]
        x = (
            self._dot(self.user_embedding(users), self.movie_embedding(movies))
            + self.user_bias(users)
            + self.movie_bias(movies)
        )
        return ops.sigmoid(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        """Return the constructor arguments, so Keras can save and rebuild the model."""
        return {
            "num_users": self.num_users,
            "num_movies": self.num_movies,
            "embedding_size": self.embedding_size,
            "l2": self.l2,
            "min_rating": self.min_rating,
            "max_rating": self.max_rating,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuild the model from :meth:`get_config`'s output."""
        return cls(**config)


class BatchSummingRecommenderNet(RecommenderNetV2):
    """WRONG on purpose: :class:`RecommenderNetV2` with the ``tensordot(u, m, 2)`` bug.

    Kept only to teach the pitfall in a notebook and to prove that
    ``tests/test_models.py`` catches it: each prediction adds the sum of the
    dot products of the whole batch, so an example predicted alone differs
    from the same example predicted inside a batch. Do not train it or use its
    predictions. Saving works, but it is deliberately not registered with
    Keras, so ``keras.models.load_model`` refuses the file ("Could not locate
    class 'BatchSummingRecommenderNet'"); notebook 05's exercise 3 shows that.
    """

    def _dot(self, u, m):
        return batch_summing_dot(u, m)


def build_net_v2(
    encoder=None,
    *,
    n_users: int | None = None,
    n_movies: int | None = None,
    n_factors: int = 50,
    l2: float = NET_V2_L2,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    model_cls: type[RecommenderNetV2] = RecommenderNetV2,
) -> RecommenderNetV2:
    """Build a :class:`RecommenderNetV2` and create its weights.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder`; or ``None`` and
            give ``n_users`` and ``n_movies``.
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        l2: L2 penalty on the embeddings (``0`` for none); change it with the batch size.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.
        model_cls: the class to build; only the pitfall notebook passes
            :class:`BatchSummingRecommenderNet`.

    Returns:
        an uncompiled, built model mapping an ``(n, 2)`` int array to ``(n, 1)``
        float32 scores in ``[0, 1]`` (normalized ratings).

    Raises:
        ValueError: a size is not a positive integer, ``min_rating >= max_rating``,
            or the model would not fit in memory.
    """
    n_users, n_movies = _sizes(encoder, n_users, n_movies)
    model = model_cls(
        n_users,
        n_movies,
        n_factors,
        l2=l2,
        min_rating=min_rating,
        max_rating=max_rating,
        name=NetV2Kind.name,
    )
    model.build((None, 2))
    return model


def rating_range(model) -> tuple[float, float] | None:
    """Return the ``(min_rating, max_rating)`` a course model was built with.

    Args:
        model: a model of a registered kind (or one loaded from a ``.keras`` file).

    Returns:
        the range its contract reads from the model's config; ``None`` for V1,
        whose output is unbounded, and for models that predict no ratings.
    """
    return kinds.kind_of(model).rating_range(model)


def embedding_sizes(model) -> tuple[int, int]:
    """Return ``(n_users, n_movies)`` of a model. Deprecated: use ``reco.kinds.sizes``."""
    warnings.warn(
        "reco.models.embedding_sizes is deprecated: use reco.kinds.sizes(model).",
        DeprecationWarning,
        stacklevel=2,
    )
    return kinds.sizes(model)


def normalize_ratings(y, *, min_rating: float, max_rating: float) -> np.ndarray:
    """Map ratings in stars to ``[0, 1]``: ``(y - min_rating) / (max_rating - min_rating)``.

    Args:
        y: ratings in stars, any shape.
        min_rating: lowest rating of the scale.
        max_rating: highest rating of the scale.

    Returns:
        float32 array of the same shape.
    """
    min_rating, max_rating = check_range(min_rating, max_rating)
    y = np.asarray(y, dtype=np.float32)
    return ((y - min_rating) / (max_rating - min_rating)).astype(np.float32)


def denormalize_ratings(p, *, min_rating: float, max_rating: float) -> np.ndarray:
    """Map scores in ``[0, 1]`` back to stars: ``min_rating + p * (max_rating - min_rating)``.

    Args:
        p: normalized ratings, any shape.
        min_rating: lowest rating of the scale.
        max_rating: highest rating of the scale.

    Returns:
        float32 array of the same shape.
    """
    min_rating, max_rating = check_range(min_rating, max_rating)
    p = np.asarray(p, dtype=np.float32)
    return (min_rating + p * (max_rating - min_rating)).astype(np.float32)


# ------------------------------------------------------------------------ the contracts


def _table(model, name: str) -> np.ndarray:
    """Return an Embedding layer's table as float32 ``(rows, size)``."""
    return np.asarray(
        keras.ops.convert_to_numpy(model.get_layer(name).embeddings), dtype=np.float32
    )


class _RatingKind(kinds.ModelKind):
    """Facts shared by the functional rating models: ``[users, movies]`` in, stars out.

    Their layers are named ``"user_embedding"`` and ``"movie_embedding"`` (and
    ``"user_bias"``, ``"movie_bias"``, ``"to_stars"`` where they have them).
    """

    biases = False

    def sizes(self, model):
        return (
            int(model.get_layer("user_embedding").input_dim),
            int(model.get_layer("movie_embedding").input_dim),
        )

    def inputs(self, model, X, context=None):
        X = kinds.check_rows(X, *self.sizes(model))
        return [X[:, 0], X[:, 1]]

    def rating_range(self, model):
        layer = model.get_layer("to_stars")  # the scaled sigmoid's Rescaling layer
        return float(layer.offset), float(layer.offset) + float(layer.scale)

    def movie_factors(self, model):
        return _table(model, "movie_embedding")

    def movie_bias(self, model):
        return _table(model, "movie_bias").reshape(-1) if self.biases else None

    def metrics(self, model):
        return [StarsRMSE(1.0)]

    def fold_in(self, model, movies, stars, *, l2):
        """A ridge regression on the logit scale (:func:`reco.coldstart.ridge_fold_in`).

        For the kinds with biases, whose output is a sigmoid of ``u . m + b_u + b_m``.
        """
        if not self.biases:
            return super().fold_in(model, movies, stars, l2=l2)
        from reco.coldstart import ridge_fold_in

        return ridge_fold_in(
            self.movie_factors(model),
            self.movie_bias(model),
            movies,
            stars,
            self.rating_range(model),
            l2=l2,
        )

    def score_users(self, model, users, context=None):
        """Score with one matrix product of the embeddings (plus the biases).

        This is the score before the sigmoid, ``u . m + b_u + b_m``: the sigmoid
        is monotonic, so it ranks the movies exactly as the predicted stars do.
        """
        U, M = _table(model, "user_embedding")[users], _table(model, "movie_embedding")
        if self.biases:  # [u, b_u, 1] . [m, 1, b_m] = u . m + b_u + b_m, one product
            user_bias, movie_bias = _table(model, "user_bias"), _table(model, "movie_bias")
            U = np.hstack([U, user_bias[users], np.ones((len(users), 1), np.float32)])
            M = np.hstack([M, np.ones((len(M), 1), np.float32), movie_bias])
        return U @ M.T


@kinds.register
class V1Kind(_RatingKind):
    """V1: the dot product of a user and a movie embedding; unbounded stars."""

    name = "v1"
    label = "V1"

    def build(self, encoder=None, **kwargs):
        return build_v1(encoder, **kwargs)

    def rating_range(self, model):
        return None


@kinds.register
class V2Kind(_RatingKind):
    """V2: V1 plus user and movie biases, a sigmoid scaled to the rating range."""

    name = "v2"
    label = "V2"
    biases = True

    def build(self, encoder=None, **kwargs):
        return build_v2(encoder, **kwargs)


#: (users x movies) pairs per model call when RecommenderNet scores every movie.
_PAIRS_PER_CALL = 1 << 18


@kinds.register
class NetKind(_RatingKind):
    """RecommenderNet: concatenated embeddings through a small network (an MLP)."""

    name = "recommender_net"
    label = "RecommenderNet"

    def build(self, encoder=None, **kwargs):
        return build_net(encoder, **kwargs)

    def score_users(self, model, users, context=None):
        """Score by calling the model on every user-movie pair, in large batches.

        The output, the predicted stars, ranks the movies (no product shortcut:
        an MLP does not factorise).
        """
        return score_pairs(model, users, self.sizes(model)[1], lambda u, m: [u, m])


def score_pairs(model, users, n_movies: int, inputs) -> np.ndarray:
    """Score every movie for each user by calling a model on every pair, in large batches.

    For the models whose score does not factorise into a product of tables.

    Args:
        model: a Keras model.
        users: int array ``(n,)`` of user indices.
        n_movies: the movies to score, ``0..n_movies - 1``.
        inputs: ``inputs(user_rows, movie_rows)``, two int32 arrays of the same
            length, returns the model's input for those pairs.

    Returns:
        float32 array ``(n, n_movies)``: the model's output for each pair.
    """
    users = np.asarray(users)
    scores = np.empty((len(users), n_movies), dtype=np.float32)
    per_call = max(1, _PAIRS_PER_CALL // n_movies)
    movies = np.arange(n_movies, dtype=np.int32)
    for start in range(0, len(users), per_call):
        chunk = users[start : start + per_call].astype(np.int32)
        out = model(inputs(np.repeat(chunk, n_movies), np.tile(movies, len(chunk))), training=False)
        scores[start : start + len(chunk)] = keras.ops.convert_to_numpy(out).reshape(
            len(chunk), n_movies
        )
    return scores


@kinds.register
class NetV2Kind(_RatingKind):
    """RecommenderNetV2: subclassed, ``(n, 2)`` rows in, a sigmoid over normalised ratings out.

    It trains with binary cross-entropy on ratings normalised to ``[0, 1]``
    with the rating range stored in the model; its output maps back to stars.
    It scores every movie like V2, with one matrix product before the sigmoid.
    """

    name = "recommender_net_v2"
    label = "RecommenderNetV2"
    biases = True
    losses = {"binary_crossentropy": lambda model: "binary_crossentropy"}
    default_loss = "binary_crossentropy"

    def build(self, encoder=None, **kwargs):
        return build_net_v2(encoder, **kwargs)

    def sizes(self, model):
        return int(model.num_users), int(model.num_movies)

    def inputs(self, model, X, context=None):
        return kinds.check_rows(X, *self.sizes(model))

    def rating_range(self, model):
        return float(model.min_rating), float(model.max_rating)

    def targets(self, model, y, what="y"):
        lo, hi = self.rating_range(model)
        return normalize_ratings(super().targets(model, y, what), min_rating=lo, max_rating=hi)

    def to_stars(self, model, output):
        lo, hi = self.rating_range(model)
        return denormalize_ratings(output, min_rating=lo, max_rating=hi)

    def metrics(self, model):
        lo, hi = self.rating_range(model)
        return [StarsRMSE(hi - lo)]  # in stars, like the other models' rmse
