"""environment.yml (conda, Binder) and pyproject.toml (pip) must agree."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*((?:[<>=!~]=?[^,\s#]+\s*,?\s*)*)")


def _parse(line: str) -> tuple[str, str]:
    m = _REQ.match(line)
    assert m, f"cannot parse requirement {line!r}"
    name = m.group(1).lower().replace("_", "-")
    spec = ",".join(sorted(s.strip() for s in m.group(2).replace(" ", "").split(",") if s))
    return name, spec


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + [r for extra in _extras().values() for r in extra]
    return dict(_parse(r) for r in reqs)


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _environment() -> dict[str, str]:
    out = {}
    text = (ROOT / "environment.yml").read_text()
    assert "\ndependencies:" in text, "environment.yml has no dependencies: section"
    for raw in text.split("\ndependencies:", 1)[1].splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("- ") or line.endswith(":"):
            continue
        item = line[2:].strip()
        if item.startswith("-e ") or item in {"pip"}:
            continue
        name, spec = _parse(item)
        out[name] = spec
    return out


def test_every_pyproject_dependency_is_in_environment_yml_with_the_same_bounds():
    env = _environment()
    for name, spec in _pyproject().items():
        assert name in env, f"{name} is in pyproject.toml but not in environment.yml"
        assert env[name] == spec, (
            f"{name}: pyproject.toml has {spec!r}, environment.yml {env[name]!r}"
        )


def test_environment_yml_lists_nothing_pyproject_lacks():
    extra = set(_environment()) - set(_pyproject()) - {"python"}
    assert not extra, f"environment.yml lists {sorted(extra)}, which pyproject.toml does not"


def test_python_bounds_agree():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert _parse("python " + data["project"]["requires-python"])[1] == _environment()["python"]


def test_the_python_floor_has_tomllib_which_these_tests_import():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    floor = re.search(r">=\s*3\.(\d+)", requires)
    assert floor and int(floor[1]) >= 11, (
        f"tomllib is new in Python 3.11; requires-python is {requires!r}"
    )


#: The one exact pin: torch 2.13.0 is the CPU build the package index holds; a range
#: pulls a CUDA build of about 5 GB (pyproject.toml says why).
EXACT_PINS = {"torch": "==2.13.0"}


def test_every_dependency_has_lower_and_upper_bounds():
    for name, spec in _pyproject().items():
        if name in EXACT_PINS:
            assert spec == EXACT_PINS[name], f"{name} is pinned to {EXACT_PINS[name]}, has {spec!r}"
            continue
        assert ">=" in spec and "<" in spec.replace("<=", ""), f"{name} needs bounds, has {spec!r}"


def test_environment_yml_installs_the_package_editable_with_every_extra():
    extras = _extras()
    text = (ROOT / "environment.yml").read_text()
    installed = re.search(r"^\s*-\s*-e \.\[([a-z,]+)\]", text, re.M)
    assert installed, "environment.yml does not install the package with `-e .[...]`"
    assert sorted(installed[1].split(",")) == sorted(extras)


def test_make_setup_installs_every_extra():
    extras = _extras()
    installed = re.search(r'pip install .*-e "\.\[([a-z,]+)\]"', (ROOT / "Makefile").read_text())
    assert installed, "the Makefile's setup does not install the package with -e .[...]"
    assert sorted(installed[1].split(",")) == sorted(extras)


@pytest.mark.parametrize("line", ["numpy >=1.26,<3", "numpy>=1.26,<3", "numpy <3, >=1.26"])
def test_requirement_parser_normalises_spacing_and_order(line):
    assert _parse(line) == ("numpy", "<3,>=1.26")
