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


def check_count(value, name: str) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{name} must be a positive integer (how many movies to list); got {value!r}."
        )
    return int(value)
