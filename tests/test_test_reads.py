"""The run-time audit of test-part reads (reco.split.test_reads, check_test_reads)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_ratings

from reco import baselines, evaluate, split


@pytest.fixture
def three_way():
    split.reset_test_reads()
    encoded, _ = split.encode_ids(make_ratings(n_users=30, n_movies=40, density=0.5))
    yield split.train_val_test_split(encoded)
    split.reset_test_reads()


def _lines(reads):
    return [int(place.rsplit(":", 1)[1]) for place in reads["place"]]


def test_making_a_split_and_its_sizes_read_nothing(three_way):
    three_way.sizes(), split.index_sizes(three_way)
    split.course_split(split.encode_ids(make_ratings(n_users=5, n_movies=6))[0])
    assert split.test_reads().empty


def test_validation_reads_do_not_touch_the_test_part(three_way):
    popularity = baselines.PopularityBaseline().fit(three_way)
    table = evaluate.compare({"popularity": popularity}, three_way, part="val")
    assert table.loc["popularity", "ndcg"] > 0
    assert split.test_reads().empty


def test_a_part_test_default_is_seen_where_it_is_called(three_way):
    popularity = baselines.PopularityBaseline().fit(three_way)
    recs = evaluate.top_k(popularity, three_way, part="val")
    evaluate.ranking_metrics(recs, three_way)  # part="test" by default
    reads = split.test_reads()
    assert len(reads) == 1 and reads["place"][0].startswith(__file__)
    assert reads["declared"].isna().all()


def test_each_place_is_recorded_once_and_in_order(three_way):
    for _ in range(3):
        three_way.y_test  # noqa: B018 - one place, read three times
    three_way.part("test")
    lines = _lines(split.test_reads())
    assert len(lines) == 2 and lines[0] < lines[1]


def test_two_places_fail_the_check_naming_both_and_the_fix(three_way, capsys):
    three_way.X_test  # noqa: B018
    split.check_test_reads()
    assert "read in 1 place" in capsys.readouterr().out
    three_way.y_test  # noqa: B018
    with pytest.raises(RuntimeError, match="2 places") as err:
        split.check_test_reads()
    assert str(err.value).count(__file__) == 2 and 'part="val"' in str(err.value)
    split.check_test_reads(allowed=2)


def test_declared_reads_are_listed_and_do_not_count(three_way, capsys):
    three_way.X_test  # noqa: B018
    with split.declared_test_read("a closer look at the final lists"):
        three_way.part_of("test")
        evaluate.per_user_metrics(
            evaluate.top_k(baselines.PopularityBaseline().fit(three_way), three_way), three_way
        )
    split.check_test_reads()
    out = capsys.readouterr().out
    assert "read in 1 place" in out and "Declared post-hoc reads, after every choice (2)" in out
    assert list(split.test_reads()["declared"].isna()) == [True, False, False]


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_a_declaration_needs_a_reason(reason):
    with pytest.raises(ValueError, match="needs a reason"):
        with split.declared_test_read(reason):
            pass


def test_a_cell_is_named_by_the_line_that_read(monkeypatch):
    import linecache

    name = "/tmp/ipykernel_1/123.py"
    lines = ["# a comment\n", "x = 1\n", "y = split.X_test\n"]
    monkeypatch.setitem(linecache.cache, name, (0, None, lines, name))
    assert split._is_cell(name) and split._cell_place(name, 3) == "the cell with `y = split.X_test`"
    assert not split._is_cell(__file__)
    assert not split._is_cell("/venv/lib/python3.11/site-packages/ipykernel_launcher.py")


def test_a_cell_is_one_place_however_many_lines_read(three_way):
    code = "a = s.X_test\nb = s.y_test\nc = s.part('test')\n"
    name = "/tmp/ipykernel_1/456.py"
    import linecache

    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        exec(compile(code, name, "exec"), {"s": three_way})
    finally:
        del linecache.cache[name]
    assert split.test_reads()["place"].tolist() == ["the cell with `a = s.X_test`"]


def test_reads_of_other_parts_are_not_recorded(three_way):
    three_way.X_train, three_way.y_val, three_way.part("val")  # noqa: B018
    np.testing.assert_array_equal(
        three_way._rows("test"), object.__getattribute__(three_way, "X_test")
    )
    assert split.test_reads().empty


def test_a_declaration_as_a_statement_holds_from_then_on(three_way):
    three_way.X_test  # noqa: B018
    split.declared_test_read("the rest of the notebook looks closer at the final scores")
    three_way.y_test  # noqa: B018
    three_way.part("test")
    assert split.test_reads()["declared"].notna().sum() == 2
    split.check_test_reads()
