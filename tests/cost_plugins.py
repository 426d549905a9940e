"""A controller that declares a known cost on known cycles (``Inputs.charge``), for tests/test_declared_cost.py.

Referenced from test scenarios as ``cost_plugins:Charging`` (the tests folder is on ``sys.path`` under pytest).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from controllers.base import Controller, Inputs

BAD = {"negative": -0.001, "nan": math.nan, "inf": math.inf, "text": "fast"}


class ChargingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cycle_s: float = Field(0.02, gt=0, description="s, the controller's period (to number its cycles from now)")
    every: int = Field(10, ge=1, description="charge on cycles k with k % every == 0")
    seconds: float = Field(0.012, ge=0, description="s charged on those cycles")
    parts: int = Field(1, ge=1, description="charges the cost makes up (seconds / parts each): they add up")
    bad: str = Field("", description="a key of BAD: charge that value instead, on the first charging cycle > 0")


class Charging(Controller):
    """Stands still; on every ``every``-th cycle declares ``seconds`` of compute, as ``parts`` charges."""

    Params = ChargingParams
    needs = ()  # reads no sensor: the stale-input watchdog never stops it, so compute() runs every cycle

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        p = self.params
        assert isinstance(p, ChargingParams)
        k = round(inputs.now / p.cycle_s)  # no input wait: compute starts at the release, k * period
        if k % p.every == 0:
            if p.bad and k > 0:
                inputs.charge(BAD[p.bad])  # type: ignore[arg-type]
            else:
                for _ in range(p.parts):
                    inputs.charge(p.seconds / p.parts)
        return 0.0, 0.0
