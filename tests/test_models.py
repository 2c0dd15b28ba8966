"""Contract tests for the course's four Keras models.

For each model: output shape and range, the output against a numpy formula of
its weights, permuting a batch permutes the output, one example alone equals
the same example in a batch (the check that catches the ``tensordot(u, m, 2)``
bug, shown to fail on :class:`reco.models.BatchSummingRecommenderNet`),
overfitting a tiny data set, and a save/load round trip in safe mode: the
models are saved once trained, then loaded here (and in a fresh process, in
test_fresh_process.py), and must predict what they predicted before saving.
(Identical losses from two seeded runs, the last contract, is checked in
test_train.py and test_fresh_process.py.) Then the builders' checks of their
arguments.

The trained models come from the session's ``course`` fixture (conftest.py),
trained once on ratings 1..10; tests that need no training build their own
untrained models, which takes milliseconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from synthetic import make_dataset

from reco import kinds, models, train
from reco.constants import MAX_RATING, MIN_RATING

pytestmark = pytest.mark.backends  # make backends-test runs them on JAX and PyTorch too

NAMES = train.MODEL_NAMES
N_FACTORS = 8
DATA = make_dataset()  # for untrained models: 20 users, 30 movies, ratings 0.5..5
BUILDERS = {
    "v1": models.build_v1,
    "v2": models.build_v2,
    "recommender_net": models.build_net,
    "recommender_net_v2": models.build_net_v2,
}


def raw(model, X):
    """The model's own output for ``(n, 2)`` rows: float32 numpy of shape ``(n, 1)``."""
    return keras.ops.convert_to_numpy(model(train.to_inputs(model, X), training=False))


def weights(model, layer):
    return [keras.ops.convert_to_numpy(w) for w in model.get_layer(layer).weights]


def rows(n=16, seed=1):
    """``n`` distinct ``[user, movie]`` rows of the synthetic data, in random order."""
    pick = np.random.default_rng(seed).choice(len(DATA.y), n, replace=False)
    return DATA.X[pick]  # the same users and movies as the course models'


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def assert_alone_equals_in_batch(model, X):
    """Predict each example alone and inside the batch; they must agree."""
    in_batch = raw(model, X)
    alone = np.concatenate([raw(model, X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(alone, in_batch, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7])
def test_output_is_float32_of_shape_batch_by_one(course, name, n):
    out = raw(course.models[name], rows(n))
    assert out.shape == (n, 1)
    assert out.dtype == np.float32


@pytest.mark.parametrize("name", ["v2", "recommender_net"])
def test_scaled_outputs_stay_in_the_rating_range_even_when_saturated(name):
    model = BUILDERS[name](DATA.encoder, n_factors=N_FACTORS, min_rating=1, max_rating=10)
    assert models.rating_range(model) == (1.0, 10.0)
    model.set_weights([w * 1000.0 for w in model.get_weights()])  # saturate the sigmoid
    out = raw(model, DATA.X)
    assert out.min() >= 1.0 and out.max() <= 10.0
    assert out.min() < 1.5 and out.max() > 9.5  # both ends are reached


def test_net_v2_outputs_normalized_ratings_and_predicts_stars_in_its_own_range():
    model = models.build_net_v2(DATA.encoder, n_factors=N_FACTORS, min_rating=1, max_rating=10)
    assert models.rating_range(model) == (1.0, 10.0)
    model.set_weights([w * 1000.0 for w in model.get_weights()])
    out = raw(model, DATA.X)
    assert out.min() >= 0.0 and out.max() <= 1.0
    stars = train.predict_ratings(model, DATA.X)
    np.testing.assert_allclose(stars, 1.0 + 9.0 * out.reshape(-1), rtol=1e-6)


def test_v1_is_unbounded_and_nothing_clips_it():
    model = models.build_v1(DATA.encoder, n_factors=N_FACTORS)
    assert models.rating_range(model) is None
    model.set_weights([w * 10.0 for w in model.get_weights()])
    pred = train.predict_ratings(model, DATA.X)
    assert pred.min() < MIN_RATING and pred.max() > MAX_RATING


def test_v1_output_is_the_numpy_dot_product_of_its_embedding_rows(course):
    model, X = course.models["v1"], rows()
    (U,), (M,) = weights(model, "user_embedding"), weights(model, "movie_embedding")
    expected = np.sum(U[X[:, 0]] * M[X[:, 1]], axis=1, keepdims=True)
    np.testing.assert_allclose(raw(model, X), expected, rtol=1e-5, atol=1e-6)


def dot_plus_biases(model, X):
    (U,), (M,) = weights(model, "user_embedding"), weights(model, "movie_embedding")
    (bu,), (bm,) = weights(model, "user_bias"), weights(model, "movie_bias")
    return np.sum(U[X[:, 0]] * M[X[:, 1]], axis=1, keepdims=True) + bu[X[:, 0]] + bm[X[:, 1]]


def test_v2_output_is_the_scaled_sigmoid_of_dot_plus_biases(course):
    model, X = course.models["v2"], rows()
    expected = 1.0 + (10.0 - 1.0) * sigmoid(dot_plus_biases(model, X))  # built for 1..10
    np.testing.assert_allclose(raw(model, X), expected, rtol=1e-5, atol=1e-6)


def test_net_v2_output_is_the_sigmoid_of_the_per_example_dot_plus_biases(course):
    model, X = course.models["recommender_net_v2"], rows()
    np.testing.assert_allclose(
        raw(model, X), sigmoid(dot_plus_biases(model, X)), rtol=1e-5, atol=1e-6
    )


def test_net_output_is_its_network_in_numpy_with_dropout_off_at_inference():
    train.set_seed()
    model = models.build_net(DATA.encoder, n_factors=N_FACTORS)  # default dropout (0.05, 0.5)
    X = rows()
    (U,), (M,) = weights(model, "user_embedding"), weights(model, "movie_embedding")
    W1, b1 = weights(model, "hidden")
    W2, b2 = weights(model, "score")
    hidden = np.maximum(np.concatenate([U[X[:, 0]], M[X[:, 1]]], axis=1) @ W1 + b1, 0.0)
    expected = MIN_RATING + (MAX_RATING - MIN_RATING) * sigmoid(hidden @ W2 + b2)
    np.testing.assert_allclose(raw(model, X), expected, rtol=1e-5, atol=1e-6)
    # In training mode dropout is on, so the same rows give other outputs.
    training = keras.ops.convert_to_numpy(model(train.to_inputs(model, X), training=True))
    assert not np.allclose(training, expected)


def test_per_example_dot_matches_numpy_and_batch_summing_dot_is_one_scalar():
    rng = np.random.default_rng(0)
    u, m = rng.normal(size=(2, 5, 4)).astype(np.float32)
    per_example = (u * m).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(models.per_example_dot(u, m)), per_example, rtol=1e-5
    )
    summed = keras.ops.convert_to_numpy(models.batch_summing_dot(u, m))
    assert summed.shape == ()
    assert summed == pytest.approx(per_example.sum(), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_permuting_a_batch_permutes_the_outputs(course, name):
    model, X = course.models[name], rows()
    perm = np.random.default_rng(2).permutation(len(X))
    np.testing.assert_allclose(raw(model, X[perm]), raw(model, X)[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_one_example_alone_equals_the_same_example_in_a_batch(course, name):
    assert_alone_equals_in_batch(course.models[name], rows())


def test_alone_versus_batch_check_catches_the_tensordot_bug():
    buggy = models.build_net_v2(
        DATA.encoder, n_factors=N_FACTORS, model_cls=models.BatchSummingRecommenderNet
    )
    X = rows()
    assert raw(buggy, X).shape == (len(X), 1)  # the shapes look right ...
    with pytest.raises(AssertionError, match="Not equal to tolerance"):  # ... the check fails
        assert_alone_equals_in_batch(buggy, X)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", NAMES)
def test_each_model_overfits_the_tiny_data_set(course, name):
    X, y = course.data.split.X_train, course.data.split.y_train
    mean_rating_rmse = float(y.std())  # about 2.9 on these random ratings 1..10
    before = train.rating_metrics(course.build(name), X, y)["rmse"]  # its untrained state
    after = train.rating_metrics(course.models[name], X, y)["rmse"]
    assert before > 0.9 * mean_rating_rmse  # untrained: no better than the mean rating
    assert after < 0.3 * mean_rating_rmse  # trained: it has memorised the ratings
    history = course.histories[name]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_the_seed_sets_the_initial_weights():
    def first_weights(seed):
        train.set_seed(seed)
        return models.build_v2(DATA.encoder, n_factors=N_FACTORS).get_weights()[0]

    np.testing.assert_array_equal(first_weights(7), first_weights(7))
    assert not np.array_equal(first_weights(7), first_weights(8))


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_in_safe_mode_predicts_exactly_the_same(course, name):
    # course.models were saved once trained and loaded back, in safe mode.
    loaded, trained = course.models[name], course.when_trained[name]
    assert type(loaded).__name__ == trained["class"]
    np.testing.assert_array_equal(
        train.predict_ratings(loaded, course.data.X), trained["predictions"]
    )
    assert models.rating_range(loaded) == trained["rating_range"]
    assert kinds.sizes(loaded) == trained["embedding_sizes"]
    # The optimizer comes back with its state: training can resume.
    steps = int(keras.ops.convert_to_numpy(loaded.optimizer.iterations))
    assert steps == trained["steps"] == course.config.epochs * course.COPIES


def test_a_saved_recommender_net_v2_keeps_its_rating_range(tmp_path):
    model = models.build_net_v2(n_users=4, n_movies=5, n_factors=2, min_rating=1, max_rating=10)
    model.save(tmp_path / "net_v2.keras")
    loaded = keras.models.load_model(tmp_path / "net_v2.keras", safe_mode=True)
    assert models.rating_range(loaded) == (1.0, 10.0)
    X = np.array([[0, 0], [3, 4]])
    np.testing.assert_array_equal(train.predict_ratings(loaded, X), train.predict_ratings(model, X))


# --------------------------------------------------------------------------- builders


@pytest.mark.parametrize("name", NAMES)
def test_builders_return_uncompiled_models_sized_by_the_encoder(name):
    model = BUILDERS[name](DATA.encoder, n_factors=N_FACTORS)
    assert not model.compiled
    assert kinds.sizes(model) == (DATA.encoder.n_users, DATA.encoder.n_movies)
    assert weights(model, "user_embedding")[0].shape == (DATA.encoder.n_users, N_FACTORS)


@pytest.mark.parametrize("name", NAMES)
def test_builders_accept_numpy_integer_sizes(name):
    model = BUILDERS[name](n_users=np.int64(10), n_movies=np.int32(20), n_factors=np.int64(3))
    assert kinds.sizes(model) == (10, 20)
    assert train.predict_ratings(model, [[9, 19]]).shape == (1,)


@pytest.mark.parametrize(
    ("name", "l2", "penalized"),
    [
        ("v1", models.DEFAULT_L2, ["user_embedding", "movie_embedding"]),
        ("v2", models.DEFAULT_L2, ["user_embedding", "movie_embedding", "user_bias", "movie_bias"]),
        ("recommender_net", models.DEFAULT_L2, ["user_embedding", "movie_embedding"]),
        (
            "recommender_net_v2",
            models.NET_V2_L2,
            ["user_embedding", "movie_embedding"],
        ),  # not the biases
    ],
)
def test_default_l2_penalty_is_added_to_the_loss(name, l2, penalized):
    model = BUILDERS[name](DATA.encoder, n_factors=N_FACTORS)
    squares = sum(
        float((weights(model, layer)[0].astype(np.float64) ** 2).sum()) for layer in penalized
    )
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    assert penalty == pytest.approx(l2 * squares, rel=1e-5)
    assert not BUILDERS[name](DATA.encoder, n_factors=N_FACTORS, l2=0.0).losses


def test_recommender_net_v2_config_rebuilds_the_same_model():
    model = models.build_net_v2(
        n_users=4, n_movies=5, n_factors=3, l2=0.0, min_rating=1, max_rating=10
    )
    config = model.get_config()
    assert (config["min_rating"], config["max_rating"]) == (1.0, 10.0)
    copy = models.RecommenderNetV2.from_config(config)
    copy.build((None, 2))
    assert models.rating_range(copy) == (1.0, 10.0)
    assert kinds.sizes(copy) == (4, 5)


def test_embedding_sizes_names_the_fix_for_a_model_that_is_not_a_course_model():
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="other")
    with pytest.raises(ValueError, match="no model kind is registered as 'other'.*kinds.register"):
        kinds.sizes(other)
    with pytest.warns(DeprecationWarning, match=r"use reco.kinds.sizes"):
        assert models.embedding_sizes(models.build_v1(n_users=3, n_movies=4)) == (3, 4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_users": 0, "n_movies": 5}, "n_users must be at least 1; got 0"),
        ({"n_users": 5, "n_movies": -1}, "n_movies must be at least 1; got -1"),
        ({"n_users": 5.5, "n_movies": 5}, "n_users must be a positive integer; got 5.5"),
        ({"n_users": True, "n_movies": 5}, "n_users must be a positive integer; got True"),
        ({"n_users": 5, "n_movies": 5, "n_factors": 0}, "n_factors must be at least 1"),
        ({"n_users": 5}, "needs the number of users and movies.*build_v2\\(encoder\\)"),
    ],
)
def test_bad_sizes_are_clear_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BUILDERS[name](**kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_an_encoder_and_sizes_together_or_a_wrong_encoder_are_clear_errors(name):
    with pytest.raises(ValueError, match="pass an encoder or n_users/n_movies, not both"):
        BUILDERS[name](DATA.encoder, n_users=3, n_movies=4)
    with pytest.raises(ValueError, match="expected a fitted reco.split.IdEncoder; got DataFrame"):
        BUILDERS[name](DATA.ratings)


@pytest.mark.parametrize("name", NAMES)
def test_a_model_too_big_for_memory_is_refused_before_it_is_built(name):
    # MovieLens-small's 610 users and 9,742 movies with a million factors: ~154 GiB.
    with pytest.raises(ValueError, match=r"n_factors=1,000,000 .* needs about 154\.3 GiB.*50"):
        BUILDERS[name](n_users=610, n_movies=9742, n_factors=1_000_000)


@pytest.mark.parametrize("name", ["v2", "recommender_net", "recommender_net_v2"])
def test_an_empty_rating_range_is_a_clear_error(name):
    with pytest.raises(ValueError, match="min_rating must be less than max_rating.*MovieLens"):
        BUILDERS[name](n_users=5, n_movies=5, min_rating=5.0, max_rating=0.5)


@pytest.mark.parametrize("name", NAMES)
def test_a_negative_l2_is_a_clear_error(name):
    with pytest.raises(ValueError, match="l2 must be zero or positive; got -0.1"):
        BUILDERS[name](n_users=5, n_movies=5, l2=-0.1)


def test_net_dropout_and_hidden_size_are_settable():
    small = models.build_net(n_users=5, n_movies=5, n_factors=4)
    wide = models.build_net(
        n_users=5, n_movies=5, n_factors=4, dropout=0, hidden_dropout=0, hidden_units=50
    )
    # 40 more hidden units, each with 2 * 4 input weights, a bias and an output weight.
    assert wide.count_params() == small.count_params() + 40 * (2 * 4 + 2)
    X = np.array([[0, 1], [2, 3], [4, 4]])
    on, off = (
        keras.ops.convert_to_numpy(wide(train.to_inputs(wide, X), training=t))
        for t in (True, False)
    )
    np.testing.assert_allclose(on, off)  # dropout (0, 0): training mode changes nothing


@pytest.mark.parametrize(
    ("rates", "name"),
    [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": "a"}, "dropout"),
        ({"hidden_dropout": 1.5}, "hidden_dropout"),
    ],
)
def test_net_bad_dropout_is_a_clear_error(rates, name):
    with pytest.raises(ValueError, match=rf"{name} must be a rate in \[0, 1\).*{name}=0 for none"):
        models.build_net(n_users=5, n_movies=5, **rates)


def test_net_dropout_as_two_rates_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="pass dropout=a, hidden_dropout=b"):
        old = models.build_net(n_users=5, n_movies=5, dropout=(0.1, 0.2))
    rates = [layer.rate for layer in old.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.1, 0.2]
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="dropout must be"):
        models.build_net(n_users=5, n_movies=5, dropout=(0.5,))


@pytest.mark.parametrize("hidden_units", [0, 2.5, True])
def test_net_bad_hidden_units_is_a_clear_error(hidden_units):
    with pytest.raises(ValueError, match="hidden_units must be"):
        models.build_net(n_users=5, n_movies=5, hidden_units=hidden_units)
