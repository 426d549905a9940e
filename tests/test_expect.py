"""expect: gates - the model, the breach sentences, and run.py's exit status 1 with the list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.errors import ScenarioError
from sim.features.expect import Expect, check_expectations, expect_section
from sim.scenario.load import parse_scenario
from tests.scripted_run import ROOT, TINY


def report(**summary: Any) -> dict[str, Any]:
    """A minimal report: two controllers and fleet totals."""
    def ctrl(robot: str, misses: int, p99: float | None, stops: int = 0) -> dict[str, Any]:
        return {"robot": robot, "cycles": 100, "misses": misses, "miss_rate": misses / 100,
                "safety_stops": stops, "response_time": {"p99": p99}}
    return {"controllers": [ctrl("amr-1", 1, 0.02), ctrl("amr-3", 42, 0.0624, stops=3)],
            "summary": {"collisions": 0, "stale_uses": 0, "safety_stops": 3, "dropped": 0, **summary}}


def test_no_gates_no_breaches() -> None:
    assert check_expectations(None, report()) == []
    assert check_expectations(Expect(), report()) == []
    assert expect_section(None, report()) == {"checked": False, "gates": {}, "breaches": [], "passed": True}


def test_per_controller_gates_with_per_robot_overrides() -> None:
    e = Expect.model_validate({"max_miss_rate": 0.01, "max_response_p99": 0.05,
                               "controllers": {"amr-3": {"max_miss_rate": 0.5, "max_safety_stops": 1}}})
    assert check_expectations(e, report()) == [
        "amr-3: response time p99 62.40 ms > 50.00 ms",
        "amr-3: safety stops 3 > 1",
    ]
    e = Expect.model_validate({"max_miss_rate": 0.01})
    assert check_expectations(e, report()) == ["amr-3: miss rate 42.00 % > 1.00 % (42 of 100 cycles)"]


def test_fleet_totals() -> None:
    e = Expect(max_collisions=0, max_stale_uses=10, max_safety_stops=2, max_dropped=0)
    assert check_expectations(e, report(collisions=2, stale_uses=10, dropped=7)) == [
        "fleet: collisions 2 > 0",
        "fleet: safety stops 3 > 2",
        "fleet: readings dropped by full queues 7 > 0",
    ]


def test_orders_gate_and_a_missing_figure_is_a_breach() -> None:
    e = Expect(min_orders=10)
    assert check_expectations(e, report()) == [
        "fleet: orders completed is not in the report (the scenario has no orders:), so min_orders 10 cannot be met"]
    assert check_expectations(e, {**report(), "outcomes": {"orders": None}})[0].startswith("fleet: orders completed is")
    assert check_expectations(e, {**report(), "outcomes": {"orders": {"completed": 7}}}) == [
        "fleet: orders completed 7 < 10"]
    assert check_expectations(e, {**report(), "outcomes": {"orders": {"completed": 12}}}) == []
    flat = {**report(), "outcomes": {"orders_completed": 3}}
    assert check_expectations(e, flat) == ["fleet: orders completed 3 < 10"]


def test_unknown_robot_and_a_controller_that_never_ran() -> None:
    rep = report()
    rep["controllers"][0]["response_time"]["p99"] = None
    e = Expect.model_validate({"max_response_p99": 0.1, "controllers": {"amr-9": {"max_miss_rate": 0.1}}})
    assert check_expectations(e, rep) == [
        "expect.controllers: no robot named 'amr-9' in this run (robots: amr-1, amr-3)",
        "amr-1: no controller cycle ran, so response time p99 <= 100.00 ms is not met",
    ]


@pytest.mark.parametrize("block, needle", [
    ("expect: {max_mis_rate: 0.1}", "did you mean 'max_miss_rate'"),
    ("expect: {max_miss_rate: 1.5}", "expect.max_miss_rate"),
    ("expect: {max_collisions: yes}", "not true/false"),
    ("expect: {controllers: {r1: {max_collisions: 0}}}", "max_collisions"),
])
def test_scenario_rejects_bad_gates_with_a_location(block: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(TINY.read_text() + block + "\n")
    assert needle in str(err.value)


def test_expect_is_in_the_json_schema_with_units() -> None:
    from sim.scenario.models import scenario_json_schema

    props = scenario_json_schema()["$defs"]["Expect"]["properties"]
    for name, p in props.items():
        assert "Unit:" in p["description"] or name == "controllers", name


# ---------------------------------------------------------------------- through run.py
def scenario_file(tmp_path: Path, expect: str) -> Path:
    """tiny, every cycle computing 60 ms (modelled) against a 50 ms deadline, plus an expect block."""
    text = TINY.read_text().replace("      period: 0.05\n",
                                    "      period: 0.05\n      execution: {model: fixed, seconds: 0.06}\n")
    path = tmp_path / "gated.yaml"
    path.write_text(text + expect)
    return path


def run_cli(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", str(path), "--headless", "--clock", "virtual", "--duration", "1",
                           "--no-plot", "--no-trace", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_breaches_exit_1_with_the_list(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "expect:\n  max_miss_rate: 0.01\n  max_response_p99: 0.055\n"
                                   "  max_collisions: 0\n")
    res = run_cli(path, tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert "Expectations FAILED (2 breaches):" in res.stdout
    assert "  - r1: miss rate 100.00 % > 1.00 % (10 of 10 cycles)" in res.stdout
    assert "  - r1: response time p99 60.00 ms > 55.00 ms" in res.stdout
    assert "expect: 2 gate(s) breached" in res.stderr
    out = Path(res.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    section = json.loads((out / "report.json").read_text())["expect"]
    assert section["checked"] and not section["passed"] and len(section["breaches"]) == 2
    assert section["gates"] == {"max_miss_rate": 0.01, "max_response_p99": 0.055, "max_collisions": 0,
                                "controllers": {}}


@pytest.mark.slow
def test_gates_met_exit_0(tmp_path: Path) -> None:
    res = run_cli(scenario_file(tmp_path, "expect:\n  max_miss_rate: 1.0\n  max_collisions: 0\n"), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Expectations met: controllers, max_collisions, max_miss_rate" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("expect", "code"), [("expect:\n  max_miss_rate: 0.01\n", 1),
                                             ("expect:\n  max_miss_rate: 1.0\n", 0)])
def test_report_tool_exits_as_the_run_did(tmp_path: Path, expect: str, code: int) -> None:
    res = run_cli(scenario_file(tmp_path, expect), tmp_path)
    assert res.returncode == code, res.stdout + res.stderr
    out = res.stdout.strip().splitlines()[-1].removeprefix("report folder: ")
    again = subprocess.run([sys.executable, "run.py", "report", out, "--no-plot"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == code, again.stdout + again.stderr
    assert ("Expectations FAILED" in again.stdout) == (code == 1)
