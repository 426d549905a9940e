"""sim.session.execute: the one run sequence - what its Result holds, which files it writes, the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.core.virtual import VirtualClock
from sim.errors import OutputError, SimError
from sim.runtime.run import Run
from sim.scenario.load import load_scenario, parse_scenario
from sim.scenario.models import Scenario
from sim.session import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Result, execute, report_exit_status
from tests.scripted_run import TINY, finish_within

TEXT = TINY.read_text()


def tiny(extra: str = "", duration: float = 0.5) -> Scenario:
    """The tiny scenario on the virtual clock (deterministic), ``extra`` YAML appended."""
    return parse_scenario(TEXT.replace("duration: 2.0", f"duration: {duration}\n  clock: virtual") + extra)


def broken(cls: str) -> str:
    """The tiny scenario's text with a controller from tests/broken_plugins.py."""
    return TEXT.replace("type: waypoint", f"type: broken_plugins:{cls}").replace(
        "      waypoints: [[8.0, 1.0], [8.0, 5.0], [1.0, 5.0]]\n", "")


def test_a_clean_run_gives_its_folder_report_and_status_0(tmp_path: Path) -> None:
    result = execute(tiny(), tmp_path, present=finish_within(60), started_at="then")
    assert isinstance(result, Result) and isinstance(result.run, Run)
    assert (result.out, result.exit_status, result.end_reason) == (tmp_path, EXIT_OK, "completed")
    assert result.failures == [] and result.breaches == [] and result.problems == [] and result.errors == []
    # the report is finished (expect: section, trace section) and it is what report.json holds
    assert result.report["run"]["started_at"] == "then" and result.report["expect"]["passed"] is True
    assert "trace" in result.report and "recording" not in result.report
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(result.report))
    assert {p.name for p in tmp_path.iterdir()} == {"cycles.csv", "trace.json", "report.json", "report.png"}
    assert report_exit_status(result.report) == result.exit_status


def test_options_leave_out_the_files_a_caller_does_not_need(tmp_path: Path) -> None:
    result = execute(tiny(), tmp_path, clock=VirtualClock(), listeners=[], write_report=False, plot=False)
    assert {p.name for p in tmp_path.iterdir()} == {"cycles.csv"}
    assert "trace" not in result.report and result.report["expect"]["checked"] is False
    assert result.exit_status == EXIT_OK and result.report["scenario"]["clock"] == "VirtualClock"


def test_a_failed_run_is_status_1_with_one_line_naming_it(tmp_path: Path) -> None:
    text = broken("RaisesInCompute")
    result = execute(parse_scenario(text.replace("seed: 1", "seed: 1\n  clock: virtual")), tmp_path, plot=False)
    assert result.exit_status == EXIT_FAILED and result.end_reason == "failure in controller:r1"
    assert [f.thread for f in result.failures] == ["controller:r1"]
    (line,) = result.problems
    assert line.startswith("error: run failed: controller:r1: ZeroDivisionError: gain schedule divided by zero")
    assert (tmp_path / "report.json").exists()  # a failure during the run: the report is still written


def test_a_breached_expect_gate_is_status_1_and_listed(tmp_path: Path) -> None:
    result = execute(tiny("expect: {min_orders: 1}\n"), tmp_path, write_report=False, plot=False)
    assert result.exit_status == EXIT_FAILED and result.end_reason == "completed" and result.failures == []
    assert result.breaches == result.report["expect"]["breaches"] and len(result.breaches) == 1
    assert result.problems == ["expect: 1 gate(s) breached (listed above)"]


def test_an_interrupted_run_is_status_130_and_still_reported(tmp_path: Path) -> None:
    def interrupt(run: Run) -> None:  # a presenter ending the run, as a signal or a closed window does
        run.finish("interrupted")

    result = execute(tiny("expect: {min_orders: 1}\n", duration=3600.0), tmp_path, present=interrupt, plot=False)
    assert (result.exit_status, result.end_reason, result.problems) == (EXIT_INTERRUPTED, "interrupted", [])
    assert json.loads((tmp_path / "report.json").read_text())["run"]["end_reason"] == "interrupted"


def test_a_report_that_cannot_be_written_is_status_1_and_the_run_still_ends(tmp_path: Path) -> None:
    (tmp_path / "report.json").mkdir()  # in the way of the file
    result = execute(tiny(), tmp_path, plot=False)
    assert result.exit_status == EXIT_FAILED and result.end_reason == "completed"
    assert [type(e) for e in result.errors] == [OutputError]
    (line,) = result.problems
    assert line.startswith("error: ") and "report.json" in line


def test_echo_prints_what_run_py_prints(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = execute(tiny(), tmp_path, new_folder=True, plot=False, echo=True)
    out, err = capfd.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].startswith("running tiny: 1 robots, ") and "0.5 s simulated at time scale 1" in lines[0]
    assert "== Deadline-miss report: tiny (seed 1) ==" in out and lines[-1] == f"report folder: {result.out}"
    assert all(line.startswith("t = ") for line in err.splitlines()), err  # only progress (sim.session.progress)
    quiet = execute(tiny(), tmp_path / "quiet", plot=False)
    assert capfd.readouterr() == ("", "") and quiet.exit_status == EXIT_OK


def test_new_folder_is_made_inside_out_and_removed_if_the_run_cannot_be_built(tmp_path: Path) -> None:
    result = execute(tiny(), tmp_path / "runs", new_folder=True, write_report=False, plot=False)
    assert result.out.parent == tmp_path / "runs" and result.out.name.startswith("tiny-")
    text = broken("RaisesInInit")
    with pytest.raises(SimError, match="calibration file missing"):
        execute(parse_scenario(text), tmp_path / "runs", new_folder=True)
    assert list((tmp_path / "runs").iterdir()) == [result.out]  # no empty folder stays behind


def test_the_cli_exit_status_is_the_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    args = [str(TINY), "--headless", "--clock", "virtual", "--duration", "0.5", "--no-plot", "--out", str(tmp_path)]
    assert main(args) == EXIT_OK
    (folder,) = tmp_path.iterdir()
    assert capsys.readouterr().out.strip().endswith(f"report folder: {folder}")
    sc = load_scenario(TINY, {"run.clock": "virtual", "run.duration": 0.5})
    assert execute(sc, tmp_path / "again", write_report=False, plot=False).exit_status == EXIT_OK

