"""Train V2 touching only the rows a batch uses: a cost that grows with the batch, not the catalogue.

:func:`reco.train.fit` trains V2 the Keras way. Every step then costs as much
as the whole catalogue: the L2 penalty is on the whole tables (so its gradient
is dense), and Keras's Adam updates every row of every table. At ml-25m's
162,541 users and 59,047 movies that is tens of megabytes of work per batch of
2,048 ratings. :func:`fit_sparse` is the opt-in alternative, on the JAX backend
only: one jitted step, written in plain JAX over the model's tables (a user's
factors and bias form one row, likewise a movie's),

1. gathers the batch's user and movie rows (factors and biases);
2. predicts as V2 does, ``min + (max - min) * sigmoid(u . m + b_u + b_m)``;
3. takes the gradient of the squared error plus a **per-example** L2 penalty
   on the gathered rows, with respect to those rows only;
4. sums the gradients of a row that occurs several times in the batch
   (a segment sum over the batch's distinct rows), and
5. applies **lazy Adam** to those distinct rows only: their two moments and
   their step counts change, every other row and its optimizer state stay
   bit for bit as they were.

The model this trains is not quite the V2 of notebooks 01-09. Their L2 is on
the whole tables, once per step, so a movie nobody rated in the batch is still
shrunk. Here, as in the classic matrix-factorisation SGD (Funk; Koren, Bell and
Volinsky 2009), each rating adds ``l2 * (|u|^2 + |m|^2 + b_u^2 + b_m^2)`` for
its own user and movie, so a row is penalised in proportion to how often it is
rated, and its ``l2`` is on another scale (0.1 on ml-latest-small, not 1e-4):
choose it on the validation part. The trained tables are written back into the Keras model,
so :func:`reco.train.predict_ratings`, :func:`reco.train.rating_metrics` and
the rest of the package use it as any V2.

Lazy Adam keeps a step count per row, not one global count: Adam's bias
correction ``1 - beta^t`` makes up for moments that start at zero, and a row's
moments have been updated only as many times as the row was touched. With the
global count, a movie first rated at step 10,000 would get its first step
uncorrected, about three times the learning rate (``0.1 / sqrt(0.001)``);
with its own count its first step is the learning rate, as Adam's first step
is. (TensorFlow Addons' ``LazyAdam`` uses the global count.)

On a CPU the step is deterministic: the same model weights, data and seed
give the same losses, bit for bit. The seed drives the shuffling.
"""

from __future__ import annotations

import functools
import time

import keras
import numpy as np
import pandas as pd

from reco import kinds
from reco._checks import check_l2, positive_int
from reco.constants import SEED
from reco.train import require_jax, training_part

__all__ = [
    "SPARSE_L2",
    "SPARSE_LR",
    "check_sparse_model",
    "fit_sparse",
    "sparse_state",
    "write_back",
]

#: Per-example L2 penalty of :func:`fit_sparse`, on each rating's own rows. On
#: ml-latest-small's validation part, at 8 epochs and lr 1e-2, 0.1 beat 0, 1e-3,
#: 1e-2, 0.03, 0.05, 0.07, 0.15, 0.2 and 0.3 (val RMSE 0.845).
SPARSE_L2 = 0.1

#: Learning rate of the lazy Adam of :func:`fit_sparse`, at batches of 2,048.
SPARSE_LR = 1e-2

#: The tables of a V2 model that :func:`fit_sparse` trains, by layer name.
TABLES = ("user_embedding", "movie_embedding", "user_bias", "movie_bias")

#: The two sides of a rating, the keys of a :func:`sparse_state`.
SIDES = ("user", "movie")

#: Batches run per call into the compiled step (as ``steps_per_execution``).
STEPS_PER_CALL = 8

_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7  # Keras's Adam defaults


def check_sparse_model(model) -> tuple[float, float]:
    """Check that ``model`` can be trained by :func:`fit_sparse`; return its rating range.

    Raises:
        ValueError: the model is not a V2 (``model.name == "v2"``, built by
            :func:`reco.models.build_v2`).
        RuntimeError: Keras does not run on JAX.
    """
    kind = kinds.kind_of(model)
    names = {layer.name for layer in model.layers}
    if kind.name != "v2" or not names.issuperset(TABLES):
        raise ValueError(
            f"fit_sparse trains V2 (its layers {', '.join(TABLES)} and a scaled sigmoid); "
            f"got a {kind.name!r} model. Fix: build the model with reco.models.build_v2, or "
            "train this one with reco.train.fit."
        )
    require_jax("reco.sparse.fit_sparse", ", or train with reco.train.fit")
    return kind.rating_range(model)


def sparse_state(model) -> dict:
    """Return the training state of :func:`fit_sparse` for ``model``: its tables and a fresh lazy Adam.

    A user's factors and bias are one row of one table (the bias last), so a
    step gathers and scatters one row per user, and likewise per movie.

    Returns:
        a dict of JAX arrays keyed ``"user"`` and ``"movie"`` at the second level:
        ``"params"`` (float32 ``(n_users, n_factors + 1)`` and ``(n_movies,
        n_factors + 1)``: the embedding with the bias as last column), ``"m"``
        and ``"v"`` (Adam's moments, zeros of the same shapes) and ``"count"``
        (int32 ``(n_users,)`` and ``(n_movies,)``: each row's steps so far).
    """
    import jax.numpy as jnp

    check_sparse_model(model)
    params = {
        side: jnp.asarray(
            np.concatenate(
                [_weights(model, f"{side}_embedding"), _weights(model, f"{side}_bias")], 1
            )
        )
        for side in SIDES
    }
    return {
        "params": params,
        "m": {side: jnp.zeros_like(table) for side, table in params.items()},
        "v": {side: jnp.zeros_like(table) for side, table in params.items()},
        "count": {side: jnp.zeros(len(table), jnp.int32) for side, table in params.items()},
    }


def _weights(model, name: str) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model.get_layer(name).embeddings), np.float32)


def write_back(model, state: dict) -> None:
    """Write the tables of a :func:`fit_sparse` state into the model's four layers."""
    for side in SIDES:
        table = np.asarray(state["params"][side])
        model.get_layer(f"{side}_embedding").embeddings.assign(table[:, :-1])
        model.get_layer(f"{side}_bias").embeddings.assign(table[:, -1:])


def _examples(model, data, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return checked ``(users, movies, stars)`` of the training rows."""
    part = training_part(data, y, caller="fit_sparse")
    (users, movies), stars = kinds.kind_of(model).examples(model, part)
    return (
        np.asarray(users, np.int32),
        np.asarray(movies, np.int32),
        np.asarray(stars, np.float32),
    )


def _lazy_adam_rows(table, m, v, count, rows, grad, lr):
    """Apply one lazy Adam step to the distinct ``rows`` of one table (pads are dropped).

    ``rows`` holds distinct indices, padded with the table's length, which the
    gathers read as zeros and the scatters drop; ``count`` holds the rows' step
    counts after this step, ``(len(rows),)``.
    """
    import jax.numpy as jnp

    g_m = m.at[rows].get(mode="fill", fill_value=0.0)
    g_v = v.at[rows].get(mode="fill", fill_value=0.0)
    new_m = _BETA_1 * g_m + (1 - _BETA_1) * grad
    new_v = _BETA_2 * g_v + (1 - _BETA_2) * grad * grad
    t = jnp.maximum(count, 1).astype(jnp.float32)[:, None]
    m_hat = new_m / (1 - _BETA_1**t)
    v_hat = new_v / (1 - _BETA_2**t)
    step = -lr * m_hat / (jnp.sqrt(v_hat) + _EPSILON)
    return (
        table.at[rows].add(step, mode="drop"),
        m.at[rows].set(new_m, mode="drop"),
        v.at[rows].set(new_v, mode="drop"),
    )


@functools.lru_cache(maxsize=8)
def _make_step(min_rating: float, max_rating: float, n_users: int, n_movies: int):
    """Return the jitted function that runs a chunk of batches: ``(state, batches) -> state, sums``."""
    import jax
    import jax.numpy as jnp

    span = max_rating - min_rating

    def batch_loss(rows, stars, weight, l2):
        u, m = rows  # (batch, n_factors + 1) each: the factors, then the bias
        logit = jnp.sum(u[:, :-1] * m[:, :-1], axis=1) + u[:, -1] + m[:, -1]
        pred = min_rating + span * jax.nn.sigmoid(logit)
        squared = (pred - stars) ** 2
        penalty = l2 * (jnp.sum(u * u, axis=1) + jnp.sum(m * m, axis=1))
        n = jnp.maximum(jnp.sum(weight), 1.0)
        loss = jnp.sum(weight * (squared + penalty)) / n
        return loss, (jnp.sum(weight * squared), jnp.sum(weight * (squared + penalty)))

    def one_step(state, batch, lr, l2):
        users, movies, stars, weight = batch
        index = {"user": users, "movie": movies}
        size = {"user": n_users, "movie": n_movies}
        rows = tuple(
            state["params"][side].at[index[side]].get(mode="fill", fill_value=0.0) for side in SIDES
        )
        grads, (sq, total) = jax.grad(batch_loss, has_aux=True)(rows, stars, weight, l2)
        new = {k: dict(state[k]) for k in ("params", "m", "v", "count")}
        batch_size = users.shape[0]
        for side, g in zip(SIDES, grads, strict=True):
            # The batch's distinct rows; a row seen k times gets the sum of its k gradients.
            distinct, where = jnp.unique(
                index[side], size=batch_size, fill_value=size[side], return_inverse=True
            )
            summed = jnp.zeros_like(g).at[where.reshape(-1)].add(g)
            count = state["count"][side].at[distinct].add(1, mode="drop")
            steps = count.at[distinct].get(mode="fill", fill_value=0)
            new["count"][side] = count
            new["params"][side], new["m"][side], new["v"][side] = _lazy_adam_rows(
                state["params"][side], state["m"][side], state["v"][side],
                steps, distinct, summed, lr,
            )  # fmt: skip
        return new, jnp.stack([sq, total, jnp.sum(weight)])

    def run(state, batches, lr, l2):
        return jax.lax.scan(lambda c, b: one_step(c, b, lr, l2), state, batches)

    return jax.jit(run, donate_argnums=(0,))


def _chunks(users, movies, stars, order, batch_size, n_users, n_movies):
    """Yield the epoch's batches in chunks of :data:`STEPS_PER_CALL`, the last one padded.

    Padding rows point one past the tables (dropped by the step) with weight 0.
    """
    n = len(order)
    per_chunk = batch_size * STEPS_PER_CALL
    for start in range(0, n, per_chunk):
        idx = order[start : start + per_chunk]
        pad = per_chunk - len(idx)
        u, m, s = users[idx], movies[idx], stars[idx]
        w = np.ones(len(idx), np.float32)
        if pad:
            u = np.concatenate([u, np.full(pad, n_users, np.int32)])
            m = np.concatenate([m, np.full(pad, n_movies, np.int32)])
            s = np.concatenate([s, np.zeros(pad, np.float32)])
            w = np.concatenate([w, np.zeros(pad, np.float32)])
        shape = (STEPS_PER_CALL, batch_size)
        yield u.reshape(shape), m.reshape(shape), s.reshape(shape), w.reshape(shape)


def fit_sparse(
    model,
    data,
    y=None,
    *,
    epochs: int = 8,
    batch_size: int = 2048,
    lr: float = SPARSE_LR,
    l2: float = SPARSE_L2,
    seed: int = SEED,
    state: dict | None = None,
) -> pd.DataFrame:
    """Train a V2 model with per-example L2 and lazy Adam on the rows each batch touches.

    Needs the JAX backend. It starts from the model's current weights with a
    fresh lazy Adam (or from ``state``), shuffles the rows each epoch from
    ``seed``, and writes the trained tables back into the model. See the module
    docstring for how its L2 differs from :func:`reco.models.build_v2`'s.

    Args:
        model: a V2 model (:func:`reco.models.build_v2`); its own ``l2`` is ignored.
        data: a :class:`reco.split.Split` (its train part is used), or an int
            array ``X`` of shape ``(n, 2)`` with ``[user, movie]`` rows.
        y: float ratings in stars of shape ``(n,)``, when ``data`` is ``X``.
        epochs: passes over the training rows.
        batch_size: ratings per step.
        lr: lazy Adam's learning rate.
        l2: per-example penalty on each rating's user and movie rows (``0`` for none).
        seed: seed of the shuffling.
        state: a state from :func:`sparse_state` (or ``history.attrs["state"]``)
            to continue from; default: a fresh one from the model. It is consumed.

    Returns:
        a DataFrame indexed by ``epoch`` from 1 with ``loss`` (mean squared
        error plus the penalty, squared stars), ``rmse`` (training RMSE in stars,
        averaged over the epoch as the weights change), ``seconds`` (wall time,
        compilation included in epoch 1) and ``ratings/s``; ``attrs["state"]``
        holds the final training state.

    Raises:
        RuntimeError: the backend is not JAX.
        ValueError: the model is not a V2, or bad rows, ratings or settings.
    """
    import jax
    import jax.numpy as jnp

    min_rating, max_rating = check_sparse_model(model)
    epochs = positive_int(epochs, "epochs", "for example epochs=8")
    batch_size = positive_int(batch_size, "batch_size", "for example batch_size=2048")
    l2 = check_l2(l2)
    lr = float(lr)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite positive learning rate; got {lr!r}. Fix: lr=1e-2.")
    users, movies, stars = _examples(model, data, y)
    n_users, n_movies = kinds.sizes(model)
    state = sparse_state(model) if state is None else state
    step = _make_step(min_rating, max_rating, n_users, n_movies)
    rng = np.random.default_rng(seed)
    lr_, l2_ = jnp.float32(lr), jnp.float32(l2)
    rows = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(len(stars))
        sums = []
        for chunk in _chunks(users, movies, stars, order, batch_size, n_users, n_movies):
            state, out = step(state, tuple(jnp.asarray(a) for a in chunk), lr_, l2_)
            sums.append(out)
        sq, total, n = np.asarray(jnp.sum(jnp.concatenate(sums), axis=0), dtype=np.float64)
        jax.block_until_ready(state)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "loss": total / n,
                "rmse": np.sqrt(sq / n),
                "seconds": seconds,
                "ratings/s": len(stars) / seconds,
            }
        )
    write_back(model, state)
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    frame.attrs["state"] = state
    return frame
