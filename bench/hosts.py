"""Robot hosts (issue 15): capacity, virtual speed, delivery, memory and context switches by ``run.hosts``.

Every comparison is made in one run of this module, configurations alternating (the host is shared:
a neighbour's burst must hit both sides alike), medians of the repeats quoted.

- **capacity**: ``bench.capacity.search`` once per ``run.hosts`` value (shared, 2, per_robot), same
  pass criteria (RTF >= 0.99, < 1 % misses, every sensor within 2 % of its rate).
- **virtual**: ``scenarios/warehouse.yaml`` on the virtual clock without trace.json (cycles.csv and
  the miss timeline, as ``run.py --no-trace``), ``hosts: 2`` against ``shared``; plus where the wall
  time of a hosts run goes (``Profile``): the world's CPU per thread, each host's CPU per thread, and the
  lockstep round trips (how many, how long the world waits in each, how much of that the slowest host
  was busy, the rest being the pipe round trip and wake-ups).
- **delivery**: world -> host reading delivery and driver -> controller hand-off, with the host's own
  pieces (``sim.common.ring.Ring``, ``sim.core.wire.encode_batch``/``decode_batch``, ``sim.core.channel
  .Channel``) between two processes, against a bare ``queue.Queue`` thread -> thread measured between
  the repeats; inside real runs with hosts = shared and 2 (``handoff_in_run``): channel put -> the
  controller holding the reading, publish instant -> holding it (``bench.latency.HandoffListener``),
  sample instant -> decoded in the host; and how late ``Ring.get(timeout)`` wakes (the driver's timer).
- **processes**: one real-clock trial of N robots per hosts value: fork-to-ready time, private RSS per
  host (``run.processes``), the world's RSS, process count, context switches per second of the world
  and of every host (``/proc/<pid>/task/*/status``, voluntary + involuntary, summed over threads: the
  process's own status file counts its main thread only), between 20 % and 90 % of the run, and
  each thread's CPU in the world and (summed by kind) in the hosts.

``lockstep_cprofile`` (not part of the item: the profiler slows what it measures) runs ``cProfile``
in the world's lockstep thread and in each host's gate. The profiling wraps a few methods of this
process's classes for one run (``Profile``); the forked hosts inherit the wrappers. Nothing in ``sim`` is changed.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.capacity import judge, physics_end_recorded, search
from bench.common import median, percentiles
from bench.latency import HandoffListener
from bench.profiles import warehouse_profile
from sim.common.ring import Ring
from sim.core.channel import Channel
from sim.core.clock import RealClock
from sim.core.wire import decode_batch, encode_batch
from sim.interfaces.messages import Reading
from sim.scenario.load import load_scenario
from sim.session import execute

ROOT = Path(__file__).resolve().parent.parent
HOSTS: tuple[str | int, ...] = ("shared", 2, "per_robot")
_SPAWN = mp.get_context("spawn")


# ------------------------------------------------------------------ running with hooks
def run_watched(scenario: Any, listeners: list[Any] | None = None, timeout: float = 600.0,
                during: Callable[[Any, float], None] | None = None) -> tuple[Any, float]:
    """Run ``scenario`` to its end; ``during(run, t0)`` runs in the presenter thread meanwhile. (run, wall s)."""
    wall = 0.0

    def watch(run: Any) -> None:
        nonlocal wall
        t0 = time.perf_counter()
        if during is not None:
            during(run, t0)
        run.finished.wait(max(timeout - (time.perf_counter() - t0), 0.0))
        wall = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="bench-hosts-") as tmp:
        result = execute(scenario, Path(tmp), listeners=list(listeners or []), write_report=False, plot=False,
                         present=watch, started_at="bench")
    return result.run, wall


def context_switches(pid: int) -> int | None:
    """Voluntary + involuntary context switches of every thread of ``pid`` now (None: gone, or not Linux)."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
                        seen = True
        except (OSError, ValueError):
            continue  # a thread that ended between the listing and the read
    return total if seen else None


def rss(pid: int | str = "self") -> int | None:
    """Resident set (VmRSS, bytes) of ``pid``."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


# ------------------------------------------------------------------ profile of a hosts run
_CHILD: dict[str, Any] = {"cpu": {}, "steps": []}  # filled inside a forked host (its own copy)


class Profile:
    """Wrap the run's thread bodies and the lockstep for one run: where the wall time goes.

    World: each thread's CPU (``time.thread_time`` around its body), each ``await_step`` (the world
    holds the token, waiting in real time for every host to reach the boundary) and the uplink drains.
    Host (inherited by the fork): each thread's CPU, and per step the wall time from taking the world's
    message to answering ``reached`` (what the host was busy with in that round trip). The host's
    figures come back on its final statistics.
    """

    def __init__(self) -> None:
        self.world_cpu: dict[str, float] = {}
        self.await_s: list[float] = []
        self.drain_s = 0.0
        self._undo: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        orig = getattr(owner, name)
        setattr(owner, name, make(orig))
        self._undo.append(lambda: setattr(owner, name, orig))

    @contextlib.contextmanager
    def active(self) -> Iterator[Profile]:
        from sim.runtime import hostproc, hosts, lockstep
        from sim.runtime.run import Run

        prof = self

        def timed(target: Callable[[], None], name: str, sink: dict[str, float], lock: Any) -> Callable[[], None]:
            def body() -> None:
                t0 = time.thread_time()
                try:
                    target()
                finally:
                    with lock:
                        sink[name] = sink.get(name, 0.0) + time.thread_time() - t0
            return body

        self._patch(Run, "_spawn", lambda orig: lambda run, name, role, target, serves: orig(
            run, name, role, timed(target, name, prof.world_cpu, prof._lock), serves))

        def await_step(orig: Any) -> Any:
            def wrapped(hs: Any, until: float, due: list[int]) -> Any:
                t0 = time.perf_counter()
                try:
                    return orig(hs, until, due)
                finally:
                    prof.await_s.append(time.perf_counter() - t0)
            return wrapped

        def drain(orig: Any) -> Any:
            def wrapped(hs: Any, *a: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return orig(hs, *a)
                finally:
                    prof.drain_s += time.perf_counter() - t0
            return wrapped

        self._patch(lockstep, "await_step", await_step)
        self._patch(hosts.HostSet, "drain_uplinks", drain)
        child_lock = threading.Lock()
        self._patch(hostproc._Host, "_spawn", lambda orig: lambda h, name, role, target, serves: orig(
            h, name, role, timed(target, name, _CHILD["cpu"], child_lock), serves))

        def pull(orig: Any) -> Any:
            def wrapped(h: Any) -> None:
                _CHILD["t0"] = time.perf_counter()
                orig(h)
            return wrapped

        def send(orig: Any) -> Any:
            def wrapped(h: Any, msg: tuple[Any, ...]) -> None:
                if msg[0] == "reached" and "t0" in _CHILD:
                    _CHILD["steps"].append(time.perf_counter() - _CHILD["t0"])
                elif msg[0] == "final":
                    msg[1].bench = {"cpu": dict(_CHILD["cpu"]), "steps": list(_CHILD["steps"])}
                orig(h, msg)
            return wrapped

        self._patch(hostproc._Host, "_pull", pull)
        self._patch(hostproc._Host, "_send", send)
        try:
            yield self
        finally:
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()

    def summary(self, run: Any, wall: float, world_cpu_s: float) -> dict[str, Any]:
        """The breakdown, per simulated second (ms) where it is a time, for the table and JSON."""
        sim = max(run.sim_seconds, 1e-9)
        per = 1e3 / sim
        out: dict[str, Any] = {
            "wall_ms": wall * per, "world_process_cpu_ms": world_cpu_s * per,
            "world_threads_cpu_ms": {k: v * per for k, v in sorted(self.world_cpu.items(), key=lambda kv: -kv[1])},
        }
        hs = run.hostset
        if hs is None:
            return out
        waits = np.asarray(self.await_s)
        hosts_out = []
        steps: list[np.ndarray] = []
        for number in sorted(hs.finals):
            final = hs.finals[number]
            b = getattr(final, "bench", {"cpu": {}, "steps": []})
            steps.append(np.asarray(b["steps"]))
            hosts_out.append({"name": hs.plans[number].name, "cpu_ms": final.cpu_seconds * per,
                              "threads_cpu_ms": {k: v * per for k, v in sorted(b["cpu"].items(),
                                                                               key=lambda kv: -kv[1])},
                              "busy_per_round_trip_us": float(np.median(b["steps"]) * 1e6) if b["steps"] else None})
        n = min([len(waits), *(len(s) for s in steps)]) if steps else 0
        slowest = np.max(np.stack([s[:n] for s in steps]), axis=0) if n else np.zeros(0)
        overhead = waits[:n] - slowest
        out.update({
            "round_trips": len(waits), "round_trips_per_simulated_s": len(waits) / sim,
            "await_ms": float(waits.sum()) * per,
            "await_per_round_trip_us": percentiles(waits.tolist()) if len(waits) else None,
            "slowest_host_busy_per_round_trip_us": float(np.median(slowest) * 1e6) if n else None,
            "slowest_host_busy_ms": float(slowest.sum()) * per,
            "sync_overhead_per_round_trip_us": float(np.median(overhead) * 1e6) if n else None,
            "sync_overhead_ms": float(overhead.sum()) * per,
            "world_outside_await_ms": (wall - float(waits.sum())) * per,
            "drain_uplinks_ms": self.drain_s * per,
            "hosts": hosts_out,
        })
        for k in ("await_per_round_trip_us",):
            if out[k]:
                out[k] = {q: (v * 1e6 if isinstance(v, float) else v) for q, v in out[k].items()}
        return out


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def virtual_speed(seconds: float = 60.0, repeats: int = 3, hosts: int | str = 2,
                  scenario_file: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Speed factor (simulated / wall s) with ``hosts`` against shared, alternating; profile of every run."""
    from sim.report.outputs import run_listeners

    path = scenario_file or ROOT / "scenarios" / "warehouse.yaml"
    factors: dict[str, list[float]] = {"shared": [], str(hosts): []}
    profiles: dict[str, list[dict[str, Any]]] = {"shared": [], str(hosts): []}
    for _ in range(repeats):
        for h in ("shared", hosts):
            scenario = load_scenario(path, {"run.clock": "virtual", "run.duration": seconds, "run.hosts": h})
            prof = Profile()
            cpu: list[float] = []

            def during(run: Any, t0: float, cpu: list[float] = cpu) -> None:
                cpu.append(_cpu())
                run.finished.wait(3600)
                cpu.append(_cpu())

            with prof.active():
                run, wall = run_watched(scenario, run_listeners(trace=False), timeout=3600, during=during)
            if run.end_reason != "completed" or run.failures:
                raise RuntimeError(f"virtual warehouse run (hosts={h}) ended: {run.end_reason} {run.failures}")
            f = run.sim_seconds / wall if wall > 0 else 0.0
            factors[str(h)].append(f)
            profiles[str(h)].append(prof.summary(run, wall, cpu[1] - cpu[0] if len(cpu) == 2 else 0.0))
            log(f"  virtual hosts={h}: x{f:.2f} real time ({wall:.1f} s wall)")
    s, m = median(factors["shared"]), median(factors[str(hosts)])
    best = {k: min(v, key=lambda p: abs(p["wall_ms"] - median([q["wall_ms"] for q in v]))) for k, v in profiles.items()}
    return {"scenario": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
            "simulated_seconds": seconds, "hosts": hosts, "speed_shared": s, "speed_hosts": m, "ratio": m / s,
            "samples": factors, "profile": best, "profiles": profiles}


def _top(stats: dict[Any, Any], steps: int, top: int) -> list[tuple[str, float, float]]:
    """(function, own µs per round trip, calls per round trip) of the ``top`` functions by own time."""
    rows = sorted(((f"{Path(k[0]).name}:{k[1]} {k[2]}", v[2], v[1]) for k, v in stats.items()), key=lambda r: -r[1])
    return [(name, tt / steps * 1e6, calls / steps) for name, tt, calls in rows[:top]]


def lockstep_cprofile(seconds: float = 10.0, hosts: int | str = 2, top: int = 12,
                      scenario_file: Path | None = None) -> dict[str, Any]:
    """Where the lockstep's own time goes: ``cProfile`` in the world's lockstep thread and each host's gate.

    A separate run (the profiler slows the profiled threads ~2x): read the shares, not the absolute
    times. Own time (``tottime``) per round trip of the most expensive functions.
    """
    import cProfile

    from sim.report.outputs import run_listeners
    from sim.runtime import hostproc
    from sim.runtime import lockstep as lockstep_mod

    path = scenario_file or ROOT / "scenarios" / "warehouse.yaml"
    world: dict[str, Any] = {}
    orig_lockstep, orig_gate, orig_send = lockstep_mod.lockstep, hostproc._Host._gate, hostproc._Host._send

    def profiled(body: Callable[[Any], None], sink: dict[str, Any], key: str) -> Callable[[Any], None]:
        """``body`` under cProfile; its stats (own time etc. per function) land in ``sink[key]``."""
        def run(arg: Any) -> None:
            pr = cProfile.Profile()
            pr.enable()
            try:
                body(arg)
            finally:
                pr.disable()
                pr.create_stats()
                sink[key] = {k: v[:4] for k, v in pr.stats.items()}  # type: ignore[attr-defined]
        return run

    lockstep, gate = profiled(orig_lockstep, world, "stats"), profiled(orig_gate, _CHILD, "gate_stats")

    def send(h: Any, msg: tuple[Any, ...]) -> None:
        if msg[0] == "final":
            msg[1].bench_gate = _CHILD.get("gate_stats", {})
        orig_send(h, msg)

    scenario = load_scenario(path, {"run.clock": "virtual", "run.duration": seconds, "run.hosts": hosts})
    lockstep_mod.lockstep, hostproc._Host._gate = lockstep, gate  # type: ignore[method-assign]
    hostproc._Host._send = send  # type: ignore[method-assign]
    try:
        run, wall = run_watched(scenario, run_listeners(trace=False), timeout=3600)
    finally:
        lockstep_mod.lockstep, hostproc._Host._gate = orig_lockstep, orig_gate  # type: ignore[method-assign]
        hostproc._Host._send = orig_send  # type: ignore[method-assign]
    steps = max(round(run.sim_seconds / run.physics.step_size), 1)
    hs = run.hostset
    gates = [_top(getattr(f, "bench_gate", {}), steps, top) for f in hs.finals.values()] if hs else []
    return {"hosts": hosts, "simulated_seconds": seconds, "round_trips": steps, "wall": wall,
            "world_lockstep": _top(world.get("stats", {}), steps, top), "host_gates": gates}


# ------------------------------------------------------------------ delivery and hand-off
def _feeder(name: str, count: int, gap: float, robots: int, ready: Any, go: Any) -> None:
    """The world's side (a spawned child): every ``gap`` s one batch of ``robots`` IMU readings, stamped."""
    with Ring.attach(name) as ring:
        payload = np.zeros(6)
        ready.set()
        go.wait()
        start = time.perf_counter()
        for k in range(count):
            left = start + k * gap - time.perf_counter()
            if left > 0:
                time.sleep(left)
            stamp = time.perf_counter()  # the sample time: the forward instant, on CLOCK_MONOTONIC
            ring.put(encode_batch([(i, k, stamp, stamp, payload + i) for i in range(robots)]))


def _host_side(ring: Ring, count: int, robots: int) -> tuple[list[float], list[float]]:
    """A driver thread (ring -> decode -> Channel.put) and one controller thread per robot (wait, take_newest).

    Delivery: the forward stamp -> the driver's put. Hand-off: the put -> the controller holding it.
    """
    clock = RealClock()
    channels: list[Channel[Reading]] = [Channel(clock, capacity=8) for _ in range(robots)]
    delivery: list[float] = []
    handoff: list[list[float]] = [[] for _ in range(robots)]
    done = threading.Event()

    def driver() -> None:
        got = 0
        while got < count:
            try:
                buf = ring.get(2.0)
            except queue.Empty:
                break
            for slot, seq, sample_time, _, payload in decode_batch(buf):
                now = time.perf_counter()
                delivery.append(now - sample_time)
                channels[slot].put(Reading("r", "imu", seq, sample_time, now, payload))
            got += 1
        done.set()

    def controller(i: int) -> None:
        ch = channels[i]
        while not done.is_set():
            seen = ch.version()
            r = ch.take_newest()
            if r is None:
                ch.wait_for_put(seen, clock.now() + 0.1)
                continue
            handoff[i].append(time.perf_counter() - r.publish_time)

    threads = [threading.Thread(target=driver)] + [threading.Thread(target=controller, args=(i,))
                                                    for i in range(robots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return delivery, [x for h in handoff for x in h]


def _bare_queue(count: int, gap: float) -> list[float]:
    """The floor: ``count`` stamps through a bare ``queue.Queue``, thread -> thread, ``gap`` s apart."""
    q: queue.Queue[float | None] = queue.Queue()
    out: list[float] = []

    def consumer() -> None:
        while (t := q.get()) is not None:
            out.append(time.perf_counter() - t)

    c = threading.Thread(target=consumer)
    c.start()
    start = time.perf_counter()
    for k in range(count):
        left = start + k * gap - time.perf_counter()
        if left > 0:
            time.sleep(left)
        q.put(time.perf_counter())
    q.put(None)
    c.join(10)
    return out


def ring_timer_lateness(waits: tuple[float, ...] = (0.0001, 0.0003, 0.0007), tries: int = 30) -> dict[str, Any]:
    """How late ``Ring.get(timeout)`` returns on an empty ring, against ``time.sleep`` of the same length.

    Why: a host's driver thread waits for a reading's publish instant with ``Ring.get(left)`` (so that
    a new message wakes it too); ``poll`` takes whole milliseconds, so a wait of 0.1-1 ms lasts 1-2 ms.
    """
    out: dict[str, Any] = {}
    with Ring.create(4, 64) as ring:
        for w in waits:
            late_ring, late_sleep = [], []
            for _ in range(tries):
                t0 = time.perf_counter()
                with contextlib.suppress(queue.Empty):
                    ring.get(w)
                late_ring.append(time.perf_counter() - t0 - w)
                t0 = time.perf_counter()
                time.sleep(w)
                late_sleep.append(time.perf_counter() - t0 - w)
            out[f"{w * 1e6:.0f}us"] = {"ring_get": percentiles(late_ring), "sleep": percentiles(late_sleep)}
    return out


def delivery_micro(messages: int = 500, gap: float = 0.002, robots: int = 1, repeats: int = 7) -> dict[str, Any]:
    """Ring + wire + Channel between two processes against the bare queue; p50/p99 are medians over repeats."""
    runs: dict[str, list[dict[str, Any]]] = {"delivery": [], "handoff": [], "bare_queue": []}
    for _ in range(repeats):
        runs["bare_queue"].append(percentiles(_bare_queue(messages, gap)))
        ring = Ring.create(64, 4096)
        try:
            ready, go = _SPAWN.Event(), _SPAWN.Event()
            p = _SPAWN.Process(target=_feeder, args=(ring.name, messages, gap, robots, ready, go), daemon=True)
            p.start()
            ready.wait(60)
            go.set()
            d, h = _host_side(ring, messages, robots)
            p.join(10)
        finally:
            ring.close()
        runs["delivery"].append(percentiles(d))
        runs["handoff"].append(percentiles(h))
    out: dict[str, Any] = {"messages": messages, "gap_s": gap, "robots": robots, "repeats": repeats}
    for k, v in runs.items():
        out[k] = {q: median([r[q] for r in v]) for q in ("p50", "p99", "max")} | {"samples": v}
    out["handoff_p99_ratio"] = out["handoff"]["p99"] / out["bare_queue"]["p99"]
    return out


_REC: dict[str, Any] = {"handoff": [], "transit": []}  # per process (a forked host fills its own copy)
_WAITED = threading.local()


@contextlib.contextmanager
def _recording(origin: list[float]) -> Iterator[None]:
    """Record, in whichever process runs them, channel put -> controller holding it and ring transit.

    Hand-off: a reading put while its controller waited for it (``Channel.wait_for_put``) until the
    controller took it (``take_newest``), on the channel's clock: the driver thread (hosts) or the
    producer thread (shared) -> the controller, the same definition in both. Transit (hosts): the
    reading's sample instant -> the host's driver decoding it off the ring (``perf_counter`` against the
    world's clock origin, ``origin[0]``, filled in once the run started: CLOCK_MONOTONIC is one clock for
    every process). A host sends its lists home on its final statistics.
    """
    from sim.runtime import hostproc

    orig_wait, orig_take = Channel.wait_for_put, Channel.take_newest
    orig_decode, orig_send = hostproc.decode_batch, hostproc._Host._send

    def wait_for_put(ch: Any, seen: int, deadline_at: float) -> bool:
        started = ch.clock.now()
        ok = orig_wait(ch, seen, deadline_at)
        _WAITED.since = started if ok else None
        return ok

    def take_newest(ch: Any) -> Any:
        r = orig_take(ch)
        since = getattr(_WAITED, "since", None)
        if since is not None:
            _WAITED.since = None
            if r is not None and r.publish_time >= since:
                _REC["handoff"].append(ch.clock.now() - r.publish_time)
        return r

    def decode(buf: bytes) -> list[tuple[int, int, float, float, object]]:
        items = orig_decode(buf)
        at = time.perf_counter()
        _REC["transit"].extend(at - t for _, _, t, _, _ in items)  # the origin is subtracted at home
        return items

    def send(h: Any, msg: tuple[Any, ...]) -> None:
        if msg[0] == "final":
            msg[1].bench_rec = {k: list(v) for k, v in _REC.items()}
        orig_send(h, msg)

    _REC["handoff"].clear()
    _REC["transit"].clear()
    Channel.wait_for_put, Channel.take_newest = wait_for_put, take_newest  # type: ignore[method-assign]
    hostproc.decode_batch, hostproc._Host._send = decode, send  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        Channel.wait_for_put, Channel.take_newest = orig_wait, orig_take  # type: ignore[method-assign]
        hostproc.decode_batch, hostproc._Host._send = orig_decode, orig_send  # type: ignore[method-assign]


def handoff_in_run(seconds: float = 10.0, repeats: int = 3, robots: int = 8, hosts: int | str = 2,
                   baseline_seconds: float = 2.0) -> dict[str, Any]:
    """Inside real runs of the 8-robot hand-off profile, shared against ``hosts`` (alternating):

    ``publish_to_use``: the reading's publish instant -> the controller holding it (every cycle that
    waited for its bumper; ``bench.latency.HandoffListener``): with hosts this includes the driver
    thread's lateness at the publish instant. ``handoff``: channel put -> controller (see ``_recording``).
    ``transit`` (hosts): sample instant -> decoded in the host. ``bare_queue``: the floor, a bare
    ``queue.Queue`` thread -> thread in this process before each pair (idle), and ``bare_queue_loaded``
    the same probe running during the runs. p50/p99/max: medians over the repeats.
    """
    from bench.latency import _Probe

    keys = ("shared", str(hosts))
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        k: {"publish_to_use": [], "handoff": [], "transit": [], "bare_queue_loaded": []} for k in keys}
    idle: list[dict[str, Any]] = []
    for _ in range(repeats):
        probe = _Probe().start()
        time.sleep(baseline_seconds)
        probe.stop()
        idle.append(percentiles(probe.handoff))
        for h in ("shared", hosts):
            listener = HandoffListener()
            origin: list[float] = []
            loaded = _Probe().start()
            with _recording(origin):
                run, _ = run_watched(warehouse_profile(robots, duration=seconds, handoff=True, hosts=h), [listener],
                                     timeout=seconds * 3 + 60)
            loaded.stop()
            handoff, transit = list(_REC["handoff"]), []
            hs = run.hostset
            if hs is not None:
                origin0 = run.clock.origin
                for final in hs.finals.values():
                    rec = getattr(final, "bench_rec", {"handoff": [], "transit": []})
                    handoff += rec["handoff"]
                    transit += [x - origin0 for x in rec["transit"]]
            r = runs[str(h)]
            r["publish_to_use"].append(percentiles(listener.handoff) | {"end_reason": run.end_reason})
            r["handoff"].append(percentiles(handoff))
            r["transit"].append(percentiles(transit))
            r["bare_queue_loaded"].append(percentiles(loaded.handoff))
    out: dict[str, Any] = {"robots": robots, "seconds": seconds, "hosts": hosts, "bare_queue": _med(idle)}
    for k in keys:
        out[k] = {name: _med(v) for name, v in runs[k].items()}
    floor = out["bare_queue"]["p99"]
    for k in keys:
        h = out[k]["handoff"]["p99"]
        out[k]["handoff_p99_ratio"] = h / floor if h is not None and floor else None
    return out


def _med(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p99/max as medians over repeats (None where no repeat had a value), with the repeats."""
    return {q: (median(vals) if (vals := [s[q] for s in samples if s.get(q) is not None]) else None)
            for q in ("p50", "p99", "max")} | {"count": sum(s.get("count") or 0 for s in samples),
                                                "samples": samples}


# ------------------------------------------------------------------ processes at N robots
def processes_trial(n: int, hosts: int | str, seconds: float) -> dict[str, Any]:
    """A real-clock trial of ``n`` robots: the capacity verdict, fork time, RSS per host, context switches/s."""
    from sim.runtime import hosts as hosts_mod

    fork_s: list[float] = []
    orig = hosts_mod.HostSet.fork
    samples: list[tuple[float, dict[int, int | None]]] = []
    world_rss: list[int | None] = []
    done = threading.Event()

    def sample(pids: list[int], start: float, ended: threading.Event) -> None:
        # from the fork's end (simulated 0 is START_LEAD later): the world's own start may be starved.
        # A run that ended before the second sample has no figure (its threads' counts are gone).
        for at in (0.2, 0.9):
            if done.wait(max(start + at * seconds - time.perf_counter(), 0.0)) or ended.is_set():
                return
            samples.append((time.perf_counter(), {p: context_switches(p) for p in pids}))
        world_rss.append(rss())

    sampler: list[threading.Thread] = []

    def fork(hs: Any) -> None:
        t0 = time.perf_counter()
        try:
            orig(hs)
        finally:
            fork_s.append(time.perf_counter() - t0)
        start_sampler([os.getpid(), *hs.pids], hs.run.finished)

    def start_sampler(pids: list[int], ended: threading.Event) -> None:
        sampler.append(threading.Thread(target=sample, args=(pids, time.perf_counter(), ended), daemon=True,
                                        name="bench-sampler"))
        sampler[0].start()

    def during(run: Any, t0: float) -> None:
        if run.hostset is None:  # shared: no fork to start the sampler from
            start_sampler([os.getpid()], run.finished)

    hosts_mod.HostSet.fork = fork  # type: ignore[method-assign]
    prof = Profile()
    try:
        with physics_end_recorded(), prof.active():
            run, wall = run_watched(warehouse_profile(n, duration=seconds, hosts=hosts), timeout=seconds * 3 + 120,
                                    during=during)
    finally:
        hosts_mod.HostSet.fork = orig  # type: ignore[method-assign]
        done.set()
        for t in sampler:
            t.join(30)
    out = judge(run, n, 0, hosts)
    infos = run.host_processes()
    host_rss = [h.private_rss for h in infos[1:] if h.private_rss is not None]
    out.update({"processes": len(infos), "fork_to_ready_s": fork_s[0] if fork_s else None,
                "host_private_rss_median": median([float(x) for x in host_rss]) if host_rss else None,
                "host_private_rss_max": max(host_rss) if host_rss else None,
                "host_private_rss_total": sum(host_rss) if host_rss else None,
                "world_rss": world_rss[0] if world_rss else None,
                "host_cpu_seconds": sum(h.cpu_seconds or 0.0 for h in infos[1:]), "wall": wall,
                "world_threads_cpu_s_per_s": _per_s(prof.world_cpu, run.sim_seconds),
                "host_threads_cpu_s_per_s": _per_s(_by_role([getattr(f, "bench", {}).get("cpu", {})
                                                            for f in (run.hostset.finals.values()
                                                                      if run.hostset else [])]), run.sim_seconds)})
    out["ctx_switches_measured"] = len(samples) == 2
    if len(samples) == 2:
        (ta, a), (tb, b) = samples
        dt = tb - ta
        per = {p: (b[p] - a[p]) / dt for p in a if a[p] is not None and b.get(p) is not None}  # type: ignore[operator]
        world = per.pop(os.getpid(), None)
        out.update({"ctx_switches_per_s_world": world, "ctx_switches_per_s_hosts": sum(per.values()),
                    "ctx_switches_per_s_host_median": median(list(per.values())) if per else 0.0,
                    "ctx_switches_per_s_total": (world or 0.0) + sum(per.values())})
    return out


def _by_role(cpus: list[dict[str, float]]) -> dict[str, float]:
    """Thread CPU summed over hosts and over threads of one kind (``controller:r7`` -> ``controller``)."""
    out: dict[str, float] = {}
    for cpu in cpus:
        for name, x in cpu.items():
            role = name.split(":")[0] if name.startswith("controller:") else name
            out[role] = out.get(role, 0.0) + x
    return out


def _per_s(cpu: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU s per simulated s of each thread (controllers summed), largest first."""
    merged = _by_role([cpu])
    return {k: v / max(seconds, 1e-9) for k, v in sorted(merged.items(), key=lambda kv: -kv[1])}


# ------------------------------------------------------------------ the item
PARTS = ("capacity", "virtual", "delivery", "processes")


def measure_hosts(parts: tuple[str, ...] = PARTS, capacity_seconds: float = 10.0, resolution: float = 0.1,
                  retries: int = 0, start: int = 100, limit: int = 512, per_robot_start: int = 8,
                  hosts: tuple[str | int, ...] = HOSTS, virtual_seconds: float = 60.0, virtual_repeats: int = 3,
                  messages: int = 500, delivery_repeats: int = 7, handoff_seconds: float = 10.0,
                  handoff_repeats: int = 3, process_robots: int = 200, process_seconds: float = 10.0,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every hosts figure of issue 15 that ``parts`` names (item ``hosts`` of ``bench/__main__.py``)."""
    out: dict[str, Any] = {}
    if "delivery" in parts:
        out["delivery"] = delivery_micro(messages=messages, repeats=delivery_repeats)
        out["ring_timer"] = ring_timer_lateness()
        out["handoff_in_run"] = handoff_in_run(seconds=handoff_seconds, repeats=handoff_repeats,
                                               baseline_seconds=min(2.0, handoff_seconds / 2))
    if "virtual" in parts:
        out["virtual"] = virtual_speed(virtual_seconds, virtual_repeats, log=log)
    if "processes" in parts:
        out["processes"] = {}
        for h in hosts:
            t = processes_trial(process_robots, h, process_seconds)
            log(f"  processes hosts={h} n={process_robots}: {t['processes']} processes, fork {t['fork_to_ready_s']}")
            out["processes"][str(h)] = t
    if "capacity" in parts:
        # per_robot: a process per robot passes only small fleets on 2 cores; start low, not to waste trials
        out["capacity"] = {str(h): search(0, capacity_seconds, start=per_robot_start if h == "per_robot" else start,
                                          limit=limit, resolution=resolution, log=log, retries=retries, hosts=h)
                           for h in hosts}
    return out
