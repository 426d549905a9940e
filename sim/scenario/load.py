"""Scenario file -> validated pydantic models, with errors pointing at file:line:col.

Three passes, so a user sees the most useful problem first: (1) pydantic on the
whole document, (2) each sensor/controller's flat, class-specific params
against ``cls.Params``, (3) cross-field checks (names, wait_for, geometry).
Every failure is a ``ScenarioError``; raw pydantic/yaml exceptions never escape.

The models are in ``sim/scenario/models.py`` (re-exported here, their old home), the
pass-3 checks in ``sim/scenario/checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.scenario.checks import Loc, _located, check_scenario
from sim.scenario.marks import MarkedDoc, format_path, load_marked, parse_marked
from sim.scenario.messages import translate, valid_keys
from sim.scenario.models import (
    NAME_PATTERN,
    ControllerSpec,
    Event,
    Latency,
    Obstacle,
    Physics,
    Place,
    PluginSpec,
    QueueSpec,
    Robot,
    Run,
    Scenario,
    SensorSpec,
    World,
    scenario_json_schema,
    sync_fault_kinds,
)
from sim.scenario.overrides import apply_overrides
from sim.scenario.registry import resolve_entries

__all__ = [
    "ControllerSpec", "Event", "Latency", "Obstacle", "Physics", "Place", "PluginSpec", "QueueSpec", "Robot", "Run",
    "Scenario", "SensorSpec", "World", "build_scenario", "load_scenario", "parse_scenario", "scenario_json_schema",
]


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load, validate and resolve a scenario file; raises ScenarioError on any problem."""
    doc = load_marked(path)
    return build_scenario(doc, overrides, default_name=Path(path).stem, source=Path(path))


def parse_scenario(text: str, overrides: dict[str, Any] | None = None, name: str = "scenario") -> Scenario:
    """Like load_scenario for YAML text already in memory (tests, generated scenarios)."""
    return build_scenario(parse_marked(text, f"<{name}>"), overrides, default_name=name)


def build_scenario(doc: MarkedDoc, overrides: dict[str, Any] | None = None, *,
                   default_name: str = "scenario", source: Path | None = None) -> Scenario:
    """Validate an already parsed document (the three passes described at the top)."""
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        kind = {"list": "a list", "str": "a string"}.get(kind, kind)
        raise _located(doc, (), f"top level must be a mapping (key: value), got {kind}")
    data: dict[str, Any] = doc.data
    forced = apply_overrides(data, overrides or {}, doc.source)
    errors: list[ScenarioError] = []
    scenario: Scenario | None = None
    try:
        scenario = sync_fault_kinds().model_validate(data)
    except ValidationError as exc:
        errors += [translate(e, doc, Scenario) for e in exc.errors()]
    bound = resolve_entries(data, doc, valid_keys(SensorSpec, ()), valid_keys(ControllerSpec, ()), errors)
    _raise_first(errors, forced)
    assert scenario is not None
    for loc, (cls, params) in bound.items():
        robot = scenario.robots[int(loc[1])]
        spec: PluginSpec = robot.sensors[int(loc[3])] if len(loc) == 4 else robot.controller
        spec.bind(cls, params)
    _fill_defaults(scenario, default_name)
    _raise_first(check_scenario(scenario, doc, source), forced)
    scenario._source = source
    return scenario


def _fill_defaults(scenario: Scenario, default_name: str) -> None:
    """Resolve every ``null = ...`` default so consumers read plain values."""
    if scenario.name is None:
        scenario.name = safe_name(default_name)
    for i, obstacle in enumerate(scenario.world.obstacles):
        obstacle.name = obstacle.name or f"obstacle-{i}"
    for robot in scenario.robots:
        poly = robot.footprint_polygon()
        if poly is not None and "radius" not in robot.model_fields_set and len(poly):
            # A footprint robot's radius (what planners inflate by): its circumscribed radius unless given.
            robot.radius = float(np.hypot(poly[:, 0], poly[:, 1]).max()) or robot.radius
        for sensor in robot.sensors:
            if sensor.name is None:
                sensor.name = sensor.cls.__name__.lower() if ":" in sensor.type else sensor.type
            if sensor.max_age is None:
                sensor.max_age = 3.0 / sensor.rate_hz
        if robot.controller.deadline is None:
            robot.controller.deadline = robot.controller.period


def safe_name(text: str) -> str:
    """``text`` made to match NAME_PATTERN (for names taken from a file name, not written by the user)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:64]
    return name if re.match(NAME_PATTERN, name) else ("scenario-" + name)[:64]


def _raise_first(errors: list[ScenarioError], forced: set[Loc]) -> None:
    """Raise the earliest problem in the file, carrying the rest as ``others``."""
    if not errors:
        return
    hinted = {(e.field, e.suggestion) for e in errors if e.message.startswith("unknown key")}
    errors = [e for e in errors if not _explained_missing(e, hinted)]
    for e in errors:
        if e.field and any(re.match(re.escape(format_path(p)) + r"($|[.\[])", e.field) for p in forced):
            e.line = e.column = None
            e.message += " (value set by an override)"
    errors.sort(key=lambda e: (e.line is None, e.line or 0, e.column or 0))
    first = errors[0]
    first.others = errors[1:]
    raise first


def _explained_missing(err: ScenarioError, hinted: set[tuple[str | None, str | None]]) -> bool:
    """A 'missing key x' caused by a typo already reported as 'did you mean x'."""
    if not err.message.startswith("missing required key "):
        return False
    key = err.message.removeprefix("missing required key ").strip("'")
    return (err.field, key) in hinted
