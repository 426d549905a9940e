"""Docs that are generated from code must be current."""

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
