"""Physics worker processes (sim.world.workers): the same numbers as inline, deaths reported, nothing left behind.

Worker processes are spawned, which takes a second or two each time, so the
equality tests share one pool; the run tests use the virtual clock (exact,
repeatable) and bounded waits, never timing assertions.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sim.report.build import build_report
from sim.runtime.run import Run
from sim.scenario.load import parse_scenario
from sim.world import kernels
from sim.world.raycast import cast_scans
from sim.world.segmap import SegmentMap
from sim.world.workers import SHM_PREFIX, WorkerDied, WorkerError, WorkerPool, _split

SHM = Path("/dev/shm")

SCENARIO = """\
name: pooled
world:
  size: [14.0, 8.0]
  obstacles:
    - {{rect: [4.0, 3.5, 6.0, 1.0]}}
physics: {{step: 0.01, workers: {workers}}}
run: {{duration: {duration}, seed: 5, clock: virtual}}
robots:
  - name: r1
    start: [1.0, 1.5, 0.0]
    sensors: &s
      - {{type: lidar, rate_hz: 10, beams: 90, range_max: 8.0}}
      - {{type: odometry, rate_hz: 50}}
    controller: {{type: waypoint, period: 0.05, waypoints: [[12.0, 1.5], [1.0, 1.5]]}}
  - name: r2
    start: [1.0, 6.5, 0.0]
    sensors: *s
    controller: {{type: waypoint, period: 0.05, waypoints: [[12.0, 6.5], [1.0, 6.5]]}}
  - name: r3
    start: [12.0, 2.5, 3.14]
    sensors: *s
    controller: {{type: waypoint, period: 0.05, waypoints: [[1.0, 2.5], [12.0, 2.5]]}}
"""


def scenario(workers: int, duration: float = 2.0):  # type: ignore[no-untyped-def]
    return parse_scenario(SCENARIO.format(workers=workers, duration=duration))


def left_behind(pool: WorkerPool) -> list[str]:
    """The pool's shared-memory segments still in /dev/shm (all named fleetsim_<pid>_...)."""
    assert pool.segment_names and all(n.startswith(f"{SHM_PREFIX}_{os.getpid()}_") for n in pool.segment_names)
    return [n for n in pool.segment_names if (SHM / n).exists()]


def world(rng: np.random.Generator, n_robots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random walls, and robots (x, y, heading) placed anywhere, overlaps included."""
    segments = np.vstack([[[0, 0, 30, 0], [30, 0, 30, 20], [30, 20, 0, 20], [0, 20, 0, 0]],
                          rng.uniform(0, 30, (60, 4))])
    pose = np.column_stack([rng.uniform(0, 30, n_robots), rng.uniform(0, 20, n_robots),
                            rng.uniform(-np.pi, np.pi, n_robots)])
    return segments, pose, rng.uniform(0.2, 0.8, n_robots)


@pytest.fixture(scope="module")
def pool_world() -> Iterator[tuple[WorkerPool, SegmentMap, np.ndarray, np.ndarray]]:
    segments, pose, radius = world(np.random.default_rng(11), 40)
    pool = WorkerPool(segments, 1.0, workers=2, max_robots=40, max_beams=360)
    pool.start()
    try:
        yield pool, SegmentMap(segments), pose, radius
    finally:
        pool.close()


# ------------------------------------------------------------------ same numbers as inline
@pytest.mark.slow
def test_pool_ray_casts_equal_inline_bitwise(pool_world) -> None:  # type: ignore[no-untyped-def]
    pool, smap, pose, radius = pool_world
    beams = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    for idx in (np.arange(40), np.array([3]), np.array([39, 0, 17, 5, 22])):
        got = pool.cast_scans(pose, radius, idx, beams, 10.0, 0.05)
        want = cast_scans(smap, pose[idx, :2], pose[idx, 2], beams, 10.0, 0.05, circles=(pose[:, :2], radius),
                          self_index=idx)
        assert got is not None and got.dtype == np.float64
        assert np.array_equal(got, want)  # bitwise, inf included
    assert pool.cast_scans(pose, radius, np.arange(3), np.zeros(400), 10.0, 0.0) is None  # too many beams


@pytest.mark.slow
def test_pool_collision_flags_equal_inline_and_numpy(pool_world) -> None:  # type: ignore[no-untyped-def]
    pool, smap, pose, radius = pool_world
    static, pairs = pool.collide(pose, radius)
    inline = kernels.collide(smap, pose[:, :2], radius)
    plain = kernels.collide(smap, pose[:, :2], radius, compiled=False)  # sim.world.collide, numpy
    assert static.any() and pairs  # the random world has contacts of both kinds
    assert np.array_equal(static, inline[0]) and pairs == inline[1]
    assert np.array_equal(static, plain[0]) and pairs == plain[1]


@pytest.mark.slow
def test_pool_reports_a_worker_exception_as_an_error_naming_it() -> None:
    segments, pose, radius = world(np.random.default_rng(2), 4)
    pool = WorkerPool(segments, 1.0, workers=1, max_robots=4, max_beams=8)
    pool.start()
    try:
        pose[1, 0] = np.nan  # cast_scans refuses non-finite origins: raised in the worker
        with pytest.raises(WorkerError, match="physics worker 0 raised"):
            pool.cast_scans(pose, radius, np.array([1]), np.zeros(8), 5.0, 0.0)
    finally:
        pool.close()
    assert left_behind(pool) == []


def test_rows_split_in_contiguous_slices() -> None:
    assert _split(1, 2) == [(0, 1)]
    assert _split(10, 2) == [(0, 5), (5, 10)]
    assert _split(3, 4) == [(0, 3)]  # too few rows for more than one worker
    assert sum(b - a for a, b in _split(101, 3)) == 101


def test_compiled_physics_kernels_equal_the_numpy_fallback() -> None:
    rng = np.random.default_rng(4)
    segments, pose, radius = world(rng, 70)  # > 64 robots: the spatial-hash pair search
    smap = SegmentMap(segments)
    n = len(pose)
    vel, target = rng.uniform(-1, 1, (n, 2)), rng.uniform(-2, 2, (n, 2))
    target[:5, 1] = 0.0  # straight-line arcs too
    limits = [rng.uniform(0.5, 2, n) for _ in range(4)]
    a = kernels.advance(pose, vel, target, *limits, 0.01)
    b = kernels.advance(pose, vel, target, *limits, 0.01, compiled=False)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    for lo, hi in ((0, n), (10, 33)):
        c, d = kernels.collide(smap, pose[:, :2], radius, lo, hi), kernels.collide(
            smap, pose[:, :2], radius, lo, hi, compiled=False)
        assert np.array_equal(c[0], d[0]) and c[1] == d[1]
    touching = rng.random(n) < 0.3  # some robots' steps cut by contacts
    keep, made = np.where(touching & (rng.random(n) < 0.5), 0.0, 1.0), np.where(touching, rng.uniform(0, 1, n), 1.0)
    states = [[a[1].copy(), a[2].copy(), np.zeros((n, 2)), np.zeros(n), np.zeros((n, 2))] for _ in range(2)]
    for compiled, (v, w, wheels, odo, acc) in zip((True, False), states, strict=True):
        kernels.settle(v, w, vel[:, 0], keep, made, limits[0] / 2, 0.01, wheels, odo, acc, compiled=compiled)
    assert all(np.array_equal(x, y) for x, y in zip(*states, strict=True))


# ------------------------------------------------------------------ whole runs
def run_to_end(run: Run, within: float = 60.0) -> dict:
    run.start()
    assert run.finished.wait(within), "the run did not end"
    run.stop()
    return build_report(run, "test")


@pytest.mark.slow
def test_a_run_with_workers_equals_the_inline_run(tmp_path: Path) -> None:
    inline = Run(scenario(0), tmp_path / "inline")
    pooled = Run(scenario(2), tmp_path / "pooled")
    # numpy physics: collision checks go to the workers too (the compiled check stays inline)
    pooled.physics.compiled = False
    a, b = run_to_end(inline), run_to_end(pooled)
    assert a["run"]["end_reason"] == b["run"]["end_reason"] == "completed"
    assert np.array_equal(inline.physics.pose, pooled.physics.pose)  # every step, every scan the same
    assert np.array_equal(inline.physics.odometer, pooled.physics.odometer)
    assert pooled.pool.requests["cast"] > 0 and pooled.pool.requests["collide"] == pooled.physics.steps + 1
    assert inline.pool is None
    assert left_behind(pooled.pool) == []
    assert not any(p.is_alive() for p in pooled.pool._procs)  # stop() ended them


@pytest.mark.slow
def test_killed_worker_ends_the_run_with_a_report_naming_it(tmp_path: Path) -> None:
    run = Run(scenario(2, duration=3600.0), tmp_path)
    run.start()
    assert not run.finished.wait(0.2)  # an hour of virtual time: running
    names = run.pool.segment_names
    run.kill_worker(1)
    assert run.finished.wait(30), "a dead worker must end the run"
    run.stop()
    report = build_report(run, "test")
    failures = report["run"]["failures"]
    assert report["run"]["end_reason"] == f"failure in {failures[0]['thread']}"
    assert all("physics worker 1" in f["error"] and "exit code -9" in f["error"] for f in failures)
    assert report["run"]["threads_not_stopped"] == []
    assert isinstance(run.pool.broken, WorkerDied) and run.pool.broken.exitcode == -9
    assert left_behind(run.pool) == [] and len(names) == 3
    assert not any(p.is_alive() for p in run.pool._procs)


def test_kill_worker_without_a_pool_says_so(tmp_path: Path) -> None:
    run = Run(scenario(0), tmp_path)
    with pytest.raises(RuntimeError, match=r"physics\.workers is 0"):
        run.kill_worker(0)


def test_the_pool_is_shared_not_copied_when_sensors_are() -> None:
    segments, _, _ = world(np.random.default_rng(1), 1)
    pool = WorkerPool(segments, 1.0, workers=1, max_robots=1, max_beams=1)  # not started: no processes
    assert copy.deepcopy({"pool": pool})["pool"] is pool
    pool.close()

