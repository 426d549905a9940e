"""recording.mcap (Foxglove, protobuf) and the --foxglove live stream, read back as their users' tools read them.

Every channel is decoded with mcap-protobuf-support's decoder from the schema the file carries; the
live stream is read with a plain ``websockets`` client speaking ``foxglove.websocket.v1``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import socket
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

from sim.errors import UsageError
from sim.features.live import LiveServer, parse_address
from sim.features.record import FoxgloveRecorder
from tests.scripted_run import ROOT, SLOW, TINY, virtual_run

NS = 1_000_000_000
SCHEMAS = {"/r1/lidar": "foxglove.LaserScan", "/r1/odometry": "foxglove.Odometry", "/r1/imu": "fleet.Imu",
           "/r1/bumper": "fleet.Bumper", "/r1/cmd_vel": "fleet.CmdVel", "/r1/pose_true": "foxglove.PoseInFrame",
           "/tf": "foxglove.FrameTransforms", "/cycles": "fleet.Cycle", "/map": "foxglove.Grid",
           "/footprints": "foxglove.SceneUpdate"}

Msgs = dict[str, list[tuple[int, int, Any]]]


def read(path: Path) -> tuple[Msgs, dict[str, tuple[str, str, str]]]:
    """Decoded messages per topic in file order as (log_time, publish_time, message), and topic -> encodings."""
    by_topic: Msgs = defaultdict(list)
    encodings: dict[str, tuple[str, str, str]] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=False):
            assert schema is not None
            by_topic[channel.topic].append((message.log_time, message.publish_time, decoded))
            encodings[channel.topic] = (channel.message_encoding, schema.encoding, schema.name)
    return by_topic, encodings


def seconds(ts: Any) -> float:
    """A protobuf Timestamp as seconds (google.protobuf.Timestamp: seconds/nanos)."""
    return ts.seconds + ts.nanos / NS


def check_counts_and_order(by_topic: Msgs, report: dict[str, Any], end_s: float | None = None) -> None:
    """Counts equal to the report's; per channel in time order, within the run.

    Readings and poses stop at the end of the run (``end_s``, default the duration); a
    cycle released before the end finishes (and commands) up to one response time later.
    """
    end = int((end_s if end_s is not None else report["scenario"]["duration"]) * NS)
    last_finish = end + int(max(c["response_time"]["max"] or 0 for c in report["controllers"]) * NS)
    for s in report["sensors"]:
        assert len(by_topic[f"/{s['robot']}/{s['name']}"]) == s["published"]
    for c in report["controllers"]:
        assert len(by_topic[f"/{c['robot']}/cmd_vel"]) == c["cycles"]
    assert len(by_topic["/cycles"]) == report["summary"]["cycles"]
    assert report["recording"]["topics"] == {t: len(m) for t, m in by_topic.items()}
    for topic, msgs in by_topic.items():
        times = [t for t, _, _ in msgs]
        assert times == sorted(times), f"{topic} not in time order"
        limit = last_finish if topic == "/cycles" or topic.endswith(("/cmd_vel", "/plan")) else end
        assert all(0 <= t <= limit for t in times), topic
        assert all(log == pub for log, pub, _ in msgs), topic


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Msgs]:
    """tiny with a slow controller (misses) and a 1.5 m lidar (beams with no return)."""
    out = tmp_path_factory.mktemp("mcap")
    _, report = virtual_run(out, [FoxgloveRecorder()], {**SLOW, "robots.0.sensors.0.range_max": 1.5})
    by_topic, _ = read(out / "recording.mcap")
    return out, report, by_topic


def test_every_channel_is_protobuf_in_its_schema_and_counts_match_the_report(recorded: Any) -> None:
    out, report, by_topic = recorded
    _, enc = read(out / "recording.mcap")
    check_counts_and_order(by_topic, report)
    assert not list(out.glob(".*.tmp"))
    assert {e[:2] for e in enc.values()} == {("protobuf", "protobuf")}
    assert {t: e[2] for t, e in enc.items()} == SCHEMAS


def test_well_known_channels_match_foxglove_s_published_schemas(recorded: Any) -> None:
    """Each foxglove.* schema in the file is the published one (foxglove-schemas-protobuf), field for field,
    and every message on those channels parses with the published class into the same bytes."""
    import importlib

    from google.protobuf import descriptor_pb2

    out, _, _ = recorded
    with open(out / "recording.mcap", "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None
        checked = set()
        for schema, channel, message in reader.iter_messages():
            assert schema is not None
            if not schema.name.startswith("foxglove."):
                continue
            name = schema.name.removeprefix("foxglove.")
            published = getattr(importlib.import_module(f"foxglove_schemas_protobuf.{name}_pb2"), name)
            if schema.name not in checked:
                ours = {m.name: m for fd in descriptor_pb2.FileDescriptorSet.FromString(schema.data).file
                        for m in fd.message_type if fd.package == "foxglove"}
                theirs = descriptor_pb2.DescriptorProto()
                published.DESCRIPTOR.CopyToProto(theirs)
                assert [(x.name, x.number, x.type, x.label) for x in ours[name].field] == [
                    (x.name, x.number, x.type, x.label) for x in theirs.field], schema.name
                checked.add(schema.name)
            assert published.FromString(message.data).SerializeToString() == message.data, channel.topic
    assert checked == {s for s in SCHEMAS.values() if s.startswith("foxglove.")}


def test_laser_scans_have_every_beam_and_inf_where_no_return(recorded: Any) -> None:
    _, report, by_topic = recorded
    scans = [m for _, _, m in by_topic["/r1/lidar"]]
    assert len(scans) == report["sensors"][0]["published"] > 0
    no_return = 0
    for log, _, scan in by_topic["/r1/lidar"]:
        assert scan.frame_id == "r1/base_link" and len(scan.ranges) == 90  # tiny: beams 90
        assert scan.start_angle == pytest.approx(-math.pi) and scan.start_angle < scan.end_angle
        assert all(r == math.inf or 0 < r <= 1.5 for r in scan.ranges)  # never NaN, 0 or null
        no_return += sum(r == math.inf for r in scan.ranges)
        assert log >= round(seconds(scan.timestamp) * NS)  # published after sampling
    assert 0 < no_return < 90 * len(scans)  # a 1.5 m lidar in a 10 x 6 m room: both kinds of beam


def test_readings_commands_and_cycles_carry_their_fields(recorded: Any) -> None:
    _, report, by_topic = recorded
    odo = by_topic["/r1/odometry"][10][2]
    assert (odo.frame_id, odo.body_frame_id) == ("r1/odom", "r1/base_link")
    assert odo.pose.position.x == pytest.approx(1.0, abs=0.5) and odo.linear_velocity.x >= 0
    imu = by_topic["/r1/imu"][10][2]
    assert imu.seq == 10 and imu.frame_id == "r1/base_link" and imu.publish_time >= seconds(imu.timestamp)
    cycles = [m for _, _, m in by_topic["/cycles"]]
    assert sum(m.miss for m in cycles) == report["summary"]["misses"] > 0
    assert {m.cause for m in cycles if m.miss} <= {"long_compute"}
    assert all(m.response_time == pytest.approx(m.finish_time - m.release_time) for m in cycles)
    cmd = by_topic["/r1/cmd_vel"][5][2]
    assert {i.sensor for i in cmd.inputs} <= {"lidar", "odometry", "imu", "bumper"}
    assert cmd.linear.y == cmd.linear.z == cmd.angular.x == cmd.angular.y == 0.0


def test_tf_is_map_odom_base_link_and_puts_base_link_at_the_true_pose(recorded: Any) -> None:
    _, _, by_topic = recorded
    poses = by_topic["/r1/pose_true"]
    times = [t / NS for t, _, _ in poses]
    assert times[0] == pytest.approx(0.01) and times[1:4] == pytest.approx([0.05, 0.10, 0.15])
    assert len(times) == 41 and len(by_topic["/tf"]) == 41
    odometry = [(seconds(m.timestamp), m.pose) for _, _, m in by_topic["/r1/odometry"]]
    for (t, _, tf), (_, _, true) in zip(by_topic["/tf"], poses, strict=True):
        a, b = tf.transforms
        assert (a.parent_frame_id, a.child_frame_id, b.parent_frame_id, b.child_frame_id) == (
            "map", "r1/odom", "r1/odom", "r1/base_link")
        ya, yb = (2 * math.atan2(x.rotation.z, x.rotation.w) for x in (a, b))
        x = a.translation.x + math.cos(ya) * b.translation.x - math.sin(ya) * b.translation.y
        y = a.translation.y + math.sin(ya) * b.translation.x + math.cos(ya) * b.translation.y
        assert (x, y) == pytest.approx((true.pose.position.x, true.pose.position.y), abs=1e-9)
        assert math.remainder(ya + yb - 2 * math.atan2(true.pose.orientation.z, true.pose.orientation.w),
                              2 * math.pi) == pytest.approx(0, abs=1e-9)
        earlier = [p for s, p in odometry if s <= t / NS]
        if earlier:  # odom -> base_link is an odometry estimate the run had by then (identity before the first)
            assert any(b.translation.x == pytest.approx(p.position.x) for p in earlier)
        else:
            assert (b.translation.x, b.translation.y, yb) == (0.0, 0.0, 0.0)


def test_map_footprints_attachment_and_metadata(recorded: Any) -> None:
    out, _, by_topic = recorded
    ((_, _, grid),) = by_topic["/map"]
    assert grid.frame_id == "map" and grid.cell_stride == 1 and grid.cell_size.x == pytest.approx(0.05)
    assert (grid.column_count, len(grid.data) // grid.row_stride) == (200, 120)  # 10 x 6 m at 5 cm
    cells = [(b - 256 if b > 127 else b) for b in grid.data]
    assert set(cells) == {0, 100}
    row, col = int(3.0 / 0.05), int(5.0 / 0.05)  # inside the shelf at (4..6, 2.5..3.5)
    assert cells[row * grid.row_stride + col] == 100 and cells[int(1.0 / 0.05) * grid.row_stride + 20] == 0
    ((_, _, scene),) = by_topic["/footprints"]
    (entity,) = scene.entities
    assert (entity.id, entity.frame_id, entity.frame_locked) == ("r1", "r1/base_link", True)
    assert entity.cylinders[0].size.x == pytest.approx(2 * 0.3)
    with open(out / "recording.mcap", "rb") as f:
        reader = make_reader(f)
        (att,) = list(reader.iter_attachments())
        (meta,) = list(reader.iter_metadata())
    assert (att.name, att.media_type, att.data) == ("tiny.yaml", "application/yaml", TINY.read_bytes())
    assert meta.name == "run"
    assert {k: meta.metadata[k] for k in ("seed", "clock", "hosts", "scenario")} == {
        "seed": "1", "clock": "virtual", "hosts": "shared", "scenario": "tiny"}
    assert set(meta.metadata) >= {"fleet_timing_sim", "python", "numpy", "foxglove_sdk"}
    assert meta.metadata["foxglove_sdk"].startswith("0.30.")


def test_planned_paths_are_poses_in_frame(tmp_path: Path) -> None:
    """A warehouse controller's plan (``visual["path"]``) is written whenever it plans anew."""
    scn = tmp_path / "plan.yaml"
    scn.write_text(TINY.read_text().replace(
        "      - {type: bumper, rate_hz: 20}\n", "      - {type: localization, rate_hz: 10}\n").replace(
        "      type: waypoint\n", "      type: warehouse\n"))
    _, report = virtual_run(tmp_path, [FoxgloveRecorder()], {"run.duration": 1.0}, scenario=scn)
    by_topic, enc = read(tmp_path / "recording.mcap")
    check_counts_and_order(by_topic, report)
    assert enc["/r1/plan"][2] == "foxglove.PosesInFrame" and enc["/r1/localization"][2] == "foxglove.PoseInFrame"
    plans = [m for _, _, m in by_topic["/r1/plan"] if m.poses]
    assert plans and plans[0].frame_id == "map"
    first = plans[0].poses
    assert (first[0].position.x, first[0].position.y) == pytest.approx((1.0, 1.0), abs=0.3)
    assert (first[-1].position.x, first[-1].position.y) == pytest.approx((8.0, 1.0), abs=0.2)


def test_cycles_of_many_robots_are_merged_in_finish_order(tmp_path: Path) -> None:
    """Four controllers: /cycles interleaves them in finish-time order, and every cycle is written."""
    misses = ROOT / "scenarios" / "misses.yaml"
    _, report = virtual_run(tmp_path, [FoxgloveRecorder()], {"run.duration": 6.0}, scenario=misses)
    by_topic, _ = read(tmp_path / "recording.mcap")
    check_counts_and_order(by_topic, report)
    robots = [m.robot for _, _, m in by_topic["/cycles"]]
    assert set(robots) == {"amr-1", "amr-2", "amr-3", "amr-4"}
    assert sum(m.miss for _, _, m in by_topic["/cycles"]) == report["summary"]["misses"] > 0


@pytest.mark.slow
def test_cli_record_on_a_real_run(tmp_path: Path) -> None:
    """A short real-time run: whatever the host's timing, the recording holds exactly what the report counts."""
    res = subprocess.run([sys.executable, "run.py", str(TINY), "--headless", "--duration", "1", "--time-scale", "4",
                          "--record", "--no-plot", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = Path(res.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    report = json.loads((out / "report.json").read_text())
    by_topic, _ = read(out / "recording.mcap")
    # real threads publish at clock.now(), which a late thread may read just after the end; nothing runs
    # later than the shutdown bound (SHUTDOWN_TIMEOUT = 1 s real) after the run stopped
    run = report["run"]
    scale = report["scenario"]["time_scale"]
    check_counts_and_order(by_topic, report, max(run["sim_seconds"], run["wall_seconds"] * scale) + 1.0 * scale)
    assert "Recording: recording.mcap" in res.stdout


# ---------------------------------------------------------------------- live
def test_live_with_no_client_builds_nothing_and_stops_with_the_run(tmp_path: Path) -> None:
    """No client: no channel has a sink, so no message is even built (memory cannot grow); the server is stopped."""
    live = LiveServer("127.0.0.1", 0)
    port, server = live.port, live.server
    assert server is not None and server.app_url() is not None
    _, report = virtual_run(tmp_path, [FoxgloveRecorder(None, live=live)], {"run.duration": 1.0})
    assert report["recording"]["live"] == f"ws://127.0.0.1:{port}"
    assert report["recording"]["messages"] == 0 and not (tmp_path / "recording.mcap").exists()
    assert live.server is None and server.app_url() is None  # the SDK: None once the server has been stopped


def test_record_and_live_together_write_the_whole_recording(tmp_path: Path) -> None:
    """With a live server on the same context the file still gets every channel and message."""
    with LiveServer("127.0.0.1", 0) as live:
        _, report = virtual_run(tmp_path, [FoxgloveRecorder(live=live)], {"run.duration": 1.0})
    by_topic, enc = read(tmp_path / "recording.mcap")
    check_counts_and_order(by_topic, report)
    assert {t: e[2] for t, e in enc.items()} == SCHEMAS


def test_waiting_for_a_client_ends_when_the_run_is_ended() -> None:
    """--foxglove-wait holds the start, but a run ended meanwhile (Ctrl-C) is not held (cancel already set)."""
    import threading

    with LiveServer("127.0.0.1", 0, wait=600) as live:
        ended = threading.Event()
        ended.set()
        assert live.wait_for_client(cancel=ended) is False


@pytest.mark.parametrize(("text", "expected"), [("8765", ("127.0.0.1", 8765)), ("0.0.0.0:9", ("0.0.0.0", 9)),
                                                ("[::1]:8765", ("::1", 8765)), (":0", ("127.0.0.1", 0))])
def test_address_parsing(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(("address", "needle"), [("127.0.0.1:99999", "out of range"), ("local:host", "not [HOST:]PORT"),
                                                 ("no-such-host.invalid:8765", "cannot serve there")])
def test_an_invalid_foxglove_address_is_one_line_exit_2(address: str, needle: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    assert main([str(TINY), "--headless", "--foxglove", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --foxglove") and err.count("\n") == 1 and needle in err, err


def test_a_foxglove_port_in_use_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([str(TINY), "--headless", "--out", str(tmp_path), "--foxglove", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --foxglove 127.0.0.1:{port}: cannot serve there: Failed to bind port: "
                   "Address already in use (os error 98)\n")
    assert list(tmp_path.iterdir()) == []  # nothing ran
    with LiveServer("127.0.0.1", 0) as first, pytest.raises(UsageError, match="Address already in use"):
        LiveServer("127.0.0.1", first.port)  # the SDK's own server holds it


# foxglove-sdk 0.30's server speaks foxglove.sdk.v1 (the successor of foxglove.websocket.v1, the same
# messages) and answers a client offering only foxglove.websocket.v1 with HTTP 400; the Foxglove app offers both.
SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]


async def _subscribe_to_lidar(url: str, topic: str) -> tuple[str, list[dict[str, Any]], int, bytes, Any]:
    """Connect as Foxglove does, read the advertisement, subscribe to ``topic``, return the first message."""
    import websockets
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    async with websockets.connect(url, subprotocols=SUBPROTOCOLS, open_timeout=30) as ws:  # type: ignore[arg-type]  # the subprotocols are plain strings
        protocol = str(ws.subprotocol)
        channels: dict[str, dict[str, Any]] = {}
        while topic not in channels:
            msg = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(msg, str) and json.loads(msg)["op"] == "advertise":
                channels.update({c["topic"]: c for c in json.loads(msg)["channels"]})
        lidar = channels[topic]
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 7, "channelId": lidar["id"]}]}))
        while True:
            msg = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(msg, bytes) and msg[0] == 0x01:  # Message Data: op, subscription id, log time, payload
                sub, log_time = struct.unpack_from("<IQ", msg, 1)
                assert sub == 7
                payload = msg[13:]
                break
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(lidar["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(lidar["schemaName"]))
    return protocol, list(channels.values()), log_time, payload, cls.FromString(payload)


@pytest.mark.slow
def test_foxglove_websocket_serves_the_recordings_channels(tmp_path: Path) -> None:
    """run.py --foxglove on a free port: a client reads the advertisement, subscribes to the lidar, decodes a scan.

    ``--foxglove-wait`` holds the run's start until the client subscribes, and a live view paces the
    virtual clock (1.5 s of run = 1.5 s real), so the scans arrive while the client listens.
    """
    proc = subprocess.Popen(
        [sys.executable, "run.py", str(TINY), "--headless", "--clock", "virtual", "--duration", "1.5",
         "--foxglove", "127.0.0.1:0", "--foxglove-wait", "60", "--record", "--no-plot", "--no-trace",
         "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("Foxglove live: "):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
        url = line.split()[2]
        protocol, channels, log_time, payload, scan = asyncio.run(_subscribe_to_lidar(url, "/r1/lidar"))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    print(f"\nconnected to {url} (subprotocol {protocol}); advertised {len(channels)} channels:")
    for c in sorted(channels, key=lambda c: c["topic"]):
        print(f"  {c['topic']:18s} {c['encoding']}  {c['schemaName']}")
    print(f"subscribed to /r1/lidar; first message: log_time {log_time} ns, {len(payload)} bytes -> "
          f"foxglove.LaserScan frame_id={scan.frame_id!r} t={seconds(scan.timestamp):.3f} s "
          f"{len(scan.ranges)} ranges [{min(scan.ranges):.2f} .. {max(scan.ranges):.2f}] m, "
          f"angles {scan.start_angle:.3f} .. {scan.end_angle:.3f} rad")
    assert scan.frame_id == "r1/base_link" and len(scan.ranges) == 90 and all(r > 0 for r in scan.ranges)
    assert {c["encoding"] for c in channels} == {"protobuf"}
    folder = Path(out.strip().splitlines()[-1].removeprefix("report folder: "))
    _, enc = read(folder / "recording.mcap")
    assert {c["topic"]: c["schemaName"] for c in channels} == {t: e[2] for t, e in enc.items()} == SCHEMAS
    assert f"Foxglove live: served on {url}" in out


def test_mounted_sensors_get_their_own_frame_and_footprints_their_outline(tmp_path: Path) -> None:
    """scenarios/shapes.yaml: a tugger's lidar 1.5 m ahead of base_link, a rectangular AMR, a disc."""
    virtual_run(tmp_path, [FoxgloveRecorder()], {"run.duration": 0.5}, scenario=ROOT / "scenarios" / "shapes.yaml")
    by_topic, _ = read(tmp_path / "recording.mcap")
    (_, _, scan), *_ = by_topic["/tug-1/lidar"]
    assert scan.frame_id == "tug-1/lidar"
    (_, _, tf), *_ = by_topic["/tf"]
    mounts = {(t.parent_frame_id, t.child_frame_id): t.translation for t in tf.transforms
              if not t.child_frame_id.endswith(("odom", "base_link"))}
    assert set(mounts) == {("tug-1/base_link", "tug-1/lidar"), ("amr-1/base_link", "amr-1/lidar")}
    assert (mounts["tug-1/base_link", "tug-1/lidar"].x, mounts["amr-1/base_link", "amr-1/lidar"].x) == (1.5, 0.45)
    ((_, _, scene),) = by_topic["/footprints"]
    shapes = {e.id: e for e in scene.entities}
    amr = [(p.x, p.y) for p in shapes["amr-1"].lines[0].points]
    assert amr == [(-0.5, -0.35), (0.5, -0.35), (0.5, 0.35), (-0.5, 0.35)]
    assert len(shapes["tug-1"].lines[0].points) == 4 and not shapes["amr-2"].lines
    assert shapes["amr-2"].cylinders[0].size.x == pytest.approx(2 * 0.3)
