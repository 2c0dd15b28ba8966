"""Input checks shared by the package's table-handling modules."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd


def require_columns(df: pd.DataFrame, columns: Mapping[str, str | None], what: str) -> None:
    """Raise ``ValueError`` naming the missing columns of ``df`` and how to fix it.

    Args:
        df: the table to check.
        columns: column name -> the keyword argument that names it in the
            caller (``{"movieId": "movie_col"}``), or ``None`` where no
            keyword can change it (a history's ``"rmse"`` column).
        what: what the table is, for the message (``"ratings"``, ``"history"``).
    """
    missing = {col: kw for col, kw in columns.items() if col not in df.columns}
    if not missing:
        return
    keywords = [f"{kw}=<your column>" for kw in missing.values() if kw]
    fix = (
        f"rename the column(s), or name yours with {', '.join(keywords)}"
        if keywords
        else "pass a table that has them"
    )
    raise ValueError(
        f"{what} table has no column(s) {list(missing)}; it has {list(df.columns)}. Fix: {fix}."
    )


def join_titles(
    frame: pd.DataFrame,
    movies: pd.DataFrame,
    *,
    movie_col: str,
    columns: tuple[str, ...],
) -> pd.DataFrame:
    """Join movie columns (title, genres) onto ``frame`` by ``movie_col``, keeping its row order.

    Every movie must have one row in ``movies``; a movie with no row gets
    missing values and a ``UserWarning`` that names it.

    Args:
        frame: a table with ``movie_col``.
        movies: a movies table with ``movie_col`` and ``columns``.
        movie_col: the movie id column of both tables.
        columns: the columns of ``movies`` to add.

    Returns:
        ``frame`` with ``columns`` added, its index unchanged.

    Raises:
        ValueError: a column is missing, or ``movies`` lists a movie twice.
    """
    require_columns(movies, {movie_col: "movie_col", **{c: f"{c}_col" for c in columns}}, "movies")
    info = movies[[movie_col, *columns]]
    dup = info[movie_col].duplicated()
    if dup.any():
        raise ValueError(
            f"movies table lists {movie_col} {info.loc[dup, movie_col].iloc[0]} more than once; "
            f"each movie needs one row. Fix: movies.drop_duplicates({movie_col!r})."
        )
    unknown = ~frame[movie_col].isin(info[movie_col])
    if unknown.any():
        ids = frame.loc[unknown, movie_col].tolist()
        warnings.warn(
            f"{len(ids)} movie(s) have no row in the movies table, so their "
            f"{', '.join(columns)} are missing: {movie_col} {ids[:5]}"
            f"{' ...' if len(ids) > 5 else ''}. Fix: pass the movies table of the same data set.",
            UserWarning,
            stacklevel=3,
        )
    out = frame.merge(info, on=movie_col, how="left", validate="many_to_one")
    out.index = frame.index
    return out


def positive_int(value, name: str, hint: str) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise ``ValueError``.

    The one check of "is a positive integer" in the package: sizes, counts,
    list lengths and training settings all go through it.

    Args:
        value: the value to check (``bool`` is refused, NumPy integers are accepted).
        name: its name, for the message (``"n_factors"``).
        hint: the fix, for the message (``"use an embedding size such as 50"``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer; got {value!r}. Fix: {hint}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}. Fix: {hint}.")
    return int(value)


def check_count(value, name: str) -> int:
    """Return ``value`` as an int if it is a positive integer (a list length), else raise."""
    return positive_int(value, name, f"{name} is how many movies to list, for example {name}=10")


def check_range(min_rating, max_rating) -> tuple[float, float]:
    """Return ``(min_rating, max_rating)`` as floats if ``min_rating < max_rating``, else raise."""
    from reco.constants import MAX_RATING, MIN_RATING

    try:
        lo, hi = float(min_rating), float(max_rating)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not lo < hi:
        raise ValueError(
            f"min_rating must be less than max_rating; got min_rating={min_rating}, "
            f"max_rating={max_rating}. Fix: pass the rating scale's lowest and highest values "
            f"(MovieLens: {MIN_RATING} and {MAX_RATING})."
        )
    return lo, hi


def check_l2(l2) -> float:
    """Return an L2 penalty as a float if it is finite and not negative, else raise."""
    try:
        value = float(l2)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"l2 must be zero or positive; got {l2!r}. Fix: for example l2=1e-4.")
    return value


def check_rate(rate, name: str) -> float:
    """Return a dropout rate as a float if it lies in ``[0, 1)``, else raise."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"{name} must be a rate in [0, 1); got {rate!r}. Fix: for example {name}=0.5, "
            f"or {name}=0 for none."
        )
    return value


def check_unique_pairs(
    pairs,
    what: str = "ratings",
    *,
    user_col: str,
    movie_col: str,
    fix: str | None = None,
    error: type[ValueError] = ValueError,
) -> None:
    """Raise ``error`` if two rows rate the same (user, movie) pair, naming the first and the fix.

    The one check of "one rating per user and movie" in the package: the data
    files, :func:`reco.split.encode_ids` and the splits go through it.

    Args:
        pairs: a table with ``user_col`` and ``movie_col`` (rows are named by its
            index), or an array of shape ``(n, 2)`` of ``[user, movie]`` (by position).
        what: what the rows are, for the message (a file's path, ``"ratings"``).
        user_col, movie_col: the columns, also the names shown in the message.
        fix: the fix, for the message; default: ``<what>.drop_duplicates(...)``.
        error: the exception class (``reco.data.DataError`` for files).
    """
    if isinstance(pairs, pd.DataFrame):
        frame = pairs[[user_col, movie_col]]
    else:
        rows = np.asarray(pairs)
        frame = pd.DataFrame(rows.reshape(len(rows), -1)[:, :2], columns=[user_col, movie_col])
    shared = frame[frame.duplicated(keep=False)]
    if shared.empty:
        return
    user, movie = shared.iloc[0]
    first = shared.index[(shared[user_col] == user) & (shared[movie_col] == movie)].tolist()
    n_pairs = len(shared.drop_duplicates())
    fix = fix or f"{what}.drop_duplicates([{user_col!r}, {movie_col!r}], keep='last')"
    raise error(
        f"{what}: {len(shared)} rows share {n_pairs} ({user_col}, {movie_col}) pair(s), the "
        f"first at rows {first[:5]}{' ...' if len(first) > 5 else ''}: user {user} and movie "
        f"{movie}; keep one rating per pair. Fix: {fix}."
    )
