"""The spiky test controller and scenarios/misses.yaml (made to miss on purpose)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from controllers.spiky import SpikyController, SpikyParams, burn_cpu
from sim.scenario.registry import resolve_controller
from sim.testing.harness import ControllerHarness
from tests.scripted_run import ROOT, virtual_run

MISSES = ROOT / "scenarios" / "misses.yaml"


def test_spikes_on_every_nth_compute_inside_the_window() -> None:
    params = SpikyParams(spike_every=3, spike_seconds=0.0005, spike_from=1.0, spike_until=2.0)
    h = ControllerHarness(SpikyController, params, period=0.1)
    h.run(until=3.0)  # 10 Hz for 3 s: calls 3, 6, ... inside [1, 2) s spike
    c = h.controller
    assert c.calls == 30 and [cycle.k for cycle in h.cycles] == list(range(30))
    assert c.spikes == 3 and c.status()["spikes"] == 3  # calls 12, 15, 18 (t = 1.1, 1.4, 1.7)
    assert resolve_controller("spiky") is SpikyController


def test_a_spike_is_cpu_work_not_a_sleep() -> None:
    cpu0 = time.thread_time()
    assert burn_cpu(0.002) > 0
    assert time.thread_time() - cpu0 >= 0.002  # the loop's own exit condition: CPU time, never wall time


def test_window_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="spike_until must be after spike_from"):
        SpikyParams(spike_from=5.0, spike_until=4.0)


def test_misses_scenario_in_virtual_time(tmp_path: Path) -> None:
    """Virtual time is deterministic: the late lidar gives amr-2 input-wait misses; the CPU spikes take no
    simulated time there (they show in real-time runs only), so amr-1 stays clean."""
    _, report = virtual_run(tmp_path, [], {"run.duration": 6.0}, scenario=MISSES)
    by_robot = {c["robot"]: c for c in report["controllers"]}
    assert by_robot["amr-2"]["misses"] > 0 and set(by_robot["amr-2"]["causes"]) == {"input_wait"}
    assert all(by_robot[r]["misses"] == 0 for r in ("amr-1", "amr-3", "amr-4"))
    assert by_robot["amr-1"]["outcome"]["spikes"] == 2  # at t = 5.0 and 5.5 s
    assert report["misses"]["worst_robot"]["robot"] == "amr-2"
    assert report["expect"]["passed"], report["expect"]["breaches"]
