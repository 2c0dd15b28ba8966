"""Run untrusted code, such as a student's notebook, in a Bubblewrap sandbox of its own.

``make grade`` runs strangers' code. Each run gets:

* **an unprivileged user** (``nobody``, uid 65534): Bubblewrap, started as
  root, builds the sandbox, then ``setpriv`` drops to ``nobody`` with no
  capabilities and ``no_new_privs`` before the command starts;
* **no network** (a network namespace of its own, with only a loopback);
* **a filesystem that holds only what it needs**: the Python installation,
  the virtual environment and the ``reco`` package (an editable install),
  the data, and the system's ``/usr``, all read-only; a scratch folder of its
  own, the only writable place besides an empty ``/tmp``. No solutions
  (``exercises/``), no ``.git``, no ``build/`` (the autograders), no other
  submission: they are not in its view at all. Bubblewrap's own arguments
  go through a pipe (``--args``), so ``/proc`` shows no host path;
* **limits**: memory, number of processes (cgroup limits, so parallel
  sandboxes do not share them), CPU time (the cgroup's CPU usage, read while
  it runs), and wall time;
* **an end**: a PID namespace whose first process is Bubblewrap, so when the
  run ends every process it started dies with it; the cgroup is then swept
  and removed.

What it does not protect against: a kernel exploit (the sandbox shares the
host's kernel), reading what the read-only view holds (the data, the course
package), and a denial of service within its limits. :func:`unavailable`
says why a sandbox cannot run here (no Bubblewrap, not root, no writable
cgroup), so that callers can refuse instead of running code unconfined.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

#: The unprivileged user and group the code runs as.
NOBODY = 65534
#: Where the scratch folder and the data appear inside the sandbox.
SCRATCH, DATA = "/scratch", "/data"


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use."""

    memory_bytes: int = 6 * 2**30  #: TensorFlow and a course model fit in 6 GiB
    cpu_seconds: float = 900.0  #: CPU time over all its processes
    wall_seconds: float = 600.0
    processes: int = 256  #: processes and threads (TensorFlow starts dozens of threads)


@dataclass
class Result:
    """How a sandboxed run ended."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    #: ``None`` if it ended by itself; else which limit stopped it.
    killed: str | None = None
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- can it run here?


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def _cgroup_roots() -> dict[str, Path] | None:
    """The cgroup folders to create a sandbox's group in: v2's one, or v1's memory, pids, cpuacct."""
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").is_file():  # cgroup v2, unified
        controllers = (base / "cgroup.controllers").read_text().split()
        if {"memory", "pids"} <= set(controllers) and os.access(base, os.W_OK):
            return {"v2": base}
        return None
    roots = {name: base / name for name in ("memory", "pids", "cpuacct")}
    if all(root.is_dir() and os.access(root, os.W_OK) for root in roots.values()):
        return roots
    return None


def unavailable() -> str | None:
    """Return why no sandbox can run on this machine, or ``None`` if one can.

    A sandbox needs Linux, Bubblewrap (``bwrap``), ``setpriv`` (util-linux),
    root (to give the code to ``nobody`` and set cgroup limits) and a writable
    cgroup hierarchy with the memory and pids controllers.
    """
    fix = (
        "Fix: on Debian or Ubuntu, as root, `apt-get install bubblewrap` (make setup does it "
        "where it can), and run make grade as root on a machine or container with writable "
        "cgroups; or grade without a sandbox only if you trust every submission "
        "(make grade UNSANDBOXED=1)."
    )
    if not sys.platform.startswith("linux"):
        return f"a sandbox needs Linux; this is {sys.platform}. {fix}"
    if _bwrap() is None:
        return f"Bubblewrap (bwrap) is not installed. {fix}"
    if shutil.which("setpriv") is None:
        return f"setpriv (util-linux) is not installed. {fix}"
    if os.geteuid() != 0:
        return f"a sandbox is set up as root, to run the code as nobody; this is uid {os.geteuid()}. {fix}"
    if _cgroup_roots() is None:
        return f"no writable cgroup hierarchy with the memory and pids controllers. {fix}"
    probe = run([sys.executable, "-c", "print('ok')"], limits=Limits(wall_seconds=60))
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        return (
            f"Bubblewrap is installed but a test sandbox failed ({probe.killed or probe.returncode}: "
            f"{probe.stderr.strip()[-300:]}); user or mount namespaces may be disabled. {fix}"
        )
    return None


# --------------------------------------------------------------------------- the cgroup


class _Cgroup:
    """One cgroup (v2) or one group per controller (v1) with the sandbox's limits."""

    def __init__(self, limits: Limits):
        roots = _cgroup_roots()
        if roots is None:
            raise RuntimeError("no writable cgroup hierarchy (see sandbox.unavailable())")
        name = f"reco-sandbox-{uuid.uuid4().hex[:12]}"
        self.v2 = "v2" in roots
        self.folders = [root / name for root in roots.values()]
        for folder in self.folders:
            folder.mkdir()
        if self.v2:
            (folder,) = self.folders
            (folder / "memory.max").write_text(str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(limits.processes))
        else:
            memory, pids, _ = self.folders
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            with contextlib.suppress(OSError):  # only where swap accounting is on
                (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
            (pids / "pids.max").write_text(str(limits.processes))

    @property
    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self.folders]

    def cpu_seconds(self) -> float:
        try:
            if self.v2:
                for line in (self.folders[0] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec"):
                        return int(line.split()[1]) / 1e6
                return 0.0
            return int((self.folders[2] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return 0.0

    def peak_memory(self) -> int:
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.folders[0] / name).read_text())
        return 0

    def out_of_memory(self) -> bool:
        """Whether the kernel's out-of-memory killer killed a process of the group."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            lines = (self.folders[0] / name).read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
        return int(counts.get("oom_kill", 0)) > 0 or (self.v2 and int(counts.get("oom", 0)) > 0)

    def pids(self) -> set[int]:
        out = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                out |= {int(p) for p in procs.read_text().split()}
        return out

    def kill_all(self) -> None:
        """Kill every process in the group, until none is left."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, 9)
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy for a moment after the last kill
                    time.sleep(0.05)


# --------------------------------------------------------------------------- the sandbox


def _python_binds() -> list[Path]:
    """The folders the virtual environment's Python needs: the environment and its base install."""
    venv = Path(sys.prefix).resolve()
    base = Path(sys.base_prefix).resolve()
    return [base, venv] if base != venv else [base]


def _reco_folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("reco")
    if spec is None or spec.origin is None:
        raise RuntimeError("the reco package is not installed. Fix: make setup.")
    return Path(spec.origin).resolve().parent


def _parents(paths) -> list[str]:
    """Every parent folder of ``paths`` (outermost first), to create readable in the view."""
    out: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            text = str(parent)
            if text != "/" and text not in out and not text.startswith(("/usr", "/etc")):
                out.append(text)
    return out


def bwrap_arguments(scratch: Path, data: Path | None, read_only=()) -> list[str]:
    """Return Bubblewrap's arguments for a sandbox over ``scratch`` (writable) and ``data``."""
    binds = [*_python_binds(), _reco_folder(), *map(Path, read_only)]
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/usr", "/usr"]  # fmt: skip
    for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        if Path(f"/{link}").is_symlink():
            args += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif Path(f"/{link}").is_dir():
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    args += ["--perms", "0755", "--dir", "/etc"]  # made by Bubblewrap: readable by nobody
    for name in ("passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "localtime"):
        if Path(f"/etc/{name}").exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # An empty /tmp first, so that a bind below it (a host temporary folder) stays visible.
    args += ["--perms", "1777", "--tmpfs", "/tmp"]
    for parent in _parents([*binds, Path(SCRATCH), Path(DATA)]):
        args += ["--perms", "0755", "--dir", parent]
    for path in dict.fromkeys(binds):
        args += ["--ro-bind", str(path), str(path)]
    if data is not None:
        args += ["--ro-bind", str(data), DATA]
    args += ["--bind", str(scratch), SCRATCH, "--chdir", SCRATCH]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--tmpfs", "/dev/shm"]
    return args


def run(
    argv: list[str],
    *,
    scratch: Path | None = None,
    data: Path | None = None,
    env: dict[str, str] | None = None,
    limits: Limits = Limits(),
    read_only=(),
) -> Result:
    """Run ``argv`` in a new sandbox and return how it ended.

    Args:
        argv: the command, with paths as the sandbox sees them (the Python of
            the virtual environment is at its usual path).
        scratch: the writable folder, seen as ``/scratch`` (the working
            folder); it is given to ``nobody``. Default: an empty temporary
            folder, removed afterwards.
        data: a data folder, seen read-only as ``/data`` (``RECO_DATA_HOME``).
        env: environment variables; the sandbox starts from an empty
            environment plus ``HOME=/scratch``, ``PATH``, ``TMPDIR=/tmp``,
            ``RECO_DATA_HOME=/data`` and ``TF_CPP_MIN_LOG_LEVEL=3``.
        limits: memory, processes, CPU time and wall time.
        read_only: more host folders to show read-only at their own path.
    """
    own_scratch = scratch is None
    if own_scratch:
        scratch = Path(tempfile.mkdtemp(prefix="reco-sandbox-"))
    try:
        return _run(argv, Path(scratch), data, env or {}, limits, read_only)
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(argv, scratch: Path, data, env, limits: Limits, read_only) -> Result:
    for path in [scratch, *scratch.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    environment = {
        "HOME": SCRATCH,
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "Agg",
        **({"RECO_DATA_HOME": DATA} if data is not None else {}),
        **env,
    }
    args = bwrap_arguments(scratch, data, read_only)
    args += ["--clearenv"] + [a for k, v in environment.items() for a in ("--setenv", k, v)]
    drop = ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]  # fmt: skip
    group = _Cgroup(limits)
    start = time.monotonic()
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # The shell joins the cgroup, then becomes Bubblewrap: nothing runs outside the limits.
            joins = " ".join(f"echo $$ > {procs};" for procs in group.procs_files)
            process = subprocess.Popen(
                ["/bin/sh", "-c", f'{joins} exec "$0" --args {read_end} "$@"', _bwrap(),
                 *drop, *argv],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(read_end,),
                start_new_session=True,
            )  # fmt: skip
            os.close(read_end)
            read_end = -1
            with os.fdopen(write_end, "wb") as pipe:
                write_end = -1
                pipe.write(b"".join(a.encode() + b"\0" for a in args))
            killed = _wait(process, group, limits, start)
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
            cpu, peak, oom = group.cpu_seconds(), group.peak_memory(), group.out_of_memory()
            group.remove()
        if killed is None and oom:
            killed = "memory"
        out.seek(0)
        err.seek(0)
        return Result(
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            seconds=time.monotonic() - start,
            killed=killed,
            cpu_seconds=cpu,
            peak_memory_bytes=peak,
        )


def _wait(process: subprocess.Popen, group: _Cgroup, limits: Limits, start: float) -> str | None:
    """Wait for the sandbox to end; stop it at a limit and return which one."""
    while True:
        try:
            process.wait(timeout=0.2)
            return None
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() - start > limits.wall_seconds:
            reason = "wall time"
        elif group.cpu_seconds() > limits.cpu_seconds:
            reason = "CPU time"
        else:
            continue
        group.kill_all()
        process.wait()
        return reason
