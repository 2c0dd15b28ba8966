"""Build the course's exercises with otter-grader, check them, and grade submissions.

Each numbered notebook has an exercise master, ``exercises/NN_topic.md``: a
Jupytext Markdown file in otter-grader's assign format (questions, solutions,
public tests whose failure messages are hints, hidden tests that grade). Three
tasks use them:

* ``build`` (``make exercises``): convert each master to ``.ipynb`` (without
  the Jupytext metadata) and run ``otter assign`` on it, without its own run
  of the tests on the solution (``check`` grades the solution through the
  grading path itself, so running it twice would only cost time). Writes ``build/exercises/<name>/student/<name>.ipynb`` (hand this
  out) and ``build/exercises/<name>/autograder/`` (the solution notebook and
  ``<name>-autograder.zip``). A master is rebuilt only when it, ``reco/`` or
  this file changed since its last build (``--force`` rebuilds all).
* ``check`` (``make exercises-test``): grade, the way ``grade`` grades, every
  student notebook as handed out (it must run without an error and score 0 on
  every question), every solution (100%), and the variants of
  ``exercises/variants/<name>.md``: a plausible wrong answer per question
  (each must score below full marks) and a right one written another way
  (full marks).
* ``grade`` (``make grade SUBMISSIONS=<folder>``): grade every file of a
  folder offline against its exercise's autograder and write
  ``build/grades.csv``: one row per submission and question (with why its
  first failing test failed), or one row with the reason when a submission
  cannot be graded. A submission is matched by the exercise name in its
  metadata (``otter.assignment_name``, written by ``build``), else by its file
  name. Its code runs in a sandbox of its own, cell by cell
  (``tools/grade_runner.py``); its answers come out as data
  (``tools/answers.py``) and otter's test files run on them here, in a
  trusted process that never runs student code (:func:`grade_apart`).
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
CSV_COLUMNS = ("submission", "exercise", "question", "score", "possible", "error", "feedback",
               "sha256")  # fmt: skip
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
            assign(str(master), str(work / "dist"), no_pdfs=True, no_run_tests=True)
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
                print(f"{name}: built in {seconds:.0f} s, {n} questions (check grades them)")
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
    #: question -> why its first failing test failed (for the instructor; empty when it passed)
    feedback: dict[str, str] = field(default_factory=dict)


#: Where the untrusted half of grading runs, and the module it hands answers out with.
RUNNER = Path(__file__).resolve().with_name("grade_runner.py")
ANSWERS = Path(__file__).resolve().with_name("answers.py")
#: Seconds the hidden tests may take after the notebook ran (some retrain a reference model).
TESTS_SECONDS = 600.0


def test_files(autograder: Path, folder: Path) -> dict:
    """Read an autograder's test files (otter's exception format): question -> test file."""
    import zipfile

    from otter.test_files import ExceptionTestFile

    with zipfile.ZipFile(autograder) as zipped:
        for member in zipped.namelist():
            if member.startswith("tests/") and member.endswith(".py"):
                (folder / Path(member).name).write_bytes(zipped.read(member))
    files = {p.stem: ExceptionTestFile.from_file(str(p)) for p in folder.glob("*.py")}
    return dict(sorted(files.items(), key=lambda item: _natural(item[0])))


def answer_names(files: dict) -> list[str]:
    """The names the tests take: each test function's parameters are answers of the notebook."""
    names = set()
    for file in files.values():
        for case in file.test_cases:
            names.update(case.body._get_func_params())
    return sorted(names)


def _guarded(test_func):
    """A test that fails with a clear message when an answer it takes is missing or unreadable."""
    import functools

    import answers

    @functools.wraps(test_func)  # keeps the signature otter reads the answer names from
    def guarded(**kwargs):
        for name, value in kwargs.items():
            if isinstance(value, answers.Missing):
                raise AssertionError(f"{name} is not defined: run the cell that sets it")
            if isinstance(value, answers.Unsupported):
                raise AssertionError(f"{name} could not be graded: {value!r}")
        return test_func(**kwargs)

    return guarded


def _read_report(path: Path) -> dict:
    """The runner's report, exact types only (it comes from the sandbox)."""
    import answers

    raw = json.loads(answers.read_regular(path.parent, path.name, 2**20))
    if type(raw) is not dict:
        raise TypeError("not a report")
    errors = raw.get("errors", [])
    if type(errors) is not list or any(type(e) is not str for e in errors):
        raise TypeError("bad errors")
    if type(raw.get("kernel_died", False)) is not bool:
        raise TypeError("bad report")
    return {"errors": [e[:2000] for e in errors[:200]], "kernel_died": raw.get("kernel_died")}


def grade_apart(
    notebook: Path, autograder: Path, timeout: float, sandboxed: bool, cell_timeout: float = 180.0
) -> Graded:
    """Grade one notebook: its code in a sandbox, the tests in this (trusted) process.

    The notebook runs in ``tools/grade_runner.py``, in a sandbox of its own
    (``tools/sandbox.py``) unless ``sandboxed`` is false: as ``nobody``,
    offline, within limits, seeing a scratch folder with a copy of the
    notebook and nothing of the course but ``reco``, the virtual environment
    and the runner. It never sees the tests or the autograder. Its answers
    come out as data (``tools/answers.py``, exact types only), and otter's
    test files run here on them; a function the tests call is called back in
    the sandbox. Each cell has ``cell_timeout`` seconds, the notebook
    ``timeout``, the tests :data:`TESTS_SECONDS` more.
    """
    import threading

    import answers
    import sandbox

    with tempfile.TemporaryDirectory(prefix="reco-grade-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        scratch, requests, tests = tmp / "scratch", tmp / "requests", tmp / "tests"
        for folder in (scratch, requests, tests):
            folder.mkdir()
        os.chmod(requests, 0o755)  # readable in the sandbox, writable only here
        os.chmod(tests, 0o700)
        files = test_files(autograder, tests)
        for file in files.values():
            for case in file.test_cases:
                case.body.test_func = _guarded(case.body.test_func)
        names = answer_names(files)
        (requests / "names.json").write_text(json.dumps(names))
        os.chmod(requests / "names.json", 0o644)
        shutil.copyfile(notebook, scratch / "submission.ipynb")
        inside = Path(sandbox.SCRATCH) if sandboxed else scratch
        command = [sys.executable, str(RUNNER), str(inside / "submission.ipynb"),
                   "--names", str(requests / "names.json"), "--answers", str(inside / "answers"),
                   "--requests", str(requests), "--results", str(inside / "results"),
                   "--report", str(inside / "report.json"), "--cell-timeout", f"{cell_timeout:g}",
                   "--notebook-timeout", f"{timeout:g}"]  # fmt: skip
        ended: dict = {}

        def run_it():
            if sandboxed:
                data = os.environ.get("RECO_DATA_HOME")
                ended["result"] = sandbox.run(
                    command,
                    scratch=scratch,
                    data=Path(data) if data else None,
                    limits=sandbox.Limits(wall_seconds=timeout + TESTS_SECONDS),
                    read_only=[RUNNER, ANSWERS, requests],
                )
            else:
                with open(tmp / "log.txt", "w") as log:
                    proc = subprocess.Popen(command, cwd=scratch, stdout=log, stderr=log,
                                            start_new_session=True)  # fmt: skip
                    try:
                        proc.wait(timeout=timeout + TESTS_SECONDS)
                    except subprocess.TimeoutExpired:
                        ended["killed"] = "wall time"
                    finally:
                        _kill_tree(proc.pid)

        thread = threading.Thread(target=run_it, daemon=True)
        thread.start()
        report_path = scratch / "report.json"
        while thread.is_alive() and not (report_path.is_file() or report_path.is_symlink()):
            time.sleep(0.1)
        try:
            try:
                report = _read_report(report_path)
                found = answers.load(scratch / "answers") if not (
                    scratch / "answers").is_symlink() else {}  # fmt: skip
            except (OSError, ValueError, TypeError):
                result = ended.get("result")
                if result is not None and result.killed == "wall time" or ended.get("killed"):
                    return _timed_out(timeout)
                if result is not None and result.killed is not None:
                    return Graded(error=f"stopped at the sandbox's {result.killed} limit")
                if result is not None:
                    log = result.stdout + result.stderr
                else:
                    log = (
                        (tmp / "log.txt").read_text(errors="replace")
                        if (tmp / "log.txt").is_file()
                        else ""
                    )
                tail = " | ".join(log.strip().splitlines()[-3:])
                return Graded(error=f"the notebook's run ended with no answers: {tail}"[:1000])
            env = {
                name: answers.Remote(name, requests, scratch / "results", thread.is_alive, 120.0)
                if isinstance(value, answers.Function)
                else value
                for name, value in found.items()
            }
            scores, feedback = {}, {}
            for question, file in files.items():
                with _output_to(tmp / "tests.log"):
                    file.run(env)
                scores[question] = (float(file.score), float(file.possible))
                failed = [r.message for r in file.test_case_results if not r.passed]
                if failed:
                    feedback[question] = failed[0][:1000]
        finally:
            (requests / "stop").touch()
            thread.join()
        return Graded(scores=scores, cell_errors=report["errors"], feedback=feedback)


def _grade_one_cli(args) -> int:
    """``grade-one``: grade notebooks one after another, write the results as a JSON list.

    A trusted subprocess: it never runs student code (each notebook runs in a
    sandbox of its own), so the course's check grades an exercise's variants in
    one of them and imports otter and TensorFlow once.
    """
    results = []
    for notebook in args.notebook:
        try:
            graded = grade_apart(Path(notebook), Path(args.autograder), args.timeout,
                                 sandboxed=not args.unsandboxed, cell_timeout=args.cell_timeout)  # fmt: skip
        except Exception as err:
            graded = Graded(error=f"the grader failed: {type(err).__name__}: {err}")
        results.append(graded.__dict__)
    Path(args.json).write_text(json.dumps(results))
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


def grade_submission(
    notebook: Path, autograder: Path, timeout: float, sandboxed: bool, cell_timeout: float = 180.0
) -> Graded:
    """Grade one notebook in a fresh trusted process (``grade-one``), which it kills at the limit."""
    return grade_submissions([notebook], autograder, timeout, sandboxed, cell_timeout)[0]


def grade_submissions(
    notebooks: list[Path],
    autograder: Path,
    timeout: float,
    sandboxed: bool,
    cell_timeout: float = 180.0,
) -> list[Graded]:
    """Grade notebooks of one exercise in turn, in one fresh trusted process (``grade-one``).

    Each notebook runs in a sandbox of its own with ``timeout`` seconds; the
    process is killed after all of them had their time, the tests included.
    """
    with tempfile.TemporaryDirectory(prefix="reco-grade-one-") as tmp:
        result = Path(tmp) / "result.json"
        log = Path(tmp) / "log.txt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "grade-one", str(autograder),
               *map(str, notebooks), "--json", str(result), "--timeout", f"{timeout:g}",
               "--cell-timeout", f"{cell_timeout:g}"]  # fmt: skip
        if not sandboxed:
            cmd.append("--unsandboxed")
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                                    start_new_session=True)  # fmt: skip
            try:
                proc.wait(timeout=len(notebooks) * (timeout + TESTS_SECONDS) + 120)
            except subprocess.TimeoutExpired:
                _kill_tree(proc.pid)
                return [_timed_out(timeout)] * len(notebooks)
        if not result.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            return [Graded(error="the grader stopped with no result: " + " | ".join(tail))] * len(
                notebooks
            )
        return _read_results(result, len(notebooks))


def _timed_out(timeout: float) -> Graded:
    return Graded(
        error=f"did not finish within {timeout:g} s (the time limit per notebook; "
        "an endless loop? raise it with TIMEOUT=)"
    )


def _read_results(path: Path, n: int) -> list[Graded]:
    """Read ``n`` grading results, accepting nothing but the exact types :class:`Graded` holds."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = None
    if type(raw) is not list or len(raw) != n:
        return [Graded(error="the grader's result could not be read")] * n
    return [_read_result(one) for one in raw]


def _read_result(raw) -> Graded:
    """One grading result from its JSON form, exact types only."""
    try:
        if type(raw) is not dict or set(raw) - {"scores", "error", "cell_errors", "feedback"}:
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
        feedback = raw.get("feedback", {})
        if type(feedback) is not dict or any(type(v) is not str for v in feedback.values()):
            raise TypeError("bad feedback")
    except (OSError, ValueError, TypeError, AttributeError):
        return Graded(error="the grader's result could not be read")
    return Graded(scores=scores, error=error, cell_errors=cell_errors, feedback=feedback)


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


def _grade_file(
    path: Path, names: list[str], timeout: float, sandboxed: bool, cell_timeout: float = 180.0
) -> list[dict]:
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
            graded = grade_submission(
                copy, Built(name).autograder, timeout, sandboxed, cell_timeout
            )
        error = graded.error
        for question in sorted(graded.scores, key=_natural):
            score, possible = graded.scores[question]
            row = {"question": question, "score": f"{score:g}", "possible": f"{possible:g}"}
            why = " ".join(
                graded.feedback.get(question, "").replace("❌ Test case failed", "").split()
            )
            rows.append(
                {"submission": path.name, "exercise": name, **row, "error": "", "feedback": why}
            )
    if error is not None or not rows:
        rows = [
            {
                "submission": path.name,
                "exercise": name or "",
                "question": "",
                "score": "",
                "possible": "",
                "error": error or "no question was graded",
                "feedback": "",
            }
        ]
    return rows


def grade(
    folder: Path,
    out: Path,
    timeout: float,
    jobs: int,
    unsandboxed: bool = False,
    cell_timeout: float = 180.0,
) -> int:
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
            rows = _grade_file(copies[index], names, timeout, not unsandboxed, cell_timeout)
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

#: Per exercise, plausible wrong answers and right ones written another way (``check`` grades them).
VARIANTS = MASTERS / "variants"
_VARIANT_HEAD = re.compile(r"^## (q\d+) (wrong|right) · (\S.*)$")


@dataclass
class Variant:
    """An answer to one question, for the check: its cells and why it is wrong (or right)."""

    question: str
    kind: str  # "wrong" or "right"
    why: str
    cells: list[str] = field(default_factory=list)


def read_variants(name: str) -> dict[str, dict[str, Variant]]:
    """Read ``exercises/variants/<name>.md``: ``{"wrong": {question: Variant}, "right": {...}}``.

    Each ``## q2 wrong · why`` (or ``right``) heading is followed by one fenced
    ``python`` block per answer cell of the question, which replaces that cell
    of the student notebook.
    """
    path = VARIANTS / f"{name}.md"
    where = path.relative_to(ROOT)
    if not path.is_file():
        raise FileNotFoundError(
            f"{where} is missing: every exercise brings one notebook of plausible wrong "
            "answers and one of right answers written another way (see exercises/variants/README.md)"
        )
    found: dict[str, dict[str, Variant]] = {"wrong": {}, "right": {}}
    current, code = None, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if code is not None:
            if line.strip() == "```":
                current.cells.append("\n".join(code))
                code = None
            else:
                code.append(line)
        elif match := _VARIANT_HEAD.match(line):
            question, kind, why = match.groups()
            if question in found[kind]:
                raise ValueError(f"{where}:{number}: a second '{question} {kind}'; keep one")
            current = found[kind][question] = Variant(question, kind, why)
        elif line.startswith("## "):
            raise ValueError(f"{where}:{number}: a heading must read '## q1 wrong · why' or "
                             "'## q1 right · why'")  # fmt: skip
        elif line.strip() == "```python":
            if current is None:
                raise ValueError(f"{where}:{number}: code before the first '## q1 ...' heading")
            code = []
    if code is not None:
        raise ValueError(f"{where}: a ```python block is not closed")
    for kind, variants in found.items():
        for variant in variants.values():
            if not variant.cells:
                raise ValueError(f"{where}: '{variant.question} {kind}' has no ```python block")
    return found


def answer_cells(notebook) -> dict[str, list[int]]:
    """The indices of each question's answer cells in a student notebook (those before its check)."""
    cells, pending = {}, []
    for index, cell in enumerate(notebook.cells):
        if "otter_answer_cell" in cell.get("metadata", {}).get("tags", []):
            pending.append(index)
        elif match := re.search(r"grader\.check\([\"'](q\d+)[\"']\)", cell.source):
            cells[match.group(1)], pending = pending, []
    return cells


def variant_notebook(name: str, kind: str, dest: Path) -> Path:
    """Write the student notebook of ``name`` with every answer cell filled by its ``kind`` variant."""
    import nbformat

    built = Built(name)
    notebook = nbformat.read(built.student, as_version=4)
    variants = read_variants(name)[kind]
    cells = answer_cells(notebook)
    expected = _questions(built.student)
    if sorted(variants, key=_natural) != expected:
        raise ValueError(
            f"exercises/variants/{name}.md has {kind} answers for {sorted(variants, key=_natural)}; "
            f"the exercise's questions are {expected}: give one of each per question"
        )
    for question, variant in variants.items():
        if len(variant.cells) != len(cells[question]):
            raise ValueError(
                f"exercises/variants/{name}.md: '{question} {kind}' has {len(variant.cells)} "
                f"```python blocks; {question} has {len(cells[question])} answer cells"
            )
        for index, source in zip(cells[question], variant.cells, strict=True):
            notebook.cells[index].source = source
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, dest)
    return dest


def _check_one(name: str, sandboxed: bool) -> tuple[str, float, list[str]]:
    """Grade an exercise's student notebook, solution and variants; return what is wrong with them.

    The student notebook must score 0 on every question, the solution and the
    right answers written another way full marks, and each plausible wrong
    answer below full marks on its question. All four are graded in one
    trusted process, each notebook in a sandbox of its own.
    """
    start = time.perf_counter()
    built = Built(name)
    expected = _questions(built.student)
    with tempfile.TemporaryDirectory(prefix="reco-check-") as tmp:
        try:
            variants = read_variants(name)
            wrong = variant_notebook(name, "wrong", Path(tmp) / "wrong" / f"{name}.ipynb")
            right = variant_notebook(name, "right", Path(tmp) / "right" / f"{name}.ipynb")
        except (OSError, ValueError) as err:
            return name, time.perf_counter() - start, [str(err)]
        runs = (("student notebook", built.student), ("solution", built.solution),
                ("wrong answers", wrong), ("right answers written another way", right))  # fmt: skip
        results = grade_submissions([nb for _, nb in runs], built.autograder, 600.0, sandboxed)
    problems = []
    for (label, _), graded in zip(runs, results, strict=True):
        if graded.error:
            problems.append(f"{label}: {graded.error}")
            continue
        if label != "wrong answers":  # a wrong answer may raise; nothing else may
            problems += [f"{label}: a cell raised {e}" for e in graded.cell_errors]
        if sorted(graded.scores, key=_natural) != expected:
            problems.append(
                f"{label}: graded questions {sorted(graded.scores)}, expected {expected}"
            )
        for question, (score, possible) in graded.scores.items():
            why = graded.feedback.get(question, "")
            if label == "student notebook" and score != 0:
                problems.append(f"{label}: {question} scores {score:g} unanswered; it must score 0")
            elif label == "wrong answers" and score >= possible:
                problems.append(
                    f"{label}: {question} ({variants['wrong'][question].why}) scores full marks"
                )
            elif label in ("solution", "right answers written another way") and score != possible:
                problems.append(f"{label}: {question} scores {score:g} of {possible:g}: {why}")
    return name, time.perf_counter() - start, problems


def check(names: list[str], jobs: int) -> int:
    """Grade every exercise's notebooks as make grade would (:func:`_check_one`); return failures.

    They run through the grading path itself (:func:`grade_apart`): in a
    sandbox where one can run, else (these notebooks are the course's own)
    unconfined.
    """
    import sandbox

    if not names:
        return 0
    missing = [n for n in names if not Built(n).autograder.is_file()]
    if missing:
        raise SystemExit(f"not built: {', '.join(missing)}; run make exercises first.")
    why_not = sandbox.unavailable()
    if why_not is not None:
        if os.environ.get("RECO_REQUIRE_SANDBOX"):
            raise SystemExit(f"RECO_REQUIRE_SANDBOX is set, but no sandbox can run here: {why_not}")
        print(f"No sandbox here ({why_not}): the course's own notebooks are graded without one.")
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(names)))) as pool:
        runs = pool.map(lambda n: _check_one(n, why_not is None), names)
        for name, seconds, problems in runs:
            if problems:
                failed += 1
                print(f"{name}: FAILED ({seconds:.0f} s)")
                print(_indent("\n".join(problems)))
            else:
                print(
                    f"{name}: student notebook scores 0, solution 100%, each wrong answer "
                    f"below full marks, the right ones written another way 100% ({seconds:.0f} s)"
                )
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
    p.add_argument("--cell-timeout", type=float, default=180.0,
                   help="seconds per cell: a longer one is interrupted, the next cell runs")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--unsandboxed", action="store_true",
                   help="grade without a sandbox: only for submissions you trust")  # fmt: skip
    p = sub.add_parser("grade-one", help=argparse.SUPPRESS)
    p.add_argument("autograder")
    p.add_argument("notebook", nargs="+")
    p.add_argument("--json", required=True)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--cell-timeout", type=float, default=180.0)
    p.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "grade-one":
        return _grade_one_cli(args)
    if args.command == "grade":
        grade(args.submissions.resolve(), args.out.resolve(), args.timeout, args.jobs,
              args.unsandboxed, args.cell_timeout)  # fmt: skip
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
