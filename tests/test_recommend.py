"""Tests of reco.recommend on a tiny hand-made data set and a model with known scores."""

import numpy as np
import pandas as pd
import pytest

from reco.constants import DEFAULT_K
from reco.recommend import by_movie_bias, rated_by, recommend
from reco.split import encode_ids

# Movie ids are sparse and not in score order, so sorting by id would not pass by luck.
MOVIE_IDS = [10, 20, 30, 40, 50, 60, 70]
MOVIES = pd.DataFrame(
    {
        "movieId": MOVIE_IDS,
        "title": [f"Title of {m}" for m in MOVIE_IDS],
        "genres": [f"Genre{m}|Drama" for m in MOVIE_IDS],
    }
).iloc[::-1]  # rows in another order than the ids, to check the join
# User 1 rated 10, 30 and 70; user 2 rated 20, 40, 50, 60 (and nothing else).
RATINGS = pd.DataFrame(
    {
        "userId": [1, 1, 1, 2, 2, 2, 2, 5],
        "movieId": [10, 30, 70, 20, 40, 50, 60, 10],
        "rating": np.array([4.0, 5.0, 4.0, 3.0, 1.5, 5.0, 2.0, 3.5], dtype=np.float32),
        "timestamp": np.arange(8, dtype=np.int64),
    }
)
# Predicted stars for each movie id (the same for every user), with a tie at 4.5.
SCORES = {10: 5.0, 20: 1.0, 30: 4.9, 40: 4.5, 50: 2.0, 60: 4.5, 70: 3.0}


class ScoreByMovie:
    """Stands in for a Keras model: a fixed score per movie, whatever the user.

    Callable like a Keras model (``model(inputs, training=False)``) and with a
    ``predict`` method, so it works whichever one ``predict_ratings`` uses.
    """

    def __init__(self, encoder, scores_by_id):
        ids = encoder.decode_movies(np.arange(encoder.n_movies))
        self.table = np.array([scores_by_id[int(m)] for m in ids], dtype=np.float32)
        self.calls = []

    def __call__(self, inputs, training=False):
        users, movies = (np.asarray(a).reshape(-1) for a in inputs)
        self.calls.append((users, movies))
        return self.table[movies].reshape(-1, 1)

    def predict(self, inputs, batch_size=None, verbose=0):
        return self(inputs)


@pytest.fixture
def setup():
    _, encoder = encode_ids(RATINGS)
    return ScoreByMovie(encoder, SCORES), encoder


def test_recommend_excludes_rated_and_orders_by_prediction(setup):
    model, encoder = setup
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=1)
    # User 1 rated 10, 30, 70; the rest sorted by score, the tie 40/60 by id.
    assert out["movieId"].tolist() == [40, 60, 50, 20]
    assert out["prediction"].tolist() == [4.5, 4.5, 2.0, 1.0]
    assert list(out.columns) == ["movieId", "title", "genres", "prediction"]
    assert out.index.tolist() == [1, 2, 3, 4] and out.index.name == "rank"


def test_recommend_joins_the_right_titles_and_genres(setup):
    model, encoder = setup
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=2)
    assert out["movieId"].tolist() == [10, 30, 70]
    assert out["title"].tolist() == ["Title of 10", "Title of 30", "Title of 70"]
    assert out["genres"].tolist() == ["Genre10|Drama", "Genre30|Drama", "Genre70|Drama"]


def test_recommend_respects_k_and_can_keep_rated_movies(setup):
    model, encoder = setup
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=1, k=2, exclude_rated=False)
    assert out["movieId"].tolist() == [10, 30]
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=1, k=1)
    assert out["movieId"].tolist() == [40]


def test_recommend_default_k_and_fewer_left_than_k(setup):
    model, encoder = setup
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=5, exclude_rated=False)
    assert len(out) == min(DEFAULT_K, len(MOVIE_IDS))
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=5, k=100)
    assert sorted(out["movieId"]) == [20, 30, 40, 50, 60, 70]


def test_recommend_asks_the_model_about_one_user_and_every_candidate(setup):
    model, encoder = setup
    recommend(model, encoder, RATINGS, MOVIES, user_id=2)
    users = np.concatenate([u for u, _ in model.calls])
    movies = np.concatenate([m for _, m in model.calls])
    assert set(users.tolist()) == {int(encoder.encode_users([2])[0])}
    assert sorted(encoder.decode_movies(movies).tolist()) == [10, 30, 70]


def test_ties_are_broken_by_movie_id_whatever_the_model_order(setup):
    _, encoder = setup
    flat = ScoreByMovie(encoder, dict.fromkeys(MOVIE_IDS, 3.0))
    out = recommend(flat, encoder, RATINGS, MOVIES, user_id=5, k=3)
    assert out["movieId"].tolist() == [20, 30, 40]
    again = recommend(
        flat,
        encoder,
        RATINGS.sample(frac=1, random_state=0),
        MOVIES.sample(frac=1, random_state=1),
        user_id=5,
        k=3,
    )
    pd.testing.assert_frame_equal(out, again)


def test_unknown_user_is_a_clear_error(setup):
    model, encoder = setup
    with pytest.raises(ValueError, match=r"unknown user id 999.*encoder\.users\.classes_"):
        recommend(model, encoder, RATINGS, MOVIES, user_id=999)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_a_clear_error(setup, k):
    model, encoder = setup
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recommend(model, encoder, RATINGS, MOVIES, user_id=1, k=k)


def test_missing_movie_columns_are_named(setup):
    model, encoder = setup
    with pytest.raises(ValueError, match=r"movies table has no column\(s\) \['genres'\]"):
        recommend(model, encoder, RATINGS, MOVIES.drop(columns="genres"), user_id=1)


def test_rated_by_lists_highest_rated_first():
    out = rated_by(RATINGS, MOVIES, user_id=1)
    assert out["movieId"].tolist() == [30, 10, 70]
    assert out["rating"].tolist() == [5.0, 4.0, 4.0]
    assert out["n_ratings"].tolist() == [1, 2, 1]  # movie 10 is rated by users 1 and 5
    assert out["title"].tolist() == ["Title of 30", "Title of 10", "Title of 70"]
    assert list(out.columns) == ["movieId", "title", "genres", "rating", "n_ratings"]
    assert rated_by(RATINGS, MOVIES, user_id=2, n=2)["movieId"].tolist() == [50, 20]


def test_rated_by_breaks_ties_by_popularity_then_id():
    # User 7 gives 4 stars to 10, 40, 60 and 70; 70 has 3 ratings in all, 40 and 60 two each.
    extra = pd.DataFrame(
        {
            "userId": [7, 7, 7, 7, 8, 8],
            "movieId": [10, 70, 60, 40, 70, 70],
            "rating": np.float32(4.0),
            "timestamp": np.arange(6, dtype=np.int64),
        }
    )
    table = pd.concat([RATINGS, extra], ignore_index=True)
    out = rated_by(table, MOVIES, user_id=7)
    assert out["movieId"].tolist() == [70, 10, 40, 60]
    assert out["n_ratings"].tolist() == [4, 3, 2, 2]
    shuffled = rated_by(table.sample(frac=1, random_state=0), MOVIES, user_id=7)
    pd.testing.assert_frame_equal(out, shuffled)


def test_rated_by_unknown_user_and_bad_n():
    with pytest.raises(ValueError, match=r"user id 999 has no ratings.*unique\(\)"):
        rated_by(RATINGS, MOVIES, user_id=999)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        rated_by(RATINGS, MOVIES, user_id=1, n=0)


def test_recommend_with_a_real_model_speaks_stars():
    """With RecommenderNetV2 (trained on [0, 1]) the list still holds stars."""
    from reco.train import ORIGINAL_SETTINGS, build_model, predict_ratings

    _, encoder = encode_ids(RATINGS)
    model = build_model(
        "net_v2", encoder.n_users, encoder.n_movies, config=ORIGINAL_SETTINGS, n_factors=3
    )
    out = recommend(model, encoder, RATINGS, MOVIES, user_id=1, k=DEFAULT_K)
    assert out["movieId"].tolist() and not set(out["movieId"]) & {10, 30, 70}
    assert out["prediction"].between(0.5, 5.0).all()
    assert out["prediction"].is_monotonic_decreasing
    user = encoder.encode_users([1])[0]
    X = np.array([[user, m] for m in encoder.encode_movies(out["movieId"])], dtype=np.int32)
    np.testing.assert_allclose(out["prediction"].to_numpy(), predict_ratings(model, X), rtol=1e-6)


def _v2_with_movie_bias(encoder, bias_by_id):
    from reco.models import build_v2

    model = build_v2(encoder.n_users, encoder.n_movies, n_factors=2)
    ids = encoder.decode_movies(np.arange(encoder.n_movies))
    bias = np.array([[bias_by_id[int(m)]] for m in ids], dtype=np.float32)
    model.get_layer("movie_bias").set_weights([bias])
    return model


def test_by_movie_bias_ranks_unrated_movies_by_bias_ties_by_id():
    _, encoder = encode_ids(RATINGS)
    bias = {10: 2.0, 20: -1.0, 30: 1.5, 40: 0.5, 50: 0.7, 60: 0.5, 70: 3.0}
    model = _v2_with_movie_bias(encoder, bias)
    out = by_movie_bias(model, encoder, RATINGS, MOVIES, user_id=1)
    assert out["movieId"].tolist() == [50, 40, 60, 20]  # 10, 30, 70 rated; 40/60 tie by id
    np.testing.assert_allclose(out["movie_bias"], [0.7, 0.5, 0.5, -1.0])
    assert list(out.columns) == ["movieId", "title", "genres", "movie_bias"]
    assert out.index.tolist() == [1, 2, 3, 4] and out.index.name == "rank"
    top = by_movie_bias(model, encoder, RATINGS, MOVIES, user_id=5, k=2, exclude_rated=False)
    assert top["movieId"].tolist() == [70, 10]


def test_by_movie_bias_works_on_recommender_net_v2_and_names_models_without_bias():
    from reco.models import build_net, build_net_v2

    _, encoder = encode_ids(RATINGS)
    net_v2 = build_net_v2(encoder.n_users, encoder.n_movies, n_factors=2)
    out = by_movie_bias(net_v2, encoder, RATINGS, MOVIES, user_id=2, k=DEFAULT_K)
    assert sorted(out["movieId"]) == [10, 30, 70]
    assert out["movie_bias"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="no 'movie_bias' layer.*V2 and RecommenderNetV2"):
        by_movie_bias(build_net(encoder.n_users, encoder.n_movies, 2), encoder, RATINGS, MOVIES, 1)
    with pytest.raises(ValueError, match="unknown user id 999"):
        by_movie_bias(net_v2, encoder, RATINGS, MOVIES, user_id=999)
