"""Tests of reco.split: id encoding and the course's train/validation/test splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split
from synthetic import make_ratings

from reco.split import Split, check_id_dtype, course_split, encode_ids, train_val_test_split


@pytest.fixture
def ratings():
    return make_ratings(n_users=40, n_movies=50, density=0.3, seed=0)


@pytest.fixture
def encoded(ratings):
    return encode_ids(ratings)[0]


def _rows(X: np.ndarray, y: np.ndarray) -> set[tuple[int, int, float]]:
    return {(int(u), int(m), float(r)) for (u, m), r in zip(X, y, strict=True)}


# --------------------------------------------------------------------------- encode_ids


def test_encode_ids_gives_contiguous_indices(ratings):
    encoded, encoder = encode_ids(ratings)

    assert encoder.n_users == ratings["userId"].nunique() == 40
    assert encoder.n_movies == ratings["movieId"].nunique()
    assert encoded["user"].dtype == np.int32 and encoded["movie"].dtype == np.int32
    assert sorted(encoded["user"].unique()) == list(range(encoder.n_users))
    assert sorted(encoded["movie"].unique()) == list(range(encoder.n_movies))
    # the order of raw ids is kept: a larger id gets a larger index
    pairs = encoded[["movieId", "movie"]].drop_duplicates().sort_values("movieId")
    assert pairs["movie"].is_monotonic_increasing


def test_encode_ids_keeps_the_input_and_adds_two_columns(ratings):
    before = ratings.copy()
    encoded, _ = encode_ids(ratings)
    pd.testing.assert_frame_equal(ratings, before)  # the input is not modified
    assert list(encoded.columns) == [*ratings.columns, "user", "movie"]
    pd.testing.assert_frame_equal(encoded[list(ratings.columns)], ratings)


def test_encode_decode_round_trip(ratings):
    encoded, encoder = encode_ids(ratings)

    np.testing.assert_array_equal(encoder.decode_users(encoded["user"]), ratings["userId"])
    np.testing.assert_array_equal(encoder.decode_movies(encoded["movie"]), ratings["movieId"])
    np.testing.assert_array_equal(encoder.encode_users(ratings["userId"]), encoded["user"])
    np.testing.assert_array_equal(encoder.encode_movies(ratings["movieId"]), encoded["movie"])
    assert encoder.encode_movies(ratings["movieId"]).dtype == np.int32


def test_encode_ids_with_other_column_names():
    df = pd.DataFrame({"uid": [10, 30, 10], "iid": [7, 7, 99], "stars": [4.0, 3.5, 2.0]})
    encoded, encoder = encode_ids(
        df, user_col="uid", movie_col="iid", user_idx_col="u", movie_idx_col="i"
    )
    assert encoded["u"].tolist() == [0, 1, 0]
    assert encoded["i"].tolist() == [0, 0, 1]
    assert (encoder.n_users, encoder.n_movies) == (2, 2)


def test_unknown_ids_raise_value_error_naming_them(ratings):
    _, encoder = encode_ids(ratings)
    known = int(ratings["movieId"].iloc[0])
    with pytest.raises(ValueError, match=r"unknown movie id\(s\): 888888, 999999;"):
        encoder.encode_movies([known, 999_999, 888_888])  # only the unknown ones are named
    with pytest.raises(ValueError, match=r"unknown user id\(s\): 0, 41"):
        encoder.encode_users([1, 0, 41])


def test_out_of_range_indices_raise_value_error(ratings):
    _, encoder = encode_ids(ratings)
    with pytest.raises(ValueError, match=r"user indices must lie in \[0, 39\]"):
        encoder.decode_users([0, 40])
    with pytest.raises(ValueError, match="movie indices"):
        encoder.decode_movies([-1])
    assert encoder.decode_users([]).size == 0


@pytest.mark.parametrize(("drop", "keyword"), [("userId", "user_col"), ("movieId", "movie_col")])
def test_a_missing_id_column_is_named_with_the_keyword_that_fixes_it(ratings, drop, keyword):
    with pytest.raises(
        ValueError, match=rf"ratings table has no column\(s\) \['{drop}'\].*{keyword}=<your column>"
    ):
        encode_ids(ratings.drop(columns=drop))


@pytest.mark.parametrize("missing", [np.nan, None])
@pytest.mark.parametrize("column", ["userId", "movieId"])
def test_missing_ids_are_refused_with_the_rows_and_the_fix(ratings, column, missing):
    holes = ratings.astype({column: object})
    holes.loc[[3, 7], column] = missing
    kind = "user" if column == "userId" else "movie"
    with pytest.raises(
        ValueError,
        match=rf"ratings\['{column}'\] has 2 missing id\(s\) \(NaN or None\), at row\(s\) \[3, 7\]; "
        rf"a missing id is not a {kind}.*dropna\(subset=\['{column}'\]\)",
    ):
        encode_ids(holes)


def test_ids_stored_as_strings_are_refused_by_an_encoder_of_numbers(ratings):
    _, encoder = encode_ids(ratings)
    ids = ratings["movieId"].astype(str)
    with pytest.raises(
        ValueError, match=r"the movie ids holds object values but the encoder was fitted on numbers"
    ):
        encoder.encode_movies(ids)
    with pytest.raises(ValueError, match=r"ratings\['movieId'\] holds .*\.astype\(int\)"):
        check_id_dtype(encoder.movies, ids, "ratings['movieId']")
    _, by_name = encode_ids(ratings.astype({"userId": str}))
    with pytest.raises(ValueError, match=r"fitted on strings.*\.astype\(str\)"):
        by_name.encode_users(ratings["userId"])
    as_text = ratings["userId"].astype(str)  # the same ids, as strings, encode fine
    np.testing.assert_array_equal(by_name.decode_users(by_name.encode_users(as_text)), as_text)


@settings(max_examples=40, deadline=None)
@given(
    users=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=40),
    movies=st.lists(st.integers(1, 200_000), min_size=1, max_size=40),
)
def test_encode_decode_round_trip_for_any_ids(users, movies):
    n = min(len(users), len(movies))
    df = pd.DataFrame({"userId": users[:n], "movieId": movies[:n]})
    df = df.drop_duplicates(["userId", "movieId"])  # one rating per pair, as encode_ids asks

    encoded, encoder = encode_ids(df)

    assert encoder.n_users == df["userId"].nunique()
    assert encoder.n_movies == df["movieId"].nunique()
    assert set(encoded["user"]) == set(range(encoder.n_users))
    assert set(encoded["movie"]) == set(range(encoder.n_movies))
    np.testing.assert_array_equal(encoder.decode_users(encoded["user"]), df["userId"])
    np.testing.assert_array_equal(encoder.decode_movies(encoded["movie"]), df["movieId"])


# --------------------------------------------------------------------------- course_split


def test_course_split_equals_sklearn_train_test_split(encoded):
    X = encoded[["user", "movie"]].to_numpy(dtype=np.int32)
    y = encoded["rating"].to_numpy(dtype=np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.1, random_state=42)

    split = course_split(encoded)

    np.testing.assert_array_equal(split.X_train, X_train)
    np.testing.assert_array_equal(split.X_test, X_test)
    np.testing.assert_array_equal(split.y_train, y_train)
    np.testing.assert_array_equal(split.y_test, y_test)
    assert split.X_val is None and split.y_val is None


def test_course_split_shapes_and_dtypes(encoded):
    n = len(encoded)
    split = course_split(encoded)

    assert split.X_train.dtype == np.int32 and split.X_test.dtype == np.int32
    assert split.y_train.dtype == np.float32 and split.y_test.dtype == np.float32
    n_test = int(np.ceil(0.1 * n))  # sklearn rounds the test part up
    assert split.X_test.shape == (n_test, 2) and split.y_test.shape == (n_test,)
    assert split.X_train.shape == (n - n_test, 2) and split.y_train.shape == (n - n_test,)
    assert split.sizes() == {"train": n - n_test, "test": n_test}
    # every row is kept once, with its own rating
    all_rows = _rows(encoded[["user", "movie"]].to_numpy(), encoded["rating"].to_numpy())
    assert _rows(split.X_train, split.y_train) | _rows(split.X_test, split.y_test) == all_rows


def test_course_split_is_deterministic_and_depends_on_the_seed(encoded):
    a, b = course_split(encoded), course_split(encoded)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    other = course_split(encoded, seed=7)
    assert not np.array_equal(a.X_test, other.X_test)


def test_both_splits_record_the_sizes_of_the_encoding(ratings):
    # The last movie index is rated once; wherever that rating falls, the sizes are the encoder's.
    encoded, encoder = encode_ids(ratings)
    for split in (course_split(encoded), train_val_test_split(encoded, seed=1)):
        assert (split.n_users, split.n_movies) == (encoder.n_users, encoder.n_movies)
    bare = Split(np.zeros((3, 2)), np.zeros(3), np.zeros((1, 2)), np.zeros(1))
    assert bare.n_users is None and bare.n_movies is None


def test_course_split_needs_encoded_columns(ratings):
    with pytest.raises(ValueError, match="encode_ids"):
        course_split(ratings)


# --------------------------------------------------------------------------- train_val_test_split


def test_three_parts_are_disjoint_and_cover_every_row(encoded):
    split = train_val_test_split(encoded, val_size=0.1, test_size=0.1)
    parts = [
        _rows(split.X_train, split.y_train),
        _rows(split.X_val, split.y_val),
        _rows(split.X_test, split.y_test),
    ]
    assert sum(len(p) for p in parts) == len(encoded)  # no row twice (pairs are unique)
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2])
    assert parts[1].isdisjoint(parts[2])
    assert set().union(*parts) == _rows(encoded[["user", "movie"]].to_numpy(), encoded["rating"])
    for X, y in [(split.X_train, split.y_train), (split.X_val, split.y_val)]:
        assert X.dtype == np.int32 and X.shape == (len(y), 2) and y.dtype == np.float32


def test_test_part_is_the_course_split_test_part(encoded):
    course = course_split(encoded, test_size=0.2, seed=3)
    three = train_val_test_split(encoded, val_size=0.15, test_size=0.2, seed=3)
    np.testing.assert_array_equal(three.X_test, course.X_test)
    np.testing.assert_array_equal(three.y_test, course.y_test)


@pytest.mark.parametrize("val_size, test_size", [(0.1, 0.1), (0.2, 0.1), (0.15, 0.25)])
def test_part_sizes_are_the_requested_fractions(encoded, val_size, test_size):
    n = len(encoded)
    sizes = train_val_test_split(encoded, val_size=val_size, test_size=test_size).sizes()
    assert list(sizes) == ["train", "val", "test"]
    assert sum(sizes.values()) == n
    assert abs(sizes["val"] - val_size * n) <= 2
    assert abs(sizes["test"] - test_size * n) <= 1


def test_train_val_test_split_is_deterministic(encoded):
    a = train_val_test_split(encoded, seed=5)
    b = train_val_test_split(encoded, seed=5)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = train_val_test_split(encoded, seed=6)
    assert not np.array_equal(a.X_val, c.X_val)


@pytest.mark.parametrize(
    "val_size, test_size",
    [
        (0, 0.1),
        (0.1, 0),
        (1, 0.1),
        (0.1, 1.0),
        (-0.1, 0.1),
        (0.5, 0.5),
        (0.7, 0.4),
        (float("nan"), 0.1),
    ],
)
def test_bad_fractions_raise_value_error(encoded, val_size, test_size):
    with pytest.raises(ValueError, match="val_size and test_size"):
        train_val_test_split(encoded, val_size=val_size, test_size=test_size)


def test_split_sizes_without_validation():
    split = Split(np.zeros((3, 2)), np.zeros(3), np.zeros((1, 2)), np.zeros(1))
    assert split.sizes() == {"train": 3, "test": 1}


def _with_duplicates(ratings: pd.DataFrame) -> pd.DataFrame:
    """``ratings`` with its rows 3 and 7 rated a second time (other stars), at the end."""
    again = ratings.iloc[[3, 7]].assign(rating=1.0)
    return pd.concat([ratings, again], ignore_index=True)


def test_encode_ids_refuses_duplicate_pairs_naming_the_first_and_the_fix(ratings):
    doubled = _with_duplicates(ratings)
    user, movie = ratings.loc[3, ["userId", "movieId"]]
    with pytest.raises(ValueError, match="4 rows share 2 \\(userId, movieId\\) pair") as excinfo:
        encode_ids(doubled)
    message = str(excinfo.value)
    assert f"rows [3, {len(ratings)}]: user {user} and movie {movie};" in message
    assert "ratings.drop_duplicates(['userId', 'movieId'], keep='last')" in message
    encode_ids(doubled.drop_duplicates(["userId", "movieId"], keep="last"))  # the fix works


@pytest.mark.parametrize("splitter", [course_split, train_val_test_split])
def test_the_splits_refuse_duplicate_pairs(encoded, splitter):
    doubled = _with_duplicates(encoded)
    with pytest.raises(ValueError, match=r"encoded: 4 rows share 2 \(user, movie\) pair") as info:
        splitter(doubled)
    assert "encoded.drop_duplicates(['user', 'movie'], keep='last')" in str(info.value)
