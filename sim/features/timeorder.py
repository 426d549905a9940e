"""What both MCAP recorders share: simulated time as integer ns, messages held back into time order, versions.

Cycles (and the ROS 2 recorder's /tf) arrive from many threads, each thread's in order; a recorder
holds them in a :class:`TimeOrdered` and writes out everything up to the oldest time every source
has passed, so a channel's messages are in log-time order in the file.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["TimeOrdered", "ns", "package_version"]

T = TypeVar("T")


def ns(t: float) -> int:
    """Simulated seconds -> integer nanoseconds (never negative)."""
    return max(round(t * 1e9), 0)


def package_version(dist: str) -> str:
    """An installed distribution's version for a recording's metadata; ``unknown`` if it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


class TimeOrdered(Generic[T]):
    """Items held by time (ns), given out oldest first; at most ``limit`` held (then the oldest goes regardless,
    so a source that never reports - a robot with no cycles - cannot hold memory without bound)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[int, int, T]] = []
        self._order = itertools.count()  # equal times keep their arrival order

    def push(self, t_ns: int, item: T) -> None:
        heapq.heappush(self._heap, (t_ns, next(self._order), item))

    def release(self, upto_ns: int | None) -> Iterator[tuple[int, T]]:
        """(time, item) of every held item at or before ``upto_ns`` (None: all), oldest first."""
        heap = self._heap
        while heap and (upto_ns is None or heap[0][0] <= upto_ns or len(heap) > self.limit):
            t_ns, _, item = heapq.heappop(heap)
            yield t_ns, item

    def __len__(self) -> int:
        return len(self._heap)
