"""reco.synthetic: ratings shaped like ml-25m, with a signal a model can learn."""

import numpy as np
import pandas as pd
import pytest

from reco import split
from reco.synthetic import ML_25M, synthetic_ratings


@pytest.fixture(scope="module")
def table():
    return synthetic_ratings(50_000, n_users=3_000, n_movies=2_000, truth=True)


def test_the_table_has_the_loaders_columns_in_compact_dtypes_and_distinct_pairs(table):
    assert list(table.columns) == ["userId", "movieId", "rating", "timestamp", "expected"]
    assert [str(t) for t in table.dtypes] == ["int32", "int32", "float32", "int64", "float32"]
    assert len(table) == 50_000
    assert not table.duplicated(["userId", "movieId"]).any()
    assert table["userId"].between(1, 3_000).all() and table["movieId"].between(1, 2_000).all()
    assert ((table["rating"] * 2) % 1 == 0).all() and table["rating"].between(0.5, 5).all()
    assert table["timestamp"].between(789_609_600, 1_574_294_400).all()  # ml-25m's dates
    assert table.equals(table.sort_values(["userId", "movieId"]))
    assert table.attrs["synthetic"]["generator"] == "reco.synthetic.synthetic_ratings"
    split.encode_ids(table.drop(columns="expected"))  # the course's encoder takes it


def test_the_same_seed_gives_the_same_table_and_another_seed_another():
    a, b = (synthetic_ratings(2_000, n_users=500, n_movies=300) for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(synthetic_ratings(2_000, n_users=500, n_movies=300, seed=7))


def test_popularity_and_activity_have_long_tails(table):
    counts = table["movieId"].value_counts().to_numpy()
    top = counts[: len(counts) // 100].sum() / len(table)  # the top 1% of the rated movies
    assert top > 0.08, top  # 1% if every movie were as popular (12% here, 58% at ml-25m's size)
    assert np.median(counts) < counts.mean() / 2  # most movies get few ratings
    per_user = table["userId"].value_counts().to_numpy()
    assert per_user.max() > 10 * np.median(per_user)


def test_the_planted_signal_beats_the_mean_and_errs_by_about_the_noise(table):
    def rmse(pred):
        return float(np.sqrt(np.mean((table["rating"] - pred) ** 2)))

    by_truth, by_mean = rmse(table["expected"]), rmse(table["rating"].mean())
    assert by_truth < 0.7 * by_mean, (by_truth, by_mean)
    assert 0.45 < by_truth < 0.6  # noise 0.5 plus the rounding to half stars (0.144)
    quiet = synthetic_ratings(20_000, n_users=3_000, n_movies=2_000, noise=0.0, truth=True)
    assert np.abs(quiet["rating"] - quiet["expected"].clip(0.5, 5)).max() <= 0.25 + 1e-6


def test_the_default_sizes_are_ml_25m():
    assert ML_25M == {"ratings": 25_000_095, "users": 162_541, "movies": 59_047}
    table = synthetic_ratings(1_000)
    assert table.attrs["synthetic"]["n_users"] == 162_541
    assert table["movieId"].max() <= 59_047


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_ratings": 0}, "n_ratings must be at least 1"),
        ({"n_ratings": 2.5}, "n_ratings must be a positive integer"),
        ({"n_ratings": 100, "n_users": 10, "n_movies": 20}, "at most a quarter"),
        ({"n_ratings": 100, "noise": -1.0}, "noise must be"),
        ({"n_ratings": 100, "rank": 0}, "rank must be at least 1"),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        synthetic_ratings(**kwargs)
    assert "Fix" in str(err.value)
