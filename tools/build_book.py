"""Build the course website from the committed notebooks (``make book``).

Lays out the Sphinx sources in ``build/book/src``:

* ``book/`` (``conf.py``, the landing page, the licence page) and ``README.md``,
  which the landing page includes down to a marker;
* the committed notebooks ``notebooks/NN_topic.ipynb``, with their outputs
  (myst-nb shows them as they are: ``nb_execution_mode = "off"``);
* the student exercise notebooks that ``make exercises`` built into
  ``build/exercises/<name>/student/<name>.ipynb``, if any, under ``exercises/``
  (shown, not run: their checks run only in a learner's kernel);
* in the copies of both (never in the committed files, which JupyterLab readers
  open), what a web page needs instead (:func:`for_the_site`): the local path of
  an exercise notebook becomes a link to its page, a link into ``book/`` (the
  references page) points where that page is on the site, an exercise's title
  comes before otter's set-up cell, and a cell with a wide DataFrame is tagged
  ``full-width`` (the theme widens it over the table of contents);
* ``results.md`` and ``results.csv``, generated from the results the committed
  notebooks record (:func:`reco.report.read_results`), since ``build/results.csv``
  from ``make run`` is not committed;

then runs ``sphinx-build`` into ``build/book/html``, with warnings as errors, so
that a broken internal link or a missing notebook fails the build.
"""

from __future__ import annotations

import argparse
import html.parser
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd

from reco.report import gap_text, notebook_results

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
    ("ndcg_gap", "NDCG@10 − popularity³"),
)
#: How a notebook names an exercise notebook in Markdown: its path after ``make exercises``.
EXERCISE_PATH = re.compile(r"`build/exercises/(?P<stem>\w+)/student/(?P=stem)\.ipynb`")
#: A Markdown link from ``notebooks/`` (or ``exercises/``) into ``book/``, such as
#: ``[Steck 2019](../book/references.md#steck-2019)``: ``book/`` is the root of the site.
BOOK_LINK = re.compile(r"\]\(\.\./book/(?P<target>[^)\s]+)\)")
#: The first line of the code cell that ``otter assign`` puts above everything else.
OTTER_INIT = "# Initialize Otter"
#: A DataFrame with more columns than this (the index included) gets the full width:
#: at the site's table font, about ten columns of 4-decimal numbers fill the text column.
WIDE_TABLE_COLUMNS = 10


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


def link_exercises(markdown: str, titles: dict[str, str], prefix: str) -> str:
    """Turn each exercise notebook's local path in Markdown into a link to its page.

    Args:
        markdown: a Markdown cell's source.
        titles: ``{exercise name: page title}`` of the exercises the site shows;
            a path to any other exercise is left as it is.
        prefix: where the exercise pages are, relative to the page of this cell.
    """

    def link(match: re.Match) -> str:
        stem = match["stem"]
        if stem not in titles:
            return match[0]
        return f"[{titles[stem]}]({prefix}{stem}.ipynb)"

    return EXERCISE_PATH.sub(link, markdown)


def link_book_pages(markdown: str) -> str:
    """Point Markdown links into ``../book/`` where those pages are on the site.

    A notebook links ``[Steck 2019](../book/references.md#steck-2019)``, relative to
    ``notebooks/``, so that the file opens in JupyterLab; on the site the notebooks are
    one folder below ``book/``'s pages, so the link becomes ``../references.md#...``.
    """
    return BOOK_LINK.sub(lambda m: f"](../{m['target']})", markdown)


def title_first(nb) -> None:
    """Move otter's set-up cell from the top of a notebook to below its title, in place."""
    init = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.source.startswith(OTTER_INIT)
        ),
        None,
    )
    heading = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown"
            and any(line.startswith("#") for line in c.source.splitlines())
        ),
        None,
    )
    if init is not None and heading is not None and init < heading:
        nb.cells.insert(heading, nb.cells.pop(init))


class _WidestRow(html.parser.HTMLParser):
    """The largest number of cells in a row of a DataFrame's HTML table."""

    def __init__(self):
        super().__init__()
        self.widest = self._row = 0
        self._in_dataframe = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in_dataframe = "dataframe" in (dict(attrs).get("class") or "").split()
        elif tag == "tr":
            self._row = 0
        elif tag in ("td", "th") and self._in_dataframe:
            self._row += int(dict(attrs).get("colspan") or 1)
            self.widest = max(self.widest, self._row)


def dataframe_columns(cell) -> int:
    """Return the number of columns (index included) of the widest DataFrame a cell shows."""
    widest = 0
    for output in cell.get("outputs", []):
        table = output.get("data", {}).get("text/html", "")
        if isinstance(table, list):
            table = "".join(table)
        if "dataframe" in table:
            parser = _WidestRow()
            parser.feed(table)
            widest = max(widest, parser.widest)
    return widest


def for_the_site(nb, exercise_titles: dict[str, str], exercises_prefix: str):
    """Adapt a copy of a notebook to the website, in place; return it.

    Links each exercise path to its page (:func:`link_exercises`) and each link into
    ``book/`` to its page on the site (:func:`link_book_pages`) in every Markdown cell,
    puts an exercise's title above otter's set-up cell (:func:`title_first`), and tags a
    code cell whose DataFrame has more than :data:`WIDE_TABLE_COLUMNS` columns
    ``full-width``.

    Args:
        nb: a notebook read with nbformat (version 4).
        exercise_titles: ``{exercise name: page title}`` of the exercises on the site.
        exercises_prefix: where the exercise pages are, relative to this notebook's page.
    """
    title_first(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = link_exercises(cell.source, exercise_titles, exercises_prefix)
            cell.source = link_book_pages(text)
        elif cell.cell_type == "code" and dataframe_columns(cell) > WIDE_TABLE_COLUMNS:
            tags = cell.metadata.setdefault("tags", [])
            if "full-width" not in tags:
                tags.append("full-width")
    return nb


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
        numbers = [
            gap_text(first, missing="–")
            if c == "ndcg_gap"
            else _cell(first[c], 1 if c == "train_seconds" else 4)
            for c, _ in columns
        ]
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
        "³ The row's NDCG@10 minus popularity's over the same users, with the paired",
        "bootstrap 95% interval over users (notebook 07): an interval that includes 0",
        "is a tie.",
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
    students = student_notebooks()
    titles = {path.stem: notebook_title(path) for path in students}
    for folder, paths, prefix in (
        ("notebooks", notebooks, "../exercises/"),
        ("exercises", students, ""),
    ):
        (src / folder).mkdir()
        for path in paths:
            nb = for_the_site(nbformat.read(path, as_version=4), titles, prefix)
            nbformat.write(nb, src / folder / path.name)
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
