"""Class 1: bad input of every kind is one line naming it, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hostile import ROOT, TINY, Case

RUN = ("--headless", "--out", "{tmp}/runs", "--no-plot", "--no-trace")


def tiny(old: str, new: str) -> str:
    """TINY with one edit (the edit must apply)."""
    assert old in TINY, old
    return TINY.replace(old, new, 1)


def _nothing_made(tmp: Path, _result: Any) -> None:
    assert not (tmp / "runs").exists() or not any((tmp / "runs").iterdir()), "a run folder was made"


def _report_exits_1(tmp: Path, _result: Any) -> None:
    (folder,) = (tmp / "runs").iterdir()
    res = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", str(folder), "--no-plot"], cwd=tmp,
                         capture_output=True, text=True, timeout=60)
    assert "Expectations FAILED" in res.stdout, res.stdout
    assert res.returncode == 1, f"run.py report exited {res.returncode} for a run that exited 1"


BREACHED = TINY + "expect:\n  max_miss_rate: 0.0\n"
BREACHED = BREACHED.replace("period: 0.05,", "period: 0.05, execution: {model: fixed, seconds: 0.06},")

CASES: list[Case] = [
    Case("missing-scenario-file", ("nope.yaml", "--headless"), 2, stderr=r"nope\.yaml"),
    Case("tiny-runs", ("s.yaml", "--headless", "--out", "{tmp}/runs", "--no-plot"), 0,
         files={"s.yaml": TINY}, one_line=False),
    # huge integers: refused at load as out of range, never printed digit by digit
    Case("input-huge-seed", ("s.yaml", *RUN), 2, stderr=r"s\.yaml:4:\d+: integer out of range",
         files={"s.yaml": tiny("seed: 1,", "seed: " + "7" * 5000 + ",")}, check=_nothing_made),
    Case("input-huge-hex-radius", ("s.yaml", *RUN), 2, stderr=r"s\.yaml:7:\d+: integer out of range",
         files={"s.yaml": tiny("    start:", "    radius: 0x" + "f" * 5000 + "\n    start:")}),
    Case("input-huge-int-key", ("s.yaml", *RUN), 2, stderr=r"s\.yaml:\d+:\d+: integer out of range",
         files={"s.yaml": "? " + "9" * 5000 + "\n: 1\n" + TINY}),
    Case("input-huge-seed-option", ("s.yaml", *RUN, "--seed", "9" * 200), 2,
         stderr=r"run\.seed: got <integer of 200 digits>; must be <=", files={"s.yaml": TINY}),
    Case("input-huge-seed-option-past-int-limit", ("s.yaml", *RUN, "--seed", "9" * 5000), 2,
         stderr=r"argument --seed: invalid int value", files={"s.yaml": TINY}),
    # echoed keys are shortened
    Case("input-100k-unknown-key", ("s.yaml", *RUN), 2, stderr=r"unknown key 'kkkk[k]*\.\.\.",
         files={"s.yaml": "? " + "k" * 100_000 + "\n: 1\n" + TINY}),
    # what is read is capped
    Case("input-dev-zero", ("/dev/zero", *RUN), 2, stderr=r"/dev/zero: scenario file is larger than 16 MB"),
    Case("input-over-16-mb", ("s.yaml", *RUN), 2, stderr=r"larger than 16 MB",
         files={"s.yaml": TINY + ("#" * 1023 + "\n") * (16 * 1024 + 1)}),
    # --out: every OS problem is one line naming the path
    Case("input-out-is-a-file", ("s.yaml", "--headless", "--out", "{tmp}/afile"), 2,
         stderr=r"--out '.*afile' exists and is not a folder", files={"s.yaml": TINY, "afile": "x"}),
    Case("input-out-under-dev-null", ("s.yaml", "--headless", "--out", "/dev/null/x"), 2,
         stderr=r"cannot create the run folder '/dev/null/x': Not a directory", files={"s.yaml": TINY}),
    Case("input-out-read-only-sys", ("s.yaml", "--headless", "--out", "/sys/hostile-run"), 2,
         stderr=r"cannot create the run folder '/sys/hostile-run': ", files={"s.yaml": TINY}),
    Case("input-out-in-proc", ("s.yaml", "--headless", "--out", "/proc/hostile/run"), 2,
         stderr=r"cannot create the run folder '/proc/hostile", files={"s.yaml": TINY}),
    # argparse errors: one line, for the run and every tool
    Case("input-argparse-run", ("s.yaml", "--frobnicate"), 2, stderr=r"^error: run\.py: unrecognized arguments",
         files={"s.yaml": TINY}),
    Case("input-argparse-report", ("report",), 2, stderr=r"^error: run\.py report: .*required: run_dir"),
    Case("input-argparse-compare", ("compare", "a", "b", "c"), 2, stderr=r"^error: run\.py compare: "),
    Case("input-argparse-sweep", ("sweep", "s.yaml", "--workers", "two"), 2,
         stderr=r"^error: run\.py sweep: argument --workers: invalid int", files={"s.yaml": TINY}),
    Case("input-no-scenario", (), 2, stderr=r"give a scenario file"),
    Case("input-sweep-set-huge-int", ("sweep", "s.yaml", "--set", "run.seed=1," + "9" * 5000, "--out", "{tmp}/sw"), 2,
         stderr=r"^error: --set 'run\.seed=1,9+\.\.\.: integer out of range", files={"s.yaml": TINY}),
    # built-in controller params: nan/inf and goals the robot cannot occupy are load errors
    Case("input-nan-waypoint", ("s.yaml", *RUN), 2,
         stderr=r"s\.yaml:10:\d+: robots\[0\]\.controller\.waypoints\[0\]\[0\]: got nan; must be a finite number",
         files={"s.yaml": tiny("waypoints: [[8.0, 2.0]]", "waypoints: [[.nan, 2.0]]")}),
    Case("input-inf-waypoint", ("s.yaml", *RUN), 2, stderr=r"waypoints\[1\]\[1\]: got inf",
         files={"s.yaml": tiny("waypoints: [[8.0, 2.0]]", "waypoints: [[8.0, 2.0], [3.0, .inf]]")}),
    Case("input-goal-outside-map", ("s.yaml", *RUN), 2,
         stderr=r"s\.yaml:10:\d+: robots\[0\]\.controller\.waypoints\[0\]: goal \(80, 2\) .*not inside the map",
         files={"s.yaml": tiny("waypoints: [[8.0, 2.0]]", "waypoints: [[80.0, 2.0]]")}),
    Case("input-goal-in-obstacle", ("s.yaml", *RUN), 2,
         stderr=r"waypoints\[0\]: goal \(5, 2\) .*overlaps obstacle 'box'",
         files={"s.yaml": tiny("  size: [10.0, 4.0]\n", "  size: [10.0, 4.0]\n  obstacles:\n"
                               "    - {name: box, rect: [4.5, 1.5, 1.0, 1.0]}\n")
                .replace("waypoints: [[8.0, 2.0]]", "waypoints: [[5.0, 2.0]]")}),
    Case("input-warehouse-home-in-obstacle", ("s.yaml", *RUN), 2,
         stderr=r"robots\[0\]\.controller\.home: goal \(5, 2\) .*overlaps obstacle 'box'",
         files={"s.yaml": tiny("  size: [10.0, 4.0]\n", "  size: [10.0, 4.0]\n  obstacles:\n"
                               "    - {name: box, rect: [4.5, 1.5, 1.0, 1.0]}\n")
                .replace("{type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
                         "{type: warehouse, period: 0.05, home: [5.0, 2.0]}")}),
    # 10b: the report tool exits as the run did
    Case("input-report-tool-exits-1-on-breach", ("s.yaml", *RUN), 1, files={"s.yaml": BREACHED},
         stdout=r"Expectations FAILED", one_line=False, check=_report_exits_1),
]
