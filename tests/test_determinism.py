"""Determinism: the end of a run, and random streams that belong to names, not positions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sim.common.streams import name_key, stream
from sim.core.control import Cycle
from sim.core.listeners import RunListener
from sim.core.virtual import VirtualClock
from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.session import execute
from tests.scripted_run import finish_within, run_scenario_virtual, strip_wall

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
    return run_scenario_virtual(parse_scenario(text), out)


def without_wall_clock(report: dict) -> str:
    return json.dumps(strip_wall(report), sort_keys=True)


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
    report = execute(parse_scenario(text), tmp_path, clock=VirtualClock(), listeners=[_InterruptAt("r1")],
                     write_report=False, plot=False, present=finish_within(60), started_at="test").report
    assert report["run"]["end_reason"] == "interrupted"
    r1, r2 = report["controllers"]
    assert (r1["cycles"], r1["unfinished_cycles"]) == (1, 0)
    assert (r2["cycles"], r2["unfinished_cycles"]) == (0, 1)
    assert report["summary"]["unfinished_cycles"] == 1
    rows = (tmp_path / "cycles.csv").read_text().splitlines()
    assert len(rows) - 1 == 1


# ---------------------------------------------------------------------- named random streams
BASE = """\
name: streams
world: {size: [30.0, 20.0]}
run: {duration: 1.0, seed: 11, clock: virtual}
robots:
  - name: a
    start: [2.0, 3.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50, dropout: 0.2, latency: {fixed: 0.002, jitter: 0.01}}
      - {type: imu, rate_hz: 100, latency: {jitter: 0.004}}
    controller: {type: waypoint, period: 0.02, execution: {model: normal, mean: 0.01, std: 0.006, cap: 0.03},
                 waypoints: [[20.0, 3.0]]}
  - name: b
    start: [2.0, 15.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50, dropout: 0.1}
    controller: {type: waypoint, period: 0.02, execution: {model: lognormal, median: 0.008, cap: 0.03},
                 waypoints: [[20.0, 15.0]]}
"""
EXTRA_SENSOR = "      - {type: bumper, name: bump, rate_hz: 20}\n"


def streams_of(text: str, out: Path) -> dict[tuple[str, ...], dict]:
    """The starting state of every random stream of a (built, not started) run, by role."""
    run = Run(parse_scenario(text), out, clock=VirtualClock())
    run.cycle_log.close()
    states: dict[tuple[str, ...], dict] = {}
    for task in run.controllers:
        states[(task.robot_name, "controller")] = task.controller.rng.bit_generator.state
        states[(task.robot_name, "execution")] = task.rng.bit_generator.state
    for rt in run.sensors:
        states[(rt.robot_name, rt.sensor.name, "noise")] = rt.sensor.rng.bit_generator.state
        states[(rt.robot_name, rt.sensor.name, "timing")] = rt.timing_rng.bit_generator.state
    return states


def test_stream_names_hash_the_same_in_every_process() -> None:
    # BLAKE2b of the UTF-8 name: a change of this scheme changes every seeded run (say so)
    assert name_key("amr-1") == 0xA8F0B5F68D6E48A7
    assert stream(7, "robot", "amr-1", "controller").integers(1 << 30) == 940029157
    assert stream(7, "robot", "amr-1", "controller").random() != stream(7, "robot", "amr-1", "execution").random()
    assert stream(7, "orders", "0").random() != stream(8, "orders", "0").random()


def test_adding_a_sensor_or_a_robot_leaves_every_other_stream_unchanged(tmp_path: Path) -> None:
    before = streams_of(BASE, tmp_path / "a")
    # a sensor added first on robot a: by index, it used to shift a's controller and execution streams
    more = BASE.replace("    sensors:\n      - {type: odometry, rate_hz: 50, dropout: 0.2",
                        "    sensors:\n" + EXTRA_SENSOR + "      - {type: odometry, rate_hz: 50, dropout: 0.2", 1)
    after = streams_of(more, tmp_path / "b")
    assert set(after) - set(before) == {("a", "bump", "noise"), ("a", "bump", "timing")}
    assert all(after[k] == v for k, v in before.items())
    # a robot inserted first: every other robot keeps its streams
    robot = ("  - name: c\n    start: [25.0, 10.0, 0.0]\n    sensors: [{type: odometry, rate_hz: 50}]\n"
             "    controller: {type: waypoint, period: 0.05, waypoints: [[26.0, 10.0]]}\n")
    first = BASE.replace("robots:\n", "robots:\n" + robot, 1)
    after = streams_of(first, tmp_path / "c")
    assert all(after[k] == v for k, v in before.items())
    # and every stream is its own
    values = [json.dumps(v, sort_keys=True) for v in after.values()]
    assert len(set(values)) == len(values)


def rows_of(path: Path, robot: str) -> list[str]:
    return [line for line in (path / "cycles.csv").read_text().splitlines() if line.startswith(robot + ",")]


def test_adding_a_sensor_leaves_the_robots_cycle_timing_unchanged(tmp_path: Path) -> None:
    run_text(BASE, tmp_path / "a")
    more = BASE.replace("      - {type: imu, rate_hz: 100", EXTRA_SENSOR + "      - {type: imu, rate_hz: 100", 1)
    run_text(more, tmp_path / "b")

    def timing(row: str) -> str:  # every column but input_ages (the new sensor adds its age there)
        return row.rsplit(",", 1)[0]

    a, b = rows_of(tmp_path / "a", "a"), rows_of(tmp_path / "b", "a")
    assert len(a) > 20 and [timing(r) for r in a] == [timing(r) for r in b]
    assert rows_of(tmp_path / "a", "b") == rows_of(tmp_path / "b", "b")


STALL = ("  - {kind: controller_stall, robot: a, start: 0.1, duration: 0.8, stall: 0.015, probability: 0.5}\n")
NOISE = "  - {kind: noise_burst, robot: b, sensor: odometry, start: 0.0, duration: 1.0, std: 0.01}\n"
OTHER = "  - {kind: controller_stall, robot: b, start: 0.2, duration: 0.5, stall: 0.01, probability: 0.3}\n"


def test_adding_a_fault_leaves_every_other_stream_unchanged(tmp_path: Path) -> None:
    run_text(BASE + "faults:\n" + STALL + NOISE, tmp_path / "a")
    _, report = run_text(BASE + "faults:\n" + OTHER + STALL + NOISE, tmp_path / "b")
    _, plain = run_text(BASE, tmp_path / "c")
    # fault "stall on a" moved from index 0 to 1: its stalls hit the same cycles of robot a
    assert rows_of(tmp_path / "a", "a") == rows_of(tmp_path / "b", "a")
    # the noise burst on b's odometry draws from its own stream, not from the sensor's timing
    # stream: b's odometry loses the same samples (dropout draws) with or without it
    odo = next(s for s in report["sensors"] if s["robot"] == "b")
    odo_plain = next(s for s in plain["sensors"] if s["robot"] == "b")
    assert odo["dropouts"] == odo_plain["dropouts"] > 0
    assert odo["published"] == odo_plain["published"]
