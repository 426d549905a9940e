"""Virtual time: the same threads, run one at a time, deterministic, no real sleeping."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sim.core.virtual import VirtualClock
from sim.scenario.load import load_scenario
from sim.session import execute
from tests.scripted_run import finish_within, strip_wall, virtual_run

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def test_two_threads_interleave_in_fixed_order_without_real_sleep() -> None:
    clock = VirtualClock()
    log: list[tuple[str, float]] = []

    def worker(name: str, period: float) -> None:
        for k in range(1, 4):
            assert clock.sleep_until(k * period)
            log.append((name, clock.now()))

    threads = [threading.Thread(target=clock.participant(n, o, lambda n=n, p=p: worker(n, p)))
               for n, o, p in (("b", 1, 0.25), ("a", 0, 0.25), ("c", 2, 0.375))]
    for t in threads:
        t.start()
    clock.begin()
    assert clock.wait_idle(10)
    # equal times run in `order`: a (0) before b (1) before c (2)
    assert log == [("a", 0.25), ("b", 0.25), ("c", 0.375), ("a", 0.5), ("b", 0.5), ("a", 0.75), ("b", 0.75),
                   ("c", 0.75), ("c", 1.125)]


def test_signal_wakes_waiter_at_the_notify_instant() -> None:
    clock = VirtualClock()
    sig = clock.signal()
    seen: list[tuple[str, float, bool]] = []

    def waiter() -> None:
        got = sig.wait_until(sig.version(), 5.0)
        seen.append(("waiter", clock.now(), got))
        got = sig.wait_until(sig.version(), 7.0)  # nobody notifies again: times out at 7
        seen.append(("waiter", clock.now(), got))

    def notifier() -> None:
        clock.sleep_until(1.5)
        sig.notify()
        seen.append(("notifier", clock.now(), True))

    for name, order, fn in (("w", 0, waiter), ("n", 1, notifier)):
        threading.Thread(target=clock.participant(name, order, fn)).start()
    clock.begin()
    assert clock.wait_idle(10)
    assert seen == [("notifier", 1.5, True), ("waiter", 1.5, True), ("waiter", 7.0, False)]


def test_virtual_run_is_deterministic(tmp_path: Path) -> None:
    overrides = {"run.duration": 3.0, "robots.0.controller.execution": {"model": "lognormal",
                                                                         "median": 0.01, "sigma": 0.8}}
    _, a = virtual_run(tmp_path / "a", [], overrides)
    _, b = virtual_run(tmp_path / "b", [], overrides)
    assert (tmp_path / "a" / "cycles.csv").read_bytes() == (tmp_path / "b" / "cycles.csv").read_bytes()
    assert strip_wall(a) == strip_wall(b)
    assert a["summary"]["misses"] > 0 and a["summary"]["cycles"] > 50  # the long tail overruns sometimes


def test_another_seed_gives_another_run(tmp_path: Path) -> None:
    _, a = virtual_run(tmp_path / "a", [], {"run.duration": 2.0, "run.seed": 1})
    _, b = virtual_run(tmp_path / "b", [], {"run.duration": 2.0, "run.seed": 2})
    # sensor noise differs, so the robot (steered by noisy odometry) ends up elsewhere
    assert a["collisions"]["distance_driven"] != b["collisions"]["distance_driven"]


def test_fixed_execution_time_gives_exact_misses(tmp_path: Path) -> None:
    # period 50 ms, deadline 30 ms, compute 40 ms: every cycle misses by exactly 10 ms, none overruns
    overrides = {"run.duration": 1.0, "robots.0.controller.deadline": 0.03,
                 "robots.0.controller.execution": {"model": "fixed", "seconds": 0.04}}
    _, rep = virtual_run(tmp_path, [], overrides)
    c = rep["controllers"][0]
    assert (c["cycles"], c["misses"], c["overruns"], c["skipped_releases"]) == (20, 20, 0, 0)
    assert c["response_time"]["max"] == pytest.approx(0.04)
    assert c["lateness"]["max"] == pytest.approx(0.01)
    assert c["causes"] == {"long_compute": 20}


def test_overrunning_execution_time_skips_releases(tmp_path: Path) -> None:
    # compute 70 ms with a 50 ms period: each cycle overruns; the skip policy drops every other release
    overrides = {"run.duration": 1.0, "robots.0.controller.execution": {"model": "fixed", "seconds": 0.07}}
    _, rep = virtual_run(tmp_path, [], overrides)
    c = rep["controllers"][0]
    assert (c["cycles"], c["misses"], c["overruns"], c["skipped_releases"]) == (10, 10, 10, 10)


def test_capped_normal_model_never_exceeds_cap(tmp_path: Path) -> None:
    overrides = {"run.duration": 2.0, "robots.0.controller.execution": {"model": "normal", "mean": 0.02,
                                                                         "std": 0.05, "cap": 0.045}}
    _, rep = virtual_run(tmp_path, [], overrides)
    c = rep["controllers"][0]
    assert c["response_time"]["max"] <= 0.045 + 1e-9
    assert c["misses"] == 0  # deadline 50 ms > cap


def test_virtual_sensor_rates_and_ages_are_exact(tmp_path: Path) -> None:
    _, rep = virtual_run(tmp_path, [], {"run.duration": 5.0})
    for s in rep["sensors"]:
        assert s["produced"] == int(5.0 * s["rate_hz"])
        assert s["achieved_rate_hz"] == pytest.approx(s["rate_hz"])
        assert s["sample_lateness"]["max"] == 0.0


def test_virtual_run_never_sleeps_in_real_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time as real_time

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"real sleep of {seconds} s in a virtual run")

    monkeypatch.setattr(real_time, "sleep", forbidden)
    run, rep = virtual_run(tmp_path, [], {"run.duration": 120.0})
    assert rep["run"]["sim_seconds"] == 120.0 and rep["run"]["end_reason"] == "completed"
    assert rep["summary"]["cycles"] == 2400
    assert run.failures == []


@pytest.mark.timeout(1200)
def test_warehouse_two_minutes_never_waits_for_the_wall_clock(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """The 8-robot warehouse, 120 simulated s, completes without one real sleep: simulated time
    only jumps, so the run takes what the computation takes (its speed factor is a benchmark,
    ``python -m bench --only virtual``, never a wall-clock assertion here)."""
    import time as real_time

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"real sleep of {seconds} s in a virtual run")

    monkeypatch.setattr(real_time, "sleep", forbidden)
    sc = load_scenario(ROOT / "scenarios" / "warehouse.yaml", {"run.clock": "virtual", "run.duration": 120.0})
    result = execute(sc, tmp_path, clock=VirtualClock(), listeners=[], write_report=False, plot=False,
                     present=finish_within(1000), started_at="test")  # a hang guard, not a speed limit
    run, rep = result.run, result.report
    assert rep["run"]["end_reason"] == "completed" and rep["run"]["sim_seconds"] == 120.0
    assert rep["summary"]["cycles"] == 8 * 20 * 120 and run.failures == []
    assert run.clock.switches > 0  # the threads really took turns


def test_paced_virtual_clock_can_pause_and_single_step() -> None:
    clock = VirtualClock(pace=1000.0)
    clock.pause()
    clock.step_paused(0.5)
    times: list[float] = []

    def ticker() -> None:
        for k in range(1, 100):
            if not clock.sleep_until(k * 0.25):
                return
            times.append(clock.now())

    t = threading.Thread(target=clock.participant("t", 0, ticker))
    t.start()
    clock.begin()
    # paused with a 0.5 s step budget: exactly the ticks at 0.25 and 0.5 happen, then it holds
    for _ in range(200):
        if len(times) >= 2:
            break
        threading.Event().wait(0.01)
    assert times[:2] == [0.25, 0.5]
    assert clock.now() <= 0.5
    clock.request_stop()
    t.join(2.0)
    assert not t.is_alive()


def test_participants_share_one_cpu_unless_told_not_to(tmp_path: Path) -> None:
    """Pinned: every participant reports the same single CPU; unpinned: the process's own set."""
    import os

    allowed = os.sched_getaffinity(0)
    for pin in (True, False):
        clock = VirtualClock(pin_cpu=pin)
        seen: list[set[int]] = []

        def body(seen: list[set[int]] = seen, clock: VirtualClock = clock) -> None:
            seen.append(os.sched_getaffinity(0))
            clock.sleep_until(0.1)

        threads = [threading.Thread(target=clock.participant(f"t{i}", i, body)) for i in range(3)]
        for t in threads:
            t.start()
        clock.begin()
        for t in threads:
            t.join(10)
        assert len(seen) == 3
        if pin and len(allowed) > 1:
            assert all(len(s) == 1 for s in seen) and len({min(s) for s in seen}) == 1
            assert min(seen[0]) in allowed
        else:
            assert all(s == allowed for s in seen)
