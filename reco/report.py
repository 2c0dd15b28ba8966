"""Show a model's result in a notebook so that ``make run`` can collect it.

:func:`show_result` prints one deterministic line (what nbval compares) and
attaches the numbers, plus the training time, as output metadata. nbval does
not compare metadata, so the time can be recorded without making the notebook
non-deterministic; ``tools/run_notebooks.py`` reads it back into the results
table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

METADATA_KEY = "reco_result"

#: Columns of ``build/results.csv`` (``make run``): one row per model per notebook,
#: final test-part numbers only; a column a notebook did not compute stays empty.
RESULT_COLUMNS = (
    "model",
    "notebook",
    "rmse",
    "mae",
    "ndcg_at_10",
    "precision_at_10",
    "recall_at_10",
    "train_seconds",
)


def result_line(model_name: str, metrics: Mapping[str, float]) -> str:
    """Format test metrics as one line, at 4 decimals."""
    parts = [f"{k.upper()} {v:.4f}" for k, v in metrics.items()]
    return f"{model_name}: test " + ", ".join(parts)


def show_result(model_name: str, metrics: Mapping[str, float], history=None) -> None:
    """Display a model's test metrics and record them for ``make run``.

    Args:
        model_name: the name used in the results table, e.g. ``"V2"``.
        metrics: e.g. ``{"rmse": 0.8612, "mae": 0.6598}`` from
            :func:`reco.train.evaluate`, and/or ranking metrics named as in
            :data:`RESULT_COLUMNS` (``"ndcg_at_10"``, ...).
        history: the DataFrame from :func:`reco.train.fit`; its
            ``attrs["train_seconds"]``, if present, is recorded (not printed).
    """
    from IPython.display import display

    seconds = None
    if history is not None:
        seconds = history.attrs.get("train_seconds")
    record = {"model": model_name, **{k: float(v) for k, v in metrics.items()}}
    if seconds is not None:
        record["train_seconds"] = float(seconds)
    display(
        {"text/plain": result_line(model_name, metrics)},
        raw=True,
        metadata={METADATA_KEY: record},
    )


def read_results(nb) -> list[dict]:
    """Return the records that :func:`show_result` attached to a notebook's outputs, in order.

    Args:
        nb: an executed notebook (``nbformat`` node or dict).
    """
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get(METADATA_KEY)
            if record:
                found.append(dict(record))
    return found


def notebook_results(paths) -> pd.DataFrame:
    """Return the results recorded in executed notebooks, one row per record, in file order.

    Args:
        paths: ``.ipynb`` files; each row's ``notebook`` is the file's stem.
    """
    rows = []
    for path in map(Path, paths):
        nb = json.loads(path.read_text(encoding="utf-8"))
        rows += [(path.stem, record) for record in read_results(nb)]
    return results_frame(rows)


def results_frame(rows) -> pd.DataFrame:
    """Arrange ``(notebook stem, record)`` pairs as the table of ``build/results.csv``.

    Args:
        rows: pairs of a notebook's file stem and one record from :func:`read_results`.

    Returns:
        a DataFrame with exactly :data:`RESULT_COLUMNS`, NaN where a record has no value.
    """
    records = [{**record, "notebook": stem} for stem, record in rows]
    return pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))
