"""Histograms as small JSON pairs, so a finished run can be re-plotted and compared without its data.

A ``Histogram`` keeps ~1000 log-spaced bins of 2 % width; exported as-is that is
too much for a report of 200 robots. ``compact`` merges ``FACTOR`` neighbouring
bins (≈10 % width, still far finer than a plot needs) and keeps only non-empty
ones as ``[[upper_edge_s, count], ...]``; an upper edge of 0.0 holds the values
below 1 µs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.common.stats import Histogram

_LO = 1e-6  # must match sim.common.stats: the lowest bin edge (s)
_RATIO = 1.02  # must match sim.common.stats: bin width ratio
FACTOR = 5  # fine bins merged into one exported bin

Pairs = list[list[float]]  # [[upper_edge_s, count], ...], ascending edges


def compact(h: Histogram, factor: int = FACTOR) -> Pairs:
    """``h``'s non-empty bins merged ``factor`` at a time, as ``[[upper_edge_s, count], ...]``."""
    merged: dict[int, int] = {}
    zeros = 0
    for edge, count in h.nonzero_bins():
        if edge <= 0.0:
            zeros += count
            continue
        i = round(math.log(edge / _LO) / math.log(_RATIO))
        group = -(-i // factor)  # ceil: the coarse bin whose upper edge covers fine bin i
        merged[group] = merged.get(group, 0) + count
    out: Pairs = [[0.0, zeros]] if zeros else []
    out += [[float(f"{_LO * _RATIO ** (g * factor):.6g}"), n] for g, n in sorted(merged.items())]
    return out


def dense(pairs: Pairs, factor: int = FACTOR) -> tuple[list[float], list[int]]:
    """Bin edges (s, one more than counts) and counts with empty bins filled in, for plotting.

    The below-1-µs bin (edge 0.0) is folded into the first bin of the grid.
    """
    if not pairs:
        return [], []
    step = factor * math.log(_RATIO)
    groups: dict[int, int] = {}
    for edge, count in pairs:
        g = round(math.log(edge / _LO) / step) if edge > 0 else 0
        groups[g] = groups.get(g, 0) + int(count)
    lo, hi = min(groups), max(groups)
    edges = [_LO * math.exp(g * step) for g in range(lo - 1, hi + 1)]
    return edges, [groups.get(g, 0) for g in range(lo, hi + 1)]


@dataclass(frozen=True)
class Ccdf:
    """P[X > x] at the bin edges of an exported histogram, for a log-log plot.

    ``x`` runs from the lower edge of the first bin above 1 µs to the upper edge of
    the last bin (s); ``y[i]`` is the fraction of all ``n`` values above ``x[i]``, so
    ``y[-1]`` is 0. Values below 1 µs (the ``0.0`` bin: ``below`` of them) have no
    place on a log axis: they are counted in ``n`` but never drawn, so the curve
    starts at ``1 - below / n`` rather than pretending they were 1 µs.
    """

    x: list[float]
    y: list[float]
    n: int
    below: int

    @property
    def below_share(self) -> float:
        """Fraction of the values under 1 µs (0 when there are none)."""
        return self.below / self.n if self.n else 0.0


def ccdf(pairs: Pairs, factor: int = FACTOR) -> Ccdf:
    """The complementary CDF of an exported histogram, exact at its bin edges.

    A bin holds (lower, upper]; drawn as steps after each edge, the curve is within a
    bin the share above its lower edge: an upper bound on the tail, never below it.
    """
    n = sum(int(c) for _, c in pairs)
    below = sum(int(c) for e, c in pairs if e <= 0.0)
    positive = [p for p in pairs if p[0] > 0.0]
    if not n or not positive:
        return Ccdf([], [], n, below)
    edges, counts = dense(positive, factor)
    above, y = n - below, []
    for c in counts:
        y.append(above / n)
        above -= c
    y.append(0.0)
    return Ccdf(edges, y, n, below)
