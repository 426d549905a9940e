"""One run of a sweep, in a worker process: the scenario with its settings through ``sim.session.execute``,
headless, into a throw-away folder, as one result row."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.runtime.run import Run
    from sim.sweep.grid import RunSpec

_STOP: Any = None  # in a local worker process: the sweep's stop event (set when the sweep is interrupted)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one scenario headless and return its result row (in a worker process).

    A run that failed (any failure, fatal or not) or breached its ``expect:`` gates is a row with
    its error; a run cut short by the sweep's interrupt is marked ``interrupted`` (never kept).
    """
    import tempfile

    from sim.scenario.load import load_scenario
    from sim.session import execute
    from sim.session.verdict import INTERRUPTED

    row: dict[str, Any] = {"key": spec.key, "seed": spec.seed, **dict(spec.settings), "error": ""}
    t0 = time.perf_counter()
    try:
        overrides = {**dict(spec.settings), "run.seed": spec.seed, "run.clock": spec.clock}
        if spec.duration is not None:
            overrides["run.duration"] = spec.duration
        scenario = load_scenario(spec.scenario, overrides)
        with tempfile.TemporaryDirectory(prefix="sweep-run-") as tmp:
            result = execute(scenario, Path(tmp), listeners=[], write_report=False, plot=False, present=_watch,
                             started_at="")
        if result.end_reason in INTERRUPTED:
            row["interrupted"] = True  # not a result: never cached, run again next time
        row.update(metrics(result.report))
        if result.failures:
            f = result.failures[0]
            row["error"] = f"{f.thread}: {f.error}"
        elif result.breaches:
            row["error"] = "expect: " + "; ".join(result.breaches)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["wall_seconds"] = time.perf_counter() - t0
    return row


def _watch(run: Run) -> None:
    """Wait for the run's end; the sweep's interrupt (``_STOP``) ends it at once."""
    while not run.finished.wait(0.1):
        if _STOP is not None and _STOP.is_set():  # the sweep was interrupted: end this run now
            run.finish("interrupted")


def metrics(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a sweep compares, from one run's report."""
    s = report["summary"]
    p99s = [c["response_time"]["p99"] for c in report["controllers"] if c["response_time"]["p99"] is not None]
    outcomes = report.get("outcomes") or {}
    hours = report["run"]["sim_seconds"] / 3600.0
    orders = (outcomes.get("orders") or {}).get("completed", outcomes.get("orders_completed"))
    return {
        "miss_rate": s["miss_rate"],
        "response_p99": max(p99s) if p99s else math.nan,
        "orders_per_hour": orders / hours if orders is not None and hours > 0 else math.nan,
        "collisions": s["collisions"],
        "safety_stops": s["safety_stops"],
        "stale_uses": s["stale_uses"],
        "sim_seconds": report["run"]["sim_seconds"],
    }


def init_worker(counter: Any, cpus: list[int], stop: Any, parent: int) -> None:
    """A local worker process's start: die with the sweep (``parent``, its pid), ignore the group's signals,
    keep the stop event, take a CPU."""
    from sim.common.interrupt import child_ignores
    from sim.common.lifeline import die_with_parent

    global _STOP
    die_with_parent(parent)  # a SIGKILLed sweep leaves no run behind (its runs' own children die with them)
    child_ignores()
    _STOP = stop
    _pin_worker(counter, cpus)


def _pin_worker(counter: Any, cpus: list[int]) -> None:
    """Give each worker process a CPU of its own, in turn: a virtual run keeps its threads on the
    CPU it starts on (sim.core.virtual), and two workers left to pick would often pick the same one."""
    if len(cpus) < 2:
        return
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    from sim.core.virtual import pin_thread

    pin_thread(cpus[i % len(cpus)])  # the worker's main thread; the run's threads inherit it
