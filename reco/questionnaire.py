"""The new-user questionnaire, measured fairly (notebook 09).

A user who signs up is asked about a few movies, and the model is judged on
the movies they rate later. :func:`new_user_split` builds that situation from
ratings: some users are held out of training entirely; each held-out user's
ratings are cut, at random, into a **pool** (the movies the questionnaire may
ask about: a user can only answer about movies they have seen) and **targets**
(the validation or test part, which the lists are judged on).

A strategy orders the catalogue (:func:`question_order`): the most popular
movies first, a random order, or the most *varied* ones (far apart in a
model's movie-factor space). Each user answers the first ``n`` movies of the
order that are in their pool (:func:`asked`).

**The trap.** The movies a user is asked about come from their pool, so they
are never targets. If only the asked movies left the candidates, the rest of
the pool would stay: movies the user rated, which count as misses because
they are not targets. Popular movies are the most likely to be in a pool, so
popularity's lists would be full of them, and every popular question would
take one out and *raise* popularity's score, though popularity ignores the
answers (on the validation users, from 0.185 with no questions to 0.250
after 10). Any method's score would then depend on which movies were asked,
not only on what it learned from the answers. So :func:`questionnaire_metrics`
removes each user's *whole pool* from the candidates, for every strategy and
every ``n``: every method is scored on the same held-out movies, and
popularity's score does not depend on the questions at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reco._checks import check_count
from reco.coldstart import FOLD_IN_L2, fold_in_many
from reco.constants import DEFAULT_K, MOVIE_IDX_COL, RATING_COL, SEED, USER_IDX_COL
from reco.evaluate import _popularity, per_user_metrics, rank_scores, tie_order
from reco.split import Split, _xy

__all__ = [
    "STRATEGIES",
    "NewUserSplit",
    "asked",
    "new_user_split",
    "new_users_after",
    "question_order",
    "questionnaire_lists",
    "questionnaire_metrics",
]

#: The questionnaire strategies of :func:`question_order`.
STRATEGIES = ("popular", "random", "varied")


@dataclass(frozen=True)
class NewUserSplit:
    """Users held out of training, each with a pool of movies to ask about and targets.

    Attributes:
        split: a :class:`reco.split.Split` whose training part holds the other
            users' ratings, and whose validation and test parts hold the
            held-out users' targets (validation users and test users differ).
        pools: ``{"val": (X, y), "test": (X, y)}``, each held-out user's pool:
            ``[user, movie]`` rows and their stars.
    """

    split: Split
    pools: dict

    def pool(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the pool ``(X, y)`` of the users of ``part`` (``"val"`` or ``"test"``)."""
        if part not in self.pools:
            raise ValueError(
                f"part must be one of {sorted(self.pools)} for this split; got {part!r}."
            )
        return self.pools[part]


def new_user_split(
    encoded: pd.DataFrame,
    *,
    val_users: float = 0.1,
    test_users: float = 0.1,
    pool_fraction: float = 0.5,
    seed: int = SEED,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    rating_col: str = RATING_COL,
) -> NewUserSplit:
    """Hold users out of training, and cut each one's ratings into a pool and targets.

    Args:
        encoded: output of :func:`reco.split.encode_ids`.
        val_users, test_users: the shares of users held out for validation and test.
        pool_fraction: the share of a held-out user's ratings the questionnaire
            may ask about (``ceil``), drawn at random; the rest are the targets.
        seed: the seed of both draws.

    Returns:
        a :class:`NewUserSplit`.

    Raises:
        ValueError: shares that leave no users in a group, or a bad ``pool_fraction``.
    """
    if not (0 < val_users < 1 and 0 < test_users < 1 and val_users + test_users < 1):
        raise ValueError(
            "val_users and test_users must be shares in (0, 1) adding up to less than 1; got "
            f"{val_users} and {test_users}. Fix: e.g. val_users=0.1, test_users=0.1."
        )
    if not 0 < pool_fraction < 1:
        raise ValueError(f"pool_fraction must lie in (0, 1); got {pool_fraction}. Fix: e.g. 0.5.")
    X, y = _xy(encoded, user_idx_col, movie_idx_col, rating_col)
    rng = np.random.default_rng(seed)
    users = rng.permutation(np.unique(X[:, 0]))
    n_val, n_test = (int(round(share * len(users))) for share in (val_users, test_users))
    if min(n_val, n_test, len(users) - n_val - n_test) < 1:
        raise ValueError(
            f"{len(users)} users leave a group empty with val_users={val_users} and "
            f"test_users={test_users}. Fix: use more users or larger shares."
        )
    group = np.zeros(int(X[:, 0].max()) + 1, dtype=np.int8)  # 0 train, 1 val, 2 test
    group[users[:n_val]], group[users[n_val : n_val + n_test]] = 1, 2
    row_group = group[X[:, 0]]
    in_pool = _in_pool(X[:, 0], pool_fraction, rng)
    parts = {name: (row_group == g) & ~in_pool for name, g in (("val", 1), ("test", 2))}
    train = row_group == 0
    split = Split(
        X[train],
        y[train],
        X[parts["test"]],
        y[parts["test"]],
        X[parts["val"]],
        y[parts["val"]],
        n_users=int(X[:, 0].max()) + 1,
        n_movies=int(X[:, 1].max()) + 1,
        protocol={"name": "new users", "pool_fraction": pool_fraction, "seed": seed},
    )
    pools = {
        name: (X[(row_group == g) & in_pool], y[(row_group == g) & in_pool])
        for name, g in (("val", 1), ("test", 2))
    }
    return NewUserSplit(split, pools)


def _in_pool(users: np.ndarray, pool_fraction: float, rng) -> np.ndarray:
    """Mark, for each user's ratings in a random order, the first ``ceil(share * n)``: its pool."""
    order = np.lexsort((rng.random(len(users)), users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    place = np.arange(len(order)) - np.repeat(starts, counts)
    in_pool = np.empty(len(users), dtype=bool)
    in_pool[order] = place < np.repeat(np.ceil(counts * pool_fraction - 1e-9), counts)
    return in_pool


def new_users_after(split: Split, *, pool_fraction: float = 0.5, seed: int = SEED) -> NewUserSplit:
    """Turn the new users of a time split's test part into a questionnaire's test users.

    On :func:`reco.split.time_split` most test ratings come from users who
    signed up after the cut: new users who really came later. Each one's test
    ratings are cut at random into a pool (what the questionnaire may ask
    about) and targets, as in :func:`new_user_split`; the known users' test
    ratings are left out. The models are those trained on the split's
    training part (for the final models, :func:`reco.split.merge_val`).

    Reading this split's ``"test"`` part reads ``split``'s test part.

    Args:
        split: a split whose test part holds users with no training ratings.
        pool_fraction: the share of each new user's test ratings in the pool (``ceil``).
        seed: the seed of the cut.

    Returns:
        a :class:`NewUserSplit` with test users only (its ``"val"`` pool is absent).

    Raises:
        ValueError: a bad ``pool_fraction``, or no new user in the test part.
    """
    if not 0 < pool_fraction < 1:
        raise ValueError(f"pool_fraction must lie in (0, 1); got {pool_fraction}. Fix: e.g. 0.5.")
    X, y = split.X_test, split.y_test
    new = ~np.isin(X[:, 0], split.X_train[:, 0])
    if not new.any():
        raise ValueError(
            "the test part has no user without training ratings. Fix: use a time split "
            "(reco.split.time_split), whose test part holds users who came after the cut."
        )
    X, y = X[new], y[new]
    in_pool = _in_pool(X[:, 0], pool_fraction, np.random.default_rng(seed))
    targets = Split(
        split.X_train,
        split.y_train,
        X[~in_pool],
        y[~in_pool],
        n_users=split.n_users,
        n_movies=split.n_movies,
        protocol={
            **split.protocol,
            "questionnaire": "new users after the cut",
            "pool_fraction": pool_fraction,
            "seed": seed,
        },  # fmt: skip
    )
    return NewUserSplit(targets, {"test": (X[in_pool], y[in_pool])})


def question_order(
    strategy: str,
    split: Split,
    *,
    movie_factors: np.ndarray | None = None,
    n_candidates: int = 500,
    seed: int = SEED,
) -> np.ndarray:
    """Order the movies with training ratings for a questionnaire, first asked first.

    Args:
        strategy: ``"popular"`` (most-rated first), ``"random"`` (a seeded
            shuffle), or ``"varied"``: among the ``n_candidates`` most-rated
            movies, the most popular first, then each time the one farthest
            (in cosine distance of ``movie_factors``) from all those already
            chosen, so the questions cover the factor space; the rest follow
            by popularity.
        split: the split whose training part gives the popularity.
        movie_factors: float ``(n_movies, k)``, for ``"varied"``
            (``reco.kinds.movie_factors(model)``).

    Returns:
        int array of movie indices, every movie with a training rating once.

    Raises:
        ValueError: an unknown strategy, or ``"varied"`` without factors.
    """
    counts = _popularity(split, split.n_movies)
    rated = np.flatnonzero(counts)
    by_popularity = rated[np.argsort(tie_order(counts)[rated], kind="stable")]
    if strategy == "popular":
        return by_popularity
    if strategy == "random":
        return np.random.default_rng(seed).permutation(rated)
    if strategy != "varied":
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
    if movie_factors is None:
        raise ValueError(
            "the 'varied' strategy needs movie factors. Fix: "
            "question_order('varied', split, movie_factors=reco.kinds.movie_factors(model))."
        )
    pool = by_popularity[: check_count(n_candidates, "n_candidates")]
    F = np.asarray(movie_factors, dtype=np.float64)[pool]
    F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    chosen = [0]
    nearest = 1.0 - F @ F[0]  # each candidate's distance to the nearest chosen movie
    for _ in range(len(pool) - 1):
        nearest[chosen[-1]] = -np.inf
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - F @ F[pick])
    return np.concatenate([pool[chosen], by_popularity[len(pool) :]])


def asked(order: np.ndarray, pool: tuple[np.ndarray, np.ndarray], n: int) -> dict:
    """Return, per user, the first ``n`` movies of ``order`` in their pool, with their stars.

    A user answers about movies they have seen (their pool), so the
    questionnaire goes down ``order`` until they have answered ``n`` (fewer if
    their pool runs out). ``n = 0`` asks nothing.

    Returns:
        ``{user: (movies, stars)}`` for every user of the pool.
    """
    X, y = pool
    place = np.full(int(max(X[:, 1].max(initial=0), np.max(order, initial=0))) + 1, np.inf)
    place[np.asarray(order)] = np.arange(len(order))
    out = {}
    for user in np.unique(X[:, 0]):
        rows = np.flatnonzero(X[:, 0] == user)
        rows = rows[np.isfinite(place[X[rows, 1]])]
        first = rows[np.argsort(place[X[rows, 1]], kind="stable")][: max(int(n), 0)]
        out[int(user)] = (X[first, 1].astype(np.int32), y[first].astype(np.float32))
    return out


def questionnaire_lists(
    method,
    new_users: NewUserSplit,
    order: np.ndarray,
    n: int,
    *,
    part: str = "val",
    k: int = DEFAULT_K,
    l2: float = FOLD_IN_L2,
) -> pd.DataFrame:
    """Return ``method``'s top-``k`` lists for the users of ``part`` after ``n`` questions.

    Each user answers the first ``n`` movies of ``order`` in their pool
    (:func:`asked`) and is folded in (:func:`reco.coldstart.fold_in_many`): V2,
    RecommenderNetV2 and the implicit model solve for the user, EASE scores
    their answers, popularity ignores them. Every movie of the user's *pool*
    leaves the candidates, whatever was asked (see the module's docstring), as
    do movies with no training ratings.

    Returns:
        lists as :func:`reco.evaluate.top_k` returns them (``user``, ``movie``, ``rank``).
    """
    k = check_count(k, "k")
    split = new_users.split
    pool_X, _ = new_users.pool(part)
    answers = asked(order, new_users.pool(part), n)
    counts = _popularity(split, split.n_movies)
    users = np.array(sorted(answers), dtype=np.int64)
    scores = np.empty((len(users), split.n_movies), dtype=np.float32)
    folded = fold_in_many(method, [answers[int(user)] for user in users], l2=l2)
    for row, user in enumerate(folded):
        scores[row] = user.scores
    scores[:, counts == 0] = -np.inf
    row_of = np.full(split.n_users, -1)
    row_of[users] = np.arange(len(users))
    scores[row_of[pool_X[:, 0]], pool_X[:, 1]] = -np.inf
    r, c, ranks = rank_scores(scores, k, tie_order(counts))
    return pd.DataFrame(
        {USER_IDX_COL: users[r], MOVIE_IDX_COL: c.astype(np.int64), "rank": ranks.astype(np.int64)}
    )


def questionnaire_metrics(
    method,
    new_users: NewUserSplit,
    order: np.ndarray,
    n: int,
    *,
    part: str = "val",
    k: int = DEFAULT_K,
    l2: float = FOLD_IN_L2,
) -> pd.DataFrame:
    """Score :func:`questionnaire_lists` on ``part``'s targets.

    Returns:
        :func:`reco.evaluate.per_user_metrics` of the lists: one row per user
        of ``part`` with a relevant target.
    """
    recs = questionnaire_lists(method, new_users, order, n, part=part, k=k, l2=l2)
    return per_user_metrics(recs, new_users.split, k=k, part=part)
