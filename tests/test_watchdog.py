"""The hang watchdog (sim/core/watchdog.py) and the checks on what plugins return, without real sleeps.

The watchdog's clock and frame source are injected: time moves only when a test says so,
and "the stuck thread's frame" is a frame the test holds.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controllers.base import Controller
from sensors.base import Sensor, bad_number
from sensors.lidar import LaserScan, Lidar
from sim.core.clock import ManualClock
from sim.core.control import ControllerTask
from sim.core.supervisor import Supervisor
from sim.core.watchdog import Slot, Stuck, Watchdog
from sim.errors import CallAborted, PluginOutputError
from sim.world.physics import Command


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _here() -> Any:
    return sys._getframe()


def make(limit: float | None = 2.0) -> tuple[Watchdog, FakeTime, Slot, list[Stuck]]:
    now = FakeTime()
    found: list[Stuck] = []
    frame = _here()
    dog = Watchdog(limit, found.append, now=now, frames=lambda: {7: frame})
    slot = Slot("controller:r1", lambda call: f"compute() of robot r1 at cycle {call[0]}")
    slot.ident = 7
    dog.add(slot)
    return dog, now, slot, found


def test_a_call_past_the_limit_is_reported_once_with_its_stack() -> None:
    dog, now, slot, _ = make(2.0)
    slot.call = (5,)
    assert dog.check() == []  # first seen now
    now.t += 1.9
    assert dog.check() == []
    now.t += 0.1
    (stuck,) = dog.check()
    assert stuck.thread == "controller:r1" and stuck.call == "compute() of robot r1 at cycle 5"
    assert stuck.seconds == pytest.approx(2.0) and stuck.limit == 2.0
    assert "in _here" in stuck.where[-1] and "_here" in "".join(stuck.stack)
    now.t += 10
    assert dog.check() == []  # reported once
    assert stuck.as_dict()["where"] == list(stuck.where)


def test_calls_that_return_in_time_are_never_stuck_whatever_the_total() -> None:
    dog, now, slot, _ = make(2.0)
    for k in range(100):  # each call lasts 1.5 s: the slot is busy at every check, with a new call each time
        slot.call = (k,)
        assert dog.check() == []
        now.t += 1.5
        assert dog.check() == []
        slot.call = None
        assert dog.check() == []


def test_a_new_call_equal_in_value_is_a_new_call() -> None:
    dog, now, slot, _ = make(2.0)
    slot.call = tuple([1])  # built at run time, as the tasks do ((1,) would be one shared constant)
    dog.check()
    now.t += 1.5
    slot.call = tuple([1])  # equal, not the same object: a new call
    assert dog.check() == []
    now.t += 1.5
    assert dog.check() == []
    now.t += 0.5
    assert len(dog.check()) == 1


def test_the_next_stuck_call_of_a_slot_is_reported_too() -> None:
    dog, now, slot, _ = make(1.0)
    slot.call = (1,)
    dog.check()
    now.t += 1.0
    assert len(dog.check()) == 1
    slot.call = (2,)
    dog.check()
    now.t += 1.0
    assert [s.call for s in dog.check()] == ["compute() of robot r1 at cycle 2"]


def test_no_limit_and_a_slot_limit() -> None:
    dog, now, slot, _ = make(None)
    slot.call = (1,)
    dog.check()
    now.t += 1e6
    assert dog.check() == []
    slot.limit = 60.0  # a slot's own limit (warm-up) wins over the watchdog's
    now.t += 0.0
    assert len(dog.check()) == 1


def test_a_thread_that_died_inside_its_call_is_not_stuck() -> None:
    dog, now, slot, _ = make(1.0)
    slot.ident = 8  # no frame for it: the thread is gone (it raised; its slot still holds the call)
    slot.call = (1,)
    dog.check()
    now.t += 5
    assert dog.check() == []


def test_in_progress_and_running_for_name_the_calls_of_threads_that_did_not_stop() -> None:
    dog, now, slot, _ = make(2.0)
    slot.call = (3,)
    dog.check()
    now.t += 0.7
    assert dog.running_for(0.5) == {"controller:r1"}
    assert dog.running_for(1.0) == frozenset()
    (s,) = dog.in_progress(["controller:r1"])
    assert s.call.endswith("cycle 3") and s.seconds == pytest.approx(0.7)
    assert dog.in_progress(["timeline"]) == []


def test_run_polls_until_finished() -> None:
    dog, now, slot, found = make(1.0)
    slot.call = (1,)
    finished = threading.Event()
    polls = []

    class Event:  # finished.wait(poll) moves the fake time instead of sleeping
        def wait(self, poll: float) -> bool:
            polls.append(poll)
            now.t += 0.6
            if len(polls) == 5:
                finished.set()
            return finished.is_set()

    dog.run(Event(), poll=0.6)  # type: ignore[arg-type]
    assert len(found) == 1 and len(polls) == 5


def test_abort_ends_a_thread_looping_in_python() -> None:
    stop_looping = threading.Event()
    ended: list[str] = []
    slot = Slot("spin", lambda call: "spin")
    started = threading.Event()

    def spin() -> None:
        slot.call = (1,)
        started.set()
        try:
            while not stop_looping.is_set():
                pass
        except CallAborted:
            ended.append("aborted")

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    slot.ident = t.ident
    started.wait(10)
    dog = Watchdog(1.0, lambda s: None)
    dog.add(slot)
    assert dog.abort(["spin"], CallAborted) == ["spin"]
    t.join(10)
    assert not t.is_alive()  # ended by the abort: its own exit condition is set only below
    stop_looping.set()
    assert ended == ["aborted"]


def test_the_supervisor_reports_a_failure_inside_a_call_naming_it_and_never_an_abort() -> None:
    seen = []
    sup = Supervisor(seen.append, describe_call=lambda name: f"compute() in {name}")

    def boom() -> None:
        raise SystemExit(3)

    def aborted() -> None:
        raise CallAborted

    for name, target in (("controller:r1", boom), ("controller:r2", aborted)):
        sup.spawn(name, target).join(10)
    (f,) = seen
    assert f.thread == "controller:r1" and f.error == "SystemExit: 3" and f.call == "compute() in controller:r1"
    assert "in boom" in f.where[-1]


# ---------------------------------------------------------------------- what compute() returns
class Returns(Controller):
    value: Any = (0.1, 0.0)

    def compute(self, inputs: Any) -> Any:
        return self.value


def _task(value: Any) -> tuple[ControllerTask, list[Command]]:
    from sensors.base import RobotInfo
    from sim.scenario.load import parse_scenario
    from sim.world.model import StaticMap

    static = StaticMap.from_scenario(parse_scenario(
        "name: t\nworld: {size: [4.0, 4.0]}\nrobots:\n  - {name: r1, start: [1.0, 1.0, 0.0], "
        "controller: {type: waypoint, waypoints: [[2.0, 1.0]]}}\n").world)
    info = RobotInfo(0, "r1", 0.3, 1.0, 1.0, 1.0, 0.4, (1.0, 1.0, 0.0))
    c = Returns(None, info, static, {}, np.random.default_rng(0))  # type: ignore[arg-type]
    c.value = value
    sent: list[Command] = []
    task = ControllerTask(c, 0, ManualClock(), [], lambda i, cmd: sent.append(cmd), period=0.1, deadline=0.1,
                          end_time=1.0)
    return task, sent


@pytest.mark.parametrize("value", [(math.nan, math.nan), (math.inf, -math.inf), (0.1, math.nan), (1,), "fast",
                                   None, ("1", "2"), (1.0, 2.0, 3.0), (1j, 0.0), np.array([np.nan, 0.0])])
def test_a_command_that_is_not_two_finite_numbers_fails_the_controller_naming_robot_cycle_value(value: Any) -> None:
    task, sent = _task(value)
    with pytest.raises(PluginOutputError) as info:
        task.run()
    text = str(info.value)
    assert "robot r1" in text and "at cycle 0" in text and "Returns" in text
    assert sent == []  # nothing reached the physics: never clamped
    assert task.slot.call is None


@pytest.mark.parametrize("value", [(0.5, -0.2), [0, 0], (np.float32(0.1), np.int64(1)), np.array([0.3, 0.1]),
                                   (True, False)])
def test_two_finite_numbers_of_any_numeric_type_pass_unchanged(value: Any) -> None:
    task, sent = _task(value)
    task.run()
    assert len(sent) == 10 and all((c.v, c.w) == (float(value[0]), float(value[1])) for c in sent)


# ---------------------------------------------------------------------- what a sensor returns
def test_readings_nan_anywhere_inf_only_where_the_kind_says_no_return() -> None:
    assert Sensor.check_reading(np.array([1.0, 2.0, 0.0])) is None
    assert Sensor.check_reading(np.array([1.0, np.nan, 0.0])) == "value[1] is nan (of 3 values)"
    assert Sensor.check_reading(np.array([np.inf])) == "value[0] is inf (of 1 values)"
    assert Sensor.check_reading(float("-inf")) == "value is -inf"
    assert Sensor.check_reading({"a": (1.0, [np.float32("nan")])}) == "value['a'][1][0] is nan"
    assert Sensor.check_reading(True) is None and Sensor.check_reading("text") is None
    assert Sensor.check_reading(np.array([1, 2])) is None  # integers cannot be NaN
    ok = LaserScan(np.zeros(3), np.array([1.0, np.inf, 2.0], dtype=np.float32), 0.1, 10.0)
    assert Lidar.check_reading(ok) is None  # inf = no return
    bad = LaserScan(np.zeros(3), np.array([1.0, np.nan, 2.0], dtype=np.float32), 0.1, 10.0)
    assert Lidar.check_reading(bad) == "value.ranges[1] is nan (of 3 values)"
    assert bad_number([[[[[[math.nan]]]]]], False) is None  # looked into 4 levels deep, no further


def test_the_checks_never_change_a_command() -> None:
    """The commands are the floats compute() returned, as before the checks (the oracle stays the same)."""
    task, sent = _task((np.float64(0.25), 1))
    task.run()
    assert {(type(c.v), c.v, c.w) for c in sent} == {(float, 0.25, 1.0)}


# ---------------------------------------------------------------------- the CLI, with a real hang
ROOT = Path(__file__).resolve().parents[1]
SPIN = """\
from controllers.base import Controller


class Spin(Controller):
    def compute(self, inputs):
        if inputs.now > 0.2:
            print("spinning", flush=True)
            while True:
                pass
        return (0.2, 0.0)
"""
SCENARIO = """\
name: spin
world: {{size: [10.0, 4.0]}}
run: {{duration: 30.0, seed: 1, clock: virtual, call_limit: {limit}}}
robots:
  - name: r1
    start: [1.0, 2.0, 0.0]
    sensors: [{{type: odometry, rate_hz: 20}}]
    controller: {{type: 'spin_plugin:Spin', period: 0.05}}
"""


def _spin_run(tmp_path: Path, limit: float) -> subprocess.Popen[str]:
    (tmp_path / "spin_plugin.py").write_text(SPIN)
    (tmp_path / "s.yaml").write_text(SCENARIO.format(limit=limit))
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "s.yaml", "--headless", "--out", "runs",
                             "--no-plot"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}."},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_stuck_virtual_run_ends_and_the_process_exits_soon_after_its_report(tmp_path: Path) -> None:
    """Bounds are generous (a loaded CI host): before the watchdog it never ended at all."""
    with _spin_run(tmp_path, limit=1.0) as proc:
        try:
            t0 = time.monotonic()
            while not list(tmp_path.glob("runs/*/report.json")) and time.monotonic() - t0 < 60:
                time.sleep(0.02)
            written = time.monotonic()
            proc.communicate(timeout=30)
            assert time.monotonic() - written < 5.0  # the stuck thread does not keep the process alive (~0.3 s here)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1
    (report,) = tmp_path.glob("runs/*/report.json")
    rep = json.loads(report.read_text())
    assert rep["run"]["stuck_calls"][0]["call"] == "compute() of robot r1 (spin_plugin:Spin) at cycle 5"


@pytest.mark.slow
def test_ctrl_c_during_a_stuck_virtual_compute_exits_130_within_about_a_second(tmp_path: Path) -> None:
    with _spin_run(tmp_path, limit=5.0) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "spinning" in line:
                    break
            time.sleep(0.6)  # inside the stuck call (limit 5 s), seen by the watchdog
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130
    assert took < 3.5, took  # ~0.6 s here; it took 1.5-4 s (or a SIGKILL) before
    (report,) = tmp_path.glob("runs/*/report.json")
    assert json.loads(report.read_text())["run"]["end_reason"] == "interrupted"
