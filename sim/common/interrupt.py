"""SIGINT and SIGTERM, from the first moment of ``main()`` to its last: one handler, two modes.

* Nothing on disk yet (loading the scenario, imports): the signal raises
  ``KeyboardInterrupt`` in the main thread; the CLI says so in one line and exits 130.
* From the moment the run folder exists (``deferred``): the signal never unwinds
  code that is writing files. It calls the run's ``finish`` (the run stops, its
  report is written, every file completed); once the run has ended it changes
  nothing, so the run's own exit status stands. Inside ``interruptible`` (pure
  computation such as the warm-up, which leaves nothing half-done) it also raises.

Child processes must outlive a signal sent to the whole process group (a terminal's
Ctrl-C, ``kill -TERM -PGID``) so they can finish what the parent gives them: they are
started inside ``blocked`` (a child inherits the blocked mask across fork and exec)
and call ``child_ignores`` first thing. They exit when the parent closes their input.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading

TYPE_CHECKING = False  # not ``typing``'s: importing it costs milliseconds a signal may arrive in
if TYPE_CHECKING:  # run.py imports this first thing: only the standard library's cheapest modules
    from collections.abc import Callable, Iterator
    from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self.count = 0
        self.action: Callable[[str], None] | None = None  # set while deferred
        self.interruptible = 0
        self.raised = False
        self.installed = False
        self.settled = False  # main() has returned: a signal is only noted


_state = _State()


def end_reason() -> str:
    """The run's end reason: ``terminated`` after SIGTERM, else ``interrupted`` (SIGINT, a library's Ctrl-C)."""
    return "terminated" if _state.signum == signal.SIGTERM else "interrupted"


def received() -> int | None:
    """The first signal received since ``install`` (None if none)."""
    return _state.signum


def count() -> int:
    """How many SIGINT/SIGTERM arrived since ``install`` (to tell a real one from code raising KeyboardInterrupt)."""
    return _state.count


def _handle(signum: int, _frame: Any) -> None:
    if _state.signum is None:
        _state.signum = signum
    _state.count += 1
    if _state.settled:
        return
    action = _state.action
    if action is not None and not _state.interruptible:
        # On a thread of its own: this handler runs between two bytecodes of the main thread,
        # which may hold the very lock ``action`` needs (an Event's, say). A bare thread takes
        # none of ``threading``'s locks to start.
        _thread.start_new_thread(action, (end_reason(),))
        return
    if not _state.raised:  # raise once: a second Ctrl-C must not unwind the clean-up of the first
        _state.raised = True
        raise KeyboardInterrupt  # the signal is in ``received()``; SIGTERM ends the same way


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM from now on (main thread only); returns a function restoring the old handlers."""
    global _state
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    if _state.installed:  # run.py installed it before importing the CLI: keep what it saw
        return lambda: None
    _state = _State()
    _state.installed = True
    previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.installed = False

    return restore


def stopped_early() -> int:
    """Say in one line that a signal ended us before the run folder existed; the exit status (130)."""
    name = signal.Signals(_state.signum).name if _state.signum is not None else "SIGINT"
    print(f"interrupted ({name}) before the run started: nothing was written", file=sys.stderr)
    return 130


def settle() -> None:
    """The work is done and the process is about to exit: from now on a signal is only noted."""
    _state.settled = True


@contextlib.contextmanager
def deferred(action: Callable[[str], None]) -> Iterator[None]:
    """Files are being made: a signal calls ``action(reason)`` (at once if one came before) and never raises."""
    old, old_raised = _state.action, _state.raised
    _state.action = action
    _state.raised = False
    try:
        if _state.signum is not None:
            action(end_reason())
        yield
    finally:
        _state.action, _state.raised = old, old_raised


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Pure computation inside ``deferred`` (warm-up): a signal raises ``KeyboardInterrupt`` here.

    The catcher ends the run with ``end_reason()``.

    Raises at once if a signal already came. Without an installed handler (a library
    caller) this only watches nothing: the default KeyboardInterrupt applies.
    """
    if _state.installed and _state.signum is not None and _state.action is not None:
        raise KeyboardInterrupt
    _state.interruptible += 1
    try:
        yield
    finally:
        _state.interruptible -= 1
        _state.raised = False


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back in this thread while starting a child (it inherits the blocked mask)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def child_ignores() -> None:
    """In a child started inside ``blocked``: ignore SIGINT/SIGTERM, then unblock (pending ones are dropped).

    The child ends when its parent closes its input (or dies: its pipes then close).
    """
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
