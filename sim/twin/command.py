"""``run.py twin SCENARIO``: a real-time run, then its virtual twin replaying its measured compute; who missed.

The real run is an ordinary run folder; the twin runs in its ``twin/`` subfolder with every controller's
``execution`` replaced by ``{model: replay, from: <the real run>}`` (sim.core.exectime), and without the
faults whose effect the recording already holds (a controller stall's added compute) or that only act
on the host (CPU hog, numpy load). ``twin.json`` and the table say, per robot and cause, which real
misses were the design's and which the host's (sim.twin.match).
"""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from sim.common.argparser import ArgumentParser as SimArgumentParser
from sim.common.files import write_json
from sim.common.texttable import print_table
from sim.errors import UsageError
from sim.twin.match import RobotTwin, as_json, classify, read_cycles, summary

# Faults the twin leaves out: their cost is in the recording already, or they act only on the real host.
NOT_IN_TWIN = frozenset({"controller_stall", "cpu_hog", "numpy_load"})


def _parser() -> ArgumentParser:
    p = SimArgumentParser(prog="run.py twin",
                          description="Run a scenario in real time, then in virtual time replaying the compute "
                          "each controller measured in that run, and match the two cycle by cycle: each real "
                          "deadline miss is the design's (it missed in the twin too) or the host's.")
    p.add_argument("scenario", type=Path)
    p.add_argument("--duration", type=float, metavar="S", help="simulated seconds (overrides run.duration)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (overrides run.seed)")
    p.add_argument("--hosts", metavar="H", help="shared, per_robot or N (overrides run.hosts)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder the run folder is made in (default: runs/)")
    return p


def main(argv: list[str]) -> int:
    """``run.py twin``: its exit status (0, or 1 when the real run failed or an ``expect:`` gate breached)."""
    args = _parser().parse_args(argv)
    if not args.scenario.is_file():
        raise UsageError(f"{args.scenario}: no such scenario file")
    return _twin(args)


def _twin(args: Any) -> int:
    from sim.scenario.load import load_scenario
    from sim.scenario.overrides import option_overrides
    from sim.session import execute

    overrides: dict[str, Any] = {"run.clock": "real", **option_overrides(args)}  # twin has no --clock
    scenario = load_scenario(args.scenario, overrides)
    print(f"twin {scenario.name}: 1/2 the real run ({scenario.run.duration:g} s simulated, real time)", flush=True)
    t0 = time.perf_counter()
    real = execute(scenario, args.out, new_folder=True, plot=False, progress=True, signals=True)
    real_wall = time.perf_counter() - t0
    if real.end_reason != "completed":  # interrupted or failed: nothing complete to replay
        print(f"twin: the real run ended {real.end_reason}, so no twin (report: {real.out / 'report.json'})",
              file=sys.stderr)
        return real.exit_status or 1
    replay = {"model": "replay", "from": str(real.out.resolve())}
    twin_scenario = load_scenario(args.scenario, {**overrides, "run.clock": "virtual",
                                                  "robots.*.controller.execution": replay})
    twin_scenario.faults = [f for f in twin_scenario.faults if f.kind not in NOT_IN_TWIN]
    print("twin: 2/2 its virtual twin, replaying each controller's measured compute", flush=True)
    t1 = time.perf_counter()
    twin = execute(twin_scenario, real.out / "twin", plot=False, trace=False, progress=True)
    twin_wall = time.perf_counter() - t1
    found = classify(read_cycles(real.out / "cycles.csv"), read_cycles(twin.out / "cycles.csv"))
    robots = {r.name: found[r.name] for r in scenario.robots if r.name in found}  # scenario order
    data = as_json(robots, {"real_run": str(real.out), "twin_run": str(twin.out),
                            "wall_seconds": {"real": real_wall, "twin": twin_wall},
                            "left_out_of_twin": sorted({f.kind for f in scenario.faults} & NOT_IN_TWIN)})
    write_json(real.out / "twin.json", data)
    print_twin(data)
    print(f"\ntwin took {twin_wall:.1f} s after the real run's {real_wall:.1f} s "
          f"({100 * twin_wall / real_wall:.0f} % more); run folder: {real.out}")
    return 1 if real.breaches or real.exit_status else 0


def print_twin(data: dict[str, Any], out: Any = sys.stdout) -> None:
    """The summary in words, then the table per robot (from ``twin.json``'s data)."""
    robots = {name: RobotTwin(**{k: v for k, v in r.items() if k in RobotTwin.__dataclass_fields__})
              for name, r in data["robots"].items()}
    print("\n== Twin: the host's misses and the design's ==", file=out)
    print(summary(robots), file=out)
    rows = [["robot", "cycles", "real misses", "twin misses", "design", "host", "design, by real cause",
             "host, by real cause"]]
    for name, r in data["robots"].items():
        rows.append([name, str(r["cycles"]), str(r["real"]), str(r["virtual"]), str(r["design"]), str(r["host"]),
                     _causes(r["design_causes"]), _causes(r["host_causes"])])
    m = data["misses"]
    rows.append(["all", str(sum(r["cycles"] for r in data["robots"].values())), str(m["real"]), str(m["virtual"]),
                 str(m["design"]), str(m["host"]), "", ""])
    print_table(rows, out)


def _causes(counts: dict[str, int]) -> str:
    return ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"
