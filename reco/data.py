"""Load MovieLens ratings and movies, offline first, downloading only when absent.

A data set is the folder ``<data_home>/<name>/`` holding GroupLens's own files,
for example ``ml-latest-small/ratings.csv``. Data homes are looked at in this
order, and the first that holds the data set wins:

1. the ``data_home`` argument,
2. the ``RECO_DATA_HOME`` environment variable,
3. a per-user cache folder (``$XDG_CACHE_HOME/reco`` or ``~/.cache/reco``).

When none holds it, the official GroupLens zip is downloaded into the first of
those, verified (SHA-256 of the archive and of every file), extracted safely
and moved into place in one step, so an interrupted download leaves nothing
half-written. A data home that already holds a complete data set is only ever
read.

Every problem with the files raises :class:`DataError`, a ``ValueError`` whose
message names the file, the problem and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from reco.constants import (
    DATA_HOME_ENV,
    DEFAULT_DATASET,
    GENRES_COL,
    ITEM_COL,
    MAX_RATING,
    MIN_RATING,
    MOVIES_COLUMNS,
    RATING_COL,
    RATINGS_COLUMNS,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
)

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "data_homes",
    "download",
    "find_dataset",
    "load_movies",
    "load_ratings",
    "read_movies",
    "read_ratings",
    "verify_file",
]


class DataError(ValueError):
    """A data file is missing, corrupt, or not what the course expects."""


# The 19 genre flags of ml-100k's u.item, in file order (from its u.genre).
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_NO_GENRES = "(no genres listed)"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a MovieLens data set comes from and how its files are laid out.

    Attributes:
        name: folder name, also the top folder inside the zip archive.
        url: HTTPS address of the official zip archive.
        archive_sha256: SHA-256 of the zip archive, or ``None`` if not recorded.
        layout: ``"csv"`` (ml-latest*), ``"100k"`` (tab/pipe files) or
            ``"1m"`` (``::``-separated ``.dat`` files).
        ratings_file: file name of the ratings table inside the folder.
        movies_file: file name of the movies table inside the folder.
        files: every file the folder must hold, mapped to the SHA-256 of its
            bytes with line endings normalised to LF (``None``: not recorded).
    """

    name: str
    url: str
    archive_sha256: str | None
    layout: str
    ratings_file: str
    movies_file: str
    files: Mapping[str, str | None] = field(default_factory=dict)


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
    ),
    "ml-100k": DatasetSpec(
        name="ml-100k",
        url=f"{_GROUPLENS}/ml-100k.zip",
        archive_sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        layout="100k",
        ratings_file="u.data",
        movies_file="u.item",
        files={"u.data": None, "u.item": None},
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        url=f"{_GROUPLENS}/ml-1m.zip",
        archive_sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        layout="1m",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        files={"ratings.dat": None, "movies.dat": None},
    ),
}


# --------------------------------------------------------------------------- locating


def _cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reco"


def data_homes(data_home: str | os.PathLike | None = None) -> list[Path]:
    """List the folders searched for data sets, in the order they are tried.

    Args:
        data_home: a folder that takes precedence over the others.

    Returns:
        absolute paths: ``data_home`` if given, ``$RECO_DATA_HOME`` if set,
        then the per-user cache folder (duplicates removed).
    """
    candidates = []
    if data_home is not None:
        candidates.append(Path(data_home))
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        candidates.append(Path(env))
    candidates.append(_cache_home())
    out: list[Path] = []
    for path in candidates:
        path = path.expanduser().absolute()
        if path not in out:
            out.append(path)
    return out


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown data set {name!r}; known data sets are: {known}.") from None


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
        folder = home / spec.name
        if folder.is_dir():
            missing = [f for f in spec.files if not (folder / f).is_file()]
            if missing:
                raise DataError(
                    f"{folder} is incomplete: missing file(s) {', '.join(missing)}. "
                    f"Delete the folder to download {spec.name} again, or copy the "
                    f"missing files from the official archive {spec.url}."
                )
            return folder
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


# --------------------------------------------------------------------------- integrity


def _sha256_lf(data: bytes) -> str:
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


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
    actual = _sha256_lf(path.read_bytes())
    if actual != expected_sha256:
        raise DataError(
            f"{path} does not match the published MovieLens file "
            f"(SHA-256 {actual[:12]}..., expected {expected_sha256[:12]}...). It was "
            f"modified or comes from another release. Delete {path.parent} to download "
            f"it again, or pass verify=False to read it anyway."
        )


# --------------------------------------------------------------------------- download


def _unsafe_member(member: str) -> bool:
    if member.startswith(("/", "\\")) or "\\" in member:
        return True
    if len(member) > 1 and member[1] == ":":  # Windows drive letter
        return True
    return ".." in PurePosixPath(member).parts


def download(
    spec: DatasetSpec | str,
    data_home: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    looked_in: list[Path] | None = None,
) -> Path:
    """Download, verify and unpack a data set into ``<data_home>/<name>``.

    Everything happens in a temporary folder inside ``data_home``; the data set
    folder appears in one ``os.replace`` only when every check has passed. On
    any failure, or an interrupt, the temporary folder is removed.

    Args:
        spec: a :class:`DatasetSpec` or a key of :data:`DATASETS`.
        data_home: where to put it; default: the first of :func:`data_homes`.
        progress: show a ``tqdm`` progress bar.
        timeout: seconds to wait for the server.
        looked_in: folders already searched, named in the error if offline.

    Returns:
        the folder of the data set.

    Raises:
        DataError: no network, a checksum mismatch, a bad or unsafe archive,
            or a folder that cannot be written.
    """
    if isinstance(spec, str):
        spec = _spec(spec)
    home = Path(data_home).expanduser().absolute() if data_home else data_homes()[0]
    target = home / spec.name
    if target.exists():
        raise DataError(f"{target} already exists; delete it first to download again.")
    created = _missing_ancestors(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-download-", dir=home))
    except OSError as err:
        raise DataError(
            f"cannot write to {home} to download {spec.name}: {err.strerror}. "
            f"Point {DATA_HOME_ENV} at a folder you can write to, or at one that "
            f"already holds {spec.name}/."
        ) from err
    try:
        archive = tmp / f"{spec.name}.zip"
        _fetch(spec, archive, progress=progress, timeout=timeout, looked_in=looked_in or [home])
        extracted = _extract(spec, archive, tmp / "extracted")
        os.replace(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.exists():  # failed: remove the folders this call created
            for folder in created:
                try:
                    folder.rmdir()  # only if empty
                except OSError:
                    break
    return target


def _missing_ancestors(path: Path) -> list[Path]:
    """Return ``path`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _fetch(spec, archive: Path, *, progress, timeout, looked_in) -> None:
    from tqdm import tqdm

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(archive, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"Downloading {spec.name}",
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(
            f"could not download {spec.url}: {reason}.\n" + _not_found_message(spec, looked_in)
        ) from err
    if spec.archive_sha256 and digest.hexdigest() != spec.archive_sha256:
        raise DataError(
            f"the archive downloaded from {spec.url} is corrupt or not the published one "
            f"(SHA-256 {digest.hexdigest()[:12]}..., expected {spec.archive_sha256[:12]}...). "
            f"Nothing was kept; try again, or download it by hand and set {DATA_HOME_ENV}."
        )


def _extract(spec: DatasetSpec, archive: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                if _unsafe_member(info.filename):
                    raise DataError(
                        f"refusing to extract {spec.url}: member {info.filename!r} would be "
                        f"written outside the data folder. The archive is not the official one."
                    )
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:
                    raise DataError(
                        f"refusing to extract {spec.url}: member {info.filename!r} is a "
                        f"symbolic link. The archive is not the official one."
                    )
            zf.extractall(dest)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:  # bad CRC, header or stream
        raise DataError(f"{spec.url} did not give a valid zip archive ({err}).") from err
    folder = dest / spec.name
    missing = [f for f in spec.files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"the archive from {spec.url} has no {spec.name}/{missing[0]}; "
            f"it is not the {spec.name} data set."
        )
    for fname, sha in spec.files.items():
        if sha:
            verify_file(folder / fname, sha)
    return folder


# --------------------------------------------------------------------------- parsing


def _read_text_table(
    path: Path, *, sep: str, names=None, header="infer", encoding="utf-8"
) -> pd.DataFrame:
    """Read a delimited text file as strings, turning every failure into DataError."""
    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty; delete it and download the data set again.")
    head = raw[:2048]
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"{path} is a zip archive, not a CSV file; unzip it first.")
    if b"\x00" in head:
        raise DataError(f"{path} is a binary file, not a CSV text file.")
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        raise DataError(
            f"{path} is an HTML/XML page, not a CSV file (a failed download?); "
            f"delete it and download the data set again."
        )
    if sep == "::":  # ml-1m: turn the two-character separator into one for the C parser
        raw = raw.replace(b"::", b"\t")
        sep = "\t"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not {encoding} text ({err.reason} at byte {err.start})."
        ) from err
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            names=names,
            header=header,
            dtype=object,
            # ml-100k and ml-1m never quote fields, and their titles may hold a '"'
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


def _check_columns(df: pd.DataFrame, path: Path, required) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{path} is missing column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, df.columns))}. Expected columns: {', '.join(required)}."
        )
    if df.empty:
        raise DataError(f"{path} has a header but no rows.")


def _first_bad(mask: pd.Series, df: pd.DataFrame, col: str) -> str:
    rows = np.flatnonzero(mask.to_numpy())
    shown = ", ".join(f"row {i + 1} ({df[col].iloc[i]!r})" for i in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"{shown}{more}"


def _check_missing(df: pd.DataFrame, path: Path, cols) -> None:
    for col in cols:
        na = df[col].isna()
        if na.any():
            rows = np.flatnonzero(na.to_numpy())[:3] + 1
            raise DataError(
                f"{path}: column {col!r} has {int(na.sum())} missing value(s), first at data "
                f"row(s) {', '.join(map(str, rows))}. Fill or drop those rows."
            )


def _to_int(df: pd.DataFrame, path: Path, col: str) -> pd.Series:
    num = pd.to_numeric(df[col], errors="coerce")
    # inf and values beyond int64 would otherwise fail in astype or wrap around silently
    bad = ~np.isfinite(num) | (num != np.floor(num)) | (num.abs() >= 2.0**63)
    if bad.any():
        raise DataError(
            f"{path}: column {col!r} must hold whole numbers; bad value(s) at "
            f"{_first_bad(bad, df, col)}."
        )
    return num.astype(np.int64)


def _validate_ratings(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    _check_columns(df, path, RATINGS_COLUMNS)
    _check_missing(df, path, RATINGS_COLUMNS)
    out = pd.DataFrame(
        {
            USER_COL: _to_int(df, path, USER_COL),
            ITEM_COL: _to_int(df, path, ITEM_COL),
        }
    )
    rating = pd.to_numeric(df[RATING_COL], errors="coerce")
    if rating.isna().any():
        raise DataError(
            f"{path}: column {RATING_COL!r} must be numeric; bad value(s) at "
            f"{_first_bad(rating.isna(), df, RATING_COL)}."
        )
    outside = (rating < MIN_RATING) | (rating > MAX_RATING)
    if outside.any():
        raise DataError(
            f"{path}: ratings must lie in [{MIN_RATING}, {MAX_RATING}]; out of range at "
            f"{_first_bad(outside, df, RATING_COL)}."
        )
    off_grid = (rating * 2) != np.round(rating * 2)
    if off_grid.any():
        raise DataError(
            f"{path}: ratings must be whole or half stars (0.5, 1.0, ..., 5.0); "
            f"off the grid at {_first_bad(off_grid, df, RATING_COL)}."
        )
    out[RATING_COL] = rating.astype(np.float32)
    out[TIMESTAMP_COL] = _to_int(df, path, TIMESTAMP_COL)
    dup = out.duplicated([USER_COL, ITEM_COL], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise DataError(
            f"{path}: {int(dup.sum())} rows share a (userId, movieId) pair, for example "
            f"user {first[USER_COL]} and movie {first[ITEM_COL]}; keep one rating per pair."
        )
    return out.reset_index(drop=True)


def _validate_movies(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    _check_columns(df, path, MOVIES_COLUMNS)
    _check_missing(df, path, (ITEM_COL, TITLE_COL))
    out = pd.DataFrame({ITEM_COL: _to_int(df, path, ITEM_COL)})
    out[TITLE_COL] = df[TITLE_COL].astype(str)
    out[GENRES_COL] = df[GENRES_COL].fillna(_NO_GENRES).astype(str)
    dup = out[ITEM_COL].duplicated()
    if dup.any():
        raise DataError(
            f"{path}: movieId {out[ITEM_COL][dup].iloc[0]} appears more than once; "
            f"each movie needs exactly one row."
        )
    return out.reset_index(drop=True)


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
    if layout == "csv":
        df = _read_text_table(path, sep=",")
    elif layout == "100k":
        df = _read_text_table(path, sep="\t", names=list(RATINGS_COLUMNS), header=None)
    elif layout == "1m":
        df = _read_text_table(path, sep="::", names=list(RATINGS_COLUMNS), header=None)
    else:
        raise ValueError(f"unknown layout {layout!r}; use 'csv', '100k' or '1m'.")
    return _validate_ratings(df, path)


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
    if layout == "csv":
        df = _read_text_table(path, sep=",")
    elif layout == "1m":
        df = _read_text_table(
            path, sep="::", names=list(MOVIES_COLUMNS), header=None, encoding="latin-1"
        )
    elif layout == "100k":
        names = [ITEM_COL, TITLE_COL, "release", "video_release", "url", *_ML100K_GENRES]
        df = _read_text_table(path, sep="|", names=names, header=None, encoding="latin-1")
        if df.shape[1] != len(names) or df[list(_ML100K_GENRES)].isna().any().any():
            raise DataError(
                f"{path} does not have the 24 '|'-separated fields of ml-100k's u.item."
            )
        flags = df[list(_ML100K_GENRES)].astype(str).eq("1").to_numpy()
        genres = [
            "|".join(g for g, f in zip(_ML100K_GENRES, row, strict=True) if f) for row in flags
        ]
        df[GENRES_COL] = [g or _NO_GENRES for g in genres]
    else:
        raise ValueError(f"unknown layout {layout!r}; use 'csv', '100k' or '1m'.")
    return _validate_movies(df, path)


def _load(name, data_home, verify, which) -> pd.DataFrame:
    spec = _spec(name)
    folder = find_dataset(name, data_home)
    fname = spec.ratings_file if which == "ratings" else spec.movies_file
    path = folder / fname
    expected = spec.files.get(fname)
    if verify and expected and path.is_file():
        verify_file(path, expected)
    reader = read_ratings if which == "ratings" else read_movies
    return reader(path, spec.layout)


def load_ratings(
    name: str = DEFAULT_DATASET,
    data_home: str | os.PathLike | None = None,
    *,
    verify: bool = True,
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
    name: str = DEFAULT_DATASET,
    data_home: str | os.PathLike | None = None,
    *,
    verify: bool = True,
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
