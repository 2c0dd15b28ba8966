"""Tests for reco.train (seeding, fit, logs, predictions in stars, metrics) and reco.bench."""

from __future__ import annotations

import re

import keras
import numpy as np
import pandas as pd
import pytest

from reco import bench, models, train
from reco.constants import MAX_RATING, MIN_RATING
from reco.split import Split, course_split, encode_ids

N_USERS, N_MOVIES = 20, 30
#: Small, fast settings; steps_per_execution > 1 as in the course defaults.
SMALL = train.TrainConfig(batch_size=32, epochs=3, lr=0.01, steps_per_execution=4, l2=1e-4)


def tiny_split(seed=0):
    """Return a Split of about 300 synthetic ratings from a rank-3 model, in half stars."""
    rng = np.random.default_rng(seed)
    score = 3.0 + 0.7 * rng.normal(size=(N_USERS, 3)) @ rng.normal(size=(N_MOVIES, 3)).T
    u, m = np.nonzero(rng.random((N_USERS, N_MOVIES)) < 0.5)
    y = np.clip(np.round(score[u, m] * 2) / 2, MIN_RATING, MAX_RATING).astype(np.float32)
    X = np.stack([u, m], axis=1).astype(np.int32)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    n_test = len(y) // 5
    return Split(X[n_test:], y[n_test:], X[:n_test], y[:n_test])


@pytest.fixture(scope="module")
def split():
    return tiny_split()


def train_small(name, split, config=SMALL, seed=42, **kwargs):
    train.set_seed(seed)
    return train.train_model(name, split, N_USERS, N_MOVIES, config=config, n_factors=8, **kwargs)


@pytest.mark.parametrize("name", train.MODEL_NAMES)
def test_two_seeded_runs_give_identical_losses(split, name):
    _, first = train_small(name, split, validation="test")
    _, second = train_small(name, split, validation="test")
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_another_seed_gives_other_losses(split):
    # The determinism test above could fail: a different seed changes the losses.
    _, first = train_small("v2", split, seed=42)
    _, other = train_small("v2", split, seed=43)
    assert not np.array_equal(first["loss"].to_numpy(), other["loss"].to_numpy())


@pytest.mark.parametrize("name", train.MODEL_NAMES)
def test_fit_returns_the_history_as_a_frame_indexed_by_epoch(split, name):
    _, history = train_small(name, split, validation="test")
    assert list(history.index) == [1, 2, 3]
    assert history.index.name == "epoch"
    assert list(history.columns) == ["loss", "rmse", "val_loss", "val_rmse"]
    assert history.attrs["train_seconds"] > 0
    assert np.isfinite(history.to_numpy()).all()


@pytest.mark.parametrize("name", ["v2", "net_v2"])
def test_val_rmse_is_in_stars_for_every_model(split, name):
    model, history = train_small(name, split, validation="test")
    expected = train.evaluate(model, split, part="test")["rmse"]
    assert history["val_rmse"].iloc[-1] == pytest.approx(expected, rel=1e-4)


def test_fit_without_validation_has_loss_and_rmse_only(split):
    _, history = train_small("v1", split)
    assert list(history.columns) == ["loss", "rmse"]


def test_fit_accepts_X_and_y_or_a_split_and_explicit_validation(split):
    train.set_seed()
    model = train.build_model("v2", N_USERS, N_MOVIES, config=SMALL, n_factors=8)
    history = train.fit(
        model, split.X_train, split.y_train, config=SMALL, validation=(split.X_test, split.y_test)
    )
    train.set_seed()
    _, from_split = train_small("v2", split, validation="test")
    pd.testing.assert_frame_equal(history, from_split, check_exact=True)


def test_epoch_log_prints_one_compact_line_per_epoch_without_timings(split, capsys):
    train_small("v2", split, validation="test", log=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == SMALL.epochs
    number = r"\d+\.\d{4}"
    pattern = (
        rf"epoch \d/3  loss {number}  rmse {number}  val_loss {number}  "
        rf"val_rmse {number}"
    )
    for i, line in enumerate(lines, start=1):
        assert re.fullmatch(pattern, line), line
        assert line.startswith(f"epoch {i}/3")


def test_fit_without_log_prints_nothing(split, capsys):
    train_small("v1", split)
    assert capsys.readouterr().out == ""


def test_fit_refuses_a_model_built_with_other_settings(split):
    model = models.build_v2(N_USERS, N_MOVIES, 8)  # lr 1e-3, L2 1e-6
    with pytest.raises(ValueError, match=r"lr=0\.001 \(config: 0\.01\).*build_model"):
        train.fit(model, split, config=SMALL)


def test_fit_and_build_default_to_the_course_config_of_the_model():
    v2 = train.build_model("v2", N_USERS, N_MOVIES)
    net_v2 = train.build_model("net_v2", N_USERS, N_MOVIES)
    assert train._build_settings(v2) == {
        "lr": pytest.approx(train.COURSE_DEFAULTS.lr),
        "l2": pytest.approx(train.COURSE_DEFAULTS.l2),
    }
    assert train._build_settings(net_v2)["l2"] == pytest.approx(train.COURSE_DEFAULTS_NET_V2.l2)
    assert v2.steps_per_execution == train.COURSE_DEFAULTS.steps_per_execution
    train._check_built_for(v2, train.course_config("v2"))  # fit(config=None) accepts them


def test_fit_rejects_a_split_without_the_asked_part(split):
    train.set_seed()
    model = train.build_model("v1", N_USERS, N_MOVIES, config=SMALL, n_factors=8)
    with pytest.raises(ValueError, match="no 'val' part"):
        train.fit(model, split, config=SMALL, validation="val")


def test_course_defaults_differ_from_the_original_settings_as_documented():
    assert train.ORIGINAL_SETTINGS == train.TrainConfig(batch_size=64, epochs=5, lr=1e-3)
    assert train.course_config("v2") is train.COURSE_DEFAULTS
    assert train.course_config("net_v2") is train.COURSE_DEFAULTS_NET_V2
    assert train.COURSE_DEFAULTS.batch_size > train.ORIGINAL_SETTINGS.batch_size
    with pytest.raises(ValueError, match="unknown model"):
        train.course_config("v3")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch_size=0),
        dict(epochs=-1),
        dict(steps_per_execution=0),
        dict(lr=0.0),
        dict(l2=-1.0),
        dict(batch_size=2.5),
    ],
)
def test_train_config_rejects_bad_values(kwargs):
    values = dict(batch_size=64, epochs=5, lr=1e-3) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        train.TrainConfig(**values)


def test_set_seed_enables_op_determinism():
    import tensorflow as tf
    from tensorflow.python.framework.config import is_op_determinism_enabled

    train.set_seed(7)
    assert is_op_determinism_enabled()
    first = np.random.rand(), tf.random.uniform(()).numpy()  # noqa: NPY002 (the global state)
    train.set_seed(7)
    assert (np.random.rand(), tf.random.uniform(()).numpy()) == first  # noqa: NPY002


def test_to_inputs_arranges_pairs_for_each_kind_of_model():
    X = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64)
    v2 = models.build_v2(N_USERS, N_MOVIES, 4)
    net_v2 = models.build_net_v2(N_USERS, N_MOVIES, 4)
    users, movies = train.to_inputs(v2, X)
    np.testing.assert_array_equal(users, [1, 3, 5])
    np.testing.assert_array_equal(movies, [2, 4, 6])
    assert users.dtype == np.int32
    out = train.to_inputs(net_v2, X)
    assert out.shape == (3, 2) and out.dtype == np.int32
    np.testing.assert_array_equal(train.to_inputs(net_v2, [X[:, 0], X[:, 1]]), X)


@pytest.mark.parametrize(
    "X",
    [
        np.zeros((3, 3), dtype=np.int32),
        np.zeros(3, dtype=np.int32),
        np.zeros((3, 2), dtype=np.float32),
        [np.zeros(3), np.zeros(2)],
    ],
)
def test_to_inputs_rejects_bad_shapes_and_dtypes(X):
    with pytest.raises(ValueError):
        train.to_inputs(models.build_v1(N_USERS, N_MOVIES, 4), X)


def test_normalize_and_denormalize_are_inverse_and_map_the_ends():
    stars = np.arange(1, 11) / 2
    p = train.normalize_ratings(stars)
    assert p[0] == 0.0 and p[-1] == 1.0 and p.dtype == np.float32
    np.testing.assert_allclose(train.denormalize_ratings(p), stars, rtol=1e-6)


def test_net_v2_trains_on_normalized_ratings(split, monkeypatch):
    seen = {}
    original_fit = keras.Model.fit

    def spy(self, x, y, **kwargs):
        seen["y"] = np.asarray(y)
        return original_fit(self, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    train_small("net_v2", split)
    np.testing.assert_allclose(seen["y"], train.normalize_ratings(split.y_train))
    assert seen["y"].min() >= 0 and seen["y"].max() <= 1


@pytest.mark.parametrize("name", train.MODEL_NAMES)
def test_predict_ratings_returns_stars_for_every_model(split, name):
    model, _ = train_small(name, split)
    pred = train.predict_ratings(model, split.X_test)
    assert pred.shape == (len(split.y_test),) and pred.dtype == np.float32
    if name != "v1":  # V1 is unbounded, and reported as it is
        assert pred.min() >= MIN_RATING and pred.max() <= MAX_RATING
    raw = keras.ops.convert_to_numpy(model(train.to_inputs(model, split.X_test))).reshape(-1)
    expected = train.denormalize_ratings(raw) if name == "net_v2" else raw
    np.testing.assert_allclose(pred, expected, rtol=1e-6)
    if name != "v1":  # stars, not [0, 1]: the predictions sit near the ratings
        assert abs(pred.mean() - split.y_train.mean()) < 1.0


def test_predict_ratings_handles_more_rows_than_one_chunk_and_none(monkeypatch, split):
    model, _ = train_small("v2", split)
    whole = train.predict_ratings(model, split.X_train)
    monkeypatch.setattr(train, "PREDICT_BATCH_SIZE", 7)
    np.testing.assert_allclose(train.predict_ratings(model, split.X_train), whole, rtol=1e-6)
    assert train.predict_ratings(model, np.zeros((0, 2), dtype=np.int32)).shape == (0,)


@pytest.mark.parametrize("name", ["v2", "net_v2"])
def test_evaluate_matches_numpy_rmse_and_mae(split, name):
    model, _ = train_small(name, split)
    err = train.predict_ratings(model, split.X_test).astype(np.float64) - split.y_test
    scores = train.evaluate(model, split)  # the test part by default
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-9)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-9)
    assert train.evaluate(model, split.X_test, split.y_test) == scores
    assert train.evaluate(model, split, part="train") != scores


def test_build_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'v5'"):
        train.build_model("v5", N_USERS, N_MOVIES)


def test_bench_measures_both_settings_side_by_side():
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame(
        {
            "userId": rng.integers(1, 30, 400) * 3,
            "movieId": rng.integers(1, 40, 400) * 7,
            "rating": rng.integers(1, 11, 400) / 2,
            "timestamp": np.arange(400),
        }
    )
    fast = train.TrainConfig(batch_size=128, epochs=2, lr=0.01, steps_per_execution=2)
    slow = train.TrainConfig(batch_size=16, epochs=2, lr=0.001)
    table = bench.run(ratings, ["v2", "net_v2"], settings={"original": slow, "course": fast})
    assert list(table["model"]) == ["V2", "V2", "RecommenderNetV2", "RecommenderNetV2"]
    assert list(table["settings"]) == ["original", "course"] * 2
    assert list(table["batch"]) == [16, 128] * 2
    n_train = len(course_split(encode_ids(ratings)[0]).y_train)
    np.testing.assert_allclose(table["ratings/s"], n_train * 2 / table["seconds"])
    np.testing.assert_allclose(table["speedup"].iloc[[0, 2]], 1.0)
    assert (table["test RMSE"] > 0).all()
    text = bench.format_table(table)
    assert "speedup" in text and "test RMSE" in text
