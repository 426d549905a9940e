"""The built-in controller: follow a list of waypoints, stop for what the lidar sees.

Pose comes from a ``localization`` sensor if the robot has one (an explicit
grant of absolute pose), else from wheel odometry (which drifts). Obstacles come
only from the (noisy, delayed) lidar; the controller never reads the true world.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controllers.base import Controller, Inputs
from controllers.pursuit import avoid
from sim.geometry import wrap_angle

Point = tuple[float, float]


class WaypointParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    Params = WaypointParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waypoints: list[Point] = [tuple(p) for p in self.params.waypoints]
        self.target = 0
        self.reached = 0
        self.avoid_stops = 0
        self._pose_source = self.sensor_named("localization") or self.sensor_named("odometry")
        self._lidar = self.sensor_named("lidar")
        self._blocked = False
        self.visual = {"waypoints": list(self.waypoints), "target": 0, "state": "idle"}

    def handle_event(self, action: str, data: dict[str, Any]) -> None:
        if action == "set_waypoints":
            self.waypoints = [tuple(p) for p in data.get("waypoints") or []]
            self.target = 0
        elif action == "stop_robot":
            self.waypoints = []

    def pose(self, inputs: Inputs) -> np.ndarray | None:
        if self._pose_source is None:
            return None
        d = inputs.data(self._pose_source)
        return None if d is None else np.asarray(d[:3], dtype=float)

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        p = self.params
        pose = self.pose(inputs)
        if pose is None or not self.waypoints or self.target >= len(self.waypoints):
            self._show("idle")
            return 0.0, 0.0
        gx, gy = self.waypoints[self.target]
        dx, dy = gx - pose[0], gy - pose[1]
        dist = math.hypot(dx, dy)
        if dist < p.goal_tolerance:
            self.reached += 1
            self.target += 1
            if self.target >= len(self.waypoints) and p.loop:
                self.target = 0
            self._show("reached")
            return 0.0, 0.0
        err = float(wrap_angle(math.atan2(dy, dx) - pose[2]))
        w = max(-self.robot.max_yaw_rate, min(self.robot.max_yaw_rate, p.heading_gain * err))
        speed = min(p.cruise_speed, self.robot.max_speed)
        v = 0.0 if abs(err) > p.turn_in_place else speed * math.cos(err) * min(1.0, dist)
        state = "drive"
        scan = inputs.data(self._lidar) if self._lidar else None
        if scan is not None and v > 0:
            v, w, state = avoid(v, w, scan.ranges, scan.angles, self.robot.radius,
                                p.stop_distance, p.slow_distance)
            if state == "stop" and not self._blocked:
                self.avoid_stops += 1
            self._blocked = state == "stop"
        self._show(state)
        return v, w

    def _show(self, state: str) -> None:
        self.visual = {"waypoints": self.waypoints, "target": self.target, "state": state}

    def status(self) -> dict[str, Any]:
        return {"waypoints_reached": self.reached, "avoidance_stops": self.avoid_stops}
