"""Build the course's exercises with otter-grader, check them, and grade submissions.

Each numbered notebook has an exercise master, ``exercises/NN_topic.md``: a
Jupytext Markdown file in otter-grader's assign format (questions, solutions,
public tests whose failure messages are hints, hidden tests that grade). Three
tasks use them:

* ``build`` (``make exercises``): convert each master to ``.ipynb`` (without
  the Jupytext metadata) and run ``otter assign`` on it, which executes the
  solution and refuses to build unless it passes every test, hidden ones
  included. Writes ``build/exercises/<name>/student/<name>.ipynb`` (hand this
  out) and ``build/exercises/<name>/autograder/`` (the solution notebook and
  ``<name>-autograder.zip``). A master is rebuilt only when it, ``reco/`` or
  this file changed since its last build (``--force`` rebuilds all).
* ``check`` (``make exercises-test``): grade every student notebook as handed
  out: it must execute top to bottom without an error and score 0 on every
  question. With ``build``, whose ``otter assign`` run is the check that every
  solution scores 100%, this is the exercises' CI step.
* ``grade`` (``make grade SUBMISSIONS=<folder>``): grade every file of a
  folder offline (``otter run``, no Docker) against its exercise's autograder
  and write ``build/grades.csv``: one row per submission and question, or one
  row with the reason when a submission cannot be graded. A submission is
  matched by the exercise name in its metadata (``otter.assignment_name``,
  written by ``build``), else by its file name. Each notebook runs in its own
  process, killed with its kernel after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/sandbox.py
MASTERS = ROOT / "exercises"
BUILD = ROOT / "build" / "exercises"
GRADES = ROOT / "build" / "grades.csv"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CSV_COLUMNS = ("submission", "exercise", "question", "score", "possible", "error", "sha256")
#: Files whose change makes a built exercise out of date (besides its master).
SOURCES = (*sorted((ROOT / "reco").glob("*.py")), Path(__file__).resolve())


# --------------------------------------------------------------------------- names and paths


def exercise_names() -> list[str]:
    """Return the names of the exercise masters (``NN_topic``), in course order."""
    return sorted(p.stem for p in MASTERS.glob("[0-9][0-9]_*.md"))


@dataclass(frozen=True)
class Built:
    """Where ``build`` puts one exercise."""

    name: str

    @property
    def folder(self) -> Path:
        return BUILD / self.name

    @property
    def student(self) -> Path:
        return self.folder / "student" / f"{self.name}.ipynb"

    @property
    def solution(self) -> Path:
        return self.folder / "autograder" / f"{self.name}.ipynb"

    @property
    def autograder(self) -> Path:
        return self.folder / "autograder" / f"{self.name}-autograder.zip"

    @property
    def stamp(self) -> Path:
        return self.folder / ".built"


def _natural(question: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", question)]


# --------------------------------------------------------------------------- build


def master_to_ipynb(master: Path, dest: Path) -> Path:
    """Write a Markdown master as the ``.ipynb`` that ``otter assign`` reads.

    Jupytext's pairing metadata is dropped and the kernel is named, as
    ``jupytext --to ipynb --update-metadata '{"jupytext": null}'`` would do.
    """
    import jupytext
    import nbformat

    nb = jupytext.read(master)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def _up_to_date(name: str) -> bool:
    built = Built(name)
    if not (built.stamp.is_file() and built.student.is_file() and built.autograder.is_file()):
        return False
    newest = max(p.stat().st_mtime for p in (MASTERS / f"{name}.md", *SOURCES))
    return built.stamp.stat().st_mtime >= newest


def build_one(name: str) -> tuple[str, float, str | None]:
    """Build one exercise; return ``(name, seconds, error or None)``."""
    import nbformat
    from otter.assign import main as assign

    start = time.perf_counter()
    built = Built(name)
    work = BUILD / f".{name}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    log = work / "assign.log"
    try:
        master = master_to_ipynb(MASTERS / f"{name}.md", work / "master" / f"{name}.ipynb")
        with _output_to(log):
            assign(str(master), str(work / "dist"), no_pdfs=True)
        autograder = work / "dist" / "autograder"
        (zipped,) = autograder.glob(f"{name}-autograder_*.zip")
        zipped.rename(autograder / built.autograder.name)
        student = nbformat.read(work / "dist" / "student" / built.student.name, as_version=4)
        got = student.metadata.get("otter", {}).get("assignment_name")
        if got != name:
            raise RuntimeError(
                f"the master's ASSIGNMENT CONFIG says name: {got!r}; it must be {name!r}, "
                "the file name, which make grade matches submissions with."
            )
        built.folder.mkdir(parents=True, exist_ok=True)
        for part in ("student", "autograder"):
            shutil.rmtree(built.folder / part, ignore_errors=True)
            (work / "dist" / part).rename(built.folder / part)
        built.stamp.touch()
    except Exception as err:  # reported per exercise, the others still build
        output = log.read_text(errors="replace").strip() if log.is_file() else ""
        return name, time.perf_counter() - start, f"{type(err).__name__}: {err}\n{output}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return name, time.perf_counter() - start, None


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout and stderr, the kernels' included, to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            f.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _pool(jobs: int) -> ProcessPoolExecutor:
    import multiprocessing

    import otter.api  # noqa: F401  (imported once here, inherited by the forked workers)

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))


def build(names: list[str], jobs: int, force: bool) -> int:
    """Build the exercises that are out of date; return the number that failed."""
    todo = [n for n in names if force or not _up_to_date(n)]
    for name in sorted(set(names) - set(todo)):
        print(f"{name}: up to date")
    if not todo:
        return 0
    failed = 0
    with _pool(min(jobs, len(todo))) as pool:
        for name, seconds, error in pool.map(build_one, todo):
            if error:
                failed += 1
                print(f"{name}: FAILED after {seconds:.0f} s\n{_indent(error)}")
            else:
                n = len(_questions(Built(name).student))
                print(f"{name}: built in {seconds:.0f} s, {n} questions, solution scores 100%")
    return failed


def _questions(student: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(student, as_version=4)
    tests = nb.metadata.get("otter", {}).get("tests", {})
    return sorted(tests, key=_natural)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# --------------------------------------------------------------------------- grading


@dataclass
class Graded:
    """The outcome of grading one notebook."""

    #: question name -> (score, possible points)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    error: str | None = None
    cell_errors: list[str] = field(default_factory=list)


def grade_in_process(notebook: Path, autograder: Path) -> Graded:
    """Grade one notebook with ``otter run``'s machinery, in this process."""
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(autograder), quiet=True)
    if results.has_catastrophic_failure():
        return Graded(error=f"otter could not grade it: {results.catastrophic_error}")
    scores = {
        q: (float(r["score"]), float(r["possible"])) for q, r in sorted(results.to_dict().items())
    }
    cell_errors = []
    executed = getattr(results, "notebook", None)
    for cell in executed.cells if executed is not None else []:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                cell_errors.append(f"{out.get('ename')}: {out.get('evalue')}")
    return Graded(scores=scores, cell_errors=cell_errors)


def _grade_one_cli(args) -> int:
    """``grade-one``: grade a notebook and write the result as JSON (run in a subprocess)."""
    try:
        graded = grade_in_process(Path(args.notebook), Path(args.autograder))
    except Exception as err:
        graded = Graded(error=f"otter could not grade it: {type(err).__name__}: {err}")
    Path(args.json).write_text(json.dumps(graded.__dict__))
    return 0


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (a kernel runs in a session of its own)."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    family = [*parent.children(recursive=True), parent]
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=10)


def grade_with_time_limit(notebook: Path, autograder: Path, timeout: float) -> Graded:
    """Grade one notebook in a subprocess; kill it and its kernel after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="reco-grade-") as tmp:
        result = Path(tmp) / "result.json"
        log = Path(tmp) / "log.txt"
        scratch = Path(tmp) / "tmp"  # otter's own temporary folders, removed even after a kill
        scratch.mkdir()
        env = {**os.environ, "TMPDIR": str(scratch)}
        cmd = [sys.executable, str(Path(__file__).resolve()), "grade-one"]
        cmd += [str(autograder), str(notebook), "--json", str(result)]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc.pid)
                return _timed_out(timeout)
        if not result.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            return Graded(error="the grader stopped with no result: " + " | ".join(tail))
        return _read_result(result)


def _timed_out(timeout: float) -> Graded:
    return Graded(
        error=f"did not finish within {timeout:g} s (the time limit per notebook; "
        "an endless loop? raise it with TIMEOUT=)"
    )


def grade_in_sandbox(notebook: Path, autograder: Path, timeout: float) -> Graded:
    """Grade one notebook in a sandbox of its own (``tools/sandbox.py``).

    The sandbox sees a scratch folder with copies of this notebook and of its
    exercise's autograder, and nothing else of the repository but the
    ``reco`` package, the virtual environment and this file; it runs as
    ``nobody``, offline, within memory, process, CPU and wall-time limits, and
    everything it started is killed when it ends. Its result is read back as
    JSON and checked field by field.
    """
    import sandbox

    with tempfile.TemporaryDirectory(prefix="reco-grade-") as tmp:
        scratch = Path(tmp)
        shutil.copy(notebook, scratch / "submission.ipynb")
        shutil.copy(autograder, scratch / "autograder.zip")
        command = [sys.executable, str(Path(__file__).resolve()), "grade-one",
                   f"{sandbox.SCRATCH}/autograder.zip", f"{sandbox.SCRATCH}/submission.ipynb",
                   "--json", f"{sandbox.SCRATCH}/result.json"]  # fmt: skip
        data = os.environ.get("RECO_DATA_HOME")
        ran = sandbox.run(
            command,
            scratch=scratch,
            data=Path(data) if data else None,
            limits=sandbox.Limits(wall_seconds=timeout),
            read_only=[Path(__file__).resolve()],
        )
        if ran.killed == "wall time":
            return _timed_out(timeout)
        if ran.killed is not None:
            return Graded(error=f"stopped at the sandbox's {ran.killed} limit")
        result = scratch / "result.json"
        if not result.is_file() or result.is_symlink():
            tail = (ran.stdout + ran.stderr).strip().splitlines()[-3:]
            return Graded(error="the grader stopped with no result: " + " | ".join(tail))
        return _read_result(result)


def _read_result(path: Path) -> Graded:
    """Read a grading result, accepting nothing but the exact types :class:`Graded` holds."""
    try:
        raw = json.loads(path.read_text())
        if type(raw) is not dict or set(raw) - {"scores", "error", "cell_errors"}:
            raise TypeError("not a result")
        scores = {}
        for question, pair in raw.get("scores", {}).items():
            if type(question) is not str or type(pair) is not list or len(pair) != 2:
                raise TypeError("bad score")
            if any(type(x) not in (int, float) for x in pair):
                raise TypeError("bad score")
            scores[question] = (float(pair[0]), float(pair[1]))
        error = raw.get("error")
        cell_errors = raw.get("cell_errors", [])
        if error is not None and type(error) is not str:
            raise TypeError("bad error")
        if type(cell_errors) is not list or any(type(e) is not str for e in cell_errors):
            raise TypeError("bad cell errors")
    except (OSError, ValueError, TypeError, AttributeError):
        return Graded(error="the grader's result could not be read")
    return Graded(scores=scores, error=error, cell_errors=cell_errors)


def match_exercise(path: Path, names: list[str]) -> tuple[str | None, str | None, object]:
    """Find the exercise of a submission; return ``(name, error, notebook)``.

    The exercise name in the notebook's metadata wins; without one, the file
    name must contain an exercise's name (``03_biases_and_sigmoid_v2.ipynb``,
    ``ada_03_biases_and_sigmoid_v2.ipynb``).
    """
    import nbformat

    if path.suffix != ".ipynb":
        return None, "not a notebook: only .ipynb files are graded", None
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        from nbformat.reader import NotJSONError

        if isinstance(err, NotJSONError | UnicodeDecodeError):
            reason = "the file is not valid JSON (cut short or corrupted?)"
        else:
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        return None, f"not a readable notebook: {reason}", None
    otter_meta = nb.metadata.get("otter", {})
    name = otter_meta.get("assignment_name") if isinstance(otter_meta, dict) else None
    known = ", ".join(names)
    if name is not None:
        error = (
            None if name in names else f"no exercise named {name!r} (its metadata); known: {known}"
        )
        return name, error, nb
    matches = [n for n in names if n in path.stem]
    if not matches:
        error = (
            "cannot tell its exercise: its metadata has no otter.assignment_name and its file "
            f"name contains no exercise name ({known})"
        )
        return None, error, nb
    return max(matches, key=len), None, nb


def _grade_file(path: Path, names: list[str], timeout: float, sandboxed: bool) -> list[dict]:
    import nbformat

    name, error, nb = match_exercise(path, names)
    rows = []
    if error is None and not Built(name).autograder.is_file():
        error = f"exercise {name} is not built: run make exercises"
    if error is None:
        with tempfile.TemporaryDirectory(prefix="reco-submission-") as tmp:
            copy = Path(tmp) / f"{name}.ipynb"
            nb.metadata.setdefault("otter", {})["assignment_name"] = name  # matched by file name
            nb.metadata["kernelspec"] = dict(KERNELSPEC)  # whatever kernel the learner used
            nbformat.write(nb, copy)
            grader = grade_in_sandbox if sandboxed else grade_with_time_limit
            graded = grader(copy, Built(name).autograder, timeout)
        error = graded.error
        for question in sorted(graded.scores, key=_natural):
            score, possible = graded.scores[question]
            row = {"question": question, "score": f"{score:g}", "possible": f"{possible:g}"}
            rows.append({"submission": path.name, "exercise": name, **row, "error": ""})
    if error is not None or not rows:
        rows = [
            {
                "submission": path.name,
                "exercise": name or "",
                "question": "",
                "score": "",
                "possible": "",
                "error": error or "no question was graded",
            }
        ]
    return rows


def grade(folder: Path, out: Path, timeout: float, jobs: int, unsandboxed: bool = False) -> int:
    """Grade every file of ``folder`` and write the grades CSV; return how many failed.

    Each submission is graded in a sandbox of its own (``tools/sandbox.py``);
    where none can run, grading stops with the reason, unless ``unsandboxed``
    (``make grade UNSANDBOXED=1``), for submissions the instructor trusts.
    Every file is copied and hashed before any is graded, and the CSV is
    written, atomically, once every sandbox has ended.
    """
    import hashlib

    import sandbox

    if not folder.is_dir():
        raise SystemExit(f"SUBMISSIONS={folder} is not a folder of submissions.")
    why_not = None if unsandboxed else sandbox.unavailable()
    if why_not is not None:
        raise SystemExit(
            f"make grade runs student code, and no sandbox can run here: {why_not} "
            "Nothing was graded."
        )
    if unsandboxed:
        print("Grading WITHOUT a sandbox (UNSANDBOXED=1): only for submissions you trust.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    names = exercise_names()
    with tempfile.TemporaryDirectory(prefix="reco-submissions-") as private:
        copies, hashes = [], {}
        for path in files:  # copied and hashed before any is graded (names match exercises)
            copy = Path(private) / path.name
            shutil.copyfile(path, copy)
            copies.append(copy)
            hashes[path.name] = hashlib.sha256(copy.read_bytes()).hexdigest()

        def one(index: int) -> list[dict]:
            rows = _grade_file(copies[index], names, timeout, sandboxed=not unsandboxed)
            for row in rows:
                row["submission"] = files[index].name
            return rows

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(one, range(len(files))))
    for rows in results:
        for row in rows:
            row["sha256"] = hashes[row["submission"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for rows in results:
                writer.writerows(rows)
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    failed = 0
    for path, rows in zip(files, results, strict=True):
        if rows[0]["error"]:
            failed += 1
            print(f"{path.name}: not graded: {rows[0]['error']}")
        else:
            total = sum(float(r["score"]) for r in rows)
            possible = sum(float(r["possible"]) for r in rows)
            print(f"{path.name}: {rows[0]['exercise']}, {total:g} / {possible:g}")
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"{len(files)} submissions, {failed} not graded; grades in {shown}")
    return failed


# --------------------------------------------------------------------------- check


def _check_one(name: str) -> tuple[str, float, list[str]]:
    start = time.perf_counter()
    built = Built(name)
    problems = []
    with tempfile.TemporaryDirectory(prefix="reco-check-") as tmp:
        try:
            with _output_to(Path(tmp) / "log.txt"):
                graded = grade_in_process(built.student, built.autograder)
        except Exception as err:
            graded = Graded(error=f"{type(err).__name__}: {err}")
    if graded.error:
        problems.append(graded.error)
    problems += [f"a cell raised {e}" for e in graded.cell_errors]
    expected = _questions(built.student)
    if sorted(graded.scores, key=_natural) != expected and not graded.error:
        problems.append(f"graded questions {sorted(graded.scores)}, expected {expected}")
    for question, (score, _) in graded.scores.items():
        if score != 0:
            problems.append(f"{question} scores {score:g} unanswered; it must score 0")
    return name, time.perf_counter() - start, problems


def check(names: list[str], jobs: int) -> int:
    """Grade every student notebook as handed out; return the number with problems."""
    if not names:
        return 0
    missing = [n for n in names if not Built(n).autograder.is_file()]
    if missing:
        raise SystemExit(f"not built: {', '.join(missing)}; run make exercises first.")
    failed = 0
    with _pool(min(jobs, len(names))) as pool:
        for name, seconds, problems in pool.map(_check_one, names):
            if problems:
                failed += 1
                print(f"{name}: student notebook FAILED ({seconds:.0f} s)")
                print(_indent("\n".join(problems)))
            else:
                print(f"{name}: student notebook runs without error and scores 0 ({seconds:.0f} s)")
    return failed


# --------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the exercises that are out of date")
    p.add_argument("names", nargs="*", help="exercise names (default: all)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p = sub.add_parser("check", help="every student notebook runs and scores 0")
    p.add_argument("names", nargs="*")
    p.add_argument("--jobs", type=int, default=1)
    p = sub.add_parser("grade", help="grade every file of a folder into a CSV")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=GRADES)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per notebook")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--unsandboxed", action="store_true",
                   help="grade without a sandbox: only for submissions you trust")  # fmt: skip
    p = sub.add_parser("grade-one", help=argparse.SUPPRESS)
    p.add_argument("autograder")
    p.add_argument("notebook")
    p.add_argument("--json", required=True)
    args = parser.parse_args(argv)

    if args.command == "grade-one":
        return _grade_one_cli(args)
    if args.command == "grade":
        grade(args.submissions.resolve(), args.out.resolve(), args.timeout, args.jobs,
              args.unsandboxed)  # fmt: skip
        return 0  # ungradable submissions are rows of the CSV, not a failure of the run
    known = exercise_names()
    names = args.names or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"no exercise master for {unknown}; known: {', '.join(known)}")
    start = time.perf_counter()
    if args.command == "build":
        failed = build(names, args.jobs, args.force)
    else:
        failed = check(names, args.jobs)
    seconds = time.perf_counter() - start
    print(f"{args.command}: {len(names)} exercises, {failed} failed, {seconds:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
