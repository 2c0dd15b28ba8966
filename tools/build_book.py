"""Build the course website from the committed notebooks (``make book``).

Lays out the Sphinx sources in ``build/book/src``:

* ``book/`` (``conf.py``, the landing page, the licence page) and ``README.md``,
  which the landing page includes down to a marker;
* the committed notebooks ``notebooks/NN_topic.ipynb``, with their outputs
  (myst-nb shows them as they are: ``nb_execution_mode = "off"``);
* the student exercise notebooks that ``make exercises`` built into
  ``build/exercises/<name>/student/<name>.ipynb``, if any, under ``exercises/``
  (shown, not run: their checks run only in a learner's kernel);
* ``results.md`` and ``results.csv``, generated from the results the committed
  notebooks record (:func:`reco.report.read_results`), since ``build/results.csv``
  from ``make run`` is not committed;

then runs ``sphinx-build`` into ``build/book/html``, with warnings as errors, so
that a broken internal link or a missing notebook fails the build.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd

from reco.report import notebook_results

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = ROOT / "build" / "exercises"
OUT = ROOT / "build" / "book"

#: Columns of the results page's two tables: (column of results_frame, heading).
RATING_COLUMNS = (("rmse", "test RMSE"), ("mae", "test MAE"), ("train_seconds", "training (s)²"))
LIST_COLUMNS = (
    ("ndcg_at_10", "NDCG@10"),
    ("precision_at_10", "precision@10"),
    ("recall_at_10", "recall@10"),
)


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Return the numbered notebooks ``NN_topic.ipynb`` of a folder, in course order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def student_notebooks(folder: Path = EXERCISES) -> list[Path]:
    """Return the student notebooks that ``make exercises`` built, in course order."""
    return sorted(folder.glob("*/student/*.ipynb"))


def notebook_title(path: Path) -> str:
    """Return the text of a notebook's first Markdown heading, or its file stem."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def recorded_results(notebooks: list[Path]) -> pd.DataFrame:
    """Return the results the notebooks record in their outputs, as ``make run`` lays them out.

    Args:
        notebooks: executed notebooks (the committed ``.ipynb`` files).

    Returns:
        one row per :func:`reco.report.show_result` call, columns
        :data:`reco.report.RESULT_COLUMNS`.
    """
    return notebook_results(notebooks)


def _cell(value, digits: int) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def _table(results: pd.DataFrame, columns, link) -> list[str]:
    """One row per model and set of numbers; a model that several notebooks show alike is one row."""
    keys = [c for c, _ in columns if c != "train_seconds"]
    shown = results.dropna(subset=keys[:1])
    lines = [
        "| model | " + " | ".join(h for _, h in columns) + " | notebooks |",
        "|---|" + "---:|" * len(columns) + "---|",
    ]
    for _, group in shown.groupby(["model", *keys], sort=False, dropna=False):
        first = group.iloc[0]
        numbers = [_cell(first[c], 1 if c == "train_seconds" else 4) for c, _ in columns]
        where = ", ".join(link(stem) for stem in dict.fromkeys(group["notebook"]))
        lines.append(f"| {first['model']} | " + " | ".join(numbers) + f" | {where} |")
    return lines


def results_page(results: pd.DataFrame, prefix: str = "notebooks/") -> str:
    """Return the website's results page (MyST Markdown) for the recorded results.

    Args:
        results: the frame from :func:`recorded_results`.
        prefix: where the notebooks' pages are, relative to the results page.
    """

    def link(stem: str) -> str:
        return f"[{stem[:2]}]({prefix}{stem}.ipynb)"

    if results.empty:
        return "# Results\n\nNo notebook records a result yet.\n"
    lines = [
        "# Results",
        "",
        "Every number a notebook reports with `reco.report.show_result`, on the test",
        "part of the course split, collected from the committed notebooks when this",
        "site was built (`make run` collects the same records into",
        "`build/results.csv` when it re-executes them). A model that several",
        "notebooks train the same way has one row, with the notebooks that show it.",
        "Download them all: {download}`results.csv <results.csv>`.",
        "",
        "## Predicting ratings",
        "",
        "Error of the predicted rating, in stars (lower is better).",
        "",
        *_table(results, RATING_COLUMNS, link),
        "",
        "## Ranking movies",
        "",
        "Quality of each user's top-10 list¹ (higher is better).",
        "",
        *_table(results, LIST_COLUMNS, link),
        "",
        "¹ Relevant: the test movies a user rated 4 stars or more; lists leave out",
        "the movies the user rated in training. Notebook 07 explains the protocol.",
        "",
        "² Training time in the run that made the committed outputs, on a 2-core",
        "CPU; it varies from run to run, the other numbers do not.",
        "",
    ]
    return "\n".join(lines)


def exercises_page(students: list[Path]) -> str:
    """Return the exercises' index page (MyST Markdown) for the staged student notebooks."""
    lines = [
        "# Exercises",
        "",
        "Each exercise notebook goes with the course notebook of the same number.",
        "Download one (the button at the top of its page), open it next to the",
        'course in JupyterLab (`make lab`), and run `grader.check("q1")` under a',
        "question to check your answer: a failing check says what to look at.",
        "The pages show the notebooks as handed out, without running them.",
        "",
    ]
    if not students:
        lines += [
            "No exercise notebook was built with this site: `make exercises` builds",
            "them into `build/exercises/`, and `make book` shows them here.",
            "",
        ]
    else:
        lines += ["```{toctree}", ":maxdepth: 1", ""]
        lines += [p.stem for p in students]
        lines += ["```", ""]
    return "\n".join(lines)


def stage(src: Path) -> dict[str, int]:
    """Lay out the Sphinx sources in ``src`` (emptied first); return what went in."""
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for name in ("README.md", "LICENSE", "CITATION.cff"):  # README's links reach the other two
        shutil.copy2(ROOT / name, src / name)

    notebooks = course_notebooks()
    (src / "notebooks").mkdir()
    for path in notebooks:
        shutil.copy2(path, src / "notebooks" / path.name)

    students = student_notebooks()
    (src / "exercises").mkdir()
    for path in students:
        shutil.copy2(path, src / "exercises" / path.name)
    (src / "exercises" / "index.md").write_text(
        exercises_page([src / "exercises" / p.name for p in students]), encoding="utf-8"
    )

    results = recorded_results(notebooks)
    results.to_csv(src / "results.csv", index=False)
    (src / "results.md").write_text(results_page(results), encoding="utf-8")
    return {"notebooks": len(notebooks), "exercises": len(students), "results": len(results)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for src/ and html/")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    counts = stage(args.out / "src")
    if not counts["notebooks"]:
        print("No notebooks found in notebooks/: nothing to build.")
        return 1
    html = args.out / "html"
    # -E: read every page again, so that no page keeps a stale sidebar (the list of
    # notebooks and exercises is on every page); a full build takes seconds.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-q", "-W", "--keep-going"]
    cmd += ["-d", str(args.out / "doctrees"), str(args.out / "src"), str(html)]
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        return done.returncode
    print(
        f"Built the website in {time.perf_counter() - start:.1f} s: {counts['notebooks']} "
        f"notebooks, {counts['exercises']} exercise notebooks, {counts['results']} results. "
        f"Open {html / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
