"""Pass 3 of loading: the rules across fields that pydantic cannot see (names, references, geometry).

Each problem is a ``ScenarioError`` located at the node it concerns (``_located``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from sim.common.geometry import circle_hits_polygon, point_in_polygon, point_segment_distance
from sim.errors import ScenarioError, format_value, suggest
from sim.features.faults import check_faults
from sim.scenario.goals import check_goals
from sim.scenario.mapfile import bind_map, check_on_grid
from sim.scenario.marks import MarkedDoc, format_path
from sim.scenario.models import NAME_PATTERN, NAME_RULE, Scenario
from sim.scenario.recording import bind_recordings
from sim.world.footprint import (
    footprint_problem,
    polygon_hits_disc,
    polygon_hits_segment,
    polygons_overlap,
    to_world,
)

__all__ = ["Loc", "check_scenario"]

Loc = tuple[str | int, ...]


def _located(doc: MarkedDoc, loc: Loc, message: str, **kw: Any) -> ScenarioError:
    """ScenarioError at the node for ``loc`` (or its deepest existing parent)."""
    line, col = doc.locate(loc) or (None, None)
    return ScenarioError(message, path=doc.source, line=line, column=col, field=format_path(loc) or None, **kw)


def check_scenario(scn: Scenario, doc: MarkedDoc, source: Path | None = None) -> list[ScenarioError]:
    """Pass 3: cross-field rules pydantic cannot see (names, references, geometry, recordings).

    ``source`` is the scenario file (relative recording paths are relative to its folder).
    """
    errs: list[ScenarioError] = []

    def err(loc: Loc, message: str, suggestion: str | None = None) -> None:
        errs.append(_located(doc, loc, message, suggestion=suggestion))

    if not bind_map(scn, source, err) or scn.world.size is None:
        return errs  # no size to check positions against: the map's problem comes first
    w, h = scn.world.size
    box = f"the map (0, 0)-({w:g}, {h:g})"

    def inside(points: Any) -> bool:
        return all(0 <= x <= w and 0 <= y <= h for x, y in points)

    places: dict[str, int] = {}
    for k, place in enumerate(scn.world.places):
        if places.setdefault(place.name, k) != k:
            err(("world", "places", k, "name"), f"duplicate place name {format_value(place.name)}")
        if not inside([place.position]):
            err(("world", "places", k, "position"), f"place {format_value(place.name)} is outside {box}")
    for k, wall in enumerate(scn.world.walls):
        if not inside(wall):
            err(("world", "walls", k), f"wall is outside {box}")
    polys = [o.polygon() for o in scn.world.obstacles]
    for k, poly in enumerate(polys):
        if not inside(poly.tolist()):
            err(("world", "obstacles", k),
                f"obstacle {format_value(scn.world.obstacles[k].name)} extends outside {box}")
    for k, place in enumerate(scn.world.places):
        if (hit := next((o for o, p in zip(scn.world.obstacles, polys, strict=True)
                         if point_in_polygon(np.asarray(place.position), p)), None)) is not None:
            err(("world", "places", k, "position"),
                f"place {format_value(place.name)} is inside obstacle {format_value(hit.name)}")
    robots: dict[str, int] = {}
    for i, robot in enumerate(scn.robots):
        if (first := robots.setdefault(robot.name, i)) != i:
            err(("robots", i, "name"), f"duplicate robot name {format_value(robot.name)} (also robots[{first}])")
        shape = robot.footprint_polygon()
        if shape is not None and (why := footprint_problem(shape.tolist())) is not None:
            err(("robots", i, "footprint"), f"footprint of robot {format_value(robot.name)} {why}")
        if robot.kinematics.type != "diff_drive":
            can = getattr(robot.controller.cls, "kinematics", ("diff_drive",))
            if robot.kinematics.type not in can:
                err(("robots", i, "kinematics"),
                    f"controller {format_value(robot.controller.type)} of robot {format_value(robot.name)} cannot "
                    f"drive {robot.kinematics.type} kinematics (it drives {', '.join(can)}); use waypoint or spiky, "
                    f"or a controller whose class lists {format_value(robot.kinematics.type)} in 'kinematics'")
        sensors: dict[str, int] = {}
        for j, sensor in enumerate(robot.sensors):
            if not re.match(NAME_PATTERN, str(sensor.name)):  # a default name, from a plugin's class name
                err(("robots", i, "sensors", j, "type"), f"sensor name {format_value(sensor.name)} (from the type) "
                    f"must be {NAME_RULE}; give the sensor a 'name'")
            if sensors.setdefault(str(sensor.name), j) != j:
                err(("robots", i, "sensors", j, "name"),
                    f"duplicate sensor name {format_value(sensor.name)} on robot {format_value(robot.name)}; "
                    "give each sensor its own name")
        for k, wanted in enumerate(robot.controller.wait_for):
            if wanted not in sensors:
                err(("robots", i, "controller", "wait_for", k),
                    f"wait_for names unknown sensor {format_value(wanted)} on robot {format_value(robot.name)}",
                    suggest(wanted, sensors))
        for k, wanted in enumerate(robot.controller.watch or []):
            if wanted not in sensors:
                err(("robots", i, "controller", "watch", k),
                    f"watch names unknown sensor {format_value(wanted)} on robot {format_value(robot.name)}",
                    suggest(wanted, sensors))
    for k, event in enumerate(scn.events):
        if event.robot not in robots:
            err(("events", k, "robot"), f"event names unknown robot {format_value(event.robot)}",
                suggest(event.robot, robots))
    if scn.orders is not None:
        kinds: dict[str, str] = {p.name: p.kind for p in scn.world.places}
        errs += [_located(doc, ("orders", *loc), msg) for loc, msg in scn.orders.problems(kinds)]
    check_faults(scn, err)
    check_goals(scn, polys, err)
    bind_recordings(scn, source, err)
    if isinstance(scn.run.hosts, int) and scn.run.hosts > len(scn.robots):
        err(("run", "hosts"), f"run.hosts is {scn.run.hosts} but the scenario has {len(scn.robots)} robot(s): "
            "at most one host per robot")
    if any(e.field and e.field.endswith("footprint") for e in errs):
        return errs  # the start checks need valid footprints
    if scn.world.grid is not None:
        check_on_grid(scn, scn.world.grid, err)
    return errs + _check_starts(scn, polys, doc)


def _check_starts(scn: Scenario, polys: list[np.ndarray], doc: MarkedDoc) -> list[ScenarioError]:
    """Every robot disc must start inside the map, clear of obstacles, walls and other robots."""
    assert scn.world.size is not None  # check_scenario returned before this without one
    w, h = scn.world.size
    pos = np.array([r.start[:2] for r in scn.robots], dtype=float)
    rad = np.array([r.radius for r in scn.robots], dtype=float)
    walls = np.array([[*a, *b] for a, b in scn.world.walls], dtype=float).reshape(-1, 4)
    near_wall = point_segment_distance(pos, walls).min(axis=1) < rad if len(walls) else np.zeros(len(pos), bool)
    boxes = np.array([[*p.min(axis=0), *p.max(axis=0)] for p in polys]).reshape(-1, 4)
    with np.errstate(over="ignore", invalid="ignore"):  # fuzzed 1e308 starts: inf, reported as off-map
        gap = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=2) - rad[:, None] - rad[None, :]
    errs: list[ScenarioError] = []
    for i, robot in enumerate(scn.robots):
        (x, y), r, loc = pos[i], rad[i], ("robots", i, "start")
        where = f"robot {format_value(robot.name)} at ({x:g}, {y:g}) with radius {r:g} m"
        if robot.footprint is not None:
            errs += _check_footprint_start(scn, i, polys, walls, doc)
            continue
        if not (r <= x <= w - r and r <= y <= h - r):
            errs.append(_located(doc, loc, f"{where} is not inside the map (0, 0)-({w:g}, {h:g})"))
        near = (boxes[:, 0] - r <= x) & (x <= boxes[:, 2] + r) & (boxes[:, 1] - r <= y) & (y <= boxes[:, 3] + r)
        hit = next((k for k in np.flatnonzero(near) if circle_hits_polygon(pos[i], r, polys[k])), None)
        if hit is not None:
            errs.append(_located(doc, loc, f"{where} overlaps obstacle {format_value(scn.world.obstacles[hit].name)}"))
        if near_wall[i]:
            errs.append(_located(doc, loc, f"{where} overlaps a wall"))
        other = np.flatnonzero(gap[i, :i] < 0)  # report each pair once, at the later robot
        if (k := next((int(j) for j in other if scn.robots[j].footprint is None), None)) is not None:
            errs.append(_located(doc, loc, f"{where} overlaps robot {format_value(scn.robots[k].name)}"))
    return errs


def _outline(robot: Any) -> list[tuple[float, float]]:
    poly = robot.footprint_polygon()
    return to_world(poly, *map(float, robot.start))


def _check_footprint_start(scn: Scenario, i: int, polys: list[np.ndarray], walls: np.ndarray,
                           doc: MarkedDoc) -> list[ScenarioError]:
    """A footprint robot's start: its outline inside the map, clear of obstacles, walls and earlier robots."""
    assert scn.world.size is not None  # check_scenario returned before this without one
    w, h = scn.world.size
    robot = scn.robots[i]
    poly = _outline(robot)
    loc = ("robots", i, "start")
    where = f"robot {format_value(robot.name)} at ({robot.start[0]:g}, {robot.start[1]:g}) with its footprint"
    errs: list[ScenarioError] = []
    if not all(0 <= x <= w and 0 <= y <= h for x, y in poly):
        errs.append(_located(doc, loc, f"{where} is not inside the map (0, 0)-({w:g}, {h:g})"))
    for k, obstacle in enumerate(polys):
        if polygons_overlap(poly, [(float(x), float(y)) for x, y in obstacle.tolist()]):
            errs.append(_located(doc, loc, f"{where} overlaps obstacle {format_value(scn.world.obstacles[k].name)}"))
            break
    if any(polygon_hits_segment(poly, (ax, ay), (bx, by)) for ax, ay, bx, by in walls.tolist()):
        errs.append(_located(doc, loc, f"{where} overlaps a wall"))
    for j, other in enumerate(scn.robots):
        if j == i:
            continue
        if other.footprint is None:
            hit = polygon_hits_disc(poly, float(other.start[0]), float(other.start[1]), float(other.radius))
        elif j < i:  # two footprints: reported once, at the later robot
            hit = polygons_overlap(poly, _outline(other))
        else:
            continue
        if hit:
            errs.append(_located(doc, loc, f"{where} overlaps robot {format_value(other.name)}"))
            break
    return errs
