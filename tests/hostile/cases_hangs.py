"""Class 4: plugin calls that never return. Past ``run.call_limit`` (wall time, both clocks) the run
ends with exit 1 naming the stuck call and where it was (a stack in the report); Ctrl-C during a
stuck call exits 130 promptly; the report is written and parses either way.

The plugins are a module written beside the scenario (``PYTHONPATH=.``: the case folder). Each
prints "spinning" when it starts to loop, so a signal can be sent at that moment.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from hostile import TINY, Case, Send
from sim.features.tracefmt import read_trace

PLUGINS = '''\
import sys
from controllers.base import Controller
from sensors.base import Sensor


def spin(swallow=False):
    print("spinning", flush=True)
    while True:
        if swallow:
            try:
                while True:
                    pass
            except BaseException:  # even the runtime's CallAborted: only the daemon thread ends it
                pass


class Spin(Controller):
    def compute(self, inputs):
        if inputs.now > 0.2:
            spin()
        return (0.2, 0.0)


class Stubborn(Controller):
    def compute(self, inputs):
        if inputs.now > 0.2:
            spin(swallow=True)
        return (0.2, 0.0)


class SpinSensor(Sensor):
    kind = "pose"

    def sample(self, snap):
        if snap.time > 0.2:
            spin()
        return snap.pose[self.robot.index].copy()


class SpinAtWarmUp(Sensor):
    kind = "pose"

    def sample(self, snap):
        spin()
'''

ENV = {"PYTHONPATH": "."}  # the case folder: the plugin module sits beside the scenario
ARGS = ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot")


def _scenario(controller: str = "waypoint", sensor: str = "", clock: str = "virtual", limit: float = 1.0,
              duration: float = 30.0) -> str:
    text = TINY.replace("run: {duration: 1.0, seed: 1, clock: virtual}",
                        f"run: {{duration: {duration}, seed: 1, clock: {clock}, call_limit: {limit}}}")
    if controller != "waypoint":
        text = text.replace("controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
                            f"controller: {{type: 'hang_plugins:{controller}', period: 0.05}}")
    if sensor:
        text = text.replace("      - {type: odometry, rate_hz: 20}\n",
                            f"      - {{type: odometry, rate_hz: 20}}\n      - {{type: 'hang_plugins:{sensor}', "
                            "name: pose, rate_hz: 20}\n")
    return text


def report(tmp: Path) -> dict[str, Any]:
    """The run's report.json (parsed), after checking the other files of the run folder parse."""
    (run,) = (tmp / "runs").iterdir()
    rep = json.loads((run / "report.json").read_text())
    assert (run / "cycles.csv").read_text().startswith("robot,")
    if (run / "trace.json").exists() or (run / "trace.json.gz").exists():
        read_trace(run)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".partial")]
    return rep


def _stuck(call: str, where: str, thread: str = "controller:r1") -> Any:
    def check(tmp: Path, result: Any) -> None:
        rep = report(tmp)
        (stuck,) = rep["run"]["stuck_calls"]
        assert stuck["thread"] == thread and call in stuck["call"], stuck
        assert where in stuck["where"][-1] and where in stuck["stack"], stuck
        (f,) = [f for f in rep["run"]["failures"] if f["fatal"]]
        assert f["error"].startswith("StuckCallError: ") and f["thread"] == thread
        assert rep["run"]["end_reason"] == f"failure in {thread}"
        assert f"  at {stuck['where'][-1]}" in result.stdout  # the printed report shows where, shortened

    return check


def _interrupted(thread: str, call: str) -> Any:
    def check(tmp: Path, result: Any) -> None:
        rep = report(tmp)
        assert rep["run"]["end_reason"] == "interrupted" and rep["run"]["threads_not_stopped"] == [thread]
        (stuck,) = rep["run"]["stuck_calls"]
        assert call in stuck["call"] and "in spin" in stuck["where"][-1]
        assert not [f for f in rep["run"]["failures"] if f["fatal"]]

    return check


def _at_the_end(tmp: Path, result: Any) -> None:
    rep = report(tmp)
    assert rep["run"]["end_reason"] == "completed" and rep["run"]["threads_not_stopped"] == ["controller:r1"]
    assert "in spin" in rep["run"]["stuck_calls"][0]["where"][-1]


def _case(name: str, exit: int, files: str, stderr: str | None = None, check: Any = None,
          sends: tuple[Send, ...] = (), slow: bool = False) -> Case:
    return Case(f"hangs-{name}", ARGS, exit, stderr=stderr, one_line=exit == 1, check=check, env=ENV, sends=sends,
                files={"s.yaml": files, "hang_plugins.py": PLUGINS}, timeout=40, slow=slow)


_SIGINT = (Send("spinning", signal.SIGINT),)

CASES: list[Case] = [
    _case("compute-virtual", 1, _scenario("Spin"),
          r"^error: run failed: controller:r1: StuckCallError: compute\(\) of robot r1 \(hang_plugins:Spin\) at "
          r"cycle \d+ still running after \d+\.\d s wall \(limit 1 s, run.call_limit\); "
          r"at .*hang_plugins\.py:\d+ in spin",
          _stuck("compute() of robot r1 (hang_plugins:Spin)", "in spin")),
    _case("compute-real", 1, _scenario("Spin", clock="real"),
          r"controller:r1: StuckCallError: compute\(\) of robot r1", _stuck("compute()", "in spin")),
    _case("compute-swallows-the-abort", 1, _scenario("Stubborn"),
          r"controller:r1: StuckCallError: compute\(\) of robot r1 \(hang_plugins:Stubborn\)",
          _stuck("compute()", "in spin")),
    _case("sensor-sample", 1, _scenario(sensor="SpinSensor"),
          r"sensor:pose: StuckCallError: hang_plugins:SpinSensor\.sample_many\(\) of sensor r1/pose at t=0\.\d+ s",
          _stuck("hang_plugins:SpinSensor.sample_many() of sensor r1/pose", "in spin", thread="sensor:pose")),
    _case("sigint-stuck-virtual-compute", 130, _scenario("Spin", limit=5.0), None,
          _interrupted("controller:r1", "compute() of robot r1"), sends=_SIGINT),
    _case("sigint-stuck-real-compute", 130, _scenario("Spin", clock="real", limit=5.0), None,
          _interrupted("controller:r1", "compute() of robot r1"), sends=_SIGINT),
    _case("sigint-stuck-warm-up", 130, _scenario(sensor="SpinAtWarmUp"), None,
          _interrupted("warm-up", "warm-up call hang_plugins:SpinAtWarmUp.sample_many() of sensor r1/pose"),
          sends=_SIGINT),
    # the limit is a scenario setting: a 1 s real-clock run with a 5 s limit ends first, the call still running
    _case("stuck-at-the-end", 1, _scenario("Spin", clock="real", limit=5.0, duration=1.0),
          r"^error: run failed: threads did not stop within 1 s: controller:r1 still in compute\(\)", _at_the_end),
]
