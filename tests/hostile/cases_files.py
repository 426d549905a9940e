"""Class 6: nothing half-written, ever; outputs follow the umask.

A file that could not be written completely never gets its final name: the run ends
with exit 1 and one stderr line per such file, naming it and the OS error. The
writes are made to fail for real: a ``sitecustomize`` on the case's PYTHONPATH sets
RLIMIT_FSIZE (inherited by the trace formatter too), so a write past the limit fails
with EFBIG exactly like a full disk's ENOSPC (tests/test_files.py does the full tmpfs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hostile import ROOT, TINY, Case
from hostile.outputs import assert_complete, assert_modes_follow_umask, assert_no_child_left, run_folders

OUT = ("s.yaml", "--headless", "--out", "{tmp}/runs")


def _limit(size: int) -> dict[str, Any]:
    """files/env making every write of this run (and its children) past ``size`` bytes fail."""
    return {
        "files": {"s.yaml": TINY, "limit/sitecustomize.py":
                  f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({size}, resource.RLIM_INFINITY))\n"},
        "env": {"PYTHONPATH": f"{ROOT}{os.pathsep}limit"},  # relative: the run's cwd is the case folder
    }


def _failed(*names: str):
    """Exactly ``names`` were not written (one line each); every file left is complete; no child left."""

    def check(tmp: Path, r: Any) -> None:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == len(names), r.stderr
        for name, line in zip(names, lines, strict=True):
            assert f"{name}: not written: [Errno 27] File too large" in line, line
        (folder,) = run_folders(tmp)
        for name in names:
            assert not (folder / name).exists()
        assert_complete(folder, tuple({"report.json", "cycles.csv"} - set(names)))
        assert_no_child_left(tmp)

    return check


def _all_there(tmp: Path, r: Any) -> None:
    (folder,) = run_folders(tmp)
    assert_complete(folder)
    names = {p.name for p in folder.iterdir()}
    assert {"cycles.csv", "report.json", "trace.json", "report.png", "recording.mcap"} <= names, names
    assert_modes_follow_umask(folder)


BOOM = """\
from controllers.base import Controller


class Boom(Controller):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("calibration file missing")
"""


def _no_run_folder(tmp: Path, r: Any) -> None:
    assert run_folders(tmp) == [], [p.name for p in (tmp / "runs").iterdir()]


CASES: list[Case] = [
    Case("files-every-output-complete-and-follows-umask", (*OUT, "--record"), 0, files={"s.yaml": TINY},
         check=_all_there),
    # 5 simulated s: cycles.csv passes 8 KB mid-run (the run ends there), so do trace.json and report.png
    Case("files-too-large-every-output-named", (*OUT, "--duration", "5"), 1, one_line=False,
         check=_failed("cycles.csv", "trace.json", "report.png"), **_limit(8192)),
    # the trace formatter process fails alone: it says why, the parent names the file, no traceback
    Case("files-too-large-trace-child-reports", (*OUT, "--no-plot"), 1, one_line=False,
         check=_failed("trace.json"), **_limit(10_000)),
    Case("files-too-large-recording", (*OUT, "--no-plot", "--no-trace", "--record"), 1, one_line=False,
         check=_failed("recording.mcap"), **_limit(10_000)),
    Case("files-too-large-report-json", (*OUT, "--no-plot", "--no-trace"), 1, one_line=False,
         check=_failed("report.json"), **_limit(4096)),
    # the run folder is made, then a plugin fails while the run is built: no empty or half folder stays
    Case("files-plugin-failing-in-init-leaves-no-run-folder", OUT, 2, stderr=r"failed in __init__",
         files={"s.yaml": TINY.replace("controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
                                       'controller: {type: "boom:Boom", period: 0.05}'), "boom.py": BOOM},
         env={"PYTHONPATH": f"{ROOT}{os.pathsep}."}, check=_no_run_folder),
]
