"""The exercise masters are well formed, and make grade sorts out bad submissions.

Fast checks only: the masters are read as text (Jupytext), and nothing here
imports otter-grader or starts a kernel. Building every exercise and grading
its student notebook (0), solution (100%) and variants (each wrong answer below
full marks, each right one full) is ``make exercises-test``'s check
(``tools/exercises.py check``), which ``make test`` runs.
"""

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
_FENCE = re.compile(r"^```otter\n(.*?)^```$", re.M | re.S)


def _tool():
    """Import ``tools/exercises.py`` once (tools/ is scripts, not a package)."""
    if "exercises_tool" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "exercises_tool", ROOT / "tools" / "exercises.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["exercises_tool"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["exercises_tool"]


def blocks(master: Path) -> list[tuple[str, object]]:
    """Return a master's otter blocks and code cells, in order.

    Each item is ``("otter", text)`` for a fenced otter block (config,
    ``# BEGIN QUESTION`` ...) or ``("code", source)`` for a code cell, the
    cells as Jupytext reads them, so a fence that Jupytext swallowed into a
    code cell is not found.
    """
    out = []
    for cell in jupytext.read(master).cells:
        if cell.cell_type == "markdown":
            out += [("otter", m.group(1)) for m in _FENCE.finditer(cell.source)]
        elif cell.cell_type == "code":
            out.append(("code", cell.source))
    return out


def questions(master: Path) -> dict[str, dict]:
    """Parse a master into ``{question name: {"solution": n cells, "public": n, "hidden": n}}``."""
    found, current, where = {}, None, None
    for kind, text in blocks(master):
        if kind == "otter":
            head = text.strip().splitlines()[0].strip().upper()
            if head == "# BEGIN QUESTION":
                current = yaml.safe_load(text)["name"]
                found[current] = {"solution": 0, "public": 0, "hidden": 0}
            elif head in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                where = head.split()[-1].lower()
            elif head in ("# END SOLUTION", "# END TESTS"):
                where = None
            elif head == "# END QUESTION":
                current = None
        elif current is not None and where == "solution":
            found[current]["solution"] += 1
        elif current is not None and where == "tests":
            hidden = text.lstrip().splitlines()[0].strip().upper() == "# HIDDEN"
            found[current]["hidden" if hidden else "public"] += 1
    return found


def config(master: Path) -> dict:
    for kind, text in blocks(master):
        if kind == "otter" and text.strip().upper().startswith("# ASSIGNMENT CONFIG"):
            return yaml.safe_load(text)
    raise AssertionError(f"{master.name} has no ASSIGNMENT CONFIG block")


def test_every_numbered_notebook_has_an_exercise_master():
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in MASTERS}, (
        "notebooks/NN_topic.md and exercises/NN_topic.md must match one to one"
    )


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_master_is_named_after_its_file(master):
    cfg = config(master)
    assert cfg["name"] == master.stem, "make grade matches submissions by this name"
    assert cfg["tests"]["ok_format"] is False, "tests are exception-based: asserts, not outputs"


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_master_has_three_questions_each_with_solution_public_and_hidden_tests(master):
    found = questions(master)
    assert len(found) >= 3, f"{master.name}: {len(found)} questions, at least 3 needed"
    for name, parts in found.items():
        assert parts["solution"] >= 1, f"{master.name} {name}: no cell in a SOLUTION block"
        assert parts["public"] >= 1, f"{master.name} {name}: no public test (the learner's hint)"
        assert parts["hidden"] >= 1, f"{master.name} {name}: no hidden test"


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_every_question_is_all_or_nothing(master):
    # A question's marks come from its value tests: with partial credit, the public type and
    # shape tests alone gave a third to two thirds of a question for a wrong value.
    for kind, text in blocks(master):
        if kind == "otter" and text.strip().upper().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(text)
            assert config.get("all_or_nothing") is True, (
                f"{master.name} {config['name']}: add 'all_or_nothing: true' to its config"
            )


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_master_fences_stand_alone(master):
    text = master.read_text(encoding="utf-8")
    fences = len(re.findall(r"^```otter$", text, re.M))
    assert fences == len([b for b in blocks(master) if b[0] == "otter"]), (
        f"{master.name}: an ```otter fence was merged into a code cell; "
        "put a blank line before and after every fence"
    )


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_master_tests_are_asserts_in_functions(master):
    in_tests = False
    for kind, text in blocks(master):
        if kind == "otter":
            head = text.strip().splitlines()[0].strip().upper()
            in_tests = head == "# BEGIN TESTS" or (in_tests and head != "# END TESTS")
        elif in_tests:
            body = "\n".join(line for line in text.splitlines() if line.strip() != "# HIDDEN")
            assert body.lstrip().startswith("def test_"), f"{master.name}: a test is not a function"
            assert "assert " in body, f"{master.name}: a test without an assert checks nothing"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_every_question_has_a_wrong_and_a_right_variant(master):
    """exercises/variants/<name>.md gives each question one of each, each with code."""
    variants = _tool().read_variants(master.stem)
    for kind in ("wrong", "right"):
        assert sorted(variants[kind]) == sorted(questions(master)), (
            f"exercises/variants/{master.stem}.md: {kind} answers for {sorted(variants[kind])}, "
            f"questions {sorted(questions(master))}"
        )


def test_variants_that_cannot_be_read_are_refused_with_the_line(tmp_path, monkeypatch):
    tool = _tool()
    monkeypatch.setattr(tool, "VARIANTS", tmp_path)
    monkeypatch.setattr(tool, "ROOT", tmp_path.parent)
    with pytest.raises(FileNotFoundError, match="every exercise brings"):
        tool.read_variants("00_none")
    cases = {
        "## q1 wrong: no dot\n": "must read",
        "```python\nx = 1\n```\n": "before the first",
        "## q1 wrong · a\n```python\nx = 1\n```\n## q1 wrong · b\n": "a second",
        "## q1 right · a\n```python\nx = 1\n": "not closed",
        "## q1 right · a\nno code\n": "no ```python block",
    }
    for text, message in cases.items():
        (tmp_path / "00_bad.md").write_text(text)
        with pytest.raises(ValueError, match=message):
            tool.read_variants("00_bad")
    (tmp_path / "00_ok.md").write_text(
        "# title\n\n## q1 wrong · a\n\n```python\nx = 1\n\ny = 2\n```\n"
        "```python\nz = 3\n```\n## q1 right · b\n```python\nx = 0\n```\n"
    )
    read = tool.read_variants("00_ok")
    assert read["wrong"]["q1"].cells == ["x = 1\n\ny = 2", "z = 3"]
    assert read["wrong"]["q1"].why == "a" and read["right"]["q1"].cells == ["x = 0"]


def test_answer_cells_are_those_before_each_check():
    cell = nbformat.v4.new_code_cell
    answer = {"tags": ["otter_answer_cell"]}
    nb = nbformat.v4.new_notebook(cells=[
        cell("import otter"), cell("x = ...", metadata=answer), cell('grader.check("q1")'),
        cell("setup = 1"), cell("y = ...", metadata=answer), cell("z = ...", metadata=answer),
        cell("grader.check('q2')"),
    ])  # fmt: skip
    assert _tool().answer_cells(nb) == {"q1": [1], "q2": [4, 5]}


def test_jupytext_pairs_notebooks_but_not_exercise_masters():
    from jupytext.config import load_jupytext_config

    cfg = load_jupytext_config(str(ROOT / "notebooks"))
    assert cfg.default_formats(str(NOTEBOOKS[0])) is not None
    assert cfg.default_formats(str(MASTERS[0])) is None, "a master would get an .ipynb twin"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_notebook_links_a_master(notebook):
    text = notebook.read_text(encoding="utf-8")
    assert not re.search(r"exercises/[0-9][0-9]_\w+\.(md|ipynb)", text), (
        f"{notebook.name} links an exercise master, which holds the solutions; point to "
        "build/exercises/<name>/student/<name>.ipynb (make exercises) instead"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_points_to_its_student_notebook(notebook):
    exercises = notebook.read_text(encoding="utf-8").split("## Exercises", 1)[-1]
    name = notebook.stem
    assert "make exercises" in exercises, f"{notebook.name}: say how to build the exercise"
    assert f"build/exercises/{name}/student/{name}.ipynb" in exercises, (
        f"{notebook.name}: its Exercises section should point to its student notebook"
    )


def test_make_test_runs_the_exercises():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\bexercises-test\b", makefile, re.M)


# --------------------------------------------------------------------------- make grade


def _notebook(path: Path, assignment_name=None):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    if assignment_name is not None:
        nb.metadata["otter"] = {"assignment_name": assignment_name}
    nbformat.write(nb, path)
    return path


def test_a_submission_is_matched_by_its_metadata_first(tmp_path):
    tool = _tool()
    names = ["01_movielens_data", "02_dot_product_v1"]
    path = _notebook(tmp_path / "02_dot_product_v1.ipynb", assignment_name="01_movielens_data")
    assert tool.match_exercise(path, names)[:2] == ("01_movielens_data", None)


def test_a_submission_without_metadata_is_matched_by_its_file_name(tmp_path):
    tool = _tool()
    names = ["01_movielens_data", "02_dot_product_v1"]
    path = _notebook(tmp_path / "ada_02_dot_product_v1.ipynb")
    assert tool.match_exercise(path, names)[:2] == ("02_dot_product_v1", None)
    name, error, _ = tool.match_exercise(_notebook(tmp_path / "homework.ipynb"), names)
    assert name is None and "cannot tell its exercise" in error


def test_ungradable_submissions_get_one_row_each_with_the_reason(tmp_path):
    tool = _tool()
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "notes.txt").write_text("answers inside")
    (folder / "cut.ipynb").write_text('{\n "cells": [\n  {"cell_type": "co')
    _notebook(folder / "other.ipynb", assignment_name="99_no_such_exercise")
    (folder / ".hidden.ipynb").write_text("ignored")
    out = tmp_path / "grades.csv"
    assert tool.grade(folder, out, timeout=5, jobs=2, unsandboxed=True) == 3  # runs no code
    import csv

    rows = {row["submission"]: row for row in csv.DictReader(out.open())}
    assert list(next(csv.reader(out.open()))) == list(tool.CSV_COLUMNS)
    assert set(rows) == {"notes.txt", "cut.ipynb", "other.ipynb"}
    assert "not a notebook" in rows["notes.txt"]["error"]
    assert "not valid JSON" in rows["cut.ipynb"]["error"]
    assert "no exercise named '99_no_such_exercise'" in rows["other.ipynb"]["error"]
    for row in rows.values():
        assert row["question"] == row["score"] == row["possible"] == ""


def test_the_time_limit_kills_a_process_and_the_session_it_started(tmp_path):
    tool = _tool()
    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"  # a kernel runs in a session of its own
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while not (marker.is_file() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(marker.read_text())
    tool._kill_tree(parent.pid)
    import psutil

    for pid in (parent.pid, child):
        try:
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet reaped
        except psutil.NoSuchProcess:
            pass
