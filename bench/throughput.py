"""Virtual-time throughput: workers vs inline on the stress fleet, and the warehouse's speed factor.

In virtual time (``run.clock: virtual``) the simulation runs as fast as it can,
one thread at a time, so the only parallelism is inside a call: the worker pool
splitting a ray cast across processes. Throughput = simulated robot-steps
(robots x physics steps) per wall second; configurations alternate and repeat so
a noisy neighbour hits both alike, and the median is quoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import median, run_scenario
from bench.profiles import stress_profile
from sim.scenario.load import load_scenario

ROOT = Path(__file__).resolve().parent.parent
STRESS_FILE = ROOT / "scenarios" / "stress.yaml"


def stress_scenario(workers: int, seconds: float, robots: int) -> tuple[Any, str]:
    """``scenarios/stress.yaml`` when it exists, else the generated lidar-heavy fleet."""
    overrides = {"run.clock": "virtual", "run.duration": seconds, "physics.workers": workers}
    if STRESS_FILE.exists():
        return load_scenario(STRESS_FILE, overrides), str(STRESS_FILE.relative_to(ROOT))
    return stress_profile(robots, duration=seconds, clock="virtual", workers=workers), \
        f"generated: {robots} robots, 720-beam 20 m lidar at 20 Hz"


def robot_steps_per_second(workers: int, seconds: float, robots: int) -> tuple[float, str, int]:
    scenario, source = stress_scenario(workers, seconds, robots)
    run, wall = run_scenario(scenario, timeout=600)
    if run.end_reason != "completed":
        raise RuntimeError(f"stress run with workers={workers} ended: {run.end_reason} {run.failures}")
    return len(run.bodies) * run.physics.steps / wall, source, len(run.bodies)


def measure_workers_speedup(seconds: float = 3.0, robots: int = 48, repeats: int = 3,
                            workers: int = 2) -> dict[str, Any]:
    """Median robot-steps/s inline and with ``workers`` processes, and their ratio."""
    rates: dict[int, list[float]] = {0: [], workers: []}
    source, n = "", 0
    for _ in range(repeats):
        for w in (0, workers):
            rate, source, n = robot_steps_per_second(w, seconds, robots)
            rates[w].append(rate)
    inline, pooled = median(rates[0]), median(rates[workers])
    return {"scenario": source, "robots": n, "simulated_seconds": seconds, "inline": inline,
            "pooled": pooled, "workers": workers, "speedup": pooled / inline, "samples": rates}


def measure_virtual_speed(seconds: float = 300.0, scenario_file: Path | None = None,
                          repeats: int = 1) -> dict[str, Any]:
    """Simulated / wall seconds of the 8-robot warehouse in virtual time (target >= 30).

    Measured with the outputs ``run.py`` writes (cycles.csv, the miss timeline and
    trace.json) and with ``--no-trace`` (cycles.csv and the miss timeline), alternating.
    """
    from sim.report.outputs import run_listeners

    path = scenario_file or ROOT / "scenarios" / "warehouse.yaml"
    factors: dict[str, list[float]] = {"with_trace": [], "no_trace": []}
    switches = []
    for _ in range(repeats):
        for kind in factors:
            scenario = load_scenario(path, {"run.clock": "virtual", "run.duration": seconds})
            run, wall = run_scenario(scenario, listeners=run_listeners(trace=kind == "with_trace"), timeout=3600)
            if run.end_reason != "completed" or run.failures:
                raise RuntimeError(f"virtual warehouse run ended: {run.end_reason} {run.failures}")
            factors[kind].append(run.sim_seconds / wall if wall > 0 else 0.0)
            switches.append(getattr(run.clock, "switches", 0) / max(run.sim_seconds, 1e-9))
    return {"scenario": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
            "simulated_seconds": seconds, "speed_factor": median(factors["with_trace"]),
            "speed_factor_no_trace": median(factors["no_trace"]), "samples": factors,
            "thread_switches_per_simulated_second": median(switches)}
