"""A headless run's progress on stderr: simulated time, real-time factor, misses so far, time left.

``run.py SCENARIO --headless`` (or on a machine without a display) would otherwise say nothing
between its first line and the report, for as long as the run lasts (300 s for the warehouse).
``watch`` is that run's presenter: it waits for the run's end and keeps one line up to date
(``sim.common.progress``: in place on a terminal, wiped before the report; a line per tenth of the
duration into a pipe). It goes to stderr, so stdout holds only what it held before (the first
``running ...`` line, the report, ``report folder: DIR`` last) and a script reading stdout reads
the same; ``--quiet`` leaves it out.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sim.common.progress import ProgressLine, Stream, duration_words, is_terminal

if TYPE_CHECKING:
    from sim.runtime.run import Run

__all__ = ["RunProgress", "watch"]

REDRAW_EVERY = 0.5  # s real between two looks at the run on a terminal
PIPED_EVERY = 0.25  # s real between two looks into a pipe (a line is written only at each new tenth)


class RunProgress:
    """The progress line of one run: ``update`` looks at the run and shows it, ``clear`` at the end.

    It reads ``run.clock`` (``now``, ``real_elapsed``), ``run.duration``, ``run.controllers``' stats,
    and ``watch`` also ``run.finished`` and ``run.finish``: a test hands a stand-in with a ManualClock.
    """

    def __init__(self, run: Run, stream: Stream, *, tty: bool | None = None, columns: int | None = None) -> None:
        self.run = run
        self.line = ProgressLine(stream, tty=tty, columns=columns)

    def fraction(self) -> float:
        """Simulated time done, as a fraction of the run's duration (0..1)."""
        return min(max(self.run.clock.now(), 0.0), self.run.duration) / self.run.duration

    def text(self) -> str:
        """``t = 40.0 of 300 s (13 %), x2.00 real time, 3 misses in 6,400 cycles, 2 min 10 s left``: simulated
        time, the real-time factor so far, deadline misses so far, and the time left at that factor."""
        run = self.run
        now = min(max(run.clock.now(), 0.0), run.duration)
        wall = run.clock.real_elapsed()
        cycles = sum(c.stats.cycles for c in run.controllers)
        misses = sum(c.stats.misses for c in run.controllers)
        pct = 100.0 * now / run.duration
        speed = f", x{now / wall:.2f} real time" if wall > 0 else ""
        left = f", {duration_words((run.duration - now) * wall / now)} left" if now > 0 and wall > 0 else ""
        return (f"t = {now:.1f} of {run.duration:g} s ({pct:.0f} %){speed}, "
                f"{misses:,} miss{'es' if misses != 1 else ''} in {cycles:,} cycles{left}")

    def update(self) -> bool:
        """Show where the run is now; whether a line was written (piped: only at a new tenth)."""
        return self.line.update(self.fraction(), self.text())

    def clear(self) -> None:
        self.line.clear()


def watch(run: Run, stream: Stream | None = None, *, every: float | None = None, columns: int | None = None) -> None:
    """Wait for the run's end showing its progress on ``stream`` (default: stderr); wipe it at the end.

    Ctrl-C ends the run as ``Run.wait`` does. ``every``: s real between two looks (default
    ``REDRAW_EVERY`` on a terminal, ``PIPED_EVERY`` into a pipe); the wait is the run's own
    ``finished`` event, so the loop ends the moment the run does. ``columns``: default the terminal's width.
    """
    out: Stream = sys.stderr if stream is None else stream
    progress = RunProgress(run, out, columns=columns)
    poll = every if every is not None else (REDRAW_EVERY if is_terminal(out) else PIPED_EVERY)
    try:
        while not run.finished.wait(poll):
            progress.update()
    except KeyboardInterrupt:
        run.finish("interrupted")
    finally:
        progress.clear()
