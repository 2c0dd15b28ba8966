"""Contract tests for the course's four Keras models, on tiny synthetic data.

Each model is checked for output shape and range, the per-example dot product
against numpy, permutation of a batch, one example alone versus inside a
batch (the check that catches the ``tensordot(u, m, 2)`` bug, shown to fail
on :class:`reco.models.BatchSummingRecommenderNet`), overfitting a tiny data
set, a save/load round trip in safe mode, and clear errors for bad sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from reco import models, train
from reco.constants import MAX_RATING, MIN_RATING

N_USERS, N_MOVIES, N_FACTORS = 20, 30, 8
NAMES = train.MODEL_NAMES
#: A config for tiny data: small batches, a high learning rate, no L2.
TINY = train.TrainConfig(batch_size=32, epochs=4, lr=0.02, steps_per_execution=10, l2=0.0)


def tiny_ratings(n_users=N_USERS, n_movies=N_MOVIES, density=0.5, seed=0):
    """Return ``(X, y)``: about half of all pairs rated from a rank-3 model, in half stars."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, 3))
    M = rng.normal(size=(n_movies, 3))
    score = 3.0 + 0.7 * U @ M.T
    u, m = np.nonzero(rng.random((n_users, n_movies)) < density)
    y = np.clip(np.round(score[u, m] * 2) / 2, MIN_RATING, MAX_RATING).astype(np.float32)
    return np.stack([u, m], axis=1).astype(np.int32), y


def build(name, config=TINY, **kwargs):
    return train.build_model(name, N_USERS, N_MOVIES, config=config, n_factors=N_FACTORS, **kwargs)


def raw(model, X):
    """Model output on ``(n, 2)`` pairs, as float32 numpy of shape ``(n, 1)``."""
    return keras.ops.convert_to_numpy(model(train.to_inputs(model, X), training=False))


def batch_pairs(n=16, seed=1):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, N_USERS, n), rng.integers(0, N_MOVIES, n)], axis=1).astype(
        np.int32
    )


def weight(model, name):
    return keras.ops.convert_to_numpy(model.get_layer(name).embeddings)


def assert_alone_equals_in_batch(model, X):
    """Predict each example alone and inside the batch; they must agree."""
    in_batch = raw(model, X)
    alone = np.concatenate([raw(model, X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(alone, in_batch, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def built():
    train.set_seed()
    return {name: build(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7])
def test_output_shape_is_batch_by_one(built, name, n):
    out = raw(built[name], batch_pairs(n))
    assert out.shape == (n, 1)
    assert out.dtype == np.float32


@pytest.mark.parametrize("name", ["v2", "net"])
def test_scaled_outputs_stay_in_rating_range_even_when_saturated(name):
    train.set_seed()
    model = build(name)
    X = batch_pairs(64)
    # Blow the weights up so the sigmoid saturates at both ends.
    model.set_weights([w * 1000.0 for w in model.get_weights()])
    out = raw(model, X)
    assert out.min() >= MIN_RATING and out.max() <= MAX_RATING
    assert out.min() < MIN_RATING + 0.5 and out.max() > MAX_RATING - 0.5  # both ends reached


def test_net_v2_outputs_are_probabilities(built):
    out = raw(built["net_v2"], batch_pairs(64))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_custom_rating_range_is_used():
    train.set_seed()
    model = models.build_v2(N_USERS, N_MOVIES, N_FACTORS, min_rating=1.0, max_rating=10.0)
    model.set_weights([w * 1000.0 for w in model.get_weights()])
    out = raw(model, batch_pairs(64))
    assert out.min() == pytest.approx(1.0) and out.max() == pytest.approx(10.0)


def test_v1_output_is_numpy_dot_of_its_embedding_rows(built):
    model, X = built["v1"], batch_pairs(16)
    U, M = weight(model, "user_embedding"), weight(model, "movie_embedding")
    expected = np.sum(U[X[:, 0]] * M[X[:, 1]], axis=1, keepdims=True)
    np.testing.assert_allclose(raw(model, X), expected, rtol=1e-5, atol=1e-6)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_v2_output_is_scaled_sigmoid_of_dot_plus_biases(built):
    model, X = built["v2"], batch_pairs(16)
    U, M = weight(model, "user_embedding"), weight(model, "movie_embedding")
    bu, bm = weight(model, "user_bias"), weight(model, "movie_bias")
    logit = np.sum(U[X[:, 0]] * M[X[:, 1]], axis=1, keepdims=True) + bu[X[:, 0]] + bm[X[:, 1]]
    expected = MIN_RATING + (MAX_RATING - MIN_RATING) * _sigmoid(logit)
    np.testing.assert_allclose(raw(model, X), expected, rtol=1e-5, atol=1e-6)


def test_net_v2_output_is_sigmoid_of_per_example_dot_plus_biases(built):
    model, X = built["net_v2"], batch_pairs(16)
    U, M = weight(model, "user_embedding"), weight(model, "movie_embedding")
    bu, bm = weight(model, "user_bias"), weight(model, "movie_bias")
    logit = np.sum(U[X[:, 0]] * M[X[:, 1]], axis=1, keepdims=True) + bu[X[:, 0]] + bm[X[:, 1]]
    np.testing.assert_allclose(raw(model, X), _sigmoid(logit), rtol=1e-5, atol=1e-6)


def test_per_example_dot_matches_numpy_and_batch_summing_dot_does_not():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(5, 4)).astype(np.float32)
    m = rng.normal(size=(5, 4)).astype(np.float32)
    per_example = (u * m).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(models.per_example_dot(u, m)), per_example, rtol=1e-5
    )
    summed = keras.ops.convert_to_numpy(models.batch_summing_dot(u, m))
    assert summed.shape == ()
    assert summed == pytest.approx(per_example.sum(), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_permuting_a_batch_permutes_the_outputs(built, name):
    model, X = built[name], batch_pairs(16)
    perm = np.random.default_rng(2).permutation(len(X))
    np.testing.assert_allclose(raw(model, X[perm]), raw(model, X)[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_one_example_alone_equals_the_same_example_in_a_batch(built, name):
    assert_alone_equals_in_batch(built[name], batch_pairs(16))


def test_alone_vs_batch_check_catches_the_tensordot_bug():
    train.set_seed()
    buggy = models.build_net_v2(
        N_USERS, N_MOVIES, N_FACTORS, model_cls=models.BatchSummingRecommenderNet
    )
    X = batch_pairs(16)
    assert raw(buggy, X).shape == (16, 1)  # the shapes look right ...
    with pytest.raises(AssertionError):  # ... but our check fails, as it must
        assert_alone_equals_in_batch(buggy, X)


@pytest.mark.parametrize(
    ("name", "max_rmse"),
    # RecommenderNet's Dropout(0.5) before its output keeps it from fitting as
    # closely; always predicting the mean gives about 1.07 on this data.
    [("v1", 0.2), ("v2", 0.2), ("net", 0.75), ("net_v2", 0.2)],
)
def test_each_model_overfits_a_tiny_data_set(name, max_rmse):
    X, y = tiny_ratings()
    baseline = float(np.sqrt(np.mean((y - y.mean()) ** 2)))
    assert baseline > 1.0
    train.set_seed()
    model = build(name)
    before = train.evaluate(model, X, y)["rmse"]
    # One epoch here is ten passes over the 285 ratings: Keras spends ~0.1 s per epoch.
    train.fit(model, np.tile(X, (10, 1)), np.tile(y, 10), config=TINY)
    after = train.evaluate(model, X, y)["rmse"]
    assert after < max_rmse < before


@pytest.fixture(scope="module")
def trained_and_saved(tmp_path_factory):
    """Train each model briefly (so optimizer state exists) and save it."""
    folder = tmp_path_factory.mktemp("saved")
    X, y = tiny_ratings()
    out = {}
    config = train.TrainConfig(batch_size=64, epochs=1, lr=0.01, l2=1e-4)
    for name in NAMES:
        train.set_seed()
        model = build(name, config=config)
        train.fit(model, X, y, config=config)
        path = folder / f"{name}.keras"
        model.save(path)
        out[name] = (model, path)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_in_safe_mode_predicts_exactly_the_same(trained_and_saved, name):
    model, path = trained_and_saved[name]
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    X = batch_pairs(32)
    np.testing.assert_array_equal(train.predict_ratings(loaded, X), train.predict_ratings(model, X))
    assert loaded.get_layer("user_embedding").name == "user_embedding"
    # The compiled loss, metric and optimizer come back too.
    assert loaded.loss == model.loss
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    iterations = [int(keras.ops.convert_to_numpy(m.optimizer.iterations)) for m in (loaded, model)]
    assert iterations[0] == iterations[1] > 0


def test_saved_models_load_in_a_fresh_process_after_import_reco(trained_and_saved, tmp_path):
    X = batch_pairs(8)
    paths = {}
    for name, (model, path) in trained_and_saved.items():
        np.save(tmp_path / f"{name}.npy", train.predict_ratings(model, X))
        paths[name] = str(path)
    np.save(tmp_path / "X.npy", X)
    code = (
        "import sys, numpy as np, keras, reco\n"
        "from reco.train import predict_ratings\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r})\n"
        f"for name, path in {paths!r}.items():\n"
        "    m = keras.models.load_model(path, safe_mode=True)\n"
        f"    want = np.load({str(tmp_path)!r} + '/' + name + '.npy')\n"
        "    assert np.array_equal(predict_ratings(m, X), want), name\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_models_contain_no_lambda_layers(built):
    for model in built.values():
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in model._flatten_layers())


@pytest.mark.parametrize(
    "builder", [models.build_v1, models.build_v2, models.build_net, models.build_net_v2]
)
@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ((0, 5), "n_users"),
        ((5, 0), "n_movies"),
        ((5, 5, -3), "n_factors"),
        ((-1, 5), "n_users"),
        ((5.5, 5), "n_users"),
    ],
)
def test_bad_sizes_raise_a_clear_value_error(builder, args, argument):
    with pytest.raises(ValueError, match=argument):
        builder(*args)


@pytest.mark.parametrize("builder", [models.build_v2, models.build_net, models.build_net_v2])
def test_empty_rating_range_raises_value_error(builder):
    with pytest.raises(ValueError, match="min_rating must be less than max_rating"):
        builder(5, 5, 4, min_rating=5.0, max_rating=0.5)


def test_recommender_net_v2_validates_its_own_arguments():
    with pytest.raises(ValueError, match="num_users"):
        models.RecommenderNetV2(0, 5)
    with pytest.raises(ValueError, match="embedding_size"):
        models.RecommenderNetV2(5, 5, embedding_size=-1)


def test_layers_are_named_for_the_notebooks(built):
    for name in NAMES:
        for layer in ("user_embedding", "movie_embedding"):
            assert built[name].get_layer(layer) is not None
    for name in ("v2", "net_v2"):
        assert weight(built[name], "user_bias").shape == (N_USERS, 1)
        assert weight(built[name], "movie_bias").shape == (N_MOVIES, 1)


def test_net_dropout_and_hidden_size_are_settable():
    default = build("net")
    assert default.get_layer("dropout_in").rate == 0.05
    assert default.get_layer("dropout_hidden").rate == 0.5
    assert default.get_layer("hidden").units == 10
    X = batch_pairs()
    inputs = train.to_inputs(default, X)
    train.set_seed()
    assert not np.allclose(
        keras.ops.convert_to_numpy(default(inputs, training=True)), raw(default, X)
    )
    no_dropout = build("net", dropout=(0, 0), hidden_units=50)
    assert no_dropout.get_layer("hidden").units == 50
    assert default.count_params() + 40 * (2 * N_FACTORS + 1) + 40 == no_dropout.count_params()
    inputs = train.to_inputs(no_dropout, X)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(no_dropout(inputs, training=True)), raw(no_dropout, X)
    )


@pytest.mark.parametrize("dropout", [(0.5,), (0.1, 1.0), (-0.1, 0.5), 0.5, ("a", 0.1)])
def test_net_bad_dropout_is_a_clear_error(dropout):
    with pytest.raises(ValueError, match=r"dropout must be two rates in \[0, 1\)"):
        models.build_net(5, 5, 4, dropout=dropout)


@pytest.mark.parametrize("hidden_units", [0, 2.5, True])
def test_net_bad_hidden_units_is_a_clear_error(hidden_units):
    with pytest.raises(ValueError, match="hidden_units must be a positive integer"):
        models.build_net(5, 5, 4, hidden_units=hidden_units)
