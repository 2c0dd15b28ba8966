"""Error measures of predicted ratings, in stars, shared by training and the comparisons.

RMSE and MAE come from :mod:`sklearn.metrics`; this module adds what the
course needs around them: float64 arithmetic, a clear error when predictions
and ratings differ in length, the mean-rating baseline, a comparison table of
several models, and the yardsticks the model notebooks read predictions with:
predictions outside the rating scale (:func:`out_of_range`), test ratings of
movies with no training rating (:func:`unseen_mask`), and what a V2 bias is
worth in stars (:func:`bias_in_stars`). Ranking metrics of top-k lists live in
:mod:`reco.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error

from reco._checks import positive_int
from reco.constants import MAX_RATING, MIN_RATING, SEED

__all__ = [
    "baseline_rmse",
    "bias_in_stars",
    "compare_predictions",
    "out_of_range",
    "rmse_gap",
    "rmse_mae",
    "unseen_mask",
]


def _pair(y, pred, what: str = "pred") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if y.size != pred.size:
        raise ValueError(
            f"{what} has {pred.size} predictions for {y.size} ratings; they must match one to "
            "one. Fix: predict the same [user, movie] rows whose ratings you score."
        )
    if y.size == 0:
        raise ValueError("there are no ratings to score.")
    return y, pred


def rmse_mae(y, pred) -> dict[str, float]:
    """Return the root mean squared error and the mean absolute error of predictions.

    Args:
        y: true ratings, any shape with ``n`` elements.
        pred: predicted ratings, ``n`` elements; compared in float64.

    Returns:
        ``{"rmse": float, "mae": float}``.

    Raises:
        ValueError: ``y`` and ``pred`` differ in length, or are empty.
    """
    y, pred = _pair(y, pred)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
    }


def baseline_rmse(y_train, y) -> float:
    """Return the RMSE, in stars, of predicting the training mean for every rating in ``y``.

    This is the yardstick every model has to beat.

    Args:
        y_train: float array of shape ``(m,)``, the training ratings.
        y: float array of shape ``(n,)``, the ratings to score.

    Returns:
        ``sqrt(mean((y - mean(y_train)) ** 2))`` as a float.

    Raises:
        ValueError: ``y_train`` or ``y`` is empty.
    """
    y_train = np.asarray(y_train, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y_train.size == 0 or y.size == 0:
        raise ValueError("y_train and y must hold at least one rating each.")
    return rmse_mae(y, np.full_like(y, y_train.mean()))["rmse"]


def compare_predictions(
    y_train,
    y_test,
    test_predictions: Mapping[str, np.ndarray],
    train_predictions: Mapping[str, np.ndarray] | None = None,
    *,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
) -> pd.DataFrame:
    """Score models' predictions against the mean-rating baseline, one row per model.

    Args:
        y_train: float array of shape ``(m,)``, the training ratings (their mean
            is the baseline's prediction).
        y_test: float array of shape ``(n,)``, the ratings to score.
        test_predictions: model name -> float array of shape ``(n,)`` of
            predicted stars for ``y_test``.
        train_predictions: model name -> float array of shape ``(m,)`` of
            predicted stars for ``y_train``, to add a ``train RMSE`` column;
            it must have the same names as ``test_predictions``.
        min_rating: lowest rating on the scale.
        max_rating: highest rating on the scale.

    Returns:
        a DataFrame indexed by model name, ``"mean rating"`` (the baseline)
        first, with columns ``train RMSE`` (with ``train_predictions``),
        ``test RMSE``, ``test MAE`` (floats, stars) and
        ``outside [min_rating, max_rating]`` (int, test predictions off the scale).

    Raises:
        ValueError: a prediction array does not match its ratings in length,
            or the two mappings name different models.
    """
    if train_predictions is not None and list(train_predictions) != list(test_predictions):
        raise ValueError(
            f"train_predictions names {list(train_predictions)} but test_predictions "
            f"names {list(test_predictions)}; pass the same models in the same order."
        )
    y_train = np.asarray(y_train, dtype=np.float64).reshape(-1)
    mean = y_train.mean()
    outside = f"outside [{min_rating:g}, {max_rating:g}]"
    rows = {}
    for name in ["mean rating", *test_predictions]:
        baseline = name == "mean rating"
        row = {}
        if train_predictions is not None:
            on_train = np.full_like(y_train, mean) if baseline else train_predictions[name]
            y, p = _pair(y_train, on_train, f"train_predictions[{name!r}]")
            row["train RMSE"] = rmse_mae(y, p)["rmse"]
        pred = np.full(np.size(y_test), mean) if baseline else test_predictions[name]
        y, p = _pair(y_test, pred, f"test_predictions[{name!r}]")
        scores = rmse_mae(y, p)
        row["test RMSE"], row["test MAE"] = scores["rmse"], scores["mae"]
        row[outside] = int(out_of_range(p, min_rating=min_rating, max_rating=max_rating).sum())
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def unseen_mask(X, X_train, *, column: int = 1) -> np.ndarray:
    """Flag the rows of ``X`` whose movie (or user) has no row in ``X_train``.

    A model has learned nothing about such a movie: it is a cold start.

    Args:
        X: int array of shape ``(n, 2)`` with ``[user, movie]`` index rows,
            for example ``split.X_test``.
        X_train: int array of shape ``(m, 2)``, the rows the model trained on.
        column: ``1`` to look at movies, ``0`` at users.

    Returns:
        bool array of shape ``(n,)``: True where ``X[i, column]`` never occurs
        in ``X_train[:, column]``.

    Raises:
        ValueError: ``X`` or ``X_train`` is not a 2-D array with ``column``.
    """
    X, X_train = np.asarray(X), np.asarray(X_train)
    for name, a in (("X", X), ("X_train", X_train)):
        if a.ndim != 2 or not 0 <= column < a.shape[1]:
            raise ValueError(
                f"{name} must have shape (n, 2) with [user, movie] rows and a column "
                f"{column}; got shape {a.shape}."
            )
    return ~np.isin(X[:, column], X_train[:, column])


def out_of_range(
    pred, *, min_rating: float = MIN_RATING, max_rating: float = MAX_RATING
) -> np.ndarray:
    """Flag predictions outside the rating scale ``[min_rating, max_rating]``.

    Args:
        pred: predicted stars, float array of shape ``(n,)``.
        min_rating: lowest rating on the scale.
        max_rating: highest rating on the scale.

    Returns:
        bool array of shape ``(n,)``: True below ``min_rating`` or above ``max_rating``.
    """
    pred = np.asarray(pred)
    return (pred < min_rating) | (pred > max_rating)


def bias_in_stars(
    bias, at: float, *, min_rating: float = MIN_RATING, max_rating: float = MAX_RATING
):
    """Convert biases added before a scaled sigmoid (as in V2) into stars, around a prediction.

    V2 predicts ``min_rating + (max_rating - min_rating) * sigmoid(x)``, and a
    bias is added to ``x``, not to the stars. What it is worth in stars depends
    on the rest of ``x``: this returns how much a bias moves a prediction that
    would be ``at`` stars without it.

    Args:
        bias: a float or an array (or Series) of biases, in units of ``x``.
        at: the prediction without the bias, in stars, strictly inside
            ``(min_rating, max_rating)``.
        min_rating: lowest rating of the scaled sigmoid.
        max_rating: highest rating of the scaled sigmoid.

    Returns:
        ``scaled_sigmoid(logit(at) + bias) - at``, in stars, with the type and
        shape of ``bias``.

    Raises:
        ValueError: ``at`` is not strictly between ``min_rating`` and ``max_rating``.
    """
    if not min_rating < at < max_rating:
        raise ValueError(
            f"at must be strictly between {min_rating} and {max_rating} stars; got {at!r}."
        )
    span = max_rating - min_rating
    x0 = np.log((at - min_rating) / (max_rating - at))
    return min_rating + span / (1 + np.exp(-(x0 + bias))) - at


def rmse_gap(
    y, a, b, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = SEED
) -> dict[str, float]:
    """Return ``RMSE(a) - RMSE(b)`` on the same ratings, with a paired bootstrap interval.

    The ratings are resampled with replacement ``n_boot`` times, each keeping
    its two predictions together, and the RMSE gap is recomputed on each
    resample; the interval is the percentile interval of those gaps. A
    negative gap means ``a`` errs less. A gap whose interval includes 0 is a tie.

    Args:
        y: the true ratings, ``n`` of them.
        a, b: two models' predictions of the same ``n`` ratings.
        n_boot: resamples, at least 1.
        confidence: the interval's coverage, in ``(0, 1)``.
        seed: the seed of the resampling.

    Returns:
        ``{"gap", "low", "high", "ratings"}``: the observed gap in stars, the
        interval's ends, and ``n``.

    Raises:
        ValueError: lengths differ, no ratings, a bad ``n_boot`` or ``confidence``.
    """
    y, a = _pair(y, a, "a")
    _, b = _pair(y, b, "b")
    n_boot = positive_int(n_boot, "n_boot", "for example n_boot=2000")
    if not 0 < float(confidence) < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}. Fix: 0.95.")
    square_a, square_b = (a - y) ** 2, (b - y) ** 2
    rows = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    gaps = np.sqrt(square_a[rows].mean(axis=1)) - np.sqrt(square_b[rows].mean(axis=1))
    tail = (1 - float(confidence)) / 2
    low, high = np.quantile(gaps, [tail, 1 - tail])
    gap = float(np.sqrt(square_a.mean()) - np.sqrt(square_b.mean()))
    return {"gap": gap, "low": float(low), "high": float(high), "ratings": len(y)}
