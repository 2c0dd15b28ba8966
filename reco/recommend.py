"""Turn a trained model into a top-k list of movies for one user.

:func:`rated_by` shows what a user already told us (their highest-rated
movies); :func:`recommend` scores every movie the model knows for that user,
drops the ones they have rated and returns the best ``k`` with their titles;
:func:`by_movie_bias` ranks the same candidates by the model's learned movie
bias alone, the part of the score that is the same for every user, to show
what in a list is personal.

All three return a DataFrame indexed by ``rank`` (1, 2, ...) and break ties
deterministically by how many ratings the movie has in ``ratings`` (most
first), then by ``movieId`` (smallest first), so the same model always gives
the same list. :func:`recommend` and :func:`by_movie_bias` score and rank with
the engine of :mod:`reco.evaluate` (:func:`reco.evaluate.score_users` and
:func:`reco.evaluate.rank_scores`). They differ from
:func:`reco.evaluate.top_k` on purpose in what they exclude: here every movie
the user has rated is dropped (a product never recommends what you have
seen); ``top_k`` excludes only what the evaluation protocol says.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from reco import kinds
from reco._checks import check_count, join_titles, require_columns
from reco.constants import (
    DEFAULT_K,
    GENRES_COL,
    MOVIE_COL,
    N_RATINGS_COL,
    PREDICTION_COL,
    RATING_COL,
    TITLE_COL,
    USER_COL,
)
from reco.evaluate import rank_scores, score_users, tie_order
from reco.split import check_id_dtype

__all__ = ["by_movie_bias", "rated_by", "recommend", "recommend_new_user"]

#: Column of :func:`by_movie_bias` with the learned movie bias.
MOVIE_BIAS_COL = "movie_bias"


def _with_titles(frame, movies, movie_col, title_col, genres_col) -> pd.DataFrame:
    out = join_titles(frame, movies, movie_col=movie_col, columns=(title_col, genres_col))
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out


def rated_by(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    user_id: int,
    k: int = DEFAULT_K,
    *,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    rating_col: str = RATING_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
) -> pd.DataFrame:
    """List a user's highest-rated movies, with titles, genres and popularity.

    Many users give their top rating to dozens of movies; among equal ratings
    the movies with the most ratings in ``ratings`` come first (the ones a
    reader is likeliest to know), then the smaller ``movie_col``.

    Args:
        ratings: a ratings table with ``user_col``, ``movie_col``, ``rating_col``.
        movies: a movies table with ``movie_col``, ``title_col``, ``genres_col``.
        user_id: a raw user id (as in ``ratings[user_col]``).
        k: how many movies to list, at least 1 (fewer if the user rated fewer).

    Returns:
        a DataFrame indexed by ``rank`` from 1 with columns ``movie_col`` (int),
        ``title_col``, ``genres_col``, ``rating_col`` (float, stars) and
        ``"n_ratings"`` (int, the movie's number of ratings in ``ratings``),
        sorted by rating (highest first), then by ``"n_ratings"`` (most
        first), then by ``movie_col``.

    Raises:
        ValueError: ``user_id`` has no ratings, ``k < 1``, or a column is missing.
    """
    k = check_count(k, "k")
    require_columns(
        ratings, {user_col: "user_col", movie_col: "movie_col", rating_col: "rating_col"}, "ratings"
    )
    mine = ratings.loc[ratings[user_col] == user_id, [movie_col, rating_col]]
    if mine.empty:
        ids = ratings[user_col]
        raise ValueError(
            f"user id {user_id!r} has no ratings in this table (user ids run from {ids.min()} "
            f"to {ids.max()}, with gaps). Fix: pick one of ratings[{user_col!r}].unique()."
        )
    counts = ratings[movie_col].value_counts()
    mine = mine.assign(**{N_RATINGS_COL: mine[movie_col].map(counts).astype(np.int64)})
    top = mine.sort_values(
        [rating_col, N_RATINGS_COL, movie_col], ascending=[False, False, True], kind="stable"
    ).head(k)
    out = _with_titles(top.reset_index(drop=True), movies, movie_col, title_col, genres_col)
    return out[[movie_col, title_col, genres_col, rating_col, N_RATINGS_COL]]


def recommend(
    model,
    encoder,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    user_id: int,
    k: int = DEFAULT_K,
    exclude_rated: bool = True,
    *,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
    prediction_col: str = PREDICTION_COL,
) -> pd.DataFrame:
    """Recommend the ``k`` movies a model ranks highest for one user, with their predictions.

    Every movie the encoder knows is scored with
    :func:`reco.evaluate.score_users`, the model's contract's ranking score:
    for the dot-product models the score before the sigmoid
    (``u . m + b_u + b_m``), which ranks exactly as the predicted stars do; for
    RecommenderNet the predicted stars; for the implicit model its logit; for
    a baseline its own score. Movies the user rated in ``ratings`` are dropped
    unless ``exclude_rated=False``. Any model of a registered kind works.

    Args:
        model: a trained model of a registered kind (:mod:`reco.kinds`), or a
            fitted baseline from :mod:`reco.baselines`.
        encoder: the :class:`reco.split.IdEncoder` the model was trained with.
        ratings: the ratings table whose rated movies are excluded (pass all
            ratings, not only the training part), with ``user_col`` and ``movie_col``.
        movies: a movies table with ``movie_col``, ``title_col``, ``genres_col``.
        user_id: a raw user id the encoder knows.
        k: how many movies to return, at least 1 (fewer if fewer are left).
        exclude_rated: drop movies the user has already rated.

    Returns:
        a DataFrame indexed by ``rank`` from 1 with columns ``movie_col`` (int),
        ``title_col``, ``genres_col`` and ``prediction_col``: the predicted
        stars (float32) of a model that predicts ratings, else its ranking
        score. Sorted by the ranking score (highest first), ties by number of
        ratings in ``ratings`` (most first), then by ``movie_col`` (smallest first).

    Raises:
        ValueError: the encoder does not know ``user_id``, ``k < 1``, or a
            column is missing.

    Warns:
        UserWarning: ``exclude_rated=True`` but ``ratings`` holds no rating by
            the user, so nothing is excluded (pass all ratings, not a part).
    """
    k = check_count(k, "k")
    movie_idx = _candidates(model, encoder, ratings, user_id, exclude_rated, user_col, movie_col)
    user_idx = int(encoder.encode_users([user_id])[0])
    scores = score_users(model, [user_idx], encoder.n_movies)[0]
    best = _rank(encoder, ratings, movie_idx, scores, k, movie_col)
    if kinds.predicts_ratings(model):
        rows = np.column_stack([np.full_like(best, user_idx), best])
        predicted = np.asarray(kinds.predict(model, rows), dtype=np.float32)
    else:  # a model that only ranks (the implicit model, popularity): its score
        predicted = scores[best].astype(np.float32)
    return _table(
        encoder, best, predicted, movies, prediction_col, movie_col, title_col, genres_col
    )


def recommend_new_user(
    model,
    encoder,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    given,
    k: int = DEFAULT_K,
    *,
    l2: float | None = None,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
    prediction_col: str = PREDICTION_COL,
) -> pd.DataFrame:
    """Recommend ``k`` movies to a user the model was not trained on, from the ratings they give.

    The user is folded in (:func:`reco.coldstart.fold_in`): their factors are
    solved for with the movie factors fixed, with no retraining. The movies
    they rated are not recommended, nor are movies with no rating in
    ``ratings``. With no ratings at all there is nothing to fold in: the list
    is the most-rated movies of ``ratings``, with a warning, and its
    ``prediction_col`` holds their numbers of ratings.

    Args:
        model: a trained V2, RecommenderNetV2 or implicit model, or a fitted
            EASE or popularity baseline.
        encoder: the :class:`reco.split.IdEncoder` the model was trained with.
        ratings: the training ratings, for the popularity of the fallback and of the tie-break.
        movies: a movies table with ``movie_col``, ``title_col``, ``genres_col``.
        given: the new user's ratings, ``{movieId: stars}`` or a DataFrame with
            ``movieId`` and ``rating`` (:func:`reco.coldstart.given_ratings`).
        k: how many movies to return, at least 1.
        l2: the fold-in's ridge penalty; default :data:`reco.coldstart.FOLD_IN_L2`.

    Returns:
        a DataFrame indexed by ``rank`` from 1, as :func:`recommend`'s; its
        ``prediction_col`` holds predicted stars for a rating model, else the score.

    Raises:
        ValueError: an unknown movie id, a rating outside the model's range, a
            movie given twice, or a model that cannot fold in; each says the fix.

    Warns:
        UserWarning: no ratings were given, so the list is the most popular movies.
    """
    from reco.coldstart import FOLD_IN_L2, fold_in, given_ratings

    k = check_count(k, "k")
    sizes = kinds.sizes(model)
    if sizes[1] != encoder.n_movies:
        raise ValueError(
            f"the model was built for {sizes[1]} movies, but the encoder knows "
            f"{encoder.n_movies}. Fix: pass the encoder the model was built with."
        )
    require_columns(ratings, {movie_col: "movie_col"}, "ratings")
    bounds = None
    if not kinds._is_baseline(model) and kinds.predicts_ratings(model):
        bounds = kinds.kind_of(model).rating_range(model)
    movie_idx, stars = given_ratings(encoder, given, bounds)
    popularity = encoder.movie_counts(ratings[movie_col]).astype(np.float32)
    if not len(movie_idx):
        warnings.warn(
            "no ratings were given, so nothing is known of this user: the list is the most "
            "rated movies. Fix: ask the user to rate a few movies first.",
            UserWarning,
            stacklevel=2,
        )
        scores, predicted = popularity, popularity
    else:
        user = fold_in(model, movie_idx, stars, l2=FOLD_IN_L2 if l2 is None else l2)
        scores = user.scores
        predicted = user.stars if user.stars is not None else user.scores
    # movies with no rating in `ratings` are not recommended: nothing was learned of them
    candidates = np.setdiff1d(np.flatnonzero(popularity > 0).astype(np.int32), movie_idx)
    best = _rank(encoder, ratings, candidates, scores, k, movie_col)
    values = np.asarray(predicted, dtype=np.float32)[best]
    return _table(encoder, best, values, movies, prediction_col, movie_col, title_col, genres_col)


def by_movie_bias(
    model,
    encoder,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    user_id: int,
    k: int = DEFAULT_K,
    exclude_rated: bool = True,
    *,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
) -> pd.DataFrame:
    """List the ``k`` movies with the largest learned movie bias that a user has not rated.

    This is the non-personal part of a model with biases (V2 or
    RecommenderNetV2): for one user, ``score = u . m + b_u + b_m`` and ``b_u``
    is the same for every movie, so ranking by ``b_m`` alone is what the model
    would recommend if it knew nothing about the user's taste (``u . m = 0``).
    Compare it with :func:`recommend`'s list for the same user to see what is
    personal. The candidates are the same as :func:`recommend`'s.

    Args:
        model: a trained model with a ``"movie_bias"`` layer (V2 or RecommenderNetV2).
        encoder: the :class:`reco.split.IdEncoder` the model was trained with.
        ratings: the ratings table whose rated movies are excluded.
        movies: a movies table with ``movie_col``, ``title_col``, ``genres_col``.
        user_id: a raw user id the encoder knows.
        k: how many movies to return, at least 1 (fewer if fewer are left).
        exclude_rated: drop movies the user has already rated.

    Returns:
        a DataFrame indexed by ``rank`` from 1 with columns ``movie_col`` (int),
        ``title_col``, ``genres_col`` and ``"movie_bias"`` (float32, in the
        units of the model's score before the sigmoid), sorted by bias
        (largest first), ties by number of ratings, then by ``movie_col``.

    Raises:
        ValueError: the model has no movie bias (V1, RecommenderNet), the
            encoder does not know ``user_id``, ``k < 1``, or a column is missing.
    """
    k = check_count(k, "k")
    bias = kinds.kind_of(model).movie_bias(model)
    if bias is None:
        raise ValueError(
            f"model {model.name!r} has no movie bias; only V2 and RecommenderNetV2 learn "
            "one. Fix: pass one of those models."
        )
    movie_idx = _candidates(model, encoder, ratings, user_id, exclude_rated, user_col, movie_col)
    best = _rank(encoder, ratings, movie_idx, bias, k, movie_col)
    return _table(
        encoder, best, bias[best], movies, MOVIE_BIAS_COL, movie_col, title_col, genres_col
    )


def _candidates(model, encoder, ratings, user_id, exclude_rated, user_col, movie_col):
    """Return the indices of the movies to score for ``user_id``."""
    sizes = kinds.sizes(model)
    if sizes != (encoder.n_users, encoder.n_movies):
        raise ValueError(
            f"the model was built for {sizes[0]} users and {sizes[1]} movies, but the encoder "
            f"knows {encoder.n_users} users and {encoder.n_movies} movies, so its indices would "
            "name other movies. Fix: pass the encoder the model was built with."
        )
    check_id_dtype(encoder.users, [user_id], "user_id")
    known = encoder.users.classes_
    if user_id not in set(known.tolist()):
        raise ValueError(
            f"unknown user id {user_id!r}: the model only knows the {len(known)} users it was "
            f"trained on (ids {known.min()} to {known.max()}, with gaps). "
            "Fix: pick one of encoder.users.classes_ (the same ids as ratings['userId'].unique())."
        )
    # ratings give the tie-break's popularity, so they are checked even with exclude_rated=False
    require_columns(ratings, {user_col: "user_col", movie_col: "movie_col"}, "ratings")
    check_id_dtype(encoder.users, ratings[user_col], f"ratings[{user_col!r}]")
    check_id_dtype(encoder.movies, ratings[movie_col], f"ratings[{movie_col!r}]")
    movie_idx = np.arange(encoder.n_movies, dtype=np.int32)
    movie_ids = np.asarray(encoder.decode_movies(movie_idx))
    if exclude_rated:
        seen = ratings.loc[ratings[user_col] == user_id, movie_col].to_numpy()
        if not seen.size:
            warnings.warn(
                f"exclude_rated=True, but ratings holds no rating by user {user_id!r}, so no "
                "movie is excluded and the list may hold movies they have seen. Fix: pass "
                "the whole ratings table (every part), not a part without this user.",
                UserWarning,
                stacklevel=3,
            )
        movie_idx = movie_idx[~np.isin(movie_ids, seen)]
    return movie_idx


def _rank(encoder, ratings, movie_idx, scores, k, movie_col) -> np.ndarray:
    """Return the indices of the ``k`` best candidates, ties by popularity in ``ratings``, then index."""
    candidates = np.full(encoder.n_movies, -np.inf, dtype=np.float32)
    candidates[movie_idx] = np.asarray(scores, dtype=np.float32)[movie_idx]
    popularity = encoder.movie_counts(ratings[movie_col])
    _, best, _ = rank_scores(candidates[None, :], k, tie_order(popularity))
    return best


def _table(encoder, best, values, movies, score_col, movie_col, title_col, genres_col):
    """Return the ranked movies with their titles and genres and ``score_col``."""
    top = pd.DataFrame({movie_col: encoder.decode_movies(best), score_col: values})
    out = _with_titles(top, movies, movie_col, title_col, genres_col)
    return out[[movie_col, title_col, genres_col, score_col]]
