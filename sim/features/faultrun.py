"""Applies a scenario's faults to a run on its simpy timeline (the kinds are in sim.features.faultkinds).

For each fault the injector finds its targets, gives its kind a ``FaultContext`` and calls the
kind's hooks: ``prepare`` while the run is built, ``apply`` when the window opens on the
timeline and ``remove`` when it closes. What a kind does is its own business
(sim.features.faultkind); the injector knows no kind by name. ``FaultStats`` measures
what happened, and reports it as the ``faults`` section.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from sim.common.streams import fault_key
from sim.core.feature import Feature
from sim.features.faultkind import FaultContext, FaultKind, fault_label, kind_name, matches_sensor
from sim.features.faultstats import FaultStats, FaultWindow

if TYPE_CHECKING:
    import simpy

    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime

__all__ = ["FaultInjector"]


class FaultInjector(Feature):
    """Turns each scenario fault into a timeline process calling its kind's hooks."""

    def __init__(self, faults: list[FaultKind]) -> None:
        self.faults = faults
        self.contexts: list[FaultContext] = []
        self.windows: list[FaultWindow] = []
        self.stats = FaultStats([])

    def attach(self, run: RunHandle) -> None:
        """Find each fault's targets, let each kind prepare, hook the timeline, observe with ``stats``."""
        for k, f in enumerate(self.faults):
            sensors = _sensors(run, f)
            controllers = [c for c in run.controllers if f.robot_target() in ("*", c.robot_name)]
            w = _window(k, f, sensors, {c.robot_name for c in controllers})
            robots = w.robots
            self.windows.append(w)
            self.contexts.append(FaultContext(run, k, fault_key(self.faults, k), w, sensors,
                                              [c for c in controllers if c.robot_name in robots]))
        self.stats = FaultStats(self.windows)
        for f, ctx in zip(self.faults, self.contexts, strict=True):
            f.prepare(ctx)
        run.timeline_hooks.append(self.install)
        self.stats.attach(run)

    def install(self, env: simpy.Environment, run: RunHandle) -> None:
        """Timeline hook: one simpy process per fault."""
        for k in range(len(self.faults)):
            env.process(self._process(env, k))

    def _process(self, env: simpy.Environment, k: int) -> Generator[simpy.Event, object, None]:
        f, ctx = self.faults[k], self.contexts[k]
        w, run = ctx.window, ctx.run
        yield env.timeout(f.start)
        w.applied_at = float(env.now)
        w.applied_lateness = run.clock.now() - f.start
        f.apply(ctx)
        run.timeline_log.append((env.now, f"fault {w.label} on: {w.kind} {w.target}"))
        yield env.timeout(f.duration)
        f.remove(ctx)
        w.removed_at = float(env.now)
        run.timeline_log.append((env.now, f"fault {w.label} off"))


def _sensors(run: RunHandle, f: FaultKind) -> list[SensorRuntime]:
    """The sensors fault ``f`` targets (none for a fault on no sensor)."""
    robot, sensor = f.robot_target(), f.sensor_target()
    if sensor is None:
        return []
    return [rt for rt in run.sensors if robot in ("*", rt.robot_name)
            and matches_sensor(sensor, rt.sensor.name, rt.sensor.kind)]


def _window(k: int, f: FaultKind, sensors: list[SensorRuntime], robots: set[str]) -> FaultWindow:
    """Fault ``k`` as scheduled: a sensor fault counts for the robots of its sensors, others for its robots."""
    by_robot: dict[str, set[str]] = {}
    for rt in sensors:
        by_robot.setdefault(rt.robot_name, set()).add(rt.sensor.name)
    if by_robot:
        robots = set(by_robot)
    return FaultWindow(k, fault_label(f, k), kind_name(type(f)), f.start, f.end, f.target(), robots, by_robot)
