"""Hang detection: every plugin call (``compute()``, ``sample_many()``...) has a wall-time limit.

Each thread that calls plugin code owns a ``Slot`` and writes into it the call it is
in (any new object, e.g. a tuple ``(k,)``) before the call and ``None`` after: one
attribute write each, cheap enough for the hot path. The ``Watchdog`` polls the slots:
a slot holding the *same* call object (identity: the watchdog keeps a reference, so a
later call cannot reuse its id) for longer than the limit is a stuck call, reported once
with the stuck thread's stack (``sys._current_frames``).

The limit is wall time in both clocks: a call's cost is real CPU time whatever the
clock, and under the virtual clock a stuck call stops simulated time itself. The clock
(``now``) and the frame source are injected, so ``check`` is tested without sleeping.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

STACK_FRAMES = 12  # innermost frames kept in a stuck call's stack dump
POLL = 0.1  # s wall between two checks (at most this late in reporting a stuck call)


class Slot:
    """The plugin call one thread is in: ``call`` (None between calls), written by that thread only."""

    __slots__ = ("call", "describe", "ident", "limit", "name")

    def __init__(self, name: str, describe: Callable[[Any], str], limit: float | None = None) -> None:
        self.name = name  # the thread's name (as the Supervisor knows it)
        self.describe = describe  # call object -> "compute() of robot r1 (mod:Class) at cycle 3"
        self.call: Any = None
        self.ident: int | None = None  # the thread's ident, set once it runs
        self.limit = limit  # s wall for this slot; None: the watchdog's limit

    def what(self) -> str | None:
        """The call in progress, described; None between calls."""
        call = self.call
        return None if call is None else self.describe(call)


@dataclass(frozen=True)
class Stuck:
    """A call that ran past its limit (or was still running when the run stopped)."""

    thread: str
    call: str  # described by its slot
    seconds: float  # wall s the call had run when seen (a lower bound: seen at most POLL late)
    limit: float | None
    stack: tuple[str, ...]  # formatted frames (traceback.format_stack), outermost first
    where: tuple[str, ...]  # the innermost frames, one short line each

    def as_dict(self) -> dict[str, Any]:
        return {"thread": self.thread, "call": self.call, "seconds": round(self.seconds, 3),
                "limit": self.limit, "where": list(self.where), "stack": "".join(self.stack)}


def short_frames(frames: list[traceback.FrameSummary], n: int = 4) -> tuple[str, ...]:
    """The ``n`` innermost frames as ``file:line in func: code`` lines."""
    return tuple(f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"[:200] for f in frames[-n:])


class Watchdog:
    """Finds plugin calls that run past ``limit`` wall seconds and hands each to ``on_stuck`` once."""

    def __init__(self, limit: float | None, on_stuck: Callable[[Stuck], None], *,
                 now: Callable[[], float] = time.monotonic,
                 frames: Callable[[], dict[int, FrameType]] = sys._current_frames) -> None:
        self.limit = limit
        self.on_stuck = on_stuck
        self._now = now
        self._frames = frames
        self._slots: list[Slot] = []
        self._seen: dict[int, tuple[Any, float]] = {}  # id(slot) -> (call object, first seen at)
        self._reported: set[int] = set()  # id(slot) whose current call was reported

    def add(self, slot: Slot) -> None:
        """Watch ``slot`` (its ``ident`` set once its thread runs)."""
        self._slots.append(slot)

    def check(self) -> list[Stuck]:
        """One poll: the calls seen running, unchanged, for longer than their limit (each once)."""
        now = self._now()
        over: list[tuple[Slot, Any, float]] = []
        for slot in self._slots:
            key = id(slot)
            call = slot.call
            if call is None:
                self._seen.pop(key, None)
                continue
            seen = self._seen.get(key)
            if seen is None or seen[0] is not call:
                self._seen[key] = (call, now)
                self._reported.discard(key)
                continue
            limit = slot.limit if slot.limit is not None else self.limit
            if limit is not None and now - seen[1] >= limit and key not in self._reported:
                over.append((slot, call, now - seen[1]))
        if not over:
            return []
        frames = self._frames()
        out = []
        for slot, call, seconds in over:
            frame = frames.get(slot.ident) if slot.ident is not None else None
            if frame is None:  # the thread is gone (it raised inside the call): not stuck
                continue
            self._reported.add(id(slot))
            out.append(self._stuck(slot, call, seconds, frame))
        return out

    def running_for(self, seconds: float) -> frozenset[str]:
        """Threads whose current plugin call was seen running for at least ``seconds`` (as of the last check)."""
        now = self._now()
        return frozenset(slot.name for slot in self._slots
                         if (seen := self._seen.get(id(slot))) is not None and seen[0] is slot.call
                         and now - seen[1] >= seconds)

    def in_progress(self, threads: list[str]) -> list[Stuck]:
        """The calls still running in ``threads`` (names), with their stacks: for threads that did not stop."""
        now = self._now()
        frames = self._frames()
        out = []
        for slot in self._slots:
            call = slot.call
            frame = frames.get(slot.ident) if slot.ident is not None else None
            if slot.name in threads and call is not None and frame is not None:
                seen = self._seen.get(id(slot))
                since = seen[1] if seen is not None and seen[0] is call else now
                out.append(self._stuck(slot, call, now - since, frame))
        return out

    def abort(self, threads: list[str], exc_type: type[BaseException]) -> list[str]:
        """Raise ``exc_type`` in each of ``threads`` (names) still in a plugin call; the names it was raised in.

        For a run that is over: the exception is delivered at the thread's next bytecode, so it
        ends a call looping in Python (not one blocked inside a C function that holds the GIL).
        Done before the run is over it could land in the runtime's own code between a lock's
        acquire and release, should the call return at that instant; after the run nothing
        needs those locks any more.
        """
        done = []
        for slot in self._slots:
            if slot.name in threads and slot.call is not None and slot.ident is not None:
                n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(slot.ident), ctypes.py_object(exc_type))
                if n == 1:
                    done.append(slot.name)
        return done

    def _stuck(self, slot: Slot, call: Any, seconds: float, frame: FrameType) -> Stuck:
        summary = traceback.StackSummary.from_list(traceback.extract_stack(frame)[-STACK_FRAMES:])
        limit = slot.limit if slot.limit is not None else self.limit
        return Stuck(slot.name, slot.describe(call), seconds, limit, tuple(summary.format()), short_frames(summary))

    def run(self, finished: threading.Event, poll: float = POLL) -> None:
        """Check every ``poll`` wall s until ``finished`` is set (the body of the watchdog thread)."""
        if self.limit is None and all(s.limit is None for s in self._slots):
            return
        while not finished.wait(poll):
            for stuck in self.check():
                self.on_stuck(stuck)
