"""User plugins end to end: named in YAML, params validated like built-ins, failures named.

The example plugin runs through the real command line (a subprocess from the
repository root, as a user runs it); assertions are on what the run wrote.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import PluginError, ScenarioError
from sim.report.build import print_report
from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.session import execute

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_example_plugin_runs_through_run_py(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "run.py", "examples/plugin_demo.yaml", "--headless", "--duration", "1",
                          "--time-scale", "5", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr + res.stdout
    folder = Path(res.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["end_reason"] == "completed" and not report["run"]["failures"]
    assert {c["type"] for c in report["controllers"]} == {"Wanderer"}
    assert "battery" in {s["kind"] for s in report["sensors"]}
    assert "wanderer-1/battery" in res.stdout  # the plugin sensor is in the printed table too


ROOM = """
world: {{size: [10.0, 6.0]}}
run: {{duration: 2.0, time_scale: 4.0}}
robots:
  - name: r1
    start: [2.0, 3.0, 0.0]
    sensors:
      - {{type: lidar, rate_hz: 10, beams: 90}}
      - {{type: examples.my_plugins.sensor:Battery, rate_hz: 1{sensor_extra}}}
    controller:
      type: {controller}
      period: 0.05{controller_extra}
"""


def scenario(controller: str = "examples.my_plugins.controller:Wanderer", controller_extra: str = "",
             sensor_extra: str = "") -> str:
    return ROOM.format(controller=controller, controller_extra=controller_extra, sensor_extra=sensor_extra)


def test_plugin_params_are_validated_like_builtins() -> None:
    sc = parse_scenario(scenario(controller_extra="\n      cruise_speed: 0.3", sensor_extra=", capacity_m: 50"))
    assert sc.robots[0].controller.params.cruise_speed == 0.3
    assert sc.robots[0].sensors[1].params.capacity_m == 50
    with pytest.raises(ScenarioError) as info:
        parse_scenario(scenario(controller_extra="\n      cruise_sped: 0.3"))
    assert info.value.line == 13 and info.value.suggestion == "cruise_speed"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(scenario(sensor_extra=", capacity_m: -5"))
    assert info.value.line == 9 and "capacity_m" in str(info.value)


def test_plugin_that_does_not_import_is_named() -> None:
    with pytest.raises(PluginError) as info:
        parse_scenario(scenario(controller="examples.my_plugins.nothere:Wanderer"))
    assert "examples.my_plugins.nothere" in str(info.value) and info.value.line == 11


def test_plugin_raising_in_init_is_named(tmp_path: Path) -> None:
    sc = parse_scenario(scenario(controller="broken_plugins:RaisesInInit"))
    with pytest.raises(PluginError) as info:
        Run(sc, tmp_path)
    text = str(info.value)
    assert "broken_plugins:RaisesInInit" in text and "'r1'" in text and "calibration file missing" in text


def test_plugin_raising_in_compute_is_named_in_the_report(tmp_path: Path) -> None:
    result = execute(parse_scenario(scenario(controller="broken_plugins:RaisesInCompute")), tmp_path,
                     listeners=[], write_report=False, plot=False, started_at="now")
    run, report = result.run, result.report
    assert run.end_reason == "failure in controller:r1"
    (failure,) = report["run"]["failures"]
    assert failure["thread"] == "controller:r1"
    assert failure["component"] == "broken_plugins:RaisesInCompute"
    assert "ZeroDivisionError: gain schedule divided by zero" in failure["error"]
    out = io.StringIO()
    print_report(report, out)
    assert "FAILED thread controller:r1 (broken_plugins:RaisesInCompute)" in out.getvalue()
