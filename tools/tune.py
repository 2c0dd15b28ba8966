"""Run the course's grids on the validation part and write reco/validation_results.csv (make tune).

Every candidate is trained on the training part of ``train_val_test_split`` and
scored with :mod:`reco.evaluate` on its validation part (``part="val"``, k=10);
the test part is never read. One row per (experiment, setting, seed) goes to
``reco/validation_results.csv``, written atomically, which the notebooks read
with :mod:`reco.tuning` to retrain only the chosen models. Each candidate is
trained after ``train.set_seed(seed)``, so the same command gives the same
numbers (``train_seconds`` and ``date`` aside).

Usage::

    python tools/tune.py                       # every experiment (about 20-30 min on 2 cores)
    python tools/tune.py --only bpr --only EASE    # rerun two, replace their rows
    python tools/tune.py --dry-run             # list the grid
    python tools/tune.py --per-user            # only the compared rows' per-user NDCG

For the rows notebook 08 compares (:func:`compared_rows`), every validation
user's NDCG@10 goes to ``reco/validation_per_user.csv``, so each comparison
has a paired interval; a row that this run did not train, and the file lacks,
is trained again, and must give the table's number.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time
from pathlib import Path

import keras
import pandas as pd

from reco import baselines, data, evaluate, implicit, kinds, split, train, tuning
from reco.constants import SEED

D = implicit.IMPLICIT_DEFAULTS
#: The seeds of a seed spread; the grids run at the first, the course seed.
SEEDS = (SEED, 1, 2)


def _config(**changes) -> train.TrainConfig:
    return dataclasses.replace(D, **changes)


# The grids of the implicit model, as (builder keywords, TrainConfig[, n_negatives]); each
# runs at the course seed, after train.set_seed(SEED).
MULTINOMIAL = [
    ({"n_factors": 256, "dropout": 0.7}, D),  # today's default
    ({"n_factors": 256, "dropout": 0.5}, D),
    ({"n_factors": 256, "dropout": 0.8}, D),
    ({"n_factors": 128, "dropout": 0.7}, D),
]
CONTROL_DROPOUTS = (0.3, 0.5, 0.7)
LOGISTIC = [
    ({"n_factors": 256, "dropout": 0.7}, D),  # the softmax's settings
    ({"n_factors": 256, "dropout": 0.5}, _config(lr=1e-3)),
    ({"n_factors": 256, "dropout": 0.3}, _config(lr=1e-2, epochs=30)),
    ({"n_factors": 128, "dropout": 0.0}, _config(lr=1e-2, epochs=30)),
    ({"n_factors": 64, "dropout": 0.0}, _config(lr=3e-2, epochs=30)),
]
NEGATIVE_WEIGHTS = (0.01, 0.03, 0.1, 0.3)
BPR = [
    ({"n_factors": 256, "dropout": 0.7}, D, 16),
    ({"n_factors": 256, "dropout": 0.7}, _config(lr=1e-2, epochs=30), 16),
    ({"n_factors": 256, "dropout": 0.7}, _config(lr=1e-2, epochs=30), 64),
    ({"n_factors": 256, "dropout": 0.3}, _config(lr=1e-2, epochs=30), 16),
    ({"n_factors": 256, "dropout": 0.7}, D, 64),
    ({"n_factors": 256, "dropout": 0.5}, D, 16),
    ({"n_factors": 256, "dropout": 0.7}, D, 256),
    ({"n_factors": 256, "dropout": 0.7}, D, 1024),
]
LAMBDAS = (50, 100, 200, 400, 800)
MF = implicit.ImplicitKind.name


class Run:
    """The data of one run and the rows it scores."""

    def __init__(self, dry_run: bool, previous: pd.DataFrame | None):
        self.dry_run, self.previous, self.rows = dry_run, previous, []
        self.per_user: dict[str, pd.Series] = {}  # row key -> validation NDCG@10 by user
        if not dry_run:
            encoded, self.encoder = split.encode_ids(data.load_ratings())
            self.three_way = split.train_val_test_split(encoded)
        self.versions = {
            "keras": keras.__version__,
            "backend": f"{keras.backend.backend()} {_backend_version()}",
            "date": datetime.date.today().isoformat(),
        }

    def score(self, experiment, model_name, model, settings, seed, seconds, min_rating=None):
        """Score ``model`` on the validation part and keep the row and its per-user NDCG."""
        scores, users = self.validation_scores(model)
        row = {
            "experiment": experiment,
            "model": model_name,
            "settings": settings,
            "seed": seed,
            "min_rating": min_rating,
            **{k: scores[k] for k in tuning.METRICS},
            "train_seconds": round(seconds, 2),
            **self.versions,
        }
        self.rows.append(row)
        self.per_user[tuning.row_key(pd.Series(row))] = users
        metrics = "  ".join(f"{k} {row[k]:.4f}" for k in tuning.METRICS)
        print(f"{experiment:20s} {model_name:18s} seed {seed:<3d} {metrics}  "
              f"{seconds:6.1f}s  {settings}", flush=True)  # fmt: skip
        return row

    def validation_scores(self, model) -> tuple[dict, pd.Series]:
        """Return ``model``'s validation metrics and every validation user's NDCG@10."""
        recs = evaluate.top_k(model, self.three_way, part="val")
        scores = evaluate.ranking_metrics(recs, self.three_way, part="val")
        users = evaluate.per_user_metrics(recs, self.three_way, part="val")["ndcg"]
        return scores, users

    def train(self, name, kwargs, config, loss, seed, min_rating=None):
        """Train a model of kind ``name`` after ``set_seed(seed)``; return it and its seconds."""
        train.set_seed(seed)
        model = train.build_model(name, self.encoder, **kwargs)
        data_ = implicit.positives(self.three_way, min_rating) if min_rating else self.three_way
        history = train.fit(model, data_, config=config, loss=loss)
        return model, history.attrs["train_seconds"]

    def fit(self, experiment, name, kwargs, config, loss, seed, *, min_rating=None):
        """Train a model of kind ``name`` after ``set_seed(seed)`` and score it."""
        settings = tuning.settings_json(kwargs, config, loss)
        if self.dry_run:
            print(f"{experiment:20s} {name:18s} seed {seed:<3d} {settings}"
                  + (f"  min_rating {min_rating}" if min_rating else ""))  # fmt: skip
            return None
        model, seconds = self.train(name, kwargs, config, loss, seed, min_rating)
        return self.score(experiment, name, model, settings, seed, seconds, min_rating)

    def baseline(self, experiment, name, make, kwargs):
        """Fit a baseline (no seed: it is deterministic) and score it."""
        settings = tuning.settings_json(kwargs)
        if self.dry_run:
            print(f"{experiment:20s} {name:18s} seed {SEED:<3d} {settings}")
            return
        start = time.perf_counter()
        model = make(**kwargs).fit(self.three_way)
        self.score(experiment, name, model, settings, SEED, time.perf_counter() - start)

    def retrain(self, row: pd.Series) -> pd.Series:
        """Train a row of the table again and return its per-user NDCG; stop if it differs."""
        kwargs, config, loss = tuning.chosen_settings(row)
        if config is None:  # a baseline: deterministic, no seed
            model = BASELINES[row["model"]](**kwargs).fit(self.three_way)
        else:
            min_rating = None if pd.isna(row["min_rating"]) else float(row["min_rating"])
            model, _ = self.train(row["model"], kwargs, config, loss, int(row["seed"]), min_rating)
        scores, users = self.validation_scores(model)
        if abs(scores["ndcg"] - float(row["ndcg"])) > 1e-6:
            raise SystemExit(
                f"retrained, the row {row['experiment']!r} ({row['model']}, seed {row['seed']}) "
                f"scores NDCG@10 {scores['ndcg']:.6f}, but the table says {row['ndcg']:.6f}: the "
                "table was made on another machine or with other libraries. Fix: run make tune "
                "(every experiment) on this machine."
            )
        print(f"{'per-user':20s} {row['experiment']:18s} seed {row['seed']:<3d} "
              f"ndcg {scores['ndcg']:.4f}, as in the table", flush=True)  # fmt: skip
        return users

    def best(self, experiment):
        """The chosen row of an experiment of this run, or else of the previous table."""
        rows = [r for r in self.rows if r["experiment"] == experiment]
        table = pd.DataFrame(rows) if rows else self.previous
        try:
            return tuning.best(table, experiment) if table is not None else None
        except ValueError:
            return None


def _backend_version() -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(
        keras.backend.backend()
    )
    return getattr(sys.modules.get(module) or __import__(module), "__version__", "?")


def popularity(run: Run) -> None:
    run.baseline("popularity", "popularity", baselines.PopularityBaseline, {})


def rating_models(run: Run) -> None:
    for seed in SEEDS:
        for name in train.MODEL_NAMES:
            kind = kinds.get(name)
            run.fit("rating models", name, {}, kind.config, kind.default_loss, seed)


def multinomial(run: Run) -> None:
    for kwargs, config in MULTINOMIAL:
        run.fit("multinomial", MF, kwargs, config, "multinomial", SEED)
    _other_seeds(run, "multinomial")


def _other_seeds(run: Run, experiment: str) -> None:
    chosen = run.best(experiment)
    if chosen is None:
        print(f"{experiment:20s} then seeds {SEEDS[1:]} of the chosen setting")
        return
    kwargs, config, loss = tuning.chosen_settings(chosen)
    for seed in SEEDS[1:]:
        run.fit(experiment, MF, kwargs, config, loss, seed)


def control_50_factors(run: Run) -> None:
    for dropout in CONTROL_DROPOUTS:
        run.fit("control 50 factors", MF, {"n_factors": 50, "dropout": dropout}, D,
                "multinomial", SEED)  # fmt: skip


def logistic(run: Run) -> None:
    for kwargs, config in LOGISTIC:
        run.fit("logistic", MF, kwargs, config, "logistic", SEED)


def logistic_weighted(run: Run) -> None:
    chosen = run.best("logistic")
    if chosen is None and not run.dry_run:
        raise SystemExit(
            "'logistic weighted' uses the best logistic settings, and there are none yet. "
            "Fix: run tools/tune.py --only logistic --only 'logistic weighted'."
        )
    if chosen is None:
        print(f"{'logistic weighted':20s} negative_weight {NEGATIVE_WEIGHTS} with the best "
              "logistic settings")  # fmt: skip
        return
    kwargs, config, _ = tuning.chosen_settings(chosen)
    for weight in NEGATIVE_WEIGHTS:
        loss = implicit.loss_name("logistic_weighted", negative_weight=weight)
        run.fit("logistic weighted", MF, kwargs, config, loss, SEED)


def bpr(run: Run) -> None:
    for kwargs, config, n_negatives in BPR:
        loss = implicit.loss_name("bpr", n_negatives=n_negatives)
        run.fit("bpr", MF, kwargs, config, loss, SEED)


def positives_4(run: Run) -> None:
    # The same seeds as the multinomial's chosen setting, so the two spreads compare.
    for seed in SEEDS:
        run.fit("positives >= 4", MF, {"n_factors": 256, "dropout": 0.7}, D, "multinomial",
                seed, min_rating=4.0)  # fmt: skip


def ease(run: Run) -> None:
    for lam in LAMBDAS:
        run.baseline("EASE", "EASE", baselines.EASE, {"lam": lam})


#: The baselines' classes by model name, to retrain a row (:meth:`Run.retrain`).
BASELINES = {"popularity": baselines.PopularityBaseline, "EASE": baselines.EASE}


def compared_rows(table: pd.DataFrame) -> list[pd.Series]:
    """Return the rows whose per-user NDCG notebook 08 compares, in the table's order.

    They are each experiment's chosen row (:func:`reco.tuning.best`), the
    logistic loss at the softmax's settings (the first row of its grid), and
    the best BPR row with 16 negatives.
    """
    rows = [tuning.best(table, name) for name in EXPERIMENTS if (table["experiment"] == name).any()]
    softmax_settings = tuning.settings_json(*LOGISTIC[0], "logistic")
    bpr_16 = implicit.loss_name("bpr", n_negatives=16)
    for experiment, keep in [
        ("logistic", table["settings"] == softmax_settings),
        ("bpr", table["settings"].str.contains(f'"loss":"{bpr_16}"', regex=False)),
    ]:  # fmt: skip
        chosen = table[(table["experiment"] == experiment) & keep & (table["seed"] == SEED)]
        if len(chosen):
            rows.append(chosen.loc[chosen["ndcg"].idxmax()])
    keys = list(dict.fromkeys(tuning.row_key(row) for row in rows))
    by_key = {tuning.row_key(row): row for row in rows}
    return [by_key[key] for key in keys]


def write_per_user(run: Run, table: pd.DataFrame, path: Path) -> None:
    """Write the per-user NDCG of the compared rows: this run's, the file's, or retrained."""
    before = pd.read_csv(path, index_col="user") if path.is_file() else pd.DataFrame()
    values = {}
    for row in compared_rows(table):
        key = tuning.row_key(row)
        if key in run.per_user:
            values[key] = run.per_user[key]
        elif key in before.columns:
            values[key] = before[key].dropna()
        else:
            values[key] = run.retrain(row)
    tuning.write_per_user(values, path)
    print(f"wrote the per-user NDCG of {len(values)} rows to {path}")


#: The experiments, in the order they run and are written.
EXPERIMENTS = {
    "popularity": popularity,
    "rating models": rating_models,
    "multinomial": multinomial,
    "control 50 factors": control_50_factors,
    "logistic": logistic,
    "logistic weighted": logistic_weighted,
    "bpr": bpr,
    "positives >= 4": positives_4,
    "EASE": ease,
}


def main(argv=None) -> pd.DataFrame | None:
    """Run the experiments and write (or, with --only, merge into) the validation table."""
    parser = argparse.ArgumentParser(prog="tools/tune.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=list(EXPERIMENTS), metavar="EXPERIMENT",
                        help=f"run this experiment only (repeatable): {list(EXPERIMENTS)}")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="list the grid, train nothing")
    parser.add_argument("--output", type=Path, default=tuning.VALIDATION_RESULTS,
                        help="the table to write (default: %(default)s)")  # fmt: skip
    parser.add_argument("--per-user", action="store_true",
                        help="run no grid: write the compared rows' per-user NDCG, retraining "
                             "those the per-user file lacks")  # fmt: skip
    parser.add_argument("--per-user-output", type=Path, default=tuning.VALIDATION_PER_USER,
                        help="the per-user file to write (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.per_user:
        if args.only or args.dry_run:
            parser.error("--per-user runs no grid: it takes neither --only nor --dry-run")
        table = tuning.read_validation(args.output)
        split.reset_test_reads()
        write_per_user(Run(False, table), table, args.per_user_output)
        _check_no_test_read("--per-user")
        return table
    chosen = args.only or list(EXPERIMENTS)
    previous = tuning.read_validation(args.output) if args.output.is_file() else None
    if args.only and previous is None and not args.dry_run:
        print(f"{args.output} does not exist yet: it will hold only {chosen}.")
    split.reset_test_reads()
    run = Run(args.dry_run, previous)
    start = time.perf_counter()
    table = None
    for name in EXPERIMENTS:
        if name in chosen:
            EXPERIMENTS[name](run)
            _check_no_test_read(name)
            if not args.dry_run:  # after each experiment, so a stopped run keeps what it did
                table = _merge(previous, chosen, run.rows)
                tuning.write_validation(table, args.output)
    if table is not None:
        print(f"\nwrote {len(table)} rows to {args.output} in {time.perf_counter() - start:.0f} s")
        write_per_user(run, table, args.per_user_output)
        _check_no_test_read("the per-user values")
    return table


def _check_no_test_read(experiment: str) -> None:
    """Stop before writing if anything read the test part (reco.split records every read)."""
    reads = split.test_reads()
    if not reads.empty:
        raise SystemExit(
            f"experiment {experiment!r} read the test part, which tuning must never do: "
            f"{reads['place'].tolist()}. Fix: score on part='val' only; nothing was written."
        )


def _merge(previous: pd.DataFrame | None, chosen: list[str], rows: list[dict]) -> pd.DataFrame:
    """Return the previous table without the experiments of this run, plus this run's rows."""
    table = pd.DataFrame(rows, columns=list(tuning.COLUMNS))
    if previous is not None:
        table = pd.concat([previous[~previous["experiment"].isin(chosen)], table])
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    table = table.sort_values("experiment", key=lambda s: s.map(order), kind="stable")
    return table.reset_index(drop=True)


if __name__ == "__main__":
    main()
