"""recording.mcap round trip: channels, schemas, message counts equal to the report's, time order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader

from sim.features.record import McapRecorder
from tests.scripted_run import ROOT, SLOW, TINY, virtual_run

NS = 1_000_000_000


def read(path: Path) -> tuple[dict[str, list[tuple[int, int, dict[str, Any]]]], dict[str, tuple[str, str, str]]]:
    """Messages per topic in file order as (log_time, publish_time, decoded), and topic -> encodings."""
    by_topic: dict[str, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    encodings: dict[str, tuple[str, str, str]] = {}
    with open(path, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages(log_time_order=False):
            assert schema is not None
            by_topic[channel.topic].append((message.log_time, message.publish_time, json.loads(message.data)))
            encodings[channel.topic] = (channel.message_encoding, schema.encoding, schema.name)
    return by_topic, encodings


def check_counts_and_order(by_topic: dict[str, list[Any]], report: dict[str, Any], end_s: float | None = None) -> None:
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
        limit = last_finish if topic == "/cycles" or topic.endswith("/cmd_vel") else end
        assert all(0 <= t <= limit for t in times), topic
        assert all(log == pub for log, pub, _ in msgs), topic


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("mcap")
    _, report = virtual_run(out, [McapRecorder()], SLOW)
    return out, report


def test_virtual_run_round_trip(recorded: Any) -> None:
    out, report = recorded
    by_topic, enc = read(out / "recording.mcap")
    check_counts_and_order(by_topic, report)
    assert not list(out.glob(".*.tmp"))
    assert {e[:2] for e in enc.values()} == {("json", "jsonschema")}
    assert enc["/r1/lidar"][2] == "foxglove.LaserScan" and enc["/r1/pose_true"][2] == "foxglove.PoseInFrame"
    assert enc["/tf"][2] == "foxglove.FrameTransforms" and enc["/cycles"][2] == "fleet.Cycle"


def test_messages_carry_their_reading(recorded: Any) -> None:
    out, report = recorded
    by_topic, _ = read(out / "recording.mcap")
    log, _, scan = by_topic["/r1/lidar"][3]
    assert scan["frame_id"] == "r1/base_link" and len(scan["ranges"]) == 90  # tiny: beams 90
    assert scan["start_angle"] < scan["end_angle"]
    assert all(r is None or r > 0 for r in scan["ranges"])
    assert log >= scan["timestamp"]["sec"] * NS + scan["timestamp"]["nsec"]  # published after sampling
    odo = by_topic["/r1/odometry"][10][2]
    assert set(odo) >= {"timestamp", "seq", "sample_time", "publish_time", "x", "y", "theta", "v", "w"}
    assert odo["seq"] == 10
    cycles = [m for _, _, m in by_topic["/cycles"]]
    assert sum(m["miss"] for m in cycles) == report["summary"]["misses"] > 0
    assert {m["cause"] for m in cycles if m["miss"]} <= {"long_compute"}
    cmd = by_topic["/r1/cmd_vel"][5][2]
    assert {i["sensor"] for i in cmd["inputs"]} <= {"lidar", "odometry", "imu", "bumper"}


def test_true_pose_is_downsampled_to_20_hz(recorded: Any) -> None:
    out, _ = recorded
    by_topic, _ = read(out / "recording.mcap")
    times = [t / NS for t, _, _ in by_topic["/r1/pose_true"]]
    assert times[0] == pytest.approx(0.01) and times[1:4] == pytest.approx([0.05, 0.10, 0.15])
    assert len(times) == 41 and len(by_topic["/tf"]) == 41
    tf = by_topic["/tf"][0][2]["transforms"][0]
    assert (tf["parent_frame_id"], tf["child_frame_id"]) == ("map", "r1/base_link")


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


def test_cycles_of_many_robots_are_merged_in_finish_order(tmp_path: Path) -> None:
    """Four controllers: /cycles interleaves them in finish-time order, and every cycle is written."""
    misses = ROOT / "scenarios" / "misses.yaml"
    _, report = virtual_run(tmp_path, [McapRecorder()], {"run.duration": 6.0}, scenario=misses)
    by_topic, _ = read(tmp_path / "recording.mcap")
    check_counts_and_order(by_topic, report)
    robots = [m["robot"] for _, _, m in by_topic["/cycles"]]
    assert set(robots) == {"amr-1", "amr-2", "amr-3", "amr-4"}
    assert sum(m["miss"] for _, _, m in by_topic["/cycles"]) == report["summary"]["misses"] > 0
