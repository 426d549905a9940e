"""The deadline-miss report: a JSON summary (``report.json``) and the terminal tables.

The JSON layout is versioned (``schema_version``) and documented in
docs/report.md. Figures are simulated seconds unless a key says ``wall``.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
from typing import Any, TextIO

from sim.common.stats import Histogram
from sim.common.texttable import print_table
from sim.core.control import ControllerTask
from sim.core.feature import print_sections, report_sections
from sim.core.producers import SensorRuntime
from sim.features import catalog  # noqa: F401  registers the built-in sections' printers
from sim.features.misses import miss_section
from sim.features.outcomes import build_outcomes, print_outcomes
from sim.report import hists
from sim.runtime.run import Run

SCHEMA_VERSION = 2  # 2: histograms, misses, chains_by_kind, expect/trace/recording sections (+ jitter hist)
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
        "unfinished_cycles": st.unfinished,
        "safety_stops": st.safety_stops,
        "watched": list(task.watched),
        "response_time": {**st.response.summary(), "hist": hists.compact(st.response)},
        "release_jitter": {**st.jitter.summary(), "hist": hists.compact(st.jitter)},
        "compute_cpu": st.compute_cpu.summary(),
        "lateness": st.lateness.summary(),
        "causes": dict(st.causes),
        "first_miss_time": st.first_miss_time,
        "last_miss_time": st.last_miss_time,
        "outcome": task.outcome if task.outcome is not None else c.status(),
    }


def _sensor(rt: SensorRuntime) -> dict[str, Any]:
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
        "age_at_use": {**st.age_at_use.summary(), "hist": hists.compact(st.age_at_use)},
        "stale_uses": st.stale_uses,
        "sample_lateness": st.sample_lateness.summary(),
        "failed": rt.failed,
    }


def _chains_by_kind(run: Run) -> list[dict[str, Any]]:
    """End-to-end latency per sensor kind over all robots (merged histograms), with the worst robot."""
    kinds = {(rt.robot_name, rt.sensor.name): rt.sensor.kind for rt in run.sensors}
    groups: dict[str, list[tuple[str, Histogram]]] = {}
    for (i, name), h in sorted(run.physics.chains.items()):
        robot = run.bodies.names[i]
        groups.setdefault(kinds.get((robot, name), name), []).append((robot, h))
    out = []
    for kind, members in sorted(groups.items()):
        merged = Histogram()
        for _, h in members:
            merged.merge(h)
        robot, worst = max(members, key=lambda m: m[1].quantile(0.99) if m[1].count else -1.0)
        out.append({"kind": kind, "robots": len(members), **merged.summary(),
                    "worst_robot": robot, "worst_p99": worst.quantile(0.99) if worst.count else None})
    return out


def build_report(run: Run, started_at: str) -> dict[str, Any]:
    """Everything measured in ``run`` as a JSON-ready dict."""
    sc = run.scenario
    controllers = [_controller(t) for t in run.controllers]
    sensors = [_sensor(rt) for rt in run.sensors]
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
    attached: set[str] = set()
    report: dict[str, Any] = {
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
            "hosts": sc.run.hosts,
            "host": {"python": sys.version.split()[0], "platform": platform.platform()},
            "threads": [t.__dict__ for t in run.threads],
            "threads_not_stopped": run.hung_threads,
            "call_limit": run.call_limit,
            "stuck_calls": [s.as_dict() for s in run.stuck_calls],
            "failures": [_failure(f.__dict__, run) for f in run.failures],
            "timeline": [{"time": t, "event": e} for t, e in run.timeline_log],
        },
        "summary": {
            "cycles": cycles,
            "misses": misses,
            "miss_rate": misses / cycles if cycles else 0.0,
            "causes": causes,
            "safety_stops": sum(c["safety_stops"] for c in controllers),
            "unfinished_cycles": sum(c["unfinished_cycles"] for c in controllers),
            "dropped": sum(s["queue"]["dropped"] for s in sensors),
            "dropouts": sum(s["dropouts"] for s in sensors),
            "stale_uses": sum(s["stale_uses"] for s in sensors),
            "collisions": int(p.collisions.sum()),
        },
        "controllers": controllers,
        "sensors": sensors,
        "chains": chains,
        "chains_by_kind": _chains_by_kind(run),
        "misses": None,  # the MissTimeline feature's section, else read back from cycles.csv (below)
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
        "outcomes": build_outcomes(run),
        "faults": [],  # the fault feature's section when the scenario has faults
    }
    for key, data in report_sections(run.listeners, "run", run):
        if key not in attached:  # the first feature of a section wins
            attached.add(key)
            report[key] = data
    if report["misses"] is None:
        report["misses"] = miss_section(run)
    if sc.run.hosts != "shared":  # where each robot ran (pids: wall-clock-like, only with robot hosts)
        report["run"]["processes"] = [dataclasses.asdict(h) for h in run.host_processes()]
    return report


def _failure(failure: dict[str, Any], run: Run) -> dict[str, Any]:
    """A thread failure plus the class the thread ran, so a failing plugin is named."""
    out = dict(failure)
    for t in run.controllers:
        if failure.get("thread") == f"controller:{t.robot_name}":
            cls = type(t.controller)
            out["component"] = f"{cls.__module__}:{cls.__qualname__}"
    return out


# ---------------------------------------------------------------------- terminal
def _ms(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 1000:.2f}"


CAUSE_WORDS = {
    "late_release": "the controller thread woke up late for its release (host scheduling or the GIL)",
    "input_wait": "the controller waited for fresh sensor data (wait_for) and ran out of time",
    "long_compute": "the controller's own computation took most of the time",
    "interference": "the controller was preempted or starved of the GIL while computing",
}
CAUSE_LABELS = {"late_release": "late release", "input_wait": "input wait", "long_compute": "long compute",
                "interference": "interference"}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _t(x: float, width: float = 0.1) -> str:
    """A time of the miss timeline, to the precision of its bins (at least 0.1 s)."""
    digits = max(1, min(3, -math.floor(math.log10(width)))) if width > 0 else 1
    return f"{x:.{digits}f}"


def _span(w: dict[str, Any], width: float) -> str:
    return f"t={_t(w['start'], width)}-{_t(w['end'], width)} s"


def _window(w: dict[str, Any] | None, width: float = 0.1) -> str:
    if not w:
        return "-"
    return f"{_span(w, width)} (spread)" if w.get("spread") else _span(w, width)


def _when(w: dict[str, Any] | None, width: float = 0.1) -> str:
    """Where in the run a group of misses fell, for a sentence."""
    if not w:
        return ""
    if w.get("spread"):
        return ", spread over the whole run"
    return f", clustered in {_span(w, width)}"


def headline(report: dict[str, Any]) -> str:
    """A few plain lines: did the loops meet their deadlines; if not, what caused most misses, when, where."""
    s = report["summary"]
    if not s["cycles"]:
        return "No controller cycle ran."
    if not s["misses"]:
        return f"All {s['cycles']} controller cycles met their deadlines."
    lines = [f"{s['misses']} of {s['cycles']} controller cycles missed their deadline ({100 * s['miss_rate']:.2f} %)."]
    m = report.get("misses") or {}
    bw = float(m.get("bin_width") or 0.1)
    by_cause = m.get("by_cause") or {
        k: {"count": n, "share": n / s["misses"], "window": None}
        for k, n in sorted(s["causes"].items(), key=lambda kv: -kv[1])}
    causes = list(by_cause.items())
    if causes:
        top, c = causes[0]
        lines.append(f"Main cause: {CAUSE_LABELS.get(top, top)}, {c['count']} of {s['misses']} misses "
                     f"({_pct(c['share'])}){_when(c.get('window'), bw)}: {CAUSE_WORDS.get(top, top)}.")
    if len(causes) > 1:
        lines.append("Other causes: " + "; ".join(
            f"{CAUSE_LABELS.get(k, k)} {c['count']} ({_pct(c['share'])}{_when(c.get('window'), bw)})"
            for k, c in causes[1:]) + ".")
    w = m.get("window")
    if w:
        if w["spread"]:
            lines.append(f"When: misses were spread over the run ({_pct(w['share'])} of them in "
                         f"{_span(w, bw)}).")
        else:
            lines.append(f"When: {_pct(w['share'])} of the misses fell between t={_t(w['start'], bw)} s and "
                         f"t={_t(w['end'], bw)} s.")
    worst = m.get("worst_robot")
    if worst:
        lines.append(f"Worst robot: {worst['robot']}, {worst['misses']} misses ({_pct(worst['miss_rate'])} of its "
                     f"cycles), mostly {CAUSE_LABELS.get(worst['main_cause'], worst['main_cause'])}.")
    else:
        c = max(report["controllers"], key=lambda c: c["misses"])
        lines.append(f"Worst robot: {c['robot']}, {c['misses']} misses ({_pct(c['miss_rate'])} of its cycles).")
    return "\n".join(lines)


def print_miss_causes(report: dict[str, Any], out: TextIO) -> None:
    """One row per cause: how many, when they clustered, the robot with most, what the cause means."""
    m = report.get("misses") or {}
    by_cause, bw = m.get("by_cause"), float(m.get("bin_width") or 0.1)
    if not by_cause:
        return
    print("\nMiss causes", file=out)
    rows = [["cause", "misses", "share", "when", "worst robot"]]
    for cause, c in by_cause.items():
        rows.append([cause, str(c["count"]), _pct(c["share"]), _window(c["window"], bw),
                     f"{c['worst_robot']} ({c['worst_robot_count']})"])
    print_table(rows, out)
    for cause in by_cause:
        print(f"  {cause}: {CAUSE_WORDS.get(cause, '?')}", file=out)


def print_chains(report: dict[str, Any], out: TextIO) -> None:
    """End-to-end latency (sample -> command in effect) per sensor kind, over all robots."""
    rows = [["kind", "robots", "commands", "p50", "p99", "max", "worst robot (p99)"]]
    for c in report.get("chains_by_kind") or []:
        rows.append([c["kind"], str(c["robots"]), str(c["count"]), _ms(c["p50"]), _ms(c["p99"]), _ms(c["max"]),
                     f"{c['worst_robot']} ({_ms(c['worst_p99'])})"])
    if len(rows) > 1:
        print("\nEnd-to-end latency, sample -> command in effect (ms)", file=out)
        print_table(rows, out)


def print_artifacts_and_gates(report: dict[str, Any], out: TextIO) -> None:
    """The sections of the files the run's features wrote (trace, recording), then the expect: gates."""
    print_sections(report, "output", out)
    e = report.get("expect")
    if e and e.get("checked"):
        if e["breaches"]:
            print(f"\nExpectations FAILED ({len(e['breaches'])} breach{'es' if len(e['breaches']) > 1 else ''}):",
                  file=out)
            for b in e["breaches"]:
                print(f"  - {b}", file=out)
        else:
            print(f"\nExpectations met: {', '.join(sorted(e['gates']))}", file=out)


def _summary_get(report: dict[str, Any], key: str) -> Any:
    """A ``summary`` figure, or None in a report written before it existed."""
    return report.get("summary", {}).get(key)


def _print_where(f: dict[str, Any], full: str, out: TextIO) -> None:
    """A failure's plugin call and innermost frames, shortened; the whole stack stays in report.json."""
    if f.get("error") and f.get("call") and f["call"] not in f["error"]:
        print(f"  in {f['call']}", file=out)
    where = f.get("where")
    if where is None and f.get("traceback"):  # a report written before ``where`` existed
        print(f["traceback"].rstrip(), file=out)
        return
    for line in where or []:
        print(f"  at {line}", file=out)
    if where:
        print(f"  (the whole stack: report.json {full})", file=out)


def _print_processes(processes: list[dict[str, Any]] | None, out: TextIO) -> None:
    """Where the robots ran (robot hosts): one line per process."""
    if not processes:
        return
    hosts = [p for p in processes if p["name"] != "main"]
    print(f"Robot hosts: {len(hosts)} process(es); the world (physics, sensors) ran in the main process", file=out)
    for p in hosts:
        robots = p["robots"]
        who = ", ".join(robots[:4]) + (f" and {len(robots) - 4} more" if len(robots) > 4 else "")
        cpu = f", CPU {p['cpu_seconds']:.1f} s" if p.get("cpu_seconds") is not None else ""
        mem = f", private memory {p['private_rss'] / 2**20:.1f} MiB" if p.get("private_rss") is not None else ""
        print(f"  {p['name']} (pid {p['pid']}): {who}{cpu}{mem} - {p.get('ended') or 'still running'}", file=out)


def print_report(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The deadline-miss tables, as a person reads them."""
    sc, run = report["scenario"], report["run"]
    print(f"\n== Deadline-miss report: {sc['name']} (seed {sc['seed']}) ==", file=out)
    rtf = run["real_time_factor"]
    print(f"simulated {run['sim_seconds']:.2f} s in {run['wall_seconds']:.2f} s wall"
          f" (real-time factor {rtf:.3f})" if rtf else "", f"- ended: {run['end_reason']}", file=out)
    print(headline(report), file=out)
    _print_processes(run.get("processes"), out)
    print_miss_causes(report, out)
    print("\nControllers (times in ms)", file=out)
    rows = [["robot", "period", "deadline", "cycles", "misses", "miss%", "resp p50", "resp p99",
             "resp max", "jitter max", "overruns", "skipped", "safety stops"]]
    for c in report["controllers"]:
        r, j = c["response_time"], c["release_jitter"]
        rows.append([c["robot"], _ms(c["period"]), _ms(c["deadline"]), str(c["cycles"]),
                     str(c["misses"]), f"{100 * c['miss_rate']:.2f}", _ms(r["p50"]), _ms(r["p99"]),
                     _ms(r["max"]), _ms(j["max"]), str(c["overruns"]), str(c["skipped_releases"]),
                     str(c["safety_stops"])])
    print_table(rows, out)
    if unfinished := _summary_get(report, "unfinished_cycles"):
        print(f"{unfinished} cycle(s) were cut by the stop ({run['end_reason']}): not in cycles.csv", file=out)
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
    print_table(rows, out)
    print_chains(report, out)
    summ = report["summary"]
    print(f"\nCollisions: {summ['collisions']}   misses: {summ['misses']}   dropped: {summ['dropped']}"
          f"   stale uses: {summ['stale_uses']}   safety stops: {summ['safety_stops']}", file=out)
    print_outcomes(report, out)
    print_sections(report, "run", out)  # the features' sections (faults, ...)
    for i, f in enumerate(run["failures"]):
        what = f" ({f['component']})" if f.get("component") else ""
        if f.get("fatal", True):
            print(f"\nFAILED thread {f['thread']}{what}: {f['error']}", file=out)
        else:
            print(f"\nSENSOR FAILED {f['sensor']} in thread {f['thread']} (on_failure: continue, the run "
                  f"went on without it): {f['error']}", file=out)
        _print_where(f, f"run.failures[{i}].traceback", out)
    if run["threads_not_stopped"]:
        print(f"\nThreads that did not stop within 1 s: {', '.join(run['threads_not_stopped'])}", file=out)
    failed = {f["thread"] for f in run["failures"]}
    for i, s in enumerate(run.get("stuck_calls") or []):
        if s["thread"] not in failed:  # a stuck call that failed the run is printed above
            print(f"  still in {s['call']} after {s['seconds']:.1f} s wall", file=out)
            _print_where(s, f"run.stuck_calls[{i}].stack", out)
    print_artifacts_and_gates(report, out)
