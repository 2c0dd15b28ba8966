"""Encode MovieLens ids to contiguous indices and split ratings for training.

Embedding layers look rows up by index, so ids must be the integers
``0 .. n - 1``. MovieLens ids are not: movie ids run up to 193,609 for 9,742
movies. :func:`encode_ids` maps them with scikit-learn's ``LabelEncoder`` and
keeps the mapping both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

from reco.constants import (
    ITEM_COL,
    ITEM_IDX_COL,
    RATING_COL,
    SEED,
    USER_COL,
    USER_IDX_COL,
)


@dataclass(frozen=True)
class IdEncoder:
    """Two fitted ``LabelEncoder``s: raw user and movie ids <-> 0-based indices."""

    users: LabelEncoder
    movies: LabelEncoder

    @property
    def n_users(self) -> int:
        """Number of distinct users (the user embedding's input size)."""
        return len(self.users.classes_)

    @property
    def n_movies(self) -> int:
        """Number of distinct movies (the movie embedding's input size)."""
        return len(self.movies.classes_)

    def encode_users(self, user_ids) -> np.ndarray:
        """Map raw user ids to indices; unknown ids raise ``ValueError`` naming them."""
        return _transform(self.users, user_ids, "user")

    def encode_movies(self, movie_ids) -> np.ndarray:
        """Map raw movie ids to indices; unknown ids raise ``ValueError`` naming them."""
        return _transform(self.movies, movie_ids, "movie")

    def decode_users(self, indices) -> np.ndarray:
        """Map user indices back to raw user ids."""
        return _inverse(self.users, indices, "user")

    def decode_movies(self, indices) -> np.ndarray:
        """Map movie indices back to raw movie ids."""
        return _inverse(self.movies, indices, "movie")


def _transform(encoder: LabelEncoder, ids, kind: str) -> np.ndarray:
    ids = np.asarray(ids)
    unknown = np.setdiff1d(ids, encoder.classes_)
    if unknown.size:
        shown = ", ".join(str(x) for x in unknown[:5])
        raise ValueError(
            f"unknown {kind} id(s): {shown}{' ...' if unknown.size > 5 else ''}; "
            f"only {kind}s seen when the encoder was fitted can be encoded."
        )
    return encoder.transform(ids).astype(np.int32)


def _inverse(encoder: LabelEncoder, indices, kind: str) -> np.ndarray:
    indices = np.asarray(indices)
    n = len(encoder.classes_)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(
            f"{kind} indices must lie in [0, {n - 1}]; got {indices.min()}..{indices.max()}."
        )
    return encoder.inverse_transform(indices)


def encode_ids(
    ratings: pd.DataFrame,
    *,
    user_col: str = USER_COL,
    item_col: str = ITEM_COL,
    user_idx_col: str = USER_IDX_COL,
    item_idx_col: str = ITEM_IDX_COL,
) -> tuple[pd.DataFrame, IdEncoder]:
    """Add 0-based ``user`` and ``movie`` index columns to a ratings table.

    Args:
        ratings: a ratings table with ``user_col`` and ``item_col``.

    Returns:
        ``(encoded, encoder)``: a copy of ``ratings`` with two int32 columns
        ``user_idx_col`` and ``item_idx_col`` added, and the fitted
        :class:`IdEncoder` that maps them back.
    """
    missing = [c for c in (user_col, item_col) if c not in ratings.columns]
    if missing:
        raise ValueError(
            f"ratings table has no column(s) {missing}; it has {list(ratings.columns)}."
        )
    users = LabelEncoder().fit(ratings[user_col].to_numpy())
    movies = LabelEncoder().fit(ratings[item_col].to_numpy())
    encoded = ratings.copy()
    encoded[user_idx_col] = users.transform(ratings[user_col].to_numpy()).astype(np.int32)
    encoded[item_idx_col] = movies.transform(ratings[item_col].to_numpy()).astype(np.int32)
    return encoded, IdEncoder(users, movies)


@dataclass(frozen=True)
class Split:
    """Model inputs and targets of a split.

    ``X_*`` are int32 arrays of shape ``(n, 2)`` holding ``[user, movie]``
    indices; ``y_*`` are float32 arrays of shape ``(n,)`` holding ratings in
    stars. ``X_val``/``y_val`` are ``None`` for the two-way course split.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def sizes(self) -> dict[str, int]:
        """Number of ratings in each part."""
        out = {"train": len(self.y_train)}
        if self.y_val is not None:
            out["validation"] = len(self.y_val)
        out["test"] = len(self.y_test)
        return out


def _xy(encoded: pd.DataFrame, user_idx_col: str, item_idx_col: str, rating_col: str):
    missing = [c for c in (user_idx_col, item_idx_col, rating_col) if c not in encoded.columns]
    if missing:
        raise ValueError(
            f"table has no column(s) {missing}; call reco.split.encode_ids(ratings) first."
        )
    X = encoded[[user_idx_col, item_idx_col]].to_numpy(dtype=np.int32)
    y = encoded[rating_col].to_numpy(dtype=np.float32)
    return X, y


def course_split(
    encoded: pd.DataFrame,
    *,
    test_size: float = 0.1,
    seed: int = SEED,
    user_idx_col: str = USER_IDX_COL,
    item_idx_col: str = ITEM_IDX_COL,
    rating_col: str = RATING_COL,
) -> Split:
    """Split encoded ratings 90/10 at random, exactly as the course always has.

    This is ``train_test_split(X, y, test_size=0.1, random_state=42)`` on the
    ``[user, movie]`` pairs, so numbers match the original walkthrough.

    Args:
        encoded: output of :func:`encode_ids`.

    Returns:
        a :class:`Split` with no validation part.
    """
    X, y = _xy(encoded, user_idx_col, item_idx_col, rating_col)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed
    )
    return Split(X_train, y_train, X_test, y_test)


def train_val_test_split(
    encoded: pd.DataFrame,
    *,
    val_size: float = 0.1,
    test_size: float = 0.1,
    seed: int = SEED,
    user_idx_col: str = USER_IDX_COL,
    item_idx_col: str = ITEM_IDX_COL,
    rating_col: str = RATING_COL,
) -> Split:
    """Split encoded ratings into train, validation and test parts at random.

    Choose epochs, learning rates and sizes on the validation part; look at
    the test part once, at the end. The test part is the same rows as
    :func:`course_split` with the same ``test_size`` and ``seed``, so test
    numbers from both splits are comparable.

    Args:
        encoded: output of :func:`encode_ids`.
        val_size: fraction of *all* ratings that goes to validation.
        test_size: fraction of all ratings that goes to test.

    Returns:
        a :class:`Split` with all three parts.
    """
    if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
        raise ValueError(
            f"val_size and test_size must be fractions in (0, 1) that add up to less than 1; "
            f"got val_size={val_size}, test_size={test_size}."
        )
    outer = course_split(
        encoded,
        test_size=test_size,
        seed=seed,
        user_idx_col=user_idx_col,
        item_idx_col=item_idx_col,
        rating_col=rating_col,
    )
    X_train, X_val, y_train, y_val = train_test_split(
        outer.X_train, outer.y_train, test_size=val_size / (1 - test_size), random_state=seed
    )
    return Split(X_train, y_train, outer.X_test, outer.y_test, X_val, y_val)
