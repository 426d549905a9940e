"""Deliberately broken user plugins, named by scenarios in tests/test_plugins.py and test_conformance.py."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from controllers.base import Controller, Inputs
from sensors.base import Sensor
from sim.world.model import WorldSnapshot


class RaisesInInit(Controller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        raise RuntimeError("calibration file missing")


class RaisesInCompute(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        raise ZeroDivisionError("gain schedule divided by zero")


class LooseParams(BaseModel):  # no extra="forbid": a YAML typo would be silently ignored
    gain: float = 1.0


class LooseController(Controller):
    Params = LooseParams

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.0, 0.0


class NanController(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return float("nan"), 0.0


class TripleController(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.1, 0.0, 0.0  # type: ignore[return-value]


class NeedsLidarController(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        scan = inputs.data("lidar")
        return float(np.min(scan.ranges)) * 0.0, 0.0  # fails when the lidar reading is missing


class ClockController(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.0, 0.0 if time.monotonic() > 0 else 1.0


_global_rng = np.random.default_rng()


class GlobalRandomController(Controller):
    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return float(_global_rng.uniform(0.0, 0.1)), 0.0


class StrictParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gain: float  # required: no default


class RequiredParamsController(Controller):
    Params = StrictParams

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.0, 0.0


class NanSensor(Sensor):
    kind = "nan"

    def sample(self, snap: WorldSnapshot) -> np.ndarray:
        return np.array([1.0, np.nan])


class KindlessSensor(Sensor):
    def sample(self, snap: WorldSnapshot) -> float:
        return 1.0


class MutatingSensor(Sensor):
    kind = "mutating"

    def sample(self, snap: WorldSnapshot) -> float:
        snap.pose[self.robot.index, 0] += 1.0
        return 1.0
