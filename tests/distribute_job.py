"""Train V2 under Keras's distributions, for ``test_distribute.py``; prints one JSON line.

Run by the tests in a fresh process on the JAX backend, with CPU devices made
by ``XLA_FLAGS`` before JAX starts (the pytest process runs TensorFlow):

* ``python tests/distribute_job.py devices``: on 4 devices, V2 trained with
  :func:`reco.train.fit` on 1 device without a distribution, and under
  ``DataParallel`` and ``ModelParallel`` on 1, 2 and 4 devices; which rows
  each device holds; and the reference of the two-process test.
* ``python tests/distribute_job.py process ID 2 PORT``: process ``ID`` of
  two on 127.0.0.1, each with one device, training V2 together.
"""

from __future__ import annotations

import json
import sys
import time

import keras
import numpy as np

from reco import distribute, kinds, train
from reco.synthetic import synthetic_ratings

#: Tiny synthetic ratings; 300 and 200 rows split evenly into 2 and 4 shards.
N_USERS, N_MOVIES, N_RATINGS = 300, 200, 5_000
#: 10 batches of 500 an epoch: every batch splits evenly over 1, 2 and 4 devices.
CONFIG = train.TrainConfig(batch_size=500, epochs=2, lr=1e-2, steps_per_execution=5)
BUILD = {"n_factors": 8}


def ratings() -> tuple[np.ndarray, np.ndarray]:
    """Return ``[user, movie]`` index rows and stars, shuffled once with a fixed seed."""
    frame = synthetic_ratings(N_RATINGS, n_users=N_USERS, n_movies=N_MOVIES)
    X = np.column_stack([frame["userId"] - 1, frame["movieId"] - 1]).astype(np.int32)
    order = np.random.default_rng(0).permutation(len(X))
    return X[order], frame["rating"].to_numpy(np.float32)[order]


def fit(distribution, X, y, *, n_shards=1, batch_size=CONFIG.batch_size, shuffle=True):
    """Train V2 from the seed under ``distribution``; return ``(losses per epoch, model)``.

    With ``shuffle`` it is :func:`reco.train.fit`; without, the same compile and
    Keras's ``fit`` on the rows in the order given (as the processes need).
    """
    keras.distribution.set_distribution(distribution)
    try:
        train.set_seed()
        model = distribute.build_v2_sharded(n_shards, n_users=N_USERS, n_movies=N_MOVIES, **BUILD)
        if shuffle:
            return train.fit(model, X, y, config=CONFIG)["loss"].tolist(), model
        train.compile_model(model, CONFIG)
        history = model.fit(
            train.to_inputs(model, X), y, batch_size=batch_size, epochs=CONFIG.epochs,
            shuffle=False, verbose=0,
        )  # fmt: skip
        return history.history["loss"], model
    finally:
        keras.distribution.set_distribution(None)


def devices() -> dict:
    """The single-process cases, on the 4 devices the process was started with."""
    X, y = ratings()
    names = keras.distribution.list_devices()
    losses, seconds = {}, {}
    runs = {
        "1 device": (None, 1),
        "data_parallel 1": (distribute.data_parallel(names[:1]), 1),
        "data_parallel 2": (distribute.data_parallel(names[:2]), 1),
        "data_parallel 4": (distribute.data_parallel(), 1),
        "model_parallel 2 of 2": (distribute.model_parallel(2, names[:2]), 2),
        "model_parallel 4 of 4": (distribute.model_parallel(4), 4),
        "model_parallel 2 of 4": (distribute.model_parallel(2), 2),  # a 2 x 2 mesh
    }
    for name, (distribution, n_shards) in runs.items():
        start = time.perf_counter()
        losses[name], model = fit(distribution, X, y, n_shards=n_shards)
        seconds[name] = time.perf_counter() - start
        if name == "model_parallel 4 of 4":
            rows = distribute.table_rows(model)
            moments = {
                v.path: distribute.rows_per_device(v)
                for v in model.optimizer.variables
                if "user_embedding" in v.path
            }
        if name == "model_parallel 2 of 4":
            rows_2x2 = distribute.table_rows(model)

    # Tables that need padding: 301 users and 199 movies over 4 devices.
    keras.distribution.set_distribution(distribute.model_parallel(4))
    try:
        train.set_seed()
        padded = distribute.build_v2_sharded(4, n_users=301, n_movies=199, **BUILD)
        train.fit(padded, X, y, config=CONFIG)
        padding = {
            name: float(np.abs(padded.get_layer(name).get_weights()[0][real:]).max())
            for name, real in (("user_embedding", 301), ("user_bias", 301),
                               ("movie_embedding", 199), ("movie_bias", 199))
        }  # fmt: skip
        padded_rows = distribute.table_rows(padded)
    finally:
        keras.distribution.set_distribution(None)

    # The two-process test's reference: one process, one device, the batches in order.
    reference, _ = fit(None, X, y, shuffle=False)
    return {
        "devices": names,
        "losses": losses,
        "seconds": seconds,
        "rows": rows,
        "moments": moments,
        "rows 2x2": rows_2x2,
        "padded": {
            "sizes": list(kinds.sizes(padded)),
            "rows": padded_rows,
            "largest padding": padding,
        },
        "in order": reference,
    }


def process(process_id: int, num_processes: int, port: int) -> dict:
    """One of ``num_processes`` processes training V2 together, each on its one device."""
    keras.distribution.initialize(f"127.0.0.1:{port}", num_processes, process_id)
    X, y = ratings()
    mine = distribute.process_rows(len(X), CONFIG.batch_size)
    data_parallel, _ = fit(
        distribute.data_parallel(auto_shard_dataset=False),
        X[mine], y[mine], batch_size=CONFIG.batch_size // num_processes, shuffle=False,
    )  # fmt: skip
    # One table split over the processes: every process feeds the whole batch.
    model_parallel, model = fit(
        distribute.model_parallel(num_processes, auto_shard_dataset=False),
        X, y, n_shards=num_processes, shuffle=False,
    )  # fmt: skip
    return {
        "process": process_id,
        "devices": keras.distribution.list_devices(),
        "data_parallel": data_parallel,
        "model_parallel": model_parallel,
        "rows": distribute.table_rows(model),
    }


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        answer = devices()
    else:
        answer = process(*map(int, sys.argv[2:5]))
    print(json.dumps(answer))
