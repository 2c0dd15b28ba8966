"""nbval plugin: compare outputs to the digit on the kind of machine that made them, else tolerantly.

``make notebooks-test`` loads it (``-p nbval_tolerance``). For each notebook it
compares this machine's fingerprint (tools/fingerprint.py) with the one that
``make outputs`` recorded in the notebook's metadata (``metadata["reco"]["cpu"]``):

* the same: nbval's own comparison, every character (after sanitize.cfg);
* different or missing: every text output (``stdout``, ``stderr``, ``text/plain``,
  ``text/html``, ...) is split into numbers and the text between them, and

  - the text between numbers must be identical (a run of blanks matches any run of
    blanks: a number one digit wider shifts a table's columns). Titles, labels,
    warnings and the number of lines and outputs are therefore compared exactly,
    and a list of titles must come in the same order, even where two of its scores
    are nearly tied (see README, "Outputs on another machine");
  - a number written without a decimal point or exponent (a count, an id, a year,
    an epoch) must be identical;
  - any other number ``b`` must be within ``u + RTOL * |a|`` of the recorded ``a``,
    ``RTOL = 1e-3``, where ``u`` is one unit in the last digit printed (0.0001 for
    ``0.8526``; the larger of the two if they print different digits). Printed
    values within ``RTOL`` of each other can still round one unit apart, hence ``u``.
    With four decimals, any value above 0.03 that moves by 1% fails.

``--nbval-tolerant=always`` or ``never`` (``make notebooks-test NBVAL_TOLERANT=1`` or
``0``) compares every notebook tolerantly, or to the digit, whatever its fingerprint.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ is scripts, not a package
from fingerprint import machine_fingerprint, same_kind  # noqa: E402

RTOL = 1e-3
MODES = ("auto", "always", "never")
#: A number: optional sign, digits (with optional 3-digit thousands groups), decimals, exponent.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BLANKS = re.compile(r"[ \t]+")


def _numbers(text: str) -> tuple[list[str], list[str]]:
    """Split ``text`` into the texts between numbers (one more than numbers) and the numbers."""
    texts, numbers, start = [], [], 0
    for m in NUMBER.finditer(text):
        token = m.group()
        if not any(c.isdigit() for c in token.split("e")[0].split("E")[0]):
            continue  # an empty match, a lone sign or point, an exponent without digits
        texts.append(text[start : m.start()])
        numbers.append(token)
        start = m.end()
    texts.append(text[start:])
    return texts, numbers


def _is_integer(token: str) -> bool:
    return "." not in token and "e" not in token.lower()


def _last_digit(token: str) -> float:
    """One unit in the last printed digit of a number: 0.0001 for ``0.8526``, 1e-7 for ``1.2e-05``."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_agree(recorded: str, new: str, rtol: float = RTOL) -> bool:
    """Whether a newly printed number agrees with the recorded one (see the module's rule)."""
    if _is_integer(recorded) or _is_integer(new):
        return recorded == new
    a, b = float(recorded.replace(",", "")), float(new.replace(",", ""))
    unit = max(_last_digit(recorded), _last_digit(new))
    return abs(b - a) <= unit + rtol * abs(a)


def text_difference(recorded: str, new: str, rtol: float = RTOL) -> str | None:
    """Describe the first place where ``new`` disagrees with ``recorded``, or None if they agree.

    Numbers are compared by :func:`numbers_agree`, the text between them exactly
    (a run of blanks matches any run of blanks).
    """
    texts_a, numbers_a = _numbers(recorded)
    texts_b, numbers_b = _numbers(new)
    for i, (a, b) in enumerate(zip(texts_a, texts_b, strict=False)):
        if _BLANKS.sub(" ", a) != _BLANKS.sub(" ", b):
            return f"text {a.strip()[:60]!r} became {b.strip()[:60]!r}"
        if i < len(numbers_a) and i < len(numbers_b):
            x, y = numbers_a[i], numbers_b[i]
            if not numbers_agree(x, y, rtol):
                before = "".join(t + n for t, n in zip(texts_a[:i], numbers_a[:i], strict=True))
                line = (before + texts_a[i]).rsplit("\n", 1)[-1]
                where = _BLANKS.sub(" ", line[-50:] + x).strip()
                return f"number {x} became {y} (in {where!r}), beyond {_rule(x, y, rtol)}"
    if len(numbers_a) != len(numbers_b):
        return f"{len(numbers_a)} numbers became {len(numbers_b)}"
    return None


def _rule(x: str, y: str, rtol: float) -> str:
    if _is_integer(x) or _is_integer(y):
        return "exact (a number without decimals)"
    unit = max(_last_digit(x), _last_digit(y))
    return f"{unit:g} + {rtol:g} * |{x}| = {unit + rtol * abs(float(x.replace(',', ''))):.3g}"


#: Output keys nbval never compares (its IPyNbFile.skip_compare, images included).
SKIP = (
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
)


def _flatten(outputs, sanitize, skip) -> dict[str, list]:
    """nbval's view of a cell's outputs: ``{key: [values, in order]}``, streams keyed by name."""
    found: dict[str, list] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            out = {"output_type": "stream", out["name"]: out["text"]}
        for key, value in out.items():
            if key in skip:
                continue
            items = value.items() if key == "data" else [(key, value)]
            for k, v in items:
                if k not in skip:
                    found.setdefault(k, []).append(sanitize(v))
    return found


def outputs_difference(
    recorded, new, sanitize=lambda s: s, skip=SKIP, rtol: float = RTOL
) -> str | None:
    """Describe how a cell's new outputs disagree with its recorded ones, tolerantly, or None.

    The same keys (``stdout``, ``stderr``, ``text/plain``, ...) must be present, each
    as many times; strings are compared by :func:`text_difference`, anything else exactly.

    Args:
        recorded, new: a cell's outputs (nbformat output dicts, streams coalesced).
        sanitize: applied to each value first (nbval's sanitize.cfg patterns).
    """
    a, b = _flatten(recorded, sanitize, skip), _flatten(new, sanitize, skip)
    if set(a) != set(b):
        missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        return f"outputs missing: {missing}, unexpected: {extra}"
    for key in a:
        if len(a[key]) != len(b[key]):
            return f"{len(a[key])} {key!r} outputs became {len(b[key])}"
        for x, y in zip(a[key], b[key], strict=True):
            if isinstance(x, str) and isinstance(y, str):
                problem = text_difference(x, y, rtol)
            else:
                problem = None if x == y else "values differ"
            if problem:
                return f"{key!r}: {problem}"
    return None


def recorded_fingerprint(path: Path) -> dict | None:
    """Return the fingerprint that ``make outputs`` recorded in a notebook, or None."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("reco", {}).get("cpu")


def tolerant_for(recorded: dict | None, current: dict, mode: str = "auto") -> bool:
    """Whether to compare a notebook tolerantly: by ``mode``, or (``auto``) unless the fingerprints match."""
    if mode not in MODES:
        raise ValueError(f"--nbval-tolerant must be one of {MODES}, not {mode!r}")
    if mode != "auto":
        return mode == "always"
    return not same_kind(recorded, current)


# --------------------------------------------------------------------------- pytest hooks


def pytest_addoption(parser):
    parser.getgroup("nbval").addoption(
        "--nbval-tolerant",
        choices=MODES,
        default="auto",
        help="compare outputs within a tolerance: auto (where the notebook's recorded "
        "machine fingerprint differs from this machine's), always, or never",
    )


def _compare_tolerantly(self, test, ref, skip_compare=None):
    """IPyNbCell.compare_outputs, with :func:`outputs_difference` in place of ``==``."""
    problem = outputs_difference(
        ref, test, sanitize=self.sanitize, skip=skip_compare or self.parent.skip_compare
    )
    self.comparison_traceback = []
    if problem:
        self.comparison_traceback.append(
            f"Outputs differ beyond the tolerance (this notebook's outputs were made on "
            f"another kind of machine, see tools/nbval_tolerance.py): {problem}"
        )
    return problem is None


def pytest_collection_modifyitems(session, config, items):
    from nbval.plugin import IPyNbCell

    mode = config.getoption("nbval_tolerant")
    current = machine_fingerprint()
    decided: dict[Path, bool] = {}
    for item in items:
        if not isinstance(item, IPyNbCell):
            continue
        path = Path(item.fspath)
        if path not in decided:
            decided[path] = tolerant_for(recorded_fingerprint(path), current, mode)
        if decided[path]:
            item.compare_outputs = _compare_tolerantly.__get__(item)


def pytest_report_header(config):
    if not config.getoption("nbval", False):
        return None
    return (
        f"nbval_tolerance: --nbval-tolerant={config.getoption('nbval_tolerant')}, this "
        f"machine's fingerprint {machine_fingerprint()['id']} (tools/fingerprint.py)"
    )


def pytest_collection_finish(session):
    """Say which notebooks are compared to the digit and which within the tolerance."""
    from nbval.plugin import IPyNbCell

    modes = {}
    for item in session.items:
        if isinstance(item, IPyNbCell):
            tolerant = "compare_outputs" in vars(item)
            modes[Path(item.fspath).name] = (
                f"within the tolerance (rtol {RTOL:g} + one unit in the last digit)"
                if tolerant
                else "to the digit"
            )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and modes:
        for name, how in modes.items():
            reporter.write_line(f"{name}: outputs compared {how}")
