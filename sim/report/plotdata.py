"""What report.png draws, computed without matplotlib: colours, CCDF curves, miss bins, shared lines.

Everything here comes from the bounded statistics a run keeps (report.json's
histograms and summaries, the ``misses`` section's fixed time bins) or from one
streamed pass over cycles.csv that keeps only robots x bins counters, so drawing
a ten-hour run costs the memory of a ten-second one. Kept apart from the drawing
so each piece is a plain function the tests check.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.features.misses import CAUSES, MissTimeline
from sim.report import hists

# matplotlib's tab10 without its grey (grey is "the other robots")
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
GREY = "#a0a0a0"
HIGHLIGHT = 6  # in a fleet larger than the palette, this many worst robots get a colour, the rest grey
MAX_TIME_BINS = 50  # bars of the misses-over-time panels


@dataclass(frozen=True)
class RobotColours:
    """One colour per robot for every panel of the figure.

    ``shown`` are the robots with a colour of their own (scenario order in a small
    fleet; worst first in a large one), ``greyed`` the rest, all drawn in ``GREY``.
    """

    colours: dict[str, str]
    shown: list[str]
    greyed: list[str] = field(default_factory=list)

    def of(self, robot: str) -> str:
        """The robot's colour (grey for a robot the map does not know)."""
        return self.colours.get(robot, GREY)


def badness(c: dict[str, Any]) -> tuple[float, float]:
    """How bad a controller did: misses first, then its response-time p99 (for ranking)."""
    p99 = (c.get("response_time") or {}).get("p99")
    return float(c.get("misses") or 0), float(p99) if p99 is not None else -1.0


def robot_colours(controllers: list[dict[str, Any]], highlight: int = HIGHLIGHT) -> RobotColours:
    """A stable robot -> colour map: everyone coloured if the palette suffices, else the worst ``highlight``.

    Small fleets keep scenario order, so a robot has the same colour in every run of
    the scenario; large fleets colour the robots an engineer needs to look at (most
    misses, then highest p99; ties keep scenario order) and grey the rest.
    """
    robots = [c["robot"] for c in controllers]
    if len(robots) <= len(PALETTE):
        return RobotColours({r: PALETTE[i] for i, r in enumerate(robots)}, robots)
    order = sorted(range(len(controllers)), key=lambda i: tuple(-v for v in badness(controllers[i])))
    shown = [robots[i] for i in order[:highlight]]
    colours = {r: PALETTE[i] for i, r in enumerate(shown)}
    greyed = [r for r in robots if r not in colours]
    colours.update({r: GREY for r in greyed})
    return RobotColours(colours, shown, greyed)


def distribution_ccdf(dist: dict[str, Any] | None) -> hists.Ccdf | None:
    """The CCDF of a report distribution: from its ``hist`` when it has one, else None."""
    if not dist or not dist.get("hist"):
        return None
    return hists.ccdf(dist["hist"])


def summary_points(dist: dict[str, Any] | None) -> tuple[list[float], list[float]]:
    """(x s, P[X > x]) read off a distribution's summary, for reports without a ``hist``.

    p50, p90, p99 sit at 0.5, 0.1, 0.01 and the max at 1/count (the CCDF just below
    it); points at 0 (no place on a log axis) and those the count cannot resolve are left out.
    """
    if not dist or not dist.get("count"):
        return [], []
    n = int(dist["count"])
    xs: list[float] = []
    ys: list[float] = []
    for key, y in (("p50", 0.5), ("p90", 0.1), ("p99", 0.01), ("max", 1.0 / n)):
        v = dist.get(key)
        if v is None or not v > 0.0 or y < 1.0 / n:
            continue
        xs.append(float(v))
        ys.append(y)
    return xs, ys


@dataclass(frozen=True)
class SharedLine:
    """One robot's share of a vertical line several robots have at the same value (a deadline, a max_age).

    Robots at one value draw interleaved dashes, each in its own colour, so a line
    that four robots share shows all four colours instead of the last one drawn.
    """

    value: float
    colour: str
    dashes: tuple[float, tuple[float, float]]  # matplotlib linestyle (offset, (on, off)) in points


DASH = 5.0  # points of one colour
GAP = 3.0  # points between repeats


def shared_lines(items: list[tuple[float, str]]) -> list[SharedLine]:
    """Vertical lines for (value, colour) pairs: one per distinct colour at each value, dashes interleaved."""
    groups: dict[float, list[str]] = {}
    for value, colour in items:
        cs = groups.setdefault(round(value, 9), [])
        if colour not in cs:
            cs.append(colour)
    out = []
    for value, colours in sorted(groups.items()):
        k = len(colours)
        period = k * DASH + GAP
        for i, colour in enumerate(colours):
            out.append(SharedLine(value, colour, ((period - i * DASH) % period, (DASH, period - DASH))))
    return out


def label_groups(values: list[float], lo: float, hi: float, gap: float = 0.12) -> list[tuple[float, list[float]]]:
    """Labels for vertical lines on a log axis [lo, hi]: values closer than ``gap`` of its width share one.

    Returns (x to centre the label on, the distinct values it names), left to right;
    the label of a group sits at the geometric middle of its first and last value.
    """
    span = math.log(hi / lo) if lo > 0 and hi > lo else 1.0
    groups: list[list[float]] = []
    for v in sorted({round(v, 9) for v in values if v > 0}):
        if groups and math.log(v / groups[-1][0]) / span < gap:
            groups[-1].append(v)
        else:
            groups.append([v])
    return [(math.sqrt(g[0] * g[-1]), g) for g in groups]


def log_ticks(lo: float, hi: float, width_in: float) -> tuple[float, tuple[float, ...]]:
    """(base, subs) of a ``LogLocator`` for a log axis [lo, hi] ``width_in`` inches wide: labels that do not collide.

    A label of 8 pt needs about a third of an inch; the more inches a decade gets,
    the more labels it carries (1-2-3-5, 1-2-5, 1-3, 1), and a very narrow axis labels
    every other decade (base 100).
    """
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    per_decade = width_in / max(decades, 0.1)
    if per_decade >= 2.2:
        return 10.0, (1.0, 2.0, 3.0, 5.0)
    if per_decade >= 1.1:
        return 10.0, (1.0, 2.0, 5.0)
    if per_decade >= 0.7:
        return 10.0, (1.0, 3.0)
    if per_decade >= 0.35:
        return 10.0, (1.0,)
    return 100.0, (1.0,)


@dataclass(frozen=True)
class TimeBins:
    """Misses per time bin: ``edges`` (s, one more than bins), ``width`` (s) and counts per key."""

    edges: np.ndarray
    width: float
    counts: dict[str, np.ndarray]

    @property
    def total(self) -> int:
        return int(sum(int(c.sum()) for c in self.counts.values()))


def _coarse(bins: int, target: int) -> int:
    """How many fine bins make one drawn bin, so at most ``target`` are drawn."""
    return max(1, math.ceil(bins / target))


def cause_bins(report: dict[str, Any], cycles_csv: Path, target: int = MAX_TIME_BINS) -> TimeBins:
    """Misses per cause per time bin, from report.json's ``misses`` timeline (fixed bins).

    Fine bins are merged ``ceil(bins / target)`` at a time. A report without the
    section (schema 1) has it counted again from cycles.csv, streamed.
    """
    m = report.get("misses")
    if not m or not m.get("bins") or not m.get("bin_width"):
        duration = _duration(report)
        robots = [c["robot"] for c in report.get("controllers", [])]
        t = MissTimeline.from_csv(cycles_csv, robots, duration)
        fine_width, nbins = t.width, t.bins
        fine = {cause: t.counts[:, :, j].sum(axis=0) for j, cause in enumerate(CAUSES)}
    else:
        fine_width, nbins = float(m["bin_width"]), int(m["bins"])
        fine = {}
        for start, by_cause in m.get("timeline") or []:
            b = min(max(round(float(start) / fine_width), 0), nbins - 1)
            for cause, n in by_cause.items():
                fine.setdefault(cause, np.zeros(nbins, dtype=np.int64))[b] += int(n)
    f = _coarse(nbins, target)
    n = math.ceil(nbins / f)
    counts = {}
    for cause, row in fine.items():
        if row.sum():
            counts[cause] = np.pad(row, (0, n * f - nbins)).reshape(n, f).sum(axis=1)
    width = fine_width * f
    return TimeBins(np.arange(n + 1) * width, width, counts)


def robot_bins(cycles_csv: Path, robots: list[str], duration: float, target: int = MAX_TIME_BINS) -> TimeBins:
    """Misses per robot per time bin, streamed from cycles.csv (memory: robots x bins counters)."""
    n = target
    width = duration / n if duration > 0 else 1.0
    counts = {r: np.zeros(n, dtype=np.int64) for r in robots}
    try:
        with open(cycles_csv, newline="") as f:
            rows = csv.reader(f)
            header = next(rows)
            i_robot, i_release, i_miss = header.index("robot"), header.index("release_time"), header.index("miss")
            for row in rows:  # plain rows, not dicts: a long run's file has millions
                if row[i_miss] != "1":
                    continue
                b = min(max(int(float(row[i_release]) / width + 1e-9), 0), n - 1)
                counts.setdefault(row[i_robot], np.zeros(n, dtype=np.int64))[b] += 1
    except (OSError, StopIteration, ValueError, IndexError):
        pass  # no file, an empty one or a cut last row: the misses counted so far
    return TimeBins(np.arange(n + 1) * width, width, {r: c for r, c in counts.items() if c.sum()})


def robot_bands(bins: TimeBins, colours: RobotColours) -> list[tuple[str, np.ndarray]]:
    """The stacked bands of the misses-per-robot panel, bottom first: coloured robots, then one grey band.

    Coloured robots keep the legend's order; all grey robots are summed into one
    band named ``"others"``, so a 48-robot fleet draws seven bands, not 48.
    """
    bands = [(r, bins.counts[r]) for r in colours.shown if r in bins.counts]
    rest = [c for r, c in bins.counts.items() if r not in colours.shown]
    if rest:
        bands.append(("others", np.sum(rest, axis=0)))
    return bands


def _duration(report: dict[str, Any]) -> float:
    sc, run = report.get("scenario", {}), report.get("run", {})
    return float(sc.get("duration") or run.get("sim_seconds") or 1.0)


def seconds_label(width: float) -> str:
    """A bin width for an axis label: '0.4 s', '25 ms'."""
    return f"{width:.3g} s" if width >= 0.1 else f"{width * 1000:.3g} ms"
