"""Describe a ratings table: its size, its sparsity, and who rated what.

These are the numbers and tables the first notebook looks at before any model
is trained, and one for top-k lists: how many movies two users' lists share.
Error measures and the yardsticks that read predictions (``out_of_range``,
``bias_in_stars``, ``unseen_mask``) live in :mod:`reco.metrics`.
Everything here is plain numpy and pandas; the functions exist so that the
notebooks stay short and the same numbers are tested once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reco._checks import join_titles, positive_int, require_columns
from reco.constants import (
    MOVIE_COL,
    MOVIE_IDX_COL,
    RATING_COL,
    TITLE_COL,
    USER_COL,
    USER_IDX_COL,
)

__all__ = [
    "count_stats",
    "format_summary",
    "list_overlap",
    "movie_stats",
    "summary",
    "top_crosstab",
]

#: Moved to :mod:`reco.metrics` in 0.2; these names still work here for one release.
_MOVED = ("bias_in_stars", "out_of_range", "unseen_mask")


def __getattr__(name: str):
    """Serve the yardsticks that moved to :mod:`reco.metrics`, with a DeprecationWarning."""
    if name in _MOVED:
        import warnings

        from reco import metrics

        warnings.warn(
            f"reco.explore.{name} is deprecated: use reco.metrics.{name}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    n = positive_int(n, "n", "for example n=10")
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


def list_overlap(
    lists: pd.DataFrame,
    *,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    **renamed,
) -> pd.DataFrame:
    """Count how many movies every pair of users' top-k lists have in common.

    If every user gets much the same list, the recommender is not personal;
    the off-diagonal counts show how much it is.

    Args:
        lists: one row per (user, listed movie), such as
            :func:`reco.evaluate.top_k`'s table; a movie listed twice for
            one user counts once.
        user_idx_col: column of users (indices, or ids).
        movie_idx_col: column of movies (indices, or ids).
        **renamed: ``user_col=`` and ``movie_col=``, the names before 0.2
            (deprecated: they meant the index columns here, ids elsewhere).

    Returns:
        a square int DataFrame, index and columns the users (sorted): cell
        ``(a, b)`` is the number of movies in both ``a``'s and ``b``'s lists;
        the diagonal holds each list's length. For the pairs of distinct
        users, take ``frame.to_numpy()[np.triu_indices(len(frame), k=1)]``.

    Raises:
        ValueError: a column is missing.
    """
    for old, new in (("user_col", "user_idx_col"), ("movie_col", "movie_idx_col")):
        if old in renamed:
            import warnings

            warnings.warn(
                f"list_overlap({old}=) is deprecated: use {new}=.", DeprecationWarning, stacklevel=2
            )
            if new == "user_idx_col":
                user_idx_col = renamed.pop(old)
            else:
                movie_idx_col = renamed.pop(old)
    if renamed:
        raise TypeError(f"list_overlap() got unexpected keyword(s) {sorted(renamed)}")
    require_columns(lists, {user_idx_col: "user_idx_col", movie_idx_col: "movie_idx_col"}, "lists")
    users, rows = np.unique(lists[user_idx_col].to_numpy(), return_inverse=True)
    _, cols = np.unique(lists[movie_idx_col].to_numpy(), return_inverse=True)
    listed = np.zeros((len(users), int(cols.max()) + 1 if cols.size else 0), dtype=np.int32)
    listed[rows, cols] = 1
    index = pd.Index(users, name=user_idx_col)
    return pd.DataFrame(listed @ listed.T, index=index, columns=index.rename(None))
