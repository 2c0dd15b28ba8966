"""The website's sources, the CI workflow, the git hooks, the licence and citation files.

``make site-test`` runs these, then builds the site and opens it in a
browser (``book/test_browser.py``).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str):
    """Import ``tools/<name>.py`` (tools/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _tool("build_book")
check_results = _tool("check_results")
commit_guard = _tool("commit_guard")


def _results(*records) -> pd.DataFrame:
    from reco.report import results_frame

    return results_frame(records)


# --------------------------------------------------------------------------- results page


def test_results_page_has_one_row_per_model_and_numbers_with_the_notebooks_showing_them():
    v2 = {"model": "V2", "rmse": 0.852564, "mae": 0.659942, "train_seconds": 6.27}
    table = _results(
        ("03_biases", v2),
        ("06_recs", {**v2, "train_seconds": 3.6}),  # same numbers: one row, two notebooks
        ("07_eval", {"model": "popularity", "ndcg_at_10": 0.117459, "recall_at_10": 0.1}),
        ("07_eval", {"model": "V2", "ndcg_at_10": 0.128, "ndcg_gap": 0.0107,
                     "ndcg_gap_low": -0.0027, "ndcg_gap_high": 0.0243}),
    )  # fmt: skip
    page = build_book.results_page(table)
    assert page.startswith("# Results")
    row = next(line for line in page.splitlines() if line.startswith("| V2 "))
    assert row == (
        "| V2 | 0.8526 | 0.6599 | 6.3 | [03](notebooks/03_biases.ipynb), "
        "[06](notebooks/06_recs.ipynb) |"
    )
    pop = next(line for line in page.splitlines() if line.startswith("| popularity "))
    assert pop == "| popularity | 0.1175 | – | 0.1000 | – | [07](notebooks/07_eval.ipynb) |"
    ranked = [line for line in page.splitlines() if line.startswith("| V2 ")][1]
    assert ranked == (
        "| V2 | 0.1280 | – | – | +0.0107 [-0.0027, +0.0243] | [07](notebooks/07_eval.ipynb) |"
    )
    assert page.count("| V2 ") == 2 and page.count("| popularity ") == 1


def test_results_page_keeps_two_rows_when_a_model_differs_between_notebooks():
    table = _results(
        ("02_a", {"model": "V1", "rmse": 1.18}), ("06_b", {"model": "V1", "rmse": 1.2})
    )
    assert build_book.results_page(table).count("| V1 ") == 2


def test_results_page_without_results_says_so():
    assert "No notebook records a result" in build_book.results_page(_results())


def test_the_committed_notebooks_record_results_for_the_results_page():
    table = build_book.recorded_results(build_book.course_notebooks())
    assert not table.empty
    assert table["rmse"].notna().any() and table["ndcg_at_10"].notna().any()


def test_exercises_page_lists_the_student_notebooks_or_says_how_to_build_them(tmp_path):
    listed = build_book.exercises_page([tmp_path / "01_movielens_data.ipynb"])
    assert "```{toctree}" in listed and "\n01_movielens_data\n" in listed
    empty = build_book.exercises_page([])
    assert "{toctree}" not in empty and "make exercises" in empty


def test_notebook_title_is_the_first_heading(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("# 01 · Title\ntext"),
    ]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert build_book.notebook_title(path) == "01 · Title"


# --------------------------------------------------------------------------- the site's notebook copies

#: The references page's anchors that the notebooks cite (issue 17), one entry each.
REFERENCE_ANCHORS = (
    "rendle-2020",
    "steck-2019",
    "liang-2018",
    "cremonesi-2010",
    "krichene-2020",
    "rendle-2009",
    "hu-2008",
    "harper-2015",
    "koren-2009",
    "efron-1993",
    "howard-2020",
    "banerjee-2020",
    "rendle-2019",
    "meng-2020",
    "ji-2023",
    "wang-2021",
    "malkov-2018",
)


def _md(source: str):
    return nbformat.v4.new_markdown_cell(source)


def _code(source: str, html: str | None = None):
    cell = nbformat.v4.new_code_cell(source)
    if html is not None:
        cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": html})]
    return cell


def test_an_exercise_path_becomes_a_link_to_its_page():
    text = "run `make exercises`, open `build/exercises/07_eval/student/07_eval.ipynb`, and run"
    titles = {"07_eval": "Exercise 07 · Eval"}
    assert build_book.link_exercises(text, titles, "../exercises/") == (
        "run `make exercises`, open [Exercise 07 · Eval](../exercises/07_eval.ipynb), and run"
    )
    assert build_book.link_exercises(text, {}, "../exercises/") == text  # not on the site
    mixed = "`build/exercises/07_eval/student/08_other.ipynb`"
    assert build_book.link_exercises(mixed, {**titles, "08_other": "x"}, "") == mixed


def test_a_link_into_book_points_to_the_page_at_the_site_root():
    text = "as [Steck 2019](../book/references.md#steck-2019) shows ([licence](../book/about.md))"
    assert build_book.link_book_pages(text) == (
        "as [Steck 2019](../references.md#steck-2019) shows ([licence](../about.md))"
    )
    elsewhere = "[a](https://example.org/book/references.md) and [b](../notebooks/02_x.ipynb)"
    assert build_book.link_book_pages(elsewhere) == elsewhere


def test_the_site_copy_of_an_exercise_has_its_title_above_otters_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _code('# Initialize Otter\nimport otter\ngrader = otter.Notebook("07_eval.ipynb")'),
        _md("# Exercise 07 · Eval\n"),
        _md("See `build/exercises/07_eval/student/07_eval.ipynb`."),
        _code('path = "`build/exercises/07_eval/student/07_eval.ipynb`"'),
    ]
    build_book.for_the_site(nb, {"07_eval": "Exercise 07 · Eval"}, "")
    firsts = [c.source.splitlines()[0] for c in nb.cells]
    assert firsts[:2] == ["# Exercise 07 · Eval", "# Initialize Otter"]
    assert nb.cells[2].source == "See [Exercise 07 · Eval](07_eval.ipynb)."
    assert "build/exercises" in nb.cells[3].source  # code is never rewritten


def test_a_cell_with_a_wide_dataframe_is_tagged_full_width():
    wide = pd.DataFrame([[0.1] * 12], columns=[f"metric_{i}" for i in range(12)])
    header = pd.MultiIndex.from_product([["V2", "popularity"], ["ndcg", "recall"]])
    two_rows = pd.DataFrame([[0.1] * 4], columns=header)
    assert build_book.dataframe_columns(_code("wide", wide.to_html())) == 13  # index + 12
    assert build_book.dataframe_columns(_code("two", two_rows.to_html())) == 5
    assert build_book.dataframe_columns(_code("text", "<table><tr><td>1</td></tr></table>")) == 0
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code("wide", wide.to_html()), _code("narrow", wide.iloc[:, :3].to_html())]
    build_book.for_the_site(nb, {}, "")
    assert nb.cells[0].metadata["tags"] == ["full-width"]
    assert "tags" not in nb.cells[1].metadata


def test_every_notebook_links_its_exercise_in_the_form_the_site_rewrites():
    """The site links ``build/exercises/<name>/student/<name>.ipynb`` (in backticks) only."""
    names = {p.stem: "the exercise" for p in (ROOT / "exercises").glob("[0-9][0-9]_*.md")}
    for path in build_book.course_notebooks():
        nb = build_book.for_the_site(nbformat.read(path, as_version=4), names, "../exercises/")
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "build/exercises/" not in text, f"{path.name} names an exercise in another form"
        if path.stem in names:
            assert f"](../exercises/{path.stem}.ipynb)" in text, f"{path.name} links no exercise"


def test_the_references_page_has_an_entry_with_a_link_for_every_anchor():
    text = (ROOT / "book" / "references.md").read_text(encoding="utf-8")
    entries = {}
    for entry in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = entry.partition("\n")
        entries[title.strip().lower().replace(" ", "-")] = body.split("\n#")[0]
    assert set(REFERENCE_ANCHORS) <= set(entries), set(REFERENCE_ANCHORS) - set(entries)
    for anchor, body in entries.items():
        links = re.findall(r"<(https://[^>\s]+)>", body)
        assert links, f"#{anchor} has no link"
        doi_or_arxiv = [
            u for u in links if u.startswith(("https://doi.org/10.", "https://arxiv.org/abs/"))
        ]
        assert doi_or_arxiv or anchor in ("howard-2020", "banerjee-2020"), f"#{anchor}: {links}"


@pytest.mark.parametrize(
    ("page", "marker"),
    [
        ("index.md", "<!-- The course website's landing page"),
        ("about.md", "<!-- licence: start -->"),
        ("about.md", "<!-- licence: end -->"),
    ],
)
def test_readme_has_the_markers_the_site_pages_include_it_by(page, marker):
    assert marker in (ROOT / "book" / page).read_text(encoding="utf-8")
    assert (ROOT / "README.md").read_text(encoding="utf-8").count(marker) == 1


def test_the_site_never_executes_notebooks():
    conf = (ROOT / "book" / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'^nb_execution_mode = "off"$', conf, re.M)


# --------------------------------------------------------------------------- check_results


def test_check_results_accepts_the_committed_results_and_last_digit_changes():
    committed = _results(("02_x", {"model": "V1", "rmse": 1.181336, "mae": 0.865141}))
    nudged = _results(("02_x", {"model": "V1", "rmse": 1.181401, "mae": 0.865100}))
    assert check_results.differences(committed, committed, rtol=0, atol=0) == []
    assert check_results.differences(nudged, committed, rtol=0.02, atol=0.002) == []


def test_check_results_reports_changes_beyond_the_tolerance_and_missing_rows():
    committed = _results(
        ("02_x", {"model": "V1", "rmse": 1.18}), ("03_y", {"model": "V2", "rmse": 0.85})
    )
    run = _results(("02_x", {"model": "V1", "rmse": 1.25}), ("08_z", {"model": "EASE", "rmse": 1}))
    problems = check_results.differences(run, committed, rtol=0.02, atol=0.002)
    assert any(p.startswith("02_x V1 rmse: 1.250000, committed 1.180000") for p in problems)
    assert "03_y V2: not in the run" in problems
    assert "08_z EASE: not in the committed notebooks" in problems


def test_check_results_never_compares_training_time():
    committed = _results(("02_x", {"model": "V1", "rmse": 1.18, "train_seconds": 3.0}))
    run = _results(("02_x", {"model": "V1", "rmse": 1.18, "train_seconds": 30.0}))
    assert check_results.differences(run, committed, rtol=0, atol=0) == []


# --------------------------------------------------------------------------- nbval tolerance


def test_notebooks_test_loads_the_tolerance_plugin_and_ci_lets_the_fingerprint_decide():
    """tests/test_nbtolerance.py checks the comparison itself; here, that it is used."""
    recipes = _recipes((ROOT / "Makefile").read_text(encoding="utf-8"))
    assert "-p nbval_tolerance --nbval-tolerant $(NBVAL_MODE)" in recipes["notebooks-test"]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text("utf-8"))
    assert "NBVAL_TOLERANT" not in workflow["jobs"]["test"]["env"]  # the fingerprint decides
    assert "NBVAL_TOLERANT" not in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- make test


def _recipes(makefile: str) -> dict[str, str]:
    """``{target: its recipe lines}`` of a Makefile (a second rule only adds prerequisites)."""
    recipes, target = {}, None
    for line in makefile.splitlines():
        if line.startswith("\t") and target:
            recipes[target] = recipes.get(target, "") + line + "\n"
        elif m := re.match(r"^([a-z-]+):(?!=)", line):
            target = m.group(1)
        elif line.strip():
            target = None
    return recipes


def test_make_test_runs_every_test_file_once():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (listed,) = re.findall(r"^COURSE_TESTS\s*:=\s*(.+)$", makefile, re.M)
    course_tests = listed.split()
    recipes = _recipes(makefile)
    test_targets = set()
    for prerequisites in re.findall(r"^test:([^=#\n]*)", makefile, re.M):
        test_targets |= set(prerequisites.split())
    assert {
        "unit",
        "backends-test",
        "notebooks-test",
        "exercises-test",
        "site-test",
    } <= test_targets
    # make unit runs tests/ without the course's files, each run by a target of make test.
    assert "$(addprefix --ignore=,$(COURSE_TESTS))" in recipes["unit"]
    files = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py")}
    (jax_listed,) = re.findall(r"^JAX_TESTS\s*:=\s*(.+)$", makefile, re.M)
    assert "$(addprefix --ignore=,$(JAX_TESTS))" in recipes["unit"]
    assert "$(JAX_TESTS)" in recipes["backends-test"].replace("--ignore=,$(JAX_TESTS)", "")
    assert set(course_tests) | set(jax_listed.split()) <= files
    for path in course_tests:
        runs = [t for t in test_targets - {"unit"} if path in recipes.get(t, "")]
        assert len(runs) == 1, f"{path} is run by {runs}: it must be run by one target of make test"


# --------------------------------------------------------------------------- the workflow


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))


def test_workflow_runs_on_push_pull_request_and_weekly():
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "schedule"} <= set(triggers)
    (cron,) = [entry["cron"] for entry in triggers["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert day == month == "*" and weekday != "*", f"{cron!r} is not weekly"


def test_workflow_runs_the_make_targets_and_uploads_build():
    steps = _workflow()["jobs"]["test"]["steps"]
    runs = [s.get("run", "").strip() for s in steps]
    assert runs.index("make lint") < runs.index("make test") < runs.index("make run")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"] == {
        "python-version": "3.11",
        "cache": "pip",
        "cache-dependency-path": "pyproject.toml",
    }
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert (
        "archive_hash" in " ".join(runs) and "steps.movielens.outputs.hash" in cache["with"]["key"]
    )
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].splitlines()[0] == "build/"


def test_workflow_deploys_the_site_from_main_only_after_the_tests():
    deploy = _workflow()["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][-1]["uses"].startswith("actions/deploy-pages@")


# --------------------------------------------------------------------------- git hooks


def test_pre_commit_hooks_are_local_and_run_the_projects_venv():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert all(h["language"] == "system" and h["entry"].startswith(".venv/bin/") for h in hooks)
    by_id = {h["id"]: h for h in hooks}
    assert by_id["ruff-format"]["types"] == ["python"]  # never reformat the .ipynb pairs
    assert by_id["jupytext-sync"]["entry"].endswith("jupytext --sync")


@pytest.mark.parametrize(
    "path",
    [
        "ratings.csv",
        "data/ml-latest-small/movies.csv",
        "somewhere/tags.csv",
        "LINKS.csv",
        "ml-latest-small.zip",
        "downloads/ml-1m.zip",
        "data/ml-100k/u.data",
    ],
)
def test_commit_guard_refuses_movielens_data(path):
    assert commit_guard.data_file_reason(path)


@pytest.mark.parametrize("path", ["reco/data.py", "tests/test_data.py", "book/results.md", "a.zip"])
def test_commit_guard_lets_code_through(path):
    assert commit_guard.data_file_reason(path) is None


@pytest.mark.parametrize(
    "text", ["saved to /tmp/tmpab12/model.keras", "/home/ana/data", "C:\\Users\\ana\\x"]
)
def test_commit_guard_refuses_machine_paths_in_notebook_outputs(tmp_path, text):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(path)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
    nb.cells = [cell]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert commit_guard.main([str(path)]) == 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="saved to model.keras\n")]
    nbformat.write(nb, path)
    assert commit_guard.main([str(path)]) == 0


def test_commit_guard_passes_the_committed_notebooks():
    paths = [str(p) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert paths and commit_guard.main(paths) == 0


# --------------------------------------------------------------------------- licence, citation


def test_licence_and_citation_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff) and cff["authors"]
    assert cff["license"] == "MIT" and cff["version"] == project["version"]
    movielens = cff["references"][0]
    assert movielens["doi"] == "10.1145/2827872"


def test_readme_says_what_the_licence_covers_and_how_to_contribute():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Contributing" in readme and "make hooks" in readme
    assert "[LICENSE](LICENSE)" in readme and "[CITATION.cff](CITATION.cff)" in readme
    assert "never redistributed" in readme


def test_commit_guard_refuses_a_notebook_it_cannot_read_with_a_reason(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json", encoding="utf-8")
    assert commit_guard.machine_path_reasons(str(path))[0].startswith("cannot be read")
