"""The report explains its misses: per-cause counts, when they clustered, the worst robot.

Every timing is scripted on the controllable clock (tests/scripted_run.py): a compute
spike (long_compute), wall time without CPU (interference), a late wake-up
(late_release), an empty queue under wait_for (input_wait). Each test checks the
report-level figures and the plain-words headline, not Cycle.cause (test_control does).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from sim.core.clock import ManualClock
from sim.features.misses import MissTimeline, summarise
from sim.report.build import build_report, headline, print_report
from sim.report.outputs import finish_report
from tests.scripted_run import build_run, close, compute, drive

SCENARIO = """
name: causes
world: {size: [20.0, 10.0]}
run: {duration: 2.0, seed: 1}
robots:
  - name: a
    start: [2.0, 2.0, 0.0]
    controller: {type: waypoint, period: 0.1, deadline: 0.08}
  - name: b
    start: [2.0, 6.0, 0.0]
    sensors: [{type: bumper, rate_hz: 10, max_age: 1.0}]
    controller: {type: waypoint, period: 0.1, deadline: 0.08, phase: 0.05, wait_for: [bumper]}
"""


def window(lo: float, hi: float) -> Any:
    return lambda robot, t: lo - 1e-9 <= t < hi - 1e-9


def scripted_report(tmp_path: Path, clock: ManualClock, *, spike: Any = None, preempt: Any = None,
                    late: Any = None, starve: Any = None, with_timeline: bool = True) -> dict[str, Any]:
    """Run SCENARIO with the scripted timing and return its report (as the CLI writes it)."""
    run = build_run(SCENARIO, tmp_path, clock, [MissTimeline()] if with_timeline else [])
    hooks = compute(clock,
                    cpu=(lambda r, t: 0.09 if spike(r, t) else 0.0) if spike else None,
                    preempted=(lambda r, t: 0.09 if preempt(r, t) else 0.0) if preempt else None)
    for task in run.controllers:
        task.add_compute_hook(hooks(task.robot_name))
    drive(run, clock,
          late_wake=(lambda r, t: 0.09 if late(r, t) else 0.0) if late else None,
          fresh=(lambda r, t: not starve(r, t)) if starve else None)
    close(run)
    return json.loads(json.dumps(finish_report(build_report(run, "test"), run)))


def only(robot: str, when: Any) -> Any:
    return lambda r, t: r == robot and when(r, t)


def test_compute_spike_is_reported_as_long_compute_with_its_window(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, spike=only("a", window(0.5, 0.8)))
    assert rep["summary"]["misses"] == 3 and rep["summary"]["causes"] == {"long_compute": 3}
    c = rep["misses"]["by_cause"]["long_compute"]
    assert (c["count"], c["share"], c["worst_robot"], c["worst_robot_count"]) == (3, 1.0, "a", 3)
    assert c["window"] == {"start": pytest.approx(0.5), "end": pytest.approx(0.71), "misses": 3, "share": 1.0,
                           "spread": False}  # bins of 2 s / 200: the last miss, released at 0.70, ends at 0.71
    assert rep["misses"]["worst_robot"] == {"robot": "a", "misses": 3, "miss_rate": 3 / 20,
                                            "main_cause": "long_compute"}
    text = headline(rep)
    assert text.splitlines()[0] == "3 of 40 controller cycles missed their deadline (7.50 %)."
    assert "Main cause: long compute, 3 of 3 misses (100.0 %), clustered in t=0.50-0.71 s" in text
    assert "Worst robot: a, 3 misses (15.0 % of its cycles), mostly long compute." in text


def test_preemption_is_reported_as_interference(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, preempt=only("a", window(0.2, 0.5)))
    assert rep["summary"]["causes"] == {"interference": 3}
    c = rep["misses"]["by_cause"]["interference"]
    assert (c["window"]["start"], c["window"]["end"]) == (pytest.approx(0.2), pytest.approx(0.41))
    assert "Main cause: interference, 3 of 3 misses (100.0 %), clustered in t=0.20-0.41 s: the controller was " \
           "preempted or starved of the GIL while computing." in headline(rep)


def test_late_wake_up_is_reported_as_late_release(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, late=only("b", window(1.0, 1.3)))
    assert rep["summary"]["causes"] == {"late_release": 3}
    b = next(c for c in rep["controllers"] if c["robot"] == "b")
    assert b["misses"] == 3 and b["release_jitter"]["max"] == pytest.approx(0.09, rel=0.03)
    c = rep["misses"]["by_cause"]["late_release"]
    assert c["worst_robot"] == "b"  # b's releases are 1.05, 1.15, 1.25 (phase 0.05)
    assert (c["window"]["start"], c["window"]["end"]) == (pytest.approx(1.05), pytest.approx(1.26))
    assert "Main cause: late release, 3 of 3 misses" in headline(rep)
    assert "Worst robot: b, 3 misses (15.0 % of its cycles), mostly late release." in headline(rep)


def test_empty_queue_under_wait_for_is_reported_as_input_wait(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, starve=only("b", window(1.4, 1.8)))
    assert rep["summary"]["causes"] == {"input_wait": 4}
    c = rep["misses"]["by_cause"]["input_wait"]
    assert (c["window"]["start"], c["window"]["end"]) == (pytest.approx(1.45), pytest.approx(1.76))
    assert "Main cause: input wait, 4 of 4 misses (100.0 %), clustered in t=1.45-1.76 s" in headline(rep)


def test_mixed_causes_are_ranked_and_the_worst_robot_named(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, spike=only("a", window(0.5, 0.8)), preempt=only("a", window(0.2, 0.5)),
                          late=only("b", window(1.0, 1.3)), starve=only("b", window(1.4, 1.8)))
    assert rep["summary"]["causes"] == {"interference": 3, "long_compute": 3, "late_release": 3, "input_wait": 4}
    by_cause = rep["misses"]["by_cause"]
    assert list(by_cause) == ["input_wait", "late_release", "long_compute", "interference"]  # most first
    assert {k: v["count"] for k, v in by_cause.items()} == rep["summary"]["causes"]
    assert sum(v["share"] for v in by_cause.values()) == pytest.approx(1.0)
    assert rep["misses"]["worst_robot"]["robot"] == "b" and rep["misses"]["worst_robot"]["misses"] == 7
    lines = headline(rep).splitlines()
    assert lines[1].startswith("Main cause: input wait, 4 of 13 misses (30.8 %)")
    assert lines[2].startswith("Other causes: late release 3 (23.1 %") and "interference 3" in lines[2]
    assert lines[3].startswith("When: ") and lines[4].startswith("Worst robot: b, 7 misses")
    out = io.StringIO()
    print_report(rep, out)
    table = out.getvalue().split("Miss causes")[1].split("Controllers")[0]
    for cause in ("late_release", "input_wait", "long_compute", "interference"):
        assert cause in table


def test_misses_read_back_from_cycles_csv_match_the_live_timeline(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, spike=only("a", window(0.5, 0.8)), starve=only("b", window(1.4, 1.8)),
                          with_timeline=False)  # no listener: build_report falls back to cycles.csv
    live = scripted_report(tmp_path / "live", ManualClock(), spike=only("a", window(0.5, 0.8)),
                           starve=only("b", window(1.4, 1.8)))
    assert rep["misses"] == live["misses"]
    again = MissTimeline.from_csv(tmp_path / "cycles.csv", ["a", "b"], 2.0)
    assert json.loads(json.dumps(summarise(again, {"a": 20, "b": 20}))) == rep["misses"]


def test_clean_run_says_so_and_exports_histograms(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock)
    assert headline(rep) == "All 40 controller cycles met their deadlines."
    assert rep["misses"]["total"] == 0 and rep["misses"]["by_cause"] == {}
    hist = rep["controllers"][0]["response_time"]["hist"]
    assert sum(n for _, n in hist) == 20 and all(e > 0 for e, _ in hist)
    jitter = rep["controllers"][0]["release_jitter"]
    assert jitter["hist"] == [[0.0, 20]] and jitter["max"] == 0.0  # on time: all in the under-1-µs bin
    assert rep["schema_version"] == 2 and rep["expect"] == {"checked": False, "gates": {}, "breaches": [],
                                                            "passed": True}


def test_chain_table_and_old_reports_print(tmp_path: Path, clock: ManualClock) -> None:
    rep = scripted_report(tmp_path, clock, spike=only("a", window(0.5, 0.8)))
    rep["chains_by_kind"] = [{"kind": "lidar", "robots": 2, "count": 40, "mean": 0.05, "p50": 0.04, "p90": 0.06,
                              "p99": 0.08, "max": 0.09, "worst_robot": "b", "worst_p99": 0.085}]
    out = io.StringIO()
    print_report(rep, out)
    text = out.getvalue()
    assert "End-to-end latency, sample -> command in effect (ms)" in text
    row = next(line for line in text.splitlines() if line.startswith("lidar "))
    assert row.split() == ["lidar", "2", "40", "40.00", "80.00", "90.00", "b", "(85.00)"]
    # a schema-1 report (before misses, histograms and chains_by_kind) still prints
    for key in ("misses", "chains_by_kind", "expect", "trace", "recording"):
        rep.pop(key, None)
    old = io.StringIO()
    print_report(rep, old)
    assert "Main cause: long compute, 3 of 3 misses (100.0 %)" in old.getvalue()
