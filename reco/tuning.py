"""Read the validation results that ``make tune`` writes, and retrain the chosen settings.

``make tune`` (``tools/tune.py``) trains every candidate of the course's grids
on the training part of :func:`reco.split.train_val_test_split` and scores it
on the validation part (never the test part). It writes one row per
(experiment, setting, seed) to ``reco/validation_results.csv``, committed with
the course, so a notebook reads the choices instead of re-running the grids::

    table = tuning.read_validation()
    row = tuning.best(table, "multinomial")
    builder_kwargs, config, loss = tuning.chosen_settings(row)
    model = implicit.build_implicit_mf(encoder, **builder_kwargs)
    train.fit(model, split, config=config, loss=loss)

The grids run at the course seed (:data:`reco.constants.SEED`); other seeds
measure how much a trained model's scores move with the seed alone
(:func:`seed_spread`). For the rows a notebook compares (each experiment's
chosen row, and a few more), ``make tune`` also keeps every validation user's
NDCG@10 in ``reco/validation_per_user.csv``, so that two rows' gap has a paired
interval (:func:`per_user`, then :func:`reco.evaluate.gaps_between`).

This module imports no Keras.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from reco.config import TrainConfig
from reco.constants import SEED

__all__ = [
    "COLUMNS",
    "LOWER_IS_BETTER",
    "METRICS",
    "VALIDATION_PER_USER",
    "VALIDATION_RESULTS",
    "best",
    "chosen_settings",
    "per_user",
    "read_validation",
    "row_key",
    "seed_spread",
    "settings_json",
    "write_per_user",
    "write_validation",
]

#: The committed table ``make tune`` writes.
VALIDATION_RESULTS = Path(__file__).with_name("validation_results.csv")

#: Every validation user's NDCG@10 for the rows a notebook compares (:func:`per_user`).
VALIDATION_PER_USER = Path(__file__).with_name("validation_per_user.csv")

#: The validation metrics of a row (k = 10), as :func:`reco.evaluate.ranking_metrics` names them.
METRICS = ("ndcg", "recall", "precision", "coverage")

#: Metrics where lower is better: the validation RMSE in stars, of the rows of rating
#: models that notebook 09 compares (empty in the other rows).
LOWER_IS_BETTER = ("rmse",)
#: The experiments whose chosen models notebook 09 retrains on its own splits, so
#: the table keeps no per-user values for them (notebook 08's experiments do).
RETRAINED_EXPERIMENTS = ("features", "questionnaire")

#: The table's columns, in order. ``settings`` is compact JSON of the builder's
#: keywords, the :class:`reco.config.TrainConfig` fields and the loss;
#: ``min_rating`` is the lowest training rating kept as a positive (empty: every
#: rating); ``rmse`` the validation RMSE where measured; ``keras`` and
#: ``backend`` are the library versions of the run.
COLUMNS = (
    "experiment",
    "model",
    "settings",
    "seed",
    "min_rating",
    *METRICS,
    *LOWER_IS_BETTER,
    "train_seconds",
    "date",
    "keras",
    "backend",
)

_CONFIG_FIELDS = tuple(f.name for f in fields(TrainConfig))
_FIX = "Fix: run `make tune` (tools/tune.py) to write it, or pass the path of a table it wrote."


def settings_json(builder_kwargs: dict, config: TrainConfig | None = None, loss=None) -> str:
    """Return one row's ``settings``: compact JSON of the builder keywords, config and loss.

    Args:
        builder_kwargs: the keywords of the model's builder (or a baseline's constructor).
        config: the training settings, or ``None`` for a model that is not trained by
            :func:`reco.train.fit` (a baseline).
        loss: the loss name, or ``None``.
    """
    settings = dict(builder_kwargs)
    if config is not None:
        settings |= {name: getattr(config, name) for name in _CONFIG_FIELDS}
    if loss is not None:
        settings["loss"] = loss
    return json.dumps(settings, separators=(",", ":"))


def write_validation(table: pd.DataFrame, path=None) -> Path:
    """Write ``table`` as CSV at ``path`` atomically: a temporary file, then ``os.replace``.

    A reader never sees half a table, even if the run is stopped while writing.

    Returns:
        the path written (default :data:`VALIDATION_RESULTS`).
    """
    path = Path(path) if path is not None else VALIDATION_RESULTS
    _check_columns(table, path)
    return _write_csv(table.loc[:, list(COLUMNS)], path, index=False)


def _write_csv(frame: pd.DataFrame, path: Path, **to_csv) -> Path:
    """Write ``frame`` at ``path`` through a temporary file and ``os.replace``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as out:
            frame.to_csv(out, float_format="%.6g", **to_csv)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the table is for every reader
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_validation(path=None) -> pd.DataFrame:
    """Read the validation table that ``make tune`` wrote.

    Args:
        path: the CSV file; default :data:`VALIDATION_RESULTS` (``reco/validation_results.csv``).

    Returns:
        one row per (experiment, setting, seed), with the columns :data:`COLUMNS`.

    Raises:
        ValueError: the file is missing, or lacks some of the columns.
    """
    path = Path(path) if path is not None else VALIDATION_RESULTS
    if not path.is_file():
        raise ValueError(f"no validation table at {path}. {_FIX}")
    table = pd.read_csv(path, dtype={"settings": str, "experiment": str, "model": str})
    _check_columns(table, path)
    return table


def _check_columns(table: pd.DataFrame, path) -> None:
    missing = [col for col in COLUMNS if col not in table.columns]
    if missing:
        raise ValueError(
            f"the validation table {path} has no column(s) {missing}; it has "
            f"{list(table.columns)}. It was not written by this version of tools/tune.py. {_FIX}"
        )


def _rows(table: pd.DataFrame, experiment: str, model: str | None = None) -> pd.DataFrame:
    _check_columns(table, "given")
    rows = table[table["experiment"] == experiment]
    if rows.empty:
        raise ValueError(
            f"the validation table has no experiment {experiment!r}; it has "
            f"{list(dict.fromkeys(table['experiment']))}. Fix: use one of those names, or "
            f"run `make tune` (tools/tune.py --only {experiment!r}) to add it."
        )
    if model is not None:
        models = list(dict.fromkeys(rows["model"]))
        rows = rows[rows["model"] == model]
        if rows.empty:
            raise ValueError(f"experiment {experiment!r} has no model {model!r}; it has {models}.")
    return rows


def best(table: pd.DataFrame, experiment: str, metric: str = "ndcg") -> pd.Series:
    """Return the chosen row of an experiment: the best ``metric`` at the course seed.

    The best is the highest, or the lowest for :data:`LOWER_IS_BETTER` (``"rmse"``);
    rows without the metric are not compared.

    Settings are compared at one seed, :data:`reco.constants.SEED` (the
    grid's), so a setting is not chosen for a lucky seed; an experiment run at
    other seeds only is compared over all its rows. Ties go to the first row.

    Args:
        table: from :func:`read_validation`.
        experiment: an experiment's name, such as ``"multinomial"``.
        metric: one of :data:`METRICS` or :data:`LOWER_IS_BETTER`.

    Raises:
        ValueError: an unknown experiment or metric, or no row of the experiment has it.
    """
    if metric not in METRICS + LOWER_IS_BETTER:
        raise ValueError(
            f"metric must be one of {list(METRICS + LOWER_IS_BETTER)}; got {metric!r}."
        )
    rows = _rows(table, experiment)
    at_seed = rows[rows["seed"] == SEED]
    rows = at_seed if len(at_seed) else rows
    values = pd.to_numeric(rows[metric], errors="coerce").dropna()
    if values.empty:
        raise ValueError(
            f"no row of experiment {experiment!r} has a {metric!r} value. Fix: choose by "
            f"{'ndcg' if metric in LOWER_IS_BETTER else 'rmse'}, or rerun `make tune` "
            f"(tools/tune.py --only {experiment!r})."
        )
    return rows.loc[values.idxmin() if metric in LOWER_IS_BETTER else values.idxmax()]


def chosen_settings(row: pd.Series) -> tuple[dict, TrainConfig | None, str | None]:
    """Return what retrains a row: ``(builder_kwargs, config, loss)``.

    Args:
        row: a row of the table, for example from :func:`best`.

    Returns:
        the builder's keywords (a baseline's constructor keywords, such as
        ``{"lam": 200}`` for EASE), the :class:`reco.config.TrainConfig`, and
        the loss name for :func:`reco.train.fit`; ``config`` and ``loss`` are
        ``None`` for a baseline, which is not trained by ``fit``. A row with a
        ``min_rating`` was trained on ``reco.implicit.positives(split, min_rating)``.

    Raises:
        ValueError: the row has no readable ``settings``.
    """
    try:
        settings = json.loads(row["settings"])
        if not isinstance(settings, dict):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"the row has no readable settings (compact JSON); got "
            f"{row.get('settings') if hasattr(row, 'get') else row!r}. Fix: pass a row of "
            "read_validation(), for example best(table, 'multinomial')."
        ) from None
    loss = settings.pop("loss", None)
    config_fields = {name: settings.pop(name) for name in _CONFIG_FIELDS if name in settings}
    config = TrainConfig(**config_fields) if config_fields else None
    return settings, config, loss


def seed_spread(
    table: pd.DataFrame, experiment: str, model: str | None = None, metric: str = "ndcg"
) -> pd.DataFrame:
    """Return the spread of ``metric`` over the seeds of each setting run with several seeds.

    Args:
        table: from :func:`read_validation`.
        experiment: an experiment's name, such as ``"rating models"``.
        model: keep this model only (for example ``"v2"``); default: every model.
        metric: one of :data:`METRICS`.

    Returns:
        one row per (model, settings) with two seeds or more, indexed by
        ``model``, with the columns ``settings``, ``seeds`` (how many),
        ``mean``, ``std`` (over seeds, ``ddof=1``), ``min`` and ``max``.

    Raises:
        ValueError: an unknown experiment, model or metric, or no setting with two seeds.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}.")
    rows = _rows(table, experiment, model)
    groups = rows.groupby(["model", "settings"], sort=False)[metric]
    spread = groups.agg(seeds="count", mean="mean", std="std", min="min", max="max")
    spread = spread[spread["seeds"] >= 2].reset_index(level="settings")
    if spread.empty:
        raise ValueError(
            f"experiment {experiment!r} has no setting run with two seeds or more. Fix: "
            "run the seeds in tools/tune.py (the rating models and the chosen multinomial "
            "setting are run with seeds 42, 1 and 2)."
        )
    spread["seeds"] = spread["seeds"].astype(np.int64)
    return spread


def row_key(row: pd.Series) -> str:
    """Return a short name of one row of the table: a hash of what made it.

    The hash covers the experiment, the model, the settings, the seed and
    ``min_rating``, so a row keeps its key when the table is rewritten, and a
    changed setting gets a new one. It names the row's column in
    ``reco/validation_per_user.csv``.
    """
    min_rating = None if pd.isna(row["min_rating"]) else float(row["min_rating"])
    made_of = [str(row["experiment"]), str(row["model"]), str(row["settings"]), int(row["seed"]),
               min_rating]  # fmt: skip
    return hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:12]


def write_per_user(values: dict[str, pd.Series], path=None) -> Path:
    """Write per-user NDCG@10 (row key -> a Series indexed by user index) atomically.

    Returns:
        the path written (default :data:`VALIDATION_PER_USER`).
    """
    path = Path(path) if path is not None else VALIDATION_PER_USER
    frame = pd.DataFrame(dict(values)).sort_index()
    frame.index.name = "user"
    return _write_csv(frame, path)


def per_user(row: pd.Series, path=None) -> pd.DataFrame:
    """Return every validation user's NDCG@10 for one row of the table.

    ``make tune`` keeps them for the rows the notebooks compare; two rows'
    values pair up by user, for :func:`reco.evaluate.gaps_between`.

    Args:
        row: a row of :func:`read_validation`, for example from :func:`best`.
        path: the per-user CSV; default :data:`VALIDATION_PER_USER`.

    Returns:
        a DataFrame indexed by user index (``user``), with one column, ``ndcg``.

    Raises:
        ValueError: the file or the row's values are missing, or they do not
            average to the row's NDCG (they were made for another table).
    """
    path = Path(path) if path is not None else VALIDATION_PER_USER
    fix = (
        "Fix: run `make tune` (or tools/tune.py --per-user, which retrains only the compared rows)."
    )
    if not path.is_file():
        raise ValueError(f"no per-user validation values at {path}. {fix}")
    frame = pd.read_csv(path, index_col="user")
    key, what = row_key(row), f"{row['experiment']!r} ({row['model']}, seed {row['seed']})"
    if key not in frame.columns:
        raise ValueError(f"{path.name} has no per-user values for the row {what}. {fix}")
    values = frame[key].dropna()
    if not math.isclose(values.mean(), float(row["ndcg"]), abs_tol=1e-5):
        raise ValueError(
            f"the per-user values of the row {what} average {values.mean():.6f}, but the "
            f"table says {float(row['ndcg']):.6f}: they were made for another table. {fix}"
        )
    return values.to_frame("ndcg")
