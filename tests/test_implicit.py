"""Tests of reco.implicit: the model's contract, the multi-hot targets, and training to rank.

One tiny model (20 users x 30 movies of ``synthetic.make_dataset``) is trained
with the multinomial loss and a little dropout, and read by every test; a short
fit with the logistic loss checks that loss (and, run again in another
process, determinism: test_fresh_process.py). Both are trained once per session
by conftest's ``implicit`` fixture (:class:`conftest.ImplicitModels`, which
holds their settings). The evaluation helpers of
:mod:`reco.evaluate`, :mod:`reco.similar` and :mod:`reco.models` are checked on
the trained model here, where it is.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from conftest import ImplicitModels

import reco.split
from reco import evaluate, implicit, kinds, train
from reco.implicit import build_implicit_mf, interactions
from reco.similar import movie_factors
from reco.split import Split

BUILD = ImplicitModels.BUILD


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def data(implicit):
    return implicit.data


@pytest.fixture(scope="module")
def trained(implicit):
    """``(model, history, printed)``: the module's one multinomial model."""
    return implicit.multinomial


@pytest.fixture(scope="module")
def logistic(implicit):
    """``(model, history, printed)``: a short fit with the logistic loss and no log."""
    return implicit.logistic


@pytest.fixture(scope="module")
def model(trained):
    return trained[0]


def logits_of(model, users) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(np.asarray(users, dtype=np.int32), training=False))


def hand_split() -> Split:
    # Users 0, 2 and 3 rate in the training part (user 1 and 4 do not); 6 movies.
    return Split(
        np.array([[0, 2], [0, 0], [2, 1], [2, 2], [3, 4]], dtype=np.int32),
        np.array([4.0, 1.0, 3.5, 5.0, 2.0], dtype=np.float32),
        np.array([[1, 3], [0, 5]], dtype=np.int32),
        np.array([4.0, 3.0], dtype=np.float32),
        n_users=5,
        n_movies=6,
    )


# --------------------------------------------------------------------------- the model's contract


def test_the_output_is_one_logit_per_movie_for_each_user(model, data):
    users = np.array([3, 0, 7, 19], dtype=np.int32)
    logits = logits_of(model, users)
    assert logits.shape == (4, data.encoder.n_movies)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert (logits < 0).any() and (logits > 0).any()  # logits, not probabilities
    np.testing.assert_array_equal(logits_of(model, users.reshape(-1, 1)), logits)


def test_a_logit_is_the_user_vector_times_the_movie_factors_plus_the_bias(model):
    users = np.array([5, 1, 12])
    U = keras.ops.convert_to_numpy(model.get_layer("user_embedding").embeddings)
    dense = model.get_layer("movie_scores")
    K, b = (keras.ops.convert_to_numpy(w) for w in (dense.kernel, dense.bias))
    np.testing.assert_allclose(logits_of(model, users), U[users] @ K + b, rtol=1e-5, atol=1e-6)


def test_one_user_alone_equals_the_same_user_in_a_batch_and_batches_do_not_mix(model):
    users = np.array([4, 11, 0, 19, 7], dtype=np.int32)
    batch = logits_of(model, users)
    for row, user in enumerate(users):
        np.testing.assert_allclose(logits_of(model, [user])[0], batch[row], rtol=1e-6, atol=1e-6)
    order = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(logits_of(model, users[order]), batch[order], rtol=1e-6, atol=1e-6)


def test_the_sizes_come_from_the_encoder_or_from_n_users_and_n_movies(data):
    from_encoder = build_implicit_mf(data.encoder, n_factors=4)
    assert kinds.sizes(from_encoder) == (data.encoder.n_users, data.encoder.n_movies)
    by_hand = build_implicit_mf(n_users=3, n_movies=7, n_factors=5)
    assert kinds.sizes(by_hand) == (3, 7)
    assert by_hand.get_layer("movie_scores").kernel.shape == (5, 7)
    assert logits_of(by_hand, [2]).shape == (1, 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dropout": 1.0}, r"dropout must be a rate in \[0, 1\); got 1\.0"),
        ({"dropout": -0.1}, r"dropout must be a rate in \[0, 1\)"),
        ({"dropout": float("nan")}, r"dropout must be a rate in \[0, 1\)"),
        ({"n_users": 0}, "n_users must be at least 1"),
        ({"n_movies": 2.5}, "n_movies must be a positive integer"),
        ({"n_factors": 0}, "n_factors must be at least 1"),
        ({"n_movies": None}, "needs the number of users and movies"),
        ({"l2": -1.0}, "l2 must be zero or positive"),
    ],
)
def test_bad_settings_are_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_implicit_mf(**({"n_users": 3, "n_movies": 4} | kwargs))


def test_an_encoder_and_sizes_together_are_rejected(data):
    with pytest.raises(ValueError, match="not both"):
        build_implicit_mf(data.encoder, n_users=3)


def test_the_model_is_built_from_standard_layers_only(model):
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Embedding", "Flatten", "Dropout", "Dense"]
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    assert model.get_layer("movie_scores").activation is keras.activations.linear


def test_the_trained_model_saves_and_loads_in_safe_mode(model, tmp_path):
    path = tmp_path / "implicit.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    users = np.arange(20, dtype=np.int32)
    np.testing.assert_array_equal(logits_of(loaded, users), logits_of(model, users))
    assert kinds.sizes(loaded) == kinds.sizes(model)
    assert loaded.get_layer("dropout").rate == pytest.approx(BUILD["dropout"])


# --------------------------------------------------------------------------- the targets


def test_interactions_are_the_training_pairs_as_multi_hot_rows():
    users, rows = interactions(hand_split())
    np.testing.assert_array_equal(users, [0, 2, 3])
    assert users.dtype == np.int32 and rows.dtype == np.float32
    expected = np.zeros((3, 6), dtype=np.float32)
    expected[0, [0, 2]] = expected[1, [1, 2]] = expected[2, 4] = 1.0
    np.testing.assert_array_equal(rows, expected)


def test_interactions_of_another_part_and_of_a_missing_part():
    users, rows = interactions(hand_split(), "test")
    np.testing.assert_array_equal(users, [0, 1])
    np.testing.assert_array_equal(np.argwhere(rows), [[0, 5], [1, 3]])
    with pytest.raises(ValueError, match="no 'val' part"):
        interactions(hand_split(), "val")


def test_an_unknown_part_is_a_clear_error():
    with pytest.raises(ValueError, match="part must be"):
        interactions(hand_split(), "validation")  # the name Split.sizes() uses


def test_interactions_hold_exactly_the_pairs_of_a_real_split(data):
    split = data.split
    users, rows = interactions(split)
    assert rows.shape == (len(np.unique(split.X_train[:, 0])), split.n_movies)
    row, movie = np.nonzero(rows)
    pairs = np.column_stack([users[row], movie])
    np.testing.assert_array_equal(pairs, np.unique(split.X_train, axis=0))


# --------------------------------------------------------------------------- the losses


def test_the_multinomial_loss_is_keras_categorical_cross_entropy_on_0_1_rows():
    # -sum_i x_ui log softmax(z_u)_i with unnormalised 0/1 targets; Keras's
    # CategoricalCrossentropy(from_logits=True) must not rescale the rows to sum to 1.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3, 5)).astype(np.float32)
    x = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0], [1, 1, 0, 0, 1]], dtype=np.float32)
    per_user = -(x * log_softmax(logits.astype(np.float64))).sum(axis=1)
    keras_per_user = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)(
        x, logits
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_per_user), per_user, rtol=1e-5)
    mean = keras.losses.CategoricalCrossentropy(from_logits=True)(x, logits)
    assert float(mean) == pytest.approx(per_user.mean(), rel=1e-5)
    # The same as one softmax cross-entropy per (user, movie) pair, summed over the pairs.
    u, i = np.nonzero(x)
    assert per_user.sum() == pytest.approx(-log_softmax(logits.astype(np.float64))[u, i].sum())


def test_fit_compiles_the_multinomial_loss(model, data):
    users, rows = interactions(data.split)
    logits = logits_of(model, users)
    expected = -(rows * log_softmax(logits.astype(np.float64))).sum(axis=1).mean()
    loss = model.compute_loss(x=users, y=rows, y_pred=logits)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_training_ranks_each_users_training_movies_above_the_others(model, data, trained):
    history = trained[1]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0] - 5
    users, rows = interactions(data.split)
    logits = logits_of(model, users)
    for scores, rated in zip(logits, rows > 0, strict=True):
        assert scores[rated].min() > scores[~rated].max()


def test_the_history_has_one_row_per_epoch_from_1(trained, implicit):
    history = trained[1]
    assert list(history.columns) == ["loss"]
    assert history.index.name == "epoch"
    assert history.index.tolist() == list(range(1, implicit.config.epochs + 1))
    assert np.isfinite(history["loss"]).all()
    assert history.attrs["train_seconds"] > 0


def test_log_every_prints_the_first_every_nth_and_the_last_epoch(trained):
    lines = trained[2].splitlines()
    epochs = [int(re.fullmatch(r"epoch (\d+)/12  loss \d+\.\d{4}", line)[1]) for line in lines]
    assert epochs == [1, 5, 10, 12]
    history = trained[1]
    assert lines[-1] == f"epoch 12/12  loss {history['loss'].iloc[-1]:.4f}"


def test_the_logistic_loss_trains_too(logistic, data):
    model, history, printed = logistic
    assert printed == ""  # log_every=0 prints nothing
    losses = history["loss"].to_numpy()
    assert 0.5 < losses[0] < np.log(2) + 0.01  # binary cross-entropy starts near log 2
    assert (np.diff(losses) < 0).all()
    users, rows = interactions(data.split)
    logits = logits_of(model, users).astype(np.float64)
    bce = np.logaddexp(0.0, logits) - rows * logits  # -x log s(z) - (1 - x) log(1 - s(z))
    loss = model.compute_loss(x=users, y=rows, y_pred=logits.astype(np.float32))
    assert float(loss) == pytest.approx(bce.mean(), rel=1e-5)


def test_a_model_of_another_catalogue_is_a_clear_error(data, implicit):
    model = build_implicit_mf(n_users=20, n_movies=31, n_factors=2)
    with pytest.raises(ValueError, match="31 movies"):
        train.fit(model, data.split, config=implicit.short)


def test_an_unknown_loss_is_a_clear_error(data):
    model = build_implicit_mf(n_users=20, n_movies=30, n_factors=2)
    with pytest.raises(
        ValueError,
        match=r"'implicit_mf' model trains with the loss \['bpr', 'logistic', "
        r"'logistic_weighted', 'multinomial'\]; got 'warp'",
    ):
        train.fit(model, data.split, loss="warp")


# --------------------------------------------------------------------------- losses that rank

SOFTPLUS = np.logaddexp  # softplus(v) = logaddexp(0, v)


def hand_row():
    """One user, 4 movies: rated 0 and 2; float32 logits."""
    x = np.array([[1, 0, 1, 0]], dtype=np.float32)
    z = np.array([[2.0, 0.5, -1.0, 1.0]], dtype=np.float32)
    return x, z


def value(loss, x, z):
    return float(keras.ops.convert_to_numpy(loss(x, z)))


@pytest.mark.parametrize("w", [0.03, 0.5, 1.0])
def test_the_weighted_logistic_loss_down_weights_the_negatives(w):
    x, z = hand_row()
    expected = np.mean(x * SOFTPLUS(0, -z) + w * (1 - x) * SOFTPLUS(0, z))
    assert value(implicit.WeightedLogistic(w), x, z) == pytest.approx(expected, rel=1e-6)
    # the loss train.fit compiles under that name, with the keyword set
    loss = implicit.ImplicitKind.losses[implicit.loss_name("logistic_weighted", negative_weight=w)]
    assert value(loss(None), x, z) == pytest.approx(expected, rel=1e-6)


def test_the_weighted_logistic_loss_with_weight_1_is_keras_binary_cross_entropy():
    x, z = hand_row()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    assert value(implicit.WeightedLogistic(1.0), x, z) == pytest.approx(value(bce, x, z), rel=1e-6)


def test_bpr_is_the_mean_softplus_of_the_gaps_over_every_pair():
    x, z = hand_row()
    pairs = [SOFTPLUS(0, z[0, j] - z[0, i]) for i in (0, 2) for j in (1, 3)]
    train.set_seed()
    # as many draws as movies: every rated and every unrated movie is drawn
    assert value(implicit.BPR(n_negatives=2, n_positives=2), x, z) == pytest.approx(
        np.mean(pairs), rel=1e-6
    )
    assert value(implicit.BPR(n_negatives=9, n_positives=9), x, z) == pytest.approx(
        np.mean(pairs), rel=1e-6
    )


def test_bpr_draws_the_unrated_movies_uniformly():
    x, z = hand_row()
    rows = np.repeat(x, 400, axis=0), np.repeat(z, 400, axis=0)
    train.set_seed()
    per_user = keras.ops.convert_to_numpy(
        implicit.BPR(n_negatives=1, n_positives=2, reduction=None)(*rows)
    )
    with_1, with_3 = (np.mean([SOFTPLUS(0, z[0, j] - z[0, i]) for i in (0, 2)]) for j in (1, 3))
    drew_1 = np.isclose(per_user, with_1, rtol=1e-5)
    assert (drew_1 | np.isclose(per_user, with_3, rtol=1e-5)).all()  # never a rated movie
    assert 160 < drew_1.sum() < 240  # 200 expected; 4 standard deviations is 40


def test_bpr_draws_the_same_after_the_same_seed():
    rng = np.random.default_rng(0)
    x = (rng.random((8, 30)) < 0.3).astype(np.float32)
    z = rng.normal(size=(8, 30)).astype(np.float32)
    draws = []
    for seed in (3, 3, 4):
        train.set_seed(seed)
        loss = implicit.BPR(n_negatives=2, n_positives=2, reduction=None)
        draws.append(np.concatenate([keras.ops.convert_to_numpy(loss(x, z)) for _ in range(2)]))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])
    assert not np.array_equal(draws[0][:8], draws[0][8:])  # each call draws anew


def test_bpr_training_ranks_the_rated_movies_above_the_others(data):
    # 20 full-batch steps in one epoch and one graph call: one trace, no per-epoch overhead.
    train.set_seed()
    model = build_implicit_mf(data.encoder, n_factors=16, dropout=0.0)
    config = train.TrainConfig(batch_size=20, epochs=1, lr=0.1, steps_per_execution=20)
    train.compile_model(model, config, loss="bpr(n_negatives=8)")
    users, rows = data.split.for_model(model)
    before = logits_of(model, users)
    history = model.fit(np.tile(users, 20), np.tile(rows, (20, 1)), batch_size=20, verbose=0)
    assert history.history["loss"][0] < 0.3 < np.log(2) - 0.2

    def auc(logits):  # the share of (rated, unrated) pairs of a user ranked the right way
        pairs = [
            (scores[rated][:, None] > scores[~rated][None, :]).mean()
            for scores, rated in zip(logits, rows > 0, strict=True)
        ]
        return np.mean(pairs)

    assert auc(before) < 0.7 and auc(logits_of(model, users)) > 0.99


def test_a_loss_saves_and_loads_with_its_settings():
    for loss in (implicit.WeightedLogistic(0.03), implicit.BPR(8, 32, seed=5)):
        again = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ("logistic_weighted(negative_weight=0)", r"negative_weight must be in \(0, 1\]; got 0"),
        ("logistic_weighted(negative_weight=2.0)", r"negative_weight must be in \(0, 1\]"),
        ("bpr(n_negatives=0)", "n_negatives must be at least 1"),
        ("bpr(n_neg=4)", r"'bpr' takes the keyword\(s\) \['n_negatives', 'n_positives'\]"),
        ("bpr(n_negatives=x)", "cannot read 'n_negatives=x'"),
        ("logistic(negative_weight=0.1)", "'logistic' takes no keywords"),
    ],
)
def test_bad_loss_keywords_are_a_clear_error(data, loss, message):
    model = build_implicit_mf(n_users=20, n_movies=30, n_factors=2)
    with pytest.raises(ValueError, match=message):
        train.compile_model(model, loss=loss)


def test_loss_name_writes_the_keywords_the_kind_reads():
    assert implicit.loss_name("bpr") == "bpr"
    name = implicit.loss_name("bpr", n_positives=8, n_negatives=4)
    assert name == "bpr(n_negatives=4, n_positives=8)"
    loss = implicit.ImplicitKind.losses[name](None)
    assert (loss.n_negatives, loss.n_positives) == (4, 8)
    assert implicit.LOSSES == ("multinomial", "logistic")  # the two notebook 08 compares


# --------------------------------------------------------------------------- positives at 4 stars


def test_positives_keep_the_training_ratings_of_4_stars_and_more():
    split = hand_split()
    reco.split.reset_test_reads()
    liked = implicit.positives(split)
    assert reco.split.test_reads().empty  # the test part is passed on, not read
    np.testing.assert_array_equal(liked.X_train, [[0, 2], [2, 2]])
    np.testing.assert_array_equal(liked.y_train, [4.0, 5.0])
    for name in ("X_test", "y_test"):
        assert object.__getattribute__(liked, name) is object.__getattribute__(split, name)
    assert (liked.n_users, liked.n_movies) == (5, 6)
    np.testing.assert_array_equal(implicit.positives(split, 3.5).y_train, [4.0, 3.5, 5.0])


def test_positives_filter_the_training_context_too():
    s = hand_split()
    times = {"train": {"timestamp": np.arange(5.0)}, "test": {"timestamp": np.array([7.0, 8.0])}}
    split = Split(s.X_train, s.y_train, s.X_test, s.y_test, n_users=5, n_movies=6, context=times)
    liked = implicit.positives(split, 3.0)
    np.testing.assert_array_equal(liked.context["train"]["timestamp"], [0.0, 2.0, 3.0])
    assert liked.context["test"] is times["test"]
    assert split.context["train"]["timestamp"].shape == (5,)  # the original is unchanged


@pytest.mark.parametrize(
    ("min_rating", "message"),
    [
        ("four", "min_rating must be a number of stars; got 'four'"),
        (float("nan"), "min_rating must be a number of stars"),
        (True, "min_rating must be a number of stars"),
        (5.5, "no training rating is at least min_rating=5.5: the highest is 5"),
    ],
)
def test_bad_min_rating_is_a_clear_error(min_rating, message):
    with pytest.raises(ValueError, match=message):
        implicit.positives(hand_split(), min_rating)


# --------------------------------------------------------------------------- evaluation


def test_score_users_is_the_models_output_with_dropout_off(model):
    users = np.array([2, 9, 0, 19])
    scores = evaluate.score_users(model, users, n_movies=30)
    np.testing.assert_allclose(scores, logits_of(model, users), rtol=1e-5, atol=1e-5)
    with_dropout = keras.ops.convert_to_numpy(model(users.astype(np.int32), training=True))
    assert not np.allclose(scores, with_dropout, atol=1e-3)  # so "off" means something


def test_top_k_lists_the_best_unrated_movies(model, data):
    split = data.split
    recs = evaluate.top_k(model, split, k=5)
    assert set(recs["user"]) == set(np.unique(split.X_train[:, 0]).tolist())
    assert len(recs) == 5 * recs["user"].nunique()
    np.testing.assert_array_equal(recs["rank"].to_numpy().reshape(-1, 5), [[1, 2, 3, 4, 5]] * 20)
    rated = {tuple(pair) for pair in np.concatenate([split.X_train, split.X_val]).tolist()}
    assert not rated & set(zip(recs["user"], recs["movie"], strict=True))
    scores = evaluate.score_users(model, recs["user"].to_numpy())
    np.testing.assert_allclose(
        recs["score"], scores[np.arange(len(recs)), recs["movie"]], rtol=1e-5, atol=1e-6
    )
    assert (recs.groupby("user")["score"].diff().dropna() <= 0).all()


def test_compare_reports_no_rmse_for_the_implicit_model(model, data):
    table = evaluate.compare({"implicit": model}, data.split, k=5)
    row = table.loc["implicit"]
    assert np.isnan(row["rmse"]) and np.isnan(row["mae"])
    assert 0.0 <= row["ndcg"] <= 1.0 and 0.0 < row["coverage"] <= 1.0
    assert row["users"] > 0


def test_the_movie_factors_are_the_dense_kernel_transposed(model):
    factors = movie_factors(model)
    kernel = keras.ops.convert_to_numpy(model.get_layer("movie_scores").kernel)
    assert factors.shape == (30, BUILD["n_factors"]) and factors.dtype == np.float32
    np.testing.assert_array_equal(factors, kernel.T)


def test_embedding_sizes_are_the_users_and_the_logits(model):
    assert kinds.sizes(model) == (20, 30)
