"""Localisation: a noisy absolute pose, standing in for AMCL, markers or UWB.

This is the one sensor that reads the true pose; a scenario grants it explicitly
by listing it. Without it a controller has only odometry (which drifts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.interfaces.sensor import Sensor

if TYPE_CHECKING:
    from sim.world.model import WorldSnapshot


class LocalizationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .nan/.inf: an error at load

    position_std: float = Field(0.02, ge=0, le=10, description="m, Gaussian noise per axis")
    heading_std: float = Field(0.01, ge=0, le=3.2, description="rad, Gaussian heading noise")


class Localization(Sensor):
    """Payload ``[x, y, theta]`` in the map frame."""

    kind = "localization"
    Params = LocalizationParams
    params: LocalizationParams  # the validated Params instance (set by the base __init__)

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        p = self.params
        x, y, th = snap.pose[self.robot.index]
        n = self.rng.normal(0.0, 1.0, 3)
        th = (th + n[2] * p.heading_std + np.pi) % (2 * np.pi) - np.pi
        return np.array([x + n[0] * p.position_std, y + n[1] * p.position_std, th])

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: WorldSnapshot) -> list[np.ndarray]:
        """All due sensors in a few array operations; each draws its noise from its own generator."""
        locs: list[Localization] = sensors  # type: ignore[assignment]  # sample_many gets only sensors of this class (the runtime groups them by type)
        if len(locs) == 1:  # scalar: cheaper for one, and the same operations
            return [locs[0].sample(snap)]
        members = tuple(locs)
        batch = locs[0]._batch
        if batch is None or batch[0] != members:  # the same sensors are due together at every tick
            batch = locs[0]._batch = (members, np.array([s.robot.index for s in locs]), np.array(
                [(s.params.position_std, s.params.position_std, s.params.heading_std) for s in locs]))
        _, idx, std = batch
        out = np.array([s.rng.normal(0.0, 1.0, 3) for s in locs])
        out *= std
        out += snap.pose[idx]  # x + n * std, per axis
        th = out[:, 2]
        th += np.pi
        th %= 2 * np.pi
        th -= np.pi
        return list(out)
