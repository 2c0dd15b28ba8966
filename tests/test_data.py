"""Tests of reco.data: loaders, lookup order, checksums and clear errors on bad files.

Every test uses small synthetic files (tests/synthetic.py) in tmp_path; the real
MovieLens data and the user's cache and state folders are never touched, and
nothing is downloaded: a guard fails any HTTP request (downloads are tested in
test_download.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests.adapters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import (
    build_zip,
    file_hashes,
    make_movies,
    make_ratings,
    write_ml_1m,
    write_ml_25m,
    write_ml_100k,
    write_ml_latest,
)

import reco.data
from reco.constants import MOVIES_COLUMNS, RATINGS_COLUMNS
from reco.data import (
    DATASETS,
    DataError,
    DatasetSpec,
    data_homes,
    find_dataset,
    load_movies,
    load_ratings,
    read_movies,
    read_ratings,
    verify_file,
)

RATINGS_DTYPES = {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"}
COMPACT_DTYPES = {"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"}
HEADER = b"userId,movieId,rating,timestamp\n"


@pytest.fixture(autouse=True)
def isolated_homes(tmp_path, monkeypatch):
    """Point every data home and the state folder at tmp_path, and forbid downloads."""
    env_home = tmp_path / "env-home"
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("RECO_DATA_HOME", str(env_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setattr(reco.data, "_VERIFIED", {})  # this process has verified nothing yet

    def no_network(self, request, *args, **kwargs):
        raise AssertionError(f"test_data.py must not download ({request.url})")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_network)
    return {"env": env_home, "cache": cache / "reco", "state": tmp_path / "xdg-state" / "reco"}


@pytest.fixture
def ratings():
    return make_ratings(n_users=20, n_movies=30, density=0.3, seed=0)


@pytest.fixture
def movies(ratings):
    return make_movies(ratings["movieId"].unique(), seed=0)


@pytest.fixture
def home(tmp_path):
    """A data home given as the data_home argument (created empty)."""
    path = tmp_path / "arg-home"
    path.mkdir()
    return path


def _assert_ratings_frame(df: pd.DataFrame, dtypes=RATINGS_DTYPES) -> None:
    assert list(df.columns) == list(RATINGS_COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == dtypes
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_ml_latest_loaders_give_the_written_tables(home, ratings, movies, line_ending):
    write_ml_latest(home / "ml-latest-small", ratings, movies, line_ending=line_ending)

    got = load_ratings("ml-latest-small", data_home=home, verify=False)
    _assert_ratings_frame(got)
    pd.testing.assert_frame_equal(got, ratings)

    got_movies = load_movies("ml-latest-small", data_home=home, verify=False)
    assert list(got_movies.columns) == list(MOVIES_COLUMNS)
    assert got_movies["movieId"].dtype == np.int64
    pd.testing.assert_frame_equal(got_movies, movies, check_dtype=False)
    assert "Amélie's Café 5 (1933)" in set(got_movies["title"])  # UTF-8 kept
    assert got_movies["title"].str.contains(", The").any()  # quoted commas kept


def test_default_dataset_is_ml_latest_small(home, ratings, movies):
    write_ml_latest(home / "ml-latest-small", ratings, movies)
    pd.testing.assert_frame_equal(load_ratings(data_home=home, verify=False), ratings)


def test_ml_100k_reads_into_the_same_columns(home):
    ratings = make_ratings(seed=1, whole_stars=True)
    movies = make_movies(ratings["movieId"].unique(), seed=1)
    write_ml_100k(home / "ml-100k", ratings, movies)

    got = load_ratings("ml-100k", data_home=home)
    _assert_ratings_frame(got)
    pd.testing.assert_frame_equal(got, ratings)

    got_movies = load_movies("ml-100k", data_home=home)
    assert list(got_movies.columns) == list(MOVIES_COLUMNS)
    assert got_movies["movieId"].dtype == np.int64
    pd.testing.assert_frame_equal(got_movies, movies, check_dtype=False)


def test_ml_100k_genre_flags_become_names(tmp_path):
    flags = ["0"] * 19
    flags[1] = flags[5] = flags[18] = "1"  # Action, Comedy, Western
    lines = [
        "7|Café Olé (1995)|01-Jan-1995||http://x|" + "|".join(flags),
        "8|Nothing (1996)|01-Jan-1996||http://y|" + "|".join(["0"] * 19),
    ]
    path = tmp_path / "u.item"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))

    got = read_movies(path, layout="100k")

    assert got["genres"].tolist() == ["Action|Comedy|Western", "(no genres listed)"]
    assert got["title"].tolist() == ["Café Olé (1995)", "Nothing (1996)"]  # latin-1 decoded
    assert got["movieId"].tolist() == [7, 8]


def test_ml_1m_reads_into_the_same_columns(home):
    ratings = make_ratings(n_users=15, seed=2, whole_stars=True)
    movies = make_movies(ratings["movieId"].unique(), seed=2)
    write_ml_1m(home / "ml-1m", ratings, movies)

    got = load_ratings("ml-1m", data_home=home)
    _assert_ratings_frame(got)
    pd.testing.assert_frame_equal(got, ratings)

    got_movies = load_movies("ml-1m", data_home=home)
    assert list(got_movies.columns) == list(MOVIES_COLUMNS)
    pd.testing.assert_frame_equal(got_movies, movies, check_dtype=False)


def test_half_stars_survive_every_layout(tmp_path):
    ratings = make_ratings(n_users=5, n_movies=10, density=1.0, seed=3)
    assert set(ratings["rating"]) == set(np.arange(1, 11) / 2)  # the whole grid is used
    movies = make_movies(ratings["movieId"].unique())
    write_ml_latest(tmp_path / "a", ratings, movies)
    write_ml_100k(tmp_path / "b", ratings, movies)
    write_ml_1m(tmp_path / "c", ratings, movies)
    for path, layout in [("a/ratings.csv", "csv"), ("b/u.data", "100k"), ("c/ratings.dat", "1m")]:
        pd.testing.assert_frame_equal(read_ratings(tmp_path / path, layout), ratings)


def test_unknown_layout_is_a_value_error(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(HEADER + b"1,2,3.5,4\n")
    with pytest.raises(ValueError, match="unknown layout 'tsv'"):
        read_ratings(path, layout="tsv")
    with pytest.raises(ValueError, match="unknown layout 'tsv'"):
        read_movies(path, layout="tsv")


# --------------------------------------------------------------------------- checksums


def test_verify_rejects_files_that_differ_from_the_published_ones(home, ratings, movies):
    """The recorded SHA-256s are the real files'; synthetic ones count as modified."""
    write_ml_latest(home / "ml-latest-small", ratings, movies)
    with pytest.raises(DataError, match="ratings.csv") as excinfo:
        load_ratings("ml-latest-small", data_home=home)  # verify=True by default
    assert "does not match" in str(excinfo.value)
    assert "verify=False" in str(excinfo.value)  # the message says how to go on
    with pytest.raises(DataError, match="movies.csv"):
        load_movies("ml-latest-small", data_home=home, verify=True)


def test_verify_file_accepts_lf_and_crlf_and_rejects_one_changed_byte(tmp_path):
    text = b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"
    expected = hashlib.sha256(text).hexdigest()  # recorded with LF endings
    lf = tmp_path / "lf.csv"
    crlf = tmp_path / "crlf.csv"
    lf.write_bytes(text)
    crlf.write_bytes(text.replace(b"\n", b"\r\n"))
    assert crlf.read_bytes() != lf.read_bytes()

    verify_file(lf, expected)
    verify_file(crlf, expected)

    changed = tmp_path / "changed.csv"
    changed.write_bytes(text.replace(b"2.5", b"2.0"))
    with pytest.raises(DataError, match="changed.csv") as excinfo:
        verify_file(changed, expected)
    assert "SHA-256" in str(excinfo.value)
    with pytest.raises(DataError, match="crlf.csv"):
        verify_file(crlf, hashlib.sha256(text.replace(b"\n", b"\r\n")).hexdigest())
    with pytest.raises(DataError, match="missing file"):
        verify_file(tmp_path / "ratings.csv", expected)


def _pinned_to(reference: Path) -> DatasetSpec:
    """A data set "ml-test" in the csv layout whose files are pinned to those of ``reference``."""
    return DatasetSpec(
        name="ml-test",
        url="http://127.0.0.1:9/ml-test.zip",
        archive_sha256="0" * 64,
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=file_hashes(reference),
    )


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_load_with_verify_checks_the_recorded_sha(home, ratings, movies, monkeypatch, line_ending):
    reference = write_ml_latest(home / "reference", ratings, movies)  # LF, for the sha
    monkeypatch.setitem(DATASETS, "ml-test", _pinned_to(reference))
    folder = write_ml_latest(home / "ml-test", ratings, movies, line_ending=line_ending)

    pd.testing.assert_frame_equal(load_ratings("ml-test", data_home=home, verify=True), ratings)

    raw = (folder / "ratings.csv").read_bytes()
    (folder / "ratings.csv").write_bytes(raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:])
    with pytest.raises(DataError, match="ratings.csv"):
        load_ratings("ml-test", data_home=home, verify=True)
    load_ratings("ml-test", data_home=home, verify=False)  # still valid data, so it loads


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 8])
def test_verify_file_hashes_in_chunks_with_a_crlf_split_across_two(tmp_path, monkeypatch, chunk):
    data = b"ab\r\ncd\r\r\ne\rf\r\n\r\ng\r"  # CRLFs, a CR before a CRLF, lone CRs
    boundaries = range(chunk, len(data), chunk)
    assert any(data[k - 1 : k + 1] == b"\r\n" for k in boundaries)  # a CRLF split in two
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    monkeypatch.setattr(reco.data, "_CHUNK_BYTES", chunk)

    verify_file(path, hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest())  # as if read whole
    for wrong in (data, data.replace(b"\r", b"")):  # not normalised, or lone CRs dropped too
        with pytest.raises(DataError, match="does not match"):
            verify_file(path, hashlib.sha256(wrong).hexdigest())


def _count_hashes(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = reco.data._lf_sha256

    def counted(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(reco.data, "_lf_sha256", counted)
    return calls


def _age(path: Path, seconds: float) -> None:
    """Set a file's modification time ``seconds`` into the past (as a downloaded file's)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_verified_file_is_hashed_again_only_when_it_changes(
    tmp_path, monkeypatch, isolated_homes
):
    text = HEADER + b"1,31,2.5,1260759144\n"
    path = tmp_path / "ratings.csv"
    path.write_bytes(text)
    _age(path, 3600)
    expected = hashlib.sha256(text).hexdigest()
    calls = _count_hashes(monkeypatch)

    verify_file(path, expected)
    verify_file(path, expected)
    assert len(calls) == 1  # the second call trusted the size and mtime seen by the first

    monkeypatch.setattr(reco.data, "_VERIFIED", {})  # as a new process: the state file remembers
    verify_file(path, expected)
    assert len(calls) == 1
    (state,) = isolated_homes["state"].iterdir()  # one file, no temporary one left beside it
    assert json.loads(state.read_text())["files"][str(path.resolve())] == {
        "size": len(text),
        "mtime_ns": path.stat().st_mtime_ns,
        "hash": f"sha256:{expected}",
    }

    path.write_bytes(text.replace(b"2.5", b"4.5"))  # same size, another content
    _age(path, 1800)
    with pytest.raises(DataError, match="does not match"):
        verify_file(path, expected)
    assert len(calls) == 2
    with pytest.raises(DataError, match="does not match"):
        verify_file(path, expected)  # a failure is never remembered
    assert len(calls) == 3
    verify_file(path, hashlib.sha256(path.read_bytes()).hexdigest())  # another expected hash
    assert len(calls) == 4


def test_a_file_modified_just_now_is_not_remembered(tmp_path, monkeypatch, isolated_homes):
    """Within the file system clock's tick, a rewrite could keep the size and mtime."""
    path = tmp_path / "ratings.csv"
    path.write_bytes(HEADER)
    calls = _count_hashes(monkeypatch)
    for _ in range(2):
        verify_file(path, hashlib.sha256(HEADER).hexdigest())
    assert len(calls) == 2
    assert not isolated_homes["state"].exists()


def test_an_unreadable_state_file_only_costs_a_hash(tmp_path, monkeypatch, isolated_homes):
    path = tmp_path / "ratings.csv"
    path.write_bytes(HEADER)
    _age(path, 3600)
    isolated_homes["state"].mkdir(parents=True)
    (isolated_homes["state"] / "verified-files.json").write_text("{not json")
    calls = _count_hashes(monkeypatch)
    verify_file(path, hashlib.sha256(HEADER).hexdigest())
    assert len(calls) == 1
    monkeypatch.setattr(reco.data, "_VERIFIED", {})
    verify_file(path, hashlib.sha256(HEADER).hexdigest())  # rewritten whole by the first call
    assert len(calls) == 1


def test_loading_twice_hashes_the_file_once_and_writes_nothing_in_the_data_home(
    home, ratings, movies, monkeypatch
):
    reference = write_ml_latest(home / "ml-test", ratings, movies)
    monkeypatch.setitem(DATASETS, "ml-test", _pinned_to(reference))
    for path in reference.iterdir():
        _age(path, 3600)
    before = sorted(p.name for p in home.rglob("*"))
    calls = _count_hashes(monkeypatch)

    for _ in range(2):
        pd.testing.assert_frame_equal(load_ratings("ml-test", data_home=home), ratings)
    assert calls == [reference / "ratings.csv"]
    assert sorted(p.name for p in home.rglob("*")) == before


# --------------------------------------------------------------------------- the large sets


def test_the_large_sets_are_pinned_by_md5_and_read_compactly():
    for name, md5, size in [
        ("ml-25m", "6b51fb2759a8657d3bfcbfc42b592ada", 261_978_986),
        ("ml-32m", "d472be332d4daa821edc399621853b57", 238_950_008),
    ]:
        spec = DATASETS[name]
        assert spec.archive_hash == f"md5:{md5}" and spec.archive_sha256 is None
        assert spec.archive_bytes == size and spec.compact and spec.layout == "csv"
        assert spec.disk_mb * 1e6 > 4 * size  # the zip and its unzipped files, about
        assert {spec.ratings_file, spec.movies_file} <= set(spec.files)
    assert DATASETS["ml-32m"].checksums_file == "checksums.txt"
    assert DATASETS["ml-25m"].checksums_file is None
    for spec in (DATASETS[n] for n in ("ml-latest-small", "ml-100k", "ml-1m")):
        assert spec.archive_hash == f"sha256:{spec.archive_sha256}" and not spec.compact


@pytest.mark.parametrize(
    "pins, problem",
    [({}, "pins no archive hash"), ({"archive_md5": "0" * 31}, "32 lower-case hex"),
     ({"archive_sha256": "A" * 64}, "64 lower-case hex")],
    ids=["none", "short-md5", "upper-case-sha256"],
)  # fmt: skip
def test_a_spec_must_pin_its_archive_with_a_well_formed_hash(pins, problem):
    with pytest.raises(ValueError, match=problem):
        DatasetSpec(**{"archive_sha256": None, **pins}, name="x", url="u", layout="csv",
                    ratings_file="r", movies_file="m")  # fmt: skip


def test_the_compact_reader_gives_the_same_table_in_compact_dtypes(tmp_path):
    ratings = make_ratings(n_users=30, n_movies=40, density=0.3, seed=5)
    folder = write_ml_25m(tmp_path / "ml-25m", ratings, make_movies(ratings["movieId"].unique()))

    got = read_ratings(folder / "ratings.csv", compact=True)

    _assert_ratings_frame(got, COMPACT_DTYPES)
    pd.testing.assert_frame_equal(got, ratings.astype(COMPACT_DTYPES))
    shuffled = tmp_path / "shuffled.csv"  # not sorted by (user, movie): the other uniqueness test
    ratings.sample(frac=1.0, random_state=0).astype({"rating": float}).to_csv(shuffled, index=False)
    assert len(read_ratings(shuffled, compact=True)) == len(ratings)
    with pytest.raises(ValueError, match="'csv' layout only"):
        read_ratings(folder / "ratings.csv", layout="100k", compact=True)


def test_load_ratings_reads_the_large_sets_compactly(home, tmp_path):
    ratings = make_ratings(n_users=8, n_movies=12, seed=6)
    movies = make_movies(ratings["movieId"].unique())
    write_ml_25m(home / "ml-25m", ratings, movies)
    got = load_ratings("ml-25m", data_home=home)
    pd.testing.assert_frame_equal(got, ratings.astype(COMPACT_DTYPES))
    pd.testing.assert_frame_equal(load_movies("ml-25m", data_home=home), movies, check_dtype=False)


# (id, content, keywords the message must hold): the compact reader names the data row
BAD_COMPACT = [
    ("non-numeric-user", HEADER + b"1,2,3.5,4\nbob,2,3.5,4\n", ["data row 2", "'userId'", "'bob'"]),
    ("float-movie", HEADER + b"1,2.0,3.5,4\n", ["data row 1", "'movieId'", "whole numbers"]),
    ("id-beyond-int32", HEADER + b"1,2,3.5,4\n1,2147483648,3,4\n", ["data row 2", "2**31"]),
    ("short-row", HEADER + b"1,2,3.5,4\n1,3,4\n", ["data row 2", "4 comma-separated fields"]),
    ("missing-rating", HEADER + b"1,2,3,4\n1,3,,4\n", ["'rating'", "missing value", "row(s) 2"]),
    ("rating-off-grid", HEADER + b"1,2,3.3,4\n", ["half stars", "row 1 (3.3)"]),
    ("rating-nan", HEADER + b"1,2,nan,4\n", ["half stars", "row 1 (nan)"]),
    ("duplicate-unsorted", HEADER + b"2,1,3,4\n1,2,3,4\n2,1,4,5\n", ["rows [1, 3]", "user 2"]),
    ("missing-column", b"userId,movieId,rating\n1,2,3\n", ["missing column(s) timestamp"]),
    ("header-only", HEADER, ["no rows"]),
    ("html", b"<!DOCTYPE html><html></html>", ["HTML page"]),
]


@pytest.mark.parametrize(
    "content, keywords", [c[1:] for c in BAD_COMPACT], ids=[c[0] for c in BAD_COMPACT]
)
def test_the_compact_reader_names_the_file_the_row_and_the_problem(tmp_path, content, keywords):
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        read_ratings(path, compact=True)
    assert excinfo.type is DataError and str(path) in str(excinfo.value)
    for keyword in keywords:
        assert keyword in str(excinfo.value), str(excinfo.value)


@pytest.mark.parametrize("name", ["ml-25m", "ml-32m"])
def test_a_large_set_that_is_absent_offline_says_where_it_looked(home, isolated_homes, name):
    for load in (load_ratings, load_movies):
        with pytest.raises(DataError, match=f"'{name}' was not found") as excinfo:
            load(name, data_home=home, download_if_missing=False)
        message = str(excinfo.value)
        for folder in (home, isolated_homes["env"], isolated_homes["cache"]):
            assert str(folder / name) in message
        assert f"{name}.zip" in message and "export RECO_DATA_HOME=" in message
    assert list(home.iterdir()) == [] and not isolated_homes["env"].exists()


# --------------------------------------------------------------------------- lookup order


def test_data_homes_order(tmp_path, monkeypatch, isolated_homes):
    arg = tmp_path / "arg"
    assert data_homes(arg) == [arg, isolated_homes["env"], isolated_homes["cache"]]
    assert data_homes() == [isolated_homes["env"], isolated_homes["cache"]]

    monkeypatch.delenv("RECO_DATA_HOME")
    assert data_homes(arg) == [arg, isolated_homes["cache"]]

    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_homes() == [tmp_path / "user-home" / ".cache" / "reco"]


def test_data_homes_are_absolute_and_deduplicated(tmp_path, monkeypatch, isolated_homes):
    monkeypatch.chdir(tmp_path)
    homes = data_homes("env-home")  # the same folder as RECO_DATA_HOME, given relatively
    assert homes == [isolated_homes["env"], isolated_homes["cache"]]
    assert all(h.is_absolute() for h in homes)
    monkeypatch.setenv("RECO_DATA_HOME", "")  # empty means unset
    assert data_homes() == [isolated_homes["cache"]]


def _write_latest(folder: Path, seed: int) -> pd.DataFrame:
    ratings = make_ratings(n_users=5, n_movies=8, seed=seed)
    write_ml_latest(folder, ratings, make_movies(ratings["movieId"].unique()))
    return ratings


def test_argument_wins_over_env_and_cache(home, isolated_homes):
    expected = _write_latest(home / "ml-latest-small", seed=10)
    _write_latest(isolated_homes["env"] / "ml-latest-small", seed=11)
    _write_latest(isolated_homes["cache"] / "ml-latest-small", seed=12)

    assert find_dataset("ml-latest-small", home) == home / "ml-latest-small"
    pd.testing.assert_frame_equal(load_ratings(data_home=home, verify=False), expected)


def test_env_wins_over_cache_and_a_later_home_is_found(home, isolated_homes):
    expected = _write_latest(isolated_homes["env"] / "ml-latest-small", seed=11)
    _write_latest(isolated_homes["cache"] / "ml-latest-small", seed=12)

    assert find_dataset("ml-latest-small", home) == isolated_homes["env"] / "ml-latest-small"
    pd.testing.assert_frame_equal(load_ratings(data_home=home, verify=False), expected)


def test_cache_is_the_last_resort(home, isolated_homes):
    expected = _write_latest(isolated_homes["cache"] / "ml-latest-small", seed=12)

    assert find_dataset("ml-latest-small", home) == isolated_homes["cache"] / "ml-latest-small"
    pd.testing.assert_frame_equal(load_ratings(data_home=home, verify=False), expected)
    pd.testing.assert_frame_equal(load_ratings(verify=False), expected)


def test_incomplete_folder_names_the_missing_file(home, ratings, movies):
    folder = write_ml_latest(home / "ml-latest-small", ratings, movies)
    (folder / "tags.csv").unlink()
    with pytest.raises(DataError, match="tags.csv") as excinfo:
        find_dataset("ml-latest-small", home)
    assert str(folder) in str(excinfo.value)
    assert "incomplete" in str(excinfo.value)
    with pytest.raises(DataError, match="tags.csv"):
        load_ratings("ml-latest-small", data_home=home, verify=False)


def test_not_found_lists_every_folder_and_the_env_variable(home, isolated_homes):
    with pytest.raises(DataError) as excinfo:
        find_dataset("ml-latest-small", home, download_if_missing=False)
    message = str(excinfo.value)
    for folder in (home, isolated_homes["env"], isolated_homes["cache"]):
        assert str(folder / "ml-latest-small") in message
    assert "RECO_DATA_HOME" in message
    assert not (home / "ml-latest-small").exists()


def test_a_file_named_like_the_data_set_is_not_a_data_set(home):
    (home / "ml-latest-small").write_text("not a folder")
    with pytest.raises(DataError, match="not found"):
        find_dataset("ml-latest-small", home, download_if_missing=False)


@pytest.mark.parametrize(
    "call",
    [
        lambda: find_dataset("ml-10m"),
        lambda: load_ratings("ml-10m"),
        lambda: load_movies("ml-10m"),
        lambda: reco.data.download("ml-10m"),
    ],
    ids=["find_dataset", "load_ratings", "load_movies", "download"],
)
def test_unknown_data_set_lists_the_known_names(call):
    with pytest.raises(DataError, match="unknown data set 'ml-10m'") as excinfo:
        call()
    for name in ("ml-latest-small", "ml-100k", "ml-1m", "ml-25m", "ml-32m"):
        assert name in str(excinfo.value)


# --------------------------------------------------------------------------- bad files

# (id, file name, content, layout, keyword the message must hold)
BAD_RATINGS = [
    ("missing-columns", "ratings.csv", b"userId,movieId,rating\n1,2,3.5\n", "csv", "timestamp"),
    ("non-numeric-user", "ratings.csv", HEADER + b"1,2,3.5,4\nbob,2,3.5,4\n", "csv", "'bob'"),
    ("non-numeric-movie", "ratings.csv", HEADER + b"1,x2,3.5,4\n", "csv", "whole numbers"),
    ("non-numeric-rating", "ratings.csv", HEADER + b"1,2,good,4\n", "csv", "'good'"),
    ("non-integer-user", "ratings.csv", HEADER + b"1.5,2,3.5,4\n", "csv", "whole numbers"),
    ("non-integer-timestamp", "ratings.csv", HEADER + b"1,2,3.5,4.25\n", "csv", "timestamp"),
    ("infinite-timestamp", "ratings.csv", HEADER + b"1,2,3.5,inf\n", "csv", "whole numbers"),
    ("huge-timestamp", "ratings.csv", HEADER + b"1,2,3.5,1" + b"0" * 22 + b"\n", "csv", "whole"),
    ("missing-rating", "ratings.csv", HEADER + b"1,2,,4\n", "csv", "missing value"),
    ("missing-user", "ratings.csv", HEADER + b"1,2,3,4\n,3,4,5\n", "csv", "missing value"),
    ("short-row", "ratings.csv", HEADER + b"1,2,3.5\n", "csv", "missing value"),
    ("rating-above-5", "ratings.csv", HEADER + b"1,2,5.5,4\n", "csv", "[0.5, 5.0]"),
    ("rating-zero", "ratings.csv", HEADER + b"1,2,0,4\n", "csv", "[0.5, 5.0]"),
    ("rating-negative", "ratings.csv", HEADER + b"1,2,-1,4\n", "csv", "[0.5, 5.0]"),
    ("rating-off-grid", "ratings.csv", HEADER + b"1,2,3.3,4\n", "csv", "half stars"),
    (
        "duplicate-pair",
        "ratings.csv",
        HEADER + b"1,2,3,4\n1,3,3,4\n1,2,4,5\n",
        "csv",
        "user 1 and movie 2;",
    ),
    ("empty-0-bytes", "ratings.csv", b"", "csv", "empty"),
    ("blank-lines-only", "ratings.csv", b"\r\n\n  \n", "csv", "empty"),
    ("header-only", "ratings.csv", HEADER, "csv", "no rows"),
    ("binary-bytes", "ratings.csv", bytes(range(256)) * 4, "csv", "binary"),
    ("zip-renamed", "ratings.csv", build_zip(extra={"ratings.csv": HEADER}), "csv", "zip"),
    (
        "html-page",
        "ratings.csv",
        b"\n  <!DOCTYPE html>\n<html><body>404</body></html>",
        "csv",
        "HTML",
    ),
    ("not-utf8", "ratings.csv", HEADER + "1,2,3.5,4 \u00e9\n".encode("latin-1"), "csv", "utf-8"),
    ("extra-field", "ratings.csv", HEADER + b"1,2,3.5,4,9\n2,3,4,5,6\n", "csv", "more fields"),
    ("trailing-comma", "ratings.csv", HEADER + b"1,2,3.5,4,\n", "csv", "more fields"),
    ("open-quote", "ratings.csv", HEADER + b'1,2,"3.5,4\n', "csv", "well-formed"),
    (
        "semicolons",
        "ratings.csv",
        b"userId;movieId;rating;timestamp\n1;2;3.5;4\n",
        "csv",
        "missing column",
    ),
    ("100k-five-fields", "u.data", b"1\t2\t3\t4\t5\n2\t3\t4\t5\t6\n", "100k", "more fields"),
    ("100k-comma-separated", "u.data", b"1,2,3,4\n", "100k", "missing value"),
    ("100k-rating-6", "u.data", b"1\t2\t6\t4\n", "100k", "[0.5, 5.0]"),
    ("1m-single-colons", "ratings.dat", b"1:2:3:4\n", "1m", "missing value"),
    ("1m-duplicate-pair", "ratings.dat", b"1::2::3::4\n1::2::4::5\n", "1m", "user 1 and movie 2;"),
]

BAD_MOVIES = [
    (
        "duplicate-movieId",
        "movies.csv",
        b"movieId,title,genres\n1,A (1990),Drama\n1,B (1991),War\n",
        "csv",
        "more than once",
    ),
    ("missing-genres-column", "movies.csv", b"movieId,title\n1,A (1990)\n", "csv", "genres"),
    ("missing-title", "movies.csv", b"movieId,title,genres\n1,,Drama\n", "csv", "missing value"),
    (
        "non-integer-movieId",
        "movies.csv",
        b"movieId,title,genres\n1.5,A,Drama\n",
        "csv",
        "whole numbers",
    ),
    ("header-only", "movies.csv", b"movieId,title,genres\r\n", "csv", "no rows"),
    ("empty", "movies.csv", b"", "csv", "empty"),
    (
        "not-utf8",
        "movies.csv",
        "movieId,title,genres\n1,Café,Drama\n".encode("latin-1"),
        "csv",
        "utf-8",
    ),
    (
        "100k-too-few-fields",
        "u.item",
        b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n",
        "100k",
        "24",
    ),
    ("100k-duplicate", "u.item", (b"1|A|d||u" + b"|0" * 19 + b"\n") * 2, "100k", "more than once"),
    (
        "1m-duplicate",
        "movies.dat",
        b"1::A (1990)::Drama\n1::B (1991)::War\n",
        "1m",
        "more than once",
    ),
]


def _check_error(excinfo, name: str, keyword: str) -> None:
    err = excinfo.value
    assert excinfo.type is DataError  # not a pandas, numpy or zipfile exception
    assert isinstance(err, ValueError)
    assert name in str(err), str(err)
    assert keyword.lower() in str(err).lower(), str(err)


@pytest.mark.parametrize(
    "name, content, layout, keyword",
    [case[1:] for case in BAD_RATINGS],
    ids=[case[0] for case in BAD_RATINGS],
)
def test_bad_ratings_file_raises_data_error_naming_file_and_problem(
    tmp_path, name, content, layout, keyword
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        read_ratings(path, layout=layout)
    _check_error(excinfo, name, keyword)


@pytest.mark.parametrize(
    "name, content, layout, keyword",
    [case[1:] for case in BAD_MOVIES],
    ids=[case[0] for case in BAD_MOVIES],
)
def test_bad_movies_file_raises_data_error_naming_file_and_problem(
    tmp_path, name, content, layout, keyword
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        read_movies(path, layout=layout)
    _check_error(excinfo, name, keyword)


@pytest.mark.parametrize(
    "content",
    [c[2] for c in BAD_RATINGS if c[3] == "csv"],
    ids=[c[0] for c in BAD_RATINGS if c[3] == "csv"],
)
def test_every_bad_ratings_file_is_a_data_error_for_the_compact_reader_too(tmp_path, content):
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="ratings.csv"):
        read_ratings(path, compact=True)


@pytest.mark.parametrize("reader", [read_ratings, read_movies])
def test_missing_file_raises_data_error(tmp_path, reader):
    with pytest.raises(DataError) as excinfo:
        reader(tmp_path / "nowhere.csv")
    _check_error(excinfo, "nowhere.csv", "missing file")


@pytest.mark.parametrize("case", ["rating-off-grid", "empty-0-bytes", "zip-renamed", "html-page"])
def test_bad_file_in_a_data_set_surfaces_through_load_ratings(home, ratings, movies, case):
    _, _, content, _, keyword = next(c for c in BAD_RATINGS if c[0] == case)
    folder = write_ml_latest(home / "ml-latest-small", ratings, movies)
    (folder / "ratings.csv").write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        load_ratings("ml-latest-small", data_home=home, verify=False)
    _check_error(excinfo, str(folder / "ratings.csv"), keyword)


def test_pandas_errors_are_chained_not_shown_alone(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(HEADER + b'1,2,"3.5,4\n')
    with pytest.raises(DataError) as excinfo:
        read_ratings(path)
    assert isinstance(excinfo.value.__cause__, pd.errors.ParserError)  # kept for debugging
    assert str(path) in str(excinfo.value)


def test_genres_may_be_empty_but_titles_keep_their_text(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_bytes(b'movieId,title,genres\n1,"Big, Bad (1990)",\n2,42,Drama\n')
    got = read_movies(path)
    assert got["genres"].tolist() == ["(no genres listed)", "Drama"]
    assert got["title"].tolist() == ["Big, Bad (1990)", "42"]


# --------------------------------------------------------------------------- properties

_CSV_TOKENS = [*"0123456789", "3.5", "0.5", "-", ".", "e9", "inf", "nan", "NA", ",", ";", "\t",
               "\n", "\r\n", '"', " ", "é", "\x00", "userId", "rating", "9" * 20, "<html>"]  # fmt: skip
_CSV_TEXT = st.lists(st.sampled_from(_CSV_TOKENS), max_size=40).map("".join)
# Rows of mostly valid fields, with the odd bad one: both readers accept some of them.
_ID = st.sampled_from(
    ["1", "2", "3", "17", "250", "-4", " 3", '"2"'] * 3 + ["1.0", "x", "", "2147483648"]
)
_STARS = st.sampled_from(["0.5", "3.5", "4.0", "5", " 1"] * 3 + ["5.5", "nan", "3.3", ""])
_TIME = st.sampled_from(["1260759144", "0", "-1"] * 3 + ["4.25", "inf", ""])
_ROW = st.tuples(_ID, _ID, _STARS, _TIME).map(",".join)
_ROWS = st.lists(_ROW | _ROW.map(lambda row: row + ",9"), min_size=1, max_size=4)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_CSV_TEXT, with_header=st.booleans())
def test_any_text_gives_a_valid_table_or_a_data_error(tmp_path, body, with_header):
    path = tmp_path / "ratings.csv"
    path.write_bytes((HEADER if with_header else b"") + body.encode("utf-8"))
    try:
        got = read_ratings(path)
    except DataError as err:
        assert str(path) in str(err)
        return
    _assert_ratings_frame(got)
    assert got["rating"].between(0.5, 5.0).all()
    assert (got["rating"] * 2 == np.round(got["rating"] * 2)).all()
    assert not got.duplicated(["userId", "movieId"]).any()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_ROWS)
def test_the_compact_reader_accepts_only_what_the_classic_one_does(tmp_path, rows):
    """The same table where both accept; a DataError, never another exception, otherwise.

    The compact reader is the stricter: ids written ``1.0`` or beyond int32 are refused.
    """
    path = tmp_path / "ratings.csv"
    path.write_bytes(HEADER + "".join(f"{row}\n" for row in rows).encode())
    try:
        got = read_ratings(path, compact=True)
    except DataError as err:
        assert str(path) in str(err)
        return
    _assert_ratings_frame(got, COMPACT_DTYPES)
    pd.testing.assert_frame_equal(got, read_ratings(path).astype(COMPACT_DTYPES))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n_users=st.integers(1, 12),
    n_movies=st.integers(1, 12),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
    crlf=st.booleans(),
)
def test_written_tables_read_back_unchanged(tmp_path, n_users, n_movies, density, seed, crlf):
    ratings = make_ratings(n_users, n_movies, density, seed)
    movies = make_movies(ratings["movieId"].unique(), seed=seed)
    folder = write_ml_latest(tmp_path / "ml", ratings, movies, line_ending="\r\n" if crlf else "\n")
    pd.testing.assert_frame_equal(read_ratings(folder / "ratings.csv"), ratings)
    pd.testing.assert_frame_equal(read_movies(folder / "movies.csv"), movies, check_dtype=False)


@pytest.mark.parametrize("layout, fname, line", [
    ("1m", "movies.dat", '7::"Blue" Velvet (1986)::Drama|Mystery\n'),
    ("100k", "u.item", '7|"Blue" Velvet (1986)|01-Jan-1986||http://x|' + "|".join("0" * 18 + "1") + "\n"),
])  # fmt: skip
def test_titles_with_double_quotes_read_verbatim_in_unquoted_layouts(tmp_path, layout, fname, line):
    path = tmp_path / fname
    path.write_bytes(line.encode("latin-1"))
    movies = reco.data.read_movies(path, layout)
    assert movies["title"].tolist() == ['"Blue" Velvet (1986)']
