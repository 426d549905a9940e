"""The benchmark suite's measurement functions on tiny configurations: structure, never speed.

Speed is measured only by ``python -m bench``; here every figure just has to be
there, be a number of the right kind, and the table and JSON have to hold it.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import pytest

from bench import capacity, hosts, latency, throughput, transport
from bench.__main__ import ITEMS, PARAMS, main, print_table, run_items, table
from bench.profiles import layout, stress_profile, warehouse_dict, warehouse_profile


def finite(x: object) -> bool:
    return isinstance(x, float | int) and math.isfinite(x)


def test_generated_warehouse_profile_is_a_valid_scenario() -> None:
    s = warehouse_profile(9, duration=2.0, workers=1)
    assert len(s.robots) == 9 and s.physics.workers == 1 and s.run.duration == 2.0
    kinds = [x.type for x in s.robots[0].sensors]
    assert kinds == ["lidar", "odometry", "imu", "bumper"]
    lidar = s.robots[0].sensors[0]
    assert (lidar.rate_hz, lidar.params.beams, lidar.params.range_max) == (10, 360, 10.0)
    c = s.robots[0].controller
    assert (c.period, c.deadline) == (0.05, 0.05)
    assert len({r.controller.phase for r in s.robots}) > 1  # staggered wake-ups
    width, height, aisles = layout(9)
    assert s.world.size == (width, height) and aisles == 3
    hand = warehouse_dict(2, handoff=True)["robots"][1]
    assert hand["controller"]["wait_for"] == ["bumper"]
    assert hand["sensors"][3]["latency"]["fixed"] == pytest.approx(hand["controller"]["phase"] + 0.001)
    assert stress_profile(3).robots[0].sensors[0].params.beams == 720


@pytest.mark.slow
def test_capacity_trial_and_search_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    t = capacity.trial(2, workers=0, seconds=0.5)
    assert set(t) >= {"robots", "workers", "passed", "rtf", "miss_rate", "worst_sensor_rate", "end_reason"}
    assert t["end_reason"] == "completed" and finite(t["rtf"]) and 0 <= t["miss_rate"] <= 1

    def fake(n: int, workers: int, seconds: float, hosts: str | int = "shared") -> dict:  # capacity 37: the search
        return {"robots": n, "workers": workers, "hosts": hosts, "passed": n <= 37, "rtf": 1.0, "miss_rate": 0.0,
                "worst_sensor_rate": 1.0}

    monkeypatch.setattr(capacity, "trial", fake)
    out = capacity.search(0, 1.0, start=8, resolution=0.01, log=lambda _: None)
    assert out["capacity"] == 37 and out["first_failure"] == 38
    assert [t["robots"] for t in out["trials"]][:4] == [8, 16, 32, 64]
    assert capacity.search(0, 1.0, start=8, limit=20, log=lambda _: None)["bounded_by_limit"]
    flaky = iter([False, True] * 10)  # every size fails once, then passes: retries=1 finds the limit
    monkeypatch.setattr(capacity, "trial", lambda n, w, s, h: {**fake(n, w, s, h), "passed": n <= 37 and next(flaky)})
    again = capacity.search(0, 1.0, start=8, resolution=0.01, log=lambda _: None, retries=1)
    assert again["capacity"] == 37 and len(again["trials"]) > len(out["trials"])
    monkeypatch.setattr(capacity, "trial", fake)
    per = capacity.search(0, 1.0, start=8, resolution=0.01, log=lambda _: None, hosts="per_robot")
    assert per["hosts"] == "per_robot" and {t["hosts"] for t in per["trials"]} == {"per_robot"}


@pytest.mark.slow
def test_latency_measurement_structure() -> None:
    out = latency.measure_latency(seconds=1.0, baseline_seconds=0.3, robots=2)
    for key in ("bare_queue_idle", "bare_wakeup_idle", "bare_queue_loaded", "bare_wakeup_loaded",
                "sim_handoff", "sim_release_jitter"):
        assert out[key]["count"] > 0, key
        assert 0 <= out[key]["p50"] <= out[key]["p99"] <= out[key]["max"]
    assert out["end_reason"] == "completed" and finite(out["handoff_p99_ratio"])


@pytest.mark.slow
def test_throughput_and_virtual_speed_structure() -> None:
    out = throughput.measure_workers_speedup(seconds=0.2, robots=3, repeats=1, workers=1)
    assert out["robots"] > 0 and finite(out["inline"]) and finite(out["pooled"]) and out["speedup"] > 0
    v = throughput.measure_virtual_speed(seconds=0.5)
    assert v["speed_factor"] > 0 and v["speed_factor_no_trace"] > 0 and v["scenario"].endswith("warehouse.yaml")


@pytest.mark.slow
def test_run_items_table_and_json(tmp_path: Path) -> None:
    assert set(PARAMS) == set(ITEMS)
    results = run_items(["raycast", "view"], quick=True, log=lambda _: None,
                        params={"raycast": {"seconds": 0.02, "repeats": 1}, "view": {"seconds": 0.3}})
    rc = results["items"]["raycast"]
    assert all(rc[m] > 0 for m in ("plain", "culled", "python"))
    view = results["items"]["view"]
    assert "skipped" in view or view["fps"] > 0
    rows = table(results)
    assert any(r[0] == "ray cast culled" for r in rows) and all(len(r) == 4 for r in rows)
    buf = io.StringIO()
    print_table(results, buf)
    assert "| ray cast culled |" in buf.getvalue() and results["machine"]["cores"]
    assert json.loads(json.dumps(results, default=str))["quick"] is True


def test_gridcast_item_on_a_tiny_building() -> None:
    """The grid-vs-segments ray-cast item (issue 18) on a 20 m floor: every figure there, rows in the table."""
    results = run_items(["gridcast"], quick=True, log=lambda _: None,
                        params={"gridcast": {"size": 20.0, "resolution": 0.1, "robots": 3, "beams": 24,
                                             "repeats": 2}})
    g = results["items"]["gridcast"]
    assert g["cells"] == [200, 200] and g["segments"] > 4 and 0 < g["occupied_fraction"] < 0.5
    cases = {"segments_numpy", "grid_numpy", "grid_with_robots"}
    assert cases <= set(g["tick_seconds"]) and set(g["tick_seconds"]) == set(g["margin"])
    assert all(finite(g[k][c]) and g[k][c] > 0 for k in ("tick_seconds", "tick_cpu_seconds", "margin") for c in cases)
    assert g["ratio_to_segments"][g["baseline"]] == 1.0
    assert all(len(t["wall"]) == 2 and len(t["cpu"]) == 2 for t in g["ticks"].values())
    # The same layout as cells reads the segment world's ranges to within a cell or so (a wall on a cell
    # boundary fills the cell beyond it: one cell along the normal, 1/cos of that along an oblique beam).
    assert g["median_abs_difference_m"] is not None and g["median_abs_difference_m"] <= 2 * 0.1
    rows = table(results)
    assert rows[0][0] == "ray cast scene (gridcast)" and "200 x 200 cells" in rows[0][1]
    assert any(r[0] == "ray cast per 10 Hz tick, grid, numpy" for r in rows) and all(len(r) == 4 for r in rows)
    buf = io.StringIO()
    print_table(results, buf)
    assert all(line.count("|") == 5 for line in buf.getvalue().splitlines() if line.startswith("| ray cast"))


def test_building_floor_is_closed_rooms_with_doors() -> None:
    """The bench's floor: walls inside the map, rooms reachable (doors), clutter as obstacles."""
    from bench.gridcast_bench import building

    floor = building(40.0, seed=3)
    assert floor.width == floor.height == 40.0 and len(floor.obstacles) == 4 * 4 * 6
    assert (floor.walls >= 0.0).all() and (floor.walls <= 40.0).all()
    assert floor.segments.shape[0] == floor.walls.shape[0] + 4 * len(floor.obstacles)


def test_calibrate_prints_this_machines_time_over_the_reference() -> None:
    from bench.calibrate import REFERENCE_MS, numpy_part, python_part

    # the workload is fixed: a change would silently change what REFERENCE_MS stands for
    assert python_part() == 1875036 and numpy_part() == pytest.approx(5505.1814693625065, rel=1e-9)
    results = run_items(["calibrate"], quick=True, log=lambda _: None, params={"calibrate": {"repeats": 1}})
    c = results["items"]["calibrate"]
    assert all(finite(c["ms"][p]) and c["ms"][p] > 0 for p in ("python", "numpy"))
    assert c["factor"] == pytest.approx(sum(c["ms"].values()) / sum(REFERENCE_MS.values()))
    assert c["factors"]["numpy"] == pytest.approx(c["ms"]["numpy"] / REFERENCE_MS["numpy"])
    (row,) = (r for r in table(results) if r[0] == "machine factor (calibrate)")
    assert row[1].startswith(f"x{c['factor']:.2f} ") and "factor(target) / factor(recording machine)" in row[3]


def test_command_line_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PARAMS, "raycast", ({"seconds": 0.02, "repeats": 1}, {"seconds": 0.02, "repeats": 1}))
    out = tmp_path / "bench.json"
    assert main(["--quick", "--only", "raycast", "--json", str(out)]) == 0
    assert "numba" in json.loads(out.read_text())["items"]["raycast"]
    assert "| ray cast plain |" in capsys.readouterr().out


@pytest.mark.slow
def test_transport_measurement_structure() -> None:
    out = transport.measure_transport(messages=30, throughput_messages=300, repeats=1, wake_messages=30, gap=0.0005)
    for way in ("queue", "ring", "mp_queue"):
        s = out["latency"][way]
        assert s["samples"][0]["count"] == 30 and 0 < s["p50"] <= s["p99"] <= s["max"], way
        assert out["throughput"][way] > 0
    assert out["ring_dropped"] == 0 and all(finite(r["p99"]) for r in out["ratios"].values())
    assert all(out["wakeup"][k]["samples"][0]["count"] > 0 for k in ("fifo", "eventfd", "semaphore"))
    rows = table({"items": {"transport": out}})
    assert len(rows) == 9 and any("shared-memory ring" in r[0] and "of the floor" in r[2] for r in rows)


def test_hosts_rows_from_a_fixed_result() -> None:
    """The table's hosts rows read every figure the item writes (a fixed result: structure, not speed)."""
    pct = {"p50": 4e-5, "p99": 2e-4, "max": 1e-3, "count": 10}
    prof = {"wall_ms": 160.0, "world_process_cpu_ms": 80.0, "world_threads_cpu_ms": {"sensor:imu": 17.0},
            "round_trips": 200, "round_trips_per_simulated_s": 100.0, "await_ms": 65.0,
            "await_per_round_trip_us": {"p50": 460.0, "p99": 3600.0}, "slowest_host_busy_ms": 45.0,
            "sync_overhead_ms": 20.0, "world_outside_await_ms": 95.0,
            "hosts": [{"name": "host-1", "cpu_ms": 35.0}, {"name": "host-2", "cpu_ms": 30.0}]}
    trial = {"robots": 200, "processes": 3, "fork_to_ready_s": 0.2, "host_private_rss_median": 5e6,
             "host_private_rss_max": 6e6, "host_private_rss_total": 1.1e7, "world_rss": 2e8, "passed": True,
             "rtf": 0.995, "miss_rate": 0.001, "ctx_switches_per_s_total": 3000.0, "ctx_switches_per_s_world": 1000.0,
             "ctx_switches_per_s_hosts": 2000.0, "ctx_switches_per_s_host_median": 1000.0}
    result = {
        "capacity": {"shared": {"capacity": 96, "first_failure": 106}, "2": {"capacity": 208, "first_failure": 230}},
        "virtual": {"hosts": 2, "scenario": "scenarios/warehouse.yaml", "simulated_seconds": 60.0, "ratio": 0.6,
                    "speed_hosts": 6.0, "speed_shared": 10.0, "samples": {"shared": [10.0], "2": [6.0]},
                    "profile": {"2": prof, "shared": {"wall_ms": 100.0, "world_process_cpu_ms": 95.0}}},
        "handoff_in_run": {"hosts": 2, "bare_queue": pct, **{
            k: {"handoff": pct, "publish_to_use": pct, "transit": pct, "bare_queue_loaded": pct,
                "handoff_p99_ratio": 1.0} for k in ("shared", "2")}},
        "delivery": {"delivery": pct, "handoff": pct, "bare_queue": pct, "handoff_p99_ratio": 1.0},
        "processes": {"2": trial},
    }
    rows = table({"items": {"hosts": result}})
    names = [r[0] for r in rows]
    assert "capacity, hosts = shared" in names and any(r[3] == "met" for r in rows if r[0] == "capacity, hosts = 2")
    assert any(r[0].startswith("virtual speed") and "x0.60 (not met)" in r[3] for r in rows)
    assert any("95 + waiting for hosts 65" in r[1] for r in rows)
    assert any("context switches/s" in r[0] and "3,000" in r[1] for r in rows)
    assert all(len(r) == 4 for r in rows)


def test_context_switches_and_rss_of_this_process() -> None:
    assert (hosts.context_switches(os.getpid()) or 0) > 0 and (hosts.rss() or 0) > 0
    assert hosts.context_switches(2**22 + 7) is None  # no such process


@pytest.mark.slow
def test_hosts_item_on_tiny_runs() -> None:
    """Every part of the hosts item on tiny runs (processes are forked and spawned): the figures are there."""
    out = hosts.measure_hosts(capacity_seconds=0.5, start=2, limit=2, hosts=("shared", 2), virtual_seconds=0.3,
                              virtual_repeats=1, messages=30, delivery_repeats=1, handoff_seconds=0.6,
                              handoff_repeats=1, process_robots=2, process_seconds=1.0, log=lambda _: None)
    assert set(out["capacity"]) == {"shared", "2"} and all(c["trials"] for c in out["capacity"].values())
    v = out["virtual"]
    assert v["speed_shared"] > 0 and v["speed_hosts"] > 0 and finite(v["ratio"])
    prof = v["profile"]["2"]
    assert prof["round_trips"] > 0 and len(prof["hosts"]) == 2 and prof["hosts"][0]["threads_cpu_ms"]
    assert out["delivery"]["delivery"]["p50"] > 0 and out["delivery"]["bare_queue"]["p99"] > 0
    hr = out["handoff_in_run"]
    assert hr["2"]["transit"]["count"] > 0 and hr["shared"]["transit"]["count"] == 0
    assert all(x["ring_get"]["p50"] is not None for x in out["ring_timer"].values())
    t = out["processes"]["2"]
    assert t["processes"] == 3 and t["host_private_rss_median"] > 0 and t["ctx_switches_per_s_world"] > 0
    assert t["world_threads_cpu_s_per_s"]["physics"] > 0 and t["host_threads_cpu_s_per_s"]["controller"] > 0
    assert out["processes"]["shared"]["processes"] == 1 and out["processes"]["shared"]["ctx_switches_per_s_hosts"] == 0
    assert all(len(r) == 4 for r in table({"items": {"hosts": out}}))


@pytest.mark.slow
@pytest.mark.parametrize("config", ["record", "ros2"])
def test_recording_bench_measures_a_written_file(tmp_path: Path, config: str) -> None:
    """``python -m bench.recording``'s one run (a fresh process): the file it sizes exists, its writer CPU counted."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "bench.recording", "--one", config, "--duration", "0.5", "--out",
                          str(tmp_path)], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                         check=True, timeout=120)
    row = json.loads(res.stdout.strip().splitlines()[-1])
    name = "recording-ros2.mcap" if config == "ros2" else "recording.mcap"
    assert row["bytes"] == (tmp_path / name).stat().st_size > 0
    assert row["messages"] > 100 and row["writer_cpu_s"] > 0
