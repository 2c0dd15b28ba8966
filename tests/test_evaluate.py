"""Tests of reco.evaluate: top-k lists, their metrics, and the comparison table.

Most tests use hand-made splits whose metrics are worked out by hand in a
comment, and a stand-in model with fixed scores; the metrics are also checked
against scikit-learn's ``ndcg_score`` and KerasRS on random data. The scoring
engine is checked on a real model: the session's trained V2 (conftest.py).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.metrics import ndcg_score  # noqa: E402
from synthetic import make_dataset, split_of  # noqa: E402

from reco import evaluate, models, plots, train  # noqa: E402
from reco.baselines import (  # noqa: E402
    Baseline,
    BiasBaseline,
    DampedMeanBaseline,
    PopularityBaseline,
    RandomBaseline,
)
from reco.metrics import rmse_mae  # noqa: E402
from reco.split import Split  # noqa: E402

LOG2_3 = np.log2(3.0)
RANKING = ["precision", "recall", "ndcg", "map", "hit_rate", "mrr"]


# --------------------------------------------------------------------------- helpers


def recs_of(lists: dict[int, list[int]]) -> pd.DataFrame:
    """Return top-k lists in top_k's layout from ``{user: [movie at rank 1, rank 2, ...]}``."""
    rows = [(u, m, r) for u, movies in lists.items() for r, m in enumerate(movies, start=1)]
    return pd.DataFrame(rows, columns=["user", "movie", "rank"]).astype(np.int64)


class FixedScores(Baseline):
    """A stand-in model that follows the baselines' protocol: ``scores[user, movie]``, fixed."""

    predicts_ratings = False

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float64)
        self.n_users_, self.n_movies_ = self.scores.shape

    def score_users(self, users):
        return self.scores[np.asarray(users)]


def random_split(seed=0, n_users=15, n_movies=40, density=0.4) -> Split:
    """Return the train/val/test split of random synthetic ratings (half stars)."""
    return make_dataset(n_users, n_movies, density, seed).split


def pairs(X) -> set[tuple[int, int]]:
    return {(int(u), int(m)) for u, m in X}


def relevant_sets(split: Split, part: str = "test") -> dict[int, set[int]]:
    X, y = (split.X_test, split.y_test) if part == "test" else (split.X_val, split.y_val)
    out: dict[int, set[int]] = {}
    for (u, m), r in zip(X, y, strict=True):
        if r >= evaluate.RELEVANT_RATING:
            out.setdefault(int(u), set()).add(int(m))
    return out


def assert_metrics(got: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- metrics by hand


def one_user_split() -> Split:
    # Movies a..f = 0..5. User 0 has trained on e (4); user 1 rated a, b, c in training.
    # User 0's test part: b 4.5 and d 4.0 are relevant (4.0 is the threshold), f 3.5 is not.
    # Catalogue: every movie appears in some part -> 6 movies.
    return split_of(
        train_rows=[(0, 4, 3.0), (1, 0, 5.0), (1, 1, 4.0), (1, 2, 2.0)],
        test_rows=[(0, 1, 4.5), (0, 3, 4.0), (0, 5, 3.5)],
    )


def test_every_metric_on_a_hand_worked_list():
    # List [a, b, c], relevant {b, d}, k = 3: one hit, at rank 2.
    # precision = 1/3; recall = 1/2; hit rate = 1;
    # DCG = 1/log2(3); IDCG over min(3, 2) = 2 ranks = 1 + 1/log2(3);
    # AP = (precision@2 * 1) / min(3, 2) = (1/2) / 2 = 1/4; MRR = 1/2;
    # coverage = 3 listed movies / 6 in the catalogue; 1 user (user 1 has no test movies).
    got = evaluate.ranking_metrics(recs_of({0: [0, 1, 2]}), one_user_split(), k=3)
    assert_metrics(
        got,
        {
            "precision": 1 / 3,
            "recall": 1 / 2,
            "ndcg": (1 / LOG2_3) / (1 + 1 / LOG2_3),
            "map": 1 / 4,
            "hit_rate": 1.0,
            "mrr": 1 / 2,
            "coverage": 3 / 6,
        },
    )
    assert got["users"] == 1
    assert set(got) == set(evaluate.METRICS) | {"users"}


def test_more_relevant_movies_than_k_caps_the_ideal_dcg_and_ap_at_k():
    # List [b, a, d], relevant {b, d, x, y, z} (5 movies), k = 3: hits at ranks 1 and 3.
    # precision = 2/3; recall = 2/5; DCG = 1 + 1/log2(4) = 1.5;
    # IDCG = 1 + 1/log2(3) + 1/2 (min(3, 5) = 3 ranks); AP = (1/1 + 2/3) / 3 = 5/9; MRR = 1.
    split = split_of(
        train_rows=[(0, 4, 3.0), (1, 0, 2.0)],
        test_rows=[(0, m, 5.0) for m in (1, 3, 5, 6, 7)],
    )
    got = evaluate.ranking_metrics(recs_of({0: [1, 0, 3]}), split, k=3)
    assert_metrics(
        got,
        {
            "precision": 2 / 3,
            "recall": 2 / 5,
            "ndcg": 1.5 / (1 + 1 / LOG2_3 + 0.5),
            "map": 5 / 9,
            "hit_rate": 1.0,
            "mrr": 1.0,
        },
    )


def test_precision_divides_by_k_even_when_the_list_is_shorter():
    # List [b] (one candidate left), relevant {b, d}, k = 3: precision = 1/3, not 1;
    # recall = 1/2; NDCG = 1 / (1 + 1/log2(3)); AP = 1 / min(3, 2) = 1/2; MRR = 1.
    got = evaluate.ranking_metrics(recs_of({0: [1]}), one_user_split(), k=3)
    assert_metrics(
        got,
        {
            "precision": 1 / 3,
            "recall": 1 / 2,
            "ndcg": 1 / (1 + 1 / LOG2_3),
            "map": 1 / 2,
            "mrr": 1.0,
        },
    )


def test_ranks_beyond_k_are_ignored():
    # b is at rank 3: no hit at k = 2, a hit at k = 3 (MRR 1/3).
    # Coverage also reads ranks 1..k only: {a, c} at k = 2.
    recs = recs_of({0: [0, 2, 1]})
    at_2 = evaluate.ranking_metrics(recs, one_user_split(), k=2)
    at_3 = evaluate.ranking_metrics(recs, one_user_split(), k=3)
    assert at_2["hit_rate"] == 0.0 and at_2["mrr"] == 0.0 and at_2["ndcg"] == 0.0
    assert at_2["coverage"] == pytest.approx(2 / 6)
    assert at_3["hit_rate"] == 1.0 and at_3["mrr"] == pytest.approx(1 / 3)


def test_users_without_relevant_movies_are_not_counted_and_users_without_a_list_count_zero():
    # User 0: the hand-worked list above. User 2: relevant {e} but no list -> zeros.
    # User 3: only a 2-star test movie -> not counted, though it has a list.
    # users = 2, so every mean is half of user 0's value.
    # Coverage: lists hold {a, b, c} and {e}: 4 of the 6 movies.
    split = split_of(
        train_rows=[(0, 4, 3.0), (1, 0, 5.0), (1, 1, 4.0), (1, 2, 2.0), (3, 1, 4.0), (2, 0, 3.0)],
        test_rows=[(0, 1, 4.5), (0, 3, 4.0), (0, 5, 3.5), (2, 4, 5.0), (3, 0, 2.0)],
    )
    got = evaluate.ranking_metrics(recs_of({0: [0, 1, 2], 3: [4]}), split, k=3)
    assert got["users"] == 2
    assert_metrics(
        got,
        {
            "precision": 1 / 6,
            "recall": 1 / 4,
            "ndcg": (1 / LOG2_3) / (1 + 1 / LOG2_3) / 2,
            "map": 1 / 8,
            "hit_rate": 1 / 2,
            "mrr": 1 / 4,
            "coverage": 4 / 6,
        },
    )


def test_no_lists_at_all_scores_zero_for_every_counted_user():
    empty = recs_of({})
    got = evaluate.ranking_metrics(empty, one_user_split(), k=3)
    assert got["users"] == 1
    assert all(got[name] == 0.0 for name in evaluate.METRICS)


def test_part_val_reads_the_relevant_movies_from_the_validation_part():
    # Val: c 5.0 (relevant); test: b 4.5 (relevant). List [c, b], k = 2.
    # part="val": hit at rank 1 -> precision 1/2, recall 1, MRR 1.
    # part="test": hit at rank 2 -> precision 1/2, recall 1, MRR 1/2.
    split = split_of(
        train_rows=[(0, 0, 3.0), (1, 3, 4.0)],
        test_rows=[(0, 1, 4.5)],
        val_rows=[(0, 2, 5.0)],
    )
    recs = recs_of({0: [2, 1]})
    val = evaluate.ranking_metrics(recs, split, k=2, part="val")
    test = evaluate.ranking_metrics(recs, split, k=2, part="test")
    assert (val["precision"], val["recall"], val["mrr"]) == (0.5, 1.0, 1.0)
    assert (test["precision"], test["recall"], test["mrr"]) == (0.5, 1.0, 0.5)


def test_ranking_metrics_reject_a_bad_k_part_or_table():
    split, recs = one_user_split(), recs_of({0: [0]})
    with pytest.raises(ValueError, match="k must be (a positive integer|at least 1)"):
        evaluate.ranking_metrics(recs, split, k=0)
    with pytest.raises(ValueError, match="no validation part"):
        evaluate.ranking_metrics(recs, split, part="val")
    with pytest.raises(ValueError, match="part must be"):
        evaluate.ranking_metrics(recs, split, part="train")
    with pytest.raises(ValueError, match=r"\['rank'\]"):
        evaluate.ranking_metrics(recs.drop(columns="rank"), split)


def test_coverage_never_exceeds_one_when_the_split_names_a_larger_catalogue():
    # n_movies = 10 (as course_split records it after rows were filtered out), but only
    # movies 0 and 1 appear in the parts: top_k lists 9 movies to user 0.
    split = split_of([(0, 0, 4.0)], [(0, 1, 5.0)], n_users=1, n_movies=10)
    recs = evaluate.top_k(PopularityBaseline().fit(split), split, k=10)
    assert evaluate.ranking_metrics(recs, split, k=10)["coverage"] <= 1.0


# --------------------------------------------------------------------------- top_k


def tie_split() -> Split:
    # Training popularity of movies 0..5: [1, 2, 0, 3, 0, 1]; user 0 rated movie 0.
    # Val: user 0 rated movie 2; test: user 0 rated movie 4.
    return split_of(
        train_rows=[(0, 0, 4.0), (1, 1, 3.0), (2, 1, 3.0), (1, 3, 5.0), (2, 3, 4.0)]
        + [(3, 3, 2.0), (1, 5, 1.0)],
        test_rows=[(0, 4, 5.0)],
        val_rows=[(0, 2, 4.0)],
        n_users=4,
        n_movies=6,
    )


def test_ties_go_to_the_more_popular_movie_then_the_smaller_index():
    # Equal scores: order by popularity 3 (movie 3), 2 (movie 1), 1 (movie 5), 0 (movie 4);
    # movie 0 (training) and movie 2 (validation) are excluded for part="test".
    flat = FixedScores(np.zeros((4, 6)))
    recs = evaluate.top_k(flat, tie_split(), k=10)
    assert recs.loc[recs["user"] == 0, "movie"].tolist() == [3, 1, 5, 4]
    # part="val" excludes training only: movie 2 (popularity 0) comes before movie 4.
    recs = evaluate.top_k(flat, tie_split(), k=10, part="val")
    assert recs.loc[recs["user"] == 0, "movie"].tolist() == [3, 1, 5, 2, 4]
    # A higher score beats popularity.
    scores = np.zeros((4, 6))
    scores[:, 4] = 1.0
    recs = evaluate.top_k(FixedScores(scores), tie_split(), k=2)
    assert recs.loc[recs["user"] == 0, "movie"].tolist() == [4, 3]


def test_top_k_returns_min_k_candidates_rows_per_user_with_training_ratings_best_first():
    split = tie_split()
    rng = np.random.default_rng(0)
    recs = evaluate.top_k(FixedScores(rng.random((4, 6))), split, k=3)
    assert list(recs.columns) == ["user", "movie", "rank", "score"]
    assert sorted(recs["user"].unique()) == [0, 1, 2, 3]
    # Candidates: 6 movies minus the user's training (and, for user 0, validation) movies.
    candidates = {0: 6 - 2, 1: 6 - 3, 2: 6 - 2, 3: 6 - 1}
    for k in (1, 3, 10):
        recs = evaluate.top_k(FixedScores(rng.random((4, 6))), split, k=k)
        sizes = recs.groupby("user").size().to_dict()
        assert sizes == {u: min(k, n) for u, n in candidates.items()}
        for _, user_recs in recs.groupby("user"):
            assert user_recs["rank"].tolist() == list(range(1, len(user_recs) + 1))
            assert user_recs["score"].is_monotonic_decreasing
    assert recs.equals(recs.sort_values(["user", "rank"]))


def test_users_with_no_training_ratings_get_no_list_and_a_user_who_rated_everything_none():
    # User 1 is only in the test part; user 0 rated all three movies in training.
    split = split_of(
        [(0, 0, 4.0), (0, 1, 4.0), (0, 2, 4.0), (2, 0, 1.0)], [(1, 1, 5.0)], n_users=3, n_movies=3
    )
    recs = evaluate.top_k(PopularityBaseline().fit(split), split, k=2)
    assert recs["user"].unique().tolist() == [2]
    assert recs["movie"].tolist() == [1, 2]


def test_top_k_scores_are_the_models_scores():
    split = tie_split()
    scores = np.random.default_rng(1).random((4, 6))
    recs = evaluate.top_k(FixedScores(scores), split, k=3)
    expected = scores[recs["user"], recs["movie"]].astype(np.float32)
    np.testing.assert_array_equal(recs["score"].to_numpy(), expected)


def test_top_k_rejects_a_bad_k_part_or_catalogue():
    split = tie_split()
    flat = FixedScores(np.zeros((4, 6)))
    with pytest.raises(ValueError, match="k must be"):
        evaluate.top_k(flat, split, k=0)
    with pytest.raises(ValueError, match="part must be"):
        evaluate.top_k(flat, split, part="train")
    with pytest.raises(ValueError, match="no validation part"):
        evaluate.top_k(flat, one_user_split(), part="val")
    with pytest.raises(ValueError, match="catalogue has 6"):
        evaluate.top_k(FixedScores(np.zeros((4, 5))), split)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_excluded_movies_never_appear_in_a_list(seed):
    split = random_split(seed)
    baseline = RandomBaseline(seed=seed).fit(split)
    train_pairs, val_pairs = pairs(split.X_train), pairs(split.X_val)
    n_movies = split.n_movies
    test_recs = evaluate.top_k(baseline, split, k=n_movies)[["user", "movie"]].to_numpy()
    val_recs = evaluate.top_k(baseline, split, k=n_movies, part="val")[["user", "movie"]]
    test_recs, val_recs = pairs(test_recs), pairs(val_recs.to_numpy())
    assert not test_recs & (train_pairs | val_pairs)
    assert not val_recs & train_pairs
    # Nothing else is excluded: with k = n_movies, val lists hold every non-training movie.
    listed = pd.Series([u for u, _ in val_recs]).value_counts().to_dict()
    trained = pd.Series(split.X_train[:, 0]).value_counts().to_dict()
    assert listed == {u: n_movies - n for u, n in trained.items()}


# --------------------------------------------------------------------------- rank_scores


def test_tie_order_puts_popular_movies_first_then_smaller_indices():
    # Popularity [1, 2, 0, 3, 0, 1]: order 3, 1, 0, 5, 2, 4, so movie 0 is third (rank 2).
    tie_rank = evaluate.tie_order([1, 2, 0, 3, 0, 1])
    np.testing.assert_array_equal(tie_rank, [2, 1, 4, 0, 5, 3])
    np.testing.assert_array_equal(np.argsort(tie_rank), [3, 1, 0, 5, 2, 4])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 5),
    m=st.integers(1, 8),
    k=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_rank_scores_matches_a_plain_sort(n, m, k, seed):
    # Few distinct values make many ties; -inf marks excluded candidates.
    rng = np.random.default_rng(seed)
    scores = rng.choice([-np.inf, 0.0, 1.0, 2.0], size=(n, m)).astype(np.float32)
    tie_rank = rng.permutation(m)
    rows, cols, ranks = evaluate.rank_scores(scores, k, tie_rank)
    expected = []
    for i in range(n):
        order = sorted(
            (j for j in range(m) if scores[i, j] > -np.inf),
            key=lambda j, i=i: (-scores[i, j], tie_rank[j]),
        )
        expected += [(i, j, r) for r, j in enumerate(order[:k], start=1)]
    assert list(zip(rows.tolist(), cols.tolist(), ranks.tolist(), strict=True)) == expected


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("k", [3, 10])
def test_an_oracle_hits_every_user_and_recalls_min_k_relevant(k):
    split = random_split(seed=3)
    relevant = relevant_sets(split)
    assert set(relevant) <= set(split.X_train[:, 0].tolist())  # every such user has a list
    scores = np.zeros((split.n_users, split.n_movies))
    for u, movies in relevant.items():
        scores[u, list(movies)] = 1.0
    got = evaluate.ranking_metrics(evaluate.top_k(FixedScores(scores), split, k=k), split, k=k)
    sizes = np.array([len(m) for m in relevant.values()])
    assert got["users"] == len(relevant)
    assert got["hit_rate"] == 1.0 and got["mrr"] == 1.0
    assert got["ndcg"] == pytest.approx(1.0) and got["map"] == pytest.approx(1.0)
    assert got["recall"] == pytest.approx(np.mean(np.minimum(k, sizes) / sizes))
    assert got["precision"] == pytest.approx(np.mean(np.minimum(k, sizes) / k))


def test_the_order_of_the_users_rows_does_not_change_the_metrics():
    split = random_split(seed=4)
    recs = evaluate.top_k(RandomBaseline(seed=4).fit(split), split, k=5)
    shuffled = recs.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert not shuffled.equals(recs)
    assert evaluate.ranking_metrics(shuffled, split, k=5) == evaluate.ranking_metrics(
        recs, split, k=5
    )


# --------------------------------------------------------------------------- independent checks


def test_ndcg_matches_scikit_learn_on_random_lists():
    # Per user, score the listed movies n, n-1, ..., then k filler non-relevant items (so a
    # relevant movie left out of the list can never move into sklearn's top k), then the
    # relevant movies that were left out. y_true holds every relevant movie as 1, so
    # sklearn's ideal DCG is over min(k, |relevant|) ranks, as ours is. The scores favour
    # relevant movies a little, so that lists hit at various ranks; k = 2 leaves users with
    # more relevant movies than k.
    for seed, k in [(10, 2), (11, 2), (12, 5), (13, 5)]:
        split = random_split(seed=seed, n_users=20, density=0.7)
        relevant = relevant_sets(split)
        assert k > 2 or max(len(m) for m in relevant.values()) > k
        rng = np.random.default_rng(seed)
        scores = rng.random((split.n_users, split.n_movies))
        for u, movies in relevant.items():
            scores[u, list(movies)] += 0.5
        recs = evaluate.top_k(FixedScores(scores), split, k=k)
        per_user = []
        for u, rel in relevant.items():
            listed = recs.loc[recs["user"] == u].sort_values("rank")["movie"].tolist()
            missing = sorted(rel - set(listed))
            y_true = [int(m in rel) for m in listed] + [0] * k + [1] * len(missing)
            y_score = np.arange(len(y_true), 0, -1, dtype=float)
            per_user.append(ndcg_score([y_true], [y_score], k=k))
        got = evaluate.ranking_metrics(recs, split, k=k)
        assert got["users"] == len(per_user)
        assert 0 < got["ndcg"] < 1
        assert got["ndcg"] == pytest.approx(np.mean(per_user), abs=1e-12)


def test_metrics_match_kerasrs_where_the_definitions_agree():
    # KerasRS ranks every candidate (y_true -1 masks the excluded ones), so the data must
    # leave every user at least k candidates (precision), give every relevant user a
    # training rating (a list), no ties (KerasRS would shuffle them) and |relevant| <= k
    # (KerasRS's MAP divides by |relevant|, ours by min(k, |relevant|)).
    keras_rs = pytest.importorskip("keras_rs")
    k = 10
    split = random_split(seed=5, n_users=20, n_movies=40, density=0.4)
    rng = np.random.default_rng(5)
    scores = rng.permutation(split.n_users * split.n_movies).reshape(split.n_users, -1)
    relevant = relevant_sets(split)
    users = sorted(relevant)
    y_true = np.zeros((len(users), split.n_movies), dtype=np.float32)
    for row, u in enumerate(users):
        y_true[row, list(relevant[u])] = 1.0
    row_of = {u: row for row, u in enumerate(users)}
    for u, m in np.concatenate([split.X_train, split.X_val]):
        if int(u) in row_of:
            y_true[row_of[int(u)], m] = -1.0
    assert ((y_true >= 0).sum(axis=1) >= k).all()
    assert set(users) <= set(split.X_train[:, 0].tolist())
    assert max(len(m) for m in relevant.values()) <= k

    ours = evaluate.ranking_metrics(evaluate.top_k(FixedScores(scores), split, k=k), split, k=k)
    y_pred = scores[users].astype(np.float32)
    theirs = {
        "precision": keras_rs.metrics.PrecisionAtK,
        "recall": keras_rs.metrics.RecallAtK,
        "ndcg": keras_rs.metrics.NDCG,
        "mrr": keras_rs.metrics.MeanReciprocalRank,
        "map": keras_rs.metrics.MeanAveragePrecision,
    }
    for name, cls in theirs.items():
        metric = cls(k=k, shuffle_ties=False)
        metric.update_state(y_true, y_pred)
        assert ours[name] == pytest.approx(float(metric.result()), rel=1e-5), name
    assert 0 < ours["ndcg"] < 1  # a real check, not two zeros


# --------------------------------------------------------------------------- score_users


@pytest.fixture(scope="module")
def course_split_and_v2(course):
    """``(split, model)``: the session's trained V2 (ratings 1..10) and its data's split."""
    return course.data.split, course.models["v2"]


def all_pairs(n_users, n_movies):
    return np.column_stack(
        [np.repeat(np.arange(n_users), n_movies), np.tile(np.arange(n_movies), n_users)]
    )


@pytest.mark.backends  # the scoring engine on a trained model, on every backend
def test_a_dot_product_models_scores_rank_movies_as_its_predicted_stars(course_split_and_v2):
    split, model = course_split_and_v2
    users = np.arange(split.n_users)
    scores = evaluate.score_users(model, users, n_movies=split.n_movies)
    stars = train.predict_ratings(model, all_pairs(split.n_users, split.n_movies))
    stars = stars.reshape(split.n_users, split.n_movies)
    assert scores.shape == (split.n_users, split.n_movies)
    assert not np.allclose(scores, stars)  # scores are before the sigmoid, not stars
    np.testing.assert_array_equal(
        np.argsort(-scores, axis=1, kind="stable"), np.argsort(-stars, axis=1, kind="stable")
    )
    # The pre-sigmoid score: sigmoid maps it onto the stars of the model's range, 1..10.
    np.testing.assert_allclose(1 + 9 / (1 + np.exp(-scores)), stars, atol=1e-5)


@pytest.mark.backends  # the scoring engine on a trained model, on every backend
def test_a_subset_of_users_gets_the_same_rows(course_split_and_v2):
    split, model = course_split_and_v2
    everyone = evaluate.score_users(model, np.arange(split.n_users))
    np.testing.assert_allclose(evaluate.score_users(model, [5, 2]), everyone[[5, 2]], rtol=1e-6)


@pytest.mark.backends  # the scoring engine on a trained model, on every backend
def test_score_users_rejects_unknown_users_and_another_catalogue(course_split_and_v2):
    split, model = course_split_and_v2
    with pytest.raises(ValueError, match="user indices must lie in"):
        evaluate.score_users(model, [split.n_users])
    with pytest.raises(ValueError, match="catalogue has"):
        evaluate.score_users(model, [0], n_movies=split.n_movies + 1)


def test_the_mlp_is_scored_by_its_predictions_in_chunks(monkeypatch):
    n_users, n_movies = 5, 7
    net = models.build_net(n_users=n_users, n_movies=n_movies, n_factors=3)
    stars = train.predict_ratings(net, all_pairs(n_users, n_movies)).reshape(n_users, n_movies)
    monkeypatch.setattr(models, "_PAIRS_PER_CALL", 2 * n_movies)  # two users per call
    scores = evaluate.score_users(net, np.arange(n_users))
    np.testing.assert_allclose(scores, stars, rtol=1e-6)
    np.testing.assert_allclose(evaluate.score_users(net, [4, 0]), stars[[4, 0]], rtol=1e-6)


def test_the_subclassed_model_is_scored_before_its_sigmoid():
    n_users, n_movies = 4, 9
    net_v2 = models.build_net_v2(n_users=n_users, n_movies=n_movies, n_factors=3)
    net_v2.get_layer("user_bias").set_weights([np.linspace(-1, 1, n_users)[:, None]])
    net_v2.get_layer("movie_bias").set_weights([np.linspace(2, -2, n_movies)[:, None]])
    scores = evaluate.score_users(net_v2, np.arange(n_users))
    stars = train.predict_ratings(net_v2, all_pairs(n_users, n_movies)).reshape(n_users, -1)
    np.testing.assert_allclose(0.5 + 4.5 / (1 + np.exp(-scores)), stars, atol=1e-5)


def test_a_baseline_scores_itself():
    split = tie_split()
    popularity = PopularityBaseline().fit(split)
    np.testing.assert_array_equal(
        evaluate.score_users(popularity, [0, 3]), np.tile([1, 2, 0, 3, 0, 1], (2, 1))
    )


# --------------------------------------------------------------------------- reports


def test_popularity_percentile_by_hand():
    # Training counts of movies 0..5: [1, 2, 0, 3, 0, 1]; sorted [0, 0, 1, 1, 2, 3].
    # Percentile = share of the 6 movies with fewer ratings: movie 3 -> 5/6, movie 1 -> 4/6,
    # movie 0 -> 2/6, movie 4 -> 0. Lists {3, 1} and {0, 4} (rank 3 beyond k = 2 ignored):
    # mean = 100 * (5 + 4 + 2 + 0) / 6 / 4.
    recs = recs_of({0: [3, 1, 2], 1: [0, 4]})
    got = evaluate.popularity_percentile(recs, tie_split(), k=2)
    assert got == pytest.approx(100 * 11 / 24)


def test_popularity_baseline_has_the_highest_popularity_percentile():
    split = random_split(seed=8)
    percentiles = {
        name: evaluate.popularity_percentile(evaluate.top_k(model.fit(split), split), split)
        for name, model in {
            "popularity": PopularityBaseline(),
            "random": RandomBaseline(),
            "damped": DampedMeanBaseline(),
        }.items()
    }
    assert percentiles["popularity"] == max(percentiles.values())
    assert percentiles["popularity"] > percentiles["random"] + 10


def test_metrics_by_activity_splits_the_users_into_bins():
    split = random_split(seed=9, n_users=20)
    recs = evaluate.top_k(RandomBaseline(seed=9).fit(split), split, k=10)
    overall = evaluate.ranking_metrics(recs, split, k=10)
    activity = np.bincount(split.X_train[:, 0])
    edge = int(np.median(activity))
    table = evaluate.metrics_by_activity(recs, split, k=10, bins=(0, edge, np.inf))
    assert list(table.index) == [f"≤ {edge}", f"> {edge}"]
    assert table["users"].sum() == overall["users"]
    relevant = relevant_sets(split)
    assert table.loc[f"> {edge}", "users"] == sum(activity[u] > edge for u in relevant)
    for name in RANKING:  # the bins' means, weighted by their users, give the overall mean
        weighted = (table[name].fillna(0) * table["users"]).sum() / table["users"].sum()
        assert weighted == pytest.approx(overall[name]), name


def test_gaps_by_activity_pairs_the_users_of_each_bin():
    split = random_split(seed=9, n_users=20)
    per_user = {
        name: evaluate.per_user_metrics(evaluate.top_k(model.fit(split), split, k=10), split, k=10)
        for name, model in [
            ("random", RandomBaseline(seed=9)),
            ("popularity", PopularityBaseline()),
        ]
    }
    activity = np.bincount(split.X_train[:, 0])
    edge = int(np.median(activity))
    table = evaluate.gaps_by_activity(per_user, "random", "popularity", split,
                                      bins=(0, edge, np.inf), n_boot=200)  # fmt: skip
    assert list(table.index) == [f"≤ {edge}", f"> {edge}"]
    assert table["users"].sum() == len(per_user["random"])
    few = per_user["random"].index[activity[per_user["random"].index] <= edge]
    assert table.loc[f"≤ {edge}", "users"] == len(few)
    assert table.loc[f"≤ {edge}", "training ratings"] == (
        f"{activity[few].min()}-{activity[few].max()}"
    )
    gap = evaluate.paired_bootstrap(per_user["random"].loc[few, "ndcg"],
                                    per_user["popularity"].loc[few, "ndcg"], n_boot=200)  # fmt: skip
    assert table.loc[f"≤ {edge}", ["gap", "low", "high"]].tolist() == [
        gap["gap"],
        gap["low"],
        gap["high"],
    ]
    assert table.loc[f"≤ {edge}", "random"] == pytest.approx(
        per_user["random"].loc[few, "ndcg"].mean()
    )
    with pytest.raises(ValueError, match="bins must be two or more increasing edges"):
        evaluate.gaps_by_activity(per_user, "random", "popularity", split, bins=(20, 0))
    with pytest.raises(ValueError, match=r"\['v2'\] are not among the models"):
        evaluate.gaps_by_activity(per_user, "v2", "popularity", split)


@pytest.mark.backends  # the scoring engine on a trained model, on every backend
def test_compare_gives_one_row_per_model_with_ratings_and_list_metrics(course_split_and_v2):
    split, v2 = course_split_and_v2
    damped = DampedMeanBaseline().fit(split)
    candidates = {
        "random": RandomBaseline().fit(split),
        "popularity": PopularityBaseline().fit(split),
        "damped mean": damped,
        "biases": BiasBaseline().fit(split),
        "v2": v2,
    }
    table = evaluate.compare(candidates, split, k=5)
    assert list(table.index) == list(candidates)
    assert list(table.columns) == ["rmse", "mae", *evaluate.METRICS, "popularity", "users"]
    assert table.loc[["random", "popularity"], ["rmse", "mae"]].isna().all().all()
    assert table.loc["damped mean", "rmse"] == pytest.approx(
        rmse_mae(split.y_test, damped.predict(split.X_test))["rmse"]
    )
    assert table.loc["v2", "rmse"] == pytest.approx(train.rating_metrics(v2, split)["rmse"])
    recs = evaluate.top_k(v2, split, k=5)
    expected = evaluate.ranking_metrics(recs, split, k=5)
    for name in evaluate.METRICS:
        assert table.loc["v2", name] == pytest.approx(expected[name]), name
    assert table.loc["v2", "popularity"] == pytest.approx(
        evaluate.popularity_percentile(recs, split, k=5)
    )
    assert (table["users"] == expected["users"]).all()
    val = evaluate.compare({"v2": v2}, split, k=5, part="val")
    assert val.loc["v2", "rmse"] == pytest.approx(
        train.rating_metrics(v2, split, part="val")["rmse"]
    )


@pytest.mark.backends  # the scoring engine on a trained model, on every backend
def test_plot_comparison_draws_one_panel_per_metric_with_every_model(course_split_and_v2):
    split, _ = course_split_and_v2
    table = evaluate.compare(
        {"random": RandomBaseline().fit(split), "popularity": PopularityBaseline().fit(split)},
        split,
        k=5,
    )
    metrics = ["ndcg", "recall", "hit_rate"]
    fig = plots.plot_comparison(table, metrics=tuple(metrics))
    assert [a.get_title() for a in fig.axes] == ["NDCG", "recall", "hit rate"]
    for panel, metric in zip(fig.axes, metrics, strict=True):
        assert sorted(panel.get_lines()[0].get_xdata()) == pytest.approx(sorted(table[metric]))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_comparison(table.iloc[:0])
    with pytest.raises(ValueError, match="auc"):
        plots.plot_comparison(table, metrics=("auc",))


# --------------------------------------------------------------------------- uncertainty


def test_the_paired_bootstrap_interval_covers_a_known_mean_gap_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_gap, covered, trials = 0.02, 0, 200
    for trial in range(trials):
        user_effect = rng.normal(0.3, 0.15, 120)  # what the users share between the models
        a = user_effect + true_gap + rng.normal(0, 0.05, 120)
        b = user_effect + rng.normal(0, 0.05, 120)
        out = evaluate.paired_bootstrap(a, b, n_boot=400, seed=trial)
        covered += out["low"] <= true_gap <= out["high"]
    assert 0.90 <= covered / trials <= 0.99, covered


def test_pairing_removes_what_the_users_share_so_the_interval_is_narrower():
    rng = np.random.default_rng(1)
    user_effect = rng.normal(0.3, 0.15, 300)
    a = pd.Series(user_effect + 0.01 + rng.normal(0, 0.02, 300), index=np.arange(300))
    b = pd.Series(user_effect + rng.normal(0, 0.02, 300), index=np.arange(300))
    paired = evaluate.paired_bootstrap(a, b)
    unpaired = evaluate.paired_bootstrap(a, b, paired=False)
    assert (
        paired["gap"] == pytest.approx(unpaired["gap"]) == pytest.approx(float(a.mean() - b.mean()))
    )
    assert paired["low"] > 0  # paired, the 0.01 gap is resolved ...
    assert unpaired["low"] < 0 < unpaired["high"]  # ... unpaired it is lost in the users' spread
    assert (paired["high"] - paired["low"]) * 5 < unpaired["high"] - unpaired["low"]
    shuffled = evaluate.paired_bootstrap(a, b.sample(frac=1, random_state=0))  # aligned by user
    assert shuffled == paired


def test_the_bootstrap_pairs_the_per_user_metrics_of_two_models():
    split = random_split()
    pop, rnd = PopularityBaseline().fit(split), RandomBaseline().fit(split)
    per_pop = evaluate.per_user_metrics(evaluate.top_k(pop, split), split)
    per_rnd = evaluate.per_user_metrics(evaluate.top_k(rnd, split), split)
    assert per_pop.index.equals(per_rnd.index)
    means = evaluate.ranking_metrics(evaluate.top_k(pop, split), split)
    assert per_pop["ndcg"].mean() == pytest.approx(means["ndcg"])
    out = evaluate.paired_bootstrap(per_pop["ndcg"], per_rnd["ndcg"], n_boot=500)
    assert out["users"] == len(per_pop)
    assert out["low"] <= out["gap"] <= out["high"]
    assert out == evaluate.paired_bootstrap(per_pop["ndcg"], per_rnd["ndcg"], n_boot=500)  # seeded


def test_the_bootstrap_refuses_unpaired_or_bad_input():
    a = pd.Series([0.1, 0.2], index=[1, 2])
    with pytest.raises(ValueError, match="hold different users"):
        evaluate.paired_bootstrap(a, pd.Series([0.1, 0.2], index=[1, 3]))
    with pytest.raises(ValueError, match="one value per user"):
        evaluate.paired_bootstrap(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="holds NaN"):
        evaluate.paired_bootstrap(np.array([0.1, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="confidence must lie in"):
        evaluate.paired_bootstrap(a, a, confidence=95)
    with pytest.raises(ValueError, match="n_boot must be"):
        evaluate.paired_bootstrap(a, a, n_boot=0)


# --------------------------------------------------------------------------- beyond accuracy


def novelty_split() -> Split:
    # 4 training users. Movie 0 is rated by users 0 and 1 (p = 1/2: 1 bit), movie 1 by
    # user 2 (p = 1/4: 2 bits), movie 2 by all four (p = 1: 0 bits); movie 3 is only in
    # the test part (no training rater: counted as one, 2 bits). Catalogue: movies 0..3.
    return split_of(
        train_rows=[(0, 0, 4.0), (1, 0, 3.0), (2, 1, 5.0)] + [(u, 2, 4.0) for u in range(4)],
        test_rows=[(0, 3, 5.0)],
    )


def test_novelty_is_the_mean_self_information_of_each_list_then_over_users():
    # User 0: [1, 3] -> (2 + 2) / 2 = 2 bits; user 3: [0, 2, 1] -> (1 + 0 + 2) / 3 = 1 bit.
    # k = 3: (2 + 1) / 2 = 1.5; k = 2 cuts user 3's list to [0, 2]: (2 + 0.5) / 2 = 1.25.
    recs = recs_of({0: [1, 3], 3: [0, 2, 1]})
    assert evaluate.beyond_accuracy(recs, novelty_split(), k=3)["novelty"] == pytest.approx(1.5)
    assert evaluate.beyond_accuracy(recs, novelty_split(), k=2)["novelty"] == pytest.approx(1.25)
    # A training part given twice (as a test fixture tiles it) counts each user once.
    split = novelty_split()
    tiled = Split(np.tile(split.X_train, (3, 1)), np.tile(split.y_train, 3), *split.part("test"))
    assert evaluate.beyond_accuracy(recs, tiled, k=3)["novelty"] == pytest.approx(1.5)


def test_gini_is_zero_for_even_exposure_and_the_hand_value_when_skewed():
    split = novelty_split()  # a catalogue of 4 movies
    even = evaluate.beyond_accuracy(recs_of({0: [0, 1], 1: [2, 3]}), split, k=2)
    assert even["gini"] == pytest.approx(0.0, abs=1e-12)
    # Counts [1, 2, 1, 1], sorted [1, 1, 1, 2]: sum (2i - 5) c_i = -3 - 1 + 1 + 6 = 3,
    # over n * sum c = 4 * 5: 0.15 (the mean absolute difference, 6 / 16, over 2 * 1.25).
    skewed = evaluate.beyond_accuracy(recs_of({0: [1, 3], 3: [0, 2, 1]}), split, k=3)
    assert skewed["gini"] == pytest.approx(0.15)
    # Every list the same one movie: counts [3, 0, 0, 0] -> (n - 1) / n = 3/4.
    same = evaluate.beyond_accuracy(recs_of({0: [2], 1: [2], 2: [2]}), split, k=1)
    assert same["gini"] == pytest.approx(0.75)
    assert "diversity" not in same  # no item_features, no diversity


def test_diversity_is_zero_for_identical_movies_one_for_orthogonal_ones_and_by_hand():
    split = novelty_split()
    recs = recs_of({0: [0, 1, 2], 1: [3, 1], 2: [2]})  # user 2's single movie has no pair
    identical = np.tile([1.0, 0.0, 2.0], (4, 1))
    got = evaluate.beyond_accuracy(recs, split, k=3, item_features=identical)
    assert got["diversity"] == pytest.approx(0.0, abs=1e-12)
    got = evaluate.beyond_accuracy(recs, split, k=3, item_features=np.eye(4))
    assert got["diversity"] == pytest.approx(1.0)
    # Rows [1, 0], [1, 1], [0, 0] (no genre: cosine 0 with all), [0, 1]. User 0: pairs
    # (0, 1) cos 1/sqrt(2), (0, 2) and (1, 2) cos 0 -> 1 - (1/sqrt(2)) / 3. User 1: (3, 1)
    # cos 1/sqrt(2) -> 1 - 1/sqrt(2). Mean over the two users with a pair.
    features = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    got = evaluate.beyond_accuracy(recs, split, k=3, item_features=features)
    expected = ((1 - 1 / np.sqrt(2) / 3) + (1 - 1 / np.sqrt(2))) / 2
    assert got["diversity"] == pytest.approx(expected)


def test_diversity_matches_scikit_learns_cosine_on_random_embeddings():
    from sklearn.metrics.pairwise import cosine_similarity

    split = random_split(seed=3)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(split.n_movies, 5))  # negative cosines too
    recs = evaluate.top_k(FixedScores(rng.random((split.n_users, split.n_movies))), split, k=6)
    recs = recs[recs["rank"] <= rng.integers(2, 7, len(recs))]  # lists of several lengths
    per_user = []
    for _, movies in recs.groupby("user")["movie"]:
        sim = cosine_similarity(features[movies.to_numpy()])
        n = len(movies)
        per_user.append(1 - (sim.sum() - n) / (n * (n - 1)))
    got = evaluate.beyond_accuracy(recs, split, k=6, item_features=features)
    assert got["diversity"] == pytest.approx(np.mean(per_user), rel=1e-10)


def test_genre_matrix_follows_the_encoder_and_ignores_no_genres():
    from reco.split import encode_ids

    ratings = pd.DataFrame({"userId": [1, 1, 2], "movieId": [30, 10, 20], "rating": 4.0})
    _, encoder = encode_ids(ratings)  # movie indices: 10 -> 0, 20 -> 1, 30 -> 2
    movies = pd.DataFrame(
        {
            "movieId": [30, 99, 10, 20],  # 99 is not rated: no row, but its genre is a column
            "title": ["c", "x", "a", "b"],
            "genres": ["Drama|Comedy", "Horror", "(no genres listed)", "Comedy"],
        }
    )
    got = evaluate.genre_matrix(movies, encoder)  # the catalogue's: Comedy, Drama, Horror
    np.testing.assert_array_equal(got, [[0, 0, 0], [1, 0, 0], [1, 1, 0]])
    assert got.dtype == np.float32
    with pytest.raises(ValueError, match=r"no column\(s\) \['genres'\].*genres_col="):
        evaluate.genre_matrix(movies.drop(columns="genres"), encoder)
    with pytest.raises(ValueError, match="missing value.*fillna"):
        evaluate.genre_matrix(movies.assign(genres=[None, "Horror", "Drama", "Comedy"]), encoder)
    with pytest.raises(ValueError, match=r"no row in the movies table: movieId \[20\]"):
        evaluate.genre_matrix(movies[movies["movieId"] != 20], encoder)
    with pytest.raises(ValueError, match="more than once.*drop_duplicates"):
        evaluate.genre_matrix(pd.concat([movies, movies.iloc[:1]]), encoder)
    with pytest.raises(ValueError, match="astype"):
        evaluate.genre_matrix(movies.astype({"movieId": str}), encoder)


def test_beyond_accuracy_refuses_bad_input_naming_the_fix():
    split, recs = novelty_split(), recs_of({0: [0, 1]})
    with pytest.raises(ValueError, match="k must be at least 1"):
        evaluate.beyond_accuracy(recs, split, k=0)
    with pytest.raises(ValueError, match=r"\['rank'\]"):
        evaluate.beyond_accuracy(recs.drop(columns="rank"), split)
    with pytest.raises(ValueError, match="1 missing.*integer movie indices"):
        evaluate.beyond_accuracy(recs.assign(movie=[0, np.nan]), split)
    with pytest.raises(ValueError, match=r"movie\(s\) \[7\].*top_k on this split"):
        evaluate.beyond_accuracy(recs_of({0: [0, 7]}), split)
    with pytest.raises(ValueError, match="has 3 rows but the split has 4.*genre_matrix"):
        evaluate.beyond_accuracy(recs, split, item_features=np.eye(3))
    with pytest.raises(ValueError, match="finite 2-D array"):
        evaluate.beyond_accuracy(recs, split, item_features=np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="finite 2-D array"):
        evaluate.beyond_accuracy(recs, split, item_features=np.ones(4))


# --------------------------------------------------------------------------- sampled metrics


def relevant_scores(split: Split, part: str, value: float, seed: int = 0) -> FixedScores:
    """Random scores in [0, 1), with ``value`` for every relevant movie of ``part``."""
    scores = np.random.default_rng(seed).random((split.n_users, split.n_movies))
    for u, movies in relevant_sets(split, part).items():
        scores[u, list(movies)] = value
    return FixedScores(scores)


def test_a_perfect_model_hits_every_pair_and_a_hopeless_one_none():
    split = random_split(seed=2)
    for part in ("val", "test"):
        pairs_ = sum(len(m) for m in relevant_sets(split, part).values())
        perfect = relevant_scores(split, part, 2.0)
        perfect = evaluate.sampled_metrics(perfect, split, part, n_negatives=5, k=1)
        assert perfect == {"hit_rate": 1.0, "ndcg": 1.0, "pairs": pairs_}
        # Ranked below its 5 negatives, a relevant movie is 6th: nothing at k = 5.
        hopeless = relevant_scores(split, part, -1.0)
        got = evaluate.sampled_metrics(hopeless, split, part, n_negatives=5, k=5)
        assert (got["hit_rate"], got["ndcg"]) == (0.0, 0.0)
        got = evaluate.sampled_metrics(hopeless, split, part, n_negatives=5, k=6)
        assert got["hit_rate"] == 1.0 and got["ndcg"] == pytest.approx(1 / np.log2(7))


def test_with_every_candidate_drawn_the_sampled_metrics_are_the_full_ranking():
    # Users 0..5 of 8 movies each rated 2 movies in training and 1 in test (5 stars), so
    # each has 8 - 3 = 5 negatives: drawing all 5 ranks the test movie among exactly
    # top_k's candidates, with top_k's tie-break (the scores are 0, 1 or 2: many ties).
    # User 6 rated every movie in training (so all 8 are in the catalogue), none in test.
    rng = np.random.default_rng(0)
    rows = [rng.choice(8, 3, replace=False) for _ in range(6)]
    split = split_of(
        [(u, m, 3.0) for u, r in enumerate(rows) for m in r[:2]] + [(6, m, 1.0) for m in range(8)],
        [(u, r[2], 5.0) for u, r in enumerate(rows)],
    )
    for seed in range(3):
        model = FixedScores(np.random.default_rng(seed).integers(0, 3, (7, 8)))
        for k in (1, 2, 3):
            full = evaluate.ranking_metrics(evaluate.top_k(model, split, k=k), split, k=k)
            got = evaluate.sampled_metrics(model, split, n_negatives=5, k=k, seed=seed)
            assert got["pairs"] == full["users"] == 6
            assert got["hit_rate"] == pytest.approx(full["hit_rate"]), (seed, k)
            assert got["ndcg"] == pytest.approx(full["ndcg"]), (seed, k)


def test_negatives_are_drawn_uniformly_without_replacement():
    # 2000 users rate movie 0 (training) and movie 1 (test, relevant); one more user rates
    # the 19 other movies (so they are in the catalogue). 5 score above movie 1, 14 below. Drawing 4 of the 19 without
    # replacement, no one above is drawn with probability C(14, 4) / C(19, 4) = 0.2583
    # (with replacement it would be (14/19)^4 = 0.2948), at most one with
    # (C(14, 4) + 5 C(14, 3)) / C(19, 4) = 0.7278 (with replacement 0.7159).
    n = 2000
    split = split_of(
        [(u, 0, 3.0) for u in range(n)] + [(n, m, 3.0) for m in range(2, 21)],
        [(u, 1, 5.0) for u in range(n)],
    )
    scores = np.zeros((n + 1, 21))
    scores[:, 1], scores[:, 2:7] = 0.5, 1.0
    at_1 = evaluate.sampled_metrics(FixedScores(scores), split, n_negatives=4, k=1)
    at_2 = evaluate.sampled_metrics(FixedScores(scores), split, n_negatives=4, k=2)
    assert at_1["hit_rate"] == pytest.approx(1001 / 3876, abs=0.02)  # 2 standard errors
    assert at_2["hit_rate"] == pytest.approx((1001 + 5 * 364) / 3876, abs=0.02)


def test_sampled_metrics_are_deterministic_given_the_seed():
    split = random_split(seed=6, n_users=40, density=0.5)
    model = FixedScores(np.random.default_rng(6).random((split.n_users, split.n_movies)))
    first = evaluate.sampled_metrics(model, split, "val", n_negatives=10, k=3, seed=1)
    assert evaluate.sampled_metrics(model, split, "val", n_negatives=10, k=3, seed=1) == first
    assert evaluate.sampled_metrics(model, split, "val", n_negatives=10, k=3, seed=2) != first
    assert first["pairs"] > 10
    assert 0 < first["ndcg"] < first["hit_rate"] < 1


def test_sampled_metrics_score_every_course_model_and_baseline(course):
    split = course.data.split
    candidates = {**course.models, "popularity": PopularityBaseline().fit(split)}
    for name, model in candidates.items():
        got = evaluate.sampled_metrics(model, split, "val", n_negatives=5, k=3)
        assert 0 <= got["ndcg"] <= got["hit_rate"] <= 1, name
        assert got["pairs"] == sum(len(m) for m in relevant_sets(split, "val").values())


def test_sampled_metrics_read_the_test_part_only_for_part_test():
    from reco import split as split_module

    split = random_split(seed=7)
    model = PopularityBaseline().fit(split)
    split_module.reset_test_reads()
    try:
        evaluate.sampled_metrics(model, split, "val", n_negatives=5)
        assert split_module.test_reads().empty
        evaluate.sampled_metrics(model, split, "test", n_negatives=5)
        places = split_module.test_reads()["place"].tolist()
        assert len(places) == 1 and places[0].startswith(__file__)
    finally:
        split_module.reset_test_reads()


def test_sampled_metrics_refuse_bad_input_naming_the_fix():
    split = random_split(seed=2)
    model = PopularityBaseline().fit(split)
    with pytest.raises(ValueError, match=r"only \d+ candidate movies.*Fix: n_negatives=\d+"):
        evaluate.sampled_metrics(model, split, n_negatives=40)
    with pytest.raises(ValueError, match="n_negatives must be at least 1"):
        evaluate.sampled_metrics(model, split, n_negatives=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        evaluate.sampled_metrics(model, split, k=2.5)
    with pytest.raises(ValueError, match="part must be"):
        evaluate.sampled_metrics(model, split, part="train")
    with pytest.raises(ValueError, match="no validation part"):
        evaluate.sampled_metrics(model, one_user_split(), part="val")
    wider = FixedScores(np.zeros((split.n_users, split.n_movies + 1)))
    with pytest.raises(ValueError, match="catalogue has"):
        evaluate.sampled_metrics(wider, split)
    nan = FixedScores(np.full((split.n_users, split.n_movies), np.nan))
    with pytest.raises(ValueError, match="NaN score"):
        evaluate.sampled_metrics(nan, split)
