"""Tests of reco.feature_model: V2 with genres, release decade and date features.

The contract every kind meets (shapes, one example alone equals it in a
batch, a safe-mode round trip in a fresh process, ``score_users`` ranking as
the predictions) is tested over every registered kind in test_kinds.py, this
one included. Here: what is particular to it. Unknown users and movies are
masked (their ID rows count for nothing), the two embeddings' sizes differ,
the side table pools genres and one-hots decades, the date features read
nothing but their own rating, and a movie no one rated is scored from its
genres. The models are tiny (20 users, 30 movies) and train eagerly.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from synthetic import make_dataset

from reco import evaluate, feature_model, kinds, train
from reco.config import TrainConfig
from reco.feature_model import DECADES, build_feature_model, reference_year, side_table
from reco.features import MovieFeatures, movie_features, year_of
from reco.split import Split

#: One gradient step a fit (the data hold about 240 training ratings): enough to move
#: every weight that trains, and cheap eagerly.
ONE_STEP = TrainConfig(batch_size=512, epochs=1, lr=1e-2)


@pytest.fixture(scope="module")
def data():
    return make_dataset()


@pytest.fixture(scope="module")
def features(data):
    return movie_features(data.movies, data.encoder)


def _held_out_split(data, users=(), movies=()):
    """The dataset's split with every training rating of ``users`` and ``movies`` moved out."""
    split = data.split
    drop = np.isin(split.X_train[:, 0], users) | np.isin(split.X_train[:, 1], movies)
    context = {**split.context, "train": {c: v[~drop] for c, v in split.context["train"].items()}}
    return Split(
        split.X_train[~drop],
        split.y_train[~drop],
        object.__getattribute__(split, "X_test"),
        object.__getattribute__(split, "y_test"),
        split.X_val,
        split.y_val,
        n_users=split.n_users,
        n_movies=split.n_movies,
        context=context,
    )


def _model(data, features, split=None, **kwargs):
    train.set_seed()
    return build_feature_model(
        data.encoder, features=features, trained_on=split or data.split, n_factors=4, **kwargs
    )


def _stars(model, X, years=None):
    X = np.asarray(X, dtype=np.int32)
    when = np.full(len(X), reference_year(model) if years is None else years, np.float32)
    out = model([X[:, 0], X[:, 1], when], training=False)
    return keras.ops.convert_to_numpy(out).reshape(-1)


def _set_rows(model, layer, rows, value):
    weights = model.get_layer(layer).get_weights()
    weights[0][rows] = value
    model.get_layer(layer).set_weights(weights)


def test_user_and_movie_embeddings_differ_in_size(data, features):
    model = _model(data, features, side_factors=3)
    assert model.get_layer("user_embedding").output_dim == 4 + 3
    assert model.get_layer("movie_embedding").output_dim == 4
    assert model.get_layer("side_embedding").kernel.shape == (side_table(features).shape[1], 3)


def test_unknown_movies_and_users_ignore_their_id_rows(data, features):
    """A movie or user with no training ratings: its ID factors and bias count for nothing."""
    new_user, new_movie = 2, 5
    split = _held_out_split(data, users=[new_user], movies=[new_movie])
    model = _model(data, features, split)
    pairs = np.array([[new_user, 0], [new_user, 7], [1, new_movie], [3, new_movie], [1, 0]])
    before = _stars(model, pairs)
    for layer in ("user_embedding", "user_bias"):
        _set_rows(model, layer, new_user, 5.0)
    for layer in ("movie_embedding", "movie_bias"):
        _set_rows(model, layer, new_movie, 5.0)
    np.testing.assert_allclose(_stars(model, pairs), before, rtol=1e-6, atol=1e-6)
    # the same rows of a known user move the prediction: the mask is what kept it still
    _set_rows(model, "user_embedding", 1, 5.0)
    assert abs(_stars(model, [[1, 0]])[0] - before[-1]) > 1e-3


def test_a_new_movie_is_scored_by_its_genres_and_decade(data):
    """Two unrated movies with the same genres and decade get the same score; others do not."""
    n = data.encoder.n_movies
    genres = np.zeros((n, 3), np.float32)
    genres[:, 0] = 1.0
    genres[1, :] = [0.0, 1.0, 1.0]
    year = np.full(n, 1995.0, np.float32)
    features = MovieFeatures(genres, ("A", "B", "C"), year)
    split = _held_out_split(data, movies=[0, 1, 2])
    model = _model(data, features, split)
    _set_rows(model, "side_bias", slice(None), 0.0)  # kernel (n_side, 1): genres and decades
    weights = model.get_layer("side_bias").get_weights()
    weights[0][:3, 0] = [0.0, 0.5, 0.5]  # genres B and C raise the score
    model.get_layer("side_bias").set_weights(weights)
    s = _stars(model, [[4, 0], [4, 2], [4, 1]])
    assert s[0] == pytest.approx(s[1], abs=1e-6)  # movies 0 and 2: genre A, 1995
    assert s[2] > s[0] + 0.05  # movie 1: genres B and C


def test_side_table_pools_genres_and_one_hots_decades():
    genres = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 1]], np.float32)
    features = MovieFeatures(genres, ("A", "B", "C"), np.array([1995.0, np.nan, 1850.0]))
    table = side_table(features)
    assert table.shape == (3, 3 + 1 + len(DECADES) + 1)
    np.testing.assert_allclose(table[0, :4], [0.5, 0.5, 0.0, 0.0])  # mean of two genres
    np.testing.assert_allclose(table[1, :4], [0.0, 0.0, 0.0, 1.0])  # "(no genres listed)"
    decades = table[:, 4:]
    assert decades.sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert decades[0, DECADES.index(1990)] == 1.0
    assert decades[1, -1] == 1.0  # unknown year
    assert decades[2, 0] == 1.0  # before 1900 joins the first decade


def test_date_features_use_only_the_rating_and_its_movie(data, features):
    model = _model(data, features)
    dates = keras.Model(model.inputs, model.get_layer("date_features").output)
    movies = np.array([0, 1, 2], np.int32)
    when = np.array([2001.5, 2010.0, 1990.0], np.float32)
    out = keras.ops.convert_to_numpy(dates([np.zeros(3, np.int32), movies, when]))
    ref = reference_year(model)
    np.testing.assert_allclose(out[:, 0], (when - ref) / 10, rtol=1e-5)
    released = features.year[movies]
    np.testing.assert_allclose(out[:, 1], np.maximum(when - released, 0) / 10, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[:, 2], 1.0)
    # one row alone gives the same features as in the batch: nothing is pooled across ratings
    alone = keras.ops.convert_to_numpy(dates([np.zeros(1, np.int32), movies[1:2], when[1:2]]))
    np.testing.assert_allclose(alone[0], out[1], rtol=1e-6)


def test_reference_year_is_the_end_of_training_and_the_default_time(data, features):
    model = _model(data, features)
    last = float(np.max(data.split.context["train"]["timestamp"]))
    assert reference_year(model) == pytest.approx(float(year_of([last])[0]), abs=1e-4)
    X = data.split.X_val[:5]
    at_end = kinds.predict(model, X, {"timestamp": np.full(len(X), last)})
    np.testing.assert_allclose(kinds.predict(model, X), at_end, rtol=1e-5)


def test_training_reads_each_ratings_own_timestamp(data, features):
    model = _model(data, features)
    inputs, _ = data.split.for_model(model, "train")
    np.testing.assert_allclose(
        inputs[2], year_of(data.split.context["train"]["timestamp"]).astype(np.float32)
    )


def test_the_same_seed_gives_the_same_weights_and_lookups_do_not_train(data, features, eager):
    lookups = ("movie_side", "release_year", "year_known", "user_known", "movie_known")
    runs = []
    for _ in range(2):
        model = _model(data, features)
        fixed = {name: model.get_layer(name).get_weights()[0].copy() for name in lookups}
        train.fit(model, data.split, config=ONE_STEP)
        runs.append([w.copy() for w in model.get_weights()])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    for name, before in fixed.items():
        assert not model.get_layer(name).trainable
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], before, err_msg=name)
    untrained = _model(data, features).get_layer("user_embedding").get_weights()[0]
    assert not np.array_equal(model.get_layer("user_embedding").get_weights()[0], untrained)


def test_a_cross_model_loads_in_safe_mode_after_importing_the_module(data, features, tmp_path):
    pytest.importorskip("keras_rs")
    model = _model(data, features, cross=True)
    assert model.get_layer("feature_cross").__class__.__module__.startswith("keras_rs")
    path = tmp_path / "cross.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)  # reco.feature_model imports KerasRS
    X = data.split.X_val[:6]
    np.testing.assert_allclose(kinds.predict(loaded, X), kinds.predict(model, X), rtol=1e-6)
    scores = evaluate.score_users(loaded, [0, 1])
    assert scores.shape == (2, data.encoder.n_movies) and np.isfinite(scores).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": "genres"}, "must be a reco.features.MovieFeatures"),
        ({"side_factors": 0}, "side_factors"),
    ],
)
def test_bad_builder_arguments_are_clear_errors(data, features, change, message):
    kwargs = {"features": features, **change}
    with pytest.raises(ValueError, match=message):
        build_feature_model(data.encoder, **kwargs)


def test_a_model_without_date_features_scores_at_any_time(data, features):
    model = _model(data, features, date_features=False)
    X = data.split.X_val[:5]
    early = kinds.predict(model, X, {"timestamp": np.full(len(X), 0)})
    np.testing.assert_allclose(kinds.predict(model, X), early, rtol=1e-6)  # no time: 2000
    scores = evaluate.score_users(model, [0, 1])
    assert scores.shape == (2, data.encoder.n_movies) and np.isfinite(scores).all()


def test_lists_are_scored_at_one_moment(data, features):
    model = _model(data, features)
    with pytest.raises(ValueError, match="one moment.*2 distinct values.*Fix"):
        evaluate.score_users(model, [0], context={"timestamp": np.array([0, 10**9])})


def test_features_of_another_catalogue_are_refused(data, features):
    short = MovieFeatures(features.genres[:-1], features.genre_names, features.year[:-1])
    with pytest.raises(ValueError, match="same encoder"):
        build_feature_model(data.encoder, features=short)


def test_timestamps_that_do_not_match_the_rows_are_refused(data, features):
    model = _model(data, features)
    X = data.split.X_val[:4]
    with pytest.raises(ValueError, match="3 timestamps for 4"):
        kinds.predict(model, X, {"timestamp": np.zeros(3)})


def test_release_years_come_from_the_catalogue_not_the_ratings(data, features):
    """The model's year tables are movies.csv's, whatever the ratings say."""
    model = _model(data, features)
    table = model.get_layer("release_year").get_weights()[0].reshape(-1)
    np.testing.assert_allclose(table, np.nan_to_num(features.year), rtol=1e-6)
    shuffled = movie_features(data.movies.sample(frac=1.0, random_state=0), data.encoder)
    np.testing.assert_array_equal(shuffled.year, features.year)
    assert feature_model.FeatureKind.context == ("timestamp",)
