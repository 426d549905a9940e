"""``recording.mcap`` (``--record``) and the live stream (``--foxglove``): one run, as Foxglove renders it natively.

Written with foxglove-sdk: every channel is protobuf, in Foxglove's well-known schemas where one fits,
else in the documented ``fleet.*`` schemas (``sim.features.foxmsgs``). Times are simulated time in ns
(the epoch is the run's start); a message's log_time is when it happened in the run: a reading's
publish time, a command's and a cycle's finish time, a pose's step time.

Channels:

* ``/<robot>/<sensor>`` - one per sensor, by kind: lidar ``foxglove.LaserScan`` (frame ``<robot>/base_link``, or
  ``<robot>/<sensor>`` when mounted off it,
  ``+inf`` for a beam with no return); odometry ``foxglove.Odometry`` (pose in ``<robot>/odom``, velocity in
  ``<robot>/base_link`` - Foxglove's own odometry schema, the same shape as nav_msgs/Odometry); localization
  ``foxglove.PoseInFrame`` in ``map``; imu ``fleet.Imu`` (Foxglove has no IMU schema: sensor_msgs/Imu's
  planar fields); bumper ``fleet.Bumper``; any other kind ``fleet.SensorReading`` (its payload as JSON text).
* ``/<robot>/cmd_vel`` - each command handed to physics, ``fleet.CmdVel`` (a stamped geometry_msgs/Twist
  plus the sample time of each input; Foxglove has no Twist schema).
* ``/<robot>/pose_true`` - ``foxglove.PoseInFrame`` of the true pose in ``map``, at ``pose_hz``.
* ``/<robot>/plan`` - the controller's planned path as ``foxglove.PosesInFrame`` in ``map``, written when it
  changes; only for controllers that show one (``Controller.visual["path"]``, which the window draws too).
* ``/tf`` - ``foxglove.FrameTransforms`` at ``pose_hz``, REP 105: ``map -> <robot>/odom -> <robot>/base_link``,
  and ``<robot>/base_link -> <robot>/<sensor>`` for each sensor mounted off base_link (``sensors[].mount``;
  its readings are in that frame; a sensor at base_link keeps ``<robot>/base_link``).
  ``odom -> base_link`` is the robot's odometry estimate (its first odometry sensor's newest reading;
  identity before the first, or without one), ``map -> odom`` the correction that puts ``base_link`` at
  the true pose - so scans are drawn where the robot really is, and the odometry drift is visible.
* ``/map`` - the static map as a ``foxglove.Grid`` (``sim.world.occgrid.rasterize``: walls and obstacles
  burnt into the run's grid map, or a 5 cm grid over the floor), once at time 0.
* ``/footprints`` - ``foxglove.SceneUpdate`` with each robot's body (``foxmsgs.footprint``) locked to its
  ``base_link``, once at time 0.
* ``/cycles`` - one ``fleet.Cycle`` per controller cycle with its timing, in finish-time order.

The MCAP file also holds the scenario file as an attachment (``application/yaml``) and one metadata
record, ``run``: seed, clock, time scale, hosts, duration, scenario name, and the versions of the
simulator, Python, numpy and foxglove-sdk.

Off the simulation's timed path: callbacks only append a tuple (``sim.common.batching.BackgroundDrain``);
a writer thread wakes on a fixed interval, builds the messages and logs them (foxglove-sdk serialises
and, for the file, compresses with zstd). Live without a client, a channel has no sink and its messages
are not even built. The file is written under a temp name in the run folder and renamed at close; the
live server is stopped at the run's close too.
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sim.common.batching import BackgroundDrain
from sim.common.files import AtomicFile
from sim.core.control import Cycle
from sim.core.feature import Feature
from sim.errors import OutputError
from sim.features.timeorder import TimeOrdered, package_version

if TYPE_CHECKING:
    from foxglove import Channel, Context
    from foxglove.mcap import MCAPWriter

    from sim.core.handle import RunHandle
    from sim.core.producers import SensorRuntime
    from sim.features.live import LiveServer
    from sim.interfaces.messages import Reading
    from sim.world.model import WorldSnapshot
    from sim.world.physics import Command

__all__ = ["KIND_SCHEMA", "FoxgloveRecorder"]

_READING, _COMMAND, _POSE, _CYCLE, _PLAN = 0, 1, 2, 3, 4
HOLD_LIMIT = 20000  # cycles held back for ordering before the oldest is written regardless
# sensor kind -> schema of its channel (a "fleet." one from sim.features.foxmsgs, else foxglove-sdk's)
KIND_SCHEMA = {"lidar": "foxglove.LaserScan", "odometry": "foxglove.Odometry", "localization": "foxglove.PoseInFrame",
               "imu": "fleet.Imu", "bumper": "fleet.Bumper"}
GENERIC_SCHEMA = "fleet.SensorReading"


class FoxgloveRecorder(Feature):
    """Records a run to ``recording.mcap`` and/or serves it live; the report's ``recording`` section.

    ``filename``: the MCAP file in the run folder (None: no file). ``live``: a started ``LiveServer``
    whose context the channels are created on (None: no live stream).
    """

    section = "recording"
    stage = "output"

    def __init__(self, filename: str | None = "recording.mcap", pose_hz: float = 20.0,
                 live: LiveServer | None = None) -> None:
        self.filename = filename
        self.live = live
        self.pose_period = 1.0 / pose_hz
        self.path: Path | None = None
        self.counts: dict[str, int] = {}
        self._drain: BackgroundDrain[tuple[Any, ...]] | None = None
        self._push: Callable[[tuple[Any, ...]], None] = lambda item: None  # drain.push once started
        self._held: TimeOrdered[Cycle] = TimeOrdered(HOLD_LIMIT)  # cycles waiting for time order, by finish
        self._last_finish: dict[str, float] = {}
        self._next_pose = 0.0
        self._sensors: dict[str, tuple[Channel, str, int]] = {}  # label -> (channel, kind, robot index)
        self._frames: dict[str, str] = {}  # label -> the sensor's frame (base_link, or its own when mounted off it)
        self._mounts: list[tuple[str, str, tuple[float, float, float]]] = []  # (parent, child, mount) each
        self._robot_channels: list[tuple[Channel, Channel]] = []  # per robot index: (cmd_vel, pose_true)
        self._plans: dict[str, tuple[Any, Channel]] = {}  # robot -> (its controller, its plan channel)
        self._last_path: dict[str, Any] = {}
        self._odom_est: list[tuple[float, float, float]] = []  # per robot: newest odometry estimate
        self._odom_source: dict[str, int] = {}  # label of each robot's first odometry sensor -> robot index
        self._static: dict[str, tuple[Channel, bytes]] = {}  # /map, /footprints: re-sent to a new live client
        self._robots: list[str] = []
        self._writer: MCAPWriter | None = None
        self._file: _Sink | None = None
        self._context: Context | None = None
        self._out: AtomicFile | None = None
        self._closed = False
        self._now = 0

    # ------------------------------------------------------------------ start
    def on_start(self, run: RunHandle) -> None:
        import foxglove

        from sim.features import foxmsgs as fm
        from sim.world.occgrid import rasterize

        # held for the whole run: channels lose their sinks when their context is dropped
        self._context = context = self.live.context if self.live is not None else foxglove.Context()
        if self.filename is not None:
            from foxglove.mcap import MCAPCompression, MCAPWriteOptions

            self.path = Path(run.out_dir) / self.filename
            self._out = AtomicFile(self.path, binary=True)
            self._file = _Sink(self._out.file)
            self._writer = foxglove.open_mcap(
                self._file, context=context,
                writer_options=MCAPWriteOptions(compression=MCAPCompression.Zstd, profile="",
                                                compression_threads=0))  # 0: compress on the writer thread
            self._write_file_records(run)
        self._robots = list(run.bodies.names)
        index = {name: i for i, name in enumerate(self._robots)}
        self._odom_est = [(0.0, 0.0, 0.0)] * len(self._robots)
        for rt in run.sensors:
            kind = rt.sensor.kind
            schema = KIND_SCHEMA.get(kind, GENERIC_SCHEMA)
            i = index[rt.robot_name]
            self._sensors[rt.label] = (self._channel(context, f"/{rt.robot_name}/{rt.sensor.name}", schema), kind, i)
            mx, my, myaw = (float(v) for v in getattr(rt.sensor, "mount", (0.0, 0.0, 0.0)))
            self._frames[rt.label] = f"{rt.robot_name}/base_link"
            if (mx, my, myaw) != (0.0, 0.0, 0.0):  # sensors[].mount: readings in its own frame, fixed on base_link
                self._frames[rt.label] = f"{rt.robot_name}/{rt.sensor.name}"
                self._mounts.append((f"{rt.robot_name}/base_link", self._frames[rt.label], (mx, my, myaw)))
            if kind == "odometry" and i not in self._odom_source.values():
                self._odom_source[rt.label] = i
        for name in self._robots:
            self._robot_channels.append((self._channel(context, f"/{name}/cmd_vel", "fleet.CmdVel"),
                                         self._channel(context, f"/{name}/pose_true", "foxglove.PoseInFrame")))
        for task in run.controllers:
            visual = getattr(task.controller, "visual", None)
            if isinstance(visual, dict) and "path" in visual:
                self._plans[task.robot_name] = (task.controller, self._channel(
                    context, f"/{task.robot_name}/plan", "foxglove.PosesInFrame"))
                self._last_path[task.robot_name] = None
        self._tf = self._channel(context, "/tf", "foxglove.FrameTransforms")
        self._cycles = self._channel(context, "/cycles", "fleet.Cycle")
        grid = self._channel(context, "/map", "foxglove.Grid")
        scene = self._channel(context, "/footprints", "foxglove.SceneUpdate")
        self._static = {"/map": (grid, fm.grid_message(rasterize(run.static)).encode()),
                        "/footprints": (scene, fm.footprints(list(run.scenario.robots)).encode())}
        for ch, data in self._static.values():
            if ch.has_sinks():
                self._emit(ch, 0.0, data)
        self._last_finish = {c.robot_name: -1.0 for c in run.controllers}
        if self.live is not None:
            self.live.ready()
            # before any thread starts, so a fast virtual run is not over before the client is there
            self.live.wait_for_client(cancel=run.finished)
        self._drain = BackgroundDrain("foxglove-writer", self._write_batch)
        self._drain.report_errors_to(run)
        self._push = self._drain.push

    def _channel(self, context: Context, topic: str, schema: str) -> Channel:
        import foxglove
        import foxglove.messages

        from sim.features import foxmsgs as fm

        if schema.startswith("fleet."):
            s = fm.fleet_schema(schema.removeprefix("fleet."))
        else:  # a well-known one: foxglove-sdk's message class carries its protobuf schema
            s = getattr(foxglove.messages, schema.removeprefix("foxglove.")).get_schema()
        self.counts[topic] = 0
        return foxglove.Channel(topic, schema=s, message_encoding="protobuf", context=context)

    def _write_file_records(self, run: RunHandle) -> None:
        """The scenario file as an attachment, the run's settings and versions as metadata."""
        import numpy

        assert self._writer is not None
        scn = run.scenario
        source: Path | None = getattr(scn, "_source", None)
        if source is not None and Path(source).is_file():
            data = Path(source).read_bytes()
            self._writer.attach(log_time=0, create_time=Path(source).stat().st_mtime_ns, name=Path(source).name,
                                media_type="application/yaml", data=data)
        meta = {"scenario": str(getattr(scn, "name", "")), "seed": str(scn.run.seed), "clock": str(scn.run.clock),
                "time_scale": repr(float(scn.run.time_scale)), "hosts": str(scn.run.hosts),
                "duration_s": repr(float(run.duration)), "robots": ",".join(run.bodies.names),
                "fleet_timing_sim": package_version("fleet-timing-sim"), "python": platform.python_version(),
                "numpy": numpy.__version__, "foxglove_sdk": package_version("foxglove-sdk"),
                "time_base": "simulated time; t=0 is the run's start"}
        self._writer.write_metadata("run", meta)

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
        plan = self._plans.get(cycle.robot)
        if plan is not None:  # the controller replaces its path list when it plans anew: an identity test
            path = plan[0].visual.get("path")
            if path is not self._last_path[cycle.robot]:
                self._last_path[cycle.robot] = path
                self._push((_PLAN, cycle.robot, cycle.finish_time, path))

    # ------------------------------------------------------------------ close
    def close(self, run: RunHandle) -> None:
        """Write what is pending, finish the MCAP summary, rename into place; stop the live server."""
        if self._closed or self._drain is None:
            return
        self._closed = True
        try:
            self._drain.close(60.0)
            self._flush_cycles(None)
            if self._writer is not None:
                self._writer.close()
        except BaseException as exc:
            if self._out is not None:
                self._out.discard()
            if self.live is not None:
                self.live.stop()
            where = self.path if self.path is not None else "foxglove"
            cause = self._file.error if self._file is not None and self._file.error is not None else exc
            raise OutputError(where, cause if isinstance(cause, OSError) else f"MCAP writer failed: {cause}") from exc
        if self.live is not None:
            self.live.stop()
        if self._out is not None:
            self._out.commit()

    def report_section(self, run: RunHandle) -> dict[str, Any] | None:
        """``summary()`` once the file is written or the stream served; None otherwise."""
        if self.live is None and (self.path is None or not self.path.exists()):
            return None
        return self.summary()

    @staticmethod
    def print_section(data: dict[str, Any], out: TextIO) -> None:
        if data.get("file"):
            print(f"Recording: {data['file']} ({data['messages']} messages) - open in Foxglove", file=out)
        if data.get("live"):
            print(f"Foxglove live: served on {data['live']} (stopped with the run)", file=out)

    def summary(self) -> dict[str, Any]:
        """For the report: file, live URL, message counts per topic (logged to a sink)."""
        return {"file": self.filename, "live": self.live.url if self.live is not None else None,
                "messages": sum(self.counts.values()), "pose_hz": 1.0 / self.pose_period, "topics": dict(self.counts)}

    # ------------------------------------------------------------------ writer thread
    def _log(self, channel: Channel, n: int, data: bytes) -> None:
        channel.log(data, log_time=n)

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        from sim.features import foxmsgs as fm

        for item in batch:
            kind = item[0]
            if kind == _READING:
                self._write_reading(item[1], item[2])
            elif kind == _COMMAND:
                i, cmd = item[1], item[2]
                ch = self._robot_channels[i][0]
                if ch.has_sinks():
                    self._emit(ch, cmd.issued_at, fm.fleet_message(
                        "CmdVel", timestamp=cmd.issued_at, linear={"x": cmd.v}, angular={"z": cmd.w},
                        inputs=[{"sensor": s, "seconds": t} for s, t in cmd.input_sample_times]))
            elif kind == _POSE:
                self._write_pose(item[1])
            elif kind == _PLAN:
                _, robot, t, path = item
                ch = self._plans[robot][1]
                if ch.has_sinks():
                    self._emit(ch, t, fm.path_message(t, path or []).encode())
            else:
                # cycles come from many threads; each robot's arrive in order, so everything up to the
                # oldest "latest finish" among robots is complete and can be written in time order
                c = item[1]
                self._held.push(fm.ns(c.finish_time), c)
                self._last_finish[c.robot] = c.finish_time
        if self._last_finish:
            self._flush_cycles(min(self._last_finish.values()))
        if self.live is not None:
            for topic in self.live.new_subscriptions() & self._static.keys():
                ch, data = self._static[topic]
                self._log(ch, 0, data)  # a client that joined late gets the map and the footprints too
            self.live.broadcast_time(self._now)

    def _emit(self, channel: Channel, t: float, data: bytes) -> None:
        from sim.features.foxmsgs import ns

        n = ns(t)
        self._log(channel, n, data)
        self.counts[channel.topic()] += 1
        self._now = max(self._now, n)

    def _write_reading(self, label: str, r: Reading) -> None:
        from sim.features import foxmsgs as fm

        ch, kind, i = self._sensors[label]
        d = r.data
        if kind == "odometry" and self._odom_source.get(label) == i:
            with contextlib.suppress(TypeError, ValueError, IndexError):  # a malformed payload keeps the last one
                self._odom_est[i] = (float(d[0]), float(d[1]), float(d[2]))
        if not ch.has_sinks():
            return
        robot = r.robot
        data: bytes | None = None
        try:
            if kind == "lidar":
                data = fm.laser_scan(r.sample_time, self._frames[label], d.angles, d.ranges).encode()
            elif kind == "odometry":
                x, y, th, v, w = (float(a) for a in d[:5])
                data = fm.odometry(r.sample_time, robot, x, y, th, v, w).encode()
            elif kind == "localization":
                x, y, th = (float(a) for a in d[:3])
                data = fm.pose_in_frame(r.sample_time, "map", x, y, th).encode()
            elif kind == "imu":
                ax, ay, wz = (float(a) for a in d[:3])
                data = fm.fleet_message("Imu", timestamp=r.sample_time, frame_id=f"{robot}/base_link",
                                        angular_velocity={"z": wz}, linear_acceleration={"x": ax, "y": ay},
                                        seq=r.seq, publish_time=r.publish_time)
            elif kind == "bumper":
                data = fm.fleet_message("Bumper", timestamp=r.sample_time, frame_id=f"{robot}/base_link",
                                        contact=bool(d), seq=r.seq, publish_time=r.publish_time)
        except (AttributeError, TypeError, ValueError, IndexError):
            data = None  # a payload not shaped like its kind's (a plugin, a fault): see below
        if data is None:
            if kind in KIND_SCHEMA:
                return  # a malformed payload on a typed channel: left out rather than written in another schema
            data = fm.fleet_message("SensorReading", timestamp=r.sample_time, kind=kind, seq=r.seq,
                                    publish_time=r.publish_time, data_json=fm.reading_json(d))
        self._emit(ch, r.publish_time, data)

    def _flush_cycles(self, upto: float | None) -> None:
        """Write held cycles finished by ``upto`` (s; None = all of them), oldest first."""
        from sim.features import foxmsgs as fm

        sinks = self._cycles.has_sinks()
        for _, c in self._held.release(None if upto is None else fm.ns(upto)):
            if sinks:
                self._emit(self._cycles, c.finish_time, fm.fleet_message(
                    "Cycle", timestamp=c.finish_time, robot=c.robot, k=c.k, release_time=c.release_time,
                    start_time=c.start_time, inputs_time=c.inputs_time, finish_time=c.finish_time,
                    release_jitter=c.release_jitter, response_time=c.response_time, deadline=c.deadline,
                    cpu_time=c.cpu_time, miss=c.miss, overrun=c.overrun, safety_stop=c.safety_stop,
                    cause=c.cause.value if c.cause else "", ages=[{"sensor": s, "seconds": a} for s, a in c.ages]))

    def _write_pose(self, snap: WorldSnapshot) -> None:
        from sim.features import foxmsgs as fm

        t = snap.time
        self._now = max(self._now, fm.ns(t))  # the simulated time broadcast to live clients
        transforms = []
        for i, name in enumerate(self._robots):
            x, y, th = (float(v) for v in snap.pose[i, :3])
            ch = self._robot_channels[i][1]
            if ch.has_sinks():
                self._emit(ch, t, fm.pose_in_frame(t, "map", x, y, th).encode())
            odom = self._odom_est[i]
            transforms.append(fm.transform(t, "map", f"{name}/odom", fm.compose((x, y, th), fm.inverse(odom))))
            transforms.append(fm.transform(t, f"{name}/odom", f"{name}/base_link", odom))
        # Mounted sensors: fixed on base_link, sent with every /tf message so a late live client has them too.
        transforms += [fm.transform(t, parent, child, mount) for parent, child, mount in self._mounts]
        if self._tf.has_sinks():
            self._emit(self._tf, t, fm.frame_transforms(transforms).encode())


class _Sink:
    """The MCAP file as foxglove-sdk writes it (write/seek/flush), keeping the first OS error (a full disk).

    The SDK reports a failed write as its own error; the run's one line names the OS's reason instead.
    """

    def __init__(self, file: Any) -> None:
        self.file = file
        self.error: OSError | None = None

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise

    def write(self, data: bytes | bytearray) -> int:
        n = self._guard(lambda: self.file.write(data))
        return len(data) if n is None else int(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._guard(lambda: self.file.seek(offset, whence)))

    def flush(self) -> None:
        self._guard(self.file.flush)
