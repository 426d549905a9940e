"""Soak benchmark: run the warehouse for minutes of real and simulated time, watch the memory.

Every statistic in a run is meant to be bounded (fixed-size histograms, drained
queues, capped logs), so a ten-minute run should hold the memory of a
ten-second one. This runs a scenario on the real clock at time scale 1 and
prints the process RSS (psutil) at the start, every ``--interval`` seconds and at
the end, plus the growth over the second half of the run (warm-up excluded).

    python -m bench.soak                 # 10 minutes of the warehouse
    python -m bench.soak --minutes 1 --interval 10

A benchmark, not a test: it takes as long as it says.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
from pathlib import Path

import psutil

from sim.runtime.run import Run
from sim.scenario.load import load_scenario
from sim.session import execute

MB = 1024 * 1024


def rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / MB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="real = simulated minutes (default 10)")
    p.add_argument("--interval", type=float, default=30.0, help="real seconds between RSS lines (default 30)")
    p.add_argument("--scenario", type=Path, default=Path("scenarios/warehouse.yaml"))
    p.add_argument("--out", type=Path, help="keep the run folder here (default: a temp folder, removed)")
    args = p.parse_args(argv)

    seconds = args.minutes * 60.0
    scenario = load_scenario(args.scenario, {"run.duration": seconds, "run.time_scale": 1.0,
                                              "run.clock": "real"})
    proc = psutil.Process()
    samples: list[tuple[float, float]] = []

    def watch(run: Run) -> None:
        """Print the RSS every ``--interval`` s until the run ends."""
        t0 = time.monotonic()
        samples.append((0.0, rss_mb(proc)))
        print(f"soak: {scenario.name}, {len(scenario.robots)} robots, {len(run.threads)} threads, "
              f"{seconds:g} s; RSS before build {before:.1f} MB, at start {samples[0][1]:.1f} MB", flush=True)
        print(f"{'real s':>8}  {'sim s':>8}  {'RSS MB':>8}  {'threads':>7}  {'cycles':>8}  {'misses':>7}", flush=True)
        while not run.finished.wait(args.interval):
            samples.append((time.monotonic() - t0, rss_mb(proc)))
            cycles = sum(c.stats.cycles for c in run.controllers)
            misses = sum(c.stats.misses for c in run.controllers)
            print(f"{samples[-1][0]:8.1f}  {run.clock.now():8.1f}  {samples[-1][1]:8.1f}  "
                  f"{threading.active_count():7d}  {cycles:8d}  {misses:7d}", flush=True)
        samples.append((time.monotonic() - t0, rss_mb(proc)))  # the end, before the run's threads are stopped

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        gc.collect()
        before = rss_mb(proc)
        result = execute(scenario, args.out or Path(tmp), listeners=[], write_report=False, plot=False,
                         present=watch, started_at="soak")
    run, report, hung = result.run, result.report, result.run.hung_threads
    s = report["summary"]
    half = [m for t, m in samples if t >= samples[-1][0] / 2]
    print(f"end: {samples[-1][0]:.1f} s real, {run.sim_seconds:.1f} s simulated, ended {run.end_reason}; "
          f"threads not stopped: {hung or 'none'}")
    print(f"RSS start {samples[0][1]:.1f} MB, end {samples[-1][1]:.1f} MB, max {max(m for _, m in samples):.1f} MB; "
          f"growth over the second half {half[-1] - half[0]:+.1f} MB")
    print(f"cycles {s['cycles']}, misses {s['misses']} ({100 * s['miss_rate']:.2f} %), "
          f"stale uses {s['stale_uses']}, collisions {s['collisions']}")
    return 1 if hung or run.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
