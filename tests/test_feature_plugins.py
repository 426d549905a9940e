"""Features plug in: a fault kind and a report section defined here, in a test file, with no edit to sim/.

``ImuBias`` is a fault kind of this file only: registered, it is validated by the scenario
loader (its errors located like any other), applied by the injector through its own
sample effect, and reported in the ``faults`` section. ``CycleCounter`` is a feature of this
file only: attached to a run, it observes cycles and adds its own section to report.json and
its own lines to the text report.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
import pytest
from pydantic import Field

from sensors.base import Reading
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.core.handle import RunHandle
from sim.core.producers import SampleEffect, SensorRuntime
from sim.errors import ScenarioError
from sim.features.faultkind import FaultContext, SensorFault, fault_kinds, register_fault_kind, unregister_fault_kind
from sim.report.build import print_report
from sim.scenario.doc import render
from sim.scenario.load import parse_scenario
from sim.session import Result, execute
from tests.scripted_run import finish_within

SCENARIO = """\
name: plugdemo
world:
  size: [12.0, 6.0]
run: {{duration: 1.0, seed: 3, clock: virtual}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {{type: imu, rate_hz: 100}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, waypoints: [[10.0, 1.0], [1.0, 1.0]]}}
faults:
{faults}
"""


class ImuBias(SensorFault):
    """A constant bias added to every number of an array payload while the window is open."""

    kind: Literal["imu_bias"] = Field(..., description="imu_bias: a constant bias on array payloads.")
    bias: float = Field(..., gt=0, le=10, description="Added to each value, in (0, 10].")

    def sample_effect(self, ctx: FaultContext, rt: SensorRuntime) -> SampleEffect:
        bias = self.bias
        ctx.window.work[rt.label] = 0

        def biased(payload: Any) -> Any:
            ctx.window.work[rt.label] += 1  # only this sensor's producer thread writes this key
            return payload + bias if isinstance(payload, np.ndarray) else payload

        return SampleEffect(payload_filter=biased)


@pytest.fixture
def imu_bias() -> Iterator[type[ImuBias]]:
    """The test kind, registered for one test; afterwards the loader and docs know the built-ins only."""
    register_fault_kind(ImuBias)
    yield ImuBias
    unregister_fault_kind("imu_bias")
    render()  # back to the built-in kinds before another test reads the schema


class Published(Feature):
    """Keeps the IMU readings as published (a listener of this file)."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        if rt.sensor.kind == "imu":
            self.readings.append(reading)


class CycleCounter(Feature):
    """A report section of this file: cycles seen per robot, printed as one line."""

    section = "cycle_counter"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.started = False

    def on_start(self, run: RunHandle) -> None:
        self.started = True
        self.counts = {c.robot_name: 0 for c in run.controllers}

    def on_cycle(self, cycle: Cycle) -> None:
        self.counts[cycle.robot] += 1  # one key per robot, written by that robot's thread only

    def report_section(self, run: RunHandle) -> dict[str, Any]:
        return {"cycles": dict(self.counts), "sim_seconds": run.sim_seconds}

    @staticmethod
    def print_section(data: dict[str, Any], out: TextIO) -> None:
        print(f"\nCycle counter: {sum(data['cycles'].values())} cycles", file=out)


def _run(faults: str, features: list[Feature], out: Path) -> Result:
    """Run the scenario through ``sim.session.execute`` with ``features`` given to the Run (which attaches them)."""
    result = execute(parse_scenario(SCENARIO.format(faults=faults)), out, listeners=list(features),
                     write_report=False, plot=False, present=finish_within(60))
    assert result.end_reason == "completed", result.end_reason
    return result


def test_a_fault_kind_defined_in_a_test_plugs_in(imu_bias: type[ImuBias], tmp_path: Path) -> None:
    assert fault_kinds()[-1] == "imu_bias"
    seen = Published()
    result = _run("  - {name: bias, kind: imu_bias, sensor: imu, start: 0.205, duration: 0.3, bias: 5.0}", [seen],
                  tmp_path)
    run, report = result.run, result.report
    (entry,) = report["faults"]
    assert (entry["kind"], entry["target"], entry["sensors"]) == ("imu_bias", "*/imu", ["r1/imu"])
    assert entry["applied_at"] == pytest.approx(0.205) and entry["removed_at"] == pytest.approx(0.505)
    assert entry["work"] == {"r1/imu": 30}  # samples at 0.21 .. 0.50 s
    inside = [r for r in seen.readings if 0.205 <= r.sample_time < 0.505]
    outside = [r for r in seen.readings if not 0.205 <= r.sample_time < 0.505]
    assert len(inside) == 30 and outside
    assert all(np.all(np.asarray(r.data) >= 4.0) for r in inside)  # the bias dwarfs the IMU's own values
    assert all(np.all(np.abs(np.asarray(r.data)) < 4.0) for r in outside)
    assert "fault bias on: imu_bias */imu" in [e for _, e in run.timeline_log]


def test_a_fault_kind_defined_in_a_test_is_checked_like_the_built_ins(imu_bias: type[ImuBias]) -> None:
    with pytest.raises(ScenarioError) as bad:
        parse_scenario(SCENARIO.format(faults="  - {kind: imu_bias, start: 0.2, duration: 0.3, bias: 50}"))
    assert bad.value.field == "faults[0].bias" and bad.value.line == 13
    with pytest.raises(ScenarioError) as typo:
        parse_scenario(SCENARIO.format(faults="  - {kind: imu_bias, start: 0.2, duration: 0.3, bias: 1, sensr: imu}"))
    assert "faults[0]: unknown key 'sensr'" in str(typo.value)  # located and worded as for a built-in kind
    with pytest.raises(ScenarioError) as unknown:
        parse_scenario(SCENARIO.format(faults="  - {kind: imu_bias, start: 0.2, duration: 0.3, bias: 1, "
                                       "sensor: lidar}"))
    assert "no sensor or sensor kind 'lidar'" in str(unknown.value)
    with pytest.raises(ScenarioError) as kinds:
        parse_scenario(SCENARIO.format(faults="  - {kind: imu_bais, start: 0.2, duration: 0.3}"))
    assert str(kinds.value).rstrip().endswith("kill_worker, kill_host, imu_bias")
    assert "faults: ImuBias" in render()


def test_an_unregistered_kind_is_unknown_again(imu_bias: type[ImuBias]) -> None:
    unregister_fault_kind("imu_bias")
    with pytest.raises(ScenarioError, match=r"one of sensor_dropout, .*, kill_host$"):
        parse_scenario(SCENARIO.format(faults="  - {kind: imu_bias, start: 0.2, duration: 0.3, bias: 1}"))
    assert "ImuBias" not in render()


def test_a_report_section_defined_in_a_test_plugs_in(tmp_path: Path) -> None:
    counter = CycleCounter()
    report = _run("  []", [counter], tmp_path).report
    assert counter.started
    assert report["cycle_counter"] == {"cycles": {"r1": 20}, "sim_seconds": 1.0}
    assert list(report)[-3:] == ["faults", "cycle_counter", "expect"]  # after the built-in run sections
    out = io.StringIO()
    print_report(report, out)
    text = out.getvalue()
    assert "\nCycle counter: 20 cycles\n" in text
