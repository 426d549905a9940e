"""Load-time check of every goal a robot is given: a spot its body cannot occupy is an error at load.

A goal (a waypoint, a home, a place an order sends it to) where the robot's disc would leave the
map, overlap an obstacle or touch a wall can never be reached: the run would only count plan
failures or drive into it. Controllers name their goal parameters in ``Controller.goal_params``;
``set_waypoints`` events and, for robots that take orders, the map's order places are checked too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from sim.common.geometry import circle_hits_polygon, point_segment_distance
from sim.errors import format_value

__all__ = ["ORDER_PLACE_KINDS", "check_goals"]

Loc = tuple[str | int, ...]
ORDER_PLACE_KINDS = ("pick", "packing", "parking", "charging")  # where the dispatcher sends robots


def check_goals(scn: Any, polys: list[np.ndarray], err: Callable[[Loc, str], None]) -> None:
    """Report (``err(location, message)``) every goal that the robot's disc cannot occupy."""
    fits = _Fit(scn, polys)
    for i, robot in enumerate(scn.robots):
        c = robot.controller
        for name in getattr(c.cls, "goal_params", ()):
            for loc, point in _points(getattr(c.params, name, None), ("robots", i, "controller", name)):
                if (why := fits.problem(point, robot.radius)) is not None:
                    err(loc, f"goal {_xy(point)} of robot {format_value(robot.name)} (radius {robot.radius:g} m) "
                        f"{why}")
    radii = {r.name: r.radius for r in scn.robots}
    for k, event in enumerate(scn.events):
        if event.robot in radii and event.waypoints:
            for loc, point in _points(event.waypoints, ("events", k, "waypoints")):
                if (why := fits.problem(point, radii[event.robot])) is not None:
                    err(loc, f"waypoint {_xy(point)} for robot {format_value(event.robot)} {why}")
    takers = [r for r in scn.robots if getattr(r.controller.cls, "accepts_orders", False)]
    if scn.orders is None or not takers:
        return
    widest = max(takers, key=lambda r: r.radius)
    for k, place in enumerate(scn.world.places):
        if place.kind in ORDER_PLACE_KINDS and (why := fits.problem(place.position, widest.radius)) is not None:
            err(("world", "places", k, "position"),
                f"{place.kind} place {format_value(place.name)} at {_xy(place.position)}: robot "
                f"{format_value(widest.name)} (radius {widest.radius:g} m) sent there by an order {why}")


class _Fit:
    """Whether a disc fits at a point: inside the map, clear of obstacles and walls."""

    def __init__(self, scn: Any, polys: list[np.ndarray]) -> None:
        self.w, self.h = scn.world.size
        self.polys = polys
        self.names = [o.name for o in scn.world.obstacles]
        self.walls = np.array([[*a, *b] for a, b in scn.world.walls], dtype=float).reshape(-1, 4)

    def problem(self, point: Iterable[float], r: float) -> str | None:
        x, y = (float(v) for v in point)
        if not (r <= x <= self.w - r and r <= y <= self.h - r):
            return f"is not inside the map (0, 0)-({self.w:g}, {self.h:g}): the robot cannot be there"
        for name, poly in zip(self.names, self.polys, strict=True):
            lo, hi = poly.min(axis=0), poly.max(axis=0)
            if lo[0] - r <= x <= hi[0] + r and lo[1] - r <= y <= hi[1] + r and circle_hits_polygon(
                    np.array([x, y]), r, poly):
                return f"overlaps obstacle {format_value(name)}: the robot cannot be there"
        if len(self.walls) and point_segment_distance(np.array([x, y]), self.walls).min() < r:
            return "overlaps a wall: the robot cannot be there"
        return None


def _points(value: Any, loc: Loc) -> list[tuple[Loc, tuple[float, float]]]:
    """``(location, point)`` for a goal parameter holding one [x, y] point or a list of them."""
    if value is None:
        return []
    if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return [(loc, (float(value[0]), float(value[1])))]
    return [((*loc, j), (float(p[0]), float(p[1]))) for j, p in enumerate(value)]


def _xy(point: Iterable[float]) -> str:
    x, y = point
    return f"({x:g}, {y:g})"
