"""Class 5 for sweeps: a Ctrl-C to the whole group mid-sweep ends it with 130, keeps every run that
completed (whole), keeps none that was cut short, and leaves no worker process behind.

The sweep's worker processes ignore the group's signal: the parent tells them to stop, so a
run cut short is never cached as done, and the next sweep runs it again.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hostile import ROOT, TINY, Case, Send
from hostile.outputs import assert_no_child_left

# Two settings: 1 s runs (done in moments, kept) and 86,400 s runs (still running at the signal, cut).
ARGV = ("sweep", "s.yaml", "--seeds", "0-1", "--workers", "2", "--set", "run.duration=1,86400",
        "--out", "{tmp}/sweeps")
SHORT = ("sweep", "s.yaml", "--seeds", "0-1", "--workers", "2", "--set", "run.duration=1",
         "--out", "{tmp}/sweeps")


def _rows(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(tmp.glob("sweeps/*/runs/*.json"))]


def _kept_only_whole_runs(tmp: Path, r: Any) -> None:
    assert_no_child_left(tmp)
    rows = _rows(tmp)
    assert all(not row.get("interrupted") and row["error"] == "" for row in rows), rows
    assert sorted(row["run.duration"] for row in rows) == [1, 1], rows  # the two short runs, whole
    assert re.search(r"sweep (interrupted|terminated): 2 of 4 runs done and kept", r.stderr), r.stderr
    assert not list(tmp.glob("sweeps/*/runs/.*")), "a temp file was left"
    again = subprocess.run([sys.executable, str(ROOT / "run.py"), *(a.replace("{tmp}", str(tmp)) for a in SHORT)],
                           cwd=tmp, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "2 skipped (done before)" in again.stderr, again.stderr


def _wait_for_short_runs(sig: int) -> tuple[Send, ...]:
    # the progress bar (stderr) says when the two short runs are done; the long ones take hours
    return (Send(r"2/4 done", sig, True, stream="stderr"),)


CASES: list[Case] = [
    Case("sweep-signals-int-group-keeps-whole-runs", ARGV, 130, files={"s.yaml": TINY},
         sends=_wait_for_short_runs(signal.SIGINT), check=_kept_only_whole_runs, one_line=False, timeout=120,
         slow=True),
    Case("sweep-signals-term-group-keeps-whole-runs", ARGV, 130, files={"s.yaml": TINY},
         sends=_wait_for_short_runs(signal.SIGTERM), check=_kept_only_whole_runs, one_line=False, timeout=120,
         slow=True),
]
