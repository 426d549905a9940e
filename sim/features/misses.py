"""When did deadline misses happen, and why: a bounded miss timeline and its plain summary.

``MissTimeline`` counts misses per robot, cause and time bin while the run goes
(fixed memory: robots × bins × causes), so the report can say *when* misses
clustered, not only how many there were. ``summarise`` turns counts into the
report's ``misses`` section. Without the listener the same counts are read back
from ``cycles.csv`` (slower, but every run folder has it).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.control import Cause, Cycle
from sim.core.feature import Feature

if TYPE_CHECKING:
    from sim.core.handle import RunHandle

CAUSES = [c.value for c in Cause]
BINS = 200  # time bins over the run's duration
CLUSTER_SHARE = 0.8  # the window reported is the shortest one holding this share of misses
SPREAD = 0.5  # a window longer than this fraction of the run is "spread over the run"


class MissTimeline(Feature):
    """Counts misses per (robot, time bin, cause). Each robot's row is written by its own thread only.

    The report's ``misses`` section (without it attached, ``miss_section`` reads cycles.csv instead).
    """

    section = "misses"

    def __init__(self, bins: int = BINS) -> None:
        self.bins = bins
        self.duration = 0.0
        self.width = 1.0
        self.robots: list[str] = []
        self._index: dict[str, int] = {}
        self.counts = np.zeros((0, bins, len(CAUSES)), dtype=np.int64)

    def on_start(self, run: RunHandle) -> None:
        self.setup([c.robot_name for c in run.controllers], run.duration)

    def setup(self, robots: list[str], duration: float) -> None:
        """Size the table (also used when counting from cycles.csv)."""
        self.robots = list(robots)
        self._index = {name: i for i, name in enumerate(self.robots)}
        self.duration = float(duration)
        self.width = self.duration / self.bins if self.duration > 0 else 1.0
        self.counts = np.zeros((len(self.robots), self.bins, len(CAUSES)), dtype=np.int64)

    def on_cycle(self, cycle: Cycle) -> None:
        if cycle.miss:
            self.add(cycle.robot, cycle.release_time, cycle.cause.value if cycle.cause else CAUSES[0])

    def report_section(self, run: RunHandle) -> dict[str, Any]:
        """The ``misses`` section, from the counts taken during the run."""
        return miss_section(run, self)

    def add(self, robot: str, release_time: float, cause: str) -> None:
        i = self._index.get(robot)
        if i is None or cause not in CAUSES:
            return
        b = min(max(int(release_time / self.width + 1e-9), 0), self.bins - 1)  # 0.7 / 0.01 is 69.999...
        self.counts[i, b, CAUSES.index(cause)] += 1

    @classmethod
    def from_csv(cls, path: Path, robots: list[str], duration: float, bins: int = BINS) -> MissTimeline:
        """Counts rebuilt from a run's ``cycles.csv`` (streamed: memory stays fixed)."""
        timeline = cls(bins)
        timeline.setup(robots, duration)
        try:
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("miss") == "1":
                        timeline.add(row["robot"], float(row["release_time"]), row["cause"])
        except OSError:
            pass
        return timeline


def shortest_window(counts: np.ndarray, share: float = CLUSTER_SHARE) -> tuple[int, int]:
    """Bins [lo, hi] (inclusive) of the shortest run of bins holding ``share`` of the total; earliest wins."""
    total = int(counts.sum())
    need = share * total
    best = (0, len(counts) - 1)
    lo, acc = 0, 0
    for hi, c in enumerate(counts):
        acc += int(c)
        while lo < hi and acc - int(counts[lo]) >= need:
            acc -= int(counts[lo])
            lo += 1
        if acc >= need and hi - lo < best[1] - best[0]:
            best = (lo, hi)
    # trim empty bins at the edges of the chosen window
    lo, hi = best
    while lo < hi and counts[lo] == 0:
        lo += 1
    while hi > lo and counts[hi] == 0:
        hi -= 1
    return lo, hi


def _window(counts: np.ndarray, width: float, duration: float) -> dict[str, Any]:
    lo, hi = shortest_window(counts)
    inside = int(counts[lo:hi + 1].sum())
    total = int(counts.sum())
    start, end = lo * width, min((hi + 1) * width, duration)
    return {"start": start, "end": end, "misses": inside, "share": inside / total if total else 0.0,
            "spread": (end - start) > SPREAD * duration}


def summarise(timeline: MissTimeline, cycles_by_robot: dict[str, int]) -> dict[str, Any]:
    """The report's ``misses`` section: per cause count, share, time window and worst robot."""
    counts = timeline.counts  # (robots, bins, causes)
    total = int(counts.sum())
    out: dict[str, Any] = {
        "total": total, "bin_width": timeline.width, "bins": timeline.bins,
        "cluster_share": CLUSTER_SHARE, "window": None, "by_cause": {}, "worst_robot": None, "timeline": [],
    }
    if not total:
        return out
    w, d = timeline.width, timeline.duration
    per_bin = counts.sum(axis=(0, 2))
    out["window"] = _window(per_bin, w, d)
    for j, cause in sorted(enumerate(CAUSES), key=lambda jc: -int(counts[:, :, jc[0]].sum())):
        n = int(counts[:, :, j].sum())
        if not n:
            continue
        per_robot = counts[:, :, j].sum(axis=1)
        r = int(np.argmax(per_robot))
        out["by_cause"][cause] = {
            "count": n, "share": n / total, "window": _window(counts[:, :, j].sum(axis=0), w, d),
            "worst_robot": timeline.robots[r], "worst_robot_count": int(per_robot[r]),
        }
    per_robot = counts.sum(axis=(1, 2))
    r = int(np.argmax(per_robot))
    name = timeline.robots[r]
    cycles = cycles_by_robot.get(name, 0)
    main = int(np.argmax(counts[r].sum(axis=0)))
    out["worst_robot"] = {"robot": name, "misses": int(per_robot[r]),
                          "miss_rate": int(per_robot[r]) / cycles if cycles else 0.0,
                          "main_cause": CAUSES[main]}
    out["timeline"] = [[float(b * w), {CAUSES[j]: int(counts[:, b, j].sum()) for j in range(len(CAUSES))
                                       if counts[:, b, j].sum()}]
                       for b in np.flatnonzero(per_bin)]
    return out


def miss_section(run: RunHandle, timeline: MissTimeline | None = None) -> dict[str, Any]:
    """``summarise`` for a finished run: from ``timeline`` if given, else from its cycles.csv."""
    if timeline is None:
        timeline = MissTimeline.from_csv(run.cycle_log.path, [c.robot_name for c in run.controllers], run.duration)
    return summarise(timeline, {c.robot_name: c.stats.cycles for c in run.controllers})
