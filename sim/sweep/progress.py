"""The sweep's progress line on stderr."""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """A one-line progress bar on stderr: done/total, failed, and time left.

    On a terminal it redraws one line (``\r``); into a pipe or a file (CI logs) it writes one
    whole line per update instead, so a reader sees each as it comes.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.redraw = bool(getattr(stream, "isatty", lambda: False)())
        self.drawn = False  # a redrawn line is on screen, not yet ended
        self.t0 = time.perf_counter()
        self.first_done: int | None = None

    def __call__(self, done: int, total: int, failed: int, skipped: int) -> None:
        if self.first_done is None:
            self.first_done = done
        ran = done - self.first_done
        elapsed = time.perf_counter() - self.t0
        left = "?" if ran == 0 else f"{(total - done) * elapsed / ran:.0f} s"
        width = 30
        filled = int(width * done / total) if total else width
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done, {failed} failed, "
                f"{skipped} skipped (done before), {elapsed:.0f} s elapsed, ~{left} left")
        if self.redraw:
            self.stream.write(f"\r{text} ")
            self.drawn = done != total
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def end_line(self) -> None:
        """End a redrawn line left open (the sweep stopped early), so the next message starts clean."""
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False
