"""constraints.txt: the exact version of every package the project installs, read from this environment.

pyproject.toml says which versions work (compatible ranges, so a user's own environment can mix this
with other packages); constraints.txt says which ones CI and ``./dev`` install (``pip install -c
constraints.txt``), so every fresh checkout runs the tests on the versions they last passed with.
It lists the project's dependencies with the ``dev``, ``fast`` and ``sweep`` extras and all of theirs,
as installed now: nothing installed by hand beside them, and not the project itself.

After adding or changing a dependency in pyproject.toml::

    ./dev lock              # installs what pyproject.toml asks into .venv, then rewrites constraints.txt
    ./dev lock --upgrade --upgrade-strategy eager   # the same, moving every package to the newest its range allows

which runs ``python -m tools.constraints`` (``--check``: exit 1 and name the differences instead of
writing; tests/test_dependencies.py makes the same check).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "constraints.txt"
PROJECT = "fleet-timing-sim"
EXTRAS = ("dev", "fast", "sweep")  # what ./dev installs: pip install -e '.[dev,fast,sweep]'
HEADER = """\
# The exact versions CI and ./dev install (pip install -c constraints.txt); pyproject.toml has the ranges.
# Generated from .venv by `./dev lock` (python -m tools.constraints): do not edit by hand.
"""


def installed_closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name, installed version)}`` of every package ``project[extras]`` needs, transitively,
    with each requirement's markers evaluated here (this Python, this platform, the extras asked for)."""
    found: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str], str]] = [(project, frozenset(extras), "")]
    while todo:
        name, wanted, why = todo.pop()
        key = (canonicalize_name(name), wanted)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} (needed by {why or 'the project'}) is not installed: ./dev lock installs "
                             "what pyproject.toml asks first") from None
        if key[0] != canonicalize_name(project):
            found[key[0]] = (dist.metadata["Name"], dist.version)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
                continue
            todo.append((req.name, frozenset(req.extras), dist.metadata["Name"]))
    return found


def render(pins: dict[str, tuple[str, str]]) -> str:
    """The file's text: the header, then ``Name==version`` sorted by name."""
    return HEADER + "".join(f"{name}=={version}\n" for _, (name, version) in sorted(pins.items()))


def read(path: Path = FILE) -> dict[str, str]:
    """``{canonical name: version}`` of a constraints file's ``name==version`` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise ValueError(f"{path}: {line!r} is not name==version")
            pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def differences(pins: dict[str, str], installed: dict[str, tuple[str, str]]) -> list[str]:
    """What differs between a constraints file's pins and the packages installed, one line each."""
    lines = []
    for key in sorted(set(pins) | set(installed)):
        have = installed[key][1] if key in installed else None
        if have is None:
            lines.append(f"{key}: pinned {pins[key]} but not needed (any more)")
        elif key not in pins:
            lines.append(f"{key}: installed {have} but not pinned")
        elif pins[key] != have:
            lines.append(f"{key}: pinned {pins[key]} but {have} installed")
    return lines


def main(argv: list[str]) -> int:
    installed = installed_closure()
    if argv == ["--check"]:
        diff = differences(read(), installed)
        for line in diff:
            print(line)
        return 1 if diff else 0
    if argv:
        print("usage: python -m tools.constraints [--check]", file=sys.stderr)
        return 2
    FILE.write_text(render(installed))
    print(f"wrote {FILE.relative_to(ROOT)}: {len(installed)} packages pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
