"""tools/answers.py: answers leave the sandbox as data, and come back with exact types only."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import answers  # noqa: E402


def round_trip(tmp_path, **values):
    answers.export(values, list(values) + ["never_defined"], tmp_path)
    return answers.load(tmp_path)


def test_plain_values_come_back_equal_and_of_exact_types(tmp_path):
    values = {
        "n": 7, "np_int": np.int32(-3), "x": 0.25, "np_x": np.float64(1.5), "flag": True,
        "np_flag": np.bool_(False), "text": "mse", "nothing": None, "nan": float("nan"),
        "inf": -np.inf, "items": [1, 2.5, ["a", None]], "mapping": {"k": 1, "loss": "mse"},
    }  # fmt: skip
    back = round_trip(tmp_path, **values)
    assert back["n"] == 7 and type(back["n"]) is int
    assert back["np_int"] == -3 and type(back["np_int"]) is int
    assert back["x"] == 0.25 and type(back["np_x"]) is float and back["np_x"] == 1.5
    assert back["flag"] is True and back["np_flag"] is False
    assert back["text"] == "mse" and back["nothing"] is None
    assert np.isnan(back["nan"]) and back["inf"] == -np.inf
    assert back["items"] == [1, 2.5, ["a", None]] and back["mapping"] == {"k": 1, "loss": "mse"}
    assert isinstance(back["never_defined"], answers.Missing)


def test_objects_that_lie_come_back_as_the_plain_values_they_convert_to(tmp_path):
    class AlwaysEqual(float):
        def __eq__(self, other):
            return True

        __lt__ = __gt__ = __le__ = __ge__ = __eq__
        __hash__ = float.__hash__

        def __sub__(self, other):
            return 0.0

    class LyingText(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

        def __str__(self):
            return "mean_squared_error"

    back = round_trip(tmp_path, rmse=AlwaysEqual(9.0), loss=LyingText("hinge"))
    assert type(back["rmse"]) is float and back["rmse"] == 9.0 and back["rmse"] != 0.8
    assert abs(back["rmse"] - 0.8) > 8  # subtraction is a float's again
    assert type(back["loss"]) is str and back["loss"] == "hinge"  # its characters, not its __str__


def test_arrays_and_tables_round_trip(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    frame = pd.DataFrame({"title": ["A", "B"], "n_ratings": [3, 5], "score": [0.5, 1.25]},
                         index=pd.Index([10, 20], name="movieId"))  # fmt: skip
    back = round_trip(tmp_path, array=array, frame=frame, series=frame["score"],
                      objects=np.array([object()]))  # fmt: skip
    np.testing.assert_array_equal(back["array"], array)
    assert back["array"].dtype == np.float32
    pd.testing.assert_frame_equal(back["frame"], frame, check_index_type=False)
    assert list(back["series"]) == [0.5, 1.25] and back["series"].name == "score"
    assert isinstance(back["objects"], answers.Unsupported)  # object arrays would need a pickle


def test_anything_else_is_unsupported_by_name_and_fails_no_load(tmp_path):
    back = round_trip(tmp_path, function=lambda x: x, things={1: "int key"})
    assert isinstance(back["function"], answers.Unsupported)
    assert "function" in repr(back["function"])
    assert isinstance(back["things"], answers.Unsupported)


def test_a_keras_model_comes_back_in_safe_mode(tmp_path, kind_models, kind_data):
    from reco import kinds

    model = kind_models["v2"]
    back = round_trip(tmp_path, model=model)
    X = kind_data.split.X_val
    assert type(back["model"]) is type(model) and back["model"].name == "v2"
    np.testing.assert_allclose(kinds.predict(back["model"], X), kinds.predict(model, X))


def test_tampered_folders_are_refused_or_read_as_unsupported(tmp_path):
    answers.export({"a": np.arange(3)}, ["a"], tmp_path)
    target = tmp_path / "elsewhere.npz"
    os.replace(tmp_path / "a.npz", target)
    os.symlink(target, tmp_path / "a.npz")  # a link out of the folder
    assert isinstance(answers.load(tmp_path)["a"], answers.Unsupported)

    (tmp_path / "a.npz").unlink()
    np.savez(tmp_path / "a.npz", value=np.array([{"pickled": 1}], dtype=object))
    assert isinstance(answers.load(tmp_path)["a"], answers.Unsupported)  # no pickle is loaded

    manifest = {"b": {"kind": "json", "value": {"__class__": "os.system"}},
                "c": {"kind": "array", "file": "../secret.npz"}}  # fmt: skip
    (tmp_path / answers.MANIFEST).write_text(json.dumps(manifest))
    back = answers.load(tmp_path)
    assert isinstance(back["b"], answers.Unsupported) and isinstance(back["c"], answers.Unsupported)

    (tmp_path / answers.MANIFEST).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a dict"):
        answers.load(tmp_path)
