"""Tests of reco.similar and its two plots, on a tiny V1 whose movie factors are set by hand.

No model is trained: the movie embedding is overwritten with vectors whose
cosine and dot-product neighbours are worked out in the comments.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from reco import models, plots  # noqa: E402
from reco.baselines import PopularityBaseline  # noqa: E402
from reco.similar import (  # noqa: E402
    axis_correlations,
    axis_ends,
    movie_factors,
    movie_map,
    similar_movies,
)
from reco.split import Split, encode_ids  # noqa: E402

MOVIE_IDS = [10, 20, 30, 40, 50, 60]
#: Number of ratings of each movie in RATINGS.
N_RATINGS = {10: 3, 20: 3, 30: 1, 40: 2, 50: 1, 60: 2}
#: Movie factors, in the encoder's order (ids sorted). Seen from movie 10 = [1, 0]:
#:   20 = [10, 1]:   cosine 10 / sqrt(101) = 0.99504, dot 10 (long vector, small angle)
#:   30 = [1, 0.01]: cosine 1 / sqrt(1.0001) = 0.99995, dot 1 (short vector, tiny angle)
#:   40 = [0, 1] and 60 = [0, 2]: cosine 0, dot 0 (a tie: the smaller id first)
#:   50 = [-1, 0]:   cosine -1, dot -1
FACTORS = np.array([[1, 0], [10, 1], [1, 0.01], [0, 1], [-1, 0], [0, 2]], dtype=np.float32)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def ratings():
    rows = [(u, m) for m, n in N_RATINGS.items() for u in range(1, n + 1)]
    return pd.DataFrame(rows, columns=["userId", "movieId"]).assign(rating=4.0)


@pytest.fixture(scope="module")
def encoder(ratings):
    return encode_ids(ratings)[1]


@pytest.fixture(scope="module")
def movies():
    return pd.DataFrame(
        {
            "movieId": [*MOVIE_IDS, 70],  # 70 has no rating: the model does not know it
            "title": [f"Movie {i} (1999)" for i in [*MOVIE_IDS, 70]],
            "genres": ["Drama", "Comedy", "Drama|War", "Horror", "Comedy", "Western", "Drama"],
        }
    )


@pytest.fixture(scope="module")
def v1(encoder):
    model = models.build_v1(encoder, n_factors=2)
    model.get_layer("movie_embedding").set_weights([FACTORS])
    return model


# --------------------------------------------------------------------------- similar_movies


def test_cosine_ranks_by_angle(v1, encoder, movies):
    table = similar_movies(v1, encoder, movies, 10, k=5)
    assert table["movieId"].tolist() == [30, 20, 40, 60, 50]
    np.testing.assert_allclose(
        table["similarity"], [1 / np.sqrt(1.0001), 10 / np.sqrt(101), 0, 0, -1], atol=1e-6
    )
    assert list(table.columns) == ["movieId", "title", "genres", "similarity"]
    assert table.index.tolist() == [1, 2, 3, 4, 5] and table.index.name == "rank"
    assert table["title"].tolist()[:2] == ["Movie 30 (1999)", "Movie 20 (1999)"]
    assert table["genres"].tolist()[0] == "Drama|War"


def test_dot_product_favours_the_long_vector(v1, encoder, movies):
    table = similar_movies(v1, encoder, movies, 10, k=5, measure="dot")
    assert table["movieId"].tolist() == [20, 30, 40, 60, 50]
    np.testing.assert_allclose(table["similarity"], [10, 1, 0, 0, -1], atol=1e-6)


@pytest.mark.parametrize("movie_id", MOVIE_IDS)
def test_the_movie_itself_is_never_listed(v1, encoder, movies, movie_id):
    for measure in ("cosine", "dot"):
        table = similar_movies(v1, encoder, movies, movie_id, k=10, measure=measure)
        assert movie_id not in table["movieId"].tolist()
        assert sorted(table["movieId"]) == sorted(set(MOVIE_IDS) - {movie_id})
        assert table["similarity"].is_monotonic_decreasing


def test_k_limits_the_list(v1, encoder, movies):
    assert similar_movies(v1, encoder, movies, 10, k=2)["movieId"].tolist() == [30, 20]


def test_min_ratings_keeps_movies_rated_often_enough_and_counts_them(v1, encoder, movies, ratings):
    # 30 and 50 have one rating each: with min_ratings=2 the cosine list is 20, 40, 60.
    table = similar_movies(v1, encoder, movies, 10, k=5, ratings=ratings, min_ratings=2)
    assert table["movieId"].tolist() == [20, 40, 60]
    assert table["n_ratings"].tolist() == [3, 2, 2]
    everything = similar_movies(v1, encoder, movies, 10, k=5, ratings=ratings)
    assert everything["n_ratings"].tolist() == [N_RATINGS[m] for m in everything["movieId"]]


def test_an_object_that_is_not_a_model_of_a_registered_kind_is_a_clear_error(encoder, movies):
    class Factors:  # duck typing is gone: a model's factors are a fact of its kind
        movie_factors_ = FACTORS

    with pytest.raises(ValueError, match="expected a Keras model of a registered kind"):
        movie_factors(Factors())
    with pytest.raises(ValueError, match="has no movie factors"):
        movie_factors(PopularityBaseline())


def test_unknown_movie_ids_are_a_clear_error(v1, encoder, movies):
    with pytest.raises(ValueError, match=r"unknown movie id 70.*encoder\.movies\.classes_"):
        similar_movies(v1, encoder, movies, 70)
    with pytest.raises(ValueError, match="unknown movie id '10'"):
        similar_movies(v1, encoder, movies, "10")
    # A numpy integer, as read from a table, is a known id.
    assert len(similar_movies(v1, encoder, movies, np.int64(10), k=1)) == 1


def test_bad_arguments_are_clear_errors(v1, encoder, movies, ratings):
    with pytest.raises(ValueError, match="measure must be 'cosine' or 'dot'"):
        similar_movies(v1, encoder, movies, 10, measure="euclidean")
    with pytest.raises(ValueError, match="k must be (a positive integer|at least 1)"):
        similar_movies(v1, encoder, movies, 10, k=0)
    with pytest.raises(ValueError, match="pass ratings=ratings"):
        similar_movies(v1, encoder, movies, 10, min_ratings=2)
    other = models.build_v1(n_users=3, n_movies=7, n_factors=2)
    with pytest.raises(ValueError, match="encoder knows 6"):
        similar_movies(other, encoder, movies, 10)
    split = Split(np.array([[0, 0]]), np.array([4.0]), np.array([[0, 1]]), np.array([4.0]))
    with pytest.raises(ValueError, match="PopularityBaseline has no movie factors"):
        similar_movies(PopularityBaseline().fit(split), encoder, movies, 10)


# --------------------------------------------------------------------------- movie_map


@pytest.fixture(scope="module")
def map_model(encoder):
    model = models.build_v1(encoder, n_factors=3)
    rng = np.random.default_rng(0)
    model.get_layer("movie_embedding").set_weights([rng.normal(size=(6, 3)).astype(np.float32)])
    return model


def test_movie_map_projects_on_the_first_two_principal_components(
    map_model, encoder, movies, ratings
):
    frame = movie_map(map_model, encoder, movies, ratings, min_ratings=2)
    # Movies with at least 2 ratings, most rated first, then by id.
    assert frame.index.tolist() == [10, 20, 40, 60] and frame.index.name == "movieId"
    assert list(frame.columns) == ["title", "n_ratings", "pc1", "pc2"]
    assert frame["n_ratings"].tolist() == [3, 3, 2, 2]
    # The same projection from numpy's SVD of the centred factors (signs may flip).
    kept = movie_factors(map_model)[encoder.encode_movies(frame.index)].astype(np.float64)
    centred = kept - kept.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    for col, j in (("pc1", 0), ("pc2", 1)):
        sign = np.sign(frame[col].to_numpy() @ coords[:, j])
        np.testing.assert_allclose(frame[col], sign * coords[:, j], atol=1e-5)
    np.testing.assert_allclose(frame.attrs["explained"], (s**2 / (s**2).sum())[:2], rtol=1e-5)
    assert frame.attrs["explained"][0] >= frame.attrs["explained"][1]


def test_movie_map_needs_three_movies(map_model, encoder, movies, ratings):
    with pytest.raises(ValueError, match="only 2 movies have at least 3 ratings"):
        movie_map(map_model, encoder, movies, ratings, min_ratings=3)


# --------------------------------------------------------------------------- plots


def test_plot_movie_map_names_the_most_rated_and_the_ends_of_each_axis(
    map_model, encoder, movies, ratings
):
    frame = movie_map(map_model, encoder, movies, ratings, min_ratings=1)
    ax = plots.plot_movie_map(frame, n_labels=3, ax=plt.subplots()[1])  # plain Axes: faster
    assert ax.collections[0].get_offsets().shape == (len(frame), 2)
    # In turn: the most rated (10, the smaller id of the two with 3 ratings), then the
    # lowest and the highest on pc1.
    expected = [10, frame["pc1"].idxmin(), frame["pc1"].idxmax()]
    assert len(set(expected)) == 3
    assert [t.get_text() for t in ax.texts] == [f"Movie {m} (1999)" for m in expected]
    explained = frame.attrs["explained"]
    assert f"{explained[0]:.0%} of the variance" in ax.get_xlabel()
    assert len(plots.plot_movie_map(frame, n_labels=50, ax=plt.subplots()[1]).texts) == len(frame)
    chosen = plots.plot_movie_map(frame, labels=[60, 30], ax=plt.subplots()[1])
    assert [t.get_text() for t in chosen.texts] == ["Movie 60 (1999)", "Movie 30 (1999)"]


def test_plot_movie_map_labels_stay_inside_the_axes_and_apart():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "title": [f"A fairly long movie title number {i}, The (19{i:02d})" for i in range(n)],
            "n_ratings": rng.integers(50, 300, n),
            "pc1": rng.normal(size=n),
            "pc2": rng.normal(size=n),
        },
        index=pd.Index(np.arange(n) + 1, name="movieId"),
    )
    ax = plots.plot_movie_map(frame)
    assert len(ax.texts) == 12
    assert all(len(t.get_text()) <= 22 + len(" (1999)") for t in ax.texts)
    ax.figure.draw_without_rendering()
    inside = ax.get_window_extent()
    boxes = [t.get_window_extent() for t in ax.texts]
    for i, box in enumerate(boxes):
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, ax.texts[i].get_text()
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, ax.texts[i].get_text()
        for other in boxes[:i]:
            assert not box.overlaps(other), ax.texts[i].get_text()


def test_plot_movie_map_names_bad_input_and_the_fix(map_model, encoder, movies, ratings):
    frame = movie_map(map_model, encoder, movies, ratings, min_ratings=1)
    with pytest.raises(ValueError, match="pc1"):
        plots.plot_movie_map(frame.drop(columns="pc1"))
    with pytest.raises(ValueError, match=r"\['title'\].*title_col=<your column>"):
        plots.plot_movie_map(frame.rename(columns={"title": "name"}))
    with pytest.raises(ValueError, match=r"NaN.*\['pc2'\] for \[20\]"):
        plots.plot_movie_map(frame.assign(pc2=frame["pc2"].where(frame.index != 20)))
    with pytest.raises(ValueError, match=r"labels has \[99\].*axis_ends"):
        plots.plot_movie_map(frame, labels=[10, 99])


# --------------------------------------------------------------------------- reading the map

#: A hand-built map of four movies. pc1 = 1, 2, 3, 4 follows the mean rating (1, 2, 3, 4 stars)
#: and the log of the number of ratings (1, 2, 4, 8) exactly: correlation 1. pc2 = 1, 3, 2, 4:
#: against pc1's ranks, sum of products of deviations 4, sums of squares 5 and 5: 0.8.
#: Children is 1, 1, 0, 0: against pc1, -2 / sqrt(5 * 1) = -0.894; Drama is its complement.
#: Animation is 1, 0, 0, 1: 0 against pc1. Every movie is a Comedy: no correlation, left out.
HAND_MAP = pd.DataFrame(
    {
        "title": ["Low (2001)", "Second (2002)", "Third (2003)", "High (2004)"],
        "n_ratings": [1, 2, 4, 8],
        "pc1": [1.0, 2.0, 3.0, 4.0],
        "pc2": [1.0, 3.0, 2.0, 4.0],
    },
    index=pd.Index([11, 12, 13, 14], name="movieId"),
)
HAND_MOVIES = pd.DataFrame(
    {
        "movieId": [11, 12, 13, 14, 15],
        "title": [*HAND_MAP["title"], "Not on the map (2005)"],
        "genres": [
            "Comedy|Children|Animation",
            "Children|Comedy",
            "Comedy|Drama",
            "Animation|Comedy|Drama",
            "Western",
        ],
    }
)
HAND_RATINGS = pd.DataFrame(
    {
        "movieId": [11] + [12] * 2 + [13] * 4 + [14] * 8 + [15],
        "rating": [1.0] + [2.0] * 2 + [3.0] * 4 + [3.0, 5.0] * 4 + [5.0],
    }
)


def test_axis_ends_lists_n_movies_at_each_end_most_extreme_first():
    ends = axis_ends(HAND_MAP, HAND_RATINGS, n=2)
    assert ends.index.names == ["component", "end", "rank"]
    assert len(ends) == 2 * 2 * 2
    assert list(ends.columns) == ["movieId", "title", "score", "n_ratings", "mean_rating"]
    assert ends.loc[("pc1", "low"), "movieId"].tolist() == [11, 12]
    assert ends.loc[("pc1", "high"), "movieId"].tolist() == [14, 13]
    assert ends.loc[("pc2", "low"), "movieId"].tolist() == [11, 13]
    assert ends.loc[("pc2", "high"), "score"].tolist() == [4.0, 3.0]
    high = ends.loc[("pc1", "high")]
    assert high["title"].tolist() == ["High (2004)", "Third (2003)"]
    assert high["n_ratings"].tolist() == [8, 4] and high["mean_rating"].tolist() == [4.0, 3.0]
    assert ends.loc["pc2"].index.get_level_values("end").unique().tolist() == ["low", "high"]


def test_axis_ends_name_bad_input_and_the_fix():
    with pytest.raises(ValueError, match=r"n=3 .* need at least 6 movies on the map; it has 4"):
        axis_ends(HAND_MAP, HAND_RATINGS, n=3)
    with pytest.raises(ValueError, match="n must be at least 1"):
        axis_ends(HAND_MAP, HAND_RATINGS, n=0)
    with pytest.raises(
        ValueError, match=r"NaN in \['pc1', 'pc2'\] for 1 movie\(s\): \[12\].*dropna"
    ):
        axis_ends(HAND_MAP.assign(pc1=[1.0, np.nan, 3.0, 4.0]), HAND_RATINGS, n=1)
    with pytest.raises(ValueError, match=r"no column\(s\) \['pc2'\].*components=<your column>"):
        axis_ends(HAND_MAP.drop(columns="pc2"), HAND_RATINGS)
    with pytest.raises(ValueError, match=r"movieId \[11\].*the ratings table the map was built"):
        axis_ends(HAND_MAP, HAND_RATINGS[HAND_RATINGS["movieId"] != 11], n=1)
    with pytest.raises(ValueError, match="empty"):
        axis_ends(HAND_MAP.iloc[:0], HAND_RATINGS)


def test_axis_correlations_against_hand_computed_values():
    corr = axis_correlations(HAND_MAP, HAND_MOVIES, HAND_RATINGS)
    assert corr.index.name == "feature"
    assert corr.index.tolist() == ["mean_rating", "log_n_ratings", "Animation", "Children", "Drama"]
    assert list(corr.columns) == ["pc1", "pc2", "n_movies"]
    np.testing.assert_allclose(corr.loc["mean_rating", ["pc1", "pc2"]], [1.0, 0.8])
    np.testing.assert_allclose(corr.loc["log_n_ratings", ["pc1", "pc2"]], [1.0, 0.8])
    np.testing.assert_allclose(corr.loc["Children", "pc1"], -2 / np.sqrt(5))
    np.testing.assert_allclose(corr.loc["Drama", "pc1"], 2 / np.sqrt(5))
    np.testing.assert_allclose(corr.loc["Animation", "pc1"], 0.0, atol=1e-12)
    assert corr["n_movies"].tolist() == [4, 4, 2, 2, 2]


def test_axis_correlations_name_bad_input_and_the_fix():
    with pytest.raises(ValueError, match=r"movieId \[14\].*movies table of the same data set"):
        axis_correlations(HAND_MAP, HAND_MOVIES[HAND_MOVIES["movieId"] != 14], HAND_RATINGS)
    with pytest.raises(ValueError, match=r"\['genres'\].*genres_col=<your column>"):
        axis_correlations(HAND_MAP, HAND_MOVIES.drop(columns="genres"), HAND_RATINGS)
    with pytest.raises(ValueError, match=r"\['rating'\].*rating_col=<your column>"):
        axis_correlations(HAND_MAP, HAND_MOVIES, HAND_RATINGS.drop(columns="rating"))
