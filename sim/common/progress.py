"""One progress line on a stream (stderr): redrawn in place on a terminal, a line per tenth into a pipe.

A long headless run and a sweep both say how far they got. On a terminal the line is rewritten in
place (``\\r``) as often as it is updated and wiped when the work ends, so what follows (the report)
starts on a clean line and the terminal keeps no progress clutter. Into a pipe or a file (CI logs,
``| tee``) a ``\\r`` would pile every redraw into one unreadable line, so there it writes one whole line
each time the work crosses another tenth of its total (10 %, 20 %, ...), never more: a log holds at
most ten progress lines however long the work ran.
"""

from __future__ import annotations

import os
import shutil
from typing import Protocol

__all__ = ["ProgressLine", "Stream", "duration_words", "is_terminal"]

TENTHS = 10  # piped: one line each time the work crosses another 1/TENTHS of its total


class Stream(Protocol):
    """What the line is written to: ``sys.stderr``, or a test's ``io.StringIO`` (with ``isatty``)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (``isatty()``); a stream without ``isatty`` is not."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


class ProgressLine:
    """The line itself; the caller says how far the work is (``fraction`` of 1) and what to show."""

    def __init__(self, stream: Stream, *, tty: bool | None = None, columns: int | None = None) -> None:
        self.stream = stream
        self.tty = is_terminal(stream) if tty is None else tty
        self.columns = columns  # terminal width; None: asked of the terminal at each redraw (it may be resized)
        self.shown = 0  # terminal: characters of the line now on screen (0: none)
        self.tenth = 0  # piped: the last tenth a line was written for (0: none yet)

    def update(self, fraction: float, text: str) -> bool:
        """Show ``text`` for the work ``fraction`` done; whether anything was written."""
        if self.tty:
            text = text[: max(self._columns() - 1, 1)]  # one row: a wrapped line could not be redrawn by a \r
            pad = " " * max(self.shown - len(text), 0)  # wipe the rest of a longer previous line
            self.stream.write(f"\r{text}{pad}")
            self.shown = len(text)
        else:
            tenth = int(min(max(fraction, 0.0), 1.0) * TENTHS + 1e-9)
            if tenth <= self.tenth:
                return False
            self.tenth = tenth
            self.stream.write(f"{text}\n")
        self.stream.flush()
        return True

    def _columns(self) -> int:
        if self.columns is not None:
            return self.columns
        try:
            return os.get_terminal_size(self.stream.fileno()).columns  # type: ignore[attr-defined]  # a terminal has one
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size().columns  # $COLUMNS, else 80

    def clear(self) -> None:
        """Terminal: wipe the line and put the cursor back at its start (the work ended); piped: nothing."""
        if self.tty and self.shown:
            self.stream.write(f"\r{' ' * self.shown}\r")
            self.stream.flush()
            self.shown = 0


def duration_words(seconds: float) -> str:
    """``42 s``, ``4 min 05 s``, ``2 h 07 min``: a time left as people read it (rounded to the second)."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
