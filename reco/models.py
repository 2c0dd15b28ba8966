"""Build the course's four collaborative-filtering models in Keras.

The course teaches them in this order:

1. :func:`build_v1` -- the dot product of a user and a movie embedding.
2. :func:`build_v2` -- V1 plus a bias per user and per movie, squashed by a
   sigmoid and scaled to the rating range.
3. :func:`build_net` -- "RecommenderNet": the two embeddings concatenated and
   fed to a small dense network.
4. :class:`RecommenderNetV2` (built and compiled by :func:`build_net_v2`) -- a
   subclassed ``keras.Model`` with biases, trained with binary cross-entropy
   on ratings normalized to ``[0, 1]``.

Every model uses built-in Keras layers only (no ``Lambda``), or is registered
with Keras, so it saves to a ``.keras`` file and loads with
``keras.models.load_model(path)`` in safe mode after ``import reco``.

Layers are named ``"user_embedding"``, ``"movie_embedding"``, ``"user_bias"``
and ``"movie_bias"``, so notebooks can fetch the learned factors and biases
with ``model.get_layer(name).get_weights()[0]``.

The functional models take ``[users, movies]``: two integer arrays of shape
``(n,)`` or ``(n, 1)``. :class:`RecommenderNetV2` takes one integer array of
shape ``(n, 2)`` holding ``[user, movie]`` rows. All four return a float32
array of shape ``(n, 1)``. :func:`reco.train.to_inputs` converts between the
two input layouts.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from reco.constants import MAX_RATING, MIN_RATING

__all__ = [
    "BatchSummingRecommenderNet",
    "RecommenderNetV2",
    "StarsRMSE",
    "batch_summing_dot",
    "build_net",
    "build_net_v2",
    "build_v1",
    "build_v2",
    "per_example_dot",
]

#: L2 penalty on embedding weights, as in the original course.
EMBEDDING_L2 = 1e-6


def _check_sizes(
    n_users, n_movies, n_factors, *, users="n_users", movies="n_movies", factors="n_factors"
) -> None:
    for name, value in ((users, n_users), (movies, n_movies), (factors, n_factors)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if int(value) < 1:
            hint = (
                "pass encoder.n_users / encoder.n_movies from reco.split.encode_ids"
                if name != factors
                else "use a positive embedding size such as 50"
            )
            raise ValueError(f"{name} must be at least 1; got {value}. Fix: {hint}.")


def _check_range(min_rating, max_rating) -> None:
    if not float(min_rating) < float(max_rating):
        raise ValueError(
            f"min_rating must be less than max_rating; got min_rating={min_rating}, "
            f"max_rating={max_rating}. Fix: pass the rating scale's lowest and highest values "
            f"(MovieLens: {MIN_RATING} and {MAX_RATING})."
        )


def _check_compile(lr, steps_per_execution) -> None:
    if not float(lr) > 0:
        raise ValueError(f"lr must be a positive learning rate; got {lr}.")
    if int(steps_per_execution) < 1:
        raise ValueError(f"steps_per_execution must be at least 1; got {steps_per_execution}.")


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


def _embedding(n, size, name, *, initializer="he_normal", l2=EMBEDDING_L2):
    return layers.Embedding(
        n,
        size,
        embeddings_initializer=initializer,
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


def _compile(model, loss, *, lr, jit_compile, steps_per_execution, scale=1.0):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=loss,
        metrics=[StarsRMSE(scale)],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


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
    x = layers.Activation("sigmoid", name="sigmoid")(x)
    return layers.Rescaling(
        scale=float(max_rating) - float(min_rating), offset=float(min_rating), name="to_stars"
    )(x)


def build_v1(
    n_users: int,
    n_movies: int,
    n_factors: int = 50,
    *,
    lr: float = 1e-3,
    l2: float = EMBEDDING_L2,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Build and compile V1: the dot product of a user and a movie embedding.

    The output is unbounded; nothing keeps it inside the rating range and the
    model has no biases, which is why it overfits (the notebooks show it).

    Args:
        n_users: number of users (rows of the user embedding), at least 1.
        n_movies: number of movies (rows of the movie embedding), at least 1.
        n_factors: embedding size, at least 1.
        lr: Adam learning rate.
        l2: L2 penalty on the embeddings (``0`` for none).
        jit_compile: compile the train step with XLA.
        steps_per_execution: batches run per call into the compiled graph.

    Returns:
        a compiled ``keras.Model`` (mean squared error, ``rmse`` metric) mapping ``[users, movies]``
        (two int arrays of shape ``(n,)`` or ``(n, 1)``) to predicted stars,
        float32 of shape ``(n, 1)``.

    Raises:
        ValueError: a size is not a positive integer.
    """
    _check_sizes(n_users, n_movies, n_factors)
    _check_compile(lr, steps_per_execution)
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    out = layers.Dot(axes=1, name="dot")([u, m])
    model = keras.Model([users, movies], out, name="v1")
    return _compile(
        model,
        "mean_squared_error",
        lr=lr,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )


def build_v2(
    n_users: int,
    n_movies: int,
    n_factors: int = 50,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    *,
    lr: float = 1e-3,
    l2: float = EMBEDDING_L2,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Build and compile V2: V1 plus user and movie biases, scaled to the rating range.

    ``stars = min_rating + (max_rating - min_rating) * sigmoid(u . m + b_u + b_m)``.

    Args:
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.
        lr: Adam learning rate.
        l2: L2 penalty on the embeddings and biases (``0`` for none).
        jit_compile: compile the train step with XLA.
        steps_per_execution: batches run per call into the compiled graph.

    Returns:
        a compiled ``keras.Model`` (mean squared error, ``rmse`` metric) mapping ``[users, movies]``
        to predicted stars, float32 of shape ``(n, 1)`` inside
        ``[min_rating, max_rating]``.

    Raises:
        ValueError: a size is not a positive integer, or ``min_rating >= max_rating``.
    """
    _check_sizes(n_users, n_movies, n_factors)
    _check_range(min_rating, max_rating)
    _check_compile(lr, steps_per_execution)
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    dot = layers.Dot(axes=1, name="dot")([u, m])
    ub = layers.Flatten(name="user_bias_flat")(_embedding(n_users, 1, "user_bias", l2=l2)(users))
    mb = layers.Flatten(name="movie_bias_flat")(
        _embedding(n_movies, 1, "movie_bias", l2=l2)(movies)
    )
    x = layers.Add(name="add_biases")([dot, ub, mb])
    out = _scaled_sigmoid(x, min_rating, max_rating)
    model = keras.Model([users, movies], out, name="v2")
    return _compile(
        model,
        "mean_squared_error",
        lr=lr,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )


def build_net(
    n_users: int,
    n_movies: int,
    n_factors: int = 50,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    *,
    lr: float = 1e-3,
    l2: float = EMBEDDING_L2,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    dropout: tuple[float, float] = (0.05, 0.5),
    hidden_units: int = 10,
) -> keras.Model:
    """Build and compile RecommenderNet: concatenated embeddings through a small network.

    Layers: Concatenate -> Dropout(0.05) -> Dense(10, relu) -> Dropout(0.5) ->
    Dense(1) -> sigmoid -> scaled to ``[min_rating, max_rating]``.
    ``dropout`` and ``hidden_units`` change the two rates and the hidden size
    (notebook 04's exercises); ``dropout=(0, 0)`` turns dropout off.

    Args:
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        min_rating: lowest rating; must be less than ``max_rating``.
        max_rating: highest rating.
        lr: Adam learning rate.
        l2: L2 penalty on the embeddings (``0`` for none).
        jit_compile: compile the train step with XLA.
        steps_per_execution: batches run per call into the compiled graph.
        dropout: ``(rate on the concatenated embeddings, rate on the hidden
            units)``, each in ``[0, 1)``.
        hidden_units: size of the hidden ``Dense`` layer, at least 1.

    Returns:
        a compiled ``keras.Model`` (mean squared error, ``rmse`` metric) mapping ``[users, movies]``
        to predicted stars, float32 of shape ``(n, 1)`` inside
        ``[min_rating, max_rating]``.

    Raises:
        ValueError: a size is not a positive integer, ``min_rating >= max_rating``,
            or ``dropout`` is not two rates in ``[0, 1)``.
    """
    _check_sizes(n_users, n_movies, n_factors)
    if isinstance(hidden_units, bool) or not hasattr(hidden_units, "__index__") or hidden_units < 1:
        raise ValueError(
            f"hidden_units must be a positive integer, such as 10; got {hidden_units!r}."
        )
    _check_range(min_rating, max_rating)
    _check_compile(lr, steps_per_execution)
    rate_in, rate_hidden = _check_dropout(dropout)
    users, movies = _inputs()
    u, m = _factors(users, movies, n_users, n_movies, n_factors, l2)
    x = layers.Concatenate(name="concat")([u, m])
    x = layers.Dropout(rate_in, name="dropout_in")(x)
    x = layers.Dense(
        int(hidden_units), activation="relu", kernel_initializer="he_normal", name="hidden"
    )(x)
    x = layers.Dropout(rate_hidden, name="dropout_hidden")(x)
    x = layers.Dense(1, kernel_initializer="he_normal", name="score")(x)
    out = _scaled_sigmoid(x, min_rating, max_rating)
    model = keras.Model([users, movies], out, name="recommender_net")
    return _compile(
        model,
        "mean_squared_error",
        lr=lr,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )


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
    train it with binary cross-entropy on ``(r - min_rating) / (max_rating -
    min_rating)`` (see :func:`reco.train.normalize_ratings`) and map
    predictions back to stars with :func:`reco.train.predict_ratings`.

    Args:
        num_users: number of users, at least 1.
        num_movies: number of movies, at least 1.
        embedding_size: embedding size, at least 1.
        l2: L2 penalty on the two embeddings (``0`` for none); the biases
            are not penalized, as in the Keras example.

    Call:
        ``model(X)`` with ``X`` an int array of shape ``(n, 2)`` holding
        ``[user, movie]`` rows; returns float32 of shape ``(n, 1)`` in ``[0, 1]``.
    """

    def __init__(self, num_users, num_movies, embedding_size=50, l2=EMBEDDING_L2, **kwargs):
        _check_sizes(
            num_users,
            num_movies,
            embedding_size,
            users="num_users",
            movies="num_movies",
            factors="embedding_size",
        )
        super().__init__(**kwargs)
        self.num_users = int(num_users)
        self.num_movies = int(num_movies)
        self.embedding_size = int(embedding_size)
        self.l2 = float(l2)
        self.user_embedding = _embedding(num_users, embedding_size, "user_embedding", l2=l2)
        self.user_bias = layers.Embedding(num_users, 1, name="user_bias")
        self.movie_embedding = _embedding(num_movies, embedding_size, "movie_embedding", l2=l2)
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
    n_users: int,
    n_movies: int,
    n_factors: int = 50,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    *,
    lr: float = 1e-3,
    l2: float = EMBEDDING_L2,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    model_cls: type[RecommenderNetV2] = RecommenderNetV2,
) -> RecommenderNetV2:
    """Build, build weights and compile a :class:`RecommenderNetV2` (binary cross-entropy).

    Args:
        n_users: number of users, at least 1.
        n_movies: number of movies, at least 1.
        n_factors: embedding size, at least 1.
        min_rating: lowest rating; must be less than ``max_rating``. Used only
            by the ``rmse`` metric, which reports stars.
        max_rating: highest rating.
        lr: Adam learning rate.
        l2: L2 penalty on the embeddings (``0`` for none).
        jit_compile: compile the train step with XLA.
        steps_per_execution: batches run per call into the compiled graph.
        model_cls: the class to build; only the pitfall notebook passes
            :class:`BatchSummingRecommenderNet`.

    Returns:
        a compiled (``rmse`` metric in stars), built model mapping an ``(n, 2)`` int array to ``(n, 1)``
        float32 scores in ``[0, 1]``; targets must be normalized ratings.

    Raises:
        ValueError: a size is not a positive integer, or ``min_rating >= max_rating``.
    """
    _check_sizes(n_users, n_movies, n_factors)
    _check_range(min_rating, max_rating)
    _check_compile(lr, steps_per_execution)
    model = model_cls(n_users, n_movies, n_factors, l2=l2, name="recommender_net_v2")
    model.build((None, 2))
    return _compile(
        model,
        "binary_crossentropy",
        lr=lr,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        scale=float(max_rating) - float(min_rating),
    )
