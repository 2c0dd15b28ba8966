"""Top-k movies for many users at once: exact in blocks, or approximate with an index.

V2 ranks the movies for user ``u`` by ``u . m + b_u + b_m``. The user's bias
``b_u`` is the same for every movie, so it changes no ranking and can be
dropped; the movie's bias ``b_m`` folds into one more dimension,

    u' = [u, 1],   m' = [m, b_m],   u' . m' = u . m + b_m,

so a user's best movies are the movies of largest inner product with ``u'``:
*maximum inner product search* (MIPS). :func:`fold_biases` makes the two tables,
:func:`exact_top_k` searches them exactly, a block of users at a time (memory
stays bounded however many users there are), and :func:`hnsw_index` with
:func:`ann_top_k` searches them approximately with an HNSW graph from faiss
(Malkov and Yashunin 2018), which visits a small part of the catalogue per
query. :func:`recall_at_k` says how many of the exact top-k the approximate
lists found. ``tools/bench_scale.py`` measures both at ml-25m's 59,047 movies.

These lists rank the whole catalogue; they do not drop the movies a user has
rated (:func:`reco.evaluate.top_k` and :func:`reco.recommend.recommend` do).
An index serves that by asking for more than ``k`` and filtering.

faiss is imported only when an index is built, from the ``[scale]`` extra that
``make setup`` installs.
"""

from __future__ import annotations

import numpy as np

from reco._checks import check_count, positive_int
from reco.evaluate import SCORE_BLOCK, _block_users

__all__ = [
    "SEARCH_BLOCK",
    "ann_top_k",
    "exact_top_k",
    "fold_biases",
    "hnsw_index",
    "recall_at_k",
    "require_faiss",
]

#: Most scores :func:`exact_top_k` holds at once: :data:`reco.evaluate.SCORE_BLOCK`
#: (2**25 float32, 134 MB), the bound of :func:`reco.evaluate.top_k`.
SEARCH_BLOCK = SCORE_BLOCK


def fold_biases(user_factors, movie_factors, movie_bias) -> tuple[np.ndarray, np.ndarray]:
    """Fold V2's movie bias into the factors, so that V2's ranking is an inner product.

    Args:
        user_factors: float array ``(n_users, n_factors)``.
        movie_factors: float array ``(n_movies, n_factors)``.
        movie_bias: float array ``(n_movies,)`` or ``(n_movies, 1)``.

    Returns:
        ``(queries, items)``: C-contiguous float32 arrays ``(n_users, n_factors + 1)``
        (``[u, 1]``) and ``(n_movies, n_factors + 1)`` (``[m, b_m]``), with
        ``queries @ items.T`` equal to V2's scores minus each user's ``b_u``.

    Raises:
        ValueError: the shapes do not fit together.
    """
    U = np.asarray(user_factors, dtype=np.float32)
    M = np.asarray(movie_factors, dtype=np.float32)
    b = np.asarray(movie_bias, dtype=np.float32).reshape(-1)
    if U.ndim != 2 or M.ndim != 2 or U.shape[1] != M.shape[1] or len(b) != len(M):
        raise ValueError(
            f"fold_biases needs user factors (n_users, d), movie factors (n_movies, d) and "
            f"a movie bias (n_movies,); got shapes {U.shape}, {M.shape} and "
            f"{np.shape(movie_bias)}. Fix: pass the tables of one V2 model."
        )
    queries = np.hstack([U, np.ones((len(U), 1), np.float32)])
    items = np.hstack([M, b[:, None]])
    return np.ascontiguousarray(queries), np.ascontiguousarray(items)


def exact_top_k(
    queries, items, k: int = 10, *, block_users: int | None = None, engine: str = "numpy"
) -> np.ndarray:
    """Return the ``k`` items of largest inner product with each query, best first.

    Args:
        queries: float array ``(n, d)``.
        items: float array ``(n_items, d)``.
        k: list length, at least 1 (at most ``n_items`` are returned).
        block_users: queries scored at once; default: as many as fit in
            :data:`SEARCH_BLOCK` scores. The lists do not depend on it.
        engine: ``"numpy"`` (a matrix product and ``np.argpartition``) or
            ``"keras"`` (``keras.ops.matmul`` and ``keras.ops.top_k`` on the
            current Keras backend); ``make bench-scale`` times both.

    Returns:
        int64 array ``(n, min(k, n_items))`` of item indices, best first. Which
        of several items tied at the ``k``-th score are kept is not specified
        (:func:`reco.evaluate.rank_scores` breaks ties by the protocol).
    """
    queries = np.asarray(queries, dtype=np.float32)
    items = np.asarray(items, dtype=np.float32)
    _check_dims(queries, items)
    k = min(check_count(k, "k"), len(items))
    block_users = _block_users(len(items), block_users)
    if engine not in ("numpy", "keras"):
        raise ValueError(f"engine must be 'numpy' or 'keras'; got {engine!r}.")
    best_k = _numpy_top_k if engine == "numpy" else _keras_top_k(items)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block_users):
        block = queries[start : start + block_users]
        out[start : start + len(block)] = best_k(block, items, k)
    return out


def _numpy_top_k(block: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    scores = block @ items.T
    best = np.argpartition(scores, len(items) - k, axis=1)[:, len(items) - k :]
    values = np.take_along_axis(scores, best, axis=1)
    order = np.lexsort((best, -values), axis=1)  # by score, then smaller index
    return np.take_along_axis(best, order, axis=1)


def _keras_top_k(items: np.ndarray):
    import keras

    table = keras.ops.convert_to_tensor(items.T)

    def best_k(block, items, k):
        scores = keras.ops.matmul(keras.ops.convert_to_tensor(block), table)
        return keras.ops.convert_to_numpy(keras.ops.top_k(scores, k, sorted=True)[1])

    return best_k


def recall_at_k(found, exact) -> float:
    """Return the mean share of each row of ``exact`` that the same row of ``found`` holds.

    Args:
        found: int array ``(n, k')``: approximate lists (``-1`` marks an empty slot,
            as faiss returns when it finds fewer than ``k``).
        exact: int array ``(n, k)``: the exact lists.

    Returns:
        recall@k in [0, 1], averaged over the rows; 1.0 when ``found`` holds every
        exact item.
    """
    found, exact = np.asarray(found), np.asarray(exact)
    if found.ndim != 2 or exact.ndim != 2 or len(found) != len(exact) or exact.shape[1] == 0:
        raise ValueError(
            f"recall_at_k needs two lists per row of equal row counts; got shapes "
            f"{found.shape} and {exact.shape}. Fix: search the same queries both ways."
        )
    hits = (exact[:, :, None] == found[:, None, :]).any(axis=2) & (exact >= 0)
    return float(hits.mean())


def require_faiss():
    """Return the faiss module, or raise ``ImportError`` saying how to install it."""
    try:
        import faiss
    except ImportError as err:
        raise ImportError(
            "reco.retrieval's approximate search needs faiss (the faiss-cpu package), "
            "which is not installed. Fix: run `make setup`, or "
            '`pip install -e ".[scale]"` (the [scale] extra of pyproject.toml).'
        ) from err
    return faiss


def hnsw_index(items, *, m: int = 32, ef_construction: int = 80, threads: int | None = None):
    """Build a faiss HNSW index of ``items`` for inner-product search.

    faiss adds the items on several threads, and the graph then depends on how
    the threads were scheduled: the same items can give another graph, and
    another recall in the last digits. ``threads=1`` builds the same graph
    every time (slower).

    Args:
        items: float array ``(n_items, d)``, such as the ``items`` of :func:`fold_biases`.
        m: links per node of the graph (more: better recall, more memory and build time).
        ef_construction: candidates kept while the graph is built.
        threads: faiss's OpenMP threads from now on (a process-wide setting);
            default: as they are (one per core).

    Returns:
        a ``faiss.IndexHNSWFlat`` over ``items`` with the inner-product metric.
    """
    faiss = require_faiss()
    items = np.ascontiguousarray(items, dtype=np.float32)
    if items.ndim != 2 or len(items) == 0:
        raise ValueError(f"hnsw_index needs a non-empty (n_items, d) array; got {items.shape}.")
    m = positive_int(m, "m", "for example m=32")
    ef_construction = positive_int(ef_construction, "ef_construction", "for example 80")
    if threads is not None:
        faiss.omp_set_num_threads(positive_int(threads, "threads", "for example threads=1"))
    index = faiss.IndexHNSWFlat(items.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(items)
    return index


def ann_top_k(index, queries, k: int = 10, *, ef_search: int = 64) -> np.ndarray:
    """Return each query's ``k`` best items by an index of :func:`hnsw_index`, best first.

    Args:
        index: from :func:`hnsw_index`.
        queries: float array ``(n, d)``, such as the ``queries`` of :func:`fold_biases`.
        k: list length, at least 1.
        ef_search: candidates kept per query (more: better recall, slower); at least ``k``.

    Returns:
        int64 array ``(n, k)`` of item indices (``-1`` where fewer were found).
    """
    k = check_count(k, "k")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise ValueError(
            f"the index holds {index.d}-dimensional items; got queries of shape "
            f"{queries.shape}. Fix: fold the users' and the movies' tables together."
        )
    index.hnsw.efSearch = max(positive_int(ef_search, "ef_search", "for example 64"), k)
    _, found = index.search(queries, k)
    return found.astype(np.int64, copy=False)


def _check_dims(queries: np.ndarray, items: np.ndarray) -> None:
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise ValueError(
            f"queries (n, d) and items (n_items, d) must share d; got shapes "
            f"{queries.shape} and {items.shape}. Fix: fold both with fold_biases."
        )
