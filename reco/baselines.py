"""Baselines that every recommender must beat, shaped like scikit-learn estimators.

Settings go in the constructor and ``fit(split)`` returns ``self``, so a
baseline and a Keras model are interchangeable in :func:`reco.evaluate.top_k`,
:func:`reco.evaluate.ranking_metrics` and :func:`reco.evaluate.compare`.
Every baseline is a :class:`Baseline`, whose docstring is the protocol they
all keep; code that takes "a model or a baseline" asks
``isinstance(model, Baseline)`` and ``model.predicts_ratings``.

The catalogue is the split's (``split.n_users``, ``split.n_movies``, set by
:func:`reco.split.course_split` and :func:`reco.split.train_val_test_split`).
"""

from __future__ import annotations

import numpy as np

from reco._checks import positive_int
from reco.constants import MAX_MODEL_BYTES, SEED
from reco.split import Split, index_sizes

__all__ = [
    "EASE",
    "Baseline",
    "BiasBaseline",
    "DampedMeanBaseline",
    "GenreMeanBaseline",
    "PopularityBaseline",
    "RandomBaseline",
    "ease_memory",
]


def _catalogue(split: Split) -> tuple[int, int]:
    """Return the split's ``(n_users, n_movies)``; refuse an empty or non-finite training part."""
    if not isinstance(split, Split):
        raise ValueError(
            f"fit takes a reco.split.Split; got {type(split).__name__}. "
            "Fix: split = reco.split.course_split(encoded)."
        )
    if len(split.X_train) == 0:
        raise ValueError(
            "the split's training part is empty, so there is nothing to fit. Fix: split a "
            "ratings table that has rows (check the filters applied before encode_ids)."
        )
    y = np.asarray(split.y_train, dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        user, movie = split.X_train[first]
        raise ValueError(
            f"the split's training part has {int(bad.sum())} rating(s) that are NaN or "
            f"infinite, the first {y[first]} at row {first} (user {user}, movie {movie}); a "
            "baseline fitted on them gives NaN scores. Fix: drop those rows before "
            "encode_ids, e.g. ratings[np.isfinite(ratings['rating'])]."
        )
    return index_sizes(split)


def _positive(value, name: str, fix: str) -> float:
    """Return ``value`` as a float if it is finite and positive, else raise ``ValueError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be positive and finite; got {value!r}. Fix: {fix}.")
    return number


class Baseline:
    """What every baseline provides: the protocol that evaluation relies on.

    * ``fit(split) -> self``: learn from the training part of a
      :class:`reco.split.Split` (settings are constructor arguments, checked
      here). It refuses an empty training part and NaN or infinite ratings.
    * ``n_users_`` and ``n_movies_``: the catalogue, set by ``fit``.
    * ``score_users(users) -> np.ndarray``: a float array of shape
      ``(len(users), n_movies_)`` for 0-based user indices; a higher score
      ranks a movie first (only the order matters, not the scale).
    * ``predict(X) -> np.ndarray``: predicted stars, shape ``(n,)``, for
      ``(n, 2)`` integer ``[user, movie]`` rows; only baselines whose
      ``predicts_ratings`` is ``True`` have it.
    * ``predicts_ratings``: a class attribute, ``True`` if the baseline
      predicts ratings (it has ``predict``, so RMSE and MAE apply).

    Using an unfitted baseline, or indices outside the catalogue, raises
    ``ValueError`` with the fix.
    """

    #: Whether the baseline predicts ratings (has ``predict``).
    predicts_ratings: bool = False

    n_users_: int
    n_movies_: int

    def _check_fitted(self):
        if not hasattr(self, "n_movies_"):
            raise ValueError(
                f"this {type(self).__name__} is not fitted yet. Fix: call .fit(split) first."
            )

    def _users(self, users) -> np.ndarray:
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            raise ValueError(
                f"user indices must lie in [0, {self.n_users_ - 1}]; got "
                f"{users.min()}..{users.max()}. Fix: use the split the baseline was fitted on."
            )
        return users

    def _rows(self, X) -> np.ndarray:
        self._check_fitted()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != 2 or (X.size and not np.issubdtype(X.dtype, np.integer)):
            raise ValueError(
                f"X must be integer [user, movie] rows of shape (n, 2); got {X.shape}."
            )
        for col, size, kind in ((0, self.n_users_, "user"), (1, self.n_movies_, "movie")):
            if X.size and (X[:, col].min() < 0 or X[:, col].max() >= size):
                raise ValueError(f"{kind} indices must lie in [0, {size - 1}].")
        return X

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({settings})"


#: The old, private name of :class:`Baseline`.
_Baseline = Baseline


class RandomBaseline(Baseline):
    """Recommend movies at random (seeded): the floor every model must clear.

    It teaches what the metrics give for no knowledge at all: with about
    9,700 candidates, a random top 10 almost never holds a relevant movie.

    Args:
        seed: the seed; the same seed gives the same scores for a user, whichever
            other users are scored with it.
    """

    def __init__(self, seed: int = SEED):
        self.seed = seed

    def fit(self, split: Split) -> RandomBaseline:
        """Record the catalogue; return ``self``."""
        self.n_users_, self.n_movies_ = _catalogue(split)
        return self

    def score_users(self, users) -> np.ndarray:
        """Return uniform random scores of shape ``(len(users), n_movies)``."""
        users = self._users(users)
        scores = np.empty((len(users), self.n_movies_))
        for row, user in enumerate(users):
            scores[row] = np.random.default_rng([self.seed, int(user)]).random(self.n_movies_)
        return scores


class PopularityBaseline(Baseline):
    """Recommend the most-rated movies to everyone.

    It teaches the uncomfortable lesson of top-k evaluation: with no
    personalisation at all, it is hard to beat. Relevant test movies are
    mostly popular ones, because popular movies are the ones people rate.
    """

    def fit(self, split: Split) -> PopularityBaseline:
        """Count each movie's training ratings; return ``self``."""
        self.n_users_, self.n_movies_ = _catalogue(split)
        self.counts_ = np.bincount(split.X_train[:, 1], minlength=self.n_movies_)
        return self

    def score_users(self, users) -> np.ndarray:
        """Return each movie's number of training ratings, the same for every user."""
        users = self._users(users)
        return np.broadcast_to(self.counts_.astype(np.float64), (len(users), self.n_movies_))

    def score_history(self, movies) -> np.ndarray:
        """Score every movie for a new user who rated ``movies``: the counts, whatever they rated."""
        self._check_fitted()
        return self.counts_.astype(np.float64)


class DampedMeanBaseline(Baseline):
    """Recommend the movies with the best damped (Bayesian) mean rating.

    ``score = (sum of ratings + damping * global mean) / (n ratings + damping)``:
    a movie with few ratings is pulled towards the global mean, so one 5-star
    rating does not put an obscure movie on top. It teaches that a good *rating*
    predictor is not automatically a good *list* maker: it predicts ratings
    better than popularity can, yet its lists favour well-liked niche movies.

    Args:
        damping: how many ratings' worth of the global mean each movie starts with.
    """

    predicts_ratings = True

    def __init__(self, damping: float = 10.0):
        self.damping = damping

    def fit(self, split: Split) -> DampedMeanBaseline:
        """Compute the damped mean rating of each movie; return ``self``."""
        if not float(self.damping) >= 0:
            raise ValueError(f"damping must be zero or positive; got {self.damping!r}.")
        self.n_users_, self.n_movies_ = _catalogue(split)
        y = np.asarray(split.y_train, dtype=np.float64)
        self.global_mean_ = float(y.mean())
        sums = np.bincount(split.X_train[:, 1], weights=y, minlength=self.n_movies_)
        counts = np.bincount(split.X_train[:, 1], minlength=self.n_movies_)
        total = counts + self.damping
        safe = np.where(total > 0, total, 1.0)
        self.means_ = np.where(
            total > 0, (sums + self.damping * self.global_mean_) / safe, self.global_mean_
        )
        return self

    def predict(self, X) -> np.ndarray:
        """Return the damped mean rating of each row's movie, in stars."""
        rows = self._rows(X)
        return self.means_[rows[:, 1]]

    def score_users(self, users) -> np.ndarray:
        """Return the damped mean rating of every movie, the same for every user."""
        users = self._users(users)
        return np.broadcast_to(self.means_, (len(users), self.n_movies_))


class GenreMeanBaseline(Baseline):
    """Predict a movie's rating from its genres: the mean of its genres' damped mean ratings.

    The answer for a movie nobody has rated (the Google course's "average the
    embeddings of items in the same category", here on ratings): each genre's
    mean is ``(sum of its movies' training ratings + damping * global mean) /
    (their number + damping)``, and a movie's prediction is the mean over its
    genres (the global mean for a movie with none). With ``user_bias=True``
    each user's damped mean offset from those predictions is added, so the
    baseline knows as much about the user as a model with a user bias does.

    Args:
        genres: float ``(n_movies, n_genres)``, 1 where a movie has a genre
            (:func:`reco.features.genre_matrix`), from the catalogue.
        damping: ratings' worth of the global mean each genre (and user) starts with.
        user_bias: add each user's offset.
    """

    predicts_ratings = True

    def __init__(self, genres, damping: float = 10.0, user_bias: bool = False):
        self.genres = genres
        self.damping = damping
        self.user_bias = user_bias

    def fit(self, split: Split) -> GenreMeanBaseline:
        """Compute each genre's damped mean (and each user's offset); return ``self``."""
        damping = float(self.damping)
        if not (np.isfinite(damping) and damping >= 0):
            raise ValueError(
                f"damping must be zero or a finite positive number; got {self.damping!r}."
            )
        n_users, n_movies = _catalogue(split)
        G = np.asarray(self.genres, dtype=np.float64)
        if G.ndim != 2 or len(G) != n_movies:
            raise ValueError(
                f"genres must have one row per movie ({n_movies}); got shape {G.shape}. Fix: "
                "reco.features.genre_matrix(movies, encoder) with the encoder of this split."
            )
        X, y = split.X_train, np.asarray(split.y_train, dtype=np.float64)
        mean = float(y.mean())
        rated = G[X[:, 1]]
        weight = rated.sum(axis=0) + damping  # a genre no one rated (and no damping): the mean
        genre_mean = np.where(
            weight > 0, (rated.T @ y + damping * mean) / np.where(weight > 0, weight, 1.0), mean
        )
        n_genres = G.sum(axis=1)
        self.movie_means_ = np.where(
            n_genres > 0, (G @ genre_mean) / np.maximum(n_genres, 1.0), mean
        )
        self.user_offsets_ = np.zeros(n_users)
        if self.user_bias:
            residual = y - self.movie_means_[X[:, 1]]
            sums = np.bincount(X[:, 0], weights=residual, minlength=n_users)
            counts = np.bincount(X[:, 0], minlength=n_users)
            weight = counts + damping
            self.user_offsets_ = np.where(weight > 0, sums / np.where(weight > 0, weight, 1.0), 0.0)
        self.global_mean_ = mean
        self.n_users_, self.n_movies_ = n_users, n_movies
        return self

    def predict(self, X) -> np.ndarray:
        """Return each row's genre-mean prediction (plus its user's offset), in stars."""
        rows = self._rows(X)
        return self.movie_means_[rows[:, 1]] + self.user_offsets_[rows[:, 0]]

    def score_users(self, users) -> np.ndarray:
        """Return every movie's genre mean, the same order for every user."""
        users = self._users(users)
        return np.broadcast_to(self.movie_means_, (len(users), self.n_movies_))


class BiasBaseline(Baseline):
    """Predict ``global mean + user bias + movie bias``: the model with biases and no factors.

    Fitted like Surprise's ``BaselineOnly`` with alternating least squares: a
    few sweeps in which each movie bias, then each user bias, is set to the
    regularised mean of what the other terms leave unexplained:
    ``b_m = sum(r - mu - b_u) / (reg_movie + n_m)`` and
    ``b_u = sum(r - mu - b_m) / (reg_user + n_u)``.
    It teaches how much of a rating is "this user rates high" and "this movie
    is liked" (most of what V2 gains over V1), and it is the missing row of
    notebook 03's comparison. For one user, its list ranks movies by their bias.

    Args:
        reg_user: shrinkage of the user biases (Surprise's default: 15).
        reg_movie: shrinkage of the movie biases (Surprise's default: 10).
        n_epochs: alternating sweeps (Surprise's default: 10).
    """

    predicts_ratings = True

    def __init__(self, reg_user: float = 15.0, reg_movie: float = 10.0, n_epochs: int = 10):
        self.reg_user = reg_user
        self.reg_movie = reg_movie
        self.n_epochs = n_epochs

    def fit(self, split: Split) -> BiasBaseline:
        """Fit the global mean and the biases on the training part; return ``self``."""
        if not (float(self.reg_user) >= 0 and float(self.reg_movie) >= 0):
            raise ValueError("reg_user and reg_movie must be zero or positive.")
        positive_int(self.n_epochs, "n_epochs", "for example n_epochs=10")
        self.n_users_, self.n_movies_ = _catalogue(split)
        users, movies = split.X_train[:, 0], split.X_train[:, 1]
        y = np.asarray(split.y_train, dtype=np.float64)
        self.global_mean_ = mu = float(y.mean())
        n_u = np.bincount(users, minlength=self.n_users_)
        n_m = np.bincount(movies, minlength=self.n_movies_)
        b_u, b_m = np.zeros(self.n_users_), np.zeros(self.n_movies_)
        den_m, den_u = self.reg_movie + n_m, self.reg_user + n_u
        for _ in range(int(self.n_epochs)):
            sums = np.bincount(movies, weights=y - mu - b_u[users], minlength=self.n_movies_)
            b_m = np.divide(sums, den_m, out=np.zeros(self.n_movies_), where=den_m > 0)
            sums = np.bincount(users, weights=y - mu - b_m[movies], minlength=self.n_users_)
            b_u = np.divide(sums, den_u, out=np.zeros(self.n_users_), where=den_u > 0)
        self.user_bias_, self.movie_bias_ = b_u, b_m
        return self

    def predict(self, X) -> np.ndarray:
        """Return ``global mean + user bias + movie bias`` for each row, in stars."""
        X = self._rows(X)
        return self.global_mean_ + self.user_bias_[X[:, 0]] + self.movie_bias_[X[:, 1]]

    def score_users(self, users) -> np.ndarray:
        """Return the predicted rating of every movie for each user."""
        users = self._users(users)
        return self.global_mean_ + self.user_bias_[users][:, None] + self.movie_bias_[None, :]


class EASE(Baseline):
    """EASE (Steck 2019): a linear item-item model in closed form, on implicit feedback.

    With ``X`` the users x movies 0/1 matrix of the training part and
    ``G = X^T X + lambda * I``, the weights are ``B = I - P / diag(P)`` (each
    column divided by its diagonal entry) with ``P = G^-1``, so that
    ``diag(B) = 0``: a movie may not predict itself. A user's scores are
    ``x_u B``: every movie is scored by the movies the user has, weighted by
    how strongly they co-occur. One regularisation, ``lam``, chosen on the
    validation part. It teaches how strong a simple model trained *for the
    task* (which movies a user has, not their stars) can be; it is the
    baseline the course's own ranking model (notebook 08) has to match.

    The inverse is computed in float32 from a Cholesky factorisation, on the
    movies with at least one training rating (the others get score 0). Its
    memory grows with the square of their number: ``fit`` refuses a model
    that would need more than :data:`reco.constants.MAX_MODEL_BYTES` (4 GiB,
    about 16,000 movies).

    Args:
        lam: the L2 regularisation ``lambda``; the default, 200, was chosen on
            the validation part of ``train_val_test_split`` (``make tune``).
    """

    def __init__(self, lam: float = 200.0):
        self.lam = lam

    def fit(self, split: Split) -> EASE:
        """Compute the item-item weights from the training part; return ``self``."""
        from scipy.linalg import lapack

        lam = _positive(self.lam, "lam", "choose it on the validation part; the default is 200")
        n_users, n_movies = _catalogue(split)
        users, movies = split.X_train[:, 0], split.X_train[:, 1]
        seen = np.unique(movies)
        _check_ease_memory(n_users, len(seen))  # before anything is set or allocated
        self.n_users_, self.n_movies_ = n_users, n_movies
        self.movies_ = seen
        X = np.zeros((self.n_users_, len(seen)), dtype=np.float32)
        X[users, np.searchsorted(seen, movies)] = 1.0
        G = X.T @ X
        G[np.diag_indices_from(G)] += np.float32(lam)
        chol, info = lapack.spotrf(G, lower=True, overwrite_a=True)
        if info == 0:
            P, info = lapack.spotri(chol, lower=True, overwrite_c=True)
        if info != 0:
            raise ValueError(f"the Gram matrix is not positive definite (LAPACK info {info}).")
        P = np.tril(P) + np.tril(P, -1).T  # spotri fills one triangle
        B = P / -np.diag(P)
        B[np.diag_indices_from(B)] = 0.0
        self.weights_ = B
        self.history_ = X
        return self

    def score_users(self, users) -> np.ndarray:
        """Return ``x_u B`` for each user, over the whole catalogue (0 for unseen movies)."""
        users = self._users(users)
        scores = np.zeros((len(users), self.n_movies_), dtype=np.float32)
        scores[:, self.movies_] = self.history_[users] @ self.weights_
        return scores

    def score_history(self, movies) -> np.ndarray:
        """Score every movie for a new user who rated ``movies``: ``x B``, with no retraining.

        EASE scores a user by the movies they have, so a user who was not in
        training is scored exactly as one who was (movies no one rated in
        training count for nothing).
        """
        self._check_fitted()
        movies = np.asarray(movies, dtype=np.int64).reshape(-1)
        if movies.size and (movies.min() < 0 or movies.max() >= self.n_movies_):
            raise ValueError(
                f"movie indices must lie in [0, {self.n_movies_ - 1}]. Fix: encode the new "
                "user's movies with the encoder of the split EASE was fitted on."
            )
        row = np.zeros(len(self.movies_), dtype=np.float32)
        row[np.searchsorted(self.movies_, np.intersect1d(movies, self.movies_))] = 1.0
        scores = np.zeros(self.n_movies_, dtype=np.float32)
        scores[self.movies_] = row @ self.weights_
        return scores


# n_movies x n_movies float32 matrices alive at EASE.fit's peak (the Gram matrix, its
# factor/inverse and the two triangles that make it symmetric; tracemalloc measured 4.25)
_EASE_PEAK_MATRICES = 4.5


def ease_memory(n_users: int, n_movies: int) -> float:
    """Return the bytes EASE's fit needs at its peak for ``n_users`` x ``n_movies`` (float32).

    About four and a half ``n_movies x n_movies`` matrices (the Gram matrix, its
    inverse, and the two triangles that make it symmetric) plus the users x
    movies matrix: it grows with the square of the catalogue. :meth:`EASE.fit`
    refuses above :data:`reco.constants.MAX_MODEL_BYTES`.
    """
    return 4 * (_EASE_PEAK_MATRICES * n_movies**2 + n_users * n_movies)


def _check_ease_memory(n_users: int, n_movies: int) -> None:
    """Raise ``ValueError`` if EASE on ``n_movies`` rated movies needs more than the limit."""
    needed = ease_memory(n_users, n_movies)
    if needed > MAX_MODEL_BYTES:
        raise ValueError(
            f"EASE on n_movies={n_movies:,} movies with training ratings ({n_users:,} users) "
            f"needs about {needed / 1024**3:,.1f} GiB (its {n_movies:,} x {n_movies:,} float32 "
            f"matrices, the Gram matrix and its inverse, and the users x movies ratings), over the "
            f"{MAX_MODEL_BYTES / 1024**3:.0f} GiB this package allows "
            "(reco.constants.MAX_MODEL_BYTES). Fix: keep fewer movies before encode_ids, "
            "e.g. those with at least 5 ratings, ratings[ratings.groupby('movieId')"
            "['movieId'].transform('size') >= 5], or use a smaller data set such as "
            "ml-latest-small."
        )
