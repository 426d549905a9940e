"""The messages of a Foxglove recording and live stream: Foxglove's well-known schemas, plus ``fleet.*`` for the rest.

Everything is protobuf. Where Foxglove has a well-known schema it is used as is (``foxglove.LaserScan``,
``foxglove.Odometry``, ``foxglove.PoseInFrame``, ``foxglove.PosesInFrame``, ``foxglove.FrameTransforms``,
``foxglove.Grid``, ``foxglove.SceneUpdate``), built with foxglove-sdk's message classes. Where it has none,
the ``fleet`` protobuf package below is a small documented schema, shaped like the ROS message a robotics
user expects (so Foxglove's Plot and Raw Messages panels read it by the same field names):

* ``fleet.Imu`` - ``sensor_msgs/Imu``'s planar part: ``angular_velocity.z`` (rad/s, yaw rate) and
  ``linear_acceleration.x``/``.y`` (m/s², forward/left), in ``<robot>/base_link``. Foxglove has no IMU schema.
* ``fleet.CmdVel`` - ``geometry_msgs/Twist`` with a stamp: ``linear.x`` (m/s) and ``angular.z`` (rad/s), plus
  ``inputs``: the sample time of each reading the command was computed from. Foxglove has no Twist schema.
* ``fleet.Bumper`` - ``contact`` (bool).
* ``fleet.Cycle`` - one controller cycle and its timing (s of simulated time): ``release_time``, ``start_time``,
  ``inputs_time``, ``finish_time``, ``release_jitter``, ``response_time``, ``deadline``, ``cpu_time``, ``miss``,
  ``overrun``, ``safety_stop``, ``cause`` ("" when none) and ``ages`` (age at use of each reading).
* ``fleet.SensorReading`` - a sensor kind the simulator has no schema for (a plugin's): ``kind`` and the payload
  as JSON text in ``data_json`` (non-finite numbers as ``null``).

Every ``timestamp`` is the sample time (sensors) or the finish time (commands, cycles) as a
``google.protobuf.Timestamp`` of simulated time (the epoch is the run's start).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

import numpy as np
from foxglove import Schema
from foxglove.messages import (
    Color,
    CylinderPrimitive,
    FrameTransform,
    FrameTransforms,
    Grid,
    KeyValuePair,
    LaserScan,
    LinePrimitive,
    LinePrimitiveLineType,
    Odometry,
    PackedElementField,
    PackedElementFieldNumericType,
    Point3,
    Pose,
    PoseInFrame,
    PosesInFrame,
    Quaternion,
    SceneEntity,
    SceneUpdate,
    Timestamp,
    Vector2,
    Vector3,
)
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message

from sim.features.timeorder import ns

__all__ = ["FLEET_SCHEMAS", "compose", "fleet_message", "fleet_schema", "footprint", "footprints", "frame_transforms",
           "grid_message", "inverse", "jsonable", "laser_scan", "ns", "odometry", "path_message", "pose",
           "pose_in_frame", "reading_json", "stamp", "transform", "yaw"]

_D = descriptor_pb2.FieldDescriptorProto
_DOUBLE, _BOOL, _STRING, _UINT64, _MSG = _D.TYPE_DOUBLE, _D.TYPE_BOOL, _D.TYPE_STRING, _D.TYPE_UINT64, _D.TYPE_MESSAGE
_TS = ".google.protobuf.Timestamp"
_VEC = ".fleet.Vector3"
_ST = ".fleet.SensorTime"
_REPEATED = "repeated"

# name -> fields (name, type, message type or "", "repeated" or ""), numbered from 1 in this order
FLEET_SCHEMAS: dict[str, list[tuple[str, int, str, str]]] = {
    "Vector3": [("x", _DOUBLE, "", ""), ("y", _DOUBLE, "", ""), ("z", _DOUBLE, "", "")],
    "SensorTime": [("sensor", _STRING, "", ""), ("seconds", _DOUBLE, "", "")],
    "Imu": [("timestamp", _MSG, _TS, ""), ("frame_id", _STRING, "", ""), ("angular_velocity", _MSG, _VEC, ""),
            ("linear_acceleration", _MSG, _VEC, ""), ("seq", _UINT64, "", ""), ("publish_time", _DOUBLE, "", "")],
    "Bumper": [("timestamp", _MSG, _TS, ""), ("frame_id", _STRING, "", ""), ("contact", _BOOL, "", ""),
               ("seq", _UINT64, "", ""), ("publish_time", _DOUBLE, "", "")],
    "CmdVel": [("timestamp", _MSG, _TS, ""), ("linear", _MSG, _VEC, ""), ("angular", _MSG, _VEC, ""),
               ("inputs", _MSG, _ST, _REPEATED)],
    "Cycle": [("timestamp", _MSG, _TS, ""), ("robot", _STRING, "", ""), ("k", _UINT64, "", ""),
              *((n, _DOUBLE, "", "") for n in ("release_time", "start_time", "inputs_time", "finish_time",
                                               "release_jitter", "response_time", "deadline", "cpu_time")),
              ("miss", _BOOL, "", ""), ("overrun", _BOOL, "", ""), ("safety_stop", _BOOL, "", ""),
              ("cause", _STRING, "", ""), ("ages", _MSG, _ST, _REPEATED)],
    "SensorReading": [("timestamp", _MSG, _TS, ""), ("kind", _STRING, "", ""), ("seq", _UINT64, "", ""),
                      ("publish_time", _DOUBLE, "", ""), ("data_json", _STRING, "", "")],
}


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="fleet.proto", package="fleet", syntax="proto3",
                                           dependency=["google/protobuf/timestamp.proto"])
    for name, flds in FLEET_SCHEMAS.items():
        m = f.message_type.add(name=name)
        for number, (fname, ftype, type_name, label) in enumerate(flds, start=1):
            fd = m.field.add(name=fname, number=number, type=ftype,
                             label=_D.LABEL_REPEATED if label == _REPEATED else _D.LABEL_OPTIONAL)
            if type_name:
                fd.type_name = type_name
    return f


@cache
def _pool() -> tuple[descriptor_pool.DescriptorPool, bytes]:
    """A private descriptor pool holding fleet.proto, and its FileDescriptorSet (the MCAP schema data)."""
    ts = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(ts)
    fleet = _file()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(ts)
    pool.Add(fleet)
    fds = descriptor_pb2.FileDescriptorSet(file=[ts, fleet])
    return pool, fds.SerializeToString()


@cache
def _class(name: str) -> type[Message]:
    pool, _ = _pool()
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"fleet.{name}"))


def fleet_schema(name: str) -> Schema:
    """The foxglove-sdk ``Schema`` of ``fleet.<name>`` (protobuf; data = FileDescriptorSet)."""
    return Schema(name=f"fleet.{name}", encoding="protobuf", data=_pool()[1])


def fleet_message(name: str, **values: Any) -> bytes:
    """A ``fleet.<name>`` message, serialised. ``timestamp`` is given in simulated seconds."""
    cls = _class(name)
    t = values.pop("timestamp", None)
    msg = cls(**values)
    if t is not None:
        n = ns(t)
        msg.timestamp.seconds, msg.timestamp.nanos = divmod(n, 1_000_000_000)
    return msg.SerializeToString()


# ---------------------------------------------------------------------- well-known helpers
def stamp(t: float) -> Timestamp:
    """Foxglove time of simulated ``t`` s."""
    sec, nsec = divmod(ns(t), 1_000_000_000)
    return Timestamp(sec, nsec)


def yaw(theta: float) -> Quaternion:
    """A rotation of ``theta`` rad about +z."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(theta / 2), w=math.cos(theta / 2))


def pose(x: float, y: float, theta: float) -> Pose:
    """A planar pose (z = 0, yaw ``theta``) as a Foxglove Pose."""
    return Pose(position=Vector3(x=x, y=y, z=0.0), orientation=yaw(theta))


def compose(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    """Planar transform ``a ∘ b`` (b expressed in a's frame)."""
    ax, ay, at = a
    bx, by, bt = b
    c, s = math.cos(at), math.sin(at)
    return ax + c * bx - s * by, ay + s * bx + c * by, at + bt


def inverse(a: tuple[float, float, float]) -> tuple[float, float, float]:
    """Planar transform inverse."""
    x, y, t = a
    c, s = math.cos(t), math.sin(t)
    return -(c * x + s * y), s * x - c * y, -t


def transform(t: float, parent: str, child: str, xyt: tuple[float, float, float]) -> FrameTransform:
    """``child``'s planar pose ``xyt`` in ``parent`` at ``t`` as a FrameTransform."""
    x, y, th = xyt
    return FrameTransform(timestamp=stamp(t), parent_frame_id=parent, child_frame_id=child,
                          translation=Vector3(x=x, y=y, z=0.0), rotation=yaw(th))


def frame_transforms(transforms: list[FrameTransform]) -> FrameTransforms:
    """The /tf message: every robot's transforms of one instant."""
    return FrameTransforms(transforms=transforms)


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


def laser_scan(t: float, frame: str, angles: Any, ranges: Any) -> LaserScan:
    """``foxglove.LaserScan``: evenly spaced beams from ``start_angle`` to ``end_angle``; no return is ``+inf``.

    Foxglove reads the beams as evenly spaced over [start, end], as the simulator's lidar casts them.
    A NaN (never a range the lidar makes; a fault could) is written as ``+inf`` too: no return.
    """
    a = np.asarray(angles, dtype=float)
    r = np.asarray(ranges, dtype=np.float64)
    r = np.where(np.isfinite(r), r, np.inf)
    return LaserScan(timestamp=stamp(t), frame_id=frame, pose=pose(0.0, 0.0, 0.0),
                     start_angle=float(a[0]) if a.size else 0.0, end_angle=float(a[-1]) if a.size else 0.0,
                     ranges=r.tolist(), intensities=[])


def odometry(t: float, robot: str, x: float, y: float, th: float, v: float, w: float) -> Odometry:
    """``foxglove.Odometry``: pose in ``<robot>/odom``, velocity in ``<robot>/base_link`` (as nav_msgs/Odometry)."""
    return Odometry(timestamp=stamp(t), frame_id=f"{robot}/odom", body_frame_id=f"{robot}/base_link",
                    pose=pose(x, y, th), linear_velocity=Vector3(x=v, y=0.0, z=0.0),
                    angular_velocity=Vector3(x=0.0, y=0.0, z=w))


def pose_in_frame(t: float, frame: str, x: float, y: float, th: float) -> PoseInFrame:
    """A planar pose in ``frame`` at ``t`` (true poses, localization readings)."""
    return PoseInFrame(timestamp=stamp(t), frame_id=frame, pose=pose(x, y, th))


def path_message(t: float, points: Any) -> PosesInFrame:
    """A planned path (``[(x, y), ...]`` in the map frame) as ``foxglove.PosesInFrame``, each pose facing the next."""
    pts = [(float(p[0]), float(p[1])) for p in points]
    poses = []
    th = 0.0
    for i, (x, y) in enumerate(pts):
        if i + 1 < len(pts) and pts[i + 1] != (x, y):
            th = math.atan2(pts[i + 1][1] - y, pts[i + 1][0] - x)
        poses.append(pose(x, y, th))
    return PosesInFrame(timestamp=stamp(t), frame_id="map", poses=poses)


def footprint(robot: Any) -> SceneEntity:
    """The robot's body, drawn in its own ``<robot>/base_link`` frame (frame-locked, so it follows /tf).

    A disc robot is a 0.2 m high cylinder of its ``radius``; a robot with ``robots[].footprint`` is that
    polygon's outline (a line loop at 0.1 m) in base_link. ``robot`` is the scenario's, read by attribute.
    """
    r = float(robot.radius)
    name = str(robot.name)
    outline = robot.footprint_polygon() if hasattr(robot, "footprint_polygon") else None
    colour = Color(r=0.2, g=0.5, b=0.9, a=0.6)
    if outline is not None:
        points = [Point3(x=float(x), y=float(y), z=0.1) for x, y in np.asarray(outline, dtype=float).tolist()]
        return SceneEntity(timestamp=stamp(0.0), frame_id=f"{name}/base_link", id=name, frame_locked=True,
                           lines=[LinePrimitive(type=LinePrimitiveLineType.LineLoop, pose=pose(0.0, 0.0, 0.0),
                                                thickness=0.03, scale_invariant=False, points=points, color=colour)],
                           metadata=[KeyValuePair(key="radius", value=repr(r)),
                                     KeyValuePair(key="footprint", value=repr(np.asarray(outline).tolist()))])
    return SceneEntity(timestamp=stamp(0.0), frame_id=f"{name}/base_link", id=name, frame_locked=True,
                       cylinders=[CylinderPrimitive(pose=Pose(position=Vector3(x=0.0, y=0.0, z=0.1),
                                                              orientation=Quaternion(w=1.0)),
                                                    size=Vector3(x=2 * r, y=2 * r, z=0.2), bottom_scale=1.0,
                                                    top_scale=1.0, color=colour)],
                       metadata=[KeyValuePair(key="radius", value=repr(r))])


def footprints(robots: Any) -> SceneUpdate:
    """/footprints: one ``footprint`` entity per robot (the scenario's robots, read by attribute)."""
    return SceneUpdate(entities=[footprint(r) for r in robots])


def grid_message(grid: Any) -> Grid:
    """An occupancy grid (``sim.world.occgrid.OccupancyGrid``) as ``foxglove.Grid`` in ``map``.

    One int8 field ``occupancy`` per cell (0 free, 100 occupied, -1 unknown, as nav_msgs); row 0 at the
    grid's origin, rows along +y, columns along +x: the nav_msgs layout, which is Foxglove's too.
    """
    values = np.ascontiguousarray(grid.values, dtype=np.int8)
    ox, oy = grid.origin
    return Grid(timestamp=stamp(0.0), frame_id="map", pose=pose(ox, oy, 0.0), column_count=grid.cols,
                cell_size=Vector2(x=grid.resolution, y=grid.resolution), row_stride=grid.cols, cell_stride=1,
                fields=[PackedElementField(name="occupancy", offset=0, type=PackedElementFieldNumericType.Int8)],
                data=values.tobytes())


def reading_json(data: Any) -> str:
    """A payload with no schema of its own as compact JSON (``fleet.SensorReading.data_json``)."""
    return json.dumps(jsonable(data), separators=(",", ":"), allow_nan=False)
