"""Example sensor plugin: a battery gauge that drains with distance driven and with time."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sim.api import Sensor, WorldSnapshot


class BatteryParams(BaseModel):
    # extra="forbid": a misspelt key in the YAML is an error with file:line, not ignored.
    model_config = ConfigDict(extra="forbid")

    capacity_m: float = Field(500.0, gt=0, le=1e6, description="m of driving one full charge lasts")
    idle_drain: float = Field(0.0005, ge=0, le=1, description="fraction of a charge used per s, even standing")
    noise_std: float = Field(0.002, ge=0, le=0.1, description="std of the reading, as a fraction of a charge")


class Battery(Sensor):
    """Payload ``float``: state of charge in [0, 1]."""

    kind = "battery"  # controllers find it with sensor_named("battery")
    Params = BatteryParams

    def sample(self, snap: WorldSnapshot) -> float:
        p: BatteryParams = self.params  # type: ignore[assignment]
        used = snap.odometer[self.robot.index] / p.capacity_m + p.idle_drain * snap.time
        noise = self.rng.normal(0.0, p.noise_std) if p.noise_std > 0 else 0.0  # only self.rng: reproducible
        return float(min(max(1.0 - used + noise, 0.0), 1.0))
