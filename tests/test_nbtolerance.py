"""tools/nbval_tolerance.py and tools/fingerprint.py: what another machine's outputs may change.

Synthetic cell outputs, shaped like the course's (result lines, pandas tables,
training logs, warnings). Strict mode is nbval's own comparison, character by
character after sanitize.cfg; these tests show where the tolerant mode agrees
with it and where it lets a last digit through.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _tool(name: str):
    """Import ``tools/<name>.py`` (tools/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tol = _tool("nbval_tolerance")
fingerprint = sys.modules["fingerprint"]  # nbval_tolerance imports it from tools/


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def result(text: str, html: str | None = None) -> dict:
    data = {"text/plain": text} if html is None else {"text/plain": text, "text/html": html}
    return {"output_type": "execute_result", "execution_count": 9, "metadata": {}, "data": data}


def strict_agrees(recorded: list[dict], new: list[dict]) -> bool:
    """nbval's strict comparison of outputs without sanitizing patterns: equal values."""
    return tol._flatten(recorded, str, tol.SKIP) == tol._flatten(new, str, tol.SKIP)


NEIGHBOURS = """\
      movieId                              title  similarity  n_ratings
rank
1        2028         Saving Private Ryan (1998)    0.860339        188
2        2959                  Fight Club (1999)    0.843860        218
3        3578                   Gladiator (2000)    0.831187        170
"""
SCORES = """\
                    rmse     mae  behind the best (RMSE)
V1                1.2279  0.8944                  0.3837
V2                0.8456  0.6605                  0.0015
"""
TRAINING = "epoch 50/60  loss 1005.5070\nepoch 60/60  loss 998.0835\n"
CELL = [stream(TRAINING), result(NEIGHBOURS), result(SCORES)]


def _nudge_last_digits(text: str) -> str:
    """Change every decimal number's last digit by one unit (9 down, anything else up)."""

    def nudge(m):
        token = m.group()
        return token[:-1] + ("8" if token[-1] == "9" else str(int(token[-1]) + 1))

    return re.sub(r"\d+\.\d+", nudge, text)


def _nudged(outputs):
    new = copy.deepcopy(outputs)
    for out in new:
        if "text" in out:
            out["text"] = _nudge_last_digits(out["text"])
        for key, value in out.get("data", {}).items():
            out["data"][key] = _nudge_last_digits(value)
    return new


# --------------------------------------------------------------------------- (1) last digits


@pytest.mark.parametrize(
    ("recorded", "new"),
    [  # the three cells another CPU changed (issue 16), in outputs shaped like theirs
        ("7     Usual Suspects, The (1995)   1.184484       204", "7     Usual Suspects, The (1995)   1.184485       204"),
        ("epoch 60/60  loss 998.0835", "epoch 60/60  loss 998.0834"),
        ("4    Gladiator (2000)    0.831186        170", "4    Gladiator (2000)    0.831187        170"),
        ("bias -0.0001", "bias -0.0000"),  # near zero, one unit in the last digit
        ("b   9.9996  x", "b  10.0003  x"),  # one digit wider: the column shifts
    ],
)  # fmt: skip
def test_a_last_digit_that_another_cpu_changes_passes_tolerantly_and_fails_strictly(recorded, new):
    assert tol.text_difference(recorded, new) is None
    assert not strict_agrees([stream(recorded)], [stream(new)])


def test_every_last_digit_of_a_cell_nudged_passes_tolerantly_and_fails_strictly():
    new = _nudged(CELL)
    assert new != CELL
    assert tol.outputs_difference(CELL, new) is None
    assert not strict_agrees(CELL, new)
    assert strict_agrees(CELL, copy.deepcopy(CELL))


# --------------------------------------------------------------------------- (2) regressions


@pytest.mark.parametrize("factor", [1.01, 0.99])
def test_a_test_rmse_moved_by_one_percent_fails(factor):
    line = "V2: test RMSE {:.4f}, MAE 0.6599"
    recorded, new = line.format(0.8526), line.format(0.8526 * factor)
    problem = tol.outputs_difference([result(recorded)], [result(new)])
    assert problem and "0.8526 became" in problem and "RMSE" in problem


def test_one_percent_fails_and_a_last_digit_passes_for_every_four_decimal_value_above_003():
    for value in [0.0301, 0.05, 0.1282, 0.8526, 1.1813, 3.57, 99.8864, 998.0835, 1364.2504]:
        recorded = f"{value:.4f}"
        assert tol.text_difference(recorded, f"{value * 1.01:.4f}"), value
        assert tol.text_difference(recorded, f"{value * 0.99:.4f}"), value
        assert tol.text_difference(recorded, f"{value + 0.0001:.4f}") is None, value
        assert tol.text_difference(recorded, f"{value * (1 + 5e-4):.4f}") is None, value


def test_a_number_without_decimals_is_compared_exactly():
    assert tol.text_difference("610 users", "611 users")
    assert tol.text_difference("90,752 ones", "90,753 ones")
    assert tol.text_difference("V2 finds 3 of 34", "V2 finds 4 of 34")
    assert tol.text_difference("loss 1.0", "loss 1")  # a changed format is a change


def test_the_rule_is_one_unit_in_the_last_digit_plus_a_relative_1e_3():
    assert tol.numbers_agree("0.8526", "0.8535")  # 0.0009 <= 0.0001 + 0.00085
    assert not tol.numbers_agree("0.8526", "0.8536")
    assert tol.numbers_agree("0.50", "0.5")  # the coarser of the two printed digits
    assert tol.numbers_agree("1.2e-05", "1.3e-05")  # one unit of the mantissa's last digit
    assert not tol.numbers_agree("1.2e-05", "1.4e-05")


# --------------------------------------------------------------------------- (3) titles


def test_a_changed_list_of_movie_titles_fails():
    new = NEIGHBOURS.replace("Gladiator (2000)", "Inception (2010)")
    problem = tol.outputs_difference([result(NEIGHBOURS)], [result(new)])
    assert problem and "Gladiator" in problem


def test_titles_swapped_on_a_near_tie_fail_too():
    """Titles come in the recorded order, even where their scores are within the tolerance."""
    lines = NEIGHBOURS.splitlines()
    row2, row3 = lines[3], lines[4]
    swapped = "\n".join(
        [*lines[:3], row2[:4] + row3[4:], row3[:4] + row2[4:]] + lines[5:]
    )  # ranks stay, the rest of rows 2 and 3 trade places
    assert tol.text_difference(NEIGHBOURS, swapped)
    close = NEIGHBOURS.replace("0.831187", "0.843100")  # rows 2 and 3 nearly tied
    swapped_close = swapped.replace("0.831187", "0.843100")
    assert tol.text_difference(close, swapped_close)


def test_text_other_than_numbers_and_blank_runs_is_exact():
    assert tol.text_difference("Matrix, The (1999)", "Matrix, The (1999) ")  # trailing blank
    assert tol.text_difference("Matrix, The (1999)", "Matrix, the (1999)")
    assert tol.text_difference("a  b\nc", "a  b c")  # line breaks are not blanks
    assert tol.text_difference("a  b", "a b") is None


# --------------------------------------------------------------------------- (4) warnings


def test_a_new_warning_fails():
    warning = "UserWarning: Do not pass an `input_shape` argument to a layer.\n"
    problem = tol.outputs_difference(CELL, [*CELL, stream(warning, "stderr")])
    assert problem and "stderr" in problem
    logged = [stream("loading\n", "stderr"), *CELL]
    problem = tol.outputs_difference(logged, [stream("loading\n" + warning, "stderr"), *CELL])
    assert problem and "stderr" in problem


def test_a_missing_or_extra_output_fails():
    assert tol.outputs_difference(CELL, CELL[:2])
    assert tol.outputs_difference(CELL, [*CELL, result(SCORES)])


def test_sanitize_patterns_apply_before_the_comparison():
    def sanitize(s):
        return re.sub(r"0x[0-9a-f]+", "0xADDRESS", s)

    a, b = [result("<Model at 0x7f01>")], [result("<Model at 0x9e42>")]
    assert tol.outputs_difference(a, b)
    assert tol.outputs_difference(a, b, sanitize=sanitize) is None


def test_html_tables_are_compared_like_text():
    html = "<tr>\n<th>3</th>\n<td>Gladiator (2000)</td>\n<td>0.831187</td>\n</tr>"
    assert (
        tol.outputs_difference([result("x", html)], [result("x", _nudge_last_digits(html))]) is None
    )
    changed = html.replace("Gladiator (2000)", "Alien (1979)")
    assert tol.outputs_difference([result("x", html)], [result("x", changed)])


# --------------------------------------------------------------------------- (5) fingerprints


def test_fingerprint_match_is_strict_and_a_difference_or_none_is_tolerant():
    here = fingerprint.machine_fingerprint()
    assert here["id"] == fingerprint.machine_fingerprint()["id"]  # stable
    assert not tol.tolerant_for(copy.deepcopy(here), here)
    assert tol.tolerant_for(None, here)
    assert tol.tolerant_for({}, here)
    other_cpu = {**here, "flags": [f for f in here["flags"] or [] if f != "avx2"] + ["amx_tile"]}
    assert tol.tolerant_for(other_cpu, here)
    other_blas = {**here, "blas": [{"internal_api": "openblas", "architecture": "Prescott"}]}
    assert tol.tolerant_for(other_blas, here)
    assert tol.tolerant_for({**here, "flags": None}, {**here, "flags": None})  # unknown CPU


def test_a_fingerprint_must_hash_to_its_id():
    here = fingerprint.machine_fingerprint()
    forged = {**here, "cpus": here["cpus"] + 1}  # other facts, this machine's id kept
    assert forged["id"] == here["id"]
    assert tol.tolerant_for(forged, here)


def test_openblas_coretype_changes_the_fingerprint(monkeypatch):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    before = fingerprint.machine_fingerprint()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    after = fingerprint.machine_fingerprint()
    assert after["env"]["OPENBLAS_CORETYPE"] == "Prescott" and after["id"] != before["id"]


def test_the_mode_option_overrides_the_fingerprint():
    here = fingerprint.machine_fingerprint()
    assert tol.tolerant_for(here, here, "always")
    assert not tol.tolerant_for(None, here, "never")
    with pytest.raises(ValueError, match="--nbval-tolerant"):
        tol.tolerant_for(here, here, "sometimes")


def test_kernel_flags_and_caches_are_read_from_linux_files(tmp_path):
    cpuinfo = "processor : 0\nflags : fpu sse4_2 avx2 avx512f smep\nprocessor : 1\nflags : fpu sse4_2 avx2\n"
    assert fingerprint._cpu_flags(cpuinfo) == ["avx2", "sse4_2"]  # on every CPU, kernel ones only
    assert fingerprint._cpu_flags("") is None
    index = tmp_path / "index0"
    index.mkdir()
    for name, text in {"level": "1", "type": "Data", "size": "48K"}.items():
        (index / name).write_text(text + "\n")
    assert fingerprint._caches(tmp_path) == {"L1d": "48K"}


def test_recorded_fingerprint_is_read_from_the_notebook_metadata(tmp_path):
    import json

    here = fingerprint.machine_fingerprint()
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"metadata": {"reco": {"cpu": here}}, "cells": []}))
    assert tol.recorded_fingerprint(path) == here
    path.write_text(json.dumps({"metadata": {}, "cells": []}))
    assert tol.recorded_fingerprint(path) is None
