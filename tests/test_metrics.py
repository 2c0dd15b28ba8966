"""Tests of reco.metrics: RMSE and MAE in stars, the mean-rating baseline, model comparisons."""

import numpy as np
import pytest
from synthetic import make_ratings

from reco import metrics


def test_rmse_and_mae_of_known_errors():
    # errors 1, 0, 0, -3: squared 1, 0, 0, 9
    out = metrics.rmse_mae([1.0, 2.0, 3.0, 4.0], np.array([[2.0], [2.0], [3.0], [1.0]]))
    assert out == {"rmse": pytest.approx(np.sqrt(10 / 4)), "mae": pytest.approx(4 / 4)}
    assert metrics.rmse_mae([3.5, 4.0], [3.5, 4.0]) == {"rmse": 0.0, "mae": 0.0}


def test_float32_predictions_are_scored_in_float64():
    y, pred = np.float32([0.1]), np.float32([0.3])
    # In float32 the difference would round to 0.20000001788; in float64 it is exact.
    exact = float(pred[0]) - float(y[0])
    assert exact != float(pred[0] - y[0])
    assert metrics.rmse_mae(y, pred) == {"rmse": exact, "mae": exact}


def test_predictions_and_ratings_of_different_lengths_are_a_clear_error():
    with pytest.raises(
        ValueError, match="pred has 2 predictions for 3 ratings.*same \\[user, movie\\] rows"
    ):
        metrics.rmse_mae([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="no ratings to score"):
        metrics.rmse_mae([], [])


def test_baseline_rmse_predicts_the_training_mean():
    ratings = make_ratings(seed=3)["rating"].to_numpy()
    train, test = ratings[:100], ratings[100:]
    expected = np.sqrt(np.mean((test.astype(np.float64) - train.astype(np.float64).mean()) ** 2))
    assert metrics.baseline_rmse(train, test) == pytest.approx(expected, rel=1e-12)
    assert metrics.baseline_rmse([1.0, 3.0], [2.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="at least one rating each"):
        metrics.baseline_rmse([], [1.0])


def test_compare_predictions_scores_each_model_after_the_baseline():
    y_train = np.array([2.0, 4.0])  # mean 3
    y_test = np.array([1.0, 5.0])
    table = metrics.compare_predictions(
        y_train,
        y_test,
        {"perfect": np.array([1.0, 5.0]), "wild": np.array([0.0, 6.0])},
        {"perfect": np.array([2.0, 4.0]), "wild": np.array([2.0, 5.0])},
    )
    assert list(table.index) == ["mean rating", "perfect", "wild"]
    assert list(table.columns) == ["train RMSE", "test RMSE", "test MAE", "outside [0.5, 5]"]
    assert table.loc["mean rating"].tolist() == pytest.approx([1.0, 2.0, 2.0, 0])
    assert table.loc["perfect"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0])
    assert table.loc["wild"].tolist() == pytest.approx([np.sqrt(0.5), 1.0, 1.0, 2])
    assert table["outside [0.5, 5]"].dtype.kind == "i"


def test_compare_predictions_without_train_predictions_and_on_another_scale():
    table = metrics.compare_predictions(
        [2.0, 4.0], [1.0, 10.0], {"m": [1.0, 10.0]}, min_rating=1, max_rating=10
    )
    assert list(table.columns) == ["test RMSE", "test MAE", "outside [1, 10]"]
    assert table.loc["m", "outside [1, 10]"] == 0


def test_compare_predictions_names_the_mismatch():
    with pytest.raises(
        ValueError, match=r"test_predictions\['m'\] has 1 predictions for 2 ratings"
    ):
        metrics.compare_predictions([3.0], [1.0, 5.0], {"m": np.array([1.0])})
    with pytest.raises(ValueError, match="names \\['b'\\] but test_predictions names \\['a'\\]"):
        metrics.compare_predictions([3.0], [1.0], {"a": [1.0]}, {"b": [3.0]})


def test_rmse_gap_is_the_difference_of_rmses_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.5, 5, 400)
    good, bad = y + rng.normal(0, 0.5, 400), y + rng.normal(0, 1.0, 400)
    gap = metrics.rmse_gap(y, good, bad, n_boot=500)
    expected = metrics.rmse_mae(y, good)["rmse"] - metrics.rmse_mae(y, bad)["rmse"]
    assert gap["gap"] == pytest.approx(expected) and gap["ratings"] == 400
    assert gap["low"] < gap["gap"] < gap["high"] < 0  # clearly better: the interval excludes 0
    same = metrics.rmse_gap(y, good, good, n_boot=50)
    assert same["gap"] == same["low"] == same["high"] == 0
    assert metrics.rmse_gap(y, good, bad, n_boot=500) == gap  # seeded
    with pytest.raises(ValueError, match="predictions for"):
        metrics.rmse_gap(y, good[:-1], bad)
    with pytest.raises(ValueError, match="n_boot"):
        metrics.rmse_gap(y, good, bad, n_boot=0)
