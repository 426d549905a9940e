"""A controller's ``outbox`` (notes to the world: progress, events), visible to the world a physics step later.

Why: a robot's software tells the fleet server things (the warehouse controller: "picked", "packed", its
position) through ``outbox``; the order dispatcher reads them. With robot hosts (``run.hosts``) the world
hears from a host once per physics step (the lockstep of virtual time), so a note sent at ``t`` can only be
read from the first step boundary after ``t``. To make every placement read the same notes at the same
instants, one rule holds everywhere, one process or many: a note sent at ``t`` is readable from the first
physics step boundary ``n * step > t`` on (a 10 ms network hop, for the default step). ``put`` stamps
the note with the clock's time; ``get_nowait`` hands out only notes whose boundary has passed.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque

from sim.core.clock import Clock


def boundary(t: float, step: float) -> float:
    """The latest physics step boundary ``n * step`` at or before ``t`` (as the physics task computes them)."""
    n = math.floor(t / step)
    if (n + 1) * step <= t:  # t / step rounded down one too far (0.3 / 0.01 = 29.999...)
        n += 1
    elif n * step > t:
        n -= 1
    return n * step


class StepOutbox:
    """A thread-safe FIFO of notes, each readable once a physics step boundary has passed after it was sent."""

    def __init__(self, clock: Clock, step: float) -> None:
        self.clock, self.step = clock, step
        self._notes: deque[tuple[float, object]] = deque()
        self._lock = threading.Lock()

    def put(self, note: object, block: bool = True, timeout: float | None = None) -> None:
        self.put_at(self.clock.now(), note)

    put_nowait = put

    def put_at(self, sent: float, note: object) -> None:
        """A note sent at simulated time ``sent`` (by a robot host: its clock's time)."""
        with self._lock:
            self._notes.append((sent, note))

    def get_nowait(self) -> object:
        """The oldest note readable now; ``queue.Empty`` if there is none yet."""
        horizon = boundary(self.clock.now(), self.step)
        with self._lock:
            if self._notes and self._notes[0][0] < horizon:
                return self._notes.popleft()[1]
        raise queue.Empty

    def qsize(self) -> int:
        return len(self._notes)
