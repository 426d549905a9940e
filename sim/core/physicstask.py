"""Physics on the clock: one ``Physics.step`` per step of simulated time, its lateness measured.

The stepping itself is pure and lives in the world layer (``sim.world.physics``); running it on
a clock is the timing kernel's job, so this is here.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.common.stats import Histogram
from sim.core.clock import Clock
from sim.world.model import WorldSnapshot
from sim.world.physics import Physics

__all__ = ["PhysicsTask"]


class PhysicsTask:
    """Runs ``Physics.step`` on the clock, one step per ``step_size`` of simulated time."""

    def __init__(self, physics: Physics, clock: Clock, end_time: float,
                 on_step: Callable[[WorldSnapshot], None] | None = None):
        self.physics = physics
        self.clock = clock
        self.end_time = end_time
        self.on_step = on_step
        self.late_steps = 0  # steps run later than one full step behind schedule
        self.lateness = Histogram()

    def run(self) -> None:
        p = self.physics
        while p.time < self.end_time:
            due = (p.steps + 1) * p.step_size
            if not self.clock.sleep_until(due):
                return
            lateness = self.clock.now() - due
            self.lateness.add(max(lateness, 0.0))
            if lateness > p.step_size:
                self.late_steps += 1
            snap = p.step()
            if self.on_step is not None:
                self.on_step(snap)
