"""The architecture as a test: the import-layer contracts in pyproject.toml hold, and no module imports in a cycle."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.application.use_cases import lint_imports
from importlinter.configuration import configure

ROOT = Path(__file__).resolve().parents[1]
configure()


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    kept = lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out


def test_contract_covers_every_package() -> None:
    """A new sub-package of sim must be placed in a layer, or the contract silently ignores it."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in options["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for line in layers for name in line.split("|")}
    children = {p.name for p in (ROOT / "sim").iterdir() if (p / "__init__.py").exists()}
    children |= {p.stem for p in (ROOT / "sim").glob("*.py") if p.stem not in {"__init__", "__main__", "conformance"}}
    assert children <= named, f"not in any layer: {sorted(children - named)}"


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph("sim", "sensors", "controllers", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert not cycles, f"import cycles: {cycles[:10]}"
