"""``cycles.csv``: one row per controller cycle, streamed to disk while the run goes.

Controllers only append a tuple to an unbounded-but-drained ``SimpleQueue`` (no
I/O on their path); a writer thread flushes rows in batches.
"""

from __future__ import annotations

import csv
import queue
import threading
from pathlib import Path

from sim.control import Cycle
from sim.listeners import RunListener

COLUMNS = [
    "robot", "k", "release_time", "start_time", "inputs_time", "finish_time",
    "release_jitter", "response_time", "deadline", "cpu_time", "miss", "overrun",
    "safety_stop", "cause", "input_ages",
]


def _row(c: Cycle) -> list[object]:
    ages = ";".join(f"{n}={a:.6f}" for n, a in c.ages)
    return [c.robot, c.k, f"{c.release_time:.6f}", f"{c.start_time:.6f}", f"{c.inputs_time:.6f}",
            f"{c.finish_time:.6f}", f"{c.release_jitter:.6f}", f"{c.response_time:.6f}",
            f"{c.deadline:.6f}", f"{c.cpu_time:.6f}", int(c.miss), int(c.overrun),
            int(c.safety_stop), c.cause.value if c.cause else "", ages]


class CycleLog(RunListener):
    """Streams cycles to a CSV file from a writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._queue: queue.SimpleQueue[Cycle | None] = queue.SimpleQueue()
        self._file = open(path, "w", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._thread = threading.Thread(target=self._drain, name="cycle-log", daemon=True)
        self._thread.start()

    def on_cycle(self, cycle: Cycle) -> None:
        self._queue.put(cycle)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            done = None in batch
            rows = [_row(c) for c in batch if c is not None]
            self._writer.writerows(rows)
            self.rows += len(rows)
            if done:
                self._file.flush()
                return

    def close(self, run: object = None) -> None:
        """Write what is queued and close the file."""
        self._queue.put(None)
        self._thread.join(5.0)
        self._file.close()
