"""Hand-off and wake-up latency of the simulator against bare-Python baselines, in one process.

Baselines (the floor this host can do): a bare ``queue.Queue`` thread -> thread
hand-off (put a timestamp, the blocked ``get`` reads it) and a bare periodic
thread sleeping to absolute deadlines (``time.sleep``). Both run on an idle
process, and again as probes while the warehouse runs (how much is the host and
the GIL, not the simulator).

The simulator: the 8-robot warehouse profile, each controller waiting for its
bumper, published 1 ms after the controller's release (``bench.profiles``,
``handoff=True``), so every cycle measures a real producer -> controller hand-off:
the reading's ``publish_time`` -> the controller holding it (``inputs_time``).
Release jitter is each cycle's start - release.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from bench.common import percentiles, run_scenario
from bench.profiles import warehouse_profile
from sensors.base import Reading
from sim.core.control import Cycle
from sim.core.listeners import RunListener
from sim.core.producers import SensorRuntime


class _Probe:
    """Bare-queue hand-offs and bare periodic wake-ups, in two threads, until stopped."""

    def __init__(self, handoff_gap: float = 0.002, period: float = 0.01) -> None:
        self.handoff: list[float] = []
        self.wakeup: list[float] = []
        self._stop = threading.Event()
        self._gap, self._period = handoff_gap, period
        self._threads = [threading.Thread(target=f, daemon=True, name=f"bench-{f.__name__}")
                         for f in (self._queue_pair, self._periodic)]

    def start(self) -> _Probe:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)

    def _queue_pair(self) -> None:
        q: queue.Queue[float | None] = queue.Queue()

        def consumer() -> None:
            while (t := q.get()) is not None:
                self.handoff.append(time.perf_counter() - t)

        c = threading.Thread(target=consumer, daemon=True)
        c.start()
        while not self._stop.is_set():
            time.sleep(self._gap)  # the consumer is blocked in get() when the put comes
            q.put(time.perf_counter())
        q.put(None)
        c.join(2.0)

    def _periodic(self) -> None:
        start = time.perf_counter()
        k = 1
        while not self._stop.is_set():
            release = start + k * self._period
            remaining = release - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)
            self.wakeup.append(max(time.perf_counter() - release, 0.0))
            k += 1


class HandoffListener(RunListener):
    """Publish -> take of each waited-for reading, and every cycle's release jitter."""

    def __init__(self, sensor: str = "bumper") -> None:
        self.sensor = sensor
        self._published: dict[str, float] = {}
        self.handoff: list[float] = []
        self.jitter: list[float] = []

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        if reading.sensor == self.sensor:
            self._published[reading.robot] = reading.publish_time

    def on_cycle(self, cycle: Cycle) -> None:
        self.jitter.append(max(cycle.release_jitter, 0.0))
        published = self._published.get(cycle.robot)
        # only cycles that really waited: the reading came after the release
        if published is not None and cycle.start_time <= published <= cycle.inputs_time:
            self.handoff.append(cycle.inputs_time - published)


def measure_latency(seconds: float = 10.0, baseline_seconds: float = 4.0, robots: int = 8) -> dict[str, Any]:
    """p50/p99/max (s) of every figure, plus the simulator / bare-queue p99 ratios."""
    idle = _Probe().start()
    time.sleep(baseline_seconds)
    idle.stop()
    listener = HandoffListener()
    loaded = _Probe().start()
    run, _ = run_scenario(warehouse_profile(robots, duration=seconds, handoff=True), [listener])
    loaded.stop()
    out = {
        "bare_queue_idle": percentiles(idle.handoff),
        "bare_wakeup_idle": percentiles(idle.wakeup),
        "bare_queue_loaded": percentiles(loaded.handoff),
        "bare_wakeup_loaded": percentiles(loaded.wakeup),
        "sim_handoff": percentiles(listener.handoff),
        "sim_release_jitter": percentiles(listener.jitter),
        "robots": robots,
        "end_reason": run.end_reason,
        "misses": sum(c.stats.misses for c in run.controllers),
        "cycles": sum(c.stats.cycles for c in run.controllers),
    }
    out["handoff_p99_ratio"] = _ratio(out["sim_handoff"], out["bare_queue_idle"])
    out["jitter_p99_ratio"] = _ratio(out["sim_release_jitter"], out["bare_wakeup_idle"])
    return out


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return a["p99"] / b["p99"] if a["p99"] is not None and b["p99"] else None
