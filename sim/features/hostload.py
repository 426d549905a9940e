"""The host's share of the misses: every process's CPU time and the machine's oversubscription, over time.

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

Every process of the run (``RunHandle.host_processes()``: ``main``, the world, and any robot
host processes) is sampled in the same tick: this process through ``os.times``, the others through
``/proc/<pid>/stat`` (utime + stime, one read each; ~4 µs a process, so a few hundred hosts cost
about a millisecond a tick). A process that vanishes keeps its last value and is marked gone
from the first sample that cannot read it; a reused pid is told apart by its start time.
Each robot's misses are counted against the process it ran in.

Memory is bounded: the spans kept for matching are a ring (``RING`` spans, ~100 s at 10 Hz;
a miss is matched within a tick of its finish, so only a cycle longer than the ring is matched
against its newest part only), the timeline has at most ``MAX_BINS`` bins (per process too:
processes x bins floats), the runnable counts a histogram. Controller threads only append
(robot, release, finish) of a miss to a bounded deque and bump their own robot's counter; the
sampler thread does the matching.

Virtual time: not attached at all. There, cycle times are simulated and a controller's execution
time comes from its model, so host load cannot make a cycle miss (it only slows the run, which
the report's real-time factor already says); sampling would measure nothing the design owns, and
a virtual run's report.json stays byte-identical from host to host.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from sim.core.clock import Clock, RealClock
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.core.handle import HostInfo, ThreadInfo

if TYPE_CHECKING:
    import simpy

    from sim.core.handle import RunHandle

INTERVAL = 0.1  # s real between samples (10 Hz)
RING = 1024  # spans kept for matching misses (~100 s at 10 Hz)
INBOX = 100_000  # misses waiting for the sampler (it drains them every tick)
MAX_BINS = 600  # timeline bins; a bin is 1 s, or longer for runs over 600 s
SAMPLER = "host-sampler"  # its thread, listed in the report's run.threads (role monitor)
SHOWN = 10  # processes listed one per line in the printed block; more are summarised


class HostSource(Protocol):
    """Where the samples come from (``ProcHost`` on Linux; a scripted one in tests)."""

    cores: int

    def cpu_seconds(self) -> float:
        """This process's CPU seconds so far (user + system, all threads)."""
        ...

    def runnable(self) -> int | None:
        """Tasks running or waiting for a core on the machine now, the caller excluded; None if unknown."""
        ...

    def process_cpu_seconds(self, pid: int) -> float | None:
        """Another process's CPU seconds so far (user + system); None once it has exited (or cannot be read)."""
        ...


class ProcHost:
    """The real host: ``os.times()``, ``/proc/stat``'s ``procs_running`` and ``/proc/<pid>/stat`` (Linux)."""

    def __init__(self, stat: str = "/proc/stat", proc: str = "/proc") -> None:
        self.cores = os.cpu_count() or 1
        self.stat = stat
        self.proc = proc
        self.tick = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self._born: dict[int, bytes] = {}  # pid -> its start time (field 22), so a reused pid is not mistaken

    def process_cpu_seconds(self, pid: int) -> float | None:
        """utime + stime of ``/proc/<pid>/stat`` (fields 14, 15, clock ticks); None for an exited or zombie process.

        One ``open``/``read``/``close`` (~4 µs): cheaper than ``open()`` and, unlike a kept descriptor,
        costs no file descriptor per host.
        """
        try:
            fd = os.open(f"{self.proc}/{pid}/stat", os.O_RDONLY)
        except OSError:
            return None
        try:
            line = os.read(fd, 4096)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            fields = line[line.rindex(b")") + 2:].split()  # the command name may hold spaces and parentheses
            if fields[0] in (b"Z", b"X"):  # exited, not yet reaped: its software is gone
                return None
            born = self._born.setdefault(pid, fields[19])
            if born != fields[19]:  # the pid now names another process
                return None
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (ValueError, IndexError):
            return None

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


class Proc:
    """One process's CPU figures as the sampler keeps them (its 1 s bins: two fixed arrays)."""

    __slots__ = ("bin_cpu", "bin_wall", "cpu", "cpu0", "gone_at", "info", "own", "seen", "wall", "wall0")

    def __init__(self, info: HostInfo, bins: int) -> None:
        self.info = info
        self.own = info.pid == os.getpid()  # this process: read through os.times (the source's cpu_seconds)
        self.seen = False
        self.cpu0 = self.wall0 = self.cpu = self.wall = 0.0
        self.gone_at: float | None = None  # run time of the first sample that found it gone
        self.bin_cpu = array("d", bytes(8 * bins))
        self.bin_wall = array("d", bytes(8 * bins))

    def take(self, cpu: float | None, t: float, wall: float, b: int, last: bool = False) -> None:
        """One sample's reading (None: gone, unless it is the run's ``last`` sample, taken after the end)."""
        if cpu is None:
            if not last:
                self.gone_at = t
            return
        if self.seen:
            self.bin_cpu[b] += cpu - self.cpu
            self.bin_wall[b] += wall - self.wall
        else:
            self.seen, self.cpu0, self.wall0 = True, cpu, wall
        self.cpu, self.wall = cpu, wall


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
        # misses: (robot, release, finish) appended by controller threads; matched by the sampler
        self._inbox: deque[tuple[str, float, float]] = deque(maxlen=inbox)
        self._waiting: list[tuple[str, float, float]] = []
        self.missed: dict[str, int] = {}  # per robot, each key written by its own controller thread
        self.checked = 0
        self.coincident = 0
        self.checked_by: Counter[str] = Counter()  # per robot (the sampler thread's)
        self.coincident_by: Counter[str] = Counter()
        self.procs: list[Proc] = []  # every process of the run, ``main`` first
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
        self.use_processes([HostInfo("main", os.getpid(), tuple(robots))])

    def use_processes(self, processes: list[HostInfo]) -> None:
        """The run's processes to sample (``host_processes()`` once they are started; before the first sample)."""
        self.procs = [Proc(p, len(self.bin_max)) for p in processes]
        for p in processes:
            for r in p.robots:
                self.missed.setdefault(r, 0)

    def _start_sampler(self, env: simpy.Environment, run: RunHandle) -> None:
        """Timeline hook: the sampler thread starts with simulated time (supervised, not a clock participant)."""
        self.use_processes(run.host_processes())  # started by now: every host's pid is known
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
            self._inbox.append((cycle.robot, cycle.release_time, cycle.finish_time))
            if cycle.robot in self.missed:
                self.missed[cycle.robot] += 1

    def close(self, run: RunHandle) -> None:
        """Every thread stopped: a last sample, close the last span, match the misses still waiting.

        The run's end may have stopped the host processes already: a process the last sample cannot
        read is not called gone (it keeps its last value); one that died during the run was found by then.
        """
        if self.started:
            self.sample(last=True)
        self.finish()

    # ------------------------------------------------------------------ sampling
    def sample(self, last: bool = False) -> None:
        """Take one sample now (the sampler thread; tests call it with a scripted source and clock)."""
        assert self.clock is not None, "setup() first"
        t, wall = self.clock.now(), self.clock.real_elapsed()
        cpu, n = self.source.cpu_seconds(), self.source.runnable()
        b = self._bin(t)
        if not self.started:
            self.started = True
            self.cpu0, self.wall0 = cpu, wall
        else:
            self.bin_cpu[b] += cpu - self.cpu
            self.bin_wall[b] += wall - self.wall
        self.cpu, self.wall = cpu, wall
        read = self.source.process_cpu_seconds
        for p in self.procs:
            if p.gone_at is None:
                p.take(cpu if p.own else read(p.info.pid), t, wall, b, last)
        self.samples += 1
        if n is None:
            self.unknown += 1
        else:
            self.runnable_counts[n] += 1
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
        for robot, release, finish in self._waiting:
            if not final and finish >= covered:
                keep.append((robot, release, finish))
                continue
            self.checked += 1
            self.checked_by[robot] += 1
            if self._overlaps(release, finish):
                self.coincident += 1
                self.coincident_by[robot] += 1
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
        rows = [b for b in range(len(self.bin_max)) if self.bin_max[b] >= 0 or self.bin_wall[b] > 0]
        timeline = [[round(b * self.width, 6), self.bin_max[b] if self.bin_max[b] >= 0 else None,
                     round(self.bin_cpu[b] / self.bin_wall[b], 4) if self.bin_wall[b] > 0 else None]
                    for b in rows]
        return {
            "process": "main",  # the top-level CPU figures are this process's; every process: ``processes``
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
            "processes": [self._process(p, rows) for p in self.procs],
        }

    def _process(self, p: Proc, rows: list[int]) -> dict[str, Any]:
        """One process's entry in ``processes`` (docs/report.md)."""
        cpu, wall = p.cpu - p.cpu0, p.wall - p.wall0
        robots = p.info.robots
        return {
            "name": p.info.name,
            "pid": p.info.pid,
            "robots": list(robots),
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "cpu_share": cpu / wall if wall > 0 else 0.0,
            "gone": p.gone_at is not None,
            "gone_at": p.gone_at,
            "misses": sum(self.missed.get(r, 0) for r in robots),
            "misses_checked": sum(self.checked_by[r] for r in robots),
            "misses_oversubscribed": sum(self.coincident_by[r] for r in robots),
            # CPU share per row of the section's ``timeline`` (same bins); null where not read
            "timeline": [round(p.bin_cpu[b] / p.bin_wall[b], 4) if p.bin_wall[b] > 0 else None for b in rows],
        }

    @staticmethod
    def print_section(data: Any, out: TextIO) -> None:
        print(f"\nHost ({data['process']} process, {data['samples']} samples at {1 / data['interval']:g} Hz, "
              f"{data['cores']} cores): CPU {data['cpu_seconds']:.1f} s in {data['wall_seconds']:.1f} s wall "
              f"({data['cpu_share'] * 100:.0f} % of one core)", file=out)
        if not data["runnable_known"]:
            print("  runnable threads could not be read on this host (/proc/stat): misses not compared", file=out)
        else:
            print(f"  runnable threads: median {data['runnable_median']:g}, max {data['runnable_max']}; "
                  f"more than {data['cores']} (oversubscribed) for {data['oversubscribed_seconds']:.1f} s "
                  f"({data['oversubscribed_share'] * 100:.0f} % of the run)", file=out)
            print("  " + miss_sentence(data), file=out)
        _print_processes(data, out)


def _print_processes(data: dict[str, Any], out: TextIO) -> None:
    """One line per process when the run has more than one (robot hosts); the busiest ``SHOWN`` of many."""
    procs = data.get("processes") or []
    if len(procs) < 2:
        return  # hosts: shared - the block above is the one process's already
    total = sum(p["cpu_seconds"] for p in procs)
    wall = data["wall_seconds"]
    hosts = len(procs) - 1
    print(f"  CPU per process (world + {hosts} host{'s' if hosts != 1 else ''}): {total:.1f} s together"
          + (f", {total / wall:.2f} of {data['cores']} cores on average" if wall > 0 else ""), file=out)
    shown = procs
    if len(procs) > SHOWN:  # the world, the gone hosts, then the busiest: SHOWN of them, listed in run order
        gone = [i for i, p in enumerate(procs) if p["gone"]]
        busiest = sorted(range(len(procs)), key=lambda i: -procs[i]["cpu_seconds"])
        keep = list(dict.fromkeys([0, *gone, *busiest]))[:SHOWN]
        shown = [procs[i] for i in sorted(keep)]
    for p in shown:
        print("    " + process_line(p, data["runnable_known"]), file=out)
    listed = {id(p) for p in shown}
    rest = [p["cpu_seconds"] for p in procs if id(p) not in listed]
    if rest:
        rest.sort()
        print(f"    ... {len(rest)} more: CPU {rest[0]:.1f} to {rest[-1]:.1f} s, median {rest[len(rest) // 2]:.1f} s "
              "(report.json host.processes)", file=out)


def process_line(p: dict[str, Any], compared: bool = True) -> str:
    """``host-2 (amr-3, amr-4): CPU 12.3 s (61 % of one core), 3 of 5 misses while oversubscribed``."""
    robots = p["robots"]
    if len(robots) > 4:
        names = f"{robots[0]}, {robots[1]}, ... {robots[-1]}: {len(robots)} robots"
    else:
        names = ", ".join(robots)
    who = names if p["name"] != "main" else ("world" + (f"; {names}" if names else ""))
    line = (f"{p['name']}{f' ({who})' if who else ''}: "
            f"CPU {p['cpu_seconds']:.1f} s ({p['cpu_share'] * 100:.0f} % of one core)")
    if p["gone"]:
        line += f", gone at {p['gone_at']:.1f} s"
    if p["misses"] and compared:
        line += f", {p['misses_oversubscribed']} of {p['misses_checked']} misses while oversubscribed"
    elif p["misses"]:
        line += f", {p['misses']} misses"
    return line


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
