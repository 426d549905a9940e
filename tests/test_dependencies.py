"""Dependencies: compatible ranges in pyproject.toml, the exact versions in constraints.txt, which ./dev (and so
CI) installs with ``pip -c``, and which matches what is installed here (tools/constraints.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.constraints import FILE, differences, installed_closure, read, render

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements() -> list[Requirement]:
    """[project] dependencies and every extra's."""
    project = PYPROJECT["project"]
    texts = [*project["dependencies"], *(t for extra in project["optional-dependencies"].values() for t in extra)]
    return [Requirement(t) for t in texts]


def test_pyproject_asks_for_compatible_ranges_not_exact_versions() -> None:
    reqs = requirements()
    assert len(reqs) >= 15
    for req in reqs:
        ops = {s.operator for s in req.specifier}
        assert not ops & {"==", "==="}, f"{req}: an exact version belongs in constraints.txt, not pyproject.toml"
        assert ">=" in ops or "~=" in ops, f"{req}: give the oldest version it works with (>=)"


def test_every_dependency_is_pinned_in_constraints_within_its_range() -> None:
    pins = read(FILE)
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no pin in constraints.txt: run ./dev lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is outside {req}"


def test_constraints_are_exactly_what_is_installed() -> None:
    """What CI installs (./dev, pip -c constraints.txt) is what the tests run with here: after a change to
    pyproject.toml's dependencies, ./dev lock brings the two together."""
    assert differences(read(FILE), installed_closure()) == [], "constraints.txt is stale: run ./dev lock"
    assert FILE.read_text() == render(installed_closure()), "constraints.txt is not as ./dev lock writes it"


def test_differences_name_each_kind_of_drift() -> None:
    installed = {"numpy": ("numpy", "2.4.6"), "simpy": ("simpy", "4.1.2"), "new-one": ("New_One", "1.0")}
    pins = {"numpy": "2.4.6", "simpy": "4.1.1", "gone": "0.1"}
    assert differences(pins, installed) == ["gone: pinned 0.1 but not needed (any more)",
                                            "new-one: installed 1.0 but not pinned",
                                            "simpy: pinned 4.1.1 but 4.1.2 installed"]


def test_dev_installs_with_the_constraints_and_ci_goes_through_dev() -> None:
    dev = (ROOT / "dev").read_text()
    (install,) = [line for line in dev.splitlines() if "pip\" install" in line and "-e" in line and "-c" in line]
    assert "-c constraints.txt" in install
    assert re.search(r"sha1sum", dev) and "pyproject.toml constraints.txt" in dev  # either file changed: reinstall
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\./dev test\b", ci, re.M) and not re.search(r"\bpip\b", ci)  # no install of its own
