"""``controller_stall``: cycles released in the window compute longer.

The stall is a compute hook of each targeted controller, added while the run is built and
gated on the cycle's own inputs time: it hits exactly the cycles of its window, whatever the
timeline thread is doing, so ``apply`` and ``remove`` have nothing to do. With robot hosts the
hook is forked with the controller into its host, and runs there; its hit counts come back with
the host's final statistics (``RunHandle.host_counters``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from sim.features.faultkind import FaultContext, Probability, RobotFault, Seconds
from sim.features.faultstats import FaultWindow


class ControllerStall(RobotFault):
    """Each controller cycle released in the window computes ``stall`` seconds longer."""

    kind: Literal["controller_stall"] = Field(
        ..., description="controller_stall: each cycle in the window computes stall s longer.")
    stall: Seconds = Field(..., description="Extra compute time per cycle, in (0, 10]. Unit: s.")
    probability: Probability = Field(1.0, description="Chance each cycle in the window stalls, in "
                                     "(0, 1]. Default: 1.0.")

    def prepare(self, ctx: FaultContext) -> None:
        ctx.run.host_counters.append(ctx.window.work)  # with robot hosts the hook counts in the host: sent back
        for task in ctx.controllers:
            rng = ctx.stream("robot", task.robot_name, "stall")
            task.add_compute_hook(stall_hook(self, rng, ctx.window, task.robot_name))


def stall_hook(f: ControllerStall, rng: np.random.Generator, w: FaultWindow, robot: str) -> Callable[[float], float]:
    """Seconds of stall for a cycle whose inputs are in hand at ``now``; counts hits in ``w.work[robot]``."""
    start, end, stall, p = f.start, f.end, f.stall, f.probability
    w.work[robot] = 0

    def extra_compute(now: float) -> float:
        if start <= now < end and (p >= 1.0 or rng.random() < p):
            w.work[robot] += 1  # only this robot's controller thread writes this key
            return stall
        return 0.0

    return extra_compute
