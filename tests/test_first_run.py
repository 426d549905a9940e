"""The first run on a fresh machine: every numba kernel is compiled (or loaded) before time starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.core.virtual import VirtualClock
from sim.runtime.run import Run
from sim.scenario.load import load_scenario
from sim.world import jit
from sim.world.jit import COMPILE_NOTICE

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"

pytestmark = [pytest.mark.skipif(not jit.dispatchers(), reason="numba not installed: nothing is compiled"),
              pytest.mark.slow]  # cold caches, real-time runs, worker processes, run.py processes


def signatures() -> dict[str, list]:
    return {name: list(d.signatures) for name, d in jit.dispatchers().items()}


@pytest.mark.parametrize(("scenario", "duration", "workers"), [
    (TINY, 1.0, 0),
    (ROOT / "scenarios" / "warehouse.yaml", 1.0, 0),
    (ROOT / "scenarios" / "stress.yaml", 0.5, 0),
    (ROOT / "scenarios" / "office_map.yaml", 1.0, 0),  # a world.map: the grid collision kernel too
    (TINY, 0.5, 2),  # the worker pool warms the kernels up in this process before spawning
])
def test_a_run_calls_no_kernel_with_types_the_warm_up_did_not_compile(
        tmp_path: Path, scenario: Path, duration: float, workers: int) -> None:
    """A kernel meeting new argument types mid-run compiles there (seconds, holding the GIL):
    seen as lidars at 9.6 Hz of 10 in the first real-time run after cloning, because the
    warm-up sampled a deep copy of each sensor, whose map arrays had become writeable."""
    sc = load_scenario(scenario, {"run.duration": duration, "run.clock": "virtual",
                                  "physics.workers": workers})
    run = Run(sc, tmp_path, clock=VirtualClock())
    try:
        run._start_pool()
        run.warm_up()
        before = signatures()
        assert all(before.values()), "warm_up left a kernel uncompiled"
        run.start()
        assert run.finished.wait(300)
    finally:
        run.stop()
    assert run.end_reason == "completed"
    assert signatures() == before


def _cli(tmp: Path, cache: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "run.py", str(TINY), "--headless", "--no-plot", "--no-trace",
                           "--out", str(tmp / out), *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _report(tmp: Path, out: str) -> tuple[dict, bytes]:
    folder = next((tmp / out).iterdir())
    return json.loads((folder / "report.json").read_text()), (folder / "cycles.csv").read_bytes()


def test_an_empty_numba_cache_says_it_compiles_and_changes_nothing_in_the_run(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"  # empty: every kernel compiles, as on a fresh clone
    first = _cli(tmp_path, cache, "cold", "--clock", "virtual", "--duration", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(COMPILE_NOTICE) == 1
    assert first.stdout.index(COMPILE_NOTICE) < first.stdout.index("running tiny")  # before the clock starts
    second = _cli(tmp_path, cache, "warm", "--clock", "virtual", "--duration", "1")
    assert second.returncode == 0, second.stderr
    assert COMPILE_NOTICE not in second.stdout  # loaded from the cache: nothing to say
    cold, cold_cycles = _report(tmp_path, "cold")
    warm, warm_cycles = _report(tmp_path, "warm")
    assert cold_cycles == warm_cycles
    assert [(s["name"], s["produced"], s["achieved_rate_hz"]) for s in cold["sensors"]] == \
        [(s["name"], s["produced"], s["achieved_rate_hz"]) for s in warm["sensors"]]


def test_an_empty_numba_cache_does_not_slow_the_first_real_time_run(tmp_path: Path) -> None:
    result = _cli(tmp_path, tmp_path / "numba-cache", "cold", "--clock", "real", "--duration", "2")
    assert result.returncode == 0, result.stderr
    assert COMPILE_NOTICE in result.stdout
    report, _ = _report(tmp_path, "cold")
    # A compile inside the run stalls the lidar's thread for a second or more (seen: 6 of 20
    # scans, samples 0.5 s late); a busy host costs a few samples and some ms. Generous bounds.
    for s in report["sensors"]:
        assert s["produced"] >= 0.5 * s["rate_hz"] * 2.0, s
        assert s["sample_lateness"]["max"] < 0.3, s


def _cache_files(cache: Path) -> set[str]:
    """numba's cache: an index per kernel and one file per compiled type combination."""
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()}


def test_a_cold_sweep_with_worker_processes_compiles_only_what_the_warm_up_does(tmp_path: Path) -> None:
    """Across every process (the sweep's parent, its run processes, their ray-cast workers)
    the cache ends up holding what ``warm_up_all`` alone compiles: no process compiled a kernel
    for other types (mid-run), and the line shows once, in the parent."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "reference")}
    subprocess.run([sys.executable, "-c", "from sim.world.jit import warm_up_all; warm_up_all()"], cwd=ROOT, env=env,
                   check=True, timeout=600)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cold")
    result = subprocess.run([sys.executable, "run.py", "sweep", str(TINY), "--seeds", "0", "--workers", "2",
                             "--clock", "virtual", "--duration", "1", "--set", "physics.workers=0,2",
                             "--out", str(tmp_path / "sweeps")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(COMPILE_NOTICE) == 1
    assert "2 runs, 0 failed" in result.stdout
    assert _cache_files(tmp_path / "cold") == _cache_files(tmp_path / "reference")
