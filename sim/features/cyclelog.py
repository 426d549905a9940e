"""``cycles.csv``: one row per controller cycle, streamed to disk while the run goes.

Controllers only append to a deque (no I/O, no thread wake-up on their path); a
background writer flushes rows in batches (sim/common/batching.py).

Row order, virtual clock: by finish time, then robot (scenario order), then cycle — defined, so
the file is the same wherever the robots ran (``run.hosts``: one process, or one per robot, whose
cycles reach the world a physics step at a time). Cycles arrive in finish order; those finishing
at one instant are held until a later one comes and written sorted. Real clock: as they come.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from sim.common.batching import BackgroundDrain
from sim.common.files import AtomicFile
from sim.core.control import Cycle
from sim.core.listeners import RunListener
from sim.errors import OutputError

if TYPE_CHECKING:
    from sim.core.handle import RunHandle

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
        # Streamed under a temporary name and renamed at close only if every row was written
        # (sim.common.files): never a half file under the real name.
        self._out = AtomicFile(path, newline="")
        self._writer = csv.writer(self._out.file)
        self._drain = BackgroundDrain("cycle-log", self._write)
        try:
            self._writer.writerow(COLUMNS)
        except OSError as exc:
            self._drain.close()
            self._out.discard()
            raise OutputError(path, exc) from exc

    def on_start(self, run: RunHandle) -> None:
        self._drain.report_errors_to(run)
        if run.scenario.run.clock == "virtual":
            self._rank = {c.robot_name: i for i, c in enumerate(run.controllers)}

    _rank: dict[str, int] | None = None  # robot -> scenario order (virtual clock: rows in a defined order)
    _tie: list[Cycle] | None = None  # the cycles that finished at the latest instant seen (virtual clock)

    def on_cycle(self, cycle: Cycle) -> None:
        if self._rank is None:
            self._drain.push(cycle)
            return
        tie = self._tie
        if tie is not None and cycle.finish_time != tie[0].finish_time:
            self._flush_tie()
            tie = None
        if tie is None:
            self._tie = [cycle]
        else:
            tie.append(cycle)

    def _flush_tie(self) -> None:
        tie, self._tie = self._tie, None
        if tie:
            rank = self._rank or {}
            if len(tie) > 1:
                tie.sort(key=lambda c: (rank.get(c.robot, 0), c.k))
            for c in tie:
                self._drain.push(c)

    def _write(self, batch: list[Cycle]) -> None:
        try:
            self._writer.writerows(_row(c) for c in batch)
        except OSError as exc:
            self._out.discard()
            raise OutputError(self.path, exc) from exc
        self.rows += len(batch)

    def close(self, run: RunHandle | None = None) -> None:
        """Write what is queued; put the file in place only if all of it was written, else remove it."""
        try:
            self._flush_tie()
            self._drain.close()
        except BaseException as exc:
            self._out.discard()
            if isinstance(exc, OutputError):
                raise
            raise OutputError(self.path, exc) from exc
        self._out.commit()
