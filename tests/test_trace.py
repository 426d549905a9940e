"""trace.json: valid Trace Event Format, one named track per thread, slices equal to cycles.csv rows.

Runs use virtual time, so every figure is the same on every host.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sim.features.trace import TraceWriter
from tests.scripted_run import SLOW, virtual_run

SCOPES = {"g", "p", "t"}


def check_event(e: dict[str, Any]) -> None:
    """The fields the Trace Event Format requires for each phase used."""
    assert isinstance(e.get("name"), str) and e["name"], e
    assert e.get("ph") in {"X", "i", "M"}, e
    assert isinstance(e.get("pid"), int) and isinstance(e.get("tid"), int), e
    assert isinstance(e.get("ts"), (int, float)) and math.isfinite(e["ts"]) and e["ts"] >= 0, e
    if e["ph"] == "X":
        assert isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, e
    if e["ph"] == "i":
        assert e.get("s") in SCOPES, e
    if e["ph"] == "M":
        assert e["name"] in {"process_name", "thread_name", "thread_sort_index"}, e
        assert "name" in e["args"] or "sort_index" in e["args"], e


def load(out: Path) -> list[dict[str, Any]]:
    text = (out / "trace.json").read_text()
    assert text.startswith("[\n") and text.endswith("\n]\n")  # a properly closed JSON array
    events = json.loads(text)
    assert not list(out.glob(".*.tmp"))  # streamed under a temp name, renamed at close
    return events


@pytest.fixture(scope="module")
def slow_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Any]]:
    out = tmp_path_factory.mktemp("trace")
    run, report = virtual_run(out, [TraceWriter()], SLOW)
    return out, run, report


def test_every_event_has_the_fields_its_phase_requires(slow_run: Any) -> None:
    out, _, report = slow_run
    events = load(out)
    for e in events:
        check_event(e)
    assert report["trace"]["events"] == len(events) and not report["trace"]["thinned"]


def test_one_named_track_per_thread(slow_run: Any) -> None:
    out, run, _ = slow_run
    events = load(out)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert sorted(names.values()) == sorted(f"{t.name} [{t.role}]" for t in run.threads)
    assert len(set(names)) == len(names)  # distinct tids
    tid_of = {v.split(" [")[0]: k for k, v in names.items()}
    for e in events:
        if e["ph"] == "X":
            assert e["tid"] == tid_of[f"controller:{e['args'].get('robot', 'r1')}"]
        elif e.get("cat") == "sensor":
            kind = e["args"]["sensor"].split("/")[1]
            assert e["tid"] == tid_of[f"sensor:{kind}"]  # per_kind producer threads


def test_cycle_slices_match_cycles_csv(slow_run: Any) -> None:
    out, _, report = slow_run
    events = load(out)
    with open(out / "cycles.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    slices = {e["args"]["k"]: e for e in events if e["ph"] == "X" and e["cat"] == "cycle"}
    assert len(slices) == len(rows) == report["summary"]["cycles"]
    misses = 0
    for row in rows:
        e = slices[int(row["k"])]
        miss = row["miss"] == "1"
        misses += miss
        assert e["name"] == ("cycle MISS" if miss else "cycle") and e["args"]["miss"] is miss
        assert ("cname" in e) is miss
        assert e["ts"] == pytest.approx(float(row["start_time"]) * 1e6, abs=1.0)  # csv keeps µs
        assert e["dur"] == pytest.approx((float(row["finish_time"]) - float(row["start_time"])) * 1e6, abs=1.0)
        assert e["args"]["release"] == pytest.approx(float(row["release_time"]), abs=1e-6)
        assert e["args"]["response_time"] == pytest.approx(float(row["response_time"]), abs=1e-6)
        assert e["args"]["cause"] == (row["cause"] or None)
        assert e["args"]["safety_stop"] is (row["safety_stop"] == "1")
    assert 0 < misses < len(rows) and misses == report["summary"]["misses"]
    marks = [e for e in events if e["name"] == "deadline miss"]
    assert len(marks) == misses
    by_k = {int(r["k"]): r for r in rows}
    for m in marks:
        r = by_k[m["args"]["k"]]
        assert m["ts"] == pytest.approx((float(r["release_time"]) + float(r["deadline"])) * 1e6, abs=1.0)


def test_phases_nest_inside_their_cycle(slow_run: Any) -> None:
    events = load(slow_run[0])
    cycles = {e["args"]["k"]: e for e in events if e["ph"] == "X" and e["cat"] == "cycle"}
    phases = [e for e in events if e["ph"] == "X" and e["cat"] == "phase"]
    assert {e["name"] for e in phases} == {"compute"}  # tiny waits for nothing
    for p in phases:
        c = cycles[p["args"]["k"]]
        assert c["ts"] <= p["ts"] and p["ts"] + p["dur"] <= c["ts"] + c["dur"] + 1e-6


def test_sensor_instants_count_every_sample_and_publish(slow_run: Any) -> None:
    out, _, report = slow_run
    events = load(out)
    counts = Counter((e["name"].split()[0], e["args"]["sensor"]) for e in events if e.get("cat") == "sensor")
    for s in report["sensors"]:
        label = f"{s['robot']}/{s['name']}"
        assert counts[("sample", label)] == s["produced"]
        assert counts[("publish", label)] == s["published"]


def test_long_runs_are_thinned_per_sensor_and_the_report_says_so(tmp_path: Path) -> None:
    _, report = virtual_run(tmp_path, [TraceWriter(instants_per_sensor_second=20)], {"run.duration": 1.0})
    t = report["trace"]
    assert t["thinned"] and t["strides"] == {"r1/odometry": 5, "r1/imu": 10, "r1/bumper": 2}
    events = load(tmp_path)
    counts = Counter((e["name"].split()[0], e["args"]["sensor"]) for e in events if e.get("cat") == "sensor")
    imu = next(s for s in report["sensors"] if s["kind"] == "imu")
    assert counts[("sample", "r1/imu")] == math.ceil(imu["produced"] / 10)
    assert counts[("sample", "r1/lidar")] == next(s for s in report["sensors"] if s["kind"] == "lidar")["produced"]
    assert sum(1 for e in events if e.get("cat") == "cycle") == report["summary"]["cycles"]  # cycles all kept
    assert t["instants_left_out_by_stride"] > 0 and t["instants_left_out_by_cap"] == 0


def test_overall_cap_keeps_every_cycle(tmp_path: Path) -> None:
    _, report = virtual_run(tmp_path, [TraceWriter(max_instants=50)], {"run.duration": 1.0})
    t = report["trace"]
    events = load(tmp_path)
    assert t["sensor_instants"] == 50 == sum(1 for e in events if e.get("cat") == "sensor")
    assert t["thinned"] and t["instants_left_out_by_cap"] > 0
    assert sum(1 for e in events if e.get("cat") == "cycle") == report["summary"]["cycles"] == 20


class _KilledFormatter(TraceWriter):
    """The formatter process dies as the run starts (an OOM kill, say)."""

    def on_start(self, run: Any) -> None:
        super().on_start(run)
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(5)


def test_a_dead_formatter_is_reported_and_leaves_no_file(tmp_path: Path) -> None:
    run, _ = virtual_run(tmp_path, [_KilledFormatter()], {"run.duration": 1.0})
    failures = [f for f in run.failures if f.thread == "listener:_KilledFormatter"]
    assert len(failures) == 1 and "trace.json: not written" in failures[0].error
    assert "exited with code -9" in failures[0].error
    assert not (tmp_path / "trace.json").exists() and not list(tmp_path.glob(".*.tmp"))
