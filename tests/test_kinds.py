"""Contract tests run over every registered model kind (issue 16; house style habit 7).

Every kind in :func:`reco.kinds.registered` is built small, trained briefly on
synthetic data, and checked for: output shape and range, one example alone
equal to the same example in a batch (what keras-io#397's model fails),
permuted batches giving permuted outputs, a ``.keras`` round trip in safe mode
in a fresh process, and ``score_users`` ranking movies as the predictions do.
A kind added later is tested here with no edit to this file.

The other tests: an unknown model gets one clear error; a new kind, declared
in this file, works with training, evaluation, recommendation and similar
movies by registering its contract alone; ``recommend`` works with every kind.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import KIND_CONFIG, KIND_FACTORS

from reco import evaluate, kinds, models, recommend, similar, train
from reco.config import TrainConfig
from reco.constants import MOVIE_COL, PREDICTION_COL, USER_COL

pytestmark = pytest.mark.backends  # make backends-test runs them on JAX and PyTorch too

#: The kinds registered when the tests are collected, in declaration order.
KIND_NAMES = list(kinds.registered())

CONFIG = TrainConfig(**KIND_CONFIG)
N_FACTORS = KIND_FACTORS


# --------------------------------------------------------------------------- helpers


def _take(inputs, rows):
    """Return the examples ``rows`` of a model input (an array or a list of arrays)."""
    if isinstance(inputs, list):
        return [np.asarray(a)[rows] for a in inputs]
    return np.asarray(inputs)[rows]


def _n_examples(inputs) -> int:
    return len(inputs[0] if isinstance(inputs, list) else inputs)


def _call(model, inputs) -> np.ndarray:
    """Call the model in inference mode; return its raw output as a numpy array."""
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def check_alone_equals_batch(model, inputs, n: int = 8) -> None:
    """Assert that each of the first ``n`` examples predicted alone equals it in the batch."""
    batch = _call(model, inputs)
    for i in range(min(n, _n_examples(inputs))):
        alone = _call(model, _take(inputs, slice(i, i + 1)))
        np.testing.assert_allclose(
            alone[0], batch[i], rtol=1e-5, atol=1e-6, err_msg=f"example {i} alone vs in batch"
        )


def _all_pairs(users, n_movies) -> np.ndarray:
    """Return the ``[user, movie]`` rows of every movie for each user, user-major."""
    users = np.asarray(users, dtype=np.int32)
    return np.column_stack(
        [np.repeat(users, n_movies), np.tile(np.arange(n_movies, dtype=np.int32), len(users))]
    )


def assert_same_order(scores: np.ndarray, predictions: np.ndarray, tol: float = 1e-5) -> None:
    """Assert that ``scores`` order every pair of movies as ``predictions`` do (beyond ``tol``)."""
    for user, (s, p) in enumerate(zip(scores, predictions, strict=True)):
        dp = p[:, None] - p[None, :]
        ds = s[:, None] - s[None, :]
        clear = np.abs(dp) > tol
        assert clear.any(), f"user {user}: all predictions are equal; the model did not train"
        wrong = clear & (np.sign(ds) != np.sign(dp))
        assert not wrong.any(), (
            f"user {user}: score_users orders {int(wrong.sum()) // 2} movie pair(s) unlike "
            "the predictions"
        )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(kind_data):
    """The synthetic data set: about 20 users, 30 movies, a split and its encoder."""
    return kind_data


@pytest.fixture(scope="module")
def trained(kind_models) -> dict:
    """Kind name -> a tiny model of that kind, trained for two epochs (``conftest.kind_models``)."""
    return kind_models


@pytest.fixture(params=KIND_NAMES)
def kind_name(request) -> str:
    return request.param


# --------------------------------------------------------------------------- the contract


def test_output_shape_and_range(trained, data, kind_name):
    """Raw output: one row per example; predictions (n,) inside the kind's rating range."""
    model, kind = trained[kind_name], kinds.get(kind_name)
    assert kinds.kind_of(model) is kind
    n_users, n_movies = kinds.sizes(model)
    assert (n_users, n_movies) == (data.encoder.n_users, data.encoder.n_movies)
    inputs, targets = data.split.for_model(model, "test")
    n = _n_examples(inputs)
    out = _call(model, inputs)
    assert out.shape[0] == n == len(targets)
    assert np.isfinite(out).all()
    X = _all_pairs(np.arange(n_users), n_movies)
    if kind.predicts_ratings:
        assert out.size == n, f"a rating model gives one output per example; got {out.shape}"
        stars = kinds.predict(model, X)
        assert stars.shape == (len(X),)
        assert np.isfinite(stars).all()
        bounds = kind.rating_range(model)
        if bounds is not None:
            lo, hi = bounds
            assert lo - 1e-5 <= stars.min() and stars.max() <= hi + 1e-5, (stars.min(), bounds)
    else:
        assert out.shape == (n, n_movies), "a ranking model scores the whole catalogue"
        with pytest.raises(ValueError, match="predicts no ratings"):
            kinds.predict(model, X)


def test_one_example_alone_equals_it_in_a_batch(trained, data, kind_name):
    """Each prediction depends on its own example only (keras-io#397 breaks this)."""
    model = trained[kind_name]
    inputs, _ = data.split.for_model(model, "test")
    assert _n_examples(inputs) >= 4
    check_alone_equals_batch(model, inputs)


def test_batch_summing_model_fails_alone_vs_batch(data):
    """The deliberately wrong keras-io#397 model fails the check the course's models pass."""
    train.set_seed()
    model = models.build_net_v2(
        n_users=data.encoder.n_users,
        n_movies=data.encoder.n_movies,
        n_factors=N_FACTORS,
        model_cls=models.BatchSummingRecommenderNet,
    )
    inputs, _ = data.split.for_model(model, "test")
    with pytest.raises(AssertionError, match="alone vs in batch"):
        check_alone_equals_batch(model, inputs)


def test_permuting_a_batch_permutes_the_outputs(trained, data, kind_name):
    model = trained[kind_name]
    inputs, _ = data.split.for_model(model, "test")
    perm = np.random.default_rng(0).permutation(_n_examples(inputs))
    assert (perm != np.arange(len(perm))).any()
    np.testing.assert_allclose(
        _call(model, _take(inputs, perm)), _call(model, inputs)[perm], rtol=1e-5, atol=1e-6
    )


def test_score_users_ranks_as_the_predictions(trained, kind_name):
    """Rating kinds: same order as the predicted stars; ranking kinds: the model's own output."""
    model, kind = trained[kind_name], kinds.get(kind_name)
    _, n_movies = kinds.sizes(model)
    users = np.array([0, 3, 7], dtype=np.int32)
    scores = kinds.score_users(model, users)
    assert scores.shape == (len(users), n_movies)
    if kind.predicts_ratings:
        predictions = kinds.predict(model, _all_pairs(users, n_movies)).reshape(len(users), -1)
        assert_same_order(scores, predictions)
    else:
        X = _all_pairs(users, 1)  # one row per user: the model takes users
        logits = _call(model, kind.inputs(model, X))
        np.testing.assert_allclose(scores, logits, rtol=1e-5, atol=1e-5)


#: Run in a fresh process: only ``import reco.models``, then load every file in safe mode.
def test_keras_round_trip_in_a_fresh_process(trained, fresh):
    """Every kind's model loads from .keras in safe mode after only ``import reco.models``."""
    assert set(fresh["kinds"]) == set(trained) == set(kinds.registered())
    for name, model in trained.items():
        got = fresh["kinds"][name]
        assert got["name"] == model.name
        assert got["kind"] == kinds.kind_of(model).name == name
        np.testing.assert_allclose(
            np.asarray(got["out"], dtype=np.float32), fresh["before"][name], rtol=1e-6, atol=1e-7
        )
    # the implicit kind is found by the lazy look-up, with reco.implicit not imported before it
    assert fresh["implicit imported before the look-up"] is False
    # importing the kinds' modules draws nothing from the generator that seeds the weights
    # (KerasRS's import does: without the fix the first feature model after set_seed differed)
    assert fresh["random state kept by the look-up"] is True


# --------------------------------------------------------------------------- unknown and new kinds


def _functional(name: str) -> keras.Model:
    users = keras.Input(shape=(1,), dtype="int32", name="u")
    movies = keras.Input(shape=(1,), dtype="int32", name="m")
    p = keras.layers.Flatten()(keras.layers.Embedding(5, 2, name="P")(users))
    q = keras.layers.Flatten()(keras.layers.Embedding(5, 2, name="Q")(movies))
    return keras.Model([users, movies], keras.layers.Dot(axes=1)([p, q]), name=name)


@pytest.mark.parametrize(
    "make",
    [lambda: keras.Sequential(name="foo"), lambda: _functional("foo")],
    ids=["sequential", "functional"],
)
def test_unknown_model_gets_one_clear_error(data, make):
    model = make()
    message = r"no model kind is registered as 'foo'.*reco\.kinds\.register"
    with pytest.raises(ValueError, match=message):
        kinds.kind_of(model)
    with pytest.raises(ValueError, match=message):
        train.fit(model, data.split, config=CONFIG)
    with pytest.raises(ValueError, match=message):
        evaluate.top_k(model, data.split)


def build_biased_mf(encoder=None, *, n_users=None, n_movies=None, n_factors=4):
    """Biased matrix factorisation, unbounded stars, with layer names the course never uses."""
    n_users, n_movies, n_factors = models.architecture(encoder, n_users, n_movies, n_factors)
    who = keras.Input(shape=(1,), dtype="int32", name="who")
    what = keras.Input(shape=(1,), dtype="int32", name="what")
    flat = keras.layers.Flatten
    p = flat()(keras.layers.Embedding(n_users, n_factors, name="P")(who))
    q = flat()(keras.layers.Embedding(n_movies, n_factors, name="Q")(what))
    bu = flat()(keras.layers.Embedding(n_users, 1, name="b_user")(who))
    bm = flat()(keras.layers.Embedding(n_movies, 1, name="b_movie")(what))
    out = keras.layers.Add()([keras.layers.Dot(axes=1)([p, q]), bu, bm])
    return keras.Model([who, what], out, name=BiasedMFKind.name)


def _weights(model, layer) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model.get_layer(layer).embeddings))


class BiasedMFKind(kinds.ModelKind):
    """The one contract a new kind needs: nothing else in reco is edited."""

    name = "biased_mf"
    label = "biased MF"

    def build(self, encoder=None, **kwargs):
        return build_biased_mf(encoder, **kwargs)

    def sizes(self, model):
        return int(model.get_layer("P").input_dim), int(model.get_layer("Q").input_dim)

    def inputs(self, model, X, context=None):
        X = kinds.check_rows(X, *self.sizes(model))
        return [X[:, 0], X[:, 1]]

    def score_users(self, model, users, context=None):
        P, Q = _weights(model, "P")[users], _weights(model, "Q")
        return P @ Q.T + _weights(model, "b_user")[users] + _weights(model, "b_movie").T

    def movie_factors(self, model):
        return _weights(model, "Q")

    def movie_bias(self, model):
        return _weights(model, "b_movie").reshape(-1)


@pytest.fixture
def biased_mf():
    """Register :class:`BiasedMFKind` for one test; remove it afterwards (no public unregister)."""
    assert BiasedMFKind.name not in kinds.registered()
    kinds.register(BiasedMFKind)
    try:
        yield kinds.get(BiasedMFKind.name)
    finally:
        kinds.unregister(BiasedMFKind.name)


def test_a_new_kind_needs_only_its_contract(biased_mf, trained, data, eager):
    enc, split = data.encoder, data.split
    train.set_seed()
    model = biased_mf.build(enc, n_factors=N_FACTORS)
    assert kinds.kind_of(model) is biased_mf
    history = train.fit(model, split, config=CONFIG)
    assert list(history.index) == [1, 2] and np.isfinite(history["loss"]).all()

    recs = evaluate.top_k(model, split, k=5)
    first = recs[recs["user"] == recs["user"].iloc[0]]
    assert len(first) == 5 and list(first["rank"]) == [1, 2, 3, 4, 5]
    assert (np.diff(first["score"].to_numpy()) <= 0).all()

    table = evaluate.compare({"biased": model, "v2": trained["v2"]}, split, k=5)
    assert list(table.index) == ["biased", "v2"]
    assert np.isfinite(table.loc["biased", ["rmse", "mae", "ndcg"]].astype(float)).all()

    user_id = int(data.ratings[USER_COL].iloc[0])
    listed = recommend.recommend(model, enc, data.ratings, data.movies, user_id, k=5)
    assert len(listed) == 5
    seen = data.ratings.loc[data.ratings[USER_COL] == user_id, MOVIE_COL]
    assert not listed[MOVIE_COL].isin(seen).any()
    rows = np.column_stack(
        [
            np.full(5, enc.encode_users([user_id])[0]),
            enc.encode_movies(listed[MOVIE_COL].to_numpy()),
        ]
    )
    np.testing.assert_allclose(listed[PREDICTION_COL], kinds.predict(model, rows), rtol=1e-6)

    movie_id = int(enc.movies.classes_[0])
    near = similar.similar_movies(model, enc, data.movies, movie_id, k=4)
    assert len(near) == 4 and movie_id not in set(near[MOVIE_COL])
    Q = biased_mf.movie_factors(model)
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    expected = np.sort(Q @ Q[0])[::-1][1:5]  # cosine to movie 0, itself left out
    np.testing.assert_allclose(near["similarity"], expected, rtol=1e-5)


def test_recommend_works_with_every_kind(trained, data, kind_name):
    model, kind = trained[kind_name], kinds.get(kind_name)
    enc = data.encoder
    user_id = int(data.ratings[USER_COL].iloc[-1])
    listed = recommend.recommend(model, enc, data.ratings, data.movies, user_id, k=5)
    assert len(listed) == 5 and list(listed.index) == [1, 2, 3, 4, 5]
    seen = data.ratings.loc[data.ratings[USER_COL] == user_id, MOVIE_COL]
    assert not listed[MOVIE_COL].isin(seen).any()
    user = int(enc.encode_users([user_id])[0])
    movie_idx = enc.encode_movies(listed[MOVIE_COL].to_numpy())
    scores = kinds.score_users(model, [user])[0][movie_idx]
    assert (np.diff(scores) <= 1e-6).all(), "listed best first by the contract's score"
    if kind.predicts_ratings:
        rows = np.column_stack([np.full(len(movie_idx), user), movie_idx])
        expected = kinds.predict(model, rows)
    else:
        expected = scores
    np.testing.assert_allclose(listed[PREDICTION_COL], expected, rtol=1e-6)


# --------------------------------------------------------------- a kind that asks for context

SECONDS_PER_YEAR = 365.25 * 24 * 3600


def build_dated_mf(encoder=None, *, n_users=None, n_movies=None, n_factors=4):
    """A dot product plus a learned trend in the year of the rating (a kind with context)."""
    n_users, n_movies, n_factors = models.architecture(encoder, n_users, n_movies, n_factors)
    users = keras.Input(shape=(1,), dtype="int32", name="users")
    movies = keras.Input(shape=(1,), dtype="int32", name="movies")
    years = keras.Input(shape=(1,), dtype="float32", name="years")
    u = keras.layers.Flatten()(keras.layers.Embedding(n_users, n_factors, name="u")(users))
    m = keras.layers.Flatten()(keras.layers.Embedding(n_movies, n_factors, name="m")(movies))
    dot = keras.layers.Dot(axes=1)([u, m])
    trend = keras.layers.Dense(1, name="trend")(years)
    return keras.Model([users, movies, years], keras.layers.Add()([dot, trend]), name="dated_mf")


def _years(timestamps) -> np.ndarray:
    """Years since 2000 of Unix timestamps, float32 (the model's third input)."""
    return (np.asarray(timestamps, dtype=np.float64) / SECONDS_PER_YEAR - 30).astype(np.float32)


class DatedMFKind(kinds.ModelKind):
    name = "dated_mf"
    label = "dated MF"
    context = ("timestamp",)  # each rating's time; a reference time when scoring

    def build(self, encoder=None, **kwargs):
        return build_dated_mf(encoder, **kwargs)

    def sizes(self, model):
        return model.get_layer("u").input_dim, model.get_layer("m").input_dim

    def inputs(self, model, X, context=None):
        X = kinds.check_rows(X, *self.sizes(model))
        return [X[:, 0], X[:, 1], _years(context["timestamp"])]

    def score_users(self, model, users, context=None):
        U, M = _weights(model, "u")[users], _weights(model, "m")
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.get_layer("trend").weights)
        trend = float(_years([context["timestamp"]])[0] * kernel[0, 0] + bias[0])
        return U @ M.T + trend

    def movie_factors(self, model):
        return _weights(model, "m")


@pytest.fixture
def dated_mf():
    kinds.register(DatedMFKind)
    yield kinds.get(DatedMFKind.name)
    kinds.unregister(DatedMFKind.name)


def test_a_kind_that_asks_for_the_timestamp_gets_it_from_the_split(dated_mf, trained, data, eager):
    split = data.split
    assert set(split.context["train"]) == {"timestamp"}  # the splits carry it by default
    train.set_seed()
    model = dated_mf.build(data.encoder, n_factors=N_FACTORS)
    inputs, targets = split.for_model(model, "val")
    np.testing.assert_array_equal(inputs[2], _years(split.context["val"]["timestamp"]))
    history = train.fit(model, split, config=CONFIG, validation="val")
    assert np.isfinite(history["val_loss"]).all()

    # Ratings are predicted at their own time; the table compares it with a kind that ignores it.
    X, y = split.part("test")
    at_their_time = kinds.predict(model, X, split.context["test"])
    now = float(split.context["test"]["timestamp"].max())
    table = evaluate.compare(
        {"dated": model, "v2": trained["v2"]}, split, k=5, context={"timestamp": now}
    )
    expected = float(np.sqrt(np.mean((at_their_time - y) ** 2)))
    assert table.loc["dated", "rmse"] == pytest.approx(expected, rel=1e-5)
    assert train.rating_metrics(model, split)["rmse"] == pytest.approx(expected, rel=1e-5)

    # Every movie is scored at a reference time, exactly as a rating made then is predicted.
    users = np.unique(X[:, 0])[:3]
    scores = evaluate.score_users(model, users, context={"timestamp": now})
    pairs = _all_pairs(users, data.encoder.n_movies)
    at_now = kinds.predict(model, pairs, {"timestamp": np.full(len(pairs), now)})
    np.testing.assert_allclose(scores.reshape(-1), at_now, rtol=1e-5, atol=1e-6)
    recs = evaluate.top_k(model, split, k=3, context={"timestamp": now})
    assert len(recs) == 3 * len(np.unique(split.X_train[:, 0]))


def test_a_split_without_the_context_a_kind_needs_is_a_clear_error(dated_mf, data):
    from reco.split import train_val_test_split

    bare = train_val_test_split(data.encoded, context=())  # carries no timestamp
    assert bare.context == {}
    model = dated_mf.build(data.encoder, n_factors=N_FACTORS)
    with pytest.raises(ValueError, match=r"needs the per-rating context \['timestamp'\].*Fix"):
        train.fit(model, bare, config=CONFIG)
    np.testing.assert_array_equal(bare.X_test, data.split.X_test)  # context never moves rows
