"""The host's share of the misses: this process's CPU time and the machine's oversubscription, over time.

In real time a controller can miss its deadline because the *design* is too slow, or because
the *host* had more runnable threads than cores and the controller simply waited for one.
``HostLoad`` samples, at a fixed real-time rate (10 Hz), this process's CPU time (user + system,
``os.times``: every thread of the process) and the machine's runnable tasks (``procs_running``
of ``/proc/stat``: the kernel's instantaneous count of tasks running or waiting for a core,
minus the sampler itself), against ``os.cpu_count()``. ``/proc/loadavg``'s load averages are
not used: they are exponential averages over 1, 5 and 15 minutes, updated every 5 s, far too slow
to say which second a 100 ms cycle missed in; an instantaneous count sampled often is.

Each sample stands for the instants nearer to it than to its neighbours (its *span*: from
half-way to the previous sample to half-way to the next; the first and last extend by half their
one gap), so the spans tile the sampled time even when the sampler itself is delayed. A sample is
*oversubscribed* when runnable > cores. A deadline miss *coincides* with oversubscription when its
interval [release, finish] overlaps an oversubscribed span [lo, hi): release < hi and finish >= lo.
Those misses are the host's, not the design's; the report says how many.

Memory is bounded: the spans kept for matching are a ring (``RING`` spans, ~100 s at 10 Hz;
a miss is matched within a tick of its finish, so only a cycle longer than the ring is matched
against its newest part only), the timeline has at most ``MAX_BINS`` bins, the runnable counts a
histogram. Controller threads only append (release, finish) of a miss to a bounded deque and bump
their own robot's counter; the sampler thread does the matching.

Virtual time: not attached at all. There, cycle times are simulated and a controller's execution
time comes from its model, so host load cannot make a cycle miss (it only slows the run, which
the report's real-time factor already says); sampling would measure nothing the design owns, and
a virtual run's report.json stays byte-identical from host to host.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from sim.core.clock import Clock, RealClock
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.core.handle import ThreadInfo

if TYPE_CHECKING:
    import simpy

    from sim.core.handle import RunHandle

INTERVAL = 0.1  # s real between samples (10 Hz)
RING = 1024  # spans kept for matching misses (~100 s at 10 Hz)
INBOX = 100_000  # misses waiting for the sampler (it drains them every tick)
MAX_BINS = 600  # timeline bins; a bin is 1 s, or longer for runs over 600 s
SAMPLER = "host-sampler"  # its thread, listed in the report's run.threads (role monitor)


class HostSource(Protocol):
    """Where the samples come from (``ProcHost`` on Linux; a scripted one in tests)."""

    cores: int

    def cpu_seconds(self) -> float:
        """This process's CPU seconds so far (user + system, all threads)."""
        ...

    def runnable(self) -> int | None:
        """Tasks running or waiting for a core on the machine now, the caller excluded; None if unknown."""
        ...


class ProcHost:
    """The real host: ``os.times()`` and ``/proc/stat``'s ``procs_running`` (Linux)."""

    def __init__(self, stat: str = "/proc/stat") -> None:
        self.cores = os.cpu_count() or 1
        self.stat = stat

    def cpu_seconds(self) -> float:
        t = os.times()
        return t.user + t.system

    def runnable(self) -> int | None:
        try:
            with open(self.stat, "rb") as f:
                for line in f:
                    if line.startswith(b"procs_running "):
                        return max(int(line.split()[1]) - 1, 0)  # the sampler reading this is running
        except (OSError, ValueError, IndexError):
            return None
        return None


@dataclass(frozen=True, slots=True)
class Span:
    """The instants one sample stands for, in the run's time: [lo, hi)."""

    lo: float
    hi: float
    over: bool


class HostLoad(Feature):
    """Samples the host at a fixed real-time rate; the report's ``host`` section (real-clock runs only)."""

    section = "host"

    def __init__(self, source: HostSource | None = None, interval: float = INTERVAL, real: bool | None = None,
                 ring: int = RING, inbox: int = INBOX, max_bins: int = MAX_BINS) -> None:
        self.source: HostSource = source if source is not None else ProcHost()
        self.interval = interval
        self.real = real  # None: decided by the run's clock (a RealClock samples)
        self.max_bins = max_bins
        self.clock: Clock | None = None
        self.started = False
        # streaming figures
        self.samples = 0
        self.cpu0 = self.wall0 = 0.0
        self.cpu = self.wall = 0.0  # the newest sample's
        self.runnable_counts: Counter[int] = Counter()
        self.unknown = 0  # samples whose runnable count could not be read
        self.over_seconds = 0.0
        self.covered_seconds = 0.0
        # the newest sample (its span still open) and the closed spans kept for matching
        self._open: tuple[float, bool] | None = None
        self._open_lo = 0.0
        self._spans: deque[Span] = deque(maxlen=ring)
        # misses: (release, finish) appended by controller threads; matched by the sampler
        self._inbox: deque[tuple[float, float]] = deque(maxlen=inbox)
        self._waiting: list[tuple[float, float]] = []
        self.missed: dict[str, int] = {}  # per robot, each key written by its own controller thread
        self.checked = 0
        self.coincident = 0
        # coarse timeline: per bin, max runnable, CPU and wall seconds
        self.width = 1.0
        self.bin_max: list[int] = []
        self.bin_cpu: list[float] = []
        self.bin_wall: list[float] = []

    # ------------------------------------------------------------------ wiring
    def attach(self, run: RunHandle) -> None:
        """Observe real-clock runs only (see the module docstring for virtual time)."""
        real = self.real if self.real is not None else isinstance(run.clock, RealClock)
        if not real:
            return
        run.add_listener(self)
        run.timeline_hooks.append(self._start_sampler)

    def on_start(self, run: RunHandle) -> None:
        self.setup(run.clock, [c.robot_name for c in run.controllers], run.duration)

    def setup(self, clock: Clock, robots: list[str], duration: float) -> None:
        """Size the counters and the timeline (also what a test calls instead of ``on_start``)."""
        self.clock = clock
        self.missed = {r: 0 for r in robots}
        self.width = max(1.0, float(duration) / self.max_bins)
        n = max(1, min(self.max_bins, int(float(duration) / self.width + 1e-9) + 1))
        self.bin_max, self.bin_cpu, self.bin_wall = [-1] * n, [0.0] * n, [0.0] * n

    def _start_sampler(self, env: simpy.Environment, run: RunHandle) -> None:
        """Timeline hook: the sampler thread starts with simulated time (supervised, not a clock participant)."""
        run.threads.append(ThreadInfo(SAMPLER, "monitor", ["host load"]))
        run.supervisor.spawn(SAMPLER, lambda: self.sample_until(run.finished, run.clock))

    def sample_until(self, stop: threading.Event, clock: Clock) -> None:
        """The sampler thread: from simulated time 0, one sample every ``interval`` real seconds until ``stop``."""
        if not clock.sleep_until(0.0):
            return
        self.sample()
        while not stop.wait(self.interval):
            self.sample()

    def on_cycle(self, cycle: Cycle) -> None:
        if cycle.miss:
            self._inbox.append((cycle.release_time, cycle.finish_time))
            if cycle.robot in self.missed:
                self.missed[cycle.robot] += 1

    def close(self, run: RunHandle) -> None:
        """Every thread stopped: a last sample, close the last span, match the misses still waiting."""
        if self.started:
            self.sample()
        self.finish()

    # ------------------------------------------------------------------ sampling
    def sample(self) -> None:
        """Take one sample now (the sampler thread; tests call it with a scripted source and clock)."""
        assert self.clock is not None, "setup() first"
        t, wall = self.clock.now(), self.clock.real_elapsed()
        cpu, n = self.source.cpu_seconds(), self.source.runnable()
        if not self.started:
            self.started = True
            self.cpu0, self.wall0 = cpu, wall
        else:
            b = self._bin(t)
            self.bin_cpu[b] += cpu - self.cpu
            self.bin_wall[b] += wall - self.wall
        self.cpu, self.wall = cpu, wall
        self.samples += 1
        if n is None:
            self.unknown += 1
        else:
            self.runnable_counts[n] += 1
            b = self._bin(t)
            self.bin_max[b] = max(self.bin_max[b], n)
        over = n is not None and n > self.source.cores
        if self._open is None:
            self._open_lo = t
        else:
            t0, over0 = self._open
            mid = (t0 + t) / 2
            if not self._spans:
                self._open_lo = t0 - (mid - t0)  # the first span extends before its sample by half its gap
            self._close(Span(self._open_lo, mid, over0))
            self._open_lo = mid
        self._open = (t, over)
        self._match(final=False)

    def finish(self) -> None:
        """Close the newest span (it extends after its sample by half its gap) and match every miss left."""
        if self._open is not None:
            t, over = self._open
            half = t - self._open_lo if self._spans else 0.0
            self._close(Span(self._open_lo, t + half, over))
            self._open = None
        self._match(final=True)

    def _close(self, span: Span) -> None:
        self._spans.append(span)
        self.covered_seconds += span.hi - span.lo
        if span.over:
            self.over_seconds += span.hi - span.lo

    def _bin(self, t: float) -> int:
        return min(max(int(t / self.width), 0), len(self.bin_max) - 1)

    def _match(self, final: bool) -> None:
        """Decide the misses whose finish the closed spans cover (all of them if ``final``)."""
        while self._inbox:
            self._waiting.append(self._inbox.popleft())
        if not self._waiting:
            return
        covered = self._spans[-1].hi if self._spans else float("-inf")
        keep = []
        for release, finish in self._waiting:
            if not final and finish >= covered:
                keep.append((release, finish))
                continue
            self.checked += 1
            if self._overlaps(release, finish):
                self.coincident += 1
        self._waiting = keep

    def _overlaps(self, release: float, finish: float) -> bool:
        """An oversubscribed span [lo, hi) overlaps [release, finish] (newest spans first: misses are recent)."""
        for s in reversed(self._spans):
            if s.hi <= release:
                return False
            if s.over and finish >= s.lo:
                return True
        return False

    # ------------------------------------------------------------------ report
    @property
    def misses(self) -> int:
        return sum(self.missed.values())

    def report_section(self, run: RunHandle) -> dict[str, Any] | None:
        return self.summary() if self.started else None

    def summary(self) -> dict[str, Any]:
        """The ``host`` section (docs/report.md)."""
        cpu, wall = self.cpu - self.cpu0, self.wall - self.wall0
        known = sum(self.runnable_counts.values())
        total = self.misses
        timeline = [[round(b * self.width, 6), self.bin_max[b] if self.bin_max[b] >= 0 else None,
                     round(self.bin_cpu[b] / self.bin_wall[b], 4) if self.bin_wall[b] > 0 else None]
                    for b in range(len(self.bin_max)) if self.bin_max[b] >= 0 or self.bin_wall[b] > 0]
        return {
            "process": "main",  # today one process; with robot hosts, one entry per host
            "pid": os.getpid(),
            "interval": self.interval,
            "samples": self.samples,
            "cores": self.source.cores,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "cpu_share": cpu / wall if wall > 0 else 0.0,
            "runnable_known": known > 0,
            "runnable_max": max(self.runnable_counts) if known else None,
            "runnable_median": _median(self.runnable_counts) if known else None,
            "oversubscribed_seconds": self.over_seconds,
            "oversubscribed_share": self.over_seconds / self.covered_seconds if self.covered_seconds > 0 else 0.0,
            "misses": total,
            "misses_checked": self.checked,
            "misses_oversubscribed": self.coincident,
            "misses_oversubscribed_share": self.coincident / self.checked if self.checked else 0.0,
            "bin_width": self.width,
            "timeline": timeline,  # [bin start s, max runnable, CPU share] per bin with samples
        }

    @staticmethod
    def print_section(data: Any, out: TextIO) -> None:
        print(f"\nHost ({data['process']} process, {data['samples']} samples at {1 / data['interval']:g} Hz, "
              f"{data['cores']} cores): CPU {data['cpu_seconds']:.1f} s in {data['wall_seconds']:.1f} s wall "
              f"({data['cpu_share'] * 100:.0f} % of one core)", file=out)
        if not data["runnable_known"]:
            print("  runnable threads could not be read on this host (/proc/stat): misses not compared", file=out)
            return
        print(f"  runnable threads: median {data['runnable_median']:g}, max {data['runnable_max']}; "
              f"more than {data['cores']} (oversubscribed) for {data['oversubscribed_seconds']:.1f} s "
              f"({data['oversubscribed_share'] * 100:.0f} % of the run)", file=out)
        print("  " + miss_sentence(data), file=out)


def miss_sentence(data: dict[str, Any]) -> str:
    """The plain sentence: how many misses happened while the host was oversubscribed."""
    m, n = data["misses_checked"], data["misses_oversubscribed"]
    if data["misses"] == 0:
        return "no deadline misses"
    unchecked = data["misses"] - m
    tail = f" ({unchecked} more not compared)" if unchecked else ""
    if n == 0:
        return (f"none of {m} misses happened while the host had more runnable threads than cores: "
                f"the host did not cause them{tail}")
    return (f"{n} of {m} misses ({n / m * 100:.0f} %) happened while the host had more runnable threads "
            f"than cores: those are the host's, not the design's{tail}")


def _median(counts: Counter[int]) -> float:
    """The median of a histogram of integers (the mean of the two middle values for an even count)."""
    total = sum(counts.values())
    values = sorted(counts)
    acc, lo, hi = 0, None, None
    for v in values:
        acc += counts[v]
        if lo is None and acc >= (total + 1) // 2:
            lo = v
        if acc >= total // 2 + 1:
            hi = v
            break
    assert lo is not None and hi is not None
    return (lo + hi) / 2 if total % 2 == 0 else float(lo)
