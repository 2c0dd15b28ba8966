"""The notebooks' Jupytext pairs agree, and the committed outputs come from one clean run.

nbval (``make notebooks-test``) re-executes the notebooks and compares their
outputs; these fast checks catch what nbval cannot: a ``.md`` edited without
refreshing its ``.ipynb`` (or the reverse), cells run out of order, errors or
machine-specific paths saved in outputs. Nothing here looks at file times,
which a fresh clone does not preserve.
"""

import ast
import importlib.util
import re
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TOOLS = Path(__file__).resolve().parents[1] / "tools"
MARKDOWN = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.md"))
IPYNB = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in MARKDOWN]


def cell_sources(nb) -> list[tuple[str, str]]:
    """Return each cell's type and source, with trailing blank space removed."""
    return [(c.cell_type, c.source.rstrip()) for c in nb.cells]


def first_difference(a, b) -> str | None:
    """Describe the first cell where two notebooks' sources differ, or None."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"cell {i}: {x[0]} {x[1][:60]!r} vs {y[0]} {y[1][:60]!r}"
    if len(a) != len(b):
        return f"{len(a)} cells vs {len(b)} cells"
    return None


def test_there_are_notebooks():
    assert MARKDOWN, "notebooks/ has no NN_topic.md files"


def test_every_ipynb_has_a_markdown_source():
    assert {p.stem for p in IPYNB} == {p.stem for p in MARKDOWN}


@pytest.mark.parametrize("md", MARKDOWN, ids=IDS)
def test_markdown_and_ipynb_cells_agree(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{md.name} has no paired {ipynb.name}; run make outputs NB={md}"
    diff = first_difference(
        cell_sources(jupytext.read(md)), cell_sources(nbformat.read(ipynb, as_version=4))
    )
    assert diff is None, (
        f"{md.name} and {ipynb.name} disagree at {diff}; run make sync or make outputs"
    )


def test_pairing_check_catches_an_edit():
    nb = jupytext.read(MARKDOWN[0])
    edited = cell_sources(nb)
    kind, source = edited[-1]
    edited[-1] = (kind, source + "\nprint('edited')")
    assert first_difference(cell_sources(nb), edited) is not None
    assert first_difference(cell_sources(nb), edited[:-1]) is not None


@pytest.mark.parametrize("ipynb", IPYNB, ids=[p.stem for p in IPYNB])
def test_outputs_come_from_one_clean_top_to_bottom_run(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{ipynb.name}: execution counts {counts}"
    for i, cell in enumerate(code):
        for out in cell.outputs:
            assert out.output_type != "error", f"{ipynb.name}: code cell {i} saved an error"


@pytest.mark.parametrize("ipynb", IPYNB, ids=[p.stem for p in IPYNB])
def test_outputs_hold_no_machine_specific_paths(ipynb):
    # The pre-commit hook's own check (tools/commit_guard.py), so the two cannot drift apart.
    reasons = _commit_guard().machine_path_reasons(str(ipynb))
    assert not reasons, f"{ipynb.name}: {reasons}"


def _commit_guard():
    spec = importlib.util.spec_from_file_location("commit_guard", TOOLS / "commit_guard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------ the lesson's Keras, in the notebooks

#: notebook -> (the builder its cell defines, reco's builder of the same model)
BUILDER_CELLS = {
    "02_dot_product_v1": ("build_v1", "build_v1"),
    "03_biases_and_sigmoid_v2": ("build_v2", "build_v2"),
    "04_neural_net": ("build_net", "build_net"),
}


def builder_from_notebook(stem: str, name: str):
    """Run the notebook's code cell that defines ``name`` and return the function.

    The cell must hold that one definition and nothing else, so running it alone is safe.
    """
    cells = [
        c.source
        for c in jupytext.read(NOTEBOOKS / f"{stem}.md").cells
        if c.cell_type == "code" and f"def {name}(" in c.source
    ]
    assert len(cells) == 1, f"{stem}: expected one code cell that defines {name}"
    body = ast.parse(cells[0]).body
    assert [type(node) for node in body] == [ast.FunctionDef], (
        f"{stem}: the cell that defines {name} should hold only that function"
    )
    namespace = {}
    exec("import keras\n" + cells[0], namespace)  # the course's own cell
    return namespace[name]


@pytest.mark.parametrize("stem", list(BUILDER_CELLS))
def test_the_notebooks_keras_cell_builds_the_same_model_as_reco(stem):
    import keras

    from reco import models, train

    cell_name, reco_name = BUILDER_CELLS[stem]
    from_cell = builder_from_notebook(stem, cell_name)
    train.set_seed(7)
    mine = from_cell(13, 17, n_factors=3)
    train.set_seed(7)
    theirs = getattr(models, reco_name)(n_users=13, n_movies=17, n_factors=3)
    assert mine.name == theirs.name
    assert mine.get_config() == theirs.get_config(), f"{stem}: the cell's model differs from reco's"
    for a, b in zip(mine.weights, theirs.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_the_architecture_check_catches_a_different_model():
    import keras

    from reco import models

    from_cell = builder_from_notebook("03_biases_and_sigmoid_v2", "build_v2")
    wider = from_cell(13, 17, n_factors=3, max_rating=5.5)  # another rating range
    assert wider.get_config() != models.build_v2(n_users=13, n_movies=17, n_factors=3).get_config()
    assert isinstance(wider, keras.Model)


@pytest.mark.parametrize("md", MARKDOWN, ids=IDS)
def test_notebook_follows_the_course_layout(md):
    text = md.read_text(encoding="utf-8")
    number = md.name[:2]
    assert re.search(rf"^# {number} · ", text, re.M), (
        f"{md.name}: title should be '# {number} · ...'"
    )
    for heading in ("What you will learn", "## Setup", "## Summary", "## Exercises"):
        assert heading in text, f"{md.name}: missing '{heading}'"


def code_cells(md: Path) -> list[str]:
    """Return the sources of a notebook's code cells, from its Jupytext markdown."""
    return [c.source for c in jupytext.read(md).cells if c.cell_type == "code"]


@pytest.mark.parametrize("md", MARKDOWN, ids=IDS)
def test_every_notebook_ends_by_checking_its_test_part_reads(md):
    """The run-time audit (reco.split.test_reads) sees every read; the check must run last."""
    cells = code_cells(md)
    assert cells and cells[-1].strip() == "split.check_test_reads()", (
        f"{md.name}: the last code cell must be exactly `split.check_test_reads()`, so that "
        "nbval and make run fail when the test part is read in more than one place"
    )
    text = "\n".join(cells)
    for loophole in ("reset_test_reads", "check_test_reads(allowed", "_READS", "_DECLARED"):
        assert loophole not in text, f"{md.name} uses {loophole}, which would hide test reads"


def test_the_test_read_check_catches_a_notebook_without_it(tmp_path):
    md = tmp_path / "99_x.md"
    md.write_text("# 99 · x\n\n```python\nprint(1)\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="check_test_reads"):
        test_every_notebook_ends_by_checking_its_test_part_reads(md)
