"""Bad input reported in issue 16, each reproduced on the old code: a clear error now.

One test per case that ranks, trains, recommends or compares (the data layer's,
the baselines' and the report's cases are tested in their own modules). Every
message must name the problem and the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from synthetic import make_dataset, split_of

from reco import baselines, evaluate, kinds, recommend, similar, train
from reco.config import TrainConfig

DATA = make_dataset()
QUICK = TrainConfig(batch_size=64, epochs=1, lr=1e-2)


@pytest.fixture(scope="module")
def v2(kind_models, kind_data):
    """A V2 of 4 factors trained on DATA (the session's, ``conftest.kind_models``)."""
    assert kind_data.ratings.equals(DATA.ratings)  # the same synthetic data set
    return kind_models["v2"]


# --------------------------------------------------------------------------- NaN scores


def test_nan_scores_are_refused_where_lists_are_ranked():
    scores = np.array([[3.0, np.nan, 2.0, 1.0]])
    with pytest.raises(ValueError, match=r"1 NaN value\(s\), in 1 row\(s\).*Fix"):
        evaluate.rank_scores(scores, 2, np.arange(4))


class _NaNBaseline(baselines.PopularityBaseline):
    """A learner's baseline whose 0/0 gives NaN for two movies."""

    def score_users(self, users):
        scores = np.array(super().score_users(users), dtype=np.float64)
        scores[:, :2] = np.nan
        return scores


def test_a_model_giving_nan_scores_is_named_with_the_count():
    model = _NaNBaseline().fit(DATA.split)
    n_users = len(np.unique(DATA.split.X_train[:, 0]))
    with pytest.raises(ValueError, match=rf"'_NaNBaseline' gave {2 * n_users} NaN score"):
        evaluate.top_k(model, DATA.split)
    user_id = DATA.encoder.users.classes_[0]
    with pytest.raises(ValueError, match="NaN score"):
        recommend.recommend(model, DATA.encoder, DATA.ratings, DATA.movies, user_id)


# --------------------------------------------------------------------------- duplicates


def _with_duplicate_test_row(split):
    X = np.vstack([split.X_test, split.X_test[:1]])
    y = np.append(split.y_test, 5.0).astype(np.float32)
    return split_of(
        [(*x, r) for x, r in zip(split.X_train.tolist(), split.y_train, strict=True)],
        [(*x, r) for x, r in zip(X.tolist(), y, strict=True)],
        n_users=split.n_users,
        n_movies=split.n_movies,
    )


def test_duplicate_test_rows_are_a_clear_error_in_every_ranking_entry_point(v2):
    split = _with_duplicate_test_row(DATA.split)
    recs = evaluate.top_k(v2, split)
    for call in (
        lambda: evaluate.ranking_metrics(recs, split),
        lambda: evaluate.metrics_by_activity(recs, split),
        lambda: evaluate.compare({"V2": v2}, split),
    ):
        with pytest.raises(ValueError, match=r"the test part: 2 rows share 1 \(user, movie\)"):
            call()


def test_the_same_list_passed_twice_is_refused_not_counted_twice(v2):
    recs = evaluate.top_k(v2, DATA.split)
    once = evaluate.ranking_metrics(recs, DATA.split)
    assert once["precision"] <= 1.0
    with pytest.raises(ValueError, match=r"recs: .*rows share.*Fix: pass each user's list once"):
        evaluate.ranking_metrics(pd.concat([recs, recs]), DATA.split, k=1)


# --------------------------------------------------------------------------- ids and indices


def test_string_ids_in_similar_movies_and_movie_map_name_the_dtype(v2):
    as_text = DATA.ratings.assign(movieId=DATA.ratings["movieId"].astype(str))
    movie_id = DATA.encoder.movies.classes_[0]
    with pytest.raises(ValueError, match=r"holds object values.*\.astype\(int\)"):
        similar.similar_movies(v2, DATA.encoder, DATA.movies, movie_id, ratings=as_text)
    with pytest.raises(ValueError, match=r"holds object values.*\.astype\(int\)"):
        similar.movie_map(v2, DATA.encoder, DATA.movies, as_text, min_ratings=1)


@pytest.mark.parametrize("index", [2**31, 2**32, -1])
def test_an_index_that_would_wrap_in_int32_is_refused_before_the_cast(v2, index):
    X = np.array([[0, 0], [index, 1]], dtype=np.int64)
    with pytest.raises(ValueError, match=rf"user index {index} is outside the model's"):
        train.predict_ratings(v2, X)
    with pytest.raises(ValueError, match=r"user indices must lie in"):
        evaluate.score_users(v2, np.array([index], dtype=np.int64))


# --------------------------------------------------------------------------- sizes and settings


def test_ranking_metrics_with_a_huge_k_allocate_for_the_catalogue_only(v2):
    recs = evaluate.top_k(v2, DATA.split, k=10**9)
    metrics = evaluate.ranking_metrics(recs, DATA.split, k=10**9)  # used to allocate 7.5 GiB
    assert 0 <= metrics["ndcg"] <= 1
    assert metrics["recall"] == pytest.approx(1.0)  # every candidate is listed


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), 0.0, -1e-3, "fast"])
def test_a_learning_rate_that_is_not_finite_and_positive_is_refused(lr):
    with pytest.raises(ValueError, match=r"TrainConfig.lr must be a finite positive.*Fix"):
        TrainConfig(batch_size=64, epochs=1, lr=lr)


def _empty_training_part():
    return split_of([], n_users=DATA.split.n_users, n_movies=DATA.split.n_movies)


@pytest.mark.parametrize("name", [*train.MODEL_NAMES, "implicit_mf"])
def test_training_on_an_empty_part_is_a_clear_error_for_every_kind(name):
    model = train.build_model(name, DATA.encoder, n_factors=2)
    with pytest.raises(ValueError, match=r"training part holds no ratings.*Fix"):
        train.fit(model, _empty_training_part(), config=QUICK)


def test_the_deprecated_fit_implicit_refuses_an_empty_part_too():
    from reco import implicit

    model = implicit.build_implicit_mf(DATA.encoder, n_factors=2)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="no ratings"):
        implicit.fit_implicit(model, _empty_training_part(), config=QUICK)


def test_recommend_warns_when_the_ratings_hold_nothing_of_the_user(v2):
    user_id = DATA.encoder.users.classes_[0]
    others = DATA.ratings[DATA.ratings["userId"] != user_id]
    with pytest.warns(UserWarning, match=r"holds no rating by user .*Fix: pass the whole"):
        recommend.recommend(v2, DATA.encoder, others, DATA.movies, user_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the whole table: no warning
        recommend.recommend(v2, DATA.encoder, DATA.ratings, DATA.movies, user_id)


def test_an_unknown_loss_names_the_ones_the_kind_accepts(v2):
    with pytest.raises(
        ValueError, match=r"'v2' model trains with the loss \['mean_squared_error'\]"
    ):
        train.fit(v2, DATA.split, config=QUICK, loss="logistic")


def test_the_implicit_model_predicts_no_ratings_and_says_what_to_use():
    from reco import implicit

    model = implicit.build_implicit_mf(DATA.encoder, n_factors=2)
    assert not kinds.predicts_ratings(model)
    with pytest.raises(ValueError, match=r"predicts no ratings. Fix: rank with"):
        train.predict_ratings(model, DATA.split.X_test)
