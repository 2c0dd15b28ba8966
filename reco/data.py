"""Load MovieLens ratings and movies, offline first, downloading only when absent.

The data sets are those of :data:`DATASETS`: ``ml-latest-small`` (the course's),
``ml-100k``, ``ml-1m``, ``ml-25m`` and ``ml-32m``. A data set is the folder
``<data_home>/<name>/`` holding GroupLens's own files, for example
``ml-latest-small/ratings.csv``. Data homes are tried in this order, and the
first that holds the data set wins:

1. the ``data_home`` argument,
2. the ``RECO_DATA_HOME`` environment variable,
3. the per-user cache folder, ``platformdirs.user_cache_dir("reco")`` (as
   ``pooch.os_cache("reco")``: ``~/.cache/reco`` on Linux).

When none holds it, :func:`download` puts it into the first of them: the zip is
checked against its pinned SHA-256 (or MD5, where GroupLens publishes only that),
and the unzipped files against the archive's own ``checksums.txt`` where it has
one, before the data set folder appears in one move. A data home that already
holds the data set is only ever read.

Loading checks each file whose SHA-256 is recorded (:func:`verify_file`); a file
found intact is remembered by its size and modification time, in the process and
in a small file under ``platformdirs.user_state_dir("reco")``, so it is hashed
again only when it changes. The ratings of the large sets (ml-25m, ml-32m) are
read with pyarrow's CSV reader into compact dtypes (int32 ids, float32 ratings).
Every problem with the files raises :class:`DataError`, a ``ValueError`` whose
message names the file, the problem and the fix.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
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


_HEX_DIGITS = {"sha256": 64, "md5": 32}
_HASH_NAMES = {"sha256": "SHA-256", "md5": "MD5"}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a MovieLens data set comes from and how its files are laid out.

    Attributes:
        name: folder name, also the top folder inside the zip archive.
        url: address of the official zip archive.
        archive_sha256: SHA-256 of the zip archive, or ``None`` where GroupLens
            publishes only an MD5 (then give ``archive_md5``).
        layout: ``"csv"`` (ml-latest*, ml-25m, ml-32m), ``"100k"`` (tab/pipe
            files) or ``"1m"`` (``::``-separated ``.dat`` files).
        ratings_file, movies_file: file names of the two tables inside the folder.
        files: every file the folder must hold, mapped to the SHA-256 of its
            bytes with line endings normalised to LF (``None``: not recorded).
        disk_mb: free space, in MB, that downloading needs at its peak (the zip
            and its unzipped files side by side), rounded up; ``None``: not recorded.
        archive_md5: MD5 of the zip archive, used when ``archive_sha256`` is ``None``.
        archive_bytes: size of the zip archive in bytes (``None``: not recorded);
            a download of another size is refused with that in the message.
        checksums_file: a file of the archive that lists its other files' MD5 or
            SHA-256 (ml-32m's ``checksums.txt``); they are checked at download.
        compact: read the ratings with pyarrow into int32 ids and float32 ratings
            (the large sets); ``False`` keeps int64 ids and the pandas reader.

    Every download is checked against :attr:`archive_hash`.
    """

    name: str
    url: str
    archive_sha256: str | None
    layout: str
    ratings_file: str
    movies_file: str
    files: Mapping[str, str | None] = field(default_factory=dict)
    disk_mb: int | None = None
    archive_md5: str | None = None
    archive_bytes: int | None = None
    checksums_file: str | None = None
    compact: bool = False

    def __post_init__(self):
        pins = {"sha256": self.archive_sha256, "md5": self.archive_md5}
        if not any(pins.values()):
            raise ValueError(
                f"DatasetSpec {self.name!r} pins no archive hash. Fix: give archive_sha256 "
                f"(or archive_md5 where only an MD5 is published)."
            )
        for algorithm, digest in pins.items():
            if digest is not None and not re.fullmatch(
                f"[0-9a-f]{{{_HEX_DIGITS[algorithm]}}}", digest
            ):
                raise ValueError(
                    f"DatasetSpec {self.name!r}: archive_{algorithm} must be "
                    f"{_HEX_DIGITS[algorithm]} lower-case hex digits; got {digest!r}."
                )

    @property
    def archive_hash(self) -> str:
        """The archive's pin as pooch's ``known_hash``: ``"sha256:<hex>"``, else ``"md5:<hex>"``."""
        if self.archive_sha256:
            return f"sha256:{self.archive_sha256}"
        return f"md5:{self.archive_md5}"


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
    # 25,000,095 ratings by 162,541 users of 59,047 rated movies; GroupLens publishes only
    # an MD5 of the archive.
    "ml-25m": DatasetSpec(
        name="ml-25m",
        url=f"{_GROUPLENS}/ml-25m.zip",
        archive_sha256=None,
        archive_md5="6b51fb2759a8657d3bfcbfc42b592ada",
        archive_bytes=261_978_986,
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=dict.fromkeys(
            (
                "README.txt",
                "genome-scores.csv",
                "genome-tags.csv",
                "links.csv",
                "movies.csv",
                "ratings.csv",
                "tags.csv",
            )
        ),
        compact=True,
        disk_mb=1450,  # about: a 262 MB zip and about 1.2 GB unzipped (an estimate)
    ),
    # 32,000,204 ratings by 200,948 users of 87,585 movies; GroupLens publishes only an MD5
    # of the archive, whose checksums.txt lists the MD5s of the files in it.
    "ml-32m": DatasetSpec(
        name="ml-32m",
        url=f"{_GROUPLENS}/ml-32m.zip",
        archive_sha256=None,
        archive_md5="d472be332d4daa821edc399621853b57",
        archive_bytes=238_950_008,
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=dict.fromkeys(
            ("README.txt", "checksums.txt", "links.csv", "movies.csv", "ratings.csv", "tags.csv")
        ),
        checksums_file="checksums.txt",
        compact=True,
        disk_mb=1250,  # about: a 239 MB zip and about 1 GB unzipped (an estimate)
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
    ``.<name>-download-*``, checks its SHA-256 (or MD5, see
    :attr:`DatasetSpec.archive_hash`) and unzips it there; the unzipped files are
    checked against the archive's checksum file, if it has one, and the data
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
        DataError: no network, a checksum mismatch (of the zip or of a file in
            it), a full disk, or a folder that cannot be written.
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
                    if spec.checksums_file:  # before the move: a bad file never lands
                        _check_checksums(tmp / "unzipped" / spec.name, spec)
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
    """Download the zip into ``tmp`` with pooch, check its hash, unzip it to ``tmp/unzipped``."""
    import pooch  # only when downloading: it imports tqdm.auto, which warns in notebooks

    http = pooch.HTTPDownloader(progressbar=progress, chunk_size=1 << 16, timeout=timeout)
    size: list[int] = []

    def measured(url, output_file, pooch_, **kwargs):  # pooch's downloader, noting the size
        http(url, output_file, pooch_, **kwargs)
        with contextlib.suppress(OSError, TypeError):
            size.append(os.path.getsize(output_file))

    try:
        pooch.retrieve(
            spec.url,
            known_hash=spec.archive_hash,
            fname=f"{spec.name}.zip",
            path=tmp,
            processor=pooch.Unzip(extract_dir="unzipped"),  # zipfile drops '..', '/' and links
            downloader=measured,
        )
    except ValueError as err:  # pooch: the hash does not match
        algorithm, digest = spec.archive_hash.split(":")
        why = f"its {_HASH_NAMES[algorithm]} is not {digest[:12]}..."
        if spec.archive_bytes and size and size[-1] != spec.archive_bytes:
            why += (
                f"; it has {size[-1]:,} bytes, the published archive {spec.archive_bytes:,}, "
                f"so the download was cut short or is another file"
            )
        raise DataError(
            f"the archive downloaded from {spec.url} is corrupt or not the published one "
            f"({why}). Nothing was kept. Try again; if it fails again, download and unzip "
            f"{spec.url} by hand and set {DATA_HOME_ENV} to the folder that holds {spec.name}/."
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


# One line of a checksum file: md5sum/sha256sum's "<hex>  <file>" or "<hex> *<file>",
# or BSD's "MD5 (<file>) = <hex>". The algorithm follows from the digest's length.
_GNU_LINE = re.compile(r"(?P<hex>[0-9a-fA-F]+) [ *](?P<name>.+)")
_BSD_LINE = re.compile(r"(?P<tag>MD5|SHA256) \((?P<name>.+)\) = (?P<hex>[0-9a-fA-F]+)")
_BY_LENGTH = {digits: algorithm for algorithm, digits in _HEX_DIGITS.items()}


def _parse_checksum_line(line: str) -> tuple[str, str, str] | None:
    """Return ``(file name, algorithm, hex digest)`` of one checksum line, or None if malformed."""
    match = _GNU_LINE.fullmatch(line) or _BSD_LINE.fullmatch(line)
    if not match:
        return None
    algorithm, name = _BY_LENGTH.get(len(match["hex"])), match["name"]
    tag = match.groupdict().get("tag")
    if algorithm is None or (tag and tag.lower() != algorithm) or re.search(r"[/\\]", name):
        return None  # an unknown length, a tag that disagrees, or a name outside the folder
    return name, algorithm, match["hex"].lower()


def _checksum_problem(folder: Path, listing: str) -> str | None:
    """Say what is wrong with ``folder``'s files by its checksum file ``listing``; None if nothing."""
    if not (folder / listing).is_file():
        return f"it has no {listing}, which lists its files' checksums"
    entries = []
    text = (folder / listing).read_bytes().decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if (entry := _parse_checksum_line(line.strip())) is None:
            return f"{listing} line {number} is not '<md5 or sha256>  <file name>': {line!r}"
        entries.append(entry)
    if not entries:
        return f"{listing} lists no files"
    for name, algorithm, expected in entries:
        if not (folder / name).is_file():  # also '.' and '..', which are folders
            return f"{listing} lists {name}, which the archive lacks"
        with open(folder / name, "rb") as f:
            actual = hashlib.file_digest(f, algorithm).hexdigest()
        if actual != expected:
            return (
                f"its {name} does not match {listing} ({_HASH_NAMES[algorithm]} "
                f"{actual[:12]}..., listed {expected[:12]}...)"
            )
    return None


def _check_checksums(folder: Path, spec: DatasetSpec) -> None:
    """Raise DataError, naming the file and the fix, if an unzipped file fails the checksum file."""
    if problem := _checksum_problem(folder, spec.checksums_file):
        raise DataError(
            f"the archive downloaded from {spec.url} is corrupt: {problem}. Nothing was kept. "
            f"Try again; if it fails again, download and unzip {spec.url} by hand and set "
            f"{DATA_HOME_ENV} to the folder that holds {spec.name}/."
        )


#: Bytes read at a time when hashing a file.
_CHUNK_BYTES = 1 << 20
#: Files verify_file found intact: absolute path -> (size, mtime_ns, "sha256:<hex>").
_VERIFIED: dict[str, tuple[int, int, str]] = {}
#: Where those are kept between processes, under platformdirs.user_state_dir("reco").
_STATE_FILE = "verified-files.json"
#: A file modified less than this long ago is not remembered: a change within the
#: same tick of the file system's clock would leave its size and mtime as they were.
_SETTLED_NS = 2 * 10**9


def _lf_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes with CRLF turned into LF, read in chunks."""
    digest, held = hashlib.sha256(), b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            chunk = held + chunk
            # a '\r' that ends the chunk may start a CRLF: keep it for the next chunk
            chunk, held = (chunk[:-1], b"\r") if chunk.endswith(b"\r") else (chunk, b"")
            digest.update(chunk.replace(b"\r\n", b"\n"))
    digest.update(held)
    return digest.hexdigest()


def _state_path() -> Path:
    return Path(platformdirs.user_state_dir("reco")) / _STATE_FILE


def _read_state() -> dict[str, tuple[int, int, str]]:
    """Return the remembered verifications; an unreadable or foreign file counts as empty."""
    try:
        files = json.loads(_state_path().read_text(encoding="utf-8"))["files"]
        return {
            str(k): (int(v["size"]), int(v["mtime_ns"]), str(v["hash"])) for k, v in files.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _remember(key: str, stamp: tuple[int, int, str]) -> None:
    """Add one verification to the state file, written whole to a temporary file then moved."""
    state = {**_read_state(), key: stamp}
    for other, (size, mtime_ns, _) in list(state.items()):  # forget files gone or changed
        try:
            st = os.stat(other)
        except OSError:
            st = None
        if st is None or (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            del state[other]
    files = {k: {"size": v[0], "mtime_ns": v[1], "hash": v[2]} for k, v in sorted(state.items())}
    path = _state_path()
    with contextlib.suppress(OSError):  # a state folder we cannot write: hash again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": 1, "files": files}, f, indent=1)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def verify_file(path: str | os.PathLike, expected_sha256: str) -> None:
    """Check that a file is the published one, whichever line ending it uses.

    The SHA-256 is taken after turning CRLF line endings into LF, so a copy
    saved with either ending passes and any other change fails. A file that
    passed is remembered by its path, size and modification time (in this
    process and in a small file under ``platformdirs.user_state_dir("reco")``,
    never in a data home) and is hashed again only once one of them changes.

    Raises:
        DataError: naming the file and the mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    key, st = str(path.resolve()), path.stat()  # stat before hashing: a change meanwhile shows
    stamp = (st.st_size, st.st_mtime_ns, f"sha256:{expected_sha256}")
    if _VERIFIED.get(key) == stamp:
        return
    if _read_state().get(key) == stamp:
        _VERIFIED[key] = stamp
        return
    actual = _lf_sha256(path)
    if actual != expected_sha256:
        _VERIFIED.pop(key, None)
        raise DataError(
            f"{path} does not match the published MovieLens file (SHA-256 {actual[:12]}..., "
            f"expected {expected_sha256[:12]}...). It was modified or comes from another "
            f"release. Delete {path.parent} to download it again, or pass verify=False."
        )
    if time.time_ns() - st.st_mtime_ns >= _SETTLED_NS:
        _VERIFIED[key] = stamp
        _remember(key, stamp)


def _refuse_non_table(path: Path, head: bytes, *, empty: bool) -> None:
    """Raise DataError if a file is empty, or its first bytes show a zip, binary or HTML file."""
    for failed, problem in [
        (empty, "is empty"),
        (head.startswith(b"PK\x03\x04"), "is a zip archive, not a text table"),
        (b"\x00" in head, "is a binary file, not a text table"),
        (
            head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")),
            "is an HTML page, not a text table (a failed download?)",
        ),
    ]:
        if failed:
            raise DataError(f"{path} {problem}; delete it and download the data set again.")


def _read_table(path: Path, layout: str, which: str) -> pd.DataFrame:
    """Read a delimited text file as strings, turning every failure into DataError."""
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use 'csv', '100k' or '1m'.")
    sep, names, encoding = _LAYOUTS[layout][which]
    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    raw = path.read_bytes()
    _refuse_non_table(path, raw[:2048], empty=not raw.strip())
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
            raise _missing(path, col, na.to_numpy())


def _missing(path: Path, col: str, na: np.ndarray) -> DataError:
    rows = ", ".join(str(i + 1) for i in np.flatnonzero(na)[:3])
    return DataError(
        f"{path}: column {col!r} has {int(na.sum())} missing value(s), first at data "
        f"row(s) {rows}. Fill or drop those rows."
    )


def _bad(path: Path, values, col: str, mask, rule: str) -> DataError:
    """Return the DataError naming the first rows (from 1) where ``mask`` holds, with their values."""
    rows = np.flatnonzero(np.asarray(mask))
    shown = []
    for i in rows[:3]:
        value = values.iloc[i] if isinstance(values, pd.Series) else values[i]
        shown.append(f"row {i + 1} ({value.item() if isinstance(value, np.generic) else value!r})")
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return DataError(f"{path}: column {col!r} {rule}; bad value(s) at {', '.join(shown)}{more}.")


def _to_int(df: pd.DataFrame, path: Path, col: str) -> pd.Series:
    num = pd.to_numeric(df[col], errors="coerce")
    # inf and values beyond int64 would otherwise fail in astype or wrap around silently
    bad = ~np.isfinite(num) | (num != np.floor(num)) | (num.abs() >= 2.0**63)
    if bad.any():
        raise _bad(path, df[col], col, bad, "must hold whole numbers")
    return num.astype(np.int64)


_STARS_RULE = f"must be whole or half stars in [{MIN_RATING}, {MAX_RATING}]"
_UNIQUE_FIX = "delete the extra rows from the file, or download the data set again"


def _arrow_problem(path: Path, err: Exception, header: list[str]) -> str:
    """Turn pyarrow's parse or conversion error into a message naming the data row and the fix."""
    text = str(err)
    row, column = re.search(r"Row #(\d+)", text), re.search(r"In CSV column #(\d+)", text)
    detail = re.sub(r"^(?:In CSV column #\d+: |CSV parse error: |Row #\d+: )*", "", text)
    where = f"data row {int(row[1]) - 1}" if row else "a row"  # pyarrow counts the header
    if column and int(column[1]) < len(header):
        detail = f"column {header[int(column[1])]!r}: {detail}"
    if column:
        need = (
            f"whole numbers in {USER_COL} and {MOVIE_COL} (below 2**31) and in {TIMESTAMP_COL}, "
            f"and a number of stars in {RATING_COL}"
        )
    else:  # a parse error: too few or too many fields, or an unclosed quote
        need = f"the header's {len(header)} comma-separated fields"
    return (
        f"{path}: {where}: {detail[:200]}. Every row needs {need}. Fix: correct or delete "
        f"that row, or download the data set again."
    )


def _read_ratings_compact(path: Path) -> pd.DataFrame:
    """Read a ratings.csv with pyarrow into int32 ids and float32 ratings; read_ratings's checks."""
    import pyarrow as pa  # only for the large sets: importing it takes a moment
    import pyarrow.csv as pacsv

    if not path.is_file():
        raise DataError(f"missing file: {path}. Check the data set folder or download it again.")
    with open(path, "rb") as f:
        head = f.read(2048)
    _refuse_non_table(path, head, empty=not head.strip() and path.stat().st_size <= len(head))
    header = next(csv.reader([head.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")]))
    types = {
        USER_COL: pa.int32(),
        MOVIE_COL: pa.int32(),
        RATING_COL: pa.float64(),  # checked on the half-star grid, then float32
        TIMESTAMP_COL: pa.int64(),
    }

    def read(use_threads: bool):
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=use_threads),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=list(types), null_values=[""]
            ),
        )

    try:
        try:
            table = read(use_threads=True)
        except pa.ArrowInvalid:  # read again on one thread, whose error names the row
            table = read(use_threads=False)
    except pa.ArrowKeyError as err:  # a column is missing
        _check_table(pd.DataFrame(columns=header), path, RATINGS_COLUMNS, ())
        raise DataError(f"{path}: {err}") from err  # (the line above raises first)
    except pa.ArrowInvalid as err:
        raise DataError(_arrow_problem(path, err, header)) from err
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows; download the data set again.")
    for col in RATINGS_COLUMNS:
        if table[col].null_count:
            raise _missing(path, col, table[col].is_null().to_numpy())
    # one block per column, each freed from arrow as it is handed over: no copy held twice
    out = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    users, movies, rating = (out[col].to_numpy() for col in (USER_COL, MOVIE_COL, RATING_COL))
    doubled = rating * 2
    bad = doubled != np.round(doubled)
    bad |= ~((rating >= MIN_RATING) & (rating <= MAX_RATING))  # NaN fails this test
    if bad.any():
        raise _bad(path, rating, RATING_COL, bad, _STARS_RULE)
    del doubled, bad
    out[RATING_COL] = rating.astype(np.float32)
    # One int64 per (user, movie) pair; MovieLens sorts by user then movie, so an increasing
    # key proves the pairs unique at once, and only another order needs a hash table.
    key = users.astype(np.int64)
    key <<= 32
    key |= movies.view(np.uint32)  # the movie id's 32 bits, whatever its sign
    if not (key[1:] > key[:-1]).all():
        rows = np.flatnonzero(pd.Series(key).duplicated(keep=False).to_numpy())
        pairs = pd.DataFrame({USER_COL: users[rows], MOVIE_COL: movies[rows]}, index=rows + 1)
        check_unique_pairs(
            pairs,
            str(path),
            user_col=USER_COL,
            movie_col=MOVIE_COL,
            fix=_UNIQUE_FIX,
            error=DataError,
        )
    return out


def read_ratings(
    path: str | os.PathLike, layout: str = "csv", *, compact: bool = False
) -> pd.DataFrame:
    """Read and validate one MovieLens ratings file.

    Every rating must be a whole or half star in [0.5, 5], ids and timestamps
    whole numbers, no value missing, and no (user, movie) pair twice.

    Args:
        path: ``ratings.csv`` (layout ``"csv"``), ``u.data`` (``"100k"``) or
            ``ratings.dat`` (``"1m"``).
        layout: the file format, as in :class:`DatasetSpec`.
        compact: read a ``"csv"`` file with pyarrow's multi-threaded reader into
            int32 ids (the large sets: ml-25m, ml-32m); ids and timestamps must
            then be written as integers (``12``, not ``12.0``) and ids below 2**31.

    Returns:
        a DataFrame with columns ``userId`` (int64; int32 if ``compact``),
        ``movieId`` (int64; int32 if ``compact``), ``rating`` (float32),
        ``timestamp`` (int64), in that order.
    """
    path = Path(path)
    if compact:
        if layout != "csv":
            raise ValueError(f"compact=True reads the 'csv' layout only, not {layout!r}.")
        return _read_ratings_compact(path)
    df = _read_table(path, layout, "ratings")
    _check_table(df, path, RATINGS_COLUMNS, RATINGS_COLUMNS)
    out = pd.DataFrame(
        {USER_COL: _to_int(df, path, USER_COL), MOVIE_COL: _to_int(df, path, MOVIE_COL)}
    )
    rating = pd.to_numeric(df[RATING_COL], errors="coerce")
    bad = ~rating.between(MIN_RATING, MAX_RATING) | (rating * 2 != np.round(rating * 2))
    if bad.any():  # NaN (not a number) fails the first test
        raise _bad(path, df[RATING_COL], RATING_COL, bad, _STARS_RULE)
    out[RATING_COL] = rating.astype(np.float32)
    out[TIMESTAMP_COL] = _to_int(df, path, TIMESTAMP_COL)
    check_unique_pairs(
        out.set_axis(out.index + 1),  # data rows, counted from 1 as in the other messages
        str(path),
        user_col=USER_COL,
        movie_col=MOVIE_COL,
        fix=_UNIQUE_FIX,
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


def _load(name: str, data_home, verify: bool, download_if_missing: bool, which: str):
    spec = _spec(name)
    fname = spec.ratings_file if which == "ratings" else spec.movies_file
    path = find_dataset(name, data_home, download_if_missing=download_if_missing) / fname
    if verify and spec.files.get(fname):
        verify_file(path, spec.files[fname])
    if which == "ratings":
        return read_ratings(path, spec.layout, compact=spec.compact)
    return read_movies(path, spec.layout)


def load_ratings(
    name: str = DEFAULT_DATASET,
    data_home: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download_if_missing: bool = True,
) -> pd.DataFrame:
    """Load a MovieLens data set's ratings, downloading it once if needed.

    Args:
        name: ``"ml-latest-small"`` (the course's), ``"ml-100k"``, ``"ml-1m"``,
            ``"ml-25m"`` or ``"ml-32m"`` (a key of :data:`DATASETS`).
        data_home: a folder holding ``<name>/``; see the module docstring.
        verify: check the file against its recorded SHA-256 first, where one is
            recorded (ml-25m and ml-32m are checked at download only).
        download_if_missing: download the data set when no data home holds it;
            if ``False``, raise :class:`DataError` saying where it was looked for.

    Returns:
        a DataFrame with columns ``userId`` (int64), ``movieId`` (int64),
        ``rating`` (float32), ``timestamp`` (int64), in that order; for
        ml-latest-small, 100,836 rows. For ml-25m (25,000,095 rows) and ml-32m
        (32,000,204 rows) the ids are int32, about 20 bytes a rating in memory.

    Raises:
        DataError: the data cannot be found or downloaded, or is invalid.
    """
    return _load(name, data_home, verify, download_if_missing, "ratings")


def load_movies(
    name: str = DEFAULT_DATASET,
    data_home: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download_if_missing: bool = True,
) -> pd.DataFrame:
    """Load a MovieLens data set's movies, downloading it once if needed.

    Args:
        name: ``"ml-latest-small"`` (the course's), ``"ml-100k"``, ``"ml-1m"``,
            ``"ml-25m"`` or ``"ml-32m"`` (a key of :data:`DATASETS`).
        data_home: a folder holding ``<name>/``; see the module docstring.
        verify: check the file against its recorded SHA-256 first, where one is
            recorded (ml-25m and ml-32m are checked at download only).
        download_if_missing: download the data set when no data home holds it;
            if ``False``, raise :class:`DataError` saying where it was looked for.

    Returns:
        a DataFrame with columns ``movieId`` (int64), ``title``, ``genres``;
        for ml-latest-small, 9,742 rows.

    Raises:
        DataError: the data cannot be found or downloaded, or is invalid.
    """
    return _load(name, data_home, verify, download_if_missing, "movies")
