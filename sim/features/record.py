"""``recording.mcap`` (``--record``): every reading, command, true pose and cycle, for Foxglove.

Channels (JSON messages, JSON Schema schemas; times in ns of simulated time):

* ``/<robot>/<sensor name>`` - one per sensor, schema by kind (lidar as
  ``foxglove.LaserScan``, others ``fleet.<Kind>``; unknown kinds get a generic one);
  log_time = publish_time = the reading's publish time, ``timestamp`` = its sample time.
* ``/<robot>/cmd_vel`` - each command handed to physics (log_time = cycle finish).
* ``/<robot>/pose_true`` - ``foxglove.PoseInFrame`` of the true pose, downsampled.
* ``/tf`` - ``foxglove.FrameTransforms`` map -> ``<robot>/base_link`` (so the 3D panel
  places every scan), at the pose rate.
* ``/cycles`` - one message per controller cycle, merged into finish-time order.

Off the simulation's timed path: callbacks only append a tuple
(``sim.common.batching.BackgroundDrain``); a writer thread wakes on a fixed interval,
serialises and writes. The file is written under a temp name in the run folder
and renamed at close.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

import numpy as np

from sim.common.batching import BackgroundDrain
from sim.common.files import AtomicFile
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.errors import OutputError

if TYPE_CHECKING:
    from mcap.writer import Writer

    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.interfaces.messages import Reading
    from sim.world.model import WorldSnapshot
    from sim.world.physics import Command

_READING, _COMMAND, _POSE, _CYCLE = 0, 1, 2, 3
HOLD_LIMIT = 20000  # cycles held back for ordering before the oldest is written regardless


def ns(t: float) -> int:
    """Simulated seconds -> integer nanoseconds (never negative)."""
    return max(round(t * 1e9), 0)


def stamp(t: float) -> dict[str, int]:
    """Foxglove time: whole seconds and nanoseconds."""
    n = ns(t)
    return {"sec": n // 1_000_000_000, "nsec": n % 1_000_000_000}


# ---------------------------------------------------------------------- schemas
_TIME = {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}}
_VEC3 = {"type": "object", "properties": {k: {"type": "number"} for k in "xyz"}}
_QUAT = {"type": "object", "properties": {k: {"type": "number"} for k in "xyzw"}}
_POSE_SCHEMA = {"type": "object", "properties": {"position": _VEC3, "orientation": _QUAT}}
_META = {"timestamp": _TIME, "seq": {"type": "integer"},
         "sample_time": {"type": "number", "description": "s simulated"},
         "publish_time": {"type": "number", "description": "s simulated"}}


def _obj(title: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "type": "object", "properties": props}


def _num(desc: str) -> dict[str, str]:
    return {"type": "number", "description": desc}


SCHEMAS: dict[str, dict[str, Any]] = {
    "foxglove.LaserScan": _obj("foxglove.LaserScan", {
        "timestamp": _TIME, "frame_id": {"type": "string"}, "pose": _POSE_SCHEMA,
        "start_angle": _num("rad"), "end_angle": _num("rad"),
        "ranges": {"type": "array", "items": {"type": ["number", "null"]},
                   "description": "m; null = no return"},
        "intensities": {"type": "array", "items": {"type": "number"}}}),
    "fleet.Odometry": _obj("fleet.Odometry", {**_META, "x": _num("m"), "y": _num("m"), "theta": _num("rad"),
                                              "v": _num("m/s"), "w": _num("rad/s")}),
    "fleet.Imu": _obj("fleet.Imu", {**_META, "ax": _num("m/s^2, forward"), "ay": _num("m/s^2, left"),
                                    "wz": _num("rad/s, yaw rate")}),
    "fleet.Bumper": _obj("fleet.Bumper", {**_META, "contact": {"type": "boolean"}}),
    "fleet.Localization": _obj("fleet.Localization", {**_META, "x": _num("m"), "y": _num("m"),
                                                      "theta": _num("rad")}),
    "fleet.SensorReading": _obj("fleet.SensorReading", {**_META, "kind": {"type": "string"}, "data": {}}),
    "fleet.CmdVel": _obj("fleet.CmdVel", {
        "timestamp": _TIME, "v": _num("m/s"), "w": _num("rad/s"),
        "inputs": {"type": "array", "items": _obj("input", {"sensor": {"type": "string"},
                                                            "sample_time": _num("s simulated")})}}),
    "foxglove.PoseInFrame": _obj("foxglove.PoseInFrame", {"timestamp": _TIME, "frame_id": {"type": "string"},
                                                          "pose": _POSE_SCHEMA}),
    "foxglove.FrameTransforms": _obj("foxglove.FrameTransforms", {"transforms": {"type": "array", "items": _obj(
        "foxglove.FrameTransform", {"timestamp": _TIME, "parent_frame_id": {"type": "string"},
                                    "child_frame_id": {"type": "string"}, "translation": _VEC3,
                                    "rotation": _QUAT})}}),
    "fleet.Cycle": _obj("fleet.Cycle", {
        "timestamp": _TIME, "robot": {"type": "string"}, "k": {"type": "integer"},
        **{k: _num("s simulated") for k in ("release_time", "start_time", "inputs_time", "finish_time",
                                            "release_jitter", "response_time", "deadline", "cpu_time")},
        "miss": {"type": "boolean"}, "overrun": {"type": "boolean"}, "safety_stop": {"type": "boolean"},
        "cause": {"type": ["string", "null"]}}),
}
KIND_SCHEMA = {"lidar": "foxglove.LaserScan", "odometry": "fleet.Odometry", "imu": "fleet.Imu",
               "bumper": "fleet.Bumper", "localization": "fleet.Localization"}


# ---------------------------------------------------------------------- messages
def _quat(theta: float) -> dict[str, float]:
    return {"x": 0.0, "y": 0.0, "z": math.sin(theta / 2), "w": math.cos(theta / 2)}


_IDENTITY = {"position": {"x": 0.0, "y": 0.0, "z": 0.0}, "orientation": _quat(0.0)}


def jsonable(x: Any) -> Any:
    """Plain JSON values from payloads: arrays to lists, dataclasses to dicts, non-finite to None."""
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.generic):
        return x.item()
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def reading_message(kind: str, robot: str, reading: Reading) -> dict[str, Any]:
    """A reading as the JSON message of its kind's schema."""
    d = reading.data
    meta = {"timestamp": stamp(reading.sample_time), "seq": reading.seq,
            "sample_time": reading.sample_time, "publish_time": reading.publish_time}
    try:
        if kind == "lidar":
            angles = np.asarray(d.angles, dtype=float)
            return {"timestamp": meta["timestamp"], "frame_id": f"{robot}/base_link", "pose": _IDENTITY,
                    "start_angle": float(angles[0]) if angles.size else 0.0,
                    "end_angle": float(angles[-1]) if angles.size else 0.0,
                    "ranges": jsonable(np.round(np.asarray(d.ranges, dtype=float), 4)), "intensities": []}
        if kind == "odometry":
            x, y, th, v, w = (float(a) for a in d[:5])
            return {**meta, "x": x, "y": y, "theta": th, "v": v, "w": w}
        if kind == "imu":
            ax, ay, wz = (float(a) for a in d[:3])
            return {**meta, "ax": ax, "ay": ay, "wz": wz}
        if kind == "bumper":
            return {**meta, "contact": bool(d)}
        if kind == "localization":
            x, y, th = (float(a) for a in d[:3])
            return {**meta, "x": x, "y": y, "theta": th}
    except (AttributeError, TypeError, ValueError, IndexError):
        pass  # a payload not shaped like its kind's (a plugin, a fault): fall back to generic
    return {**meta, "kind": kind, "data": jsonable(d)}


def cycle_message(c: Cycle) -> dict[str, Any]:
    return {"timestamp": stamp(c.finish_time), "robot": c.robot, "k": c.k,
            "release_time": c.release_time, "start_time": c.start_time, "inputs_time": c.inputs_time,
            "finish_time": c.finish_time, "release_jitter": c.release_jitter, "response_time": c.response_time,
            "deadline": c.deadline, "cpu_time": c.cpu_time, "miss": c.miss, "overrun": c.overrun,
            "safety_stop": c.safety_stop, "cause": c.cause.value if c.cause else None}


# ---------------------------------------------------------------------- recorder
class McapRecorder(Feature):
    """Records a run to ``recording.mcap`` from a writer thread; the report's ``recording`` section."""

    section = "recording"
    stage = "output"

    def __init__(self, filename: str = "recording.mcap", pose_hz: float = 20.0) -> None:
        self.filename = filename
        self.pose_period = 1.0 / pose_hz
        self.path: Path | None = None
        self.counts: dict[str, int] = {}
        self._drain: BackgroundDrain[tuple[Any, ...]] | None = None
        self._push: Callable[[tuple[Any, ...]], None] = lambda item: None  # drain.push once started
        self._seqs: dict[int, int] = {}
        self._held: list[tuple[int, int, Cycle]] = []  # cycles waiting for time order: (finish ns, n, cycle)
        self._order = itertools.count()
        self._last_finish: dict[str, float] = {}
        self._next_pose = 0.0
        self._sensor_channel: dict[str, tuple[int, str]] = {}  # label -> (channel id, kind)
        self._robot_channels: list[tuple[int, int]] = []  # per robot index: (cmd_vel, pose_true)
        self._topics: dict[int, str] = {}
        self._robots: list[str] = []
        self._writer: Writer | None = None
        self._file: IO[bytes] | None = None
        self._out: AtomicFile | None = None
        self._closed = False

    def on_start(self, run: RunHandle) -> None:
        from mcap.writer import CompressionType, Writer

        out = Path(run.out_dir)
        self.path = out / self.filename
        self._out = AtomicFile(self.path, binary=True)
        self._file = self._out.file
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="", library="fleet-timing-sim")
        schema_ids = {name: self._writer.register_schema(name, "jsonschema", json.dumps(s).encode())
                      for name, s in SCHEMAS.items()}

        def channel(topic: str, schema: str) -> int:
            assert self._writer is not None
            cid = self._writer.register_channel(topic, "json", schema_ids[schema])
            self._topics[cid] = topic
            self.counts[topic] = 0
            return cid

        for rt in run.sensors:
            kind = rt.sensor.kind
            self._sensor_channel[rt.label] = (
                channel(f"/{rt.robot_name}/{rt.sensor.name}", KIND_SCHEMA.get(kind, "fleet.SensorReading")), kind)
        self._robots = list(run.bodies.names)
        for name in self._robots:
            self._robot_channels.append((channel(f"/{name}/cmd_vel", "fleet.CmdVel"),
                                         channel(f"/{name}/pose_true", "foxglove.PoseInFrame")))
        self._tf = channel("/tf", "foxglove.FrameTransforms")
        self._cycles = channel("/cycles", "fleet.Cycle")
        self._seqs = dict.fromkeys(self._topics, 0)
        self._last_finish = {c.robot_name: -1.0 for c in run.controllers}
        self._drain = BackgroundDrain("mcap-writer", self._write_batch)
        self._drain.report_errors_to(run)
        self._push = self._drain.push

    # ------------------------------------------------------------------ hooks (simulation threads)
    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        self._push((_READING, rt.label, reading))

    def on_command(self, robot_index: int, command: Command) -> None:
        self._push((_COMMAND, robot_index, command))

    def on_step(self, snap: WorldSnapshot) -> None:
        if snap.time + 1e-9 >= self._next_pose:
            self._next_pose = (math.floor(snap.time / self.pose_period + 1e-6) + 1) * self.pose_period
            self._push((_POSE, snap))

    def on_cycle(self, cycle: Cycle) -> None:
        self._push((_CYCLE, cycle))

    # ------------------------------------------------------------------ close
    def close(self, run: RunHandle) -> None:
        """Write what is pending, finish the MCAP summary, rename into place."""
        if self._closed or self._writer is None or self._drain is None:
            return
        self._closed = True
        assert self._out is not None and self.path is not None
        try:
            self._drain.close(60.0)
            self._flush_cycles(None)
            self._writer.finish()
        except BaseException as exc:
            self._out.discard()
            raise OutputError(self.path, exc if isinstance(exc, OSError) else f"MCAP writer failed: {exc}") from exc
        self._out.commit()

    def report_section(self, run: RunHandle) -> dict[str, Any] | None:
        """``summary()`` once the file is written; None without it."""
        return self.summary() if self.path is not None and self.path.exists() else None

    @staticmethod
    def print_section(data: dict[str, Any], out: TextIO) -> None:
        print(f"Recording: {data['file']} ({data['messages']} messages) - open in Foxglove", file=out)

    def summary(self) -> dict[str, Any]:
        """For the report: file, message counts per topic."""
        return {"file": self.filename, "messages": sum(self.counts.values()), "pose_hz": 1.0 / self.pose_period,
                "topics": dict(self.counts)}

    # ------------------------------------------------------------------ writer thread
    def _write(self, cid: int, t: float, msg: dict[str, Any]) -> None:
        n = ns(t)
        assert self._writer is not None  # opened before the first message is queued
        self._writer.add_message(cid, log_time=n, publish_time=n, sequence=self._seqs[cid],
                                 data=json.dumps(msg, separators=(",", ":"), allow_nan=False).encode())
        self._seqs[cid] += 1
        self.counts[self._topics[cid]] += 1

    def _flush_cycles(self, upto: float | None) -> None:
        """Write held cycles finished by ``upto`` (s; None = all of them), oldest first."""
        held = self._held
        limit = None if upto is None else ns(upto)
        while held and (limit is None or held[0][0] <= limit or len(held) > HOLD_LIMIT):
            _, _, c = heapq.heappop(held)
            self._write(self._cycles, c.finish_time, cycle_message(c))

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        for item in batch:
            kind = item[0]
            if kind == _READING:
                cid, sensor_kind = self._sensor_channel[item[1]]
                r = item[2]
                self._write(cid, r.publish_time, reading_message(sensor_kind, r.robot, r))
            elif kind == _COMMAND:
                i, cmd = item[1], item[2]
                self._write(self._robot_channels[i][0], cmd.issued_at, {
                    "timestamp": stamp(cmd.issued_at), "v": cmd.v, "w": cmd.w,
                    "inputs": [{"sensor": s, "sample_time": t} for s, t in cmd.input_sample_times]})
            elif kind == _POSE:
                self._write_pose(item[1], self._write)
            else:
                # cycles come from many threads; each robot's arrive in order, so everything up to the
                # oldest "latest finish" among robots is complete and can be written in time order
                c = item[1]
                heapq.heappush(self._held, (ns(c.finish_time), next(self._order), c))
                self._last_finish[c.robot] = c.finish_time
        if self._last_finish:
            self._flush_cycles(min(self._last_finish.values()))

    def _write_pose(self, snap: WorldSnapshot, write: Callable[[int, float, dict[str, Any]], None]) -> None:
        t = snap.time
        ts = stamp(t)
        transforms = []
        for i, name in enumerate(self._robots):
            x, y, th = (float(v) for v in snap.pose[i, :3])
            pose = {"position": {"x": x, "y": y, "z": 0.0}, "orientation": _quat(th)}
            write(self._robot_channels[i][1], t, {"timestamp": ts, "frame_id": "map", "pose": pose})
            transforms.append({"timestamp": ts, "parent_frame_id": "map", "child_frame_id": f"{name}/base_link",
                               "translation": pose["position"], "rotation": pose["orientation"]})
        write(self._tf, t, {"transforms": transforms})
