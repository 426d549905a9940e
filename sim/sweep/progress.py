"""The sweep's progress on stderr: runs done of all, failed, skipped (done before, kept from an earlier sweep),
time left.

On a terminal one bar redrawn in place (``\\r``) after every run and wiped at the end; into a pipe or
a file (CI logs) one whole line each time another tenth of the runs is done, never a ``\\r``
(``sim.common.progress``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sim.common.progress import ProgressLine, Stream, duration_words

WIDTH = 10  # characters of the bar, one a tenth (the whole line fits 80 columns)


class Progress:
    """``progress(done, total, failed, skipped)`` after each run; ``end_line()`` when the sweep ends.

    ``now``: the real clock the time left is measured on (a test hands a fake one); ``tty``:
    default whether ``stream`` is a terminal; ``columns``: default the terminal's width.
    """

    def __init__(self, stream: Stream, *, now: Callable[[], float] = time.perf_counter,
                 tty: bool | None = None, columns: int | None = None) -> None:
        self.line = ProgressLine(stream, tty=tty, columns=columns)
        self.now = now
        self.t0 = now()
        self.first_done: int | None = None  # runs done before this sweep started (kept from an earlier one)

    def __call__(self, done: int, total: int, failed: int, skipped: int) -> None:
        if self.first_done is None:
            self.first_done = done
        ran = done - self.first_done
        elapsed = self.now() - self.t0
        left = "?" if ran == 0 else duration_words((total - done) * elapsed / ran)
        filled = WIDTH * done // total if total else WIDTH
        text = (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} done, {failed} failed, "
                f"{skipped} skipped (done before), ~{left} left")
        self.line.update(done / total if total else 1.0, text)

    def end_line(self) -> None:
        """The sweep ended (or stopped early): wipe the bar, so what follows starts on a clean line."""
        self.line.clear()
