"""Read a model's movie embeddings: nearest neighbours and a 2-D map.

A trained embedding places movies that the same users like close together.
:func:`similar_movies` lists a movie's nearest neighbours, by cosine
similarity (the angle between two movie vectors) or by dot product (which
also grows with a vector's length, and popular movies get long vectors, so it
favours them). :func:`movie_map` projects the movie factors on their first two
principal components (scikit-learn's PCA), as fastbook's collaborative-filtering
chapter does, for :func:`reco.plots.plot_movie_map`. A map is read from its
tables rather than from the picture: :func:`axis_ends` lists the movies at each
end of each axis, and :func:`axis_correlations` says how each axis goes with the
genres, the mean rating and the number of ratings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from reco import kinds
from reco._checks import check_count, join_titles, positive_int, require_columns
from reco.constants import (
    DEFAULT_K,
    GENRES_COL,
    MOVIE_COL,
    N_RATINGS_COL,
    RATING_COL,
    SEED,
    TITLE_COL,
)

__all__ = ["axis_correlations", "axis_ends", "movie_factors", "movie_map", "similar_movies"]

#: Column of :func:`similar_movies` with the similarity to the chosen movie.
SIMILARITY_COL = "similarity"
#: The two axes of :func:`movie_map`'s table.
COMPONENTS = ("pc1", "pc2")
#: Column of :func:`axis_ends` and row of :func:`axis_correlations` with a movie's mean rating.
MEAN_RATING_COL = "mean_rating"
#: Row of :func:`axis_correlations` with the log of a movie's number of ratings.
LOG_N_RATINGS = "log_n_ratings"


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


def _check_map(movie_map: pd.DataFrame, components) -> list[str]:
    """Return ``components`` as a list if ``movie_map`` has them, without NaN, else raise."""
    components = list(components)
    require_columns(movie_map, {c: "components" for c in components}, "movie map")
    if movie_map.empty:
        raise ValueError(
            "the movie map is empty. Fix: pass reco.similar.movie_map(...)'s table, with a "
            "min_ratings that keeps some movies."
        )
    bad = movie_map[components].isna().any(axis=1)
    if bad.any():
        raise ValueError(
            f"the movie map has NaN in {components} for {int(bad.sum())} movie(s): "
            f"{movie_map.index[bad].tolist()[:5]}. Fix: pass reco.similar.movie_map(...)'s "
            f"table unchanged, or drop them with movie_map.dropna(subset={components})."
        )
    return components


def _map_stats(
    movie_map: pd.DataFrame, ratings: pd.DataFrame, *, movie_col: str, rating_col: str
) -> pd.DataFrame:
    """Return each map movie's mean rating and number of ratings in ``ratings``, in map order."""
    require_columns(ratings, {movie_col: "movie_col", rating_col: "rating_col"}, "ratings")
    stats = (
        ratings.groupby(movie_col)[rating_col]
        .agg(**{MEAN_RATING_COL: "mean", N_RATINGS_COL: "size"})
        .reindex(movie_map.index)
    )
    missing = stats[N_RATINGS_COL].isna()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} movie(s) of the map have no rating in the ratings table: "
            f"{movie_col} {movie_map.index[missing].tolist()[:5]}. Fix: pass the ratings table "
            "the map was built from."
        )
    return stats.astype({N_RATINGS_COL: np.int64})


def axis_ends(
    movie_map: pd.DataFrame,
    ratings: pd.DataFrame,
    n: int = 5,
    *,
    components=COMPONENTS,
    movie_col: str = MOVIE_COL,
    title_col: str = TITLE_COL,
    rating_col: str = RATING_COL,
) -> pd.DataFrame:
    """List the ``n`` movies at each end of each axis of a movie map, as fastbook's chapter 8 does.

    A principal component's sign is arbitrary: "low" and "high" name the two
    ends, not a judgement. Ties go to the movie listed first in the map (the
    more rated).

    Args:
        movie_map: :func:`movie_map`'s table (indexed by ``movie_col``, with
            ``title_col`` and the ``components`` columns).
        ratings: the ratings table the map was built from, with ``movie_col``
            and ``rating_col``: each movie's mean rating and number of ratings.
        n: movies at each end, at least 1; both ends of an axis together need
            ``2 * n`` movies on the map.
        components: the map's axes to list.
        movie_col: column of movie ids in ``ratings`` (the map's index).
        title_col: column of titles in the map.
        rating_col: column of ratings in ``ratings``, in stars.

    Returns:
        a DataFrame indexed by ``(component, end, rank)``, ``end`` being
        ``"low"`` then ``"high"`` and ``rank`` from 1 (the most extreme movie),
        with ``movie_col``, ``title_col``, ``"score"`` (the movie's position on
        that axis), ``"n_ratings"`` (int) and ``"mean_rating"`` (stars).
        ``ends.loc["pc2"]`` is the second axis.

    Raises:
        ValueError: a missing column, NaN on the map, a movie of the map with no
            rating, or ``n`` too large for the map.
    """
    components = _check_map(movie_map, components)
    n = positive_int(n, "n", "n is how many movies to list at each end of an axis, e.g. n=5")
    if 2 * n > len(movie_map):
        raise ValueError(
            f"n={n} movies at each end of an axis need at least {2 * n} movies on the map; it "
            f"has {len(movie_map)}. Fix: lower n, or build the map with a lower min_ratings."
        )
    require_columns(movie_map, {title_col: "title_col"}, "movie map")
    stats = _map_stats(movie_map, ratings, movie_col=movie_col, rating_col=rating_col)
    parts = []
    for component in components:
        scores = movie_map[component]
        for ascending in (True, False):  # the low end, then the high end
            ids = scores.sort_values(ascending=ascending, kind="stable").index[:n]
            parts.append(
                pd.DataFrame(
                    {
                        movie_col: ids,
                        title_col: movie_map.loc[ids, title_col].to_numpy(),
                        "score": scores.loc[ids].to_numpy(),
                        N_RATINGS_COL: stats.loc[ids, N_RATINGS_COL].to_numpy(),
                        MEAN_RATING_COL: stats.loc[ids, MEAN_RATING_COL].to_numpy(),
                    }
                )
            )
    out = pd.concat(parts, ignore_index=True)
    # Levels in reading order ("low" before "high"), so the index is sorted and .loc is fast.
    out.index = pd.MultiIndex(
        levels=[components, ["low", "high"], range(1, n + 1)],
        codes=[
            np.repeat(np.arange(len(components)), 2 * n),
            np.tile(np.repeat([0, 1], n), len(components)),
            np.tile(np.arange(n), 2 * len(components)),
        ],
        names=["component", "end", "rank"],
    )
    return out


def axis_correlations(
    movie_map: pd.DataFrame,
    movies: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    components=COMPONENTS,
    movie_col: str = MOVIE_COL,
    genres_col: str = GENRES_COL,
    rating_col: str = RATING_COL,
) -> pd.DataFrame:
    """Correlate each axis of a movie map with the mean rating, the number of ratings and each genre.

    Pearson correlations over the movies of the map: with each movie's mean
    rating, the log of its number of ratings, and one 0/1 indicator per genre
    of ``movies``' ``|``-separated ``genres_col`` (for a 0/1 variable this is
    the point-biserial correlation). A genre that every movie of the map has,
    or none, has no correlation and is left out; ``n_movies`` says how many
    movies a genre's correlation rests on.

    Args:
        movie_map: :func:`movie_map`'s table (indexed by ``movie_col``, with the
            ``components`` columns).
        movies: a movies table with ``movie_col`` and ``genres_col``.
        ratings: the ratings table the map was built from, with ``movie_col``
            and ``rating_col``.
        components: the map's axes to correlate.
        movie_col: column of movie ids in ``movies`` and ``ratings``.
        genres_col: column of ``|``-separated genres in ``movies``.
        rating_col: column of ratings in ``ratings``, in stars.

    Returns:
        a DataFrame indexed by ``feature``: ``"mean_rating"``,
        ``"log_n_ratings"``, then the genres in alphabetical order; with one
        float column per component (correlations in ``[-1, 1]``) and
        ``"n_movies"`` (int: the map's movies, or those of the genre).

    Raises:
        ValueError: a missing column, NaN on the map, or a movie of the map
            with no rating or no row in ``movies``.
    """
    components = _check_map(movie_map, components)
    stats = _map_stats(movie_map, ratings, movie_col=movie_col, rating_col=rating_col)
    require_columns(movies, {movie_col: "movie_col", genres_col: "genres_col"}, "movies")
    unknown = ~movie_map.index.isin(movies[movie_col])
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} movie(s) of the map have no row in the movies table: "
            f"{movie_col} {movie_map.index[unknown].tolist()[:5]}. Fix: pass the movies table "
            "of the same data set."
        )
    frame = pd.DataFrame({movie_col: movie_map.index.to_numpy()})
    genres = join_titles(frame, movies, movie_col=movie_col, columns=(genres_col,))[genres_col]
    genres.index = movie_map.index
    indicators = genres.fillna("").str.get_dummies(sep="|")
    features = pd.concat(
        [
            stats[MEAN_RATING_COL],
            np.log(stats[N_RATINGS_COL]).rename(LOG_N_RATINGS),
            indicators.loc[:, indicators.nunique() > 1],
        ],
        axis=1,
    )
    out = pd.DataFrame({c: features.corrwith(movie_map[c].astype(np.float64)) for c in components})
    counts = indicators.sum().reindex(features.columns).fillna(len(movie_map))
    out["n_movies"] = counts.astype(np.int64)
    out.index.name = "feature"
    return out
