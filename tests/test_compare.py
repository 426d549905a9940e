"""run.py compare: two finished runs side by side with B - A; bad folders are usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.errors import UsageError
from sim.report.compare import compare_reports, load_report, print_comparison
from tests.scripted_run import ROOT, SLOW, virtual_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A: tiny as is; B: tiny with a long-tailed modelled compute time (misses)."""
    from sim.common.files import write_json

    dirs = []
    for name, overrides in (("a", {}), ("b", SLOW)):
        out = tmp_path_factory.mktemp(name)
        _, report = virtual_run(out, [], overrides)
        write_json(out / "report.json", report)
        dirs.append(out)
    return dirs[0], dirs[1]


def test_figures_and_deltas(two_runs: tuple[Path, Path]) -> None:
    a, b = (load_report(d) for d in two_runs)
    cmp = compare_reports(a, b)
    ca, cb = cmp["controllers"]["r1"]
    assert ca["miss rate"] == 0 and cb["miss rate"] == b["controllers"][0]["miss_rate"] > 0
    assert cb["causes"] == {"long_compute": b["summary"]["misses"]}
    assert set(cmp["kinds"]) == {"lidar", "odometry", "imu", "bumper"}
    assert cmp["fleet"]["misses"] == (0, b["summary"]["misses"])
    text = io.StringIO()
    print_comparison(cmp, text)
    out = text.getvalue()
    row = next(line for line in out.split("Controllers")[1].splitlines() if line.startswith("r1"))
    rate = 100 * b["controllers"][0]["miss_rate"]
    assert row.split()[1:4] == ["0.00", f"{rate:.2f}", f"+{rate:.2f}"]
    assert f"long_compute {b['summary']['misses']}" in out.split("Miss causes")[1]
    fleet = next(line for line in out.split("Fleet")[1].splitlines() if line.startswith("misses"))
    assert fleet.split() == ["misses", "0", str(b["summary"]["misses"]), f"+{b['summary']['misses']}"]


def test_robot_in_one_run_only_shows_dashes() -> None:
    def rep(robots: list[str]) -> dict[str, Any]:
        return {"summary": {"cycles": 1}, "controllers": [
            {"robot": r, "miss_rate": 0.1, "response_time": {"p99": 0.01}, "release_jitter": {"max": 0.001},
             "causes": {}} for r in robots]}
    text = io.StringIO()
    print_comparison(compare_reports(rep(["x"]), rep(["x", "y"])), text)
    row = next(line for line in text.getvalue().splitlines() if line.startswith("y "))
    assert row.split()[1:4] == ["-", "10.00", "-"]


@pytest.mark.slow
def test_cli_compare_and_usage_errors(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "run.py", "compare", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)

    res = cli(str(two_runs[0]), str(two_runs[1]))
    assert res.returncode == 0, res.stderr
    assert "== Compare ==" in res.stdout and "Sensors by kind" in res.stdout
    for args, needle in (((str(tmp_path / "nope"), str(two_runs[1])), "no such run folder"),
                         ((str(two_runs[0]), str(tmp_path)), "no report.json")):
        res = cli(*args)
        assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(UsageError, match="cannot read the report"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps([1, 2]))
    with pytest.raises(UsageError, match="not a deadline-miss report"):
        load_report(tmp_path)
