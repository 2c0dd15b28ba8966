"""Compare the results of a run with the committed notebooks' results, with a tolerance.

``make run`` writes ``build/results.csv``; the committed notebooks record the
same results, unrounded, in their outputs' metadata (:func:`reco.report.read_results`),
which nbval does not compare. On the kind of machine that made the committed
outputs the two are identical. On another CPU (a CI runner) trained numbers can
differ in their last digits, so every metric of every model in every notebook
must be within ``atol + rtol * |committed|`` of the committed value: by default
the relative 1e-3 that nbval allows printed numbers there
(tools/nbval_tolerance.py), plus 1e-6 for values near 0. Training times are not
compared.

    python tools/check_results.py build/results.csv [--rtol 1e-3] [--atol 1e-6]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from reco.report import RESULT_COLUMNS, notebook_results

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ is scripts, not a package
from nbval_tolerance import RTOL  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METRICS = [c for c in RESULT_COLUMNS if c not in ("model", "notebook", "train_seconds")]


def committed_results(folder: Path = ROOT / "notebooks") -> pd.DataFrame:
    """Return the results recorded in the committed notebooks ``NN_topic.ipynb``."""
    return notebook_results(sorted(folder.glob("[0-9][0-9]_*.ipynb")))


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["nth"] = frame.groupby(["notebook", "model"]).cumcount()
    return frame.set_index(["notebook", "model", "nth"])


def differences(run: pd.DataFrame, committed: pd.DataFrame, rtol: float, atol: float) -> list[str]:
    """Describe every result of ``run`` that is missing, extra or off by more than the tolerance.

    Rows are matched by notebook, model and the order in which a notebook shows
    them (a notebook may show one model twice).

    Returns:
        one line per problem; empty when the run agrees with the committed results.
    """

    a, b = _keyed(run), _keyed(committed)
    problems = [f"{k[0]} {k[1]}: not in the run" for k in b.index.difference(a.index)]
    problems += [
        f"{k[0]} {k[1]}: not in the committed notebooks" for k in a.index.difference(b.index)
    ]
    for key in b.index.intersection(a.index, sort=False):
        for metric in METRICS:
            got, want = a.at[key, metric], b.at[key, metric]
            if pd.isna(got) and pd.isna(want):
                continue
            if (
                pd.isna(got)
                or pd.isna(want)
                or not math.isclose(got, want, rel_tol=rtol, abs_tol=atol)
            ):
                problems.append(f"{key[0]} {key[1]} {metric}: {got:.6f}, committed {want:.6f}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.csv written by make run")
    parser.add_argument("--rtol", type=float, default=RTOL, help="relative tolerance")
    parser.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance")
    args = parser.parse_args(argv)

    if not args.results.is_file():
        print(f"{args.results} does not exist: run make run first.")
        return 1
    run = pd.read_csv(args.results)
    committed = committed_results()
    problems = differences(run, committed, args.rtol, args.atol)
    if problems:
        print(
            f"{len(problems)} result(s) differ from the committed notebooks' beyond "
            f"rtol={args.rtol}, atol={args.atol}:"
        )
        print("\n".join(f"  {p}" for p in problems))
        return 1
    largest = (_keyed(run)[METRICS] - _keyed(committed)[METRICS]).abs().max().max()
    print(
        f"{len(committed)} results agree with the committed notebooks' "
        f"(largest difference {largest:.2g}; rtol={args.rtol}, atol={args.atol})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
