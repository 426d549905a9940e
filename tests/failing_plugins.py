"""A sensor and a controller that raise after a set number of calls: supervision tests kill threads with them.

Referenced from test scenarios as ``failing_plugins:BoomSensor`` / ``failing_plugins:BoomController``
(the tests folder is on ``sys.path`` under pytest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controllers.base import Controller, Inputs
from sensors.base import Sensor
from sim.world.model import WorldSnapshot


class BoomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int = Field(-1, ge=-1, description="calls that succeed before every later one raises; -1 = never")


class BoomSensor(Sensor):
    """Returns its robot's pose until ``after`` samples, then raises RuntimeError."""

    kind = "boom"
    Params = BoomParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        after = self.params.after  # type: ignore[attr-defined]
        if 0 <= after <= self.calls:
            raise RuntimeError(f"boom: {self.robot.name}/{self.name} after {after} samples")
        self.calls += 1
        return snap.pose[self.robot.index].copy()


class BoomController(Controller):
    """Stands still until ``after`` cycles, then raises RuntimeError."""

    Params = BoomParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        after = self.params.after  # type: ignore[attr-defined]
        if 0 <= after <= self.calls:
            raise RuntimeError(f"controller boom after {after} cycles")
        self.calls += 1
        return 0.0, 0.0
