"""Drive a built (not started) Run's controllers on the controllable clock, with scripted timing.

No thread is started: cycles run one after another in release order on the test
thread, so every figure is exact. Timing is scripted through the runtime's own
hooks - a late wake-up (the clock moved past the release before the cycle
starts), compute hooks (``ControllerTask.add_compute_hook``; modelled compute: CPU time, or wall time without CPU
for interference), and a sensor queue left empty under ``wait_for``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sim.core.clock import ManualClock
from sim.core.control import ControllerTask
from sim.core.listeners import RunListener, fan_out
from sim.core.virtual import VirtualClock
from sim.interfaces.messages import Reading
from sim.report.build import WALL_CLOCK_FIELDS
from sim.runtime.run import Run
from sim.scenario.load import load_scenario, parse_scenario
from sim.scenario.models import Scenario
from sim.session import execute
from sim.testing.harness import step_tasks

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
# tiny's controller with a long-tailed modelled compute time: some cycles miss, most do not
SLOW = {"robots.0.controller.execution": {"model": "lognormal", "median": 0.02, "sigma": 0.8, "cap": 0.2}}

# (robot, release time) -> seconds the thread wakes up late
LateWake = Callable[[str, float], float]


def build_run(yaml_text: str, out: Path, clock: ManualClock, listeners: list[RunListener] | None = None) -> Run:
    """A Run on ``clock`` with its listeners wired and told the run started (no threads)."""
    run = Run(parse_scenario(yaml_text), out, clock=clock, listeners=listeners)
    on_cycle = fan_out(run.listeners, "on_cycle")
    for task in run.controllers:
        task.on_cycle = on_cycle
    for x in run.listeners:
        x.on_start(run)
    return run


def compute(clock: ManualClock, cpu: Callable[[str, float], float] | None = None,
            preempted: Callable[[str, float], float] | None = None) -> Callable[[str], Callable[[float], float]]:
    """Compute hooks per robot (``ControllerTask.add_compute_hook``): ``cpu`` s of modelled CPU,
    ``preempted`` s of wall time without CPU."""
    def for_robot(robot: str) -> Callable[[float], float]:
        def extra(now: float) -> float:
            if preempted is not None and (lost := preempted(robot, now)) > 0:
                clock.advance(lost, cpu=0.0)
            return 0.001 + (cpu(robot, now) if cpu is not None else 0.0)
        return extra
    return for_robot


def drive(run: Run, clock: ManualClock, late_wake: LateWake | None = None,
          fresh: Callable[[str, float], bool] | None = None) -> None:
    """Run every controller's cycles in release order until the end, through ``sim.testing.harness.step_tasks``.

    ``fresh(robot, release)``: put a new reading in each of the robot's sensor queues just
    before the cycle (default: always), so only the cycles scripted otherwise wait for input.
    """
    def before(task: ControllerTask, k: int, release: float) -> None:
        if fresh is None or fresh(task.robot_name, release):
            for rt in task.inputs.values():
                rt.channel.put(Reading(task.robot_name, rt.sensor.name, k, clock.now(), clock.now(), None))
        if late_wake is not None and (late := late_wake(task.robot_name, release)) > 0:
            clock.set(max(clock.now(), release + late))

    step_tasks(run.controllers, clock, before)
    run.sim_seconds = run.duration


def close(run: Run) -> None:
    """Close every listener, as ``Run.stop`` does once the threads are gone."""
    for x in run.listeners:
        x.close(run)


def virtual_run(out: Path, listeners: list[RunListener], overrides: dict | None = None,
                scenario: Path = TINY) -> tuple[Run, dict]:
    """A whole run under virtual time (deterministic: same figures every time) and its finished report."""
    return run_scenario_virtual(load_scenario(scenario, {"run.clock": "virtual", **(overrides or {})}), out, listeners)


def run_scenario_virtual(sc: Scenario, out: Path, listeners: list[RunListener] | None = None) -> tuple[Run, dict]:
    """``sc`` run on a virtual clock through ``sim.session.execute`` (no files but cycles.csv), and its report."""
    result = execute(sc, out, clock=VirtualClock(), listeners=listeners or [], write_report=False, plot=False,
                     present=finish_within(120), started_at="test")
    return result.run, result.report


def strip_wall(report: dict) -> dict:
    """A copy of ``report`` without its wall-clock fields (``WALL_CLOCK_FIELDS``): what must repeat exactly."""
    report = json.loads(json.dumps(report))
    for dotted in WALL_CLOCK_FIELDS:
        *parents, leaf = dotted.split(".")
        node = report
        for p in parents:
            node = node[p]
        node.pop(leaf, None)
    return report


def finish_within(seconds: float) -> Callable[[Run], None]:
    """A presenter for ``sim.session.execute`` that fails the test if the run has not ended within ``seconds``."""
    def watch(run: Run) -> None:
        assert run.finished.wait(seconds), "the run did not finish"
    return watch
