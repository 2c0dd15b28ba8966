"""Read a model's movie embeddings: nearest neighbours and a 2-D map.

A trained embedding places movies that the same users like close together.
:func:`similar_movies` lists a movie's nearest neighbours, by cosine
similarity (the angle between two movie vectors) or by dot product (which
also grows with a vector's length, and popular movies get long vectors, so it
favours them). :func:`movie_map` projects the movie factors on their first two
principal components (scikit-learn's PCA), as fastbook's collaborative-filtering
chapter does, for :func:`reco.plots.plot_movie_map`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from reco import kinds
from reco._checks import check_count, join_titles
from reco.constants import DEFAULT_K, GENRES_COL, MOVIE_COL, N_RATINGS_COL, SEED, TITLE_COL

__all__ = ["movie_factors", "movie_map", "similar_movies"]

#: Column of :func:`similar_movies` with the similarity to the chosen movie.
SIMILARITY_COL = "similarity"


def movie_factors(model) -> np.ndarray:
    """Return a model's movie factors, float32 of shape ``(n_movies, n_factors)``.

    Its contract says where they are: the movie embedding of the rating
    models, the kernel of the implicit model's Dense layer over the catalogue.

    Args:
        model: a trained model of a registered kind (:mod:`reco.kinds`).

    Raises:
        ValueError: the model's kind has no movie factors, or it is not a model.
    """
    return kinds.movie_factors(model)


def similar_movies(
    model,
    encoder,
    movies: pd.DataFrame,
    movie_id,
    k: int = DEFAULT_K,
    measure: str = "cosine",
    ratings: pd.DataFrame | None = None,
    min_ratings: int = 0,
    *,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    genres_col: str = GENRES_COL,
) -> pd.DataFrame:
    """List the ``k`` movies whose learned factors are closest to one movie's.

    Args:
        model: a trained model of a registered kind (its contract's movie factors).
        encoder: the :class:`reco.split.IdEncoder` the model was built with.
        movies: a movies table with ``movie_col``, ``title_col``, ``genres_col``.
        movie_id: a raw movie id the encoder knows.
        k: how many neighbours to list, at least 1.
        measure: ``"cosine"`` (angle only) or ``"dot"`` (angle and length).
        ratings: a ratings table, to add each movie's number of ratings and to
            apply ``min_ratings``.
        min_ratings: list only movies with at least this many ratings in ``ratings``.

    Returns:
        a DataFrame indexed by ``rank`` from 1 with ``movie_col``, ``title_col``,
        ``genres_col``, ``"similarity"`` (float) and, with ``ratings``,
        ``"n_ratings"``; the movie itself is left out. Ties go to the smaller id.

    Raises:
        ValueError: an unknown movie id or measure, ``k < 1``, ``min_ratings``
            without ``ratings``, or a model built with another encoder.
    """
    k = check_count(k, "k")
    if measure not in ("cosine", "dot"):
        raise ValueError(f"measure must be 'cosine' or 'dot'; got {measure!r}.")
    if min_ratings and ratings is None:
        raise ValueError("min_ratings needs the ratings table: pass ratings=ratings.")
    factors = movie_factors(model)
    if len(factors) != encoder.n_movies:
        raise ValueError(
            f"the model has {len(factors)} movie rows but the encoder knows {encoder.n_movies} "
            "movies. Fix: pass the encoder the model was built with."
        )
    known = encoder.movies.classes_
    if movie_id not in set(known.tolist()):
        raise ValueError(
            f"unknown movie id {movie_id!r}: the model knows {len(known)} movies, the ones with "
            "a rating in its data. Fix: pick one of encoder.movies.classes_, or look a title up "
            "in the movies table, e.g. movies[movies['title'].str.contains('Matrix')]."
        )
    index = int(encoder.encode_movies([movie_id])[0])
    vectors = factors
    if measure == "cosine":
        norms = np.linalg.norm(factors, axis=1, keepdims=True)
        vectors = factors / np.where(norms > 0, norms, 1.0)
    similarity = vectors @ vectors[index]
    keep = np.ones(len(factors), dtype=bool)
    keep[index] = False
    frame = pd.DataFrame({movie_col: known, SIMILARITY_COL: similarity})
    if ratings is not None:
        frame[N_RATINGS_COL] = encoder.movie_counts(ratings[movie_col])
        keep &= frame[N_RATINGS_COL].to_numpy() >= min_ratings
    top = (
        frame[keep]
        .sort_values([SIMILARITY_COL, movie_col], ascending=[False, True], kind="stable")
        .head(k)
        .reset_index(drop=True)
    )
    out = join_titles(top, movies, movie_col=movie_col, columns=(title_col, genres_col))
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    cols = [movie_col, title_col, genres_col, SIMILARITY_COL]
    return out[cols + ([N_RATINGS_COL] if ratings is not None else [])]


def movie_map(
    model,
    encoder,
    movies: pd.DataFrame,
    ratings: pd.DataFrame,
    min_ratings: int = 20,
    *,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
) -> pd.DataFrame:
    """Project the movie factors on their first two principal components.

    PCA is fitted on the movies with at least ``min_ratings`` ratings: the
    factors of rarely rated movies are mostly noise and the L2 penalty.

    Args:
        model: a trained course model.
        encoder: the :class:`reco.split.IdEncoder` the model was built with.
        movies: a movies table with ``movie_col`` and ``title_col``.
        ratings: a ratings table with ``movie_col``.
        min_ratings: keep movies with at least this many ratings.

    Returns:
        a DataFrame indexed by ``movie_col`` with ``title_col``, ``"n_ratings"``,
        ``"pc1"`` and ``"pc2"``, most rated first; ``attrs["explained"]`` holds
        the share of variance of each component.
    """
    factors = movie_factors(model)
    counts = encoder.movie_counts(ratings[movie_col])
    keep = counts >= min_ratings
    if keep.sum() < 3:
        raise ValueError(
            f"only {int(keep.sum())} movies have at least {min_ratings} ratings; lower min_ratings."
        )
    pca = PCA(n_components=2, random_state=SEED)
    coords = pca.fit_transform(factors[keep])
    frame = pd.DataFrame(
        {
            movie_col: encoder.movies.classes_[keep],
            N_RATINGS_COL: counts[keep],
            "pc1": coords[:, 0],
            "pc2": coords[:, 1],
        }
    )
    frame = join_titles(frame, movies, movie_col=movie_col, columns=(title_col,))
    frame = frame.sort_values([N_RATINGS_COL, movie_col], ascending=[False, True])
    frame = frame.set_index(movie_col)[[title_col, N_RATINGS_COL, "pc1", "pc2"]]
    frame.attrs["explained"] = pca.explained_variance_ratio_.tolist()
    return frame
