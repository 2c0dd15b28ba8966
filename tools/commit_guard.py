"""Refuse files that must never be committed (a pre-commit hook: ``make hooks``).

* MovieLens data: ``ratings.csv``, ``movies.csv``, ``tags.csv``, ``links.csv``,
  an ``ml-*.zip`` archive, or anything inside an ``ml-*/`` data set folder.
  GroupLens's terms allow redistribution only under their conditions; the course
  downloads the data instead (``reco.data``). ``.gitignore`` lists these names
  too, but ``git add -f`` gets past it, and this does not.
* Notebook outputs that show a machine's paths (``/work/``, ``/home/``,
  ``/root/``, ``/tmp/``, ``/Users/``, ``C:\\``): they leak a user name and
  make nbval's comparison machine-specific.

    python tools/commit_guard.py FILE...    (exit 1 and say why, if any is refused)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import PurePosixPath

DATA_FILES = {"ratings.csv", "movies.csv", "tags.csv", "links.csv"}
_DATA_ARCHIVE = re.compile(r"^ml-[\w.-]*\.zip$", re.IGNORECASE)
_DATA_FOLDER = re.compile(r"^ml-(latest|latest-small|\d+[km])$", re.IGNORECASE)
MACHINE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|\b[A-Za-z]:\\\w)")


def data_file_reason(path: str) -> str | None:
    """Return why ``path`` looks like MovieLens data, or None."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    name = parts[-1]
    if name.lower() in DATA_FILES:
        return f"{name} is a MovieLens data file"
    if _DATA_ARCHIVE.match(name):
        return f"{name} is a MovieLens archive"
    folder = next((p for p in parts[:-1] if _DATA_FOLDER.match(p)), None)
    if folder:
        return f"it is inside the MovieLens data set folder {folder}/"
    return None


def _output_texts(nb: dict):
    """Yield (code cell number, text) for every text an output of a notebook shows."""
    code = (c for c in nb.get("cells", []) if c.get("cell_type") == "code")
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")]
            texts += [v for k, v in out.get("data", {}).items() if not k.startswith("image/")]
            texts += out.get("traceback", [])
            for text in texts:
                yield i, "".join(text) if isinstance(text, list) else str(text)


def machine_path_reasons(path: str) -> list[str]:
    """Return where a notebook's outputs show a machine path (empty if nowhere)."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError) as err:
        return [f"cannot be read as a notebook ({err})"]
    found = []
    for i, text in _output_texts(nb):
        match = MACHINE_PATH.search(text)
        if match:
            line = next(ln for ln in text.splitlines() if match.group(0) in ln)
            found.append(f"code cell {i} shows a machine path: {line.strip()[:100]!r}")
    return found


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    refused = []
    for path in paths:
        reason = data_file_reason(path)
        if reason:
            refused.append(f"{path}: {reason}; the course downloads the data, never commits it")
        if path.endswith(".ipynb"):
            refused += [f"{path}: {r}" for r in machine_path_reasons(path)]
    if refused:
        print("Refused:\n" + "\n".join(f"  {r}" for r in refused))
        print(
            "Unstage data files (git restore --staged FILE). For a notebook, make the path "
            "relative or print something else, then run make outputs NB=notebooks/NN_topic.md."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
