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
array of shape ``(n, 1)``. :func:`reco.train.to_inputs` arranges ``(n, 2)``
rows for any of them.
"""

from __future__ import annotations

import operator

import keras
from keras import layers, ops

from reco.constants import MAX_RATING, MIN_RATING

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
    "embedding_sizes",
    "per_example_dot",
    "rating_range",
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
#: gradients and Adam's two moments, float32); bigger models are refused.
MAX_TRAINING_BYTES = 4 * 1024**3


def _positive_int(value, name: str, hint: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a positive integer; got {value!r}. Fix: {hint}.")
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}. Fix: {hint}.")
    return int(value)


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
    return _positive_int(n_users, "n_users", hint), _positive_int(n_movies, "n_movies", hint)


def _check_memory(n_users: int, n_movies: int, n_factors: int) -> None:
    needed = (n_users + n_movies) * n_factors * 4 * 4  # float32; weights, grads, 2 moments
    if needed > MAX_TRAINING_BYTES:
        raise ValueError(
            f"n_factors={n_factors:,} for {n_users:,} users and {n_movies:,} movies needs about "
            f"{needed / 1024**3:,.1f} GiB to train (weights, gradients and Adam's moments), "
            f"over the {MAX_TRAINING_BYTES / 1024**3:.0f} GiB this package allows. Fix: use "
            "tens to a few hundred factors (the course uses 50)."
        )


def _architecture(encoder, n_users, n_movies, n_factors) -> tuple[int, int, int]:
    n_users, n_movies = _sizes(encoder, n_users, n_movies)
    n_factors = _positive_int(n_factors, "n_factors", "use an embedding size such as 50")
    _check_memory(n_users, n_movies, n_factors)
    return n_users, n_movies, n_factors


def _check_range(min_rating, max_rating) -> tuple[float, float]:
    if not float(min_rating) < float(max_rating):
        raise ValueError(
            f"min_rating must be less than max_rating; got min_rating={min_rating}, "
            f"max_rating={max_rating}. Fix: pass the rating scale's lowest and highest values "
            f"(MovieLens: {MIN_RATING} and {MAX_RATING})."
        )
    return float(min_rating), float(max_rating)


def _check_l2(l2) -> float:
    if not float(l2) >= 0:
        raise ValueError(f"l2 must be zero or positive; got {l2!r}. Fix: for example l2=1e-4.")
    return float(l2)


def _check_dropout(dropout) -> tuple[float, float]:
    try:
        rates = tuple(float(r) for r in dropout)
    except (TypeError, ValueError):
        rates = ()
    if len(rates) != 2 or not all(0.0 <= r < 1.0 for r in rates):
        raise ValueError(
            f"dropout must be two rates in [0, 1), (input, hidden); got {dropout!r}. "
            "Fix: for example dropout=(0.05, 0.5), or dropout=(0, 0) for none."
        )
    return rates


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
    n_users, n_movies, n_factors = _architecture(encoder, n_users, n_movies, n_factors)
    l2 = _check_l2(l2)
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
    n_users, n_movies, n_factors = _architecture(encoder, n_users, n_movies, n_factors)
    min_rating, max_rating = _check_range(min_rating, max_rating)
    l2 = _check_l2(l2)
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
    dropout: tuple[float, float] = (0.05, 0.5),
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
        dropout: ``(rate on the concatenated embeddings, rate on the hidden
            units)``, each in ``[0, 1)``; ``(0, 0)`` turns dropout off.
        hidden_units: size of the hidden ``Dense`` layer, at least 1.

    Returns:
        an uncompiled ``keras.Model`` mapping ``[users, movies]`` to predicted
        stars, float32 of shape ``(n, 1)`` inside ``[min_rating, max_rating]``.

    Raises:
        ValueError: a size is not a positive integer, ``min_rating >= max_rating``,
            ``dropout`` is not two rates in ``[0, 1)``, or the model would not fit in memory.
    """
    n_users, n_movies, n_factors = _architecture(encoder, n_users, n_movies, n_factors)
    hidden_units = _positive_int(hidden_units, "hidden_units", "for example hidden_units=10")
    min_rating, max_rating = _check_range(min_rating, max_rating)
    l2 = _check_l2(l2)
    rate_in, rate_hidden = _check_dropout(dropout)
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
    The Keras example calls this model ``RecommenderNet``.

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
        num_users, num_movies, embedding_size = _architecture(
            None, num_users, num_movies, embedding_size
        )
        self.min_rating, self.max_rating = _check_range(min_rating, max_rating)
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.l2 = _check_l2(l2)
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
        name="recommender_net_v2",
    )
    model.build((None, 2))
    return model


def rating_range(model) -> tuple[float, float] | None:
    """Return the ``(min_rating, max_rating)`` a course model was built with.

    Args:
        model: a model from this module (or one loaded from a ``.keras`` file).

    Returns:
        the range stored in the model's config: RecommenderNetV2's own, or the
        scaled sigmoid's (``"to_stars"`` layer) of V2 and RecommenderNet;
        ``None`` for V1, whose output is unbounded.
    """
    if isinstance(model, RecommenderNetV2):
        return model.min_rating, model.max_rating
    try:
        layer = model.get_layer("to_stars")
    except ValueError:
        return None
    return float(layer.offset), float(layer.offset) + float(layer.scale)


def embedding_sizes(model) -> tuple[int, int]:
    """Return ``(n_users, n_movies)``: the number of rows of a model's two embeddings.

    For the implicit model of :mod:`reco.implicit`, ``n_movies`` is the number
    of logits, one per movie of the catalogue.

    Raises:
        ValueError: the model has no ``"user_embedding"`` and ``"movie_embedding"`` layers.
    """
    try:
        users = model.get_layer("user_embedding")
        if any(layer.name == "movie_scores" for layer in model.layers):  # reco.implicit
            return int(users.input_dim), int(model.get_layer("movie_scores").units)
        movies = model.get_layer("movie_embedding")
    except ValueError:
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} has no 'user_embedding' and "
            "'movie_embedding' layers. Fix: pass a model from reco.models."
        ) from None
    return int(users.input_dim), int(movies.input_dim)
