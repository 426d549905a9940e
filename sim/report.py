"""The deadline-miss report: a JSON summary (``report.json``) and the terminal tables.

The JSON layout is versioned (``schema_version``) and documented in
docs/report.md. Figures are simulated seconds unless a key says ``wall``.
"""

from __future__ import annotations

import math
import platform
import sys
from typing import Any, TextIO

from sim.control import ControllerTask
from sim.producers import SensorRuntime
from sim.runner import Run

SCHEMA_VERSION = 1
# Fields that are wall-clock by nature and differ between identical runs.
WALL_CLOCK_FIELDS = ["run.started_at", "run.wall_seconds", "run.real_time_factor", "run.host"]


def _controller(task: ControllerTask) -> dict[str, Any]:
    st = task.stats
    c = task.controller
    return {
        "robot": task.robot_name,
        "type": type(c).__name__,
        "period": task.period,
        "deadline": task.deadline,
        "overrun_policy": task.overrun_policy.value,
        "cycles": st.cycles,
        "misses": st.misses,
        "miss_rate": st.misses / st.cycles if st.cycles else 0.0,
        "overruns": st.overruns,
        "skipped_releases": st.skipped_releases,
        "safety_stops": st.safety_stops,
        "response_time": st.response.summary(),
        "release_jitter": st.jitter.summary(),
        "compute_cpu": st.compute_cpu.summary(),
        "lateness": st.lateness.summary(),
        "causes": dict(st.causes),
        "first_miss_time": st.first_miss_time,
        "last_miss_time": st.last_miss_time,
        "outcome": c.status(),
    }


def _sensor(rt: SensorRuntime, duration: float) -> dict[str, Any]:
    st = rt.stats
    achieved = st.rate.rate()
    return {
        "robot": rt.robot_name,
        "name": rt.sensor.name,
        "kind": rt.sensor.kind,
        "rate_hz": rt.rate_hz,
        "achieved_rate_hz": achieved,
        "rate_error": (achieved - rt.rate_hz) / rt.rate_hz if math.isfinite(achieved) else None,
        "produced": st.produced,
        "published": st.published,
        "dropouts": st.dropouts,
        "missed_samples": st.missed_samples,
        "latency": {"fixed": rt.latency_fixed, "jitter": rt.latency_jitter},
        "queue": {"capacity": rt.channel.capacity, "policy": rt.channel.policy.value,
                  **rt.channel.stats.as_dict()},
        "max_age": rt.max_age,
        "age_at_use": st.age_at_use.summary(),
        "stale_uses": st.stale_uses,
        "sample_lateness": st.sample_lateness.summary(),
        "failed": rt.failed,
    }


def build_report(run: Run, started_at: str) -> dict[str, Any]:
    """Everything measured in ``run`` as a JSON-ready dict."""
    sc = run.scenario
    controllers = [_controller(t) for t in run.controllers]
    sensors = [_sensor(rt, run.sim_seconds) for rt in run.sensors]
    cycles = sum(c["cycles"] for c in controllers)
    misses = sum(c["misses"] for c in controllers)
    causes: dict[str, int] = {}
    for c in controllers:
        for k, v in c["causes"].items():
            causes[k] = causes.get(k, 0) + v
    p = run.physics
    chains = [
        {"robot": run.bodies.names[i], "sensor": name, **h.summary()}
        for (i, name), h in sorted(p.chains.items())
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": {
            "name": sc.name,
            "source": str(sc.source) if sc.source else None,
            "seed": sc.run.seed,
            "duration": run.duration,
            "time_scale": sc.run.time_scale,
            "clock": type(run.clock).__name__,
            "robots": len(sc.robots),
        },
        "run": {
            "started_at": started_at,
            "end_reason": run.end_reason,
            "completed": run.end_reason == "completed",
            "sim_seconds": run.sim_seconds,
            "wall_seconds": run.wall_seconds,
            "real_time_factor": run.sim_seconds / run.wall_seconds if run.wall_seconds else None,
            "switch_interval": sc.run.switch_interval,
            "producer_threads": sc.run.producer_threads,
            "host": {"python": sys.version.split()[0], "platform": platform.platform()},
            "threads": [t.__dict__ for t in run.threads],
            "threads_not_stopped": run.hung_threads,
            "failures": [f.__dict__ for f in run.failures],
            "timeline": [{"time": t, "event": e} for t, e in run.timeline_log],
        },
        "summary": {
            "cycles": cycles,
            "misses": misses,
            "miss_rate": misses / cycles if cycles else 0.0,
            "causes": causes,
            "safety_stops": sum(c["safety_stops"] for c in controllers),
            "dropped": sum(s["queue"]["dropped"] for s in sensors),
            "dropouts": sum(s["dropouts"] for s in sensors),
            "stale_uses": sum(s["stale_uses"] for s in sensors),
            "collisions": int(p.collisions.sum()),
        },
        "controllers": controllers,
        "sensors": sensors,
        "chains": chains,
        "physics": {
            "step": p.step_size,
            "steps": p.steps,
            "late_steps": run.physics_task.late_steps,
            "step_lateness": run.physics_task.lateness.summary(),
        },
        "collisions": {
            "total": int(p.collisions.sum()),
            "by_robot": {n: int(c) for n, c in zip(run.bodies.names, p.collisions, strict=True)},
            "events": [{"time": t, "robot": a, "with": b} for t, a, b in p.collision_log],
            "distance_driven": {n: float(d) for n, d in zip(run.bodies.names, p.odometer, strict=True)},
        },
    }


# ---------------------------------------------------------------------- terminal
def _ms(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 1000:.2f}"


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


CAUSE_WORDS = {
    "late_release": "the controller thread woke up late (host scheduling or the GIL)",
    "input_wait": "it waited for fresh sensor data",
    "long_compute": "its computation took longer than usual",
    "interference": "it was preempted or starved of the GIL while computing",
}


def headline(report: dict[str, Any]) -> str:
    """One plain sentence: did the loops meet their deadlines, and if not, why."""
    s = report["summary"]
    if not s["cycles"]:
        return "No controller cycle ran."
    if not s["misses"]:
        return (f"All {s['cycles']} controller cycles met their deadlines.")
    cause, n = max(s["causes"].items(), key=lambda kv: kv[1])
    worst = max(report["controllers"], key=lambda c: c["misses"])
    when = ""
    if worst["first_miss_time"] is not None:
        when = f" (first at t={worst['first_miss_time']:.2f} s, last at t={worst['last_miss_time']:.2f} s on {worst['robot']})"
    return (f"{s['misses']} of {s['cycles']} cycles missed their deadline ({100 * s['miss_rate']:.2f} %); "
            f"{n} of them because {CAUSE_WORDS.get(cause, cause)}{when}.")


def print_report(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The deadline-miss tables, as a person reads them."""
    sc, run = report["scenario"], report["run"]
    print(f"\n== Deadline-miss report: {sc['name']} (seed {sc['seed']}) ==", file=out)
    rtf = run["real_time_factor"]
    print(f"simulated {run['sim_seconds']:.2f} s in {run['wall_seconds']:.2f} s wall"
          f" (real-time factor {rtf:.3f})" if rtf else "", f"- ended: {run['end_reason']}", file=out)
    print(headline(report), file=out)
    print("\nControllers (times in ms)", file=out)
    rows = [["robot", "period", "deadline", "cycles", "misses", "miss%", "resp p50", "resp p99",
             "resp max", "jitter max", "overruns", "skipped", "safety stops"]]
    for c in report["controllers"]:
        r, j = c["response_time"], c["release_jitter"]
        rows.append([c["robot"], _ms(c["period"]), _ms(c["deadline"]), str(c["cycles"]),
                     str(c["misses"]), f"{100 * c['miss_rate']:.2f}", _ms(r["p50"]), _ms(r["p99"]),
                     _ms(r["max"]), _ms(j["max"]), str(c["overruns"]), str(c["skipped_releases"]),
                     str(c["safety_stops"])])
    _table(rows, out)
    print("\nSensors (ages in ms)", file=out)
    rows = [["sensor", "rate Hz", "achieved", "produced", "delivered", "dropped", "dropouts",
             "age p50", "age p99", "age max", "stale"]]
    for s in report["sensors"]:
        a = s["age_at_use"]
        ach = s["achieved_rate_hz"]
        rows.append([f"{s['robot']}/{s['name']}", f"{s['rate_hz']:g}",
                     "-" if ach is None or not math.isfinite(ach) else f"{ach:.2f}",
                     str(s["produced"]), str(s["queue"]["delivered"]), str(s["queue"]["dropped"]),
                     str(s["dropouts"]), _ms(a["p50"]), _ms(a["p99"]), _ms(a["max"]),
                     str(s["stale_uses"])])
    _table(rows, out)
    summ = report["summary"]
    print(f"\nCollisions: {summ['collisions']}   misses: {summ['misses']}   dropped: {summ['dropped']}"
          f"   stale uses: {summ['stale_uses']}   safety stops: {summ['safety_stops']}", file=out)
    for f in run["failures"]:
        print(f"\nFAILED thread {f['thread']}: {f['error']}\n{f['traceback']}", file=out)
    if run["threads_not_stopped"]:
        print(f"\nThreads that did not stop within 1 s: {', '.join(run['threads_not_stopped'])}", file=out)
