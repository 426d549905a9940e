"""The scenario JSON Schema for editors: shipped as scenarios/scenario.schema.json (equal to ``run.py --schema``),
named by a ``yaml-language-server`` modeline in every shipped scenario, and strict inside each built-in sensor and
controller, so an editor flags the typos the loader refuses. Checked with a JSON Schema validator (``jsonschema``),
under draft 7 (what YAML editors assume) and 2020-12 (what pydantic writes)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from sim.errors import ScenarioError
from sim.scenario.load import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "scenarios" / "scenario.schema.json"
SHIPPED = sorted([*(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "examples").glob("*.yaml")])
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")
VALIDATORS = (Draft7Validator, Draft202012Validator)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def errors(data: Any) -> list[str]:
    """Every validator's complaints about ``data``, as ``path: message``."""
    found = []
    for validator in VALIDATORS:
        for e in validator(schema()).iter_errors(data):
            found.append(f"{validator.__name__} {'.'.join(map(str, e.absolute_path))}: {e.message}")
    return found


def test_the_schema_file_is_what_run_py_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    assert main(["--schema"]) == 0
    assert SCHEMA_FILE.read_text() == capsys.readouterr().out, (
        "scenarios/scenario.schema.json is stale: run  "
        ".venv/bin/python run.py --schema > scenarios/scenario.schema.json")


def test_the_schema_is_a_valid_json_schema() -> None:
    for validator in VALIDATORS:
        validator.check_schema(schema())


def test_every_shipped_scenario_names_the_schema_on_its_first_line() -> None:
    assert len(SHIPPED) >= 6
    for path in SHIPPED:
        first = path.read_text().splitlines()[0]
        match = MODELINE.match(first)
        assert match, f"{path.relative_to(ROOT)}: first line must be  # yaml-language-server: $schema=<relative path>"
        assert not Path(match["path"]).is_absolute() and "://" not in match["path"]  # works in any checkout
        assert (path.parent / match["path"]).resolve() == SCHEMA_FILE, path


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text())) == []


def _minimal() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "scenarios" / "minimal.yaml").read_text())
    return data


# (what a user typed, where in minimal.yaml's first robot)
TYPOS = [
    ("sensors", 0, "rate_hzz", 10),  # a common key misspelt, in a lidar
    ("sensors", 0, "beamz", 360),  # a lidar's own param misspelt
    ("sensors", 1, "beams", 360),  # a lidar's param on the odometry
    ("controller", None, "peroid", 0.05),  # a common controller key misspelt
    ("controller", None, "cruise_sped", 0.8),  # the warehouse controller's own param misspelt
]


@pytest.mark.parametrize("where, index, key, value", TYPOS, ids=[t[2] for t in TYPOS])
def test_a_typo_inside_a_built_in_sensor_or_controller_is_flagged_as_the_loader_refuses_it(
        where: str, index: int | None, key: str, value: Any) -> None:
    data = _minimal()
    robot = data["robots"][0]
    entry = robot[where][index] if index is not None else robot[where]
    assert errors(data) == []
    entry[key] = value
    found = errors(data)
    assert len(found) == len(VALIDATORS) and all(f"'{key}' was unexpected" in e for e in found), found
    with pytest.raises(ScenarioError, match=key):  # the loader says the same
        parse_scenario(yaml.safe_dump(data))


def test_a_wrong_value_inside_a_built_in_is_flagged_too() -> None:
    data = _minimal()
    data["robots"][0]["sensors"][0]["beams"] = "many"
    assert any("'many' is not of type 'integer'" in e for e in errors(data))


def test_a_plugin_entry_stays_open_for_its_own_params() -> None:
    """``pkg.module:Class``: its params are the class's, which the schema cannot know; the loader checks them."""
    data = copy.deepcopy(_minimal())
    data["robots"][0]["sensors"].append({"type": "my_plugins.sensor:RangeFinder", "rate_hz": 5, "whatever": 1})
    data["robots"][0]["controller"] = {"type": "my_plugins.controller:Cautious", "period": 0.1, "gain": 2}
    assert errors(data) == []
