"""Classes 7 and 8: a seeded virtual run repeats byte for byte (at its end too), each random
stream belongs to its name, and the first run on a fresh machine compiles before time starts."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hostile import ROOT, TINY, Case, Send
from sim.report.build import WALL_CLOCK_FIELDS

NOTICE = "compiling kernels (first run only)"
WALL = [f.removeprefix("run.") for f in WALL_CLOCK_FIELDS]  # all under "run"


def straddle(robots: int = 6, duration: float = 0.3, extra: str = "", overrun: str = "skip",
             compute: float = 0.005) -> str:
    """Releases every 10 ms from 6 ms; each cycle computes ``compute`` s: the last ends after the end."""
    lines = ["name: straddle", "world: {size: [20.0, 12.0]}",
             f"run: {{duration: {duration}, seed: 3, clock: virtual}}", "robots:"]
    for i in range(1, robots + 1):
        lines += [f"  - name: r{i}", f"    start: [1.0, {i + 2}.0, 0.0]",
                  "    sensors: [{type: odometry, rate_hz: 50}]",
                  f"    controller: {{type: waypoint, period: 0.01, phase: 0.006, overrun: {overrun}, "
                  f"execution: {{model: fixed, seconds: {compute}}}, waypoints: [[15.0, {i + 2}.0]]}}"]
    return "\n".join(lines) + "\n" + extra


# Two robots far apart whose timing is random: an execution model, dropouts, latency jitter.
TWO = """\
name: two
world: {size: [30.0, 20.0]}
run: {duration: 1.0, seed: 11, clock: virtual}
robots:
  - name: a
    start: [2.0, 3.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50, dropout: 0.2, latency: {fixed: 0.002, jitter: 0.01}}
    controller: {type: waypoint, period: 0.02, execution: {model: normal, mean: 0.01, std: 0.006, cap: 0.03},
                 waypoints: [[20.0, 3.0]]}
  - name: b
    start: [2.0, 15.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 50, dropout: 0.3, latency: {jitter: 0.02}}
    controller: {type: waypoint, period: 0.02, execution: {model: lognormal, median: 0.008, cap: 0.03},
                 waypoints: [[20.0, 15.0]]}
"""
STALL_A = "  - {kind: controller_stall, robot: a, start: 0.1, duration: 0.8, stall: 0.015, probability: 0.5}\n"
STALL_B = "  - {kind: controller_stall, robot: b, start: 0.2, duration: 0.5, stall: 0.01, probability: 0.3}\n"
NOISE_B = "  - {kind: noise_burst, robot: b, sensor: odometry, start: 0.0, duration: 1.0, std: 0.01}\n"
ROBOT_C = ("  - name: c\n    start: [25.0, 10.0, 0.0]\n    sensors: [{type: odometry, rate_hz: 50, dropout: 0.5}]\n"
           "    controller: {type: waypoint, period: 0.05, execution: {model: normal, mean: 0.01, std: 0.01},"
           " waypoints: [[26.0, 10.0]]}\n")
ARGS = ("{tmp}/s.yaml", "--headless", "--no-plot", "--out", "{tmp}/runs")


# ---------------------------------------------------------------------- helpers for checks
def again(tmp: Path, scenario: str, out: str, *extra: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """``run.py`` once more, with ``scenario`` (text) written next to the case's own."""
    path = tmp / f"{out}.yaml"
    path.write_text(scenario.replace("{tmp}", str(tmp)))
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), str(path), "--headless", "--no-plot",
                             "--out", str(tmp / out), *extra], cwd=tmp, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def folder(tmp: Path, out: str = "runs") -> Path:
    (only,) = list((tmp / out).iterdir())
    return only


def cycles(run: Path, robot: str | None = None) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO((run / "cycles.csv").read_text())))
    return [r for r in rows if robot is None or r["robot"] == robot]


def timing(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    """Every column but ``input_ages`` (an added sensor adds its age there)."""
    return [tuple(v for k, v in r.items() if k != "input_ages") for r in rows]


def report(run: Path) -> dict[str, Any]:
    data = json.loads((run / "report.json").read_text())
    for key in WALL:
        data["run"].pop(key, None)
    data["scenario"].pop("source", None)  # the second run reads a file of another name
    return data


def same_run(a: Path, b: Path, trace: bool = False) -> None:
    assert (a / "cycles.csv").read_bytes() == (b / "cycles.csv").read_bytes(), "cycles.csv differ"
    assert report(a) == report(b), "report.json differ (wall-clock fields aside)"
    if trace:  # trace.json, or trace.json.gz (gzipped with no time in its header: the same bytes too)
        (name,) = {p.name for p in a.iterdir() if p.name.startswith("trace.json")}
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differ"


def every_release_once(run: Path, releases: int) -> None:
    rows = cycles(run)
    for robot in sorted({r["robot"] for r in rows}):
        ks = [int(r["k"]) for r in rows if r["robot"] == robot]
        assert ks == list(range(releases)), f"{robot}: cycles {ks[:3]}...{ks[-3:]} of {releases} releases"
    assert report(run)["summary"]["unfinished_cycles"] == 0


# ---------------------------------------------------------------------- checks
def check_straddle_twice(tmp: Path, _r: Any) -> None:
    every_release_once(folder(tmp), 30)
    assert any(float(r["finish_time"]) > 0.3 for r in cycles(folder(tmp))), "no cycle straddles the end"
    again(tmp, straddle(), "runs2")
    same_run(folder(tmp), folder(tmp, "runs2"), trace=True)


def check_catch_up_backlog(tmp: Path, _r: Any) -> None:
    # 15 ms of compute every 10 ms, catch_up: at the end a backlog of releases is pending;
    # every one of them runs (after the end, in simulated time) and is logged once
    every_release_once(folder(tmp), 30)
    again(tmp, straddle(robots=2, overrun="catch_up", compute=0.015), "runs2")
    same_run(folder(tmp), folder(tmp, "runs2"))


def check_sensor_added(tmp: Path, _r: Any) -> None:
    more = TWO.replace("      - {type: odometry, rate_hz: 50, dropout: 0.2",
                       "      - {type: bumper, name: bump, rate_hz: 20}\n"
                       "      - {type: odometry, rate_hz: 50, dropout: 0.2", 1)
    again(tmp, more, "runs2")
    a, b = folder(tmp), folder(tmp, "runs2")
    assert len(cycles(a, "a")) > 20
    assert timing(cycles(a, "a")) == timing(cycles(b, "a")), "robot a's cycle timing changed"
    assert cycles(a, "b") == cycles(b, "b")


def check_robot_inserted(tmp: Path, _r: Any) -> None:
    again(tmp, TWO.replace("robots:\n", "robots:\n" + ROBOT_C, 1), "runs2")
    a, b = folder(tmp), folder(tmp, "runs2")
    for robot in ("a", "b"):
        assert cycles(a, robot) == cycles(b, robot), f"robot {robot} changed when robot c came first"


def check_fault_inserted(tmp: Path, _r: Any) -> None:
    again(tmp, TWO + "faults:\n" + STALL_B + STALL_A, "runs2")
    a, b = folder(tmp), folder(tmp, "runs2")
    hit = [r for r in cycles(a, "a") if float(r["response_time"]) > 0.03]
    assert hit, "the stall hit no cycle"
    assert cycles(a, "a") == cycles(b, "a"), "the stall on a hit other cycles once a fault came before it"


def check_noise_keeps_timing(tmp: Path, _r: Any) -> None:
    again(tmp, TWO, "runs2")
    noisy, plain = report(folder(tmp)), report(folder(tmp, "runs2"))
    for s, t in zip(noisy["sensors"], plain["sensors"], strict=True):
        assert (s["dropouts"], s["published"]) == (t["dropouts"], t["published"]), s["robot"]
    assert noisy["sensors"][1]["dropouts"] > 0


def check_renamed_robot(tmp: Path, _r: Any) -> None:
    again(tmp, TWO.replace("name: a\n", "name: alpha\n", 1), "runs2")
    a, b = folder(tmp), folder(tmp, "runs2")
    assert cycles(a, "b") == cycles(b, "b"), "renaming robot a changed robot b"
    assert [r["finish_time"] for r in cycles(a, "a")] != [r["finish_time"] for r in cycles(b, "alpha")], \
        "a renamed robot keeps the same draws: streams are not named"


def check_cut_cycle_counted(tmp: Path, r: Any) -> None:
    # compute = period, catch_up: the robot is always inside a cycle, so the signal cuts exactly one
    data = report(folder(tmp))
    assert data["run"]["end_reason"] == "terminated"
    assert data["summary"]["unfinished_cycles"] == 1
    assert len(cycles(folder(tmp))) == data["summary"]["cycles"] > 0  # a row per finished cycle


def check_seed(seed: str) -> Any:
    def check(tmp: Path, _r: Any) -> None:
        run = folder(tmp)
        assert run.name.endswith(f"-seed{seed}")
        assert report(run)["scenario"]["seed"] == int(seed)
        again(tmp, TWO, "runs2", "--seed", seed)
        same_run(run, folder(tmp, "runs2"))
    return check


def check_cold_then_warm(workers: int) -> Any:
    def check(tmp: Path, r: Any) -> None:
        assert r.stdout.count(NOTICE) == 1, "the compile line must show once"
        assert r.stdout.index(NOTICE) < r.stdout.index("running "), "compiled after the clock started"
        warm = again(tmp, TINY + f"physics: {{workers: {workers}}}\n", "runs2", "--no-trace",
                     env={"NUMBA_CACHE_DIR": str(tmp / "numba")})
        assert NOTICE not in warm.stdout, "the cache was filled: nothing left to compile"
        same_run(folder(tmp), folder(tmp, "runs2"))
    return check


CASES: list[Case] = [
    Case("determinism-straddle-end-twice", ARGS, 0, files={"s.yaml": straddle()},
         check=check_straddle_twice, one_line=False),
    Case("determinism-catch-up-backlog-at-end", ARGS, 0,
         files={"s.yaml": straddle(robots=2, overrun="catch_up", compute=0.015)},
         check=check_catch_up_backlog, one_line=False),
    Case("determinism-added-sensor-keeps-streams", ARGS, 0, files={"s.yaml": TWO},
         check=check_sensor_added, one_line=False),
    Case("determinism-inserted-robot-keeps-streams", ARGS, 0, files={"s.yaml": TWO},
         check=check_robot_inserted, one_line=False),
    Case("determinism-inserted-fault-keeps-stall-draws", ARGS, 0,
         files={"s.yaml": TWO + "faults:\n" + STALL_A}, check=check_fault_inserted, one_line=False),
    Case("determinism-noise-burst-keeps-dropouts", ARGS, 0,
         files={"s.yaml": TWO + "faults:\n" + NOISE_B}, check=check_noise_keeps_timing, one_line=False),
    Case("determinism-renamed-robot-gets-its-own-stream", ARGS, 0, files={"s.yaml": TWO},
         check=check_renamed_robot, one_line=False),
    Case("determinism-sigterm-counts-the-cut-cycle", (*ARGS, "--no-trace"), 130,
         files={"s.yaml": TINY.replace("duration: 1.0", "duration: 60.0").replace("clock: virtual", "clock: real")
                .replace("period: 0.05,", "period: 0.1, overrun: catch_up, execution: {model: fixed, seconds: 0.1},")},
         sends=(Send(after=8.0, sig=signal.SIGTERM),), check=check_cut_cycle_counted, one_line=False,
         timeout=120, slow=True),
    Case("determinism-seed-zero", (*ARGS, "--seed", "0"), 0, files={"s.yaml": TWO},
         check=check_seed("0"), one_line=False),
    Case("determinism-largest-seed", (*ARGS, "--seed", str(2 ** 63 - 1)), 0, files={"s.yaml": TWO},
         check=check_seed(str(2 ** 63 - 1)), one_line=False),
    Case("determinism-seed-beyond-64-bits", (*ARGS, "--seed", str(2 ** 100)), 2, files={"s.yaml": TWO},
         stderr=r"run\.seed"),
    Case("determinism-negative-seed", (*ARGS, "--seed", "-1"), 2, files={"s.yaml": TWO},
         stderr=r"run\.seed: got -1; must be >= 0"),
    Case("determinism-negative-seed-in-file", ARGS, 2, files={"s.yaml": TWO.replace("seed: 11", "seed: -3")},
         stderr=r"s\.yaml:3:\d+: run\.seed: got -3"),
    # Without worker processes the same cold-then-warm check is tests/test_first_run.py's
    # test_an_empty_numba_cache_says_it_compiles_and_changes_nothing_in_the_run (one cold compile less).
    Case("determinism-cold-numba-cache-workers", (*ARGS, "--no-trace"), 0,
         files={"s.yaml": TINY + "physics: {workers: 2}\n"}, env={"NUMBA_CACHE_DIR": "{tmp}/numba"},
         check=check_cold_then_warm(2), one_line=False, timeout=600, slow=True),
]
