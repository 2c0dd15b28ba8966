"""Measure V2 at ml-25m's size: training speed (dense vs reco.sparse), top 10 for every user, ANN.

Run ``python tools/bench_scale.py --quick`` (0.1M and 1M ratings) or without
``--quick`` (0.1M, 1M, 5M and 25M; generating 25M ratings takes 2 GB and
minutes: 522 s on a busy 2-core machine), or ``--sizes 100000 5000000``.
``--sections`` picks some of ``top10 ann train small`` (default: all, in that
order). ``--output PATH`` writes every measured row to a CSV file, rewritten
atomically after each row, so a stopped run keeps what it measured and nothing
else; :func:`reco.report.read_scale_results` reads it. ``make bench-scale``
writes ``build/scale_results.csv``; ``make bench-scale QUICK=0
OUTPUT=reco/scale_results.csv`` replaces the committed table that notebook 10
shows. Every row records the date (UTC), the CPU model (``/proc/cpuinfo``), the
number of cores, the commit (``+dirty`` with uncommitted changes) and the
1-minute load average at the start of the run and at the row.

The ratings are :func:`reco.synthetic.synthetic_ratings`, drawn once, with
ml-25m's 162,541 users and 59,047 movies: the model's tables have ml-25m's size
whatever the number of ratings. Each measurement runs in a worker process of
its own (``KERAS_BACKEND``), so that its peak memory is its own.

* ``top10``: V2's tables (50 factors, :func:`reco.models.build_v2`'s default)
  trained by :func:`reco.sparse.fit_sparse` for ``--factor-epochs`` (1) over
  the largest size's ratings on JAX (random tables, said so, without JAX).
  :func:`reco.evaluate.top_k` then lists 10 movies for every one of the
  162,541 users (the drawn ratings excluded, the protocol's tie-break), in
  blocks of 568 users, and :func:`reco.retrieval.exact_top_k` with
  ``keras.ops.top_k`` does the same over the whole catalogue (no exclusions).
  ``peak_mb`` is the worker's peak resident memory during the call
  (``VmHWM`` of ``/proc/self/status``, reset just before it, so it counts the
  ratings, tables and Keras backend the process already holds plus what the
  call adds; ``params`` says how much was resident before); ``traced_mb`` the
  peak of the allocations that ``tracemalloc`` sees during ``top_k`` (NumPy's
  and Python's: the score block, the exclusions, the lists). ``naive_mb`` is
  what one float32 matrix of every user's score for every movie would take
  (38,390 MB), the matrix the blocks avoid. ``--top10-users N`` and
  ``--keras-users N`` time the first N users only and extrapolate (the row is
  marked ``extrapolated``).
* ``ann``: the same tables folded for maximum inner product search
  (:func:`reco.retrieval.fold_biases`: ``[u, 1] . [m, b_m]`` ranks as V2's
  ``u . m + b_u + b_m``), ``--ann-users`` (5,000) random users: exact top 10
  with NumPy, with ``keras.ops.top_k`` and with faiss's ``IndexFlatIP``, then
  a faiss HNSW graph (``--hnsw-m`` 32, ``--ef-construction`` 80; its build
  seconds) searched at each ``--ef-search``; queries/s for the batch of
  queries, recall@10 against NumPy's exact lists, and the worker's peak
  resident memory (``VmHWM``).
* ``train``, on each installed backend, at batches of 2,048:
  ``dense``: :func:`reco.train.fit` (Keras's Adam, L2 on the whole tables,
  16 batches per graph call), the course's V2 at ml-25m's size;
  ``sparse``: :func:`reco.sparse.fit_sparse` (lazy Adam on the batch's rows,
  per-example L2), JAX only.
  Each setting trains two epochs and reports the second: ``ratings_per_s`` is
  its ratings over its wall time, ``epoch_s`` the time of an epoch over all the
  ratings. A setting with more than ``--dense-steps`` (dense) or
  ``--sparse-steps`` (sparse) batches is trained on that many batches of a
  random sample of the ratings (with the full tables) and its epoch time
  extrapolated from them; the row is marked ``extrapolated``.
* ``small``: V2 on ml-latest-small (course split, the course's 8 epochs): dense
  at the course defaults on every backend, and sparse on JAX, with ratings/s
  over epochs 2-8 and test RMSE.

The machine's load changes the timings (a CI run may share it; the rows record
it): repeat a run before trusting a difference of less than about 20%.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reco.report import SCALE_SECTIONS as SECTIONS  # in the order they run

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2048
FULL_SIZES = (100_000, 1_000_000, 5_000_000, 25_000_000)
QUICK_SIZES = FULL_SIZES[:2]
BACKENDS = ("jax", "tensorflow", "torch")
#: V2's embedding size, reco.models.build_v2's default (the random tables without JAX).
N_FACTORS = 50


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
        "section": "small",
        "backend": backend,
        "path": path,
        "n_ratings": n,
        "batch": BATCH,
        "ratings_per_s": n * len(later) / sum(later),
        "epoch_s": sum(later) / len(later),
        "extrapolated": False,
        "test_rmse": scores["rmse"],
        "params": f"ml-latest-small course split, {len(seconds)} epochs, timed over epochs 2+",
    }


def _train_worker(args) -> None:
    """Run the training measurements of one backend (this process's); print them as JSON lines."""
    import keras

    backend = keras.backend.backend()
    loaded = np.load(args.data)
    X, y = loaded["X"], loaded["y"]
    n_users, n_movies = int(loaded["n_users"]), int(loaded["n_movies"])
    paths = [("dense", _dense, args.dense_steps)]
    if backend == "jax":
        paths.append(("sparse", _sparse, args.sparse_steps))
    for n in args.sizes if "train" in args.sections else ():
        for path, measure, steps in paths:
            rows, extrapolated = _sample(n, steps)
            seconds = measure(X[rows], y[rows], n_users, n_movies)
            rate = len(rows) / seconds
            _emit(
                section="train",
                backend=backend,
                path=path,
                n_ratings=n,
                batch=BATCH,
                ratings_per_s=rate,
                epoch_s=n / rate,
                extrapolated=extrapolated,
                steps_timed=-(-len(rows) // BATCH),
            )
    if "small" in args.sections:
        for row in _small(backend):
            _emit(**row)


def _emit(**row) -> None:
    """Print one measured row as a JSON line, for the parent process to collect."""
    print(json.dumps(row), flush=True)


def _memory_mb(field: str = "VmHWM") -> float:
    """Return this process's peak (``VmHWM``) or current (``VmRSS``) resident memory, in MB.

    From ``/proc/self/status``, not ``getrusage``: its ``ru_maxrss`` carries the
    parent's resident memory over ``fork`` and ``exec``, 2 GB here once the
    parent holds 25M ratings. NaN where there is no ``/proc``.
    """
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return float("nan")
    return int(line.split()[1]) / 1024  # kB


def _reset_peak() -> None:
    """Start ``VmHWM`` again from the memory resident now (Linux's ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def _factors_worker(args) -> None:
    """Train V2 briefly with reco.sparse on every drawn rating; save its tables for top10 and ann."""
    from reco import models, sparse, train

    loaded = np.load(args.data)
    X, y = loaded["X"], loaded["y"]
    n_users, n_movies = int(loaded["n_users"]), int(loaded["n_movies"])
    train.set_seed()
    model = models.build_v2(n_users=n_users, n_movies=n_movies)
    history = sparse.fit_sparse(model, X, y, epochs=args.factor_epochs, batch_size=BATCH)
    # fit_sparse's own tables: a row's factors with its bias as last column
    tables = {side: np.asarray(history.attrs["state"]["params"][side]) for side in sparse.SIDES}
    np.savez(args.factors, **tables)
    epochs = args.factor_epochs
    _emit(
        factors=f"V2 ({tables['user'].shape[1] - 1} factors) trained by reco.sparse.fit_sparse for {epochs} "
        f"epoch{'s' * (epochs > 1)} on {len(y):,} synthetic ratings (JAX; train RMSE "
        f"{history['rmse'].iloc[-1]:.3f})",
        seconds=float(history["seconds"].sum()),
    )


def _random_factors(path: Path, n_users: int, n_movies: int, seed: int = 0) -> str:
    """Save random V2 tables (when JAX, which trains them, is not installed); describe them."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(0.6 / np.sqrt(N_FACTORS))  # dot products of about 0.6, as the synthetic data
    tables = {}
    for side, n, bias in (("user", n_users, 0.35), ("movie", n_movies, 0.45)):
        table = rng.normal(0.0, scale, (n, N_FACTORS + 1)).astype(np.float32)
        table[:, -1] = rng.normal(0.0, bias, n)
        tables[side] = table
    np.savez(path, **tables)
    return f"random V2 tables ({N_FACTORS} factors, normal; JAX is not installed to train them)"


def _load_factors(path) -> tuple[np.ndarray, ...]:
    """Return ``(U, b_u, M, b_m)`` from a tables file of :func:`_factors_worker`."""
    loaded = np.load(path)
    user, movie = loaded["user"], loaded["movie"]
    return user[:, :-1], user[:, -1], movie[:, :-1], movie[:, -1]


def _top10_worker(args) -> None:
    """Time reco.evaluate.top_k's 10 movies for every user (or the first --top10-users)."""
    import tracemalloc

    import keras

    from reco import models, sparse
    from reco.evaluate import SCORE_BLOCK, top_k
    from reco.split import Split

    loaded = np.load(args.data)
    X, y = loaded["X"], loaded["y"]
    n_users, n_movies = int(loaded["n_users"]), int(loaded["n_movies"])
    timed = n_users if args.top10_users is None else min(args.top10_users, n_users)
    keep = X[:, 0] < timed  # those users' ratings: their exclusions, as in the full run
    split = Split(X[keep], y[keep], X[:0], y[:0], n_users=timed, n_movies=n_movies)
    del X, y, keep
    model = models.build_v2(n_users=n_users, n_movies=n_movies)
    tables = np.load(args.factors)
    sparse.write_back(model, {"params": {side: tables[side] for side in sparse.SIDES}})
    before = _memory_mb("VmRSS")
    _reset_peak()
    tracemalloc.start()
    start = time.perf_counter()
    # fallback=model: a user with no drawn rating is scored by the model too, so every
    # user gets a list; the drawn ratings are excluded from the lists, as the protocol says.
    recs = top_k(model, split, k=10, fallback=model)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    _emit(
        section="top10",
        backend=f"numpy ({keras.backend.backend()} model)",
        path="reco.evaluate.top_k",
        n_ratings=int(len(loaded["y"])),
        users=n_users,
        seconds=seconds * n_users / timed,
        queries_per_s=timed / seconds,
        extrapolated=timed < n_users,
        peak_mb=_memory_mb(),
        traced_mb=traced,
        naive_mb=n_users * n_movies * 4 / 1e6,
        params=f"k=10, blocks of {SCORE_BLOCK // n_movies} users; {timed:,} users timed, "
        f"{recs['user'].nunique():,} lists; {before:,.0f} MB resident before top_k",
    )


def _top10_keras_worker(args) -> None:
    """Time reco.retrieval.exact_top_k on Keras (keras.ops.top_k) for every user (or --keras-users)."""
    import keras

    from reco import retrieval

    U, _, M, b_m = _load_factors(args.factors)
    queries, items = retrieval.fold_biases(U, M, b_m)
    timed = len(queries) if args.keras_users is None else min(args.keras_users, len(queries))
    retrieval.exact_top_k(queries[:1000], items, k=10, engine="keras")  # compile, warm up
    before = _memory_mb("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    retrieval.exact_top_k(queries[:timed], items, k=10, engine="keras")
    seconds = time.perf_counter() - start
    _emit(
        section="top10",
        backend=f"keras {keras.backend.backend()}",
        path="reco.retrieval.exact_top_k (keras.ops.top_k)",
        n_ratings=args.n_ratings,
        users=len(queries),
        seconds=seconds * len(queries) / timed,
        queries_per_s=timed / seconds,
        extrapolated=timed < len(queries),
        peak_mb=_memory_mb(),
        naive_mb=len(queries) * len(items) * 4 / 1e6,
        params=f"k=10, blocks of {retrieval.SEARCH_BLOCK // len(items)} users, whole "
        f"catalogue (no exclusions); {timed:,} users timed; {before:,.0f} MB resident before",
    )


def _ann_worker(args) -> None:
    """Time exact and approximate top 10 (faiss HNSW) over the folded V2 tables."""
    from reco import retrieval

    faiss = retrieval.require_faiss()
    U, _, M, b_m = _load_factors(args.factors)
    queries, items = retrieval.fold_biases(U, M, b_m)
    users = np.sort(np.random.default_rng(2).choice(len(queries), args.ann_users, replace=False))
    queries = queries[users]
    exact = None

    def timed(backend: str, path: str, search, **row):
        """Time ``search()``, emit its row with recall against the exact lists, return its lists."""
        start = time.perf_counter()
        found = search()
        seconds = time.perf_counter() - start
        _emit(
            section="ann",
            n_ratings=args.n_ratings,
            users=len(users),
            backend=backend,
            path=path,
            seconds=seconds,
            queries_per_s=len(users) / seconds,
            recall_at_10=retrieval.recall_at_k(found, found if exact is None else exact),
            **row,
        )
        return found

    exact = timed(
        "numpy",
        "exact (reco.retrieval.exact_top_k)",
        lambda: retrieval.exact_top_k(queries, items, k=10),
        params=f"{len(items):,} movies x {items.shape[1]} dims, blocks of "
        f"{retrieval.SEARCH_BLOCK // len(items)} users",
    )
    import keras

    retrieval.exact_top_k(queries[:100], items, k=10, engine="keras")  # compile, warm up
    timed(
        f"keras {keras.backend.backend()}",
        "exact (reco.retrieval.exact_top_k, keras.ops.top_k)",
        lambda: retrieval.exact_top_k(queries, items, k=10, engine="keras"),
        params="blocks as numpy's",
    )
    threads = faiss.omp_get_max_threads()
    flat = faiss.IndexFlatIP(items.shape[1])
    flat.add(items)
    timed(
        f"faiss {faiss.__version__}",
        "exact (IndexFlatIP)",
        lambda: flat.search(queries, 10)[1],
        params=f"{threads} threads",
    )
    start = time.perf_counter()
    index = retrieval.hnsw_index(items, m=args.hnsw_m, ef_construction=args.ef_construction)
    build = time.perf_counter() - start
    for ef in args.ef_search:
        timed(
            f"faiss {faiss.__version__}",
            f"hnsw efSearch={ef}",
            lambda ef=ef: retrieval.ann_top_k(index, queries, k=10, ef_search=ef),
            build_s=build,
            peak_mb=_memory_mb(),
            params=f"M={args.hnsw_m}, efConstruction={args.ef_construction}, "
            f"efSearch={ef}, {threads} threads, inner product",
        )


WORKERS = {
    "train": _train_worker,
    "factors": _factors_worker,
    "top10": _top10_worker,
    "top10_keras": _top10_keras_worker,
    "ann": _ann_worker,
}


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


def _facts() -> dict:
    """Return where and from what this run measures: CPU, cores, commit and the load now."""
    machine = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        machine = names[0] if names else machine
    except OSError:
        pass

    def git(*words) -> str:
        run = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {
        "machine": machine,
        "cores": os.cpu_count(),
        "commit": commit,
        "load_start": os.getloadavg()[0],
    }


class _Results:
    """The measured rows; each one added rewrites ``--output`` atomically (reco.report)."""

    def __init__(self, output, facts: dict):
        self.output, self.facts, self.rows = output, facts, []

    def add(self, row: dict) -> None:
        when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self.rows.append({**row, **self.facts, "date": when, "load_row": os.getloadavg()[0]})
        if self.output:
            from reco.report import write_scale_results

            write_scale_results(pd.DataFrame(self.rows), self.output)

    def section(self, name: str) -> pd.DataFrame:
        return pd.DataFrame([row for row in self.rows if row["section"] == name])


def _run(task: str, args, data: Path, factors: Path, backend: str, extra=(), add=None) -> list:
    """Run one worker in its own process; pass each JSON row it prints to ``add`` as it comes."""
    command = [sys.executable, __file__, "--worker", task, "--data", str(data)]
    command += ["--factors", str(factors), "--sizes", *map(str, args.sizes)]
    command += ["--sections", *args.sections, *extra]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    rows = []
    errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: it cannot fill up
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT
    ) as run:
        for line in run.stdout:  # as they come, so a long run shows its progress
            if line.startswith("{"):
                row = json.loads(line)
                print(f"  {task} ({backend}):", row, flush=True)
                rows.append(row)
                if add is not None:
                    add(row)
    if run.returncode:
        errors.seek(0)
        print(f"{task} on {backend}: failed\n{errors.read()[-2000:]}", flush=True)
    errors.close()
    return rows


FORMATS = {
    "n_ratings": "{:,.0f}".format,
    "batch": "{:,.0f}".format,
    "steps_timed": "{:,.0f}".format,
    "users": "{:,.0f}".format,
    "ratings_per_s": "{:,.0f}".format,
    "queries_per_s": "{:,.0f}".format,
    "epoch_s": "{:,.2f}".format,
    "seconds": "{:,.2f}".format,
    "build_s": "{:,.2f}".format,
    "peak_mb": "{:,.0f}".format,
    "traced_mb": "{:,.0f}".format,
    "naive_mb": "{:,.0f}".format,
    "test_rmse": "{:.4f}".format,
    "recall_at_10": "{:.4f}".format,
}

#: The columns each section's printed table shows (the file has them all).
SHOWN = {
    "top10": ["backend", "path", "users", "seconds", "queries_per_s", "peak_mb", "traced_mb",
              "naive_mb", "extrapolated"],
    "ann": ["backend", "path", "users", "queries_per_s", "recall_at_10", "build_s"],
    "train": ["backend", "path", "n_ratings", "ratings_per_s", "epoch_s", "extrapolated",
              "steps_timed"],
    "small": ["backend", "path", "n_ratings", "ratings_per_s", "epoch_s", "test_rmse"],
}  # fmt: skip

TITLES = {
    "top10": "Top 10 for every user, in blocks; peak_mb: the worker's peak resident memory "
    "during the call (VmHWM, reset before it; the ratings and tables it holds included), "
    "traced_mb: tracemalloc's peak during top_k; naive_mb: one float32 score matrix of every "
    "user x every movie",
    "ann": "Top 10 by inner product over the folded V2 table ([u, 1] . [m, b_m]); recall@10 "
    "against the exact top 10",
    "train": "Training V2 at ml-25m's tables; ratings/s and epoch s from the 2nd epoch",
    "small": "ml-latest-small, course split, 8 epochs at batch 2,048 (dense: the course "
    "defaults; sparse: reco.sparse defaults); ratings/s over epochs 2-8",
}


def _print(results: _Results, factors: str | None) -> None:
    for name in SECTIONS:
        table = results.section(name)
        if table.empty:
            continue
        print(
            f"\n{TITLES[name]}"
            + (f"\n  factors: {factors}" if factors and name in ("top10", "ann") else "")
        )
        shown = table.reindex(columns=SHOWN[name])
        print(shown.to_string(index=False, formatters=FORMATS, na_rep="-"))


def main(argv=None) -> None:
    """Measure every section in worker processes, print the tables, and write --output."""
    parser = argparse.ArgumentParser(
        prog="tools/bench_scale.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="only 0.1M and 1M ratings")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, help="default: all installed")
    parser.add_argument("--sizes", nargs="+", type=int, help="numbers of ratings to measure")
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="default: all"
    )
    parser.add_argument("--output", type=Path, help="write every measured row to this CSV file")
    parser.add_argument("--dense-steps", type=int, default=150, help="most batches timed, dense")
    parser.add_argument("--sparse-steps", type=int, default=2000, help="most batches timed, sparse")
    parser.add_argument("--skip-small", action="store_true", help="leave out ml-latest-small")
    parser.add_argument(
        "--factor-epochs", type=int, default=1, help="epochs of the top10/ann model"
    )
    parser.add_argument("--top10-users", type=int, help="time this many users and extrapolate")
    parser.add_argument("--keras-users", type=int, help="the same for keras.ops.top_k")
    parser.add_argument("--ann-users", type=int, default=5000, help="queries of the ann section")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=80, help="HNSW build candidates")
    parser.add_argument(
        "--ef-search", nargs="+", type=int, default=[16, 32, 64, 128, 256], help="HNSW settings"
    )
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--factors", help=argparse.SUPPRESS)
    parser.add_argument("--n-ratings", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.skip_small and "small" in args.sections:
        args.sections.remove("small")
    if args.worker:
        WORKERS[args.worker](args)
        return
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else FULL_SIZES)
    backends = args.backends or _installed()
    facts = _facts()
    results = _Results(args.output, facts)
    print(
        f"bench-scale: V2, 50 factors, tables of ml-25m's size (162,541 users x 59,047 movies), "
        f"batch {BATCH:,}; backends {', '.join(backends)}; sections {', '.join(args.sections)}"
    )
    print(
        f"  {facts['machine']}, {facts['cores']} CPU cores, load average {facts['load_start']:.2f} "
        f"at the start; commit {facts['commit']}"
        + (f"; writing {args.output}" if args.output else "")
    )
    print(
        "  train: 'extrapolated': timed on "
        f"{args.dense_steps} (dense) or {args.sparse_steps} (sparse) batches of a random sample"
    )
    factors = None
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        data = _draw(args.sizes, Path(folder))
        tables = Path(folder) / "factors.npz"
        retrieval = [name for name in ("top10", "ann") if name in args.sections]
        if retrieval:
            if "jax" in _installed():
                made = _run(
                    "factors",
                    args,
                    data,
                    tables,
                    "jax",
                    ["--factor-epochs", str(args.factor_epochs)],
                )
                factors = made[0]["factors"] if made else None
            if factors is None:
                from reco.synthetic import ML_25M

                factors = _random_factors(tables, ML_25M["users"], ML_25M["movies"])
            print(f"  factors for top10 and ann: {factors}", flush=True)

            def add(row):
                results.add({**row, "factors": factors})

        if "top10" in retrieval:
            extra = [] if args.top10_users is None else ["--top10-users", str(args.top10_users)]
            backend = "jax" if "jax" in _installed() else backends[0]
            _run("top10", args, data, tables, backend, extra, add)
            extra = ["--n-ratings", str(max(args.sizes))]
            extra += [] if args.keras_users is None else ["--keras-users", str(args.keras_users)]
            _run("top10_keras", args, data, tables, backend, extra, add)
        if "ann" in retrieval:
            extra = ["--ann-users", str(args.ann_users), "--n-ratings", str(max(args.sizes))]
            extra += ["--hnsw-m", str(args.hnsw_m), "--ef-construction", str(args.ef_construction)]
            extra += ["--ef-search", *map(str, args.ef_search)]
            backend = "jax" if "jax" in _installed() else backends[0]
            _run("ann", args, data, tables, backend, extra, add)
        if {"train", "small"} & set(args.sections):
            steps = [
                "--dense-steps",
                str(args.dense_steps),
                "--sparse-steps",
                str(args.sparse_steps),
            ]
            for backend in backends:
                _run("train", args, data, tables, backend, steps, results.add)
    _print(results, factors)
    if args.output:
        print(f"\n{len(results.rows)} rows written to {args.output}")


if __name__ == "__main__":
    main()
