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
        "by_damping": {0.0: 0.25, 10: 0.5, (1, "a"): None}, "chosen": {"a", 3},
    }  # fmt: skip
    back = round_trip(tmp_path, **values)
    assert back["n"] == 7 and type(back["n"]) is int
    assert back["np_int"] == -3 and type(back["np_int"]) is int
    assert back["x"] == 0.25 and type(back["np_x"]) is float and back["np_x"] == 1.5
    assert back["flag"] is True and back["np_flag"] is False
    assert back["text"] == "mse" and back["nothing"] is None
    assert np.isnan(back["nan"]) and back["inf"] == -np.inf
    assert back["items"] == [1, 2.5, ["a", None]] and back["mapping"] == {"k": 1, "loss": "mse"}
    assert back["by_damping"] == {0.0: 0.25, 10: 0.5, (1, "a"): None}
    assert back["chosen"] == {"a", 3} and type(back["chosen"]) is set
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
    back = round_trip(tmp_path, things={1: [object()]}, handle=open(os.devnull))
    assert isinstance(back["things"], answers.Unsupported)
    assert isinstance(back["handle"], answers.Unsupported) and "TextIOWrapper" in repr(
        back["handle"]
    )


def test_a_function_leaves_by_name_only(tmp_path):
    def dot_by_hand(u, m, X):
        return 0

    back = round_trip(tmp_path, dot_by_hand=dot_by_hand, square=lambda x: x * x)
    assert isinstance(back["dot_by_hand"], answers.Function)
    assert back["dot_by_hand"].name == "dot_by_hand" and isinstance(
        back["square"], answers.Function
    )
    assert json.loads((tmp_path / answers.MANIFEST).read_text())["square"] == {"kind": "function"}


def test_tuples_stay_tuples_and_a_tensor_becomes_an_array(tmp_path):
    import keras

    back = round_trip(tmp_path, pair=(False, True), nested=[(1, 2)], loss=keras.ops.ones((2,)))
    assert back["pair"] == (False, True) and type(back["pair"]) is tuple
    assert back["nested"] == [(1, 2)]
    assert type(back["loss"]) is np.ndarray and back["loss"].tolist() == [1.0, 1.0]


def test_an_exception_comes_back_with_its_type_message_and_traceback_files(tmp_path):
    import traceback

    try:
        raise TypeError("Could not locate class 'X'")
    except TypeError as err:
        raised = err
    back = round_trip(tmp_path, load_error=raised, custom=answers.Unsupported("a", "b"))[
        "load_error"
    ]
    assert type(back) is TypeError and str(back) == "Could not locate class 'X'"
    files = [f.filename for f in traceback.extract_tb(back.__traceback__)]
    assert __file__ in files  # the file the original was raised in

    class Odd(Exception):
        pass

    back = round_trip(tmp_path, odd=Odd("odd"))["odd"]
    assert type(back) is Exception and str(back) == "odd"  # only built-in types are rebuilt


def test_an_encoder_comes_back_as_the_same_ids(tmp_path):
    from reco import split

    ratings = pd.DataFrame({"userId": [5, 9, 5], "movieId": [30, 10, 20], "rating": [4.0, 3, 5]})
    _, encoder = split.encode_ids(ratings)
    back = round_trip(tmp_path, encoder=encoder)["encoder"]
    assert type(back) is split.IdEncoder and (back.n_users, back.n_movies) == (2, 3)
    assert back.encode_movies([20, 30]).tolist() == encoder.encode_movies([20, 30]).tolist()


def test_a_remote_call_sends_trusted_arguments_and_reads_back_data(tmp_path):
    """Remote and call, with the sandbox's side played here by a thread."""
    import threading
    import time

    requests, results = tmp_path / "requests", tmp_path / "results"
    requests.mkdir()

    class RowWise:  # defined in a test: cloudpickle carries it by value
        def predict(self, X):
            return X[:, 1] * 2.0

    def notebook_function(model, X, scale=1):
        if scale < 0:
            raise ValueError("negative scale")
        return model.predict(X) * scale

    namespace = {"f": notebook_function}
    stop = threading.Event()

    def serve():
        served = set()
        while not stop.is_set():
            for request in requests.glob("[0-9]*.pkl"):
                if request.stem not in served:
                    served.add(request.stem)
                    answers.call(namespace, request, results / request.stem)
                    (results / request.stem / "done").touch()
            time.sleep(0.01)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        remote = answers.Remote("f", requests, results, thread.is_alive, timeout=30)
        got = remote(RowWise(), np.array([[0, 1], [0, 3]]), scale=3)
        assert type(got) is np.ndarray and got.tolist() == [6.0, 18.0]
        with pytest.raises(ValueError, match="negative scale"):
            remote(RowWise(), np.array([[0, 1]]), scale=-1)
    finally:
        stop.set()
        thread.join()
    with pytest.raises(AssertionError, match="gave no result"):
        answers.Remote("f", requests, results, thread.is_alive, timeout=30)(1)


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
