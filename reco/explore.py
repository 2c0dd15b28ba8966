"""Describe a ratings table: its size, its sparsity, and who rated what.

These are the numbers and tables the first notebook looks at before any model
is trained. Everything here is plain pandas; the functions exist so that the
notebooks stay short and the same numbers are tested once.
"""

from __future__ import annotations

import pandas as pd

from reco._checks import require_columns as _require_columns
from reco.constants import ITEM_COL, RATING_COL, TITLE_COL, USER_COL

__all__ = ["count_stats", "movie_stats", "summary", "top_crosstab"]


def summary(
    ratings: pd.DataFrame,
    *,
    user_col: str = USER_COL,
    item_col: str = ITEM_COL,
    rating_col: str = RATING_COL,
) -> dict[str, float]:
    """Return the headline numbers of a ratings table.

    Args:
        ratings: a ratings table with ``user_col``, ``item_col`` and ``rating_col``.

    Returns:
        a dict with ``n_ratings``, ``n_users``, ``n_movies`` (ints),
        ``density`` (the fraction of user-movie pairs that have a rating),
        ``mean_rating``, ``std_rating``, ``min_rating`` and ``max_rating``
        (floats, in stars).

    Raises:
        ValueError: a column is missing, or the table is empty.
    """
    _require_columns(ratings, [user_col, item_col, rating_col], "ratings")
    if ratings.empty:
        raise ValueError("the ratings table is empty; there is nothing to summarize.")
    stars = ratings[rating_col].astype("float64")
    n_users = int(ratings[user_col].nunique())
    n_movies = int(ratings[item_col].nunique())
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
    item_col: str = ITEM_COL,
) -> pd.DataFrame:
    """Describe how many ratings each user gave and each movie received.

    Args:
        ratings: a ratings table with ``user_col`` and ``item_col``.

    Returns:
        a DataFrame with columns ``"per user"`` and ``"per movie"`` and the rows
        of ``Series.describe()``: ``count`` (users, movies), ``mean``, ``std``,
        ``min``, ``25%``, ``50%``, ``75%``, ``max`` (ratings).
    """
    _require_columns(ratings, [user_col, item_col], "ratings")
    return pd.DataFrame(
        {
            "per user": ratings.groupby(user_col).size().describe(),
            "per movie": ratings.groupby(item_col).size().describe(),
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


def _titles(movie_ids, movies: pd.DataFrame, item_col: str, title_col: str) -> list[str]:
    _require_columns(movies, [item_col, title_col], "movies")
    lookup = movies.drop_duplicates(item_col).set_index(item_col)[title_col]
    titles = [str(lookup.get(m, m)) for m in movie_ids]
    seen = pd.Series(titles).duplicated(keep=False).to_numpy()
    # Two movies may share a title (remakes): keep the labels unique with the id.
    return [f"{t} [{m}]" if dup else t for t, m, dup in zip(titles, movie_ids, seen, strict=True)]


def top_crosstab(
    ratings: pd.DataFrame,
    n: int = 15,
    *,
    movies: pd.DataFrame | None = None,
    user_col: str = USER_COL,
    item_col: str = ITEM_COL,
    rating_col: str = RATING_COL,
    title_col: str = TITLE_COL,
) -> pd.DataFrame:
    """Cross-tabulate the ``n`` most active users against the ``n`` most rated movies.

    This is the dense corner of a very sparse matrix: even there, some cells
    are empty. A collaborative-filtering model learns to fill them in.

    Args:
        ratings: a ratings table with ``user_col``, ``item_col`` and ``rating_col``.
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
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    _require_columns(ratings, [user_col, item_col, rating_col], "ratings")
    users = _most_frequent(ratings[user_col], n)
    items = _most_frequent(ratings[item_col], n)
    dense = ratings[ratings[user_col].isin(users) & ratings[item_col].isin(items)]
    table = pd.crosstab(
        dense[user_col], dense[item_col], values=dense[rating_col], aggfunc="mean"
    ).reindex(index=users, columns=items)
    if movies is not None:
        table.columns = pd.Index(_titles(items, movies, item_col, title_col), name=title_col)
    return table


def movie_stats(
    ratings: pd.DataFrame,
    movies: pd.DataFrame | None = None,
    *,
    item_col: str = ITEM_COL,
    rating_col: str = RATING_COL,
    title_col: str = TITLE_COL,
) -> pd.DataFrame:
    """Count and average the ratings of every movie, with its title if ``movies`` is given.

    Args:
        ratings: a ratings table with ``item_col`` and ``rating_col``.
        movies: a movies table with ``item_col`` and ``title_col``, or ``None``.

    Returns:
        a DataFrame indexed by ``item_col`` (sorted), with columns
        ``n_ratings`` (int), ``mean_rating`` (float, stars) and, with
        ``movies``, ``title_col`` first.
    """
    _require_columns(ratings, [item_col, rating_col], "ratings")
    stats = (
        ratings.assign(_stars=ratings[rating_col].astype("float64"))
        .groupby(item_col)["_stars"]
        .agg(n_ratings="size", mean_rating="mean")
        .sort_index()
    )
    if movies is not None:
        _require_columns(movies, [item_col, title_col], "movies")
        titles = movies.drop_duplicates(item_col).set_index(item_col)[title_col]
        stats.insert(0, title_col, titles.reindex(stats.index))
    return stats
