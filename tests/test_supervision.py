"""Supervision: a thread that raises ends the run (or, where allowed, only its sensor) and is named.

The plugins in ``failing_plugins`` raise after a set number of calls. Runs use the
virtual clock where the outcome is about order (what failed, what went on), and
the real clock where it is about not hanging (the run ends in bounded real time).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.session import execute
from sim.world.physics import Physics
from tests.scripted_run import finish_within

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SCENARIO = """\
name: boom
world: {{size: [12.0, 6.0]}}
run: {{duration: {duration}, seed: 5, clock: {clock}, time_scale: {scale}}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {{type: 'failing_plugins:BoomSensor', name: boom, rate_hz: 20, after: {after1}, on_failure: {policy1}}}
      - {{type: imu, rate_hz: 50}}
    controller: {{type: {controller1}, period: 0.05, watch: [boom]}}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors:
      - {{type: 'failing_plugins:BoomSensor', name: boom, rate_hz: 20, after: {after2}, on_failure: {policy2}}}
      - {{type: imu, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, waypoints: [[10.0, 4.0]]}}
"""


@pytest.fixture(autouse=True)
def _plugins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TESTS))


def scenario_for(*, after1: int = -1, after2: int = -1, policy1: str = "stop", policy2: str = "stop",
                 controller1: str = "waypoint", duration: float = 2.0, clock: str = "virtual",
                 scale: float = 1.0) -> Any:
    return parse_scenario(SCENARIO.format(after1=after1, after2=after2, policy1=policy1, policy2=policy2,
                                          controller1=controller1, duration=duration, clock=clock,
                                          scale=scale))


def make_run(tmp_path: Path, **settings: Any) -> Run:
    return Run(scenario_for(**settings), tmp_path)


def finish(scn: Any, tmp_path: Path, within: float = 30.0) -> dict[str, Any]:
    """Run ``scn`` to its end (it must end within ``within`` s) and return its report."""
    return execute(scn, tmp_path, listeners=[], write_report=False, plot=False, present=finish_within(within),
                   started_at="test").report


def by_label(report: dict[str, Any], label: str) -> dict[str, Any]:
    return next(s for s in report["sensors"] if f"{s['robot']}/{s['name']}" == label)


def test_sensor_exception_stops_the_run_and_names_thread_error_traceback(tmp_path: Path) -> None:
    report = finish(scenario_for(after1=3, duration=60.0), tmp_path)
    run = report["run"]
    assert run["end_reason"] == "failure in sensor:boom"
    (f,) = run["failures"]
    assert f["thread"] == "sensor:boom" and f["fatal"] is True
    assert f["error"] == "RuntimeError: boom: r1/boom after 3 samples"
    assert "failing_plugins.py" in f["traceback"] and "in sample" in f["traceback"]
    assert run["sim_seconds"] < 1.0  # stopped at the failure, not at the end
    assert run["threads_not_stopped"] == []


def test_continue_fails_only_that_sensor_and_its_group_goes_on(tmp_path: Path) -> None:
    # r1/boom and r2/boom are sampled in one batch call by the same producer thread
    report = finish(scenario_for(after1=3, policy1="continue", duration=2.0), tmp_path)
    run = report["run"]
    assert run["end_reason"] == "completed"
    (f,) = run["failures"]
    assert f["fatal"] is False and f["sensor"] == "r1/boom" and f["thread"] == "sensor:boom"
    assert "boom: r1/boom after 3 samples" in f["error"] and "Traceback" in f["traceback"]
    r1, r2 = by_label(report, "r1/boom"), by_label(report, "r2/boom")
    assert r1["failed"] == f["error"] and r1["produced"] == 3
    assert r2["failed"] is None and r2["produced"] == 40  # 20 Hz for 2 s: untouched by r1's failure
    # r1's controller no longer gets boom readings: the watchdog (watch: [boom]) stops it, r2 drives on
    ctrl = {c["robot"]: c for c in report["controllers"]}
    assert ctrl["r1"]["safety_stops"] > 0 and ctrl["r2"]["safety_stops"] == 0


def test_a_stop_sensor_in_a_batch_with_a_continue_sensor_still_stops_the_run(tmp_path: Path) -> None:
    report = finish(scenario_for(after1=3, policy1="continue", after2=5, policy2="stop", duration=5.0), tmp_path)
    run = report["run"]
    assert run["end_reason"] == "failure in sensor:boom"
    assert [(f["sensor"], f["fatal"]) for f in run["failures"]] == [("r1/boom", False), (None, True)]
    assert "r2/boom after 5" in run["failures"][1]["error"]


def test_controller_exception_names_thread_and_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from controllers.waypoint import WaypointController

    calls = {"n": 0}
    original = WaypointController.compute

    def compute(self: Any, inputs: Any) -> tuple[float, float]:
        if self.robot.name == "r2":
            calls["n"] += 1
            if calls["n"] > 4:
                raise ValueError("controller r2 gave up")
        return original(self, inputs)

    monkeypatch.setattr(WaypointController, "compute", compute)
    report = finish(scenario_for(duration=60.0), tmp_path)
    (f,) = report["run"]["failures"]
    assert report["run"]["end_reason"] == "failure in controller:r2"
    assert f["thread"] == "controller:r2" and f["error"] == "ValueError: controller r2 gave up"
    assert f["component"] == "controllers.waypoint:WaypointController"
    assert "in compute" in f["traceback"]


@pytest.mark.slow
def test_physics_exception_ends_the_run_on_the_real_clock_in_bounded_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Physics.step

    def step(self: Physics) -> Any:
        if self.steps == 20:
            raise FloatingPointError("physics blew up")
        return original(self)

    monkeypatch.setattr(Physics, "step", step)
    # an hour-long run ends at once when physics dies
    report = finish(scenario_for(duration=3600.0, clock="real", scale=1.0), tmp_path, within=10.0)
    assert report["run"]["end_reason"] == "failure in physics"
    assert report["run"]["failures"][0]["error"] == "FloatingPointError: physics blew up"
    assert report["run"]["threads_not_stopped"] == []


def test_a_plugin_that_cannot_sample_at_all_fails_in_warm_up(tmp_path: Path) -> None:
    report = finish(scenario_for(after1=0), tmp_path)
    assert report["run"]["end_reason"] == "failure in warm-up"
    assert "boom: r1/boom after 0 samples" in report["run"]["failures"][0]["error"]
    assert report["run"]["threads"] == []  # nothing was started


@pytest.mark.slow
def test_timeline_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def kill_worker(self: Run, index: int) -> None:
        raise OSError(f"no such worker {index}")

    monkeypatch.setattr(Run, "kill_worker", kill_worker)  # raises if Run has no kill_worker to replace
    text = SCENARIO.format(after1=-1, after2=-1, policy1="stop", policy2="stop", controller1="waypoint",
                           duration=5.0, clock="virtual", scale=1.0)
    text = text.replace("run: {", "physics: {workers: 1}\nrun: {")
    text += "faults:\n  - {kind: kill_worker, start: 1.0}\n"
    report = finish(parse_scenario(text), tmp_path)
    assert report["run"]["end_reason"] == "failure in timeline"
    assert report["run"]["failures"][0]["error"] == "OSError: no such worker 0"


def test_stop_without_start_is_safe(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert run.stop() == []
    assert run.hung_threads == []


@pytest.mark.slow
def test_a_killed_worker_reaches_the_supervisor(tmp_path: Path) -> None:
    text = SCENARIO.format(after1=-1, after2=-1, policy1="stop", policy2="stop", controller1="waypoint",
                           duration=5.0, clock="real", scale=2.0)
    text = text.replace("run: {", "physics: {workers: 1}\nrun: {")
    text += "faults:\n  - {kind: kill_worker, start: 0.5}\n"
    report = finish(parse_scenario(text), tmp_path, within=15.0)
    assert report["run"]["failures"], "a dead worker must not go unnoticed"
    (f,) = report["run"]["failures"]
    assert report["run"]["end_reason"] == "failure in physics" and f["thread"] == "physics" and f["fatal"]
    assert f["error"].startswith("WorkerDied: physics worker 0 ") and "killed by SIGKILL" in f["error"]
    assert report["run"]["threads_not_stopped"] == []


@pytest.mark.slow
def test_cli_exit_status_for_fatal_and_isolated_failures(tmp_path: Path) -> None:
    def cli(after1: int, policy1: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"boom-{policy1}.yaml"
        path.write_text(SCENARIO.format(after1=after1, after2=-1, policy1=policy1, policy2="stop",
                                        controller1="waypoint", duration=1.0, clock="virtual", scale=1.0))
        return subprocess.run([sys.executable, "run.py", str(path), "--headless", "--out", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(TESTS)})

    fatal = cli(2, "stop")
    assert fatal.returncode == 1, fatal.stderr
    assert "FAILED thread sensor:boom" in fatal.stdout and "RuntimeError: boom" in fatal.stdout
    isolated = cli(2, "continue")
    assert isolated.returncode == 0, isolated.stderr
    assert "SENSOR FAILED r1/boom in thread sensor:boom" in isolated.stdout
