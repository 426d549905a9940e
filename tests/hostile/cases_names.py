"""Class 2: names that become paths, CSV fields and topics follow one pattern, checked at load (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostile import TINY, Case

RUN = ("--headless", "--out", "{tmp}/out/runs", "--no-plot", "--no-trace")
PATTERN = r"must match \^\[A-Za-z0-9\]\[A-Za-z0-9_\.-\]\{0,63\}\$"


def named(new: str) -> str:
    return TINY.replace("name: tiny", f"name: {new}", 1)


def sensor(new: str) -> str:
    return TINY.replace("{type: odometry, rate_hz: 20}", f"{{type: odometry, rate_hz: 20, name: {new}}}", 1)


def _nothing_written(tmp: Path, _result: Any) -> None:
    made = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.name != "s.yaml")
    assert made == [], f"files appeared: {made}"


def _one_run_named(tmp: Path, prefix: str) -> None:
    runs = [p.name for p in (tmp / "out" / "runs").iterdir()]
    assert len(runs) == 1 and runs[0].startswith(prefix), runs


def scenario_case(name: str, value: str) -> Case:
    return Case(f"names-scenario-{name}", ("s.yaml", *RUN), 2, stderr=rf"s\.yaml:1:7: name: got .*; {PATTERN}",
                files={"s.yaml": named(value)}, check=_nothing_written)


def sensor_case(name: str, value: str) -> Case:
    return Case(f"names-sensor-{name}", ("s.yaml", *RUN), 2,
                stderr=rf"s\.yaml:9:\d+: robots\[0\]\.sensors\[0\]\.name: got .*; {PATTERN}",
                files={"s.yaml": sensor(value)}, check=_nothing_written)


CASES: list[Case] = [
    scenario_case("nul", '"a\\0b"'),
    scenario_case("300-chars", "n" * 300),
    scenario_case("dotdot", "../../x"),
    scenario_case("absolute", "/tmp/hostile-absolute"),
    scenario_case("dotdot-only", '".."'),
    scenario_case("option-like", '"-rf"'),
    sensor_case("semicolon", '"odo;x"'),
    sensor_case("equals", '"odo=1"'),
    sensor_case("comma", '"odo,x"'),
    sensor_case("quote", "'odo\"x'"),
    sensor_case("newline", '"odo\\nx"'),
    Case("names-robot-slash", ("s.yaml", *RUN), 2, stderr=rf"s\.yaml:6:\d+: robots\[0\]\.name: got 'r/1'; {PATTERN}",
         files={"s.yaml": TINY.replace("name: r1", "name: r/1", 1)}, check=_nothing_written),
    Case("names-from-file-name-made-safe", ("my run;1.yaml", *RUN), 0, one_line=False,
         files={"my run;1.yaml": TINY.replace("name: tiny\n", "", 1)},
         check=lambda tmp, _r: _one_run_named(tmp, "my-run-1-")),
]
