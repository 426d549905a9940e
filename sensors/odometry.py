"""Wheel odometry: integrates noisy wheel-encoder travel, so its pose drifts like a real one."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sensors.base import Sensor
from sim.world import WorldSnapshot


class OdometryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wheel_noise: float = Field(
        0.01, ge=0, le=1, description="relative std of each wheel's travel per sample (0.01 = 1 %)"
    )
    wheel_base_error: float = Field(
        0.0, ge=-0.5, le=0.5, description="relative error of the wheel base the odometry assumes"
    )


class Odometry(Sensor):
    """Payload ``[x, y, theta, v, w]``: the integrated pose (odom frame = start pose) and speeds."""

    kind = "odometry"
    Params = OdometryParams

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pose = np.array(self.robot.start_pose, dtype=float)
        self._travel: np.ndarray | None = None
        self._time = 0.0
        self._base = self.robot.wheel_base * (1.0 + self.params.wheel_base_error)

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        travel = snap.wheel_travel[self.robot.index]
        if self._travel is None:
            self._travel, self._time = travel.copy(), snap.time
            return np.array([*self.pose, 0.0, 0.0])
        dl, dr = travel - self._travel
        sigma = self.params.wheel_noise
        if sigma > 0:
            dl *= 1.0 + self.rng.normal(0.0, sigma)
            dr *= 1.0 + self.rng.normal(0.0, sigma)
        ds = (dl + dr) / 2.0
        dth = (dr - dl) / self._base
        x, y, th = self.pose
        mid = th + dth / 2.0
        th = (th + dth + math.pi) % (2 * math.pi) - math.pi
        self.pose = np.array([x + ds * math.cos(mid), y + ds * math.sin(mid), th])
        dt = snap.time - self._time
        v, w = (ds / dt, dth / dt) if dt > 0 else (0.0, 0.0)
        self._travel, self._time = travel.copy(), snap.time
        return np.array([*self.pose, v, w])
