"""Costs the code declares (``Inputs.charge``) and the ``pattern`` execution model: known cycles miss, exactly."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from sim.core.clock import ManualClock
from sim.core.control import ControllerTask
from sim.errors import ScenarioError
from sim.interfaces import Command, Inputs
from sim.scenario.load import load_scenario, parse_scenario
from sim.session import execute
from tests.scripted_run import finish_within, virtual_run

SCENARIO = """\
name: declared-cost
world: {{size: [6.0, 4.0]}}
run: {{duration: 2.0, seed: 5, clock: virtual}}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: 'cost_plugins:Charging', period: 0.02, deadline: 0.008{params}}}
"""


def _rows(out: Path) -> list[dict[str, str]]:
    (path,) = out.rglob("cycles.csv")
    with path.open() as f:
        return list(csv.DictReader(f))


def _run(out: Path, params: str = "") -> tuple[list[dict[str, str]], dict[str, Any]]:
    result = execute(parse_scenario(SCENARIO.format(params=params)), out, listeners=[], write_report=False,
                     plot=False, present=finish_within(60), started_at="test")
    return _rows(out), result.report


def test_charged_cycles_and_only_they_miss_as_long_compute_with_the_charge_in_cpu_time(tmp_path: Path) -> None:
    # 12 ms declared on every 10th cycle of a 20 ms period, 8 ms deadline: those 10 cycles miss by 4 ms
    rows, rep = _run(tmp_path)
    assert len(rows) == 100
    missed = [int(r["k"]) for r in rows if r["miss"] == "1"]
    assert missed == list(range(0, 100, 10))
    assert {r["cause"] for r in rows if r["miss"] == "1"} == {"long_compute"}
    for r in rows:
        charged = 0.012 if int(r["k"]) % 10 == 0 else 0.0
        assert float(r["cpu_time"]) == pytest.approx(charged, abs=2e-6)
        assert float(r["response_time"]) == pytest.approx(charged, abs=2e-6)
    c = rep["controllers"][0]
    assert (c["misses"], c["overruns"], c["causes"]) == (10, 0, {"long_compute": 10})
    assert c["lateness"]["max"] == pytest.approx(0.004)


def test_several_charges_in_one_cycle_add_up(tmp_path: Path) -> None:
    one, _ = _run(tmp_path / "one")
    three, _ = _run(tmp_path / "three", ", parts: 3")
    assert [(r["k"], r["miss"]) for r in three] == [(r["k"], r["miss"]) for r in one]
    assert [float(r["cpu_time"]) for r in three] == pytest.approx([float(r["cpu_time"]) for r in one], abs=2e-6)


def test_declared_cost_runs_are_byte_identical(tmp_path: Path) -> None:
    _run(tmp_path / "a", ", every: 7, seconds: 0.009")
    _run(tmp_path / "b", ", every: 7, seconds: 0.009")
    (a,) = (tmp_path / "a").rglob("cycles.csv")
    (b,) = (tmp_path / "b").rglob("cycles.csv")
    assert a.read_bytes() == b.read_bytes()
    assert sum(r["miss"] == "1" for r in _rows(tmp_path / "a")) == 15  # k = 0, 7, ..., 98


@pytest.mark.parametrize(("bad", "shown"), [("negative", "-0.001"), ("nan", "nan"), ("inf", "inf"),
                                            ("text", "'fast'")])
def test_a_bad_charge_fails_the_run_naming_robot_controller_cycle_value(
        bad: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim import cli

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(params=f", bad: {bad}"))
    assert cli.main([str(scenario), "--headless", "--no-plot", "--out", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "robot r1" in err and "cost_plugins:Charging" in err and "at cycle 10 " in err, err
    assert f"charged {shown} s" in err and "Inputs.charge" in err, err
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "report.json").exists()


def test_charge_sums_and_keeps_the_first_bad_value() -> None:
    inputs = Inputs(0.0, {}, {})
    assert inputs.charged == 0.0 and inputs.bad_charge is None
    inputs.charge(0.001)
    inputs.charge(0.002)
    assert inputs.charged == pytest.approx(0.003) and inputs.bad_charge is None
    inputs.charge(-1.0)
    inputs.charge(math.inf)
    inputs.charge(2.0)  # a later good charge cannot hide the bad one
    assert math.isnan(inputs.charged) and inputs.bad_charge == (-1.0,)
    assert Inputs(0.0, {}, {}).charged == 0.0  # one cycle's charges never reach the next cycle's Inputs


def test_in_real_time_the_charge_is_added_on_top_of_the_measured_compute() -> None:
    """On a clock with CPU time (ManualClock stands in for the real one): the charge lengthens the cycle."""
    from controllers.base import Controller
    from sensors.base import RobotInfo
    from sim.world.model import StaticMap

    class Charges(Controller):
        def compute(self, inputs: Inputs) -> tuple[float, float]:
            clock.advance(0.003, cpu=0.003)  # the real compute
            inputs.charge(0.005)
            return 0.1, 0.0

    clock = ManualClock()
    static = StaticMap.from_scenario(parse_scenario(
        "name: t\nworld: {size: [4.0, 4.0]}\nrobots:\n  - {name: r1, start: [1.0, 1.0, 0.0], "
        "controller: {type: waypoint, waypoints: [[2.0, 1.0]]}}\n").world)
    info = RobotInfo(0, "r1", 0.3, 1.0, 1.0, 1.0, 0.4, (1.0, 1.0, 0.0))
    sent: list[Command] = []
    task = ControllerTask(Charges(None, info, static, {}, None),  # type: ignore[arg-type]
                          0, clock, [], lambda i, cmd: sent.append(cmd), period=0.1, deadline=0.007, end_time=0.35)
    cycles: list[Any] = []
    task.on_cycle = cycles.append
    task.run()
    assert [c.k for c in cycles] == [0, 1, 2, 3]
    for c in cycles:
        assert c.finish_time - c.inputs_time == pytest.approx(0.008)  # 3 ms measured + 5 ms declared
        assert c.cpu_time == pytest.approx(0.008) and c.miss
    assert [cmd.issued_at for cmd in sent] == pytest.approx([0.008, 0.108, 0.208, 0.308])


# ---------------------------------------------------------------------- the pattern execution model
PATTERN = {"model": "pattern", "every": 10, "spike": 0.012, "base": 0.001, "offset": 3}


def test_pattern_model_misses_exactly_the_pattern_cycles(tmp_path: Path) -> None:
    overrides = {"run.duration": 2.0, "robots.0.controller.period": 0.02, "robots.0.controller.deadline": 0.008,
                 "robots.0.controller.execution": PATTERN}
    _, rep = virtual_run(tmp_path, [], overrides)
    rows = _rows(tmp_path)
    assert len(rows) == 100
    assert [int(r["k"]) for r in rows if r["miss"] == "1"] == list(range(3, 100, 10))
    for r in rows:
        assert float(r["cpu_time"]) == pytest.approx(0.013 if int(r["k"]) % 10 == 3 else 0.001, abs=2e-6)
    assert rep["controllers"][0]["causes"] == {"long_compute": 10}


def test_pattern_model_sample_by_cycle() -> None:
    from sim.core.exectime import Pattern

    m = Pattern(model="pattern", every=4, spike=0.01, offset=1)
    assert [m.sample(None, 0.0, k) for k in range(9)] == [  # type: ignore[arg-type]
        0.0, 0.01, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(("execution", "field"), [
    ("{model: pattern, every: 10, spike: 0.012, offset: 10}", "offset"),
    ("{model: pattern, every: 0, spike: 0.012}", "every"),
    ("{model: pattern, every: 5, spike: -0.1}", "spike"),
    ("{model: pattern, every: 5}", "spike"),
])
def test_a_bad_pattern_is_one_line_naming_file_line_and_field(execution: str, field: str, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SCENARIO.format(params=f", execution: {execution}"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "\n" not in text and "p.yaml:9" in text and field in text, text
