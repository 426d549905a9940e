"""Off-path writers: simulation threads append, a background thread drains in batches.

Appending to a ``deque`` wakes nobody. A queue whose consumer blocks in ``get()``
would wake the writer on every item, and that thread then competes for the GIL
inside the very cycle being measured (seen: ~100 µs per controller cycle).
So the writer wakes on a fixed real-time interval instead, and memory stays
bounded by what arrives in one interval.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BackgroundDrain(Generic[T]):
    """``push`` items from any thread; ``handle`` gets them in order, in batches, on one thread."""

    def __init__(self, name: str, handle: Callable[[list[T]], None], interval: float = 0.2) -> None:
        self.name = name
        # Told at once when ``handle`` raises (the run ends then, not at close): see ``report_errors_to``.
        self.on_error: Callable[[BaseException], None] | None = None
        self._items: deque[T] = deque()
        self._handle = handle
        self._interval = interval
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def push(self, item: T) -> None:
        self._items.append(item)

    def _drain_once(self) -> None:
        items = self._items
        batch = [items.popleft() for _ in range(len(items))]
        if batch:
            self._handle(batch)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                self._drain_once()
            self._drain_once()
        except BaseException as exc:
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)

    def report_errors_to(self, run: Any) -> None:
        """A writer failing ends the run at once, as a failure of the thread named like this drain."""
        self.on_error = lambda exc: run.supervisor.report(self.name, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Drain everything pushed so far, stop the thread; re-raise a writer error here."""
        self._stop.set()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
