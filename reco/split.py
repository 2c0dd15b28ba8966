"""Encode MovieLens ids to contiguous indices and split ratings for training.

Embedding layers look rows up by index, so ids must be the integers
``0 .. n - 1``. MovieLens ids are not: movie ids run up to 193,609 for 9,742
movies. :func:`encode_ids` maps them with scikit-learn's ``LabelEncoder`` and
keeps the mapping both ways.
"""

from __future__ import annotations

import linecache
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

from reco._checks import check_unique_pairs, require_columns
from reco.constants import (
    MOVIE_COL,
    MOVIE_IDX_COL,
    RATING_COL,
    SEED,
    TIMESTAMP_COL,
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

    def movie_counts(self, movie_ids) -> np.ndarray:
        """Count each movie in ``movie_ids`` (a ratings column): int64, one per movie index.

        Raises:
            ValueError: the ids are of another kind (strings, numbers) than the
                encoder's, so none would be counted.
        """
        check_id_dtype(self.movies, movie_ids, "the movie ids")
        counts = pd.Series(movie_ids).value_counts()
        return counts.reindex(self.movies.classes_, fill_value=0).to_numpy()


def check_id_dtype(encoder: LabelEncoder, ids, what: str) -> None:
    """Raise ``ValueError`` if ``ids`` are not of the kind the encoder was fitted on.

    Ids stored as strings never equal the same ids stored as integers, so a
    table read with another dtype would silently match nothing.

    Args:
        encoder: ``IdEncoder.users`` or ``IdEncoder.movies``.
        ids: the ids to compare with the encoder's.
        what: where the ids come from, for the message (``"ratings['movieId']"``).
    """
    ids = np.asarray(ids)
    fitted = encoder.classes_.dtype
    numeric = np.issubdtype(fitted, np.number), np.issubdtype(ids.dtype, np.number)
    if ids.size and numeric[0] != numeric[1]:
        kind = "numbers" if numeric[0] else "strings"
        raise ValueError(
            f"{what} holds {ids.dtype} values but the encoder was fitted on {kind} "
            f"({fitted}), so they would match no id. Fix: convert them, e.g. "
            f"{'.astype(int)' if numeric[0] else '.astype(str)'}, or encode this table "
            "with the same encoder."
        )


def _transform(encoder: LabelEncoder, ids, kind: str) -> np.ndarray:
    ids = np.asarray(ids)
    check_id_dtype(encoder, ids, f"the {kind} ids")
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
    movie_col: str = MOVIE_COL,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
) -> tuple[pd.DataFrame, IdEncoder]:
    """Add 0-based ``user`` and ``movie`` index columns to a ratings table.

    Args:
        ratings: a ratings table with ``user_col`` and ``movie_col``.

    Returns:
        ``(encoded, encoder)``: a copy of ``ratings`` with two int32 columns
        ``user_idx_col`` and ``movie_idx_col`` added, and the fitted
        :class:`IdEncoder` that maps them back.

    Raises:
        ValueError: a column is missing, an id is missing, or two rows rate the
            same (user, movie) pair.
    """
    require_columns(ratings, {user_col: "user_col", movie_col: "movie_col"}, "ratings")
    for col in (user_col, movie_col):
        missing = ratings[col].isna()
        if missing.any():
            rows = ratings.index[missing.to_numpy()][:3].tolist()
            raise ValueError(
                f"ratings[{col!r}] has {int(missing.sum())} missing id(s) (NaN or None), at "
                f"row(s) {rows}{' ...' if missing.sum() > 3 else ''}; a missing id is not a "
                f"{'user' if col == user_col else 'movie'}. Fix: drop those rows, e.g. "
                f"ratings.dropna(subset=[{col!r}])."
            )
    check_unique_pairs(ratings, "ratings", user_col=user_col, movie_col=movie_col)
    users = LabelEncoder().fit(ratings[user_col].to_numpy())
    movies = LabelEncoder().fit(ratings[movie_col].to_numpy())
    encoded = ratings.copy()
    encoded[user_idx_col] = users.transform(ratings[user_col].to_numpy()).astype(np.int32)
    encoded[movie_idx_col] = movies.transform(ratings[movie_col].to_numpy()).astype(np.int32)
    return encoded, IdEncoder(users, movies)


#: The parts a split can have, in order.
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Part:
    """One part of a split: its ``[user, movie]`` rows, ratings and per-rating context.

    Attributes:
        name: ``"train"``, ``"val"`` or ``"test"``.
        X: int32 array of shape ``(n, 2)``: ``[user, movie]`` indices.
        y: float32 array of shape ``(n,)``: ratings in stars.
        context: column -> array of shape ``(n,)`` (for example ``"timestamp"``);
            empty when the split carries none.
        n_users: the size of the encoding the rows come from, or ``None``.
        n_movies: likewise for movies.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    context: Mapping[str, np.ndarray]
    n_users: int | None = None
    n_movies: int | None = None

    def context_for(self, columns, kind: str = "this model") -> dict[str, np.ndarray]:
        """Return the context ``columns`` a model kind asks for, or raise naming the fix.

        Raises:
            ValueError: the split carries no such column for this part.
        """
        missing = [c for c in columns if c not in self.context]
        if missing:
            raise ValueError(
                f"{kind} needs the per-rating context {missing} but the {self.name!r} part "
                f"carries {sorted(self.context) or 'none'}. Fix: split a table that has the "
                f"column(s) {missing} (course_split and train_val_test_split carry every "
                "column named in context=)."
            )
        return {c: self.context[c] for c in columns}


@dataclass(frozen=True)
class Split:
    """Model inputs and targets of a split.

    ``X_*`` are int32 arrays of shape ``(n, 2)`` holding ``[user, movie]``
    indices; ``y_*`` are float32 arrays of shape ``(n,)`` holding ratings in
    stars. ``X_val``/``y_val`` are ``None`` for the two-way course split.
    ``n_users``/``n_movies`` are the sizes of the encoding the rows come from
    (all users and movies of the encoded table, over every part), or ``None``
    when unknown; the ranking evaluation takes its catalogue from them.
    ``context`` holds per-rating context for each part, part name -> column ->
    array of that part's length (by default the ``timestamp`` of each rating,
    when the table has one); a model kind that needs it says so in its
    contract (:attr:`reco.kinds.ModelKind.context`), and the others ignore it.
    ``protocol`` says how the split was made, for the time-aware splits (its
    ``"name"`` and, for :func:`time_split`, the cuts in Unix seconds); empty
    for the random splits.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    n_users: int | None = None
    n_movies: int | None = None
    context: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    protocol: Mapping[str, object] = field(default_factory=dict)

    def __getattribute__(self, name):
        if name in _TEST_FIELDS:  # every read of the test part is recorded (test_reads())
            _record_test_read()
        return object.__getattribute__(self, name)

    def _rows(self, name: str) -> np.ndarray | None:
        """Return part ``name``'s ``[user, movie]`` rows without recording a test-part read.

        For the split's structure only (sizes, the catalogue of movie indices),
        never for what a model is chosen or judged by.
        """
        return object.__getattribute__(self, f"X_{name}")

    def __post_init__(self):
        for name, columns in self.context.items():
            if name not in PARTS or self._rows(name) is None:
                raise ValueError(f"context names part {name!r}, which this split does not have.")
            n = len(self._rows(name))
            for col, values in columns.items():
                if len(values) != n:
                    raise ValueError(
                        f"context[{name!r}][{col!r}] has {len(values)} values for {n} ratings."
                    )

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X, y)`` of part ``name``: ``"train"``, ``"val"`` or ``"test"``.

        Raises:
            ValueError: an unknown part, or ``"val"`` for a split without one.
        """
        part = self.part_of(name)
        return part.X, part.y

    def part_of(self, name: str) -> Part:
        """Return part ``name`` (``"train"``, ``"val"`` or ``"test"``) with its context.

        Raises:
            ValueError: an unknown part, or ``"val"`` for a split without one.
        """
        if name not in PARTS:
            raise ValueError(f"part must be 'train', 'val' or 'test'; got {name!r}.")
        X, y = getattr(self, f"X_{name}"), getattr(self, f"y_{name}")
        if X is None:
            raise ValueError(
                f"this split has no {name!r} part. Fix: use reco.split.train_val_test_split."
            )
        return Part(name, X, y, dict(self.context.get(name, {})), self.n_users, self.n_movies)

    def for_model(self, model, part: str = "train"):
        """Return ``(inputs, targets)`` of a part in the form ``model`` takes, for plain Keras.

        ``model.fit(*split.for_model(model))`` trains any course model, and
        ``model.predict(split.for_model(model, "test")[0])`` predicts with it;
        each model kind's contract (:mod:`reco.kinds`) arranges its inputs
        (two index arrays, ``(n, 2)`` rows, or a user's multi-hot row) and its
        targets (stars, or ratings normalised to ``[0, 1]`` for RecommenderNetV2).

        Args:
            model: a model of a registered kind.
            part: ``"train"``, ``"val"`` or ``"test"``.

        Raises:
            ValueError: an unknown part or model kind, or rows outside the model.
        """
        from reco.kinds import kind_of

        return kind_of(model).examples(model, self.part_of(part))

    def sizes(self) -> dict[str, int]:
        """Number of ratings in each part, keyed ``"train"``, ``"val"`` and ``"test"``."""
        return {name: len(self._rows(name)) for name in PARTS if self._rows(name) is not None}


def _xy(encoded: pd.DataFrame, user_idx_col: str, movie_idx_col: str, rating_col: str):
    missing = [c for c in (user_idx_col, movie_idx_col, rating_col) if c not in encoded.columns]
    if missing:
        raise ValueError(
            f"table has no column(s) {missing}; call reco.split.encode_ids(ratings) first."
        )
    X = encoded[[user_idx_col, movie_idx_col]].to_numpy(dtype=np.int32)
    y = encoded[rating_col].to_numpy(dtype=np.float32)
    return X, y


def _context_columns(encoded: pd.DataFrame, context) -> dict[str, np.ndarray]:
    """Return the per-rating context columns a split carries, column -> array."""
    if context is None:  # by default, each rating's timestamp when the table has one
        context = [TIMESTAMP_COL] if TIMESTAMP_COL in encoded.columns else []
    columns = [context] if isinstance(context, str) else list(context)
    require_columns(encoded, {c: "context" for c in columns}, "ratings")
    return {c: encoded[c].to_numpy() for c in columns}


def _split_context(columns: dict[str, np.ndarray], first: np.ndarray, second: np.ndarray):
    """Return ``(context of first, context of second)`` for two sets of row positions."""
    return {c: v[first] for c, v in columns.items()}, {c: v[second] for c, v in columns.items()}


def course_split(
    encoded: pd.DataFrame,
    *,
    test_size: float = 0.1,
    seed: int = SEED,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    rating_col: str = RATING_COL,
    context=None,
) -> Split:
    """Split encoded ratings 90/10 at random, exactly as the course always has.

    This is ``train_test_split(X, y, test_size=0.1, random_state=42)`` on the
    ``[user, movie]`` pairs, so numbers match the original walkthrough.

    Args:
        encoded: output of :func:`encode_ids`.
        context: the columns carried with each rating as per-rating context
            (:attr:`Split.context`), for model kinds that ask for them; default:
            ``timestamp`` when the table has it. They do not change the split.

    Returns:
        a :class:`Split` with no validation part.

    Raises:
        ValueError: a column is missing, or two rows rate the same (user, movie) pair.
    """
    X, y = _xy(encoded, user_idx_col, movie_idx_col, rating_col)
    check_unique_pairs(encoded, "encoded", user_col=user_idx_col, movie_col=movie_idx_col)
    columns = _context_columns(encoded, context)
    # The row positions ride along: train_test_split shuffles every array the same way.
    X_train, X_test, y_train, y_test, rows_train, rows_test = train_test_split(
        X, y, np.arange(len(X)), test_size=test_size, random_state=seed
    )
    n_users, n_movies = (int(X[:, c].max()) + 1 if len(X) else 0 for c in (0, 1))
    train, test = _split_context(columns, rows_train, rows_test)
    return Split(
        X_train,
        y_train,
        X_test,
        y_test,
        n_users=n_users,
        n_movies=n_movies,
        context={"train": train, "test": test} if columns else {},
    )


def train_val_test_split(
    encoded: pd.DataFrame,
    *,
    val_size: float = 0.1,
    test_size: float = 0.1,
    seed: int = SEED,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    rating_col: str = RATING_COL,
    context=None,
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
        context: the columns carried as per-rating context, as in :func:`course_split`.

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
        movie_idx_col=movie_idx_col,
        rating_col=rating_col,
        context=context,
    )
    X_train, X_val, y_train, y_val, rows_train, rows_val = train_test_split(
        outer.X_train,
        outer.y_train,
        np.arange(len(outer.X_train)),
        test_size=val_size / (1 - test_size),
        random_state=seed,
    )
    columns = outer.context.get("train", {})
    train, val = _split_context(columns, rows_train, rows_val)
    test = object.__getattribute__(outer, "X_test"), object.__getattribute__(outer, "y_test")
    return Split(
        X_train,
        y_train,
        *test,
        X_val,
        y_val,
        n_users=outer.n_users,
        n_movies=outer.n_movies,
        context={"train": train, "val": val, "test": outer.context["test"]} if columns else {},
    )


def _time_order(encoded: pd.DataFrame, timestamp_col: str) -> np.ndarray:
    """Return the table's timestamps as int64 seconds, refusing a table without them."""
    require_columns(encoded, {timestamp_col: "timestamp_col"}, "ratings")
    times = encoded[timestamp_col]
    if times.isna().any():
        raise ValueError(
            f"ratings[{timestamp_col!r}] has {int(times.isna().sum())} missing timestamp(s); "
            "a split in time order needs one per rating. Fix: drop those rows."
        )
    if pd.api.types.is_datetime64_any_dtype(times):
        if getattr(times.dt, "tz", None) is not None:  # an aware column: its UTC moment
            times = times.dt.tz_convert("UTC").dt.tz_localize(None)
        return times.astype("datetime64[s]").astype(np.int64).to_numpy()
    if not pd.api.types.is_numeric_dtype(times):
        raise ValueError(
            f"ratings[{timestamp_col!r}] holds {times.dtype} values; expected Unix seconds "
            "(as MovieLens ships them) or datetimes. Fix: convert it, e.g. with "
            "pd.to_datetime(...).astype('int64') // 10**9."
        )
    return times.to_numpy().astype(np.int64)


def _as_seconds(when, what: str) -> int:
    """Return a cut given as Unix seconds, a date string or a Timestamp, as int seconds."""
    if isinstance(when, (int, float, np.integer, np.floating)) and not isinstance(when, bool):
        if not np.isfinite(when):
            raise ValueError(f"{what} must be a finite moment; got {when!r}.")
        return int(np.floor(when))  # Unix seconds, as the timestamps are
    try:
        stamp = pd.Timestamp(when)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what} must be Unix seconds, a date such as '2017-06-21' or a pd.Timestamp; "
            f"got {when!r}."
        ) from error
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.value // 10**9)


def _parts_split(encoded, part_of_row: np.ndarray, columns, idx_cols, rating_col, protocol):
    """Build a three-part :class:`Split` from each row's part (0 train, 1 val, 2 test)."""
    X, y = _xy(encoded, *idx_cols, rating_col)
    rows = [np.flatnonzero(part_of_row == p) for p in range(3)]
    n_users, n_movies = (int(X[:, c].max()) + 1 if len(X) else 0 for c in (0, 1))
    context = {
        name: {c: v[r] for c, v in columns.items()} for name, r in zip(PARTS, rows, strict=True)
    }
    train, val, test = rows
    return Split(
        X[train],
        y[train],
        X[test],
        y[test],
        X[val],
        y[val],
        n_users=n_users,
        n_movies=n_movies,
        context=context,
        protocol=protocol,
    )


def time_split(
    encoded: pd.DataFrame,
    *,
    val_start=None,
    test_start=None,
    val_quantile: float = 0.8,
    test_quantile: float = 0.9,
    timestamp_col: str = TIMESTAMP_COL,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    rating_col: str = RATING_COL,
    context=None,
) -> Split:
    """Split ratings at two moments: train before the first, validate up to the second, test after.

    This is the *global time split*: no model ever trains on a rating made
    after one it is judged on, as in a deployed system, which is trained
    today and used tomorrow. The price is that the parts differ in who and
    what they hold: users whose first rating falls after a cut, and movies
    first rated after it, are new to the model (cold start). On
    ml-latest-small most test ratings come from such users.

    The cuts are moments (``val_start`` and ``test_start``), or else the
    ``val_quantile`` and ``test_quantile`` of the timestamps (by default
    80/10/10 of the ratings in time order). A rating made exactly at a cut
    belongs to the later part.

    Args:
        encoded: output of :func:`encode_ids`, with a timestamp column. The
            encoding covers every part, so new users and movies have indices
            but no training rows.
        val_start, test_start: the cuts, as Unix seconds, a date string
            (``"2017-06-21"``) or a ``pd.Timestamp`` (UTC); each overrides its
            quantile.
        val_quantile, test_quantile: the cuts as quantiles of the timestamps.
        context: the columns carried as per-rating context; the timestamp is
            always among them.

    Returns:
        a :class:`Split` with all three parts; ``split.protocol`` records the
        protocol and the cuts (Unix seconds).

    Raises:
        ValueError: no timestamp column, cuts out of order, or a part left empty.
    """
    times = _time_order(encoded, timestamp_col)
    if not (0 < val_quantile < test_quantile < 1):
        raise ValueError(
            "val_quantile and test_quantile must satisfy 0 < val_quantile < test_quantile < 1; "
            f"got {val_quantile} and {test_quantile}. Fix: e.g. val_quantile=0.8, test_quantile=0.9."
        )
    if len(times) == 0:
        raise ValueError("ratings is empty: there is nothing to split.")
    cuts = {}
    for name, given, q in (
        ("val_start", val_start, val_quantile),
        ("test_start", test_start, test_quantile),
    ):
        cuts[name] = _as_seconds(given, name) if given is not None else int(np.quantile(times, q))
    if cuts["val_start"] >= cuts["test_start"]:
        raise ValueError(
            f"val_start ({_date(cuts['val_start'])}) must come before test_start "
            f"({_date(cuts['test_start'])}). Fix: swap them, or give val_start an earlier date."
        )
    part_of_row = (times >= cuts["val_start"]).astype(np.int8) + (times >= cuts["test_start"])
    for p, name in enumerate(PARTS):
        if not (part_of_row == p).any():
            raise ValueError(
                f"the {name!r} part is empty with cuts at {_date(cuts['val_start'])} and "
                f"{_date(cuts['test_start'])} (the ratings run from {_date(times.min())} to "
                f"{_date(times.max())}). Fix: choose cuts inside that range."
            )
    columns = _context_columns(encoded, _with(context, timestamp_col))
    columns[timestamp_col] = times  # Unix seconds, whatever the column held (datetimes too)
    protocol = {"name": "global time", **cuts}
    idx_cols = (user_idx_col, movie_idx_col)
    return _parts_split(encoded, part_of_row, columns, idx_cols, rating_col, protocol)


def leave_last_out_split(
    encoded: pd.DataFrame,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    timestamp_col: str = TIMESTAMP_COL,
    user_idx_col: str = USER_IDX_COL,
    movie_idx_col: str = MOVIE_IDX_COL,
    rating_col: str = RATING_COL,
    context=None,
) -> Split:
    """Hold out each user's last ratings: the last ``test_fraction`` to test, the ones before to validate.

    This is the *per-user leave-last-out split*. Every user of the test part
    is known to the model (their earlier ratings are in training), so it
    measures warm users' futures. Each user gives ``floor(test_fraction * n)``
    of their ``n`` ratings to the test part and ``floor(val_fraction * n)`` of
    the ones before to validation, at least one each and never so many that
    no training rating is left (the test part is capped at ``n - 2``, then
    validation at what leaves one); a user with fewer than three ratings
    stays whole in training. Ratings with the same timestamp
    keep the table's order.

    It leaks across users: another user's training ratings may come after
    this user's test ratings, so the model can know what became popular
    later (Ji et al. 2023). :func:`time_split` does not leak, but mostly
    measures cold start.

    Args:
        encoded: output of :func:`encode_ids`, with a timestamp column.
        val_fraction, test_fraction: each user's share of ratings held out.
        context: the columns carried as per-rating context; the timestamp is
            always among them.

    Returns:
        a :class:`Split` with all three parts; ``split.protocol`` names it.

    Raises:
        ValueError: no timestamp column, bad fractions, or no user with the
            three ratings that fill every part.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            "val_fraction and test_fraction must be fractions in (0, 1) that add up to less "
            f"than 1; got val_fraction={val_fraction}, test_fraction={test_fraction}."
        )
    times = _time_order(encoded, timestamp_col)
    users = encoded[user_idx_col].to_numpy() if user_idx_col in encoded else None
    if users is None:
        raise ValueError(
            f"table has no column {user_idx_col!r}; call reco.split.encode_ids(ratings) first."
        )
    order = np.lexsort((np.arange(len(times)), times, users))  # by user, then time, then row
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    n_test = np.maximum(1, np.floor(counts * test_fraction + 1e-9)).astype(np.int64)
    n_val = np.maximum(1, np.floor(counts * val_fraction + 1e-9)).astype(np.int64)
    # at least one rating stays in training and one in validation: large fractions shrink
    n_test = np.minimum(n_test, counts - 2)
    n_val = np.minimum(n_val, counts - n_test - 1)
    too_few = counts < 3
    n_test[too_few] = n_val[too_few] = 0
    # position of each sorted row from its user's end: 0 for the user's last rating
    from_end = np.repeat(starts + counts, counts) - 1 - np.arange(len(order))
    part_sorted = np.where(
        from_end < np.repeat(n_test, counts),
        2,
        np.where(from_end < np.repeat(n_test + n_val, counts), 1, 0),
    ).astype(np.int8)
    part_of_row = np.empty(len(order), dtype=np.int8)
    part_of_row[order] = part_sorted
    columns = _context_columns(encoded, _with(context, timestamp_col))
    columns[timestamp_col] = times  # Unix seconds, whatever the column held (datetimes too)
    for p, name in ((1, "val"), (2, "test")):
        if not (part_of_row == p).any():
            raise ValueError(
                f"the {name!r} part is empty: no user has the 3 ratings a user needs to give "
                "one to each part. Fix: use a time_split, or data with more ratings per user."
            )
    protocol = {
        "name": "leave last out",
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
    }
    idx_cols = (user_idx_col, movie_idx_col)
    return _parts_split(encoded, part_of_row, columns, idx_cols, rating_col, protocol)


def _with(context, column: str) -> list[str]:
    """Return the names of the context columns to carry, the timestamp among them."""
    names = [] if context is None else [context] if isinstance(context, str) else list(context)
    return [*names, *([column] if column not in names else [])]


def _date(seconds) -> str:
    return str(pd.Timestamp(int(seconds), unit="s").date())


def cold_start_counts(split: Split, part: str = "test") -> dict[str, float]:
    """Count who and what in ``part`` is new: users and movies with no training ratings.

    It reads who is in the part (its ``[user, movie]`` rows), not how they
    rated, so it is not a read of the test part (:func:`test_reads`).

    Returns:
        ``{"ratings", "users", "new users", "ratings by new users", "movies",
        "new movies", "ratings of new movies"}``, counts of ``part``.

    Raises:
        ValueError: ``part`` is not ``"val"`` or ``"test"``, or the split has no such part.
    """
    if part not in ("val", "test") or split._rows(part) is None:
        raise ValueError(
            f"part must be 'val' or 'test', a part this split has; got {part!r}. Fix: "
            "part='test', or a three-way split for 'val'."
        )
    X = split._rows(part)
    known = split._rows("train")
    new_user = ~np.isin(X[:, 0], known[:, 0])
    new_movie = ~np.isin(X[:, 1], known[:, 1])
    return {
        "ratings": len(X),
        "users": len(np.unique(X[:, 0])),
        "new users": len(np.unique(X[new_user, 0])),
        "ratings by new users": int(new_user.sum()),
        "movies": len(np.unique(X[:, 1])),
        "new movies": len(np.unique(X[new_movie, 1])),
        "ratings of new movies": int(new_movie.sum()),
    }


def merge_val(split: Split) -> Split:
    """Return ``split`` with its validation part added to training, for the final model.

    Settings are chosen on the validation part; the final model then trains on
    everything before the test part, as the course split's training part is
    the three-way split's training and validation parts. On a time split this
    is everything before ``test_start``, so the model is as recent as a
    deployed one would be.

    Returns:
        a :class:`Split` with training = training + validation (rows and
        context), no validation part, the same test part and encoding sizes,
        and the protocol marked ``"val_merged": True``.

    Raises:
        ValueError: the split has no validation part.
    """
    val = split._rows("val")
    if val is None:
        raise ValueError(
            "this split has no validation part to merge (it is already a two-way split, "
            "like course_split). Fix: pass a three-way split, e.g. time_split(encoded)."
        )
    context = {
        "train": {
            col: np.concatenate([values, split.context["val"][col]])
            for col, values in split.context.get("train", {}).items()
            if col in split.context.get("val", {})
        }
    }
    if "test" in split.context:
        context["test"] = dict(split.context["test"])
    test_X, test_y = (object.__getattribute__(split, f) for f in ("X_test", "y_test"))
    return Split(
        np.concatenate([split.X_train, val]),
        np.concatenate([split.y_train, split.y_val]),
        test_X,
        test_y,
        n_users=split.n_users,
        n_movies=split.n_movies,
        context={name: columns for name, columns in context.items() if columns},
        protocol={**split.protocol, "val_merged": True},
    )


def index_sizes(split: Split) -> tuple[int, int]:
    """Return ``(n_users, n_movies)``: the sizes of the encoding a split's rows come from.

    Args:
        split: a :class:`Split`.

    Returns:
        ``split.n_users`` and ``split.n_movies`` when they are set, else the
        largest user and movie index over every part, plus one.
    """
    if split.n_users is not None and split.n_movies is not None:
        return int(split.n_users), int(split.n_movies)
    rows = np.concatenate([X for X in map(split._rows, PARTS) if X is not None])
    return int(rows[:, 0].max()) + 1, int(rows[:, 1].max()) + 1


# --------------------------------------------------------------------------- test-part reads
# The test part is read once, after every choice: that is the protocol the course
# teaches. Reading it is easy to do by accident (most reads go through a part="test"
# default), so every read of Split.X_test or Split.y_test is recorded here, with the
# place that made it: the notebook cell being executed, or else the first line of code
# outside this package. check_test_reads() ends every notebook and fails when the test
# part was read in more than one place that was not declared.

_TEST_FIELDS = frozenset({"X_test", "y_test"})
_PACKAGE = str(Path(__file__).resolve().parent)
#: (place, declared reason or None) -> how the place is shown, in the order first seen.
_READS: dict[tuple[str, str | None], str] = {}
_DECLARED: list = []  # the declared_test_read in force, innermost last


def _is_cell(filename: str) -> bool:
    """Whether a code object's file is a Jupyter/IPython cell rather than a file on disk."""
    return (
        filename.startswith("<ipython-input-")
        or re.search(r"/ipykernel_\d+/", filename) is not None
    )


def _cell_place(filename: str, lineno: int) -> str:
    """Name a cell by the line of it that read the test part."""
    code = linecache.getline(filename, lineno).strip()
    return f"the cell with `{code[:60]}{' ...' if len(code) > 60 else ''}`"


def _reading_place() -> tuple[str, str]:
    """Return ``(key, label)`` of the current read: the outermost cell, or the first caller outside reco.

    A cell is one place however many of its lines read the test part; it is
    named by the first line that did.
    """
    frame = sys._getframe(2)
    caller = None
    cell = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if caller is None and not filename.startswith(_PACKAGE):
            caller = f"{filename}:{frame.f_lineno}"
        if _is_cell(filename):
            cell = filename, frame.f_lineno
        frame = frame.f_back
    if cell:
        return cell[0], _cell_place(*cell)
    return caller or "reco", caller or "reco"


def _record_test_read() -> None:
    key, label = _reading_place()
    _READS.setdefault((key, _DECLARED[-1].reason if _DECLARED else None), label)


class declared_test_read:  # noqa: N801 - used like a function, and as a context manager
    """Declare test-part reads as a post-hoc analysis, made after every choice.

    Declared reads are listed by :func:`check_test_reads` but do not count as a
    place that reads the test part: use them for an analysis that looks closer
    at the final scores and changes nothing that was chosen. Two uses:

    * ``with split.declared_test_read("user 42's hits"):`` declares the reads
      inside the block;
    * ``split.declared_test_read("a closer look at the test errors")`` as a
      statement declares every read from then on, for a notebook whose last
      part analyses its final scores.

    Args:
        reason: what the reads are for, printed by :func:`check_test_reads`.

    Raises:
        ValueError: ``reason`` is empty.
    """

    def __init__(self, reason: str):
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(
                'declared_test_read needs a reason, e.g. declared_test_read("user 42\'s hits").'
            )
        self.reason = reason.strip()
        _DECLARED.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if any(d is self for d in _DECLARED):
            del _DECLARED[max(i for i, d in enumerate(_DECLARED) if d is self)]
        return False


def test_reads() -> pd.DataFrame:
    """Return every place that read the test part in this process, in the order first seen.

    Returns:
        a DataFrame with columns ``place`` (a notebook cell, shown by its first
        line of code, or ``file:line``) and ``declared`` (the reason given to
        :func:`declared_test_read`, or ``None``).
    """
    rows = [(label, declared) for (_, declared), label in _READS.items()]
    return pd.DataFrame(rows, columns=["place", "declared"])


def reset_test_reads() -> None:
    """Forget the test-part reads and declarations so far (for tests and tools that run many checks)."""
    _READS.clear()
    _DECLARED.clear()


def check_test_reads(allowed: int = 1) -> None:
    """Print where the test part was read, and fail if more than ``allowed`` undeclared places did.

    Every notebook of the course ends with this check: choices are made on the
    validation part, and the test part is read in one place, at the end.

    Args:
        allowed: how many undeclared places may read the test part.

    Raises:
        RuntimeError: more undeclared places read the test part, naming them and the fix.
    """
    reads = test_reads()
    undeclared = reads.loc[reads["declared"].isna(), "place"].tolist()
    declared = reads.dropna(subset=["declared"])
    if len(undeclared) > allowed:
        places = "\n".join(f"  - {place}" for place in undeclared)
        raise RuntimeError(
            f"the test part was read in {len(undeclared)} places, more than the {allowed} "
            f'allowed:\n{places}\nFix: make choices on the validation part (part="val") '
            "and read the test part in one place at the end; declare a post-hoc analysis "
            "of the final scores with `with split.declared_test_read(reason):`."
        )
    count = f"{len(undeclared)} place" + ("" if len(undeclared) == 1 else "s")
    print(f"The test part was read in {count}" + (":" if undeclared else "."))
    for place in undeclared:
        print(f"  {place}")
    if len(declared):
        print(f"Declared post-hoc reads, after every choice ({len(declared)}):")
        for place, reason in declared.itertuples(index=False):
            print(f"  {place}: {reason}")
