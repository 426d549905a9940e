"""``python -m bench [--quick] [--json FILE] [--only ITEM ...]``: the performance figures of issues 7, 15 and 18.

Every figure is a rate or a ratio measured side by side in this one run (this
host is shared and noisy: never compare against numbers from another run).
Prints a table (markdown, paste-able into BENCHMARKS.md) and writes every
measurement to JSON. ``--quick`` takes under 3 minutes; the full run ~30.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import machine, median

ITEMS = ("calibrate", "raycast", "gridcast", "latency", "transport", "view", "throughput", "virtual", "capacity",
         "hosts")

# (quick, full) parameters of each item
PARAMS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "calibrate": ({"repeats": 5}, {"repeats": 15}),
    "raycast": ({"seconds": 0.4, "repeats": 3}, {"seconds": 1.0, "repeats": 5}),
    "gridcast": ({"repeats": 5}, {"repeats": 15}),
    "latency": ({"seconds": 6.0, "baseline_seconds": 2.0}, {"seconds": 20.0, "baseline_seconds": 5.0}),
    "transport": ({"messages": 500, "throughput_messages": 10_000, "repeats": 3, "wake_messages": 500},
                  {"messages": 3000, "throughput_messages": 50_000, "repeats": 5, "wake_messages": 2000}),
    "view": ({"seconds": 3.0}, {"seconds": 10.0}),
    "throughput": ({"seconds": 1.0, "robots": 24, "repeats": 1}, {"seconds": 3.0, "robots": 48, "repeats": 3}),
    "virtual": ({"seconds": 10.0}, {"seconds": 300.0}),
    "capacity": ({"seconds": 4.0, "resolution": 0.25}, {"seconds": 12.0, "resolution": 0.08, "retries": 1}),
    "hosts": ({"capacity_seconds": 3.0, "resolution": 0.5, "start": 16, "limit": 32, "virtual_seconds": 5.0,
               "virtual_repeats": 1, "messages": 200, "delivery_repeats": 1, "handoff_seconds": 3.0,
               "handoff_repeats": 1, "process_robots": 16, "process_seconds": 3.0},
              {"capacity_seconds": 10.0, "resolution": 0.1, "retries": 1, "start": 64, "limit": 512,
               "virtual_seconds": 60.0,
               "virtual_repeats": 3, "messages": 500, "delivery_repeats": 7, "handoff_seconds": 10.0,
               "handoff_repeats": 3, "process_robots": 200, "process_seconds": 10.0}),
}


def _calibrate(**kw: Any) -> dict[str, Any]:
    from bench.calibrate import measure_calibration

    return measure_calibration(**kw)


def _raycast(seconds: float, repeats: int) -> dict[str, Any]:
    from bench.raycast_bench import measure_raycast

    runs = [measure_raycast(seconds) for _ in range(repeats)]
    return {m: median([r[m] for r in runs]) for m in runs[0]} | {"samples": runs}


def _gridcast(**kw: Any) -> dict[str, Any]:
    from bench.gridcast_bench import measure_gridcast

    return measure_gridcast(**kw)


def _latency(**kw: Any) -> dict[str, Any]:
    from bench.latency import measure_latency

    return measure_latency(**kw)


def _transport(**kw: Any) -> dict[str, Any]:
    from bench.transport import measure_transport

    return measure_transport(**kw)


def _view(**kw: Any) -> dict[str, Any]:
    from bench.viewfps import measure_view_fps

    return measure_view_fps(**kw)


def _throughput(**kw: Any) -> dict[str, Any]:
    from bench.throughput import measure_workers_speedup

    return measure_workers_speedup(**kw)


def _virtual(**kw: Any) -> dict[str, Any]:
    from bench.throughput import measure_virtual_speed

    return measure_virtual_speed(**kw)


def _capacity(seconds: float, resolution: float, retries: int = 0,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    from bench.capacity import search

    return {f"workers_{w}": search(w, seconds, resolution=resolution, log=log, retries=retries) for w in (0, 2)}


def _hosts(**kw: Any) -> dict[str, Any]:
    from bench.hosts import measure_hosts

    return measure_hosts(**kw)


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "calibrate": _calibrate, "raycast": _raycast, "gridcast": _gridcast, "latency": _latency,
    "transport": _transport, "view": _view,
    "throughput": _throughput,
    "virtual": _virtual, "capacity": _capacity, "hosts": _hosts,
}


def run_items(items: list[str], quick: bool, log: Callable[[str], None] = print,
              params: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Measure ``items``; ``params`` overrides an item's keyword arguments (tests pass tiny ones)."""
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "items": {}}
    for item in items:
        kw = dict(PARAMS[item][0 if quick else 1])
        kw.update((params or {}).get(item, {}))
        log(f"[bench] {item} {kw}")
        t0 = time.perf_counter()
        results["items"][item] = RUNNERS[item](**kw)
        results["items"][item]["bench_seconds"] = time.perf_counter() - t0
    return results


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e6:,.0f} µs"


def table(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, compared with, verdict) rows."""
    r = results["items"]
    rows: list[tuple[str, str, str, str]] = []
    if "calibrate" in r:
        c = r["calibrate"]
        rows.append(("machine factor (calibrate)", f"x{c['factor']:.2f} (python x{c['factors']['python']:.2f}, "
                     f"numpy x{c['factors']['numpy']:.2f}; {c['ms']['python']:.1f} + {c['ms']['numpy']:.1f} ms)",
                     "reference machine x1.00", "scale = factor(target) / factor(recording machine)"))
    if "capacity" in r:
        for key, c in r["capacity"].items():
            if not isinstance(c, dict):
                continue
            more = "+ (limit)" if c.get("bounded_by_limit") else f" (fails at {c.get('first_failure')})"
            rows.append((f"capacity, {key.replace('_', ' = ')}", f"{c['capacity']} robots{more}",
                         "target >= 100 (aim 200)", "met" if c["capacity"] >= 100 else "not met"))
    if "raycast" in r:
        rc = r["raycast"]
        for m in ("plain", "culled", "numba", "python"):
            if m in rc:
                verdict = ("met" if rc[m] >= 1e6 else "not met") if m == "culled" else ""
                rows.append((f"ray cast {m}", f"{rc[m]:,.0f} beams/s", f"x{rc[m] / rc['plain']:.2f} of plain"
                             + (", target >= 1,000,000" if m == "culled" else ""), verdict))
    if "gridcast" in r:
        rows += gridcast_rows(r["gridcast"])
    if "latency" in r:
        lat = r["latency"]
        for name, key, base in (("hand-off", "sim_handoff", "bare_queue_idle"),
                                ("release jitter", "sim_release_jitter", "bare_wakeup_idle")):
            s, b = lat[key], lat[base]
            ratio = s["p99"] / b["p99"] if s["p99"] and b["p99"] else None
            verdict = "-" if ratio is None else f"p99 x{ratio:.2f}"
            if name == "hand-off" and ratio is not None:
                verdict += " (met: <= 2)" if ratio <= 2 else " (not met: > 2)"
            rows.append((f"{name} p50/p99/max", " / ".join(_us(s[q]) for q in ("p50", "p99", "max")),
                         f"bare {' / '.join(_us(b[q]) for q in ('p50', 'p99', 'max'))}", verdict))
        for key in ("bare_queue_loaded", "bare_wakeup_loaded"):
            s = lat[key]
            rows.append((f"{key.replace('_', ' ')} (probe during the run)",
                         " / ".join(_us(s[q]) for q in ("p50", "p99", "max")), "", ""))
    if "transport" in r:
        rows += transport_rows(r["transport"])
    if "view" in r:
        v = r["view"]
        rows.append(("view frames/s" if "fps" in v else "view", f"{v['fps']:.1f}" if "fps" in v else v["skipped"],
                     f"cap {v.get('frame_rate_cap', '-')}", f"x{v['ratio_to_cap']:.2f} of cap" if "fps" in v else ""))
    if "throughput" in r:
        t = r["throughput"]
        rows.append((f"workers = {t['workers']} vs inline ({t['robots']} robots, virtual)",
                     f"{t['pooled']:,.0f} vs {t['inline']:,.0f} robot-steps/s", "target x1.6",
                     f"x{t['speedup']:.2f} ({'met' if t['speedup'] >= 1.6 else 'not met'})"))
    if "virtual" in r:
        v = r["virtual"]
        rows.append((f"virtual speed, {v['scenario']} ({v['simulated_seconds']:g} s), outputs of run.py",
                     f"x{v['speed_factor']:.1f} real time", "target x30",
                     "met" if v["speed_factor"] >= 30 else "not met"))
        if "speed_factor_no_trace" in v:
            rows.append(("virtual speed, same, --no-trace", f"x{v['speed_factor_no_trace']:.1f} real time",
                         "target x30", "met" if v["speed_factor_no_trace"] >= 30 else "not met"))
    if "hosts" in r:
        rows += hosts_rows(r["hosts"])
    return rows


GRIDCAST_CASES = {
    "segments_numba": "segments + robots, numba (the baseline)",
    "segments_numpy": "segments + robots, numpy culled",
    "grid_numba": "grid, numba",
    "grid_numpy": "grid, numpy",
    "grid_with_robots": "grid + robots (a run with a map), numba",
}


def gridcast_rows(g: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The gridcast item's rows (issue 18): time per 10 Hz tick of every lidar, margin, ratio to segments."""
    base = g["baseline"]
    rows: list[tuple[str, str, str, str]] = [(
        "ray cast scene (gridcast)",
        f"{g['size_m']:g} m x {g['size_m']:g} m at {g['resolution'] * 100:g} cm: {g['cells'][0]:,} x "
        f"{g['cells'][1]:,} cells ({g['occupied_fraction']:.1%} occupied) or {g['segments']:,} segments; "
        f"{g['robots']} lidars x {g['beams']} beams, {g['range_max']:g} m",
        f"median of {g['repeats']} ticks; grid vs segments median abs. difference "
        + ("-" if g["median_abs_difference_m"] is None else f"{g['median_abs_difference_m'] * 100:.1f} cm"),
        "wall time; cpu = this thread's CPU time")]
    for key, name in GRIDCAST_CASES.items():
        if key not in g["tick_seconds"]:
            continue
        wall, cpu, margin = g["tick_seconds"][key], g["tick_cpu_seconds"][key], g["margin"][key]
        vs = "" if key == base else (f"x{g['ratio_to_segments'][key]:.2f} of {base} (cpu "
                                     f"x{g['cpu_ratio_to_segments'][key]:.2f})")
        verdict = f"margin x{margin:.1f} ({'real time' if margin >= 1 else 'NOT real time'})"
        if key == "grid_numba":  # judged on CPU time: the wall time holds other processes' turns on the core
            verdict += "; as fast as segments (cpu): " + ("met" if g["cpu_ratio_to_segments"][key] <= 1.0
                                                          else "not met")
        rows.append((f"ray cast per 10 Hz tick, {name}", f"{wall * 1e3:,.1f} ms (cpu {cpu * 1e3:,.1f} ms)", vs,
                     verdict))
    return rows


def _pair(s: dict[str, Any]) -> str:
    return f"{_us(s.get('p50'))} / {_us(s.get('p99'))}"


def _mib(x: float | None) -> str:
    return "-" if x is None else f"{x / 2**20:.1f} MiB"


def hosts_rows(h: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The hosts item's rows (issue 15): capacity, virtual speed and its profile, hand-off, processes."""
    rows: list[tuple[str, str, str, str]] = []
    for key, c in h.get("capacity", {}).items():
        more = "+ (limit)" if c.get("bounded_by_limit") else f" (fails at {c.get('first_failure')})"
        rows.append((f"capacity, hosts = {key}", f"{c['capacity']} robots{more}", "target >= 200 (aim 300)",
                     "met" if c["capacity"] >= 200 else "not met"))
    v = h.get("virtual")
    if v:
        k = str(v["hosts"])
        n = len(v["samples"][k])
        rows.append((f"virtual speed, {v['scenario']} ({v['simulated_seconds']:g} s, no trace), hosts = {k} vs shared",
                     f"x{v['speed_hosts']:.1f} vs x{v['speed_shared']:.1f} real time (medians of {n})",
                     "target x1.7 (aim x30 absolute)",
                     f"x{v['ratio']:.2f} ({'met' if v['ratio'] >= 1.7 else 'not met'})"))
        p, ps = v["profile"][k], v["profile"]["shared"]
        if "round_trips" in p:
            rt = p["await_per_round_trip_us"] or {}
            rows.append((f"  where a simulated s goes, hosts = {k} (ms of wall)",
                         f"{p['wall_ms']:.0f} = world alone {p['world_outside_await_ms']:.0f} + waiting for hosts "
                         f"{p['await_ms']:.0f} (slowest host busy {p['slowest_host_busy_ms']:.0f}, sync "
                         f"{p['sync_overhead_ms']:.0f})",
                         f"shared: {ps['wall_ms']:.0f}",
                         f"{p['round_trips_per_simulated_s']:.0f} round trips/sim s, p50 {rt.get('p50', 0):.0f} µs"))
            top = list(p["world_threads_cpu_ms"].items())[:6]
            cpu = ", ".join(f"{n.replace('sensor:', '')} {x:.0f}" for n, x in top)
            rows.append(("  world CPU per simulated s (ms)", f"{p['world_process_cpu_ms']:.0f}: {cpu}",
                         f"shared: {ps['world_process_cpu_ms']:.0f}", ""))
            hcpu = ", ".join(f"{x['name']} {x['cpu_ms']:.0f}" for x in p["hosts"])
            rows.append(("  hosts' CPU per simulated s (ms)", hcpu, "", ""))
    hr = h.get("handoff_in_run")
    if hr:
        k = str(hr["hosts"])
        floor = hr["bare_queue"]
        for mode in ("shared", k):
            s = hr[mode]
            ratio = s["handoff_p99_ratio"]
            rows.append((f"hand-off driver/producer -> controller p50/p99, hosts = {mode}", _pair(s["handoff"]),
                         f"bare queue.Queue {_pair(floor)}",
                         "-" if ratio is None else f"p99 x{ratio:.2f} ({'met' if ratio <= 2 else 'not met'}: <= 2)"))
        for mode in ("shared", k):
            rows.append((f"publish instant -> controller holds it p50/p99, hosts = {mode}",
                         _pair(hr[mode]["publish_to_use"]),
                         f"bare queue during the run {_pair(hr[mode]['bare_queue_loaded'])}", ""))
        rows.append((f"world -> host delivery p50/p99 (sample instant -> decoded in the host), hosts = {k}",
                     _pair(hr[k]["transit"]), "", ""))
    d = h.get("delivery")
    if d:
        rows.append(("delivery p50/p99, ring + encode/decode_batch, process -> driver thread (micro)",
                     _pair(d["delivery"]), "", ""))
        rows.append(("hand-off p50/p99, driver -> Channel -> controller (micro)", _pair(d["handoff"]),
                     f"bare queue.Queue {_pair(d['bare_queue'])}", f"p99 x{d['handoff_p99_ratio']:.2f}"))
    for wait, x in h.get("ring_timer", {}).items():
        rows.append((f"lateness of a {wait} timed wait p50/p99: Ring.get (the driver's timer)", _pair(x["ring_get"]),
                     f"time.sleep {_pair(x['sleep'])}", ""))
    for key, t in h.get("processes", {}).items():
        cs = t.get("ctx_switches_per_s_total")
        fork = "-" if t["fork_to_ready_s"] is None else f"{t['fork_to_ready_s']:.2f} s"
        rows.append((f"{t['robots']} robots, hosts = {key}: processes, fork to ready, private RSS per host",
                     f"{t['processes']}, {fork}, median {_mib(t['host_private_rss_median'])} "
                     f"(max {_mib(t['host_private_rss_max'])}, all {_mib(t['host_private_rss_total'])})",
                     f"world RSS {_mib(t['world_rss'])}",
                     f"{'pass' if t['passed'] else 'FAIL'} (rtf {t['rtf']:.3f}, misses {t['miss_rate']:.2%})"))
        if cs is not None:
            rows.append((f"{t['robots']} robots, hosts = {key}: context switches/s",
                         f"{cs:,.0f} (world {t['ctx_switches_per_s_world']:,.0f}, hosts "
                         f"{t['ctx_switches_per_s_hosts']:,.0f}, per host {t['ctx_switches_per_s_host_median']:,.0f})",
                         "", ""))
        w, hc = t.get("world_threads_cpu_s_per_s"), t.get("host_threads_cpu_s_per_s")
        if w:
            rows.append((f"{t['robots']} robots, hosts = {key}: CPU s per s, world threads",
                         f"{sum(w.values()):.2f}: " + ", ".join(f"{k.replace('sensor:', '')} {v:.2f}"
                                                              for k, v in list(w.items())[:5]),
                         "hosts' threads: " + ", ".join(f"{k.replace('sensor:', '')} {v:.2f}"
                                                         for k, v in list((hc or {}).items())[:4]), ""))
    return rows


TRANSPORTS = {"queue": "thread -> thread, bare queue.Queue (the floor)",
              "ring": "process -> process, shared-memory ring",
              "mp_queue": "process -> process, multiprocessing.Queue"}
WAKES = {"fifo": "FIFO + poll (the ring's)", "eventfd": "eventfd + poll", "semaphore": "multiprocessing.Semaphore"}


def transport_rows(t: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The transport item's rows: hand-off p50/p99 and throughput of each way, wake-ups alone."""
    rows: list[tuple[str, str, str, str]] = []
    lat, rate, floor = t["latency"], t["throughput"], t["latency"]["queue"]
    for key, name in TRANSPORTS.items():
        s = lat[key]
        vs = "" if key == "queue" else f"x{s['p50'] / floor['p50']:.2f} / x{s['p99'] / floor['p99']:.2f} of the floor"
        rows.append((f"hand-off p50/p99, {t['message_bytes']} B, {name}", f"{_us(s['p50'])} / {_us(s['p99'])}",
                     vs, ""))
    for key, name in TRANSPORTS.items():
        vs = "" if key == "queue" else f"x{rate[key] / rate['queue']:.2f} of the floor"
        rows.append((f"throughput, {name}", f"{rate[key]:,.0f} messages/s", vs, ""))
    fifo = t["wakeup"]["fifo"]
    for key, name in WAKES.items():
        s = t["wakeup"][key]
        vs = "" if key == "fifo" else f"x{s['p50'] / fifo['p50']:.2f} / x{s['p99'] / fifo['p99']:.2f} of the FIFO"
        rows.append((f"wake-up alone p50/p99, process -> process, {name}", f"{_us(s['p50'])} / {_us(s['p99'])}",
                     vs, ""))
    return rows


def print_table(results: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    m = results["machine"]
    print(f"\n{m['cores']} cores, {m['cpu']}, Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, "
          f"load average {', '.join(f'{x:.1f}' for x in m['load_average'] or [])}", file=out)
    print("\n| figure | measured | compared with | verdict |\n|---|---|---|---|", file=out)
    for row in table(results):
        print("| " + " | ".join(row) + " |", file=out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short version (under 3 minutes)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every measurement here")
    p.add_argument("--only", nargs="+", choices=ITEMS, metavar="ITEM", help=f"a subset of {', '.join(ITEMS)}")
    args = p.parse_args(argv)
    results = run_items(list(args.only or ITEMS), args.quick)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nfigures: {args.json}")
    return 0


if __name__ == "__main__":  # worker processes are spawned: they must not run this again
    sys.exit(main())
