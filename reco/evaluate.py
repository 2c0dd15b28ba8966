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
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reco import kinds
from reco._checks import check_count, check_unique_pairs, positive_int, require_columns
from reco.constants import DEFAULT_K, MOVIE_IDX_COL, SEED, USER_IDX_COL
from reco.split import PARTS, Split, index_sizes

__all__ = [
    "METRICS",
    "RELEVANT_RATING",
    "compare",
    "metrics_by_activity",
    "paired_bootstrap",
    "per_user_metrics",
    "popularity_percentile",
    "rank_scores",
    "ranking_metrics",
    "score_users",
    "tie_order",
    "top_k",
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
    model, split: Split, k: int = DEFAULT_K, part: str = "test", *, context=None
) -> pd.DataFrame:
    """Recommend ``k`` movies to every user with training ratings, following the protocol.

    Args:
        model: a trained course model, or a fitted baseline from :mod:`reco.baselines`.
        split: the split the model was trained on (its training part).
        k: list length, at least 1.
        part: ``"test"`` (lists exclude the training and validation parts) or
            ``"val"`` (lists exclude the training part).
        context: the scoring context of kinds that take one (for example the
            reference time), passed to :func:`score_users`.

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
    users = np.unique(split.X_train[:, 0])
    scores = np.array(score_users(model, users, n_movies, context=context), dtype=np.float32)
    scores[:, np.setdiff1d(np.arange(n_movies), _catalogue_movies(split))] = -np.inf
    excluded = _excluded(split, part)
    row_of = np.full(n_users, -1)
    row_of[users] = np.arange(len(users))
    rows = row_of[excluded[:, 0]]
    seen = rows >= 0
    scores[rows[seen], excluded[seen, 1]] = -np.inf
    r, c, ranks = rank_scores(scores, k, tie_order(_popularity(split, n_movies)))
    return pd.DataFrame(
        {
            USER_IDX_COL: users[r].astype(np.int64),
            MOVIE_IDX_COL: c.astype(np.int64),
            "rank": ranks.astype(np.int64),
            "score": scores[r, c],
        }
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
            with 0-20, 21-100 and more than 100 training ratings (the first bin
            includes its lower edge).

    Returns:
        a DataFrame indexed by the bin (``"0-20"``, ``"21-100"``, ``"> 100"``)
        with a ``users`` column and the per-user metrics averaged in each bin.
    """
    per_user = _per_user(recs, split, k, part)
    activity = np.bincount(split.X_train[:, 0], minlength=index_sizes(split)[0])[per_user.index]
    edges = list(bins)
    labels = [
        f"> {int(lo)}" if np.isinf(hi) else f"{int(lo) + (i > 0)}-{int(hi)}"
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    group = pd.Series(
        pd.cut(activity, edges, labels=labels, right=True, include_lowest=True),
        name="training ratings",
        index=per_user.index,
    )
    table = per_user.groupby(group, observed=False).mean()
    table.insert(0, "users", per_user.groupby(group, observed=False).size())
    return table


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
