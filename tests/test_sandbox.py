"""tools/sandbox.py: student code runs as nobody, offline, in a read-only view, within limits.

Each test is one thing a hostile notebook would try, run in a real sandbox.
Where no sandbox can run (no Bubblewrap, not root, no writable cgroup), the
tests skip with the reason ``sandbox.unavailable()`` gives; CI here runs them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import sandbox  # noqa: E402

WHY_NOT = sandbox.unavailable()
if WHY_NOT is not None and os.environ.get("RECO_REQUIRE_SANDBOX"):  # CI: .ci/run sets it
    raise RuntimeError(f"RECO_REQUIRE_SANDBOX is set, but no sandbox can run here: {WHY_NOT}")
needs_sandbox = pytest.mark.skipif(WHY_NOT is not None, reason=f"no sandbox here: {WHY_NOT}")
PY = sys.executable


def python(code: str, **kwargs) -> sandbox.Result:
    return sandbox.run([PY, "-c", code], **kwargs)


def test_without_bubblewrap_it_says_why_and_how_to_fix(monkeypatch):
    monkeypatch.setattr(sandbox, "_bwrap", lambda: None)
    if not sys.platform.startswith("linux"):
        assert "needs Linux" in sandbox.unavailable()
    else:
        assert sandbox.unavailable().startswith("Bubblewrap (bwrap) is not installed")
    assert "apt-get install bubblewrap" in sandbox.unavailable()
    assert "UNSANDBOXED=1" in sandbox.unavailable()


@needs_sandbox
def test_the_code_runs_as_nobody_without_capabilities():
    result = python(
        "import os\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(),"
        " status['CapEff'].strip(), status['NoNewPrivs'].strip())"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["65534", "65534", "65534", "[]", "0000000000000000", "1"]


@needs_sandbox
def test_there_is_no_network_not_even_the_hosts_loopback():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    try:
        result = python(
            "import socket\n"
            f"for address in [('127.0.0.1', {port}), ('pypi.org', 443)]:\n"
            "    try:\n"
            "        socket.create_connection(address, timeout=3)\n"
            "        print('reached', address)\n"
            "    except OSError as err:\n"
            "        print('refused', type(err).__name__)\n"
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "reached" not in result.stdout and result.stdout.count("refused") == 2


@needs_sandbox
def test_the_view_holds_no_solution_no_git_no_build_and_no_host_path():
    result = python(
        "import json, os\n"
        f"root = {str(ROOT)!r}\n"
        "print(json.dumps({\n"
        "    'repository': sorted(os.listdir(root)),\n"
        "    'found': [n for n in ['exercises', '.git', 'build', 'notebooks', 'tools']\n"
        "              if os.path.exists(os.path.join(root, n))],\n"
        "    'cmdline': open('/proc/1/cmdline').read(),\n"
        "    'processes': [p for p in os.listdir('/proc') if p.isdigit()],\n"
        "}))\n"
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert set(seen["repository"]) <= {"reco", ".venv"}  # the repository shows only these two
    assert seen["found"] == []
    # Bubblewrap's arguments came through a pipe: no host path of the binds on its command line
    assert "reco-sandbox" not in seen["cmdline"] and "--bind" not in seen["cmdline"]
    assert len(seen["processes"]) <= 3  # its own processes only, not the grader's


@needs_sandbox
def test_only_the_scratch_folder_is_writable(tmp_path):
    (tmp_path / "notebook.ipynb").write_text("{}")
    targets = [str(ROOT / "reco" / "x.py"), sys.prefix + "/x", "/usr/x", "/etc/x"]
    result = python(
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "        print('wrote', path)\n"
        "    except OSError as err:\n"
        "        print('refused', type(err).__name__)\n"
        "open('/scratch/answers.json', 'w').write('{}')\n"
        "os.remove('/scratch/notebook.ipynb')\n",
        scratch=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" not in result.stdout and result.stdout.count("refused") == len(targets)
    assert (tmp_path / "answers.json").read_text() == "{}"
    assert not (ROOT / "reco" / "x.py").exists()


@needs_sandbox
def test_nothing_outlives_the_run(tmp_path):
    result = sandbox.run(
        ["/bin/sh", "-c", "(sleep 1; echo late > /scratch/late) & echo started"], scratch=tmp_path
    )
    assert result.returncode == 0 and result.stdout.strip() == "started"
    time.sleep(2)
    assert not (tmp_path / "late").exists()


@needs_sandbox
def test_memory_beyond_the_limit_is_stopped_and_named():
    result = python(
        "x = bytearray(400 * 2**20)\nprint('allocated')",
        limits=sandbox.Limits(memory_bytes=200 * 2**20),
    )
    assert result.killed == "memory" and "allocated" not in result.stdout


@needs_sandbox
def test_cpu_time_and_wall_time_are_limited():
    busy = python("while True: pass", limits=sandbox.Limits(cpu_seconds=1))
    assert busy.killed == "CPU time" and busy.cpu_seconds >= 1
    asleep = python("import time; time.sleep(60)", limits=sandbox.Limits(wall_seconds=1))
    assert asleep.killed == "wall time" and asleep.seconds < 30


@needs_sandbox
def test_the_number_of_processes_is_limited():
    result = python(
        "import os, time\n"
        "for i in range(100):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "print('forked 100')",
        limits=sandbox.Limits(processes=20, wall_seconds=20),
    )
    assert "forked 100" not in result.stdout
    assert "Resource temporarily unavailable" in result.stderr


# ------------------------------------------------------------ make grade, with a hostile notebook

#: The attacks of a hostile notebook, one cell appended to the student notebook of 01. Each
#: records what happened; the last line raises it, so that the grader's cell errors carry it.
ATTACKS = """
import json, os, socket, subprocess
outcomes = {}
def attempt(name, action):
    try:
        action()
        outcomes[name] = "succeeded"
    except Exception as err:
        outcomes[name] = type(err).__name__
root, peer = %(root)r, %(peer)r
attempt("read the solution master", lambda: open(root + "/exercises/01_movielens_data.md").read())
attempt("read the autograders in build", lambda: os.listdir(root + "/build/exercises"))
attempt("write into build", lambda: open(root + "/build/attack.txt", "w").write("x"))
attempt("patch the reco package", lambda: open(root + "/reco/attack.py", "w").write("x"))
attempt("blank a peer's notebook", lambda: open(peer, "w").write("{}"))
attempt("reach the network", lambda: socket.create_connection(("pypi.org", 443), timeout=3))
def find_peer_on_a_command_line():
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        if os.path.dirname(peer) in open(f"/proc/{pid}/cmdline").read():
            return
    raise LookupError("no command line names the submissions")
attempt("find the submissions on a command line", find_peer_on_a_command_line)
def find_the_tests():  # hidden tests, the autograder or the solution anywhere in view
    for folder, _, files in os.walk("/"):
        if folder.startswith(("/proc", "/sys", "/usr", "/dev")) or "site-packages" in folder:
            continue
        for f in files:
            if f.endswith("-autograder.zip") or f == "01_movielens_data.md" or (
                    f == "q1.py" and folder.endswith("tests")):
                return
    raise LookupError("no test, autograder or solution in view")
attempt("find the hidden tests, the autograder or the solution", find_the_tests)
def patch_otter():  # would give full marks if otter ran the tests in this kernel
    from otter.test_files import abstract_test, exception_test
    exception_test.ExceptionTestFile.run = lambda self, env: None
    abstract_test.TestFile.score = property(lambda self: self.possible)
attempt("patch otter's test runner", patch_otter)
class Liar(float):  # an answer whose ==, <, - always "match"
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True
    __hash__ = float.__hash__
    __sub__ = __rsub__ = lambda self, other: 0.0
top_user, top_user_ratings, top_user_mean, above_average = Liar(1), Liar(2), Liar(3.0), Liar(0.5)
subprocess.Popen(["sleep", "600"], start_new_session=True)  # work that would outlive the grading
raise RuntimeError("OUTCOMES " + json.dumps(outcomes))
"""


def _built(name):
    tool = _exercises_tool()
    built = tool.Built(name)
    if not built.autograder.is_file():
        if os.environ.get("RECO_REQUIRE_SANDBOX"):
            raise RuntimeError(f"{name} is not built: make exercises-test builds it first")
        pytest.skip(f"{name} is not built: run make exercises")
    return tool, built


def _exercises_tool():
    from test_exercises import _tool

    return _tool()


def _nobody_processes() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["uids"]) if p.info["uids"].real == sandbox.NOBODY]


@needs_sandbox
def test_a_hostile_notebook_reaches_nothing_and_a_peer_keeps_full_marks(tmp_path):
    import csv

    import nbformat

    tool, built = _built("01_movielens_data")
    folder = tmp_path / "submissions"
    folder.mkdir()
    peer = folder / "peer.ipynb"
    peer.write_bytes(built.solution.read_bytes())  # a right answer to every question
    hostile = nbformat.read(built.student, as_version=4)
    hostile.cells.append(
        nbformat.v4.new_code_cell(ATTACKS % {"root": str(ROOT), "peer": str(peer)})
    )
    nbformat.write(hostile, folder / "hostile.ipynb")

    graded = tool.grade_apart(folder / "hostile.ipynb", built.autograder, 300, sandboxed=True)
    reports = [e for e in graded.cell_errors if "OUTCOMES" in e]
    assert len(reports) == 1, graded
    outcomes = json.loads(reports[0].split("OUTCOMES ", 1)[1])
    # Patching otter succeeds, in the notebook's own kernel, where no test runs: it changes nothing.
    assert outcomes.pop("patch otter's test runner") == "succeeded"
    assert len(outcomes) == 8 and "succeeded" not in outcomes.values(), outcomes
    assert graded.scores == {q: (0.0, 1.0) for q in ("q1", "q2", "q3", "q4")}, graded.feedback
    assert _nobody_processes() == []  # the detached sleep died with its sandbox

    out = tmp_path / "grades.csv"
    assert tool.grade(folder, out, timeout=300, jobs=2) == 0
    rows = list(csv.DictReader(out.open()))
    scores = {}
    for row in rows:
        scores.setdefault(row["submission"], []).append(float(row["score"]))
    assert sum(scores["peer.ipynb"]) == 4 and sum(scores["hostile.ipynb"]) == 0
    assert peer.read_bytes() == built.solution.read_bytes()
    assert (
        not (ROOT / "build" / "attack.txt").exists() and not (ROOT / "reco" / "attack.py").exists()
    )
    assert _nobody_processes() == []


def test_make_grade_refuses_student_code_without_a_sandbox(tmp_path, monkeypatch):
    tool = _exercises_tool()
    monkeypatch.setattr(sandbox, "unavailable", lambda: "Bubblewrap (bwrap) is not installed.")
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "a.ipynb").write_text("{}")
    out = tmp_path / "grades.csv"
    with pytest.raises(
        SystemExit, match=r"no sandbox can run here: Bubblewrap .* Nothing was graded"
    ):
        tool.grade(folder, out, timeout=5, jobs=1)
    assert not out.exists()


def _grade_altered_solution(tmp_path, name: str, alter) -> dict[str, float]:
    """Grade exercise ``name``'s solution, changed by ``alter(notebook)``; return its scores."""
    import csv

    import nbformat

    tool, built = _built(name)
    folder = tmp_path / "submissions"
    folder.mkdir()
    notebook = nbformat.read(built.solution, as_version=4)
    alter(notebook)
    nbformat.write(notebook, folder / f"{name}.ipynb")
    out = tmp_path / "grades.csv"
    assert tool.grade(folder, out, timeout=300, jobs=1) == 0
    return {row["question"]: float(row["score"]) for row in csv.DictReader(out.open())}


def _code_cell_with(notebook, text: str):
    cells = [c for c in notebook.cells if c.cell_type == "code" and text in c.source]
    assert cells, f"the solution no longer has a cell with {text!r}"
    return cells[0]


@needs_sandbox
def test_a_wrong_value_of_the_right_type_scores_nothing_on_its_question(tmp_path):
    def off_by_a_tenth(notebook):  # q1: the most active user's mean rating, off by 0.1 star
        _code_cell_with(
            notebook, "top_user_mean = float("
        ).source += "\ntop_user_mean = top_user_mean + 0.1"

    scores = _grade_altered_solution(tmp_path, "01_movielens_data", off_by_a_tenth)
    # its public tests (types, ranges) pass; the hidden value test fails: no partial credit
    assert scores == {"q1": 0.0, "q2": 1.0, "q3": 1.0, "q4": 1.0}


@needs_sandbox
def test_a_right_answer_spelled_another_way_keeps_full_marks(tmp_path):
    spelled = 'loss="mean_squared_error"'

    def mse_as_an_object(notebook):
        cell = _code_cell_with(notebook, spelled)
        cell.source = "import keras\n" + cell.source.replace(
            spelled, "loss=keras.losses.MeanSquaredError()"
        )

    scores = _grade_altered_solution(tmp_path, "05_subclassed_model", mse_as_an_object)
    assert scores == {"q1": 1.0, "q2": 1.0, "q3": 1.0}


@needs_sandbox
def test_an_endless_loop_is_interrupted_and_the_finished_answers_still_count(tmp_path):
    import nbformat

    tool, built = _built("01_movielens_data")
    notebook = nbformat.read(built.solution, as_version=4)
    stuck = _code_cell_with(notebook, "top_user_mean = float(")
    notebook.cells.insert(
        notebook.cells.index(stuck) + 1, nbformat.v4.new_code_cell("while True:\n    pass")
    )
    nbformat.write(notebook, tmp_path / "loops.ipynb")
    graded = tool.grade_apart(tmp_path / "loops.ipynb", built.autograder, 300, sandboxed=True,
                              cell_timeout=15)  # fmt: skip
    assert graded.scores == {q: (1.0, 1.0) for q in ("q1", "q2", "q3", "q4")}, graded
    assert any("CellTimeout" in e for e in graded.cell_errors), graded.cell_errors


@needs_sandbox
def test_a_function_answer_is_called_in_the_sandbox_not_in_the_grader(tmp_path):
    """02 q4's dot_by_hand, written to attack whoever calls it: it runs as nobody, in the sandbox."""
    import nbformat

    tool, built = _built("02_dot_product_v1")
    notebook = nbformat.read(built.solution, as_version=4)
    cell = _code_cell_with(notebook, "def dot_by_hand(")
    cell.source = cell.source.replace(
        "def dot_by_hand(user_factors, movie_factors, X):\n",
        "def dot_by_hand(user_factors, movie_factors, X):\n"
        "    import os\n"
        f"    open({str(ROOT / 'build' / 'called.txt')!r}, 'w').write(str(os.getuid()))\n",
    )
    nbformat.write(notebook, tmp_path / "caller.ipynb")
    graded = tool.grade_apart(tmp_path / "caller.ipynb", built.autograder, 300, sandboxed=True)
    assert not (ROOT / "build" / "called.txt").exists()
    assert graded.scores["q4"] == (0.0, 1.0)  # it raised where it ran: the read-only view
    assert (
        "PermissionError" in graded.feedback["q4"] or "FileNotFoundError" in graded.feedback["q4"]
    )
    assert graded.scores["q1"] == graded.scores["q2"] == graded.scores["q3"] == (1.0, 1.0)
