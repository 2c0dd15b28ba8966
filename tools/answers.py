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

Converting in the sandbox also disarms "objects that lie": a ``float``
subclass whose ``==`` always matches leaves as ``float(x)``, a plain number,
and is compared as one. (``float()`` of such an object calls its own
``__float__``, so the exact type of the result is checked too.)

This file is standalone (NumPy and pandas; Keras only for models), so the
sandbox can import it from a read-only bind.
"""

from __future__ import annotations

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
        return [_plain(v, depth + 1) for v in value]
    elif isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise TypeError("too long")
        if not all(type(k) is str for k in value):
            raise TypeError("a dict's keys must be str")
        return {"__dict__": [[k, _plain(v, depth + 1)] for k, v in value.items()]}
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
            if type(value) is np.ndarray:
                if value.dtype.kind not in "biufU":
                    raise TypeError(f"an array of {value.dtype} is not numbers, booleans or text")
                np.savez(folder / f"{name}.npz", value=value)
                manifest[name] = {"kind": "array", "file": f"{name}.npz"}
            elif isinstance(value, (pd.DataFrame, pd.Series)):
                frame = value.to_frame() if isinstance(value, pd.Series) else value
                table = json.loads(frame.to_json(orient="split", date_format="iso"))
                manifest[name] = {
                    "kind": "series" if isinstance(value, pd.Series) else "frame",
                    "value": _plain(table),
                    "dtypes": [str(t) for t in frame.dtypes],
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


def _is_keras_model(value) -> bool:
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


# --------------------------------------------------------------------------- in the trusted process


def _read(folder: Path, name: str, limit: int) -> bytes:
    """Read a regular file of ``folder`` (no link, no path outside it), at most ``limit`` bytes."""
    if "/" in name or name.startswith("."):
        raise ValueError(f"bad file name {name!r}")
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
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
    if type(value) is dict and set(value) == {"__float__"}:
        if value["__float__"] not in ("nan", "inf", "-inf"):
            raise ValueError("bad special float")
        return float(value["__float__"])
    if type(value) is dict and set(value) == {"__dict__"} and type(value["__dict__"]) is list:
        out = {}
        for pair in value["__dict__"]:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise ValueError("bad dict")
            out[pair[0]] = _check_plain(pair[1], depth + 1)
        return out
    raise ValueError(f"not a plain value: {type(value).__name__}")


def load(folder) -> dict:
    """Read the answers :func:`export` wrote; refuse anything but exact, plain types.

    Returns:
        name -> the value: a plain Python value, a NumPy array, a DataFrame or
        Series, a Keras model (loaded in safe mode), or :class:`Missing` /
        :class:`Unsupported`, which every test given it fails on.
    """
    import numpy as np
    import pandas as pd

    folder = Path(folder)
    sizes = sum(p.lstat().st_size for p in folder.iterdir())
    if sizes > MAX_BYTES:
        raise ValueError(f"the answers take {sizes} bytes, more than {MAX_BYTES}")
    manifest = json.loads(_read(folder, MANIFEST, 64 * 2**20))
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
                import io

                with np.load(io.BytesIO(_read(folder, entry["file"], MAX_BYTES)),
                             allow_pickle=False) as npz:  # fmt: skip
                    array = npz["value"]
                if type(array) is not np.ndarray or array.dtype.kind not in "biufU":
                    raise ValueError("not an array of numbers, booleans or text")
                out[name] = array
            elif kind in ("frame", "series"):
                table = _check_plain(entry["value"])
                if type(table) is not dict or set(table) != {"columns", "index", "data"}:
                    raise ValueError("malformed table")
                frame = pd.DataFrame(table["data"], columns=table["columns"], index=table["index"])
                dtypes = _check_plain(entry.get("dtypes"))
                for column, dtype in zip(frame.columns, dtypes or [], strict=False):
                    if type(dtype) is str and dtype in (
                        "int64",
                        "int32",
                        "float64",
                        "float32",
                        "bool",
                    ):
                        frame[column] = frame[column].astype(dtype)
                frame.index.name = _check_plain(entry.get("index_name"))
                out[name] = frame.iloc[:, 0] if kind == "series" else frame
            elif kind == "keras":
                import tempfile

                import keras

                data = _read(folder, entry["file"], MAX_BYTES)
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
