"""Tests of reco.baselines on hand-made splits, with the expected values worked out by hand.

No Keras model is trained here: the baselines are numpy only.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_dataset, split_of

from reco import baselines, evaluate
from reco.baselines import (
    EASE,
    Baseline,
    BiasBaseline,
    DampedMeanBaseline,
    GenreMeanBaseline,
    PopularityBaseline,
    RandomBaseline,
)
from reco.split import Split

BASELINES = (RandomBaseline, PopularityBaseline, DampedMeanBaseline, BiasBaseline)
PREDICTORS = (DampedMeanBaseline, BiasBaseline)


@pytest.fixture(scope="module")
def split():
    return make_dataset(n_users=25, n_movies=40, density=0.3).split


# --------------------------------------------------------------------------- the estimator shape


@pytest.mark.parametrize("cls", BASELINES)
def test_fit_returns_self_and_scores_every_movie_for_each_user(cls, split):
    baseline = cls()
    assert baseline.fit(split) is baseline
    scores = baseline.score_users([3, 0, 3])
    assert scores.shape == (3, split.n_movies)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores[0], scores[2])


@pytest.mark.parametrize("cls", [*BASELINES, EASE])
def test_every_baseline_is_a_baseline_that_says_whether_it_predicts_ratings(cls):
    assert issubclass(cls, Baseline) and baselines._Baseline is Baseline
    assert cls.predicts_ratings is (cls in PREDICTORS)
    assert cls.predicts_ratings == hasattr(cls, "predict")
    assert "predicts_ratings" in Baseline.__doc__ and "score_users" in Baseline.__doc__


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("cls", [*BASELINES, EASE])
def test_fit_refuses_nan_or_infinite_training_ratings(cls, bad):
    split = split_of([(0, 0, 4.0), (1, 1, bad), (1, 0, 3.0)], n_users=2, n_movies=2)
    with pytest.raises(ValueError, match=r"1 rating\(s\) that are NaN or infinite") as excinfo:
        cls().fit(split)
    assert "row 1 (user 1, movie 1)" in str(excinfo.value) and "Fix:" in str(excinfo.value)


@pytest.mark.parametrize("cls", [*BASELINES, EASE])
def test_fit_refuses_an_empty_training_part(cls):
    with pytest.raises(ValueError, match="training part is empty.*Fix:"):
        cls().fit(split_of([], n_users=2, n_movies=2))


@pytest.mark.parametrize("cls", BASELINES)
def test_an_unfitted_baseline_says_to_call_fit(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__} is not fitted yet.*\.fit\(split\)"):
        cls().score_users([0])


@pytest.mark.parametrize(
    "cls",
    [
        DampedMeanBaseline,
        BiasBaseline,
    ],
)
def test_predict_before_fit_says_to_call_fit(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__} is not fitted yet"):
        cls().predict(np.array([[0, 0]]))


@pytest.mark.parametrize("cls", BASELINES)
def test_bad_user_indices_are_a_clear_error(cls, split):
    baseline = cls().fit(split)
    for users in ([split.n_users], [-1], [0, split.n_users + 5]):
        with pytest.raises(
            ValueError, match=rf"user indices must lie in \[0, {split.n_users - 1}\]"
        ):
            baseline.score_users(users)


@pytest.mark.parametrize("cls", PREDICTORS)
def test_predict_rejects_rows_outside_the_catalogue_or_of_the_wrong_shape(cls, split):
    baseline = cls().fit(split)
    with pytest.raises(ValueError, match="movie indices must lie in"):
        baseline.predict(np.array([[0, split.n_movies]]))
    with pytest.raises(ValueError, match="user indices must lie in"):
        baseline.predict(np.array([[-1, 0]]))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        baseline.predict(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="integer"):
        baseline.predict(np.array([[0.5, 1.0]]))
    assert baseline.predict(np.empty((0, 2), dtype=np.int32)).shape == (0,)


@pytest.mark.parametrize("cls", BASELINES)
def test_fit_takes_a_split_and_names_the_fix(cls, split):
    with pytest.raises(ValueError, match="course_split"):
        cls().fit((split.X_train, split.y_train))


def test_the_repr_shows_the_settings():
    assert repr(BiasBaseline(reg_user=1.0)) == (
        "BiasBaseline(reg_user=1.0, reg_movie=10.0, n_epochs=10)"
    )
    assert repr(DampedMeanBaseline(damping=3)) == "DampedMeanBaseline(damping=3)"


def test_the_catalogue_comes_from_the_split_sizes_when_it_has_them():
    # Only users 0..1 and movies 0..1 have ratings, but the encoding knows 4 and 6.
    small = split_of([(0, 0, 4.0), (1, 1, 2.0)], n_users=4, n_movies=6)
    assert PopularityBaseline().fit(small).score_users([3]).shape == (1, 6)
    inferred = split_of([(0, 0, 4.0), (1, 1, 2.0)], [(0, 2, 3.0)])
    assert PopularityBaseline().fit(inferred).score_users([1]).shape == (1, 3)


# --------------------------------------------------------------------------- random


def test_random_scores_are_seeded_and_do_not_depend_on_the_other_users(split):
    baseline = RandomBaseline(seed=7).fit(split)
    together = baseline.score_users([0, 3, 5])
    np.testing.assert_array_equal(baseline.score_users([3]), together[[1]])
    np.testing.assert_array_equal(RandomBaseline(seed=7).fit(split).score_users([0]), together[:1])
    assert not np.array_equal(RandomBaseline(seed=8).fit(split).score_users([0]), together[:1])
    assert not np.array_equal(together[0], together[1])  # users get different lists
    assert ((together >= 0) & (together < 1)).all()


def test_random_scores_for_no_users_are_an_empty_array(split):
    assert RandomBaseline().fit(split).score_users([]).shape == (0, split.n_movies)


# --------------------------------------------------------------------------- popularity


def test_popularity_scores_count_the_training_ratings():
    # Training ratings per movie 0..3: 1, 3, 0, 2 (the test rating of movie 2 is not counted).
    split = split_of(
        [(0, 0, 1.0), (0, 1, 5.0), (1, 1, 2.0), (2, 1, 4.0), (1, 3, 3.0), (2, 3, 3.0)],
        [(0, 2, 5.0)],
    )
    scores = PopularityBaseline().fit(split).score_users([0, 1, 2])
    np.testing.assert_array_equal(scores, np.tile([1.0, 3.0, 0.0, 2.0], (3, 1)))
    # Its lists: most rated first, minus what the user rated (user 0 rated 0 and 1).
    recs = evaluate.top_k(PopularityBaseline().fit(split), split, k=2)
    assert recs.loc[recs["user"] == 0, "movie"].tolist() == [3, 2]
    assert recs.loc[recs["user"] == 2, "movie"].tolist() == [0, 2]


# --------------------------------------------------------------------------- damped mean


def damped_split() -> Split:
    # Movie 0: 5, 5; movie 1: 1; movie 2: no training rating. Global mean = 11/3.
    return split_of([(0, 0, 5.0), (1, 0, 5.0), (0, 1, 1.0)], [(1, 2, 4.0)])


def test_damped_means_by_hand():
    # damping 1: movie 0 = (10 + 11/3) / 3 = 41/9; movie 1 = (1 + 11/3) / 2 = 7/3;
    # movie 2 = (0 + 11/3) / 1 = 11/3 (the global mean).
    baseline = DampedMeanBaseline(damping=1.0).fit(damped_split())
    assert baseline.global_mean_ == pytest.approx(11 / 3)
    np.testing.assert_allclose(baseline.means_, [41 / 9, 7 / 3, 11 / 3])
    np.testing.assert_allclose(
        baseline.predict(np.array([[1, 1], [0, 2], [1, 0]])), [7 / 3, 11 / 3, 41 / 9]
    )
    np.testing.assert_allclose(
        baseline.score_users([0, 1]), np.tile([41 / 9, 7 / 3, 11 / 3], (2, 1))
    )


def test_no_damping_gives_plain_means_and_the_global_mean_for_unrated_movies():
    baseline = DampedMeanBaseline(damping=0.0).fit(damped_split())
    np.testing.assert_allclose(baseline.means_, [5.0, 1.0, 11 / 3])


def test_heavy_damping_pulls_every_movie_to_the_global_mean():
    means = DampedMeanBaseline(damping=1e9).fit(damped_split()).means_
    np.testing.assert_allclose(means, 11 / 3, rtol=1e-8)


@pytest.mark.parametrize("damping", [-1.0, float("nan")])
def test_negative_damping_is_rejected(damping):
    with pytest.raises(ValueError, match="damping must be zero or positive"):
        DampedMeanBaseline(damping=damping).fit(damped_split())


# --------------------------------------------------------------------------- biases


def surprise_als(split: Split, n_users, n_movies, reg_user=15.0, reg_movie=10.0, n_epochs=10):
    """Surprise's ``baseline_als``, written as its loops: movie biases, then user biases."""
    mu = float(np.mean(split.y_train, dtype=np.float64))
    by_movie = [[] for _ in range(n_movies)]
    by_user = [[] for _ in range(n_users)]
    for (u, m), r in zip(split.X_train, split.y_train, strict=True):
        by_movie[m].append((u, float(r)))
        by_user[u].append((m, float(r)))
    b_u, b_m = np.zeros(n_users), np.zeros(n_movies)
    for _ in range(n_epochs):
        for m, rated in enumerate(by_movie):
            b_m[m] = sum(r - mu - b_u[u] for u, r in rated) / (reg_movie + len(rated) or 1)
        for u, rated in enumerate(by_user):
            b_u[u] = sum(r - mu - b_m[m] for m, r in rated) / (reg_user + len(rated) or 1)
    return mu, b_u, b_m


def bias_split() -> Split:
    # User 0 rated movie 0 5 stars and movie 1 4 stars; user 1 rated movie 0 3 stars. mu = 4.
    return split_of([(0, 0, 5.0), (0, 1, 4.0), (1, 0, 3.0)], [(1, 1, 4.0)])


def test_one_als_sweep_by_hand():
    # reg = 1. Movies first, from zero user biases: b_m0 = (1 + -1) / (1 + 2) = 0,
    # b_m1 = 0 / (1 + 1) = 0. Then users: b_u0 = (1 + 0) / (1 + 2) = 1/3, b_u1 = -1 / (1 + 1).
    baseline = BiasBaseline(reg_user=1.0, reg_movie=1.0, n_epochs=1).fit(bias_split())
    assert baseline.global_mean_ == pytest.approx(4.0)
    np.testing.assert_allclose(baseline.movie_bias_, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(baseline.user_bias_, [1 / 3, -1 / 2])


def test_two_als_sweeps_by_hand():
    # Sweep 2: b_m0 = ((5-4-1/3) + (3-4+1/2)) / 3 = 1/18; b_m1 = (4-4-1/3) / 2 = -1/6;
    # b_u0 = ((5-4-1/18) + (4-4+1/6)) / 3 = 10/27; b_u1 = (3-4-1/18) / 2 = -19/36.
    # predict(user 1, movie 1) = 4 - 19/36 - 1/6 = 4 - 25/36.
    baseline = BiasBaseline(reg_user=1.0, reg_movie=1.0, n_epochs=2).fit(bias_split())
    np.testing.assert_allclose(baseline.movie_bias_, [1 / 18, -1 / 6])
    np.testing.assert_allclose(baseline.user_bias_, [10 / 27, -19 / 36])
    np.testing.assert_allclose(baseline.predict(np.array([[1, 1]])), [4 - 25 / 36])


@pytest.mark.parametrize(
    ("reg_user", "reg_movie", "n_epochs"), [(15.0, 10.0, 10), (0.5, 2.0, 3), (0.0, 0.0, 1)]
)
def test_biases_match_surprises_als_loops(split, reg_user, reg_movie, n_epochs):
    baseline = BiasBaseline(reg_user=reg_user, reg_movie=reg_movie, n_epochs=n_epochs).fit(split)
    mu, b_u, b_m = surprise_als(split, split.n_users, split.n_movies, reg_user, reg_movie, n_epochs)
    assert baseline.global_mean_ == pytest.approx(mu)
    np.testing.assert_allclose(baseline.user_bias_, b_u, atol=1e-12)
    np.testing.assert_allclose(baseline.movie_bias_, b_m, atol=1e-12)
    assert np.abs(b_u).max() > 0.01 and np.abs(b_m).max() > 0.01  # not a trivial zero fit


def test_predict_and_score_users_are_mu_plus_the_two_biases(split):
    baseline = BiasBaseline().fit(split)
    X = split.X_test
    expected = baseline.global_mean_ + baseline.user_bias_[X[:, 0]] + baseline.movie_bias_[X[:, 1]]
    np.testing.assert_allclose(baseline.predict(X), expected)
    scores = baseline.score_users([2, 7])
    np.testing.assert_allclose(scores[1, X[0, 1]], baseline.predict(np.array([[7, X[0, 1]]]))[0])
    # For one user, the list ranks movies by their bias.
    np.testing.assert_array_equal(
        np.argsort(-scores[0], kind="stable"), np.argsort(-baseline.movie_bias_, kind="stable")
    )


def test_biases_without_shrinkage_recover_additive_ratings():
    # Ratings that are exactly mu + b_u + b_m are fitted exactly by unregularised ALS.
    rng = np.random.default_rng(0)
    b_u, b_m = rng.normal(0, 0.5, 6), rng.normal(0, 0.5, 8)
    u, m = np.nonzero(rng.random((6, 8)) < 0.7)
    y = 3.5 + b_u[u] + b_m[m]
    split = Split(np.column_stack([u, m]).astype(np.int32), y, np.array([[0, 0]]), y[:1])
    baseline = BiasBaseline(reg_user=0.0, reg_movie=0.0, n_epochs=300).fit(split)
    np.testing.assert_allclose(baseline.predict(split.X_train), y, atol=1e-6)


def test_movies_and_users_without_training_ratings_get_zero_bias():
    split = split_of([(0, 0, 5.0), (1, 0, 3.0)], n_users=3, n_movies=2)
    baseline = BiasBaseline().fit(split)
    assert baseline.user_bias_[2] == 0.0 and baseline.movie_bias_[1] == 0.0
    assert baseline.predict(np.array([[2, 1]]))[0] == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"reg_user": -1.0}, "zero or positive"),
        ({"reg_movie": -0.1}, "zero or positive"),
        ({"n_epochs": 0}, "n_epochs must be at least 1"),
        ({"n_epochs": True}, "n_epochs must be a positive integer"),
    ],
)
def test_bad_bias_settings_are_rejected_at_fit(settings, message):
    with pytest.raises(ValueError, match=message):
        BiasBaseline(**settings).fit(bias_split())


# --------------------------------------------------------------------------- EASE


def ease_split() -> Split:
    """A 0/1 history of 5 users over 4 rated movies; movie 4 is only in the test part.

    Stars are ignored by EASE: a training rating of any value is a 1.
    """
    rated = [(0, 0), (0, 1), (0, 3), (1, 1), (1, 2), (2, 0), (2, 2), (2, 3), (3, 3), (4, 0), (4, 1)]
    stars = np.resize([1.0, 5.0, 3.5], len(rated))
    train = [(u, m, r) for (u, m), r in zip(rated, stars, strict=True)]
    return split_of(train, [(3, 4, 5.0), (1, 0, 4.0)], n_users=6, n_movies=5)


def ease_closed_form(X: np.ndarray, lam: float) -> np.ndarray:
    """Steck's B = I - P diagMat(1 / diag(P)), P = (X^T X + lam I)^-1, in float64."""
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P / np.diag(P)  # column j divided by P_jj


def history_of(split: Split) -> np.ndarray:
    X = np.zeros((split.n_users, split.n_movies))
    X[split.X_train[:, 0], split.X_train[:, 1]] = 1.0
    return X


@pytest.mark.parametrize("lam", [0.5, 3.0])
def test_ease_weights_are_the_closed_form(lam):
    split = ease_split()
    ease = EASE(lam=lam)
    assert ease.fit(split) is ease
    X = history_of(split)[:, :4]  # movie 4 has no training rating: left out of B
    expected = ease_closed_form(X, lam)
    np.testing.assert_array_equal(ease.movies_, [0, 1, 2, 3])
    np.testing.assert_allclose(ease.weights_, expected, atol=1e-4)
    np.testing.assert_array_equal(np.diag(ease.weights_), 0.0)
    off_diagonal = ~np.eye(4, dtype=bool)
    assert np.abs(expected[off_diagonal]).min() > 1e-3  # no trivial zeros
    assert not np.allclose(expected, expected.T, atol=1e-3)  # dividing rows would differ


def test_ease_scores_are_the_history_times_the_weights_over_the_catalogue():
    split = ease_split()
    ease = EASE(lam=0.5).fit(split)
    X = history_of(split)
    expected = np.zeros((6, 5))
    expected[:, :4] = X[:, :4] @ ease_closed_form(X[:, :4], 0.5)
    users = [3, 0, 5, 3]  # user 5 has no training rating: all scores 0
    scores = ease.score_users(users)
    assert scores.shape == (4, 5)
    np.testing.assert_allclose(scores, expected[users], atol=1e-4)
    np.testing.assert_array_equal(scores[:, 4], 0.0)  # the movie with no training rating
    np.testing.assert_array_equal(scores[2], 0.0)
    np.testing.assert_allclose(evaluate.score_users(ease, users, n_movies=5), scores)


def test_ease_ranks_a_movie_that_co_occurs_above_one_that_never_does():
    # Movies 0 and 1 are rated together (users 0-2); movie 2 only with movie 3 (users 3-4).
    # User 5 rated movie 0 alone: movie 1 co-occurs with it, movie 2 never does.
    split = split_of(
        [(0, 0, 4.0), (0, 1, 2.0), (1, 0, 5.0), (1, 1, 3.0), (2, 1, 4.0),
         (3, 2, 4.0), (3, 3, 1.0), (4, 2, 5.0), (4, 3, 4.0), (5, 0, 3.0)],
        [(5, 1, 5.0)],
    )  # fmt: skip
    ease = EASE(lam=1.0).fit(split)
    scores = ease.score_users([5])[0]
    assert scores[1] > 0.1 and scores[1] > scores[2]
    assert scores[2] == pytest.approx(0.0, abs=1e-6)
    recs = evaluate.top_k(ease, split, k=1)
    assert recs.loc[recs["user"] == 5, "movie"].tolist() == [1]


@pytest.mark.parametrize("lam", [0.0, -1.0, float("nan"), float("inf"), None, "big"])
def test_ease_needs_a_positive_finite_lambda(lam):
    with pytest.raises(ValueError, match=r"lam must be positive and finite.*Fix: .*200"):
        EASE(lam=lam).fit(ease_split())


def test_ease_says_to_call_fit_before_scoring():
    with pytest.raises(ValueError, match=r"EASE is not fitted yet.*\.fit\(split\)"):
        EASE().score_users([0])
    with pytest.raises(ValueError, match=r"user indices must lie in \[0, 5\]"):
        EASE().fit(ease_split()).score_users([6])
    assert repr(EASE(lam=3.0)) == "EASE(lam=3.0)"


def test_ease_refuses_a_catalogue_too_big_for_memory_and_names_the_fix():
    n_movies = 20_000  # 20,000 x 20,000 float32 matrices: several GiB
    split = split_of([(0, m, 4.0) for m in range(n_movies)], n_users=1, n_movies=n_movies)
    with pytest.raises(ValueError, match=r"n_movies=20,000 .* needs about 6\.\d GiB") as excinfo:
        EASE().fit(split)
    message = str(excinfo.value)
    assert "over the 4 GiB" in message and "MAX_MODEL_BYTES" in message and "Fix:" in message
    ease = EASE()
    with pytest.raises(ValueError):
        ease.fit(split)
    assert not hasattr(ease, "n_movies_")  # refused before anything was set: still unfitted


# --------------------------------------------------------------------------- genre means


def _genre_split():
    # movies 0 and 1 are Comedy, movie 2 Comedy|Drama, movie 3 Drama and never rated,
    # movie 4 has no genre and is never rated
    rows = [(0, 0, 4.0), (0, 2, 2.0), (1, 1, 5.0), (1, 2, 3.0)]
    genres = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32)
    return split_of(rows, n_users=2, n_movies=5), genres


def test_genre_means_worked_by_hand():
    split, genres = _genre_split()
    baseline = GenreMeanBaseline(genres, damping=2.0).fit(split)
    mean = 3.5
    comedy = (4 + 2 + 5 + 3 + 2 * mean) / (4 + 2)
    drama = (2 + 3 + 2 * mean) / (2 + 2)
    expected = [comedy, comedy, (comedy + drama) / 2, drama, mean]
    np.testing.assert_allclose(baseline.movie_means_, expected)
    # a movie nobody rated is predicted from its genres alone
    np.testing.assert_allclose(baseline.predict(np.array([[0, 3], [1, 4]])), [drama, mean])
    scores = baseline.score_users([0, 1])
    np.testing.assert_allclose(scores[0], expected)
    assert not baseline.user_offsets_.any()


def test_genre_means_with_user_offsets():
    split, genres = _genre_split()
    plain = GenreMeanBaseline(genres, damping=2.0).fit(split)
    biased = GenreMeanBaseline(genres, damping=2.0, user_bias=True).fit(split)
    residual = split.y_train - plain.movie_means_[split.X_train[:, 1]]
    for user in (0, 1):
        mine = residual[split.X_train[:, 0] == user]
        assert biased.user_offsets_[user] == pytest.approx(mine.sum() / (len(mine) + 2.0))
    X = np.array([[0, 3], [1, 3]])
    np.testing.assert_allclose(biased.predict(X), plain.predict(X) + biased.user_offsets_)
    assert biased.user_offsets_[1] > 0 > biased.user_offsets_[0]  # user 1 rates higher


def test_genre_means_refuse_genres_of_another_catalogue_and_bad_ratings():
    split, genres = _genre_split()
    with pytest.raises(ValueError, match="one row per movie.*genre_matrix"):
        GenreMeanBaseline(genres[:3]).fit(split)
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="damping"):
            GenreMeanBaseline(genres, damping=bad).fit(split)
    bad = split_of([(0, 0, 4.0), (1, 1, float("nan"))], n_users=2, n_movies=5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        GenreMeanBaseline(genres).fit(bad)
    assert GenreMeanBaseline.predicts_ratings


def test_without_damping_a_genre_no_one_rated_gets_the_global_mean():
    split, genres = _genre_split()  # genre 1 (Drama) is rated: movie 2; take it away
    only_comedy = split_of([(0, 0, 4.0), (1, 1, 5.0)], n_users=2, n_movies=5)
    baseline = GenreMeanBaseline(genres, damping=0.0, user_bias=True).fit(only_comedy)
    np.testing.assert_allclose(baseline.movie_means_, [4.5, 4.5, 4.5, 4.5, 4.5])
    assert np.isfinite(baseline.user_offsets_).all()


def test_ease_memory_grows_with_the_square_of_the_catalogue_and_is_what_fit_checks():
    small, double = baselines.ease_memory(100, 1_000), baselines.ease_memory(100, 2_000)
    assert double - 2 * small == pytest.approx(4 * 4.5 * (2_000**2 - 2 * 1_000**2))
    # the GiB the refusal above names: 20,000 movies and 1,000 users need about 6.8
    assert baselines.ease_memory(1_000, 20_000) / 1024**3 == pytest.approx(6.78, abs=0.05)
