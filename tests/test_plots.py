"""Tests of reco.plots on small hand-made tables, drawn with the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from synthetic import make_ratings  # noqa: E402

from reco import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ratings():
    # user 1: 3 ratings, user 2: 1, user 3: 6; movie 10: 4 ratings, ...
    return pd.DataFrame(
        {
            "userId": [1, 1, 1, 2, 3, 3, 3, 3, 3, 3],
            "movieId": [10, 20, 30, 10, 10, 20, 40, 50, 60, 70],
            "rating": np.array([4.0, 4.0, 3.5, 5.0, 0.5, 4.0, 3.5, 3.0, 4.0, 2.0], np.float32),
        }
    )


def _history(n_epochs=3, val=True):
    frame = pd.DataFrame({"loss": np.linspace(1.0, 0.5, n_epochs)})
    if val:
        frame["val_loss"] = np.linspace(1.1, 0.8, n_epochs)
    frame.index = pd.RangeIndex(1, n_epochs + 1, name="epoch")
    return frame


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------- ratings


def test_rating_distribution_has_one_bar_per_half_star_with_counts(ratings):
    ax = plots.plot_rating_distribution(ratings)
    bars = ax.patches
    assert len(bars) == 10  # 0.5, 1.0, ..., 5.0, including values nobody gave
    centers = [b.get_x() + b.get_width() / 2 for b in bars]
    np.testing.assert_allclose(centers, np.arange(1, 11) / 2)
    heights = {c: b.get_height() for c, b in zip(centers, bars, strict=True)}
    assert heights[4.0] == 4
    assert heights[3.5] == 2
    assert heights[1.0] == 0
    assert sum(heights.values()) == len(ratings)
    assert ax.get_title()
    assert ax.get_xlabel() == "rating (stars)"
    assert ax.get_ylabel() == "number of ratings"


def test_rating_distribution_draws_on_given_axes(ratings):
    fig, (left, right) = plt.subplots(1, 2)
    ax = plots.plot_rating_distribution(ratings, ax=right)
    assert ax is right
    assert not left.patches


def test_rating_distribution_of_the_synthetic_data_counts_every_rating():
    table = make_ratings(n_users=30, n_movies=40, seed=2)
    ax = plots.plot_rating_distribution(table)
    heights = {round(b.get_x() + b.get_width() / 2, 6): b.get_height() for b in ax.patches}
    assert heights == {float(r): n for r, n in table["rating"].value_counts().items()}


def test_rating_distribution_names_the_missing_column_and_the_keyword(ratings):
    with pytest.raises(ValueError, match=r"no column\(s\) \['stars'\].*rating_col=<your column>"):
        plots.plot_rating_distribution(ratings, rating_col="stars")


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(("by", "n", "kind"), [("userId", 3, "user"), ("movieId", 7, "movie")])
def test_counts_histogram_covers_every_user_or_movie(ratings, by, n, kind):
    ax = plots.plot_counts(ratings, by=by, bins=5)
    heights = [b.get_height() for b in ax.patches]
    assert len(heights) == 5
    assert sum(heights) == n
    assert ax.get_xscale() == "log"
    assert ax.get_title() == f"Ratings per {kind}"
    assert ax.get_ylabel() == f"number of {kind}s"
    assert "log scale" in ax.get_xlabel()


def test_counts_linear_bins(ratings):
    ax = plots.plot_counts(ratings, by="userId", bins=6, log=False)
    assert ax.get_xscale() == "linear"
    heights = [b.get_height() for b in ax.patches]
    # counts 3, 1, 6 on edges 1..7: first bin holds the 1, last bin holds the 6
    assert heights[0] == 1 and heights[-1] == 1 and sum(heights) == 3


def test_counts_rejects_other_columns(ratings):
    with pytest.raises(ValueError, match="by must be 'userId' \\(ratings per user\\) or 'movieId'"):
        plots.plot_counts(ratings, by="rating")
    renamed = ratings.rename(columns={"movieId": "item"})
    ax = plots.plot_counts(renamed, by="item", movie_col="item", bins=3)
    assert sum(b.get_height() for b in ax.patches) == 7


# --------------------------------------------------------------------------- history


def test_history_draws_train_and_validation_loss():
    history = _history(4)
    ax = plots.plot_history(history, title="V1", val_label="test")
    train, val = ax.get_lines()
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(train.get_ydata(), history["loss"])
    np.testing.assert_allclose(val.get_ydata(), history["val_loss"])
    assert _legend_texts(ax) == ["train", "test"]
    assert ax.get_title() == "V1"
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss"


def test_history_of_rmse_says_stars():
    history = _history(3).rename(columns={"loss": "rmse", "val_loss": "val_rmse"})
    ax = plots.plot_history(history, metric="rmse")
    assert ax.get_ylabel() == "RMSE (stars)"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), history["val_rmse"])


def test_history_without_validation_draws_one_line():
    ax = plots.plot_history(_history(2, val=False))
    assert len(ax.get_lines()) == 1
    assert _legend_texts(ax) == ["train"]
    assert ax.get_title() == "Training curve"


def test_history_names_the_missing_metric_and_the_keyword():
    with pytest.raises(ValueError, match=r"history table has no column\(s\) \['rmse'\].*metric="):
        plots.plot_history(_history(), metric="rmse")


def test_histories_one_subplot_per_model_in_order():
    histories = {"V1": _history(3), "V2": _history(5), "Net": _history(2, val=False)}
    fig = plots.plot_histories(histories, title="All models")
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["V1", "V2", "Net"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2, 1]
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), histories["V2"]["loss"])
    assert fig.get_suptitle() == "All models"


def test_histories_shared_y_axis_is_labelled_once():
    fig = plots.plot_histories({"V1": _history(3), "V2": _history(3)}, sharey=True)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", ""]
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    unshared = plots.plot_histories({"V1": _history(3), "V2": _history(3)})
    assert [ax.get_ylabel() for ax in unshared.axes] == ["loss", "loss"]


def test_histories_rejects_empty():
    with pytest.raises(ValueError, match="empty"):
        plots.plot_histories({})


def _rmse_history(values):
    frame = pd.DataFrame({"rmse": values, "val_rmse": np.asarray(values) + 0.1})
    frame.index = pd.RangeIndex(1, len(values) + 1, name="epoch")
    return frame


def test_metric_one_line_per_model_on_one_axes():
    histories = {"V1": _rmse_history([1.9, 1.2, 1.1]), "V2": _rmse_history([0.9, 0.85])}
    ax = plots.plot_metric(histories, title="Test RMSE per epoch")
    v1, v2 = ax.get_lines()
    np.testing.assert_allclose(v1.get_ydata(), histories["V1"]["val_rmse"])
    np.testing.assert_allclose(v2.get_xdata(), [1, 2])
    assert _legend_texts(ax) == ["V1", "V2"]
    assert ax.get_title() == "Test RMSE per epoch"
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "RMSE (stars)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]


def test_metric_zoom_keeps_colours_and_draws_on_given_axes():
    histories = {"V1": _rmse_history([1.9, 1.2]), "V2": _rmse_history([0.9, 0.85])}
    fig, (left, right) = plt.subplots(1, 2)
    plots.plot_metric(histories, metric="rmse", ax=left)
    ax = plots.plot_metric(histories, metric="rmse", ylim=(0.8, 1.0), ax=right)
    assert ax is right
    assert right.get_ylim() == (0.8, 1.0)
    assert [line.get_color() for line in left.get_lines()] == [
        line.get_color() for line in right.get_lines()
    ]
    assert right.get_title() == "rmse"


def test_metric_names_the_model_missing_the_metric():
    with pytest.raises(
        ValueError, match=r"history of V2 table has no column\(s\) \['val_rmse'\].*metric="
    ):
        plots.plot_metric({"V1": _rmse_history([1.0]), "V2": _history(2)})
    with pytest.raises(ValueError, match="empty"):
        plots.plot_metric({})


# --------------------------------------------------------------------------- predictions


def test_prediction_distribution_marks_range_and_labels():
    preds = {"V1": np.array([-0.5, 1.0, 4.0, 6.0]), "V2": np.array([1.0, 2.0, 3.0, 4.5])}
    ax = plots.plot_prediction_distribution(preds, bins=10)
    assert _legend_texts(ax) == ["V1", "V2"]
    assert sum(b.get_height() for b in ax.patches) == 8
    dashed = [line.get_xdata()[0] for line in ax.get_lines()]
    assert dashed == [0.5, 5.0]
    lo, hi = ax.get_xlim()
    assert lo <= -0.5 and hi >= 6.0
    assert ax.get_xlabel() == "predicted rating (stars)"


def test_import_changes_no_rcparams():
    import importlib

    before = dict(matplotlib.rcParams)
    importlib.reload(plots)
    assert dict(matplotlib.rcParams) == before


def test_prediction_distribution_with_true_ratings_draws_densities_and_an_outline():
    preds = {"V2": np.array([3.1, 3.4, 3.6, 4.2])}
    true = np.array([3.0, 3.5, 3.5, 5.0])
    ax = plots.plot_prediction_distribution(preds, bins=8, true_ratings=true)
    assert _legend_texts(ax) == ["V2", "true ratings"]
    assert ax.get_ylabel() == "density (share per star)"
    bars = [p for p in ax.patches if p.get_label() != "true ratings"]
    widths = np.array([b.get_width() for b in bars])
    np.testing.assert_allclose(np.sum(widths * [b.get_height() for b in bars]), 1.0)
    outline = [p for p in ax.patches if p.get_label() == "true ratings"]
    assert len(outline) == 1  # one step outline, with bins centred on the half stars
    xs = outline[0].get_xy()[:, 0]
    assert xs.min() == pytest.approx(0.25) and xs.max() == pytest.approx(5.25)


# --------------------------------------------------------------------------- crosstab


def _crosstab():
    table = pd.DataFrame(
        [[4.0, np.nan, 2.5], [np.nan, 5.0, 1.0]],
        index=pd.Index(
            ["A very long movie title that goes on (1999)", "Short (2001)"], name="title"
        ),
        columns=pd.Index([7, 3, 9], name="userId"),
    )
    return table


def test_crosstab_masks_empty_cells_and_writes_each_rating():
    ax = plots.plot_crosstab(_crosstab(), label_width=20)
    image = ax.get_images()[0]
    data = image.get_array()
    assert data.shape == (2, 3)
    np.testing.assert_array_equal(data.mask, [[False, True, False], [True, False, False]])
    assert image.get_clim() == (0.5, 5.0)
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2.5", "4", "5"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["7", "3", "9"]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["A very long movie t…", "Short (2001)"]
    assert ax.get_xlabel() == "userId" and ax.get_ylabel() == "title"
    assert ax.get_title() == "2 of 6 cells empty (grey)"
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar


def test_crosstab_without_annotations_on_given_axes():
    fig, ax = plt.subplots()
    out = plots.plot_crosstab(_crosstab(), annotate=False, title="corner", ax=ax)
    assert out is ax
    assert not ax.texts
    assert ax.get_title() == "corner"


def test_crosstab_rejects_an_empty_table():
    with pytest.raises(ValueError, match="empty"):
        plots.plot_crosstab(pd.DataFrame())


# --------------------------------------------------------------------------- biases


def test_movie_biases_one_point_per_movie_on_a_log_colour_scale():
    from matplotlib.colors import LogNorm

    stats = pd.DataFrame(
        {"mean_rating": [4.5, 2.0, 3.5], "bias": [0.6, -0.4, 0.0], "n_ratings": [300, 1, 20]}
    )
    ax = plots.plot_movie_biases(stats)
    points = ax.collections[0]
    assert len(points.get_offsets()) == 3
    assert isinstance(points.norm, LogNorm)
    assert points.norm.vmin == 1 and points.norm.vmax == 300
    # the most rated movie is drawn last, on top
    np.testing.assert_allclose(points.get_offsets()[-1], [4.5, 0.6])
    np.testing.assert_allclose(points.get_array(), [1, 20, 300])
    assert ax.get_xlabel() == "mean rating (stars)"
    assert ax.get_ylabel() == "learned movie bias (logits)"


def test_movie_biases_name_the_missing_column_and_the_keyword():
    stats = pd.DataFrame({"mean_rating": [4.0], "b_m": [0.1], "n_ratings": [3]})
    with pytest.raises(ValueError, match=r"\['bias'\].*bias_col=<your column>"):
        plots.plot_movie_biases(stats)
    ax = plots.plot_movie_biases(stats, bias_col="b_m")
    assert len(ax.collections[0].get_offsets()) == 1


# --------------------------------------------------------------------------- overlap


def test_overlap_bars_are_shares_from_zero_to_k():
    overlaps = {"all pairs": np.array([0, 0, 1, 3]), "one user": np.array([1, 1])}
    ax = plots.plot_overlap(overlaps, k=3, log=False)
    bars = ax.patches
    assert len(bars) == 2 * 4
    first = [b.get_height() for b in bars[:4]]
    np.testing.assert_allclose(first, [0.5, 0.25, 0.0, 0.25])
    np.testing.assert_allclose([b.get_height() for b in bars[4:]], [0, 1, 0, 0])
    assert _legend_texts(ax) == ["all pairs (mean 1.00)", "one user (mean 1.00)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]
    assert ax.get_yscale() == "linear"
    assert plots.plot_overlap(overlaps, k=3).get_yscale() == "log"


def test_overlap_rejects_counts_beyond_k_and_empty_input():
    with pytest.raises(ValueError, match="k=3"):
        plots.plot_overlap({"pairs": np.array([0, 4])}, k=3)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_overlap({})


# --------------------------------------------------------------------------- comparison


def _table():
    # Three models in an order that is not the NDCG order, on four metrics of different scales.
    return pd.DataFrame(
        {
            "ndcg": [0.10, 0.12, 0.02],
            "precision": [0.07, 0.06, 0.01],
            "recall": [0.09, 0.11, 0.01],
            "hit_rate": [0.40, 0.45, 0.05],
            "rmse": [np.nan, 0.85, 0.9],  # NaN in a column that is not drawn is fine
        },
        index=pd.Index(["popularity", "V2", "random"], name="model"),
    )


def _dots(panel):
    return panel.get_lines()[0].get_xdata().tolist()


def test_comparison_has_one_panel_per_metric_with_its_own_scale_and_one_model_order():
    table = _table()
    fig = plots.plot_comparison(table, title="Top-10 lists")
    assert [a.get_title() for a in fig.axes] == ["NDCG", "precision", "recall", "hit rate"]
    # Sorted by NDCG, best at the top (the first tick label is the lowest on the y axis).
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["V2", "popularity", "random"]
    ys = fig.axes[0].get_lines()[0].get_ydata().tolist()
    assert ys == [2, 1, 0]
    for panel, metric in zip(fig.axes, ["ndcg", "precision", "recall", "hit_rate"], strict=True):
        assert _dots(panel) == table.loc[["V2", "popularity", "random"], metric].tolist()
        lo, hi = panel.get_xlim()
        assert lo == 0 and table[metric].max() < hi < 1.2 * table[metric].max()
    # 2 columns x 2 rows: two distinct left edges and two distinct bottoms.
    lefts = {round(a.get_position().x0, 3) for a in fig.axes}
    bottoms = {round(a.get_position().y0, 3) for a in fig.axes}
    assert len(lefts) == 2 and len(bottoms) == 2
    assert fig.get_suptitle() == "Top-10 lists"
    kept = plots.plot_comparison(table, ("recall", "ndcg", "precision"), sort=False)
    assert len(kept.axes) == 3  # the fourth cell of the 2 x 2 grid is removed
    assert [t.get_text() for t in kept.axes[0].get_yticklabels()] == list(table.index)


def test_comparison_draws_intervals_of_a_metric_and_of_a_gap_to_the_reference():
    table = _table()
    own = pd.DataFrame({"low": [0.05, 0.08], "high": [0.09, 0.14]}, index=["popularity", "V2"])
    gaps = pd.DataFrame(
        {"gap": [0.02, -0.08], "low": [-0.005, -0.12], "high": [0.04, -0.06]},
        index=["V2", "random"],
    )
    fig = plots.plot_comparison(
        table, intervals={"recall": own, "ndcg": gaps}, reference="popularity"
    )
    ndcg, recall = fig.axes[0], fig.axes[2]
    # V2 is at y=2, popularity at 1, random at 0; a gap is shifted by popularity's 0.10.
    segments = {seg[0, 1]: seg[:, 0].tolist() for seg in ndcg.collections[0].get_segments()}
    np.testing.assert_allclose(segments[2], [0.095, 0.14])
    np.testing.assert_allclose(segments[0], [-0.02, 0.04])
    assert 1 not in segments  # the reference itself has no whisker
    segments = {seg[0, 1]: seg[:, 0].tolist() for seg in recall.collections[0].get_segments()}
    assert segments == {2: [0.08, 0.14], 1: [0.05, 0.09]}
    assert recall.get_xlim()[1] > 0.14  # the scale makes room for the whisker
    # A dashed line at popularity's value in every panel, and a note saying what is drawn.
    for panel, metric in zip(fig.axes, ["ndcg", "precision", "recall", "hit_rate"], strict=True):
        dashed = [ln for ln in panel.get_lines() if ln.get_linestyle() == "--"]
        assert [ln.get_xdata()[0] for ln in dashed] == [table.loc["popularity", metric]]
    assert "interval of the gap to popularity" in fig.get_suptitle()


def test_comparison_draws_on_given_axes_one_per_metric():
    fig, (left, right) = plt.subplots(1, 2)
    out = plots.plot_comparison(_table(), ("ndcg", "recall"), ax=[left, right])
    assert out is fig and right.get_title() == "recall"
    single = plots.plot_comparison(_table(), "ndcg", ax=plt.subplots()[1])
    assert len(single.axes) == 1
    with pytest.raises(ValueError, match=r"ax holds 2 Axes for 4 metric\(s\).*one Axes per metric"):
        plots.plot_comparison(_table(), ax=[left, right])


def test_comparison_names_bad_input_and_the_fix():
    table = _table()
    gaps = pd.DataFrame({"gap": [0.02], "low": [0.0], "high": [0.04]}, index=["V2"])
    with pytest.raises(ValueError, match="empty"):
        plots.plot_comparison(table.iloc[:0])
    with pytest.raises(ValueError, match=r"no column\(s\) \['auc'\].*metrics=<your column>"):
        plots.plot_comparison(table, metrics=("auc",))
    with pytest.raises(ValueError, match=r"NaN.*\['rmse'\] for \['popularity'\].*table\.drop"):
        plots.plot_comparison(table, metrics=("ndcg", "rmse"))
    with pytest.raises(ValueError, match=r"reference 'pop' is not a model.*reference='popularity'"):
        plots.plot_comparison(table, reference="pop")
    with pytest.raises(ValueError, match=r"got a DataFrame.*intervals=\{'ndcg': gaps\}"):
        plots.plot_comparison(table, intervals=gaps, reference="popularity")
    with pytest.raises(ValueError, match="holds gaps.*reference='popularity'"):
        plots.plot_comparison(table, intervals={"ndcg": gaps})
    with pytest.raises(ValueError, match=r"'mrr', which is not drawn.*metrics="):
        plots.plot_comparison(table, intervals={"mrr": gaps}, reference="popularity")
    with pytest.raises(ValueError, match=r"no column\(s\) \['high'\]"):
        plots.plot_comparison(table, intervals={"ndcg": gaps[["low"]]})
    bad = {
        "NaN": (gaps.assign(low=np.nan), r"NaN or non-numeric values in \['low'\] for \['V2'\]"),
        "flip": (gaps.assign(low=0.05), r"low > high for \['V2'\].*swapped"),
        "model": (gaps.rename(index={"V2": "V3"}), r"not in the table: \['V3'\]"),
        "gap": (gaps.assign(gap=0.05), r"gap of 'V2' is 0.0500 but .* differs .* by 0.0200"),
    }
    for frame, message in bad.values():
        with pytest.raises(ValueError, match=message):
            plots.plot_comparison(table, intervals={"ndcg": frame}, reference="popularity")


# --------------------------------------------------------------------------- gaps


def _gaps():
    return pd.DataFrame(
        {
            "gap": [-0.01, 0.011, -0.08],
            "low": [-0.025, -0.003, -0.1],
            "high": [0.001, 0.025, -0.07],
            "users": [560, 560, 560],
        },
        index=["RecommenderNetV2", "V2", "RecommenderNet"],
    )


def test_gaps_are_dots_with_whiskers_sorted_and_grey_where_the_interval_holds_zero():
    ax = plots.plot_gaps(_gaps(), xlabel="NDCG@10 gap to popularity")
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "V2",
        "RecommenderNetV2",
        "RecommenderNet",
    ]
    zero = [ln for ln in ax.get_lines() if ln.get_xdata()[0] == 0 and len(ln.get_xdata()) == 2]
    assert len(zero) == 1  # the vertical line at 0
    dots = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_marker() == "o"}
    assert dots["tie"].get_xdata().tolist() == [0.011, -0.01]  # both intervals hold 0
    assert dots["interval excludes 0"].get_xdata().tolist() == [-0.08]
    whiskers = [seg[:, 0].tolist() for c in ax.collections for seg in c.get_segments()]
    assert sorted(whiskers) == [[-0.1, -0.07], [-0.025, 0.001], [-0.003, 0.025]]
    assert _legend_texts(ax) == ["interval excludes 0", "tie"]
    assert ax.get_xlabel() == "NDCG@10 gap to popularity"


def test_gaps_name_bad_input_and_the_fix():
    with pytest.raises(ValueError, match=r"no column\(s\) \['gap'\]"):
        plots.plot_gaps(_gaps().drop(columns="gap"))
    with pytest.raises(ValueError, match=r"NaN.*\['high'\] for \['V2'\].*drop those rows"):
        plots.plot_gaps(_gaps().assign(high=[0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_gaps(_gaps().iloc[:0])
    with pytest.raises(ValueError, match="must be a DataFrame.*paired_bootstrap"):
        plots.plot_gaps({"V2": {"gap": 0.01, "low": 0.0, "high": 0.02}})


# --------------------------------------------------------------------------- movie map labels


@pytest.mark.parametrize(
    ("title", "short"),
    [
        ("Matrix, The (1999)", "The Matrix (1999)"),
        ("Shawshank Redemption, The (1994)", "Shawshank Redemption (1994)"),
        ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Amelie (2001)"),
        ("(500) Days of Summer (2009)", "(500) Days of Summer (2009)"),
        ("Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode IV (1977)"),
        ("E.T. the Extra-Terrestrial (1982)", "E.T. the Extra… (1982)"),
        ("Monty Python and the Holy Grail (1975)", "Monty Python and the… (1975)"),
        ("Cosmos (1980-1981)", "Cosmos (1980-1981)"),
        ("No year at all", "No year at all"),
    ],
)
def test_short_titles_keep_the_year_and_drop_what_a_reader_can_miss(title, short):
    assert plots._short_title(title, width=22) == short


def test_table_shards_draws_one_block_per_device_at_its_rows():
    shards = {
        "user_embedding": {"cpu:0": (0, 153), "cpu:1": (153, 306)},
        "movie_bias": {"cpu:0": (0, 50), "cpu:1": (0, 50)},  # replicated
    }
    ax = plots.plot_table_shards(shards)
    blocks = [(round(p.get_x(), 3), round(p.get_y(), 3), round(p.get_height(), 3))
              for p in ax.patches]  # fmt: skip
    # the split table: two halves of one column; the replicated one: two whole-height copies
    assert blocks == [(-0.4, 0.0, 0.5), (-0.4, 0.5, 0.5), (0.6, 0.0, 1.0), (1.0, 0.0, 1.0)]
    assert [t.get_text() for t in ax.texts] == ["153", "153", "50", "50"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cpu:0", "cpu:1"]


@pytest.mark.parametrize(
    ("shards", "message"),
    [({}, "names no table"), ({"t": {}}, "on no device"), ({"t": {"cpu:0": (5, 3)}}, "outside")],
)
def test_table_shards_refuses_what_is_not_a_sharding(shards, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_table_shards(shards)
