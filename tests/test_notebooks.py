"""The notebooks' Jupytext pairs agree, and the committed outputs come from one clean run.

nbval (``make notebooks-test``) re-executes the notebooks and compares their
outputs; these fast checks catch what nbval cannot: a ``.md`` edited without
refreshing its ``.ipynb`` (or the reverse), cells run out of order, errors or
machine-specific paths saved in outputs. Nothing here looks at file times,
which a fresh clone does not preserve.
"""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
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


_MACHINE_PATH = re.compile(r"(/work/|/root/|/home/|/Users/|C:\\\\)")


@pytest.mark.parametrize("ipynb", IPYNB, ids=[p.stem for p in IPYNB])
def test_outputs_hold_no_machine_specific_paths(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            assert not _MACHINE_PATH.search(text), f"{ipynb.name}: code cell {i} shows a path"


@pytest.mark.parametrize("md", MARKDOWN, ids=IDS)
def test_notebook_follows_the_course_layout(md):
    text = md.read_text(encoding="utf-8")
    number = md.name[:2]
    assert re.search(rf"^# {number} · ", text, re.M), (
        f"{md.name}: title should be '# {number} · ...'"
    )
    for heading in ("What you will learn", "## Setup", "## Summary", "## Exercises"):
        assert heading in text, f"{md.name}: missing '{heading}'"
