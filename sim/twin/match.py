"""Matching a real run's cycles with its virtual twin's: each real deadline miss is the design's or the host's.

The twin replays, cycle by cycle, the compute each controller measured in the real run, in virtual time
(``execution: {model: replay}``): same sensors, same latencies, same code costs, but no host. So a real
miss whose cycle also missed in the twin is the **design**'s (the code's cost, the sensor timing, the
deadline); one whose cycle met its deadline in the twin is the **host**'s (a late release, interference,
the GIL, oversubscription). Cycles are matched by (robot, k); a real miss whose cycle the twin never ran
(it skipped that release after an overrun of its own) counts as the design's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import UsageError

HOST_WORDS = {
    "late_release": "the controller threads woke late for their releases",
    "interference": "the threads were kept from the CPU (or the GIL) while computing",
    "input_wait": "the controllers waited longer for fresh sensor data",
    "long_compute": "the compute took longer than the same code's cost replayed",
}


@dataclass
class RobotTwin:
    """One robot's misses, real and twin, and how the real ones split."""

    real: int = 0
    virtual: int = 0
    design: int = 0
    host: int = 0
    cycles: int = 0
    design_causes: dict[str, int] = field(default_factory=dict)  # the real run's cause of each design miss
    host_causes: dict[str, int] = field(default_factory=dict)


def read_cycles(path: Path) -> dict[tuple[str, int], tuple[bool, str]]:
    """(robot, k) -> (missed?, the cause cycles.csv gives) for every row of a ``cycles.csv``."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the cycles ({exc.strerror or exc})") from None
    try:
        return {(r["robot"], int(r["k"])): (r["miss"] == "1", r["cause"]) for r in rows}
    except (KeyError, ValueError):
        raise UsageError(f"{path}: not a cycles.csv (columns robot, k, miss, cause)") from None


def classify(real: dict[tuple[str, int], tuple[bool, str]],
             twin: dict[tuple[str, int], tuple[bool, str]]) -> dict[str, RobotTwin]:
    """Per robot (in the real run's order): its misses and the split of the real ones."""
    out: dict[str, RobotTwin] = {}
    for (robot, k), (missed, cause) in real.items():
        r = out.setdefault(robot, RobotTwin())
        r.cycles += 1
        if not missed:
            continue
        r.real += 1
        twin_missed = twin.get((robot, k), (True, ""))[0]  # not run in the twin: it overran there too
        causes = r.design_causes if twin_missed else r.host_causes
        causes[cause or "unknown"] = causes.get(cause or "unknown", 0) + 1
        if twin_missed:
            r.design += 1
        else:
            r.host += 1
    for (robot, _), (missed, _) in twin.items():
        if missed and robot in out:
            out[robot].virtual += 1
    return out


def totals(robots: dict[str, RobotTwin]) -> dict[str, int]:
    return {k: sum(getattr(r, k) for r in robots.values()) for k in ("real", "virtual", "design", "host")}


def summary(robots: dict[str, RobotTwin]) -> str:
    """The verdict in plain words, first thing a user reads."""
    t = totals(robots)
    if not t["real"]:
        return (f"No deadline misses in the real run (the twin missed {t['virtual']}): nothing to tell apart.")
    causes: dict[str, int] = {}
    for r in robots.values():
        for c, n in r.host_causes.items():
            causes[c] = causes.get(c, 0) + n
    share = 100.0 * t["host"] / t["real"]
    if t["host"]:
        top = max(causes, key=lambda c: causes[c])
        why = HOST_WORDS.get(top, f"the real run's cause was {top}")
        host = (f"{share:.0f} % of the real run's {t['real']} misses are the host's ({t['host']}): {why}, "
                f"and the same cycles met their deadlines when their compute was replayed in virtual time.")
    else:
        host = f"None of the real run's {t['real']} misses is the host's."
    design = (f" {t['design']} ({100.0 - share:.0f} %) are the design's: they missed in the twin too "
              "(the code's cost, the sensor timing, the deadline)." if t["design"] else "")
    return host + design


def as_json(robots: dict[str, RobotTwin], extra: dict[str, Any]) -> dict[str, Any]:
    """``twin.json``: ``{"misses": {"real", "virtual", "design", "host"}, "robots": {...}}`` and ``extra``."""
    return {"misses": totals(robots),
            "robots": {name: {"cycles": r.cycles, "real": r.real, "virtual": r.virtual, "design": r.design,
                              "host": r.host, "design_causes": r.design_causes, "host_causes": r.host_causes}
                       for name, r in robots.items()},
            **extra}
