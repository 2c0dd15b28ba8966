"""Side features of movies and of ratings: genres, release year, and when a rating was made.

The models of notebooks 01-08 know a movie only by its id. These functions
build what a model can know besides: the catalogue's metadata (genres, the
release year parsed from the title), which ``movies.csv`` holds for every
movie, rated or not, and the time of each rating. None of them reads a
rating: a feature of a rating uses that rating's own timestamp and the
catalogue, so a training rating's features never look at the validation or
test part (tests/test_features.py proves it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reco._checks import require_columns
from reco.constants import GENRES_COL, MOVIE_COL, NO_GENRES, TITLE_COL
from reco.split import check_id_dtype

__all__ = [
    "NO_GENRES",
    "MovieFeatures",
    "genre_matrix",
    "movie_features",
    "release_year",
    "time_features",
    "year_of",
]

#: A year in brackets at the end of a title, "(1995)", or a range, "(2006–2007)".
_YEAR = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")

#: Seconds in a mean Gregorian year.
_YEAR_SECONDS = 365.2425 * 24 * 3600


def release_year(titles) -> np.ndarray:
    """Parse each movie's release year from the end of its title.

    MovieLens titles end in the year in brackets (``"Heat (1995)"``), some
    with trailing spaces, some after an alternative title
    (``"City of Lost Children, The (Cité des enfants perdus, La) (1995)"``);
    a series gives a range (``"Death Note: Desu nôto (2006–2007)"``: its first
    year); a few give none (``"Black Mirror"``).

    Args:
        titles: strings, one per movie.

    Returns:
        float64 array, one year per title, NaN where the title gives none.
    """
    titles = pd.Series(titles, dtype="object")
    bad = titles.map(lambda t: not isinstance(t, str))
    if bad.any():
        raise ValueError(
            f"titles must be strings; {int(bad.sum())} are not, first {titles[bad].iloc[0]!r}. "
            "Fix: movies['title'].fillna('') before parsing."
        )
    years = titles.str.extract(_YEAR, expand=False)
    return pd.to_numeric(years, errors="coerce").to_numpy(dtype=np.float64)


def year_of(timestamps) -> np.ndarray:
    """Return the calendar time of Unix timestamps as fractional years (2017.47 for late June 2017)."""
    stamps = np.asarray(timestamps)
    if np.issubdtype(stamps.dtype, np.datetime64):  # datetimes: their Unix seconds
        stamps = stamps.astype("datetime64[s]").astype(np.int64)
    seconds = stamps.astype(np.float64)
    if seconds.size and not np.isfinite(seconds).all():
        raise ValueError("timestamps must be finite Unix seconds; some are missing or infinite.")
    return 1970.0 + seconds / _YEAR_SECONDS


def genre_matrix(
    movies: pd.DataFrame,
    encoder,
    *,
    movie_col: str = MOVIE_COL,
    genres_col: str = GENRES_COL,
) -> np.ndarray:
    """Return the multi-hot genre matrix of the encoded movies, row ``i`` for movie index ``i``.

    Row ``i`` belongs to the movie ``encoder.decode_movies([i])``; column ``j`` is
    the ``j``-th genre of the whole movies table in alphabetical order (the
    vocabulary is the catalogue's, whichever movies were rated).
    ``"(no genres listed)"`` is no genre: its movies have a row of zeros.
    Movies of the table that the encoder does not know have no row.

    Args:
        movies: a movies table with ``movie_col`` and ``genres_col`` (``|``-separated names).
        encoder: the fitted :class:`reco.split.IdEncoder` of the ratings.
        movie_col, genres_col: the columns of ``movies``.

    Returns:
        float32 array of shape ``(encoder.n_movies, n_genres)``, 1 where the movie has the genre.

    Raises:
        ValueError: a column is missing, a genre is missing (NaN), the ids are of
            another kind than the encoder's, or an encoded movie has no row or two.
    """
    require_columns(movies, {movie_col: "movie_col", genres_col: "genres_col"}, "movies")
    check_id_dtype(encoder.movies, movies[movie_col], f"movies[{movie_col!r}]")
    known = movies.loc[movies[movie_col].isin(encoder.movies.classes_), [movie_col, genres_col]]
    if known[genres_col].isna().any():
        raise ValueError(
            f"movies[{genres_col!r}] has {int(known[genres_col].isna().sum())} missing value(s); "
            f"a movie with no genre says so. Fix: movies[{genres_col!r}].fillna({NO_GENRES!r})."
        )
    twice = known.loc[known[movie_col].duplicated(), movie_col]
    if len(twice):
        raise ValueError(
            f"movies table lists {movie_col} {twice.iloc[0]} more than once; each movie needs "
            f"one row. Fix: movies.drop_duplicates({movie_col!r})."
        )
    absent = np.setdiff1d(encoder.movies.classes_, known[movie_col].to_numpy())
    if absent.size:
        raise ValueError(
            f"{absent.size} encoded movie(s) have no row in the movies table: {movie_col} "
            f"{absent[:5].tolist()}{' ...' if absent.size > 5 else ''}. Fix: pass the movies "
            "table of the same data set as the ratings."
        )
    names = _genre_names(movies, genres_col)
    dummies = known[genres_col].astype(str).str.get_dummies(sep="|")
    dummies = dummies.reindex(columns=list(names), fill_value=0).set_axis(known[movie_col])
    return dummies.reindex(encoder.movies.classes_).to_numpy(dtype=np.float32)


def _genre_names(movies: pd.DataFrame, genres_col: str) -> tuple[str, ...]:
    """The genre vocabulary: every genre of the movies table, rated or not, alphabetical."""
    listed = movies[genres_col].dropna().astype(str).str.split("|").explode()
    return tuple(sorted(set(listed) - {NO_GENRES, ""}))


@dataclass(frozen=True)
class MovieFeatures:
    """The catalogue's features of the encoded movies, row ``i`` for movie index ``i``.

    Attributes:
        genres: float32 ``(n_movies, n_genres)``, 1 where the movie has the genre.
        genre_names: the genres, the columns of ``genres``, in alphabetical order.
        year: float32 ``(n_movies,)``, the release year, NaN where the title gives none.
    """

    genres: np.ndarray
    genre_names: tuple[str, ...]
    year: np.ndarray

    @property
    def n_genres(self) -> int:
        """Number of genres."""
        return len(self.genre_names)


def movie_features(
    movies: pd.DataFrame,
    encoder,
    *,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
) -> MovieFeatures:
    """Return the genres and release year of every encoded movie.

    ``movies.csv`` is catalogue metadata, not ratings: it lists every movie,
    rated or not, so building the vocabularies from it reads nothing a model
    is judged on.

    Raises:
        ValueError: as :func:`genre_matrix`, or a title column is missing.
    """
    require_columns(movies, {title_col: "title_col"}, "movies")
    genres = genre_matrix(movies, encoder, movie_col=movie_col, genres_col=genres_col)
    known = movies.loc[movies[movie_col].isin(encoder.movies.classes_)]
    names = _genre_names(movies, genres_col)
    titles = known.set_index(movie_col)[title_col].reindex(encoder.movies.classes_)
    year = release_year(titles.fillna("").to_numpy()).astype(np.float32)
    return MovieFeatures(genres, names, year)


def time_features(timestamps, movie_year) -> dict[str, np.ndarray]:
    """Return the date features of ratings: when each was made, and how old its movie was then.

    Args:
        timestamps: Unix seconds of each rating, shape ``(n,)``.
        movie_year: the release year of each rating's movie, shape ``(n,)``
            (NaN when unknown): ``MovieFeatures.year[movies]``.

    Returns:
        ``{"rating_year": ..., "movie_age": ..., "age_known": ...}``, float32
        arrays of shape ``(n,)``: the fractional year of the rating, the years
        from the movie's release (0 when the year is unknown, and never below
        0: a movie rated in the months before the year its title gives), and 1
        where the release year is known.
    """
    rating_year = year_of(timestamps)
    movie_year = np.asarray(movie_year, dtype=np.float64)
    if movie_year.shape != rating_year.shape:
        raise ValueError(
            f"movie_year has shape {movie_year.shape} for {rating_year.shape} timestamps; "
            "give one per rating, e.g. features.year[X[:, 1]]."
        )
    known = np.isfinite(movie_year)
    age = np.where(known, np.maximum(rating_year - np.where(known, movie_year, 0.0), 0.0), 0.0)
    return {
        "rating_year": rating_year.astype(np.float32),
        "movie_age": age.astype(np.float32),
        "age_known": known.astype(np.float32),
    }
