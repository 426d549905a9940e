"""A single-thread test harness for controllers: scripted readings, a manual clock, the real controller task.

    from sim.api import ControllerHarness

    def test_stops_when_the_lidar_goes_quiet():
        h = ControllerHarness(MyController, sensors={"lidar": "lidar"}, period=0.1, max_age={"lidar": 0.25})
        h.feed_every("lidar", 0.1, lambda t: scan, until=0.5)   # a scan every 0.1 s, then nothing
        h.run(until=1.0)
        assert [c.v for c in h.commands][-3:] == [0.0, 0.0, 0.0]

The cycles run through ``sim.core.control.ControllerTask`` itself (its release, skip,
overrun, deadline and stale-input rules, not a copy), on this thread, in release order,
on a ``ManualClock``: every time in ``commands`` and ``cycles`` is exact and repeats.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from sim.core.channel import Channel
from sim.core.clock import ManualClock
from sim.core.control import ControllerStats, ControllerTask, Cycle, OverrunPolicy
from sim.core.producers import SensorRuntime
from sim.interfaces.controller import Controller
from sim.interfaces.messages import Command, Reading
from sim.interfaces.plugin import NoParams, RobotInfo
from sim.interfaces.sensor import Sensor
from sim.testing.conformance import synthetic_world
from sim.world.model import StaticMap

# Before cycle k of a task, released at ``release`` (the clock is there): put readings, wake late...
BeforeCycle = Callable[[ControllerTask, int, float], None]


def step_tasks(tasks: Sequence[ControllerTask], clock: ManualClock, before: BeforeCycle | None = None,
               ks: list[int] | None = None) -> None:
    """Run the tasks' cycles one after another on this thread, in release order, to their ``end_time``.

    What their threads would do on a clock nobody else moves: sleep to the release
    (``clock`` jumps there), ``run_cycle``, and step to the next cycle with the task's own
    ``next_cycle`` (the skip policy). Releases at the same time run in the order of ``tasks``.
    ``ks``: each task's next cycle, updated in place (default: all from cycle 0).
    """
    ks = [0] * len(tasks) if ks is None else ks
    while True:
        due = [(release, i) for i, task in enumerate(tasks) if (release := task.release_of(ks[i])) is not None]
        if not due:
            return
        release, i = min(due)
        task = tasks[i]
        if not clock.sleep_until(release):
            return
        if before is not None:
            before(task, ks[i], release)
        cycle = task.run_cycle(ks[i], release)
        if cycle is None:  # the clock was stopped inside the cycle, as ``ControllerTask.run`` counts it
            task.stats.unfinished += 1
            return
        ks[i] = task.next_cycle(ks[i], cycle)


class _ScriptedCompute:
    """An execution-time model (``sim.core.exectime``) whose seconds come from a function of the cycle's time."""

    reads_cpu = False

    def __init__(self, clock: ManualClock, seconds: Callable[[float], float]) -> None:
        self._clock = clock
        self._seconds = seconds

    def sample(self, rng: np.random.Generator, cpu: float, k: int) -> float:
        return float(self._seconds(self._clock.now()))


class ControllerHarness:
    """One controller, driven cycle by cycle with scripted readings; its commands and cycles recorded.

    ``sensors`` maps this robot's sensor names to kinds (what the controller gets as
    ``sensor_kinds``). Timing as in a scenario's ``controller:`` entry: ``period``,
    ``deadline`` (default: the period), ``phase``, ``overrun``, ``wait_for``, ``watch``.
    ``max_age`` (s, one for all sensors or per name) arms the stale-input watchdog; without
    it no reading is ever stale. ``compute_time(now)`` gives the simulated seconds a cycle's
    compute takes (default 0: a controller costs no simulated time unless it says so), and
    ``wake_late(release)`` how late the thread wakes for a release. ``static`` and ``robot``
    default to the conformance checks' synthetic room (``synthetic_world``), robot 0.
    """

    def __init__(self, controller: type[Controller], params: Mapping[str, Any] | BaseModel | None = None, *,
                 sensors: Mapping[str, str] | None = None, period: float = 0.1, deadline: float | None = None,
                 phase: float = 0.0, overrun: str = "skip", wait_for: Iterable[str] = (),
                 watch: Iterable[str] | None = None, max_age: float | Mapping[str, float] = math.inf,
                 compute_time: Callable[[float], float] | None = None,
                 wake_late: Callable[[float], float] | None = None, queue: int = 8,
                 static: StaticMap | None = None, robot: RobotInfo | None = None, seed: int = 0) -> None:
        if static is None or robot is None:
            world, _, infos = synthetic_world()
            static, robot = static or world, robot or infos[0]
        kinds = dict(sensors or {})
        self.clock = ManualClock()
        self.controller = controller(_params(controller, params), robot, static, kinds, np.random.default_rng(seed))
        self.commands: list[Command] = []
        self.cycles: list[Cycle] = []
        ages = max_age if isinstance(max_age, Mapping) else dict.fromkeys(kinds, max_age)
        self.inputs = {name: _runtime(name, robot, static, self.clock, ages.get(name, math.inf), queue)
                       for name in kinds}
        self.task = ControllerTask(
            self.controller, robot.index, self.clock, list(self.inputs.values()),
            lambda index, command: self.commands.append(command), period=period,
            deadline=period if deadline is None else deadline, end_time=math.inf, overrun=OverrunPolicy(overrun),
            wait_for=tuple(wait_for), on_cycle=self.cycles.append, phase=phase,
            execution=None if compute_time is None else _ScriptedCompute(self.clock, compute_time),
            watch=None if watch is None else list(watch))
        self._wake_late = wake_late
        self._pending: list[tuple[float, int, Reading]] = []  # (publish time, order fed, reading)
        self._fed = itertools.count()
        self._seq = dict.fromkeys(kinds, 0)
        self._next = [0]  # the task's next cycle, kept from one ``run`` to the next

    @property
    def stats(self) -> ControllerStats:
        """The task's counters and histograms (cycles, misses, overruns, skipped_releases, safety_stops, ...)."""
        return self.task.stats

    def feed(self, sensor: str, data: Any, *, at: float, latency: float = 0.0) -> None:
        """Script one reading of ``sensor``: sampled at ``at`` s, in its queue from ``at + latency`` on.

        The harness has no producer thread: a reading enters its queue just before the first
        cycle that starts at or after its publish time (so one published while a cycle waits
        under ``wait_for`` is seen by the next cycle; that wait runs to the deadline).
        """
        if sensor not in self._seq:
            raise KeyError(f"{sensor!r} is not one of this robot's sensors: {sorted(self._seq)}")
        seq = self._seq[sensor]
        self._seq[sensor] = seq + 1
        reading = Reading(self.controller.robot.name, sensor, seq, float(at), float(at + latency), data)
        heapq.heappush(self._pending, (reading.publish_time, next(self._fed), reading))

    def feed_every(self, sensor: str, period: float, data: Callable[[float], Any], *, start: float = 0.0,
                   until: float, latency: float = 0.0) -> None:
        """Script a reading of ``sensor`` every ``period`` s from ``start`` up to (not including) ``until``;
        ``data(t)`` is the payload sampled at ``t``."""
        k = 0
        while (t := start + k * period) < until:
            self.feed(sensor, data(t), at=t, latency=latency)
            k += 1

    def run(self, until: float) -> list[Cycle]:
        """Run the cycles released before ``until`` s (continuing from the last ``run``); return them."""
        first = len(self.cycles)
        self.task.end_time = until
        step_tasks([self.task], self.clock, self._before_cycle, self._next)
        self.task.end_time = math.inf
        return self.cycles[first:]

    def _before_cycle(self, task: ControllerTask, k: int, release: float) -> None:
        """Wake late if scripted so, then queue every reading published by then (in publish order)."""
        if self._wake_late is not None and (late := self._wake_late(release)) > 0:
            self.clock.set(max(self.clock.now(), release + late))
        now = self.clock.now()
        while self._pending and self._pending[0][0] <= now:
            reading = heapq.heappop(self._pending)[2]
            self.inputs[reading.sensor].channel.put(reading)


def _params(cls: type[Controller], params: Mapping[str, Any] | BaseModel | None) -> BaseModel:
    """The controller's validated ``Params``, as the scenario loader would make them."""
    if isinstance(params, BaseModel):
        return params
    model = getattr(cls, "Params", NoParams)
    return model.model_validate(dict(params or {}))


def _runtime(name: str, robot: RobotInfo, static: StaticMap, clock: ManualClock, max_age: float,
             queue: int) -> SensorRuntime:
    """A sensor slot with a queue and no producer: the harness puts the scripted readings in."""
    stand_in = Sensor(name, robot, NoParams(), np.random.default_rng(0), static)
    return SensorRuntime(sensor=stand_in, robot_name=robot.name, rate_hz=1.0, latency_fixed=0.0, latency_jitter=0.0,
                         dropout=0.0, max_age=max_age, channel=Channel(clock, queue),
                         timing_rng=np.random.default_rng(0))
