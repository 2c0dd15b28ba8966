"""Measure training speed and test RMSE: course defaults vs the original settings.

Run ``make bench`` (or ``python tools/bench.py``). For each of the four models
it trains once at :data:`reco.train.ORIGINAL_SETTINGS` (with the original L2 of 1e-6) and
once at :data:`reco.train.COURSE_DEFAULTS` (with the builders' default L2), in
the same process, on the course split
of ml-latest-small, and prints one table.

How speed is counted: ``ratings/s`` is the number of training ratings
processed (training ratings x epochs) divided by the wall time of the whole
``fit`` call, graph tracing and the first epoch included; that is what a
learner waits for. ``ratings/s 2+`` leaves out the first epoch (where the
graph is traced) and shows the steady speed. ``speedup`` is the ratio of the
course defaults' ``ratings/s`` to the original settings' for the same model.
Test RMSE is in stars, on the course split's test part. Timings vary with the
machine's load; the RMSEs do not (training is seeded and deterministic).
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import pandas as pd

from reco import data, kinds, train
from reco.constants import SEED
from reco.split import IdEncoder, Split, course_split, encode_ids

#: The L2 penalty of the original course (batches of 64); the builders'
#: defaults are matched to the course's batches of 2,048.
ORIGINAL_L2 = 1e-6

#: label -> (training settings, builder keyword arguments).
SETTINGS = {
    "original": (train.ORIGINAL_SETTINGS, {"l2": ORIGINAL_L2}),
    "course": (train.COURSE_DEFAULTS, {}),
}


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def measure(
    name: str,
    split: Split,
    encoder: IdEncoder,
    config: train.TrainConfig,
    builder_kwargs: dict,
    *,
    seed: int = SEED,
) -> dict:
    """Train one model from a fixed seed and measure its speed and test error.

    Args:
        name: one of :data:`reco.train.MODEL_NAMES`.
        split: the split to train on (train part) and to test on (test part).
        encoder: the fitted encoder of the ratings.
        config: the training settings.
        builder_kwargs: passed to the model builder (``l2=``).
        seed: passed to :func:`reco.train.set_seed`.

    Returns:
        a dict with ``batch``, ``epochs``, ``lr``, ``l2``, ``seconds`` (wall time of
        ``fit``), ``ratings/s`` (training ratings x epochs / seconds),
        ``ratings/s 2+`` (the same without the first epoch), ``test RMSE`` and
        ``test MAE`` (stars).
    """
    train.set_seed(seed)
    model = train.build_model(name, encoder, **builder_kwargs)
    timer = _EpochTimer()
    history = train.fit(model, split, config=config, callbacks=[timer])
    seconds = history.attrs["train_seconds"]
    n = len(split.y_train)
    later = timer.seconds[1:]
    scores = train.rating_metrics(model, split, part="test")
    return {
        "batch": config.batch_size,
        "epochs": config.epochs,
        "lr": config.lr,
        "l2": builder_kwargs.get("l2", "default"),
        "seconds": seconds,
        "ratings/s": n * config.epochs / seconds,
        "ratings/s 2+": n * len(later) / sum(later) if later else np.nan,
        "test RMSE": scores["rmse"],
        "test MAE": scores["mae"],
    }


def run(
    ratings: pd.DataFrame, models=train.MODEL_NAMES, *, seed: int = SEED, settings=None
) -> pd.DataFrame:
    """Train every model at every setting on the course split; return the table.

    Args:
        ratings: a ratings table (``userId``, ``movieId``, ``rating``, ...).
        models: names from :data:`reco.train.MODEL_NAMES`.
        seed: the seed of every run.
        settings: label -> ``(TrainConfig, builder keyword arguments)``;
            default: :data:`SETTINGS`.

    Returns:
        one row per model and setting (columns as :func:`measure`'s keys plus
        ``model``, ``settings`` and ``speedup``, the ratings/s ratio to the
        first setting of the same model).
    """
    settings = SETTINGS if settings is None else settings
    encoded, encoder = encode_ids(ratings)
    split = course_split(encoded, seed=seed)
    rows = []
    for name in models:
        base = None
        for label, (config, builder_kwargs) in settings.items():
            row = measure(name, split, encoder, config, builder_kwargs, seed=seed)
            base = row["ratings/s"] if base is None else base
            row = {
                "model": kinds.get(name).label,
                "settings": label,
                **row,
                "speedup": row["ratings/s"] / base,
            }
            rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """Format :func:`run`'s table as fixed-width text."""
    formats = {
        "lr": "{:g}".format,
        "l2": lambda v: v if isinstance(v, str) else f"{v:g}",
        "seconds": "{:.1f}".format,
        "ratings/s": "{:,.0f}".format,
        "ratings/s 2+": "{:,.0f}".format,
        "test RMSE": "{:.4f}".format,
        "test MAE": "{:.4f}".format,
        "speedup": "{:.1f}x".format,
    }
    return table.to_string(index=False, formatters=formats)


def ranking_speed(ratings: pd.DataFrame, *, repeats: int = 5, seed: int = SEED) -> pd.DataFrame:
    """Time top-10 lists for every user and the full ranking-metric set, per model.

    Each model is trained once at the course defaults; then
    :func:`reco.evaluate.top_k` (all users, k=10, part="test") and
    :func:`reco.evaluate.ranking_metrics` plus
    :func:`reco.evaluate.popularity_percentile` are each timed ``repeats``
    times, and the median is reported (the first call includes warm-up).

    Returns:
        one row per model: ``users``, ``fit s`` (training, or EASE's closed form),
        ``top-10 s``, ``metrics s``, ``NDCG@10`` and ``recall@10``.
    """
    from statistics import median

    from reco import baselines, evaluate

    encoded, encoder = encode_ids(ratings)
    split = course_split(encoded, seed=seed)
    models = {"popularity": baselines.PopularityBaseline().fit(split)}
    fit_seconds = {}
    for name in ("v2", "recommender_net", "implicit_mf"):
        train.set_seed(seed)
        label = kinds.get(name).label
        models[label], history = train.train_model(name, split, encoder)
        fit_seconds[label] = history.attrs["train_seconds"]
    start = time.perf_counter()
    models["EASE"] = baselines.EASE().fit(split)
    fit_seconds["EASE"] = time.perf_counter() - start
    rows = []
    for label, model in models.items():
        times, recs = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            recs = evaluate.top_k(model, split)
            times.append(time.perf_counter() - start)
        metric_times, scores = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            scores = evaluate.ranking_metrics(recs, split)
            evaluate.popularity_percentile(recs, split)
            metric_times.append(time.perf_counter() - start)
        rows.append(
            {
                "model": label,
                "users": recs["user"].nunique(),
                "fit s": fit_seconds.get(label, 0.0),
                "top-10 s": median(times),
                "metrics s": median(metric_times),
                "NDCG@10": scores["ndcg"],
                "recall@10": scores["recall"],
                "coverage": scores["coverage"],
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> pd.DataFrame:
    """Run the benchmark on ml-latest-small and print the table."""
    parser = argparse.ArgumentParser(prog="tools/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        choices=train.MODEL_NAMES,
        default=list(train.MODEL_NAMES),
        help="models to measure (default: all)",
    )
    parser.add_argument(
        "--only", choices=("training", "ranking"), help="run one part of the benchmark"
    )
    args = parser.parse_args(argv)
    ratings = data.load_ratings()
    if args.only != "training":
        print("Ranking: top-10 lists for every user and the full metric set (median of 5)")
        speed = ranking_speed(ratings)
        print(
            speed.to_string(
                index=False,
                formatters={
                    "top-10 s": "{:.3f}".format,
                    "metrics s": "{:.3f}".format,
                    "NDCG@10": "{:.4f}".format,
                },
            )
        )
        mf = speed.set_index("model").loc["implicit MF"]
        print(
            f"implicit MF: NDCG@10 {mf['NDCG@10']:.4f} (goal >= 0.20), trained in "
            f"{mf['fit s']:.1f} s (goal <= 30 s), top-10 in {mf['top-10 s']:.3f} s (goal <= 0.1 s)"
        )
        v2 = speed.set_index("model").loc["V2"]
        print(
            f"V2: top-10 for {int(v2['users'])} users in {v2['top-10 s']:.3f} s (goal <= 0.1 s), "
            f"metrics in {v2['metrics s']:.3f} s (goal <= 1 s)\n"
        )
        if args.only == "ranking":
            return speed
    n_train = len(course_split(encode_ids(ratings)[0]).y_train)
    print(f"bench: ml-latest-small, course split, {n_train:,} training ratings, seed {SEED}")
    for label, (config, builder_kwargs) in SETTINGS.items():
        print(f"  {label}: {config}, builders {builder_kwargs or 'at their default L2'}")
    print("  ratings/s = training ratings x epochs / wall time of fit() (graph tracing included);")
    print("  ratings/s 2+ leaves out epoch 1; speedup = ratings/s vs the original settings")
    table = run(ratings, args.models)
    print(format_table(table))
    for name in args.models:
        label = kinds.get(name).label
        rows = table[table["model"] == label].set_index("settings")
        print(
            f"{label}: course defaults {rows.loc['course', 'speedup']:.1f}x the ratings/s of the "
            f"original settings; test RMSE {rows.loc['course', 'test RMSE']:.4f} vs "
            f"{rows.loc['original', 'test RMSE']:.4f}"
        )
    return table


if __name__ == "__main__":
    main()
