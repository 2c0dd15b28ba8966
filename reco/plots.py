"""Plot the MovieLens data and the course's training curves with matplotlib.

Every function draws on the Axes it is given (``ax=``) or on a new figure, and
returns what it drew on, so a notebook can add to a plot or lay several side
by side. Importing this module changes no matplotlib settings: no style, no
``rcParams``, no backend.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reco._checks import require_columns
from reco.constants import (
    DEFAULT_K,
    MAX_RATING,
    MIN_RATING,
    MOVIE_COL,
    RATING_COL,
    RATING_STEP,
    USER_COL,
)

__all__ = [
    "plot_comparison",
    "plot_counts",
    "plot_crosstab",
    "plot_histories",
    "plot_history",
    "plot_metric",
    "plot_movie_biases",
    "plot_movie_map",
    "plot_overlap",
    "plot_prediction_distribution",
    "plot_rating_distribution",
]


#: y-axis labels of the metrics that reco.train.fit records; others are shown as named.
_METRIC_LABELS = {"loss": "loss", "rmse": "RMSE (stars)"}


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_rating_distribution(
    ratings: pd.DataFrame,
    *,
    rating_col: str = RATING_COL,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    step: float = RATING_STEP,
    ax=None,
):
    """Draw a bar chart of how many ratings each star value received.

    Every value on the grid ``min_rating, min_rating + step, ..., max_rating``
    gets a bar, including values nobody gave (a bar of height 0).

    Args:
        ratings: a ratings table with ``rating_col``.
        rating_col: column of ratings, in stars.
        min_rating: lowest rating on the scale.
        max_rating: highest rating on the scale.
        step: distance between two possible ratings.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes, with one bar per possible rating.
    """
    require_columns(ratings, {rating_col: "rating_col"}, "ratings")
    n_values = int(round((max_rating - min_rating) / step)) + 1
    grid = np.round(min_rating + step * np.arange(n_values), 6)
    counts = (
        ratings[rating_col].astype(np.float64).round(6).value_counts().reindex(grid, fill_value=0)
    )
    ax = _axes(ax)
    ax.bar(grid, counts.to_numpy(), width=0.8 * step, color="tab:blue")
    ax.set_xticks(grid)
    ax.set_xticklabels([f"{v:g}" for v in grid])
    ax.set_title("How often each rating is given")
    ax.set_xlabel("rating (stars)")
    ax.set_ylabel("number of ratings")
    return ax


def plot_counts(
    ratings: pd.DataFrame,
    by: str = USER_COL,
    *,
    bins: int = 40,
    log: bool = True,
    user_col: str = USER_COL,
    movie_col: str = MOVIE_COL,
    ax=None,
):
    """Draw a histogram of how many ratings each user, or each movie, has.

    Both counts have long tails (a few users rate thousands of movies, most
    movies have a handful of ratings), so by default the bins are spaced
    evenly on a log scale and the x axis is logarithmic.

    Args:
        ratings: a ratings table with ``by`` as a column.
        by: ``user_col`` to count ratings per user, ``movie_col`` per movie.
        bins: number of bins.
        log: log-spaced bins and a log x axis; ``False`` for linear ones.
        user_col: column of user ids.
        movie_col: column of movie ids.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes; the bar heights add up to the number of users (or movies).

    Raises:
        ValueError: ``by`` is neither ``user_col`` nor ``movie_col``.
    """
    kinds = {user_col: "user", movie_col: "movie"}
    if by not in kinds:
        raise ValueError(
            f"by must be {user_col!r} (ratings per user) or {movie_col!r} (ratings per movie); "
            f"got {by!r}."
        )
    require_columns(ratings, {by: "by"}, "ratings")
    counts = ratings.groupby(by).size().to_numpy()
    lo, hi = counts.min(), counts.max()
    if log:
        edges = np.geomspace(lo, hi + 1, bins + 1) if hi > lo else np.array([lo, lo + 1])
    else:
        edges = np.linspace(lo, hi + 1, bins + 1) if hi > lo else np.array([lo, lo + 1])
    kind = kinds[by]
    ax = _axes(ax)
    ax.hist(counts, bins=edges, color="tab:blue", edgecolor="white")
    if log:
        ax.set_xscale("log")
    ax.set_title(f"Ratings per {kind}")
    ax.set_xlabel(f"number of ratings per {kind}" + (" (log scale)" if log else ""))
    ax.set_ylabel(f"number of {kind}s")
    return ax


def plot_history(
    history: pd.DataFrame,
    *,
    metric: str = "loss",
    title: str | None = None,
    val_label: str = "validation",
    ax=None,
):
    """Draw a training curve: ``metric`` and, if recorded, ``val_<metric>`` per epoch.

    Args:
        history: the DataFrame from :func:`reco.train.fit`, one row per epoch
            (index: epoch number from 1), with a ``metric`` column.
        metric: the column to draw: ``"loss"`` (in the model's own units, L2
            penalty included) or ``"rmse"`` (in stars, comparable across models).
        title: the plot's title; default: ``"Training curve"``.
        val_label: legend label of the ``val_<metric>`` line; pass ``"test"``
            when the history was recorded with ``validation="test"``.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes: a ``"train"`` line, a ``val_label`` line if the history has
        ``val_<metric>``, and a legend.

    Raises:
        ValueError: ``history`` has no ``metric`` column.
    """
    require_columns(history, {metric: "metric"}, "history")
    epochs = np.asarray(history.index, dtype=np.float64)
    ax = _axes(ax)
    ax.plot(epochs, history[metric].to_numpy(), marker="o", label="train")
    val = f"val_{metric}"
    if val in history.columns:
        ax.plot(epochs, history[val].to_numpy(), marker="o", label=val_label)
    ax.set_xticks(epochs)
    ax.set_xticklabels([f"{e:g}" for e in epochs])
    ax.set_title(title if title is not None else "Training curve")
    ax.set_xlabel("epoch")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    ax.legend()
    return ax


def plot_histories(
    histories: Mapping[str, pd.DataFrame],
    *,
    metric: str = "loss",
    val_label: str = "validation",
    title: str | None = None,
    sharey: bool = False,
    figsize: tuple[float, float] | None = None,
):
    """Draw several models' training curves side by side, one subplot per model.

    The y axes are not shared by default: the models may be trained with
    different losses (RecommenderNetV2 uses binary cross-entropy on ratings
    scaled to ``[0, 1]``, the others mean squared error in stars). To compare
    models, pass ``metric="rmse"`` (in stars for every model) and ``sharey=True``.

    Args:
        histories: model name -> DataFrame from :func:`reco.train.fit`, in the
            order the subplots should appear.
        metric: the column to draw in each subplot.
        val_label: legend label of the ``val_<metric>`` lines.
        title: a title over the whole figure, or ``None``.
        sharey: give all subplots the same y axis.
        figsize: figure size in inches; default: 4 wide per model, 3.5 high.

    Returns:
        the ``matplotlib.figure.Figure``; ``fig.axes`` holds one Axes per model,
        titled with its name.

    Raises:
        ValueError: ``histories`` is empty.
    """
    if not histories:
        raise ValueError("histories is empty; pass {model name: history DataFrame}.")
    n = len(histories)
    fig, axes = plt.subplots(
        1, n, figsize=figsize or (4 * n, 3.5), sharey=sharey, squeeze=False, layout="constrained"
    )
    for ax, (name, history) in zip(axes[0], histories.items(), strict=True):
        plot_history(history, metric=metric, title=name, val_label=val_label, ax=ax)
    if sharey:  # one y axis: label it once, on the left
        for ax in axes[0, 1:]:
            ax.set_ylabel("")
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_metric(
    histories: Mapping[str, pd.DataFrame],
    metric: str = "val_rmse",
    *,
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
    ax=None,
):
    """Draw one metric of several models on one Axes, one line per model.

    Where :func:`plot_histories` gives each model its own subplot (for losses
    in different units), this puts the models on a common scale, which makes
    sense for a metric in the same unit for all of them, such as ``"val_rmse"``
    (stars). Lines take matplotlib's default colours in the order of
    ``histories``, so two calls with the same models give the same colours.

    Args:
        histories: model name -> DataFrame from :func:`reco.train.fit`, in the
            order of the legend.
        metric: the column to draw, e.g. ``"val_rmse"`` or ``"rmse"``.
        title: the plot's title; default: the metric's name.
        ylim: ``(bottom, top)`` to zoom in; lines may then leave the plot.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes: one line per model, labelled with its name, and a legend.

    Raises:
        ValueError: ``histories`` is empty, or a history has no ``metric`` column.
    """
    if not histories:
        raise ValueError("histories is empty; pass {model name: history DataFrame}.")
    for name, history in histories.items():
        require_columns(history, {metric: "metric"}, f"history of {name}")
    ax = _axes(ax)
    epochs = set()
    for name, history in histories.items():
        x = np.asarray(history.index, dtype=np.float64)
        epochs.update(x.tolist())
        ax.plot(x, history[metric].to_numpy(), marker="o", label=name)
    ticks = sorted(epochs)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{e:g}" for e in ticks])
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title if title is not None else metric)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_METRIC_LABELS.get(metric.removeprefix("val_"), metric))
    ax.legend()
    return ax


def plot_prediction_distribution(
    predictions: Mapping[str, np.ndarray],
    *,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    bins: int = 60,
    true_ratings=None,
    step: float = RATING_STEP,
    ax=None,
):
    """Draw histograms of predicted ratings, with the rating range marked.

    Useful to see a model predict outside the scale (V1 has nothing that keeps
    it inside ``[min_rating, max_rating]``), and, with ``true_ratings``, how
    the predictions' spread compares with the ratings they predict.

    Args:
        predictions: label -> float array of shape ``(n,)`` of predicted stars.
        min_rating: lowest rating on the scale (drawn as a dashed line).
        max_rating: highest rating on the scale (drawn as a dashed line).
        bins: number of bins, shared by all histograms of predictions.
        true_ratings: float array of the true ratings, or ``None``. When given,
            they are drawn as a black outline with one bin per possible rating
            (``step`` wide, centred on it), and every histogram shows a
            density (share per star), so that the predictions, spread over
            fine bins, and the ratings, on a half-star grid, compare by area.
        step: distance between two possible ratings (the bins of ``true_ratings``).
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes: one histogram per label (and one for ``true_ratings``), two
        dashed lines, and a legend.

    Raises:
        ValueError: ``predictions`` is empty.
    """
    if not predictions:
        raise ValueError("predictions is empty; pass {label: array of predicted stars}.")
    arrays = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in predictions.items()}
    lo = min(min_rating, *(a.min() for a in arrays.values()))
    hi = max(max_rating, *(a.max() for a in arrays.values()))
    edges = np.linspace(lo, hi, bins + 1)
    density = true_ratings is not None
    ax = _axes(ax)
    for label, values in arrays.items():
        ax.hist(values, bins=edges, alpha=0.6, label=label, density=density)
    if density:
        true = np.asarray(true_ratings, dtype=np.float64).reshape(-1)
        n_values = int(round((max_rating - min_rating) / step)) + 1
        grid = min_rating - step / 2 + step * np.arange(n_values + 1)
        ax.hist(
            true,
            bins=grid,
            density=True,
            histtype="step",
            color="black",
            linewidth=1.5,
            label="true ratings",
        )
    for bound in (min_rating, max_rating):
        ax.axvline(bound, color="black", linestyle="--", linewidth=1)
    ax.set_title("Predicted ratings (dashed: the rating range)")
    ax.set_xlabel("predicted rating (stars)")
    ax.set_ylabel("density (share per star)" if density else "number of predictions")
    ax.legend()
    return ax


def plot_comparison(
    table: pd.DataFrame,
    metrics=("ndcg", "recall", "precision", "hit_rate"),
    *,
    title: str | None = None,
    ax=None,
):
    """Draw a grouped bar chart of ranking metrics, one group per metric, one bar per model.

    Args:
        table: :func:`reco.evaluate.compare`'s table (index: model names).
        metrics: the columns to draw; they should share a scale (0 to 1).
        title: the plot's title; default: ``"Top-k metrics"``.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes, with a legend naming the models.

    Raises:
        ValueError: ``table`` is empty or lacks a metric column.
    """
    if table.empty:
        raise ValueError("the table is empty; pass reco.evaluate.compare(...)'s result.")
    require_columns(table, {m: "metrics" for m in metrics}, "comparison")
    ax = _axes(ax)
    width = 0.8 / len(table)
    x = np.arange(len(metrics))
    for i, (name, row) in enumerate(table.iterrows()):
        values = [float(row[m]) for m in metrics]
        ax.bar(x + (i - (len(table) - 1) / 2) * width, values, width, label=str(name))
    ax.set_xticks(x)
    ax.set_xticklabels(list(metrics))
    ax.set_ylabel("mean over users")
    ax.set_title(title if title is not None else "Top-k metrics")
    ax.legend(fontsize="small", ncols=2)
    return ax


def plot_movie_map(frame: pd.DataFrame, n_labels: int = 25, *, title: str | None = None, ax=None):
    """Draw movies on their first two principal components, labelling the most rated.

    Args:
        frame: :func:`reco.similar.movie_map`'s table (``pc1``, ``pc2``,
            ``n_ratings`` and a title column), most rated first.
        n_labels: how many of the most rated movies get their title written.
        title: the plot's title; default: names the explained variance.
        ax: Axes to draw on; default: a new 9 x 7 inch figure.

    Returns:
        the Axes.
    """
    require_columns(frame, {"pc1": None, "pc2": None, "n_ratings": None}, "movie map")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 7), layout="constrained")
    size = 4 + 40 * frame["n_ratings"] / frame["n_ratings"].max()
    ax.scatter(frame["pc1"], frame["pc2"], s=size, alpha=0.35, color="tab:blue")
    labelled = frame.head(n_labels)
    text_col = [c for c in frame.columns if c not in ("pc1", "pc2", "n_ratings")][0]
    for _, row in labelled.iterrows():
        ax.annotate(str(row[text_col])[:32], (row["pc1"], row["pc2"]), fontsize=7)
    explained = frame.attrs.get("explained")
    default = "Movie factors, first two principal components"
    if explained:
        default += f" ({explained[0]:.0%} and {explained[1]:.0%} of the variance)"
    ax.set_title(title if title is not None else default)
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    return ax


def _short(label, width: int) -> str:
    text = str(label)
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_crosstab(
    table: pd.DataFrame,
    *,
    title: str | None = None,
    label_width: int = 40,
    annotate: bool = True,
    min_rating: float = MIN_RATING,
    max_rating: float = MAX_RATING,
    ax=None,
):
    """Draw a ratings crosstab as a heatmap, with the empty cells left blank.

    Empty cells (NaN: nobody rated that pair) are masked, so they show as
    the grey background and stand out from every rating, whatever its value.

    Args:
        table: a crosstab such as :func:`reco.explore.top_crosstab`'s (or its
            transpose): one row and one column per user or movie, ratings in
            stars or NaN. Rows are drawn top to bottom, columns left to right.
        title: the plot's title; default: says how many cells are empty.
        label_width: longest row or column label, in characters; longer
            labels (titles) are cut with an ellipsis.
        annotate: write each rating in its cell.
        min_rating: bottom of the colour scale, in stars.
        max_rating: top of the colour scale, in stars.
        ax: Axes to draw on; default: a new figure sized to the table.

    Returns:
        the Axes, with one image and a colour bar in stars.

    Raises:
        ValueError: ``table`` is empty.
    """
    if table.empty:
        raise ValueError("the table is empty; pass reco.explore.top_crosstab(...)'s result.")
    values = table.to_numpy(dtype=np.float64)
    n_rows, n_cols = values.shape
    if ax is None:
        size = (2.5 + 0.45 * n_cols, 1.5 + 0.35 * n_rows)
        _, ax = plt.subplots(figsize=size, layout="constrained")
    ax.set_facecolor("0.85")
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, cmap="viridis", vmin=min_rating, vmax=max_rating, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="rating (stars)", shrink=0.8)
    if annotate:
        middle = (min_rating + max_rating) / 2
        for i, j in zip(*np.nonzero(~masked.mask), strict=True):
            color = "black" if values[i, j] > middle else "white"
            ax.text(j, i, f"{values[i, j]:g}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(np.arange(n_cols))
    ax.set_xticklabels(
        [_short(c, label_width) for c in table.columns], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels([_short(r, label_width) for r in table.index], fontsize=8)
    ax.set_xlabel(str(table.columns.name or ""))
    ax.set_ylabel(str(table.index.name or ""))
    empty = int(np.isnan(values).sum())
    default = f"{empty} of {values.size} cells empty (grey)"
    ax.set_title(title if title is not None else default)
    return ax


def plot_movie_biases(
    stats: pd.DataFrame,
    *,
    bias_col: str = "bias",
    mean_col: str = "mean_rating",
    count_col: str = "n_ratings",
    title: str | None = None,
    ax=None,
):
    """Scatter each movie's learned bias against its mean rating, coloured by its number of ratings.

    Shrinkage shows at a glance: movies with few ratings (dark) sit near a
    bias of 0 whatever their mean rating, while well-known movies (bright)
    spread along the diagonal. The colour scale is logarithmic because the
    numbers of ratings span two orders of magnitude.

    Args:
        stats: one row per movie with ``bias_col``, ``mean_col`` (stars) and
            ``count_col`` (int, at least 1), such as
            :func:`reco.explore.movie_stats`'s table with a bias column added.
        bias_col: column of learned movie biases.
        mean_col: column of mean ratings, in stars.
        count_col: column of numbers of ratings.
        title: the plot's title; default: ``"Movie bias against mean rating"``.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes, with one point per movie and a colour bar.
    """
    from matplotlib.colors import LogNorm

    require_columns(
        stats, {bias_col: "bias_col", mean_col: "mean_col", count_col: "count_col"}, "stats"
    )
    counts = stats[count_col].to_numpy(dtype=np.float64)
    order = np.argsort(counts, kind="stable")  # well-known movies drawn last, on top
    ax = _axes(ax)
    points = ax.scatter(
        stats[mean_col].to_numpy()[order],
        stats[bias_col].to_numpy()[order],
        c=counts[order],
        norm=LogNorm(vmin=max(counts.min(), 1), vmax=counts.max()),
        cmap="viridis",
        s=6,
        alpha=0.7,
        linewidths=0,
    )
    ax.figure.colorbar(points, ax=ax, label="number of ratings (log scale)")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_title(title if title is not None else "Movie bias against mean rating")
    ax.set_xlabel("mean rating (stars)")
    ax.set_ylabel("learned movie bias (logits)")
    return ax


def plot_overlap(
    overlaps: Mapping[str, np.ndarray],
    k: int = DEFAULT_K,
    *,
    title: str | None = None,
    log: bool = True,
    ax=None,
):
    """Draw how many movies two top-k lists share, as the share of pairs for 0 to k.

    Args:
        overlaps: label -> int array of shared-movie counts, one per pair of
            lists (for example every pair of users, or one user against every
            other), such as :func:`reco.explore.list_overlap`'s values.
        k: the lists' length: the bars go from 0 to ``k`` shared movies.
        title: the plot's title; default: ``"How many movies two top-k lists share"``.
        log: a logarithmic y axis, so that rare large overlaps stay visible.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes: one group of bars per count 0..k, one bar per label (the
        bars of a label add up to 1), and a legend with the mean of each.

    Raises:
        ValueError: ``overlaps`` is empty, or a count is outside ``0..k``.
    """
    if not overlaps:
        raise ValueError("overlaps is empty; pass {label: array of shared-movie counts}.")
    ax = _axes(ax)
    width = 0.8 / len(overlaps)
    x = np.arange(k + 1)
    for i, (label, counts) in enumerate(overlaps.items()):
        counts = np.asarray(counts).reshape(-1)
        if counts.size == 0:
            raise ValueError(f"overlaps[{label!r}] is empty.")
        if counts.min() < 0 or counts.max() > k:
            raise ValueError(
                f"overlaps[{label!r}] has counts from {counts.min()} to {counts.max()}; lists of "
                f"length k={k} share 0 to {k} movies. Fix: pass k= the lists' length."
            )
        share = np.bincount(counts.astype(np.int64), minlength=k + 1) / counts.size
        offset = (i - (len(overlaps) - 1) / 2) * width
        ax.bar(x + offset, share, width, label=f"{label} (mean {counts.mean():.2f})")
    if log:
        ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xlabel("movies in common")
    ax.set_ylabel("share of pairs" + (" (log scale)" if log else ""))
    ax.set_title(title if title is not None else "How many movies two top-k lists share")
    ax.legend()
    return ax
