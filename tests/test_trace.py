"""trace.json: valid Trace Event Format, one named track per thread, slices equal to cycles.csv rows,
flows from each used reading to its cycle, counter tracks for misses and queue depth, gzip when large.

Runs use virtual time, so every figure is the same on every host.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sim.features.trace import TraceWriter
from sim.features.tracefmt import CONFIG, CYCLE, PUBLISH, Formatter, read_trace
from tests.scripted_run import SLOW, virtual_run

SCOPES = {"g", "p", "t"}
METADATA = {"process_name", "process_sort_index", "thread_name", "thread_sort_index"}


def check_event(e: dict[str, Any]) -> None:
    """The fields the Trace Event Format requires for each phase used (and Perfetto's JSON importer reads)."""
    assert isinstance(e.get("name"), str) and e["name"], e
    assert e.get("ph") in {"X", "i", "M", "C"}, e
    assert isinstance(e.get("pid"), int) and isinstance(e.get("tid"), int), e
    assert isinstance(e.get("ts"), (int, float)) and math.isfinite(e["ts"]) and e["ts"] >= 0, e
    if e["ph"] == "X":
        assert isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, e
    if e["ph"] == "i":
        assert e.get("s") in SCOPES, e
    if e["ph"] == "M":
        assert e["name"] in METADATA, e
        assert "name" in e["args"] or "sort_index" in e["args"], e
    if e["ph"] == "C":  # one counter track per arg: every value a finite number
        assert isinstance(e.get("args"), dict) and e["args"], e
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in e["args"].values()), e
    if "bind_id" in e:  # v2 flows: only on complete events (Perfetto binds them to that slice), one direction
        assert e["ph"] == "X" and isinstance(e["bind_id"], int) and 0 <= e["bind_id"] < 2**53, e
        assert (e.get("flow_out") is True) != (e.get("flow_in") is True), e
    assert "id" not in e and e["ph"] not in {"s", "t", "f"}, e  # no v1 flows (their binding is by position)


def check_flows(events: list[dict[str, Any]]) -> dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Every flow: one start (a publish on a producer track) before one end (a ``use`` slice on a
    controller track, inside the cycle that used the reading); returns bind_id -> (start, end, cycle)."""
    starts = {e["bind_id"]: e for e in events if e.get("flow_out")}
    ends = {e["bind_id"]: e for e in events if e.get("flow_in")}
    assert len(starts) == sum(1 for e in events if e.get("flow_out"))  # ids are unique
    assert len(ends) == sum(1 for e in events if e.get("flow_in"))
    assert starts.keys() == ends.keys()
    cycles: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in sorted((e for e in events if e.get("cat") == "cycle"), key=lambda e: e["ts"]):
        cycles.setdefault((e["pid"], e["tid"]), []).append(e)
    out = {}
    for flow, s in starts.items():
        f = ends[flow]
        label = s["args"]["sensor"]
        assert s["name"] == f"publish {label}" and f["name"] == f"use {label}"
        assert s["ph"] == f["ph"] == "X" and s["dur"] == f["dur"] == 0
        assert s["args"]["seq"] == f["args"]["seq"]
        assert s["ts"] <= f["ts"], (s, f)  # published before it was used
        track = cycles[(f["pid"], f["tid"])]  # lands on an existing cycle slice of its track: the one that used it
        i = bisect.bisect_right([c["ts"] for c in track], f["ts"]) - 1
        c = track[i]
        assert c["ts"] <= f["ts"] <= c["ts"] + c["dur"] + 1e-3, (c, f)
        assert c["args"]["robot"] == label.split("/")[0]
        assert f["args"]["age"] == pytest.approx((f["ts"] - s["args"]["sample_time"] * 1e6) / 1e6, abs=1e-6)
        out[flow] = (s, f, c)
    return out


def counters(events: list[dict[str, Any]], prefix: str) -> dict[str, list[tuple[float, float]]]:
    """Counter samples by track name (``name`` + arg), in time order."""
    out: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e["ph"] == "C" and e["name"].startswith(prefix):
            for key, value in e["args"].items():
                out.setdefault(f"{e['name']} {key}", []).append((e["ts"], value))
    return {k: sorted(v) for k, v in out.items()}


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
    assert len(check_flows(events)) == report["trace"]["flows"] > 0
    assert report["trace"]["file"] == "trace.json" and not report["trace"]["gzip"]  # small: plain JSON


def test_one_named_track_per_thread(slow_run: Any) -> None:
    out, run, _ = slow_run
    events = load(out)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert sorted(names.values()) == sorted(f"{t.name} [{t.role}]" for t in run.threads)
    assert len(set(names)) == len(names)  # distinct tids
    tid_of = {v.split(" [")[0]: k for k, v in names.items()}
    for e in events:
        if e.get("cat") == "sensor" or e["name"].startswith("queue "):
            kind = (e["args"].get("sensor") or e["name"].split()[1]).split("/")[1]
            assert e["tid"] == tid_of[f"sensor:{kind}"], e  # per_kind producer threads
        elif e["ph"] in {"X", "C"}:  # cycles, their phases and used inputs; the misses counter
            assert e["tid"] == tid_of["controller:r1"], e


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
    marks = [e for e in events if e.get("cat") == "miss"]
    assert len(marks) == misses
    by_k = {int(r["k"]): r for r in rows}
    for m in marks:  # named so that Perfetto (which ignores cname) shows and finds them: "MISS r1 k=12 cause"
        r = by_k[m["args"]["k"]]
        assert m["name"] == f"MISS r1 k={r['k']} {r['cause']}"
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


def used_readings(out: Path) -> dict[tuple[str, float], tuple[str, int]]:
    """From cycles.csv: each reading a cycle used (sensor label, sample time in µs) -> the first cycle (robot, k)."""
    first: dict[tuple[str, float], tuple[str, int]] = {}
    with open(out / "cycles.csv", newline="") as f:
        for row in csv.DictReader(f):
            inputs = float(row["inputs_time"])
            for part in filter(None, row["input_ages"].split(";")):
                name, age = part.split("=")
                key = (f"{row['robot']}/{name}", round((inputs - float(age)) * 1e6))
                first.setdefault(key, (row["robot"], int(row["k"])))
    return first


def test_a_flow_goes_from_each_used_reading_to_the_first_cycle_that_used_it(slow_run: Any) -> None:
    out, _, report = slow_run
    flows = check_flows(load(out))
    drawn = {(s["args"]["sensor"], round(s["args"]["sample_time"] * 1e6)): (c["args"]["robot"], c["args"]["k"])
             for s, _, c in flows.values()}
    assert drawn == used_readings(out)  # every reading used, exactly once, to the cycle that took it
    assert len(drawn) == report["trace"]["flows"]
    assert {label for label, _ in drawn} == {"r1/lidar", "r1/odometry", "r1/imu", "r1/bumper"}


def test_thinned_publishes_a_cycle_used_are_kept_for_their_flow(tmp_path: Path) -> None:
    _, report = virtual_run(tmp_path, [TraceWriter(instants_per_sensor_second=20)], {"run.duration": 1.0})
    events = load(tmp_path)
    flows = check_flows(events)
    assert {(s["args"]["sensor"], round(s["args"]["sample_time"] * 1e6)) for s, _, _ in flows.values()} == set(
        used_readings(tmp_path))
    publishes = Counter(e["args"]["sensor"] for e in events if e["name"].startswith("publish "))
    imu = next(s for s in report["sensors"] if s["kind"] == "imu")
    # every 10th imu publish by the stride, and the ones the 20 Hz controller used (every 5th, half of them new)
    assert math.ceil(imu["published"] / 10) < publishes["r1/imu"] < imu["published"]
    t = report["trace"]
    assert t["instants_left_out_by_stride"] == sum(  # the kept-for-a-flow ones are not counted as left out
        s["produced"] + s["published"] for s in report["sensors"]) - t["sensor_instants"]


def test_misses_counter_per_robot_steps_at_each_deadline(slow_run: Any) -> None:
    out, _, report = slow_run
    events = load(out)
    tracks = counters(events, "r1 deadline misses")
    samples = tracks["r1 deadline misses total"]
    assert samples[0] == (0.0, 0)
    values = [v for _, v in samples]
    assert values == list(range(len(values)))  # cumulative: +1 per miss, in time order
    assert values[-1] == report["summary"]["misses"] > 0
    marks = sorted(e["ts"] for e in events if e.get("cat") == "miss")
    assert [ts for ts, _ in samples[1:]] == marks  # each step at its miss's deadline


def test_queue_depth_counters_give_the_peak_per_window(slow_run: Any) -> None:
    out, _, report = slow_run
    tracks = counters(load(out), "queue ")
    queues = {f"{s['robot']}/{s['name']}": s["queue"] for s in report["sensors"]}
    assert set(tracks) == {f"queue {label} depth" for label in queues}
    for name, samples in tracks.items():
        label = name.split()[1]
        values = [v for _, v in samples]
        assert all(0 <= v <= queues[label]["capacity"] for v in values), name
        assert max(values) == queues[label]["peak_depth"], name  # the channel's own peak is in the track
        assert all(a != b for a, b in itertools.pairwise(values)), name  # written on change only
        assert all(ts % 100_000 == pytest.approx(0, abs=1e-3) or ts % 100_000 == pytest.approx(100_000, abs=1e-3)
                   for ts, _ in samples)  # at window starts (0.1 s)
    # the 100 Hz imu waits for the slow cycles (up to 0.2 s): its queue fills up (8), then drains
    imu = [v for _, v in tracks["queue r1/imu depth"]]
    assert queues["r1/imu"]["dropped"] > 0 and 8 in imu and imu.index(8) < len(imu) - 1


def _publish(t: float, depth: int, seq: int = 0) -> tuple[Any, ...]:
    return (PUBLISH, "r/s", seq, t, 2, t, True, depth)


def test_queue_depth_window_peaks_and_zero_after_an_empty_window() -> None:
    out = io.StringIO()
    fmt = Formatter(out, 100)
    fmt.write([_publish(0.01, 1), _publish(0.05, 3), _publish(0.08, 2),  # window 0: peak 3
               _publish(0.12, 3),  # window 1: peak 3 again: nothing written
               _publish(0.35, 1)])  # windows 2 empty: 0 at 0.2; window 3: 1
    fmt.finish()
    events = json.loads("[" + out.getvalue() + "]")
    depth = [(e["ts"], e["args"]["depth"]) for e in events if e["ph"] == "C"]
    assert depth == [(0.0, 3), (200_000.0, 0), (300_000.0, 1)]
    assert all(e["name"] == "queue r/s" for e in events if e["ph"] == "C")


def _cycle(k: int, inputs: float, ages: tuple[tuple[str, float], ...], miss: bool = False) -> tuple[Any, ...]:
    release = 0.05 * k
    return (CYCLE, 5, "r", k, release, release, inputs, inputs + 0.01, 0.05, 0.0, miss, False, False,
            "long_compute" if miss else None, 1, ages)


def _formatted(batch: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = io.StringIO()
    fmt = Formatter(out, 1000)
    fmt.write(batch)
    fmt.finish()
    events: list[dict[str, Any]] = json.loads("[" + out.getvalue() + "]")
    return events


def test_a_flow_is_drawn_when_the_publish_hook_comes_after_the_cycle_that_used_it() -> None:
    """Real clock: the producer's hook runs just after the put; the controller may take the reading and
    finish its cycle first. The use waits for its publish; the next cycle reusing it draws nothing."""
    reading = (PUBLISH, "r/s", 3, 0.06, 2, 0.05, True, 1)
    late = _formatted([(CONFIG, {"labels": ["r/s"]}), _cycle(2, 0.1, (("s", 0.05),)), reading,
                       _cycle(3, 0.15, (("s", 0.1),))])
    early = _formatted([(CONFIG, {"labels": ["r/s"]}), reading, _cycle(2, 0.1, (("s", 0.05),)),
                        _cycle(3, 0.15, (("s", 0.1),))])
    for events in (late, early):
        flows = check_flows(events)
        assert [(s["args"]["seq"], c["args"]["k"]) for s, _, c in flows.values()] == [(3, 2)]
        assert list(flows) == [3]  # bind_id: 2^32 * sensor index 0 + seq
    assert sorted(map(str, late)) == sorted(map(str, early))  # the same events whatever the arrival order


def test_misses_counter_from_formatted_cycles() -> None:
    events = _formatted([_cycle(0, 0.0, ()), _cycle(1, 0.05, (), miss=True), _cycle(2, 0.1, ()),
                         _cycle(3, 0.15, (), miss=True)])
    assert counters(events, "r deadline")["r deadline misses total"] == [(0.0, 0), (100_000.0, 1), (200_000.0, 2)]
    assert [e["name"] for e in events if e.get("cat") == "miss"] == ["MISS r k=1 long_compute",
                                                                     "MISS r k=3 long_compute"]


def test_a_large_trace_is_written_gzipped_and_named_so(tmp_path: Path) -> None:
    _, report = virtual_run(tmp_path, [TraceWriter(gzip_above=10_000)], {"run.duration": 0.5})
    assert not (tmp_path / "trace.json").exists() and not list(tmp_path.glob(".*"))
    data = (tmp_path / "trace.json.gz").read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip, no time in the header: same run, same bytes
    events = read_trace(tmp_path)
    assert events == read_trace(tmp_path / "trace.json.gz")
    for e in events:
        check_event(e)
    check_flows(events)
    t = report["trace"]
    assert t["file"] == "trace.json.gz" and t["gzip"] and t["events"] == len(events)
    text = io.StringIO()
    TraceWriter.print_section(t, text)
    assert "Trace: trace.json.gz (" in text.getvalue()


def test_read_trace_reads_a_plain_folder_too(slow_run: Any) -> None:
    out, _, _ = slow_run
    assert read_trace(out) == load(out)
    with pytest.raises(FileNotFoundError):
        read_trace(out / "nowhere")


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


def test_a_full_disk_while_switching_to_gzip_leaves_neither_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from sim.features import tracefmt

    def full(path: str) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tracefmt, "_create", full)
    path = tmp_path / ".trace.json.x.tmp"
    path.write_text("")
    batch = [(CONFIG, {"gzip_above": 100})] + [(tracefmt.INSTANT, {"name": "e", "ph": "i", "ts": i, "pid": 1,
                                                                   "tid": 1, "s": "t"}) for i in range(50)]
    source = io.BytesIO(tracefmt.frame(batch) * 3 + tracefmt.HEADER.pack(0) + b"never read")
    counts, error = tracefmt.serve(source, str(path), 100)
    assert counts is None and error == "[Errno 28] No space left on device"
    assert source.read() == b"never read"  # read to the end message all the same
    assert list(tmp_path.iterdir()) == []
