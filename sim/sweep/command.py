"""The command line of sweeps: ``python run.py sweep SCENARIO --seeds 0-99 --set robots.count=4,8 ...``.

Runs are headless, virtual time by default, on a local process pool or on Dask (docs/sweeps.md).
A run that crashes or breaches its ``expect:`` block is recorded with its error; the rest go on.
The modules of the package, one job each: ``grid`` (seeds x settings -> runs), ``cache`` (the runs
kept, keyed by the code that ran them), ``worker`` (one run, in a worker process), ``pool`` (the
runs not done yet, on local processes or Dask), ``progress``, ``summary`` (the table) and
``outputs`` (results.csv, summary.json, sweep.png).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from sim.common import interrupt
from sim.common.argparser import ArgumentParser
from sim.errors import UsageError
from sim.sweep.grid import Sweep, parse_seeds, parse_set, validate
from sim.sweep.outputs import write_outputs
from sim.sweep.pool import execute
from sim.sweep.progress import Progress
from sim.sweep.summary import format_table, summarise


def main(argv: list[str]) -> int:
    """``run.py sweep``: parse, check every setting loads, run what is not done, summarise; the exit status."""
    p = ArgumentParser(prog="run.py sweep", description="Run a scenario over every combination of "
                                "settings and seeds, headless, and summarise (docs/sweeps.md).")
    p.add_argument("scenario", type=Path)
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0-99 or 1,2,5 (default 0)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=V1,V2",
                   help="a setting to sweep, as a dotted scenario path; '*' = every list item "
                   "(robots.*.controller.period=0.05,0.1); robots.count=N resizes the fleet. Repeatable.")
    p.add_argument("--clock", choices=["virtual", "real"], default="virtual",
                   help="virtual (default: deterministic, fast) or real time")
    p.add_argument("--duration", type=float, help="simulated seconds per run (overrides run.duration)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes: local, or of the "
                   "--dask local cluster (default: the number of cores)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on Dask: 'local' starts a LocalCluster, or a "
                   "scheduler address like tcp://host:8786 (needs the 'sweep' extra)")
    p.add_argument("--out", type=Path, default=Path("sweeps"), help="sweep folders go here (default sweeps/)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the failed runs, the closing "
                   "'N runs, M failed' line and the files written: no first line, progress or table")
    args = p.parse_args(argv)
    if not args.scenario.is_file():
        raise UsageError(f"{args.scenario}: no such scenario file")
    if args.workers < 1:
        raise UsageError(f"--workers: got {args.workers}; must be >= 1")
    sweep = Sweep(args.scenario, parse_seeds(args.seeds), [parse_set(s) for s in args.sets], args.clock,
                  args.duration, args.out)
    validate(sweep)
    talk = not args.quiet
    if talk:
        print(f"sweep {sweep.scenario}: {len(sweep.specs)} runs ({len(sweep.seeds)} seeds x "
              f"{len(sweep.specs) // max(len(sweep.seeds), 1)} settings), {args.clock} time, "
              f"{'dask ' + args.dask if args.dask else str(args.workers) + ' local processes'}", flush=True)
    if not args.dask:  # here, once: the local processes then load every kernel from the disk cache
        from sim.world.jit import COMPILE_NOTICE, announce_compiles, warm_up_all

        with announce_compiles(lambda: print(COMPILE_NOTICE, flush=True) if talk else None):
            warm_up_all()
    t0 = time.perf_counter()
    stop = threading.Event()
    progress = Progress(sys.stderr)
    with interrupt.deferred(lambda _reason: stop.set()):
        rows = execute(sweep, args.workers, args.dask, progress if talk else _silent, stop)
    progress.end_line()
    if stop.is_set():
        print(f"sweep {interrupt.end_reason()}: {len(rows)} of {len(sweep.specs)} runs done and kept in "
              f"{sweep.folder}; the same command runs the rest", file=sys.stderr)
        return 130
    table = summarise(sweep, rows)
    paths = write_outputs(sweep, rows, table)
    if talk:
        print(format_table(sweep, table))
    failures = [r for r in rows if r["error"]]
    for r in failures[:10]:
        print(f"  failed: seed {r['seed']} {dict((p, r.get(p)) for p, _ in sweep.sets)}: {r['error']}")
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more failures (see results.csv)")
    print(f"{len(rows)} runs, {len(failures)} failed, wall {time.perf_counter() - t0:.1f} s")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _silent(done: int, total: int, failed: int, skipped: int) -> None:
    """``--quiet``'s progress: none."""
