"""The hostile corpus: inputs, signals and faults that an outside probe threw at the simulator.

Each case is one real ``python run.py ...`` in a fresh folder, judged as a user would judge
it: the exit status, no traceback, a one-line message for bad input, and (``check``) the
files it left behind. Cases live in ``cases_*.py`` modules here, one module per class of
failure (``CASES`` in each); ``tests/test_hostile.py`` runs them all.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# A small, fast scenario the cases start from (one robot, 1 s, virtual clock).
TINY = """\
name: tiny
world:
  size: [10.0, 4.0]
run: {duration: 1.0, seed: 1, clock: virtual}
robots:
  - name: r1
    start: [1.0, 2.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 20}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}
"""


@dataclass(frozen=True)
class Send:
    """Send ``sig`` once ``after`` seconds have passed, or once ``stream`` has matched ``after`` (a regex)."""

    after: float | str
    sig: int = signal.SIGINT
    group: bool = False  # to the whole process group, as a terminal's Ctrl-C does
    stream: str = "stdout"  # or "stderr" (a progress bar), for a regex ``after``


@dataclass(frozen=True)
class Case:
    """One hostile input and what the user must see.

    ``argv`` follows ``run.py``; ``{tmp}`` in it (and in ``files``) is the case's folder and
    ``{root}`` the project (also in ``env`` values). ``files`` are written into the folder first
    (str or bytes).
    ``stderr`` is a regex searched in stderr. ``one_line``: stderr is exactly one line
    (default: when the exit status is 2). ``check(tmp, result)`` asserts on what was left.
    """

    name: str
    argv: tuple[str, ...]
    exit: int
    stderr: str | None = None
    stdout: str | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    one_line: bool | None = None
    check: Callable[[Path, Any], None] | None = None
    sends: tuple[Send, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    slow: bool = False  # a real-time run of seconds: marked slow
