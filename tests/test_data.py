"""Tests of reco.data: loaders, lookup order, checksums and clear errors on bad files.

Every test uses small synthetic files (tests/synthetic.py) in tmp_path; the real
MovieLens data and the user's cache are never touched, and nothing is downloaded:
a guard fails any HTTP request (downloads are tested in test_download.py).
"""

from __future__ import annotations

import hashlib
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
HEADER = b"userId,movieId,rating,timestamp\n"


@pytest.fixture(autouse=True)
def isolated_homes(tmp_path, monkeypatch):
    """Point every data home at tmp_path and forbid downloads."""
    env_home = tmp_path / "env-home"
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("RECO_DATA_HOME", str(env_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))

    def no_network(self, request, *args, **kwargs):
        raise AssertionError(f"test_data.py must not download ({request.url})")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_network)
    return {"env": env_home, "cache": cache / "reco"}


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


def _assert_ratings_frame(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(RATINGS_COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == RATINGS_DTYPES
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


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_load_with_verify_checks_the_recorded_sha(home, ratings, movies, monkeypatch, line_ending):
    reference = write_ml_latest(home / "reference", ratings, movies)  # LF, for the sha
    spec = DatasetSpec(
        name="ml-test",
        url="http://127.0.0.1:9/ml-test.zip",
        archive_sha256="0" * 64,
        layout="csv",
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        files=file_hashes(reference),
    )
    monkeypatch.setitem(DATASETS, "ml-test", spec)
    folder = write_ml_latest(home / "ml-test", ratings, movies, line_ending=line_ending)

    pd.testing.assert_frame_equal(load_ratings("ml-test", data_home=home, verify=True), ratings)

    raw = (folder / "ratings.csv").read_bytes()
    (folder / "ratings.csv").write_bytes(raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:])
    with pytest.raises(DataError, match="ratings.csv"):
        load_ratings("ml-test", data_home=home, verify=True)
    load_ratings("ml-test", data_home=home, verify=False)  # still valid data, so it loads


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
    for name in ("ml-latest-small", "ml-100k", "ml-1m"):
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
