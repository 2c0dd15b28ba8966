"""Measure V2's training speed at ml-25m's table sizes: Keras's dense path vs reco.sparse.

Run ``python tools/bench_scale.py --quick`` (0.1M and 1M ratings) or without
``--quick`` (0.1M, 1M, 5M and 25M; generating 25M ratings takes 2 GB and
minutes: 522 s on a busy 2-core machine), or ``--sizes 100000 5000000``. The ratings are :func:`reco.synthetic.synthetic_ratings`, drawn
once, with ml-25m's 162,541 users and 59,047 movies: the model's tables have
ml-25m's size whatever the number of ratings. Each installed Keras backend
runs in its own process (``KERAS_BACKEND``), and measures at batches of 2,048:

* ``dense``: :func:`reco.train.fit` (Keras's Adam, L2 on the whole tables,
  16 batches per graph call), the course's V2 at ml-25m's size;
* ``sparse``: :func:`reco.sparse.fit_sparse` (lazy Adam on the batch's rows,
  per-example L2), JAX only.

Each setting trains two epochs and reports the second: ``ratings/s`` is its
ratings over its wall time, ``epoch s`` the time of an epoch over all the
ratings. A setting with more than ``--dense-steps`` (dense) or
``--sparse-steps`` (sparse) batches is trained on that many batches of a random
sample of the ratings (with the full tables) and its epoch time extrapolated
from them; the table marks it ``extrapolated``. Then V2 on ml-latest-small
(course split, the course's 8 epochs): dense at the course defaults on every
backend, and sparse on JAX, with ratings/s over epochs 2-8 and test RMSE.

The machine's load changes the timings (a CI run may share it): repeat a run
before trusting a difference of less than about 20%.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2048
FULL_SIZES = (100_000, 1_000_000, 5_000_000, 25_000_000)
QUICK_SIZES = FULL_SIZES[:2]
BACKENDS = ("jax", "tensorflow", "torch")


def _installed() -> list[str]:
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def _sample(n: int, steps: int, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Return the rows to train on: all ``n``, or a random ``steps`` batches of them."""
    if n <= steps * BATCH:
        return np.arange(n), False
    return np.sort(np.random.default_rng(seed).choice(n, steps * BATCH, replace=False)), True


def _dense(X, y, n_users, n_movies, seed=0) -> float:
    """Return the seconds of the second epoch of Keras's V2 on ``X, y``."""
    from bench import _EpochTimer  # tools/bench.py, beside this script; it imports Keras

    from reco import models, train

    train.set_seed(seed)
    model = models.build_v2(n_users=n_users, n_movies=n_movies)
    config = train.TrainConfig(batch_size=BATCH, epochs=2, lr=1e-2, steps_per_execution=16)
    timer = _EpochTimer()
    train.fit(model, X, y, config=config, callbacks=[timer])
    return timer.seconds[1]


def _sparse(X, y, n_users, n_movies, seed=0) -> float:
    """Return the seconds of the second epoch of reco.sparse's V2 on ``X, y``."""
    from reco import models, sparse, train

    train.set_seed(seed)
    model = models.build_v2(n_users=n_users, n_movies=n_movies)
    history = sparse.fit_sparse(model, X, y, epochs=2, batch_size=BATCH, seed=seed)
    return float(history["seconds"].iloc[1])


def _small(backend: str) -> list[dict]:
    """Time V2 on ml-latest-small's course split: dense at the course defaults, and sparse."""
    from reco import data, models, sparse, train
    from reco.split import course_split, encode_ids

    encoded, encoder = encode_ids(data.load_ratings())
    split = course_split(encoded)
    n = len(split.y_train)
    rows = []
    train.set_seed()
    model = models.build_v2(encoder)
    seconds = []

    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    train.fit(model, split, config=train.COURSE_DEFAULTS, callbacks=[Timer()])
    rows.append(_small_row(backend, "dense", n, seconds, train.rating_metrics(model, split)))
    if backend == "jax":
        train.set_seed()
        model = models.build_v2(encoder)
        history = sparse.fit_sparse(model, split, epochs=train.COURSE_DEFAULTS.epochs)
        scores = train.rating_metrics(model, split)
        rows.append(_small_row(backend, "sparse", n, list(history["seconds"]), scores))
    return rows


def _small_row(backend, path, n, seconds, scores) -> dict:
    later = seconds[1:]
    return {
        "backend": backend,
        "path": path,
        "ratings/s 2+": n * len(later) / sum(later),
        "epoch s": sum(later) / len(later),
        "test RMSE": scores["rmse"],
    }


def worker(args) -> None:
    """Run every measurement of one backend (this process's) and print them as JSON lines."""
    import keras

    backend = keras.backend.backend()
    loaded = np.load(args.data)
    X, y = loaded["X"], loaded["y"]
    n_users, n_movies = int(loaded["n_users"]), int(loaded["n_movies"])
    paths = [("dense", _dense, args.dense_steps)]
    if backend == "jax":
        paths.append(("sparse", _sparse, args.sparse_steps))
    for n in args.sizes:
        for path, measure, steps in paths:
            rows, extrapolated = _sample(n, steps)
            seconds = measure(X[rows], y[rows], n_users, n_movies)
            rate = len(rows) / seconds
            print(
                json.dumps(
                    {
                        "backend": backend,
                        "path": path,
                        "ratings": n,
                        "ratings/s": rate,
                        "epoch s": n / rate,
                        "timed": "extrapolated" if extrapolated else "full epoch",
                        "steps timed": -(-len(rows) // BATCH),
                    }
                ),
                flush=True,
            )
    if not args.skip_small:
        for row in _small(backend):
            print(json.dumps({"small": True, **row}), flush=True)


def _draw(sizes, folder: Path) -> Path:
    """Draw the largest size once (the smaller ones are its random subsets); save it."""
    from reco.synthetic import ML_25M, synthetic_ratings

    start = time.perf_counter()
    ratings = synthetic_ratings(max(sizes))
    print(f"drew {len(ratings):,} synthetic ratings in {time.perf_counter() - start:.0f} s")
    X = np.stack([ratings["userId"].to_numpy() - 1, ratings["movieId"].to_numpy() - 1], axis=1)
    y = ratings["rating"].to_numpy(np.float32)
    del ratings
    # A random order, so that the first n rows are a random n of them (the table is sorted).
    order = np.random.default_rng(1).permutation(len(y))
    path = folder / "ratings.npz"
    np.savez(
        path,
        X=X[order].astype(np.int32),
        y=y[order],
        n_users=ML_25M["users"],
        n_movies=ML_25M["movies"],
    )
    return path


def main(argv=None) -> None:
    """Measure every installed backend in its own process and print the tables."""
    parser = argparse.ArgumentParser(
        prog="tools/bench_scale.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="only 0.1M and 1M ratings")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, help="default: all installed")
    parser.add_argument("--dense-steps", type=int, default=150, help="most batches timed, dense")
    parser.add_argument("--sparse-steps", type=int, default=2000, help="most batches timed, sparse")
    parser.add_argument("--skip-small", action="store_true", help="leave out ml-latest-small")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", type=int, help="numbers of ratings to measure")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    backends = args.backends or _installed()
    print(
        f"bench-scale: V2, 50 factors, tables of ml-25m's size (162,541 users x 59,047 movies), "
        f"batch {BATCH:,}; backends {', '.join(backends)}; {os.cpu_count()} CPU cores"
    )
    print(
        "  ratings/s and epoch s from the 2nd epoch; 'extrapolated': timed on "
        f"{args.dense_steps} (dense) or {args.sparse_steps} (sparse) batches of a random sample"
    )
    import pandas as pd

    rows, small = [], []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        data = _draw(sizes, Path(folder))
        for backend in backends:
            command = [sys.executable, __file__, "--worker", "--data", str(data), "--sizes"]
            command += [str(n) for n in sizes]
            command += ["--dense-steps", str(args.dense_steps)]
            command += ["--sparse-steps", str(args.sparse_steps)]
            command += ["--skip-small"] if args.skip_small else []
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
            errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: it cannot fill up
            with subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT
            ) as run:
                for line in run.stdout:  # as they come, so a long run shows its progress
                    if line.startswith("{"):
                        row = json.loads(line)
                        print("  measured", row, flush=True)
                        (small if row.pop("small", False) else rows).append(row)
            if run.returncode:
                errors.seek(0)
                print(f"{backend}: failed\n{errors.read()[-2000:]}")
            errors.close()
    formats = {
        "ratings": "{:,}".format,
        "ratings/s": "{:,.0f}".format,
        "ratings/s 2+": "{:,.0f}".format,
        "epoch s": "{:,.2f}".format,
        "test RMSE": "{:.4f}".format,
    }
    if rows:
        print(pd.DataFrame(rows).to_string(index=False, formatters=formats))
    if small:
        print(
            "\nml-latest-small, course split, 8 epochs at batch 2,048 (dense: the course "
            "defaults; sparse: reco.sparse defaults); ratings/s over epochs 2-8"
        )
        print(pd.DataFrame(small).to_string(index=False, formatters=formats))


if __name__ == "__main__":
    main()
