"""Docs that are generated from code must be current."""

import importlib
import re
from pathlib import Path

from sim.scenario.doc import render

ROOT = Path(__file__).resolve().parents[1]


def test_scenario_reference_is_current() -> None:
    assert (ROOT / "docs" / "scenario.md").read_text() == render(), (
        "docs/scenario.md is stale: run  python -m sim.scenario.doc > docs/scenario.md")


def test_readme_first_screen_has_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:25]
    assert any("./dev run scenarios/warehouse.yaml" in line for line in head)
    assert any("./dev test" in line for line in head)


# ------------------------------------------------------------- references in docs and code resolve
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "BENCHMARKS.md"]
SOURCES = sorted(p for d in ("sim", "sensors", "controllers", "bench", "tests") for p in (ROOT / d).rglob("*.py"))
# a dotted name of the project (sim.report.build.WALL_CLOCK_FIELDS) or a path in the repository (sim/core/clock.py)
DOTTED = re.compile(r"(?<![\w./-])((?:sim|sensors|controllers)(?:\.[A-Za-z_]\w*)+)")
PATH = re.compile(r"(?<![\w./-])((?:sim|sensors|controllers|bench|tests|scenarios|examples|docs)/[\w./*<>{}-]*[\w*>}])")
FILE_NAMES = (".py", ".md", ".yaml", ".json", ".csv", ".png")


def _resolves(dotted: str) -> bool:
    """The longest importable module prefix, then attributes for the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _stale(files: list[Path], *, names: bool) -> list[str]:
    out = []
    for f in files:
        text = f.read_text()
        if names:
            out += [f"{f.relative_to(ROOT)}: {m}" for m in sorted(set(DOTTED.findall(text)))
                    if not m.endswith(FILE_NAMES) and not _resolves(m)]
        out += [f"{f.relative_to(ROOT)}: {m}" for m in sorted(set(PATH.findall(text)))
                if not any(c in m for c in "*<{") and not (ROOT / m).exists()]
    return out


def test_module_names_and_paths_in_the_docs_exist() -> None:
    assert _stale(DOCS, names=True) == []


def test_paths_in_code_comments_and_docstrings_exist() -> None:
    # dotted names in code are often variables (``sensors.setdefault``): only paths are checked there
    assert _stale(SOURCES, names=False) == []


def test_nothing_points_outside_the_repository() -> None:
    """The docs stand on their own: no ``../shared``-style pointer, no link leaving the checkout."""
    outside = []
    for f in [*DOCS, *SOURCES, ROOT / "pyproject.toml"]:
        if f == Path(__file__).resolve():
            continue  # the patterns below
        text = f.read_text()
        outside += [f"{f.relative_to(ROOT)}: {m}" for m in re.findall(r"HOST-TIMING\S*|\.\./shared\S*", text)]
        if f.suffix == ".md":
            for link in re.findall(r"\]\(([^)#]+)[^)]*\)", text):
                if "://" not in link and not (f.parent / link).resolve().is_relative_to(ROOT):
                    outside.append(f"{f.relative_to(ROOT)}: {link}")
                elif "://" not in link and not (f.parent / link).exists():
                    outside.append(f"{f.relative_to(ROOT)}: {link} (missing)")
    assert outside == []


def test_architecture_lists_every_package() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted(p.parent.name for p in (ROOT / "sim").glob("*/__init__.py"))
    assert [p for p in packages if f"`sim/{p}/`" not in text] == []
    assert "tests/test_layers.py" in text
