"""``replay`` and ``empirical`` execution models: a recorded run's CPU times, charged in virtual time.

The recordings are CSVs written here with known costs (spikes at known cycles), or the run folders
of earlier runs; the runs are virtual (deterministic), but for one end-to-end on the real clock.
"""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.core.exectime import Empirical, Replay
from sim.errors import ScenarioError
from sim.scenario.load import load_scenario
from tests.scripted_run import run_scenario_virtual

ROOT = Path(__file__).resolve().parents[1]

# Two robots of tests/data/tiny.yaml's room, each with its own execution model (EXEC_R1 / EXEC_R2).
SCENARIO = """\
name: replayed
world:
  size: [10.0, 6.0]
  obstacles:
    - {name: shelf-1, kind: shelf, rect: [4.0, 2.5, 2.0, 1.0]}
physics:
  step: 0.01
run:
  duration: 2.0
  seed: 1
  clock: virtual
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50}
      - {type: lidar, rate_hz: 10, beams: 90}
    controller:
      type: waypoint
      period: 0.05
      deadline: 0.03
      execution: EXEC_R1
      waypoints: [[8.0, 1.0], [8.0, 5.0]]
  - name: r2
    start: [1.0, 5.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50}
      - {type: lidar, rate_hz: 10, beams: 90}
    controller:
      type: waypoint
      period: 0.05
      deadline: 0.03
      execution: EXEC_R2
      waypoints: [[8.0, 5.0], [1.0, 5.0]]
"""
NORMAL, SPIKE = 0.010, 0.040  # s: below and above the 30 ms deadline, both below the 50 ms period
R1_SPIKES = {5, 17, 30}  # r1 recorded for all 40 cycles of the 2 s run
R2_SPIKES = {3, 11}  # r2 recorded for 20 cycles only: replay wraps around, so 23 and 31 spike too


def costs(n: int, spikes: set[int]) -> list[float]:
    return [SPIKE if k in spikes else NORMAL for k in range(n)]


def write_recording(path: Path, robots: dict[str, list[float]], extra_column: bool = True) -> Path:
    """A cycles.csv-like recording: per robot, cycle k cost ``robots[name][k]`` (rows interleaved like a run's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [(k, name, cost) for name, seq in robots.items() for k, cost in enumerate(seq)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["robot", "k", "release_time", "cpu_time"] if extra_column else ["robot", "k", "cpu_time"])
        for k, name, cost in sorted(rows):
            w.writerow([name, k, f"{k * 0.05:.6f}", f"{cost:.6f}"] if extra_column else [name, k, f"{cost:.6f}"])
    return path


def write_scenario(folder: Path, r1: str, r2: str | None = None, name: str = "s.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(SCENARIO.replace("EXEC_R1", r1).replace("EXEC_R2", r2 or r1))
    return path


def run_virtual(scenario: Path, out: Path, overrides: dict | None = None) -> list[dict[str, str]]:
    """Run ``scenario`` in virtual time into ``out``; its cycles.csv rows."""
    run_scenario_virtual(load_scenario(scenario, overrides), out)
    with (out / "cycles.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def misses(rows: list[dict[str, str]], robot: str) -> set[int]:
    return {int(r["k"]) for r in rows if r["robot"] == robot and r["miss"] == "1"}


def cpu_by_k(rows: list[dict[str, str]], robot: str) -> dict[int, str]:
    return {int(r["k"]): r["cpu_time"] for r in rows if r["robot"] == robot}


def spiky_recording(folder: Path) -> Path:
    return write_recording(folder / "rec" / "costs.csv", {"r1": costs(40, R1_SPIKES), "r2": costs(20, R2_SPIKES)})


def test_replay_from_a_csv_misses_exactly_the_spike_cycles(tmp_path: Path) -> None:
    spiky_recording(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv}")  # relative to the scenario file
    rows = run_virtual(scenario, tmp_path / "out")
    assert misses(rows, "r1") == R1_SPIKES
    assert misses(rows, "r2") == {3, 11, 23, 31}  # past its 20 recorded cycles, r2's recording wraps around
    assert cpu_by_k(rows, "r1") == {k: f"{c:.6f}" for k, c in enumerate(costs(40, R1_SPIKES))}
    assert all(r["cause"] == "long_compute" for r in rows if r["miss"] == "1")
    assert not any(r["overrun"] == "1" for r in rows)


def test_replay_from_a_run_folder_reproduces_the_recorded_runs_costs_and_misses(tmp_path: Path) -> None:
    # Record: a virtual run whose costs are random (lognormal, long tail: some cycles miss, some overrun and
    # skip releases). Replay its folder: the same cost at every recorded cycle, so the same misses and skips.
    recorded = write_scenario(tmp_path / "a", "{model: lognormal, median: 0.012, sigma: 0.9, cap: 0.2}")
    before = run_virtual(recorded, tmp_path / "recorded", {"run.duration": 4.0})
    replayed = write_scenario(tmp_path / "b", f"{{model: replay, from: {tmp_path / 'recorded'}}}")
    after = run_virtual(replayed, tmp_path / "replayed", {"run.duration": 4.0})
    for robot in ("r1", "r2"):
        assert misses(before, robot), "the recorded run should miss some cycles"
        assert misses(after, robot) == misses(before, robot)
        assert cpu_by_k(after, robot) == cpu_by_k(before, robot)
    gaps = [b - a for robot in ("r1", "r2") for a, b in itertools.pairwise(sorted(cpu_by_k(before, robot)))]
    assert max(gaps) > 1  # some releases were skipped (overruns), and the replay skipped them too


def test_replay_is_deterministic(tmp_path: Path) -> None:
    spiky_recording(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv, scale: 0.9}")
    run_virtual(scenario, tmp_path / "one")
    run_virtual(scenario, tmp_path / "two")
    one = (tmp_path / "one" / "cycles.csv").read_bytes()
    assert one == (tmp_path / "two" / "cycles.csv").read_bytes()
    assert b",0.036000,1," in one  # a spike at scale 0.9: 36 ms, still a miss


def test_replay_scale_moves_the_spikes_under_the_deadline(tmp_path: Path) -> None:
    spiky_recording(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv, scale: 0.5}")
    rows = run_virtual(scenario, tmp_path / "out")
    assert not misses(rows, "r1") and not misses(rows, "r2")  # 20 ms spikes fit the 30 ms deadline
    assert cpu_by_k(rows, "r1")[5] == "0.020000"


def test_replay_wraps_past_the_end_and_fills_skipped_cycles_from_the_next_recorded_one() -> None:
    model = Replay.model_validate({"model": "replay", "from": "x.csv"})
    model.bind("r1", np.array([0, 1, 3, 4]), np.array([0.1, 0.2, 0.4, 0.5]))
    rng = np.random.default_rng(0)
    charged = [model.sample(rng, 0.0, k) for k in range(12)]
    # k:      0    1    2    3    4    5 (=0) 6 (=1) 7 (=2) 8 (=3) 9 (=4) 10 (=0) 11 (=1)
    assert charged == [0.1, 0.2, 0.4, 0.4, 0.5, 0.1, 0.2, 0.4, 0.4, 0.5, 0.1, 0.2]
    with pytest.raises(RuntimeError, match="no recording bound"):
        Replay.model_validate({"model": "replay", "from": "x.csv"}).sample(rng, 0.0, 0)


def test_empirical_is_deterministic_and_draws_only_recorded_values(tmp_path: Path) -> None:
    recorded = {"r1": [0.004, 0.011, 0.02, 0.037, 0.011], "r2": [0.001, 0.002]}
    write_recording(tmp_path / "rec.csv", recorded, extra_column=False)
    scenario = write_scenario(tmp_path, "{model: empirical, from: rec.csv, scale: 1.5}")
    rows = run_virtual(scenario, tmp_path / "one", {"run.duration": 4.0})  # 80 cycles from 5 / 2 recorded ones
    run_virtual(scenario, tmp_path / "two", {"run.duration": 4.0})
    assert (tmp_path / "one" / "cycles.csv").read_bytes() == (tmp_path / "two" / "cycles.csv").read_bytes()
    for robot, values in recorded.items():
        drawn = list(cpu_by_k(rows, robot).values())
        allowed = {f"{v * 1.5:.6f}" for v in values}
        assert set(drawn) == allowed, robot  # only recorded values (x scale), and over 80 draws every one of them
    assert misses(rows, "r1") == {int(r["k"]) for r in rows if r["robot"] == "r1" and r["cpu_time"] == "0.055500"}
    other = run_virtual(scenario, tmp_path / "seed2", {"run.duration": 4.0, "run.seed": 2})
    assert cpu_by_k(other, "r1") != cpu_by_k(rows, "r1")  # the draws come from the seeded stream


def test_empirical_ignores_the_row_order_of_the_recording(tmp_path: Path) -> None:
    lines = ["robot,k,cpu_time", *(f"r1,{k},{v}" for k, v in enumerate([0.004, 0.011, 0.02, 0.037]))]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")  # as a hand-made CSV
    draws = []
    for name in ("a", "b"):
        sc = load_scenario(write_scenario(tmp_path, f"{{model: empirical, from: {name}.csv}}", "{model: none}",
                                          name=f"{name}.yaml"))
        model = sc.robots[0].controller.execution
        assert isinstance(model, Empirical) and model.bound_robot == "r1"
        rng = np.random.default_rng(5)
        draws.append([model.sample(rng, 0.0) for _ in range(20)])
    assert draws[0] == draws[1] and len(set(draws[0])) > 1


def test_robots_naming_one_file_share_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.scenario.recording as recording

    reads: list[Path] = []
    real = recording.read_recording

    def counted(path: Path) -> recording.Recording | str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(recording, "read_recording", counted)
    spiky_recording(tmp_path)
    sc = load_scenario(write_scenario(tmp_path, "{model: replay, from: rec/costs.csv}",
                                      "{model: empirical, from: ./rec/../rec/costs.csv}"))
    assert len(reads) == 1
    assert [r.controller.execution.bound_robot for r in sc.robots] == ["r1", "r2"]  # type: ignore[union-attr]


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


BAD = [
    # (execution of r1, field, words the message must hold)
    ("{model: replay, from: nowhere}", "robots[0].controller.execution.from", ["no run folder or CSV at", "nowhere"]),
    ("{model: replay, from: empty_run}", "robots[0].controller.execution.from", ["run folder", "has no cycles.csv"]),
    ("{model: empirical, from: nocpu.csv}", "robots[0].controller.execution.from",
     ["nocpu.csv has no column cpu_time", "its columns: robot, k, miss"]),
    ("{model: replay, from: badrow.csv}", "robots[0].controller.execution.from",
     ["badrow.csv:3: cpu_time 'fast' is not a number of seconds >= 0"]),
    ("{model: replay, from: others.csv}", "robots[0].controller.execution.from",
     ["robot 'r1' is not in the recording", "(robots there: a1, b7)"]),
    ("{model: replay, from: rec/costs.csv, scale: 0}", "robots[0].controller.execution.scale", ["must be > 0"]),
    ("{model: replay, from: rec/costs.csv, scale: -2}", "robots[0].controller.execution.scale", ["must be > 0"]),
    ("{model: empirical, from: rec/costs.csv, scale: fast}", "robots[0].controller.execution.scale",
     ["must be a number"]),
    ("{model: replay}", "robots[0].controller.execution", ["missing required key 'from'"]),
]


def _bad_inputs(folder: Path) -> None:
    spiky_recording(folder)
    (folder / "empty_run").mkdir()
    (folder / "nocpu.csv").write_text("robot,k,miss\nr1,0,0\n")
    (folder / "badrow.csv").write_text("robot,k,cpu_time\nr1,0,0.01\nr1,1,fast\n")
    write_recording(folder / "others.csv", {"a1": [0.01], "b7": [0.02]})


@pytest.mark.parametrize(("execution", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_recording_input_is_a_scenario_error_at_its_line(tmp_path: Path, execution: str, field: str,
                                                               words: list[str]) -> None:
    _bad_inputs(tmp_path)
    good = "{model: replay, from: rec/costs.csv}"
    scenario = write_scenario(tmp_path, execution, good)
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario)
    err = info.value
    assert (err.path, err.line, err.field) == (str(scenario), _line_of(scenario, execution), field)
    for word in words:
        assert word in err.message, err.message


def test_bad_recording_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad_inputs(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv}", "{model: replay, from: others.csv}")
    code = main([str(scenario), "--headless", "--out", str(tmp_path / "out"), "--no-plot"])
    err = capsys.readouterr().err
    line = _line_of(scenario, "others.csv")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {scenario}:{line}:") and "robots[1].controller.execution.from" in err
    assert "robot 'r2' is not in the recording" in err and "did you mean" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_real_clock_run_replayed_in_virtual_time_charges_what_it_measured(tmp_path: Path) -> None:
    """End to end: record on the real clock (what a run on the target does), replay its folder virtually."""
    tiny = ROOT / "tests" / "data" / "tiny.yaml"
    real = subprocess.run([sys.executable, "run.py", str(tiny), "--headless", "--duration", "1", "--out",
                           str(tmp_path / "real"), "--no-plot", "--no-trace"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    folder = Path(real.stdout.strip().splitlines()[-1].removeprefix("report folder: "))
    scenario = tmp_path / "replay.yaml"
    scenario.write_text(tiny.read_text().replace("period: 0.05", f"period: 0.05\n      execution: "
                                                 f"{{model: replay, from: {folder}}}"))
    with (folder / "cycles.csv").open(newline="") as f:
        recorded = list(csv.DictReader(f))
    replayed = run_virtual(scenario, tmp_path / "virtual", {"run.duration": 1.0, "run.clock": "virtual"})
    measured = cpu_by_k(recorded, "r1")
    assert measured and all(float(v) > 0 for v in measured.values())  # real CPU was measured
    charged = cpu_by_k(replayed, "r1")
    assert {k: charged[k] for k in measured if k in charged} == measured
    assert set(measured) <= set(charged) | {max(charged) + 1}  # at most a cycle cut by the real run's stop


def test_a_sweeps_cache_key_covers_the_recordings_bytes(tmp_path: Path) -> None:
    from sim.sweep.grid import Sweep, parse_set

    recording = spiky_recording(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv}")

    def keys(sets: list | None = None) -> list[str]:
        return [s.key for s in Sweep(scenario, [0, 1], sets or [], out=tmp_path / "sweeps").specs]

    first = keys()
    assert keys() == first  # stable while nothing changed
    write_recording(recording, {"r1": costs(40, {6}), "r2": costs(20, R2_SPIKES)})
    assert set(keys()).isdisjoint(first)  # other recorded costs: other runs, none reused from the cache
    write_recording(tmp_path / "rec" / "other.csv", {"r1": costs(40, {7}), "r2": costs(20, R2_SPIKES)})
    swept = keys([parse_set("robots.0.controller.execution.from=rec/costs.csv,rec/other.csv")])
    (tmp_path / "rec" / "other.csv").write_text("robot,k,cpu_time\nr1,0,0.5\nr2,0,0.5\n")
    assert set(keys([parse_set("robots.0.controller.execution.from=rec/costs.csv,rec/other.csv")])).isdisjoint(swept)


@pytest.mark.slow
def test_replay_charges_the_same_when_each_robot_runs_in_its_own_host_process(tmp_path: Path) -> None:
    spiky_recording(tmp_path)
    scenario = write_scenario(tmp_path, "{model: replay, from: rec/costs.csv}",
                              "{model: empirical, from: rec/costs.csv}")
    shared = run_virtual(scenario, tmp_path / "shared")
    run, _ = run_scenario_virtual(load_scenario(scenario, {"run.hosts": "per_robot"}), tmp_path / "hosts")
    assert run.hostset is not None  # the robots' controllers ran in host processes
    assert (tmp_path / "shared" / "cycles.csv").read_bytes() == (tmp_path / "hosts" / "cycles.csv").read_bytes()
    assert misses(shared, "r1") == R1_SPIKES
