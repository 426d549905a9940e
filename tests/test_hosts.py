"""Robot hosts (``run.hosts``): placement, the wire format, and runs whose robots live in other processes.

Real-clock runs assert on what happened, never on how long it took; virtual-clock runs assert that
the results do not depend on where the robots ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.core.control import Cause, Cycle
from sim.core.wire import (
    decode_command,
    decode_cycle,
    decode_note,
    decode_reading,
    encode_command,
    encode_cycle,
    encode_note,
    encode_reading,
)
from sim.errors import ScenarioError
from sim.interfaces.messages import Command
from sim.interfaces.payloads import LaserScan
from sim.runtime.hosts import deal
from sim.scenario.load import parse_scenario
from sim.session import execute
from tests.scripted_run import finish_within

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHM = Path("/dev/shm")

SCENARIO = """\
name: hosts
world: {{size: [12.0, 8.0]}}
run: {{duration: {duration}, seed: 5, hosts: {hosts}, host_silence_limit: {silence}}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {{type: lidar, rate_hz: 10, beams: 90}}
      - {{type: imu, rate_hz: 100, latency: {{fixed: 0.002, jitter: 0.002}}}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: {controller1}, period: 0.05{extra1}}}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors:
      - {{type: lidar, rate_hz: 10, beams: 90}}
      - {{type: imu, rate_hz: 100}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, phase: 0.01, waypoints: [[10.0, 4.0]]}}
  - name: r3
    start: [1.0, 6.5, 0.0]
    sensors:
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.1, waypoints: [[10.0, 6.5]]}}
"""


@pytest.fixture(autouse=True)
def _plugins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TESTS))


def scenario(hosts: str | int = "per_robot", duration: float = 2.0, controller1: str = "waypoint",
             extra1: str = ", waypoints: [[10.0, 1.0]]", silence: float = 5.0) -> Any:
    return parse_scenario(SCENARIO.format(hosts=hosts, duration=duration, controller1=controller1,
                                          extra1=extra1, silence=silence))


def run(tmp_path: Path, scn: Any, within: float = 60.0) -> Any:
    return execute(scn, tmp_path, listeners=[], plot=False, present=finish_within(within), started_at="test")


def rings_of(pid: int) -> list[str]:
    return sorted(p.name for p in SHM.iterdir() if p.name.startswith(f"simring-{pid}-")) if SHM.is_dir() else []


# ---------------------------------------------------------------------- placement
def test_deal_gives_contiguous_blocks_of_near_equal_size() -> None:
    assert deal("shared", 5) is None
    assert deal("per_robot", 3) == [[0], [1], [2]]
    assert deal(2, 5) == [[0, 1, 2], [3, 4]]
    assert deal(3, 7) == [[0, 1, 2], [3, 4], [5, 6]]
    assert deal(4, 2) == [[0], [1]]  # never an empty host


def test_more_hosts_than_robots_is_bad_input() -> None:
    with pytest.raises(ScenarioError, match=r"run\.hosts is 4 but the scenario has 3 robot"):
        scenario(hosts=4)


# ---------------------------------------------------------------------- wire
@pytest.mark.parametrize("payload", [
    None, True, False, 2.5, np.array([1.0, -2.0, 3.5]), np.arange(6, dtype=np.float32).reshape(2, 3),
    LaserScan(np.linspace(-1, 1, 5), np.array([1.0, np.inf, 2.0, 0.5, np.inf], dtype=np.float32), 0.05, 10.0),
    {"user": "payload", "n": [1, 2]},
])
def test_a_reading_round_trips(payload: object) -> None:
    slot, seq, t, p, back = decode_reading(encode_reading(7, 42, 1.25, 1.2525, payload))
    assert (slot, seq, t, p) == (7, 42, 1.25, 1.2525)
    if isinstance(payload, LaserScan):
        assert isinstance(back, LaserScan)
        np.testing.assert_array_equal(back.angles, payload.angles)
        np.testing.assert_array_equal(back.ranges, payload.ranges)
        assert back.ranges.dtype == payload.ranges.dtype
        assert (back.range_min, back.range_max) == (payload.range_min, payload.range_max)
    elif isinstance(payload, np.ndarray):
        assert isinstance(back, np.ndarray)
        np.testing.assert_array_equal(back, payload)
        assert back.dtype == payload.dtype and back.flags.writeable
    else:
        assert back == payload and type(back) is type(payload)


def test_commands_cycles_and_notes_round_trip() -> None:
    cmd = Command(0.5, -0.25, 3.05, (("lidar", 2.99), ("imu", 3.04)))
    assert decode_command(encode_command(12, cmd)) == (12, cmd)
    cyc = Cycle("amr-3", 61, 3.05, 3.0502, 3.0503, 3.11, 0.05, 0.004, True, True, False, Cause.LONG_COMPUTE,
                (("lidar", 0.06), ("odometry", 0.01)))
    assert decode_cycle(encode_cycle(2, cyc), "amr-3") == (2, cyc)
    plain = Cycle("amr-3", 0, 0.0, 0.0, 0.0, 0.001, 0.05, 0.0, False, False, True, None, ())
    assert decode_cycle(encode_cycle(2, plain), "amr-3") == (2, plain)
    assert decode_note(encode_note(5, {"event": "picked", "time": 1.5})) == (5, {"event": "picked", "time": 1.5})


# ---------------------------------------------------------------------- runs
@pytest.mark.slow
@pytest.mark.parametrize("hosts", ["per_robot", 2])
def test_a_run_with_robot_hosts_completes_and_says_where_each_robot_ran(tmp_path: Path, hosts: str | int) -> None:
    res = run(tmp_path, scenario(hosts=hosts, duration=2.0))
    rep = res.report
    assert res.end_reason == "completed" and res.exit_status == 0, rep["run"]["failures"]
    assert {c["robot"]: c["cycles"] for c in rep["controllers"]} == {"r1": 40, "r2": 40, "r3": 20}
    procs = json.loads(json.dumps(rep["run"]["processes"]))  # as report.json holds them
    assert procs[0]["name"] == "main" and procs[0]["robots"] == []
    hosts_seen = procs[1:]
    assert [p["robots"] for p in hosts_seen] == ([["r1"], ["r2"], ["r3"]] if hosts == "per_robot"
                                                 else [["r1", "r2"], ["r3"]])
    assert all(p["ended"] == "exit 0" and p["cpu_seconds"] > 0 for p in hosts_seen)
    for p in hosts_seen:
        assert not Path(f"/proc/{p['pid']}").exists()
    assert rings_of(os.getpid()) == []
    # readings crossed: every sensor delivered to its controller, nothing lost on the way
    for s in rep["sensors"]:
        assert s["queue"]["delivered"] > 0, s
    lines = (res.out / "cycles.csv").read_text().splitlines()
    assert len(lines) == 1 + 100
    threads = [t["name"] for t in rep["run"]["threads"]]
    assert "hosts" in threads and any(t.endswith("/controller:r1") for t in threads)
    assert any(t.endswith("/driver:sensor:imu") for t in threads)


@pytest.mark.slow
def test_a_controller_raising_in_its_host_ends_the_run_naming_host_and_thread(tmp_path: Path) -> None:
    res = run(tmp_path, scenario(controller1="'failing_plugins:BoomController'", extra1=", after: 5"))
    assert res.exit_status == 1
    (f,) = [f for f in res.report["run"]["failures"] if "controller boom" in f["error"]]
    assert f["thread"] == "host-1/controller:r1"
    assert "compute() of robot r1" in (f["call"] or "")
    assert (res.out / "report.json").is_file()


@pytest.mark.slow
def test_a_host_that_exits_ends_the_run_with_its_robots_and_exit_code(tmp_path: Path) -> None:
    res = run(tmp_path, scenario(hosts=2, controller1="'host_plugins:ExitController'", extra1=", after: 5, code: 3",
                                 duration=30.0))
    assert res.exit_status == 1 and res.end_reason.startswith("failure")
    (f,) = [f for f in res.report["run"]["failures"] if f["thread"] == "host-1"]
    assert "robot host host-1 (r1, r2; pid" in f["error"] and "died (exit 3)" in f["error"]
    procs = {p["name"]: p for p in res.report["run"]["processes"]}
    assert procs["host-1"]["ended"] == "exit 3" and procs["host-2"]["ended"] == "exit 0"
    assert rings_of(os.getpid()) == []


@pytest.mark.slow
def test_a_host_frozen_in_a_c_call_holding_its_gil_is_killed_and_named(tmp_path: Path) -> None:
    res = run(tmp_path, scenario(controller1="'host_plugins:GilHolder'", extra1=", after: 5, seconds: 60",
                                 duration=60.0, silence=0.5))
    assert res.exit_status == 1
    (f,) = [f for f in res.report["run"]["failures"] if f["thread"] == "host-1"]
    assert "sent no heartbeat" in f["error"] and "killed" in f["error"] and "(r1; pid" in f["error"]
    procs = {p["name"]: p for p in res.report["run"]["processes"]}
    assert procs["host-1"]["ended"] == "killed by SIGKILL"
    assert res.report["run"]["sim_seconds"] < 30.0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_world_and_every_host_and_writes_the_report(tmp_path: Path, sig: int) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(SCENARIO.format(hosts="per_robot", duration=3600, controller1="waypoint",
                                    extra1=", waypoints: [[10.0, 1.0]]", silence=2.0))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "run.py", str(path), "--headless", "--no-plot", "--out",
                             str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        assert first.startswith("running "), first + proc.communicate(timeout=30)[1]
        time.sleep(1.0)  # let some cycles run (nothing is asserted on time)
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    rep = json.loads((folder / "report.json").read_text())
    assert rep["run"]["end_reason"] in ("interrupted", "terminated")
    hosts_seen = [p for p in rep["run"]["processes"] if p["name"] != "main"]
    assert len(hosts_seen) == 3
    for p in hosts_seen:
        assert not Path(f"/proc/{p['pid']}").exists(), p
    assert rings_of(proc.pid) == []
    assert rep["run"]["threads_not_stopped"] == []


def test_a_batch_of_readings_round_trips_stacked_or_mixed() -> None:
    from sim.core.wire import decode_batch, encode_batch

    same = [(i, 10 + i, 2.0, 2.001 + i * 1e-4, np.array([i, 2.0 * i, -1.0])) for i in range(5)]
    back = decode_batch(encode_batch(same))
    assert [b[:4] for b in back] == [s[:4] for s in same]
    for b, s in zip(back, same, strict=True):
        np.testing.assert_array_equal(b[4], s[4])
    mixed = [(0, 1, 2.0, 2.0, True), (1, 2, 2.0, 2.01, np.zeros(3)), (2, 3, 2.0, 2.0, {"a": 1})]
    back = decode_batch(encode_batch(mixed))
    assert [b[:4] for b in back] == [m[:4] for m in mixed] and back[0][4] is True and back[2][4] == {"a": 1}


# ---------------------------------------------------------------------- virtual time: placement-independent
def virtual_cycles(tmp_path: Path, scenario_file: str, hosts: str | int, duration: float, seed: int) -> bytes:
    from sim.scenario.load import load_scenario

    scn = load_scenario(ROOT / "scenarios" / scenario_file, {"run": {"clock": "virtual", "duration": duration,
                                                                     "seed": seed, "hosts": hosts}})
    res = execute(scn, tmp_path / f"{scenario_file}-{hosts}", listeners=[], plot=False, write_report=False,
                  present=finish_within(120), started_at="test")
    assert res.exit_status == 0 and res.end_reason == "completed", res.problems
    if hosts != "shared":
        assert rings_of(os.getpid()) == []
    return (res.out / "cycles.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(("scenario_file", "duration", "seed"), [("warehouse.yaml", 15.0, 7), ("faults.yaml", 14.0, 3)])
def test_virtual_results_do_not_depend_on_where_the_robots_ran(tmp_path: Path, scenario_file: str, duration: float,
                                                               seed: int) -> None:
    shared = virtual_cycles(tmp_path, scenario_file, "shared", duration, seed)
    assert shared.count(b"\n") > 1000
    assert virtual_cycles(tmp_path, scenario_file, 2, duration, seed) == shared
    assert virtual_cycles(tmp_path, scenario_file, "per_robot", duration, seed) == shared


def test_a_real_clock_tells_who_follows_it_of_every_change() -> None:
    from sim.core.clock import RealClock

    world, host = RealClock(1.0), RealClock(1.0)
    world.start(lead=0.0)
    world.on_change = lambda: host.set_state(world.state())
    world.pause()
    assert host.paused and host.now() == world.now()
    world.step_paused(0.5)
    assert host.now() == world.now()
    world.resume()
    world.set_time_scale(2.0)
    assert not host.paused and host.time_scale == 2.0 and host.state() == world.state()


@pytest.mark.slow
def test_hosts_pause_with_the_world(tmp_path: Path) -> None:
    """Paused for 1 s (the window's space bar), the hosts' controllers pause too: had they run on, every
    reading they hold would have gone stale (max age 0.15-0.3 s) and the safety watchdog would have stopped them."""
    def pause_once(run: Any) -> None:
        time.sleep(0.5)
        run.clock.pause()
        time.sleep(1.0)
        run.clock.resume()
        assert run.finished.wait(30)

    res = execute(scenario(hosts=2, duration=2.0), tmp_path, listeners=[], plot=False, present=pause_once,
                  started_at="test")
    rep = res.report
    assert res.exit_status == 0 and rep["run"]["wall_seconds"] > 2.5
    assert rep["summary"]["stale_uses"] == 0 and rep["summary"]["safety_stops"] == 0
    assert {c["robot"]: c["cycles"] for c in rep["controllers"]} == {"r1": 40, "r2": 40, "r3": 20}


@pytest.mark.slow
def test_a_users_plugins_run_in_their_hosts_unchanged_and_the_recording_is_the_same(tmp_path: Path) -> None:
    """examples/plugin_demo.yaml: a user's own sensor and controller classes, in robot hosts, virtual time."""
    from sim.scenario.load import load_scenario

    out = {}
    for hosts in ("shared", "per_robot"):
        scn = load_scenario(ROOT / "examples" / "plugin_demo.yaml",
                            {"run": {"clock": "virtual", "duration": 5.0, "hosts": hosts}})
        res = execute(scn, tmp_path / hosts, plot=False, record=True, trace=False, present=finish_within(120),
                      started_at="test")
        assert res.exit_status == 0, res.problems
        out[hosts] = ((res.out / "cycles.csv").read_bytes(), res.report["recording"]["messages"])
    assert out["per_robot"] == out["shared"]


@pytest.mark.slow
def test_a_sweep_over_hosts_gives_the_same_figures_for_every_placement(tmp_path: Path) -> None:
    import csv

    proc = subprocess.run([sys.executable, "run.py", "sweep", "scenarios/warehouse.yaml", "--seeds", "3",
                           "--set", "run.hosts=shared,2,per_robot", "--duration", "4", "--workers", "1",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (results,) = tmp_path.glob("*/results.csv")
    rows = list(csv.DictReader(results.read_text().splitlines()))
    assert sorted(r["run.hosts"] for r in rows) == ["2", "per_robot", "shared"]
    figures = {tuple((k, v) for k, v in r.items() if k not in ("key", "run.hosts", "wall_seconds")) for r in rows}
    assert len(figures) == 1, figures


@pytest.mark.parametrize(("value", "expected"), [
    ("0", "got 0; expected shared, per_robot or a number of host processes in [1, 1024]"),
    ("per_robott", "(did you mean per_robot?)"),
    ("2000", "got 2000; expected shared, per_robot"),
    ("true", "got true; expected shared"),
])
def test_a_bad_hosts_setting_is_one_clear_line(value: str, expected: str) -> None:
    text = SCENARIO.format(hosts=value, duration=1, controller1="waypoint", extra1=", waypoints: [[2, 1]]",
                           silence=2)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    assert expected in str(err.value) and "run.hosts" in str(err.value)
