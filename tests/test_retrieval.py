"""reco.retrieval: V2's ranking as an inner product, exact top-k in blocks, recall, HNSW."""

import sys

import numpy as np
import pytest

from reco import retrieval


@pytest.fixture(scope="module")
def tables():
    """V2-shaped tables: 40 users, 300 movies, 6 factors, biases of V2's spread."""
    rng = np.random.default_rng(0)
    return (
        rng.normal(0, 0.4, (40, 6)).astype(np.float32),
        rng.normal(0, 0.35, 40).astype(np.float32),
        rng.normal(0, 0.4, (300, 6)).astype(np.float32),
        rng.normal(0, 0.45, 300).astype(np.float32),
    )


def v2_scores(U, b_u, M, b_m):
    return U @ M.T + b_u[:, None] + b_m[None, :]


def test_folding_gives_v2_scores_less_the_user_bias(tables):
    U, b_u, M, b_m = tables
    queries, items = retrieval.fold_biases(U, M, b_m)
    assert queries.shape == (40, 7) and items.shape == (300, 7)
    assert queries.dtype == items.dtype == np.float32
    np.testing.assert_allclose(
        queries @ items.T, v2_scores(U, b_u, M, b_m) - b_u[:, None], atol=1e-5
    )


def test_folding_preserves_the_ranking_of_exact_v2_scores(tables):
    U, b_u, M, b_m = tables
    expected = np.argsort(-v2_scores(U, b_u, M, b_m), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(
        retrieval.exact_top_k(*retrieval.fold_biases(U, M, b_m)), expected
    )


def test_dropping_the_movie_bias_changes_the_ranking(tables):
    """The folded dimension matters: without b_m the lists differ (the test can fail)."""
    U, b_u, M, b_m = tables
    expected = retrieval.exact_top_k(*retrieval.fold_biases(U, M, b_m))
    assert (retrieval.exact_top_k(U, M) != expected).any()


@pytest.mark.parametrize("block_users", [1, 7, 40, 1000])
def test_exact_top_k_does_not_depend_on_the_block(tables, block_users):
    U, _, M, b_m = tables
    queries, items = retrieval.fold_biases(U, M, b_m)
    np.testing.assert_array_equal(
        retrieval.exact_top_k(queries, items, block_users=block_users),
        retrieval.exact_top_k(queries, items),
    )


def test_exact_top_k_on_keras_gives_numpys_lists(tables):
    U, _, M, b_m = tables
    queries, items = retrieval.fold_biases(U, M, b_m)
    np.testing.assert_array_equal(
        retrieval.exact_top_k(queries, items, block_users=16, engine="keras"),
        retrieval.exact_top_k(queries, items),
    )


def test_exact_top_k_lists_at_most_the_catalogue():
    found = retrieval.exact_top_k(np.ones((2, 3)), np.eye(3) * [1, 3, 2], k=10)
    np.testing.assert_array_equal(found, [[1, 2, 0], [1, 2, 0]])


def test_recall_of_exact_is_one_and_of_disjoint_lists_zero():
    exact = np.array([[0, 1, 2], [3, 4, 5]])
    assert retrieval.recall_at_k(exact, exact) == 1.0
    assert retrieval.recall_at_k(exact[:, ::-1], exact) == 1.0  # order within a list aside
    assert retrieval.recall_at_k(exact + 10, exact) == 0.0
    assert retrieval.recall_at_k([[0, 9, -1], [5, 4, 3]], exact) == pytest.approx(4 / 6)


def test_recall_refuses_lists_of_other_users():
    with pytest.raises(ValueError, match="same queries"):
        retrieval.recall_at_k(np.zeros((3, 10)), np.zeros((2, 10)))


def test_fold_biases_refuses_tables_that_do_not_fit(tables):
    U, _, M, b_m = tables
    with pytest.raises(ValueError, match="one V2 model"):
        retrieval.fold_biases(U, M[:, :5], b_m)
    with pytest.raises(ValueError, match="one V2 model"):
        retrieval.fold_biases(U, M, b_m[:-1])


def test_exact_top_k_refuses_unfolded_queries(tables):
    U, _, M, b_m = tables
    with pytest.raises(ValueError, match="fold both"):
        retrieval.exact_top_k(U, retrieval.fold_biases(U, M, b_m)[1])
    with pytest.raises(ValueError, match="engine"):
        retrieval.exact_top_k(U, M, engine="torch")


def test_a_missing_faiss_names_make_setup_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    with pytest.raises(ImportError, match=r"make setup.*\[scale\]"):
        retrieval.hnsw_index(np.ones((3, 2), np.float32))


def test_hnsw_finds_almost_every_exact_item():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    U, M = rng.normal(size=(200, 8)), rng.normal(size=(3000, 8))
    queries, items = retrieval.fold_biases(U, M, rng.normal(0, 0.45, 3000))
    exact = retrieval.exact_top_k(queries, items)
    index = retrieval.hnsw_index(items, m=16, ef_construction=40)
    assert retrieval.recall_at_k(retrieval.ann_top_k(index, queries, ef_search=128), exact) > 0.95
    with pytest.raises(ValueError, match="fold"):
        retrieval.ann_top_k(index, U)


def test_an_index_built_on_one_thread_is_the_same_graph_every_time():
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    rng = np.random.default_rng(2)
    queries, items = rng.normal(size=(300, 9)), rng.normal(size=(4000, 9))
    try:
        runs = [retrieval.ann_top_k(retrieval.hnsw_index(items, m=8, threads=1), queries,
                                    ef_search=10) for _ in range(2)]  # fmt: skip
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)
    np.testing.assert_array_equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="threads"):
        retrieval.hnsw_index(items, threads=0)
