"""The ``host`` section: CPU share, oversubscription over time, and the misses that coincide with it.

Scripted samples (a source whose runnable counts and CPU seconds are given) on a scripted clock,
so every figure is exact; one short real-clock run (slow) shows the section appears, and a virtual
run shows it does not.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from sim.core.clock import ManualClock, RealClock
from sim.core.control import Cycle
from sim.core.handle import HostInfo
from sim.features.hostload import SHOWN, HostLoad, ProcHost, miss_sentence, process_line
from sim.features.misses import MissTimeline
from sim.report.build import print_report
from sim.report.outputs import run_listeners
from sim.runtime.run import Run
from sim.scenario.load import load_scenario
from sim.session import execute
from tests.scripted_run import TINY, finish_within, virtual_run


class ScriptedClock(ManualClock):
    """Simulated time moved by hand, and real time that moves with it (time scale 1)."""

    def real_elapsed(self) -> float:
        return self.now()


class ScriptedHost:
    """A host whose runnable count and CPU seconds (this process's, other pids') the test sets before each sample."""

    def __init__(self, cores: int = 2) -> None:
        self.cores = cores
        self.run: int | None = 0
        self.cpu = 0.0
        self.others: dict[int, float | None] = {}  # pid -> CPU seconds; None or absent: gone
        self.reads: list[int] = []

    def cpu_seconds(self) -> float:
        return self.cpu

    def runnable(self) -> int | None:
        return self.run

    def process_cpu_seconds(self, pid: int) -> float | None:
        self.reads.append(pid)
        return self.others.get(pid)


def miss(release: float, finish: float, robot: str = "r0") -> Cycle:
    return Cycle(robot, 0, release, release, release, finish, release + 0.05, 0.0, True, False, False, None, ())


def hit(release: float, robot: str = "r0") -> Cycle:
    return Cycle(robot, 0, release, release, release, release + 0.01, release + 0.05, 0.0, False, False, False,
                 None, ())


def scripted(runnable: list[int | None], period: float = 0.1, cpu_per_sample: float = 0.05,
             duration: float = 10.0, **kw: int) -> tuple[HostLoad, ScriptedClock, ScriptedHost]:
    """A HostLoad fed one sample every ``period`` s at t = 0, period, ... with these runnable counts."""
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True, **kw)
    hl.setup(clock, ["r0", "r1"], duration)
    for i, n in enumerate(runnable):
        clock.set(i * period)
        host.run, host.cpu = n, i * cpu_per_sample
        hl.sample()
    return hl, clock, host


def test_a_miss_inside_at_the_edge_and_outside_an_oversubscribed_span() -> None:
    # samples every 1/8 s (exact in binary) at 0 .. 1.125; runnable 3 > 2 cores at 0.5 and 0.625:
    # their spans tile [0.4375, 0.6875)
    hl, _, _ = scripted([1, 1, 1, 1, 3, 3, 1, 1, 1, 1], period=0.125)
    hl.on_cycle(miss(0.5, 0.55))        # inside
    hl.on_cycle(miss(0.4, 0.4375))      # finishes exactly where the span starts: overlaps
    hl.on_cycle(miss(0.6875, 0.7))      # released exactly where it ends: the next (quiet) span's
    hl.on_cycle(miss(0.1, 0.2))         # well outside
    hl.on_cycle(miss(0.2, 0.9, "r1"))   # spans it entirely
    hl.on_cycle(hit(0.5))               # not a miss: not counted
    hl.finish()
    s = hl.summary()
    assert (s["misses"], s["misses_checked"], s["misses_oversubscribed"]) == (5, 5, 3)
    assert s["misses_oversubscribed_share"] == pytest.approx(0.6)
    assert s["oversubscribed_seconds"] == pytest.approx(0.25)
    assert s["oversubscribed_share"] == pytest.approx(0.2)  # spans cover [-0.0625, 1.1875)
    assert s["runnable_max"] == 3 and s["runnable_median"] == 1.0


def test_misses_are_matched_as_the_run_goes_once_their_finish_is_covered() -> None:
    # samples at 0, 1/8, 1/4: spans [-1/16, 1/16) and [1/16, 3/16) closed (both oversubscribed); 1/4's open
    hl, clock, host = scripted([3, 3, 1], period=0.125)
    hl.on_cycle(miss(0.0, 0.1))
    hl.on_cycle(miss(0.2, 0.24))  # not covered yet: waits for the next sample
    clock.set(0.375)
    host.run = 1
    hl.sample()  # closes [3/16, 5/16): quiet
    assert (hl.checked, hl.coincident) == (2, 1)
    assert hl._waiting == []


def test_cpu_share_and_the_timeline() -> None:
    # 21 samples over 2 s; CPU grows 0.05 s per 0.1 s of wall: half a core. Second 1 is oversubscribed.
    runnable = [1] * 10 + [4] * 10 + [2]
    hl, _, _ = scripted(runnable, cpu_per_sample=0.05, duration=3.0)
    hl.finish()
    s = hl.summary()
    assert s["samples"] == 21 and s["cores"] == 2
    assert s["cpu_seconds"] == pytest.approx(1.0) and s["wall_seconds"] == pytest.approx(2.0)
    assert s["cpu_share"] == pytest.approx(0.5)
    assert s["bin_width"] == 1.0
    assert [row[:2] for row in s["timeline"]] == [[0.0, 1], [1.0, 4], [2.0, 2]]
    assert s["timeline"][0][2] == pytest.approx(0.5)
    assert s["oversubscribed_seconds"] == pytest.approx(1.0)
    assert s["runnable_median"] == 2.0  # 10 ones, 1 two, 10 fours


def test_an_unreadable_host_compares_no_miss() -> None:
    hl, _, _ = scripted([None, None, None])
    hl.on_cycle(miss(0.0, 0.2))
    hl.finish()
    s = hl.summary()
    assert not s["runnable_known"] and s["misses_oversubscribed"] == 0 and s["runnable_max"] is None
    out = io.StringIO()
    HostLoad.print_section(s, out)
    assert "could not be read" in out.getvalue()


def test_the_printed_sentence() -> None:
    hl, _, _ = scripted([1, 3, 1, 1])
    for t in (0.05, 0.1, 0.12):  # all overlap the span of the sample at 0.1: [0.05, 0.15)
        hl.on_cycle(miss(t, t + 0.01))
    hl.on_cycle(miss(0.2, 0.21))
    hl.finish()
    out = io.StringIO()
    HostLoad.print_section(hl.summary(), out)
    text = out.getvalue()
    assert ("3 of 4 misses (75 %) happened while the host had more runnable threads than cores: "
            "those are the host's, not the design's") in text
    assert "Host (main process, 4 samples at 10 Hz, 2 cores)" in text
    assert miss_sentence({"misses": 0, "misses_checked": 0, "misses_oversubscribed": 0}) == "no deadline misses"
    quiet = {"misses": 5, "misses_checked": 4, "misses_oversubscribed": 0}
    assert miss_sentence(quiet) == ("none of 4 misses happened while the host had more runnable threads than "
                                    "cores: the host did not cause them (1 more not compared)")


def test_misses_past_the_inbox_are_counted_not_compared() -> None:
    hl, _, _ = scripted([3, 3], period=0.125, inbox=3)
    for _ in range(5):  # five misses between two samples; the inbox keeps the newest three
        hl.on_cycle(miss(0.0, 0.1))
    hl.finish()
    s = hl.summary()
    assert (s["misses"], s["misses_checked"], s["misses_oversubscribed"]) == (5, 3, 3)
    assert miss_sentence(s).endswith("(2 more not compared)")


class CountedStop:
    """A stop event whose timed waits return at once: False ``ticks`` times, then True."""

    def __init__(self, ticks: int, clock: ScriptedClock) -> None:
        self.ticks, self.clock, self.waits = ticks, clock, []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.clock.advance(timeout)
        self.ticks -= 1
        return self.ticks < 0


def test_the_sampler_loop_samples_from_time_zero_once_per_interval_until_stopped() -> None:
    clock, host = ScriptedClock(start=-0.1), ScriptedHost()
    hl = HostLoad(source=host, real=True, interval=0.25)
    hl.setup(clock, ["r0"], 5.0)
    stop = CountedStop(4, clock)
    hl.sample_until(stop, clock)  # type: ignore[arg-type]
    assert hl.samples == 5 and stop.waits == [0.25] * 5
    assert hl.summary()["wall_seconds"] == pytest.approx(1.0)  # first sample at time 0 (the clock slept to it)
    stopped = ManualClock()
    stopped.request_stop()
    idle = HostLoad(source=host, real=True)
    idle.setup(stopped, ["r0"], 5.0)
    idle.sample_until(CountedStop(3, clock), stopped)  # type: ignore[arg-type]
    assert idle.samples == 0 and idle.report_section(None) is None  # type: ignore[arg-type]


def test_memory_stays_bounded_over_a_long_run() -> None:
    """Three hours at 10 Hz with a miss every sample: the figures stay exact, memory does not grow."""
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True, ring=64, max_bins=100)
    hours = 3
    hl.setup(clock, ["r0"], hours * 3600.0)

    def feed(i0: int, i1: int) -> None:
        for i in range(i0, i1):
            t = i * 0.1
            clock.set(t)
            host.run, host.cpu = (3 if i % 10 == 0 else 1), t / 2
            hl.on_cycle(miss(t - 0.04, t - 0.02))  # the sample at t - 0.1 and t: oversubscribed 1 in 10
            hl.sample()

    n = hours * 36000
    feed(0, n // 10)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    feed(n // 10, n)
    grown = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    hl.finish()
    s = hl.summary()
    assert s["samples"] == n and s["misses"] == n and s["misses_checked"] == n
    # a miss [t-0.04, t-0.02] lies in the span of the sample at t, [t-0.05, t+0.05)
    assert s["misses_oversubscribed"] == n // 10
    assert len(s["timeline"]) <= 100 and len(hl._spans) == 64
    assert grown < 64_000, f"memory grew by {grown} bytes over {n - n // 10} samples"


def test_real_clock_runs_attach_and_virtual_runs_do_not() -> None:
    """Attachment follows the clock: a real clock samples; a virtual or test clock does not (unless told)."""
    class Handle:
        def __init__(self, clock: object) -> None:
            self.clock, self.listeners, self.timeline_hooks = clock, [], []

        def add_listener(self, x: object) -> None:
            self.listeners.append(x)

    real, manual = Handle(RealClock()), Handle(ManualClock())
    HostLoad().attach(real)  # type: ignore[arg-type]
    HostLoad().attach(manual)  # type: ignore[arg-type]
    assert len(real.listeners) == 1 and len(real.timeline_hooks) == 1
    assert manual.listeners == [] and manual.timeline_hooks == []


def test_proc_host_reads_procs_running(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 5\nprocs_blocked 0\n")
    assert ProcHost(str(stat)).runnable() == 4  # the sampler reading it excluded
    assert ProcHost(str(tmp_path / "absent")).runnable() is None
    assert ProcHost().cpu_seconds() > 0


def test_a_virtual_run_has_no_host_section(tmp_path: Path) -> None:
    _, report = virtual_run(tmp_path, run_listeners(trace=False), {"run.duration": 1.0})
    assert "host" not in report


def three_processes() -> tuple[HostLoad, ScriptedHost]:
    """The world (no robots) and two hosts; host-2 vanishes at 1.5 s. 25 samples 1/8 s apart over 3 s.

    CPU per 1/8 s: main 1/32 (25 % of a core), host-1 1/10 (80 %), host-2 1/40 (20 %).
    Runnable 3 > 2 cores through second 1 (samples 1.0 .. 1.875): the spans [0.9375, 1.9375).
    """
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True)
    hl.setup(clock, ["r0", "r1", "r2"], 3.0)
    hl.use_processes([HostInfo("main", os.getpid(), ()), HostInfo("host-1", 101, ("r0", "r1")),
                      HostInfo("host-2", 102, ("r2",))])
    for i in range(25):
        t = i / 8
        clock.set(t)
        host.run = 3 if 8 <= i < 16 else 1
        host.cpu = i / 32
        host.others = {101: i / 10, **({102: i / 40} if t < 1.5 else {})}
        if i == 12:
            hl.on_cycle(miss(1.2, 1.3, "r0"))  # oversubscribed
            hl.on_cycle(miss(0.3, 0.35, "r0"))  # quiet
            hl.on_cycle(miss(1.1, 1.15, "r2"))  # oversubscribed, on host-2 before it vanished
        hl.sample()
    hl.finish()
    return hl, host


def test_every_process_is_sampled_and_a_vanished_one_keeps_its_last_value() -> None:
    hl, host = three_processes()
    s = hl.summary()
    main, h1, h2 = s["processes"]
    assert [p["name"] for p in s["processes"]] == ["main", "host-1", "host-2"]
    assert main["robots"] == [] and h1["robots"] == ["r0", "r1"] and h1["pid"] == 101
    # main is this process: read once a tick through cpu_seconds(), never through /proc
    assert os.getpid() not in host.reads
    assert main["cpu_seconds"] == pytest.approx(24 / 32) == s["cpu_seconds"]
    assert main["cpu_share"] == pytest.approx(0.25) and not main["gone"]
    assert h1["cpu_seconds"] == pytest.approx(2.4) and h1["cpu_share"] == pytest.approx(0.8)
    assert h1["wall_seconds"] == pytest.approx(3.0) and not h1["gone"] and h1["gone_at"] is None
    # host-2: last read at 1.375 (11 / 40 s of CPU), found gone at 1.5, never read again
    assert h2["gone"] and h2["gone_at"] == 1.5
    assert h2["cpu_seconds"] == pytest.approx(11 / 40) and h2["wall_seconds"] == pytest.approx(1.375)
    assert h2["cpu_share"] == pytest.approx(0.2)
    assert host.reads.count(102) == 13 and host.reads.count(101) == 25
    # misses per process, from its robots
    assert (h1["misses"], h1["misses_checked"], h1["misses_oversubscribed"]) == (2, 2, 1)
    assert (h2["misses"], h2["misses_checked"], h2["misses_oversubscribed"]) == (1, 1, 1)
    assert (main["misses"], s["misses"], s["misses_oversubscribed"]) == (0, 3, 2)
    # per-process timelines, one value per row of the section's timeline (bins 0..3 s)
    assert [row[0] for row in s["timeline"]] == [0.0, 1.0, 2.0, 3.0]
    assert h1["timeline"][:3] == [pytest.approx(0.8)] * 3
    assert h2["timeline"][:2] == [pytest.approx(0.2)] * 2 and h2["timeline"][2:] == [None, None]
    assert main["timeline"][:3] == [pytest.approx(0.25)] * 3
    json.dumps(s)  # report.json can hold it


def test_hosts_stopped_by_the_end_of_the_run_are_not_called_gone() -> None:
    """``close``'s last sample runs after the end, when the hosts may have been stopped already."""
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True)
    hl.setup(clock, ["r0", "r1"], 2.0)
    hl.use_processes([HostInfo("main", os.getpid(), ()), HostInfo("host-1", 7, ("r0",)),
                      HostInfo("host-2", 8, ("r1",))])
    for i in range(5):
        clock.set(i / 4)
        host.others = {7: i / 8, **({8: i / 8} if i < 3 else {})}  # host-2 dies during the run
        hl.sample()
    clock.set(1.25)
    host.others = {}  # the run ended and stopped host-1
    hl.close(None)  # type: ignore[arg-type]
    _, h1, h2 = hl.summary()["processes"]
    assert not h1["gone"] and h1["cpu_seconds"] == pytest.approx(0.5)
    assert h2["gone"] and h2["gone_at"] == 0.75 and h2["cpu_seconds"] == pytest.approx(0.25)


def test_the_printed_block_lists_each_process_with_its_robots() -> None:
    hl, _ = three_processes()
    out = io.StringIO()
    HostLoad.print_section(hl.summary(), out)
    lines = out.getvalue().splitlines()[1:]  # after the blank line
    assert lines[0].startswith("Host (main process, 25 samples at 10 Hz, 2 cores): CPU 0.8 s in 3.0 s wall")
    assert lines[2] == "  2 of 3 misses (67 %) happened while the host had more runnable threads than cores: " \
                       "those are the host's, not the design's"
    assert lines[3] == "  CPU per process (world + 2 hosts): 3.4 s together, 1.14 of 2 cores on average"
    assert lines[4:] == [
        "    main (world): CPU 0.8 s (25 % of one core)",
        "    host-1 (r0, r1): CPU 2.4 s (80 % of one core), 1 of 2 misses while oversubscribed",
        "    host-2 (r2): CPU 0.3 s (20 % of one core), gone at 1.5 s, 1 of 1 misses while oversubscribed",
    ]


def test_one_process_prints_as_before_and_lists_it_in_processes() -> None:
    hl, _, _ = scripted([1, 3, 1, 1])
    hl.on_cycle(miss(0.1, 0.12))
    hl.finish()
    s = hl.summary()
    assert [(p["name"], p["pid"], p["robots"]) for p in s["processes"]] == [("main", os.getpid(), ["r0", "r1"])]
    assert s["processes"][0]["cpu_seconds"] == s["cpu_seconds"]
    assert s["processes"][0]["misses_oversubscribed"] == s["misses_oversubscribed"] == 1
    out = io.StringIO()
    HostLoad.print_section(s, out)
    assert out.getvalue().count("\n") == 4  # a blank line and the three lines it always had


def test_an_unreadable_host_still_lists_its_processes() -> None:
    hl, _ = three_processes()
    data = hl.summary() | {"runnable_known": False}
    out = io.StringIO()
    HostLoad.print_section(data, out)
    lines = out.getvalue().splitlines()
    assert "could not be read" in lines[2]
    assert lines[-2] == "    host-1 (r0, r1): CPU 2.4 s (80 % of one core), 2 misses"


FAKE_PID = 5_000_000  # above Linux's largest pid_max (2^22): never this test's own pid, which HostLoad reads as main


def test_hundreds_of_hosts_print_the_world_the_gone_and_the_busiest() -> None:
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True)
    robots = [f"amr-{i}" for i in range(400)]
    hl.setup(clock, robots, 2.0)
    hosts = [HostInfo(f"host-{i + 1}", FAKE_PID + i, tuple(robots[2 * i:2 * i + 2])) for i in range(200)]
    hl.use_processes([HostInfo("main", os.getpid(), ()), *hosts])
    for i in range(5):
        clock.set(i / 10)
        host.cpu = i / 10
        host.others = {FAKE_PID + h: i * (h + 1) / 10_000 for h in range(200) if not (h == 7 and i >= 2)}
        hl.sample()
    hl.finish()
    out = io.StringIO()
    HostLoad.print_section(hl.summary(), out)
    listed = [ln.strip() for ln in out.getvalue().splitlines() if ln.startswith("    ")]
    assert len(listed) == SHOWN + 1
    names = [ln.split()[0] for ln in listed[:-1]]
    assert names == ["main", "host-8", *[f"host-{h}" for h in range(193, 201)]]  # in run order
    assert "gone at 0.2 s" in listed[1]
    assert listed[-1].startswith("... 191 more: CPU 0.0 to 0.1 s")
    assert listed[-1].endswith("(report.json host.processes)")
    many = {"name": "host-1", "robots": [f"amr-{i}" for i in range(40)], "cpu_seconds": 1.0, "cpu_share": 0.5,
            "gone": False, "misses": 3, "misses_checked": 3, "misses_oversubscribed": 0}
    assert process_line(many) == ("host-1 (amr-0, amr-1, ... amr-39: 40 robots): CPU 1.0 s (50 % of one core), "
                                  "0 of 3 misses while oversubscribed")
    assert process_line(many, compared=False).endswith("(50 % of one core), 3 misses")


def test_memory_is_processes_times_bins_however_long_the_run() -> None:
    """300 processes over 1000 s: fixed arrays of ``max_bins`` per process; sampling allocates nothing lasting."""
    clock, host = ScriptedClock(), ScriptedHost()
    hl = HostLoad(source=host, real=True, ring=64, max_bins=100)
    hl.setup(clock, ["r0"], 1000.0)
    hl.use_processes([HostInfo("main", os.getpid(), ("r0",))]
                     + [HostInfo(f"host-{i}", 10 + i, ()) for i in range(300)])
    host.others = dict.fromkeys(range(10, 310), 0.0)

    def feed(i0: int, i1: int) -> None:
        for i in range(i0, i1):
            clock.set(i / 2)
            host.cpu = i / 4
            for pid in host.others:
                host.others[pid] = i / 8
            host.reads.clear()
            hl.sample()

    feed(0, 200)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    feed(200, 2000)
    grown = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert all(len(p.bin_cpu) == len(p.bin_wall) == 100 for p in hl.procs)
    assert grown < 64_000, f"memory grew by {grown} bytes over 1800 samples of 301 processes"
    assert hl.summary()["processes"][5]["cpu_share"] == pytest.approx(0.25)


def test_proc_host_reads_another_process_stat(tmp_path: Path) -> None:
    """utime + stime in clock ticks, after a command name with spaces and parentheses; gone, zombie, reused pid."""
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    fields = ["S"] + ["0"] * 40
    fields[11], fields[12], fields[19] = "250", "50", "777"  # utime, stime (fields 14, 15), starttime (22)

    def write(state: str = "S", born: str = "777") -> None:
        f = list(fields)
        f[0], f[19] = state, born
        (proc / "42" / "stat").write_text("42 (a (b) c) " + " ".join(f) + "\n")

    host = ProcHost(proc=str(proc))
    write()
    assert host.process_cpu_seconds(42) == pytest.approx(300 / host.tick)
    write(born="778")  # the pid was reused by a newer process
    assert host.process_cpu_seconds(42) is None
    write(state="Z")
    assert host.process_cpu_seconds(42) is None
    assert host.process_cpu_seconds(43) is None  # no such process
    real = ProcHost()
    assert real.process_cpu_seconds(os.getpid()) is not None  # this process's own /proc entry parses


@pytest.mark.slow
def test_proc_host_calls_an_exited_child_gone_before_it_is_reaped() -> None:
    host = ProcHost()
    child = subprocess.Popen(["sleep", "60"])
    try:
        first = host.process_cpu_seconds(child.pid)
        assert first is not None and first >= 0
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left a zombie (not reaped)
        assert host.process_cpu_seconds(child.pid) is None
    finally:
        child.kill()
        child.wait()
    assert host.process_cpu_seconds(child.pid) is None  # reaped: no /proc entry


class KillingSource(ProcHost):
    """The real host, which kills and reaps ``victim`` at its fourth sample (so it vanishes mid-run)."""

    def __init__(self, victim: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.victim, self.calls = victim, 0

    def runnable(self) -> int | None:
        self.calls += 1
        if self.calls == 4:
            self.victim.kill()
            self.victim.wait()
        return super().runnable()


@pytest.mark.slow
def test_a_real_run_samples_real_host_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy child and a sleeping one stand in for two robot hosts; the sleeper is killed mid-run."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        def hosts(run: Run) -> list[HostInfo]:
            return [HostInfo("main", os.getpid(), ()), HostInfo("host-1", busy.pid, ("r1",)),
                    HostInfo("host-2", sleeper.pid, ())]

        monkeypatch.setattr(Run, "host_processes", hosts)
        sc = load_scenario(TINY, {"run.clock": "real", "run.duration": 2.0})
        result = execute(sc, tmp_path, clock=RealClock(), listeners=[MissTimeline(), HostLoad(KillingSource(sleeper))],
                         write_report=True, plot=False, present=finish_within(60), started_at="test")
    finally:
        busy.kill()
        sleeper.kill()
        busy.wait()
        sleeper.wait()
    host = json.loads((tmp_path / "report.json").read_text())["host"]
    main, h1, h2 = host["processes"]
    assert (main["name"], h1["pid"], h1["robots"], h2["pid"]) == ("main", busy.pid, ["r1"], sleeper.pid)
    assert main["cpu_seconds"] == host["cpu_seconds"] > 0
    assert h1["cpu_seconds"] > 0 and not h1["gone"] and h1["misses"] == host["misses"]
    assert h2["gone"] and h2["gone_at"] is not None and h2["cpu_seconds"] < h1["cpu_seconds"]
    assert len(h1["timeline"]) == len(host["timeline"])
    out = io.StringIO()
    print_report(result.report, out)
    text = out.getvalue()
    assert "CPU per process (world + 2 hosts)" in text and "    host-1 (r1): CPU " in text
    assert "    host-2 (): CPU" not in text and "    host-2: CPU" in text
    print(text[text.index("\nHost ("):])


@pytest.mark.slow
def test_a_short_real_clock_run_reports_the_host(tmp_path: Path) -> None:
    sc = load_scenario(TINY, {"run.clock": "real", "run.duration": 1.5})
    result = execute(sc, tmp_path, clock=RealClock(), listeners=run_listeners(trace=False), write_report=True,
                     plot=False, present=finish_within(60), started_at="test")
    host = json.loads((tmp_path / "report.json").read_text())["host"]
    assert host["samples"] >= 5 and host["cores"] >= 1 and host["cpu_seconds"] > 0
    assert host["cpu_share"] > 0 and host["wall_seconds"] > 1.0
    assert host["misses"] == result.report["summary"]["misses"]
    assert host["misses_checked"] == host["misses"]
    out = io.StringIO()
    print_report(result.report, out)
    assert "Host (main process" in out.getvalue()
    threads = {t["name"]: t for t in result.report["run"]["threads"]}
    assert threads["host-sampler"]["role"] == "monitor"
