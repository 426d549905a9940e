"""Fault injection: each kind leaves its signature in the report, inside its window only.

Sensor and controller faults run on the virtual clock (``run.clock: virtual``):
every thread of the run takes turns in simulated time, so counts are exact and
repeatable. Window edges sit between sample instants, so no count hangs on
which thread goes first at an instant. The load faults (``cpu_hog``,
``numpy_load``) are about real CPU time, so they run briefly on the real clock
and the tests assert only what does not depend on the host's speed.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sensors.base import Reading
from sensors.lidar import LaserScan
from sim.core.control import Cause, Cycle
from sim.core.listeners import RunListener
from sim.core.producers import SampleEffect, SensorRuntime
from sim.features.faultkinds.sensor import add_noise
from sim.features.faultstats import FaultStats, FaultWindow, print_faults
from sim.report.build import print_report
from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.session import execute
from tests.scripted_run import finish_within

SCENARIO = """\
name: faultdemo
world:
  size: [12.0, 6.0]
physics: {{step: 0.01, workers: {workers}}}
run: {{duration: {duration}, seed: 3, clock: {clock}, time_scale: {scale}}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors: &s
      - {{type: lidar, rate_hz: 10, beams: 60}}
      - {{type: imu, rate_hz: 100}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, waypoints: [[10.0, 1.0], [1.0, 1.0]]}}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors: *s
    controller: {{type: waypoint, period: 0.05, waypoints: [[10.0, 4.0], [1.0, 4.0]]}}
faults:
{faults}
"""


def run_with(tmp_path: Path, faults: str, *, duration: float = 2.5, clock: str = "virtual",
             scale: float = 1.0, workers: int = 0, listeners: list[RunListener] | None = None
             ) -> dict[str, Any]:
    scn = parse_scenario(SCENARIO.format(faults=faults, duration=duration, clock=clock, scale=scale,
                                         workers=workers))
    result = execute(scn, tmp_path, listeners=list(listeners or []), plot=False, present=finish_within(60),
                     started_at="test")
    assert result.errors == [] and (tmp_path / "report.json").exists()  # strict JSON: every figure serialisable
    return result.report


def fault(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["faults"] if f["name"] == name)


def sensor(report: dict[str, Any], label: str) -> dict[str, Any]:
    return next(s for s in report["sensors"] if f"{s['robot']}/{s['name']}" == label)


class Capture(RunListener):
    """Keeps (sample time, payload) of one sensor's published readings."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.items: list[tuple[float, Any]] = []

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        if rt.label == self.label:
            self.items.append((reading.sample_time, reading.data))


# ---------------------------------------------------------------- each kind, in a run


def test_dropout_window_loses_every_sample_inside_and_none_outside(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: blackout, kind: sensor_dropout, start: 0.55, duration: 1.0, "
                                "robot: r1, sensor: lidar}")
    f = fault(report, "blackout")
    assert f["target"] == "r1/lidar" and f["sensors"] == ["r1/lidar"] and (f["start"], f["end"]) == (0.55, 1.55)
    assert f["inside"]["samples"] == 10  # 10 Hz: 0.6, 0.7, ... 1.5
    assert f["inside"]["dropouts"] == 10
    assert f["outside"]["dropouts"] == 0
    assert sensor(report, "r1/lidar")["dropouts"] == 10
    assert sensor(report, "r2/lidar")["dropouts"] == 0
    # no lidar for a second: older than max_age (0.3 s) -> the watchdog stops the robot
    assert f["inside"]["safety_stops"] > 0 and f["inside"]["stale_uses"] > 0
    assert f["applied_at"] == 0.55 and f["removed_at"] == 1.55
    events = [e["event"] for e in report["run"]["timeline"]]
    assert "fault blackout on: sensor_dropout r1/lidar" in events and "fault blackout off" in events


def test_dropout_burst_by_kind_on_every_robot(tmp_path: Path) -> None:
    faults = "  - {name: burst, kind: sensor_dropout, start: 0.555, duration: 1.0, sensor: odometry, probability: 0.5}"
    report = run_with(tmp_path, faults)
    f = fault(report, "burst")
    assert f["robots"] == ["r1", "r2"] and f["sensors"] == ["r1/odometry", "r2/odometry"]
    assert f["inside"]["samples"] == 100  # 2 robots x 50 Hz x 1 s
    assert 10 < f["inside"]["dropouts"] < 90
    assert f["outside"]["dropouts"] == 0
    assert f["inside"]["dropouts"] == sum(sensor(report, f"r{i}/odometry")["dropouts"] for i in (1, 2))
    again = run_with(tmp_path / "again", faults)
    assert fault(again, "burst")["inside"] == f["inside"]  # virtual time: the same run twice


def test_latency_spike_shows_in_age_at_use(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: lag, kind: latency_spike, start: 0.55, duration: 1.0, "
                                "robot: r1, sensor: lidar, latency: 0.4}")
    f = fault(report, "lag")
    assert f["inside"]["age_at_use_max"] >= 0.4
    assert f["inside"]["stale_uses"] > 0  # 0.4 s > max_age 0.3 s
    assert sensor(report, "r1/lidar")["age_at_use"]["max"] >= 0.4
    assert sensor(report, "r2/lidar")["age_at_use"]["max"] < 0.4


def test_frozen_sensor_repeats_one_payload(tmp_path: Path) -> None:
    cap = Capture("r1/imu")
    report = run_with(tmp_path, "  - {name: stuck, kind: frozen_sensor, start: 0.555, duration: 1.0, "
                                "robot: r1, sensor: imu}", listeners=[cap])
    f = fault(report, "stuck")
    assert f["inside"]["samples"] == 100
    assert f["inside"]["repeated_payloads"] == 100
    assert f["outside"]["repeated_payloads"] == 0
    inside = [d for t, d in cap.items if 0.555 <= t < 1.555]
    before = [d for t, d in cap.items if t < 0.555]
    after = [d for t, d in cap.items if t >= 1.555]
    assert len(inside) == 100 and all(np.array_equal(d, before[-1]) for d in inside)
    assert not np.array_equal(after[0], after[1])  # the IMU is noisy again once unfrozen


def test_noise_burst_perturbs_the_samples_of_its_window(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: noisy, kind: noise_burst, start: 0.55, duration: 1.0, "
                                "robot: r1, sensor: lidar, std: 0.5}")
    f = fault(report, "noisy")
    assert f["work"] == {"r1/lidar": 10} == {"r1/lidar": f["inside"]["samples"]}


def test_controller_stall_misses_with_long_compute_inside_only(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: stall, kind: controller_stall, start: 0.525, duration: 1.0, "
                                "robot: r1, stall: 0.08}")
    f = fault(report, "stall")
    assert f["robots"] == ["r1"]
    assert f["inside"]["cycles"] > 0
    assert f["inside"]["misses"] == f["inside"]["cycles"]
    assert f["inside"]["causes"] == {"long_compute": f["inside"]["misses"]}
    assert f["outside"]["misses"] == 0
    assert f["work"]["r1"] == f["inside"]["cycles"]
    r2 = next(c for c in report["controllers"] if c["robot"] == "r2")
    assert r2["misses"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind, extra", [("cpu_hog", "threads: 2"), ("numpy_load", "threads: 2, size: 100000")])
def test_load_threads_run_in_their_window_and_stop(tmp_path: Path, kind: str, extra: str) -> None:
    report = run_with(tmp_path, f"  - {{name: load, kind: {kind}, start: 0.2, duration: 1.0, {extra}}}",
                      duration=1.5, clock="real", scale=2.0)  # 0.75 s real
    f = fault(report, "load")
    assert f["threads"] == ["fault:load-0", "fault:load-1"]
    assert all(f["work"][t] > 0 for t in f["threads"])
    threads = {t["name"]: t for t in report["run"]["threads"]}
    assert threads["fault:load-0"]["role"] == "fault" and threads["fault:load-0"]["serves"] == ["load"]
    assert report["run"]["threads_not_stopped"] == [] and report["run"]["failures"] == []
    assert not any(t.name.startswith("fault:") for t in threading.enumerate())


@pytest.mark.slow
def test_hog_stops_promptly_when_the_run_is_stopped_mid_window(tmp_path: Path) -> None:
    scn = parse_scenario(SCENARIO.format(faults="  - {name: hog, kind: cpu_hog, start: 0.0, duration: 500}",
                                         duration=600, clock="real", scale=1.0, workers=0))
    seen: list[threading.Thread] = []

    def until_hogging(run: Run) -> None:  # then execute stops the run, mid-window
        seen.append(_live_thread("fault:hog", within=10.0))

    result = execute(scn, tmp_path, listeners=[], write_report=False, plot=False, present=until_hogging)
    assert result.run.hung_threads == [] and result.end_reason == "stopped"
    assert not seen[0].is_alive()  # its 500 s window was cut short by the stop


def _live_thread(name: str, within: float) -> threading.Thread:
    """The running thread called ``name``, waited for (polling) up to ``within`` real seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        for t in threading.enumerate():
            if t.name == name and t.is_alive():
                return t
        time.sleep(0.01)
    raise AssertionError(f"no thread {name} running after {within} s")


@pytest.mark.slow
def test_kill_worker_calls_the_runs_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int, float]] = []
    real_kill = Run.kill_worker

    def kill_worker(self: Run, index: int) -> None:
        killed.append((index, self.clock.now()))
        real_kill(self, index)

    monkeypatch.setattr(Run, "kill_worker", kill_worker)
    report = run_with(tmp_path, "  - {name: kill, kind: kill_worker, start: 0.5, worker: 1, duration: 0.5}",
                      workers=2, duration=1.5)
    f = fault(report, "kill")
    assert killed == [(1, 0.5)]  # the timeline called the real pool once, at the fault's start
    assert "killed physics worker 1" in f["notes"]
    assert (f["start"], f["end"]) == (0.5, 1.0)
    # the dead worker ends the run, named (tests/test_shutdown.py checks the rest)
    assert report["run"]["end_reason"].startswith("failure in ")
    assert "worker 1" in report["run"]["failures"][0]["error"]


def test_window_after_the_end_is_reported_not_reached(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: late, kind: frozen_sensor, start: 10.0, duration: 1.0}", duration=1.0)
    f = fault(report, "late")
    assert f["applied_at"] is None and f["inside"]["seconds"] == 0.0
    assert any("not reached" in n for n in f["notes"])


def test_report_prints_the_fault_table(tmp_path: Path) -> None:
    report = run_with(tmp_path, "  - {name: blackout, kind: sensor_dropout, start: 0.55, duration: 1.0, "
                                "robot: r1, sensor: lidar}\n"
                                "  - {kind: controller_stall, start: 0.525, duration: 0.5, stall: 0.08}")
    buf = io.StringIO()
    print_report(report, buf)
    text = buf.getvalue()
    assert "Faults (counts inside the window / outside it" in text
    line = next(x for x in text.splitlines() if x.startswith("blackout"))
    assert "sensor_dropout" in line and "0.55-1.55" in line and "r1/lidar" in line and "10/0" in line
    assert any(x.startswith("controller_stall#1") for x in text.splitlines())  # default name


def test_no_faults_no_table() -> None:
    buf = io.StringIO()
    print_faults({"faults": []}, buf)
    print_faults({}, buf)  # reports written before faults existed
    assert buf.getvalue() == ""


# ---------------------------------------------------------------- pieces


def test_noise_on_a_scan_keeps_no_return_and_non_negative_ranges() -> None:
    rng = np.random.default_rng(0)
    ranges = np.full(2000, 5.0, dtype=np.float32)
    ranges[:10] = np.inf
    scan = LaserScan(np.zeros(2000), ranges, 0.05, 10.0)
    noisy = add_noise(scan, 0.5, False, rng)
    assert isinstance(noisy, LaserScan) and noisy.ranges.dtype == np.float32
    assert np.isinf(noisy.ranges[:10]).all() and (noisy.ranges >= 0).all()
    assert abs(float(np.std(noisy.ranges[10:] - 5.0)) - 0.5) < 0.05
    assert np.array_equal(scan.ranges, ranges)  # the original reading is never mutated
    rel = add_noise(scan, 0.1, True, rng)
    assert abs(float(np.std(rel.ranges[10:] / 5.0 - 1.0)) - 0.1) < 0.01


def test_noise_on_arrays_only_where_numbers_are_floats() -> None:
    rng = np.random.default_rng(1)
    imu = np.zeros(3)
    assert not np.array_equal(add_noise(imu, 0.1, False, rng), imu)
    ints = np.arange(3)
    assert add_noise(ints, 0.1, False, rng) is ints
    assert add_noise(True, 0.1, False, rng) is True  # the bumper


def _runtime() -> SensorRuntime:
    return SensorRuntime(sensor=SimpleNamespace(name="s", kind="k"), robot_name="r", rate_hz=10,  # type: ignore[arg-type]
                         latency_fixed=0.0, latency_jitter=0.0, dropout=0.0, max_age=0.3,
                         channel=None, timing_rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_overlapping_faults_on_one_sensor_combine_and_unwind() -> None:
    rt = _runtime()
    lat0, lat1 = SampleEffect(latency=0.1), SampleEffect(latency=0.25)
    drop0, drop2 = SampleEffect(dropout=0.7), SampleEffect(dropout=0.6)
    frozen3 = SampleEffect(freeze=True)
    plus4, times5 = SampleEffect(payload_filter=lambda p: p + 1), SampleEffect(payload_filter=lambda p: p * 10)
    for e in (lat0, lat1, drop0, drop2, frozen3, plus4, times5):
        rt.add_effect(e)
    fx = rt.effects
    assert fx.extra_latency == pytest.approx(0.35) and fx.forced_dropout == 1.0 and fx.frozen
    assert fx.payload_filter is not None and fx.payload_filter(1) == 20
    for e in (lat0, drop0, frozen3, plus4):
        rt.remove_effect(e)
    fx = rt.effects
    assert fx.extra_latency == 0.25 and fx.forced_dropout == 0.6 and not fx.frozen
    assert fx.payload_filter is not None and fx.payload_filter(1) == 10
    rt.remove_effect(lat0)  # removed already: no change
    assert rt.effects == fx
    for e in (lat1, drop2, times5):
        rt.remove_effect(e)
    fx = rt.effects
    assert (fx.extra_latency, fx.forced_dropout, fx.frozen, fx.payload_filter, fx.active) == (0, 0, False, None, ())


def test_a_sample_reads_one_consistent_set_of_effects() -> None:
    """The producer reads ``rt.effects`` once per sample: a swap replaces the whole set, never part of it."""
    rt = _runtime()
    before = rt.effects
    rt.add_effect(SampleEffect(latency=0.2, dropout=0.5))
    assert before.active == () and before.extra_latency == 0 and before.forced_dropout == 0  # untouched
    assert rt.effects is not before and (rt.effects.extra_latency, rt.effects.forced_dropout) == (0.2, 0.5)


def _cycle(robot: str, release: float, miss: bool = False, ages: tuple[tuple[str, float], ...] = ()) -> Cycle:
    return Cycle(robot, 0, release, release, release, release + 0.01, 0.05, 0.0, miss, False,
                 False, Cause.LONG_COMPUTE if miss else None, ages)


def test_buckets_are_half_open_windows_per_target() -> None:
    w = FaultWindow(0, "w", "latency_spike", 1.0, 2.0, "a/s", {"a"}, {"a": {"s"}})
    stats = FaultStats([w])
    rt = _runtime()
    rt.robot_name = "a"
    stats.on_start(SimpleNamespace(bodies=SimpleNamespace(names=["a", "b"]), sensors=[rt]))
    for t in (0.99, 1.0, 1.5, 1.99, 2.0):
        stats.on_cycle(_cycle("a", t, miss=t == 1.5, ages=(("s", 0.5 if t == 1.5 else 0.1),)))
    stats.on_cycle(_cycle("b", 1.5, miss=True))  # not a target
    for t in (0.9, 1.0, 1.1, 2.0):  # the 1.0 sample is dropped: its seq never advances
        stats.on_sample(rt, t)
        if t != 1.0:
            rt.seq += 1
    stats.on_step(SimpleNamespace(time=0.5, collisions=np.array([0, 0])))
    stats.on_step(SimpleNamespace(time=1.2, collisions=np.array([1, 1])))
    stats.close(SimpleNamespace(sim_seconds=3.0))
    (f,) = stats.result
    assert f["inside"]["cycles"] == 3 and f["outside"]["cycles"] == 2
    assert f["inside"]["misses"] == 1 and f["inside"]["causes"] == {"long_compute": 1}
    assert f["inside"]["stale_uses"] == 1 and f["inside"]["age_at_use_max"] == 0.5
    assert f["inside"]["samples"] == 2 and f["inside"]["dropouts"] == 1 and f["outside"]["dropouts"] == 0
    assert f["inside"]["collisions"] == 1  # robot b's collision is not this fault's
    assert f["inside"]["seconds"] == 1.0 and f["outside"]["seconds"] == 2.0
