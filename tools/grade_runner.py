"""Run a student's notebook and hand its answers out as data: the untrusted half of grading.

``tools/exercises.py`` runs this file inside a sandbox (``tools/sandbox.py``),
as ``nobody``, with a scratch folder holding a copy of the notebook. It never
sees the tests, the solution or the autograder: it only

1. executes the notebook's code cells in a kernel (nbclient), each within
   ``--cell-timeout`` seconds: a cell that runs too long is interrupted and
   the next one runs, so one endless loop does not void the finished answers.
   After ``--notebook-timeout`` seconds no further cell starts. Lines that
   call otter's ``grader`` (the public checks) are not run: the tests run
   outside;
2. exports the answers the tests take (``--names``) into ``--answers`` with
   ``tools/answers.py``: values as data, functions by name;
3. writes ``--report`` (what ran, which cells failed), then serves calls of the
   notebook's functions: for each ``<n>.pkl`` the trusted process writes into
   ``--requests`` (read-only here), it calls the function in the kernel and
   writes the result into ``--results``/``<n>``, then a ``done`` marker, until
   ``--requests`` holds ``stop``.

Everything it writes is read by the trusted process as untrusted data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
#: Lines of otter's own machinery in a student notebook: the checks run outside the notebook.
OTTER_LINE = re.compile(
    r"^(\s*)(import otter\b.*|grader\s*=\s*otter\.Notebook\(.*|grader\.\w+\(.*)$"
)


def without_otter(source: str) -> str:
    """``source`` with its lines that import otter or call ``grader`` turned into ``pass``."""
    return "\n".join(
        OTTER_LINE.sub(r"\1pass  # otter's check: the grader runs the tests outside", line)
        for line in source.splitlines()
    )


def _atomic_json(path: Path, value) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)


def _errors_of(cell) -> list[str]:
    return [
        f"{out.get('ename')}: {out.get('evalue')}"[:2000]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--names", type=Path, required=True, help="JSON list of answer names")
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--cell-timeout", type=float, default=180.0)
    parser.add_argument("--notebook-timeout", type=float, default=300.0)
    parser.add_argument("--call-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    start = time.monotonic()
    names = json.loads(args.names.read_text())
    nb = nbformat.read(args.notebook, as_version=4)
    report = {"cells": 0, "errors": [], "timed_out": [], "not_run": 0, "kernel_died": False}
    client = NotebookClient(
        nb,
        timeout=int(args.cell_timeout),
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"over {args.cell_timeout:g} s"},
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(args.notebook.parent)}},
    )

    def run(cell, index: int | None, label: str) -> None:
        if index is None:  # a cell of the grader's own: appended, as nbclient writes back by index
            nb.cells.append(cell)
            index = len(nb.cells) - 1
        began = time.monotonic()
        client.execute_cell(cell, index)
        errors = _errors_of(cell)
        if errors and time.monotonic() - began >= client.timeout:  # interrupted at the limit
            report["timed_out"].append(label)
            errors = [f"CellTimeout: interrupted after {client.timeout} s (the limit per cell)"]
        report["errors"] += [f"{label}: {error}" for error in errors]

    with client.setup_kernel():
        try:
            code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            for number, (index, cell) in enumerate(code, start=1):
                if time.monotonic() - start > args.notebook_timeout:
                    report["not_run"] = len(code) - number + 1
                    break
                cell.source = without_otter(cell.source)
                run(cell, index, f"cell {number}")
                report["cells"] = number
            client.timeout = int(args.call_timeout)
            export = nbformat.v4.new_code_cell(
                "import sys as _reco_sys\n"
                f"_reco_sys.path.insert(0, {str(TOOLS)!r})\n"
                "import answers as _reco_answers\n"
                f"_reco_answers.export(globals(), {names!r}, {str(args.answers)!r})\n"
            )
            run(export, None, "exporting the answers")
        except DeadKernelError:
            report["kernel_died"] = True
        report["seconds"] = round(time.monotonic() - start, 1)
        _atomic_json(args.report, report)
        if report["kernel_died"]:
            return 1
        served: set[str] = set()
        while not (args.requests / "stop").exists():
            for request in sorted(args.requests.glob("[0-9]*.pkl"), key=lambda p: int(p.stem)):
                if request.stem in served:
                    continue
                served.add(request.stem)
                folder = args.results / request.stem
                call = nbformat.v4.new_code_cell(
                    f"_reco_answers.call(globals(), {str(request)!r}, {str(folder)!r})"
                )
                try:
                    run(call, None, f"call {request.stem}")
                except DeadKernelError:
                    return 1
                finally:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "done").touch()
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
