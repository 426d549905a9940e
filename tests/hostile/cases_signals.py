"""Class 5: SIGINT/SIGTERM at any moment, once or twice, to the process or its whole group.

The rule, for every case: exit 130 (or the run's own status if it had already ended),
one line and no traceback when nothing was written yet, every file in the run folder
complete and parseable, no temp file, and no child process (trace formatter, physics
workers, resource tracker) left alive. The early times land in imports, loading or the
warm-up depending on the machine's load: the check accepts either "no folder" or a
complete one, and the run is real-clock and long so it cannot have ended on its own.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from hostile import TINY, Case, Send
from hostile.outputs import assert_complete, assert_no_child_left, run_folders

INT, TERM = signal.SIGINT, signal.SIGTERM

LONG = ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot", "--clock", "real", "--duration", "30")
DONE = ("s.yaml", "--headless", "--out", "{tmp}/runs")  # TINY: 1 simulated s, virtual clock: it completes

WORKERS = """\
name: pooled
world: {size: [10.0, 6.0]}
physics: {workers: 2}
run: {duration: 30.0, seed: 1, clock: real}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {type: lidar, rate_hz: 10, beams: 90}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 1.0], [1.0, 1.0]]}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors:
      - {type: lidar, rate_hz: 10, beams: 90}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 4.0], [1.0, 4.0]]}
"""
POOLED = ("w.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot")
RUNNING = r"^running "


def _stopped(tmp: Path, r: Any) -> None:
    """Interrupted: no folder and one line saying nothing was written, or a complete folder that says why."""
    folders = run_folders(tmp)
    if not folders:
        assert len(r.stderr.strip().splitlines()) == 1 and "nothing was written" in r.stderr, r.stderr
    for folder in folders:
        report = assert_complete(folder)
        assert report["run"]["end_reason"] in ("interrupted", "terminated"), report["run"]["end_reason"]
        assert report["run"]["threads_not_stopped"] == []
    assert_no_child_left(tmp)


def _stopped_mid_run(tmp: Path, r: Any) -> None:
    (folder,) = run_folders(tmp)
    _stopped(tmp, r)
    report = assert_complete(folder)
    assert "trace" in report, "trace.json was lost"  # the formatter outlived the group signal
    assert (folder / "trace.json").exists()


def _completed(tmp: Path, r: Any) -> None:
    """A signal while the report was printed/plotted: the run's own status, every file there and whole."""
    (folder,) = run_folders(tmp)
    report = assert_complete(folder)
    assert report["run"]["end_reason"] == "completed"
    assert (folder / "report.png").exists() and (folder / "trace.json").exists()
    assert re.search(r"came after the run had ended \(completed\)", r.stderr), r.stderr
    assert_no_child_left(tmp)


def _killed(tmp: Path, r: Any) -> None:
    """SIGKILL leaves the parent no say; its children still go when their pipes close."""
    assert_no_child_left(tmp, wait=10.0)


def _early(sig: int, at: float, group: bool) -> Case:
    name = f"signals-{'int' if sig == INT else 'term'}-{at:g}s{'-group' if group else ''}"
    return Case(name, LONG, 130, files={"s.yaml": TINY}, sends=(Send(at, sig, group),), check=_stopped,
                one_line=False)


CASES: list[Case] = [
    *(_early(sig, at, group) for sig, at, group in [
        (INT, 0.05, False), (TERM, 0.05, False), (INT, 0.2, True), (TERM, 0.2, False),
        (INT, 0.5, False), (TERM, 0.5, True), (INT, 1.0, True), (TERM, 1.0, False)]),
    Case("signals-int-mid-run", LONG, 130, files={"s.yaml": TINY}, sends=(Send(RUNNING, INT),),
         check=_stopped_mid_run),
    Case("signals-term-mid-run-group", LONG, 130, files={"s.yaml": TINY}, sends=(Send(RUNNING, TERM, True),),
         check=_stopped_mid_run),
    Case("signals-int-twice-mid-run-group", LONG, 130, files={"s.yaml": TINY},
         sends=(Send(RUNNING, INT, True), Send(RUNNING, INT, True)), check=_stopped_mid_run),
    # PYTHONUNBUFFERED: the report's lines reach the pipe as printed, so the signal lands while plotting
    Case("signals-term-during-report-output-group", DONE, 0, files={"s.yaml": TINY},
         env={"PYTHONUNBUFFERED": "1"}, sends=(Send(r"Trace: trace\.json", TERM, True),), check=_completed),
    Case("signals-int-twice-during-report-output-group", DONE, 0, files={"s.yaml": TINY},
         env={"PYTHONUNBUFFERED": "1"},
         sends=(Send(r"Trace: trace\.json", INT, True), Send(r"Trace: trace\.json", INT, True)),
         check=_completed),
    Case("signals-term-mid-run-group-workers2", POOLED, 130, files={"w.yaml": WORKERS},
         sends=(Send(RUNNING, TERM, True),), check=_stopped_mid_run, slow=True),
    Case("signals-int-twice-mid-run-group-workers2", POOLED, 130, files={"w.yaml": WORKERS},
         sends=(Send(RUNNING, INT, True), Send(RUNNING, TERM, True)), check=_stopped_mid_run, slow=True),
    Case("signals-term-1s-group-workers2", POOLED, 130, files={"w.yaml": WORKERS},
         sends=(Send(1.0, TERM, True),), check=_stopped, one_line=False, slow=True),
    Case("signals-kill-parent-workers2-leaves-no-child", POOLED, -9, files={"w.yaml": WORKERS},
         sends=(Send(RUNNING, signal.SIGKILL),), check=_killed, one_line=False, slow=True),
]
