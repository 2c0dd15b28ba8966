"""Tests of reco.recommend: top-k lists from real Keras models whose scores are set by hand.

A V1 model with one factor, every user vector 1 and movie ``m``'s vector its
score, predicts that score for every user: the expected lists are known
exactly, ties included, without training anything.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from synthetic import make_dataset

from reco import models, train
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
# User 1 rated 10, 30 and 70; user 2 rated 20, 40, 50, 60; user 5 rated 10.
RATINGS = pd.DataFrame(
    {
        "userId": [1, 1, 1, 2, 2, 2, 2, 5],
        "movieId": [10, 30, 70, 20, 40, 50, 60, 10],
        "rating": np.array([4.0, 5.0, 4.0, 3.0, 1.5, 5.0, 2.0, 3.5], dtype=np.float32),
        "timestamp": np.arange(8, dtype=np.int64),
    }
)
ENCODER = encode_ids(RATINGS)[1]
# Predicted stars for each movie id (the same for every user), with a tie at 4.5.
SCORES = {10: 5.0, 20: 1.0, 30: 4.9, 40: 4.5, 50: 2.0, 60: 4.5, 70: 3.0}


def scoring_model(scores_by_id, encoder=ENCODER):
    """A V1 model that predicts ``scores_by_id[movie]`` for every user."""
    model = models.build_v1(encoder, n_factors=1, l2=0.0)
    ids = encoder.decode_movies(np.arange(encoder.n_movies))
    model.get_layer("user_embedding").set_weights([np.ones((encoder.n_users, 1), np.float32)])
    scores = np.array([[scores_by_id[int(m)]] for m in ids], dtype=np.float32)
    model.get_layer("movie_embedding").set_weights([scores])
    return model


def model_with_movie_bias(bias_by_id, builder=models.build_v2):
    model = builder(ENCODER, n_factors=2)
    ids = ENCODER.decode_movies(np.arange(ENCODER.n_movies))
    bias = np.array([[bias_by_id[int(m)]] for m in ids], dtype=np.float32)
    model.get_layer("movie_bias").set_weights([bias])
    return model


@pytest.fixture(scope="module")
def model():
    return scoring_model(SCORES)


# --------------------------------------------------------------------------- recommend


def test_recommend_drops_rated_movies_and_orders_by_prediction(model):
    out = recommend(model, ENCODER, RATINGS, MOVIES, user_id=1)
    # User 1 rated 10, 30, 70; the rest by score; 40 and 60 tie (one rating each): by id.
    assert out["movieId"].tolist() == [40, 60, 50, 20]
    assert out["prediction"].tolist() == [4.5, 4.5, 2.0, 1.0]
    assert out["prediction"].dtype == np.float32
    assert list(out.columns) == ["movieId", "title", "genres", "prediction"]
    assert out.index.tolist() == [1, 2, 3, 4] and out.index.name == "rank"


def test_recommend_joins_the_right_titles_and_genres(model):
    out = recommend(model, ENCODER, RATINGS, MOVIES, user_id=2)
    assert out["movieId"].tolist() == [10, 30, 70]
    assert out["title"].tolist() == ["Title of 10", "Title of 30", "Title of 70"]
    assert out["genres"].tolist() == ["Genre10|Drama", "Genre30|Drama", "Genre70|Drama"]


def test_recommend_respects_k_and_can_keep_rated_movies(model):
    out = recommend(model, ENCODER, RATINGS, MOVIES, user_id=1, k=2, exclude_rated=False)
    assert out["movieId"].tolist() == [10, 30]
    assert recommend(model, ENCODER, RATINGS, MOVIES, user_id=1, k=1)["movieId"].tolist() == [40]
    out = recommend(model, ENCODER, RATINGS, MOVIES, user_id=5, exclude_rated=False)
    assert len(out) == min(DEFAULT_K, len(MOVIE_IDS))
    out = recommend(model, ENCODER, RATINGS, MOVIES, user_id=5, k=100)  # fewer left than k
    assert sorted(out["movieId"]) == [20, 30, 40, 50, 60, 70]


def test_ties_go_to_the_most_rated_movie_then_the_smallest_id_whatever_the_row_order():
    flat = scoring_model(dict.fromkeys(MOVIE_IDS, 3.0))
    # Users 8 and 9 make movie 70 the most rated one.
    more = pd.concat(
        [RATINGS, pd.DataFrame({"userId": [8, 9], "movieId": [70, 70], "rating": 3.0})],
        ignore_index=True,
    )
    out = recommend(flat, ENCODER, more, MOVIES, user_id=5, k=3)
    assert out["movieId"].tolist() == [70, 20, 30]
    again = recommend(
        flat,
        ENCODER,
        more.sample(frac=1, random_state=0),
        MOVIES.sample(frac=1, random_state=1),
        user_id=5,
        k=3,
    )
    pd.testing.assert_frame_equal(out, again)


def test_recommend_speaks_stars_of_the_models_own_range():
    net_v2 = models.build_net_v2(ENCODER, n_factors=3, min_rating=1, max_rating=10)
    out = recommend(net_v2, ENCODER, RATINGS, MOVIES, user_id=1)
    assert sorted(out["movieId"]) == [20, 40, 50, 60]
    assert out["prediction"].between(1.0, 10.0).all()
    assert out["prediction"].is_monotonic_decreasing
    user = ENCODER.encode_users([1])[0]
    X = [[user, m] for m in ENCODER.encode_movies(out["movieId"])]
    np.testing.assert_allclose(out["prediction"], train.predict_ratings(net_v2, X), rtol=1e-6)


def test_recommend_on_the_synthetic_data_lists_every_unrated_movie_with_its_title():
    data = make_dataset()
    model = models.build_v2(data.encoder, n_factors=4)
    user = int(data.ratings["userId"].iloc[0])
    rated = set(data.ratings.loc[data.ratings["userId"] == user, "movieId"])
    out = recommend(model, data.encoder, data.ratings, data.movies, user_id=user, k=1000)
    assert set(out["movieId"]) == set(data.movies["movieId"]) - rated
    titles = data.movies.set_index("movieId")["title"]
    assert out["title"].tolist() == titles[out["movieId"]].tolist()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("ratings", "sizes"),
    [
        (RATINGS[RATINGS["movieId"] != 70], "3 users and 6 movies"),  # smaller
        (
            pd.concat([RATINGS, RATINGS.head(1).assign(userId=9, movieId=80)]),
            "4 users and 8 movies",
        ),
    ],
    ids=["encoder smaller than the model", "encoder larger than the model"],
)
def test_an_encoder_of_another_size_than_the_model_is_refused(model, ratings, sizes):
    _, other = encode_ids(ratings)
    message = (
        f"built for 3 users and 7 movies, but the encoder knows {sizes}.*the encoder the model"
    )
    with pytest.raises(ValueError, match=message):
        recommend(model, other, ratings, MOVIES, user_id=1)
    with pytest.raises(ValueError, match=message):
        by_movie_bias(
            model_with_movie_bias(dict.fromkeys(MOVIE_IDS, 0.0)), other, ratings, MOVIES, 1
        )


@pytest.mark.parametrize("column", ["userId", "movieId"])
def test_ids_stored_as_strings_for_an_encoder_of_numbers_are_refused(model, column):
    as_text = RATINGS.astype({column: str})
    with pytest.raises(
        ValueError,
        match=rf"ratings\['{column}'\] holds object values but the encoder was fitted on "
        r"numbers.*would match no id.*\.astype\(int\)",
    ):
        recommend(model, ENCODER, as_text, MOVIES, user_id=1)


def test_numbers_for_an_encoder_of_strings_are_refused():
    as_text = RATINGS.astype({"userId": str, "movieId": str})
    _, encoder = encode_ids(as_text)
    model = scoring_model(SCORES, encoder)  # int("10") == 10: the same scores
    with pytest.raises(ValueError, match=r"user_id holds int64 values.*strings.*\.astype\(str\)"):
        recommend(model, encoder, as_text, MOVIES, user_id=1)
    with pytest.raises(
        ValueError, match=r"ratings\['movieId'\] holds int64 values.*\.astype\(str\)"
    ):
        recommend(model, encoder, as_text.astype({"movieId": int}), MOVIES, user_id="1")


def test_movies_missing_from_the_movies_table_warn_and_keep_their_place(model):
    missing = MOVIES[~MOVIES["movieId"].isin([40, 60])]
    with warnings.catch_warnings():
        # pytest.warns shows every warning; TensorFlow's own deprecation notices are not ours.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with pytest.warns(
            UserWarning, match=r"2 movie\(s\) have no row in the movies table.*\[40, 60\]"
        ):
            out = recommend(model, ENCODER, RATINGS, missing, user_id=1)
    assert out["movieId"].tolist() == [40, 60, 50, 20]
    assert out["title"].isna().tolist() == [True, True, False, False]


def test_a_movie_listed_twice_in_the_movies_table_is_a_clear_error(model):
    with pytest.raises(ValueError, match="lists movieId 10 more than once.*drop_duplicates"):
        recommend(model, ENCODER, RATINGS, pd.concat([MOVIES, MOVIES[MOVIES["movieId"] == 10]]), 2)


def test_unknown_user_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"unknown user id 999.*encoder\.users\.classes_"):
        recommend(model, ENCODER, RATINGS, MOVIES, user_id=999)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_a_clear_error(model, k):
    with pytest.raises(ValueError, match="k must be (a positive integer|at least 1)"):
        recommend(model, ENCODER, RATINGS, MOVIES, user_id=1, k=k)


def test_missing_columns_are_named_with_the_keyword_that_fixes_them(model):
    with pytest.raises(
        ValueError, match=r"movies table has no column\(s\) \['genres'\].*genres_col="
    ):
        recommend(model, ENCODER, RATINGS, MOVIES.drop(columns="genres"), user_id=1)
    renamed = RATINGS.rename(columns={"movieId": "item"})
    with pytest.raises(
        ValueError, match=r"ratings table has no column\(s\) \['movieId'\].*movie_col="
    ):
        recommend(model, ENCODER, renamed, MOVIES, user_id=1)
    out = recommend(
        model, ENCODER, renamed, MOVIES.rename(columns={"movieId": "item"}), 1, movie_col="item"
    )
    assert out["item"].tolist() == [40, 60, 50, 20]


# --------------------------------------------------------------------------- rated_by


def test_rated_by_lists_the_highest_rated_first():
    out = rated_by(RATINGS, MOVIES, user_id=1)
    assert out["movieId"].tolist() == [30, 10, 70]  # 10 and 70 tie at 4: 10 has more ratings
    assert out["rating"].tolist() == [5.0, 4.0, 4.0]
    assert out["n_ratings"].tolist() == [1, 2, 1]  # movie 10 is rated by users 1 and 5
    assert out["title"].tolist() == ["Title of 30", "Title of 10", "Title of 70"]
    assert list(out.columns) == ["movieId", "title", "genres", "rating", "n_ratings"]
    assert rated_by(RATINGS, MOVIES, user_id=2, k=2)["movieId"].tolist() == [50, 20]


def test_rated_by_breaks_ties_by_popularity_then_id():
    # User 7 gives 4 stars to 10, 40, 60 and 70; 70 has 4 ratings in all, 10 three, 40 and 60 two.
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
    pd.testing.assert_frame_equal(out, rated_by(table.sample(frac=1, random_state=0), MOVIES, 7))


def test_rated_by_unknown_user_and_bad_k_are_clear_errors():
    with pytest.raises(ValueError, match=r"user id 999 has no ratings.*unique\(\)"):
        rated_by(RATINGS, MOVIES, user_id=999)
    with pytest.raises(ValueError, match="k must be (a positive integer|at least 1)"):
        rated_by(RATINGS, MOVIES, user_id=1, k=0)


# --------------------------------------------------------------------------- by_movie_bias


def test_by_movie_bias_ranks_unrated_movies_by_bias():
    bias = {10: 2.0, 20: -1.0, 30: 1.5, 40: 0.5, 50: 0.7, 60: 0.5, 70: 3.0}
    model = model_with_movie_bias(bias)
    out = by_movie_bias(model, ENCODER, RATINGS, MOVIES, user_id=1)
    assert out["movieId"].tolist() == [50, 40, 60, 20]  # 10, 30, 70 rated; 40/60 tie: by id
    np.testing.assert_allclose(out["movie_bias"], [0.7, 0.5, 0.5, -1.0])
    assert list(out.columns) == ["movieId", "title", "genres", "movie_bias"]
    assert out.index.tolist() == [1, 2, 3, 4] and out.index.name == "rank"
    top = by_movie_bias(model, ENCODER, RATINGS, MOVIES, user_id=5, k=2, exclude_rated=False)
    assert top["movieId"].tolist() == [70, 10]


def test_by_movie_bias_reads_recommender_net_v2_and_names_models_without_a_bias():
    bias = {10: 0.1, 20: 0.2, 30: 0.3, 40: 0.4, 50: 0.5, 60: 0.6, 70: 0.7}
    net_v2 = model_with_movie_bias(bias, models.build_net_v2)
    out = by_movie_bias(net_v2, ENCODER, RATINGS, MOVIES, user_id=2)
    assert out["movieId"].tolist() == [70, 30, 10]
    for model in (models.build_net(ENCODER, n_factors=2), models.build_v1(ENCODER, n_factors=2)):
        with pytest.raises(ValueError, match="has no movie bias; only V2 and RecommenderNetV2"):
            by_movie_bias(model, ENCODER, RATINGS, MOVIES, 1)


# --------------------------------------------------------------------------- ratings always checked


def test_a_missing_column_is_named_even_when_rated_movies_are_kept(model):
    renamed = RATINGS.rename(columns={"movieId": "item"})
    with pytest.raises(ValueError, match="movie_col="):
        recommend(model, ENCODER, renamed, MOVIES, user_id=1, exclude_rated=False)


def test_ids_stored_as_strings_are_refused_even_when_rated_movies_are_kept():
    flat = scoring_model(dict.fromkeys(MOVIE_IDS, 3.0))
    more = pd.concat(
        [RATINGS, pd.DataFrame({"userId": [8, 9], "movieId": [70, 70], "rating": 3.0})],
        ignore_index=True,
    )
    as_text = more.astype({"movieId": str})
    with pytest.raises(ValueError, match=r"ratings\['movieId'\] holds"):
        recommend(flat, ENCODER, as_text, MOVIES, user_id=5, k=3, exclude_rated=False)
