"""The one clock every thread reads time from.

Simulated time starts at 0 when the run starts. Sensors, queues, controllers,
physics and the report never call ``time.*`` themselves: they get a ``Clock``.
All blocking goes through the clock too (``sleep_until`` and ``Signal``), so a
virtual-time clock can later take over scheduling without touching sensor or
controller code.

Two protocols say what a clock is: ``Clock``, the calls the kernel makes on every clock, and
``PausableClock``, what a viewer's clock adds (pause, resume, single step, time scale).
``ClockBase`` holds the little all clocks share (the stop flag, real time elapsed).

* ``RealClock``: wall time times a time-scale factor, with pause/resume (a pause
  stops simulated time, so it never shows up as lateness). A ``PausableClock``.
* ``VirtualClock`` (``sim.core.virtual``): deterministic simulated time. A ``PausableClock``.
* ``ManualClock``: a controllable clock for tests. ``sleep_until`` autojumps
  (like trio's ``MockClock(autojump_threshold=0)``) and ``advance`` moves time
  by hand, so tests assert exact simulated times.
"""

from __future__ import annotations

import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, runtime_checkable

# Real sleeps are cut into slices no longer than this so a stop request, a pause
# or a time-scale change is seen within this many real seconds.
_SLICE = 0.05


@runtime_checkable
class Clock(Protocol):
    """What every clock does: the calls the timing kernel (run, tasks, channels, signals) makes.

    ``RealClock``, ``VirtualClock`` (``sim.core.virtual``) and ``ManualClock`` implement it; code
    that needs a clock is typed with this, never with a concrete class.
    """

    def now(self) -> float:
        """Simulated seconds since the start of the run."""
        ...

    def sleep_until(self, deadline_at: float) -> bool:
        """Block until simulated time reaches ``deadline_at``; False if the run stopped."""
        ...

    def real_seconds_until(self, deadline_at: float) -> float:
        """Real seconds a timed wait for ``deadline_at`` should last now (<= 0: due); ``Signal`` waits this."""
        ...

    def signal(self) -> Signal:
        """A wake-up primitive whose timed waits are measured on this clock."""
        ...

    def thread_time(self) -> float:
        """CPU seconds used by the calling thread as the run counts them (to tell compute from preemption)."""
        ...

    def measured_cpu(self) -> float:
        """The calling thread's CPU seconds for ``measured`` execution-time models."""
        ...

    def real_elapsed(self) -> float:
        """Real seconds since the clock was made or started (for the real-time factor)."""
        ...

    def start(self, lead: float = 0.0) -> None:
        """Called once when the run starts; a real clock makes simulated 0 fall ``lead`` s from now."""
        ...

    def participant(self, name: str, order: int, target: Callable[[], None]) -> Callable[[], None]:
        """Wrap a simulation thread's body; a virtual clock schedules such threads one at a time.

        ``order`` breaks ties between threads due at the same instant (lower runs first):
        physics, then sensors, then controllers, then the timeline.
        """
        ...

    def begin(self) -> None:
        """Every participant thread has been started: let simulated time run."""
        ...

    def request_stop(self) -> None:
        """Wake every sleeper; they return False from then on."""
        ...

    @property
    def stopped(self) -> bool:
        """True once ``request_stop`` was called."""
        ...


@runtime_checkable
class PausableClock(Clock, Protocol):
    """What a clock a viewer can drive adds: pause, single steps and a time scale (``sim.view``)."""

    @property
    def paused(self) -> bool:
        """True while simulated time is held."""
        ...

    def pause(self) -> None:
        """Hold simulated time where it is (a pause never shows up as lateness)."""
        ...

    def resume(self) -> None:
        """Let simulated time run on from where it was held."""
        ...

    def step_paused(self, seconds: float) -> None:
        """While paused, let simulated time advance by ``seconds`` (single-stepping)."""
        ...

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second; 0 for a virtual clock that runs as fast as it can."""
        ...

    def set_time_scale(self, time_scale: float) -> None:
        """Change the rate without a jump in simulated time."""
        ...


class ClockBase(ABC):
    """What every clock shares: the stop flag and the real time since it was made.

    The rest of ``Clock`` each clock says for itself (a real, a virtual and a test clock
    differ in all of it), so no clock inherits a behaviour that is wrong for it.
    """

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self._made_at = time.perf_counter()

    @abstractmethod
    def now(self) -> float:
        """Simulated seconds since the start of the run."""

    @abstractmethod
    def sleep_until(self, deadline_at: float) -> bool:
        """Block until simulated time reaches ``deadline_at``; False if the run stopped."""

    @abstractmethod
    def real_seconds_until(self, deadline_at: float) -> float:
        """Real seconds a timed wait for ``deadline_at`` should last now (<= 0: due)."""

    @abstractmethod
    def signal(self) -> Signal:
        """A wake-up primitive whose timed waits are measured on this clock."""

    def real_elapsed(self) -> float:
        """Real seconds since the clock was made (or, for a real clock, started)."""
        return time.perf_counter() - self._made_at

    def request_stop(self) -> None:
        """Wake every sleeper; they return False from then on."""
        self.stop_event.set()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()


class Signal:
    """A condition: producers ``notify``, consumers ``wait_until`` a simulated time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._version = 0
        self._ticks = itertools.count(1)  # next() is atomic under the GIL, ``+= 1`` is not
        self._waiting = 0  # threads inside wait_until (changed under the condition's lock)

    def notify(self) -> None:
        # Every put and take notifies, and usually nobody waits: skip the lock then. Safe
        # without it: a waiter counts itself in before it reads the version, so either
        # it sees the new version or this sees it waiting.
        self._version = next(self._ticks)
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def version(self) -> int:
        return self._version

    def wait_until(self, seen_version: int, deadline_at: float) -> bool:
        """Wait for a notify after ``seen_version`` or for ``deadline_at``; True if notified."""
        clock = self._clock
        with self._cond:
            self._waiting += 1
            try:
                while self._version == seen_version:
                    if clock.stopped:
                        return False
                    remaining = clock.real_seconds_until(deadline_at)
                    if remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, _SLICE))
                return True
            finally:
                self._waiting -= 1


class RealClock(ClockBase):
    """Wall-clock time scaled by ``time_scale`` (simulated s per real s): a ``PausableClock``."""

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__()
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self._lock = threading.Lock()
        self._scale = float(time_scale)
        self._origin_real = time.perf_counter()
        self._origin_sim = 0.0
        self._paused_at: float | None = None
        # Told after a pause, resume, single step or time-scale change (robot hosts follow the world's clock).
        self.on_change: Callable[[], None] | None = None

    def start(self, lead: float = 0.0) -> None:
        """Make simulated time 0 fall ``lead`` real seconds from now (threads start meanwhile)."""
        with self._lock:
            self._origin_real = time.perf_counter() + lead
            self._origin_sim = 0.0
            self._made_at = self._origin_real

    @property
    def origin(self) -> float:
        """The ``time.perf_counter()`` instant of simulated time 0 (CLOCK_MONOTONIC: the same in every process)."""
        return self._origin_real

    def state(self) -> tuple[float, float, float, float | None]:
        """(origin perf_counter, simulated time there, time scale, paused at): all a copy in another process needs."""
        with self._lock:
            return self._origin_real, self._origin_sim, self._scale, self._paused_at

    def set_state(self, state: tuple[float, float, float, float | None]) -> None:
        """Follow another process's clock (a robot host follows the world's pause and time scale)."""
        with self._lock:
            self._origin_real, self._origin_sim, self._scale, self._paused_at = state

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def start_at(self, origin: float) -> None:
        """Start with simulated time 0 at the ``perf_counter`` instant ``origin`` (a robot host joins the world's)."""
        with self._lock:
            self._origin_real = origin
            self._origin_sim = 0.0
            self._made_at = origin

    @property
    def time_scale(self) -> float:
        return self._scale

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def now(self) -> float:
        paused_at = self._paused_at
        if paused_at is not None:
            return paused_at
        return self._origin_sim + (time.perf_counter() - self._origin_real) * self._scale

    def set_time_scale(self, time_scale: float) -> None:
        """Change the rate without a jump in simulated time."""
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        with self._lock:
            now = self.now()
            self._origin_sim, self._origin_real = now, time.perf_counter()
            self._scale = float(time_scale)
        self._changed()

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = self.now()
        self._changed()

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._origin_sim, self._origin_real = self._paused_at, time.perf_counter()
                self._paused_at = None
        self._changed()

    def step_paused(self, seconds: float) -> None:
        """While paused, move simulated time forward by ``seconds`` (single-stepping)."""
        with self._lock:
            if self._paused_at is not None and seconds > 0:
                self._paused_at += seconds
        self._changed()

    def real_seconds_until(self, deadline_at: float) -> float:
        """Real seconds until ``deadline_at``; while paused, 0 if already reached else a slice."""
        paused_at = self._paused_at
        if paused_at is not None:
            return 0.0 if deadline_at <= paused_at else _SLICE
        return (deadline_at - self.now()) / self._scale

    def sleep_until(self, deadline_at: float) -> bool:
        # time.sleep to an absolute target had the lowest wake-up lateness on the development host
        # (p50 0.18 ms; Event/Condition.wait 15-110 µs worse); the slice keeps stop/pause responsive.
        while not self.stop_event.is_set():
            remaining = self.real_seconds_until(deadline_at)
            if remaining <= 0:
                return True
            time.sleep(min(remaining, _SLICE))
        return False

    def signal(self) -> Signal:
        return Signal(self)

    def thread_time(self) -> float:
        return time.thread_time()

    def measured_cpu(self) -> float:
        return time.thread_time()

    def participant(self, name: str, order: int, target: Callable[[], None]) -> Callable[[], None]:
        return target  # real threads run side by side: nothing to schedule

    def begin(self) -> None:
        return None


class ManualClock(ClockBase):
    """A test clock: time moves only by ``advance``/``set`` or by autojumping sleeps."""

    def __init__(self, start: float = 0.0, autojump: bool = True) -> None:
        super().__init__()
        self._now = float(start)
        self._autojump = autojump
        self._cond = threading.Condition()
        self._cpu = 0.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float, cpu: float | None = None) -> None:
        """Move time forward; ``cpu`` (default = ``seconds``) is charged as thread CPU time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._cond:
            self._now += seconds
            self._cpu += seconds if cpu is None else cpu
            self._cond.notify_all()

    def set(self, now: float) -> None:
        self.advance(now - self._now, cpu=0.0)

    def thread_time(self) -> float:
        return self._cpu

    def measured_cpu(self) -> float:
        return self._cpu

    def real_seconds_until(self, deadline_at: float) -> float:
        return 0.0 if self._autojump else max(deadline_at - self._now, 0.0) + 1.0

    def sleep_until(self, deadline_at: float) -> bool:
        with self._cond:
            while self._now < deadline_at:
                if self.stop_event.is_set():
                    return False
                if self._autojump:
                    self._now = deadline_at
                    self._cond.notify_all()
                    break
                self._cond.wait(_SLICE)
        return not self.stop_event.is_set()

    def request_stop(self) -> None:
        super().request_stop()
        with self._cond:
            self._cond.notify_all()

    def signal(self) -> Signal:
        return _ManualSignal(self)

    def start(self, lead: float = 0.0) -> None:
        return None

    def participant(self, name: str, order: int, target: Callable[[], None]) -> Callable[[], None]:
        return target

    def begin(self) -> None:
        return None


class _ManualSignal(Signal):
    """Under an autojumping test clock nobody else will notify: a wait jumps to its deadline."""

    def wait_until(self, seen_version: int, deadline_at: float) -> bool:
        clock: ManualClock = self._clock  # type: ignore[assignment]  # made only by ManualClock.signal()
        if self._version == seen_version and clock._autojump:
            clock.sleep_until(deadline_at)
            return self._version != seen_version
        return super().wait_until(seen_version, deadline_at)
