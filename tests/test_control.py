"""Deadline accounting, driven by the controllable clock: scripted compute times give
exactly the expected misses, overruns, skipped releases and causes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from controllers.base import Controller, Inputs
from sensors.base import Reading, RobotInfo, Sensor
from sim.core.channel import Channel
from sim.core.clock import ManualClock
from sim.core.control import Cause, ControllerTask, Cycle, OverrunPolicy
from sim.core.producers import SensorRuntime
from sim.world.physics import Command

ROBOT = RobotInfo(0, "r1", 0.3, 1.0, 1.0, 2.0, 0.4, (0.0, 0.0, 0.0))


class Scripted(Controller):
    """Spends a scripted amount of (simulated) compute time per cycle."""

    def __init__(self, clock: ManualClock, times: list[float], cpu_share: float = 1.0) -> None:
        super().__init__(Controller.Params(), ROBOT, None, {}, np.random.default_rng(0))  # type: ignore[arg-type]
        self.clock, self.times, self.cpu_share, self.calls = clock, list(times), cpu_share, 0

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        t = self.times[self.calls] if self.calls < len(self.times) else 0.01
        self.calls += 1
        self.clock.advance(t, cpu=t * self.cpu_share)
        return 0.5, 0.0


def make_task(clock: ManualClock, controller: Controller, inputs: list[SensorRuntime] | None = None,
              period: float = 0.1, deadline: float = 0.08, end: float = 1.0,
              policy: OverrunPolicy = OverrunPolicy.SKIP, wait_for: tuple[str, ...] = ()
              ) -> tuple[ControllerTask, list[Cycle], list[Command]]:
    cycles: list[Cycle] = []
    commands: list[Command] = []
    task = ControllerTask(controller, 0, clock, inputs or [], lambda i, c: commands.append(c),
                          period=period, deadline=deadline, end_time=end, overrun=policy,
                          wait_for=wait_for, on_cycle=cycles.append)
    return task, cycles, commands


def test_skip_policy_counts_misses_overruns_and_skipped_releases(clock: ManualClock) -> None:
    task, cycles, commands = make_task(clock, Scripted(clock, [0.01, 0.09, 0.15]))
    task.run()
    st = task.stats
    assert [c.k for c in cycles] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert (st.cycles, st.misses, st.overruns, st.skipped_releases) == (9, 2, 1, 1)
    assert [c.miss for c in cycles[:3]] == [False, True, True]
    assert cycles[1].response_time == pytest.approx(0.09)
    assert cycles[2].finish_time == pytest.approx(0.35)
    assert cycles[3].release_time == pytest.approx(0.4)
    assert cycles[1].cause is Cause.LONG_COMPUTE
    assert st.causes == {"long_compute": 2}
    assert st.response.max == pytest.approx(0.15)
    assert st.lateness.max == pytest.approx(0.07)
    assert len(commands) == 9 and commands[0].v == 0.5


def test_catch_up_policy_runs_every_release(clock: ManualClock) -> None:
    task, cycles, _ = make_task(clock, Scripted(clock, [0.01, 0.09, 0.15]), policy=OverrunPolicy.CATCH_UP)
    task.run()
    assert [c.k for c in cycles] == list(range(10))
    late = cycles[3]  # released at 0.3, started when cycle 2 finished at 0.35
    assert late.start_time == pytest.approx(0.35)
    assert late.release_jitter == pytest.approx(0.05)
    assert late.miss is False  # 0.36 <= 0.3 + 0.08
    assert task.stats.skipped_releases == 0
    assert task.stats.misses == 2


def test_late_release_is_blamed_on_release(clock: ManualClock) -> None:
    task, _, _ = make_task(clock, Scripted(clock, [0.01]))
    clock.set(0.075)  # the thread "woke" 75 ms after release 0
    cycle = task.run_cycle(0, 0.0)
    assert cycle is not None and cycle.miss
    assert cycle.release_jitter == pytest.approx(0.075)
    assert cycle.cause is Cause.LATE_RELEASE


def test_preempted_compute_is_interference(clock: ManualClock) -> None:
    # 90 ms of wall time but only 5 ms of it on the CPU
    task, _, _ = make_task(clock, Scripted(clock, [0.09], cpu_share=0.005 / 0.09))
    cycle = task.run_cycle(0, 0.0)
    assert cycle is not None and cycle.miss
    assert cycle.cause is Cause.INTERFERENCE


def _runtime(clock: ManualClock, name: str = "lidar", max_age: float = 0.2) -> SensorRuntime:
    class Dummy(Sensor):
        kind = name

    sensor = Dummy(name, ROBOT, Sensor.Params(), np.random.default_rng(0), None)  # type: ignore[arg-type]
    return SensorRuntime(sensor, "r1", 10.0, 0.0, 0.0, 0.0, max_age, Channel(clock, 4),
                         np.random.default_rng(1))


def test_waiting_for_fresh_input_until_deadline_is_input_wait(clock: ManualClock) -> None:
    rt = _runtime(clock)
    rt.channel.put(Reading("r1", "lidar", 0, 0.0, 0.0, None))
    task, _, _ = make_task(clock, Scripted(clock, [0.001, 0.001]), inputs=[rt], wait_for=("lidar",))
    first = task.run_cycle(0, 0.0)
    assert first is not None and not first.miss
    clock.set(0.1)
    second = task.run_cycle(1, 0.1)  # nothing new arrives: waits to the deadline 0.18
    assert second is not None and second.miss
    assert second.inputs_time == pytest.approx(0.18)
    assert second.cause is Cause.INPUT_WAIT


def test_stale_input_triggers_safety_stop_and_is_counted(clock: ManualClock) -> None:
    rt = _runtime(clock, max_age=0.15)
    rt.channel.put(Reading("r1", "lidar", 0, 0.0, 0.0, None))
    ctrl = Scripted(clock, [0.001] * 10)
    task, cycles, commands = make_task(clock, ctrl, inputs=[rt], end=0.35)
    task.run()
    # cycles at 0.0, 0.1 use a fresh-enough reading; at 0.2 and 0.3 it is older than 0.15 s
    assert [c.safety_stop for c in cycles] == [False, False, True, True]
    assert ctrl.calls == 2  # the watchdog does not call compute on stale data
    assert (commands[-1].v, commands[-1].w) == (0.0, 0.0)
    assert rt.stats.stale_uses == 2
    assert task.stats.safety_stops == 2
    assert rt.stats.age_at_use.max == pytest.approx(0.3)


def test_commands_carry_input_sample_times(clock: ManualClock) -> None:
    rt = _runtime(clock)
    rt.channel.put(Reading("r1", "lidar", 0, 0.0, 0.01, None))
    task, _, commands = make_task(clock, Scripted(clock, [0.002]), inputs=[rt], end=0.05)
    task.run()
    assert commands[0].input_sample_times == (("lidar", 0.0),)
    assert commands[0].issued_at == pytest.approx(0.002)


def test_compute_hook_counts_as_compute(clock: ManualClock) -> None:
    task, _, _ = make_task(clock, Scripted(clock, [0.001] * 3))
    extra: Callable[[float], float] = lambda now: 0.1 if now >= 0.1 else 0.0  # noqa: E731
    task.add_compute_hook(extra)
    task.run_cycle(0, 0.0)
    clock.set(0.1)
    c = task.run_cycle(1, 0.1)
    assert c is not None and c.miss and c.cause is Cause.LONG_COMPUTE
