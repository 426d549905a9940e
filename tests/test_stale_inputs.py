"""The stale-input watchdog watches what the controller reads (or the scenario's ``watch``),
and stale uses are counted for every sensor either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controllers.base import Controller, Inputs
from sensors.base import Reading, RobotInfo, Sensor
from sim.core.channel import Channel
from sim.core.clock import ManualClock
from sim.core.control import ControllerTask
from sim.core.producers import SensorRuntime
from sim.errors import PluginError, ScenarioError
from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.session import execute
from sim.testing.harness import ControllerHarness
from tests.scripted_run import finish_within

TESTS = Path(__file__).resolve().parent
ROBOT = RobotInfo(0, "r1", 0.3, 1.0, 1.0, 2.0, 0.4, (0.0, 0.0, 0.0))


@pytest.fixture(autouse=True)
def _plugins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TESTS))


class Mover(Controller):
    def __init__(self, kinds: dict[str, str]) -> None:
        super().__init__(Controller.Params(), ROBOT, None, kinds, np.random.default_rng(0))  # type: ignore[arg-type]

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.5, 0.0


def _runtime(clock: ManualClock, name: str, max_age: float) -> SensorRuntime:
    class Dummy(Sensor):
        kind = name

    sensor = Dummy(name, ROBOT, Sensor.Params(), np.random.default_rng(0), None)  # type: ignore[arg-type]
    return SensorRuntime(sensor, "r1", 10.0, 0.0, 0.0, 0.0, max_age, Channel(clock, 4), np.random.default_rng(1))


class Reader(Controller):
    """Drives on whatever it gets."""

    def compute(self, inputs: Inputs) -> tuple[float, float]:
        return 0.5, 0.0


def run_task(watch: tuple[str, ...] | None) -> ControllerHarness:
    """A lidar read fresh every cycle and an IMU whose only reading goes stale after 0.1 s."""
    h = ControllerHarness(Reader, sensors={"lidar": "lidar", "imu": "imu"}, period=0.1, deadline=0.1, watch=watch,
                          max_age={"lidar": 0.15, "imu": 0.1})
    h.feed("imu", None, at=0.0)
    h.feed_every("lidar", 0.1, lambda t: None, until=0.5)
    h.run(until=0.5)
    return h


def test_an_unwatched_stale_sensor_is_counted_but_stops_nothing() -> None:
    h = run_task(watch=("lidar",))
    assert h.task.watched == ("lidar",)
    assert h.stats.safety_stops == 0 and [c.v for c in h.commands] == [0.5] * 5
    assert h.inputs["imu"].stats.stale_uses == 3  # at 0.2, 0.3, 0.4 s: measured all the same
    assert h.inputs["lidar"].stats.stale_uses == 0


def test_a_watched_stale_sensor_stops_the_robot() -> None:
    h = run_task(watch=("lidar", "imu"))
    assert h.stats.safety_stops == 3 and h.inputs["imu"].stats.stale_uses == 3
    assert [c.safety_stop for c in h.cycles] == [False, False, True, True, True]
    everything = run_task(watch=None)  # no choice given: every input is watched
    assert everything.task.watched == ("lidar", "imu") and everything.stats.safety_stops == 3


def test_a_missing_reading_of_an_unwatched_sensor_stops_nothing(clock: ManualClock) -> None:
    lidar, bumper = _runtime(clock, "lidar", 0.15), _runtime(clock, "bumper", 0.1)  # bumper never publishes
    task = ControllerTask(Mover({}), 0, clock, [lidar, bumper], lambda i, c: None,
                          period=0.1, deadline=0.1, end_time=1.0, watch=["lidar"])
    clock.set(0.5)
    lidar.channel.put(Reading("r1", "lidar", 0, 0.5, 0.5, None))
    assert task.run_cycle(5, 0.5).safety_stop is False  # type: ignore[union-attr]
    # the same with the bumper watched: stopped (a missing input counts as a stale one)
    task2 = ControllerTask(Mover({}), 0, clock, [lidar, bumper], lambda i, c: None,
                           period=0.1, deadline=0.1, end_time=1.0, watch=["lidar", "bumper"])
    assert task2.run_cycle(5, 0.5).safety_stop is True  # type: ignore[union-attr]


def test_inputs_needed_follows_the_declared_kinds() -> None:
    kinds = {"front": "lidar", "imu": "imu", "odometry": "odometry"}
    assert Mover(kinds).inputs_needed() == ["front", "imu", "odometry"]  # needs None: all of them

    class LidarOnly(Mover):
        needs = ("lidar",)

    assert LidarOnly(kinds).inputs_needed() == ["front"]


# ------------------------------------------------------------------ whole runs (virtual time)
SCENARIO = """\
name: watchdog
world: {{size: [12.0, 6.0]}}
run: {{duration: 2.0, seed: 3, clock: virtual}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {{type: lidar, rate_hz: 10, beams: 60}}
      - {{type: odometry, rate_hz: 50}}
      - {{type: imu, rate_hz: 200, max_age: 0.02}}
    controller: {{type: {controller}, period: 0.05{extra}}}
faults:
  - {{name: imu-quiet, kind: sensor_dropout, start: 0.505, duration: 1.0, robot: r1, sensor: imu}}
"""


def run(tmp_path: Path, controller: str = "waypoint", extra: str = ", waypoints: [[10.0, 1.0]]") -> dict[str, Any]:
    scn = parse_scenario(SCENARIO.format(controller=controller, extra=extra))
    return execute(scn, tmp_path, listeners=[], write_report=False, plot=False, present=finish_within(60),
                   started_at="test").report


def test_a_quiet_imu_the_waypoint_controller_never_reads_stops_nothing(tmp_path: Path) -> None:
    report = run(tmp_path)
    (ctrl,) = report["controllers"]
    imu = next(s for s in report["sensors"] if s["name"] == "imu")
    assert ctrl["watched"] == ["lidar", "odometry"]
    assert imu["stale_uses"] > 0  # a second without IMU readings is still measured
    assert ctrl["safety_stops"] == 0


def test_the_scenario_can_watch_the_imu_too(tmp_path: Path) -> None:
    report = run(tmp_path, extra=", waypoints: [[10.0, 1.0]], watch: [lidar, imu]")
    (ctrl,) = report["controllers"]
    assert ctrl["watched"] == ["lidar", "imu"]
    assert ctrl["safety_stops"] > 0


def test_watch_nothing_turns_the_watchdog_off(tmp_path: Path) -> None:
    report = run(tmp_path, extra=", waypoints: [[10.0, 1.0]], watch: []")
    (ctrl,) = report["controllers"]
    assert ctrl["watched"] == [] and ctrl["safety_stops"] == 0


def test_a_plugin_that_declares_nothing_has_all_its_sensors_watched(tmp_path: Path) -> None:
    report = run(tmp_path, controller="'watch_plugins:Silent'", extra="")
    (ctrl,) = report["controllers"]
    assert ctrl["watched"] == ["lidar", "odometry", "imu"] and ctrl["safety_stops"] > 0
    by_kind = run(tmp_path / "kind", controller="'watch_plugins:ImuOnly'", extra="")
    assert by_kind["controllers"][0]["watched"] == ["imu"]


def test_an_unknown_name_in_watch_is_a_load_error_at_its_line() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(SCENARIO.format(controller="waypoint", extra=", watch: [lidar, imuu]"))
    e = err.value
    assert e.line == 11 and e.field == "robots[0].controller.watch[1]"
    assert "unknown sensor 'imuu'" in e.message and e.suggestion == "imu"


@pytest.mark.parametrize("plugin, text", [("NamesAGhost", "names 'ghost', not a sensor of this robot"),
                                          ("NeedsRaises", "failed in inputs_needed(): KeyError")])
def test_a_plugin_that_declares_badly_fails_before_the_run(tmp_path: Path, plugin: str, text: str) -> None:
    scn = parse_scenario(SCENARIO.format(controller=f"'watch_plugins:{plugin}'", extra=""))
    with pytest.raises(PluginError) as err:
        Run(scn, tmp_path)
    assert text in str(err.value) and "robots[0].controller" in str(err.value)


def test_conformance_checks_inputs_needed() -> None:
    from watch_plugins import ImuOnly, NamesAGhost, NeedsRaises

    from sim.errors import ConformanceError
    from sim.testing.conformance import check_controller

    check_controller(ImuOnly)
    for cls, text in ((NamesAGhost, "'ghost'"), (NeedsRaises, "raised KeyError")):
        with pytest.raises(ConformanceError) as err:
            check_controller(cls)
        assert "inputs_needed" in str(err.value) and text in str(err.value)
