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
import json
import sys
import time
from pathlib import Path

import keras
import pandas as pd

from reco import (
    baselines,
    data,
    evaluate,
    feature_model,
    features,
    implicit,
    kinds,
    questionnaire,
    split,
    train,
    tuning,
)
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

# Notebook 09. The feature model's grid, as (builder keywords, TrainConfig): V2's training
# settings, its defaults (50 ID factors, 16 side factors, date features) and one change each.
FEATURES, QUESTIONNAIRE = tuning.RETRAINED_EXPERIMENTS
FEATURE_KIND = feature_model.FeatureKind.name  # the model kind the experiment trains
V2_CONFIG = kinds.get("v2").config
FEATURE_GRID = [
    ({}, V2_CONFIG),
    ({"date_features": False}, V2_CONFIG),
    ({"side_factors": 4}, V2_CONFIG),
    ({"side_factors": 32}, V2_CONFIG),
    ({"n_factors": 32}, V2_CONFIG),
    ({"cross": True}, V2_CONFIG),
    ({}, dataclasses.replace(V2_CONFIG, epochs=4)),
]
#: The questionnaire's grid (notebook 09): ridge penalties of each fold-in, at 5 answers
#: about the most popular movies, then the other orders at each method's chosen penalty.
ANSWERS = 5
FOLD_IN_L2S = {"v2": (1.0, 3.0, 10.0, 30.0, 100.0), MF: (0.1, 1.0, 10.0)}
ORDERS = ("random", "varied")


class Run:
    """The data of one run and the rows it scores."""

    def __init__(self, dry_run: bool, previous: pd.DataFrame | None):
        self.dry_run, self.previous, self.rows = dry_run, previous, []
        self.per_user: dict[str, pd.Series] = {}  # row key -> validation NDCG@10 by user
        self._new_users = None
        if not dry_run:
            encoded, self.encoder = split.encode_ids(data.load_ratings())
            self.encoded = encoded
            self.three_way = split.train_val_test_split(encoded)
            self.features = features.movie_features(data.load_movies(), self.encoder)

        self.versions = {
            "keras": keras.__version__,
            "backend": f"{keras.backend.backend()} {_backend_version()}",
            "date": datetime.date.today().isoformat(),
        }

    @property
    def new_users(self) -> questionnaire.NewUserSplit:
        """The questionnaire's split (notebook 09), made on first use."""
        if self._new_users is None:
            self._new_users = questionnaire.new_user_split(self.encoded)
        return self._new_users

    def score(self, experiment, model_name, model, settings, seed, seconds, min_rating=None,
              *, rmse=False):  # fmt: skip
        """Score ``model`` on the validation part and keep the row and its per-user NDCG.

        With ``rmse``, the row also has the validation RMSE, in stars.
        """
        scores, users = self.validation_scores(model)
        if rmse:
            scores["rmse"] = train.rating_metrics(model, self.three_way, part="val")["rmse"]
        self.add_row(experiment, model_name, settings, seed, seconds, scores, min_rating)
        self.per_user[tuning.row_key(pd.Series(self.rows[-1]))] = users
        return self.rows[-1]

    def add_row(self, experiment, model_name, settings, seed, seconds, scores, min_rating=None):
        """Keep one row of the table, and print it."""
        row = {
            "experiment": experiment,
            "model": model_name,
            "settings": settings,
            "seed": seed,
            "min_rating": min_rating,
            **{k: scores.get(k) for k in tuning.METRICS},
            "rmse": scores.get("rmse"),
            "train_seconds": round(seconds, 2),
            **self.versions,
        }
        self.rows.append(row)
        metrics = "  ".join(f"{k} {row[k]:.4f}" for k in (*tuning.METRICS, "rmse")
                            if row[k] is not None)  # fmt: skip
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
        return train_kind(name, self.encoder, self.three_way, kwargs, config, loss, seed,
                          min_rating, self.features)  # fmt: skip

    def fit(self, experiment, name, kwargs, config, loss, seed, *, min_rating=None, rmse=False):
        """Train a model of kind ``name`` after ``set_seed(seed)`` and score it."""
        settings = tuning.settings_json(kwargs, config, loss)
        if self.dry_run:
            print(f"{experiment:20s} {name:18s} seed {seed:<3d} {settings}"
                  + (f"  min_rating {min_rating}" if min_rating else ""))  # fmt: skip
            return None
        model, seconds = self.train(name, kwargs, config, loss, seed, min_rating)
        return self.score(experiment, name, model, settings, seed, seconds, min_rating, rmse=rmse)

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


def train_kind(name, encoder, data_split, kwargs, config, loss, seed, min_rating=None,
               movie_features=None):  # fmt: skip
    """Train a model of kind ``name`` on ``data_split`` after ``set_seed(seed)``.

    The feature model is given the catalogue's features and the split it trains
    on (which users and movies are known); an implicit model with
    ``min_rating`` trains on those positives only. Returns the model and its
    training seconds.
    """
    train.set_seed(seed)
    if name == FEATURE_KIND:
        kwargs = {**kwargs, "features": movie_features, "trained_on": data_split}
    model = train.build_model(name, encoder, **kwargs)
    data_ = implicit.positives(data_split, min_rating) if min_rating else data_split
    history = train.fit(model, data_, config=config, loss=loss)
    return model, history.attrs["train_seconds"]


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


def feature_models(run: Run) -> None:
    v2 = kinds.get("v2")
    run.fit(FEATURES, "v2", {}, v2.config, v2.default_loss, SEED, rmse=True)
    for kwargs, config in FEATURE_GRID:
        run.fit(FEATURES, FEATURE_KIND, kwargs, config, v2.default_loss, SEED, rmse=True)


def questionnaire_grid(run: Run) -> None:
    """Fold validation users in after their answers; score NDCG@10 on their other movies.

    The methods are popularity, EASE at the course's chosen penalty, V2 and the
    implicit model of 08 (its chosen "positives >= 4" setting), each trained on
    the questionnaire split's training users. Each fold-in penalty is tried at
    5 answers about the most popular movies; then the random and varied orders
    at each method's best penalty ("varied": far apart in V2's movie factors).
    """
    name = QUESTIONNAIRE
    ease_row, mf_row = run.best("EASE"), run.best("positives >= 4")
    if run.dry_run or ease_row is None or mf_row is None:
        if not run.dry_run:
            raise SystemExit(
                "'questionnaire' uses the chosen EASE and 'positives >= 4' settings, and there "
                "are none yet. Fix: run tools/tune.py --only EASE --only 'positives >= 4' first."
            )
        print(f"{name:20s} popularity, EASE, v2 l2 {FOLD_IN_L2S['v2']}, {MF} l2 {FOLD_IN_L2S[MF]}"
              f" at {ANSWERS} popular answers; then orders {ORDERS}")  # fmt: skip
        return
    new_users, v2 = run.new_users, kinds.get("v2")
    start = time.perf_counter()
    methods = {"popularity": (baselines.PopularityBaseline().fit(new_users.split), {}, (0.0,))}
    min_rating = {MF: float(mf_row["min_rating"])}
    lam = tuning.chosen_settings(ease_row)[0]["lam"]
    methods["EASE"] = (baselines.EASE(lam=lam).fit(new_users.split), {"lam": lam}, (0.0,))
    seconds = {"popularity": 0.0, "EASE": time.perf_counter() - start}
    model, seconds["v2"] = train_kind("v2", run.encoder, new_users.split, {}, v2.config,
                                      v2.default_loss, SEED)  # fmt: skip
    methods["v2"] = (model, _settings({}, v2.config, v2.default_loss), FOLD_IN_L2S["v2"])
    kwargs, config, loss = tuning.chosen_settings(mf_row)
    mf, seconds[MF] = train_kind(MF, run.encoder, new_users.split, kwargs, config, loss, SEED,
                                 min_rating[MF])  # fmt: skip
    methods[MF] = (mf, _settings(kwargs, config, loss), FOLD_IN_L2S[MF])
    popular = questionnaire.question_order("popular", new_users.split)
    orders = {"popular": popular}
    for order in ORDERS:
        factors = kinds.movie_factors(model) if order == "varied" else None
        orders[order] = questionnaire.question_order(order, new_users.split,
                                                     movie_factors=factors)  # fmt: skip

    def row(method, l2, order):
        made, trained, _ = methods[method]
        scores = questionnaire.questionnaire_metrics(made, new_users, orders[order], ANSWERS,
                                                     part="val", l2=l2).mean()  # fmt: skip
        settings = {"answers": ANSWERS, "order": order, "l2": l2, **trained}
        run.add_row(name, method, json.dumps(settings, separators=(",", ":")), SEED,
                    seconds[method], scores.to_dict(), min_rating.get(method))  # fmt: skip
        return float(scores["ndcg"])

    for method, (_, _, penalties) in methods.items():
        by_l2 = {l2: row(method, l2, "popular") for l2 in penalties}
        if method != "popularity":
            best_l2 = max(by_l2, key=by_l2.get)
            for order in ORDERS:
                row(method, best_l2, order)


def _settings(kwargs, config, loss) -> dict:
    """The settings of a trained model, as :func:`reco.tuning.settings_json` writes them."""
    return json.loads(tuning.settings_json(kwargs, config, loss))


#: The baselines' classes by model name, to retrain a row (:meth:`Run.retrain`).
BASELINES = {"popularity": baselines.PopularityBaseline, "EASE": baselines.EASE}


def compared_rows(table: pd.DataFrame) -> list[pd.Series]:
    """Return the rows whose per-user NDCG notebook 08 compares, in the table's order.

    They are each experiment's chosen row (:func:`reco.tuning.best`), the
    logistic loss at the softmax's settings (the first row of its grid), and
    the best BPR row with 16 negatives.
    """
    rows = [tuning.best(table, name) for name in RANKING_EXPERIMENTS
            if (table["experiment"] == name).any()]  # fmt: skip
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
    FEATURES: feature_models,
    QUESTIONNAIRE: questionnaire_grid,
}
#: The experiments whose chosen rows keep per-user NDCG (:func:`compared_rows`): notebook
#: 08's. Notebook 09 retrains its chosen models, so its intervals need no stored values.
RANKING_EXPERIMENTS = tuple(
    name for name in EXPERIMENTS if name not in tuning.RETRAINED_EXPERIMENTS
)


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
