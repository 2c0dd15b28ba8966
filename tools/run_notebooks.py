"""Execute the course notebooks headless.

Two modes:

* ``--out build`` (``make run``): execute copies of the notebooks into
  ``build/`` (executed ``.ipynb`` and ``.html``), leave ``notebooks/``
  untouched, and print a results table collected from each notebook's
  :func:`reco.report.show_result` outputs.
* ``--in-place`` (``make outputs``): execute each notebook from its Markdown
  source (the reviewed side of the Jupytext pair) and write the ``.ipynb``
  with fresh outputs, so the committed outputs always come from a real run.

Both record the fingerprint of the machine that executed the notebook in its
metadata (``metadata["reco"]["cpu"]``, see ``tools/fingerprint.py``): nbval
compares outputs to the digit only where it matches (``tools/nbval_tolerance.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from fingerprint import machine_fingerprint  # tools/fingerprint.py, next to this file
from nbclient import NotebookClient

from reco.report import gap_text, read_results, results_frame

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _execute(nb, timeout: int, kernel_stderr=subprocess.DEVNULL):
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    client = NotebookClient(
        nb,
        timeout=timeout,
        record_timing=False,  # no wall-clock stamps in committed notebooks
        kernel_name=KERNELSPEC["name"],
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    # The kernel's own stderr (TensorFlow's C++ start-up log) is not notebook output.
    client.execute(stderr=kernel_stderr)
    seconds = time.perf_counter() - start
    # The kernel runs in this environment (same libraries, same OPENBLAS_CORETYPE...).
    nb.metadata.setdefault("reco", {})["cpu"] = machine_fingerprint()
    return seconds


def _in_place(md: Path, timeout: int) -> float:
    nb = jupytext.read(md)
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:02d}"
    seconds = _execute(nb, timeout)
    nb.metadata.pop("jupytext", None)
    nbformat.write(nb, md.with_suffix(".ipynb"))
    nb.metadata["jupytext"] = {"notebook_metadata_filter": "-all"}  # as jupytext.toml
    jupytext.write(nb, md, fmt="md")
    return seconds


def _to_build(path: Path, out: Path, timeout: int):
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    with open(out / "kernel-stderr.log", "a", encoding="utf-8") as log:
        seconds = _execute(nb, timeout, kernel_stderr=log)
    nbformat.write(nb, out / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return seconds, read_results(nb)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help="folder for executed copies and HTML")
    mode.add_argument("--in-place", action="store_true", help="refresh committed outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)

    paths = args.notebooks
    if not paths:
        print("No notebooks to run (notebooks/ has no NN_topic.ipynb yet).")
        return 0
    if args.in_place:
        for path in paths:
            md = path.with_suffix(".md")
            if not md.is_file():
                print(f"{md} does not exist: the Markdown file is the notebook's source.")
                return 1
            print(f"{md.stem:<32} {_in_place(md, args.timeout):6.1f} s", flush=True)
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    rows, timings = [], []
    for path in paths:
        seconds, results = _to_build(path.with_suffix(".ipynb"), args.out, args.timeout)
        timings.append((path.stem, seconds))
        rows += [(path.stem, r) for r in results]
        print(f"executed {path.stem:<32} {seconds:6.1f} s", flush=True)

    table = results_frame(rows)
    table.to_csv(args.out / "results.csv", index=False)
    print(f"\nExecuted notebooks and HTML are in {args.out}/; results in {args.out}/results.csv\n")
    gap = "NDCG@10 - popularity [95%]"
    shown = table.assign(**{gap: [gap_text(row) for _, row in table.iterrows()]}).rename(
        columns={
            "rmse": "test RMSE",
            "mae": "test MAE",
            "ndcg_at_10": "NDCG@10",
            "train_seconds": "training (s)",
        }
    )[["model", "test RMSE", "test MAE", "NDCG@10", gap, "training (s)", "notebook"]]
    four = "{:.4f}".format
    formats = {
        "test RMSE": four,
        "test MAE": four,
        "NDCG@10": four,
        "training (s)": "{:.1f}".format,
    }
    print(shown.to_string(index=False, na_rep="-", formatters=formats))
    total = sum(s for _, s in timings)
    print(f"\n{len(timings)} notebooks in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
