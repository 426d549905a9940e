"""Virtual time: the same threads, run one at a time, with simulated time driven by simpy.

Every simulation thread is a *participant*. Exactly one participant holds the
token and runs; when it blocks (``sleep_until`` or a queue wait) it schedules its
wake-up as a simpy event and hands the token on: to the next participant already
runnable at this instant (lowest ``order`` first, then start order), or, when
every participant is waiting, simpy's event loop jumps simulated time to the
next event. Nothing sleeps in real time unless a ``pace`` is set (for the view).

The hand-off is a per-participant raw lock used as a binary semaphore: the
cheapest blocking primitive CPython has, since a run makes ~10^5-10^6 of them.
Participants are pinned to one CPU (``pin_cpu``): only one runs at a time anyway,
and on one core a hand-off is a plain context switch (~25 µs here) instead of a
wake-up on the other core that then waits for the GIL (~110-170 µs). The CPU is
the one the first participant starts on, where the OS scheduler put it, so
parallel runs (a sweep's processes) are not all piled onto one core.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable

import simpy

from sim.core.clock import _SLICE, ClockBase, Signal

_INF = float("inf")
get_ident = threading.get_ident


class _Participant:
    __slots__ = ("gate", "generation", "key", "name", "runnable")

    def __init__(self, name: str, key: tuple[int, int]) -> None:
        self.name = name
        self.key = key
        self.gate = threading.Lock()
        self.gate.acquire()  # closed: the thread waits here for the token
        self.generation = 0
        self.runnable = False


class VirtualClock(ClockBase):
    """Deterministic virtual time; ``pace`` (simulated s per real s) throttles it for viewing. A ``PausableClock``."""

    def __init__(self, pace: float | None = None, pin_cpu: bool = True) -> None:
        super().__init__()
        self._pin_cpu = pin_cpu
        self._cpu: int | None = None  # chosen by the first participant to start
        self.env = simpy.Environment()
        self._lock = threading.RLock()
        self._runnable: list[tuple[tuple[int, int], _Participant]] = []
        self._by_thread: dict[int, _Participant] = {}
        self._current: _Participant | None = None
        self._seq = itertools.count()
        self._expected = 0
        self._attached = 0
        self._begun = False
        self._idle = threading.Event()  # set when no participant is left
        self.pace = pace
        self._pace_origin: tuple[float, float] | None = None  # (real, simulated)
        self._paused_at: float | None = None
        self._pause_budget = 0.0
        self.switches = 0  # token hand-offs between different threads (for benchmarks)
        self._stop_is_set = self.stop_event.is_set  # bound once: read on every hand-off

    def fork_copy(self, cpu: int | None) -> None:
        """Made fresh in a forked robot host (sim.runtime.hostproc): no pacing (the world paces), its own CPU."""
        self.stop_event = threading.Event()
        self._stop_is_set = self.stop_event.is_set
        self._lock = threading.RLock()
        self._idle = threading.Event()
        self.pace = None
        self._cpu = cpu

    @property
    def pinned_cpu(self) -> int | None:
        """The CPU the participants run on (None until the first starts, or when not pinned)."""
        return self._cpu

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        return float(self.env.now)

    def thread_time(self) -> float:
        # Real computation takes no virtual time; modelled compute is added explicitly.
        return 0.0

    def measured_cpu(self) -> float:
        return time.thread_time()  # a ``measured`` model charges the real CPU a call took

    def start(self, lead: float = 0.0) -> None:
        return None  # simulated time starts at 0 and moves only when participants block

    def real_seconds_until(self, deadline_at: float) -> float:
        """0 once ``deadline_at`` is reached, else one slice: virtual time does not pass in real time.

        Participants never wait in real time (their signals hand the token on); this is for a
        thread outside the run that waits on one of its signals: it can only poll.
        """
        return 0.0 if deadline_at <= self.now() else _SLICE

    @property
    def time_scale(self) -> float:
        return self.pace or 0.0

    def set_time_scale(self, time_scale: float) -> None:
        with self._lock:
            self.pace = time_scale
            self._pace_origin = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = self.now()
                self._pause_budget = 0.0

    def resume(self) -> None:
        with self._lock:
            self._paused_at = None
            self._pace_origin = None

    def step_paused(self, seconds: float) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._pause_budget += seconds

    # ------------------------------------------------------------------ participants
    def participant(self, name: str, order: int, target: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._expected += 1
            key = (order, next(self._seq))

        def body() -> None:
            if self._pin_cpu:
                with self._lock:
                    if self._cpu is None:
                        self._cpu = _current_cpu()
                if self._cpu is not None:
                    pin_thread(self._cpu)
            me = _Participant(name, key)
            with self._lock:
                self._by_thread[threading.get_ident()] = me
                self._attached += 1
                self._make_runnable(me)
                self._maybe_begin()
            me.gate.acquire()
            try:
                if not self.stopped:
                    target()
            finally:
                with self._lock:
                    me.generation += 1  # void pending wake-ups: this thread is gone
                    self._by_thread.pop(threading.get_ident(), None)
                    self._expected -= 1
                    self._attached -= 1
                    if self._current is me:
                        self._current = None
                        self._dispatch()
                    if self._expected == 0:
                        self._idle.set()

        return body

    def begin(self) -> None:
        with self._lock:
            self._begun = True
            self._maybe_begin()

    def _maybe_begin(self) -> None:
        if self._begun and self._current is None and self._attached == self._expected:
            self._dispatch()

    def _make_runnable(self, p: _Participant) -> None:
        if not p.runnable:
            p.runnable = True
            heapq.heappush(self._runnable, (p.key, p))

    def _waker(self, p: _Participant, generation: int) -> Callable[[simpy.Event], None]:
        def wake(_event: simpy.Event) -> None:
            if p.generation == generation:
                self._make_runnable(p)

        return wake

    def _dispatch(self) -> None:
        """Hand the token to the next runnable participant, advancing time if none is (lock held)."""
        if self._stop_is_set():  # request_stop has opened every gate: a hand-off now would release one twice
            self._current = None
            return
        env = self.env
        while not self._runnable:
            t = env.peek()
            if t == _INF:
                self._current = None
                return
            if self.pace or self._paused_at is not None:
                self._hold_for_pace(t)
                if self._stop_is_set():
                    self._current = None
                    return
                t = env.peek()
            while env.peek() == t:
                env.step()
        _, nxt = heapq.heappop(self._runnable)
        nxt.runnable = False
        # It runs now: any other wake-up still pending from its last wait (a signal's
        # time-out after a notify, say) is void, or it could wake a thread that has moved on.
        nxt.generation += 1
        if nxt is not self._current:
            self.switches += 1
        self._current = nxt
        nxt.gate.release()

    def _hold_for_pace(self, t: float) -> None:
        """Real-time throttling for a viewer: pause, single steps and ``pace``."""
        while not self.stopped:
            if self._paused_at is not None:
                if t <= self._paused_at + self._pause_budget:
                    return
            elif self.pace:
                real = time.perf_counter()
                if self._pace_origin is None:
                    self._pace_origin = (real, self.now())
                r0, s0 = self._pace_origin
                ahead = (t - s0) / self.pace - (real - r0)
                if ahead <= 0:
                    return
            else:
                return
            self._lock.release()
            try:
                time.sleep(_SLICE if self._paused_at is not None else min(ahead, _SLICE))
            finally:
                self._lock.acquire()

    def _block(self, me: _Participant) -> None:
        """Give the token away and wait to get it back (lock held on entry, released on exit)."""
        self._dispatch()
        stopped = self.stopped
        self._lock.release()
        if not stopped:  # after a stop, request_stop opens every gate that is not the current one
            me.gate.acquire()

    # ------------------------------------------------------------------ blocking
    def sleep_until(self, deadline_at: float) -> bool:
        self._lock.acquire()
        me = self._by_thread.get(get_ident())
        if me is None:
            self._lock.release()
            raise RuntimeError("sleep_until on a virtual clock from a thread that is not a participant")
        if self._stop_is_set():
            self._lock.release()
            return False
        env = self.env
        now = env._now
        if deadline_at > now:
            if not self._runnable and env.peek() > deadline_at and self._paused_at is None and not self.pace:
                # Nothing else happens before this deadline: jump straight to it, no hand-off.
                env._now = deadline_at  # simpy has no public setter; run(until=) costs events
                self._lock.release()
                return True
            me.generation += 1
            env.timeout(deadline_at - now).callbacks.append(self._waker(me, me.generation))
        else:
            self._make_runnable(me)  # yield to anything runnable now, in order
        self._block(me)
        return not self._stop_is_set()

    def request_stop(self) -> None:
        super().request_stop()
        with self._lock:
            for p in list(self._by_thread.values()):
                if p is not self._current and p.gate.locked():
                    p.gate.release()

    def wait_idle(self, timeout: float) -> bool:
        """Real wait until every participant has finished (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def signal(self) -> Signal:
        return _VirtualSignal(self)


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on now (Linux; None where it cannot be told)."""
    try:
        with open("/proc/thread-self/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        cpu = int(fields[36])  # field 39 of proc(5); fields[0] is field 3 (state)
        return cpu if cpu in os.sched_getaffinity(0) else None
    except (AttributeError, OSError, ValueError, IndexError):
        return None


def pin_thread(cpu: int) -> None:
    """Pin the calling thread (Linux: pid 0 is the calling thread) to ``cpu``, if allowed."""
    with contextlib.suppress(OSError):  # a container that forbids it: run unpinned, only slower
        os.sched_setaffinity(0, {cpu})


class _VirtualSignal(Signal):
    """A signal whose waiters are participants: a notify makes them runnable at this instant."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self._waiters: list[tuple[_Participant, int]] = []

    def notify(self) -> None:
        if not self._waiters:  # the usual case; only the token holder touches a signal, so no race
            self._version += 1
            return
        clock: VirtualClock = self._clock  # type: ignore[assignment]  # made only by VirtualClock.signal()
        with clock._lock:
            self._version += 1
            for p, generation in self._waiters:
                if p.generation == generation:
                    clock._make_runnable(p)
            self._waiters.clear()

    def wait_until(self, seen_version: int, deadline_at: float) -> bool:
        clock: VirtualClock = self._clock  # type: ignore[assignment]  # made only by VirtualClock.signal()
        clock._lock.acquire()
        if self._version != seen_version:
            clock._lock.release()
            return True
        me = clock._by_thread.get(threading.get_ident())
        if me is None or clock.stopped or deadline_at <= clock.env.now:
            clock._lock.release()
            return False
        me.generation += 1
        self._waiters.append((me, me.generation))
        ev = clock.env.timeout(deadline_at - clock.env.now)
        ev.callbacks.append(clock._waker(me, me.generation))
        clock._block(me)
        return self._version != seen_version
