"""Load MovieLens ratings and movies, offline first, downloading only when absent.

A data set is the folder ``<data_home>/<name>/`` holding GroupLens's own files,
for example ``ml-latest-small/ratings.csv``. Data homes are tried in this order,
and the first that holds the data set wins:

1. the ``data_home`` argument,
2. the ``RECO_DATA_HOME`` environment variable,
3. the per-user cache folder, ``platformdirs.user_cache_dir("reco")`` (as
   ``pooch.os_cache("reco")``: ``~/.cache/reco`` on Linux).

When none holds it, :func:`download` puts it into the first of them. A data home
that already holds the data set is only ever read. Every problem with the files
raises :class:`DataError`, a ``ValueError`` whose message names the file, the
problem and the fix.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
from filelock import FileLock

from reco._checks import check_unique_pairs
from reco.constants import (
    DATA_HOME_ENV,
    DEFAULT_DATASET,
    GENRES_COL,
    MAX_RATING,
    MIN_RATING,
    MOVIE_COL,
    MOVIES_COLUMNS,
    NO_GENRES,
    RATING_COL,
    RATINGS_COLUMNS,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
)

__all__ = ["DATASETS", "DataError", "DatasetSpec", "data_homes", "download", "find_dataset",
           "load_movies", "load_ratings", "read_movies", "read_ratings", "verify_file"]  # fmt: skip


class DataError(ValueError):
    """A data file is missing, corrupt, or not what the course expects."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a MovieLens data set comes from and how its files are laid out.

    Attributes:
        name: folder name, also the top folder inside the zip archive.
        url: address of the official zip archive.
        archive_sha256: SHA-256 of the zip archive; every download is checked against it.
        layout: ``"csv"`` (ml-latest*), ``"100k"`` (tab/pipe files) or
            ``"1m"`` (``::``-separated ``.dat`` files).
        ratings_file, movies_file: file names of the two tables inside the folder.
        files: every file the folder must hold, mapped to the SHA-256 of its
            bytes with line endings normalised to LF (``None``: not recorded).
        disk_mb: free space, in MB, that downloading needs at its peak (the zip
            and its unzipped files side by side), rounded up; ``None``: not recorded.
    """

    name: str
    url: str
    archive_sha256: str
    layout: str
    ratings_file: str
    movies_file: str
    files: Mapping[str, str | None] = field(default_factory=dict)
    disk_mb: int | None = None


_GROUPLENS = "https://files.grouplens.org/datasets/movielens"

#: The data sets the loaders know, by name.
DATASETS: dict[str, DatasetSpec] = {
    "ml-latest-small": DatasetSpec(
        name="ml-latest-small",
        url=f"{_GROUPLENS}/ml-latest-small.zip",
        archive_sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files={
            "README.txt": "e165937702ae1fac9237b6bd377f03d027f7ef97175d4a04a203e8b12d5516ea",
            "links.csv": "028a4a1d17751ca9276e0e0718cfc22356350f224a996e1ec348c23274b9209d",
            "movies.csv": "c47b783f23eb304413307e1bb05335e427737da20ec8d3c0e96335567dd5f3dc",
            "ratings.csv": "80da8b3393dae325bbba5a31f291a6ba55d8d4f4396de3c456f2c1635b1b70e8",
            "tags.csv": "68eec00a0820c2faa8863a6df7032f13d5899a4462bce9a97213905297ff3d34",
        },
        disk_mb=5,  # a 1.0 MB zip, 3.3 MB unzipped
    ),
    "ml-100k": DatasetSpec(
        name="ml-100k",
        url=f"{_GROUPLENS}/ml-100k.zip",
        archive_sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        layout="100k",
        ratings_file="u.data",
        movies_file="u.item",
        files={"u.data": None, "u.item": None},
        disk_mb=25,  # a 4.9 MB zip, about 16 MB unzipped
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        url=f"{_GROUPLENS}/ml-1m.zip",
        archive_sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        layout="1m",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        files={"ratings.dat": None, "movies.dat": None},
        disk_mb=35,  # a 5.9 MB zip, about 25 MB unzipped
    ),
}

# The 19 genre flags of ml-100k's u.item, in file order (from its u.genre).
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_ML100K_ITEM = (MOVIE_COL, TITLE_COL, "released", "video", "url", *_ML100K_GENRES)
# (separator, column names or None for a header row, encoding) of each layout's two files
_LAYOUTS = {
    "csv": {"ratings": (",", None, "utf-8"), "movies": (",", None, "utf-8")},
    "100k": {"ratings": ("\t", RATINGS_COLUMNS, "utf-8"), "movies": ("|", _ML100K_ITEM, "latin-1")},
    "1m": {
        "ratings": ("::", RATINGS_COLUMNS, "utf-8"),
        "movies": ("::", MOVIES_COLUMNS, "latin-1"),
    },
}


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown data set {name!r}; known data sets are: {known}.")
    return DATASETS[name]


def data_homes(data_home: str | os.PathLike | None = None) -> list[Path]:
    """List the folders searched for data sets, in the order they are tried.

    Args:
        data_home: a folder that takes precedence over the others.

    Returns:
        absolute paths: ``data_home`` if given, ``$RECO_DATA_HOME`` if set and
        not empty, then the per-user cache folder (duplicates removed).
    """
    out: list[Path] = []
    cache = platformdirs.user_cache_dir("reco")
    for path in (data_home, os.environ.get(DATA_HOME_ENV) or None, cache):
        if path is not None and (path := Path(path).expanduser().absolute()) not in out:
            out.append(path)
    return out


def _holds(folder: Path, spec: DatasetSpec) -> bool:
    """Say whether ``folder`` holds the data set; raise DataError if it holds part of it."""
    if not folder.is_dir():
        return False
    missing = [f for f in spec.files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{folder} is incomplete: missing file(s) {', '.join(missing)}. Delete the "
            f"folder to download {spec.name} again, or copy the missing files from {spec.url}."
        )
    return True


def find_dataset(
    name: str = DEFAULT_DATASET,
    data_home: str | os.PathLike | None = None,
    *,
    download_if_missing: bool = True,
    progress: bool = True,
) -> Path:
    """Return the folder of a data set, downloading it if no data home has it.

    Args:
        name: a key of :data:`DATASETS`.
        data_home: a folder searched before ``RECO_DATA_HOME`` and the cache.
        download_if_missing: download into the first data home when absent;
            if ``False``, raise :class:`DataError` instead.
        progress: show a progress bar while downloading.

    Returns:
        the path ``<data_home>/<name>`` that holds the data set.
    """
    spec = _spec(name)
    homes = data_homes(data_home)
    for home in homes:
        if _holds(home / spec.name, spec):
            return home / spec.name
    if not download_if_missing:
        raise DataError(_not_found_message(spec, homes))
    return download(spec, homes[0], progress=progress, looked_in=homes)


def _not_found_message(spec: DatasetSpec, homes: list[Path]) -> str:
    looked = "\n".join(f"  - {h / spec.name}" for h in homes)
    return (
        f"MovieLens data set {spec.name!r} was not found. Looked in:\n{looked}\n"
        f"Either let reco download it from {spec.url} (needs internet), or download "
        f"and unzip it yourself and point {DATA_HOME_ENV} at the folder that contains "
        f"{spec.name}/, for example: export {DATA_HOME_ENV}=/path/to/data"
    )


def download(
    spec: DatasetSpec | str,
    data_home: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    looked_in: list[Path] | None = None,
) -> Path:
    """Download, check and unzip a data set into ``<data_home>/<name>``, once.

    A folder that already holds the data set is returned untouched. Otherwise,
    holding the lock ``<data_home>/.<name>.lock`` (concurrent calls wait, then
    find the data set), pooch fetches the zip into a temporary folder
    ``.<name>-download-*``, checks its SHA-256 and unzips it there, and the data
    set folder appears in one ``os.replace``. Temporary folders that a killed
    download left behind are removed. A failed or interrupted download leaves
    no data, at most the empty lock file (so that waiting processes stay in step).

    Args:
        spec: a :class:`DatasetSpec` or a key of :data:`DATASETS`.
        data_home: where to put it; default: the first of :func:`data_homes`.
        progress: show a ``tqdm`` progress bar.
        timeout: seconds to wait for the server.
        looked_in: folders already searched, named in the error if offline.

    Returns:
        the folder of the data set.

    Raises:
        DataError: no network, a checksum mismatch, a full disk, or a folder that
            cannot be written.
    """
    spec = _spec(spec) if isinstance(spec, str) else spec
    home = data_homes(data_home)[0]
    target, lock_path = home / spec.name, home / f".{spec.name}.lock"
    if _holds(target, spec):  # a home holding the data set is never written to
        return target
    try:
        home.mkdir(parents=True, exist_ok=True)
        with FileLock(lock_path):
            if not _holds(target, spec):  # else another process downloaded it while we waited
                for stale in home.glob(f".{spec.name}-download-*"):  # left by a killed run
                    shutil.rmtree(stale, ignore_errors=True)
                tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-download-", dir=home))
                try:
                    _fetch(spec, tmp, progress, timeout, looked_in or [home])
                    os.replace(tmp / "unzipped" / spec.name, target)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            # Safe to remove now: whoever holds the lock from here on finds the data set.
            with contextlib.suppress(OSError):
                lock_path.unlink()
    except OSError as err:  # _fetch's errors are DataErrors already
        if full := _disk_full(err, spec, home):
            raise full from err
        raise DataError(
            f"cannot write to {home} to download {spec.name}: {err}. Point {DATA_HOME_ENV} "
            f"at a folder you can write to, or at one that already holds {spec.name}/."
        ) from err
    return target


def _fetch(spec: DatasetSpec, tmp: Path, progress: bool, timeout: float, looked_in) -> None:
    """Download the zip into ``tmp`` with pooch, check its SHA-256, unzip it to ``tmp/unzipped``."""
    import pooch  # only when downloading: it imports tqdm.auto, which warns in notebooks

    try:
        pooch.retrieve(
            spec.url,
            known_hash=f"sha256:{spec.archive_sha256}",
            fname=f"{spec.name}.zip",
            path=tmp,
            processor=pooch.Unzip(extract_dir="unzipped"),  # zipfile drops '..', '/' and links
            downloader=pooch.HTTPDownloader(
                progressbar=progress, chunk_size=1 << 16, timeout=timeout
            ),
        )
    except ValueError as err:  # pooch: the SHA-256 does not match
        raise DataError(
            f"the archive downloaded from {spec.url} is corrupt or not the published one "
            f"(its SHA-256 is not {spec.archive_sha256[:12]}...). Nothing was kept. Try "
            f"again; if it fails again, download and unzip {spec.url} by hand and set "
            f"{DATA_HOME_ENV} to the folder that holds {spec.name}/."
        ) from err
    except OSError as err:  # requests' errors are OSErrors too
        if full := _disk_full(err, spec, tmp.parent):
            raise full from err
        raise DataError(
            f"could not download {spec.url}: {err}.\n" + _not_found_message(spec, looked_in)
        ) from err


def _disk_full(err: OSError, spec: DatasetSpec, home: Path) -> DataError | None:
    """Return the DataError for a write that failed on a full disk or quota, else None."""
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    free = ""
    with contextlib.suppress(OSError):
        free = f" (it has {shutil.disk_usage(home).free / 1e6:,.1f} MB free)"
    needs = f"about {spec.disk_mb} MB" if spec.disk_mb else "room for the zip and its files"
    full = "the disk is full" if err.errno == errno.ENOSPC else "your disk quota is used up"
    return DataError(
        f"{full}: there is no space left in {home}{free} to download {spec.name}, "
        f"which needs {needs}. Nothing was kept. Fix: free some space and try again, or "
        f"point {DATA_HOME_ENV} at a folder on a disk with room, or at one that already "
        f"holds {spec.name}/."
    )


def verify_file(path: str | os.PathLike, expected_sha256: str) -> None:
    """Check that a file is the published one, whichever line ending it uses.

    The SHA-256 is taken after turning CRLF line endings into LF, so a copy
    saved with either ending passes and any other change fails.

    Raises:
        DataError: naming the file and the mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    actual = hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()
    if actual != expected_sha256:
        raise DataError(
            f"{path} does not match the published MovieLens file (SHA-256 {actual[:12]}..., "
            f"expected {expected_sha256[:12]}...). It was modified or comes from another "
            f"release. Delete {path.parent} to download it again, or pass verify=False."
        )


def _read_table(path: Path, layout: str, which: str) -> pd.DataFrame:
    """Read a delimited text file as strings, turning every failure into DataError."""
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use 'csv', '100k' or '1m'.")
    sep, names, encoding = _LAYOUTS[layout][which]
    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    raw = path.read_bytes()
    head = raw[:2048]
    for failed, problem in [
        (not raw.strip(), "is empty"),
        (head.startswith(b"PK\x03\x04"), "is a zip archive, not a text table"),
        (b"\x00" in head, "is a binary file, not a text table"),
        (
            head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")),
            "is an HTML page, not a text table (a failed download?)",
        ),
    ]:
        if failed:
            raise DataError(f"{path} {problem}; delete it and download the data set again.")
    if sep == "::":  # ml-1m: turn the two-character separator into one for the C parser
        raw, sep = raw.replace(b"::", b"\t"), "\t"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not {encoding} text ({err.reason} at byte {err.start}); "
            f"save it as {encoding} or download the data set again."
        ) from err
    try:  # ml-100k and ml-1m never quote fields, and their titles may hold a '"'
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            names=list(names) if names else None,
            header=None if names else 0,
            dtype=object,
            quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
        )
    except pd.errors.ParserError as err:
        raise DataError(f"{path} is not a well-formed delimited file: {err}") from err
    if not isinstance(df.index, pd.RangeIndex):  # pandas took surplus fields as an index
        raise DataError(
            f"{path}: rows have more fields than the {df.shape[1]} columns "
            f"{', '.join(map(str, df.columns))}; check the separator and trailing delimiters."
        )
    return df


def _check_table(df: pd.DataFrame, path: Path, required, not_null) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{path} is missing column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, df.columns))}. Expected columns: {', '.join(required)}."
        )
    if df.empty:
        raise DataError(f"{path} has a header but no rows; download the data set again.")
    for col in not_null:
        if (na := df[col].isna()).any():
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(na.to_numpy())[:3])
            raise DataError(
                f"{path}: column {col!r} has {int(na.sum())} missing value(s), first at data "
                f"row(s) {rows}. Fill or drop those rows."
            )


def _bad(path: Path, df: pd.DataFrame, col: str, mask: pd.Series, rule: str) -> DataError:
    rows = np.flatnonzero(mask.to_numpy())
    shown = ", ".join(f"row {i + 1} ({df[col].iloc[i]!r})" for i in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return DataError(f"{path}: column {col!r} {rule}; bad value(s) at {shown}{more}.")


def _to_int(df: pd.DataFrame, path: Path, col: str) -> pd.Series:
    num = pd.to_numeric(df[col], errors="coerce")
    # inf and values beyond int64 would otherwise fail in astype or wrap around silently
    bad = ~np.isfinite(num) | (num != np.floor(num)) | (num.abs() >= 2.0**63)
    if bad.any():
        raise _bad(path, df, col, bad, "must hold whole numbers")
    return num.astype(np.int64)


def read_ratings(path: str | os.PathLike, layout: str = "csv") -> pd.DataFrame:
    """Read and validate one MovieLens ratings file.

    Args:
        path: ``ratings.csv`` (layout ``"csv"``), ``u.data`` (``"100k"``) or
            ``ratings.dat`` (``"1m"``).
        layout: the file format, as in :class:`DatasetSpec`.

    Returns:
        a DataFrame with columns ``userId`` (int64), ``movieId`` (int64),
        ``rating`` (float32), ``timestamp`` (int64), in that order.
    """
    path = Path(path)
    df = _read_table(path, layout, "ratings")
    _check_table(df, path, RATINGS_COLUMNS, RATINGS_COLUMNS)
    out = pd.DataFrame(
        {USER_COL: _to_int(df, path, USER_COL), MOVIE_COL: _to_int(df, path, MOVIE_COL)}
    )
    rating = pd.to_numeric(df[RATING_COL], errors="coerce")
    bad = ~rating.between(MIN_RATING, MAX_RATING) | (rating * 2 != np.round(rating * 2))
    if bad.any():  # NaN (not a number) fails the first test
        rule = f"must be whole or half stars in [{MIN_RATING}, {MAX_RATING}]"
        raise _bad(path, df, RATING_COL, bad, rule)
    out[RATING_COL] = rating.astype(np.float32)
    out[TIMESTAMP_COL] = _to_int(df, path, TIMESTAMP_COL)
    check_unique_pairs(
        out.set_axis(out.index + 1),  # data rows, counted from 1 as in the other messages
        str(path),
        user_col=USER_COL,
        movie_col=MOVIE_COL,
        fix="delete the extra rows from the file, or download the data set again",
        error=DataError,
    )
    return out.reset_index(drop=True)


def read_movies(path: str | os.PathLike, layout: str = "csv") -> pd.DataFrame:
    """Read and validate one MovieLens movies file.

    Args:
        path: ``movies.csv`` (layout ``"csv"``), ``u.item`` (``"100k"``) or
            ``movies.dat`` (``"1m"``).
        layout: the file format, as in :class:`DatasetSpec`.

    Returns:
        a DataFrame with columns ``movieId`` (int64), ``title`` and ``genres``
        (``|``-separated) as strings.
    """
    path = Path(path)
    df = _read_table(path, layout, "movies")
    if layout == "100k":  # 19 genre flags become names
        if df.shape[1] != 24 or df[list(_ML100K_GENRES)].isna().any().any():
            raise DataError(
                f"{path} does not have the 24 '|'-separated fields of ml-100k's u.item."
            )
        flags = df[list(_ML100K_GENRES)].eq("1").to_numpy()
        df[GENRES_COL] = ["|".join(np.array(_ML100K_GENRES)[row]) or NO_GENRES for row in flags]
    _check_table(df, path, MOVIES_COLUMNS, (MOVIE_COL, TITLE_COL))
    out = pd.DataFrame({MOVIE_COL: _to_int(df, path, MOVIE_COL)})
    out[TITLE_COL] = df[TITLE_COL].astype(str)
    out[GENRES_COL] = df[GENRES_COL].fillna(NO_GENRES).astype(str)
    if (dup := out[MOVIE_COL].duplicated()).any():
        raise DataError(
            f"{path}: movieId {out[MOVIE_COL][dup].iloc[0]} appears more than once; "
            f"each movie needs exactly one row."
        )
    return out.reset_index(drop=True)


def _load(name: str, data_home, verify: bool, which: str) -> pd.DataFrame:
    spec = _spec(name)
    fname = spec.ratings_file if which == "ratings" else spec.movies_file
    path = find_dataset(name, data_home) / fname
    if verify and spec.files.get(fname):
        verify_file(path, spec.files[fname])
    return (read_ratings if which == "ratings" else read_movies)(path, spec.layout)


def load_ratings(
    name: str = DEFAULT_DATASET, data_home: str | os.PathLike | None = None, *, verify: bool = True
) -> pd.DataFrame:
    """Load a MovieLens data set's ratings, downloading it once if needed.

    Args:
        name: ``"ml-latest-small"`` (the course's), ``"ml-100k"`` or ``"ml-1m"``.
        data_home: a folder holding ``<name>/``; see the module docstring.
        verify: check the file against its recorded SHA-256 first.

    Returns:
        a DataFrame with columns ``userId`` (int64), ``movieId`` (int64),
        ``rating`` (float32), ``timestamp`` (int64), in that order; for
        ml-latest-small, 100,836 rows.

    Raises:
        DataError: the data cannot be found or downloaded, or is invalid.
    """
    return _load(name, data_home, verify, "ratings")


def load_movies(
    name: str = DEFAULT_DATASET, data_home: str | os.PathLike | None = None, *, verify: bool = True
) -> pd.DataFrame:
    """Load a MovieLens data set's movies, downloading it once if needed.

    Args:
        name: ``"ml-latest-small"`` (the course's), ``"ml-100k"`` or ``"ml-1m"``.
        data_home: a folder holding ``<name>/``; see the module docstring.
        verify: check the file against its recorded SHA-256 first.

    Returns:
        a DataFrame with columns ``movieId`` (int64), ``title``, ``genres``;
        for ml-latest-small, 9,742 rows.

    Raises:
        DataError: the data cannot be found or downloaded, or is invalid.
    """
    return _load(name, data_home, verify, "movies")
