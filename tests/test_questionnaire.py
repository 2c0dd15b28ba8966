"""Tests of reco.questionnaire: held-out users, question orders, and a fair comparison.

On synthetic ratings (60 users, 40 movies) with baselines only: no training.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from synthetic import make_ratings
from test_time_split import TEST_START, VAL_START, cold_start_ratings

from reco import baselines
from reco.questionnaire import (
    asked,
    new_user_split,
    new_users_after,
    question_order,
    questionnaire_lists,
    questionnaire_metrics,
)
from reco.split import encode_ids, merge_val, time_split, train_val_test_split


@pytest.fixture(scope="module")
def encoded():
    return encode_ids(make_ratings(n_users=60, n_movies=40, density=0.5, seed=3))[0]


@pytest.fixture(scope="module")
def new_users(encoded):
    return new_user_split(encoded, val_users=0.2, test_users=0.2, seed=0)


def _rows(X):
    return {tuple(r) for r in np.asarray(X).tolist()}


def test_held_out_users_are_not_in_training_and_their_ratings_are_pool_or_target(
    encoded, new_users
):
    split = new_users.split
    train_users = set(split.X_train[:, 0].tolist())
    val_users, test_users = set(split.X_val[:, 0].tolist()), set(split.X_test[:, 0].tolist())
    assert not (train_users & val_users) and not (train_users & test_users)
    assert not (val_users & test_users)
    everything = _rows(encoded[["user", "movie"]].to_numpy())
    pieces = [
        split.X_train,
        split.X_val,
        split.X_test,
        *(new_users.pool(p)[0] for p in ("val", "test")),
    ]
    assert sum(len(p) for p in pieces) == len(everything)  # each rating in one piece
    assert set().union(*map(_rows, pieces)) == everything
    for part, X_target in (("val", split.X_val), ("test", split.X_test)):
        X_pool, _ = new_users.pool(part)
        assert set(X_pool[:, 0].tolist()) == set(X_target[:, 0].tolist())
        for user in np.unique(X_pool[:, 0]):
            n_pool, n_target = (int((X[:, 0] == user).sum()) for X in (X_pool, X_target))
            assert n_pool == int(np.ceil((n_pool + n_target) * 0.5))


def test_pool_sizes_round_up_exactly():
    # every user rates all 100 movies: 0.55 * 100 is 55.00000000000001 in floating point
    full = encode_ids(make_ratings(n_users=10, n_movies=100, density=1.0, seed=0))[0]
    split = new_user_split(full, val_users=0.2, test_users=0.2, pool_fraction=0.55, seed=0)
    X_pool, X_target = split.pool("val")[0], split.split.X_val
    for user in np.unique(X_pool[:, 0]):
        n_pool, n_target = (int((X[:, 0] == user).sum()) for X in (X_pool, X_target))
        assert n_pool == math.ceil(Fraction(55, 100) * (n_pool + n_target))


def test_the_same_seed_gives_the_same_split_and_another_seed_another(encoded, new_users):
    again = new_user_split(encoded, val_users=0.2, test_users=0.2, seed=0)
    np.testing.assert_array_equal(again.split.X_train, new_users.split.X_train)
    np.testing.assert_array_equal(again.pool("val")[0], new_users.pool("val")[0])
    other = new_user_split(encoded, val_users=0.2, test_users=0.2, seed=1)
    assert not np.array_equal(other.split.X_val, new_users.split.X_val)


def test_question_orders_list_each_training_movie_once(new_users):
    split = new_users.split
    counts = np.bincount(split.X_train[:, 1], minlength=split.n_movies)
    rated = np.flatnonzero(counts)
    factors = np.random.default_rng(0).normal(size=(split.n_movies, 3))
    for strategy in ("popular", "random", "varied"):
        order = question_order(strategy, split, movie_factors=factors, n_candidates=10)
        assert sorted(order.tolist()) == rated.tolist(), strategy
    popular = question_order("popular", split)
    assert (np.diff(counts[popular]) <= 0).all()
    varied = question_order("varied", split, movie_factors=factors, n_candidates=10)
    assert varied[0] == popular[0]  # starts from the most popular movie
    assert set(varied[:10]) == set(popular[:10])  # varies among the candidates only
    np.testing.assert_array_equal(varied[10:], popular[10:])
    # the second question is the candidate farthest from the first
    F = factors[popular[:10]] / np.linalg.norm(factors[popular[:10]], axis=1, keepdims=True)
    assert varied[1] == popular[:10][int(np.argmin(F @ F[0]))]


def test_bad_strategies_are_clear_errors(new_users):
    with pytest.raises(ValueError, match="strategy must be one of"):
        question_order("smart", new_users.split)
    with pytest.raises(ValueError, match="needs movie factors.*Fix"):
        question_order("varied", new_users.split)


def test_a_user_answers_the_first_movies_of_the_order_that_are_in_their_pool(new_users):
    X_pool, y_pool = new_users.pool("val")
    order = question_order("random", new_users.split, seed=5)
    answers = asked(order, (X_pool, y_pool), 3)
    place = {m: i for i, m in enumerate(order.tolist())}
    for user, (movies, stars) in answers.items():
        mine = X_pool[X_pool[:, 0] == user, 1]
        in_order = sorted((m for m in mine.tolist() if m in place), key=place.get)
        assert movies.tolist() == in_order[:3]
        for movie, star in zip(movies, stars, strict=True):
            assert star == y_pool[(X_pool[:, 0] == user) & (X_pool[:, 1] == movie)][0]
    assert all(len(m) == 0 for m, _ in asked(order, (X_pool, y_pool), 0).values())


def test_popularity_scores_the_same_whatever_is_asked(new_users):
    """The trap: with the whole pool out of the candidates, the questions cannot move popularity."""
    split = new_users.split
    popularity = baselines.PopularityBaseline().fit(split)
    factors = np.random.default_rng(1).normal(size=(split.n_movies, 3))
    runs = [
        questionnaire_metrics(
            popularity, new_users, question_order(s, split, movie_factors=factors), n
        )
        for s in ("popular", "random", "varied")
        for n in (1, 5)
    ]
    for run in runs[1:]:
        np.testing.assert_array_equal(run["ndcg"].to_numpy(), runs[0]["ndcg"].to_numpy())


def test_answers_change_eases_lists_and_no_pool_movie_is_listed(new_users):
    split = new_users.split
    ease = baselines.EASE(lam=5.0).fit(split)
    order = question_order("popular", split)
    none, some = (questionnaire_metrics(ease, new_users, order, n, k=5) for n in (0, 10))
    assert list(none.index) == list(some.index)
    assert not np.array_equal(none["ndcg"].to_numpy(), some["ndcg"].to_numpy())
    # with no answers EASE scores nothing, so its lists are popularity's
    popularity = baselines.PopularityBaseline().fit(split)
    np.testing.assert_array_equal(
        none["ndcg"].to_numpy(),
        questionnaire_metrics(popularity, new_users, order, 0, k=5)["ndcg"].to_numpy(),
    )
    lists = questionnaire_lists(ease, new_users, order, 10, k=5)
    X_pool, _ = new_users.pool("val")
    assert len(lists) == 5 * len(np.unique(X_pool[:, 0]))
    assert not _rows(lists[["user", "movie"]].to_numpy()) & _rows(X_pool)
    trained = set(split.X_train[:, 1].tolist())
    assert set(lists["movie"].tolist()) <= trained


def test_bad_shares_are_refused(encoded):
    with pytest.raises(ValueError, match="val_users and test_users"):
        new_user_split(encoded, val_users=0.6, test_users=0.5)
    with pytest.raises(ValueError, match="pool_fraction"):
        new_user_split(encoded, pool_fraction=1.0)
    with pytest.raises(ValueError, match="part must be"):
        new_user_split(encoded).pool("train")


def test_new_users_after_a_cut_are_the_test_users_and_their_ratings_pool_or_target(encoded):
    cold = encode_ids(cold_start_ratings())[0]
    final = merge_val(time_split(cold, val_start=VAL_START, test_start=TEST_START))
    after = new_users_after(final, seed=1)
    test_X, test_y = final.X_test, final.y_test
    new = ~np.isin(test_X[:, 0], final.X_train[:, 0])
    assert new.any() and not new.all()  # the synthetic cut leaves known users too
    pool_X, pool_y = after.pool("test")
    targets = after.split
    assert _rows(pool_X) | _rows(targets.X_test) == _rows(test_X[new])
    assert not _rows(pool_X) & _rows(targets.X_test)
    assert not np.isin(pool_X[:, 0], final.X_train[:, 0]).any()
    for user in np.unique(test_X[new, 0]):
        n = int((test_X[new, 0] == user).sum())
        assert int((pool_X[:, 0] == user).sum()) == math.ceil(n / 2)
    np.testing.assert_array_equal(targets.X_train, final.X_train)
    lookup = dict(zip(map(tuple, test_X.tolist()), test_y.tolist(), strict=True))
    assert [lookup[tuple(r)] for r in pool_X.tolist()] == pool_y.tolist()
    with pytest.raises(ValueError, match=r"part must be one of \['test'\]"):
        after.pool("val")
    with pytest.raises(ValueError, match="no user without training ratings"):
        new_users_after(train_val_test_split(encoded))
    with pytest.raises(ValueError, match="pool_fraction"):
        new_users_after(final, pool_fraction=1.0)
