"""Applies a scenario's faults to a run on its simpy timeline (the models are in sim.features.faults).

Sensor faults set the ``SensorRuntime`` fault fields when their window opens and
clear them when it closes; overlapping faults on one sensor combine (latencies
and dropout probabilities add, noise filters chain, any frozen fault freezes).
A controller stall is gated on the cycle's own time instead, so it hits exactly
the cycles of its window. ``cpu_hog`` and ``numpy_load`` run load threads through
the Supervisor for the window; they check for the window's end or the run's stop
every millisecond or so, so they never hold up a shutdown.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.common.streams import fault_key, stream
from sim.features.faults import fault_label, matches_sensor
from sim.features.faultstats import FaultStats, FaultWindow
from sim.runtime.run import ThreadInfo

if TYPE_CHECKING:
    import simpy

    from sim.core.producers import SensorRuntime
    from sim.runtime.run import Run

HOG_CHUNK = 10_000  # pure-Python iterations between stop checks (~0.5 ms)


def attach(run: Run) -> FaultInjector:
    """Wire the scenario's faults into ``run`` (called while the run is built)."""
    injector = FaultInjector(run)
    run.timeline_hooks.append(injector.install)
    run.add_listener(injector.stats)
    return injector


class _SensorEffects:
    """The faults active on one sensor, combined into its runtime fields."""

    def __init__(self, rt: SensorRuntime) -> None:
        self.rt = rt
        self.latency: dict[int, float] = {}
        self.dropout: dict[int, float] = {}
        self.frozen: set[int] = set()
        self.filters: dict[int, Callable[[Any], Any]] = {}

    def clear(self, key: int) -> None:
        self.latency.pop(key, None)
        self.dropout.pop(key, None)
        self.frozen.discard(key)
        self.filters.pop(key, None)
        self.apply()

    def apply(self) -> None:
        rt = self.rt
        rt.extra_latency = sum(self.latency.values())
        rt.forced_dropout = min(sum(self.dropout.values()), 1.0)
        rt.frozen = bool(self.frozen)
        filters = list(self.filters.values())
        rt.payload_filter = None if not filters else filters[0] if len(filters) == 1 else _chain(filters)


def _chain(filters: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def all_of(payload: Any) -> Any:
        for f in filters:
            payload = f(payload)
        return payload

    return all_of


def add_noise(payload: Any, std: float, relative: bool, rng: np.random.Generator) -> Any:
    """Payload with Gaussian noise: a scan's ranges (kept >= 0), or a float array; else unchanged."""
    ranges = getattr(payload, "ranges", None)
    if isinstance(ranges, np.ndarray) and dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return dataclasses.replace(payload, ranges=np.maximum(_noisy(ranges, std, relative, rng), 0.0))
    if isinstance(payload, np.ndarray) and payload.dtype.kind == "f":
        return _noisy(payload, std, relative, rng)
    return payload


def _noisy(x: np.ndarray, std: float, relative: bool, rng: np.random.Generator) -> np.ndarray:
    n = rng.normal(0.0, std, x.shape)
    y = x * (1.0 + n) if relative else x + n  # inf (no return) stays inf
    return y.astype(x.dtype, copy=False)


class FaultInjector:
    """Turns each scenario fault into a timeline process and the runtime changes it makes."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.faults = list(run.scenario.faults)
        self.windows = [self._window_of(k, f) for k, f in enumerate(self.faults)]
        self.stats = FaultStats(self.windows)
        self._effects: dict[int, _SensorEffects] = {}
        self._stop_loads: dict[int, threading.Event] = {}
        for k, f in enumerate(self.faults):
            if f.kind == "controller_stall":
                self._gate_stall(k, f)

    def _targets(self, fault: Any) -> list[SensorRuntime]:
        robot = getattr(fault, "robot", "*")
        sensor = getattr(fault, "sensor", None)
        if sensor is None:
            return []
        return [rt for rt in self.run.sensors if robot in ("*", rt.robot_name)
                and matches_sensor(sensor, rt.sensor.name, rt.sensor.kind)]

    def _window_of(self, k: int, f: Any) -> FaultWindow:
        robot = getattr(f, "robot", "*")
        robots = {c.robot_name for c in self.run.controllers if robot in ("*", c.robot_name)}
        sensors: dict[str, set[str]] = {}
        for rt in self._targets(f):
            sensors.setdefault(rt.robot_name, set()).add(rt.sensor.name)
        if sensors:
            robots = set(sensors)
        return FaultWindow(k, fault_label(f, k), f.kind, f.start, f.end, f.target(), robots, sensors)

    # ------------------------------------------------------------------ timeline
    def install(self, env: simpy.Environment, run: Run) -> None:
        """Timeline hook: one simpy process per fault."""
        for k in range(len(self.faults)):
            env.process(self._process(env, k))

    def _process(self, env: simpy.Environment, k: int) -> Generator[simpy.Event, object, None]:
        f, w = self.faults[k], self.windows[k]
        yield env.timeout(f.start)
        w.applied_at = float(env.now)
        w.applied_lateness = self.run.clock.now() - f.start
        self._on(k, f, w)
        self.run.timeline_log.append((env.now, f"fault {w.label} on: {f.kind} {w.target}"))
        yield env.timeout(f.duration)
        self._off(k, f)
        w.removed_at = float(env.now)
        self.run.timeline_log.append((env.now, f"fault {w.label} off"))

    def _on(self, k: int, f: Any, w: FaultWindow) -> None:
        kind = f.kind
        if kind in ("sensor_dropout", "latency_spike", "frozen_sensor", "noise_burst"):
            for rt in self._targets(f):
                fx = self._effects.setdefault(id(rt), _SensorEffects(rt))
                if kind == "sensor_dropout":
                    fx.dropout[k] = f.probability
                elif kind == "latency_spike":
                    fx.latency[k] = f.latency
                elif kind == "frozen_sensor":
                    fx.frozen.add(k)
                else:
                    fx.filters[k] = self._noise_filter(f, w, rt.label, self._stream(k, rt.robot_name, "sensor",
                                                                                    rt.sensor.name, "noise"))
                fx.apply()
        elif kind in ("cpu_hog", "numpy_load"):
            stop = self._stop_loads[k] = threading.Event()
            for n in range(f.threads):
                self._spawn_load(f, w, n, stop)
        elif kind == "kill_worker":
            kill = getattr(self.run, "kill_worker", None)
            if kill is None:
                w.notes.append("skipped: this build has no physics worker pool (Run.kill_worker)")
            else:
                kill(f.worker)
                w.notes.append(f"killed physics worker {f.worker}")

    def _off(self, k: int, f: Any) -> None:
        for fx in self._effects.values():
            fx.clear(k)
        stop = self._stop_loads.pop(k, None)
        if stop is not None:
            stop.set()

    # ------------------------------------------------------------------ effects
    def _stream(self, k: int, *path: str) -> np.random.Generator:
        """Fault ``k``'s own random stream for ``path``: other faults, robots, sensors never shift it."""
        return stream(self.run.scenario.run.seed, "fault", fault_key(self.faults, k), *path)

    @staticmethod
    def _noise_filter(f: Any, w: FaultWindow, label: str, rng: np.random.Generator) -> Callable[[Any], Any]:
        std, relative, p = f.std, f.relative, f.probability
        w.work[label] = 0

        def noise(payload: Any) -> Any:
            if p < 1.0 and rng.random() >= p:
                return payload
            w.work[label] += 1  # only this sensor's producer thread writes this key
            return add_noise(payload, std, relative, rng)

        return noise

    def _gate_stall(self, k: int, f: Any) -> None:
        """Wrap each target controller's ``extra_compute``: exact to the cycle, no timeline race."""
        w = self.windows[k]
        for task in self.run.controllers:
            if task.robot_name not in w.robots:
                continue
            rng = self._stream(k, "robot", task.robot_name, "stall")
            task.extra_compute = _stalled(task.extra_compute, f, rng, w, task.robot_name)

    def _spawn_load(self, f: Any, w: FaultWindow, n: int, stop: threading.Event) -> None:
        run, clock = self.run, self.run.clock
        name = f"fault:{w.label}" + (f"-{n}" if f.threads > 1 else "")
        end = f.end

        def done() -> bool:
            return stop.is_set() or clock.stopped or run.finished.is_set() or clock.now() >= end

        body = (lambda: cpu_hog(done, w.work, name)) if f.kind == "cpu_hog" else (
            lambda: numpy_load(done, w.work, name, f.size))
        w.threads.append(name)
        run.threads.append(ThreadInfo(name, "fault", [w.label]))
        run.supervisor.spawn(name, body)  # not a clock participant: it is load, not simulation


def _stalled(previous: Callable[[float], float], f: Any, rng: np.random.Generator, w: FaultWindow,
             robot: str) -> Callable[[float], float]:
    start, end, stall, p = f.start, f.end, f.stall, f.probability
    w.work[robot] = 0

    def extra_compute(now: float) -> float:
        seconds = previous(now)
        if start <= now < end and (p >= 1.0 or rng.random() < p):
            w.work[robot] += 1  # only this robot's controller thread writes this key
            seconds += stall
        return seconds

    return extra_compute


def cpu_hog(done: Callable[[], bool], tally: dict[str, int], name: str) -> None:
    """Pure-Python arithmetic: it holds the GIL except when the switch interval hands it over."""
    loops = 0
    tally[name] = 0
    while not done():
        x = 0
        for i in range(HOG_CHUNK):
            x += i * i
        loops += 1
        tally[name] = loops


def numpy_load(done: Callable[[], bool], tally: dict[str, int], name: str, size: int) -> None:
    """Elementwise ufuncs on large float arrays: they release the GIL and use no BLAS threads."""
    a = np.random.default_rng(0).random(size) + 1.0
    b = np.empty_like(a)
    ops = 0
    tally[name] = 0
    while not done():
        np.sqrt(a, out=b)
        np.multiply(b, b, out=a)  # back to (about) a: values stay bounded however long it runs
        ops += 1
        tally[name] = ops
