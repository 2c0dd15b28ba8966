"""The kind of machine a notebook's outputs were computed on, as a short stable id.

Trained numbers are reproducible to the digit only where the same kernels run in
the same order: the same instruction sets (oneDNN, Eigen and OpenBLAS pick
kernels by them at run time), the same BLAS core type (``OPENBLAS_CORETYPE``
overrides it), the same cache sizes (Eigen sizes its matrix blocks by them), the
same number of CPUs (thread pools split reductions by it) and the same versions
of the numeric libraries. :func:`machine_fingerprint` records exactly these; a
model name ("Intel Xeon Processor") is not enough, and is left out.

``make outputs`` (tools/run_notebooks.py) stores the fingerprint in each
notebook's metadata (``metadata["reco"]["cpu"]``); ``make notebooks-test``
(tools/nbval_tolerance.py) compares a notebook to the digit where it matches this
machine's, and within a tolerance elsewhere.

    python tools/fingerprint.py      # this machine's fingerprint, as JSON
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

#: CPU flags of the instruction-set families that change numeric kernels
#: (x86: SSE4, AVX, AVX2, FMA, AVX-512, AMX, AVX-VNNI, F16C; Arm: NEON/ASIMD, SVE, SME).
KERNEL_FLAGS = re.compile(
    r"^(sse4_[12]|ssse3|avx.*|fma4?|f16c|amx.*|asimd.*|neon|sve.*|sme|sme[2bfi].*|bf16|i8mm)$"
)
#: Environment variables that choose kernels or threads in the libraries the notebooks use.
KERNEL_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "ONEDNN_MAX_CPU_ISA",
    "TF_ENABLE_ONEDNN_OPTS",
)
#: Libraries whose versions change the numbers the notebooks print.
NUMERIC_LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "tensorflow", "keras")


def _cpu_flags(cpuinfo: str) -> list[str] | None:
    """Return the kernel-relevant flags that every CPU in ``/proc/cpuinfo`` has, or None."""
    sets = [
        set(line.split(":", 1)[1].split())
        for line in cpuinfo.splitlines()
        if re.match(r"^(flags|Features)\s*:", line)
    ]
    if not sets:
        return None
    return sorted(f for f in set.intersection(*sets) if KERNEL_FLAGS.match(f))


def _caches(folder: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, str]:
    """Return CPU 0's cache sizes, e.g. ``{"L1d": "32K", "L2": "1024K", ...}`` (Linux)."""
    caches = {}
    for index in sorted(folder.glob("index*")):
        try:
            level, kind, size = (
                (index / name).read_text().strip() for name in ("level", "type", "size")
            )
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        caches[f"L{level}{suffix}"] = size
    return caches


def _blas() -> list[dict]:
    """Return numpy's BLAS libraries as threadpoolctl sees them (kind, core type, version)."""
    import numpy  # noqa: F401  (threadpoolctl lists only the libraries already loaded)
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "architecture", "version", "num_threads")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info() if lib["user_api"] == "blas"]


def _versions() -> dict[str, str | None]:
    found = {}
    for name in NUMERIC_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine_facts() -> dict:
    """Return the facts that decide whether trained numbers reproduce to the digit here.

    Returns:
        ``{"machine", "flags", "caches", "cpus", "blas", "env", "libraries"}``; ``flags``
        is None where ``/proc/cpuinfo`` cannot be read (not Linux).
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "machine": platform.machine(),
        "flags": _cpu_flags(cpuinfo),
        "caches": _caches(),
        "cpus": cpus,
        "blas": _blas(),
        "env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
        "libraries": _versions(),
    }


def fingerprint_id(facts: dict) -> str:
    """Return a short stable hash of ``facts`` (12 hex digits of SHA-256 of its sorted JSON)."""
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_fingerprint() -> dict:
    """Return this machine's fingerprint: ``{"id": <12 hex digits>, **machine_facts()}``.

    A fingerprint whose ``flags`` are unknown (None) never counts as a match
    (see :func:`same_kind`), so outputs made there are compared with a tolerance.
    """
    facts = machine_facts()
    return {"id": fingerprint_id(facts), **facts}


def same_kind(recorded: dict | None, current: dict) -> bool:
    """Whether outputs recorded on ``recorded`` can be expected to the digit on ``current``.

    True only when both are known (CPU flags read) and their facts hash the same;
    the id is recomputed from the recorded facts, so an edited id cannot match.
    """
    if not recorded or not current or recorded.get("flags") is None:
        return False
    facts = {k: v for k, v in recorded.items() if k != "id"}
    return fingerprint_id(facts) == current.get("id")


if __name__ == "__main__":
    json.dump(machine_fingerprint(), sys.stdout, indent=1)
    print()
