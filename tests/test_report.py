"""reco.report shows one deterministic line and records the numbers that make run collects."""

import json

import IPython.display
import numpy as np
import pandas as pd
import pytest

from reco import report


@pytest.fixture
def shown(monkeypatch):
    """Capture IPython's ``display`` calls as ``(args, kwargs)`` pairs."""
    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **kw: calls.append((a, kw)))
    return calls


def as_output(call) -> dict:
    """Turn a captured ``display(..., raw=True, metadata=...)`` into a notebook output.

    Notebooks are plain JSON (nbformat 4): the tests build them as dicts, without
    importing nbformat, whose JSON schemas take seconds to load.
    """
    (data,), kwargs = call
    return {"output_type": "display_data", "data": data, "metadata": kwargs["metadata"]}


def code_cell(*outputs) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": list(outputs),
        "source": "",
    }


def test_result_line_rounds_to_four_decimals():
    line = report.result_line("V2", {"rmse": 0.852649, "mae": 0.65991})
    assert line == "V2: test RMSE 0.8526, MAE 0.6599"


def test_show_result_displays_the_line_and_records_train_seconds_as_metadata(shown):
    history = pd.DataFrame({"loss": [1.0, 0.5]})
    history.attrs["train_seconds"] = 3.25
    report.show_result("V2", {"rmse": np.float32(0.85), "mae": 0.66}, history)

    ((args, kwargs),) = shown
    assert args[0] == {"text/plain": "V2: test RMSE 0.8500, MAE 0.6600"}
    assert kwargs["raw"] is True
    record = kwargs["metadata"][report.METADATA_KEY]
    assert record == {
        "model": "V2",
        "rmse": pytest.approx(0.85),
        "mae": 0.66,
        "train_seconds": 3.25,
    }
    json.dumps(kwargs["metadata"])  # numpy numbers became floats: nbformat can save them


def test_show_result_without_history_records_no_time(shown):
    report.show_result("V1", {"rmse": 1.2})
    record = shown[0][1]["metadata"][report.METADATA_KEY]
    assert record == {"model": "V1", "rmse": 1.2}


def test_records_shown_in_a_notebook_are_read_back_in_order(shown):
    report.show_result("V1", {"rmse": 1.18, "mae": 0.9})
    report.show_result("BPR", {"ndcg_at_10": 0.21})
    stream = {"output_type": "stream", "name": "stdout", "text": "epoch 1\n"}
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# x"},
        code_cell(stream, as_output(shown[0])),
        code_cell(as_output(shown[1])),
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    nb = json.loads(json.dumps(notebook))  # through the saved file format

    records = report.read_results(nb)
    assert records == [
        {"model": "V1", "rmse": 1.18, "mae": 0.9},
        {"model": "BPR", "ndcg_at_10": 0.21},
    ]
    table = report.results_frame([("02_v1", records[0]), ("07_eval", records[1])])
    assert list(table.columns) == list(report.RESULT_COLUMNS)
    assert table["model"].tolist() == ["V1", "BPR"]
    assert table["notebook"].tolist() == ["02_v1", "07_eval"]
    assert table.loc[0, "rmse"] == 1.18 and np.isnan(table.loc[1, "rmse"])
    assert table.loc[1, "ndcg_at_10"] == 0.21 and np.isnan(table.loc[0, "train_seconds"])


@pytest.mark.parametrize(
    ("metrics", "hint"),
    [({"ndcg": 0.2, "recall": 0.1}, "'ndcg_at_10' for 'ndcg'"), ({"hit_rate": 0.4}, "leave")],
    ids=["ranking-metrics-names", "no-column"],
)
def test_show_result_refuses_a_metric_that_results_csv_would_drop(shown, metrics, hint):
    with pytest.raises(ValueError, match="no column for") as excinfo:
        report.show_result("EASE", {"rmse": 0.9, **metrics})
    message = str(excinfo.value)
    assert all(repr(name) in message for name in metrics) and "Fix:" in message
    assert hint in message and "'ndcg_at_10'" in message
    assert shown == []  # nothing was displayed or recorded


def test_results_frame_refuses_a_record_whose_metric_has_no_column():
    with pytest.raises(ValueError, match=r"07_eval.*\['hit_rate'\].*make outputs"):
        report.results_frame([("07_eval", {"model": "EASE", "hit_rate": 0.4})])


@pytest.mark.parametrize("text", ['{"cells": [{"cell_type": "code", "outp', "[]"])
def test_a_truncated_notebook_is_named_with_the_fix(tmp_path, text):
    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    good.write_text(json.dumps({"cells": [code_cell()], "metadata": {}}), encoding="utf-8")
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the notebook") as excinfo:
        report.notebook_results([good, bad])
    message = str(excinfo.value)
    assert str(bad) in message and "make outputs NB=" in message and "git checkout" in message
    assert not isinstance(excinfo.value, json.JSONDecodeError)


def test_a_ranking_row_records_its_gap_to_popularity_with_the_interval(shown):
    gap = {"gap": 0.0107, "low": -0.003, "high": 0.025, "users": 600}
    report.show_result("V2", {"ndcg_at_10": 0.1287}, gap=gap)
    (data,), kwargs = shown[0]
    assert data["text/plain"] == (
        "V2: test NDCG_AT_10 0.1287, NDCG@10 minus popularity's +0.0107 "
        "(95% interval -0.0030 to +0.0250)"
    )
    record = kwargs["metadata"][report.METADATA_KEY]
    assert record == {
        "model": "V2",
        "ndcg_at_10": 0.1287,
        "ndcg_gap": 0.0107,
        "ndcg_gap_low": -0.003,
        "ndcg_gap_high": 0.025,
    }
    row = report.results_frame([("07_x", record)]).iloc[0]
    assert (row["ndcg_gap_low"], row["ndcg_gap_high"]) == (-0.003, 0.025)


@pytest.mark.parametrize(
    "gap, match",
    [
        ({"gap": 0.01, "low": 0.0}, "paired_bootstrap"),
        (0.01, "paired_bootstrap"),
        ({"gap": 0.03, "low": 0.0, "high": 0.02}, "does not hold"),
    ],
)
def test_a_gap_that_is_not_a_bootstrap_result_is_refused(shown, gap, match):
    with pytest.raises(ValueError, match=match):
        report.show_result("V2", {"ndcg_at_10": 0.1}, gap=gap)
    assert not shown


def test_gap_text_formats_a_gap_and_a_row_without_one():
    row = {"ndcg_gap": 0.0107, "ndcg_gap_low": -0.0027, "ndcg_gap_high": 0.0243}
    assert report.gap_text(row) == "+0.0107 [-0.0027, +0.0243]"
    assert report.gap_text({**row, "ndcg_gap": np.nan}, missing="–") == "–"


# --------------------------------------------------------------- the scale table (bench-scale)


def scale_rows() -> pd.DataFrame:
    facts = {"date": "2026-12-04T22:30:00+00:00", "machine": "AMD EPYC", "cores": 2}
    facts |= {"commit": "bf212f9+dirty", "load_start": 0.7, "load_row": 1.2}
    return pd.DataFrame(
        [
            {"section": "train", "backend": "jax", "path": "sparse", "n_ratings": 25_000_000,
             "batch": 2048, "ratings_per_s": 649_319.5, "epoch_s": 38.5, "extrapolated": True,
             **facts},
            {"section": "top10", "backend": "numpy", "path": "reco.evaluate.top_k",
             "users": 162_541, "seconds": 500.0, "peak_mb": 1_500.0, "naive_mb": 38_390.2,
             "extrapolated": False, **facts},
        ]
    )  # fmt: skip


def test_the_scale_table_round_trips_through_its_writer_and_reader(tmp_path):
    path = report.write_scale_results(scale_rows(), tmp_path / "scale.csv")
    table = report.read_scale_results(path)
    assert list(table.columns) == list(report.SCALE_COLUMNS)
    assert table["extrapolated"].tolist() == [True, False]  # bool, not the text "True"
    assert table.loc[0, "ratings_per_s"] == pytest.approx(649_319.5, rel=1e-5)
    assert table.loc[1, "commit"] == "bf212f9+dirty"
    assert np.isnan(table.loc[0, "recall_at_10"])  # a column the section does not measure
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_a_missing_scale_table_says_how_to_write_it(tmp_path):
    with pytest.raises(ValueError, match=r"no scale table at .*make bench-scale OUTPUT="):
        report.read_scale_results(tmp_path / "absent.csv")


def test_a_scale_table_with_missing_columns_is_refused_naming_them(tmp_path):
    path = tmp_path / "old.csv"
    full = scale_rows().reindex(columns=list(report.SCALE_COLUMNS))
    full.drop(columns=["machine", "commit"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no column\(s\) \['machine', 'commit'\]"):
        report.read_scale_results(path)


def test_the_scale_writer_refuses_unknown_columns_and_sections(tmp_path):
    with pytest.raises(ValueError, match="speed"):
        report.write_scale_results(scale_rows().assign(speed=1), tmp_path / "a.csv")
    with pytest.raises(ValueError, match="'gpu'"):
        report.write_scale_results(scale_rows().assign(section="gpu"), tmp_path / "b.csv")
    assert not list(tmp_path.iterdir())


def test_the_committed_scale_table_records_where_and_when_each_row_was_measured():
    table = report.read_scale_results()
    assert {"top10", "ann", "train"} <= set(table["section"])
    for col in ("date", "machine", "cores", "commit", "load_start"):
        assert table[col].notna().all(), col
    pd.to_datetime(table["date"], format="ISO8601")  # every date parses
    train = table[table["section"] == "train"]
    assert {100_000, 1_000_000, 5_000_000} <= set(train["n_ratings"])
    assert (table["ratings_per_s"].dropna() > 0).all()
    ann = table[table["section"] == "ann"]
    assert ann["recall_at_10"].between(0, 1).all()
