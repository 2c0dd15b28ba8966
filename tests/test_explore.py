"""Tests of reco.explore on small hand-made tables whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest
from synthetic import make_ratings

from reco import explore, metrics


@pytest.fixture
def ratings():
    # ratings per user: 1 -> 4, 2 -> 2, 3 -> 3, 4 -> 1
    # ratings per movie: 100 -> 4, 200 -> 3, 300 -> 2, 400 -> 1
    rows = [
        (1, 100, 4.0), (1, 200, 3.5), (1, 300, 5.0), (1, 400, 2.0),
        (2, 100, 3.0), (2, 200, 4.5),
        (3, 100, 1.0), (3, 200, 2.5), (3, 300, 4.0),
        (4, 100, 0.5),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    frame["rating"] = frame["rating"].astype(np.float32)
    return frame


@pytest.fixture
def movies():
    return pd.DataFrame(
        {
            "movieId": [100, 200, 300, 400],
            "title": ["Alpha (1999)", "Beta (2001)", "Gamma (1980)", "Delta (1975)"],
            "genres": ["Drama", "Comedy", "Action", "Drama"],
        }
    )


def test_summary_counts_and_density(ratings):
    s = explore.summary(ratings)
    assert s["n_ratings"] == 10
    assert s["n_users"] == 4
    assert s["n_movies"] == 4
    assert s["density"] == pytest.approx(10 / 16)
    assert s["mean_rating"] == pytest.approx(30.0 / 10)
    assert s["std_rating"] == pytest.approx(ratings["rating"].astype(float).std())
    assert (s["min_rating"], s["max_rating"]) == (0.5, 5.0)
    assert isinstance(s["n_ratings"], int) and isinstance(s["density"], float)


def test_summary_other_column_names(ratings):
    renamed = ratings.rename(columns={"userId": "u", "movieId": "i", "rating": "r"})
    s = explore.summary(renamed, user_col="u", movie_col="i", rating_col="r")
    assert s == explore.summary(ratings)


def test_summary_errors_name_the_problem(ratings):
    with pytest.raises(ValueError, match=r"no column\(s\) \['rating'\].*rating_col=<your column>"):
        explore.summary(ratings.drop(columns="rating"))
    with pytest.raises(ValueError, match="empty"):
        explore.summary(ratings.iloc[:0])


def test_count_stats(ratings):
    stats = explore.count_stats(ratings)
    assert list(stats.columns) == ["per user", "per movie"]
    assert stats.loc["count", "per user"] == 4
    assert stats.loc["max", "per user"] == 4
    assert stats.loc["min", "per user"] == 1
    assert stats.loc["mean", "per movie"] == pytest.approx(2.5)
    assert stats.loc["50%", "per user"] == pytest.approx(2.5)


def test_top_crosstab_picks_most_active_users_and_most_rated_movies(ratings):
    table = explore.top_crosstab(ratings, n=3)
    assert list(table.index) == [1, 3, 2]  # 4, 3, 2 ratings
    assert list(table.columns) == [100, 200, 300]  # 4, 3, 2 ratings
    assert table.index.name == "userId"
    assert table.loc[1, 300] == 5.0
    assert table.loc[3, 200] == 2.5
    assert math.isnan(table.loc[2, 300])  # user 2 never rated movie 300
    assert int(table.notna().sum().sum()) == 8


def test_top_crosstab_breaks_ties_by_smaller_id():
    # every user and movie has one rating: the smallest ids win
    frame = pd.DataFrame({"userId": [9, 5, 7], "movieId": [30, 10, 20], "rating": [1.0, 2.0, 3.0]})
    table = explore.top_crosstab(frame, n=2)
    assert list(table.index) == [5, 7]
    assert list(table.columns) == [10, 20]
    assert table.loc[5, 10] == 2.0 and math.isnan(table.loc[5, 20])


def test_top_crosstab_with_titles(ratings, movies):
    table = explore.top_crosstab(ratings, n=2, movies=movies)
    assert list(table.columns) == ["Alpha (1999)", "Beta (2001)"]
    assert list(table.index) == [1, 3]
    assert table.loc[3, "Beta (2001)"] == 2.5


def test_top_crosstab_keeps_duplicate_titles_apart(ratings, movies):
    movies = movies.assign(title=["Same (2000)", "Same (2000)", "Gamma (1980)", "Delta (1975)"])
    table = explore.top_crosstab(ratings, n=3, movies=movies)
    assert list(table.columns) == ["Same (2000) [100]", "Same (2000) [200]", "Gamma (1980)"]


def test_top_crosstab_rejects_bad_n(ratings):
    with pytest.raises(ValueError, match="n must be at least 1"):
        explore.top_crosstab(ratings, n=0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        explore.top_crosstab(ratings, n=2.5)


def test_movie_stats(ratings, movies):
    stats = explore.movie_stats(ratings, movies)
    assert list(stats.columns) == ["title", "n_ratings", "mean_rating"]
    assert list(stats.index) == [100, 200, 300, 400]
    assert stats.loc[100, "n_ratings"] == 4
    assert stats.loc[100, "mean_rating"] == pytest.approx((4.0 + 3.0 + 1.0 + 0.5) / 4)
    assert stats.loc[300, "title"] == "Gamma (1980)"
    without = explore.movie_stats(ratings)
    assert list(without.columns) == ["n_ratings", "mean_rating"]


def test_format_summary_formats_each_field(ratings):
    text = explore.format_summary(explore.summary(ratings))
    lines = dict(line.split(maxsplit=1) for line in text.splitlines())
    assert lines["n_ratings"] == "10"
    assert lines["density"] == "62.50%"
    assert lines["mean_rating"] == "3.00 stars"
    assert lines["max_rating"] == "5.00 stars"
    big = explore.format_summary({"n_ratings": 100836, "density": 0.017})
    assert big.splitlines() == ["n_ratings  100,836", "density      1.70%"]


def test_unseen_mask_flags_movies_and_users_missing_from_training():
    X_train = np.array([[0, 10], [1, 11], [0, 12]])
    X = np.array([[0, 10], [2, 13], [1, 12], [3, 14]])
    assert metrics.unseen_mask(X, X_train).tolist() == [False, True, False, True]
    assert metrics.unseen_mask(X, X_train, column=0).tolist() == [False, True, False, True]
    assert metrics.unseen_mask(X[:0], X_train).shape == (0,)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        metrics.unseen_mask(X[:, 0], X_train)


def test_out_of_range_keeps_the_ends_of_the_scale():
    pred = np.array([0.0, 0.49, 0.5, 3.0, 5.0, 5.01])
    assert metrics.out_of_range(pred).tolist() == [True, True, False, False, False, True]
    assert metrics.out_of_range(pred, min_rating=1, max_rating=10).sum() == 3


def test_summary_of_the_synthetic_data_matches_pandas():
    table = make_ratings(n_users=30, n_movies=40, density=0.2, seed=5)
    s = explore.summary(table)
    assert (s["n_ratings"], s["n_users"]) == (len(table), 30)
    assert s["n_movies"] == table["movieId"].nunique()
    assert s["density"] == pytest.approx(len(table) / (30 * s["n_movies"]))
    assert s["mean_rating"] == pytest.approx(table["rating"].astype(float).mean())
    stats = explore.count_stats(table)
    assert stats.loc["count", "per user"] == 30
    assert stats.loc["mean", "per movie"] * s["n_movies"] == pytest.approx(len(table))


@pytest.mark.parametrize(
    ("function", "drop", "keyword"),
    [
        (explore.count_stats, "movieId", "movie_col"),
        (explore.top_crosstab, "userId", "user_col"),
        (explore.movie_stats, "rating", "rating_col"),
    ],
)
def test_a_missing_column_is_named_with_the_keyword_that_fixes_it(ratings, function, drop, keyword):
    with pytest.raises(
        ValueError, match=rf"ratings table has no column\(s\) \['{drop}'\].*{keyword}=<your column>"
    ):
        function(ratings.drop(columns=drop))


def test_movie_stats_warns_about_movies_missing_from_the_movies_table(ratings, movies):
    with pytest.warns(UserWarning, match=r"1 movie\(s\) have no row in the movies table.*\[400\]"):
        stats = explore.movie_stats(ratings, movies[movies["movieId"] != 400])
    assert stats["title"].isna().tolist() == [False, False, False, True]


def test_bias_in_stars_follows_the_scaled_sigmoid():
    # at 2.75 stars (x = 0) the scaled sigmoid's slope is 4.5 / 4: small biases x 1.125
    assert metrics.bias_in_stars(0.0, 2.75) == pytest.approx(0.0)
    assert metrics.bias_in_stars(1e-4, 2.75) == pytest.approx(1.125e-4, rel=1e-3)
    # a bias of log(2) from x = 0: sigmoid 2/3, 0.5 + 4.5 * 2/3 = 3.5 stars
    assert metrics.bias_in_stars(np.log(2), 2.75) == pytest.approx(0.75)
    # the same bias is worth less near the top of the scale, and never crosses it
    assert metrics.bias_in_stars(1.0, 4.5) < metrics.bias_in_stars(1.0, 3.5)
    assert 4.5 + metrics.bias_in_stars(100.0, 4.5) <= 5.0
    series = metrics.bias_in_stars(pd.Series([-1.0, 1.0]), 3.5)
    assert isinstance(series, pd.Series) and series.iloc[0] < 0 < series.iloc[1]
    with pytest.raises(ValueError, match="strictly between"):
        metrics.bias_in_stars(0.5, 5.0)


def test_list_overlap_counts_shared_movies_for_every_pair():
    lists = pd.DataFrame(
        {
            "user": [5, 5, 5, 2, 2, 2, 9, 9, 9],
            "movie": [1, 2, 3, 3, 2, 7, 8, 9, 10],
            "rank": [1, 2, 3] * 3,
        }
    )
    overlap = explore.list_overlap(lists)
    assert list(overlap.index) == [2, 5, 9] and list(overlap.columns) == [2, 5, 9]
    assert overlap.index.name == "user"
    expected = [[3, 2, 0], [2, 3, 0], [0, 0, 3]]
    np.testing.assert_array_equal(overlap.to_numpy(), expected)
    pairs = overlap.to_numpy()[np.triu_indices(len(overlap), k=1)]
    assert sorted(pairs.tolist()) == [0, 0, 2]


def test_list_overlap_counts_a_repeated_movie_once_and_takes_other_columns():
    lists = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 10, 10]})
    overlap = explore.list_overlap(lists, user_idx_col="userId", movie_idx_col="movieId")
    np.testing.assert_array_equal(overlap.to_numpy(), [[1, 1], [1, 1]])
    with (  # the names before 0.2
        pytest.warns(DeprecationWarning, match="use user_idx_col="),
        pytest.warns(DeprecationWarning, match="use movie_idx_col="),
    ):
        again = explore.list_overlap(lists, user_col="userId", movie_col="movieId")
    pd.testing.assert_frame_equal(again, overlap)
    with pytest.raises(ValueError, match="user_idx_col=<your column>"):
        explore.list_overlap(lists)


def test_the_yardsticks_moved_to_metrics_still_work_from_explore_with_a_warning():
    for name in ("out_of_range", "bias_in_stars", "unseen_mask"):
        with pytest.warns(DeprecationWarning, match=f"use reco.metrics.{name}"):
            assert getattr(explore, name) is getattr(metrics, name)
