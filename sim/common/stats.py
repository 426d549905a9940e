"""Fixed-size streaming statistics, so a ten-minute run uses the memory of a ten-second one."""

from __future__ import annotations

import math
from array import array

import numpy as np

# Log-spaced bins: 1 µs .. 1000 s with 2 % relative width. Quantiles are read to
# within one bin (the exact max and min are kept beside the bins).
_LO = 1e-6
_RATIO = 1.02
_NBINS = math.ceil(math.log(1e9) / math.log(_RATIO)) + 2
_LOG_RATIO = math.log(_RATIO)
_LAST = _NBINS - 1
_log = math.log


class Histogram:
    """Streaming distribution of non-negative durations (s): count, mean, quantiles, max."""

    __slots__ = ("_counts", "_zeros", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        # Bin counts in an ``array`` (fixed 8 bytes a bin): ``+= 1`` on it costs less than half
        # of that on a numpy array, and ``_bins`` views it as one without a copy for the reads.
        self._counts = array("q", bytes(8 * _NBINS))
        self._zeros = 0

    @property
    def _bins(self) -> np.ndarray:
        """The bin counts as an int64 array sharing ``_counts``' memory."""
        return np.frombuffer(self._counts, dtype=np.int64)

    def add(self, value: float) -> None:
        """Called per reading and per cycle: plain arithmetic, no numpy."""
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value < _LO:
            self._zeros += 1
        else:
            i = int(_log(value / _LO) / _LOG_RATIO) + 1
            self._counts[i if i < _NBINS else _LAST] += 1

    def merge(self, other: Histogram) -> None:
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        bins = self._bins
        bins += other._bins
        self._zeros += other._zeros

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """Value below which a fraction ``q`` of samples fall (bin upper edge, clamped to max)."""
        if not self.count:
            return math.nan
        rank = q * self.count
        if rank <= self._zeros:
            return max(self.min, 0.0)
        cum = self._zeros + np.cumsum(self._bins)
        i = int(np.searchsorted(cum, rank))
        upper = _LO * _RATIO ** i
        return float(min(max(upper, self.min), self.max))

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, p50, p90, p99, max — JSON-ready (None where there is no data)."""
        if not self.count:
            return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p99": self.quantile(0.99),
            "max": self.max,
        }

    def nonzero_bins(self) -> list[tuple[float, int]]:
        """(bin upper edge s, count) for non-empty bins — for plots of a finished run."""
        out = [(0.0, self._zeros)] if self._zeros else []
        for i in np.flatnonzero(self._bins).tolist():
            out.append((_LO * _RATIO ** i, self._counts[i]))
        return out


class RateMeter:
    """Counts events and derives the achieved rate over the span of simulated time seen."""

    __slots__ = ("count", "first", "last")

    def __init__(self) -> None:
        self.count = 0
        self.first = math.nan
        self.last = math.nan

    def tick(self, t: float) -> None:
        if not self.count:
            self.first = t
        self.count += 1
        self.last = t

    def rate(self) -> float:
        """Events per simulated second between the first and last event (n-1 intervals)."""
        if self.count < 2 or self.last <= self.first:
            return math.nan
        return (self.count - 1) / (self.last - self.first)
