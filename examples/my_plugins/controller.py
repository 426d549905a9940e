"""Example controller plugin: wander the floor with the lidar, slow down on a low battery."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.api import Controller, Inputs


class WandererParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cruise_speed: float = Field(0.6, gt=0, le=5, description="m/s in open space")
    turn_distance: float = Field(1.0, gt=0, le=10, description="m of free space ahead below which it turns")
    turn_rate: float = Field(1.2, gt=0, le=10, description="rad/s while turning away")
    low_battery: float = Field(0.3, ge=0, le=1, description="charge below which it drives at low_speed")
    low_speed: float = Field(0.2, gt=0, le=5, description="m/s on a low battery")


class Wanderer(Controller):
    """Drive ahead; when something is close in front, turn towards the side with more room.

    Reads only its own sensors (``lidar``, optional ``battery``), keeps all state
    on the instance, never reads a clock: what ``sim.api.check_controller`` checks.
    """

    Params = WandererParams
    needs = ("lidar", "battery")  # the watchdog stops it on a stale lidar or battery, not on others

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lidar = self.sensor_named("lidar")
        self._battery = self.sensor_named("battery")
        self.turns = 0
        self._turning = 0.0  # current turn direction (+1 left, -1 right, 0 straight)
        self.visual = {"state": "idle"}

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        p: WandererParams = self.params  # type: ignore[assignment]
        scan = inputs.data(self._lidar) if self._lidar else None
        if scan is None:
            self.visual = {"state": "no scan"}
            return 0.0, 0.0
        r = np.where(np.isfinite(scan.ranges), scan.ranges, np.inf)
        a = np.asarray(scan.angles)
        front = r[np.abs(a) < 0.4]
        ahead = float(front.min()) - self.robot.radius if front.size else np.inf
        charge = inputs.data(self._battery) if self._battery else None
        speed = p.low_speed if charge is not None and charge < p.low_battery else p.cruise_speed
        if ahead < p.turn_distance:
            if self._turning == 0.0:  # choose a side once per obstacle, so it does not dither
                left, right = r[(a > 0.4) & (a < 1.6)], r[(a < -0.4) & (a > -1.6)]
                self._turning = 1.0 if np.median(left) >= np.median(right) else -1.0
                self.turns += 1
            self.visual = {"state": "turn", "charge": charge}
            return 0.0, self._turning * p.turn_rate
        self._turning = 0.0
        self.visual = {"state": "drive", "charge": charge}
        return min(speed, self.robot.max_speed), 0.0

    def status(self) -> dict[str, Any]:
        return {"turns": self.turns}
