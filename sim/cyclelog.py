"""``cycles.csv``: one row per controller cycle, streamed to disk while the run goes.

Controllers only append to a deque (no I/O, no thread wake-up on their path); a
background writer flushes rows in batches (sim/batching.py).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from sim.batching import BackgroundDrain
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
    """Streams cycles to a CSV file from a background writer (nothing on the cycle's path)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        # Streamed under a temporary name and renamed at close: never a half file under the real name.
        self._partial = path.with_name(f".{path.name}.partial")
        self._file = open(self._partial, "w", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._drain = BackgroundDrain("cycle-log", self._write)

    def on_cycle(self, cycle: Cycle) -> None:
        self._drain.push(cycle)

    def _write(self, batch: list[Cycle]) -> None:
        self._writer.writerows(_row(c) for c in batch)
        self.rows += len(batch)

    def close(self, run: object = None) -> None:
        """Write what is queued and close the file."""
        try:
            self._drain.close()
        finally:
            self._file.close()
            os.replace(self._partial, self.path)
