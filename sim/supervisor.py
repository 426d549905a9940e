"""One place that sees every thread's failure: nothing dies silently."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from sim.errors import OutputError


@dataclass(frozen=True)
class Failure:
    """A thread or worker that died, and why."""

    thread: str
    error: str
    traceback: str
    fatal: bool = True  # False: the scenario let the run go on without the failed part
    sensor: str | None = None  # robot/sensor label when one sensor failed alone


class Supervisor:
    """Starts named threads, collects their exceptions, and stops the run on the first one."""

    def __init__(self, on_failure: Callable[[Failure], None]) -> None:
        self.on_failure = on_failure
        self.failures: list[Failure] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as exc:
                self.report(name, exc)

        thread = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def report(self, name: str, exc: BaseException, *, fatal: bool = True,
               sensor: str | None = None) -> None:
        """Record ``exc`` raised in thread ``name``; the run decides what a failure ends."""
        # A file that could not be written says all in its message (file and OS error): no traceback
        tb = "" if isinstance(exc, OutputError) else "".join(traceback.format_exception(exc))
        failure = Failure(name, f"{type(exc).__name__}: {exc}", tb, fatal, sensor)
        with self._lock:
            self.failures.append(failure)
        self.on_failure(failure)

    @staticmethod
    def wait_for(threads: list[threading.Thread], timeout: float, abort: threading.Event) -> bool:
        """Wait until ``threads`` end by themselves (``timeout`` s in total, or until ``abort``)."""
        import time  # local: a real-time bound on a wait, like ``join``

        end = time.monotonic() + timeout
        for t in threads:
            while t.is_alive():
                left = end - time.monotonic()
                if left <= 0.0 or abort.is_set():
                    return False
                t.join(min(left, 0.05))
        return True

    def join(self, timeout: float) -> list[str]:
        """Join every thread within ``timeout`` s in total; return the names still alive."""
        import time  # local: the only real-time wait in the runtime is this shutdown bound

        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(end - time.monotonic(), 0.0))
        return [t.name for t in self.threads if t.is_alive()]
