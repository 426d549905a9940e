"""Class 3 (run time): commands and readings that are not finite numbers, and plugins that raise
BaseException mid-run. Each is a failure of that plugin: exit 1, naming robot/sensor, cycle or
time and the value, one line on stderr, the report written (never a NaN pose).

The plugins are a module written beside the scenario (``PYTHONPATH=.``: the case folder).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hostile import TINY, Case
from sim.features.tracefmt import read_trace

PLUGINS = '''\
import math
import numpy as np
from controllers.base import Controller
from sensors.base import Sensor
from pydantic import BaseModel, ConfigDict


class P(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = "nan"


VALUES = {"nan": (math.nan, math.nan), "inf": (math.inf, -math.inf), "short": (1.0,), "fast": "fast",
          "none": None}


class Returns(Controller):
    Params = P

    def compute(self, inputs):
        return (0.2, 0.0) if inputs.now < 0.3 else VALUES[self.params.value]


class Raises(Controller):
    Params = P

    def compute(self, inputs):
        if inputs.now > 0.3:
            raise {"exit": SystemExit(0), "kbd": KeyboardInterrupt(), "gen": GeneratorExit()}[self.params.value]
        return (0.2, 0.0)


class Pose(Sensor):
    kind = "pose"
    Params = P

    def sample(self, snap):
        pose = snap.pose[self.robot.index].copy()
        if snap.time > 0.3:
            if self.params.value == "raise":
                raise BaseException("sensor gave up")
            pose[1] = math.nan
        return pose
'''

ARGS = ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot")
ENV = {"PYTHONPATH": "."}  # the case folder: the plugin module sits beside the scenario


def _scenario(controller: str, extra_sensor: str = "") -> str:
    text = TINY.replace("controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}", controller)
    return text.replace("      - {type: odometry, rate_hz: 20}\n", "      - {type: odometry, rate_hz: 20}\n"
                        + (f"      - {extra_sensor}\n" if extra_sensor else ""))


def report(tmp: Path) -> dict[str, Any]:
    """The run's report.json (parsed), after checking every file of the run folder parses."""
    (run,) = (tmp / "runs").iterdir()
    rep = json.loads((run / "report.json").read_text())
    lines = (run / "cycles.csv").read_text().splitlines()
    assert lines and all(line.count(",") == lines[0].count(",") for line in lines[:1])
    if (run / "trace.json").exists() or (run / "trace.json.gz").exists():
        read_trace(run)
    for name, dist in rep["collisions"]["distance_driven"].items():
        assert dist is not None and math.isfinite(dist), f"{name}: distance_driven {dist}"
    return rep


def _failed(pattern: str) -> Any:
    def check(tmp: Path, result: Any) -> None:
        rep = report(tmp)
        fatal = [f for f in rep["run"]["failures"] if f["fatal"]]
        assert fatal and pattern in fatal[0]["error"] + (fatal[0].get("call") or ""), fatal
        assert rep["run"]["end_reason"].startswith("failure in ")
        assert "FAILED thread" in result.stdout

    return check


def _continue(tmp: Path, result: Any) -> None:
    rep = report(tmp)
    (f,) = rep["run"]["failures"]
    assert not f["fatal"] and f["sensor"] == "r1/pose" and "nan" in f["error"]
    (pose,) = [s for s in rep["sensors"] if s["name"] == "pose"]
    assert pose["failed"] and rep["run"]["end_reason"] == "completed"


def _lidar_ok(tmp: Path, result: Any) -> None:
    rep = report(tmp)
    assert rep["run"]["failures"] == [] and rep["run"]["end_reason"] == "completed"


def _case(name: str, controller: str, exit: int, stderr: str, check: Any, sensor: str = "") -> Case:
    return Case(f"nonfinite-{name}", ARGS, exit, stderr=stderr, one_line=exit != 0, check=check, env=ENV,
                files={"s.yaml": _scenario(controller, sensor), "nf_plugins.py": PLUGINS})


_RETURNS = "controller: {{type: 'nf_plugins:Returns', period: 0.05, value: {}}}"
_RAISES = "controller: {{type: 'nf_plugins:Raises', period: 0.05, value: {}}}"
_WAYPOINT = "controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}"

CASES: list[Case] = [
    _case("compute-nan", _RETURNS.format("nan"), 1,
          r"^error: run failed: controller:r1: .*robot r1 \(nf_plugins:Returns\) returned \(nan, nan\) at cycle \d+",
          _failed("returned (nan, nan)")),
    _case("compute-inf", _RETURNS.format("inf"), 1, r"returned \(inf, -inf\) at cycle \d+",
          _failed("returned (inf, -inf)")),
    _case("compute-one-number", _RETURNS.format("short"), 1, r"returned \(1\.0,\) at cycle", _failed("(1.0,)")),
    _case("compute-string", _RETURNS.format("fast"), 1, r"returned 'fast' at cycle", _failed("'fast'")),
    _case("compute-none", _RETURNS.format("none"), 1, r"returned null at cycle", _failed("returned null")),
    _case("compute-systemexit", _RAISES.format("exit"), 1,
          r"controller:r1: SystemExit: 0 in compute\(\) of robot r1 \(nf_plugins:Raises\) at cycle \d+",
          _failed("compute() of robot r1 (nf_plugins:Raises)")),
    _case("compute-keyboardinterrupt", _RAISES.format("kbd"), 1, r"controller:r1: KeyboardInterrupt",
          _failed("compute() of robot r1 (nf_plugins:Raises)")),
    _case("compute-generatorexit", _RAISES.format("gen"), 1, r"controller:r1: GeneratorExit",
          _failed("compute() of robot r1 (nf_plugins:Raises)")),
    _case("sensor-nan-stops-the-run", _WAYPOINT, 1,
          r"sensor r1/pose \(nf_plugins:Pose\) returned a bad reading at t=0\.\d+ s \(sample \d+\): value\[1\] is nan",
          _failed("value[1] is nan"), sensor="{type: 'nf_plugins:Pose', name: pose, rate_hz: 20}"),
    _case("sensor-nan-continue-fails-only-the-sensor", _WAYPOINT, 0, "", _continue,
          sensor="{type: 'nf_plugins:Pose', name: pose, rate_hz: 20, on_failure: continue}"),
    _case("sensor-baseexception", _WAYPOINT, 1,
          r"sensor:pose: BaseException: sensor gave up in nf_plugins:Pose\.sample_many\(\) of sensor r1/pose",
          _failed("nf_plugins:Pose.sample_many() of sensor r1/pose"),
          sensor="{type: 'nf_plugins:Pose', name: pose, rate_hz: 20, value: raise, on_failure: continue}"),
    # inf is the lidar's "no return": legal (a 1 m lidar in a 10 m room sees mostly nothing)
    _case("lidar-inf-is-no-return", _WAYPOINT, 0, "", _lidar_ok,
          sensor="{type: lidar, rate_hz: 10, beams: 36, range_max: 1.0}"),
]

# status() runs after the run, on the main thread: raising there is that controller's failure, report kept
STATUS_PLUGIN = '''\
from controllers.base import Controller


class BadStatus(Controller):
    def compute(self, inputs):
        return (0.1, 0.0)

    def status(self):
        raise SystemExit(0)
'''
CASES.append(Case("nonfinite-status-systemexit-after-the-run", ARGS, 1, one_line=True, env=ENV,
                  stderr=r"controller:r1: SystemExit: 0 in status\(\) of robot r1 \(status_plugin:BadStatus\)",
                  check=lambda tmp, result: report(tmp),
                  files={"s.yaml": _scenario("controller: {type: 'status_plugin:BadStatus', period: 0.05}"),
                         "status_plugin.py": STATUS_PLUGIN}))
