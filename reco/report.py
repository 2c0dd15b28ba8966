"""Show a model's result in a notebook so that ``make run`` can collect it.

:func:`show_result` prints one deterministic line (what nbval compares) and
attaches the numbers, plus the training time, as output metadata. nbval does
not compare metadata, so the time can be recorded without making the notebook
non-deterministic; ``tools/run_notebooks.py`` reads it back into the results
table.

:func:`read_scale_results` reads the table that ``make bench-scale`` writes
(``tools/bench_scale.py --output``): speeds and memory at ml-25m's size, each row
with the machine, the date and the commit it was measured on. The committed copy,
``reco/scale_results.csv``, is what notebook 10 shows: its timings cannot be
re-measured deterministically, so they are read, not run.
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
    "ndcg_gap",
    "ndcg_gap_low",
    "ndcg_gap_high",
    "train_seconds",
)

#: The columns :func:`show_result` fills from ``gap=``: a ranking row's NDCG@10 minus
#: popularity's, averaged over the same users, and its paired bootstrap 95% interval
#: (:func:`reco.evaluate.paired_bootstrap`).
GAP_COLUMNS = {"gap": "ndcg_gap", "low": "ndcg_gap_low", "high": "ndcg_gap_high"}

#: The metric names :func:`show_result` records: the columns of ``build/results.csv``
#: that hold a metric.
METRIC_COLUMNS = tuple(
    c
    for c in RESULT_COLUMNS
    if c not in ("model", "notebook", "train_seconds", *GAP_COLUMNS.values())
)

# reco.evaluate.ranking_metrics's names that have a results column, at k = 10
_RANKING_NAMES = {"ndcg": "ndcg_at_10", "precision": "precision_at_10", "recall": "recall_at_10"}


def _check_metric_names(names, where: str, fix: str) -> None:
    """Raise ``ValueError`` if a name has no column in ``build/results.csv`` (it would vanish)."""
    unknown = [name for name in names if name not in METRIC_COLUMNS]
    if not unknown:
        return
    renames = [f"{_RANKING_NAMES[n]!r} for {n!r}" for n in unknown if n in _RANKING_NAMES]
    hint = f" (name ranking_metrics's top-10 numbers {', '.join(renames)})" if renames else ""
    raise ValueError(
        f"{where} has metric(s) {unknown} that build/results.csv has no column for, so they "
        f"would be dropped; its metric columns are {list(METRIC_COLUMNS)}. Fix: {fix}{hint}."
    )


def result_line(model_name: str, metrics: Mapping[str, float], gap=None) -> str:
    """Format test metrics as one line, at 4 decimals, with the gap to popularity if given."""
    parts = [f"{k.upper()} {v:.4f}" for k, v in metrics.items()]
    if gap is not None:
        parts.append(
            f"NDCG@10 minus popularity's {gap['gap']:+.4f} "
            f"(95% interval {gap['low']:+.4f} to {gap['high']:+.4f})"
        )
    return f"{model_name}: test " + ", ".join(parts)


def gap_text(row, missing: str = "-") -> str:
    """Format a results row's NDCG@10 gap to popularity and its interval, ``+g [+l, +h]``.

    Args:
        row: a mapping with the :data:`GAP_COLUMNS` columns (a row of ``build/results.csv``).
        missing: what a row without a gap (popularity, a rating-only row) shows.
    """
    gap, low, high = (row[column] for column in GAP_COLUMNS.values())
    return missing if pd.isna(gap) else f"{gap:+.4f} [{low:+.4f}, {high:+.4f}]"


def _gap_record(gap) -> dict[str, float]:
    """Check ``gap`` (from paired_bootstrap) and return it under the results columns' names."""
    if not isinstance(gap, Mapping) or any(k not in gap for k in GAP_COLUMNS):
        raise ValueError(
            f"gap must be the dict that reco.evaluate.paired_bootstrap returns, with keys "
            f"{list(GAP_COLUMNS)}; got {gap!r}. Fix: pass gap=evaluate.paired_bootstrap("
            "model's per-user NDCG, popularity's per-user NDCG)."
        )
    values = {column: float(gap[key]) for key, column in GAP_COLUMNS.items()}
    if not values["ndcg_gap_low"] <= values["ndcg_gap"] <= values["ndcg_gap_high"]:
        raise ValueError(f"gap's interval does not hold its gap: {gap!r}.")
    return values


def show_result(model_name: str, metrics: Mapping[str, float], history=None, *, gap=None) -> None:
    """Display a model's test metrics and record them for ``make run``.

    Args:
        model_name: the name used in the results table, e.g. ``"V2"``.
        metrics: e.g. ``{"rmse": 0.8612, "mae": 0.6598}`` from
            :func:`reco.train.rating_metrics`, and/or ranking metrics named as in
            :data:`METRIC_COLUMNS` (``"ndcg_at_10"``, ...).
        history: the DataFrame from :func:`reco.train.fit`; its
            ``attrs["train_seconds"]``, if present, is recorded (not printed).
        gap: for a ranking row, its NDCG@10 minus popularity's over the same
            users with a paired bootstrap interval, the dict of
            :func:`reco.evaluate.paired_bootstrap` (keys ``gap``, ``low``,
            ``high``); printed, and recorded in the ``ndcg_gap*`` columns.

    Raises:
        ValueError: a metric name is not one of :data:`METRIC_COLUMNS`, such as
            ``"ndcg"`` from :func:`reco.evaluate.ranking_metrics` (it would be
            missing from ``build/results.csv``).
    """
    from IPython.display import display

    _check_metric_names(
        metrics, f"show_result({model_name!r}, ...)", "rename them or leave them out"
    )

    seconds = None
    if history is not None:
        seconds = history.attrs.get("train_seconds")
    record = {"model": model_name, **{k: float(v) for k, v in metrics.items()}}
    if gap is not None:
        record.update(_gap_record(gap))
    if seconds is not None:
        record["train_seconds"] = float(seconds)
    display(
        {"text/plain": result_line(model_name, metrics, gap)},
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

    Raises:
        ValueError: a file is not a notebook (truncated, not JSON), naming it and the fix.
    """
    rows = []
    for path in map(Path, paths):
        rows += [(path.stem, record) for record in read_results(_read_notebook(path))]
    return results_frame(rows)


def _read_notebook(path: Path) -> dict:
    """Parse an ``.ipynb`` file, or raise ``ValueError`` naming it and how to restore it."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        problem = f"it is not valid JSON ({err})"
    else:
        if isinstance(nb, dict) and isinstance(nb.get("cells"), list):
            return nb
        problem = "it is JSON but not a notebook (no list of cells)"
    raise ValueError(
        f"cannot read the notebook {path}: {problem}; it may be truncated or half-saved. "
        f"Fix: re-run it with `make outputs NB={path.with_suffix('.md')}`, or restore the "
        f"committed copy with `git checkout -- {path}`."
    )


def results_frame(rows) -> pd.DataFrame:
    """Arrange ``(notebook stem, record)`` pairs as the table of ``build/results.csv``.

    Args:
        rows: pairs of a notebook's file stem and one record from :func:`read_results`.

    Returns:
        a DataFrame with exactly :data:`RESULT_COLUMNS`, NaN where a record has no value.

    Raises:
        ValueError: a record holds a metric with no column (it would be dropped).
    """
    rows = list(rows)
    for stem, record in rows:
        names = [k for k in record if k not in ("model", "train_seconds", *GAP_COLUMNS.values())]
        _check_metric_names(
            names,
            f"notebook {stem}'s record of {record.get('model')!r}",
            "rename them in its show_result call and re-run it "
            f"(`make outputs NB=notebooks/{stem}.md`)",
        )
    records = [{**record, "notebook": stem} for stem, record in rows]
    return pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))


#: The committed table of ``make bench-scale OUTPUT=reco/scale_results.csv`` (notebook 10).
SCALE_RESULTS = Path(__file__).with_name("scale_results.csv")

#: Columns of the scale table, one row per measurement; a column a section does not
#: measure stays empty. ``section`` is ``train`` (ratings/s at ml-25m's tables),
#: ``small`` (V2 on ml-latest-small), ``top10`` (every user's top 10) or ``ann``
#: (exact and approximate retrieval); the last six say where and when it was measured.
SCALE_COLUMNS = (
    "section",
    "backend",
    "path",
    "n_ratings",
    "batch",
    "ratings_per_s",
    "epoch_s",
    "extrapolated",
    "steps_timed",
    "test_rmse",
    "users",
    "seconds",
    "peak_mb",
    "traced_mb",
    "naive_mb",
    "queries_per_s",
    "recall_at_10",
    "build_s",
    "params",
    "factors",
    "date",
    "machine",
    "cores",
    "commit",
    "load_start",
    "load_row",
)

#: The sections of the scale table, in the order ``tools/bench_scale.py`` runs them.
SCALE_SECTIONS = ("top10", "ann", "train", "small")

_SCALE_FIX = (
    "Fix: run `make bench-scale OUTPUT=reco/scale_results.csv` (tools/bench_scale.py "
    "--output PATH) to write it, or pass the path of a table it wrote."
)


def read_scale_results(path=None) -> pd.DataFrame:
    """Read the table of speeds and memory at ml-25m's size that ``make bench-scale`` wrote.

    Args:
        path: the CSV file; default :data:`SCALE_RESULTS` (``reco/scale_results.csv``).

    Returns:
        one row per measurement with the columns :data:`SCALE_COLUMNS`, in that
        order; ``extrapolated`` is bool, ``date`` a string (ISO 8601, UTC).

    Raises:
        ValueError: the file is missing, lacks some of the columns, or has a
            section not in :data:`SCALE_SECTIONS`.
    """
    path = Path(path) if path is not None else SCALE_RESULTS
    if not path.is_file():
        raise ValueError(f"no scale table at {path}. {_SCALE_FIX}")
    text = {c: str for c in ("section", "backend", "path", "params", "factors", "date")}
    table = pd.read_csv(path, dtype={**text, "machine": str, "commit": str})
    check_scale_table(table, path)
    table["extrapolated"] = table["extrapolated"].astype(str).str.lower().eq("true")
    return table.loc[:, list(SCALE_COLUMNS)]


def check_scale_table(table: pd.DataFrame, path="given") -> None:
    """Raise ``ValueError`` unless ``table`` has every scale column and only known sections."""
    missing = [col for col in SCALE_COLUMNS if col not in table.columns]
    if missing:
        raise ValueError(
            f"the scale table {path} has no column(s) {missing}; it has "
            f"{list(table.columns)}. It was not written by this version of "
            f"tools/bench_scale.py. {_SCALE_FIX}"
        )
    unknown = sorted(set(table["section"].astype(str)) - set(SCALE_SECTIONS))
    if unknown:
        raise ValueError(
            f"the scale table {path} has section(s) {unknown}; the known ones are "
            f"{list(SCALE_SECTIONS)}. {_SCALE_FIX}"
        )


def write_scale_results(table: pd.DataFrame, path=None) -> Path:
    """Write ``table`` as CSV at ``path`` atomically: a temporary file, then ``os.replace``.

    A reader never sees half a table. Columns of :data:`SCALE_COLUMNS` that
    ``table`` lacks are written empty.

    Returns:
        the path written (default :data:`SCALE_RESULTS`).

    Raises:
        ValueError: a column not in :data:`SCALE_COLUMNS`, or an unknown section.
    """
    from reco.tuning import _write_csv  # the course's one atomic CSV writer

    path = Path(path) if path is not None else SCALE_RESULTS
    extra = [col for col in table.columns if col not in SCALE_COLUMNS]
    if extra:
        raise ValueError(
            f"the scale table for {path} has column(s) {extra} that reco.report.SCALE_COLUMNS "
            "lacks; they would be lost. Fix: add them to SCALE_COLUMNS, or drop them."
        )
    table = table.reindex(columns=list(SCALE_COLUMNS))  # a section's unmeasured columns: empty
    check_scale_table(table, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_csv(table, path, index=False)
