"""Answers as data: what leaves a grading sandbox, and what the trusted grader accepts.

A student's notebook runs in a sandbox (``tools/sandbox.py``). The hidden tests
must not run there: student code could patch them. So the answers leave the
sandbox as *data*, and the tests run in a trusted process on what it reads
back. This module holds both halves:

* :func:`export` runs in the student's kernel, after their notebook: it writes
  each named answer into a folder as plain JSON, a NumPy ``.npz`` (no
  pickles), a DataFrame or Series as JSON, or a Keras ``.keras`` file. A value
  of any other type is recorded as unsupported, by its type's name only.
* :func:`load` runs in the trusted process: it reads the folder back and
  accepts nothing but exact types (``type(x) is float``, never a subclass),
  NumPy arrays of numbers, booleans or text, and ``.keras`` files loaded in
  Keras's safe mode. A file that is a link, too large, or malformed is refused.

Three kinds of answer are not values. An **exception** (05 q3's loading error)
leaves as its type, message and the files its traceback went through, and
comes back as a real exception raised through frames of those file names. A
**function** (02 q4's ``dot_by_hand``) leaves as its name only: the trusted
process calls it through :class:`Remote`, which sends the arguments into the
sandbox (:func:`call` runs there) and reads the result back as data. A
course ``IdEncoder`` leaves as its two lists of ids.

Converting in the sandbox also disarms "objects that lie": a ``float``
subclass whose ``==`` always matches leaves as ``float(x)``, a plain number,
and is compared as one. (``float()`` of such an object calls its own
``__float__``, so the exact type of the result is checked too.)

This file is standalone (NumPy and pandas; Keras only for models), so the
sandbox can import it from a read-only bind.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

MANIFEST = "manifest.json"
#: The most a folder of answers may hold, in bytes (a course model is a few MB).
MAX_BYTES = 200 * 2**20
#: Nesting and length limits of a JSON answer.
MAX_DEPTH, MAX_ITEMS = 8, 100_000


class Unsupported:
    """An answer that could not leave the sandbox as data; a test given it fails."""

    def __init__(self, type_name: str, reason: str):
        self.type_name, self.reason = type_name, reason

    def __repr__(self) -> str:
        return f"<unsupported answer of type {self.type_name}: {self.reason}>"


class Missing:
    """A name the notebook never defined."""

    def __repr__(self) -> str:
        return "<not defined>"


# --------------------------------------------------------------------------- in the sandbox


def _plain(value, depth: int = 0):
    """Return ``value`` as plain JSON types (exact bool, int, float, str, None, list, dict)."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise TypeError("nested too deeply")
    if value is None or type(value) is bool:
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        out = int(value)
    elif isinstance(value, (float, np.floating)):
        out = float(value)
        if not math.isfinite(out):
            return {"__float__": repr(out)}  # nan, inf, -inf: JSON has none
    elif isinstance(value, str):
        out = str.__str__(value)  # the characters, not what a subclass's __str__ says
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise TypeError("too long")
        items = [_plain(v, depth + 1) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    elif isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise TypeError("too long")
        return {
            "__dict__": [[_plain(k, depth + 1), _plain(v, depth + 1)] for k, v in value.items()]
        }
    elif isinstance(value, (set, frozenset)):
        if len(value) > MAX_ITEMS:
            raise TypeError("too long")
        return {"__set__": [_plain(v, depth + 1) for v in value]}
    else:
        raise TypeError(f"{type(value).__name__} is not a number, text or a list of them")
    if type(out) not in (int, float, str):
        raise TypeError("its conversion did not give a plain value")
    return out


def export(namespace: dict, names, folder) -> dict:
    """Write the answers ``names`` of ``namespace`` into ``folder``; return the manifest."""
    import numpy as np
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in names:
        if name not in namespace:
            manifest[name] = {"kind": "missing"}
            continue
        value = namespace[name]
        type_name = type(value).__name__
        try:
            if _is_tensor(value):  # a backend tensor (a loss written with keras.ops)
                import keras

                value = np.asarray(keras.ops.convert_to_numpy(value))
            if isinstance(value, BaseException):
                manifest[name] = _exception_entry(value)
            elif _is_function(value):
                manifest[name] = {"kind": "function"}
            elif type(value).__name__ == "IdEncoder" and type(value).__module__ == "reco.split":
                manifest[name] = {
                    "kind": "encoder",
                    "users": _plain(value.users.classes_.tolist()),
                    "movies": _plain(value.movies.classes_.tolist()),
                }
            elif type(value) is np.ndarray:
                if value.dtype.kind not in "biufU":
                    raise TypeError(f"an array of {value.dtype} is not numbers, booleans or text")
                np.savez(folder / f"{name}.npz", value=value)
                manifest[name] = {"kind": "array", "file": f"{name}.npz"}
            elif isinstance(value, (pd.DataFrame, pd.Series)):
                frame = value.to_frame() if isinstance(value, pd.Series) else value
                arrays = {f"c{i}": _column(frame.iloc[:, i]) for i in range(frame.shape[1])}
                arrays["index"] = _column(frame.index)
                np.savez(folder / f"{name}.npz", **arrays)
                manifest[name] = {
                    "kind": "series" if isinstance(value, pd.Series) else "frame",
                    "file": f"{name}.npz",
                    "columns": _plain(list(frame.columns)),
                    "index_name": _plain(frame.index.name),
                }
            elif _is_keras_model(value):
                value.save(folder / f"{name}.keras")
                manifest[name] = {"kind": "keras", "file": f"{name}.keras"}
            else:
                manifest[name] = {"kind": "json", "value": _plain(value)}
        except Exception as err:  # an answer that cannot leave is an answer that fails
            manifest[name] = {"kind": "unsupported", "type": type_name, "reason": str(err)[:300]}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return manifest


def _column(values):
    """A column or index as an array of numbers, booleans, dates or text (no objects)."""
    import numpy as np
    import pandas as pd

    array = np.asarray(values)
    if array.dtype.kind == "O":
        if not all(type(v) is str for v in array):
            raise TypeError("a column of objects other than text")
        array = array.astype(str)
    elif isinstance(values.dtype, pd.CategoricalDtype):
        array = np.asarray(values.astype(str))
    if array.dtype.kind not in "biufUM":
        raise TypeError(f"a column of {array.dtype} is not numbers, booleans, dates or text")
    return array


def _arrays(folder: Path, file: str) -> dict:
    """The arrays of an ``.npz`` answer: numbers, booleans, dates or text only, no pickles."""
    import io

    import numpy as np

    with np.load(io.BytesIO(read_regular(folder, file, MAX_BYTES)), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for array in arrays.values():
        if type(array) is not np.ndarray or array.dtype.kind not in "biufUM":
            raise ValueError("not an array of numbers, booleans, dates or text")
    return arrays


def _is_keras_model(value) -> bool:
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


def _is_tensor(value) -> bool:
    import sys

    import numpy as np

    keras = sys.modules.get("keras")
    return keras is not None and not isinstance(value, np.ndarray) and keras.ops.is_tensor(value)


def _is_function(value) -> bool:
    import functools
    import inspect

    return (
        inspect.isfunction(value) or inspect.ismethod(value) or isinstance(value, functools.partial)
    )


def _exception_entry(error: BaseException) -> dict:
    import traceback

    kind = type(error)
    frames = traceback.extract_tb(error.__traceback__)[-50:]
    return {
        "kind": "exception",
        "type": str(kind.__module__) + "." + str(kind.__qualname__),
        "message": str.__str__(str(error))[:2000],
        "files": [str.__str__(str(f.filename))[:300] for f in frames],
    }


def call(namespace: dict, request, folder) -> None:
    """Call a function of the notebook on a trusted request; write its result as data (sandbox side).

    ``request`` is a pickle that :class:`Remote` wrote: ``(name, args, kwargs)``.
    The result, or the exception raised, is written into ``folder`` by
    :func:`export` as the answer ``result`` (or ``raised``).
    """
    import pickle

    with open(request, "rb") as f:
        name, args, kwargs = pickle.load(f)
    try:
        value = namespace[name](*args, **kwargs)
    except Exception as err:
        export({"raised": err}, ["raised"], folder)
    else:
        export({"result": value}, ["result"], folder)


# --------------------------------------------------------------------------- in the trusted process


def read_regular(folder: Path, name: str, limit: int) -> bytes:
    """Read a regular file of ``folder`` (no link, no path outside it), at most ``limit`` bytes.

    Also used by ``tools/exercises.py`` for the runner's report: everything the
    sandbox wrote is read this way.
    """
    import stat

    if "/" in name or name.startswith("."):
        raise ValueError(f"bad file name {name!r}")
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO: no wait
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{name} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{name} is larger than {limit} bytes")
    return data


def _check_plain(value, depth: int = 0):
    """Rebuild a JSON answer with exact types only; raise on anything else."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_check_plain(v, depth + 1) for v in value]
    if type(value) is dict and set(value) == {"__tuple__"} and type(value["__tuple__"]) is list:
        return tuple(_check_plain(v, depth + 1) for v in value["__tuple__"])
    if type(value) is dict and set(value) == {"__float__"}:
        if value["__float__"] not in ("nan", "inf", "-inf"):
            raise ValueError("bad special float")
        return float(value["__float__"])
    if type(value) is dict and set(value) == {"__dict__"} and type(value["__dict__"]) is list:
        out = {}
        for pair in value["__dict__"]:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("bad dict")
            key = _check_plain(pair[0], depth + 1)
            if not _hashable(key):
                raise ValueError("bad dict key")
            out[key] = _check_plain(pair[1], depth + 1)
        return out
    if type(value) is dict and set(value) == {"__set__"} and type(value["__set__"]) is list:
        items = [_check_plain(v, depth + 1) for v in value["__set__"]]
        if not all(_hashable(v) for v in items):
            raise ValueError("bad set item")
        return set(items)
    raise ValueError(f"not a plain value: {type(value).__name__}")


def _hashable(value) -> bool:
    """A plain key: a number, text, bool, None, or a tuple of them (what came back from JSON)."""
    if type(value) is tuple:
        return all(_hashable(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def load(folder) -> dict:
    """Read the answers :func:`export` wrote; refuse anything but exact, plain types.

    Returns:
        name -> the value: a plain Python value, a NumPy array, a DataFrame or
        Series, a Keras model (loaded in safe mode), or :class:`Missing` /
        :class:`Unsupported`, which every test given it fails on.
    """
    import pandas as pd

    folder = Path(folder)
    sizes = sum(p.lstat().st_size for p in folder.iterdir())
    if sizes > MAX_BYTES:
        raise ValueError(f"the answers take {sizes} bytes, more than {MAX_BYTES}")
    manifest = json.loads(read_regular(folder, MANIFEST, 64 * 2**20))
    if type(manifest) is not dict:
        raise ValueError("the manifest is not a dict")
    out = {}
    for name, entry in manifest.items():
        if type(name) is not str or type(entry) is not dict or type(entry.get("kind")) is not str:
            raise ValueError("malformed manifest")
        kind = entry["kind"]
        try:
            if kind == "missing":
                out[name] = Missing()
            elif kind == "unsupported":
                out[name] = Unsupported(
                    str(entry.get("type"))[:100], str(entry.get("reason"))[:300]
                )
            elif kind == "json":
                out[name] = _check_plain(entry["value"])
            elif kind == "array":
                arrays = _arrays(folder, entry["file"])
                if set(arrays) != {"value"}:
                    raise ValueError("malformed array")
                out[name] = arrays["value"]
            elif kind in ("frame", "series"):
                arrays = _arrays(folder, entry["file"])
                columns = _check_plain(entry.get("columns"))
                if type(columns) is not list or set(arrays) != {"index"} | {
                    f"c{i}" for i in range(len(columns))
                }:
                    raise ValueError("malformed table")
                frame = pd.DataFrame(
                    {i: arrays[f"c{i}"] for i in range(len(columns))},
                    index=pd.Index(arrays["index"], name=_check_plain(entry.get("index_name"))),
                )
                frame.columns = columns
                out[name] = frame.iloc[:, 0] if kind == "series" else frame
            elif kind == "exception":
                out[name] = _rebuilt_exception(entry)
            elif kind == "function":
                out[name] = Function(name)
            elif kind == "encoder":
                out[name] = _rebuilt_encoder(entry)
            elif kind == "keras":
                import tempfile

                import keras

                import reco.models  # noqa: F401  (registers the course's layers, losses, metrics)

                data = read_regular(folder, entry["file"], MAX_BYTES)
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "model.keras"
                    path.write_bytes(data)
                    out[name] = keras.models.load_model(path, safe_mode=True)
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except Exception as err:
            out[name] = Unsupported(
                kind, f"could not be read back: {type(err).__name__}: {err}"[:300]
            )
    return out


class Function:
    """A function the notebook defined: it stays in the sandbox, where :class:`Remote` calls it."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<function {self.name} of the notebook>"


def _rebuilt_exception(entry: dict) -> BaseException:
    """Rebuild an exported exception: its type (built-in ones), message and traceback's files.

    The traceback is real: the exception is raised through one frame per file
    name, so ``traceback.extract_tb(err.__traceback__)`` lists those files.
    """
    import builtins

    type_name, message, files = entry.get("type"), entry.get("message"), entry.get("files")
    if type(type_name) is not str or type(message) is not str or type(files) is not list:
        raise ValueError("malformed exception")
    if any(type(f) is not str for f in files) or len(files) > 50:
        raise ValueError("malformed traceback")
    module, _, qualname = type_name.rpartition(".")
    kind = getattr(builtins, qualname, None) if module == "builtins" else None
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = Exception
    error = kind(message)

    def innermost():
        raise error

    call = innermost
    for filename in reversed(files):
        frame: dict = {"inner": call}
        exec(compile("def frame():\n    inner()\n", filename, "exec"), frame)
        call = frame["frame"]
    try:
        call()
    except Exception as raised:
        return raised
    raise AssertionError("unreachable")


def _rebuilt_encoder(entry: dict):
    import numpy as np
    from sklearn.preprocessing import LabelEncoder

    from reco.split import IdEncoder

    encoders = []
    for part in ("users", "movies"):
        ids = _check_plain(entry.get(part))
        if type(ids) is not list or any(type(i) not in (int, str) for i in ids):
            raise ValueError("malformed encoder")
        encoder = LabelEncoder()
        encoder.classes_ = np.asarray(ids)
        encoders.append(encoder)
    return IdEncoder(*encoders)


# --------------------------------------------------------------------------- calling a function


def _rebuild_model(cls, config, build_config, weights):
    """Rebuild a Keras model from its class, config and weights (in the sandbox)."""
    model = cls.from_config(config)
    if build_config:
        model.build_from_config(build_config)
    model.set_weights(weights)
    return model


def dumps_call(name: str, args: tuple, kwargs: dict) -> bytes:
    """Pickle a call for :func:`call` (trusted side; the sandbox only ever unpickles it).

    cloudpickle carries functions and classes defined in a test by value;
    Keras models travel as class, config and weights, which also carries a
    model of a class Keras could not load (05's unregistered
    ``BatchSummingRecommenderNet``).
    """
    import io
    import sys

    import cloudpickle

    keras = sys.modules.get("keras")

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, obj):
            if keras is not None and isinstance(obj, keras.Model):
                state = (type(obj), obj.get_config(), obj.get_build_config(), obj.get_weights())
                return _rebuild_model, state
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    Pickler(buffer).dump((name, tuple(args), dict(kwargs)))
    return buffer.getvalue()


class Remote:
    """Call a notebook's function where it lives: in the sandbox, through two folders.

    A call writes ``requests/<n>.pkl`` (a folder only the trusted process can
    write, read-only in the sandbox) and waits until the sandbox has written
    ``results/<n>/`` (read back by :func:`load`, exact types only) and its
    ``done`` marker. A raised exception is raised again here, rebuilt.
    """

    def __init__(self, name: str, requests: Path, results: Path, alive, timeout: float):
        self.name, self.requests, self.results = name, Path(requests), Path(results)
        self.alive, self.timeout = alive, timeout

    def __repr__(self) -> str:
        return f"<function {self.name} of the notebook, called in its sandbox>"

    def __call__(self, *args, **kwargs):
        import time

        number = next(_CALLS)
        request = self.requests / f"{number}.pkl"
        partial = self.requests / f".{number}.pkl.tmp"
        partial.write_bytes(dumps_call(self.name, args, kwargs))
        os.chmod(partial, 0o644)
        os.replace(partial, request)
        folder = self.results / str(number)
        deadline = time.monotonic() + self.timeout
        for _ in itertools.count():
            done = folder / "done"
            if not folder.is_symlink() and done.is_file() and not done.is_symlink():
                break
            if not self.alive() or time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}(...) gave no result within {self.timeout:g} s "
                    "(an endless loop, or the notebook's sandbox has ended)"
                )
            time.sleep(0.05)
        back = load(folder)
        if isinstance(back.get("raised"), BaseException):
            raise back["raised"]
        if "raised" in back:
            raise AssertionError(f"{self.name}(...) raised {back['raised']!r}")
        result = back.get("result")
        if isinstance(result, (Missing, Unsupported, Function)):
            raise AssertionError(f"{self.name}(...) returned {result!r}")
        return result


_CALLS = itertools.count()
