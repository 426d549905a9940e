"""Class 10a: the sweep cache is keyed on the code that runs, not only on the scenario.

Each case runs one small sweep (one seed, a 1 s virtual run, one worker); the checks run
the same sweep again, before and after editing the plugin, as a user would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from hostile import ROOT, Case

SCENARIO = """\
name: edited
world: {size: [8.0, 6.0]}
run: {duration: 1.0}
robots:
  - name: r1
    start: [7.0, 1.0, 0.0]
    max_accel: 5.0
    controller: {type: 'sweep_plugin:Const', period: 0.1}
"""
PLUGIN = """\
from controllers.base import Controller


class Const(Controller):
    def compute(self, inputs):
        return {command}
"""
DRIVES = PLUGIN.format(command="1.0, 0.0  # into the east wall: a collision")
PARKED = PLUGIN.format(command="0.0, 0.0  # parked: none")
ENV = {"PYTHONPATH": f"{ROOT}{os.pathsep}."}  # the plugin sits in the case's folder
ARGV = ("sweep", "s.yaml", "--seeds", "0", "--workers", "1", "--out", "{tmp}/sweeps")


def sweep_again(tmp: Path) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("{tmp}", str(tmp)) for a in ARGV]
    res = subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], cwd=tmp, capture_output=True, text=True,
                         env={**os.environ, **ENV}, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return res


def skipped(text: str) -> int:
    """The last 'N skipped (done before)' of the progress line."""
    return int(re.findall(r"(\d+) skipped \(done before\)", text)[-1])


def collisions(tmp: Path) -> str:
    (csv,) = (tmp / "sweeps").glob("*/results.csv")
    header, row = csv.read_text().splitlines()[:2]
    return dict(zip(header.split(","), row.split(","), strict=True))["collisions"]


def unchanged_is_skipped(tmp: Path, first: Any) -> None:
    assert skipped(first.stderr) == 0 and collisions(tmp) != "0"
    assert skipped(sweep_again(tmp).stderr) == 1  # same scenario, same code: done before


def edited_plugin_reruns(tmp: Path, first: Any) -> None:
    assert collisions(tmp) != "0"
    (tmp / "sweep_plugin.py").write_text(PARKED)
    again = sweep_again(tmp)
    assert skipped(again.stderr) == 0, again.stderr  # the controller changed: run again
    assert collisions(tmp) == "0"  # with the new controller's numbers
    assert skipped(sweep_again(tmp).stderr) == 1  # and that result is reused once made


def helper_edit_reruns(tmp: Path, first: Any) -> None:
    # The plugin's own helper module (same package) changed: that is code the run runs too.
    (tmp / "plugpkg" / "helper.py").write_text("COMMAND = (0.0, 0.0)  # parked now\n")
    again = sweep_again(tmp)
    assert skipped(again.stderr) == 0 and collisions(tmp) == "0", again.stderr


PKG_SCENARIO = SCENARIO.replace("'sweep_plugin:Const'", "'plugpkg.ctrl:Const'")
PKG_CTRL = """\
from controllers.base import Controller
from plugpkg.helper import COMMAND


class Const(Controller):
    def compute(self, inputs):
        return COMMAND
"""

CASES: list[Case] = [
    Case("sweep-unchanged-code-is-skipped", ARGV, 0, files={"s.yaml": SCENARIO, "sweep_plugin.py": DRIVES},
         env=ENV, one_line=False, check=unchanged_is_skipped, timeout=120),
    Case("sweep-edited-plugin-reruns", ARGV, 0, files={"s.yaml": SCENARIO, "sweep_plugin.py": DRIVES},
         env=ENV, one_line=False, check=edited_plugin_reruns, timeout=120),
    Case("sweep-edited-plugin-helper-reruns", ARGV, 0,
         files={"s.yaml": PKG_SCENARIO, "plugpkg/__init__.py": "", "plugpkg/ctrl.py": PKG_CTRL,
                "plugpkg/helper.py": "COMMAND = (1.0, 0.0)\n"},
         env=ENV, one_line=False, check=helper_edit_reruns, timeout=120),
    Case("sweep-missing-plugin-module", ARGV, 2, files={"s.yaml": SCENARIO}, env=ENV,
         stderr=r"s\.yaml:\d+.*sweep_plugin"),
    Case("sweep-self-referencing-yaml", ARGV, 2, files={"s.yaml": "&a [*a]\n"}, env=ENV, stderr=r"s\.yaml"),
]
