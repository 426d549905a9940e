"""Controller threads under deadlines: release, gather inputs, compute, hand over, measure.

Timing words follow docs/architecture.md: cycle k is released at r_k = phase + k * period
(``robots[].controller.phase``, default 0); release jitter = start - r_k; response time =
finish - r_k; a deadline miss is finish > r_k + deadline; an overrun runs past r_{k+1}.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from sim.common.stats import Histogram
from sim.core.clock import Clock
from sim.core.exectime import NoModel
from sim.core.producers import SensorRuntime
from sim.core.watchdog import Slot
from sim.errors import PluginOutputError, format_value
from sim.interfaces.controller import Controller, Inputs
from sim.interfaces.messages import Command, Reading

_isfinite = math.isfinite


class OverrunPolicy(StrEnum):
    """What to do with releases that passed while a cycle overran."""

    SKIP = "skip"  # start at the next release still in the future; the passed ones are skipped
    CATCH_UP = "catch_up"  # run every release, back to back, until caught up


class Cause(StrEnum):
    """The phase that made a missed cycle late."""

    LATE_RELEASE = "late_release"  # the thread woke late (host scheduling, GIL)
    INPUT_WAIT = "input_wait"  # it waited for fresh sensor data
    LONG_COMPUTE = "long_compute"  # its compute took more CPU than usual
    INTERFERENCE = "interference"  # wall time far above its CPU time (preempted, GIL-starved)


@dataclass(frozen=True, slots=True)
class Cycle:
    """One controller cycle, as measured."""

    robot: str
    k: int
    release_time: float
    start_time: float
    inputs_time: float  # when inputs were in hand (after any wait for fresh data)
    finish_time: float
    deadline: float
    cpu_time: float  # the thread's CPU seconds for the cycle
    miss: bool
    overrun: bool
    safety_stop: bool
    cause: Cause | None
    ages: tuple[tuple[str, float], ...]  # (sensor name, age at use) for readings used

    @property
    def release_jitter(self) -> float:
        return self.start_time - self.release_time

    @property
    def response_time(self) -> float:
        return self.finish_time - self.release_time


@dataclass
class ControllerStats:
    """Bounded per-controller statistics."""

    cycles: int = 0
    misses: int = 0
    overruns: int = 0
    skipped_releases: int = 0
    unfinished: int = 0  # released and started, but cut by the run's stop (interrupt, failure)
    safety_stops: int = 0
    response: Histogram = field(default_factory=Histogram)
    jitter: Histogram = field(default_factory=Histogram)
    compute_cpu: Histogram = field(default_factory=Histogram)
    lateness: Histogram = field(default_factory=Histogram)  # finish - deadline, misses only
    causes: dict[str, int] = field(default_factory=dict)
    first_miss_time: float | None = None
    last_miss_time: float | None = None
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=40))  # misses, newest last


def attribute_cause(release_delay: float, input_wait: float, compute_wall: float,
                    compute_cpu: float) -> Cause:
    """Blame the phase that took the largest share of the late cycle's response time.

    Response time = release delay + input wait + compute wall time, and compute wall
    time = CPU time + time the thread was runnable but not running (interference).
    """
    share = {
        Cause.LATE_RELEASE: release_delay,
        Cause.INPUT_WAIT: input_wait,
        Cause.LONG_COMPUTE: compute_cpu,
        Cause.INTERFERENCE: compute_wall - compute_cpu,
    }
    return max(share, key=lambda c: share[c])


class ControllerTask:
    """Runs one robot's controller periodically until ``end_time``."""

    def __init__(self, controller: Controller, robot_index: int, clock: Clock,
                 inputs: list[SensorRuntime], submit: Callable[[int, Command], None],
                 period: float, deadline: float, end_time: float,
                 overrun: OverrunPolicy = OverrunPolicy.SKIP, wait_for: tuple[str, ...] = (),
                 on_cycle: Callable[[Cycle], None] | None = None, phase: float = 0.0,
                 execution: Any = None, rng: np.random.Generator | None = None,
                 watch: Collection[str] | None = None) -> None:
        self.controller = controller
        self.robot_index = robot_index
        self.robot_name = controller.robot.name
        self.clock = clock
        self.inputs = {rt.sensor.name: rt for rt in inputs}
        self.submit = submit
        self.period = period
        self.deadline = deadline
        self.end_time = end_time
        self.overrun_policy = OverrunPolicy(overrun)
        self.wait_for = wait_for
        self.on_cycle = on_cycle
        self.phase = phase
        self.execution: Any = execution if execution is not None else NoModel()  # an exectime model (duck-typed)
        # replay/empirical charge a recording's cpu_time, which holds the costs compute() declared then
        self._replays = bool(getattr(self.execution, "replays_recording", False))
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.stats = ControllerStats()
        # Extra compute seconds per cycle, each hook given the cycle's inputs time (faults add theirs
        # with ``add_compute_hook`` before the run starts): an immutable tuple, replaced whole.
        self.compute_hooks: tuple[Callable[[float], float], ...] = ()
        self._latest: dict[str, Reading | None] = {name: None for name in self.inputs}
        self.last_command = (0.0, 0.0)
        # Per cycle, in input order: (name, channel, wait for fresh data?) and (name, runtime, watched?).
        self._wiring = [(name, rt.channel, name in wait_for) for name, rt in self.inputs.items()]
        # The stale-input watchdog's inputs (None: all); stale uses are counted for every input.
        self.watched = tuple(self.inputs if watch is None else (n for n in self.inputs if n in watch))
        self._runtimes = [(name, rt, name in self.watched) for name, rt in self.inputs.items()]
        self.outcome: dict[str, Any] | None = None  # status(), taken once after the run (Run.stop)
        # The release of the cycle running or next to run (inf once the task ended): nothing this controller
        # sends (a command, a cycle, a note) is earlier. Robot hosts' lockstep uses it as lookahead.
        self.pending_release = 0.0
        cls = type(controller)
        self.component = f"{cls.__module__}:{cls.__qualname__}"
        # The plugin call in progress ((k,) during compute()), for the watchdog and failure reports.
        self.slot = Slot(f"controller:{self.robot_name}",
                         lambda call: f"compute() of robot {self.robot_name} ({self.component}) at cycle {call[0]}")

    def add_compute_hook(self, hook: Callable[[float], float]) -> None:
        """Add ``hook(inputs_time) -> seconds`` of modelled compute to every cycle (after those added before)."""
        self.compute_hooks = (*self.compute_hooks, hook)

    def run(self) -> None:
        clock = self.clock
        k = 0
        try:
            while (release := self.release_of(k)) is not None:
                self.pending_release = release
                if not clock.sleep_until(release):
                    return
                cycle = self.run_cycle(k, release)
                if cycle is None:  # the run was stopped inside this cycle: it is not logged, only counted
                    self.stats.unfinished += 1
                    return
                k = self.next_cycle(k, cycle)
        finally:
            self.pending_release = math.inf

    def release_of(self, k: int) -> float | None:
        """When cycle ``k`` is released (phase + k * period); None if that is at or past the end."""
        release = self.phase + k * self.period
        return release if release < self.end_time else None

    def next_cycle(self, k: int, cycle: Cycle) -> int:
        """The cycle to run after cycle ``k`` finished: k + 1, or under ``skip`` after an overrun the
        first release strictly after the finish (the releases in between are counted as skipped).

        ``run`` and the single-thread test harness (``sim.testing.harness``) both step with it.
        """
        k += 1
        next_release = self.phase + k * self.period
        if cycle.finish_time > next_release and self.overrun_policy is OverrunPolicy.SKIP:
            # first release strictly after the finish; the ones in between are skipped
            k_next = math.floor((cycle.finish_time - self.phase) / self.period) + 1
            self.stats.skipped_releases += k_next - k
            k = k_next
        return k

    def run_cycle(self, k: int, release: float) -> Cycle | None:
        """One cycle released at ``release``; None if the run stopped meanwhile."""
        clock = self.clock
        start = clock.now()
        cpu0 = clock.thread_time()
        deadline_at = release + self.deadline
        latest = self._latest
        fresh = dict.fromkeys(latest, False)
        for name, channel, wait in self._wiring:
            if wait:
                seen = channel.version()
                if len(channel) == 0:
                    channel.wait_for_put(seen, deadline_at)
            reading = channel.take_newest()
            if reading is not None:
                latest[name] = reading
                fresh[name] = True
        if clock.stopped:
            return None
        inputs_time = clock.now()
        cpu_inputs = clock.thread_time()
        ages = []
        used = []
        stale = False
        for name, rt, watched in self._runtimes:
            reading = latest[name]
            if reading is None:
                if watched and inputs_time > rt.max_age:
                    stale = True
                continue
            age = inputs_time - reading.sample_time
            ages.append((name, age))
            used.append((name, reading.sample_time))
            rt.stats.age_at_use.add(age if age > 0.0 else 0.0)
            if age > rt.max_age:
                rt.stats.stale_uses += 1
                if watched:
                    stale = True
        reads_cpu = self.execution.reads_cpu
        measured0 = clock.measured_cpu() if reads_cpu else 0.0
        if stale:
            v, w = 0.0, 0.0  # safety watchdog: stale or missing input -> stop
            charged = 0.0  # compute() is not called: nothing declared
        else:
            slot = self.slot
            slot.call = (k,)
            inputs = Inputs(inputs_time, dict(latest), fresh)
            out = self.controller.compute(inputs)
            slot.call = None
            # Two finite numbers, or the controller failed (never clamped): isfinite rejects
            # str, None, complex; unpacking rejects anything but a pair.
            try:
                v, w = out
                ok = _isfinite(v) and _isfinite(w)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise PluginOutputError(
                    f"compute() of robot {self.robot_name} ({self.component}) returned {format_value(out)} "
                    f"at cycle {k} (t={inputs_time:.3f} s); expected two finite numbers (v m/s, w rad/s)")
            # compute() declared a cost (Inputs.charge): the total is NaN after a bad one
            if (charged := inputs.charged) and inputs.bad_charge is not None:
                raise PluginOutputError(
                        f"compute() of robot {self.robot_name} ({self.component}) charged "
                        f"{format_value(inputs.bad_charge[0])} s at cycle {k} (t={inputs_time:.3f} s); "
                        "expected a finite number of seconds >= 0 (Inputs.charge)")
        # Modelled compute time (execution-time model, cost declared by compute(), injected stalls) counts as compute.
        extra = self.execution.sample(self.rng, clock.measured_cpu() - measured0 if reads_cpu else 0.0, k)
        if charged and not self._replays:  # a replayed recording holds the declared costs already
            extra += charged
        if self.compute_hooks:
            added = 0.0
            for hook in self.compute_hooks:
                added += hook(inputs_time)
            extra += added
        if extra > 0 and not clock.sleep_until(clock.now() + extra):
            return None
        finish = clock.now()
        cpu_end = clock.thread_time()
        cpu = cpu_end - cpu0 + extra
        compute_cpu = cpu_end - cpu_inputs + extra
        self.last_command = (v, w)
        self.submit(self.robot_index, Command(float(v), float(w), finish, tuple(used)))
        miss = finish > deadline_at
        overrun = finish > release + self.period
        st = self.stats
        cause = None
        if miss:
            cause = attribute_cause(start - release, inputs_time - start, finish - inputs_time, compute_cpu)
            st.misses += 1
            st.lateness.add(finish - deadline_at)
            st.causes[cause.value] = st.causes.get(cause.value, 0) + 1
            if st.first_miss_time is None:
                st.first_miss_time = release
            st.last_miss_time = release
        st.cycles += 1
        st.overruns += overrun
        st.safety_stops += stale
        response = finish - release
        jitter = start - release
        st.response.add(response if response > 0.0 else 0.0)
        st.jitter.add(jitter if jitter > 0.0 else 0.0)
        st.compute_cpu.add(compute_cpu if compute_cpu > 0.0 else 0.0)
        st.recent.append(miss)
        cycle = Cycle(self.robot_name, k, release, start, inputs_time, finish, self.deadline,
                      cpu, miss, overrun, stale, cause, tuple(ages))
        if self.on_cycle is not None:
            self.on_cycle(cycle)
        return cycle
