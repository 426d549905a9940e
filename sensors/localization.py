"""Localisation: a noisy absolute pose, standing in for AMCL, markers or UWB.

This is the one sensor that reads the true pose; a scenario grants it explicitly
by listing it. Without it a controller has only odometry (which drifts).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sensors.base import Sensor
from sim.world import WorldSnapshot


class LocalizationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position_std: float = Field(0.02, ge=0, le=10, description="m, Gaussian noise per axis")
    heading_std: float = Field(0.01, ge=0, le=3.2, description="rad, Gaussian heading noise")


class Localization(Sensor):
    """Payload ``[x, y, theta]`` in the map frame."""

    kind = "localization"
    Params = LocalizationParams

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        p = self.params
        x, y, th = snap.pose[self.robot.index]
        n = self.rng.normal(0.0, 1.0, 3)
        th = (th + n[2] * p.heading_std + np.pi) % (2 * np.pi) - np.pi
        return np.array([x + n[0] * p.position_std, y + n[1] * p.position_std, th])
