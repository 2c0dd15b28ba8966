"""Plot the MovieLens data and the course's training curves with matplotlib.

Every function draws on the Axes it is given (``ax=``) or on a new figure, and
returns what it drew on, so a notebook can add to a plot or lay several side
by side. Importing this module changes no matplotlib settings: no style, no
``rcParams``, no backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reco._checks import positive_int, require_columns
from reco.constants import (
    DEFAULT_K,
    MAX_RATING,
    MIN_RATING,
    MOVIE_COL,
    N_RATINGS_COL,
    RATING_COL,
    RATING_STEP,
    TITLE_COL,
    USER_COL,
)

__all__ = [
    "plot_comparison",
    "plot_counts",
    "plot_crosstab",
    "plot_gaps",
    "plot_histories",
    "plot_history",
    "plot_metric",
    "plot_movie_biases",
    "plot_movie_map",
    "plot_overlap",
    "plot_prediction_distribution",
    "plot_rating_distribution",
    "plot_table_shards",
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


#: Panel titles of the ranking metrics of :func:`reco.evaluate.compare`; others are shown as named.
_RANKING_LABELS = {
    "ndcg": "NDCG",
    "precision": "precision",
    "recall": "recall",
    "map": "MAP",
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "coverage": "coverage",
    "popularity": "popularity percentile",
}


def _check_finite(frame: pd.DataFrame, columns, what: str, fix: str) -> None:
    """Raise ``ValueError`` naming the first rows of ``frame`` with NaN in ``columns``, and the fix."""
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        rows = frame.index[bad.any(axis=1)].tolist()
        cols = [c for c, b in zip(columns, bad.any(axis=0), strict=True) if b]
        raise ValueError(
            f"{what} has NaN or non-numeric values in {cols} for {rows[:5]}"
            f"{' ...' if len(rows) > 5 else ''}. Fix: {fix}."
        )


def _check_intervals(frame: pd.DataFrame, columns, what: str) -> None:
    """Check an interval table: ``columns`` present and finite, and ``low <= high`` in every row."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{what} must be a DataFrame indexed by model with columns {list(columns)}; got "
            f"{type(frame).__name__}. Fix: for example pd.DataFrame(results).T, with results "
            "= {model: reco.evaluate.paired_bootstrap(...)}."
        )
    if frame.empty:
        raise ValueError(f"{what} is empty. Fix: pass one row per model, with {list(columns)}.")
    require_columns(frame, dict.fromkeys(columns), what)
    _check_finite(frame, columns, what, "drop those rows, or compute their interval again")
    flipped = frame.index[frame["low"] > frame["high"]].tolist()
    if flipped:
        raise ValueError(
            f"{what} has low > high for {flipped[:5]}. Fix: pass each interval as "
            "low <= high (the columns may be swapped)."
        )


def _comparison_axes(ax, n_panels: int, n_models: int, ncols: int, figsize):
    """Return ``(figure, list of Axes)``: the caller's, one per panel, or a new grid."""
    if ax is not None:
        axes = [ax] if isinstance(ax, plt.Axes) else list(np.ravel(ax))
        if len(axes) != n_panels:
            raise ValueError(
                f"ax holds {len(axes)} Axes for {n_panels} metric(s); each metric needs its own "
                "panel. Fix: pass one Axes per metric, or ax=None for a new figure."
            )
        return axes[0].figure, axes
    ncols = positive_int(ncols, "ncols", "for example ncols=2, readable on a phone")
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    height = nrows * (0.3 * n_models + 1.1) + 0.5
    fig, grid = plt.subplots(
        nrows,
        ncols,
        figsize=figsize or (3.2 * ncols + 1.0, height),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    axes = list(grid.ravel())
    for extra in axes[n_panels:]:
        extra.remove()
    return fig, axes[:n_panels]


def plot_comparison(
    table: pd.DataFrame,
    metrics=("ndcg", "precision", "recall", "hit_rate"),
    *,
    title: str | None = None,
    intervals: Mapping[str, pd.DataFrame] | None = None,
    reference: str | None = None,
    sort: bool = True,
    ncols: int = 2,
    figsize: tuple[float, float] | None = None,
    ax=None,
):
    """Draw ranking metrics as small multiples: one panel per metric, one dot per model.

    Each panel has its own scale, from 0 to a little above its best model, so
    a gap of 0.01 in NDCG is as visible as one in hit rate; the models are in
    the same order in every panel (best first on the first metric, with
    ``sort``). With ``reference`` (a baseline's row), each panel has a dashed
    line at its value. ``intervals`` adds whiskers, in one of two forms:

    - the interval of the metric itself: a table with ``low`` and ``high``
      (in the metric's units), drawn as they are;
    - the interval of the gap to ``reference``: a table with ``gap``, ``low``
      and ``high``, as :func:`reco.evaluate.paired_bootstrap` returns them,
      drawn shifted by the reference's value, so a whisker that crosses the
      dashed line is a gap whose interval includes 0: a tie.

    Args:
        table: :func:`reco.evaluate.compare`'s table (index: model names).
        metrics: the columns to draw, one panel each, in reading order.
        title: a title over the whole figure; default: ``"Top-k metrics"``.
        intervals: metric -> DataFrame indexed by model (a subset of
            ``table``'s), e.g. ``{"ndcg": gaps}``; models without a row get no
            whisker.
        reference: a model of ``table`` to draw as a dashed line in every panel;
            required by gap intervals.
        sort: order the models by the first metric, best at the top;
            ``False`` keeps the table's order.
        ncols: panels per row (2 stays readable on a phone).
        figsize: figure size in inches; default: 7.4 wide, sized to the models.
        ax: one Axes per metric to draw on (a single Axes for one metric);
            default: a new figure.

    Returns:
        the ``matplotlib.figure.Figure``; ``fig.axes`` holds one Axes per
        metric, titled with its name, with one dot per model (``lines[0]``).

    Raises:
        ValueError: ``table`` is empty, lacks a metric column or has NaN in
            one; an unknown ``reference``; a bad interval table (missing
            columns, NaN, ``low > high``, models not in ``table``, gaps that do
            not match ``table``); or ``ax`` does not hold one Axes per metric.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if table.empty:
        raise ValueError("the table is empty; pass reco.evaluate.compare(...)'s result.")
    if not metrics:
        raise ValueError("metrics is empty. Fix: name the columns to draw, e.g. metrics=('ndcg',).")
    require_columns(table, {m: "metrics" for m in metrics}, "comparison")
    _check_finite(
        table,
        metrics,
        "the comparison table",
        "drop those models (table.drop(index=[...])) or leave the metric out (metrics=...)",
    )
    if reference is not None and reference not in table.index:
        raise ValueError(
            f"reference {reference!r} is not a model of the table; it has {list(table.index)}. "
            "Fix: pass one of them, e.g. reference='popularity'."
        )
    if isinstance(intervals, pd.DataFrame):  # a bare table: its metric cannot be guessed
        raise ValueError(
            "intervals must map a metric to its table; got a DataFrame. Fix: name the metric, "
            "e.g. intervals={'ndcg': gaps}."
        )
    intervals = dict(intervals) if intervals is not None else {}
    for metric, frame in intervals.items():
        if metric not in metrics:
            raise ValueError(
                f"intervals has a table for {metric!r}, which is not drawn; metrics are "
                f"{metrics}. Fix: add it to metrics=, or drop it from intervals."
            )
        is_gap = isinstance(frame, pd.DataFrame) and "gap" in frame.columns
        what = f"intervals[{metric!r}]"
        _check_intervals(frame, ("gap", "low", "high") if is_gap else ("low", "high"), what)
        unknown = [m for m in frame.index if m not in table.index]
        if unknown:
            raise ValueError(
                f"{what} has models that are not in the table: {unknown[:5]}. Fix: index it by "
                f"the table's model names, {list(table.index)}."
            )
        if is_gap and reference is None:
            raise ValueError(
                f"{what} holds gaps (a 'gap' column) but no reference was named. Fix: pass "
                "reference= the model the gaps are to, e.g. reference='popularity'."
            )
        if is_gap:
            ref_value = float(table.loc[reference, metric])
            seen = table.loc[frame.index, metric].astype(np.float64) - ref_value
            off = frame.index[~np.isclose(frame["gap"].astype(np.float64), seen, atol=1e-6)]
            if len(off):
                name = off[0]
                raise ValueError(
                    f"{what}: the gap of {name!r} is {float(frame.loc[name, 'gap']):.4f} but the "
                    f"table's {metric} differs from {reference!r} by {float(seen[name]):.4f}. "
                    "Fix: compute the gaps from the same lists, part and k as the table, "
                    f"against {reference!r}."
                )

    order = table.sort_values(metrics[0], ascending=False, kind="stable") if sort else table
    names = [str(n) for n in order.index]
    y = np.arange(len(order))[::-1]  # the first model at the top
    fig, axes = _comparison_axes(ax, len(metrics), len(order), ncols, figsize)
    for panel, metric in zip(axes, metrics, strict=True):
        values = order[metric].to_numpy(dtype=np.float64)
        panel.plot(values, y, "o", color="tab:blue", markersize=6, zorder=3)
        top = float(values.max())
        if metric in intervals:
            frame = intervals[metric]
            shift = float(table.loc[reference, metric]) if "gap" in frame.columns else 0.0
            rows = [i for i, n in enumerate(order.index) if n in frame.index]
            lows = frame.loc[order.index[rows], "low"].to_numpy(dtype=np.float64) + shift
            highs = frame.loc[order.index[rows], "high"].to_numpy(dtype=np.float64) + shift
            panel.hlines(y[rows], lows, highs, color="black", linewidth=1.5, zorder=2)
            top = max(top, float(highs.max()))
        if reference is not None:
            panel.axvline(
                float(table.loc[reference, metric]), color="grey", linestyle="--", linewidth=1
            )
        panel.set_xlim(0, top * 1.12 if top > 0 else 1)
        panel.xaxis.set_major_locator(plt.MaxNLocator(4))
        panel.grid(axis="y", color="0.9", linewidth=0.8)
        panel.set_axisbelow(True)
        panel.set_title(_RANKING_LABELS.get(metric, metric))
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names)
    for panel in axes:
        panel.tick_params(axis="y", length=0)
    notes = []
    if reference is not None:
        notes.append(f"dashed: {reference}")
    if any("gap" in f.columns for f in intervals.values()):
        notes.append(f"whiskers: interval of the gap to {reference}")
    if any("gap" not in f.columns for f in intervals.values()):
        notes.append("whiskers: interval")
    heading = title if title is not None else "Top-k metrics"
    fig.suptitle(heading + ("\n" + "; ".join(notes) if notes else ""))
    return fig


def plot_gaps(
    gaps: pd.DataFrame,
    *,
    title: str | None = None,
    xlabel: str = "gap",
    sort: bool = True,
    ax=None,
):
    """Draw each model's gap to a reference as a dot with its interval, and a line at 0.

    A gap whose interval includes 0 is a tie: its dot and whisker are grey,
    the others blue.

    Args:
        gaps: a DataFrame indexed by model with ``gap``, ``low`` and ``high``
            (floats), such as ``pd.DataFrame(results).T`` with ``results =
            {model: reco.evaluate.paired_bootstrap(...)}``.
        title: the plot's title; default: ``"Gap with its interval"``.
        xlabel: the x axis label, e.g. ``"NDCG@10 gap to popularity"``.
        sort: order the models by gap, largest at the top; ``False`` keeps
            the table's order.
        ax: Axes to draw on; default: a new figure sized to the models.

    Returns:
        the Axes: one dot (``lines``) and one whisker (``collections``) per
        model, a line at 0, and a legend.

    Raises:
        ValueError: ``gaps`` is empty, lacks a column, has NaN, or has
            ``low > high``.
    """
    _check_intervals(gaps, ("gap", "low", "high"), "gaps")
    order = gaps.sort_values("gap", ascending=False, kind="stable") if sort else gaps
    gap, low, high = (order[c].to_numpy(dtype=np.float64) for c in ("gap", "low", "high"))
    y = np.arange(len(order))[::-1]
    tie = (low <= 0) & (high >= 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(order) + 1.4), layout="constrained")
    ax.axvline(0.0, color="black", linewidth=1)
    for mask, color, label in ((~tie, "tab:blue", "interval excludes 0"), (tie, "grey", "tie")):
        if mask.any():
            ax.hlines(y[mask], low[mask], high[mask], color=color, linewidth=2)
            ax.plot(gap[mask], y[mask], "o", color=color, markersize=7, label=label)
    ax.set_yticks(y)
    ax.set_yticklabels([str(n) for n in order.index])
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title if title is not None else "Gap with its interval")
    ax.legend(loc="best", fontsize="small")
    return ax


#: A title's year at its end, as MovieLens writes it: "Heat (1995)", "Cosmos (1980-1981)".
_YEAR = re.compile(r"\s*(\(\d{4}(?:[-–]\d{4})?\))\s*$")
#: An article MovieLens moves to the end: "Matrix, The", "Beautiful Mind, A".
_ARTICLE = re.compile(r"^(.*), (The|A|An)$")


def _short_title(title, width: int = 22) -> str:
    """Shorten a MovieLens title for a label, keeping its year.

    The article goes back to the front (``"Matrix, The (1999)"`` becomes
    ``"The Matrix (1999)"``), or is left out where it would not fit
    (``"Shawshank Redemption (1994)"``), alternative titles in parentheses are dropped
    (``"Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"`` becomes
    ``"Amelie (2001)"``), and a name longer than ``width`` characters loses
    its subtitle (``"Star Wars: Episode IV (1977)"``) or is cut at a word with
    an ellipsis; the year is never cut.

    Args:
        title: a title, e.g. from the movies table's ``title`` column.
        width: longest name, in characters, the year not counted.

    Returns:
        the short title (a title without a year is shortened the same way).
    """
    text = str(title).strip()
    match = _YEAR.search(text)
    year = match.group(1) if match else ""
    name = text[: match.start()] if match else text
    name = re.sub(r"(?<=\S)\s+\([^()]*\)", "", name).strip()  # not "(500) Days of Summer"
    if article := _ARTICLE.match(name):  # back to the front if it fits, else left out
        rest, word = article.group(1), article.group(2)
        name = f"{word} {rest}" if len(rest) + len(word) < width else rest
    if len(name) > width:
        heads = [name.split(sep)[0] for sep in (" - ", ": ") if sep in name]
        heads = [h for h in heads if width // 3 <= len(h) <= width]
        if heads:  # the title without its subtitle: "Star Wars: Episode IV"
            name = heads[0]
        else:  # cut at a word (or a hyphen) with an ellipsis
            cut = name[:width]
            at = max(cut.rfind(" "), cut.rfind("-"))
            cut = cut[:at] if at > width // 2 else cut
            name = cut.rstrip(" -:,;.'") + "…"
    return f"{name} {year}".strip()


def _pick_labels(frame: pd.DataFrame, n_labels: int, count_col: str) -> list:
    """Return the index labels of ``n_labels`` movies to name: each axis's ends and the most rated.

    Taken in turn, one at a time, from five queues: the most rated, then the
    lowest and highest on ``pc1``, then on ``pc2``; a movie is taken once.
    """
    queues = [
        list(frame.sort_values(count_col, ascending=False, kind="stable").index),
        list(frame.sort_values("pc1", kind="stable").index),
        list(frame.sort_values("pc1", ascending=False, kind="stable").index),
        list(frame.sort_values("pc2", kind="stable").index),
        list(frame.sort_values("pc2", ascending=False, kind="stable").index),
    ]
    chosen: dict = {}
    n_labels = min(n_labels, len(frame))
    at = [0] * len(queues)
    while len(chosen) < n_labels:  # the first queue holds every movie: this ends
        for q, queue in enumerate(queues):
            while at[q] < len(queue) and queue[at[q]] in chosen:
                at[q] += 1
            if at[q] < len(queue) and len(chosen) < n_labels:
                chosen[queue[at[q]]] = None
    return list(chosen)


#: Where a label may go around its point, in order of preference: (dx, dy) directions.
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))


def _place_labels(ax, xy: np.ndarray, texts: list[str], fontsize: float) -> list:
    """Write ``texts`` next to the points ``xy`` (data units), each where it overlaps nothing.

    Greedy, in order: each label tries eight directions around its point at
    growing distances and takes the first box that stays inside the Axes and
    overlaps no label placed before it nor a labelled point; a label that fits
    nowhere takes its least crowded place. Far labels get a thin leader line.
    The layout is settled first, so the boxes are those of the drawn figure.
    """
    fig = ax.figure
    fig.draw_without_rendering()
    frame_box = ax.get_window_extent()
    points = ax.transData.transform(xy)
    px = fig.dpi / 72  # pixels per point
    probe = ax.text(0, 0, "", fontsize=fontsize)
    sizes = []
    for text in texts:
        probe.set_text(text)
        box = probe.get_window_extent()
        sizes.append((box.width + 4, box.height + 2))
    probe.remove()
    dot = 4 * px
    taken = [(x - dot, y - dot, x + dot, y + dot) for x, y in points]

    def overlap(a, b):
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return max(w, 0) * max(h, 0)

    placed = []
    for i, (text, (w, h)) in enumerate(zip(texts, sizes, strict=True)):
        x, y = points[i]
        others = [b for j, b in enumerate(taken) if j != i]
        best = None
        for distance in (5, 12, 22, 34, 48):
            for dx, dy in _DIRECTIONS:
                d = distance * px
                cx = x + dx * (d + w / 2)
                cy = y + dy * (d + h / 2)
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                inside = (
                    box[0] >= frame_box.x0
                    and box[2] <= frame_box.x1
                    and box[1] >= frame_box.y0
                    and box[3] <= frame_box.y1
                )
                if not inside:
                    continue
                crowd = sum(overlap(box, b) for b in others)
                if best is None or crowd < best[0]:
                    best = (crowd, distance, (cx - x, cy - y))
                if crowd == 0:
                    break
            if best is not None and best[0] == 0:
                break
        if best is None:  # too big for the Axes anywhere: next to its point, centred
            best = (0, 5, (0.0, 0.0))
        _, distance, (ox, oy) = best
        arrow = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.6} if distance > 12 else None
        label = ax.annotate(
            text,
            xy[i],
            xytext=(ox / px, oy / px),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            arrowprops=arrow,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.75, "lw": 0},
        )
        cx, cy = x + ox, y + oy
        taken.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        placed.append(label)
    return placed


def plot_movie_map(
    frame: pd.DataFrame,
    n_labels: int = 12,
    *,
    labels=None,
    title: str | None = None,
    fontsize: float = 10,
    label_width: int = 22,
    title_col: str = TITLE_COL,
    count_col: str = N_RATINGS_COL,
    ax=None,
):
    """Draw movies on their first two principal components, naming a few at the ends of each axis.

    Points grow with the number of ratings. The named movies are, in turn,
    the most rated and the lowest and highest on each axis (the movies that
    say what an axis means; :func:`reco.similar.axis_ends` lists more), or
    the ``labels`` given. Titles are shortened with ``_short_title`` and
    placed so that they overlap neither each other nor the Axes' edges.

    Args:
        frame: :func:`reco.similar.movie_map`'s table (``pc1``, ``pc2``,
            ``count_col`` and ``title_col``).
        n_labels: how many movies to name; about 12 stay readable on a phone.
        labels: index labels (movie ids) of the movies to name, instead of
            choosing ``n_labels``.
        title: the plot's title; default: ``"Movies on the first two
            principal components"``.
        fontsize: size of the movie labels, in points.
        label_width: longest label, in characters, the year not counted.
        title_col: column of titles.
        count_col: column of numbers of ratings.
        ax: Axes to draw on; default: a new 6 x 5.5 inch figure.

    Returns:
        the Axes: one scatter of every movie, one text (``ax.texts``) per named movie.

    Raises:
        ValueError: a missing column, NaN on an axis, or a label that is not
            a movie of the map.
    """
    require_columns(
        frame,
        {"pc1": None, "pc2": None, count_col: "count_col", title_col: "title_col"},
        "movie map",
    )
    _check_finite(
        frame,
        ("pc1", "pc2"),
        "the movie map",
        "pass reco.similar.movie_map(...)'s table, or drop those rows",
    )
    if labels is None:
        n_labels = positive_int(n_labels, "n_labels", "for example n_labels=12")
        chosen = _pick_labels(frame, n_labels, count_col)
    else:
        chosen = list(labels)
        unknown = [m for m in chosen if m not in frame.index]
        if unknown:
            raise ValueError(
                f"labels has {unknown[:5]}, which are not movies of the map. Fix: pass ids "
                "from its index, e.g. labels=similar.axis_ends(...)['movieId']."
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
    counts = frame[count_col].to_numpy(dtype=np.float64)
    size = 4 + 60 * counts / counts.max()
    ax.scatter(frame["pc1"], frame["pc2"], s=size, alpha=0.3, color="tab:blue", linewidths=0)
    named = frame.loc[chosen]
    ax.scatter(
        named["pc1"], named["pc2"], s=size[frame.index.get_indexer(chosen)], color="tab:blue"
    )
    ax.margins(0.06)
    explained = frame.attrs.get("explained")
    share = [f" ({e:.0%} of the variance)" for e in explained] if explained else ["", ""]
    ax.set_title(title if title is not None else "Movies on the first two principal components")
    ax.set_xlabel("first component" + share[0])
    ax.set_ylabel("second component" + share[1])
    texts = [_short_title(t, label_width) for t in named[title_col]]
    _place_labels(ax, named[["pc1", "pc2"]].to_numpy(dtype=np.float64), texts, fontsize)
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


def plot_table_shards(shards: Mapping[str, Mapping[str, tuple[int, int]]], *, ax=None):
    """Draw which rows of each table every device holds, one column per table.

    Each table is a bar from row 0 (top) to its last row, cut into the blocks
    that the devices hold and coloured by device; a replicated table is one
    block per device side by side, each the whole height.

    Args:
        shards: table name -> device name -> ``(start, stop)`` rows, as
            :func:`reco.distribute.table_rows` returns for a model.
        ax: Axes to draw on; default: a new figure.

    Returns:
        the Axes, with one rectangle per (table, device) and a legend of the devices.

    Raises:
        ValueError: no tables, a table on no device, or a block outside its table.
    """
    if not shards:
        raise ValueError("shards names no table. Fix: pass distribute.table_rows(model).")
    devices = sorted({device for blocks in shards.values() for device in blocks})
    colours = {d: plt.get_cmap("tab10")(i % 10) for i, d in enumerate(devices)}
    ax = _axes(ax)
    for column, (table, blocks) in enumerate(shards.items()):
        if not blocks:
            raise ValueError(f"table {table!r} is on no device. Fix: pass table_rows(model).")
        rows = max(stop for _, stop in blocks.values())
        copies = [d for d, (start, stop) in blocks.items() if (start, stop) == (0, rows)]
        width = 0.8 / (len(copies) if len(copies) == len(blocks) else 1)
        for i, (device, (start, stop)) in enumerate(sorted(blocks.items())):
            if not 0 <= start < stop <= rows:
                raise ValueError(f"{table}: rows {start}-{stop} on {device} lie outside 0-{rows}.")
            left = column - 0.4 + (i * width if width < 0.8 else 0)
            ax.add_patch(
                plt.Rectangle(
                    (left, start / rows), width, (stop - start) / rows,
                    facecolor=colours[device], edgecolor="white", label=device,
                )
            )  # fmt: skip
            ax.text(left + width / 2, (start + stop) / 2 / rows, f"{stop - start:,}",
                    ha="center", va="center", fontsize=8)  # fmt: skip
    ax.set_xlim(-0.5, len(shards) - 0.5)
    ax.set_ylim(1, 0)
    ax.set_xticks(range(len(shards)))
    ax.set_xticklabels(list(shards), fontsize=8)
    ax.set_ylabel("share of the table's rows (row 0 at the top)")
    ax.set_title("Which rows of each table every device holds")
    handles = {p.get_label(): p for p in ax.patches}
    ax.legend([handles[d] for d in devices], devices, title="device", fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1))  # fmt: skip
    return ax
