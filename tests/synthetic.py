"""Small synthetic MovieLens data sets for the tests, in GroupLens's own file layouts.

The tests never read the real MovieLens files: these helpers make a few hundred
ratings that look like MovieLens (sparse ids, half-star ratings, Unix
timestamps, titles with commas and accents) and write them the way
``ml-latest-small``, ``ml-100k``, ``ml-1m``, ``ml-25m`` and ``ml-32m`` are
written, so the loaders can be checked on every layout in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: The 19 genres of ml-100k's ``u.item`` flags, in file order (they are also
#: valid ml-latest and ml-1m genre names, except "unknown").
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
NO_GENRES = "(no genres listed)"
HALF_STARS = np.arange(1, 11, dtype=np.float64) / 2  # 0.5, 1.0, ..., 5.0

#: The files of the ml-latest-small layout that ratings/movies do not cover.
_ML_LATEST_EXTRA = {
    "README.txt": "Synthetic ml-latest-small for the reco tests. Not MovieLens data.\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n",
    "tags.csv": "userId,movieId,tag,timestamp\n1,1,funny,1445714994\n",
}


def make_ratings(
    n_users: int = 20,
    n_movies: int = 30,
    density: float = 0.3,
    seed: int = 0,
    *,
    whole_stars: bool = False,
) -> pd.DataFrame:
    """Make a random ratings table with MovieLens's columns and the loaders' dtypes.

    User ids are ``1..n_users``; movie ids are sparse (like MovieLens's, which run
    far beyond the number of movies). Every user rates at least one movie.

    Args:
        n_users, n_movies: size of the id sets.
        density: probability that a user rated a given movie.
        seed: seed of the random generator.
        whole_stars: ratings 1..5 only (ml-100k and ml-1m have no half stars).

    Returns:
        columns ``userId`` (int64), ``movieId`` (int64), ``rating`` (float32, on
        the half-star grid), ``timestamp`` (int64), sorted by user then movie.
    """
    rng = np.random.default_rng(seed)
    movie_ids = np.sort(rng.choice(np.arange(1, 10 * n_movies + 1), n_movies, replace=False))
    rated = rng.random((n_users, n_movies)) < density
    rated[np.arange(n_users), rng.integers(0, n_movies, n_users)] = True
    users, movies = np.nonzero(rated)
    stars = HALF_STARS[1::2] if whole_stars else HALF_STARS
    return pd.DataFrame(
        {
            "userId": (users + 1).astype(np.int64),
            "movieId": movie_ids[movies].astype(np.int64),
            "rating": rng.choice(stars, len(users)).astype(np.float32),
            "timestamp": rng.integers(828_124_615, 1_537_799_250, len(users)).astype(np.int64),
        }
    )


def make_movies(movie_ids: Iterable[int] | None = None, seed: int = 0) -> pd.DataFrame:
    """Make a movies table for the given ids, with awkward but valid titles.

    Titles include commas (quoted in CSV), accents (latin-1 in ml-100k/ml-1m) and
    apostrophes; one movie in seven has no genre.

    Args:
        movie_ids: the ids; default: those of :func:`make_ratings` with its defaults.
        seed: seed of the random generator.

    Returns:
        columns ``movieId`` (int64), ``title``, ``genres`` (``|``-separated
        names from :data:`ML100K_GENRES`, or ``(no genres listed)``).
    """
    if movie_ids is None:
        movie_ids = make_ratings()["movieId"].unique()
    ids = np.asarray(sorted(set(int(i) for i in movie_ids)), dtype=np.int64)
    rng = np.random.default_rng(seed)
    titles, genres = [], []
    for k, movie in enumerate(ids):
        year = 1930 + int(rng.integers(0, 90))
        kind = k % 4
        if kind == 0:
            titles.append(f"Movie {movie}, The ({year})")
        elif kind == 1:
            titles.append(f"Amélie's Café {movie} ({year})")
        elif kind == 2:
            titles.append(f"Night & Day: Part {movie} ({year})")
        else:
            titles.append(f"Film {movie} ({year})")
        if k % 7 == 3:
            genres.append(NO_GENRES)
        else:
            picked = rng.choice(len(ML100K_GENRES) - 1, int(rng.integers(1, 4)), replace=False)
            genres.append("|".join(ML100K_GENRES[1 + i] for i in sorted(picked)))
    return pd.DataFrame({"movieId": ids, "title": titles, "genres": genres})


def _write(path: Path, text: str, line_ending: str, encoding: str) -> None:
    path.write_bytes(text.replace("\n", line_ending).encode(encoding))


def _stars(rating: float) -> str:
    return f"{float(rating):g}"  # 4.0 -> "4", 3.5 -> "3.5", as in ml-100k and ml-1m


def write_ml_latest(
    folder: str | Path,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    line_ending: str = "\n",
) -> Path:
    """Write an ``ml-latest-small``-style folder: the five files, CSV with a header.

    Ratings are written like GroupLens writes them (``4.0``, ``3.5``).

    Returns:
        the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ratings = ratings.astype({"rating": np.float64})  # "3.5", not float32 noise
    _write(
        folder / "ratings.csv",
        ratings.to_csv(index=False, lineterminator="\n"),
        line_ending,
        "utf-8",
    )
    _write(
        folder / "movies.csv", movies.to_csv(index=False, lineterminator="\n"), line_ending, "utf-8"
    )
    for name, text in _ML_LATEST_EXTRA.items():
        _write(folder / name, text, line_ending, "utf-8")
    return folder


def write_ml_100k(folder: str | Path, ratings: pd.DataFrame, movies: pd.DataFrame) -> Path:
    """Write an ``ml-100k``-style folder: tab-separated ``u.data``, latin-1 ``u.item``.

    ``u.item`` has five fields (id, title, release date, video release date,
    IMDb URL) then 19 genre flags, ``|``-separated, no header.

    Returns:
        the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{r.userId}\t{r.movieId}\t{_stars(r.rating)}\t{r.timestamp}\n"
        for r in ratings.itertuples(index=False)
    ]
    _write(folder / "u.data", "".join(lines), "\n", "utf-8")
    lines = []
    for m in movies.itertuples(index=False):
        names = set(m.genres.split("|"))
        flags = "|".join("1" if g in names else "0" for g in ML100K_GENRES)
        url = f"http://us.imdb.com/M/title-exact?Film%20{m.movieId}"
        lines.append(f"{m.movieId}|{m.title}|01-Jan-1995||{url}|{flags}\n")
    _write(folder / "u.item", "".join(lines), "\n", "latin-1")
    return folder


def write_ml_1m(folder: str | Path, ratings: pd.DataFrame, movies: pd.DataFrame) -> Path:
    """Write an ``ml-1m``-style folder: ``::``-separated latin-1 ``.dat`` files, no header.

    Returns:
        the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{r.userId}::{r.movieId}::{_stars(r.rating)}::{r.timestamp}\n"
        for r in ratings.itertuples(index=False)
    ]
    _write(folder / "ratings.dat", "".join(lines), "\n", "latin-1")
    lines = [f"{m.movieId}::{m.title}::{m.genres}\n" for m in movies.itertuples(index=False)]
    _write(folder / "movies.dat", "".join(lines), "\n", "latin-1")
    return folder


#: The files of the ml-25m and ml-32m layouts that ratings/movies do not cover.
_ML_25M_EXTRA = {
    "README.txt": "Synthetic ml-25m for the reco tests. Not MovieLens data.\n",
    "genome-scores.csv": "movieId,tagId,relevance\n1,1,0.029\n1,2,0.0237\n",
    "genome-tags.csv": "tagId,tag\n1,007\n2,007 (series)\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n",
    "tags.csv": "userId,movieId,tag,timestamp\n3,260,classic,1439472355\n",
}
_ML_32M_EXTRA = {
    "README.txt": "Synthetic ml-32m for the reco tests. Not MovieLens data.\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n",
    "tags.csv": "userId,movieId,tag,timestamp\n22,26479,Kevin Kline,1583038886\n",
}
#: How a checksum line is written, by style: md5sum's text and binary modes, and BSD's.
CHECKSUM_STYLES = {
    "gnu": "{hex}  {name}\n",
    "binary": "{hex} *{name}\n",
    "bsd": "MD5 ({name}) = {hex}\n",
}


def _write_large(folder, ratings, movies, extra) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ratings = ratings.astype({"rating": np.float64})  # "3.5", not float32 noise
    (folder / "ratings.csv").write_bytes(ratings.to_csv(index=False, lineterminator="\n").encode())
    (folder / "movies.csv").write_bytes(movies.to_csv(index=False, lineterminator="\n").encode())
    for name, text in extra.items():
        (folder / name).write_bytes(text.encode())
    return folder


def write_ml_25m(folder: str | Path, ratings: pd.DataFrame, movies: pd.DataFrame) -> Path:
    """Write an ``ml-25m``-style folder: its seven files, CSV with a header, UTF-8.

    Returns:
        the folder.
    """
    return _write_large(folder, ratings, movies, _ML_25M_EXTRA)


def write_ml_32m(
    folder: str | Path, ratings: pd.DataFrame, movies: pd.DataFrame, style: str = "gnu"
) -> Path:
    """Write an ``ml-32m``-style folder: its six files, with a correct ``checksums.txt``.

    ``checksums.txt`` lists the MD5 of the four ``.csv`` files, one a line, in
    ``style`` (a key of :data:`CHECKSUM_STYLES`).

    Returns:
        the folder.
    """
    folder = _write_large(folder, ratings, movies, _ML_32M_EXTRA)
    lines = [
        CHECKSUM_STYLES[style].format(hex=hashlib.md5(p.read_bytes()).hexdigest(), name=p.name)
        for p in sorted(folder.glob("*.csv"))
    ]
    (folder / "checksums.txt").write_text("".join(lines))
    return folder


def lf_sha256(data: bytes) -> str:
    """SHA-256 of bytes with CRLF turned into LF, as ``reco.data`` records files."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def file_hashes(folder: str | Path) -> dict[str, str]:
    """Map every file name in a folder to its LF SHA-256 (a ``DatasetSpec.files``)."""
    return {
        p.name: lf_sha256(p.read_bytes()) for p in sorted(Path(folder).iterdir()) if p.is_file()
    }


def build_zip(
    folder: str | Path | None = None, *, extra: Mapping[str, bytes] | None = None
) -> bytes:
    """Zip a data set folder the way GroupLens does: every file under ``<folder name>/``.

    Args:
        folder: the folder to zip (its files only, no sub-folders); may be None.
        extra: more members, by their exact archive name (e.g. ``"../evil"``),
            stored as given.

    Returns:
        the bytes of the zip archive.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if folder is not None:
            for path in sorted(Path(folder).iterdir()):
                zf.writestr(f"{Path(folder).name}/{path.name}", path.read_bytes())
        for name, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2018, 9, 26, 0, 0, 0)), data)
    return buf.getvalue()


# --------------------------------------------------------------------------- data for the models


@dataclass(frozen=True)
class Dataset:
    """A synthetic ratings table and everything the models need from it.

    Attributes:
        ratings: the table from :func:`make_ratings` (MovieLens columns and dtypes).
        movies: the table from :func:`make_movies` for the same movie ids.
        encoded: ``ratings`` with the ``user`` and ``movie`` index columns of
            ``reco.split.encode_ids``.
        encoder: the fitted ``reco.split.IdEncoder``.
        split: ``reco.split.train_val_test_split(encoded)``, default fractions and seed.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    encoded: pd.DataFrame
    encoder: object
    split: object

    @property
    def X(self) -> np.ndarray:
        """Every ``[user, movie]`` index row, int32 of shape ``(n, 2)``."""
        return self.encoded[["user", "movie"]].to_numpy(dtype=np.int32)

    @property
    def y(self) -> np.ndarray:
        """Every rating, float32 of shape ``(n,)``."""
        return self.encoded["rating"].to_numpy(dtype=np.float32)


def make_dataset(
    n_users: int = 20,
    n_movies: int = 30,
    density: float = 0.5,
    seed: int = 0,
    *,
    ten_point: bool = False,
) -> Dataset:
    """Make the one synthetic data set the model, training and recommendation tests share.

    It is :func:`make_ratings`, encoded and split with ``reco.split`` exactly as
    the notebooks do it. The ratings are random, so a model can only memorise
    them: that is what the overfitting tests ask of it.

    Args:
        n_users, n_movies, density, seed: as in :func:`make_ratings`.
        ten_point: ratings 1..10 (the half-star ratings doubled), for models
            built with ``min_rating=1, max_rating=10``.

    Returns:
        a :class:`Dataset`; with the defaults it holds about 300 ratings.
    """
    from reco.split import encode_ids, train_val_test_split  # no Keras: cheap to import

    ratings = make_ratings(n_users, n_movies, density, seed)
    if ten_point:
        ratings["rating"] = ratings["rating"] * np.float32(2)
    encoded, encoder = encode_ids(ratings)
    return Dataset(
        ratings=ratings,
        movies=make_movies(ratings["movieId"].unique(), seed=seed),
        encoded=encoded,
        encoder=encoder,
        split=train_val_test_split(encoded),
    )


def split_of(train_rows, test_rows=((0, 0, 3.0),), val_rows=None, n_users=None, n_movies=None):
    """Return a :class:`reco.split.Split` from ``(user index, movie index, stars)`` triples."""
    from reco.split import Split

    def xy(rows):
        X = np.array([r[:2] for r in rows], dtype=np.int32).reshape(-1, 2)
        return X, np.array([r[2] for r in rows], dtype=np.float32)

    X_val, y_val = xy(val_rows) if val_rows is not None else (None, None)
    return Split(*xy(train_rows), *xy(test_rows), X_val, y_val, n_users, n_movies)
