"""The single-thread controller harness steps the real ControllerTask: the same cycles as its own run()."""

from __future__ import annotations

import dataclasses

import pytest

from sim.api import Controller, ControllerHarness, Inputs
from sim.core.clock import ManualClock
from sim.core.control import ControllerTask, OverrunPolicy
from sim.testing.harness import step_tasks

# simulated compute seconds by cycle start time: an overrun of two periods at 0.2 s, a miss at 0.5 s
SPIKES = {0.2: 0.25, 0.5: 0.09}


def spiky_time(now: float) -> float:
    return next((s for t, s in SPIKES.items() if abs(now - t) < 1e-9), 0.01)


class Spiky:
    """``spiky_time`` as an execution-time model (``sim.core.exectime``) on ``clock``."""

    reads_cpu = False

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def sample(self, rng: object, cpu: float, k: int) -> float:
        return spiky_time(self.clock.now())


class Echo(Controller):
    """Commands the newest lidar payload as its speed (0 without one), and remembers what it saw."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[tuple[float, object, bool]] = []

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        data = inputs.data("lidar") if "lidar" in inputs.readings else None
        self.seen.append((inputs.now, data, inputs.fresh.get("lidar", False)))
        return float(data or 0.0), 0.0


@pytest.mark.parametrize("policy", ["skip", "catch_up"])
def test_the_harness_gives_the_cycles_the_task_s_own_run_gives(policy: str) -> None:
    h = ControllerHarness(Echo, period=0.1, deadline=0.08, overrun=policy, compute_time=spiky_time)
    h.run(until=1.0)
    # the same task, run by ControllerTask.run on its own (threadless on an autojumping clock)
    clock = ManualClock()
    cycles: list = []
    task = ControllerTask(h.controller, 0, clock, [], lambda i, c: None, period=0.1, deadline=0.08, end_time=1.0,
                          overrun=OverrunPolicy(policy), on_cycle=cycles.append, execution=Spiky(clock))
    task.run()
    assert [dataclasses.astuple(c) for c in h.cycles] == [dataclasses.astuple(c) for c in cycles]
    assert dataclasses.astuple(h.stats)[:6] == dataclasses.astuple(task.stats)[:6]
    if policy == "skip":
        assert [c.k for c in h.cycles] == [0, 1, 2, 5, 6, 7, 8, 9] and h.stats.skipped_releases == 2
        assert h.stats.misses == 2 and h.stats.overruns == 1
    else:
        assert [c.k for c in h.cycles] == list(range(10)) and h.stats.skipped_releases == 0


def test_run_goes_on_where_it_stopped() -> None:
    whole = ControllerHarness(Echo, period=0.1, compute_time=spiky_time)
    whole.run(until=1.0)
    parts = ControllerHarness(Echo, period=0.1, compute_time=spiky_time)
    first = parts.run(until=0.35)
    assert [c.k for c in first] == [0, 1, 2]  # cycle 2 overran to 0.45: 3 and 4 are skipped
    rest = parts.run(until=1.0)
    assert [c.k for c in rest] == [5, 6, 7, 8, 9]
    assert [dataclasses.astuple(c) for c in parts.cycles] == [dataclasses.astuple(c) for c in whole.cycles]


def test_readings_arrive_at_their_publish_time_in_order() -> None:
    h = ControllerHarness(Echo, sensors={"lidar": "lidar"}, period=0.1)
    h.feed("lidar", 0.3, at=0.0, latency=0.15)  # published at 0.15: first seen by the cycle at 0.2
    h.feed("lidar", 0.2, at=0.05)
    h.run(until=0.35)
    seen = h.controller.seen
    assert [t for t, _, _ in seen] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [(data, fresh) for _, data, fresh in seen] == [(None, False), (0.2, True), (0.3, True), (0.3, False)]
    assert [c.v for c in h.commands] == [0.0, 0.2, 0.3, 0.3]
    assert h.commands[2].input_sample_times == (("lidar", 0.0),)
    assert h.cycles[2].ages == (("lidar", 0.2),)


def test_an_empty_queue_under_wait_for_waits_to_the_deadline() -> None:
    h = ControllerHarness(Echo, sensors={"lidar": "lidar"}, period=0.1, deadline=0.08, wait_for=["lidar"],
                          compute_time=lambda now: 0.001)
    h.feed("lidar", 1.0, at=0.0)
    h.run(until=0.2)
    first, second = h.cycles
    assert not first.miss and first.inputs_time == 0.0
    assert second.miss and second.inputs_time == pytest.approx(0.18) and second.cause == "input_wait"


def test_a_late_wake_is_blamed_on_the_release() -> None:
    h = ControllerHarness(Echo, period=0.1, deadline=0.05, wake_late=lambda release: 0.07 if release > 0.15 else 0.0)
    h.run(until=0.3)
    assert [c.miss for c in h.cycles] == [False, False, True]
    assert h.cycles[2].release_jitter == pytest.approx(0.07) and h.cycles[2].cause == "late_release"


def test_a_stale_watched_input_stops_the_robot() -> None:
    h = ControllerHarness(Echo, sensors={"lidar": "lidar"}, period=0.1, max_age=0.15)
    h.feed("lidar", 0.4, at=0.0)
    h.run(until=0.4)
    assert [c.safety_stop for c in h.cycles] == [False, False, True, True]
    assert [c.v for c in h.commands] == [0.4, 0.4, 0.0, 0.0] and h.inputs["lidar"].stats.stale_uses == 2


def test_a_reading_of_a_sensor_the_robot_lacks_is_refused() -> None:
    h = ControllerHarness(Echo, sensors={"lidar": "lidar"})
    with pytest.raises(KeyError, match="'sonar' is not one of this robot's sensors"):
        h.feed("sonar", 1.0, at=0.0)


def test_step_tasks_interleaves_tasks_in_release_order() -> None:
    clock = ManualClock()
    order: list[tuple[str, float]] = []
    tasks = [ControllerTask(ControllerHarness(Echo).controller, i, clock, [], lambda i, c: None, period=p,
                            deadline=p, end_time=0.3, phase=ph)
             for i, (p, ph) in enumerate([(0.1, 0.0), (0.15, 0.05)])]
    step_tasks(tasks, clock, lambda task, k, release: order.append((task.robot_index, round(release, 9))))
    assert order == [(0, 0.0), (1, 0.05), (0, 0.1), (0, 0.2), (1, 0.2)]
