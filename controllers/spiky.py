"""A waypoint controller with scripted CPU spikes: a known cause of misses, to check the report blames it.

Every ``spike_every``-th compute inside [``spike_from``, ``spike_until``) burns
``spike_seconds`` of this thread's CPU time in real numpy work (not a sleep: a
sleep would be blamed on something else, and would not hold the GIL). The spike is
measured in CPU seconds of the host, so in simulated time it lasts
``spike_seconds * run.time_scale``. The window is read from ``Inputs.now``, the
simulated time the runtime hands in; the controller never reads a clock itself.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from controllers.waypoint import WaypointController, WaypointParams
from sim.interfaces.controller import Inputs

_N = 48  # matrix size: small enough that BLAS stays on the calling thread


class SpikyParams(WaypointParams):
    spike_every: int = Field(20, ge=1, le=1_000_000, description="spike on every n-th compute call (cycles)")
    spike_seconds: float = Field(0.08, ge=0, le=10, description="s of this thread's CPU time burnt per spike")
    spike_from: float = Field(0.0, ge=0, description="s simulated: no spike before this time")
    spike_until: float | None = Field(None, gt=0, description="s simulated: no spike from this time on; "
                                      "null = to the end of the run")

    @model_validator(mode="after")
    def _window(self) -> SpikyParams:
        if self.spike_until is not None and self.spike_until <= self.spike_from:
            raise ValueError("spike_until must be after spike_from")
        return self


def burn_cpu(seconds: float) -> int:
    """Do real CPU work for about ``seconds`` of the calling thread's CPU time; return the iterations."""
    a: np.ndarray = np.random.default_rng(0).standard_normal((_N, _N)) + _N * np.eye(_N)
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        a = np.linalg.inv(a)  # inverse of the inverse: stays well conditioned forever
        n += 1
    return n


class SpikyController(WaypointController):
    """``waypoint`` plus periodic compute-time spikes (for testing deadline-miss attribution)."""

    Params = SpikyParams
    params: SpikyParams  # the validated Params instance (set by the base __init__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.spikes = 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        p = self.params
        self.calls += 1
        in_window = inputs.now >= p.spike_from and (p.spike_until is None or inputs.now < p.spike_until)
        if in_window and self.calls % p.spike_every == 0 and p.spike_seconds > 0:
            burn_cpu(p.spike_seconds)
            self.spikes += 1
        return super().compute(inputs)

    def status(self) -> dict[str, Any]:
        return {**super().status(), "spikes": self.spikes}
