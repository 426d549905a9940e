"""The built-in controller: follow a list of waypoints, stop for what the lidar sees.

Pose comes from a ``localization`` sensor if the robot has one (an explicit
grant of absolute pose), else from wheel odometry (which drifts). Obstacles come
only from the (noisy, delayed) lidar; the controller never reads the true world.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controllers import kernels
from controllers.pursuit import corridor_ahead, scale_to_gap
from sim.interfaces.controller import Controller, Inputs

Point = tuple[float, float]

_TWO_PI = 2.0 * math.pi
_CAR_MIN_SHARE = 0.3  # of the cruise speed: an Ackermann robot turning round a waypoint behind it
_MARGIN = 0.1  # m each side of the body: the corridor of ``pursuit.avoid`` (its default margin)


class WaypointParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load

    waypoints: list[Point] = Field(default_factory=list, description="[[x, y], ...] m, in order")
    loop: bool = Field(True, description="start again from the first waypoint after the last")
    cruise_speed: float = Field(0.8, gt=0, le=20, description="m/s, capped by the robot's max_speed")
    goal_tolerance: float = Field(0.25, gt=0, le=10, description="m, a waypoint is reached within this")
    heading_gain: float = Field(2.0, gt=0, le=50, description="1/s, yaw rate per rad of heading error")
    turn_in_place: float = Field(0.8, gt=0, le=math.pi,
                                 description="rad, heading error above which it turns on the spot")
    stop_distance: float = Field(0.4, ge=0, le=10,
                                 description="m of free space ahead (beyond the body) below which it stops")
    slow_distance: float = Field(1.2, ge=0, le=20, description="m of free space ahead below which it slows down")


class WaypointController(Controller):
    """Go-to-goal on a waypoint list with lidar-based stopping."""

    Params: ClassVar[type[WaypointParams]] = WaypointParams  # subclasses may extend it (spiky)
    params: WaypointParams  # the validated Params instance (set by the base __init__)
    goal_params = ("waypoints",)
    needs = ("localization", "odometry", "lidar")
    # Ackermann: it never turns on the spot (a car cannot); it drives on at a share of the speed while
    # steering round to a waypoint behind it (a waypoint inside its turning circle may be circled).
    kinematics = ("diff_drive", "ackermann")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waypoints: list[Point] = list(self.params.waypoints)
        self.target = 0
        self.reached = 0
        self.avoid_stops = 0
        self._pose_source = self.sensor_named("localization") or self.sensor_named("odometry")
        self._lidar = self.sensor_named("lidar")
        self._blocked = False
        self._scan: Any = None  # the newest scan and its corridor: the lidar is slower than the controller
        self._ahead = math.inf
        self.visual = {"waypoints": list(self.waypoints), "target": 0, "state": "idle"}

    def inputs_needed(self) -> list[str]:
        """The pose source it reads (localization, else odometry) and the lidar, if it has them."""
        return [name for name in (self._pose_source, self._lidar) if name is not None]

    def handle_event(self, action: str, data: dict[str, Any]) -> None:
        if action == "set_waypoints":
            self.waypoints = [tuple(p) for p in data.get("waypoints") or []]
            self.target = 0
        elif action == "stop_robot":
            self.waypoints = []

    def pose(self, inputs: Inputs) -> np.ndarray | None:
        """(x, y, theta) of the pose source's newest reading, or None (``compute`` reads the same as floats)."""
        if self._pose_source is None:
            return None
        d = inputs.data(self._pose_source)
        return None if d is None else np.asarray(d[:3], dtype=float)

    @classmethod
    def warm_up(cls) -> None:
        kernels.warm_up()  # the scan loops, compiled (or loaded) before the first timed cycle

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        # Plain floats throughout: numpy scalars would cost several times more per operation, for
        # the same IEEE results (``wrap_angle`` included: Python's float % and numpy's agree).
        p = self.params
        d = None if self._pose_source is None else inputs.data(self._pose_source)
        if d is None or not self.waypoints or self.target >= len(self.waypoints):
            self._show("idle")
            return 0.0, 0.0
        x, y = float(d[0]), float(d[1])
        gx, gy = self.waypoints[self.target]
        dx, dy = gx - x, gy - y
        dist = math.hypot(dx, dy)
        if dist < p.goal_tolerance:
            self.reached += 1
            self.target += 1
            if self.target >= len(self.waypoints) and p.loop:
                self.target = 0
            self._show("reached")
            return 0.0, 0.0
        err = (math.atan2(dy, dx) - float(d[2]) + math.pi) % _TWO_PI - math.pi  # sim.common.geometry.wrap_angle
        max_w = self.robot.max_yaw_rate
        w = max(-max_w, min(max_w, p.heading_gain * err))
        speed = min(p.cruise_speed, self.robot.max_speed)
        if self.robot.min_turn_radius > 0.0:  # car-like: no turning in place
            v = speed * max(math.cos(err), _CAR_MIN_SHARE) * min(1.0, dist)
        else:
            v = 0.0 if abs(err) > p.turn_in_place else speed * math.cos(err) * min(1.0, dist)
        state = "drive"
        if v > 0 and self._lidar:
            scan = inputs.data(self._lidar)
            if scan is not None:
                if scan is not self._scan:  # as pursuit.avoid, in two halves: the scan's only once
                    self._scan = scan
                    self._ahead = corridor_ahead(scan.ranges, scan.angles, self.robot.radius + _MARGIN)
                v, w, state = scale_to_gap(v, w, self._ahead, self.robot.radius, p.stop_distance, p.slow_distance)
                if state == "stop" and not self._blocked:
                    self.avoid_stops += 1
                self._blocked = state == "stop"
        self._show(state)
        return v, w

    def _show(self, state: str) -> None:
        self.visual = {"waypoints": self.waypoints, "target": self.target, "state": state}

    def status(self) -> dict[str, Any]:
        return {"waypoints_reached": self.reached, "avoidance_stops": self.avoid_stops}
