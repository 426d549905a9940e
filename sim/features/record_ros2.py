"""``recording-ros2.mcap`` (``--record ros2``): the run as a rosbag2-compatible MCAP that ROS 2 tools play.

Profile ``ros2``, messages CDR-encoded (``cdr``), schemas the full ROS 2 message definitions
(``ros2msg``, each with its ``MSG:`` dependency blocks, in the order rosbag2 writes them).
ROS time = simulated time: every header stamp and log time is nanoseconds since the run's start.
docs/report.md "recording-ros2.mcap" lists the topics, frames, covariances and name mapping.

Hooks in as ``sim.features.record`` does: callbacks on the simulation's threads only append a
tuple (``BackgroundDrain``); a writer thread encodes and writes; the file is written under a
temp name and renamed at close. Messages are encoded here (``struct``/numpy: a 360-beam scan in
~12 µs, where mcap-ros2-support's generic encoder takes ~260 µs of the writer thread's time, which it
would take from the simulation's); before the run starts, a probe message of every type is
decoded with mcap-ros2-support's decoder, so an encoder and its schema cannot drift apart.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import re
import struct
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from sim.common.batching import BackgroundDrain
from sim.common.files import AtomicFile
from sim.core.feature import Feature
from sim.errors import OutputError
from sim.features.timeorder import TimeOrdered, ns, package_version

if TYPE_CHECKING:
    from mcap.writer import Writer

    from sim.core.control import Cycle
    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.interfaces.messages import Reading
    from sim.world.model import WorldSnapshot
    from sim.world.physics import Command

__all__ = ["MSGDEFS", "Ros2Recorder", "msgdef", "ros_names", "ros_token"]

FILENAME = "recording-ros2.mcap"
POSE_HZ = 20.0  # true poses (and the truth-driven odom of robots without odometry) per simulated second
TF_HOLD = 0.5  # s simulated: /tf is held this long behind physics so messages from every thread go out in order
HOLD_LIMIT = 50_000  # messages held for ordering (a robot with no cycles holds /cycles back) before the oldest goes
HISTORY = 2.0  # s simulated of true poses kept to place odometry readings that arrive late
GRAVITY = 9.80665  # m/s^2: a level IMU's z acceleration at rest (REP 145: gravity is not removed)


# ---------------------------------------------------------------------- ROS names
def ros_token(name: str) -> str:
    """One ROS 2 name token: ``[A-Za-z0-9_]``, no run of ``_``, no ``_`` at either end, no leading digit.

    ``amr-1`` -> ``amr_1``, ``front lidar`` -> ``front_lidar``, ``1st`` -> ``n1st``, ``--`` -> ``unnamed``.
    """
    token = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name)).strip("_") or "unnamed"
    return "n" + token if token[0].isdigit() else token


def ros_names(names: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Each name's ROS token, unique among them and apart from ``reserved``.

    A name that is already a legal token keeps it; the others, in order, get their token,
    or ``<token>_2``, ``_3``, ... when that is taken (``amr-1`` next to ``amr_1`` -> ``amr_1_2``).
    """
    names = list(dict.fromkeys(names))
    taken = set(reserved)
    out: dict[str, str] = {}
    for n in names:
        if ros_token(n) == n and n not in taken:
            out[n] = n
            taken.add(n)
    for n in names:
        if n in out:
            continue
        base = token = ros_token(n)
        k = 2
        while token in taken:
            token = f"{base}_{k}"
            k += 1
        out[n] = token
        taken.add(token)
    return {n: out[n] for n in names}


# ---------------------------------------------------------------------- message definitions
# The fields of the ROS 2 interfaces (ros2/common_interfaces, rcl_interfaces' builtin_interfaces,
# geometry2's tf2_msgs), comments left out. Types of the same package are named without it, as the
# .msg files do; ``msgdef`` resolves them.
MSGDEFS: dict[str, str] = {
    "builtin_interfaces/Time": "int32 sec\nuint32 nanosec\n",
    "std_msgs/Header": "builtin_interfaces/Time stamp\nstring frame_id\n",
    "geometry_msgs/Point": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/Quaternion": "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/Pose": "Point position\nQuaternion orientation\n",
    "geometry_msgs/PoseStamped": "std_msgs/Header header\nPose pose\n",
    "geometry_msgs/PoseWithCovariance": "Pose pose\nfloat64[36] covariance\n",
    "geometry_msgs/PoseWithCovarianceStamped": "std_msgs/Header header\nPoseWithCovariance pose\n",
    "geometry_msgs/Twist": "Vector3 linear\nVector3 angular\n",
    "geometry_msgs/TwistWithCovariance": "Twist twist\nfloat64[36] covariance\n",
    "geometry_msgs/Transform": "Vector3 translation\nQuaternion rotation\n",
    "geometry_msgs/TransformStamped": "std_msgs/Header header\nstring child_frame_id\nTransform transform\n",
    "tf2_msgs/TFMessage": "geometry_msgs/TransformStamped[] transforms\n",
    "sensor_msgs/LaserScan": ("std_msgs/Header header\nfloat32 angle_min\nfloat32 angle_max\n"
                              "float32 angle_increment\nfloat32 time_increment\nfloat32 scan_time\n"
                              "float32 range_min\nfloat32 range_max\nfloat32[] ranges\nfloat32[] intensities\n"),
    "sensor_msgs/Imu": ("std_msgs/Header header\ngeometry_msgs/Quaternion orientation\n"
                        "float64[9] orientation_covariance\ngeometry_msgs/Vector3 angular_velocity\n"
                        "float64[9] angular_velocity_covariance\ngeometry_msgs/Vector3 linear_acceleration\n"
                        "float64[9] linear_acceleration_covariance\n"),
    "nav_msgs/Odometry": ("std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/PoseWithCovariance pose\n"
                          "geometry_msgs/TwistWithCovariance twist\n"),
    "nav_msgs/MapMetaData": ("builtin_interfaces/Time map_load_time\nfloat32 resolution\nuint32 width\n"
                             "uint32 height\ngeometry_msgs/Pose origin\n"),
    "nav_msgs/OccupancyGrid": "std_msgs/Header header\nMapMetaData info\nint8[] data\n",
    # The simulator's own: one controller cycle, the cycles.csv fields (times in s simulated).
    "fleet_timing_msgs/Cycle": ("std_msgs/Header header\nstring robot\nuint64 k\nfloat64 release_time\n"
                                "float64 start_time\nfloat64 inputs_time\nfloat64 finish_time\n"
                                "float64 release_jitter\nfloat64 response_time\nfloat64 deadline\n"
                                "float64 cpu_time\nbool miss\nbool overrun\nbool safety_stop\nstring cause\n"),
}
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}
_RULE = "=" * 80


def _short(type_name: str) -> str:
    """``pkg/msg/Name`` -> ``pkg/Name`` (the key of MSGDEFS and the name in ``MSG:`` lines)."""
    parts = type_name.split("/")
    return f"{parts[0]}/{parts[-1]}"


def _dependencies(short: str) -> list[str]:
    """The message types a definition's fields name, sorted (rosbag2 keeps them in a std::set)."""
    package = short.split("/")[0]
    deps = set()
    for line in MSGDEFS[short].splitlines():
        field_type = re.sub(r"\[.*\]$", "", line.split()[0])
        if field_type.split("<=")[0] in _PRIMITIVES:
            continue
        deps.add(_short(field_type) if "/" in field_type else f"{package}/{field_type}")
    return sorted(deps)


def msgdef(type_name: str) -> str:
    """The full definition rosbag2 stores for ``type_name`` (``pkg/msg/Name``): its text, then each
    dependency once, depth first, after a line of 80 ``=`` and ``MSG: pkg/Name``."""
    seen: set[str] = set()

    def text(short: str) -> str:
        out = MSGDEFS[short]
        for dep in _dependencies(short):
            if dep not in seen:
                seen.add(dep)
                out += f"\n{_RULE}\nMSG: {dep}\n{text(dep)}"
        return out

    return text(_short(type_name))


# ---------------------------------------------------------------------- CDR (little endian, XCDR1)
_F64 = [struct.Struct(f"<{n}d") for n in range(10)]
_F32 = [struct.Struct(f"<{n}f") for n in range(10)]


class _Cdr:
    """Appends CDR fields with their alignment (relative to the end of the 4-byte encapsulation header)."""

    __slots__ = ("b",)

    def __init__(self) -> None:
        self.b = bytearray(b"\x00\x01\x00\x00")  # CDR_LE, no options

    def _align(self, n: int) -> None:
        pad = (-(len(self.b) - 4)) % n
        if pad:
            self.b += bytes(pad)

    def f64(self, *values: float) -> None:
        self._align(8)
        self.b += _F64[len(values)].pack(*values)

    def f32(self, *values: float) -> None:
        self._align(4)
        self.b += _F32[len(values)].pack(*values)

    def raw(self, data: bytes, align: int) -> None:
        """Bytes already encoded (a constant block), after aligning to ``align``."""
        self._align(align)
        self.b += data

    def u32(self, value: int) -> None:
        self._align(4)
        self.b += struct.pack("<I", value)

    def u64(self, value: int) -> None:
        self._align(8)
        self.b += struct.pack("<Q", value)

    def time(self, ns: int) -> None:
        self._align(4)
        self.b += struct.pack("<iI", ns // 1_000_000_000, ns % 1_000_000_000)

    def string(self, text: str) -> None:
        data = text.encode()
        self.u32(len(data) + 1)
        self.b += data + b"\x00"

    def bools(self, *values: bool) -> None:
        self.b += bytes(1 if v else 0 for v in values)

    def array(self, values: np.ndarray, dtype: str, align: int) -> None:
        """A sequence: uint32 count, then the elements (``dtype`` little endian)."""
        data = np.ascontiguousarray(values, dtype=dtype)
        self.u32(len(data))
        if len(data):
            self._align(align)
            self.b += data.tobytes()

    def header(self, ns: int, frame: str) -> None:
        self.time(ns)
        self.string(frame)

    def pose(self, x: float, y: float, theta: float) -> None:
        """geometry_msgs/Pose of a planar pose (z = 0, rotation about z)."""
        self.f64(x, y, 0.0, 0.0, 0.0, math.sin(theta / 2), math.cos(theta / 2))

    def bytes_(self) -> bytes:
        return bytes(self.b)


_ZERO36 = bytes(36 * 8)  # float64[36] of zeros: a covariance not estimated
# sensor_msgs/Imu: orientation (identity, unused) and its covariance with element 0 = -1: no orientation estimate
_IMU_NO_ORIENTATION = struct.pack("<4d9d", 0.0, 0.0, 0.0, 1.0, -1.0, *(0.0,) * 8)


_IMU_REST = struct.Struct("<3d9d3d9d")  # angular_velocity, its covariance, linear_acceleration, its covariance


def encode_scan(stamp: int, frame: str, angles: np.ndarray, ranges: np.ndarray, range_min: float, range_max: float,
                scan_time: float) -> bytes:
    """sensor_msgs/LaserScan; ``inf`` (no return) stays ``+inf`` (REP 117)."""
    w = _Cdr()
    w.header(stamp, frame)
    n = len(angles)
    a0 = float(angles[0]) if n else 0.0
    a1 = float(angles[-1]) if n else 0.0
    inc = (a1 - a0) / (n - 1) if n > 1 else 0.0
    w.f32(a0, a1, inc, 0.0, scan_time, range_min, range_max)
    w.array(ranges, "<f4", 4)
    w.u32(0)  # intensities: none
    return w.bytes_()


def encode_odometry(stamp: int, frame: str, child: str, x: float, y: float, theta: float, v: float,
                    wz: float) -> bytes:
    """nav_msgs/Odometry: pose in ``frame`` (odom), twist in ``child`` (base_link); covariances zero (not given)."""
    w = _Cdr()
    w.header(stamp, frame)
    w.string(child)
    w.pose(x, y, theta)
    w.raw(_ZERO36, 8)
    w.f64(v, 0.0, 0.0, 0.0, 0.0, wz)
    w.raw(_ZERO36, 8)
    return w.bytes_()


def encode_imu(stamp: int, frame: str, ax: float, ay: float, wz: float, gyro_var: float, accel_var: float) -> bytes:
    """sensor_msgs/Imu: no orientation (covariance[0] = -1), yaw rate, planar acceleration plus gravity on z."""
    w = _Cdr()
    w.header(stamp, frame)
    w.raw(_IMU_NO_ORIENTATION, 8)
    w.b += _IMU_REST.pack(0.0, 0.0, wz, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, gyro_var,
                          ax, ay, GRAVITY, accel_var, 0.0, 0.0, 0.0, accel_var, 0.0, 0.0, 0.0, 0.0)
    return w.bytes_()


def encode_pose_cov(stamp: int, frame: str, x: float, y: float, theta: float) -> bytes:
    """geometry_msgs/PoseWithCovarianceStamped (a localization reading), covariance zero (not given)."""
    w = _Cdr()
    w.header(stamp, frame)
    w.pose(x, y, theta)
    w.raw(_ZERO36, 8)
    return w.bytes_()


def encode_twist(v: float, wz: float) -> bytes:
    """geometry_msgs/Twist: linear.x = v, angular.z = w."""
    w = _Cdr()
    w.f64(v, 0.0, 0.0, 0.0, 0.0, wz)
    return w.bytes_()


def encode_pose_stamped(stamp: int, frame: str, x: float, y: float, theta: float) -> bytes:
    w = _Cdr()
    w.header(stamp, frame)
    w.pose(x, y, theta)
    return w.bytes_()


Transform = tuple[int, str, str, float, float, float]  # (stamp ns, parent, child, x, y, theta)


def encode_tf(transforms: list[Transform]) -> bytes:
    """tf2_msgs/TFMessage of planar transforms."""
    w = _Cdr()
    w.u32(len(transforms))
    for stamp, parent, child, x, y, theta in transforms:
        w.header(stamp, parent)
        w.string(child)
        w.f64(x, y, 0.0, 0.0, 0.0, math.sin(theta / 2), math.cos(theta / 2))
    return w.bytes_()


def encode_grid(grid: Any, frame: str) -> bytes:
    """nav_msgs/OccupancyGrid of a ``sim.world.occgrid.OccupancyGrid`` (same layout: row 0 at the origin)."""
    w = _Cdr()
    w.header(0, frame)
    w.time(0)
    w.f32(grid.resolution)
    w.u32(grid.cols)
    w.u32(grid.rows)
    w.pose(grid.origin[0], grid.origin[1], 0.0)
    w.array(grid.values.reshape(-1), "<i1", 1)
    return w.bytes_()


def encode_cycle(c: Cycle) -> bytes:
    """fleet_timing_msgs/Cycle, stamped at the cycle's finish."""
    w = _Cdr()
    w.header(ns(c.finish_time), "")
    w.string(c.robot)
    w.u64(c.k)
    w.f64(c.release_time, c.start_time, c.inputs_time, c.finish_time, c.release_jitter, c.response_time,
          c.deadline, c.cpu_time)
    w.bools(c.miss, c.overrun, c.safety_stop)
    w.string(c.cause.value if c.cause else "")
    return w.bytes_()


def _probe_grid() -> bytes:
    from sim.world.occgrid import OccupancyGrid

    return encode_grid(OccupancyGrid.from_values(np.array([[0, 100, -1]]), 0.5, (-1.0, 2.0)), "map")


def _probe_cycle() -> bytes:
    from sim.core.control import Cycle

    return encode_cycle(Cycle("r", 3, 0.1, 0.1, 0.1, 0.12, 0.15, 0.01, False, False, False, None, ()))


# A small message of every type, from the same encoders: decoded with mcap-ros2-support's decoder
# (``check_encoders``) before a recording starts, so an encoder and its schema cannot drift apart.
_PROBES: dict[str, Callable[[], bytes]] = {
    "sensor_msgs/msg/LaserScan": lambda: encode_scan(1, "r/base_link", np.array([-0.5, 0.0, 0.5]),
                                                     np.array([1.0, np.inf, 2.0], np.float32), 0.1, 5.0, 0.1),
    "nav_msgs/msg/Odometry": lambda: encode_odometry(1, "r/odom", "r/base_link", 1.0, 2.0, 0.3, 0.5, 0.1),
    "sensor_msgs/msg/Imu": lambda: encode_imu(1, "r/base_link", 0.1, 0.2, 0.3, 1e-4, 1e-3),
    "geometry_msgs/msg/PoseWithCovarianceStamped": lambda: encode_pose_cov(1, "map", 1.0, 2.0, 0.3),
    "geometry_msgs/msg/Twist": lambda: encode_twist(0.5, 0.1),
    "geometry_msgs/msg/PoseStamped": lambda: encode_pose_stamped(1, "map", 1.0, 2.0, 0.3),
    "tf2_msgs/msg/TFMessage": lambda: encode_tf([(1, "map", "r/odom", 0.1, 0.2, 0.3)]),
    "nav_msgs/msg/OccupancyGrid": _probe_grid,
    "fleet_timing_msgs/msg/Cycle": _probe_cycle,
}


def check_encoders(type_names: Iterable[str]) -> None:
    """Decode a probe message of each type with mcap-ros2-support's decoder; raises on any mismatch."""
    from mcap.records import Schema
    from mcap_ros2.decoder import DecoderFactory

    factory = DecoderFactory()
    for k, name in enumerate(sorted(set(type_names))):
        decoder = factory.decoder_for("cdr", Schema(id=k + 1, name=name, encoding="ros2msg",
                                                    data=msgdef(name).encode()))
        assert decoder is not None
        decoder(_PROBES[name]())


def compose(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    """Planar transform ``a`` then ``b`` (``b`` given in ``a``'s frame)."""
    ca, sa = math.cos(a[2]), math.sin(a[2])
    return (a[0] + ca * b[0] - sa * b[1], a[1] + sa * b[0] + ca * b[1], a[2] + b[2])


def inverse(a: tuple[float, float, float]) -> tuple[float, float, float]:
    c, s = math.cos(a[2]), math.sin(a[2])
    return (-c * a[0] - s * a[1], s * a[0] - c * a[1], -a[2])


# ---------------------------------------------------------------------- QoS (channel metadata)
_INFINITE = "{sec: 9223372036, nsec: 854775807}"


def _qos(durability: int) -> str:
    """``offered_qos_profiles`` as rosbag2 records it (integer enums, readable by every distro's rosbag2):
    history unknown, reliable, ``durability`` 1 transient local (latched) / 2 volatile, liveliness automatic."""
    return (f"- history: 3\n  depth: 0\n  reliability: 1\n  durability: {durability}\n  deadline: {_INFINITE}\n"
            f"  lifespan: {_INFINITE}\n  liveliness: 1\n  liveliness_lease_duration: {_INFINITE}\n"
            "  avoid_ros_namespace_conventions: false\n")


QOS_VOLATILE, QOS_LATCHED = _qos(2), _qos(1)

_READING, _COMMAND, _STEP, _CYCLE, _START = 0, 1, 2, 3, 4
KIND_TYPE = {"lidar": "sensor_msgs/msg/LaserScan", "odometry": "nav_msgs/msg/Odometry", "imu": "sensor_msgs/msg/Imu",
             "localization": "geometry_msgs/msg/PoseWithCovarianceStamped"}
RESERVED = ("cmd_vel", "pose_true")  # per-robot topics besides the sensors'


# ---------------------------------------------------------------------- recorder
class Ros2Recorder(Feature):
    """Records a run to ``recording-ros2.mcap`` from a writer thread; the report's ``recording_ros2`` section."""

    section = "recording_ros2"
    stage = "output"

    def __init__(self, filename: str = FILENAME, pose_hz: float = POSE_HZ) -> None:
        self.filename = filename
        self.pose_period = 1.0 / pose_hz
        self.path: Path | None = None
        self.counts: dict[str, int] = {}
        self.names: dict[str, str] = {}  # robot -> its ROS name
        self.left_out: list[str] = []  # sensors of kinds with no ROS message here
        self._drain: BackgroundDrain[tuple[Any, ...]] | None = None
        self._push: Callable[[tuple[Any, ...]], None] = lambda item: None
        self._writer: Writer | None = None
        self._out: AtomicFile | None = None
        self._closed = False
        self._topics: dict[int, str] = {}
        self._types: dict[int, str] = {}
        self._seqs: dict[int, int] = {}
        self._first = self._last = -1
        self._sensor: dict[str, tuple[int, str, int, str, Any]] = {}  # label -> (cid, kind, robot, frame, sensor)
        self._odom_for: dict[int, str] = {}  # robot index -> label of the odometry sensor driving its TF
        self._robot_cids: list[tuple[int, int]] = []  # per robot: (cmd_vel, pose_true)
        self._frames: list[tuple[str, str]] = []  # per robot: (odom, base_link)
        self._history: deque[tuple[float, np.ndarray]] = deque()  # (time, true poses) of recent physics steps
        self._pending: list[tuple[int, int, str, Reading]] = []  # odometry readings waiting for their step
        self._held: TimeOrdered[tuple[int, bytes]] = TimeOrdered(HOLD_LIMIT)  # (cid, data): /tf, /cycles in order
        self._order = itertools.count()
        self._last_finish: dict[str, float] = {}
        self._next_pose = 0.0
        self._step_time = -1.0
        self._static: tuple[int, bytes] | None = None  # /tf_static's channel and its one message
        self._map_msg = b""  # /map's one message, encoded before the run starts
        self._scenario_file: tuple[str, bytes] | None = None  # the attachment: file name, bytes

    # ------------------------------------------------------------------ start
    def on_start(self, run: RunHandle) -> None:
        from mcap.writer import CompressionType, Writer

        out = Path(run.out_dir)
        self.path = out / self.filename
        self._out = AtomicFile(self.path, binary=True)
        try:
            self._open(run, Writer(self._out.file, compression=CompressionType.ZSTD))
        except OSError as exc:  # the header or a schema could not be written: nothing of it stays
            self._out.discard()
            raise OutputError(self.path, exc) from exc
        check_encoders(self._types.values())  # before the clock starts: ~10 ms, off the timed path
        from sim.world.occgrid import rasterize

        self._map_msg = encode_grid(rasterize(run.static), "map")  # here too: rasterising is not a writer's job
        source = getattr(run.scenario, "source", None)
        self._scenario_file = (Path(source).name, Path(source).read_bytes()) \
            if source is not None and Path(source).is_file() else None
        snap = run.physics.snapshot  # the state at t = 0, before the first step
        self._history.append((snap.time, snap.pose))
        self._last_finish = {c.robot_name: -1.0 for c in run.controllers}
        self._drain = BackgroundDrain("mcap-ros2-writer", self._write_batch)
        self._drain.report_errors_to(run)
        self._push = self._drain.push
        # the map, the scenario file and the run's metadata: written by the writer thread, as everything else
        self._push((_START, run))

    def _open(self, run: RunHandle, writer: Writer) -> None:
        """Start the MCAP (profile ros2) and register a schema per type, a channel per topic."""
        self._writer = writer
        writer.start(profile="ros2", library=f"fleet-timing-sim {package_version('fleet-timing-sim')}; "
                           f"mcap-ros2-support {package_version('mcap-ros2-support')}")
        schemas: dict[str, int] = {}

        def channel(topic: str, type_name: str, qos: str = QOS_VOLATILE) -> int:
            assert self._writer is not None
            if type_name not in schemas:
                schemas[type_name] = self._writer.register_schema(type_name, "ros2msg", msgdef(type_name).encode())
            cid = self._writer.register_channel(topic, "cdr", schemas[type_name], {"offered_qos_profiles": qos})
            self._topics[cid], self._types[cid], self._seqs[cid] = topic, type_name, 0
            self.counts[topic] = 0
            return cid

        robots = list(run.bodies.names)
        self.names = ros_names(robots)
        self._frames = [(f"{self.names[r]}/odom", f"{self.names[r]}/base_link") for r in robots]
        self._map = channel("/map", "nav_msgs/msg/OccupancyGrid", QOS_LATCHED)
        self._tf = channel("/tf", "tf2_msgs/msg/TFMessage")
        by_robot: dict[str, list[SensorRuntime]] = {r: [] for r in robots}
        statics: list[Transform] = []  # /tf_static: base_link -> a lidar mounted off it, map -> odom without odometry
        for rt in run.sensors:
            by_robot[rt.robot_name].append(rt)
        for i, robot in enumerate(robots):
            rts = by_robot[robot]
            sensor_names = ros_names([rt.sensor.name for rt in rts], RESERVED)
            for rt in rts:
                kind = rt.sensor.kind
                if kind not in KIND_TYPE:
                    self.left_out.append(rt.label)
                    continue
                frame = "map" if kind == "localization" else self._frames[i][1]
                mx, my, myaw = (float(v) for v in getattr(rt.sensor, "mount", (0.0, 0.0, 0.0)))
                if kind == "lidar" and (mx, my, myaw) != (0.0, 0.0, 0.0):  # sensors[].mount: scans in its own frame
                    frame = f"{self.names[robot]}/{sensor_names[rt.sensor.name]}"
                    statics.append((0, self._frames[i][1], frame, mx, my, myaw))
                cid = channel(f"/{self.names[robot]}/{sensor_names[rt.sensor.name]}", KIND_TYPE[kind])
                self._sensor[rt.label] = (cid, kind, i, frame, rt)
                if kind == "odometry" and i not in self._odom_for:
                    self._odom_for[i] = rt.label
            self._robot_cids.append((channel(f"/{self.names[robot]}/cmd_vel", "geometry_msgs/msg/Twist"),
                                     channel(f"/{self.names[robot]}/pose_true", "geometry_msgs/msg/PoseStamped")))
        self._cycles = channel("/cycles", "fleet_timing_msgs/msg/Cycle")
        no_odom = [i for i in range(len(robots)) if i not in self._odom_for]
        # without odometry, a robot's odom frame is the map frame; odom -> base_link follows the true pose
        statics += [(0, "map", self._frames[i][0], 0.0, 0.0, 0.0) for i in no_odom]
        if statics:
            self._static = (channel("/tf_static", "tf2_msgs/msg/TFMessage", QOS_LATCHED), encode_tf(statics))

    def _write_start(self, run: RunHandle) -> None:
        """/map at t = 0; the scenario file as an attachment; seed, clock, versions and the names as metadata."""
        assert self._writer is not None
        self._write(self._map, 0, self._map_msg)
        if self._static is not None:
            self._write(self._static[0], 0, self._static[1])
        sc = run.scenario
        source = getattr(sc, "source", None)
        if self._scenario_file is not None:
            name, data = self._scenario_file
            self._writer.add_attachment(create_time=0, log_time=0, name=name, media_type="application/yaml", data=data)
        self._writer.add_metadata("fleet_timing_sim", {
            "scenario": str(sc.name), "source": str(source) if source else "", "seed": str(sc.run.seed),
            "duration_s": repr(run.duration), "clock": type(run.clock).__name__, "time_scale": repr(sc.run.time_scale),
            "ros_time": "simulated: stamps and log times are ns since the run's start (ros2 bag play --clock)",
            "robot_names": json.dumps(self.names), "left_out": json.dumps(self.left_out),
            **{f"version.{d}": package_version(d) for d in ("fleet-timing-sim", "numpy", "mcap", "mcap-ros2-support")}})

    # ------------------------------------------------------------------ hooks (simulation threads)
    def on_publish(self, rt: SensorRuntime, reading: Reading) -> None:
        self._push((_READING, rt.label, reading))

    def on_command(self, robot_index: int, command: Command) -> None:
        self._push((_COMMAND, robot_index, command))

    def on_step(self, snap: WorldSnapshot) -> None:
        self._push((_STEP, snap))

    def on_cycle(self, cycle: Cycle) -> None:
        self._push((_CYCLE, cycle))

    # ------------------------------------------------------------------ close
    def close(self, run: RunHandle) -> None:
        """Write what is pending, the rosbag2 metadata and the MCAP summary; rename into place."""
        if self._closed or self._writer is None or self._drain is None:
            return
        self._closed = True
        assert self._out is not None and self.path is not None
        try:
            self._drain.close(60.0)
            for _, _, label, reading in sorted(self._pending, key=lambda p: (p[0], p[1])):
                self._odometry_tf(label, reading)
            self._pending.clear()
            self._flush(None)
            self._writer.add_metadata("rosbag2", {"serialized_metadata": self._bag_metadata()})
            self._writer.finish()
        except BaseException as exc:
            self._out.discard()
            raise OutputError(self.path, exc if isinstance(exc, OSError) else f"MCAP writer failed: {exc}") from exc
        self._out.commit()

    def _bag_metadata(self) -> str:
        """rosbag2's own metadata (``rosbag2`` record, key ``serialized_metadata``; BagMetadata version 9 YAML),
        as rosbag2's MCAP storage writes at close and reads back for ``ros2 bag info``."""
        import yaml

        first, last = max(self._first, 0), max(self._last, 0)
        total = sum(self.counts.values())
        topics = [{"topic_metadata": {"name": topic, "type": self._types[cid], "serialization_format": "cdr",
                                      "offered_qos_profiles": yaml.safe_load(
                                          QOS_LATCHED if topic in ("/map", "/tf_static") else QOS_VOLATILE),
                                      "type_description_hash": ""},
                   "message_count": self.counts[topic]} for cid, topic in self._topics.items()]
        doc = {"version": 9, "storage_identifier": "mcap", "duration": {"nanoseconds": last - first},
               "starting_time": {"nanoseconds_since_epoch": first}, "message_count": total,
               "topics_with_message_count": topics, "compression_format": "", "compression_mode": "",
               "relative_file_paths": [self.filename],
               "files": [{"path": self.filename, "starting_time": {"nanoseconds_since_epoch": first},
                          "duration": {"nanoseconds": last - first}, "message_count": total}],
               "custom_data": {"generator": "fleet-timing-sim", "ros_time": "simulated"}, "ros_distro": ""}
        return yaml.safe_dump(doc, sort_keys=False)

    def report_section(self, run: RunHandle) -> dict[str, Any] | None:
        return self.summary() if self.path is not None and self.path.exists() else None

    @staticmethod
    def print_section(data: dict[str, Any], out: TextIO) -> None:
        print(f"Recording (ROS 2): {data['file']} ({data['messages']} messages) - "
              f"ros2 bag play {data['file']} --clock", file=out)

    def summary(self) -> dict[str, Any]:
        """For the report: file, message counts per topic, the robots' ROS names, sensors left out."""
        return {"file": self.filename, "messages": sum(self.counts.values()), "pose_hz": 1.0 / self.pose_period,
                "topics": dict(self.counts), "robot_names": dict(self.names), "left_out": list(self.left_out)}

    # ------------------------------------------------------------------ writer thread
    def _write(self, cid: int, log_ns: int, data: bytes) -> None:
        assert self._writer is not None
        self._writer.add_message(cid, log_time=log_ns, publish_time=log_ns, sequence=self._seqs[cid], data=data)
        self._seqs[cid] += 1
        self.counts[self._topics[cid]] += 1
        if self._first < 0 or log_ns < self._first:
            self._first = log_ns
        self._last = max(self._last, log_ns)


    def _hold(self, cid: int, log_ns: int, data: bytes) -> None:
        self._held.push(log_ns, (cid, data))

    def _flush(self, upto: float | None) -> None:
        """Write held /tf and /cycles messages logged by ``upto`` (s; None = all), oldest first."""
        for log_ns, (cid, data) in self._held.release(None if upto is None else ns(upto)):
            self._write(cid, log_ns, data)

    def _truth_at(self, t: float) -> np.ndarray:
        """True poses of the last physics step at or before ``t`` (the oldest kept if ``t`` is older)."""
        for time, pose in reversed(self._history):
            if time <= t + 1e-12:
                return pose
        return self._history[0][1]

    def _odometry_tf(self, label: str, reading: Reading) -> None:
        """/tf for a robot's odometry reading, both stamped at its sample time: ``map -> odom`` (the true pose
        times the inverse of the odometry pose) and ``odom -> base_link`` (the odometry pose)."""
        i = self._sensor[label][2]
        x, y, th = (float(v) for v in reading.data[:3])
        tx, ty, tth = (float(v) for v in self._truth_at(reading.sample_time)[i, :3])
        mx, my, mth = compose((tx, ty, tth), inverse((x, y, th)))
        stamp = ns(reading.sample_time)
        odom, base = self._frames[i]
        self._hold(self._tf, ns(reading.publish_time), encode_tf([(stamp, "map", odom, mx, my, mth),
                                                                   (stamp, odom, base, x, y, th)]))

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        for item in batch:
            kind = item[0]
            if kind == _READING:
                self._reading(item[1], item[2])
            elif kind == _COMMAND:
                cmd = item[2]
                self._write(self._robot_cids[item[1]][0], ns(cmd.issued_at), encode_twist(cmd.v, cmd.w))
            elif kind == _STEP:
                self._step(item[1])
            elif kind == _START:
                self._write_start(item[1])
            else:
                c = item[1]
                self._hold(self._cycles, ns(c.finish_time), encode_cycle(c))
                self._last_finish[c.robot] = c.finish_time
        # /tf waits TF_HOLD behind physics; /cycles (many threads, each in order) up to the slowest robot's finish
        upto = self._step_time - TF_HOLD
        if self._last_finish:
            upto = min(upto, min(self._last_finish.values()))
        self._flush(upto)

    def _reading(self, label: str, r: Reading) -> None:
        entry = self._sensor.get(label)
        if entry is None:
            return  # a kind with no ROS message here (listed in left_out)
        cid, kind, i, frame, rt = entry
        stamp, log = ns(r.sample_time), ns(r.publish_time)
        d = r.data
        try:
            if kind == "lidar":
                data = encode_scan(stamp, frame, np.asarray(d.angles), np.asarray(d.ranges), float(d.range_min),
                                   float(d.range_max), 1.0 / rt.rate_hz)
            elif kind == "odometry":
                x, y, th, v, w = (float(a) for a in d[:5])
                data = encode_odometry(stamp, self._frames[i][0], frame, x, y, th, v, w)
            elif kind == "imu":
                ax, ay, wz = (float(a) for a in d[:3])
                p = getattr(rt.sensor, "params", None)
                data = encode_imu(stamp, frame, ax, ay, wz, float(getattr(p, "gyro_noise_std", 0.0)) ** 2,
                                  float(getattr(p, "accel_noise_std", 0.0)) ** 2)
            else:
                x, y, th = (float(a) for a in d[:3])
                data = encode_pose_cov(stamp, frame, x, y, th)
        except (AttributeError, TypeError, ValueError, IndexError):
            return  # a payload not shaped like its kind's (a plugin): it has no ROS message
        self._write(cid, log, data)
        if kind == "odometry" and self._odom_for.get(i) == label:
            if r.sample_time < self._step_time:
                self._odometry_tf(label, r)
            else:  # the physics step it was sampled from has not reached the writer yet
                heapq.heappush(self._pending, (ns(r.sample_time), next(self._order), label, r))

    def _step(self, snap: WorldSnapshot) -> None:
        t = snap.time
        self._step_time = t
        history = self._history
        history.append((t, snap.pose))
        while len(history) > 1 and history[1][0] <= t - HISTORY:
            history.popleft()
        while self._pending and self._pending[0][3].sample_time < t:
            _, _, label, reading = heapq.heappop(self._pending)
            self._odometry_tf(label, reading)
        if t + 1e-9 < self._next_pose:
            return
        self._next_pose = (math.floor(t / self.pose_period + 1e-6) + 1) * self.pose_period
        stamp = ns(t)
        truth_tf: list[Transform] = []
        for i, (_, pose_cid) in enumerate(self._robot_cids):
            x, y, th = (float(v) for v in snap.pose[i, :3])
            self._write(pose_cid, stamp, encode_pose_stamped(stamp, "map", x, y, th))
            if i not in self._odom_for:
                truth_tf.append((stamp, self._frames[i][0], self._frames[i][1], x, y, th))
        if truth_tf:
            self._hold(self._tf, stamp, encode_tf(truth_tf))
