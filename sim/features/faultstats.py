"""What each injected fault did: per-window counters, inside the window against the rest of the run.

``FaultStats`` is the ``Feature`` behind the report's ``faults`` section. Memory is bounded: two buckets of counters
per (fault, target robot) and per (fault, target sensor), whatever the run's
length. Each bucket is written by one thread only (a robot's controller thread,
the physics thread for collisions, a sensor's producer thread), so no lock sits
in the timed paths; ``close`` adds the buckets up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from sim.common.texttable import print_table
from sim.core.feature import Feature

if TYPE_CHECKING:
    from sim.core.control import Cycle
    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.interfaces.messages import Reading
    from sim.world.model import WorldSnapshot

_SCALARS = (bool, int, float, str, type(None))  # interned values repeat without being frozen


@dataclass
class FaultWindow:
    """One fault as scheduled, plus what the injector recorded while applying it."""

    index: int
    label: str
    kind: str
    start: float
    end: float
    target: str
    robots: set[str]  # robot names whose cycles and collisions count
    sensors: dict[str, set[str]]  # robot name -> its targeted sensor names (sensor faults)
    applied_at: float | None = None  # simulated time the timeline applied it
    applied_lateness: float | None = None  # clock time at application minus the window start
    removed_at: float | None = None
    threads: list[str] = field(default_factory=list)  # load threads it ran
    work: dict[str, int] = field(default_factory=dict)  # thread -> loops done / entity -> hits
    notes: list[str] = field(default_factory=list)

    def has(self, t: float) -> bool:
        return self.start <= t < self.end


class _Bucket:
    __slots__ = ("age_max", "causes", "collisions", "cycles", "dropouts", "misses", "repeats",
                 "safety_stops", "samples", "stale_uses")

    def __init__(self) -> None:
        self.cycles = self.misses = self.stale_uses = self.safety_stops = 0
        self.collisions = self.samples = self.dropouts = self.repeats = 0
        self.age_max = -math.inf
        self.causes: dict[str, int] = {}

    def add(self, other: _Bucket) -> None:
        for name in self.__slots__:
            if name == "causes":
                for k, v in other.causes.items():
                    self.causes[k] = self.causes.get(k, 0) + v
            elif name == "age_max":
                self.age_max = max(self.age_max, other.age_max)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self, seconds: float, with_samples: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seconds": seconds, "cycles": self.cycles, "misses": self.misses,
            "miss_rate": self.misses / self.cycles if self.cycles else 0.0, "causes": dict(self.causes),
            "stale_uses": self.stale_uses, "safety_stops": self.safety_stops, "collisions": self.collisions,
        }
        if with_samples:
            out.update(samples=self.samples, dropouts=self.dropouts, repeated_payloads=self.repeats,
                       age_at_use_max=self.age_max if math.isfinite(self.age_max) else None)
        return out


Slot = tuple[FaultWindow, _Bucket, _Bucket]  # (window, inside, outside)


class FaultStats(Feature):
    """Buckets cycles, samples, publishes and collisions by fault window."""

    section = "faults"

    def __init__(self, windows: list[FaultWindow]) -> None:
        self.windows = windows
        self._robot: dict[str, list[Slot]] = {}
        self._sensor: dict[int, list[Slot]] = {}  # id(SensorRuntime) -> slots
        self._seen: dict[int, tuple[int, float]] = {}  # id(rt) -> (seq at last sample, its time)
        self._last_data: dict[int, object] = {}
        self._max_age: dict[tuple[str, str], float] = {}
        self._robot_names: list[str] = []
        self._collisions: np.ndarray | None = None
        self._runtimes: list[SensorRuntime] = []
        self.result: list[dict[str, Any]] = []

    def on_start(self, run: RunHandle) -> None:
        self._robot_names = list(run.bodies.names)
        for w in self.windows:
            for name in w.robots:
                self._robot.setdefault(name, []).append((w, _Bucket(), _Bucket()))
        for rt in run.sensors:
            self._max_age[(rt.robot_name, rt.sensor.name)] = rt.max_age
            if rt.sensor.name in self._targeted(rt.robot_name):
                self._runtimes.append(rt)
                self._sensor[id(rt)] = [(w, _Bucket(), _Bucket()) for w in self.windows
                                        if rt.sensor.name in w.sensors.get(rt.robot_name, ())]

    def _targeted(self, robot: str) -> set[str]:
        return set().union(*(w.sensors.get(robot, set()) for w in self.windows))

    # -------------------------------------------------------------- hooks (timed paths: keep cheap)
    def on_sample(self, rt: SensorRuntime, time: float) -> None:
        slots = self._sensor.get(id(rt))
        if slots is None:
            return
        prev = self._seen.get(id(rt))
        if prev is not None and rt.seq == prev[0]:  # the previous sample never got a sequence number
            for w, inside, outside in slots:
                (inside if w.has(prev[1]) else outside).dropouts += 1
        self._seen[id(rt)] = (rt.seq, time)
        for w, inside, outside in slots:
            (inside if w.has(time) else outside).samples += 1

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        slots = self._sensor.get(id(rt))
        if slots is None:
            return
        data = reading.data
        if data is self._last_data.get(id(rt)) and not isinstance(data, _SCALARS):
            for w, inside, outside in slots:
                (inside if w.has(reading.sample_time) else outside).repeats += 1
        self._last_data[id(rt)] = data

    def on_cycle(self, cycle: Cycle) -> None:
        slots = self._robot.get(cycle.robot)
        if slots is None:
            return
        stale = sum(1 for name, age in cycle.ages if age > self._max_age[(cycle.robot, name)])
        for w, inside, outside in slots:
            b = inside if w.has(cycle.release_time) else outside
            b.cycles += 1
            b.stale_uses += stale
            b.safety_stops += cycle.safety_stop
            if cycle.miss:
                b.misses += 1
                cause = cycle.cause.value if cycle.cause else "unknown"
                b.causes[cause] = b.causes.get(cause, 0) + 1
            names = w.sensors.get(cycle.robot)
            if names:
                for name, age in cycle.ages:
                    if name in names and age > b.age_max:
                        b.age_max = age

    def on_step(self, snap: WorldSnapshot) -> None:
        counts = snap.collisions
        if self._collisions is not None and np.array_equal(counts, self._collisions):
            return
        if self._collisions is not None:
            for i in np.flatnonzero(counts != self._collisions):
                n = int(counts[i] - self._collisions[i])
                for w, inside, outside in self._robot.get(self._robot_names[i], ()):
                    (inside if w.has(snap.time) else outside).collisions += n
        self._collisions = counts.copy()

    # -------------------------------------------------------------- result
    def report_section(self, run: RunHandle) -> list[dict[str, Any]]:
        """``report["faults"]``: one entry per scenario fault."""
        return self.result

    @staticmethod
    def print_section(data: list[dict[str, Any]], out: TextIO) -> None:
        print_faults({"faults": data}, out)

    def close(self, run: RunHandle) -> None:
        for rt in self._runtimes:  # the last sample of each sensor: was it dropped?
            prev = self._seen.get(id(rt))
            if prev is not None and rt.seq == prev[0]:
                for w, inside, outside in self._sensor[id(rt)]:
                    (inside if w.has(prev[1]) else outside).dropouts += 1
        self.result = [self._summary(w, float(run.sim_seconds)) for w in self.windows]

    def _summary(self, w: FaultWindow, sim_seconds: float) -> dict[str, Any]:
        inside, outside = _Bucket(), _Bucket()
        for slots in [*self._robot.values(), *self._sensor.values()]:
            for sw, i, o in slots:
                if sw is w:
                    inside.add(i)
                    outside.add(o)
        seconds_in = max(min(w.end, sim_seconds) - min(w.start, sim_seconds), 0.0)
        sensors = bool(w.sensors)
        notes = list(w.notes)
        if w.applied_at is None:
            notes.append("not reached: the run ended before the window opened")
        return {
            "index": w.index, "name": w.label, "kind": w.kind, "start": w.start, "end": w.end,
            "target": w.target, "robots": sorted(w.robots),
            "sensors": sorted(f"{r}/{s}" for r, names in w.sensors.items() for s in names),
            "applied_at": w.applied_at, "applied_lateness": w.applied_lateness, "removed_at": w.removed_at,
            "threads": list(w.threads), "work": dict(w.work), "notes": notes,
            "inside": inside.as_dict(seconds_in, sensors),
            "outside": outside.as_dict(max(sim_seconds - seconds_in, 0.0), sensors),
        }




# ---------------------------------------------------------------------- terminal
def _pair(f: dict[str, Any], key: str) -> str:
    a, b = f["inside"].get(key), f["outside"].get(key)
    return "-" if a is None else f"{a}/{b}"


def _note(f: dict[str, Any]) -> str:
    bits = []
    inside = f["inside"]
    if inside.get("causes"):
        top = max(inside["causes"].items(), key=lambda kv: kv[1])
        bits.append(f"in: {top[1]} {top[0]}")
    if inside.get("age_at_use_max") is not None:
        bits.append(f"age max {inside['age_at_use_max'] * 1000:.0f} ms")
    if inside.get("repeated_payloads"):
        bits.append(f"{inside['repeated_payloads']} repeated")
    if f["work"]:
        bits.append(", ".join(f"{k}: {v}" for k, v in sorted(f["work"].items())))
    bits += f["notes"]
    return "; ".join(bits)


def print_faults(report: dict[str, Any], out: TextIO) -> None:
    """The fault table: each window and what happened inside it / in the rest of the run."""
    faults = report.get("faults") or []
    if not faults:
        return
    print("\nFaults (counts inside the window / outside it, for the fault's targets)", file=out)
    rows = [["fault", "kind", "window s", "target", "cycles", "misses", "stale", "safety stops",
             "collisions", "samples", "dropouts", "what it did"]]
    for f in faults:
        rows.append([f["name"], f["kind"], f"{f['start']:g}-{f['end']:g}", f["target"],
                     _pair(f, "cycles"), _pair(f, "misses"), _pair(f, "stale_uses"),
                     _pair(f, "safety_stops"), _pair(f, "collisions"), _pair(f, "samples"),
                     _pair(f, "dropouts"), _note(f)])
    print_table(rows, out, left=(0, 1, 2, 3, -1))
