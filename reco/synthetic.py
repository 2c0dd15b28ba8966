"""Synthetic ratings shaped like MovieLens 25M, for scale experiments (notebook 10).

No machine of the course can download ml-25m or ml-32m in CI, and a scale
experiment needs data of their shape, not their contents. :func:`synthetic_ratings`
draws a ratings table with ml-25m's numbers of users and movies, and what makes
its training cost and its accuracy mean something:

* **long tails**: user activity is log-normal above a floor of 20 ratings
  (ml-25m's users rated at least 20 movies; their median is about 70 and their
  mean about 150), and movie popularity falls as a power law with an
  exponential cut-off, so a few movies get most ratings and most movies few;
* **a low-rank signal** a model can learn: the stars are
  ``3.5 + b_user + b_movie + u . m`` with ``rank`` factors, plus Gaussian noise,
  rounded to half stars in [0.5, 5]. A model that learns the factors predicts
  better than the global mean; one that learns them perfectly still errs by
  about ``noise`` (plus the rounding);
* **times**: each user rates over a span of their own, between ml-25m's first
  and last dates.

Every table it makes says so: ``frame.attrs["synthetic"]`` records the
generator's settings. The numbers measured on it are about speed and about
learning a planted signal, never about MovieLens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reco._checks import positive_int
from reco.constants import (
    MAX_RATING,
    MIN_RATING,
    MOVIE_COL,
    RATING_COL,
    SEED,
    TIMESTAMP_COL,
    USER_COL,
)

__all__ = ["ML_25M", "ML_32M", "synthetic_ratings"]

#: ml-25m's shape: ratings, users, and movies with at least one rating (its README).
ML_25M = {"ratings": 25_000_095, "users": 162_541, "movies": 59_047}

#: ml-32m's shape, likewise.
ML_32M = {"ratings": 32_000_204, "users": 200_948, "movies": 87_585}

_FIRST, _LAST = pd.Timestamp("1995-01-09").value // 10**9, pd.Timestamp("2019-11-21").value // 10**9
_SECONDS_PER_YEAR = 365.25 * 24 * 3600
# Movie popularity by rank k (0 first): (k + 30)^-1 exp(-k / (0.135 n_movies)). On ml-25m's
# 59,047 movies the top movie gets 0.7% of the ratings, the top 1% of movies 59%, and the
# median movie about 4 of 25 million: a long tail, as MovieLens has.
_POP_OFFSET, _POP_EXPONENT, _POP_CUTOFF = 30.0, 1.0, 8000 / 59_047


def synthetic_ratings(
    n_ratings: int,
    *,
    n_users: int = ML_25M["users"],
    n_movies: int = ML_25M["movies"],
    rank: int = 8,
    noise: float = 0.5,
    seed: int = SEED,
    truth: bool = False,
) -> pd.DataFrame:
    """Draw ``n_ratings`` distinct (user, movie) ratings shaped like ml-25m (see the module).

    Args:
        n_ratings: how many ratings, at least 1 and at most a quarter of
            ``n_users * n_movies`` (the pairs are distinct).
        n_users, n_movies: the sizes of the id spaces (default: ml-25m's). Ids
            run from 1; with few ratings, some users and movies get none.
        rank: the number of planted factors.
        noise: the standard deviation, in stars, of the noise added to the
            planted score before rounding.
        seed: the seed of every draw: the same arguments give the same table.
        truth: add a column ``expected`` (float32): the planted score before
            noise and rounding, what a perfect model would predict.

    Returns:
        a DataFrame with ``userId``, ``movieId`` (int32), ``rating`` (float32,
        half stars) and ``timestamp`` (int64, Unix seconds), sorted by user then
        movie, as MovieLens's files are; ``attrs["synthetic"]`` holds the settings.

    Raises:
        ValueError: a count that is not a positive whole number, more ratings than
            a quarter of the pairs, or a negative ``noise``; each says the fix.
    """
    n_ratings = positive_int(n_ratings, "n_ratings", "for example 1_000_000")
    n_users = positive_int(n_users, "n_users", f"for example ml-25m's {ML_25M['users']:,}")
    n_movies = positive_int(n_movies, "n_movies", f"for example ml-25m's {ML_25M['movies']:,}")
    rank = positive_int(rank, "rank", "for example 8")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number of stars >= 0; got {noise!r}. Fix: 0.5.")
    if n_ratings > n_users * n_movies // 4:
        raise ValueError(
            f"{n_ratings:,} distinct ratings do not fit well in {n_users:,} users x "
            f"{n_movies:,} movies (at most a quarter of the pairs, {n_users * n_movies // 4:,}). "
            "Fix: ask for fewer ratings, or more users or movies."
        )
    rng = np.random.default_rng(seed)
    activity = 20.0 + np.exp(rng.normal(np.log(51.0), 1.39, n_users))
    popularity_rank = rng.permutation(n_movies)
    popularity = (popularity_rank + _POP_OFFSET) ** -_POP_EXPONENT * np.exp(
        -popularity_rank / (_POP_CUTOFF * n_movies)
    )
    keys = _distinct_pairs(rng, n_ratings, activity / activity.sum(),
                           popularity / popularity.sum(), n_movies)  # fmt: skip
    users, movies = (keys // n_movies).astype(np.int32), (keys % n_movies).astype(np.int32)

    scale = np.sqrt(0.6 / np.sqrt(rank))  # the dot product's spread is about 0.6 stars
    U = rng.normal(0.0, scale, (n_users, rank)).astype(np.float32)
    V = rng.normal(0.0, scale, (n_movies, rank)).astype(np.float32)
    user_bias = rng.normal(0.0, 0.35, n_users).astype(np.float32)
    movie_bias = rng.normal(0.0, 0.45, n_movies).astype(np.float32)
    expected = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, 1 << 20):  # in chunks: bounded memory at 25 million
        u, m = users[start : start + (1 << 20)], movies[start : start + (1 << 20)]
        expected[start : start + len(u)] = (
            3.5 + user_bias[u] + movie_bias[m] + np.einsum("ij,ij->i", U[u], V[m])
        )
    noisy = expected + rng.normal(0.0, noise, n_ratings).astype(np.float32)
    stars = np.clip(np.round(noisy * 2) / 2, MIN_RATING, MAX_RATING).astype(np.float32)

    first = rng.uniform(_FIRST, _LAST, n_users)
    span = rng.exponential(_SECONDS_PER_YEAR, n_users)
    when = first[users] + rng.uniform(0.0, 1.0, n_ratings) * span[users]
    frame = pd.DataFrame(
        {
            USER_COL: users + np.int32(1),
            MOVIE_COL: movies + np.int32(1),
            RATING_COL: stars,
            TIMESTAMP_COL: np.minimum(when, _LAST).astype(np.int64),
        }
    )
    if truth:
        frame["expected"] = expected
    frame.attrs["synthetic"] = {
        "generator": "reco.synthetic.synthetic_ratings",
        "n_users": n_users,
        "n_movies": n_movies,
        "rank": rank,
        "noise": noise,
        "seed": seed,
    }
    return frame


def _distinct_pairs(rng, n: int, user_p, movie_p, n_movies: int) -> np.ndarray:
    """Draw ``n`` distinct pair keys ``user * n_movies + movie``, sorted, by the two weights.

    Pairs are drawn independently, duplicates dropped, and the shortfall drawn
    again until ``n`` are distinct; a random surplus is then dropped.
    """
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n:
        draw = int((n - len(keys)) * 1.1) + 16
        new = rng.choice(len(user_p), draw, p=user_p).astype(np.int64) * n_movies + rng.choice(
            n_movies, draw, p=movie_p
        )
        keys = np.unique(np.concatenate([keys, new]))
    if len(keys) > n:
        keys = np.sort(rng.choice(keys, n, replace=False))
    return keys
