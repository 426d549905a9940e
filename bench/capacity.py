"""Capacity: the most robots of the warehouse profile that still run in real time.

A trial runs ``n`` robots (``bench.profiles``) on the real clock for a few seconds
and passes when all three hold: the real-time factor (simulated time physics
advanced / the real time from simulated 0 to its last step) >= 0.99, the controllers' deadline-miss rate < 1 %, and
every sensor's achieved rate within 2 % of its nominal rate. The search doubles
``n`` until a trial fails, then bisects between the last pass and the first fail.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench.common import run_scenario
from bench.profiles import warehouse_profile
from sim.core.physicstask import PhysicsTask

RTF_MIN = 0.99
MISS_MAX = 0.01
RATE_TOLERANCE = 0.02


def trial(n: int, workers: int, seconds: float, hosts: str | int = "shared") -> dict[str, Any]:
    """One real-time run of ``n`` robots; the figures and whether it passed (``hosts`` N > n: n hosts)."""
    if isinstance(hosts, int):
        hosts = min(hosts, n)
    with physics_end_recorded():
        run, _ = run_scenario(warehouse_profile(n, duration=seconds, workers=workers, hosts=hosts),
                              timeout=seconds * 3 + 30)
    return judge(run, n, workers, hosts)


@contextlib.contextmanager
def physics_end_recorded() -> Iterator[None]:
    """Note on each physics task the ``perf_counter`` instant its thread ended (``bench_ended_at``).

    Why: the real-time factor is simulated time over the real time it took, from simulated 0 to the
    last physics step. ``Run.wall_seconds`` also counts the stop (every thread joined, the robot
    hosts' final statistics collected: 50-500 ms with hosts), which is not the simulation falling behind.
    """
    orig = PhysicsTask.run

    def run(task: PhysicsTask) -> None:
        try:
            orig(task)
        finally:
            task.bench_ended_at = time.perf_counter()  # type: ignore[attr-defined]

    PhysicsTask.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        PhysicsTask.run = orig  # type: ignore[method-assign]


def judge(run: Any, n: int, workers: int, hosts: str | int) -> dict[str, Any]:
    """A stopped real-time run's figures and whether they pass (RTF, misses, every sensor's rate)."""
    cycles = sum(c.stats.cycles for c in run.controllers)
    misses = sum(c.stats.misses for c in run.controllers)
    ratios = [rt.stats.rate.rate() / rt.rate_hz for rt in run.sensors]
    worst = min(ratios) if all(math.isfinite(r) for r in ratios) else 0.0
    worst_hi = max(ratios) if all(math.isfinite(r) for r in ratios) else math.inf
    by_kind: dict[str, float] = {}
    for rt, r in zip(run.sensors, ratios, strict=True):
        by_kind[rt.sensor.kind] = min(by_kind.get(rt.sensor.kind, math.inf), r)
    rtf_with_stop = run.physics.time / run.wall_seconds if run.wall_seconds > 0 else 0.0
    ended, origin = getattr(run.physics_task, "bench_ended_at", None), getattr(run.clock, "origin", None)
    rtf = run.physics.time / (ended - origin) if ended is not None and origin is not None and ended > origin \
        else rtf_with_stop
    miss_rate = misses / cycles if cycles else 1.0
    ok = (run.end_reason == "completed" and not run.failures and rtf >= RTF_MIN and miss_rate < MISS_MAX
          and worst >= 1 - RATE_TOLERANCE and worst_hi <= 1 + RATE_TOLERANCE)
    return {"robots": n, "workers": workers, "hosts": hosts, "passed": ok, "rtf": rtf, "rtf_with_stop": rtf_with_stop,
            "miss_rate": miss_rate,
            "worst_sensor_rate": worst, "worst_rate_by_kind": by_kind, "end_reason": run.end_reason,
            "late_physics_steps": run.physics_task.late_steps,
            "failures": [str(getattr(f, "error", f))[:200] for f in run.failures]}


def search(workers: int, seconds: float, start: int = 8, limit: int = 512, resolution: float = 0.1,
           log: Callable[[str], None] = print, retries: int = 0, hosts: str | int = "shared") -> dict[str, Any]:
    """Largest passing fleet size: double from ``start``, then bisect to within ``resolution`` (relative).

    ``retries``: a failed size is tried again up to this many times and passes if any
    try does. The host is shared: a neighbour's burst (stalls of 0.2-2 s were seen) is
    not the simulator's capacity, and a size that really is too big fails every time.
    ``hosts``: ``run.hosts`` of every trial (``shared``, ``per_robot`` or a process count).
    """
    trials: list[dict[str, Any]] = []

    def attempt(n: int) -> bool:
        for _ in range(retries + 1):
            t = trial(n, workers, seconds, hosts)
            trials.append(t)
            log(f"  capacity workers={workers} hosts={hosts} n={n}: {'pass' if t['passed'] else 'FAIL'} "
                f"rtf={t['rtf']:.3f} miss={t['miss_rate']:.2%} worst sensor rate="
                + ", ".join(f"{k} {v:.3f}" for k, v in t.get("worst_rate_by_kind", {}).items()))
            if t["passed"]:
                return True
        return False

    good, bad = 0, None
    n = start
    while n <= limit:
        if attempt(n):
            good, n = n, n * 2
        else:
            bad = n
            break
    if bad is None:
        return {"workers": workers, "hosts": hosts, "capacity": good, "bounded_by_limit": True, "trials": trials}
    lo, hi = good, bad
    while hi - lo > max(1, math.ceil(resolution * lo)):
        mid = (lo + hi) // 2
        if mid in (lo, hi):
            break
        if attempt(mid):
            lo = mid
        else:
            hi = mid
    return {"workers": workers, "hosts": hosts, "capacity": lo, "first_failure": hi, "bounded_by_limit": False,
            "trials": trials}
