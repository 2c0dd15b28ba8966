"""Tests of reco.features: release years from titles, genre matrices, and date features.

Titles are MovieLens's own awkward cases; the tables are hand-made or synthetic
(tests/synthetic.py). The leak tests check the module's promise that a training
rating's features read nothing of the validation and test parts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import NO_GENRES, make_movies, make_ratings

from reco.features import (
    MovieFeatures,
    genre_matrix,
    movie_features,
    release_year,
    time_features,
    year_of,
)
from reco.split import encode_ids, time_split

#: 2017-06-21 00:00 UTC, day 172 of 2017: 171 days into the year, 2017 + 171/365 = 2017.468.
JUNE_21_2017 = 1_498_003_200


# --------------------------------------------------------------------------- release_year


@pytest.mark.parametrize(
    "title, year",
    [
        ("Heat (1995)", 1995),
        ("Heat (1995) ", 1995),  # trailing spaces, as some ml-latest titles have
        ("Heat (1995)   ", 1995),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", 1995),
        ("1900 (Novecento) (1976)", 1976),  # a year-like title, then the year
        ("2001: A Space Odyssey (1968)", 1968),
        ("Summer of 1984 (2018)", 2018),
        ("Death Note: Desu nôto (2006–2007)", 2006),  # a series: its first year (en dash)
        ("Babylon 5 (1994-1998)", 1994),  # a range with a hyphen
        ("Stranger Things (2016-)", 2016),  # still running
        ("Stranger Things (2016–)", 2016),
        ("Black Mirror", None),  # no year at all
        ("Blade Runner 2049", None),  # a year-like number at the end, not in brackets
        ("Heat (1995) Director's Cut", None),  # the year in the middle, not at the end
        ("The Year 1984 Was Odd", None),
        ("Movie (19955)", None),  # five digits are no year
        ("", None),
    ],
)
def test_release_year_parses_the_year_at_the_end_of_the_title(title, year):
    got = release_year([title])
    assert got.dtype == np.float64 and got.shape == (1,)
    if year is None:
        assert np.isnan(got[0]), title
    else:
        assert got[0] == year, title


def test_release_year_keeps_the_order_of_the_titles():
    titles = pd.Series(["Black Mirror", "Heat (1995)", "Toy Story (1995)", "Up (2009)"])
    got = release_year(titles.iloc[::-1])  # a Series with an index out of order
    np.testing.assert_array_equal(got, [2009, 1995, 1995, np.nan])
    assert release_year([]).shape == (0,)


@pytest.mark.parametrize("titles", [[1995], ["Heat (1995)", None], [np.nan], [b"Heat (1995)"]])
def test_release_year_refuses_titles_that_are_not_strings(titles):
    with pytest.raises(ValueError, match=r"titles must be strings; 1 are not, first .*Fix: "):
        release_year(titles)


# --------------------------------------------------------------------------- year_of


def test_year_of_gives_fractional_calendar_years():
    got = year_of([0, JUNE_21_2017, 946_684_800])  # 1970, late June 2017, 2000-01-01
    assert got[0] == 1970.0
    assert got[1] == pytest.approx(2017 + 171 / 365, abs=0.005)  # ~2017.47
    assert got[2] == pytest.approx(2000.0, abs=0.001)
    with pytest.raises(ValueError, match="finite Unix seconds"):
        year_of([JUNE_21_2017, np.nan])


# --------------------------------------------------------------------------- genre_matrix


def hand_movies() -> pd.DataFrame:
    """Four movies, listed out of id order, one with no genre, one the ratings never rate."""
    return pd.DataFrame(
        {
            "movieId": [40, 20, 10, 30, 50],
            "title": ["Forty (1999)", "Twenty", "Ten (1995)", "Thirty (2006–2007)", "Fifty"],
            "genres": ["Western|Action|Drama", NO_GENRES, "Comedy|Action", "Drama", "Drama"],
        }
    )


@pytest.fixture
def encoder():
    """An encoder of ratings of movies 10, 20, 30 and 40 (indices 0..3 in id order)."""
    ratings = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3], "movieId": [30, 10, 40, 20, 10], "rating": 4.0}
    )
    return encode_ids(ratings)[1]


def test_genre_matrix_has_a_row_per_movie_index_and_a_column_per_genre(encoder):
    got = genre_matrix(hand_movies(), encoder)
    # columns Action, Comedy, Drama, Western; rows movies 10, 20, 30, 40
    want = [
        [1, 1, 0, 0],  # 10: Comedy|Action
        [0, 0, 0, 0],  # 20: (no genres listed) is no genre
        [0, 0, 1, 0],  # 30: Drama
        [1, 0, 1, 1],  # 40: Western|Action|Drama
    ]
    assert got.dtype == np.float32 and got.shape == (encoder.n_movies, 4)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(encoder.decode_movies(np.arange(4)), [10, 20, 30, 40])
    features = movie_features(hand_movies(), encoder)
    assert features.genre_names == ("Action", "Comedy", "Drama", "Western")  # alphabetical
    assert features.n_genres == 4
    np.testing.assert_array_equal(features.genres, got)


def test_genre_names_are_sorted_and_no_genres_is_not_one():
    data = make_ratings(n_users=20, n_movies=30, seed=2)
    movies = make_movies(data["movieId"].unique(), seed=2)
    features = movie_features(movies, encode_ids(data)[1])
    assert list(features.genre_names) == sorted(features.genre_names)
    assert NO_GENRES not in features.genre_names and len(features.genre_names) > 5
    no_genre = movies.loc[movies["genres"] == NO_GENRES, "movieId"]
    rows = encode_ids(data)[1].encode_movies(no_genre)
    assert len(rows) and (features.genres[rows] == 0).all()
    assert (features.genres.sum(axis=1) > 0).sum() == len(movies) - len(rows)


def test_genre_matrix_refuses_an_encoded_movie_without_a_row(encoder):
    movies = hand_movies().query("movieId != 30")
    with pytest.raises(
        ValueError, match=r"1 encoded movie\(s\) have no row in the movies table: movieId \[30\]"
    ):
        genre_matrix(movies, encoder)


def test_genre_matrix_refuses_a_movie_listed_twice(encoder):
    movies = pd.concat([hand_movies(), hand_movies().iloc[[1]]], ignore_index=True)
    with pytest.raises(
        ValueError, match=r"lists movieId 20 more than once.*Fix: movies.drop_duplicates"
    ):
        genre_matrix(movies, encoder)
    extra = pd.concat([hand_movies(), hand_movies().iloc[[4]]], ignore_index=True)
    assert genre_matrix(extra, encoder).shape == (4, 4)  # a movie the encoder lacks: ignored


def test_genre_matrix_refuses_missing_genres(encoder):
    movies = hand_movies()
    movies.loc[movies["movieId"] == 30, "genres"] = np.nan
    with pytest.raises(
        ValueError, match=r"movies\['genres'\] has 1 missing value\(s\).*fillna\('\(no genres"
    ):
        genre_matrix(movies, encoder)


def test_genre_matrix_refuses_bad_columns_and_ids(encoder):
    with pytest.raises(ValueError, match=r"no column\(s\) \['genres'\].*genres_col="):
        genre_matrix(hand_movies().drop(columns="genres"), encoder)
    with pytest.raises(ValueError, match=r"holds .* values but the encoder was fitted on numbers"):
        genre_matrix(hand_movies().astype({"movieId": str}), encoder)
    with pytest.raises(ValueError, match=r"no column\(s\) \['title'\].*title_col="):
        movie_features(hand_movies().drop(columns="title"), encoder)


# --------------------------------------------------------------------------- movie_features


def test_movie_features_follow_the_encoders_movie_order(encoder):
    features = movie_features(hand_movies(), encoder)
    assert isinstance(features, MovieFeatures)
    assert features.year.dtype == np.float32 and features.year.shape == (encoder.n_movies,)
    np.testing.assert_array_equal(features.year, [1995, np.nan, 2006, 1999])  # 10, 20, 30, 40


def test_movie_features_do_not_depend_on_the_order_of_the_movies_table():
    ratings = make_ratings(n_users=20, n_movies=30, seed=1)
    movies = make_movies(ratings["movieId"].unique(), seed=1)
    _, encoder = encode_ids(ratings)
    before = movie_features(movies, encoder)
    shuffled = movies.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert not shuffled["movieId"].is_monotonic_increasing
    after = movie_features(shuffled, encoder)
    np.testing.assert_array_equal(after.year, before.year)
    np.testing.assert_array_equal(after.genres, before.genres)
    assert after.genre_names == before.genre_names
    # and row i is the movie the encoder calls i
    titles = movies.set_index("movieId").loc[encoder.decode_movies(np.arange(encoder.n_movies))]
    np.testing.assert_array_equal(before.year, release_year(titles["title"]).astype(np.float32))


# --------------------------------------------------------------------------- time_features


def test_time_features_of_known_ratings():
    # A 1995 movie rated on 2017-06-21; a 1995 movie rated in 1994 (before the year its
    # title gives); a movie whose year is unknown.
    june_1994 = 770_428_800  # 1994-06-01 00:00 UTC
    got = time_features([JUNE_21_2017, june_1994, JUNE_21_2017], [1995.0, 1995.0, np.nan])
    assert set(got) == {"rating_year", "movie_age", "age_known"}
    for values in got.values():
        assert values.dtype == np.float32 and values.shape == (3,)
    assert got["rating_year"][0] == pytest.approx(2017.47, abs=0.005)
    np.testing.assert_allclose(got["movie_age"], [22.47, 0.0, 0.0], atol=0.005)
    np.testing.assert_array_equal(got["age_known"], [1, 1, 0])


def test_movie_age_is_never_negative_nor_nan():
    rng = np.random.default_rng(0)
    timestamps = rng.integers(0, 1_600_000_000, 200)
    years = rng.integers(1900, 2030, 200).astype(np.float64)
    years[::7] = np.nan
    got = time_features(timestamps, years)
    assert np.isfinite(got["movie_age"]).all() and (got["movie_age"] >= 0).all()
    assert (got["movie_age"][::7] == 0).all() and (got["age_known"][::7] == 0).all()
    assert got["age_known"].sum() == 200 - len(years[::7])
    assert (got["movie_age"] > 0).sum() > 100  # most ratings come after their movie


@pytest.mark.parametrize("movie_year", [[1995.0, 1995.0], [[1995.0], [1995.0], [1995.0]], 1995.0])
def test_time_features_need_one_year_per_rating(movie_year):
    with pytest.raises(ValueError, match=r"movie_year has shape .* for \(3,\) timestamps"):
        time_features([JUNE_21_2017] * 3, movie_year)


# --------------------------------------------------------------------------- no leak


def train_features(ratings: pd.DataFrame, movies: pd.DataFrame, cuts: dict):
    """Split ``ratings`` in time at ``cuts``; return the split and its training rows' features."""
    encoded, encoder = encode_ids(ratings)
    split = time_split(encoded, val_start=cuts["val_start"], test_start=cuts["test_start"])
    features = movie_features(movies, encoder)
    X = split.X_train
    dates = time_features(split.context["train"]["timestamp"], features.year[X[:, 1]])
    return split, features, dates


def test_training_features_ignore_the_val_and_test_ratings():
    ratings = make_ratings(n_users=30, n_movies=40, seed=5)
    movies = make_movies(ratings["movieId"].unique(), seed=5)
    cuts = time_split(encode_ids(ratings)[0]).protocol
    split, features, dates = train_features(ratings, movies, cuts)

    # Move every later rating further on (it stays after the first cut) and reverse its stars.
    later = ratings["timestamp"] >= cuts["val_start"]
    changed = ratings.copy()
    shift = np.random.default_rng(5).integers(1, 10**7, int(later.sum()))
    changed.loc[later, "timestamp"] += shift
    changed.loc[later, "rating"] = np.float32(5.5) - changed.loc[later, "rating"]
    split2, features2, dates2 = train_features(changed, movies, cuts)

    # the perturbation reached the val and test parts, and not the training part
    test_times = (s.context["test"]["timestamp"] for s in (split, split2))
    assert not np.array_equal(*test_times)
    assert not np.array_equal(split2.y_val, split.y_val)
    np.testing.assert_array_equal(split2.X_train, split.X_train)
    np.testing.assert_array_equal(split2.y_train, split.y_train)
    np.testing.assert_array_equal(features2.genres, features.genres)
    np.testing.assert_array_equal(features2.year, features.year)
    assert features2.genre_names == features.genre_names
    for name, values in dates.items():
        np.testing.assert_array_equal(dates2[name], values, err_msg=name)


def test_the_vocabularies_are_the_same_whatever_the_ratings_say():
    # Same movies rated, other users, stars and times: genres, names and years are unchanged.
    movies = make_movies(make_ratings(n_users=20, n_movies=30, seed=6)["movieId"].unique())
    ratings = make_ratings(n_users=20, n_movies=30, seed=6)
    other = ratings.assign(
        userId=ratings["userId"] + 1000,
        rating=np.float32(5.5) - ratings["rating"],
        timestamp=ratings["timestamp"][::-1].to_numpy(),
    )
    a = movie_features(movies, encode_ids(ratings)[1])
    b = movie_features(movies, encode_ids(other)[1])
    assert a.genre_names == b.genre_names
    np.testing.assert_array_equal(a.genres, b.genres)
    np.testing.assert_array_equal(a.year, b.year)


def test_the_genre_vocabulary_is_the_movies_tables_whichever_movies_are_rated(encoder):
    # hand_movies: movie 50 (Drama) is not rated. Give it a genre of its own.
    movies = hand_movies()
    movies.loc[movies["movieId"] == 50, "genres"] = "Horror"
    names = movie_features(movies, encoder).genre_names
    assert names == ("Action", "Comedy", "Drama", "Horror", "Western")
    assert genre_matrix(movies, encoder).shape == (encoder.n_movies, len(names))
