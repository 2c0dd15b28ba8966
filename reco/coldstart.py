"""A new user who has rated a handful of movies: fold them in without retraining (notebook 09).

A trained model knows the users it was trained on. A user who signs up
today rates a few movies in a questionnaire; to recommend to them, solve
for *their* factors with the movie factors held fixed, the projection step
of alternating least squares (WALS). Each kind of model folds in on its own
scale, and declares how in its contract (:meth:`reco.kinds.ModelKind.fold_in`):

* **V2 and RecommenderNetV2** (:func:`ridge_fold_in`): their prediction is
  ``sigmoid(u . m + b_u + b_m)`` scaled to the rating range, so a rating maps
  back to a logit, ``logit((r - min) / (max - min))``, and the user's factors
  and bias are a small ridge regression on the logits of the movies they
  rated. The sigmoid maps the range's ends, 0.5 and 5 stars, to infinite
  logits, so the targets are first kept ``margin`` stars inside the range.
* **the implicit model of notebook 08** (:func:`softmax_fold_in`): its user
  vector is fitted to the softmax over the catalogue, maximising the
  likelihood of the movies the user liked (rated at least ``min_rating``),
  with an L2 penalty, by L-BFGS (SciPy), with the movie factors fixed.
* **EASE** needs no folding in: its scores are ``x B`` for the user's 0/1 row
  ``x`` (:meth:`reco.baselines.EASE.score_history`).

:func:`fold_in` asks the model's contract, and :func:`reco.recommend.recommend_new_user`
turns the scores into a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reco import kinds
from reco.constants import MOVIE_COL, RATING_COL

__all__ = [
    "FOLD_IN_L2",
    "FoldedUser",
    "fold_in",
    "fold_in_many",
    "given_ratings",
    "ridge_fold_in",
    "softmax_fold_in",
    "softmax_fold_in_many",
]

#: Ridge penalty of :func:`ridge_fold_in` and :func:`softmax_fold_in` by default.
FOLD_IN_L2 = 1.0


@dataclass(frozen=True)
class FoldedUser:
    """A new user folded into a trained model.

    Attributes:
        scores: float32 ``(n_movies,)``, the model's ranking score of every
            movie for this user, higher first.
        stars: float32 ``(n_movies,)``, the predicted stars, for models that
            predict ratings; else ``None``.
        factors: the user's fitted vector (its last entry the bias, for the
            rating models).
    """

    scores: np.ndarray
    stars: np.ndarray | None
    factors: np.ndarray


def given_ratings(encoder, given, bounds=None) -> tuple[np.ndarray, np.ndarray]:
    """Check a new user's ratings and return them as ``(movie indices, stars)``.

    Args:
        encoder: the fitted :class:`reco.split.IdEncoder` of the model.
        given: the user's ratings: a mapping ``{movieId: stars}``, or a
            DataFrame with ``movieId`` and ``rating`` columns.
        bounds: ``(min_rating, max_rating)`` the stars must lie in, or ``None``.

    Returns:
        int32 movie indices and float32 stars, in the order given.

    Raises:
        ValueError: a movie the encoder does not know, a movie given twice,
            a missing rating, or a rating outside ``bounds``; each message
            names the fix.
    """
    if isinstance(given, pd.DataFrame):
        missing = {MOVIE_COL, RATING_COL} - set(given.columns)
        if missing:
            raise ValueError(
                f"the given ratings need columns {MOVIE_COL!r} and {RATING_COL!r}; "
                f"{sorted(missing)} missing. Fix: pass {{movieId: stars}} or such a table."
            )
        ids, stars = given[MOVIE_COL].to_numpy(), given[RATING_COL].to_numpy()
    elif isinstance(given, Mapping):
        ids, stars = np.array(list(given.keys())), np.array(list(given.values()))
    else:
        raise ValueError(
            f"given must be a mapping {{movieId: stars}} or a DataFrame; got "
            f"{type(given).__name__}. Fix: e.g. given={{318: 5.0, 2571: 4.0}}."
        )
    stars = np.asarray(stars, dtype=np.float64)
    if len(ids) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"movie {unique[counts > 1][0]} is given {int(counts.max())} times; give each "
            "movie once (its latest rating)."
        )
    known = set(encoder.movies.classes_.tolist())
    unknown = [i for i in ids.tolist() if i not in known]
    if unknown:
        raise ValueError(
            f"{len(unknown)} movie id(s) the model does not know: {unknown[:5]}"
            f"{' ...' if len(unknown) > 5 else ''}. Fix: ask only about movies the encoder "
            "knows (encoder.movies.classes_), best those with training ratings: a movie no "
            "one rated in training cannot anchor a new user's factors."
        )
    if not np.isfinite(stars).all():
        raise ValueError("a given rating is missing or infinite. Fix: give stars as numbers.")
    if bounds is not None:
        lo, hi = bounds
        outside = (stars < lo) | (stars > hi)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"rating {stars[first]:g} of movie {ids[first]} is outside the model's range "
                f"[{lo:g}, {hi:g}]. Fix: give stars on the scale of the training ratings."
            )
    return encoder.encode_movies(ids).astype(np.int32), stars.astype(np.float32)


def ridge_fold_in(
    movie_factors: np.ndarray,
    movie_bias: np.ndarray,
    movies: np.ndarray,
    stars: np.ndarray,
    bounds: tuple[float, float],
    *,
    l2: float = FOLD_IN_L2,
    margin: float = 0.25,
) -> FoldedUser:
    """Fold a user into a V2-like model: a ridge regression on the logit scale.

    Solves ``min_w sum_i (m_i . u + b + b_i - z_i)^2 + l2 * |w|^2`` with
    ``w = [u, b]`` over the movies ``i`` the user rated, where ``z_i =
    logit((r_i - min) / (max - min))`` after ``r_i`` is kept ``margin`` stars
    inside the range (the sigmoid reaches its ends only at infinite logits).

    Args:
        movie_factors: float ``(n_movies, k)``, the trained movie factors.
        movie_bias: float ``(n_movies,)``, the trained movie biases.
        movies, stars: the user's ratings (movie indices, stars).
        bounds: the model's ``(min_rating, max_rating)``.
        l2: the ridge penalty, on the factors and the bias; choose it on validation.
        margin: how far inside the range the targets are kept, in stars.

    Returns:
        a :class:`FoldedUser`: logits as scores, and predicted stars.
    """
    lo, hi = (float(b) for b in bounds)
    if not 0 <= 2 * margin < hi - lo:
        raise ValueError(
            f"margin={margin} stars leaves no room inside the range [{lo:g}, {hi:g}]. Fix: a "
            "margin of zero or more and below half the range, such as 0.25 on 0.5-5 stars."
        )
    M = np.asarray(movie_factors, dtype=np.float64)
    bias = np.asarray(movie_bias, dtype=np.float64).reshape(-1)
    r = np.clip(np.asarray(stars, np.float64), lo + margin, hi - margin)
    p = (r - lo) / (hi - lo)
    z = np.log(p) - np.log1p(-p)
    A = np.hstack([M[movies], np.ones((len(movies), 1))])
    w = np.linalg.solve(A.T @ A + l2 * np.eye(A.shape[1]), A.T @ (z - bias[movies]))
    logits = M @ w[:-1] + w[-1] + bias
    stars_all = lo + (hi - lo) / (1.0 + np.exp(-logits))
    return FoldedUser(logits.astype(np.float32), stars_all.astype(np.float32), w.astype(np.float32))


def softmax_fold_in(
    kernel: np.ndarray,
    bias: np.ndarray,
    movies: np.ndarray,
    *,
    l2: float = FOLD_IN_L2,
) -> FoldedUser:
    """Fold a user into the implicit model: fit their vector to the softmax over the catalogue.

    Minimises ``-sum_{i in movies} log softmax(u W + c)_i + l2 * |u|^2`` over
    ``u`` with the movie factors ``W`` and prior ``c`` fixed, by L-BFGS from
    ``u = 0`` (deterministic). With no movies the answer is ``u = 0``: the
    prior ``c``, a popularity ranking. :func:`softmax_fold_in_many` folds in
    many users at once; this is the same solve for one.

    Args:
        kernel: float ``(k, n_movies)``, the ``movie_scores`` layer's kernel.
        bias: float ``(n_movies,)``, its bias.
        movies: the movies the user liked (indices).
        l2: the penalty on ``u``.

    Returns:
        a :class:`FoldedUser` with logits as scores and no stars.
    """
    return softmax_fold_in_many(kernel, bias, [movies], l2=l2)[0]


def softmax_fold_in_many(
    kernel: np.ndarray,
    bias: np.ndarray,
    movie_lists: list,
    *,
    l2: float = FOLD_IN_L2,
) -> list[FoldedUser]:
    """Fold many users into the implicit model at once (:func:`softmax_fold_in` for each).

    The users' objectives share nothing but ``W``, so their sum is minimised
    by each user's own optimum: one L-BFGS solve over all the vectors finds
    them all, and scores every user in one matrix product. That product reads
    ``W`` once for all users instead of once per user per step, which on a CPU
    is what a fold-in's time is spent on (notebook 09 folds in hundreds).
    The solve stops when no gradient entry exceeds ``1e-6``, so a user's
    vector does not depend on which other users are folded in with them,
    beyond that tolerance.

    Args:
        kernel: float ``(k, n_movies)``, the ``movie_scores`` layer's kernel.
        bias: float ``(n_movies,)``, its bias.
        movie_lists: for each user, the movies they liked (indices).
        l2: the penalty on each ``u``.

    Returns:
        a :class:`FoldedUser` per user, in order.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    W = np.asarray(kernel, dtype=np.float64)
    c = np.asarray(bias, dtype=np.float64).reshape(-1)
    lists = [np.asarray(m, dtype=np.int64).reshape(-1) for m in movie_lists]
    U = np.zeros((len(lists), W.shape[0]))
    fit = np.array([len(m) > 0 for m in lists], dtype=bool)
    if fit.any():
        chosen = [m for m, f in zip(lists, fit, strict=True) if f]
        counts = np.array([len(m) for m in chosen], dtype=np.float64)
        liked = np.stack([W[:, m].sum(axis=1) for m in chosen])  # (users, k)
        prior = np.array([c[m].sum() for m in chosen])

        def loss(x):
            V = x.reshape(liked.shape)
            logits = V @ W + c
            log_z = logsumexp(logits, axis=1)
            P = np.exp(logits - log_z[:, None])
            value = -((V * liked).sum() + prior.sum() - counts @ log_z) + l2 * (V * V).sum()
            grad = -(liked - counts[:, None] * (P @ W.T)) + 2 * l2 * V
            return value, grad.reshape(-1)

        options = {"maxiter": 1000, "gtol": 1e-6, "ftol": 0.0}
        U[fit] = minimize(loss, U[fit].reshape(-1), jac=True, method="L-BFGS-B",
                          options=options).x.reshape(liked.shape)  # fmt: skip
    scores = (U @ W + c).astype(np.float32)
    return [FoldedUser(s, None, u.astype(np.float32)) for s, u in zip(scores, U, strict=True)]


def fold_in(model, movies, stars, *, l2: float = FOLD_IN_L2) -> FoldedUser:
    """Fold a new user, given their ratings, into a trained model, by its kind's contract.

    Args:
        model: a trained model whose kind folds in (V2, RecommenderNetV2, the
            implicit model), or a fitted baseline with ``score_history``
            (EASE, popularity).
        movies, stars: the user's ratings, from :func:`given_ratings`.
        l2: the ridge penalty of the fold-in.

    Returns:
        a :class:`FoldedUser`.

    Raises:
        ValueError: the model's kind cannot fold in a user.
    """
    return fold_in_many(model, [(movies, stars)], l2=l2)[0]


def fold_in_many(model, answers, *, l2: float = FOLD_IN_L2) -> list[FoldedUser]:
    """Fold many new users into a trained model: :func:`fold_in` for each, solved together where the kind can.

    Args:
        model: as for :func:`fold_in`.
        answers: for each user, their ``(movies, stars)``.
        l2: the ridge penalty of the fold-in.

    Returns:
        a :class:`FoldedUser` per user, in order.
    """
    answers = [
        (np.asarray(movies, dtype=np.int32), np.asarray(stars, dtype=np.float32))
        for movies, stars in answers
    ]
    if kinds._is_baseline(model):
        if not hasattr(model, "score_history"):
            raise ValueError(
                f"a {type(model).__name__} cannot score a new user's ratings. Fix: use EASE "
                "or PopularityBaseline, or fold into V2."
            )
        model._check_fitted()
        return [
            FoldedUser(
                np.asarray(model.score_history(movies), dtype=np.float32),
                None,
                np.zeros(0, np.float32),
            )
            for movies, _ in answers
        ]
    return kinds.kind_of(model).fold_in_many(model, answers, l2=l2)
