"""recording-ros2.mcap (--record ros2): every channel decoded back with mcap-ros2-support, values checked
against what the run produced; ROS names, message definitions, rosbag2 metadata, the --record flag."""

from __future__ import annotations

import math
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from sim.cli import main
from sim.core.listeners import RunListener
from sim.features.catalog import output_features, record_formats
from sim.features.record import FoxgloveRecorder
from sim.features.record_ros2 import (
    FILENAME,
    MSGDEFS,
    Ros2Recorder,
    check_encoders,
    compose,
    msgdef,
    ros_names,
    ros_token,
)
from sim.world.occgrid import rasterize
from tests.scripted_run import SLOW, TINY, virtual_run

NS = 1_000_000_000
# tiny with a 2 m lidar: beams past 2 m are no return (+inf)
SHORT = {**SLOW, "robots.0.sensors.0.range_max": 2.0}


class Collect(RunListener):
    """What the run produced, to compare the recording with: readings per sensor, every physics step's poses."""

    def __init__(self) -> None:
        self.readings: dict[str, list[Any]] = defaultdict(list)
        self.steps: list[tuple[float, np.ndarray]] = []

    def on_start(self, run: Any) -> None:
        self.steps.append((run.physics.snapshot.time, run.physics.snapshot.pose.copy()))

    def on_publish(self, rt: Any, reading: Any) -> None:
        self.readings[rt.sensor.name].append(reading)

    def on_step(self, snap: Any) -> None:
        self.steps.append((snap.time, snap.pose.copy()))

    def truth_at(self, t: float, i: int = 0) -> np.ndarray:
        return [p for time, p in self.steps if time <= t + 1e-12][-1][i]


def read(path: Path) -> tuple[dict[str, list[tuple[int, Any]]], Any, Any]:
    """Decoded messages per topic in file order as (log_time, message); the summary; the header."""
    by_topic: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header, summary = reader.get_header(), reader.get_summary()
        for _, channel, message, decoded in reader.iter_decoded_messages(log_time_order=False):
            by_topic[channel.topic].append((message.log_time, decoded))
    return by_topic, summary, header


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Collect]:
    out = tmp_path_factory.mktemp("ros2")
    seen = Collect()
    _, report = virtual_run(out, [Ros2Recorder(), seen], SHORT)
    return out / FILENAME, report, seen


def test_every_channel_decodes_and_counts_match_the_report(recorded: Any) -> None:
    path, report, _ = recorded
    by_topic, summary, header = read(path)
    assert header.profile == "ros2"
    types = {ch.topic: summary.schemas[ch.schema_id].name for ch in summary.channels.values()}
    assert types == {"/map": "nav_msgs/msg/OccupancyGrid", "/tf": "tf2_msgs/msg/TFMessage",
                     "/r1/lidar": "sensor_msgs/msg/LaserScan", "/r1/odometry": "nav_msgs/msg/Odometry",
                     "/r1/imu": "sensor_msgs/msg/Imu", "/r1/cmd_vel": "geometry_msgs/msg/Twist",
                     "/r1/pose_true": "geometry_msgs/msg/PoseStamped", "/cycles": "fleet_timing_msgs/msg/Cycle"}
    assert {ch.message_encoding for ch in summary.channels.values()} == {"cdr"}
    assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
    assert set(by_topic) == set(types)  # every channel has messages, every one decoded
    for ch in summary.channels.values():
        latched = ch.topic == "/map"
        assert ("durability: 1" if latched else "durability: 2") in ch.metadata["offered_qos_profiles"]
    sensors = {s["name"]: s["published"] for s in report["sensors"]}
    assert len(by_topic["/r1/lidar"]) == sensors["lidar"] and len(by_topic["/r1/imu"]) == sensors["imu"]
    assert len(by_topic["/r1/odometry"]) == len(by_topic["/tf"]) == sensors["odometry"]
    assert len(by_topic["/r1/cmd_vel"]) == len(by_topic["/cycles"]) == report["summary"]["cycles"]
    assert report["recording_ros2"]["topics"] == {t: len(m) for t, m in by_topic.items()}
    assert report["recording_ros2"]["left_out"] == ["r1/bumper"]  # no ROS message for a bumper here
    for topic, msgs in by_topic.items():
        times = [t for t, _ in msgs]
        assert times == sorted(times), f"{topic} not in log-time order"
    cycles = [m for _, m in by_topic["/cycles"]]
    assert sum(c.miss for c in cycles) == report["summary"]["misses"] > 0
    assert {c.cause for c in cycles if c.miss} == {"long_compute"} and {c.cause for c in cycles if not c.miss} == {""}


def test_scans_are_the_lidar_readings_with_inf_for_no_return(recorded: Any) -> None:
    path, _, seen = recorded
    by_topic, _, _ = read(path)
    scans = by_topic["/r1/lidar"]
    readings = seen.readings["lidar"]
    assert len(scans) == len(readings) == 20  # 10 Hz for 2 s
    any_inf = False
    for (log, scan), r in zip(scans, readings, strict=True):
        assert log == round(r.publish_time * NS)
        assert scan.header.stamp.sec * NS + scan.header.stamp.nanosec == round(r.sample_time * NS)
        assert scan.header.frame_id == "r1/base_link"
        np.testing.assert_array_equal(np.array(scan.ranges, dtype=np.float32), r.data.ranges)  # bit for bit
        any_inf |= math.inf in scan.ranges
        assert not any(math.isnan(x) for x in scan.ranges)
        assert (scan.range_min, scan.range_max) == pytest.approx((0.05, 2.0))
        assert scan.scan_time == pytest.approx(0.1) and scan.intensities == []
    assert any_inf  # REP 117: no return is +inf, never 0, null or range_max
    scan, angles = scans[0][1], readings[0].data.angles
    assert len(scan.ranges) == len(angles) == 90
    assert scan.angle_min == pytest.approx(-math.pi) and scan.angle_max == pytest.approx(angles[-1])
    assert scan.angle_increment == pytest.approx(2 * math.pi / 90)
    np.testing.assert_allclose(scan.angle_min + scan.angle_increment * np.arange(90), angles, atol=1e-5)


def test_odometry_and_imu_carry_their_readings(recorded: Any) -> None:
    path, _, seen = recorded
    by_topic, _, _ = read(path)
    for (_, odo), r in zip(by_topic["/r1/odometry"], seen.readings["odometry"], strict=True):
        x, y, th, v, w = r.data
        assert (odo.header.frame_id, odo.child_frame_id) == ("r1/odom", "r1/base_link")
        p, q = odo.pose.pose.position, odo.pose.pose.orientation
        assert (p.x, p.y, p.z) == pytest.approx((x, y, 0.0))
        assert 2 * math.atan2(q.z, q.w) == pytest.approx(th, abs=1e-9)
        assert (odo.twist.twist.linear.x, odo.twist.twist.angular.z) == pytest.approx((v, w))
        assert odo.pose.covariance == [0.0] * 36 and odo.twist.covariance == [0.0] * 36  # not estimated
    imu, r = by_topic["/r1/imu"][7][1], seen.readings["imu"][7]
    assert imu.orientation_covariance[0] == -1.0  # sensor_msgs/Imu: no orientation estimate
    a, g = imu.linear_acceleration, imu.angular_velocity
    assert (a.x, a.y, a.z, g.z) == pytest.approx((r.data[0], r.data[1], 9.80665, r.data[2]))
    assert imu.angular_velocity_covariance[8] == pytest.approx(0.005 ** 2)  # gyro_noise_std default
    assert imu.linear_acceleration_covariance[0] == pytest.approx(0.05 ** 2)


def test_tf_chains_map_odom_base_link_to_the_true_pose(recorded: Any) -> None:
    """REP 105: map -> r1/odom -> r1/base_link at each odometry sample; the chain is the true pose then."""
    path, _, seen = recorded
    by_topic, _, _ = read(path)
    first = by_topic["/tf"][0][1].transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in first] == [("map", "r1/odom"), ("r1/odom", "r1/base_link")]
    assert (first[0].transform.translation.x, first[0].transform.translation.y) == pytest.approx((0.0, 0.0))
    drift = 0.0
    for (log, msg), r in zip(by_topic["/tf"], seen.readings["odometry"], strict=True):
        map_odom, odom_base = msg.transforms
        stamp = map_odom.header.stamp.sec * NS + map_odom.header.stamp.nanosec
        assert stamp == round(r.sample_time * NS) and log == round(r.publish_time * NS)
        planar = [(t.transform.translation.x, t.transform.translation.y,
                   2 * math.atan2(t.transform.rotation.z, t.transform.rotation.w)) for t in (map_odom, odom_base)]
        assert planar[1] == pytest.approx(tuple(r.data[:3]))
        x, y, th = compose(planar[0], planar[1])
        tx, ty, tth = seen.truth_at(r.sample_time)
        assert (x, y) == pytest.approx((tx, ty), abs=1e-9)
        assert math.remainder(th - tth, 2 * math.pi) == pytest.approx(0.0, abs=1e-9)
        drift = max(drift, math.hypot(*planar[0][:2]))
    assert drift > 0  # the odometry drifts, so map -> odom is not the identity


def test_map_is_the_rasterised_world_once_at_zero(recorded: Any) -> None:
    path, _, _ = recorded
    by_topic, _, _ = read(path)
    [(log, grid)] = by_topic["/map"]
    from sim.scenario.load import load_scenario
    from sim.world.model import StaticMap

    expected = rasterize(StaticMap.from_scenario(load_scenario(TINY).world))
    assert log == 0 and grid.header.frame_id == "map"
    assert (grid.info.width, grid.info.height) == (expected.cols, expected.rows) == (200, 120)
    assert grid.info.resolution == pytest.approx(expected.resolution)
    assert (grid.info.origin.position.x, grid.info.origin.position.y) == expected.origin
    assert len(grid.data) == 200 * 120
    np.testing.assert_array_equal(np.array(grid.data, dtype=np.int8).reshape(120, 200), expected.values)
    assert 0 < sum(v == 100 for v in grid.data) < len(grid.data)


def test_true_pose_run_metadata_attachment_and_rosbag2_metadata(recorded: Any) -> None:
    path, report, seen = recorded
    by_topic, _, _ = read(path)
    log, pose = by_topic["/r1/pose_true"][5]
    assert pose.header.frame_id == "map" and log == round(0.25 * NS)
    assert (pose.pose.position.x, pose.pose.position.y) == pytest.approx(tuple(seen.truth_at(0.25)[:2]))
    with open(path, "rb") as f:
        reader = make_reader(f)
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        attachments = list(reader.iter_attachments())
    assert [a.name for a in attachments] == ["tiny.yaml"] and attachments[0].data == TINY.read_bytes()
    run = meta["fleet_timing_sim"]
    assert (run["seed"], run["clock"], run["robot_names"]) == ("1", "VirtualClock", '{"r1": "r1"}')
    assert run["version.mcap-ros2-support"].startswith("0.6")
    bag = yaml.safe_load(meta["rosbag2"]["serialized_metadata"])  # what rosbag2's MCAP storage decodes
    assert bag["version"] == 9 and bag["storage_identifier"] == "mcap"
    assert bag["message_count"] == report["recording_ros2"]["messages"]
    assert set(bag) >= {"duration", "starting_time", "topics_with_message_count", "relative_file_paths",
                        "compression_format", "compression_mode", "files", "custom_data", "ros_distro"}
    topics = {t["topic_metadata"]["name"]: t for t in bag["topics_with_message_count"]}
    assert topics["/r1/lidar"]["message_count"] == 20
    qos = topics["/map"]["topic_metadata"]["offered_qos_profiles"][0]
    assert (qos["reliability"], qos["durability"], qos["history"]) == (1, 1, 3)  # reliable, transient local


def test_ros_names() -> None:
    assert ros_token("amr-1") == "amr_1" and ros_token("front lidar") == "front_lidar"
    assert ros_token("7up") == "n7up" and ros_token("a..b--c") == "a_b_c" and ros_token("-") == "unnamed"
    assert ros_token("r1") == "r1" and ros_token("_x_") == "x"
    # a legal name keeps it; a mapped name that collides gets _2, _3, ...; reserved names are never given
    assert ros_names(["amr-1", "amr_1", "amr.1"]) == {"amr-1": "amr_1_2", "amr_1": "amr_1", "amr.1": "amr_1_3"}
    assert ros_names(["cmd-vel", "lidar"], reserved=["cmd_vel"]) == {"cmd-vel": "cmd_vel_2", "lidar": "lidar"}


def test_robot_and_sensor_names_are_mapped_to_legal_unique_topics_and_frames(tmp_path: Path) -> None:
    text = TINY.read_text().replace("name: tiny", "name: names")
    robot = text[text.index("  - name: r1"):]
    scenario = text[:text.index("  - name: r1")]
    for name, y in (("amr-1", 1.0), ("amr_1", 3.0), ("7up", 5.0)):
        scenario += robot.replace("name: r1", f"name: {name}").replace("[1.0, 1.0, 0.0]", f"[1.0, {y}, 0.0]")
    scenario = scenario.replace("{type: lidar, rate_hz: 10, beams: 90}",
                                "{type: lidar, name: front-lidar, rate_hz: 10, beams: 90}")
    (tmp_path / "names.yaml").write_text(scenario)
    _, report = virtual_run(tmp_path, [Ros2Recorder()], {"run.duration": 0.3}, scenario=tmp_path / "names.yaml")
    by_topic, _, _ = read(tmp_path / FILENAME)
    assert report["recording_ros2"]["robot_names"] == {"amr-1": "amr_1_2", "amr_1": "amr_1", "7up": "n7up"}
    assert {"/amr_1_2/front_lidar", "/amr_1/front_lidar", "/n7up/front_lidar", "/n7up/cmd_vel"} <= set(by_topic)
    frames = {(t.header.frame_id, t.child_frame_id) for _, m in by_topic["/tf"] for t in m.transforms}
    assert ("amr_1_2/odom", "amr_1_2/base_link") in frames and ("map", "n7up/odom") in frames
    assert by_topic["/n7up/front_lidar"][0][1].header.frame_id == "n7up/base_link"


def test_a_robot_without_odometry_gets_its_odom_from_the_true_pose(tmp_path: Path) -> None:
    virtual_run(tmp_path, [Ros2Recorder()], {"run.duration": 0.3, "robots.0.sensors": [
        {"type": "lidar", "rate_hz": 10, "beams": 8}]})
    by_topic, _, _ = read(tmp_path / FILENAME)
    [(_, static)] = by_topic["/tf_static"]
    assert [(t.header.frame_id, t.child_frame_id) for t in static.transforms] == [("map", "r1/odom")]
    tf = [t for _, m in by_topic["/tf"] for t in m.transforms]
    assert {(t.header.frame_id, t.child_frame_id) for t in tf} == {("r1/odom", "r1/base_link")}
    assert len(tf) == len(by_topic["/r1/pose_true"]) == 7  # at the pose rate, 20 Hz
    assert tf[-1].transform.translation.x == by_topic["/r1/pose_true"][-1][1].pose.position.x


def test_message_definitions_are_laid_out_as_rosbag2_writes_them() -> None:
    assert msgdef("nav_msgs/msg/Odometry") == (
        MSGDEFS["nav_msgs/Odometry"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/PoseWithCovariance\n" + MSGDEFS["geometry_msgs/PoseWithCovariance"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/Pose\n" + MSGDEFS["geometry_msgs/Pose"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/Point\n" + MSGDEFS["geometry_msgs/Point"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/Quaternion\n" + MSGDEFS["geometry_msgs/Quaternion"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/TwistWithCovariance\n"
        + MSGDEFS["geometry_msgs/TwistWithCovariance"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/Twist\n" + MSGDEFS["geometry_msgs/Twist"]
        + "\n" + "=" * 80 + "\nMSG: geometry_msgs/Vector3\n" + MSGDEFS["geometry_msgs/Vector3"]
        + "\n" + "=" * 80 + "\nMSG: std_msgs/Header\n" + MSGDEFS["std_msgs/Header"]
        + "\n" + "=" * 80 + "\nMSG: builtin_interfaces/Time\n" + MSGDEFS["builtin_interfaces/Time"])
    assert MSGDEFS["sensor_msgs/LaserScan"].split()[::2][1:] == ["float32"] * 7 + ["float32[]"] * 2
    assert [line[5:] for line in msgdef("tf2_msgs/msg/TFMessage").splitlines() if line.startswith("MSG: ")] == [
        "geometry_msgs/TransformStamped", "geometry_msgs/Transform", "geometry_msgs/Quaternion",
        "geometry_msgs/Vector3", "std_msgs/Header", "builtin_interfaces/Time"]


def test_record_formats_and_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert record_formats(True) == ("foxglove",) and record_formats(False) == () and record_formats(None) == ()
    assert record_formats("ros2") == ("ros2",) and record_formats("foxglove,ros2,ros2") == ("foxglove", "ros2")
    assert record_formats(("ros2",)) == ("ros2",)
    kinds = [type(f) for f in output_features(trace=False, record="foxglove,ros2")]
    assert FoxgloveRecorder in kinds and Ros2Recorder in kinds
    assert main([str(TINY), "--record", "ros3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown format 'ros3'" in err and "foxglove, ros2" in err
    assert main([str(TINY), "--record", "foxglove,"]) == 2
    assert "unknown format ''" in capsys.readouterr().err


def test_record_both_formats_through_execute(tmp_path: Path) -> None:
    from sim.core.virtual import VirtualClock
    from sim.scenario.load import load_scenario
    from sim.session import execute
    from tests.scripted_run import finish_within

    sc = load_scenario(TINY, {"run.clock": "virtual", "run.duration": 0.3})
    result = execute(sc, tmp_path, clock=VirtualClock(), trace=False, record=("foxglove", "ros2"), plot=False,
                     present=finish_within(120), started_at="test")
    assert (tmp_path / "recording.mcap").is_file() and (tmp_path / FILENAME).is_file()
    assert result.report["recording"]["messages"] > 0 and result.report["recording_ros2"]["messages"] > 0


def test_a_bare_record_before_the_scenario_is_foxglove(tmp_path: Path) -> None:
    """``run.py --record SCENARIO``: the scenario is not taken for a format."""
    status = main(["--record", str(TINY), "--headless", "--clock", "virtual", "--duration", "0.2", "--no-plot",
                   "--no-trace", "--out", str(tmp_path)])
    assert status == 0
    [folder] = tmp_path.iterdir()
    assert (folder / "recording.mcap").is_file() and not (folder / FILENAME).exists()


@pytest.mark.parametrize("room", [2000, 20_000])  # full while the map is written / at close
def test_a_full_disk_removes_the_recording_and_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        room: int) -> None:
    import sim.features.record_ros2
    from tests.test_files import _full_disk, _only, _says_full

    _full_disk(monkeypatch, sim.features.record_ros2, room=room)
    run, report = virtual_run(tmp_path, [Ros2Recorder()], {"run.duration": 1.0})
    (err,) = run.output_errors
    _says_full(err, FILENAME)
    assert "recording_ros2" not in report and FILENAME not in _only(tmp_path)
    assert not [n for n in _only(tmp_path) if n.endswith(".tmp")]


def test_an_encoder_that_does_not_match_its_definition_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    check_encoders(["geometry_msgs/msg/Twist", "nav_msgs/msg/OccupancyGrid", "fleet_timing_msgs/msg/Cycle"])
    monkeypatch.setitem(MSGDEFS, "geometry_msgs/Twist", "Vector3 linear\nVector3 angular\nstring frame\n")
    with pytest.raises(struct.error):  # the decoder runs out of bytes
        check_encoders(["geometry_msgs/msg/Twist"])


def test_a_lidar_mounted_off_base_link_scans_in_its_own_frame_on_tf_static(tmp_path: Path) -> None:
    """scenarios/shapes.yaml: tug-1's lidar 1.5 m ahead of base_link, amr-1's 0.45 m, amr-2's at base_link."""
    virtual_run(tmp_path, [Ros2Recorder()], {"run.duration": 0.3},
                scenario=Path(__file__).resolve().parents[1] / "scenarios" / "shapes.yaml")
    by_topic, _, _ = read(tmp_path / FILENAME)
    assert by_topic["/tug_1/lidar"][0][1].header.frame_id == "tug_1/lidar"
    assert by_topic["/amr_2/lidar"][0][1].header.frame_id == "amr_2/base_link"
    [(_, static)] = by_topic["/tf_static"]
    mounts = {(t.header.frame_id, t.child_frame_id): t.transform.translation.x for t in static.transforms
              if t.header.frame_id != "map"}  # shapes' robots have no odometry: map -> odom is static too
    assert mounts == {("tug_1/base_link", "tug_1/lidar"): 1.5, ("amr_1/base_link", "amr_1/lidar"): 0.45}
