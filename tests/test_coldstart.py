"""Tests of reco.coldstart and reco.recommend.recommend_new_user: folding a new user in.

The ridge and softmax fold-ins are checked on arrays whose answer is known;
the kinds' fold-ins, EASE's and popularity's scores of a new user, and the
list of a new user on the session's trained models (conftest's ``course``
and ``implicit``), with no training here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad

from reco import baselines, coldstart, evaluate, kinds
from reco.coldstart import fold_in, given_ratings, ridge_fold_in, softmax_fold_in
from reco.recommend import recommend_new_user


@pytest.fixture(scope="module")
def v2(course):
    return course.models["v2"]


@pytest.fixture(scope="module")
def data(course):
    return course.data


def _given(data, user, n=None):
    """A known user's ratings as the raw ``{movieId: stars}`` a questionnaire would give."""
    rows = data.ratings[data.ratings["userId"] == data.encoder.decode_users([user])[0]]
    rows = rows.head(n) if n else rows
    return dict(zip(rows["movieId"].tolist(), rows["rating"].tolist(), strict=True))


# --------------------------------------------------------------------------- the arithmetic


def test_ridge_fold_in_recovers_a_user_the_targets_came_from():
    rng = np.random.default_rng(0)
    M, bias = rng.normal(size=(40, 3)), rng.normal(size=40) * 0.3
    u, b = np.array([0.5, -0.2, 0.1]), 0.3
    logits = M @ u + b + bias
    stars = 1 + 9 / (1 + np.exp(-logits))  # V2's output on a 1..10 scale
    rated = np.arange(25)
    folded = ridge_fold_in(M, bias, rated, stars[rated], (1.0, 10.0), l2=1e-8, margin=0.0)
    np.testing.assert_allclose(folded.factors, [*u, b], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(folded.scores, logits, rtol=1e-4, atol=1e-4)  # unrated movies too
    np.testing.assert_allclose(folded.stars, stars, rtol=1e-4)


def test_ridge_fold_in_keeps_ratings_at_the_ends_of_the_range_finite():
    rng = np.random.default_rng(1)
    M, bias = rng.normal(size=(10, 2)), np.zeros(10)
    folded = ridge_fold_in(M, bias, np.arange(4), np.array([0.5, 5.0, 5.0, 0.5]), (0.5, 5.0))
    assert np.isfinite(folded.scores).all() and np.isfinite(folded.stars).all()
    # a larger penalty shrinks the user towards the movies' own biases
    strong = ridge_fold_in(
        M, bias, np.arange(4), np.array([0.5, 5.0, 5.0, 0.5]), (0.5, 5.0), l2=1e6
    )
    assert np.abs(strong.factors).max() < 1e-4 < np.abs(folded.factors).max()


def test_softmax_fold_in_reaches_its_optimum_and_ranks_the_liked_movies_up():
    rng = np.random.default_rng(2)
    W, c = rng.normal(size=(4, 30)), rng.normal(size=30) * 0.1
    liked = np.array([3, 7, 11])
    folded = softmax_fold_in(W, c, liked, l2=0.1)
    u = folded.factors.astype(np.float64)

    def loss(v):
        logits = v @ W + c
        log_z = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
        return -(logits[liked].sum() - len(liked) * log_z) + 0.1 * v @ v

    def grad(v):
        p = np.exp(v @ W + c - (v @ W + c).max())
        p /= p.sum()
        return -(W[:, liked].sum(axis=1) - len(liked) * W @ p) + 0.2 * v

    assert check_grad(loss, grad, rng.normal(size=4)) < 1e-4  # the gradient used is right
    assert np.linalg.norm(grad(u)) < 1e-3  # and L-BFGS stopped at the optimum
    assert loss(u) < loss(np.zeros(4))
    assert folded.scores[liked].mean() > np.median(folded.scores)
    assert folded.stars is None
    # no liked movies: the prior alone, a popularity ranking
    np.testing.assert_allclose(softmax_fold_in(W, c, []).scores, c, rtol=1e-6)


# --------------------------------------------------------------------------- the kinds


@pytest.mark.parametrize("name", ["v2", "recommender_net_v2"])
def test_a_user_whose_ratings_the_model_predicts_is_folded_back_to_its_own_vector(course, name):
    """Stars the model itself predicts for a trained user give back that user's factors and bias."""
    model, user = course.models[name], 0
    kind = kinds.kind_of(model)
    n_movies = kinds.sizes(model)[1]
    movies = np.arange(n_movies)
    stars = kinds.predict(model, np.column_stack([np.full(n_movies, user), movies]))
    lo, hi = kind.rating_range(model)
    inside = (stars > lo + 0.25) & (stars < hi - 0.25)  # targets the margin does not clip
    assert inside.sum() > kind.movie_factors(model).shape[1] + 1  # more equations than unknowns
    folded = fold_in(model, movies[inside], stars[inside], l2=1e-9)
    np.testing.assert_allclose(folded.stars, stars, rtol=1e-3, atol=1e-3)  # every movie
    own = evaluate.score_users(model, [user])[0]
    np.testing.assert_allclose(folded.scores, own, rtol=1e-3, atol=1e-3)


def test_a_margin_that_leaves_no_room_is_refused():
    with pytest.raises(ValueError, match="margin=0.25 stars leaves no room.*Fix"):
        ridge_fold_in(np.ones((3, 1)), np.zeros(3), [0], [0.2], (0.0, 0.4))


def test_a_known_user_folded_in_from_their_ratings_is_ranked_like_the_model(v2, data, course):
    """Folded in from their training ratings, a trained user gets nearly the model's own scores."""
    split = course.split
    user = 0
    rows = split.X_train[:, 0] == user
    movies, idx = np.unique(split.X_train[rows, 1], return_index=True)
    folded = fold_in(v2, movies, split.y_train[rows][idx], l2=1.0)
    own = evaluate.score_users(v2, [user])[0]
    assert np.corrcoef(folded.scores, own)[0, 1] > 0.5


def test_the_implicit_model_folds_in_from_positives_only(implicit):
    model = implicit.multinomial[0]
    prior = model.get_layer("movie_scores").get_weights()[1]
    low = fold_in(model, np.array([0, 1, 2]), np.array([3.0, 2.0, 3.5]), l2=1.0)
    np.testing.assert_allclose(low.scores, prior, rtol=1e-6)  # nothing liked: the prior
    liked = fold_in(model, np.array([0, 1, 2]), np.array([5.0, 4.0, 3.0]), l2=1.0)
    assert liked.scores[[0, 1]].mean() > low.scores[[0, 1]].mean()


@pytest.mark.parametrize("name", ["v1", "recommender_net"])
def test_a_kind_that_cannot_fold_in_says_so(course, name):
    with pytest.raises(ValueError, match="cannot fold in a new user.*Fix"):
        fold_in(course.models[name], np.array([0]), np.array([5.0]))


def test_ease_scores_a_new_user_as_a_trained_one(course):
    split = course.split
    ease = baselines.EASE(lam=5.0).fit(split)
    user = 3
    movies = np.unique(split.X_train[split.X_train[:, 0] == user, 1])
    folded = fold_in(ease, movies, np.full(len(movies), 5.0))
    np.testing.assert_allclose(folded.scores, ease.score_users([user])[0], rtol=1e-5, atol=1e-6)
    popularity = baselines.PopularityBaseline().fit(split)
    np.testing.assert_array_equal(fold_in(popularity, movies, movies).scores, popularity.counts_)
    with pytest.raises(ValueError, match=r"movie indices must lie in \[0, .*Fix"):
        ease.score_history([split.n_movies])
    with pytest.raises(ValueError, match="cannot score a new user"):
        fold_in(baselines.RandomBaseline().fit(split), movies, movies)


# --------------------------------------------------------------------------- the input


def test_given_ratings_as_a_mapping_or_a_table_agree(data):
    given = _given(data, 1, n=4)
    table = pd.DataFrame({"movieId": list(given), "rating": list(given.values())})
    a, b = given_ratings(data.encoder, given), given_ratings(data.encoder, table)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(data.encoder.decode_movies(a[0]), list(given))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({10**9: 4.0}, r"1 movie id\(s\) the model does not know: \[1000000000\].*Fix"),
        ({"first": 4.0}, "does not know"),
        ({"movie": 4.0}.keys(), "must be a mapping"),
        (pd.DataFrame({"movieId": [1]}), "need columns 'movieId' and 'rating'"),
    ],
)
def test_bad_given_ratings_are_clear_errors(data, given, message):
    with pytest.raises(ValueError, match=message):
        given_ratings(data.encoder, given, (1.0, 10.0))


def test_given_ratings_outside_the_range_or_missing_are_refused(data):
    movie = int(data.encoder.movies.classes_[0])
    with pytest.raises(ValueError, match=r"rating 11 of movie .* outside the model's range"):
        given_ratings(data.encoder, {movie: 11.0}, (1.0, 10.0))
    with pytest.raises(ValueError, match="missing or infinite"):
        given_ratings(data.encoder, {movie: float("nan")}, (1.0, 10.0))
    table = pd.DataFrame({"movieId": [movie, movie], "rating": [3.0, 4.0]})
    with pytest.raises(ValueError, match="given 2 times"):
        given_ratings(data.encoder, table)


# --------------------------------------------------------------------------- the list


def test_a_new_users_list_leaves_out_what_they_rated(v2, data):
    given = _given(data, 2, n=5)
    recs = recommend_new_user(v2, data.encoder, data.ratings, data.movies, given, k=6)
    assert len(recs) == 6 and list(recs.index) == list(range(1, 7))
    assert not set(recs["movieId"]) & set(given)
    # a movie with no rating in `ratings` is never recommended: nothing was learned of it
    rated = data.ratings[data.ratings["movieId"] != recs["movieId"].iloc[0]]
    again = recommend_new_user(v2, data.encoder, rated, data.movies, given, k=6)
    assert recs["movieId"].iloc[0] not in set(again["movieId"])
    assert recs["prediction"].is_monotonic_decreasing
    folded = fold_in(v2, *given_ratings(data.encoder, given), l2=coldstart.FOLD_IN_L2)
    best = data.encoder.encode_movies(recs["movieId"].to_numpy())
    np.testing.assert_allclose(recs["prediction"], folded.stars[best], rtol=1e-6)


def test_a_new_user_with_no_ratings_gets_the_popular_movies_and_a_warning(v2, data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = recommend_new_user(v2, data.encoder, data.ratings, data.movies, {}, k=3)
    assert any("no ratings were given" in str(w.message) for w in caught)
    counts = data.ratings["movieId"].value_counts()
    assert recs["prediction"].tolist() == sorted(counts.to_numpy(), reverse=True)[:3]
    assert counts[recs["movieId"]].tolist() == recs["prediction"].tolist()


def test_a_new_users_bad_rating_is_refused_before_anything_is_computed(v2, data):
    movie = int(data.encoder.movies.classes_[0])
    with pytest.raises(ValueError, match="outside the model's range"):
        recommend_new_user(v2, data.encoder, data.ratings, data.movies, {movie: 0.0})


def test_folding_in_many_users_at_once_gives_each_user_their_own_solve():
    """The joint solve of softmax_fold_in_many separates: each user gets their own optimum."""
    rng = np.random.default_rng(3)
    W, c = rng.normal(size=(6, 40)), rng.normal(size=40) * 0.1
    lists = [np.array([1, 5]), np.array([], dtype=np.int64), np.array([2, 9, 30, 31])]
    many = coldstart.softmax_fold_in_many(W, c, lists, l2=0.1)
    assert len(many) == 3
    for movies, joint in zip(lists, many, strict=True):
        alone = softmax_fold_in(W, c, movies, l2=0.1)
        np.testing.assert_allclose(joint.scores, alone.scores, atol=1e-4)
    np.testing.assert_allclose(many[1].scores, c, rtol=1e-6)  # no movies: the prior
    assert not np.allclose(many[0].factors, many[2].factors, atol=1e-3)


@pytest.mark.parametrize("which", ["v2", "implicit", "ease"])
def test_fold_in_many_gives_what_fold_in_gives_each_user(course, implicit, which):
    """reco.coldstart.fold_in_many: each kind's batch, or the loop, equals one user at a time."""
    if which == "ease":
        model = baselines.EASE(lam=10.0).fit(course.split)
    else:
        model = course.models["v2"] if which == "v2" else implicit.multinomial[0]
    answers = [
        (np.array([0, 1, 2]), np.array([5.0, 4.0, 3.0])),
        (np.array([3]), np.array([2.0])),  # nothing liked, for the implicit model
        (np.array([4, 5]), np.array([4.5, 5.0])),
    ]
    many = coldstart.fold_in_many(model, answers, l2=1.0)
    for (movies, stars), joint in zip(answers, many, strict=True):
        alone = fold_in(model, movies, stars, l2=1.0)
        np.testing.assert_allclose(joint.scores, alone.scores, atol=1e-4)
