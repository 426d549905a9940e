"""``trace.json``: the run as a Chrome Trace Event file, to see *why* a cycle missed in Perfetto.

One track per simulation thread (pid 1, one tid per thread, named by ``thread_name``
metadata). Controller cycles are complete slices ("X") from start to finish with
their "input wait" and "compute" phases nested inside; misses are named
"cycle MISS", coloured, and marked by a "deadline miss" instant at r_k + D.
Sensor samples and publishes are instants on their producer thread's track.
Times are microseconds of simulated time.

Off the timed path: callbacks only append a tuple (``sim.batching.BackgroundDrain``);
a writer thread wakes on a fixed interval, formats and streams the events to a temp
file in the run folder, which is renamed to ``trace.json`` at close (JSON Array
Format, properly closed). Memory stays bounded; for long or large runs sensor
instants are thinned (every ``stride``-th per sensor, plus an overall cap) and the
report says so.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sim.batching import BackgroundDrain
from sim.control import Cycle
from sim.listeners import RunListener

PID = 1
MISS_COLOUR = "terrible"  # a Chrome trace viewer reserved colour name (red)
_SAMPLE, _PUBLISH, _CYCLE, _INSTANT = 0, 1, 2, 3


def _us(t: float) -> float:
    """Seconds -> microseconds rounded to the nanosecond (keeps nested slices exactly nested)."""
    return round(t * 1e9) / 1000.0


class TraceWriter(RunListener):
    """Streams a run's threads, cycles and sensor events to ``trace.json``."""

    def __init__(self, filename: str = "trace.json", instants_per_sensor_second: float = 200.0,
                 max_instants: int = 1_000_000) -> None:
        self.filename = filename
        self.instants_per_sensor_second = instants_per_sensor_second
        self.max_instants = max_instants
        self.path: Path | None = None
        self.events = 0
        self.cycles = 0
        self.instants = 0
        self._thinned: dict[str, int] = {}  # per sensor: instants left out by the stride (one writer each)
        self.capped = 0  # sensor instants left out by the overall cap
        self._tids: dict[str, int] = {}
        self._sensor_tid: dict[str, int] = {}
        self._controller_tid: dict[str, int] = {}
        self._stride: dict[str, int] = {}
        self._samples: dict[str, int] = {}
        self._drain: BackgroundDrain[tuple[Any, ...]] | None = None
        self._first = True
        self._push: Callable[[tuple[Any, ...]], None] = lambda item: None  # drain.push once started
        self._file: IO[str] | None = None
        self._tmp: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ hooks (simulation threads)
    def on_start(self, run: Any) -> None:
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
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.filename}.", suffix=".tmp", dir=out)
        self._file = os.fdopen(fd, "w")
        self._file.write("[\n")
        self._drain = BackgroundDrain("trace-writer", self._write_batch)
        self._push = self._drain.push
        name = getattr(run.scenario, "name", None) or "run"
        self._push((_INSTANT, {"name": "process_name", "ph": "M", "ts": 0, "pid": PID, "tid": 0,
                               "args": {"name": f"{name} (simulated time)"}}))

    def on_sample(self, rt: Any, time: float) -> None:
        label = rt.label
        n = self._samples.get(label, 0)
        self._samples[label] = n + 1
        if n % self._stride.get(label, 1):
            self._thinned[label] = self._thinned.get(label, 0) + 1
            return
        self._push((_SAMPLE, label, rt.seq, time))

    def on_publish(self, rt: Any, reading: Any) -> None:
        if reading.seq % self._stride.get(rt.label, 1):
            self._thinned[rt.label] = self._thinned.get(rt.label, 0) + 1
            return
        self._push((_PUBLISH, rt.label, reading.seq, reading.publish_time, reading.sample_time))

    def on_cycle(self, cycle: Cycle) -> None:
        self._push((_CYCLE, cycle))

    # ------------------------------------------------------------------ close (main thread)
    def close(self, run: Any) -> None:
        """Add thread names, timeline events and collisions, finish the array, rename into place."""
        if self._closed or self._file is None:
            return
        self._closed = True
        roles = {t.name: t.role for t in getattr(run, "threads", [])}
        for t in getattr(run, "threads", []):
            self._tid(t.name)
        for name, tid in self._tids.items():
            label = f"{name} [{roles[name]}]" if name in roles else name
            self._push((_INSTANT, {"name": "thread_name", "ph": "M", "ts": 0, "pid": PID, "tid": tid,
                                   "args": {"name": label}}))
            self._push((_INSTANT, {"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": PID,
                                   "tid": tid, "args": {"sort_index": tid}}))
        for t, event in getattr(run, "timeline_log", []):
            self._push((_INSTANT, _instant(event, t, self._tids["timeline"], "timeline", {})))
        physics = getattr(run, "physics", None)
        for t, a, b in getattr(physics, "collision_log", []):
            self._push((_INSTANT, _instant(f"collision {a}", t, self._tids["physics"], "collision",
                                           {"robot": a, "with": b})))
        assert self._drain is not None
        try:
            self._drain.close(30.0)
        except BaseException as exc:
            self._file.close()
            Path(self._tmp or "").unlink(missing_ok=True)
            raise RuntimeError(f"trace writer failed: {exc}") from exc
        self._file.write("\n]\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        assert self._tmp is not None and self.path is not None
        os.replace(self._tmp, self.path)

    @property
    def thinned(self) -> int:
        """Sensor instants left out by the per-sensor stride."""
        return sum(self._thinned.values())

    def summary(self) -> dict[str, Any]:
        """For the report: what the trace holds and whether it was thinned."""
        return {
            "file": self.filename, "events": self.events, "cycles": self.cycles,
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

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        assert self._file is not None
        lines = [json.dumps(e, separators=(",", ":")) for item in batch for e in self._events(item)]
        if lines:
            self._file.write(("" if self._first else ",\n") + ",\n".join(lines))
            self._first = False
            self.events += len(lines)

    def _events(self, item: tuple[Any, ...]) -> list[dict[str, Any]]:
        kind = item[0]
        if kind == _CYCLE:
            self.cycles += 1
            return _cycle_events(item[1], self._controller_tid.get(item[1].robot, 0))
        if kind == _INSTANT:
            return [item[1]]
        if self.instants >= self.max_instants:
            self.capped += 1
            return []
        self.instants += 1
        label, seq, t = item[1], item[2], item[3]
        tid = self._sensor_tid.get(label, 0)
        if kind == _SAMPLE:
            return [_instant(f"sample {label}", t, tid, "sensor", {"sensor": label, "seq": seq})]
        return [_instant(f"publish {label}", t, tid, "sensor",
                         {"sensor": label, "seq": seq, "sample_time": item[4], "latency": t - item[4]})]


def _instant(name: str, t: float, tid: int, cat: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "cat": cat, "ph": "i", "s": "t", "ts": _us(t), "pid": PID, "tid": tid, "args": args}


def _cycle_events(c: Cycle, tid: int) -> list[dict[str, Any]]:
    """The cycle slice, its nested phases, and a deadline-miss instant if it missed."""
    start, inputs, finish = _us(c.start_time), _us(c.inputs_time), _us(c.finish_time)
    args = {
        "robot": c.robot, "k": c.k, "release": c.release_time, "release_jitter": c.release_jitter,
        "response_time": c.response_time, "deadline": c.deadline, "cpu_time": c.cpu_time,
        "miss": c.miss, "overrun": c.overrun, "cause": c.cause.value if c.cause else None,
        "safety_stop": c.safety_stop,
    }
    cycle: dict[str, Any] = {"name": "cycle MISS" if c.miss else "cycle", "cat": "cycle", "ph": "X",
                             "ts": start, "dur": round(finish - start, 3), "pid": PID, "tid": tid, "args": args}
    if c.miss:
        cycle["cname"] = MISS_COLOUR
    out = [cycle]
    if inputs > start:
        out.append({"name": "input wait", "cat": "phase", "ph": "X", "ts": start, "dur": round(inputs - start, 3),
                    "pid": PID, "tid": tid, "args": {"k": c.k}})
    if finish > inputs:
        out.append({"name": "compute", "cat": "phase", "ph": "X", "ts": inputs, "dur": round(finish - inputs, 3),
                    "pid": PID, "tid": tid, "args": {"k": c.k}})
    if c.miss:
        miss = _instant("deadline miss", c.release_time + c.deadline, tid, "miss",
                        {"k": c.k, "cause": args["cause"], "late_by": c.finish_time - c.release_time - c.deadline})
        miss["cname"] = MISS_COLOUR
        out.append(miss)
    return out
