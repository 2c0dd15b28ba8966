"""reco.report shows one deterministic line and records the numbers for make run."""

import importlib.util
from pathlib import Path

import IPython.display
import nbformat
import pandas as pd
import pytest

from reco import report

ROOT = Path(__file__).resolve().parents[1]


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools/run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_result_line_rounds_to_four_decimals():
    line = report.result_line("V2", {"rmse": 0.852649, "mae": 0.65991})
    assert line == "V2: test RMSE 0.8526, MAE 0.6599"


@pytest.fixture
def shown(monkeypatch):
    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_show_result_displays_the_line_and_records_train_seconds_as_metadata(shown):
    history = pd.DataFrame({"loss": [1.0, 0.5]})
    history.attrs["train_seconds"] = 3.25
    report.show_result("V2", {"rmse": 0.85, "mae": 0.66}, history)

    ((args, kwargs),) = shown
    assert args[0] == {"text/plain": "V2: test RMSE 0.8500, MAE 0.6600"}
    assert kwargs["raw"] is True
    record = kwargs["metadata"][report.METADATA_KEY]
    assert record == {"model": "V2", "rmse": 0.85, "mae": 0.66, "train_seconds": 3.25}


def test_show_result_without_history_records_no_time(shown):
    report.show_result("V1", {"rmse": 1.2})
    record = shown[0][1]["metadata"][report.METADATA_KEY]
    assert "train_seconds" not in record and record["rmse"] == 1.2


def test_run_notebooks_collects_recorded_results_in_order():
    runner = _runner()
    assert runner.METADATA_KEY == report.METADATA_KEY
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell("")
    first.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1\n"),
        nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "V1: ..."},
            metadata={report.METADATA_KEY: {"model": "V1", "rmse": 1.18}},
        ),
    ]
    second = nbformat.v4.new_code_cell("")
    second.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "V2: ..."},
            metadata={report.METADATA_KEY: {"model": "V2", "rmse": 0.85}},
        )
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# x"), first, second]
    assert [r["model"] for r in runner._results(nb)] == ["V1", "V2"]
