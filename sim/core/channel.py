"""Bounded queues between sensor producers and controllers, with their own statistics."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from sim.core.clock import Clock

T = TypeVar("T")


class Overflow(StrEnum):
    """What ``put`` does when the queue is full."""

    DROP_OLDEST = "drop_oldest"  # keep the newest data: the usual choice for sensors
    DROP_NEWEST = "drop_newest"  # keep what is queued, lose the new reading
    BLOCK = "block"  # the producer waits for room (up to a timeout, then drops)


_DROP_OLDEST, _BLOCK = Overflow.DROP_OLDEST, Overflow.BLOCK  # module names: an enum member lookup is slow


@dataclass
class ChannelStats:
    """Counters a channel keeps about itself (like trio's channel statistics)."""

    put: int = 0
    delivered: int = 0  # handed to the consumer
    dropped: int = 0  # lost to the overflow policy (including block time-outs)
    superseded: int = 0  # taken off the queue unused because a newer reading was there
    peak_depth: int = 0
    depth: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Channel(Generic[T]):
    """A bounded FIFO of readings with an overflow policy and statistics.

    Readers usually want the newest reading (``take_newest``); the older ones it
    removes are counted as superseded, not dropped, so a drop always means the
    capacity or policy lost data.
    """

    clock: Clock
    capacity: int = 8
    policy: Overflow = Overflow.DROP_OLDEST
    stats: ChannelStats = field(default_factory=ChannelStats)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.policy = Overflow(self.policy)
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._signal = self.clock.signal()  # notified on put (data arrived)
        self._room = self.clock.signal()  # notified on take (room for a blocked producer)

    def put(self, item: T, block_until: float | None = None) -> bool:
        """Queue ``item``; False if it (or, for drop_oldest, an older item) was dropped.

        With the ``block`` policy the caller waits for room until simulated time
        ``block_until`` (default: no wait), then drops ``item``.
        """
        stats = self.stats
        with self._lock:  # one acquisition on the common path; put is counted inside it
            stats.put += 1
            items = self._items
            if len(items) < self.capacity:
                ok = True
            elif self.policy is _DROP_OLDEST:
                items.popleft()
                stats.dropped += 1
                ok = False
            elif self.policy is _BLOCK and block_until is not None:
                seen = self._room.version()  # full: wait for a take (below, outside the lock)
                ok = None
            else:
                stats.dropped += 1
                return False
            if ok is not None:
                self._append(item)
        if ok is None:
            if not self._put_when_room(item, block_until, seen):  # type: ignore[arg-type]  # ok is None: block_until set
                return False
            ok = True
        self._signal.notify()
        return ok

    def _put_when_room(self, item: T, block_until: float, seen: int) -> bool:
        """The block policy on a full queue: wait for a take, then queue; False (dropped) on time-out."""
        while True:
            if not self._room.wait_until(seen, block_until):
                with self._lock:
                    if len(self._items) >= self.capacity:
                        self.stats.dropped += 1
                        return False
                    self._append(item)
                    return True
            with self._lock:
                if len(self._items) < self.capacity:
                    self._append(item)
                    return True
                seen = self._room.version()

    def _append(self, item: T) -> None:
        self._items.append(item)
        depth = len(self._items)
        self.stats.depth = depth
        if depth > self.stats.peak_depth:
            self.stats.peak_depth = depth

    def take_newest(self) -> T | None:
        """Remove everything queued and return the newest item (None if empty)."""
        with self._lock:
            if not self._items:
                return None
            newest = self._items.pop()
            self.stats.superseded += len(self._items)
            self._items.clear()
            self.stats.delivered += 1
            self.stats.depth = 0
        self._room.notify()
        return newest

    def take_all(self) -> list[T]:
        """Remove and return everything queued, oldest first (all count as delivered)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self.stats.delivered += len(items)
            self.stats.depth = 0
        if items:
            self._room.notify()
        return items

    def version(self) -> int:
        """Changes on every successful put; pass it to ``wait_for_put``."""
        return self._signal.version()

    def wait_for_put(self, seen_version: int, deadline_at: float) -> bool:
        """Block until something is put after ``seen_version`` or until ``deadline_at``."""
        return self._signal.wait_until(seen_version, deadline_at)

    def __len__(self) -> int:
        return len(self._items)
