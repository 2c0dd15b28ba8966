"""One contract per model kind: what the package knows about a model, declared once.

:mod:`reco.train`, :mod:`reco.evaluate`, :mod:`reco.recommend` and
:mod:`reco.similar` never look inside a model to guess what it is. They ask its
contract, a :class:`ModelKind` declared next to the model's builder and
registered under the name the model carries: ``model.name`` (Keras saves it
in the ``.keras`` file). The course's kinds are

========================  ==============================================  =========================
``model.name``            builder                                         declared in
========================  ==============================================  =========================
``"v1"``                  :func:`reco.models.build_v1`                    :mod:`reco.models`
``"v2"``                  :func:`reco.models.build_v2`                    :mod:`reco.models`
``"recommender_net"``     :func:`reco.models.build_net`                   :mod:`reco.models`
``"recommender_net_v2"``  :func:`reco.models.build_net_v2`                :mod:`reco.models`
``"implicit_mf"``         :func:`reco.implicit.build_implicit_mf`         :mod:`reco.implicit`
``"features"``            :func:`reco.feature_model.build_feature_model`  :mod:`reco.feature_model`
========================  ==============================================  =========================

A contract says, for its kind:

* how the rows of a split part become the model's input (:meth:`ModelKind.inputs`,
  :meth:`ModelKind.examples`), including any per-rating context it asks for
  (:attr:`ModelKind.context`, for example ``("timestamp",)``, which the
  :class:`reco.split.Split` carries for every part);
* how the model's output becomes stars (:meth:`ModelKind.to_stars`), or that it
  predicts no ratings at all (:attr:`ModelKind.predicts_ratings`);
* its default loss and the others it accepts (:attr:`ModelKind.losses`), and
  its default training settings (:attr:`ModelKind.config`);
* how it scores every movie for a set of users (:meth:`ModelKind.score_users`);
* where its movie factors and movie biases are, and its sizes.

Adding a model kind means writing one subclass of :class:`ModelKind` and
registering it, with no edit anywhere else::

    @kinds.register
    class MyKind(kinds.ModelKind):
        name = "my_model"            # the model is built with name="my_model"
        ...

The baselines of :mod:`reco.baselines` follow their own protocol, which is
their contract: ``fit(split) -> self``; ``score_users(users)``, an
``(n_users, n_movies)`` array, higher first; ``predict(X)``, stars for
``[user, movie]`` rows, for those whose ``predicts_ratings`` is true; and
``n_users_`` / ``n_movies_`` once fitted (:class:`reco.baselines.Baseline`).

This module imports no Keras.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np

from reco.config import COURSE_DEFAULTS, TrainConfig

__all__ = [
    "ModelKind",
    "check_rows",
    "kind_of",
    "movie_factors",
    "predict",
    "predicts_ratings",
    "register",
    "registered",
    "score_users",
    "unregister",
    "sizes",
]

#: The package's modules that declare kinds; imported on the first look-up, so a
#: model loaded from a file finds its contract after only ``import reco.models``.
_BUILTIN = ("reco.models", "reco.implicit", "reco.feature_model")

_REGISTRY: dict[str, ModelKind] = {}


class ModelKind:
    """The contract of one kind of model; subclass it and :func:`register` the subclass.

    Class attributes a kind sets:

    Attributes:
        name: the ``model.name`` of its models, the key that matches a model to
            this contract.
        label: a short name for tables and plots (``"V2"``).
        predicts_ratings: whether its output becomes stars (the rating models)
            or is only a ranking score (the implicit model).
        context: per-rating context its input needs besides ``[user, movie]``,
            as column names the split carries (``("timestamp",)``); ``()`` for none.
        losses: loss name -> a function of the model returning the Keras loss.
        default_loss: the key of :attr:`losses` that :func:`reco.train.fit` uses.
        config: its default training settings.

    The methods take the model as their first argument; the defaults fit a
    rating model whose input is ``[user, movie]`` rows.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    predicts_ratings: ClassVar[bool] = True
    context: ClassVar[tuple[str, ...]] = ()
    losses: ClassVar[Mapping[str, Callable]] = {
        "mean_squared_error": lambda model: "mean_squared_error"
    }
    default_loss: ClassVar[str] = "mean_squared_error"
    config: ClassVar[TrainConfig] = COURSE_DEFAULTS

    # ------------------------------------------------------------------ building

    def build(self, encoder=None, **kwargs):
        """Build an uncompiled model of this kind (the builder the kind is declared with)."""
        raise NotImplementedError(f"kind {self.name!r} declares no builder.")

    # ------------------------------------------------------------------ inputs

    def sizes(self, model) -> tuple[int, int]:
        """Return ``(n_users, n_movies)``: the users and movies the model has rows for."""
        raise NotImplementedError

    def inputs(self, model, X, context: Mapping[str, np.ndarray] | None = None):
        """Return ``[user, movie]`` rows (and their context) in the form the model takes.

        Args:
            model: a model of this kind.
            X: int array of shape ``(n, 2)``: ``[user, movie]`` index rows.
            context: per-rating context, column -> array of shape ``(n,)``,
                holding at least :attr:`context`.
        """
        raise NotImplementedError(
            f"kind {self.name!r} takes no [user, movie] rows. Fix: use its examples()."
        )

    def targets(self, model, y, what: str = "y") -> np.ndarray:
        """Return ratings in stars as the model's training targets (checked against its range).

        ``what`` names the ratings in an error message (``"the val ratings"``).
        """
        return check_ratings(y, self.rating_range(model), what=what)

    def examples(self, model, part) -> tuple[object, np.ndarray]:
        """Return ``(inputs, targets)`` for training on, or evaluating, a split part.

        Args:
            model: a model of this kind.
            part: a :class:`reco.split.Part` (``split.part_of(name)``).
        """
        context = part.context_for(self.context, self.name)
        what = "y" if part.name == "train" else f"the {part.name} ratings"
        return self.inputs(model, part.X, context), self.targets(model, part.y, what)

    # ------------------------------------------------------------------ outputs

    def rating_range(self, model) -> tuple[float, float] | None:
        """Return ``(min_rating, max_rating)`` of the model's output, or ``None`` if unbounded."""
        return None

    def to_stars(self, model, output) -> np.ndarray:
        """Map the model's output (float array ``(n,)``) to predicted stars."""
        return np.asarray(output, dtype=np.float32)

    def score_users(self, model, users: np.ndarray, context=None) -> np.ndarray:
        """Score every movie for each user: float array ``(len(users), n_movies)``, higher first.

        It ranks movies exactly as the predictions do (a monotonic function of them).

        Args:
            model: a model of this kind.
            users: int array of shape ``(n,)``, inside the model's users.
            context: the context to score in, column -> scalar (for example the
                reference time), for kinds with :attr:`context`.
        """
        raise NotImplementedError

    def movie_factors(self, model) -> np.ndarray:
        """Return the movie factors, float32 ``(n_movies, n_factors)``."""
        raise ValueError(
            f"a {self.name!r} model has no movie factors. Fix: use a model with a movie "
            "embedding, such as V2."
        )

    def movie_bias(self, model) -> np.ndarray | None:
        """Return the learned movie bias, float32 ``(n_movies,)``, or ``None`` if it has none."""
        return None

    def fold_in(self, model, movies: np.ndarray, stars: np.ndarray, *, l2: float):
        """Fold a new user in from their ratings, with the movies fixed: a :class:`reco.coldstart.FoldedUser`.

        Args:
            model: a trained model of this kind.
            movies: int array ``(n,)`` of the movies the user rated.
            stars: float array ``(n,)`` of their ratings, inside the model's range.
            l2: the penalty on the user's fitted vector.
        """
        raise ValueError(
            f"a {self.name!r} model cannot fold in a new user without retraining. Fix: fold "
            "into V2, RecommenderNetV2 or the implicit model, or score with EASE."
        )

    def fold_in_many(self, model, answers: list, *, l2: float) -> list:
        """Fold in many new users, each from ``(movies, stars)``: :meth:`fold_in` for each.

        A kind that solves for many users faster at once overrides this.
        """
        return [self.fold_in(model, movies, stars, l2=l2) for movies, stars in answers]

    def metrics(self, model) -> list:
        """Return the Keras metrics :func:`reco.train.fit` compiles the model with."""
        return []


def register(kind: type[ModelKind]) -> type[ModelKind]:
    """Register a :class:`ModelKind` subclass under its ``name``; usable as a decorator.

    Registering a name again replaces the kind (so a notebook cell can be re-run).

    Raises:
        ValueError: the class has no ``name``, or is not a ModelKind.
    """
    if not (isinstance(kind, type) and issubclass(kind, ModelKind)) or not kind.name:
        raise ValueError(
            f"register takes a ModelKind subclass with a name; got {kind!r}. Fix: "
            "class MyKind(reco.kinds.ModelKind): name = 'my_model' ..."
        )
    _REGISTRY[kind.name] = kind()
    return kind


def unregister(name: str) -> None:
    """Remove the kind registered as ``name`` (a kind a notebook or a test declared).

    Raises:
        ValueError: no kind is registered as ``name``.
    """
    if _REGISTRY.pop(name, None) is None:
        raise ValueError(f"no model kind is registered as {name!r}; nothing to remove.")


def registered() -> dict[str, ModelKind]:
    """Return every registered kind, name -> contract, in the order they were declared."""
    _load_builtin()
    return dict(_REGISTRY)


def _load_builtin() -> None:
    for module in _BUILTIN:
        importlib.import_module(module)


def get(name: str) -> ModelKind:
    """Return the kind registered as ``name``, or raise a ``ValueError`` listing the known ones."""
    if name not in _REGISTRY:
        _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(
            f"no model kind is registered as {name!r}; the registered kinds are "
            f"{sorted(_REGISTRY)}. Fix: build the model with one of these names, or declare "
            "its contract: subclass reco.kinds.ModelKind with name = "
            f"{name!r} and decorate it with @reco.kinds.register."
        )
    return _REGISTRY[name]


def _is_baseline(model) -> bool:
    from reco.baselines import Baseline

    return isinstance(model, Baseline)


def kind_of(model) -> ModelKind:
    """Return the contract of a Keras model, matched by ``model.name``.

    Raises:
        ValueError: the model's name is not a registered kind (the message says
            how to register one), or it is not a model.
    """
    name = getattr(model, "name", None)
    if not isinstance(name, str) or _is_baseline(model):
        raise ValueError(
            f"expected a Keras model of a registered kind; got {type(model).__name__}. Fix: "
            "pass a model from reco.models or reco.implicit (or a baseline where one is "
            "accepted)."
        )
    return get(name)


# ---------------------------------------------------------------------- what the package asks
# One function per question, for a Keras model of any kind or a baseline.


def predicts_ratings(model) -> bool:
    """Return whether ``model`` (a Keras model or a baseline) predicts ratings in stars."""
    if _is_baseline(model):
        return bool(model.predicts_ratings)
    return kind_of(model).predicts_ratings


def sizes(model) -> tuple[int, int]:
    """Return ``(n_users, n_movies)`` of a Keras model or a fitted baseline."""
    if _is_baseline(model):
        model._check_fitted()
        return int(model.n_users_), int(model.n_movies_)
    return kind_of(model).sizes(model)


def score_users(model, users, context=None) -> np.ndarray:
    """Score every movie for each of ``users`` with a Keras model or a baseline; higher first.

    Args:
        model: a model of a registered kind, or a fitted baseline.
        users: int array of shape ``(n,)``: encoded user indices.
        context: scoring context for kinds that take one (ignored by the others).

    Returns:
        float array of shape ``(n, n_movies)``.

    Raises:
        ValueError: a user index is outside the model.
    """
    users = np.asarray(users)
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(
            f"users must be integer indices; got dtype {users.dtype}. "
            "Fix: encode ids with reco.split.encode_ids."
        )
    users = users.astype(np.int64, copy=False).reshape(-1)
    n_users, _ = sizes(model)
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(
            f"user indices must lie in [0, {n_users - 1}] for this model; got "
            f"{users.min()}..{users.max()}. Fix: pass the encoder/split the model was built with."
        )
    if _is_baseline(model):
        return np.asarray(model.score_users(users))
    return kind_of(model).score_users(model, users, context)


def predict(model, X, context=None) -> np.ndarray:
    """Predict stars for ``[user, movie]`` rows with a rating model or a baseline.

    Raises:
        ValueError: the model predicts no ratings, or the rows are bad.
    """
    if not predicts_ratings(model):
        name = getattr(model, "name", type(model).__name__)
        raise ValueError(
            f"{name!r} ranks movies but predicts no ratings. Fix: rank with "
            "reco.evaluate.score_users (or top_k), or use a rating model such as V2."
        )
    if _is_baseline(model):
        return np.asarray(model.predict(X))
    kind = kind_of(model)
    from reco.train import predict_outputs

    X = check_rows(X, *kind.sizes(model))
    return kind.to_stars(model, predict_outputs(model, kind.inputs(model, X, context)))


def movie_factors(model) -> np.ndarray:
    """Return a Keras model's movie factors, float32 ``(n_movies, n_factors)``."""
    if _is_baseline(model):
        raise ValueError(
            f"a {type(model).__name__} has no movie factors. Fix: pass a trained model."
        )
    return kind_of(model).movie_factors(model)


# ---------------------------------------------------------------------- checks the kinds share


def check_rows(X, n_users: int | None = None, n_movies: int | None = None) -> np.ndarray:
    """Return ``X`` as int32 ``[user, movie]`` rows, after checking its shape, dtype and range.

    The range is checked before the cast, so an int64 index of 2**31 or more
    is refused instead of wrapping round to another user.

    Args:
        X: int array (or list of rows) of shape ``(n, 2)``.
        n_users: the model's users (indices must be below it), or ``None``.
        n_movies: the model's movies, or ``None``.

    Raises:
        ValueError: wrong shape or dtype, or an index outside the model.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        hint = (
            " A pair [users, movies] is read as 2 rows: stack it with np.column_stack."
            if X.ndim == 2 and X.shape[0] == 2
            else ""
        )
        raise ValueError(
            f"X must have shape (n, 2), one [user, movie] index row per rating; got shape "
            f"{X.shape}.{hint} Fix: use split.X_train / split.X_test from reco.split."
        )
    if X.size and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(
            f"X must hold integer indices; got dtype {X.dtype}. "
            "Fix: encode ids with reco.split.encode_ids."
        )
    for col, what, size in ((0, "user", n_users), (1, "movie", n_movies)):
        if not X.size:
            break
        lo, hi = int(X[:, col].min()), int(X[:, col].max())
        limit = size if size is not None else np.iinfo(np.int32).max + 1
        if lo < 0 or hi >= limit:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{what} index {bad} is outside the model's {limit} {what}s (indices 0 to "
                f"{limit - 1}): the data were encoded with another encoder than the one the "
                "model was built with. Fix: build the model with the encoder that encoded "
                "these ratings (for example build_v2(encoder)), and encode new ratings with "
                "that same encoder."
            )
    return X.astype(np.int32, copy=False)


def check_ratings(y, bounds: tuple[float, float] | None, n: int | None = None, what: str = "y"):
    """Return ratings as float32 ``(n,)`` after checking they are finite and inside ``bounds``.

    Raises:
        ValueError: a wrong count, a missing or infinite rating, or one outside ``bounds``.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if n is not None and len(y) != n:
        raise ValueError(f"{what} has {len(y)} ratings for {n} [user, movie] rows.")
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"{what} has {int(bad.sum())} missing or infinite rating(s), first at row "
            f"{int(np.flatnonzero(bad)[0])}. Fix: drop those rows before training."
        )
    if bounds is not None and y.size:
        lo, hi = bounds
        outside = (y < lo - 1e-6) | (y > hi + 1e-6)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"{what} has {int(outside.sum())} rating(s) outside the model's rating range "
                f"[{lo:g}, {hi:g}], first {y[first]:g} at row {first}. Fix: build the model "
                "with min_rating= and max_rating= of your rating scale."
            )
    return y
