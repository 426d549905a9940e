"""Faults and traces with robot hosts (``run.hosts`` per_robot or N).

Sensor faults act in the world's producer threads and ``controller_stall`` in a compute hook forked
with the controller: in virtual time the whole faults table must not depend on where the robots ran.
The load faults with ``robot:`` run in that robot's host process, and ``kill_host`` kills one; those
run on the real clock (load is about real CPU) and assert on what happened, not on how long it took.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from sim.errors import ScenarioError
from sim.features.tracefmt import read_trace
from sim.scenario.load import parse_scenario
from sim.session import execute
from tests.scripted_run import finish_within

SHM = Path("/dev/shm")

SCENARIO = """\
name: hostfaults
world: {{size: [12.0, 8.0]}}
run: {{duration: {duration}, seed: 3, clock: {clock}, hosts: {hosts}}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors: &s
      - {{type: lidar, rate_hz: 10, beams: 60, max_age: 0.25}}
      - {{type: imu, rate_hz: 100}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, deadline: 0.05, waypoints: [[10.0, 1.0], [1.0, 1.0]]}}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors: *s
    controller: {{type: waypoint, period: 0.05, phase: 0.01, waypoints: [[10.0, 4.0], [1.0, 4.0]]}}
  - name: r3
    start: [1.0, 6.5, 0.0]
    sensors: *s
    controller: {{type: waypoint, period: 0.05, phase: 0.02, waypoints: [[10.0, 6.5], [1.0, 6.5]]}}
faults:
{faults}
"""

SENSOR_AND_STALL = """\
  - {name: blackout, kind: sensor_dropout, start: 0.25, duration: 0.5, robot: r1, sensor: lidar}
  - {name: odom-burst, kind: sensor_dropout, start: 0.55, duration: 0.6, sensor: odometry, probability: 0.3}
  - {name: lag, kind: latency_spike, start: 0.85, duration: 0.6, robot: r2, sensor: lidar, latency: 0.4}
  - {name: stuck, kind: frozen_sensor, start: 1.05, duration: 0.5, robot: r3, sensor: imu}
  - {name: noise, kind: noise_burst, start: 1.25, duration: 0.5, robot: r3, sensor: lidar, std: 0.5}
  - {name: stall, kind: controller_stall, start: 1.5, duration: 0.5, robot: r2, stall: 0.08}
"""


def scenario(faults: str, hosts: str | int = "per_robot", clock: str = "virtual", duration: float = 2.5) -> Any:
    return parse_scenario(SCENARIO.format(faults=faults, hosts=hosts, clock=clock, duration=duration))


def run(tmp_path: Path, scn: Any, name: str = "run", outputs: bool = False) -> Any:
    """``outputs``: the run folder's observers too (trace.json, the host section), else none."""
    return execute(scn, tmp_path / name, listeners=None if outputs else [], plot=False, present=finish_within(120),
                   started_at="test")


def fault(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["faults"] if f["name"] == name)


def rings_left() -> list[str]:
    return [p.name for p in SHM.iterdir() if p.name.startswith(f"simring-{os.getpid()}-")] if SHM.is_dir() else []


def comparable(faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A faults section without the timeline thread's real-time lateness (the only wall-clock figure in it)."""
    return [{k: v for k, v in f.items() if k != "applied_lateness"} for f in json.loads(json.dumps(faults))]


# ---------------------------------------------------------------------- sensor faults and controller_stall
@pytest.mark.slow
@pytest.mark.parametrize("hosts", ["per_robot", 2])
def test_sensor_faults_and_stalls_report_the_same_with_hosts_in_virtual_time(tmp_path: Path, hosts: str | int) -> None:
    shared = run(tmp_path, scenario(SENSOR_AND_STALL, hosts="shared"), "shared")
    hosted = run(tmp_path, scenario(SENSOR_AND_STALL, hosts=hosts), "hosted")
    assert shared.exit_status == 0 and hosted.exit_status == 0, hosted.problems
    # every fault left its signature (so the comparison below compares something)
    rep = shared.report
    assert fault(rep, "blackout")["inside"]["dropouts"] > 0
    assert fault(rep, "lag")["inside"]["stale_uses"] > 0
    assert fault(rep, "noise")["work"]["r3/lidar"] > 0
    stall = fault(rep, "stall")
    assert stall["inside"]["misses"] > 0 and stall["work"]["r2"] == stall["inside"]["cycles"]
    # the stall's hook ran in r2's host: its hit count came back from there
    assert comparable(hosted.report["faults"]) == comparable(rep["faults"])
    assert (hosted.out / "cycles.csv").read_bytes() == (shared.out / "cycles.csv").read_bytes()
    assert [p["name"] for p in hosted.report["run"]["processes"]][1:] == (
        ["host-1", "host-2", "host-3"] if hosts == "per_robot" else ["host-1", "host-2"])
    assert rings_left() == []


@pytest.mark.slow
def test_sensor_faults_act_with_hosts_on_the_real_clock(tmp_path: Path) -> None:
    res = run(tmp_path, scenario(SENSOR_AND_STALL, clock="real"))
    rep = res.report
    assert res.exit_status == 0, res.problems
    assert fault(rep, "blackout")["inside"]["dropouts"] > 0 and fault(rep, "blackout")["outside"]["dropouts"] == 0
    assert fault(rep, "lag")["inside"]["stale_uses"] > 0
    assert fault(rep, "noise")["work"]["r3/lidar"] > 0
    stall = fault(rep, "stall")
    assert stall["work"]["r2"] > 0 and stall["inside"]["misses"] > 0  # 80 ms more per cycle, deadline 50 ms
    assert stall["inside"]["causes"].get("long_compute", 0) > 0


# ---------------------------------------------------------------------- load in a robot's host
@pytest.mark.slow
@pytest.mark.parametrize("kind, extra", [("cpu_hog", "threads: 2"), ("numpy_load", "threads: 2, size: 100000")])
def test_a_load_fault_on_a_robot_runs_in_that_robots_host(tmp_path: Path, kind: str, extra: str) -> None:
    faults = f"  - {{name: load, kind: {kind}, start: 0.2, duration: 2.0, robot: r1, {extra}}}"
    res = run(tmp_path, scenario(faults, clock="real", duration=2.5), outputs=True)
    rep = res.report
    assert res.exit_status == 0, res.problems
    f = fault(rep, "load")
    assert f["threads"] == ["host-1/fault:load-0", "host-1/fault:load-1"]
    assert all(f["work"][t] > 0 for t in f["threads"]), f["work"]  # counted in the host, sent back
    assert "ran in host-1" in f["notes"] and f["target"] == "r1"
    threads = {t["name"]: t for t in rep["run"]["threads"]}
    assert threads["host-1/fault:load-0"]["role"] == "fault" and threads["host-1/fault:load-0"]["serves"] == ["load"]
    assert not any(name.startswith("fault:") for name in threads)  # none in the world process
    assert not any(t.name.startswith("fault:") for t in threading.enumerate())
    # the load is on r1's computer: its host burnt the CPU (its own figure, and the host section's samples
    # of /proc), not the world nor r2's host (a hog thread spins for the 2 s window: about 1 CPU second or more)
    procs = {p["name"]: p for p in rep["run"]["processes"]}
    # the load threads are always runnable: whatever else loads the machine, their host out-runs the others
    assert procs["host-1"]["cpu_seconds"] > 2 * procs["host-2"]["cpu_seconds"]
    cpu = {p["name"]: p["cpu_seconds"] for p in rep["host"]["processes"]}
    assert cpu["host-1"] > cpu["main"] and cpu["host-1"] > 2 * cpu["host-2"], cpu
    assert rep["run"]["threads_not_stopped"] == [] and rep["run"]["failures"] == []
    # the trace (real clock) puts the load threads and r1's cycles on host-1's process track
    events = trace_of(res)
    assert {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"} == {
        1: "hostfaults (simulated time)", 2: "host-1 (r1)", 3: "host-2 (r2)", 4: "host-3 (r3)"}
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {"fault:load-0 [fault]", "fault:load-1 [fault]", "controller:r1 [controller]"} <= {
        n for (pid, _), n in tracks.items() if pid == 2}
    assert {e["pid"] for e in events if e.get("cat") == "cycle" and e["args"]["robot"] == "r1"} == {2}


@pytest.mark.slow
def test_a_load_fault_on_a_robot_loads_the_world_when_hosts_are_shared(tmp_path: Path) -> None:
    res = run(tmp_path, scenario("  - {name: hog, kind: cpu_hog, start: 0.2, duration: 0.5, robot: r2}",
                                 hosts="shared", clock="real", duration=1.0))
    f = fault(res.report, "hog")
    assert res.exit_status == 0 and f["threads"] == ["fault:hog"] and f["work"]["fault:hog"] > 0
    assert f["target"] == "r2" and f["robots"] == ["r2"] and f["notes"] == []


@pytest.mark.slow
def test_a_load_fault_in_a_host_runs_in_virtual_time_too(tmp_path: Path) -> None:
    faults = "  - {name: hog, kind: cpu_hog, start: 0.5, duration: 1.0, robot: r3}"
    res = run(tmp_path, scenario(faults, hosts=2))
    f = fault(res.report, "hog")
    assert res.exit_status == 0, res.problems
    assert f["threads"] == ["host-2/fault:hog"] and "host-2/fault:hog" in f["work"]
    assert "host-2/fault:hog" in {t["name"] for t in res.report["run"]["threads"]}
    shared = run(tmp_path, scenario(faults, hosts="shared"), "shared")
    assert (res.out / "cycles.csv").read_bytes() == (shared.out / "cycles.csv").read_bytes()


def test_a_load_fault_naming_an_unknown_robot_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"unknown robot 'r9'"):
        scenario("  - {kind: cpu_hog, start: 0.0, duration: 1.0, robot: r9}")


# ---------------------------------------------------------------------- kill_host
def test_kill_host_is_refused_when_the_robots_share_the_world_process() -> None:
    with pytest.raises(ScenarioError, match=r"kill_host needs robot host processes, but run.hosts is shared"):
        scenario("  - {kind: kill_host, start: 0.5, robot: r1}", hosts="shared")
    with pytest.raises(ScenarioError, match=r"unknown robot 'r7'"):
        scenario("  - {kind: kill_host, start: 0.5, robot: r7}")


@pytest.mark.slow
@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_kill_host_ends_the_run_naming_the_host_and_its_robots(tmp_path: Path, clock: str) -> None:
    res = run(tmp_path, scenario("  - {name: kill, kind: kill_host, start: 0.5, robot: r2}", hosts=2, clock=clock,
                                 duration=60.0))
    rep = res.report
    assert res.exit_status == 1 and res.end_reason == "failure in host-1"
    (f,) = [f for f in rep["run"]["failures"] if f["thread"] == "host-1"]
    assert "robot host host-1 (r1, r2; pid" in f["error"] and "died (killed by SIGKILL)" in f["error"]
    procs = {p["name"]: p for p in rep["run"]["processes"]}
    assert procs["host-1"]["ended"] == "killed by SIGKILL" and procs["host-2"]["ended"] == "exit 0"
    assert any(n.startswith("killed robot host host-1 (r1, r2; pid") for n in fault(rep, "kill")["notes"])
    assert rep["run"]["sim_seconds"] < 10.0  # ended promptly, far before its 60 s
    assert (res.out / "report.json").is_file() and rings_left() == []
    for p in procs.values():
        if p["name"] != "main":
            assert not Path(f"/proc/{p['pid']}").exists()


# ---------------------------------------------------------------------- trace.json: a process track per host
def trace_of(res: Any) -> list[dict[str, Any]]:
    return read_trace(res.out)  # trace.json, or trace.json.gz for a large one


@pytest.mark.slow
def test_the_trace_shows_each_host_as_a_process_with_its_controllers_cycles(tmp_path: Path) -> None:
    shared = trace_of(run(tmp_path, scenario(SENSOR_AND_STALL, hosts="shared"), "shared", outputs=True))
    hosted_res = run(tmp_path, scenario(SENSOR_AND_STALL, hosts=2), "hosted", outputs=True)
    hosted = trace_of(hosted_res)
    processes = {e["pid"]: e["args"]["name"] for e in hosted if e["name"] == "process_name"}
    assert processes == {1: "hostfaults (simulated time)", 2: "host-1 (r1, r2)", 3: "host-2 (r3)"}
    assert {e["pid"] for e in shared} == {1}  # one process, as before hosts

    def names(events: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
        return {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}

    threads = names(hosted)
    cycle_tracks = {e["args"]["robot"]: threads[(e["pid"], e["tid"])].split(" ")[0] + f"@{e['pid']}"
                    for e in hosted if e.get("cat") == "cycle"}
    assert cycle_tracks == {"r1": "controller:r1@2", "r2": "controller:r2@2", "r3": "controller:r3@3"}
    # the host's other threads are on its process too; no controller track is left empty in the world's
    assert {"driver:sensor:imu [driver]", "gate [lockstep]", "events [events]"} <= {
        n for (pid, _), n in threads.items() if pid == 2}
    assert not any(n.startswith("controller:") for (pid, _), n in threads.items() if pid == 1)
    assert "lockstep [lockstep]" in {n for (pid, _), n in threads.items() if pid == 1}

    # the same cycles, sensor instants, flows and misses counters, only on other tracks; the queue depth
    # counters only where the world holds the queues (a host's queues are in its own process)
    def content(events: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in e.items() if k not in ("pid", "tid")}, sort_keys=True)
                      for e in events if e["ph"] != "M" and not e["name"].startswith("queue "))

    assert content(hosted) == content(shared)
    assert any(e["name"].startswith("queue ") for e in shared)
    assert not any(e["name"].startswith("queue ") for e in hosted)
    assert any(e.get("flow_in") for e in hosted)
    assert hosted_res.report["trace"]["cycles"] == sum(1 for e in shared if e.get("cat") == "cycle")
