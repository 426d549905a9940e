"""Determinism: the end of a run, and random streams that belong to names, not positions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sim.control import Cycle
from sim.listeners import RunListener
from sim.report import WALL_CLOCK_FIELDS, build_report
from sim.runner import Run
from sim.scenario import parse_scenario
from sim.virtual import VirtualClock

DURATION = 0.3


def straddle_yaml(duration: float = DURATION, robots: int = 6) -> str:
    """Cycles released every 10 ms from 6 ms, each computing 5 ms: the last one ends after the end."""
    lines = ["name: straddle", "world: {size: [20.0, 12.0]}",
             f"run: {{duration: {duration}, seed: 3, clock: virtual}}", "robots:"]
    for i in range(1, robots + 1):
        lines += [f"  - name: r{i}", f"    start: [1.0, {i + 2}.0, 0.0]",
                  "    sensors: [{type: odometry, rate_hz: 50}]",
                  "    controller: {type: waypoint, period: 0.01, phase: 0.006, "
                  f"execution: {{model: fixed, seconds: 0.005}}, waypoints: [[15.0, {i + 2}.0]]}}"]
    return "\n".join(lines) + "\n"


def run_text(text: str, out: Path) -> tuple[Run, dict]:
    run = Run(parse_scenario(text), out, clock=VirtualClock())
    run.start()
    assert run.finished.wait(120), "virtual run did not finish"
    run.stop()
    return run, build_report(run, "test")


def without_wall_clock(report: dict) -> str:
    report = json.loads(json.dumps(report))
    for dotted in WALL_CLOCK_FIELDS:
        *parents, leaf = dotted.split(".")
        node = report
        for p in parents:
            node = node[p]
        node.pop(leaf, None)
    return json.dumps(report, sort_keys=True)


def test_cycles_that_straddle_the_end_are_logged_the_same_way_twenty_times(tmp_path: Path) -> None:
    text = straddle_yaml()
    first_csv, first_report = None, None
    for n in range(20):
        _, report = run_text(text, tmp_path / str(n))
        data = (tmp_path / str(n) / "cycles.csv").read_bytes()
        rows = list(csv.DictReader(data.decode().splitlines()))
        # releases at 6, 16, ... 296 ms: 30 per robot, every one logged, the last finishing at 301 ms
        assert len(rows) == 6 * 30
        last = [r for r in rows if r["k"] == "29"]
        assert len(last) == 6 and all(float(r["finish_time"]) > DURATION for r in last)
        assert report["summary"]["unfinished_cycles"] == 0
        assert report["run"]["sim_seconds"] == DURATION
        if first_csv is None:
            first_csv, first_report = data, without_wall_clock(report)
        else:
            assert data == first_csv, f"run {n} logged other cycles than run 0"
            assert without_wall_clock(report) == first_report, f"run {n} reported otherwise than run 0"


def test_nothing_is_released_at_or_after_the_end(tmp_path: Path) -> None:
    # phase 0: the release at t = duration itself is not a cycle of the run
    _, report = run_text(straddle_yaml(0.1, robots=1).replace("phase: 0.006", "phase: 0.0"), tmp_path)
    assert report["controllers"][0]["cycles"] == 10


class _InterruptAt(RunListener):
    """Interrupts the run from inside the simulation when ``robot`` finishes its first cycle."""

    def __init__(self, robot: str) -> None:
        self.robot = robot
        self.run: Run | None = None

    def on_start(self, run: Run) -> None:
        self.run = run

    def on_cycle(self, cycle: Cycle) -> None:
        if cycle.robot == self.robot and cycle.k == 0 and self.run is not None:
            self.run.finish("interrupted")
            self.run.clock.request_stop()


def test_a_stop_inside_a_cycle_counts_it_as_unfinished(tmp_path: Path) -> None:
    # r1 finishes cycle 0 at 11 ms and interrupts; r2 (phase 0, 500 ms compute) is inside cycle 0 then
    text = straddle_yaml(5.0, robots=2).replace(
        "phase: 0.006, execution: {model: fixed, seconds: 0.005}, waypoints: [[15.0, 4.0]]",
        "phase: 0.0, execution: {model: fixed, seconds: 0.5}, waypoints: [[15.0, 4.0]]")
    run = Run(parse_scenario(text), tmp_path, clock=VirtualClock(), listeners=[_InterruptAt("r1")])
    run.start()
    assert run.finished.wait(60)
    run.stop()
    report = build_report(run, "test")
    assert report["run"]["end_reason"] == "interrupted"
    r1, r2 = report["controllers"]
    assert (r1["cycles"], r1["unfinished_cycles"]) == (1, 0)
    assert (r2["cycles"], r2["unfinished_cycles"]) == (0, 1)
    assert report["summary"]["unfinished_cycles"] == 1
    rows = (tmp_path / "cycles.csv").read_text().splitlines()
    assert len(rows) - 1 == 1
