"""Observers of a run (cycle log, trace, recording, view feeds) and the fan-out to them.

Callbacks run on the simulation's own threads, inside their timed paths: keep them
to an append or a queue put, and do file I/O in ``close`` or a writer thread of your own.
Only methods a listener overrides are called, so an unused hook costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.core.control import Cycle
    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.interfaces.messages import Command, Reading
    from sim.world.model import WorldSnapshot


class RunListener:
    """Base class: override the hooks you need."""

    def on_start(self, run: RunHandle) -> None:
        """All parts are built, no thread started yet (``run`` is the ``sim.runtime.run.Run``)."""

    def on_sample(self, rt: SensorRuntime, time: float) -> None:
        """A sensor sampled the world at simulated ``time``."""

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        """A reading entered its queue."""

    def on_cycle(self, cycle: Cycle) -> None:
        """A controller cycle finished."""

    def on_command(self, robot_index: int, command: Command) -> None:
        """A controller handed a command to physics."""

    def on_step(self, snap: WorldSnapshot) -> None:
        """Physics published a new snapshot."""

    def close(self, run: RunHandle) -> None:
        """Every thread has stopped: flush and write files."""


HOOKS = ("on_sample", "on_publish", "on_cycle", "on_command", "on_step")


def fan_out(listeners: list[RunListener], hook: str) -> Callable[..., None] | None:
    """One callable calling ``hook`` on every listener that overrides it; None if none does."""
    targets = [getattr(x, hook) for x in listeners
               if getattr(type(x), hook) is not getattr(RunListener, hook)]
    if not targets:
        return None
    if len(targets) == 1:
        return targets[0]

    def call(*args: Any) -> None:
        for t in targets:
            t(*args)

    return call
