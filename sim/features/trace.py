"""``trace.json``: the run as a Chrome Trace Event file, to see *why* a cycle missed in Perfetto.

One track per simulation thread, per process: the world process is pid 1 (one tid per
thread, named by ``thread_name`` metadata); with robot hosts (``run.hosts`` per_robot or N) each
host process is a process of its own (pid 2, 3, ... for host-1, host-2, ..., named "host-1 (amr-1,
amr-2)" by ``process_name`` metadata) whose controllers' cycles are on its own threads, so Perfetto
groups each robot computer's activity. The cycles still reach the trace in the world process (the
hosts' uplink delivers them to ``on_cycle``); only their track says where they ran.

Controller cycles are complete slices ("X") from start to finish with
their "input wait" and "compute" phases nested inside; misses are named
"cycle MISS" and marked by a "MISS <robot> k=<k> <cause>" instant at r_k + D (Perfetto ignores
``cname`` colours: names are what it shows), and each robot has a cumulative "deadline misses"
counter track. Sensor samples are instants and publishes zero-length slices on their producer
thread's track; a flow arrow goes from each reading's publish to the cycle that first used it (a
"use <sensor>" slice at its inputs time), and a counter track per queue gives its peak depth per
``queue_window``. Times are microseconds of simulated time.

Off the timed path: callbacks only append a tuple (``sim.common.batching.BackgroundDrain``);
a writer thread wakes on a fixed interval and marshals the batch down a pipe to the
formatter process (``sim.features.tracefmt``), which formats the JSON off the GIL and streams
it to a temp file in the run folder, renamed to ``trace.json`` at close (JSON Array
Format, properly closed), or gzipped to ``trace.json.gz`` when the JSON is larger than ``gzip_above``
bytes (16 MiB: about 25 simulated seconds of the 8-robot warehouse). Memory stays bounded (the pipe's
buffer: the writer waits when the formatter falls behind); for long or large runs sensor instants are thinned
(every ``stride``-th per sensor, plus an overall cap) and the report says so.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sim.common.batching import BackgroundDrain
from sim.common.files import create_temp
from sim.common.interrupt import blocked
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.errors import FormatterFailed, OutputError
from sim.features.tracefmt import (
    CONFIG,
    CYCLE,
    GZ,
    GZIP_ABOVE,
    HEADER,
    INSTANT,
    PID,
    PUBLISH,
    QUEUE_WINDOW,
    SAMPLE,
    formatter_command,
    frame,
    instant,
)

if TYPE_CHECKING:
    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.interfaces.messages import Reading

_CLOSE_TIMEOUT = 30.0  # s real for the formatter to finish the file after the run


class TraceWriter(Feature):
    """Streams a run's threads, cycles and sensor events to ``trace.json``; the report's ``trace`` section."""

    section = "trace"
    stage = "output"

    def __init__(self, filename: str = "trace.json", instants_per_sensor_second: float = 200.0,
                 max_instants: int = 1_000_000, gzip_above: int = GZIP_ABOVE,
                 queue_window: float = QUEUE_WINDOW) -> None:
        self.filename = filename
        self.instants_per_sensor_second = instants_per_sensor_second
        self.max_instants = max_instants
        self.gzip_above = gzip_above
        self.queue_window = queue_window
        self.path: Path | None = None  # the file written: trace.json, or trace.json.gz when large
        self.events = 0
        self.cycles = 0
        self.instants = 0
        self.flows = 0
        self.rescued = 0  # publishes the stride thinned but a cycle used: written for their flow
        self._thinned: dict[str, int] = {}  # per sensor: instants left out by the stride (one writer each)
        self.capped = 0  # sensor instants left out by the overall cap
        self._tids: dict[str, int] = {}
        self._run: RunHandle | None = None
        self._placed: dict[str, tuple[int, int]] | None = None  # robot -> (pid, tid) of its controller's track
        self._hosts: dict[str, tuple[int, str, dict[str, int]]] = {}  # host name -> (pid, title, thread -> tid)
        self._place_lock = threading.Lock()
        self._sensor_tid: dict[str, int] = {}
        self._controller_tid: dict[str, int] = {}
        self._stride: dict[str, int] = {}
        self._samples: dict[str, int] = {}
        self._drain: BackgroundDrain[tuple[Any, ...]] | None = None
        self._push: Callable[[tuple[Any, ...]], None] = lambda item: None  # drain.push once started
        self._proc: subprocess.Popen[bytes] | None = None  # the formatter process
        self._tmp: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ hooks (simulation threads)
    def on_start(self, run: RunHandle) -> None:
        self._run = run
        self._tid("physics")
        for p in run.producers:
            tid = self._tid(p.name)
            for rt in p.sensors:
                self._sensor_tid[rt.label] = tid
                # both a sample and a publish instant per reading: 2 * rate instants per second
                self._stride[rt.label] = max(1, math.ceil(2 * rt.rate_hz / self.instants_per_sensor_second))
                self._samples[rt.label] = 0
                self._thinned[rt.label] = 0
        for c in run.controllers:
            self._controller_tid[c.robot_name] = self._tid(f"controller:{c.robot_name}")
        self._tid("timeline")
        out = Path(run.out_dir)
        self.path = out / self.filename
        fd, self._tmp = create_temp(self.path)
        os.close(fd)
        root = str(Path(__file__).resolve().parents[2])  # so ``-m sim.features.tracefmt`` imports this very tree
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            with blocked():  # the formatter outlives a signal to the group: it ends when we close its input
                self._proc = subprocess.Popen(
                    formatter_command(self._tmp, self.max_instants),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except BaseException:
            Path(self._tmp).unlink(missing_ok=True)
            raise
        self._drain = BackgroundDrain("trace-writer", self._send_batch)
        self._drain.report_errors_to(run)
        self._push = self._drain.push
        name = getattr(run.scenario, "name", None) or "run"
        self._push((INSTANT, {"name": "process_name", "ph": "M", "ts": 0, "pid": PID, "tid": 0,
                              "args": {"name": f"{name} (simulated time)"}}))
        self._push((CONFIG, {"labels": list(self._sensor_tid), "queue_window": self.queue_window,
                             "gzip_above": self.gzip_above}))

    def on_sample(self, rt: SensorRuntime, time: float) -> None:
        label = rt.label
        n = self._samples.get(label, 0)
        self._samples[label] = n + 1
        if n % self._stride.get(label, 1):
            self._thinned[label] = self._thinned.get(label, 0) + 1
            return
        self._push((SAMPLE, label, rt.seq, time, self._sensor_tid.get(label, 0)))

    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        """Every publish goes to the formatter: a thinned one is written only if a cycle uses it (its flow)."""
        label = rt.label
        kept = not reading.seq % self._stride.get(label, 1)
        if not kept:
            self._thinned[label] = self._thinned.get(label, 0) + 1
        # the queue's depth right after the put; a robot host's queue is in the host process: unknown here
        depth = rt.channel.stats.depth if rt.outlet is None else -1
        self._push((PUBLISH, label, reading.seq, reading.publish_time, self._sensor_tid.get(label, 0),
                    reading.sample_time, kept, depth))

    def on_cycle(self, cycle: Cycle) -> None:
        self._push((CYCLE, cycle))

    # ------------------------------------------------------------------ close (main thread)
    def close(self, run: RunHandle) -> None:
        """Add thread names, timeline events and collisions, finish the array, rename into place."""
        if self._closed or self._drain is None:
            return
        self._closed = True
        placed = self._placement()
        roles = {t.name: t.role for t in getattr(run, "threads", [])}
        remote = {f"controller:{robot}" for robot, (pid, _) in placed.items() if pid != PID}  # no track in pid 1
        for t in getattr(run, "threads", []):
            host, _, thread = t.name.partition("/")
            if thread and host in self._hosts:
                self._host_tid(host, thread)
            else:
                self._tid(t.name)
        for name, tid in self._tids.items():
            if name not in remote:
                self._thread_metadata(PID, tid, f"{name} [{roles[name]}]" if name in roles else name)
        for host, (pid, title, tids) in self._hosts.items():
            self._push((INSTANT, {"name": "process_name", "ph": "M", "ts": 0, "pid": pid, "tid": 0,
                                  "args": {"name": title}}))
            self._push((INSTANT, {"name": "process_sort_index", "ph": "M", "ts": 0, "pid": pid, "tid": 0,
                                  "args": {"sort_index": pid}}))
            for name, tid in tids.items():
                full = f"{host}/{name}"
                self._thread_metadata(pid, tid, f"{name} [{roles[full]}]" if full in roles else name)
        for t, event in getattr(run, "timeline_log", []):
            self._push((INSTANT, instant(event, t, self._tids["timeline"], "timeline", {})))
        physics = getattr(run, "physics", None)
        for t, a, b in getattr(physics, "collision_log", []):
            self._push((INSTANT, instant(f"collision {a}", t, self._tids["physics"], "collision",
                                         {"robot": a, "with": b})))
        assert self._proc is not None and self._proc.stdin is not None
        assert self._tmp is not None and self.path is not None
        try:
            self._drain.close(_CLOSE_TIMEOUT)
            self._proc.stdin.write(HEADER.pack(0))  # the end: close the array, report the counts
            out, _ = self._proc.communicate(timeout=_CLOSE_TIMEOUT)
            answer = json.loads(out) if out.strip() else {}
            if self._proc.returncode != 0 or "error" in answer:
                raise FormatterFailed(self.path, answer.get("error")
                                      or f"the formatter process exited with code {self._proc.returncode}")
        except BaseException as exc:
            why = str(exc.error) if isinstance(exc, FormatterFailed) else self._why(exc)
            self._abandon()
            raise OutputError(self.path, why) from exc
        self.events, self.cycles = answer["events"], answer["cycles"]
        self.instants, self.capped = answer["instants"], answer["capped"]
        self.flows, self.rescued = answer.get("flows", 0), answer.get("rescued", 0)
        tmp = self._tmp
        if answer.get("gzip"):  # large: the formatter compressed it and removed the plain file
            tmp, self.path = tmp + GZ, self.path.with_name(self.path.name + GZ)
        try:
            os.replace(tmp, self.path)  # the formatter fsynced it
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise OutputError(self.path, exc) from exc

    def _why(self, exc: BaseException) -> str:
        code = self._proc.poll() if self._proc is not None else None
        if code is not None and code != 0:
            return f"the formatter process exited with code {code}"
        return f"{type(exc).__name__}: {exc}"

    def _abandon(self) -> None:
        """Stop the formatter and remove the unfinished file (the report says the trace failed)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
                self._proc.communicate(timeout=1.0)
        if self._tmp:
            Path(self._tmp).unlink(missing_ok=True)
            Path(self._tmp + GZ).unlink(missing_ok=True)

    @property
    def thinned(self) -> int:
        """Sensor instants left out by the per-sensor stride (less the publishes kept for a flow)."""
        return sum(self._thinned.values()) - self.rescued

    def report_section(self, run: RunHandle) -> dict[str, Any] | None:
        """``summary()`` once the file is written; None without it."""
        return self.summary() if self.path is not None and self.path.exists() else None

    @staticmethod
    def print_section(data: dict[str, Any], out: TextIO) -> None:
        thin = (f"; thinned: {data['instants_left_out_by_stride'] + data['instants_left_out_by_cap']} sensor "
                "instants left out" if data.get("thinned") else "")
        flows = f", {data['flows']} flows" if data.get("flows") else ""
        print(f"\nTrace: {data['file']} ({data['events']} events{flows}{thin}) - open in https://ui.perfetto.dev",
              file=out)

    def summary(self) -> dict[str, Any]:
        """For the report: what the trace holds and whether it was thinned."""
        return {
            "file": self.path.name if self.path is not None else self.filename, "events": self.events,
            "cycles": self.cycles, "flows": self.flows, "gzip": bool(self.path and self.path.name.endswith(GZ)),
            "gzip_above": self.gzip_above, "queue_window": self.queue_window,
            "sensor_instants": self.instants, "thinned": self.thinned + self.capped > 0,
            "instants_left_out_by_stride": self.thinned, "instants_left_out_by_cap": self.capped,
            "instants_per_sensor_second": self.instants_per_sensor_second, "max_instants": self.max_instants,
            "strides": {k: v for k, v in self._stride.items() if v > 1},
        }

    # ------------------------------------------------------------------ writer thread
    def _tid(self, name: str) -> int:
        if name not in self._tids:
            self._tids[name] = len(self._tids) + 1
        return self._tids[name]

    def _thread_metadata(self, pid: int, tid: int, label: str) -> None:
        self._push((INSTANT, {"name": "thread_name", "ph": "M", "ts": 0, "pid": pid, "tid": tid,
                              "args": {"name": label}}))
        self._push((INSTANT, {"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": pid,
                              "tid": tid, "args": {"sort_index": tid}}))

    def _host_tid(self, host: str, thread: str) -> int:
        tids = self._hosts[host][2]
        if thread not in tids:
            tids[thread] = len(tids) + 1
        return tids[thread]

    def _placement(self) -> dict[str, tuple[int, int]]:
        """Each robot's controller track (pid, tid): pid 1 in the world process, else its host's own pid.

        Asked at the first cycle (the hosts are running by then: ``host_processes()`` knows them) or at
        the close; the same answer ever after.
        """
        with self._place_lock:
            if self._placed is not None:
                return self._placed
            placed = {robot: (PID, tid) for robot, tid in self._controller_tid.items()}
            ask = getattr(self._run, "host_processes", None)  # a test's stand-in run may not have it
            processes = ask() if ask is not None else []
            for n, proc in enumerate(p for p in processes if p.name != "main"):
                pid = PID + 1 + n
                self._hosts[proc.name] = (pid, f"{proc.name} ({', '.join(proc.robots)})", {})
                for robot in proc.robots:
                    placed[robot] = (pid, self._host_tid(proc.name, f"controller:{robot}"))
            self._placed = placed
            return placed

    def _send_batch(self, batch: list[tuple[Any, ...]]) -> None:
        """Cycles become plain tuples; everything goes down the pipe in one marshalled message."""
        placed = self._placed
        if placed is None and any(item[0] == CYCLE for item in batch):
            placed = self._placement()
        out = [item if item[0] != CYCLE else _cycle_tuple(item[1], *(placed or {}).get(item[1].robot, (PID, 0)))
               for item in batch]
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(frame(out))


def _cycle_tuple(c: Cycle, pid: int, tid: int) -> tuple[Any, ...]:
    return (CYCLE, tid, c.robot, c.k, c.release_time, c.start_time, c.inputs_time, c.finish_time, c.deadline,
            c.cpu_time, c.miss, c.overrun, c.safety_stop, c.cause.value if c.cause else None, pid, c.ages)
