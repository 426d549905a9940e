"""The producer thread's schedule: sample slots, batching, latency, lateness, statistics."""

from __future__ import annotations

import itertools
import math
from heapq import heappop, heappush
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from sensors.base import Reading, RobotInfo, Sensor
from sim.core.channel import Channel
from sim.core.clock import ManualClock
from sim.core.producers import ProducerTask, SensorRuntime


class Stamp(Sensor):
    """Payload (robot index, snapshot time); records every batch it is asked for."""

    kind = "stamp"
    batches: ClassVar[list[list[int]]] = []
    on_sample: ClassVar[Any] = None  # called with (sensor, snap) per sample: lets a test stall the clock

    @classmethod
    def sample_many(cls, sensors: list[Sensor], snap: Any) -> list[Any]:
        cls.batches.append([s.robot.index for s in sensors])
        if cls.on_sample is not None:
            for s in sensors:
                cls.on_sample(s, snap)
        return [(s.robot.index, snap.time) for s in sensors]


def _producer(clock: ManualClock, rates: list[float], end: float, latency: tuple[float, float] = (0.002, 0.003),
              dropout: float = 0.0) -> tuple[ProducerTask, list[tuple[float, int]], list[Reading]]:
    Stamp.batches, Stamp.on_sample = [], None
    rts = []
    for i, rate in enumerate(rates):
        robot = RobotInfo(i, f"r{i}", 0.3, 1.0, 1.0, 2.0, 0.4, (0.0, 0.0, 0.0))
        rts.append(SensorRuntime(Stamp("stamp", robot, Stamp.Params(), np.random.default_rng(i), None),  # type: ignore[arg-type]
                                 f"r{i}", rate, latency[0], latency[1], dropout, 1.0, Channel(clock, 1000),
                                 np.random.default_rng(100 + i)))
    samples: list[tuple[float, int]] = []
    published: list[Reading] = []
    task = ProducerTask("p", rts, clock, lambda: SimpleNamespace(time=clock.now()), end,
                        on_sample=lambda rt, t: samples.append((t, rts.index(rt))),
                        on_publish=lambda rt, r: published.append(r))
    return task, samples, published


def _reference_samples(rates: list[float], end: float) -> list[tuple[float, int]]:
    """The schedule as one heap entry per sensor slot, ties in push order (the original design)."""
    heap: list[tuple[float, int, int]] = []
    order = itertools.count()
    for i in range(len(rates)):
        heappush(heap, (0.0, next(order), i))
    out = []
    while heap[0][0] < end:
        now = heap[0][0]
        due = []
        while heap and heap[0][0] <= now:
            t, _, i = heappop(heap)
            due.append((t, i))
        for t, i in due:
            out.append((now, i))
            heappush(heap, ((math.floor(t * rates[i] + 0.5) + 1) * (1.0 / rates[i]), next(order), i))
    return out


def test_samples_follow_the_grid_in_time_then_push_order(clock: ManualClock) -> None:
    rates = [100.0, 50.0, 100.0, 30.0, 7.0, 50.0]
    task, samples, _ = _producer(clock, rates, 1.0)
    task.run()
    assert samples == _reference_samples(rates, 1.0)
    for i, rate in enumerate(rates):
        mine = [t for t, j in samples if j == i]
        assert mine == [k * (1.0 / rate) for k in range(math.ceil(rate))]
        st = task.sensors[i].stats
        assert (st.produced, st.missed_samples, st.dropouts) == (len(mine), 0, 0)
        assert st.sample_lateness.max == 0.0 and st.rate.rate() == pytest.approx(rate)
    # each instant's due sensors were sampled in one call, in the schedule's order
    by_instant = [[i for _, i in group] for _, group in itertools.groupby(samples, key=lambda s: s[0])]
    assert Stamp.batches == by_instant


def test_readings_are_published_after_their_latency(clock: ManualClock) -> None:
    rates = [100.0, 50.0, 100.0]
    task, _, published = _producer(clock, rates, 1.0, latency=(0.002, 0.003))
    task.run()
    assert [r.publish_time for r in published] == sorted(r.publish_time for r in published)
    for i, rt in enumerate(task.sensors):
        mine = [r for r in published if r.robot == f"r{i}"]
        assert [r.seq for r in mine] == list(range(len(mine)))
        assert all(r.data == (i, r.sample_time) for r in mine)
        assert all(0.002 <= r.publish_time - r.sample_time <= 0.005 for r in mine)
        assert rt.stats.published == len(mine) == rt.channel.stats.put
        assert rt.stats.produced - len(mine) <= 1  # the last sample may still wait out its latency at the end
        assert rt.last is mine[-1]


def test_zero_latency_and_dropouts(clock: ManualClock) -> None:
    task, _, published = _producer(clock, [50.0, 50.0], 2.0, latency=(0.0, 0.0), dropout=0.3)
    task.run()
    for i, rt in enumerate(task.sensors):
        st = rt.stats
        assert st.produced == 100 and st.published + st.dropouts == st.produced
        assert 15 <= st.dropouts <= 45
        mine = [r for r in published if r.robot == f"r{i}"]
        assert all(r.publish_time == r.sample_time for r in mine)
        assert [r.seq for r in mine] == list(range(st.published))  # dropouts take no sequence number


def test_a_late_producer_skips_and_counts_slots(clock: ManualClock) -> None:
    task, samples, _ = _producer(clock, [10.0], 1.0, latency=(0.0, 0.0))

    def stall(sensor: Sensor, snap: Any) -> None:
        if snap.time == 0.0:
            clock.advance(0.25)  # the first sample takes 2.5 periods

    Stamp.on_sample = stall
    task.run()
    st = task.sensors[0].stats
    assert [t for t, _ in samples][:4] == [0.0, 0.25, 0.2 + 0.1, 0.4]  # slot 0.2 skipped, the grid kept
    assert st.missed_samples == 1 and st.sample_lateness.max == pytest.approx(0.15)
