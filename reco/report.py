"""Show a model's result in a notebook so that ``make run`` can collect it.

:func:`show_result` prints one deterministic line (what nbval compares) and
attaches the numbers, plus the training time, as output metadata. nbval does
not compare metadata, so the time can be recorded without making the notebook
non-deterministic; ``tools/run_notebooks.py`` reads it back into the results
table.
"""

from __future__ import annotations

from collections.abc import Mapping

METADATA_KEY = "reco_result"


def result_line(model_name: str, metrics: Mapping[str, float]) -> str:
    """Format test metrics as one line, at 4 decimals."""
    parts = [f"{k.upper()} {v:.4f}" for k, v in metrics.items()]
    return f"{model_name}: test " + ", ".join(parts)


def show_result(model_name: str, metrics: Mapping[str, float], history=None) -> None:
    """Display a model's test metrics and record them for ``make run``.

    Args:
        model_name: the name used in the results table, e.g. ``"V2"``.
        metrics: e.g. ``{"rmse": 0.8612, "mae": 0.6598}`` from
            :func:`reco.train.evaluate`.
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
