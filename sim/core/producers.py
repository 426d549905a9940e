"""Sensor producer threads: sample on schedule, hold each reading for its latency, publish.

One ``ProducerTask`` serves a group of sensors (all lidars, all IMUs, ... or a
single sensor: ``run.producer_threads``) from one heap of timed events, so a
fleet of 200 robots does not need 800 threads, and every lidar due at the same
instant is cast in one vectorised call.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Protocol, cast

import numpy as np

from sim.common.stats import Histogram, RateMeter
from sim.core.channel import Channel, Overflow
from sim.core.clock import Clock
from sim.core.watchdog import Slot
from sim.errors import PluginOutputError
from sim.interfaces.messages import Reading
from sim.interfaces.sensor import Sensor
from sim.world.model import WorldSnapshot


@dataclass
class SensorStats:
    """What happened to one sensor's readings, from sample to use."""

    produced: int = 0  # samples taken
    dropouts: int = 0  # lost to the dropout model (never published)
    published: int = 0  # entered the queue (the queue may still drop them)
    missed_samples: int = 0  # sample slots skipped because the producer ran late
    stale_uses: int = 0  # readings older than max_age when a controller used them
    rate: RateMeter = field(default_factory=RateMeter)
    age_at_use: Histogram = field(default_factory=Histogram)
    sample_lateness: Histogram = field(default_factory=Histogram)  # actual - scheduled sample time


@dataclass(frozen=True, eq=False)
class SampleEffect:
    """One change to a sensor's samples, applied by a fault while its window is open.

    ``latency`` s are added to each reading's latency; ``dropout`` is a probability of losing
    each sample on top of the sensor's own; ``freeze`` republishes the last payload instead of
    the fresh one; ``payload_filter`` maps each fresh payload (a noise burst, say).
    """

    latency: float = 0.0
    dropout: float = 0.0
    freeze: bool = False
    payload_filter: Callable[[object], object] | None = None


@dataclass(frozen=True)
class SampleEffects:
    """The effects in force on one sensor, combined: overlapping ones add (latencies, dropout
    probabilities, capped at 1), chain (filters, in the order applied), any freeze freezes."""

    active: tuple[SampleEffect, ...] = ()
    extra_latency: float = 0.0
    forced_dropout: float = 0.0
    frozen: bool = False
    payload_filter: Callable[[object], object] | None = None

    @classmethod
    def of(cls, active: tuple[SampleEffect, ...]) -> SampleEffects:
        filters = [e.payload_filter for e in active if e.payload_filter is not None]
        return cls(active, sum(e.latency for e in active if e.latency),
                   min(sum(e.dropout for e in active if e.dropout), 1.0), any(e.freeze for e in active),
                   None if not filters else filters[0] if len(filters) == 1 else _chain(filters))


def _chain(filters: list[Callable[[object], object]]) -> Callable[[object], object]:
    def all_of(payload: object) -> object:
        for f in filters:
            payload = f(payload)
        return payload

    return all_of


NO_EFFECTS = SampleEffects()


@dataclass
class SensorRuntime:
    """A sensor plus everything the runtime adds around it."""

    sensor: Sensor
    robot_name: str
    rate_hz: float
    latency_fixed: float
    latency_jitter: float
    dropout: float
    max_age: float
    channel: Channel[Reading]
    timing_rng: np.random.Generator  # latency jitter and dropouts; the sensor has its own for noise
    stats: SensorStats = field(default_factory=SensorStats)
    seq: int = 0
    failed: str | None = None
    last: Reading | None = None  # newest published reading (read by the view; swapped, never mutated)
    # The sample effects in force (faults): one immutable value, replaced whole by ``add_effect`` /
    # ``remove_effect`` on the timeline thread and read once per sample by the producer thread.
    effects: SampleEffects = field(default_factory=lambda: NO_EFFECTS)
    on_failure: str = "stop"  # "continue": a sampling exception fails this sensor only (scenario)
    # Robot hosts: the sensor's consumer is in another process. The readings of one sample instant
    # bound for one host go to its outlet together, at sample time; that host's driver thread puts each
    # into the queue at its publish time. Refused ones (the transport was full) are counted, never lost silently.
    outlet: Outlet | None = None
    transport_drops: int = 0  # readings the transport to the host refused (its ring was full)

    def add_effect(self, effect: SampleEffect) -> None:
        """Apply ``effect`` from the next sample on (a fault window opening)."""
        self.effects = SampleEffects.of((*self.effects.active, effect))

    def remove_effect(self, effect: SampleEffect) -> None:
        """Stop applying ``effect`` (a fault window closing); an effect not applied is ignored."""
        self.effects = SampleEffects.of(tuple(e for e in self.effects.active if e is not effect))

    def enqueue(self, seq: int, sample_time: float, now: float, payload: object) -> Reading:
        """Publish a reading into this sensor's queue at ``now`` (a full ``block`` queue waits up to one period).

        The producer thread does it in one process; a robot host's driver thread, for readings sampled in the world.
        """
        reading = Reading(self.robot_name, self.sensor.name, seq, sample_time, now, payload)
        channel = self.channel
        channel.put(reading, now + 1.0 / self.rate_hz if channel.policy is _BLOCK else None)
        return reading

    @property
    def period(self) -> float:
        return 1.0 / self.rate_hz

    @property
    def label(self) -> str:
        return f"{self.robot_name}/{self.sensor.name}"


Forwarded = tuple[SensorRuntime, int, float, float, object]  # (runtime, seq, sample time, publish time, payload)


class Outlet(Protocol):
    """Where a robot host's readings leave the world process (``sim.runtime.hosts``)."""

    def send(self, items: list[Forwarded]) -> list[Forwarded]:
        """Send ``items`` (one sample instant); return those the transport refused."""
        ...


_Pending = tuple[SensorRuntime, int, float, object]  # (rt, seq, sample_time, payload) waiting out its latency
# Heap entry (due time, insertion order, what): ``what`` is a sample slot, the list of the indices of
# the sensors due then (one entry for all the sensors of a batch), or a _Pending reading to publish.
_Event = tuple[float, int, list[int] | _Pending]
_BLOCK = Overflow.BLOCK
_floor = math.floor


def _describe_sample(call: tuple[type[Sensor], list[SensorRuntime], float]) -> str:
    """A producer's call in progress, for the watchdog and failure reports."""
    cls, rts, t = call
    labels = ", ".join(rt.label for rt in rts[:4]) + (f" and {len(rts) - 4} more" if len(rts) > 4 else "")
    return f"{cls.__module__}:{cls.__qualname__}.sample_many() of sensor {labels} at t={t:.3f} s"


class ProducerTask:
    """Runs a group of sensors on the clock until ``end_time``."""

    def __init__(self, name: str, sensors: list[SensorRuntime], clock: Clock,
                 snapshot: Callable[[], WorldSnapshot], end_time: float,
                 on_sample: Callable[[SensorRuntime, float], None] | None = None,
                 on_publish: Callable[[SensorRuntime, Reading], None] | None = None) -> None:
        self.name = name
        self.sensors = sensors
        self.clock = clock
        self.snapshot = snapshot
        self.end_time = end_time
        self.on_sample = on_sample
        self.on_publish = on_publish
        # Told of a sensor that failed with on_failure "continue" (the run goes on without it).
        self.on_sensor_error: Callable[[SensorRuntime, BaseException], None] | None = None
        self._heap: list[_Event] = []
        self._order = itertools.count()  # ties at one instant run in the order they were pushed
        self.cpu_time = 0.0
        # The plugin call in progress ((class, sensor runtimes, time) during sample_many()).
        self.slot = Slot(name, _describe_sample)
        # Robot hosts: readings leave for their host at sample time, all of a sample instant in one message;
        # the host's driver publishes each at its instant, so this thread need not wake for it (the world is
        # the busiest process). False: at their publish time, as one process would publish them.
        self.forward_at_sample = False

    def run(self) -> None:
        clock = self.clock
        heap, end_time = self._heap, self.end_time
        if self.sensors:
            heappush(heap, (0.0, next(self._order), list(range(len(self.sensors)))))
        cpu0 = clock.thread_time()
        try:
            while heap:
                due = heap[0][0]
                if due >= end_time:
                    return
                if not clock.sleep_until(due):
                    return
                now = clock.now()
                # Publishes run as they come off the heap, samples after them: the order among
                # samples (and among publishes) is the (time, insertion) order.
                sample_due: list[tuple[float, list[int]]] = []
                outgoing: dict[Outlet, list[Forwarded]] | None = None
                while heap and heap[0][0] <= now:
                    t, _, what = heappop(heap)
                    if type(what) is list:
                        sample_due.append((t, what))
                    else:
                        rt, seq, sample_time, payload = cast(_Pending, what)
                        outlet = rt.outlet
                        if outlet is None:
                            self._publish(rt, seq, sample_time, payload)
                        else:  # a robot host's: the readings published now leave together
                            if outgoing is None:
                                outgoing = {}
                            outgoing.setdefault(outlet, []).append((rt, seq, sample_time, now, payload))
                if outgoing is not None:
                    for outlet, items in outgoing.items():
                        self._forward(outlet, items)
                if sample_due:
                    self._sample(sample_due, now)
        finally:
            self.cpu_time = clock.thread_time() - cpu0

    def _sample(self, due: list[tuple[float, list[int]]], now: float) -> None:
        """Sample the sensors of the slots ``due`` ((scheduled time, sensor indices)), a batch per class."""
        snap = self.snapshot()
        sensors = self.sensors
        by_class: dict[type, list[tuple[float, int]]] = {}
        for t, indices in due:
            for i in indices:
                rt = sensors[i]
                if rt.failed is None:
                    cls = type(rt.sensor)
                    if cls in by_class:
                        by_class[cls].append((t, i))
                    else:
                        by_class[cls] = [(t, i)]
        for cls, members in by_class.items():
            self._after_sample(self._checked(cls, self._sample_class(cls, members, snap), now), now)

    def _sample_class(self, cls: type[Sensor], members: list[tuple[float, int]], snap: WorldSnapshot
                      ) -> list[tuple[tuple[float, int], object]]:
        """One vectorised call; if it raises and a member may fail alone, find the culprit(s).

        A batch call cannot say which sensor raised, so the members are retried one by
        one: a ``continue`` sensor that raises is marked failed, the others are kept. A
        ``stop`` sensor's exception propagates and the Supervisor ends the run.
        """
        slot = self.slot
        try:
            rts = [self.sensors[i] for _, i in members]
            slot.call = (cls, rts, snap.time)
            payloads = cls.sample_many([rt.sensor for rt in rts], snap)
            slot.call = None
            return list(zip(members, payloads, strict=True))
        except Exception as exc:
            if self.on_sensor_error is None or all(self.sensors[i].on_failure != "continue"
                                                   for _, i in members):
                raise
            if len(members) == 1:
                self._fail(self.sensors[members[0][1]], exc)
                return []
        out = []
        for member in members:
            rt = self.sensors[member[1]]
            try:
                slot.call = (cls, [rt], snap.time)
                out.append((member, cls.sample_many([rt.sensor], snap)[0]))
                slot.call = None
            except Exception as exc:
                if rt.on_failure != "continue":
                    raise
                self._fail(rt, exc)
        return out

    def _checked(self, cls: type[Sensor], sampled: list[tuple[tuple[float, int], object]], now: float
                 ) -> list[tuple[tuple[float, int], object]]:
        """Drop (``continue``) or raise on readings the sensor's kind forbids (NaN; inf but for "no return")."""
        check = cls.check_reading
        bad = [(member, why) for member, payload in sampled if (why := check(payload)) is not None]
        if not bad:
            return sampled
        for (_, i), why in bad:
            rt = self.sensors[i]
            exc = PluginOutputError(
                f"sensor {rt.label} ({cls.__module__}:{cls.__qualname__}) returned a bad reading at "
                f"t={now:.3f} s (sample {rt.stats.produced}): {why}")
            if rt.on_failure != "continue" or self.on_sensor_error is None:
                raise exc
            self._fail(rt, exc)
        dropped = {member for member, _ in bad}
        return [(member, payload) for member, payload in sampled if member not in dropped]

    def _fail(self, rt: SensorRuntime, exc: Exception) -> None:
        rt.failed = f"{type(exc).__name__}: {exc}"
        assert self.on_sensor_error is not None
        self.on_sensor_error(rt, exc)

    def _after_sample(self, sampled: list[tuple[tuple[float, int], object]], now: float) -> None:
        """Statistics, next sample slot and latency of each fresh sample ((scheduled, i), payload).

        One loop over the batch with the lookups hoisted: this runs for every reading. Sensors
        due again at the same instant share one heap entry (usually the whole batch).
        """
        sensors, heap, order, on_sample = self.sensors, self._heap, self._order, self.on_sample
        slots: dict[float, list[int]] = {}
        outgoing: dict[Outlet, list[Forwarded]] | None = None
        for (scheduled, i), payload in sampled:
            rt = sensors[i]
            st = rt.stats
            st.produced += 1
            st.rate.tick(now)
            st.sample_lateness.add(now - scheduled if now > scheduled else 0.0)
            if on_sample is not None:
                on_sample(rt, now)
            # Next slot on the absolute grid; slots already passed are skipped and counted.
            rate_hz = rt.rate_hz
            period = 1.0 / rate_hz  # rt.period, without the property call
            next_t = (_floor(scheduled * rate_hz + 0.5) + 1) * period
            if next_t <= now:
                behind = _floor((now - next_t) * rate_hz) + 1
                st.missed_samples += behind
                next_t += behind * period
            if next_t in slots:
                slots[next_t].append(i)
            else:
                slots[next_t] = [i]
            rng = rt.timing_rng
            fx = rt.effects  # one read: a consistent set even while the timeline swaps it
            if fx.frozen and rt.last is not None:
                payload = rt.last.data
            elif fx.payload_filter is not None:
                payload = fx.payload_filter(payload)
            dropout = rt.dropout + fx.forced_dropout
            if dropout > 0 and rng.random() < dropout:
                st.dropouts += 1
                continue
            latency = rt.latency_fixed + fx.extra_latency
            if rt.latency_jitter:
                latency += rng.random() * rt.latency_jitter
            # The sample time is the instant the sensor sampled; the world it saw is the latest
            # physics step (at most one physics step older: choose physics.step <= sensor period).
            # The Reading itself is built once, at publish, with the publish time that really happened.
            seq = rt.seq
            rt.seq = seq + 1
            if rt.outlet is not None and (latency <= 0.0 or self.forward_at_sample):
                if outgoing is None:
                    outgoing = {}
                outgoing.setdefault(rt.outlet, []).append((rt, seq, now, now + latency, payload))
            elif latency <= 0.0:
                self._publish(rt, seq, now, payload)
            else:
                heappush(heap, (now + latency, next(order), (rt, seq, now, payload)))
        # Pushed last: a slot and a publish due at one instant never depend on their order
        # (run() publishes, then samples); among slots the insertion order is kept.
        for t, indices in slots.items():
            heappush(heap, (t, next(order), indices))
        if outgoing is not None:
            for outlet, items in outgoing.items():
                self._forward(outlet, items)

    def _forward(self, outlet: Outlet, items: list[Forwarded]) -> None:
        """Hand readings to their robots' host process now; the host publishes each at its publish time."""
        refused = outlet.send(items)
        lost = {id(x) for x in refused}
        for rt, *_ in refused:
            rt.transport_drops += 1
        on_publish = self.on_publish
        for item in items:
            rt, seq, sample_time, publish_time, payload = item
            if lost and id(item) in lost:
                continue
            reading = Reading(rt.robot_name, rt.sensor.name, seq, sample_time, publish_time, payload)
            rt.stats.published += 1
            rt.last = reading
            if on_publish is not None:
                on_publish(rt, reading)

    def _publish(self, rt: SensorRuntime, seq: int, sample_time: float, payload: object) -> None:
        reading = rt.enqueue(seq, sample_time, self.clock.now(), payload)
        rt.stats.published += 1
        rt.last = reading
        if self.on_publish is not None:
            self.on_publish(rt, reading)
