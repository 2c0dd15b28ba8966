"""Describe a ratings table: its size, its sparsity, and who rated what.

These are the numbers and tables the first notebook looks at before any model
is trained, plus the few yardsticks the model notebooks read predictions with: predictions
outside the rating scale, test ratings of movies with no training rating, and
what a V2 bias is worth in stars; and one for top-k lists, how many movies
two users' lists share. Error measures live in :mod:`reco.metrics`.
Everything here is plain numpy and pandas; the functions exist so that the
notebooks stay short and the same numbers are tested once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reco._checks import join_titles, require_columns
from reco.constants import (
    MAX_RATING,
    MIN_RATING,
    MOVIE_COL,
    MOVIE_IDX_COL,
    RATING_COL,
    TITLE_COL,
    USER_COL,
    USER_IDX_COL,
)

__all__ = [
    "bias_in_stars",
    "count_stats",
    "format_summary",
    "list_overlap",
    "movie_stats",
    "out_of_range",
    "summary",
    "top_crosstab",
    "unseen_mask",
]


def summary(
    ratings: pd.DataFrame,
    *,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    rating_col: str = RATING_COL,
) -> dict[str, float]:
    """Return the headline numbers of a ratings table.

    Args:
        ratings: a ratings table with ``user_col``, ``movie_col`` and ``rating_col``.

    Returns:
        a dict with ``n_ratings``, ``n_users``, ``n_movies`` (ints),
        ``density`` (the fraction of user-movie pairs that have a rating),
        ``mean_rating``, ``std_rating``, ``min_rating`` and ``max_rating``
        (floats, in stars).

    Raises:
        ValueError: a column is missing, or the table is empty.
    """
    require_columns(
        ratings, {user_col: "user_col", movie_col: "movie_col", rating_col: "rating_col"}, "ratings"
    )
    if ratings.empty:
        raise ValueError("the ratings table is empty; there is nothing to summarize.")
    stars = ratings[rating_col].astype("float64")
    n_users = int(ratings[user_col].nunique())
    n_movies = int(ratings[movie_col].nunique())
    return {
        "n_ratings": len(ratings),
        "n_users": n_users,
        "n_movies": n_movies,
        "density": len(ratings) / (n_users * n_movies),
        "mean_rating": float(stars.mean()),
        "std_rating": float(stars.std()),
        "min_rating": float(stars.min()),
        "max_rating": float(stars.max()),
    }


def count_stats(
    ratings: pd.DataFrame,
    *,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
) -> pd.DataFrame:
    """Describe how many ratings each user gave and each movie received.

    Args:
        ratings: a ratings table with ``user_col`` and ``movie_col``.

    Returns:
        a DataFrame with columns ``"per user"`` and ``"per movie"`` and the rows
        of ``Series.describe()``: ``count`` (users, movies), ``mean``, ``std``,
        ``min``, ``25%``, ``50%``, ``75%``, ``max`` (ratings).
    """
    require_columns(ratings, {user_col: "user_col", movie_col: "movie_col"}, "ratings")
    return pd.DataFrame(
        {
            "per user": ratings.groupby(user_col).size().describe(),
            "per movie": ratings.groupby(movie_col).size().describe(),
        }
    )


def _most_frequent(ids: pd.Series, n: int) -> pd.Index:
    # Most frequent first; ties broken by the smaller id, so the choice is stable.
    counts = ids.value_counts()
    order = (
        pd.DataFrame({"id": counts.index, "n": counts.to_numpy()})
        .sort_values(["n", "id"], ascending=[False, True])
        .head(n)
    )
    return pd.Index(order["id"].to_numpy(), name=ids.name)


def _titles(movie_ids, movies: pd.DataFrame, movie_col: str, title_col: str) -> list[str]:
    frame = join_titles(
        pd.DataFrame({movie_col: movie_ids}), movies, movie_col=movie_col, columns=(title_col,)
    )
    titles = [
        str(t) if pd.notna(t) else str(m) for t, m in zip(frame[title_col], movie_ids, strict=True)
    ]
    seen = pd.Series(titles).duplicated(keep=False).to_numpy()
    # Two movies may share a title (remakes): keep the labels unique with the id.
    return [f"{t} [{m}]" if dup else t for t, m, dup in zip(titles, movie_ids, seen, strict=True)]


def top_crosstab(
    ratings: pd.DataFrame,
    n: int = 15,
    *,
    movies: pd.DataFrame | None = None,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    rating_col: str = RATING_COL,
    title_col: str = TITLE_COL,
) -> pd.DataFrame:
    """Cross-tabulate the ``n`` most active users against the ``n`` most rated movies.

    This is the dense corner of a very sparse matrix: even there, some cells
    are empty. A collaborative-filtering model learns to fill them in.

    Args:
        ratings: a ratings table with ``user_col``, ``movie_col`` and ``rating_col``.
        n: how many users and how many movies to keep.
        movies: a movies table; if given, columns are labelled with titles
            instead of ids (a duplicate title gets its id appended).

    Returns:
        a DataFrame with one row per user (index ``user_col``, most active
        first) and one column per movie (most rated first); a cell holds the
        user's rating of the movie, or NaN if they did not rate it (the mean,
        if the table holds the same pair twice).

    Raises:
        ValueError: a column is missing, or ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    n = int(n)
    require_columns(
        ratings, {user_col: "user_col", movie_col: "movie_col", rating_col: "rating_col"}, "ratings"
    )
    users = _most_frequent(ratings[user_col], n)
    top_movies = _most_frequent(ratings[movie_col], n)
    dense = ratings[ratings[user_col].isin(users) & ratings[movie_col].isin(top_movies)]
    table = pd.crosstab(
        dense[user_col], dense[movie_col], values=dense[rating_col], aggfunc="mean"
    ).reindex(index=users, columns=top_movies)
    if movies is not None:
        table.columns = pd.Index(_titles(top_movies, movies, movie_col, title_col), name=title_col)
    return table


def movie_stats(
    ratings: pd.DataFrame,
    movies: pd.DataFrame | None = None,
    *,
    movie_col: str = MOVIE_COL,
    rating_col: str = RATING_COL,
    title_col: str = TITLE_COL,
) -> pd.DataFrame:
    """Count and average the ratings of every movie, with its title if ``movies`` is given.

    Args:
        ratings: a ratings table with ``movie_col`` and ``rating_col``.
        movies: a movies table with ``movie_col`` and ``title_col``, or ``None``.

    Returns:
        a DataFrame indexed by ``movie_col`` (sorted), with columns
        ``n_ratings`` (int), ``mean_rating`` (float, stars) and, with
        ``movies``, ``title_col`` first.
    """
    require_columns(ratings, {movie_col: "movie_col", rating_col: "rating_col"}, "ratings")
    stats = (
        ratings.assign(_stars=ratings[rating_col].astype("float64"))
        .groupby(movie_col)["_stars"]
        .agg(n_ratings="size", mean_rating="mean")
        .sort_index()
    )
    if movies is not None:
        titles = join_titles(
            stats.reset_index()[[movie_col]], movies, movie_col=movie_col, columns=(title_col,)
        )
        stats.insert(0, title_col, titles[title_col].to_numpy())
    return stats


def format_summary(stats: Mapping[str, float]) -> str:
    """Format :func:`summary`'s numbers for reading, one per line.

    Counts get thousands separators, ``density`` is a percentage and the
    ratings are in stars at 2 decimals.

    Args:
        stats: the dict returned by :func:`summary`.

    Returns:
        one ``name value`` line per entry, values right-aligned, joined by newlines.
    """
    shown = {}
    for name, value in stats.items():
        if name == "density":
            shown[name] = f"{value:.2%}"
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            shown[name] = f"{value:,}"
        else:
            shown[name] = f"{value:.2f} stars"
    width = max(map(len, shown))
    value_width = max(len(v.removesuffix(" stars")) for v in shown.values())
    lines = []
    for name, text in shown.items():
        number, _, unit = text.partition(" ")
        lines.append(f"{name:<{width}}  {number:>{value_width}}" + (f" {unit}" if unit else ""))
    return "\n".join(lines)


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


def list_overlap(
    lists: pd.DataFrame,
    *,
    user_col: str = USER_IDX_COL,
    movie_col: str = MOVIE_IDX_COL,
) -> pd.DataFrame:
    """Count how many movies every pair of users' top-k lists have in common.

    If every user gets much the same list, the recommender is not personal;
    the off-diagonal counts show how much it is.

    Args:
        lists: one row per (user, listed movie), such as
            :func:`reco.evaluate.top_k`'s table; a movie listed twice for
            one user counts once.
        user_col: column of users (indices or ids).
        movie_col: column of movies (indices or ids).

    Returns:
        a square int DataFrame, index and columns the users (sorted): cell
        ``(a, b)`` is the number of movies in both ``a``'s and ``b``'s lists;
        the diagonal holds each list's length. For the pairs of distinct
        users, take ``frame.to_numpy()[np.triu_indices(len(frame), k=1)]``.

    Raises:
        ValueError: a column is missing.
    """
    require_columns(lists, {user_col: "user_col", movie_col: "movie_col"}, "lists")
    users, rows = np.unique(lists[user_col].to_numpy(), return_inverse=True)
    _, cols = np.unique(lists[movie_col].to_numpy(), return_inverse=True)
    listed = np.zeros((len(users), int(cols.max()) + 1 if cols.size else 0), dtype=np.int32)
    listed[rows, cols] = 1
    index = pd.Index(users, name=user_col)
    return pd.DataFrame(listed @ listed.T, index=index, columns=index.rename(None))
