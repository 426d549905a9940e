"""The twin: matching a real run's cycles with its virtual twin's (sim.twin.match), and ``run.py twin``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import UsageError
from sim.twin.match import as_json, classify, read_cycles, summary

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
HEADER = ("robot,k,release_time,start_time,inputs_time,finish_time,release_jitter,response_time,deadline,"
          "cpu_time,miss,overrun,safety_stop,cause,input_ages\n")


def cycles(path: Path, rows: list[tuple[str, int, int, str]]) -> Path:
    """A cycles.csv with (robot, k, miss, cause) rows (the other columns do not matter here)."""
    path.write_text(HEADER + "".join(f"{r},{k},0,0,0,0,0,0,0.05,0,{m},0,0,{c},\n" for r, k, m, c in rows))
    return path


def test_a_real_miss_is_the_designs_if_the_twin_missed_it_else_the_hosts(tmp_path: Path) -> None:
    real = read_cycles(cycles(tmp_path / "real.csv", [
        ("a", 0, 0, ""), ("a", 1, 1, "long_compute"), ("a", 2, 1, "late_release"), ("a", 3, 1, "interference"),
        ("b", 0, 1, "late_release"), ("b", 1, 1, "long_compute"), ("b", 2, 0, "")]))
    twin = read_cycles(cycles(tmp_path / "twin.csv", [
        ("a", 0, 0, ""), ("a", 1, 1, "long_compute"), ("a", 2, 0, ""), ("a", 3, 0, ""),
        ("b", 0, 0, ""), ("b", 2, 1, "long_compute")]))  # b's cycle 1 never ran in the twin (skipped)
    robots = classify(real, twin)
    assert [(n, r.real, r.virtual, r.design, r.host) for n, r in robots.items()] == [
        ("a", 3, 1, 1, 2), ("b", 2, 1, 1, 1)]
    assert robots["a"].host_causes == {"late_release": 1, "interference": 1}
    assert robots["b"].design_causes == {"long_compute": 1}
    data = as_json(robots, {"real_run": "x"})
    assert data["misses"] == {"real": 5, "virtual": 2, "design": 2, "host": 3} and data["real_run"] == "x"
    words = summary(robots)
    assert words.startswith("60 % of the real run's 5 misses are the host's (3): the controller threads woke late")
    assert "2 (40 %) are the design's" in words


def test_no_misses_and_a_bad_file_say_so(tmp_path: Path) -> None:
    real = read_cycles(cycles(tmp_path / "real.csv", [("a", 0, 0, "")]))
    assert summary(classify(real, real)).startswith("No deadline misses in the real run")
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    with pytest.raises(UsageError, match=r"not a cycles\.csv"):
        read_cycles(tmp_path / "bad.csv")
    with pytest.raises(UsageError, match="cannot read the cycles"):
        read_cycles(tmp_path / "missing.csv")


TWIN = """\
name: twintest
world: {size: [12.0, 8.0]}
run: {duration: 3.0, seed: 4}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors: [{type: odometry, rate_hz: 50}]
    controller: {type: 'cost_plugins:Charging', period: 0.02, deadline: 0.008, every: 10, seconds: 0.012}
  - name: r2
    start: [1.0, 4.0, 0.0]
    sensors: [{type: odometry, rate_hz: 50}]
    controller: {type: waypoint, period: 0.02, deadline: 0.008, waypoints: [[10.0, 4.0]]}
faults:
  - {name: hog, kind: cpu_hog, start: 1.0, duration: 1.5, threads: 2}
"""


@pytest.mark.slow
def test_twin_puts_the_codes_spikes_under_design_and_the_rest_under_host(tmp_path: Path) -> None:
    """r1 charges 12 ms (deadline 8 ms) on every 10th cycle: those miss in both runs, the design's; the
    real run also has a CPU hog (left out of the twin): whatever else missed is the host's."""
    import csv
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "twin.yaml").write_text(TWIN)
    proc = subprocess.run([sys.executable, "run.py", "twin", str(tmp_path / "twin.yaml"), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(TESTS)))
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = json.loads((folder / "twin.json").read_text())
    assert data["left_out_of_twin"] == ["cpu_hog"]
    twin_rows = list(csv.DictReader((folder / "twin" / "cycles.csv").read_text().splitlines()))
    twin_misses = {(r["robot"], int(r["k"])) for r in twin_rows if r["miss"] == "1"}
    real_rows = list(csv.DictReader((folder / "cycles.csv").read_text().splitlines()))
    recorded = sorted(int(r["k"]) for r in real_rows if r["robot"] == "r1")

    def spike(k: int) -> bool:
        """A spike, or a release the hog made the real run skip, which replays its next recorded
        cycle's cost (exectime.Replay) - a spike's when that is one (seen once in CI)."""
        after = next((j for j in recorded if j >= k), k)
        return after % 10 == 0

    assert twin_misses and all(robot == "r1" and spike(k) for robot, k in twin_misses)  # exactly the spikes
    r1, r2 = data["robots"]["r1"], data["robots"]["r2"]
    # every spike missed in both (a release the hog made the real run skip has no row there: <=)
    assert 12 <= r1["design"] <= len(twin_misses) and r1["host"] == r1["real"] - r1["design"]
    assert r2["design"] == 0 and r2["host"] == r2["real"]
    m = data["misses"]
    assert m["real"] == m["design"] + m["host"] and m["virtual"] == len(twin_misses)
    assert "== Twin: the host's misses and the design's ==" in proc.stdout and "are the design's" in proc.stdout
