"""Judge recommendations as ranked lists: top-k lists for every user, and their metrics.

RMSE scores predicted ratings one at a time; a user sees a *list*. This module
measures lists, with one protocol for every model and baseline of the course
(as in Rendle et al. 2020, Microsoft Recommenders and KerasRS: HR and NDCG@10).

The protocol
------------
* **Candidates.** For each user, every movie of the catalogue that the user
  did not rate in the training part of the split. The catalogue is the
  distinct movies over all parts of the split; on the course split it is every
  movie the encoder knows (``encoder.n_movies``).
* **Relevant.** The user's test-part movies (``part="test"``; validation-part
  with ``part="val"``) rated at least :data:`RELEVANT_RATING` (4 stars). The
  metrics are averaged over the users with at least one relevant movie, and
  ``users`` says how many those are.
* **Lists.** ``k = 10`` by default, best first, or all the candidates when fewer
  than ``k`` remain. Ties are broken deterministically: by higher training
  popularity (number of training ratings), then by smaller movie index.
* **Excluded.** A list for ``part="test"`` excludes every movie the user has in
  the other parts of the split: the training part, and the validation part when
  the split has one. A list for ``part="val"`` excludes the training part.
* **Users without a list.** A user with relevant movies but no list counts as
  zero on every metric.
* **Metrics at k,** per user, then averaged:
  precision = hits / k; recall = hits / |relevant|; hit rate = 1 if hits > 0;
  NDCG = DCG / IDCG with DCG = sum over ranks i = 1..k of [i relevant] / log2(i + 1)
  and IDCG the same sum over the first min(k, |relevant|) ranks;
  AP@k = sum over i of precision@i * [i relevant] / min(k, |relevant|) (MAP is
  its mean); MRR = 1 / rank of the first hit, or 0.
* **Catalogue coverage.** The share of the catalogue that appears in at least
  one user's list, over all users' lists. The catalogue is the distinct movies
  over all parts of the split (on the course split, ``encoder.n_movies``).

Scoring
-------
:func:`score_users` is the one engine that scores users against the whole
catalogue, for :func:`top_k` here and for :func:`reco.recommend.recommend`. It
asks the model's contract (:mod:`reco.kinds`): the dot-product models (V1, V2,
RecommenderNetV2, the implicit model) score with one matrix product of the
learned factors plus the biases, before any sigmoid (the sigmoid is
monotonic, so ranking by its input gives the same order as ranking by
predicted stars); RecommenderNet (an MLP) is called on all user-movie pairs in
large batches; a baseline from :mod:`reco.baselines` scores itself (its
``score_users``). :func:`rank_scores` then keeps the best ``k`` with the
protocol's tie-break. A NaN score is refused, naming the model: it would
otherwise rank first, or anywhere.

:func:`reco.recommend.recommend` uses the same scoring and tie-break but
differs on purpose in what it excludes: it drops *every* movie the user has
rated (the product: never recommend what they have seen), whereas :func:`top_k`
excludes what the protocol says, so that the test part's movies stay candidates.

Beyond accuracy, and the sampled protocol
-----------------------------------------
:func:`beyond_accuracy` measures the lists themselves: novelty (self-information
of the listed movies), intra-list diversity (over :func:`genre_matrix` or movie
factors) and the Gini coefficient of how often each movie is listed.
:func:`sampled_metrics` ranks each relevant movie against sampled negatives
instead of the whole catalogue, as NCF-style papers do, to show how differently
that protocol judges (Krichene & Rendle 2020).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reco import kinds
from reco._checks import check_count, check_unique_pairs, positive_int, require_columns
from reco.constants import DEFAULT_K, MOVIE_IDX_COL, SEED, USER_IDX_COL
from reco.features import genre_matrix
from reco.split import PARTS, Split, index_sizes

__all__ = [
    "METRICS",
    "RELEVANT_RATING",
    "beyond_accuracy",
    "compare",
    "gaps_between",
    "gaps_by_activity",
    "gaps_to",
    "genre_matrix",
    "metrics_by_activity",
    "paired_bootstrap",
    "per_user_metrics",
    "popularity_percentile",
    "rank_scores",
    "ranking_metrics",
    "sampled_metrics",
    "score_users",
    "tie_order",
    "top_k",
    "user_groups",
]

#: A test movie rated at least this many stars is relevant to its user.
RELEVANT_RATING = 4.0

#: The ranking metrics :func:`ranking_metrics` returns, in display order.
METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr", "coverage")

# --------------------------------------------------------------------------- the split


def _check_part(split: Split, part: str) -> None:
    if part not in ("val", "test"):
        raise ValueError(f"part must be 'test' or 'val'; got {part!r}.")
    if part == "val" and split.X_val is None:
        raise ValueError(
            "this split has no validation part. Fix: use reco.split.train_val_test_split, "
            "or part='test'."
        )


def _excluded(split: Split, part: str) -> np.ndarray:
    """Return the ``[user, movie]`` rows that lists for ``part`` must not contain."""
    keep = ["train"] + (["val"] if part == "test" and split.X_val is not None else [])
    return np.concatenate([split.part(p)[0] for p in keep])


def _popularity(split: Split, n_movies: int) -> np.ndarray:
    """Return the number of training ratings of every movie index."""
    return np.bincount(split.X_train[:, 1], minlength=n_movies)


# --------------------------------------------------------------------------- scoring


def score_users(model, users, n_movies: int | None = None, *, context=None) -> np.ndarray:
    """Score every movie of the catalogue for each of ``users``; higher is better.

    Args:
        model: a trained model of a registered kind (:mod:`reco.kinds`), or a
            fitted baseline from :mod:`reco.baselines`.
        users: int array of shape ``(n,)``: encoded user indices.
        n_movies: the size of the catalogue; default: the model's.
        context: the scoring context of kinds that take one (for example the
            reference time); the others ignore it.

    Returns:
        float array of shape ``(n, n_movies)``: the contract's score, which
        ranks the movies as the model's predictions do. For the dot-product
        models it is the score before the sigmoid (``u . m + b_u + b_m``); for
        RecommenderNet, the predicted stars; for a baseline, its own score.

    Raises:
        ValueError: a user index is outside the model, ``n_movies`` differs
            from the model's, or the model gives NaN scores.
    """
    scores = kinds.score_users(model, users, context)
    if n_movies is not None and scores.shape[1] != n_movies:
        raise ValueError(
            f"the model scores {scores.shape[1]} movies but the catalogue has {n_movies}. "
            "Fix: evaluate a model built with the encoder of this split."
        )
    if scores.size and np.isnan(scores.min()):  # min is NaN iff a score is: one cheap pass
        nan = np.isnan(scores)
        name = getattr(model, "name", None) or type(model).__name__
        raise ValueError(
            f"model {name!r} gave {int(nan.sum())} NaN score(s) for "
            f"{int(nan.any(axis=1).sum())} of {len(scores)} user(s); a NaN would be ranked as "
            "if it were a score. Fix: find where the NaN comes from (a NaN or empty training "
            "part, a division by zero, EASE with an infinite lambda) and refit."
        )
    return scores


def tie_order(popularity) -> np.ndarray:
    """Return each movie's place in the tie-break order: more popular first, then smaller index.

    Args:
        popularity: int array of shape ``(n_movies,)``: ratings per movie.

    Returns:
        int array of shape ``(n_movies,)``, a permutation of ``0..n_movies-1``;
        the ``tie_rank`` that :func:`rank_scores` takes.
    """
    popularity = np.asarray(popularity)
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    tie_rank = np.empty(len(popularity), dtype=np.int64)
    tie_rank[order] = np.arange(len(popularity))
    return tie_rank


def rank_scores(scores: np.ndarray, k: int, tie_rank: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the best ``k`` entries of each row of ``scores``, ties broken by ``tie_rank``.

    Entries equal to ``-inf`` are excluded candidates and never returned; NaN
    entries are refused.

    Args:
        scores: float array of shape ``(n, m)``.
        k: list length, at least 1.
        tie_rank: int array of shape ``(m,)``: among equal scores, the smaller
            ``tie_rank`` comes first (all distinct).

    Returns:
        ``(rows, cols, ranks)``: int arrays of equal length, sorted by row then
        rank; ``ranks`` run from 1 to at most ``k`` within each row.

    Raises:
        ValueError: ``scores`` hold NaN, or ``k`` is not a positive integer.
    """
    scores = np.asarray(scores)
    if scores.size and np.isnan(scores.min()):  # min is NaN iff a score is: one cheap pass
        nan = np.isnan(scores)
        raise ValueError(
            f"scores hold {int(nan.sum())} NaN value(s), in {int(nan.any(axis=1).sum())} row(s); "
            "NaN cannot be ranked. Fix: find where the NaN comes from and refit, or mark "
            "excluded candidates with -inf."
        )
    k = check_count(k, "k")
    n, m = scores.shape
    if n == 0 or m == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    kk = min(k, m)
    # The kk best of each row, unordered; ties at the k-th score may be left out here.
    best = np.argpartition(scores, m - kk, axis=1)[:, m - kk :]
    threshold = np.take_along_axis(scores, best, axis=1).min(axis=1)
    at_least = (scores >= threshold[:, None]).sum(axis=1)
    tied = (at_least > kk) | (threshold == -np.inf)
    rows = [np.repeat(np.flatnonzero(~tied), kk), best[~tied].reshape(-1)]
    if tied.any():  # rows with ties at the k-th score, or fewer than k candidates
        slow = np.flatnonzero(tied)
        sub = scores[slow]
        r, c = np.nonzero((sub >= threshold[slow, None]) & (sub > -np.inf))
        rows = [np.concatenate([rows[0], slow[r]]), np.concatenate([rows[1], c])]
    rows, cols = rows
    order = np.lexsort((tie_rank[cols], -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, rows, side="left")
    ranks = np.arange(len(rows)) - starts + 1
    keep = ranks <= k
    return rows[keep], cols[keep], ranks[keep]


def top_k(
    model,
    split: Split,
    k: int = DEFAULT_K,
    part: str = "test",
    *,
    context=None,
    fallback=None,
    block_users: int | None = None,
) -> pd.DataFrame:
    """Recommend ``k`` movies to every user with training ratings, following the protocol.

    A model knows nothing of a user with no training ratings (a *new* user,
    common on a split in time order: :func:`reco.split.time_split`). Without
    a ``fallback`` such a user gets no list, and so scores 0 in the metrics;
    with one, they get its list, and :func:`user_groups` tells them apart.

    Args:
        model: a trained course model, or a fitted baseline from :mod:`reco.baselines`.
        split: the split the model was trained on (its training part).
        k: list length, at least 1.
        part: ``"test"`` (lists exclude the training and validation parts) or
            ``"val"`` (lists exclude the training part).
        context: the scoring context of kinds that take one (for example the
            reference time), passed to :func:`score_users`.
        fallback: the lists of users with no training ratings: ``None`` (none,
            as the course's random splits need), ``"popularity"`` (the most-rated
            training movies), or a fitted model or baseline that scores them.
        block_users: how many users are scored at once; default: as many as
            fit in :data:`SCORE_BLOCK` scores, so memory stays bounded however
            many users and movies there are. The lists do not depend on it.

    Returns:
        a DataFrame with columns ``user`` and ``movie`` (encoded indices),
        ``rank`` (1..k, best first) and ``score`` (the ranking score, see
        :func:`score_users`): min(k, candidates) rows per user, sorted by user
        then rank.

    Raises:
        ValueError: a bad ``k`` or ``part``, a model built for another encoding,
            or NaN scores.
    """
    k = check_count(k, "k")
    _check_part(split, part)
    n_users, n_movies = index_sizes(split)
    known = np.unique(split.X_train[:, 0])
    users = known if fallback is None else np.arange(n_users)
    tie_rank = tie_order(_popularity(split, n_movies))
    outside = np.setdiff1d(np.arange(n_movies), _catalogue_movies(split))
    excluded = _excluded(split, part)
    excluded = excluded[np.argsort(excluded[:, 0], kind="stable")]  # by user, to slice per block
    block = _block_users(n_movies, block_users)
    frames = []
    for start in range(0, len(users), block):  # bounded memory: one block of users at a time
        some = users[start : start + block]
        scores = _block_scores(model, split, some, known, n_movies, context, fallback)
        scores[:, outside] = -np.inf
        lo, hi = np.searchsorted(excluded[:, 0], [some[0], some[-1] + 1])
        seen = excluded[lo:hi]
        rows = np.minimum(np.searchsorted(some, seen[:, 0]), len(some) - 1)
        listed = some[rows] == seen[:, 0]  # not so for a user with no list (validation only)
        scores[rows[listed], seen[listed, 1]] = -np.inf
        r, c, ranks = rank_scores(scores, k, tie_rank)
        frames.append(
            pd.DataFrame(
                {
                    USER_IDX_COL: some[r].astype(np.int64),
                    MOVIE_IDX_COL: c.astype(np.int64),
                    "rank": ranks.astype(np.int64),
                    "score": scores[r, c],
                }
            )
        )
    if not frames:
        empty = np.empty(0, dtype=np.int64)
        cols = {USER_IDX_COL: empty, MOVIE_IDX_COL: empty, "rank": empty}
        return pd.DataFrame({**cols, "score": np.empty(0, dtype=np.float32)})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


#: Most scores :func:`top_k` holds at once (float32): 2**25, 128 MB. A block holds as many
#: users as fit, so ml-latest-small's 610 users x 9,724 movies are one block, and
#: ml-25m's 162,541 x 59,047 (38 GB at once) go in blocks of 568 users.
SCORE_BLOCK = 1 << 25


def _block_users(n_movies: int, block_users) -> int:
    if block_users is not None:
        return positive_int(block_users, "block_users", "for example block_users=512")
    return max(1, SCORE_BLOCK // max(n_movies, 1))


def _block_scores(model, split, users, known, n_movies, context, fallback) -> np.ndarray:
    """Score every movie for ``users`` (sorted): the model for known users, the fallback for new."""
    if fallback is None:
        return np.array(score_users(model, users, n_movies, context=context), dtype=np.float32)
    scores = np.empty((len(users), n_movies), dtype=np.float32)
    is_known = np.isin(users, known)
    if is_known.any():
        scores[is_known] = score_users(model, users[is_known], n_movies, context=context)
    if not is_known.all():
        new = users[~is_known]
        scores[~is_known] = _fallback_scores(fallback, split, new, n_movies, context)
    return scores


def _fallback_scores(fallback, split: Split, users: np.ndarray, n_movies: int, context):
    """Score every movie for users with no training ratings, by the fallback of :func:`top_k`."""
    if isinstance(fallback, str):
        if fallback != "popularity":
            raise ValueError(
                f"fallback must be None, 'popularity' or a fitted model; got {fallback!r}."
            )
        return np.broadcast_to(
            _popularity(split, n_movies).astype(np.float32), (len(users), n_movies)
        )
    return score_users(fallback, users, n_movies, context=context)


def user_groups(split: Split, part: str = "test") -> pd.Series:
    """Say which users of ``part`` are new (no training ratings) and which are known.

    Args:
        split: a split.
        part: ``"val"`` or ``"test"``.

    Returns:
        a Series indexed by user index (``user``), sorted, holding ``"new"`` or
        ``"known"``, for every user with a rating in ``part``; it aligns with
        :func:`per_user_metrics`'s rows.
    """
    _check_part(split, part)
    users = np.unique(split._rows(part)[:, 0])  # who is in the part: its structure, not a read
    known = np.isin(users, split.X_train[:, 0])
    return pd.Series(
        np.where(known, "known", "new"), index=pd.Index(users, name=USER_IDX_COL), name="group"
    )


# --------------------------------------------------------------------------- metrics


def _relevant(split: Split, part: str) -> pd.DataFrame:
    X, y = split.part(part)
    keep = np.asarray(y) >= RELEVANT_RATING
    return pd.DataFrame({USER_IDX_COL: X[keep, 0], MOVIE_IDX_COL: X[keep, 1]})


def _catalogue_movies(split: Split) -> np.ndarray:
    """Return the catalogue: the distinct movies over all parts of the split.

    Which movie indices exist is the split's structure, not a read of a part's
    ratings: it is not recorded as a test-part read (reco.split.test_reads).
    """
    rows = [split._rows(p) for p in PARTS]
    return np.unique(np.concatenate([X[:, 1] for X in rows if X is not None]))


def _check_recs(recs: pd.DataFrame) -> None:
    require_columns(recs, {USER_IDX_COL: None, MOVIE_IDX_COL: None, "rank": None}, "recs")
    fix = "pass each user's list once, as top_k returns it (recs.drop_duplicates())"
    for col in (MOVIE_IDX_COL, "rank"):  # a movie or a rank twice in a list counts its hit twice
        check_unique_pairs(recs, "recs", user_col=USER_IDX_COL, movie_col=col, fix=fix)


def _check_part_pairs(split: Split, part: str) -> None:
    X, _ = split.part(part)
    check_unique_pairs(
        X,
        f"the {part} part",
        user_col=USER_IDX_COL,
        movie_col=MOVIE_IDX_COL,
        fix="split a ratings table with one rating per (user, movie) pair "
        "(reco.split.encode_ids refuses duplicates)",
    )


def _per_user(recs: pd.DataFrame, split: Split, k: int, part: str) -> pd.DataFrame:
    """Return one row per user with relevant movies: every metric but coverage."""
    _check_recs(recs)
    _check_part(split, part)
    _check_part_pairs(split, part)
    relevant = _relevant(split, part)
    n_relevant = relevant.groupby(USER_IDX_COL).size().rename("n_relevant")
    lists = recs.loc[recs["rank"] <= k, [USER_IDX_COL, MOVIE_IDX_COL, "rank"]]
    lists = lists[lists[USER_IDX_COL].isin(n_relevant.index)]
    lists = lists.sort_values([USER_IDX_COL, "rank"], kind="stable")
    hit = lists.merge(relevant.assign(hit=1.0), on=[USER_IDX_COL, MOVIE_IDX_COL], how="left")[
        "hit"
    ].fillna(0.0)
    hit = hit.to_numpy()
    user = lists[USER_IDX_COL].to_numpy()
    rank = lists["rank"].to_numpy(dtype=np.float64)
    hits_so_far = pd.Series(hit).groupby(user).cumsum().to_numpy()
    frame = pd.DataFrame(
        {
            USER_IDX_COL: user,
            "hit": hit,
            "dcg": hit / np.log2(rank + 1),
            "ap": hit * hits_so_far / rank,
            "rr": np.where(hit > 0, 1.0 / rank, 0.0),
        }
    )
    sums = frame.groupby(USER_IDX_COL).agg(
        hits=("hit", "sum"), dcg=("dcg", "sum"), ap=("ap", "sum"), rr=("rr", "max")
    )
    out = sums.reindex(n_relevant.index, fill_value=0.0).join(n_relevant)
    cap = np.minimum(out["n_relevant"].to_numpy(), k)
    # IDCG needs the discounts up to the largest cap only (k may be huge; the cap is not).
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, int(cap.max(initial=1)) + 2)))
    return pd.DataFrame(
        {
            "precision": out["hits"] / k,
            "recall": out["hits"] / out["n_relevant"],
            "ndcg": out["dcg"] / discounts[cap - 1],
            "map": out["ap"] / cap,
            "hit_rate": (out["hits"] > 0).astype(np.float64),
            "mrr": out["rr"],
        },
        index=out.index,
    )


def ranking_metrics(
    recs: pd.DataFrame, split: Split, k: int = DEFAULT_K, part: str = "test"
) -> dict[str, float]:
    """Score top-k lists against the relevant movies of ``part``, as the protocol says.

    Args:
        recs: lists as :func:`top_k` returns them (columns ``user``, ``movie``, ``rank``).
        split: the split whose ``part`` holds the relevant movies.
        k: list length; ranks above ``k`` are ignored.
        part: ``"test"`` or ``"val"``.

    Returns:
        a dict with ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate``,
        ``mrr`` (means over users with a relevant movie), ``coverage`` (share of
        the catalogue in at least one list) and ``users`` (how many users the
        means are over).
    """
    k = check_count(k, "k")
    per_user = _per_user(recs, split, k, part)
    out = {name: float(per_user[name].mean()) if len(per_user) else 0.0 for name in METRICS[:-1]}
    listed = recs.loc[recs["rank"] <= k, MOVIE_IDX_COL].nunique()
    out["coverage"] = float(listed / len(_catalogue_movies(split)))
    out["users"] = len(per_user)
    return out


def per_user_metrics(
    recs: pd.DataFrame, split: Split, k: int = DEFAULT_K, part: str = "test"
) -> pd.DataFrame:
    """Return every ranking metric but coverage for each user with a relevant movie.

    The rows are what :func:`ranking_metrics` averages; two models scored on
    the same split and part have the same users, so their rows pair up for
    :func:`paired_bootstrap`.

    Args:
        recs: lists as :func:`top_k` returns them.
        split: the split whose ``part`` holds the relevant movies.
        k: list length; ranks above ``k`` are ignored.
        part: ``"test"`` or ``"val"``.

    Returns:
        a DataFrame indexed by user index (``user``) with the columns
        ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate`` and ``mrr``.
    """
    return _per_user(recs, split, check_count(k, "k"), part)


def paired_bootstrap(
    a,
    b,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    paired: bool = True,
    seed: int = SEED,
) -> dict[str, float]:
    """Return the mean gap ``mean(a) - mean(b)`` over users, with a bootstrap interval.

    The users are resampled with replacement ``n_boot`` times. Paired (the
    default), each resample keeps a user's two values together, so what the
    users have in common (some are easy to please, some rated few relevant
    movies) cancels out of the gap; ``paired=False`` resamples the two models'
    users independently, which is the wrong interval for two models scored on
    the same users, kept to show how much wider it is. The interval is the
    percentile interval of the resampled gaps. A gap whose interval includes 0
    is a tie.

    Args:
        a, b: one value per user for each model, such as a column of
            :func:`per_user_metrics`: two Series with the same index (the
            users), or two arrays of the same length, in the same user order.
        n_boot: resamples, at least 1.
        confidence: the interval's coverage, in ``(0, 1)``.
        paired: resample the users' pairs (``True``) or each model's users on
            their own (``False``).
        seed: the seed of the resampling.

    Returns:
        ``{"gap", "low", "high", "users"}``: the observed mean gap, the
        interval's ends, and the number of users.

    Raises:
        ValueError: ``a`` and ``b`` do not hold the same users, hold NaN, or are
            empty; or a bad ``n_boot`` or ``confidence``.
    """
    a, b = _paired_values(a, b)
    n_boot = positive_int(n_boot, "n_boot", "for example n_boot=2000")
    if not 0 < float(confidence) < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}. Fix: 0.95.")
    rng = np.random.default_rng(seed)
    n = len(a)
    rows = rng.integers(0, n, size=(n_boot, n))
    if paired:
        gaps = (a - b)[rows].mean(axis=1)
    else:
        gaps = a[rows].mean(axis=1) - b[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    tail = (1 - float(confidence)) / 2
    low, high = np.quantile(gaps, [tail, 1 - tail])
    return {"gap": float(a.mean() - b.mean()), "low": float(low), "high": float(high), "users": n}


def _paired_values(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Return ``a`` and ``b`` as float64 arrays in the same user order, or raise."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if not a.index.equals(b.index):
            if set(a.index) != set(b.index):
                raise ValueError(
                    f"a and b hold different users ({len(a)} and {len(b)}, "
                    f"{len(set(a.index) ^ set(b.index))} in only one). Fix: score both models "
                    "on the same split and part, with per_user_metrics."
                )
            b = b.reindex(a.index)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or not len(a):
        raise ValueError(
            f"a and b must hold one value per user, the same users; got shapes {a.shape} and "
            f"{b.shape}. Fix: pass two columns of per_user_metrics for the same split and part."
        )
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("a or b holds NaN. Fix: pass per-user metrics, which are never NaN.")
    return a, b


def gaps_to(
    per_user: Mapping[str, pd.DataFrame],
    baseline: str,
    metric: str = "ndcg",
    **bootstrap,
) -> pd.DataFrame:
    """Return each model's mean gap to ``baseline`` in ``metric``, with its paired interval.

    Args:
        per_user: model label -> its :func:`per_user_metrics` on one split and
            part (the same users for every model); ``baseline`` among them.
        baseline: the label every other model is compared with, e.g. ``"popularity"``.
        metric: a column of :func:`per_user_metrics`.
        **bootstrap: passed to :func:`paired_bootstrap` (``n_boot``, ``confidence``, ``seed``).

    Returns:
        a DataFrame indexed by the labels, ``baseline`` left out, with the
        columns ``gap``, ``low``, ``high`` and ``users`` of :func:`paired_bootstrap`,
        and ``tie`` (the interval includes 0).

    Raises:
        ValueError: ``baseline`` or ``metric`` is unknown, naming the known ones.
    """
    if baseline not in per_user:
        raise ValueError(
            f"baseline {baseline!r} is not among the models {list(per_user)}. Fix: add its "
            "per_user_metrics, or pass one of these labels."
        )
    pairs = [(label, baseline) for label in per_user if label != baseline]
    table = gaps_between(per_user, pairs, metric, **bootstrap).drop(columns=["a", "b"])
    table.index = [label for label, _ in pairs]
    return table


def gaps_between(
    per_user: Mapping[str, pd.DataFrame],
    pairs,
    metric: str = "ndcg",
    **bootstrap,
) -> pd.DataFrame:
    """Return the mean gap ``a - b`` in ``metric`` of each pair of models, with its paired interval.

    :func:`gaps_to` compares every model with one baseline; this compares the
    pairs a text discusses, such as a loss against another, each with its own
    interval.

    Args:
        per_user: model label -> its per-user values on one split and part
            (the same users for every model), a DataFrame with a ``metric``
            column, such as :func:`per_user_metrics` or
            :func:`reco.tuning.per_user`.
        pairs: ``(a, b)`` label pairs; each row is ``a`` minus ``b``.
        metric: the column compared.
        **bootstrap: passed to :func:`paired_bootstrap` (``n_boot``, ``confidence``, ``seed``).

    Returns:
        a DataFrame indexed by ``"a − b"``, with the columns ``a``, ``b``,
        ``gap``, ``low``, ``high``, ``users`` and ``tie`` (the interval includes 0).

    Raises:
        ValueError: no pairs, a label or ``metric`` unknown, naming the known ones.
    """
    pairs = [tuple(pair) for pair in pairs]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise ValueError(
            f"pairs must be one or more (a, b) label pairs; got {pairs!r}. "
            "Fix: for example pairs=[('EASE', 'popularity')]."
        )
    unknown = sorted({label for pair in pairs for label in pair} - set(per_user))
    if unknown:
        raise ValueError(
            f"{unknown} are not among the models {list(per_user)}. Fix: add their per-user "
            "values, or use these labels."
        )
    missing = [label for label, frame in per_user.items() if metric not in frame.columns]
    if missing:
        raise ValueError(
            f"metric {metric!r} is not a column of the per-user values of {missing}; the "
            f"columns are {list(per_user[missing[0]].columns)}."
        )
    rows = {
        f"{a} − {b}": {"a": a, "b": b, **paired_bootstrap(
            per_user[a][metric], per_user[b][metric], **bootstrap)}
        for a, b in pairs
    }  # fmt: skip
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["users"] = table["users"].astype(int)
    table["tie"] = (table["low"] <= 0) & (table["high"] >= 0)
    return table


def popularity_percentile(recs: pd.DataFrame, split: Split, k: int = DEFAULT_K) -> float:
    """Return the mean popularity percentile of the recommended movies (popularity bias).

    A movie's percentile is the share of the catalogue with fewer training
    ratings than it has (0 for the least rated, near 100 for the most rated).
    Recommending the most-rated movies gives about 100.

    Args:
        recs: lists as :func:`top_k` returns them.
        split: the split the lists were made from.
        k: list length; ranks above ``k`` are ignored.

    Returns:
        the mean, over every (user, movie) of the lists, in percent.
    """
    _check_recs(recs)
    _, n_movies = index_sizes(split)
    counts = _popularity(split, n_movies)
    percentile = 100.0 * np.searchsorted(np.sort(counts), counts, side="left") / n_movies
    listed = recs.loc[recs["rank"] <= k, MOVIE_IDX_COL].to_numpy()
    return float(percentile[listed].mean()) if listed.size else float("nan")


def metrics_by_activity(
    recs: pd.DataFrame,
    split: Split,
    k: int = DEFAULT_K,
    part: str = "test",
    bins=(0, 20, 100, np.inf),
) -> pd.DataFrame:
    """Split the ranking metrics by how many training ratings the users have.

    Args:
        recs: lists as :func:`top_k` returns them.
        split: the split the lists were made from.
        k: list length.
        part: ``"test"`` or ``"val"``.
        bins: edges of the activity bins: ``(0, 20, 100, inf)`` gives users
            with at most 20, 21-100 and more than 100 training ratings.

    Returns:
        a DataFrame indexed by the bin (``"≤ 20"``, ``"21-100"``, ``"> 100"``)
        with a ``users`` column and the per-user metrics averaged in each bin.
    """
    per_user = _per_user(recs, split, k, part)
    group = _activity_groups(split, per_user.index, bins)
    table = per_user.groupby(group, observed=False).mean()
    table.insert(0, "users", per_user.groupby(group, observed=False).size())
    return table


def gaps_by_activity(
    per_user: Mapping[str, pd.DataFrame],
    a: str,
    b: str,
    split: Split,
    metric: str = "ndcg",
    bins=(0, 20, 100, np.inf),
    **bootstrap,
) -> pd.DataFrame:
    """Return the gap ``a - b`` in ``metric`` within each activity bin, with its paired interval.

    A gap over all users can hide a group served worse; a group of a few
    dozen users has a wide interval, and this shows both.

    Args:
        per_user: model label -> its :func:`per_user_metrics` on ``split``.
        a, b: the two labels compared.
        split: the split the metrics were computed on (its training part
            counts each user's ratings).
        metric: a column of :func:`per_user_metrics`.
        bins: the activity bins' edges, as in :func:`metrics_by_activity`.
        **bootstrap: passed to :func:`paired_bootstrap`.

    Returns:
        a DataFrame indexed by the bin, with the columns ``users``,
        ``training ratings`` (the fewest and most in the bin), the mean of
        ``a`` and of ``b`` (named by the labels), ``gap``, ``low``, ``high``
        and ``tie``; empty bins are left out.

    Raises:
        ValueError: a label or ``metric`` is unknown.
    """
    gaps_between(per_user, [(a, b)], metric, n_boot=1)  # checks the labels and the metric
    users = per_user[a].index
    group = _activity_groups(split, users, bins)
    activity = np.bincount(split.X_train[:, 0], minlength=index_sizes(split)[0])
    rows = {}
    for label in group.cat.categories:
        members = users[(group == label).to_numpy()]
        if not len(members):
            continue
        values_a, values_b = per_user[a].loc[members, metric], per_user[b].loc[members, metric]
        gap = paired_bootstrap(values_a, values_b, **bootstrap)
        rows[label] = {
            "users": len(members),
            "training ratings": f"{activity[members].min()}-{activity[members].max()}",
            a: values_a.mean(),
            b: values_b.mean(),
            "gap": gap["gap"],
            "low": gap["low"],
            "high": gap["high"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["tie"] = (table["low"] <= 0) & (table["high"] >= 0)
    return table


def _activity_groups(split: Split, users, bins) -> pd.Series:
    """Return each user's activity bin (by training ratings), a categorical indexed by ``users``."""
    edges = [float(edge) for edge in bins]
    if len(edges) < 2 or any(hi <= lo for lo, hi in zip(edges[:-1], edges[1:], strict=False)):
        raise ValueError(
            f"bins must be two or more increasing edges; got {tuple(bins)!r}. "
            "Fix: for example bins=(0, 20, 100, np.inf)."
        )
    labels = [
        f"> {int(lo)}" if np.isinf(hi) else f"≤ {int(hi)}" if i == 0 else f"{int(lo) + 1}-{int(hi)}"
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    users = pd.Index(users)
    activity = np.bincount(split.X_train[:, 0], minlength=index_sizes(split)[0])[users]
    return pd.Series(
        pd.cut(activity, edges, labels=labels, right=True, include_lowest=True),
        name="training ratings",
        index=users,
    )


def compare(
    models: Mapping[str, object],
    split: Split,
    k: int = DEFAULT_K,
    part: str = "test",
    *,
    context=None,
) -> pd.DataFrame:
    """Compare models and baselines on ratings and on lists: one row per model.

    Args:
        models: name -> a trained course model or a fitted baseline.
        split: the split they were trained on.
        k: list length.
        part: ``"test"`` or ``"val"``.
        context: the scoring context of the lists, for kinds that take one (see
            :func:`top_k`); ratings are predicted with each rating's own context.

    Returns:
        a DataFrame indexed by model name with the columns ``rmse`` and ``mae``
        (empty for a model or baseline that predicts no ratings), every ranking metric
        of :func:`ranking_metrics`, ``popularity`` (:func:`popularity_percentile`)
        and ``users``.
    """
    from reco.metrics import rmse_mae

    _check_part(split, part)
    rated = split.part_of(part)
    rows = {}
    for name, model in models.items():
        row = {"rmse": np.nan, "mae": np.nan}
        if kinds.predicts_ratings(model):  # with the part's context, for kinds that take one
            row.update(rmse_mae(rated.y, kinds.predict(model, rated.X, rated.context)))
        recs = top_k(model, split, k=k, part=part, context=context)
        scores = ranking_metrics(recs, split, k=k, part=part)
        users = scores.pop("users")
        row.update(scores)
        row["popularity"] = popularity_percentile(recs, split, k=k)
        row["users"] = users
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------- beyond accuracy
# Accuracy asks whether the lists hold the user's relevant movies; these ask what else
# the lists are: how unknown their movies are (novelty), how alike the movies of one
# list are (intra-list diversity), and how evenly the lists share the catalogue out
# (the Gini coefficient, next to coverage, which only counts the movies listed at all).


def _listed(recs: pd.DataFrame, split: Split, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(user, movie)`` of the lists' ranks 1..k, sorted by user then rank, or raise."""
    _check_recs(recs)
    lists = recs.loc[recs["rank"] <= k].sort_values([USER_IDX_COL, "rank"], kind="stable")
    movie = lists[MOVIE_IDX_COL].to_numpy()
    if not np.issubdtype(movie.dtype, np.integer):
        raise ValueError(
            f"recs[{MOVIE_IDX_COL!r}] holds {movie.dtype} values "
            f"({int(pd.isna(movie).sum())} missing), not movie indices. Fix: pass lists as "
            "top_k returns them, with integer movie indices and no NaN."
        )
    outside = np.setdiff1d(movie, _catalogue_movies(split))
    if outside.size:
        raise ValueError(
            f"recs list movie(s) {outside[:5].tolist()} that are in no part of the split. "
            "Fix: make the lists with top_k on this split."
        )
    return lists[USER_IDX_COL].to_numpy(), movie


def _by_user(user: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the mean of ``values`` for each user, ``user`` sorted (one entry per user)."""
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    return np.add.reduceat(values, starts) / np.diff(np.r_[starts, len(user)])


def _intra_list_diversity(user: np.ndarray, movie: np.ndarray, features) -> float:
    """Return the mean over users of the mean pairwise cosine distance within their list."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(
            f"item_features must be a finite 2-D array, one row per movie index; got shape "
            f"{features.shape}{'' if features.ndim != 2 else ' with NaN or inf'}. Fix: pass "
            "genre_matrix(movies, encoder), or movie factors (kinds.movie_factors(model))."
        )
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
    # Over a list's n unit vectors v_i, the sum of cos(v_i, v_j) over pairs i < j is
    # (|sum v_i|^2 - sum |v_i|^2) / 2: one pass over the lists, no n x n matrices.
    # A zero vector (no genres listed) has norm 0: it is similar to nothing (cosine 0).
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    n = np.diff(np.r_[starts, len(user)])
    summed = np.add.reduceat(unit[movie], starts, axis=0)
    squares = np.add.reduceat((unit[movie] ** 2).sum(axis=1), starts)
    pair_cos = ((summed**2).sum(axis=1) - squares) / 2
    many = n > 1  # a list of one movie has no pairs
    if not many.any():
        return float("nan")
    return float(np.mean(1.0 - pair_cos[many] / (n[many] * (n[many] - 1) / 2)))


def beyond_accuracy(
    recs: pd.DataFrame, split: Split, k: int = DEFAULT_K, *, item_features=None
) -> dict[str, float]:
    """Measure what the lists are beyond their hits: novelty, diversity and Gini.

    * **Novelty** (Zhou et al. 2010; Castells et al.): a listed movie's
      self-information ``-log2(p_i)``, with ``p_i`` the share of training users
      who rated movie ``i``; averaged over each user's list, then over users. A
      movie every user rated has novelty 0; one rated by a single user of ``U``
      has ``log2(U)``, and so has a movie no training user rated (counted as
      rated by one, so that the mean stays finite).
    * **Diversity** (intra-list diversity): the mean over a list's pairs of
      movies of ``1 - cosine similarity`` of their rows of ``item_features``,
      averaged over the users whose list holds two movies or more. 0 when a
      list repeats one kind of movie; 1 when its movies share no genre (with
      non-negative features such as genres). A movie whose row is all zeros (no
      genres listed) has cosine 0 with every movie, as in scikit-learn.
    * **Gini**: the Gini coefficient of how often each movie of the catalogue
      (the distinct movies over all parts of the split, as for coverage) is
      listed: ``sum_i (2i - n - 1) c_i / (n sum_i c_i)`` over the counts ``c``
      sorted ascending, ``i = 1..n``. 0 when every movie is listed equally
      often; ``(n - 1) / n``, close to 1, when every list holds the same movie.

    Args:
        recs: lists as :func:`top_k` returns them (columns ``user``, ``movie``, ``rank``).
        split: the split the lists were made from (its training part and catalogue).
        k: list length; ranks above ``k`` are ignored.
        item_features: float array of shape ``(n_movies, d)``, one row per movie
            index: :func:`genre_matrix` or a model's movie factors. Without it
            there is no ``diversity``.

    Returns:
        a dict with ``novelty`` (bits), ``gini`` and, with ``item_features``,
        ``diversity``; NaN where no list is long enough to say.

    Raises:
        ValueError: a bad ``k``, ``recs`` without the columns of :func:`top_k`,
            with missing movies or movies outside the split, or ``item_features``
            that are not one finite row per movie index.
    """
    k = check_count(k, "k")
    user, movie = _listed(recs, split, k)
    _, n_movies = index_sizes(split)
    rows = np.shape(item_features)[:1] if item_features is not None else (n_movies,)
    if rows != (n_movies,):
        raise ValueError(
            f"item_features has {rows[0] if rows else 'no'} rows but the split has "
            f"{n_movies} movie indices. Fix: one row per movie index, e.g. "
            "genre_matrix(movies, encoder) with the encoder of this split."
        )
    n_users = len(np.unique(split.X_train[:, 0]))
    raters = np.bincount(np.unique(split.X_train, axis=0)[:, 1], minlength=n_movies)
    information = np.log2(n_users / np.maximum(raters, 1)) if n_users else np.zeros(n_movies)
    counts = np.sort(np.bincount(movie, minlength=n_movies)[_catalogue_movies(split)])
    n = len(counts)
    out = {
        "novelty": float(_by_user(user, information[movie]).mean()) if len(movie) else np.nan,
        "gini": float((2 * np.arange(1, n + 1) - n - 1) @ counts / (n * counts.sum()))
        if counts.sum()
        else np.nan,
    }
    if item_features is not None:
        out["diversity"] = _intra_list_diversity(user, movie, item_features)
    return out


# --------------------------------------------------------------------------- sampled metrics
# Many papers (NCF, He et al. 2017, and its followers) rank each relevant movie among
# 100 sampled ones instead of the whole catalogue. Krichene & Rendle (2020) show that
# the sampled metrics are not consistent with the full ones: they can order models
# differently, and they squeeze the gaps. sampled_metrics computes them so that a
# notebook can put them next to ranking_metrics.

#: Relevant pairs whose negatives are drawn at once (a chunk of random keys is
#: ``_PAIRS_PER_DRAW x catalogue`` float64s: 20 MB on ml-latest-small).
_PAIRS_PER_DRAW = 256


def sampled_metrics(
    model,
    split: Split,
    part: str = "test",
    *,
    n_negatives: int = 100,
    k: int = DEFAULT_K,
    seed: int = SEED,
    context=None,
) -> dict[str, float]:
    """Score each relevant movie against ``n_negatives`` sampled movies, as NCF-style papers do.

    For every relevant (user, movie) of ``part`` (rated at least
    :data:`RELEVANT_RATING`), ``n_negatives`` movies are drawn uniformly,
    without replacement, from the user's candidates: the catalogue minus every
    movie the user rated in the training part, in ``part`` itself, and (for
    ``part="test"``) in the validation part, as :func:`top_k` excludes them. A
    validation score never reads the test part, so for ``part="val"`` the
    user's test movies can be drawn, as they stay candidates in the validation
    lists of :func:`top_k`. The relevant movie's rank among the ``n_negatives
    + 1`` is one plus the negatives that score higher (ties broken as in
    :func:`top_k`: more popular first, then smaller index); hit rate@k is
    ``rank <= k`` and NDCG@k is ``1 / log2(rank + 1)`` when ``rank <= k`` (one
    relevant movie: its ideal DCG is 1), averaged over the relevant pairs.

    Krichene & Rendle (2020) show that these numbers can order models
    differently from the full ranking of :func:`ranking_metrics`; report them
    only to compare with papers that use them.

    Args:
        model: a trained course model, or a fitted baseline from :mod:`reco.baselines`.
        split: the split the model was trained on.
        part: ``"test"`` or ``"val"``.
        n_negatives: sampled movies per relevant pair, at least 1 and at most
            the fewest candidates a relevant user has.
        k: the cut-off of hit rate and NDCG.
        seed: the seed of the sampling; the same seed gives the same numbers.
        context: the scoring context of kinds that take one, passed to :func:`score_users`.

    Returns:
        a dict with ``hit_rate`` and ``ndcg`` (means over the relevant pairs; 0
        when there are none) and ``pairs`` (how many relevant pairs).

    Raises:
        ValueError: a bad ``part``, ``k`` or ``n_negatives``, more negatives than
            a user has candidates, duplicate pairs in ``part``, a model built for
            another encoding, or NaN scores.
    """
    k = check_count(k, "k")
    n_negatives = positive_int(n_negatives, "n_negatives", "for example n_negatives=100")
    _check_part(split, part)
    X, y = split.part(part)  # the one read of the part
    check_unique_pairs(
        X,
        f"the {part} part",
        user_col=USER_IDX_COL,
        movie_col=MOVIE_IDX_COL,
        fix="split a ratings table with one rating per (user, movie) pair",
    )
    target = X[np.asarray(y) >= RELEVANT_RATING]
    target = target[np.lexsort((target[:, 1], target[:, 0]))]
    if not len(target):
        return {"hit_rate": 0.0, "ndcg": 0.0, "pairs": 0}
    _, n_movies = index_sizes(split)
    users, row = np.unique(target[:, 0], return_inverse=True)
    scores = np.array(score_users(model, users, n_movies, context=context), dtype=np.float32)
    catalogue = _catalogue_movies(split)
    rated = np.zeros((len(users), n_movies), dtype=bool)
    for rows in (_excluded(split, part), X):
        of = np.searchsorted(users, rows[:, 0]).clip(max=len(users) - 1)
        mine = users[of] == rows[:, 0]
        rated[of[mine], rows[mine, 1]] = True
    rated = rated[:, catalogue]  # the candidates are the catalogue's unrated movies
    fewest = int((~rated).sum(axis=1).min())
    if n_negatives > fewest:
        raise ValueError(
            f"n_negatives={n_negatives} but a relevant user of the {part} part has only "
            f"{fewest} candidate movies to draw from. Fix: n_negatives={fewest} or fewer."
        )
    tie_rank = tie_order(_popularity(split, n_movies))
    rng = np.random.default_rng(seed)
    ranks = np.empty(len(target), dtype=np.int64)
    for start in range(0, len(target), _PAIRS_PER_DRAW):
        pair = slice(start, start + _PAIRS_PER_DRAW)
        # n_negatives uniform draws without replacement: the smallest of random keys.
        keys = rng.random((len(ranks[pair]), len(catalogue)))
        keys[rated[row[pair]]] = np.inf
        drawn = catalogue[np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]]
        mine, negative = scores[row[pair], target[pair, 1]][:, None], scores[row[pair, None], drawn]
        above = (negative > mine) | (
            (negative == mine) & (tie_rank[drawn] < tie_rank[target[pair, 1], None])
        )
        ranks[pair] = 1 + above.sum(axis=1)
    hit = ranks <= k
    return {
        "hit_rate": float(hit.mean()),
        "ndcg": float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean()),
        "pairs": len(target),
    }
