"""One place that sees every thread's failure: nothing dies silently."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from sim.core.watchdog import Stuck, short_frames
from sim.errors import CallAborted, OutputError, StuckCallError


@dataclass(frozen=True)
class Failure:
    """A thread or worker that died, and why."""

    thread: str
    error: str
    traceback: str
    fatal: bool = True  # False: the scenario let the run go on without the failed part
    sensor: str | None = None  # robot/sensor label when one sensor failed alone
    call: str | None = None  # the plugin call the thread was in when it failed (sim.core.watchdog.Slot)
    where: tuple[str, ...] = ()  # the innermost frames, one short line each (the printed report)


class Supervisor:
    """Starts named threads, collects their exceptions, and stops the run on the first one."""

    def __init__(self, on_failure: Callable[[Failure], None],
                 describe_call: Callable[[str], str | None] | None = None) -> None:
        self.on_failure = on_failure
        self.describe_call = describe_call  # thread name -> the plugin call it is in, if any
        self.failures: list[Failure] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except CallAborted:
                pass  # the run, over, ended this stuck thread on purpose (sim.core.watchdog.Watchdog.abort)
            except BaseException as exc:
                self.report(name, exc)

        thread = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def report(self, name: str, exc: BaseException, *, fatal: bool = True, sensor: str | None = None,
               call: str | None = None, stack: str | None = None, where: tuple[str, ...] = ()) -> None:
        """Record ``exc`` raised in thread ``name``; the run decides what a failure ends.

        A failure seen from outside its thread (a stuck call, which cannot raise) gives its
        ``stack`` and ``where`` instead of a traceback; ``call`` names the plugin call, else
        ``describe_call`` tells which call (if any) the thread was in when it raised.
        """
        if stack is None:
            # A file that could not be written says all in its message (file and OS error): no traceback
            stack = "" if isinstance(exc, OutputError) else "".join(traceback.format_exception(exc))
            where = short_frames(traceback.extract_tb(exc.__traceback__))
        else:
            stack += f"{type(exc).__name__}: {exc}\n"
        if call is None and self.describe_call is not None:
            call = self.describe_call(name)
        failure = Failure(name, f"{type(exc).__name__}: {exc}", stack, fatal, sensor, call, where)
        with self._lock:
            self.failures.append(failure)
        self.on_failure(failure)

    def report_stuck(self, stuck: Stuck) -> None:
        """The watchdog found a call past its limit: the stuck thread's failure, with where it was (it cannot raise)."""
        where = f"; at {stuck.where[-1]}" if stuck.where else ""
        exc = StuckCallError(f"{stuck.call} still running after {stuck.seconds:.1f} s wall "
                             f"(limit {stuck.limit:g} s, run.call_limit){where}")
        self.report(stuck.thread, exc, call=stuck.call, stack="".join(stuck.stack), where=stuck.where)

    @staticmethod
    def wait_for(threads: list[threading.Thread], timeout: float, abort: threading.Event) -> bool:
        """Wait until ``threads`` end by themselves (``timeout`` s in total, or until ``abort``)."""
        import time  # wall time on purpose: a virtual clock does not move while we wait for its threads

        end = time.monotonic() + timeout
        for t in threads:
            while t.is_alive():
                left = end - time.monotonic()
                if left <= 0.0 or abort.is_set():
                    return False
                t.join(min(left, 0.05))
        return True

    def join(self, timeout: float, give_up: frozenset[str] = frozenset(), give_up_after: float = 0.1) -> list[str]:
        """Join every thread within ``timeout`` s in total; return the names still alive.

        Threads named in ``give_up`` (known stuck) are waited for ``give_up_after`` s only.
        """
        import time  # wall time on purpose: the shutdown bound is real, whatever clock the run used
        # (one of several real-time bounds, not the only one: docs/architecture.md lists them all)

        end = time.monotonic() + timeout
        for t in self.threads:
            if t.name not in give_up:
                t.join(max(end - time.monotonic(), 0.0))
        end = min(end, time.monotonic() + give_up_after)
        for t in self.threads:
            if t.name in give_up:
                t.join(max(end - time.monotonic(), 0.0))
        return [t.name for t in self.threads if t.is_alive()]
